"""The live session's own per-minute series (viewers, comments, likes, orders, GMV) and their peaks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from workers.media.analysis.signals import Peak, Series, SessionSignals


def find_peaks(series: Series, metric: str, *, min_score: float = 2.0, top: int = 20) -> list[Peak]:
    """Local maxima that stand out of the series: (value - median) / spread >= min_score, where the
    spread is the median absolute deviation (scaled to a standard deviation), or, for a flat series,
    a tenth of the median. The strongest `top`, in time order."""
    values = np.asarray(series.values, dtype=np.float64)
    if values.size == 0:
        return []
    baseline = float(np.median(values))
    spread = 1.4826 * float(np.median(np.abs(values - baseline)))
    if spread <= 0:
        spread = max(abs(baseline) * 0.1, 1e-9)
    peaks = []
    for i, v in enumerate(values):
        left = values[i - 1] if i > 0 else -np.inf
        right = values[i + 1] if i + 1 < values.size else -np.inf
        if v < left or v <= right:  # a plateau counts once, at its first point
            continue
        score = (v - baseline) / spread
        if score >= min_score:
            peaks.append(Peak(metric=metric, t=round(series.time_of(i), 3), value=float(v), baseline=baseline, score=round(score, 2)))
    peaks.sort(key=lambda p: -p.score)
    return sorted(peaks[:top], key=lambda p: p.t)


def session_signals(series: Mapping[str, Series], *, metrics: Sequence[str] | None = None, min_score: float = 2.0) -> SessionSignals:
    chosen = [m for m in (metrics or list(series)) if m in series]
    peaks = [p for m in chosen for p in find_peaks(series[m], m, min_score=min_score)]
    return SessionSignals(series=dict(series), peaks=sorted(peaks, key=lambda p: (p.t, p.metric)))
