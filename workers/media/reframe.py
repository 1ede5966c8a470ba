"""Smart reframe: a virtual camera path (keyframes of crop centre and zoom) computed from a recording's
stored analysis, without decoding it again.

Subjects are the faces the analysis found on its sampled frames (all of them on whole-frame searches,
the followed one in between), tied into tracks across samples; a track must be seen on several samples
before the camera follows it, so one false detection or a face that shows up for a second moves nothing.
The product region joins the host when both fit in the window: the product card (on-screen text the
analysis matched to a product or a price), and the area of motion right beside the host that lasts two
samples or more (hands showing the product; motion elsewhere in the picture is not theirs). Each shot (a
shot change resets everything) is filmed as an operator would (MediaPipe AutoFlip's idea): `hold` (one window holds the
subject all shot long), else the window holds still until the subject is about to leave it, then pans
briskly (an eased, minimum-jerk move under the speed and acceleration caps) to where it can hold longest,
and holds again: `pan` (one such move) or `track` (several). x264 spends markedly more on a frame whose
picture shifts than on a still one (bench/RESULTS.md), so the camera moves on as few frames as it can; the
older continuous follower (a straight pan, or a dead-zone follower smoothed under the caps) stays as
`style="follow"`. Zoom is constant per shot (no zoom jumps inside a shot) and never below the scale at
which the crop would be upscaled beyond the source's resolution class. With no subject, or two people
who cannot both fit, the shot falls back to the centre crop or to the padded frame (a preset's choice).

Everything here is pure (numpy only): times in source seconds in, keyframes on the output timeline out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from workers.media.analysis.signals import AnalysisResult

Fallback = Literal["centre", "pad"]
Style = Literal["steady", "follow"]
Move = Literal["hold", "pan", "track", "centre", "pad"]
Box = tuple[float, float, float, float]  # centre x, centre y, width, height: fractions of the frame

MIN_ANALYSIS_VERSION = 2  # the first analyser that kept every face of a sample and the area of motion
GRID_HZ = 10.0  # the path is computed on this grid, then reduced to keyframes
CUT_EPSILON = 0.001  # a keyframe this far before a cut ends the previous shot's path: a jump, not a glide


@dataclass(frozen=True)
class ReframeOptions:
    fallback: Fallback = "centre"
    min_hits: int = 2  # samples a track needs before the camera follows it
    max_gap_s: float = 6.0  # a track survives this long without a detection (the finder misses some)
    margin: float = 0.06  # of the window's size, kept between the subject and the window's edge
    dead_zone: float = 0.5  # share of the free play (window minus subject) the subject moves in unfollowed
    max_speed: float = 0.35  # frame widths (or heights) per second
    max_accel: float = 0.8  # frame widths per second squared
    smooth_s: float = 0.25  # zero-phase smoothing of a tracked path (Gaussian sigma, seconds)
    face_share: float = 0.45  # when zooming: the subject at most this share of the window's width
    tolerance: float = 0.002  # keyframes are dropped while the path stays this close (frame fractions)
    product: bool = True  # frame the product card with the host when both fit
    # steady: hold, eased pan, hold (moves on few frames); follow: a straight pan or a continuous follower
    style: Style = "steady"


@dataclass(frozen=True)
class Key:
    """A point of the camera path: the window's centre (fractions of the frame) and its size as a
    share of the largest window of the output's aspect that fits the frame (1 = no zoom). `t` is on the
    output timeline. `pad` marks a stretch (until the next key) shown as the whole frame, padded."""

    t: float
    x: float
    y: float = 0.5
    scale: float = 1.0
    pad: bool = False


@dataclass(frozen=True)
class ShotPlan:
    start: float  # source seconds
    end: float
    move: Move
    scale: float
    subjects: int  # followed subjects (0, 1 or 2)
    product: bool = False


@dataclass
class ReframePath:
    keys: list[Key]
    shots: list[ShotPlan]
    window: tuple[float, float]  # the window at scale 1 as fractions of the frame (width, height)
    min_scale: float


@dataclass
class Track:
    times: list[float] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)

    @property
    def last(self) -> Box:
        return self.boxes[-1]

    def at(self, grid: np.ndarray) -> np.ndarray:
        """Boxes at the grid times: linear between detections, held before the first and after the last."""
        t = np.asarray(self.times)
        b = np.asarray(self.boxes)
        return np.stack([np.interp(grid, t, b[:, i]) for i in range(4)], axis=1)


# --------------------------------------------------------------------------- geometry


def base_window(src: tuple[int, int], out: tuple[int, int]) -> tuple[float, float]:
    """The largest window of the output's aspect inside the source, as fractions of the source."""
    sw, sh = src
    ow, oh = out
    a = ow / oh
    if sw / sh > a:  # wider source: full height, part of the width
        return (sh * a) / sw, 1.0
    return 1.0, (sw / a) / sh


def min_scale(src: tuple[int, int], out: tuple[int, int]) -> float:
    """The smallest zoom factor that keeps the crop from being upscaled past what the full-size window
    already is: only a source larger than the output (4K into 1080x1920) leaves room to zoom."""
    ww, wh = base_window(src, out)
    crop_h = wh * src[1]
    return float(min(1.0, max(out[1], 1) / crop_h)) if crop_h > out[1] else 1.0


def _iou(a: Box, b: Box) -> float:
    ax0, ax1, ay0, ay1 = a[0] - a[2] / 2, a[0] + a[2] / 2, a[1] - a[3] / 2, a[1] + a[3] / 2
    bx0, bx1, by0, by1 = b[0] - b[2] / 2, b[0] + b[2] / 2, b[1] - b[3] / 2, b[1] + b[3] / 2
    iw = max(0.0, min(ax1, bx1) - max(ax0, bx0))
    ih = max(0.0, min(ay1, by1) - max(ay0, by0))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


# --------------------------------------------------------------------------- subjects


def track_faces(samples: Sequence[tuple[float, Sequence[Box]]], options: ReframeOptions) -> list[Track]:
    """Greedy association of each sample's boxes to the open tracks: a box joins the track whose
    predicted place (constant velocity from its last two hits) or last place it is near, in a similar
    size; a box matching none opens a track. Samples must be one shot's, in order."""
    tracks: list[Track] = []
    for t, boxes in samples:
        open_ = [tr for tr in tracks if t - tr.times[-1] <= options.max_gap_s]
        taken: set[int] = set()
        for box in sorted(boxes, key=lambda b: -b[2] * b[3]):
            best, best_score = None, 0.0
            for i, tr in enumerate(open_):
                if i in taken:
                    continue
                last = tr.last
                if not 0.6 <= box[2] / max(last[2], 1e-6) <= 1.67:
                    continue
                size = max(box[2], last[2])
                px, py = last[0], last[1]
                if len(tr.times) > 1:
                    dt = max(tr.times[-1] - tr.times[-2], 1e-3)
                    k = min(t - tr.times[-1], options.max_gap_s) / dt
                    px += (last[0] - tr.boxes[-2][0]) * k
                    py += (last[1] - tr.boxes[-2][1]) * k
                near = min(
                    float(np.hypot(box[0] - px, box[1] - py)) / 1.5,
                    float(np.hypot(box[0] - last[0], box[1] - last[1])) / 2.5,
                )
                score = _iou(box, last) + max(0.0, 1 - near / size)
                if score > best_score:
                    best, best_score = i, score
            if best is None:
                tracks.append(Track([t], [box]))
            else:
                taken.add(best)
                open_[best].times.append(t)
                open_[best].boxes.append(box)
    return tracks


def _overlap(a: Track, b: Track) -> int:
    """Samples of b taken while a was on screen (between its first and last detection)."""
    return sum(1 for t in b.times if a.times[0] <= t <= a.times[-1])


def subjects(tracks: list[Track], options: ReframeOptions) -> tuple[Track | None, Track | None]:
    """The host (the track seen most; tracks seen at other times of the shot joined to it: the same
    person found again) and a second person seen alongside often enough to matter, or None."""
    confirmed = [tr for tr in tracks if len(tr.times) >= options.min_hits]
    if not confirmed:
        return None, None
    confirmed.sort(key=lambda tr: (-len(tr.times), -float(np.mean([bx[2] for bx in tr.boxes]))))
    host = Track(list(confirmed[0].times), list(confirmed[0].boxes))
    rest = []
    for tr in confirmed[1:]:
        if _overlap(host, tr) == 0 and _overlap(tr, host) == 0:
            merged = sorted(zip(host.times + tr.times, host.boxes + tr.boxes, strict=True))
            host = Track([m[0] for m in merged], [m[1] for m in merged])
        else:
            rest.append(tr)
    second = next((tr for tr in rest if _overlap(host, tr) >= max(options.min_hits, 0.5 * len(host.times))), None)
    return host, second


def _union(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x0 = np.minimum(a[:, 0] - a[:, 2] / 2, b[:, 0] - b[:, 2] / 2)
    x1 = np.maximum(a[:, 0] + a[:, 2] / 2, b[:, 0] + b[:, 2] / 2)
    y0 = np.minimum(a[:, 1] - a[:, 3] / 2, b[:, 1] - b[:, 3] / 2)
    y1 = np.maximum(a[:, 1] + a[:, 3] / 2, b[:, 1] + b[:, 3] / 2)
    return np.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0], axis=1)


# --------------------------------------------------------------------------- camera moves


def _limit(path: np.ndarray, dt: float, vmax: float, amax: float) -> np.ndarray:
    """Bound speed and acceleration: forward then backward passes that let the camera lag (never jump)."""
    out = path.copy()
    for _ in range(2):
        for seq in (out, out[::-1]):
            v = 0.0
            for i in range(1, len(seq)):
                want = (seq[i] - seq[i - 1]) / dt
                want = min(vmax, max(-vmax, want))
                v = min(v + amax * dt, max(v - amax * dt, want))
                seq[i] = seq[i - 1] + v * dt
    return out


def _gauss(path: np.ndarray, sigma_steps: float) -> np.ndarray:
    if sigma_steps <= 0 or len(path) < 3:
        return path
    r = int(3 * sigma_steps)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma_steps) ** 2)
    k /= k.sum()
    padded = np.pad(path, r, mode="edge")
    return np.convolve(padded, k, mode="valid")


def _axis(
    lo: np.ndarray, hi: np.ndarray, win: float, grid: np.ndarray, options: ReframeOptions
) -> tuple[np.ndarray, Move, set[int]]:
    """The window centre on one axis for a subject spanning lo..hi (frame fractions) on the grid, its
    move, and the grid indices that must stay keyframes."""
    half = win / 2
    lo_c, hi_c = half, 1 - half  # where the centre may be
    margin = options.margin * win
    # hold: one position keeps every box inside, with a margin
    if np.max(hi) - np.min(lo) <= win - 2 * margin:
        c = float(np.clip((np.max(hi) + np.min(lo)) / 2, lo_c, hi_c))
        return np.full_like(grid, c), "hold", set()
    if options.style == "steady":
        steady, pans, corners = _steady_axis(lo, hi, win, grid, options)
        return steady, "hold" if pans == 0 else "pan" if pans == 1 else "track", corners
    centre = (lo + hi) / 2
    room = np.maximum(0.0, win - (hi - lo) - 2 * margin)  # free play of the subject inside the window
    # pan: a straight line keeps every box inside (and moves no faster than the cap)
    if len(grid) > 2:
        slope, icpt = np.polyfit(grid, centre, 1)
        line = slope * grid + icpt
        # (a quarter of the free play: a subject that stops and starts is tracked, so the window stops too)
        if abs(slope) <= options.max_speed and np.all(np.abs(centre - line) <= room / 4):
            return np.clip(line, lo_c, hi_c), "pan", set()
    # track: a dead-zone follower (moves only when the subject nears the window's edge) ...
    dz = options.dead_zone * room / 2
    p = np.empty_like(centre)
    cur = centre[0]
    for i, c in enumerate(centre):
        if c - cur > dz[i]:
            cur = c - dz[i]
        elif cur - c > dz[i]:
            cur = c + dz[i]
        p[i] = cur
    dt = float(grid[1] - grid[0]) if len(grid) > 1 else 1.0
    p = _gauss(p, options.smooth_s / dt)
    p = _limit(p, dt, options.max_speed, options.max_accel)
    return np.clip(p, lo_c, hi_c), "track", set()


def _ease(steps: int) -> np.ndarray:
    """A minimum-jerk move from 0 to 1 in `steps` grid steps (steps + 1 points): it starts and stops at
    rest, with no jolt in its acceleration either (peak speed 1.875 and peak acceleration 5.77 times the
    mean's)."""
    tau = np.linspace(0.0, 1.0, steps + 1)
    return np.asarray(tau**3 * (10 - 15 * tau + 6 * tau**2))


def _pan_steps(distance: float, dt: float, options: ReframeOptions) -> int:
    """Grid steps of the shortest eased move over `distance` within the speed and acceleration caps."""
    seconds = max(1.875 * distance / options.max_speed, float(np.sqrt(5.774 * distance / options.max_accel)))
    return max(1, int(np.ceil(seconds / dt - 1e-9)))


def _band(lo: np.ndarray, hi: np.ndarray, win: float, options: ReframeOptions) -> tuple[np.ndarray, np.ndarray]:
    """Per grid point, the window centres that keep lo..hi inside with the margin (without it where the
    subject is too wide for both, the subject's centre where it is too wide even so)."""
    half = win / 2
    lo_c, hi_c = half, 1 - half
    margin = options.margin * win
    low, high = np.clip(hi - half + margin, lo_c, hi_c), np.clip(lo + half - margin, lo_c, hi_c)
    tight = low > high
    low = np.where(tight, np.clip(hi - half, lo_c, hi_c), low)
    high = np.where(tight, np.clip(lo + half, lo_c, hi_c), high)
    mid = np.clip((lo + hi) / 2, lo_c, hi_c)
    wide = low > high
    return np.where(wide, mid, low), np.where(wide, mid, high)


def _longest_hold(low: np.ndarray, high: np.ndarray, f: int) -> tuple[int, float, float]:
    """The last grid index one still window can hold from f on, and the centres that can (a..b)."""
    a, b = float(low[f]), float(high[f])
    j = f
    while j + 1 < len(low) and max(a, low[j + 1]) <= min(b, high[j + 1]) + 1e-9:
        j += 1
        a, b = max(a, float(low[j])), min(b, float(high[j]))
    return j, a, b


def _steady_axis(
    lo: np.ndarray, hi: np.ndarray, win: float, grid: np.ndarray, options: ReframeOptions
) -> tuple[np.ndarray, int, set[int]]:
    """Hold, pan, hold: the window stays put while the subject stays inside it (with the margin); when
    the subject is about to leave, an eased pan, started as late as keeps the subject inside all the way,
    takes the window to where it can hold longest from then on (the subject's mean place over that hold,
    kept inside the window). Returns the centres, the number of pans, and the grid indices where a hold
    starts or ends (keyframes that must stay, so a hold is exactly still)."""
    n = len(grid)
    dt = float(grid[1] - grid[0]) if n > 1 else 1.0
    low, high = _band(lo, hi, win, options)
    centre = (lo + hi) / 2

    def place(f: int) -> tuple[int, float]:
        j, a, b = _longest_hold(low, high, f)
        return j, float(np.clip(np.mean(centre[f : j + 1]), a, b))

    out = np.empty(n)
    corners = {0, n - 1}
    _, p = place(0)
    i, pans = 0, 0
    while True:
        e = i  # the last index the window may hold at p
        while e + 1 < n and low[e + 1] - 1e-9 <= p <= high[e + 1] + 1e-9:
            e += 1
        if e >= n - 1:
            out[i:] = p
            break
        plans: list[tuple[float, int, float, int]] = []
        f = e + 1
        for _ in range(2):  # where to go depends on when the pan ends, which depends on how far it goes
            _, q = place(min(f, n - 1))
            k = _pan_steps(abs(q - p), dt, options)
            ease = _ease(k)
            s, worst = e, np.inf
            for start in range(e, max(i, e - 4 * k) - 1, -1):  # the latest start that keeps the subject in
                stop = min(start + k, n - 1)
                # the pan, then q held until f (from f on, q holds by its choice)
                path = np.concatenate(
                    [p + (q - p) * ease[: stop - start + 1], np.full(max(0, min(f, n - 1) - stop - 1), q)]
                )
                span = slice(start, start + len(path))
                miss = float(np.max(np.maximum(low[span] - path, 0) + np.maximum(path - high[span], 0)))
                if miss < worst - 1e-9:
                    s, worst = start, miss
                if miss <= 1e-9:
                    break
            plans.append((worst, s, q, k))
            f = s + k
        # the second plan (its target chosen from when the pan really ends) unless only the first fits
        worst, s, q, k = plans[-1] if plans[-1][0] <= 1e-9 or plans[-1][0] <= plans[0][0] else plans[0]
        stop = min(s + k, n - 1)
        out[i : s + 1] = p
        out[s : stop + 1] = p + (q - p) * _ease(k)[: stop - s + 1]
        corners |= {s, stop}
        pans += 1
        p, i = q, stop
        if stop >= n - 1:
            break
    return out, pans, corners


def _reduce(t: np.ndarray, v: np.ndarray, tol: float, keep: set[int] | None = None) -> list[int]:
    """Indices of the points to keep so linear interpolation stays within `tol` (Ramer-Douglas-Peucker on
    every column of v, iterative), and every index of `keep`."""
    keep = {0, len(t) - 1} | (keep or set())
    bounds = sorted(keep)
    stack = list(zip(bounds, bounds[1:], strict=False))
    while stack:
        a, b = stack.pop()
        if b - a < 2:
            continue
        f = (t[a + 1 : b] - t[a]) / max(t[b] - t[a], 1e-9)
        line = v[a] + np.outer(f, v[b] - v[a])
        err = np.max(np.abs(v[a + 1 : b] - line), axis=1)
        i = int(np.argmax(err))
        if err[i] > tol:
            m = a + 1 + i
            keep.add(m)
            stack += [(a, m), (m, b)]
    return sorted(keep)


# --------------------------------------------------------------------------- inputs from an analysis


def face_samples(result: AnalysisResult) -> list[tuple[float, list[Box]]]:
    """Every face box per sampled frame: the analysis's `face_boxes` where it has them, else its one
    followed face per sample (analyses made before face boxes were kept)."""
    pic = result.picture
    if pic is None:
        return []
    by_t: dict[float, list[Box]]
    if pic.face_boxes is not None:
        by_t = {s.t: list(s.boxes) for s in pic.face_boxes}
    else:
        by_t = {f.t: [(f.x, f.y, f.w, f.h)] for f in pic.faces}
    return [(t, by_t.get(round(t, 3), [])) for t in pic.sample_times]


def motion_samples(result: AnalysisResult) -> list[tuple[float, float, Box]]:
    """(previous sample, sample, box) where a compact area changed between two samples of a shot."""
    pic = result.picture
    if pic is None or not pic.motion_boxes:
        return []
    times = pic.sample_times
    out = []
    for m in pic.motion_boxes:
        i = int(np.searchsorted(times, m.t - 1e-6))
        prev = times[i - 1] if 0 < i <= len(times) else m.t
        x0, y0, x1, y1 = m.box
        out.append((prev, m.t, ((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0)))
    return out


def product_boxes(result: AnalysisResult) -> list[tuple[float, float, Box]]:
    """(start, end, box) of the on-screen lines that named a product or a price: the product card."""
    text = result.text
    if text is None:
        return []
    named = [(m.start, m.end, m.text) for m in text.products] + [(c.start, c.end, c.text) for c in text.selling]
    out = []
    for line in text.lines:
        if any(line.text == t and line.start < e and s < line.end for s, e, t in named):
            x0, y0, x1, y1 = line.box
            out.append((line.start, line.end, ((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0)))
    return out


# --------------------------------------------------------------------------- the path


def camera_path(
    result: AnalysisResult,
    ranges: Sequence[tuple[float, float]],
    output_size: tuple[int, int],
    options: ReframeOptions | None = None,
) -> ReframePath:
    """The suggested path for the joined `ranges` (source seconds) rendered at `output_size`."""
    options = options or ReframeOptions()
    pic = result.picture
    src = pic.frame_size if pic is not None else output_size
    win_w, win_h = base_window(src, output_size)
    smin = min_scale(src, output_size)
    samples = face_samples(result)
    products = product_boxes(result) if options.product else []
    motion = motion_samples(result) if options.product else []
    cuts = sorted(pic.shot_changes) if pic is not None else []
    keys: list[Key] = []
    shots: list[ShotPlan] = []
    offset = 0.0
    parts = []
    for a, b in ranges:
        b = min(b, result.duration) if result.duration else b
        bounds = [a, *[c for c in cuts if a < c < b], b]
        parts += list(zip(bounds, bounds[1:], strict=False))
    for n, (s0, s1) in enumerate(parts):
        shot_a = max([0.0, *[c for c in cuts if c <= s0]])
        shot_b = min([result.duration or s1, *[c for c in cuts if c >= s1]])
        plan, shot_keys = _shot(samples, products, motion, (shot_a, shot_b), (s0, s1), (win_w, win_h), smin, options)
        shots.append(plan)
        end = offset + (s1 - s0) - (CUT_EPSILON if n < len(parts) - 1 else 0.0)
        keys += [Key(round(min(k.t - s0 + offset, end), 3), k.x, k.y, k.scale, k.pad) for k in shot_keys]
        offset += s1 - s0
        if n < len(parts) - 1:
            # a cut or a join: hold this shot's last position until just before it, so the engine jumps
            last = keys[-1]
            end_t = round(offset - CUT_EPSILON, 3)
            if end_t > last.t:
                keys.append(Key(end_t, last.x, last.y, last.scale, last.pad))
    return ReframePath(keys=_dedupe(keys), shots=shots, window=(win_w, win_h), min_scale=smin)


def _dedupe(keys: list[Key]) -> list[Key]:
    out: list[Key] = []
    for k in keys:
        if out and k.t <= out[-1].t:
            if k.t == out[-1].t:
                out[-1] = k
            continue
        out.append(k)
    return out


def _shot(
    samples: Sequence[tuple[float, Sequence[Box]]],
    products: Sequence[tuple[float, float, Box]],
    motion: Sequence[tuple[float, float, Box]],
    shot: tuple[float, float],
    part: tuple[float, float],
    window: tuple[float, float],
    smin: float,
    options: ReframeOptions,
) -> tuple[ShotPlan, list[Key]]:
    """The path over `part` (source seconds) of the shot `shot`: keys in source seconds."""
    a, b = part
    inside = [(t, boxes) for t, boxes in samples if shot[0] <= t < shot[1]]
    # a shot too short for `min_hits` samples follows what its samples saw (none: the fallback)
    opts = options if len(inside) >= options.min_hits else ReframeOptions(**{**options.__dict__, "min_hits": 1})
    host, second = subjects(track_faces(inside, opts), opts)

    def fallback() -> tuple[ShotPlan, list[Key]]:
        pad = options.fallback == "pad"
        move: Move = "pad" if pad else "centre"
        return ShotPlan(a, b, move, 1.0, 0), [Key(a, 0.5, 0.5, 1.0, pad)]

    if host is None:
        return fallback()
    n = max(2, int(np.ceil((b - a) * GRID_HZ)) + 1)
    grid = np.linspace(a, b, n)
    subject = host.at(grid)
    people = 1
    if second is not None:
        both = _union(subject, second.at(grid))
        if np.max(both[:, 2]) > window[0] * (1 - 2 * options.margin):
            return fallback()  # two people who cannot share the window
        subject, people = both, 2
    regions = list(products) + _demonstration(host, motion, shot, window, options)
    with_product = False
    for p0, p1, box in regions:
        if p0 < b and a < p1:
            active = (grid >= p0) & (grid <= p1)
            pb = np.tile(np.asarray(box), (n, 1))
            joined = _union(subject, pb)
            if np.max(joined[active, 2]) <= window[0] * (1 - 2 * options.margin):
                subject = np.where(active[:, None], joined, subject)
                with_product = True
    # zoom: constant over the shot; only as far as the source's resolution allows, and never tighter than
    # an upper-body framing of the subject
    face_w = float(np.max(subject[:, 2]))
    face_h = float(np.max(subject[:, 3]))
    want = max(face_w / options.face_share / window[0], 3.0 * face_h / window[1])
    scale = float(np.clip(want, smin, 1.0))
    ww, wh = window[0] * scale, window[1] * scale
    xs, move_x, keep_x = _axis(subject[:, 0] - subject[:, 2] / 2, subject[:, 0] + subject[:, 2] / 2, ww, grid, options)
    if wh < 1 - 1e-6:
        # the face sits in the upper third of the window: aim the window's centre below it
        top = subject[:, 1] - subject[:, 3] / 2
        bottom = np.maximum(subject[:, 1] + subject[:, 3] / 2, top + 0.55 * wh)
        ys, move_y, keep_y = _axis(top, bottom, wh, grid, options)
    else:
        ys, move_y, keep_y = np.full_like(grid, 0.5), "hold", set()
    order = {"hold": 0, "pan": 1, "track": 2}
    move: Move = max((move_x, move_y), key=lambda m: order[m])
    idx = _reduce(grid, np.stack([xs, ys], axis=1), options.tolerance, keep_x | keep_y)
    keys = [Key(float(grid[i]), round(float(xs[i]), 4), round(float(ys[i]), 4), round(scale, 4)) for i in idx]
    return ShotPlan(a, b, move, round(scale, 4), people, with_product), keys


def _demonstration(
    host: Track,
    motion: Sequence[tuple[float, float, Box]],
    shot: tuple[float, float],
    window: tuple[float, float],
    options: ReframeOptions,
) -> list[tuple[float, float, Box]]:
    """The area of motion beside the host (hands showing a product) as one steady region per stretch:
    only motion next to the host's face counts (a passer-by elsewhere does not), seen on `min_hits`
    samples in a row at least (one change is no demonstration), and only if it fits the window with them."""
    near = []
    for t0, t1, box in motion:
        if not (shot[0] <= t0 and t1 < shot[1]):
            continue
        face = host.at(np.array([t1]))[0]
        gap = abs(box[0] - face[0]) - (box[2] + face[2]) / 2
        if gap <= face[2]:
            near.append((t0, t1, box))
    out: list[tuple[float, float, Box]] = []
    run: list[tuple[float, float, Box]] = []
    for item in [*near, None]:
        if item is not None and (not run or item[0] <= run[-1][1] + 1e-6):
            run.append(item)
            continue
        if len(run) >= options.min_hits:
            b = np.array([r[2] for r in run])
            x0, x1 = float(np.min(b[:, 0] - b[:, 2] / 2)), float(np.max(b[:, 0] + b[:, 2] / 2))
            y0, y1 = float(np.min(b[:, 1] - b[:, 3] / 2)), float(np.max(b[:, 1] + b[:, 3] / 2))
            if x1 - x0 <= window[0] * (1 - 2 * options.margin):
                out.append((run[0][0], run[-1][1], ((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0)))
        run = [item] if item is not None else []
    return out


def key_at(keys: Sequence[Key], t: float) -> Key:
    """The path at output time t, interpolated as the render engine does (pad and scale held from the
    key before; x, y, scale linear)."""
    if not keys:
        return Key(t, 0.5)
    if t <= keys[0].t:
        return Key(t, keys[0].x, keys[0].y, keys[0].scale, keys[0].pad)
    for k0, k1 in zip(keys, keys[1:], strict=False):
        if t < k1.t:
            f = (t - k0.t) / max(k1.t - k0.t, 1e-9)
            return Key(
                t, k0.x + (k1.x - k0.x) * f, k0.y + (k1.y - k0.y) * f, k0.scale + (k1.scale - k0.scale) * f, k0.pad
            )
    k = keys[-1]
    return Key(t, k.x, k.y, k.scale, k.pad)
