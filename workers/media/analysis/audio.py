"""Audio signals from 16 kHz mono s16 samples: voice activity (WebRTC's VAD, a small C library in the
`webrtcvad-wheels` wheel: no model file), utterances, pauses, loudness and speech density.

`AudioAnalyser` is fed chunks as they are decoded, so a two-hour recording never sits in memory;
everything after the feed works on per-frame flags and energies (a few MB for two hours).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from workers.media.analysis.signals import AudioSignals, Series, Span

FRAME_MS = 30  # webrtcvad accepts 10, 20 or 30 ms frames
SILENCE_DBFS = -90.0


class AudioAnalyser:
    def __init__(self, rate: int = 16_000, aggressiveness: int = 2) -> None:
        import webrtcvad

        self.rate = rate
        self.aggressiveness = aggressiveness
        self._vad = webrtcvad.Vad(aggressiveness)
        self._frame = rate * FRAME_MS // 1000
        self._carry = np.zeros(0, dtype="<i2")
        self._flags: list[bool] = []
        self._energy: list[float] = []  # mean square per frame (int16 units)

    @property
    def frame_s(self) -> float:
        return FRAME_MS / 1000

    def feed(self, samples: np.ndarray) -> None:
        data = np.concatenate([self._carry, samples]) if self._carry.size else samples
        n = data.size // self._frame
        frames = data[: n * self._frame].reshape(n, self._frame)
        self._carry = data[n * self._frame :].copy()
        if n == 0:
            return
        as_float = frames.astype(np.float32)
        energy = np.mean(as_float * as_float, axis=1)
        self._energy.extend(energy.tolist())
        raw = frames.astype("<i2").tobytes()
        step = self._frame * 2
        vad = self._vad
        rate = self.rate
        # Digital silence is not speech; skipping it also spares the VAD most of a quiet stream.
        self._flags.extend(
            bool(e > 4.0) and vad.is_speech(raw[i * step : (i + 1) * step], rate) for i, e in enumerate(energy)
        )

    def result(
        self, *, min_speech_s: float = 0.25, bridge_s: float = 0.3, min_pause_s: float = 0.5,
        loudness_step_s: float = 0.5, density_step_s: float = 5.0,
    ) -> AudioSignals:
        flags = np.asarray(self._flags, dtype=bool)
        energy = np.asarray(self._energy, dtype=np.float64)
        duration = flags.size * self.frame_s
        speech = speech_segments(flags, self.frame_s, min_speech_s=min_speech_s, bridge_s=bridge_s)
        return AudioSignals(
            sample_rate=self.rate,
            vad_frame_s=self.frame_s,
            vad_aggressiveness=self.aggressiveness,
            speech=speech,
            pauses=pauses_between(speech, duration, min_pause_s=min_pause_s),
            loudness=loudness_series(energy, self.frame_s, loudness_step_s),
            speech_density=speech_density(speech, duration, density_step_s),
            decoded_s=round(duration, 3),
        )


def analyse_audio(chunks: Iterable[np.ndarray], rate: int = 16_000, **options: float) -> AudioSignals:
    analyser = AudioAnalyser(rate)
    for chunk in chunks:
        analyser.feed(chunk)
    return analyser.result(**options)


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index ranges where flags is True."""
    if flags.size == 0:
        return []
    padded = np.concatenate([[False], flags, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def speech_segments(flags: np.ndarray, frame_s: float, *, min_speech_s: float, bridge_s: float) -> list[Span]:
    """Utterances: voiced runs joined across gaps shorter than `bridge_s` (breaths, stops between
    syllables), then runs shorter than `min_speech_s` dropped (clicks)."""
    merged: list[list[int]] = []
    bridge = int(round(bridge_s / frame_s))
    for a, b in _runs(flags):
        if merged and a - merged[-1][1] <= bridge:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    shortest = min_speech_s / frame_s
    return [
        Span(start=round(a * frame_s, 3), end=round(b * frame_s, 3)) for a, b in merged if b - a >= shortest
    ]


def pauses_between(speech: list[Span], duration: float, *, min_pause_s: float) -> list[Span]:
    """Silences of at least `min_pause_s`: before the first utterance, between two, after the last."""
    edges = [0.0] + [x for s in speech for x in (s.start, s.end)] + [duration]
    out = []
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        if b - a >= min_pause_s:
            out.append(Span(start=round(a, 3), end=round(b, 3)))
    return out


def loudness_series(energy: np.ndarray, frame_s: float, step_s: float) -> Series:
    """RMS level per `step_s` window in dBFS (full-scale sine = -3 dBFS, digital silence = -90)."""
    per = max(1, int(round(step_s / frame_s)))
    n = int(math.ceil(energy.size / per)) if energy.size else 0
    padded = np.zeros(n * per)
    padded[: energy.size] = energy
    counts = np.full(n, per, dtype=np.float64)
    if n and energy.size % per:
        counts[-1] = energy.size % per
    ms = padded.reshape(n, per).sum(axis=1) / np.maximum(counts, 1)
    with np.errstate(divide="ignore"):
        db = 10 * np.log10(ms / (32768.0**2))
    db = np.maximum(np.nan_to_num(db, neginf=SILENCE_DBFS), SILENCE_DBFS)
    return Series(step=per * frame_s, values=[round(float(v), 2) for v in db], unit="dBFS")


def speech_density(speech: list[Span], duration: float, step_s: float) -> Series:
    """Share of each `step_s` window covered by speech."""
    n = int(math.ceil(duration / step_s)) if duration > 0 else 0
    covered = np.zeros(n)
    for s in speech:
        i = int(s.start // step_s)
        while i < n and i * step_s < s.end:
            lo, hi = max(s.start, i * step_s), min(s.end, (i + 1) * step_s)
            covered[i] += max(0.0, hi - lo)
            i += 1
    widths = np.full(n, step_s)
    if n:
        widths[-1] = duration - (n - 1) * step_s
    return Series(step=step_s, values=[round(float(v), 3) for v in covered / np.maximum(widths, 1e-9)], unit="ratio")
