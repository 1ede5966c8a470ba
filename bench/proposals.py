"""Time to propose clips from a stored analysis (issue 17, second part): what a user waits for after
POST /api/v1/materials/{id}/proposals, without the database.

    python -m bench.proposals --hours 2 --rounds 5

The analysis is synthetic but shaped like a live stream: utterances of 1.5-8 s with 0.5-2.5 s pauses,
150 shot changes an hour, a product card every 2 minutes (12 products in turn) with a price on screen
for 40 s of it, a face throughout. Each round times, interleaved: proposing 8 clips of 15-60 s (reasons
built for the picked clips only, the shipped path) and assessing every window with its reasons (what
building them for every window would cost).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from bench.common import machine
from workers.media.analysis.proposals import boundaries, candidates, propose
from workers.media.analysis.signals import (
    AnalysisResult,
    AudioSignals,
    PictureSignals,
    ProductMention,
    SellingCue,
    Series,
    Span,
    TextSignals,
)


def synthetic_analysis(hours: float, seed: int = 1) -> AnalysisResult:
    rng = random.Random(seed)
    duration = hours * 3600
    speech, t = [], 0.5
    while t < duration - 10:
        d = rng.uniform(1.5, 8.0)
        speech.append(Span(start=round(t, 3), end=round(t + d, 3)))
        t += d + rng.uniform(0.5, 2.5)
    pauses = [Span(start=a.end, end=b.start) for a, b in zip(speech, speech[1:], strict=False)]
    n = int(duration / 0.48)
    audio = AudioSignals(
        sample_rate=16000, vad_frame_s=0.03, vad_aggressiveness=2, speech=speech, pauses=pauses,
        loudness=Series(step=0.48, values=[rng.uniform(-40, -20) for _ in range(n)]),
        speech_density=Series(step=0.48, values=[0.5] * n), decoded_s=duration,
    )
    samples = int(duration / 2)
    picture = PictureSignals(
        sampling="keyframes", sample_times=[], shot_changes=sorted(rng.uniform(0, duration) for _ in range(int(150 * hours))),
        motion=Series(step=2, values=[rng.random() for _ in range(samples)]), faces=[],
        face_presence=Series(step=2, values=[1.0] * samples), frame_size=(1920, 1080),
    )
    products, selling = [], []
    for k in range(int(duration // 120)):
        a = k * 120.0
        products.append(ProductMention(tag_id=k % 12 + 1, name="商品", start=a + 5, end=a + 100, text="商品", exact=True))
        selling.append(SellingCue(kind="price", value="59.9", start=a + 30, end=a + 70, text="¥59.9"))
    text = TextSignals(frames_read=0, lines=[], products=products, selling=selling)
    return AnalysisResult(version=1, duration=duration, audio=audio, picture=picture, text=text)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    result = synthetic_analysis(args.hours)
    windows = len(candidates(result, min_s=15, max_s=60))
    shipped, explain_all = [], []
    for _ in range(args.rounds):
        t = time.perf_counter()
        propose(result, count=8, min_s=15, max_s=60)
        shipped.append(time.perf_counter() - t)
        t = time.perf_counter()
        candidates(result, min_s=15, max_s=60, explain=True)
        explain_all.append(time.perf_counter() - t)
    a, b = statistics.median(shipped), statistics.median(explain_all)
    print(f"{machine()}")
    print(f"{args.hours:g} h: {len(result.audio.speech) if result.audio else 0} utterances, "
          f"{len(boundaries(result))} boundaries, {windows} windows of 15-60 s")
    print(f"propose 8 (reasons for the picks): median {a:.2f} s over {args.rounds} rounds")
    print(f"every window with reasons:         median {b:.2f} s ({b / a:.2f}x)")


if __name__ == "__main__":
    main()
