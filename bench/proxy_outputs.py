"""Proxy, sprite and waveform: one decode of the original for all three, against the proxy alone and
against the proxy plus a second pass over the original for the sprite and waveform (interleaved runs,
wall-clock and CPU time of ffmpeg). Also the proxy encode's speed as a multiple of real time.

    python -m bench.proxy_outputs --seconds 60 --runs 3
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import time
from pathlib import Path

from bench.common import OUT, machine, median, today
from workers.media.probe import probe_file
from workers.media.proxy import ProxyTargets, build_proxy_argv, finish_outputs, plan_targets
from workers.media.run import ffmpeg_path


def make_source(path: Path, seconds: int, ffmpeg: str) -> Path:
    if not path.exists():
        subprocess.run([
            ffmpeg, "-nostdin", "-v", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate=30:duration={seconds}",
            "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-g", "60", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "128k", str(path),
        ], check=True)
    return path


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(argv: list[str]) -> tuple[float, float]:
    cpu, wall = _cpu(), time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - wall, _cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    ffmpeg = ffmpeg_path()
    OUT.mkdir(exist_ok=True)
    source = make_source(OUT / f"proxy_src_1080p30_{args.seconds}s.mp4", args.seconds, ffmpeg)
    facts = probe_file(source)
    work = OUT / "proxy_work"
    results: dict[str, list[tuple[float, float]]] = {"proxy only": [], "one decode: proxy + sprite + waveform": [],
                                                      "two decodes: proxy, then sprite + waveform": []}
    for _ in range(args.runs):
        for name in results:
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            full = plan_targets(facts, work)
            if name == "proxy only":
                results[name].append(run(build_proxy_argv(source, facts, ProxyTargets(proxy=full.proxy), ffmpeg=ffmpeg)))
            elif name.startswith("one decode"):
                results[name].append(run(build_proxy_argv(source, facts, full, ffmpeg=ffmpeg)))
                finish_outputs(facts, full, work)
            else:
                a = run(build_proxy_argv(source, facts, ProxyTargets(proxy=full.proxy), ffmpeg=ffmpeg))
                rest = ProxyTargets(sprite_dir=full.sprite_dir, waveform_pcm=full.waveform_pcm)
                b = run(build_proxy_argv(source, facts, rest, ffmpeg=ffmpeg))
                results[name].append((a[0] + b[0], a[1] + b[1]))
    print(f"{today()}, {machine()}; source: {args.seconds} s of 1080p30 H.264 + AAC, {args.runs} interleaved runs")
    base_wall = median([w for w, _ in results["proxy only"]])
    base_cpu = median([c for _, c in results["proxy only"]])
    print("| run | wall (median) | x real time | CPU s (median) | wall vs proxy only | CPU vs proxy only |")
    print("|---|---|---|---|---|---|")
    for name, values in results.items():
        wall, cpu = median([w for w, _ in values]), median([c for _, c in values])
        print(f"| {name} | {wall:.1f} s | {args.seconds / wall:.2f}x | {cpu:.1f} | {wall / base_wall:.2f} | {cpu / base_cpu:.2f} |")


if __name__ == "__main__":
    main()
