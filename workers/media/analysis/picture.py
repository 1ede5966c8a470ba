"""Picture signals from small grey samples: shot changes, motion energy, host presence and position.

Shot changes are found coarsely between consecutive samples (a grey histogram and a 64x36 thumbnail
compared), then placed (and confirmed) by decoding just the stretch between the two samples. Faces come
from OpenCV's frontal-face Haar cascade, an XML file inside the opencv-python wheel (`cv2.data`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import cv2
import numpy as np

from workers.media.analysis.signals import FaceSample, MotionBox, Series

THUMB = (64, 36)
CASCADE = "haarcascade_frontalface_default.xml"


def thumbnail(grey: np.ndarray, chroma: np.ndarray | None = None) -> np.ndarray:
    """64x36 of the luma; with chroma, its two planes at 32x18 side by side below it (54x64 in all)."""
    y = cv2.resize(grey, THUMB, interpolation=cv2.INTER_AREA)
    if chroma is None:
        return y
    half = (THUMB[0] // 2, THUMB[1] // 2)
    uv = [cv2.resize(np.ascontiguousarray(p), half, interpolation=cv2.INTER_AREA) for p in chroma]
    return np.vstack([y, np.hstack(uv)])


def _histogram(thumb: np.ndarray) -> np.ndarray:
    h = np.bincount((thumb >> 3).ravel(), minlength=32).astype(np.float32)
    return h / max(1.0, float(h.sum()))


def _planes(thumb: np.ndarray) -> list[np.ndarray]:
    y = thumb[: THUMB[1]]
    if thumb.shape[0] == THUMB[1]:
        return [y]
    uv = thumb[THUMB[1] :]
    return [y, uv[:, : THUMB[0] // 2], uv[:, THUMB[0] // 2 :]]


def motion_box(a: np.ndarray, b: np.ndarray, *, level: int = 14, most: float = 0.4) -> tuple[float, float, float, float] | None:
    """The bounding box (fractions of the frame) of the 64x36 luma cells that changed between two
    thumbnails of one shot, when the change is compact (at least 4 cells, at most `most` of the frame
    boxed): the area of motion, e.g. a product being shown. Sensor noise is averaged away by the
    thumbnail; a lighting change moves everything and is not compact."""
    diff = cv2.absdiff(a[: THUMB[1]], b[: THUMB[1]]) > level
    if int(diff.sum()) < 4:
        return None
    ys, xs = np.nonzero(diff)
    x0, x1, y0, y1 = xs.min() / THUMB[0], (xs.max() + 1) / THUMB[0], ys.min() / THUMB[1], (ys.max() + 1) / THUMB[1]
    if (x1 - x0) * (y1 - y0) > most:
        return None
    return round(float(x0), 4), round(float(y0), 4), round(float(x1), 4), round(float(y1), 4)


def change_score(a: np.ndarray, b: np.ndarray) -> float:
    """0 (same picture) .. 1 (nothing alike): the mean of the histogram distance and the pixel change,
    each the largest over the planes (luma, and the chroma planes when there are: two scenes of the
    same brightness and different colour are told apart)."""
    hist = pixels = 0.0
    for pa, pb in zip(_planes(a), _planes(b), strict=True):
        hist = max(hist, float(np.abs(_histogram(pa) - _histogram(pb)).sum()) / 2)
        pixels = max(pixels, float(np.mean(cv2.absdiff(pa, pb))) / 255)
    return 0.5 * hist + 0.5 * min(1.0, pixels * 2)


class FaceFinder:
    """The largest frontal face in a grey frame, or None.

    A host stays where they were between two samples, so after a hit the next samples are searched only
    around it (a window 2.5 faces wide, faces of 0.7-1.5 times the size); every `full_every`-th sample,
    and whenever the window finds nothing, the whole frame is searched again. That is about a fifth of the
    cost of searching every frame whole; a bigger face appearing elsewhere is picked up within
    `full_every` samples."""

    def __init__(self, width: int = 320, full_every: int = 4) -> None:
        self.width = width
        self.full_every = full_every
        self._cascade = cv2.CascadeClassifier(cv2.data.haarcascades + CASCADE)  # type: ignore[attr-defined]
        if self._cascade.empty():  # pragma: no cover - the wheel ships it
            raise RuntimeError(f"OpenCV's {CASCADE} is missing from cv2.data")
        self._last: tuple[int, int, int, int] | None = None
        self._count = 0
        # Every face of the last call (the returned one first), as (cx, cy, w, h) fractions: the other
        # faces are only known on whole-frame searches. The smart reframe tracks them all.
        self.all_boxes: list[tuple[float, float, float, float]] = []
        self._others: list[tuple[int, int, int, int]] = []

    def _detect(self, image: np.ndarray, min_side: int, max_side: int | None = None) -> tuple[int, int, int, int] | None:
        found = self._cascade.detectMultiScale(
            image, scaleFactor=1.1, minNeighbors=4, minSize=(min_side, min_side),
            maxSize=(max_side, max_side) if max_side else (0, 0),
        )
        if len(found) == 0:
            return None
        ranked = sorted(((int(x), int(y), int(w), int(h)) for x, y, w, h in found), key=lambda r: -r[2] * r[3])
        self._others = ranked[1:]
        return ranked[0]

    def _near(self, small: np.ndarray, last: tuple[int, int, int, int]) -> tuple[int, int, int, int] | None:
        x, y, w, h = last
        sh, sw = small.shape
        cx, cy, half = x + w / 2, y + h / 2, 1.25 * max(w, h)
        x0, y0 = max(0, int(cx - half)), max(0, int(cy - half))
        x1, y1 = min(sw, int(cx + half)), min(sh, int(cy + half))
        hit = self._detect(small[y0:y1, x0:x1], max(18, int(0.7 * w)), int(1.5 * w) + 1)
        return None if hit is None else (hit[0] + x0, hit[1] + y0, hit[2], hit[3])

    def find(self, grey: np.ndarray) -> tuple[float, float, float, float] | None:
        h, w = grey.shape
        small = grey if w <= self.width else cv2.resize(grey, (self.width, max(2, h * self.width // w)), interpolation=cv2.INTER_AREA)
        sh, sw = small.shape
        self._count += 1
        hit = None
        others: list[tuple[int, int, int, int]] = []
        if self._last is not None and self._count % self.full_every:
            hit = self._near(small, self._last)
        if hit is None:
            hit = self._detect(small, 18)
            others = self._others
        self._last = hit
        self.all_boxes = [((x + fw / 2) / sw, (y + fh / 2) / sh, fw / sw, fh / sh) for x, y, fw, fh in ([hit] if hit else []) + others]
        return self.all_boxes[0] if self.all_boxes else None


Frames = list[tuple[float, np.ndarray, np.ndarray | None]]  # (time, luma, chroma or None)
# (a, b) -> consecutive frames covering at least a..b (possibly some context before and after)
Refiner = Callable[[float, float], Frames]


@dataclass
class PictureAnalyser:
    """Fed (time, grey frame) samples in order; `result` turns them into signals."""

    faces: FaceFinder | None = field(default_factory=FaceFinder)
    cut_score: float = 0.3  # a change at least this big between samples is a candidate cut
    times: list[float] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)  # change from the previous sample
    face_samples: list[FaceSample] = field(default_factory=list)
    motion_boxes: list[MotionBox] = field(default_factory=list)
    _last: np.ndarray | None = None

    def feed(self, t: float, grey: np.ndarray, chroma: np.ndarray | None = None) -> None:
        thumb = thumbnail(grey, chroma)
        self.scores.append(0.0 if self._last is None else change_score(self._last, thumb))
        self.times.append(t)
        if self._last is not None and self.scores[-1] < self.cut_score:
            box = motion_box(self._last, thumb)
            if box is not None:
                self.motion_boxes.append(MotionBox(t=round(t, 3), box=box))
        self._last = thumb
        if self.faces is not None:
            box = self.faces.find(grey)
            if box is not None:
                x, y, w, h = box
                self.face_samples.append(FaceSample(t=round(t, 3), x=round(x, 4), y=round(y, 4), w=round(w, 4), h=round(h, 4)))

    def candidate_cuts(self) -> list[int]:
        """Indices i where the picture changed between sample i-1 and i by a cut-sized amount."""
        return [i for i, s in enumerate(self.scores) if i > 0 and s >= self.cut_score]

    def shot_changes(self, refine: Refiner | None, *, fine_enough_s: float = 0.2) -> list[float]:
        """Candidate cuts placed on a frame by `refine` (the frames between the two samples); a candidate
        whose change is spread over the stretch (a camera pan, a host walking past) is dropped."""
        cuts = []
        for i in self.candidate_cuts():
            a, b = self.times[i - 1], self.times[i]
            if refine is None or b - a <= fine_enough_s:
                cuts.append(round(b, 3))
                continue
            # A rate-sampled frame carries its tick's time, up to a frame off: a little slack each side.
            t = refine_cut(refine(a, b), coarse=self.scores[i], cut_score=self.cut_score, within=(a - 0.1, b + 0.1))
            if t is not None:
                cuts.append(round(t, 3))
        return cuts

    def motion(self, step: float, duration: float, cuts: Iterable[int]) -> Series:
        """Change per second between consecutive samples, held until the next sample; 0 across a cut."""
        across = set(cuts)
        per_second = [0.0]
        for i in range(1, len(self.times)):
            gap = max(self.times[i] - self.times[i - 1], 1e-3)
            per_second.append(0.0 if i in across else self.scores[i] / gap)
        return hold_series(self.times, per_second, step, duration, unit="change/s")

    def presence(self, step: float, duration: float) -> Series:
        seen = {f.t for f in self.face_samples}
        values = [1.0 if round(t, 3) in seen else 0.0 for t in self.times]
        return hold_series(self.times, values, step, duration, unit="face")


def refine_cut(
    frames: Frames,
    *,
    coarse: float,
    cut_score: float = 0.3,
    fade_s: float = 0.4,
    within: tuple[float, float] | None = None,
) -> float | None:
    """Where in `frames` (consecutive decoded frames) the picture cut, or None when it did not; only a
    change that lands inside `within` (the two samples) counts, the frames around it are context.

    A cut is a jump of cut size between two consecutive frames (measured: 0.5-0.93 at the cuts of a
    live-stream recording, at most 0.19 between the frames of a handheld phone's pan). A short fade is
    accepted too: a change of cut size within `fade_s`, most (3/4) of the change between the samples,
    with the picture still around it (steps outside the fade under 0.3 of those inside; a pan changes
    evenly all along). The time is that of the frame after the biggest consecutive change."""
    if len(frames) < 2:
        return None
    times = [t for t, _, _ in frames]
    lo, hi = within if within is not None else (times[0], times[-1])
    thumbs = [thumbnail(g, c) for _, g, c in frames]
    steps = [change_score(x, y) for x, y in zip(thumbs, thumbs[1:], strict=False)]
    inside = [k for k in range(len(steps)) if lo < times[k + 1] <= hi + 1e-6]
    if not inside:
        return None
    best = max(inside, key=lambda k: steps[k])
    if steps[best] >= cut_score:
        return times[best + 1]
    for i in range(len(thumbs)):
        j = next((j for j in range(i + 1, len(thumbs)) if times[j] - times[i] >= fade_s), None)
        if j is None:
            break
        peak = i + int(np.argmax(steps[i:j]))
        if peak not in inside:
            continue
        window = change_score(thumbs[i], thumbs[j])
        outside = steps[:i] + steps[j:]
        if window < cut_score or window < 0.75 * coarse or len(outside) < 3:
            continue
        if float(np.mean(outside)) <= 0.3 * float(np.mean(steps[i:j])):
            return times[peak + 1]
    return None


def hold_series(times: list[float], values: list[float], step: float, duration: float, *, unit: str) -> Series:
    """Irregular samples onto a fixed grid: each grid point takes the latest sample at or before it."""
    n = int(np.ceil(duration / step)) if duration > 0 else 0
    if not times:
        return Series(step=step, values=[0.0] * n, unit=unit)
    grid = np.arange(n) * step
    idx = np.searchsorted(np.asarray(times), grid, side="right") - 1
    vals = np.asarray(values)[np.clip(idx, 0, len(values) - 1)]
    vals[idx < 0] = values[0]
    return Series(step=step, values=[round(float(v), 4) for v in vals], unit=unit)
