"""Perceptual video fingerprints: a 64-bit perceptual hash of each sampled frame, over time.

A platform's copy of a video is re-encoded, resized, often cropped a little, padded to another aspect
ratio and stamped with a watermark. Each sampled frame is therefore reduced to what survives all of
that: greyscale, black borders trimmed, the central region (corners hold watermarks and UI), a
32x32 thumbnail, and the signs of its lowest 8x8 DCT coefficients against their median (pHash).

Two fingerprints are compared by sliding one along the other and averaging the Hamming distance of
the overlapping frames; `FingerprintIndex` finds candidates among many fingerprints through exact
and one-bit-off matches on 16-bit bands of the hashes (multi-index hashing), then aligns only those.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

VERSION = 1
SAMPLE_FPS = 2.0  # frames hashed per second of video
MAX_FRAMES = 240  # the first two minutes identify a short video; longer sources are cut to that
FLAT = np.uint64(0)  # a frame with no structure (black, one colour) carries no identity
BORDER_LEVEL = 24  # rows/columns darker than this at the edges are letterbox/pillarbox padding
CENTRE_MARGIN = 0.2  # fraction of each side left out after trimming borders
THUMB = 32
WORK_LONG_SIDE = 160

# A true copy's aligned frames differ by a few bits (a 10 % crop: up to ~16); unrelated frames by ~32 of 64.
MATCH_MEAN_DISTANCE = 18.0
MIN_OVERLAP = 3
ALIGN_WINDOW = 8  # frames either side of the offset the index voted for


@dataclass(frozen=True)
class Fingerprint:
    hashes: np.ndarray  # uint64, one per sampled frame, FLAT for frames without structure
    sample_fps: float = SAMPLE_FPS
    version: int = VERSION

    def to_bytes(self) -> bytes:
        return self.hashes.astype(">u8").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes, sample_fps: float = SAMPLE_FPS, version: int = VERSION) -> Fingerprint:
        return cls(np.frombuffer(data, dtype=">u8").astype(np.uint64), sample_fps, version)

    def __len__(self) -> int:
        return int(self.hashes.size)


# --- per frame -----------------------------------------------------------------------------------


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    x = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * x + 1) * k / (2 * n)) * np.sqrt(2 / n)
    m[0] /= np.sqrt(2)
    return m


_DCT = _dct_matrix(THUMB)
_BITS = (np.uint64(1) << np.arange(64, dtype=np.uint64)).astype(np.uint64)


def _main_run(content: np.ndarray, max_gap: int) -> tuple[int, int]:
    """[start, end) of the longest stretch of content, bridging gaps up to `max_gap` long."""
    idx = np.flatnonzero(content)
    if idx.size == 0:
        return 0, content.size
    breaks = np.flatnonzero(np.diff(idx) > max_gap + 1)
    starts = np.concatenate([[idx[0]], idx[breaks + 1]])
    ends = np.concatenate([idx[breaks], [idx[-1]]]) + 1
    best = int(np.argmax(ends - starts))
    return int(starts[best]), int(ends[best])


def trim_borders(grey: np.ndarray, level: int = BORDER_LEVEL) -> np.ndarray:
    """Cut uniform dark bars (letterbox, pillarbox, pad-to-9:16) from the edges; keep at least a quarter.

    The picture is the longest stretch of non-bar rows (columns), so a watermark or caption drawn on
    the bar itself does not stop the trim.
    """
    h, w = grey.shape
    g = grey.astype(np.float32)
    # A bar is dark *and* flat; dark footage (night, fire) has texture and is kept.
    rows = (g.mean(axis=1) > level) | (g.std(axis=1) > 6)
    cols = (g.mean(axis=0) > level) | (g.std(axis=0) > 6)
    top, bottom = _main_run(rows, max(1, h // 25))
    left, right = _main_run(cols, max(1, w // 25))
    if (bottom - top) < h * 0.25 or (right - left) < w * 0.25:
        return grey
    return grey[top:bottom, left:right]


def _area_resize(grey: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(grey.astype(np.uint8)))
    return np.asarray(img.resize((size, size), Image.Resampling.BOX), dtype=np.float64)


def frame_hash(grey: np.ndarray) -> np.uint64:
    """pHash of the centre of a greyscale frame (uint8, H x W) after trimming dark borders."""
    core = trim_borders(grey)
    h, w = core.shape
    mh, mw = int(h * CENTRE_MARGIN), int(w * CENTRE_MARGIN)
    core = core[mh : h - mh or None, mw : w - mw or None]
    if core.size == 0:
        return FLAT
    thumb = _area_resize(core, THUMB)
    if thumb.std() < 2.0:
        return FLAT
    coeffs = (_DCT @ thumb @ _DCT.T)[:8, :8].ravel()
    bits = coeffs > np.median(coeffs[1:])
    value = np.bitwise_or.reduce(_BITS[bits]) if bits.any() else np.uint64(0)
    return np.uint64(value) if value != FLAT else np.uint64(1)


# --- per video ----------------------------------------------------------------------------------


def sample_frames(
    path: Path, rotation: int = 0, *, fps: float = SAMPLE_FPS, max_frames: int = MAX_FRAMES,
    budget_seconds: float | None = None,
) -> list[np.ndarray]:
    """Greyscale frames (long side WORK_LONG_SIDE) at 0, 1/fps, 2/fps ... in displayed orientation.

    `budget_seconds` stops decoding early (a 4K source decodes slowly): the frames so far still
    identify the video, and ingest's probe timeout is never spent here.
    """
    import time

    import av

    deadline = time.monotonic() + budget_seconds if budget_seconds else None

    out: list[np.ndarray] = []
    step = 1.0 / fps
    with av.open(str(path), metadata_errors="ignore") as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        next_t = 0.0
        base = None
        for frame in container.decode(stream):
            t = frame.time
            if t is None:
                continue
            if base is None:
                base = t  # streams that start at a non-zero pts
            t -= base
            if t + 1e-3 < next_t:
                continue
            w, h = frame.width, frame.height
            scale = WORK_LONG_SIDE / max(w, h)
            grey = frame.reformat(width=max(8, int(w * scale)) & ~1, height=max(8, int(h * scale)) & ~1,
                                  format="gray").to_ndarray()
            if rotation % 360:
                grey = np.rot90(grey, k=(rotation // 90) % 4)
            # A frame can stand for several sample points when the source frame rate is below `fps`.
            while next_t <= t + 1e-3 and len(out) < max_frames:
                out.append(grey)
                next_t += step
            if len(out) >= max_frames or (deadline is not None and time.monotonic() > deadline):
                break
    return out


def fingerprint_frames(frames: Iterable[np.ndarray]) -> Fingerprint:
    return Fingerprint(np.array([frame_hash(f) for f in frames], dtype=np.uint64))


def fingerprint_file(path: Path, rotation: int = 0, *, budget_seconds: float | None = None) -> Fingerprint:
    return fingerprint_frames(sample_frames(path, rotation, budget_seconds=budget_seconds))


# --- comparing ----------------------------------------------------------------------------------


def hamming_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.bitwise_count(a[:, None] ^ b[None, :]).astype(np.int16)


@dataclass(frozen=True)
class Alignment:
    distance: float  # mean Hamming distance (0..64) of the aligned, non-flat frames
    offset: int  # b's frame index minus a's at the best alignment
    overlap: int

    @property
    def score(self) -> float:
        """0 (unrelated: 32 bits apart on average) .. 1 (identical)."""
        return float(max(0.0, 1.0 - self.distance / 32.0))

    @property
    def is_match(self) -> bool:
        return self.overlap >= MIN_OVERLAP and self.distance <= MATCH_MEAN_DISTANCE


NO_ALIGNMENT = Alignment(distance=64.0, offset=0, overlap=0)


def align(
    a: np.ndarray, b: np.ndarray, *, min_overlap: int = MIN_OVERLAP, offsets: Iterable[int] | None = None
) -> Alignment:
    """The best sliding alignment of two hash sequences (either may be a part of the other).

    `offsets` (b's index minus a's) limits the search, e.g. to around an offset the index voted for.
    """
    a_ok, b_ok = a != FLAT, b != FLAT
    if a_ok.sum() == 0 or b_ok.sum() == 0:
        return NO_ALIGNMENT
    d = hamming_matrix(a, b).astype(np.float64)
    valid = a_ok[:, None] & b_ok[None, :]
    m, n = d.shape
    need = min(min_overlap, int(a_ok.sum()), int(b_ok.sum()))
    # Short overlaps are easy to win by chance: a shared stretch must cover much of the shorter video.
    need = max(need, int(0.5 * min(int(a_ok.sum()), int(b_ok.sum()))))
    best = NO_ALIGNMENT
    for offset in offsets if offsets is not None else range(-(m - 1), n):
        if not -(m - 1) <= offset <= n - 1:
            continue
        diag_d = np.diagonal(d, offset=offset)
        diag_v = np.diagonal(valid, offset=offset)
        count = int(diag_v.sum())
        if count < max(need, 1):
            continue
        mean = float(diag_d[diag_v].mean())
        if mean < best.distance:
            best = Alignment(distance=mean, offset=offset, overlap=count)
    return best


# --- many fingerprints ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    key: object
    alignment: Alignment
    votes: int


_ONE_BIT = (1 << np.arange(16)).astype(np.uint16)
_FLIPS_RADIUS_2 = np.unique(np.concatenate([
    [0], _ONE_BIT, (_ONE_BIT[:, None] | _ONE_BIT[None, :])[np.triu_indices(16, 1)],
])).astype(np.uint16)
_OFFSET_SPAN = 2 * MAX_FRAMES + 1


class FingerprintIndex:
    """Multi-index hashing over 4 bands of 16 bits, probed at Hamming radius 2, voting on time offset.

    Two frames up to ~16 bits apart (a 10 % crop) share at least one band within two bits with good
    odds. Each hit votes for (fingerprint, offset between the query frame and the indexed frame): a
    true copy piles its votes on one offset while chance hits scatter, so even among thousands of
    fingerprints the right one leads. Only the leaders are aligned in full, near their voted offset.
    """

    BANDS = 4
    BAND_BITS = 16
    MAX_BUCKET = 5000  # buckets fuller than this (near-uniform frames) say nothing about identity

    def __init__(self) -> None:
        self._keys: list[object] = []
        self._seqs: list[np.ndarray] = []
        self._built = False

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: object, fingerprint: Fingerprint | np.ndarray) -> None:
        hashes = fingerprint.hashes if isinstance(fingerprint, Fingerprint) else fingerprint
        self._keys.append(key)
        self._seqs.append(np.asarray(hashes, dtype=np.uint64)[:MAX_FRAMES])
        self._built = False

    def build(self) -> None:
        lengths = np.array([s.size for s in self._seqs], dtype=np.int64)
        allh = np.concatenate(self._seqs) if self._seqs else np.zeros(0, np.uint64)
        owner = np.repeat(np.arange(len(self._seqs), dtype=np.int64), lengths)
        starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
        pos = np.arange(allh.size, dtype=np.int64) - starts
        keep = allh != FLAT
        allh, owner, pos = allh[keep], owner[keep], pos[keep]
        self._band_vals: list[np.ndarray] = []
        self._band_owner: list[np.ndarray] = []
        self._band_pos: list[np.ndarray] = []
        for band in range(self.BANDS):
            vals = ((allh >> np.uint64(band * self.BAND_BITS)) & np.uint64(0xFFFF)).astype(np.uint16)
            order = np.argsort(vals, kind="stable")
            self._band_vals.append(vals[order])
            self._band_owner.append(owner[order])
            self._band_pos.append(pos[order].astype(np.int32))
        self._built = True

    def candidates(self, query: np.ndarray, limit: int = 16) -> list[tuple[int, int, int]]:
        """(position, offset, votes) of the fingerprints whose frames line up best with the query's."""
        if not self._built:
            self.build()
        query = np.asarray(query, dtype=np.uint64)[:MAX_FRAMES]
        q_idx = np.flatnonzero(query != FLAT)
        if q_idx.size == 0 or not self._keys:
            return []
        q = query[q_idx]
        keys = []
        for band in range(self.BANDS):
            qb = ((q >> np.uint64(band * self.BAND_BITS)) & np.uint64(0xFFFF)).astype(np.uint16)
            probes = (qb[:, None] ^ _FLIPS_RADIUS_2[None, :]).ravel()
            probe_frame = np.repeat(q_idx, _FLIPS_RADIUS_2.size)
            vals = self._band_vals[band]
            lo = np.searchsorted(vals, probes, side="left")
            sizes = np.searchsorted(vals, probes, side="right") - lo
            ok = (sizes > 0) & (sizes <= self.MAX_BUCKET)
            if not ok.any():
                continue
            lo, sizes, frames = lo[ok], sizes[ok], probe_frame[ok]
            # Every posting of the hit buckets, without a Python loop.
            idx = np.repeat(lo - np.cumsum(sizes) + sizes, sizes) + np.arange(int(sizes.sum()))
            offset = self._band_pos[band][idx].astype(np.int64) - np.repeat(frames, sizes) + MAX_FRAMES
            keys.append(self._band_owner[band][idx] * _OFFSET_SPAN + offset)
        if not keys:
            return []
        uniq, counts = np.unique(np.concatenate(keys), return_counts=True)
        owners = uniq // _OFFSET_SPAN
        # Best offset per fingerprint: sort by (owner, count) and keep each owner's last entry.
        order = np.lexsort((counts, owners))
        last = np.r_[owners[order][1:] != owners[order][:-1], True]
        best = order[last]
        top = best[np.argsort(-counts[best], kind="stable")[:limit]]
        return [(int(owners[k]), int(uniq[k] % _OFFSET_SPAN) - MAX_FRAMES, int(counts[k])) for k in top]

    def search(
        self, fingerprint: Fingerprint | np.ndarray, *, limit: int = 5, shortlist: int = 16
    ) -> list[Candidate]:
        """Best matching fingerprints, best first; only those that pass the match threshold."""
        query = fingerprint.hashes if isinstance(fingerprint, Fingerprint) else np.asarray(fingerprint, np.uint64)
        query = query[:MAX_FRAMES]
        found = []
        for pos, offset, votes in self.candidates(query, shortlist):
            # Slow-moving footage spreads votes over neighbouring offsets: look a few frames either side.
            alignment = align(query, self._seqs[pos], offsets=range(offset - ALIGN_WINDOW, offset + ALIGN_WINDOW + 1))
            if alignment.is_match:
                found.append(Candidate(self._keys[pos], alignment, votes))
        found.sort(key=lambda c: c.alignment.distance)
        return found[:limit]


def best_matches(query: Fingerprint, references: Sequence[tuple[object, Fingerprint]]) -> list[Candidate]:
    """Brute force over a few references (tests, small catalogues)."""
    out = [Candidate(k, align(query.hashes, f.hashes), 0) for k, f in references]
    return sorted((c for c in out if c.alignment.is_match), key=lambda c: c.alignment.distance)
