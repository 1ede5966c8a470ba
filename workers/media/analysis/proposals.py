"""Clip proposals from a stored analysis: the recording split into product segments, candidate clips cut
on pauses or shot changes (never inside an utterance), typed, scored, and explained with reasons as data.

Pure: takes an `AnalysisResult` and the ranges already used by other clips of the same source; no
decoding, no database. Times are source seconds, as in the analysis.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workers.media.analysis.signals import AnalysisResult, Series, Span

GRID = 0.5  # seconds per cell of the evidence arrays
EDGE_MARGIN = 0.3  # an in/out point on a long pause sits this far from the voice
SPOKEN_REACH = 15.0  # a product named in the transcript is being sold for about this long after
SEGMENT_BRIDGE = 20.0  # gaps in one product's evidence up to this long stay in its segment
MIN_PRODUCT_SHARE = 0.5  # a clip carries a product's label only if it shows or names it this much
ANSWER_MIN = 3.0  # a question needs this much after it, in the clip, for its answer
CLIP_TYPES = ("demo", "qa", "offer", "highlight")


@dataclass(frozen=True)
class Reason:
    code: str
    text_zh: str
    text_en: str
    start: float | None = None
    end: float | None = None
    value: float | str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "text_zh": self.text_zh, "text_en": self.text_en, "start": self.start,
                "end": self.end, "value": self.value}


@dataclass(frozen=True)
class Segment:
    tag_id: int
    start: float
    end: float


@dataclass(frozen=True)
class Candidate:
    type: str
    tag_id: int | None
    start: float
    end: float
    score: float
    reasons: tuple[Reason, ...] = ()
    edges: tuple[str, str] | None = None  # what the in and out points sit on: pause, cut, edge

    @property
    def duration(self) -> float:
        return self.end - self.start

    def overlaps(self, start: float, end: float) -> bool:
        return self.start < end and start < self.end


@dataclass(frozen=True)
class Boundary:
    t: float
    kind: str  # "pause", "cut", "edge"


def clock(t: float) -> str:
    """12:03 or 1:02:03."""
    s = int(round(t))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def _span_text(a: float, b: float) -> str:
    return f"{clock(a)}-{clock(b)}"


# --- where a clip may start or end ------------------------------------------------------------------


def _speech(result: AnalysisResult) -> list[Span]:
    return list(result.audio.speech) if result.audio else []


def inside_speech(t: float, speech: Sequence[Span], slack: float = 0.05) -> Span | None:
    """The utterance that `t` falls inside (more than `slack` from both its ends), if any."""
    i = bisect.bisect_right(speech, t, key=lambda s: s.start) - 1
    if 0 <= i < len(speech) and speech[i].start + slack < t < speech[i].end - slack:
        return speech[i]
    return None


def boundaries(result: AnalysisResult) -> list[Boundary]:
    """Points a clip may start or end at: inside pauses (their middle, and near each side of a long one),
    shot changes outside speech, and the recording's ends when no one speaks there."""
    speech = _speech(result)
    points: list[Boundary] = []
    if result.audio:
        for p in result.audio.pauses:
            points.append(Boundary(round((p.start + p.end) / 2, 3), "pause"))
            if p.duration > 4 * EDGE_MARGIN:
                points.append(Boundary(round(p.start + EDGE_MARGIN, 3), "pause"))
                points.append(Boundary(round(p.end - EDGE_MARGIN, 3), "pause"))
    if result.picture:
        points += [Boundary(round(t, 3), "cut") for t in result.picture.shot_changes if inside_speech(t, speech) is None]
    for t in (0.0, result.duration):
        if inside_speech(t, speech) is None and not any(abs(b.t - t) < 0.2 for b in points):
            points.append(Boundary(round(t, 3), "edge"))
    points = [b for b in points if 0.0 <= b.t <= result.duration]
    points.sort(key=lambda b: (b.t, b.kind != "cut"))
    kept: list[Boundary] = []
    for b in points:  # a cut and a pause at the same moment: one boundary, the cut
        if kept and b.t - kept[-1].t < 0.1:
            continue
        kept.append(b)
    return kept


# --- evidence on a fixed grid ---------------------------------------------------------------------------


@dataclass
class _Evidence:
    n: int
    screen: dict[int, np.ndarray] = field(default_factory=dict)  # product on screen
    spoken: dict[int, np.ndarray] = field(default_factory=dict)  # product named (and shortly after)
    price: np.ndarray | None = None
    link: np.ndarray | None = None
    urgency: np.ndarray | None = None  # 秒杀, 限时 ...
    face: np.ndarray | None = None
    motion: np.ndarray | None = None
    loud: np.ndarray | None = None
    speech: list[Span] = field(default_factory=list)
    _sums: dict[int, np.ndarray] = field(default_factory=dict)

    def clean(self, t: float) -> bool:
        """No utterance is cut at t."""
        return inside_speech(t, self.speech) is None

    def cell(self, t: float) -> int:
        return min(self.n, max(0, int(round(t / GRID))))

    def mark(self, arr: np.ndarray, a: float, b: float, value: float = 1.0) -> None:
        i, j = self.cell(a), max(self.cell(a) + 1, self.cell(b))
        arr[i:j] = np.maximum(arr[i:j], value)

    def mean(self, arr: np.ndarray | None, a: float, b: float) -> float:
        if arr is None:
            return 0.0
        sums = self._sums.get(id(arr))
        if sums is None:  # prefix sums: a window's mean in O(1), for the tens of thousands of windows
            sums = self._sums[id(arr)] = np.concatenate(([0.0], np.cumsum(arr)))
        i = self.cell(a)
        j = min(len(arr), max(i + 1, self.cell(b)))
        return float(sums[j] - sums[i]) / (j - i) if j > i else 0.0


def _resample(series: Series, n: int) -> np.ndarray:
    out = np.zeros(n, dtype=np.float64)
    if not series.values or series.step <= 0:
        return out
    values = np.asarray(series.values, dtype=np.float64)
    idx = ((np.arange(n) * GRID + GRID / 2 - series.start) / series.step).astype(int)
    inside = (idx >= 0) & (idx < len(values))
    out[inside] = values[idx[inside]]
    return out


def _evidence(result: AnalysisResult) -> _Evidence:
    n = max(1, int(np.ceil(result.duration / GRID)))
    ev = _Evidence(n=n, speech=_speech(result))
    zeros = lambda: np.zeros(n, dtype=np.float64)  # noqa: E731
    ev.price, ev.link, ev.urgency = zeros(), zeros(), zeros()
    cues = list(result.text.selling) if result.text else []
    cues += list(result.transcript.selling) if result.transcript else []
    for c in cues:
        target = {"price": ev.price, "link": ev.link}.get(c.kind, ev.urgency)
        ev.mark(target, c.start, c.end)
    for m in result.text.products if result.text else []:
        ev.mark(ev.screen.setdefault(m.tag_id, zeros()), m.start, m.end)
    for m in result.transcript.products if result.transcript else []:
        ev.mark(ev.spoken.setdefault(m.tag_id, zeros()), m.start, m.end + SPOKEN_REACH)
    if result.picture:
        ev.face = _resample(result.picture.face_presence, n)
        motion = _resample(result.picture.motion, n)
        top = float(np.percentile(motion, 90)) if motion.any() else 0.0
        ev.motion = np.clip(motion / top, 0, 1) if top > 0 else motion
    if result.audio and result.audio.loudness.values:
        loud = _resample(result.audio.loudness, n)
        voiced = loud[loud > -60]
        if voiced.size:
            # 0 at the recording's median level, 1 at 6 dB above it
            ev.loud = np.clip((loud - float(np.median(voiced))) / 6.0, 0, 1)
    return ev


# --- product segments -----------------------------------------------------------------------------------


def product_segments(result: AnalysisResult) -> list[Segment]:
    """The stretches where one product is being sold: each cell goes to the product shown (or, failing
    that, named) there; short gaps inside one product's run are bridged; a session's order peak right
    after a run (the orders follow the pitch) extends it."""
    ev = _evidence(result)
    products = sorted(set(ev.screen) | set(ev.spoken))
    if not products:
        return []
    weight = np.zeros((len(products), ev.n))
    for k, tag in enumerate(products):
        if tag in ev.screen:
            weight[k] += ev.screen[tag]
        if tag in ev.spoken:
            weight[k] += 0.6 * ev.spoken[tag]
    label = np.where(weight.max(axis=0) > 0, np.argmax(weight, axis=0), -1)
    bridge = int(SEGMENT_BRIDGE / GRID)
    last, last_at = -1, -(10**9)
    for i in range(ev.n):  # bridge short unlabelled gaps between cells of the same product
        if label[i] >= 0:
            if label[i] == last and 1 < i - last_at <= bridge and (label[last_at + 1 : i] == -1).all():
                label[last_at + 1 : i] = last
            last, last_at = int(label[i]), i
    for peak in result.session.peaks if result.session else []:
        if peak.metric != "orders":
            continue
        i, j = ev.cell(peak.t), ev.cell(peak.t + 60.0)
        before = label[max(0, i - int(60 / GRID)) : i + 1]
        known = before[before >= 0]
        if known.size:
            window = label[i:j]
            window[window == -1] = known[-1]
    segments: list[Segment] = []
    i = 0
    while i < ev.n:
        if label[i] < 0:
            i += 1
            continue
        j = i
        while j < ev.n and label[j] == label[i]:
            j += 1
        segments.append(Segment(products[int(label[i])], round(i * GRID, 3), round(min(j * GRID, result.duration), 3)))
        i = j
    return segments


# --- one window: its type, score and reasons ------------------------------------------------------------


def _session_max(result: AnalysisResult, metric: str, a: float, b: float) -> tuple[float, float] | None:
    """The highest per-minute value of `metric` over the minutes the window touches, and its minute."""
    if not result.session or metric not in result.session.series:
        return None
    s = result.session.series[metric]
    best: tuple[float, float] | None = None
    for i, v in enumerate(s.values):
        t = s.time_of(i)
        if t < b and a < t + s.step and (best is None or v > best[0]):
            best = (v, t)
    return best


def _is_peak(result: AnalysisResult, metric: str, t: float) -> bool:
    peaks = result.session.peaks if result.session else []
    return any(p.metric == metric and p.t == t for p in peaks)


def _cues_in(result: AnalysisResult, kind: str, a: float, b: float) -> list[tuple[str, float, float, bool]]:
    """(value, start, end, on screen) of each selling cue of `kind` in the window: on screen first, then spoken."""
    found: list[tuple[str, float, float, bool]] = []
    for sigs, screen in ((result.text, True), (result.transcript, False)):
        for c in sigs.selling if sigs else []:
            if c.kind == kind and c.start < b and a < c.end:
                found.append((c.value, max(a, c.start), min(b, c.end), screen))
    return found


def assess(result: AnalysisResult, start: float, end: float, tag_id: int | None, *, edges: tuple[str, str] | None = None,
           explain: bool = True, _ev: _Evidence | None = None) -> Candidate:
    """Type, score and (when `explain`) reasons of the clip [start, end] labelled with `tag_id`."""
    ev = _ev or _evidence(result)
    a, b = start, end
    screen_share = ev.mean(ev.screen.get(tag_id), a, b) if tag_id is not None else 0.0
    spoken_share = ev.mean(ev.spoken.get(tag_id), a, b) if tag_id is not None else 0.0
    product = max(screen_share, 0.6 * spoken_share)
    face, motion, loud = ev.mean(ev.face, a, b), ev.mean(ev.motion, a, b), ev.mean(ev.loud, a, b)
    has_price, has_link, has_urgency = (ev.mean(x, a, b) > 0 for x in (ev.price, ev.link, ev.urgency))
    comments, orders = _session_max(result, "comments", a, b), _session_max(result, "orders", a, b)
    comment_peak = comments is not None and _is_peak(result, "comments", comments[1])
    order_peak = orders is not None and _is_peak(result, "orders", orders[1])
    question = None
    for q in result.transcript.questions if result.transcript else []:
        if a <= q.start and q.end + ANSWER_MIN <= b:
            question = q
            break
    clean = ev.clean(a) and ev.clean(b)

    scores = {
        "offer": (1.0 if has_price else 0.0) + (0.6 if has_link else 0.0) + 0.3 * has_urgency + 0.8 * order_peak + 0.4 * loud,
        "qa": (1.5 if question is not None else 0.0) + 1.0 * comment_peak,
        "demo": product * (0.3 + 0.5 * face) * (0.5 + motion),
    }
    kind = max(("offer", "qa", "demo"), key=lambda k: scores[k])
    if scores[kind] < 0.5:
        kind = "highlight"
    highlight = 0.4 * loud + 0.3 * motion + 0.3 * comment_peak + 0.3 * order_peak
    score = (highlight if kind == "highlight" else scores[kind]) + 0.5 * product + 0.2 * face - (0.0 if clean else 2.0)
    reasons: list[Reason] = []
    if explain:
        if screen_share > 0:
            reasons.append(Reason("product_on_screen", f"画面商品 {screen_share:.0%} 时长",
                                  f"product on screen {screen_share:.0%} of the time", a, b, round(screen_share, 3)))
        elif spoken_share > 0:
            reasons.append(Reason("product_spoken", "口播提到商品", "product named in the transcript", a, b, None))
        for value, pa, pb, screen in _cues_in(result, "price", a, b)[:2]:
            where_zh, where_en = ("画面", "on screen") if screen else ("口播", "spoken")
            reasons.append(Reason(f"price_{'on_screen' if screen else 'spoken'}", f"{where_zh}价格 ¥{value} {_span_text(pa, pb)}",
                                  f"price ¥{value} {where_en} {_span_text(pa, pb)}", pa, pb, value))
        for value, pa, pb, screen in _cues_in(result, "link", a, b)[:1]:
            reasons.append(Reason(f"link_{'on_screen' if screen else 'spoken'}", f"{value}号链接 {_span_text(pa, pb)}",
                                  f"link #{value} {_span_text(pa, pb)}", pa, pb, value))
        for value, pa, pb, _ in _cues_in(result, "keyword", a, b)[:2]:
            reasons.append(Reason("selling_keyword", f"促销词「{value}」{_span_text(pa, pb)}",
                                  f"selling word “{value}” {_span_text(pa, pb)}", pa, pb, value))
        if comments is not None and comment_peak:
            reasons.append(Reason("comment_peak", f"{comments[0]:.0f} 条评论/分钟", f"{comments[0]:.0f} comments/min",
                                  comments[1], comments[1] + 60, comments[0]))
        if orders is not None and order_peak:
            reasons.append(Reason("order_peak", f"{orders[0]:.0f} 单/分钟", f"{orders[0]:.0f} orders/min",
                                  orders[1], orders[1] + 60, orders[0]))
        if question is not None:
            reasons.append(Reason("question", f"提问「{question.text}」{clock(question.start)}，随后回答",
                                  f"question “{question.text}” at {clock(question.start)}, then the answer",
                                  question.start, question.end, question.text))
        if face > 0.5:
            reasons.append(Reason("host_on_screen", f"主播出镜 {face:.0%}", f"host on screen {face:.0%}", a, b, round(face, 3)))
        if motion > 0.3:
            reasons.append(Reason("motion", f"画面动作 {motion:.2f}", f"motion {motion:.2f}", a, b, round(motion, 3)))
        if loud > 0.3:
            reasons.append(Reason("loudness", f"音量高于平均 {loud * 6:.1f} dB", f"{loud * 6:.1f} dB above the usual level",
                                  a, b, round(loud * 6, 1)))
        if clean:
            reasons.append(Reason("no_speech_cut", "未切断语音", "no speech cut", a, b, None))
        else:
            reasons.append(Reason("speech_cut", "切断语音", "cuts into speech", a, b, None))
        if edges:
            names_zh = {"pause": "停顿", "cut": "镜头切换", "edge": "录像端点"}
            names_en = {"pause": "a pause", "cut": "a shot change", "edge": "the recording's edge"}
            reasons.append(Reason("edges", f"起于{names_zh[edges[0]]}，止于{names_zh[edges[1]]}",
                                  f"starts on {names_en[edges[0]]}, ends on {names_en[edges[1]]}", a, b,
                                  f"{edges[0]}/{edges[1]}"))
    return Candidate(type=kind, tag_id=tag_id, start=round(a, 3), end=round(b, 3), score=round(score, 4),
                     reasons=tuple(reasons), edges=edges)


# --- proposing ---------------------------------------------------------------------------------------------


def _label(ev: _Evidence, segments: Sequence[Segment], a: float, b: float) -> int | None:
    """The product the window is about: the segment it overlaps most, if that product is shown or named
    for at least half of it."""
    best, best_overlap = None, 0.0
    for s in segments:
        overlap = min(b, s.end) - max(a, s.start)
        if overlap > best_overlap:
            best, best_overlap = s.tag_id, overlap
    if best is None:
        return None
    share = max(ev.mean(ev.screen.get(best), a, b), ev.mean(ev.spoken.get(best), a, b))
    return best if share >= MIN_PRODUCT_SHARE else None


def candidates(result: AnalysisResult, *, min_s: float, max_s: float, explain: bool = False) -> list[Candidate]:
    """Every window between two boundaries within the duration bounds, typed and scored (best first);
    reasons only when `explain` (building them for every window costs more than scoring)."""
    points = boundaries(result)
    ev = _evidence(result)
    segments = product_segments(result)
    found: list[Candidate] = []
    times = [p.t for p in points]
    for i, p in enumerate(points):
        j = bisect.bisect_left(times, p.t + min_s, lo=i + 1)
        while j < len(points) and points[j].t - p.t <= max_s + 1e-9:
            q = points[j]
            j += 1
            label = _label(ev, segments, p.t, q.t)
            found.append(assess(result, p.t, q.t, label, edges=(p.kind, q.kind), explain=explain, _ev=ev))
    found.sort(key=lambda c: (-c.score, c.start))
    return found


def propose(
    result: AnalysisResult,
    *,
    count: int,
    min_s: float,
    max_s: float,
    used: Sequence[tuple[float, float]] = (),
) -> list[Candidate]:
    """Up to `count` clips: best first within each product, taken round-robin across products (the
    product whose best clip scores highest first), none overlapping another or a `used` range."""
    if count <= 0 or min_s <= 0 or max_s < min_s:
        return []
    pool = [c for c in candidates(result, min_s=min_s, max_s=max_s) if not any(c.overlaps(a, b) for a, b in used)]
    by_product: dict[int | None, deque[Candidate]] = {}
    for c in pool:
        by_product.setdefault(c.tag_id, deque()).append(c)
    chosen: list[Candidate] = []

    def take_from(queue: deque[Candidate]) -> bool:
        while queue and any(queue[0].overlaps(c.start, c.end) for c in chosen):
            queue.popleft()
        if queue and len(chosen) < count:
            chosen.append(queue.popleft())
            return True
        return False

    # Products round-robin, the one whose best clip scores highest first; clips about no product (or
    # straddling two) only when the products have nothing left.
    order = sorted((k for k in by_product if k is not None), key=lambda k: -by_product[k][0].score)
    while len(chosen) < count and any([take_from(by_product[k]) for k in order]):
        pass
    while len(chosen) < count and take_from(by_product.get(None, deque())):
        pass
    ev = _evidence(result)
    return [assess(result, c.start, c.end, c.tag_id, edges=c.edges, _ev=ev) for c in chosen]


@dataclass(frozen=True)
class Adjusted:
    start: float
    end: float
    snapped: bool


def snap_to_speech(result: AnalysisResult, start: float, end: float, *, reach: float = 1.0) -> Adjusted | None:
    """In/out points moved out of an utterance when its edge is within `reach` seconds (the in point to
    just before the utterance, the out point to just after); None when a point sits deeper in speech."""
    speech = _speech(result)
    snapped = False
    s = inside_speech(start, speech)
    if s is not None:
        if start - s.start > reach:
            return None
        start, snapped = max(0.0, s.start - 0.1), True
    e = inside_speech(end, speech)
    if e is not None:
        if e.end - end > reach:
            return None
        end, snapped = min(result.duration, e.end + 0.1), True
    if snapped and (inside_speech(start, speech) or inside_speech(end, speech)):
        return None
    return Adjusted(round(start, 3), round(end, 3), snapped)
