"""Proxy encode speed (issue 18): a 10-minute 1080p30 source encoded to the 540p proxy as one process,
and in ~90 s chunks (one after another, and two at a time) joined by stream copy, on this machine.

    python -m bench.proxies --minutes 10 --rounds 3

The source (testsrc2 with a tone, keyframes every 2 s as live-stream encoders write them) is made once
and kept in bench/out/. Each round runs the three modes interleaved, so the medians compare like with
like on a noisy machine. From the measured per-chunk times, the audio encode and the join, the script
computes the ideal wall time of a 2-hour source on N workers (each chunk one task, the audio one more,
the join after the last), with the join's share of it.
"""

from __future__ import annotations

import argparse
import heapq
import math
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import OUT, machine, today, write_section
from workers.media import chunked
from workers.media.facts import MediaFacts
from workers.media.probe import probe_file
from workers.media.proxy import ProxyTargets, build_proxy_argv
from workers.media.run import ffmpeg_path, run_ffmpeg

CHUNK_SECONDS = 90.0


def make_source(ffmpeg: str, minutes: float) -> Path:
    path = OUT / f"proxy-source-{minutes:g}min-1080p30.mp4"
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    seconds = minutes * 60
    tmp = path.with_suffix(".part.mp4")
    subprocess.run([
        ffmpeg, "-nostdin", "-v", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate=30:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
        "-c:v", "libx264", "-preset", "ultrafast", "-crf", "26", "-g", "60", "-keyint_min", "60",
        "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-shortest", str(tmp),
    ], check=True)  # fmt: skip
    tmp.rename(path)
    return path


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_whole(ffmpeg: str, source: Path, facts: MediaFacts, work: Path) -> tuple[float, float]:
    """The proxy (video and audio) in one ffmpeg run: workers.media.proxy's whole-file encode."""
    started, cpu = time.monotonic(), _cpu()
    run_ffmpeg(build_proxy_argv(source, facts, ProxyTargets(proxy=work / "whole.mp4"), ffmpeg=ffmpeg),
               total_seconds=600, timeout=6 * 3600)
    return time.monotonic() - started, _cpu() - cpu


def run_chunked(ffmpeg: str, source: Path, facts: MediaFacts, work: Path,
                parallel: int) -> tuple[float, float, chunked.LocalRun]:
    started, cpu = time.monotonic(), _cpu()
    result = chunked.encode_chunked(ffmpeg, str(source), str(work / f"chunked-{parallel}.mp4"), str(work), facts,
                                    CHUNK_SECONDS, parallel=parallel, timeout=6 * 3600)
    return time.monotonic() - started, _cpu() - cpu, result


def ideal_wall(tasks: list[float], workers: int, join: float) -> float:
    """Longest-first list schedule of the chord's tasks on `workers` (each runs one task at a time),
    then the join."""
    ends = [0.0] * workers
    heapq.heapify(ends)
    for t in sorted(tasks, reverse=True):
        heapq.heappush(ends, heapq.heappop(ends) + t)
    return max(ends) + join


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="write the section into bench/RESULTS.md")
    args = parser.parse_args()
    ffmpeg = ffmpeg_path()
    source = make_source(ffmpeg, args.minutes)
    duration = args.minutes * 60
    facts = probe_file(source)
    video = chunked.ProxyVideo.of(facts)
    whole: list[float] = []
    serial: list[float] = []
    pair: list[float] = []
    cpu: dict[str, list[float]] = {"whole": [], "serial": [], "pair": []}
    chunk_times: list[float] = []
    audio_times: list[float] = []
    join_times: list[float] = []
    plan: list[chunked.Chunk] = []
    reports: list[chunked.JoinReport] = []
    whole_reports: list[chunked.JoinReport] = []
    for r in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="proxy-bench-") as tmp:
            work = Path(tmp)
            wall, spent = run_whole(ffmpeg, source, facts, work)
            whole.append(wall)
            cpu["whole"].append(spent)
            wall, spent, one = run_chunked(ffmpeg, source, facts, work, 1)
            serial.append(wall)
            cpu["serial"].append(spent)
            chunk_times += one.chunk_seconds
            audio_times.append(one.audio_seconds)
            join_times.append(one.join_seconds)
            plan = one.chunks
            reports.append(one.report)
            whole_reports.append(chunked.measure_join(str(work / "whole.mp4"), video))
            (work / "chunked-1.mp4").unlink()
            wall, spent, _ = run_chunked(ffmpeg, source, facts, work, 2)
            pair.append(wall)
            cpu["pair"].append(spent)
        print(f"round {r + 1}: whole {whole[-1]:.1f}s ({cpu['whole'][-1]:.0f} cpu-s), chunks serial {serial[-1]:.1f}s "
              f"({cpu['serial'][-1]:.0f}), two at a time {pair[-1]:.1f}s ({cpu['pair'][-1]:.0f})", flush=True)

    med = statistics.median
    speed = lambda t: duration / t  # noqa: E731
    per_chunk = med(chunk_times)
    frames = [c.frames for c in plan[:-1] if c.frames]
    chunk_len = med(frames) / float(video.rate) if frames else duration
    # Encode seconds per second of source, from all chunks of all rounds (the last chunk is shorter).
    per_source_second = sum(chunk_times) / (duration * args.rounds)
    lines = [
        f"Measured {today()} on {machine()}, `python -m bench.proxies --minutes {args.minutes:g} --rounds {args.rounds}`,"
        " load from other sessions on the machine (medians of interleaved rounds).",
        "",
        f"Source: {args.minutes:g} min of 1920x1080 at 30 fps (testsrc2, x264, a keyframe every 2 s) with AAC audio. "
        f"Proxy: {video.width}x{video.height}, {float(video.rate):g} fps CFR, workers.media.proxy's options (x264 baseline "
        f"veryfast CRF 23 with a 2.5 Mbit/s cap, keyint {video.gop}, AAC 128k); "
        f"{len(plan)} chunks of ~{chunk_len:.0f} s (`workers/media/chunked.py`).",
        "",
        "| mode | median wall | × real time | runs (s) | wall vs whole | median CPU (user+sys) | CPU vs whole |",
        "|---|---|---|---|---|---|---|",
        f"| whole file, one ffmpeg | {med(whole):.1f} s | {speed(med(whole)):.2f}× | {', '.join(f'{x:.1f}' for x in whole)} "
        f"| 100 % | {med(cpu['whole']):.0f} s | 100 % |",
        f"| chunked, one after another (audio beside, join) | {med(serial):.1f} s | {speed(med(serial)):.2f}× | "
        f"{', '.join(f'{x:.1f}' for x in serial)} | **{med(serial) / med(whole) * 100:.0f} %** | "
        f"{med(cpu['serial']):.0f} s | **{med(cpu['serial']) / med(cpu['whole']) * 100:.0f} %** |",
        f"| chunked, two at a time (audio beside, join) | {med(pair):.1f} s | {speed(med(pair)):.2f}× | "
        f"{', '.join(f'{x:.1f}' for x in pair)} | **{med(pair) / med(whole) * 100:.0f} %** | "
        f"{med(cpu['pair']):.0f} s | **{med(cpu['pair']) / med(cpu['whole']) * 100:.0f} %** |",
        "",
        f"Per chunk (video only, one at a time): median {per_chunk:.1f} s for ~{chunk_len:.0f} s of source "
        f"(min {min(chunk_times):.1f}, max {max(chunk_times):.1f}); audio of the whole file once: {med(audio_times):.1f} s; "
        f"join (concat + stream copy + validation): {med(join_times):.2f} s.",
        "",
        "Validation of the joined proxy against the whole-file encode (last round): "
        f"{reports[-1].frames} frames vs {whole_reports[-1].frames}; video duration "
        f"{reports[-1].video_duration:.3f} s vs {whole_reports[-1].video_duration:.3f} s; largest audio hole at a join "
        f"{max(map(abs, reports[-1].audio_gaps_at_joins), default=0.0) * 1000:.3f} ms; audio end minus video end "
        f"{(reports[-1].av_end_offset or 0) * 1000:.1f} ms vs {(whole_reports[-1].av_end_offset or 0) * 1000:.1f} ms.",
        "",
    ]
    # A 2-hour source on N workers: chunks scale with the length, the audio and the join with the whole file.
    hours = 2.0
    scale = hours * 3600 / duration
    n_chunks = math.ceil(hours * 3600 / chunk_len)
    audio2h = med(audio_times) * scale
    join2h = med(join_times) * scale
    whole2h = med(whole) * scale
    chunk2h = per_source_second * chunk_len
    tasks = [chunk2h] * n_chunks + [audio2h]
    lines += [
        f"Ideal speed-up for a {hours:g}-hour source ({n_chunks} chunk tasks of {chunk2h:.1f} s and the audio, "
        f"{audio2h:.0f} s, as one more task; join {join2h:.0f} s after the last), each worker running one task at a "
        f"time on 2 cores like this machine, against the whole-file encode ({whole2h / 60:.1f} min):",
        "",
        "| workers | wall | speed-up vs whole file | × real time | join's share |",
        "|---|---|---|---|---|",
    ]
    for n in (1, 2, 4, 8):
        wall = ideal_wall(tasks, n, join2h)
        lines.append(f"| {n} | {wall / 60:.1f} min | {whole2h / wall:.2f}× | {hours * 3600 / wall:.1f}× | "
                     f"{join2h / wall * 100:.1f} % |")
    lines += ["", "Ideal: no queueing, network or storage time (a chunk reads its source range and writes its piece "
              "to S3 in the real workflow), so the measured cluster will be lower; the audio task bounds the "
              "speed-up once chunks finish before it does."]
    body = "\n".join(lines)
    print(body)
    if args.write:
        write_section("Proxy encode, whole file vs chunks (issue 18)", body)


if __name__ == "__main__":
    main()
