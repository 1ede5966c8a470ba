"""Shared helpers for the benchmarks: machine description, medians, percentiles, a results writer."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
RESULTS = BENCH / "RESULTS.md"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} cores ({cpu}){mem}, Python {platform.python_version()}, {platform.system()}"


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def write_section(title: str, body: str) -> None:
    """Replace (or append) the `## title` section of RESULTS.md."""
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n\nFigures from `bench/` scripts; each section says when and on what machine it was measured.\n"
    header = f"## {title}"
    section = f"{header}\n\n{body.strip()}\n"
    if header in text:
        start = text.index(header)
        nxt = text.find("\n## ", start + len(header))
        text = text[:start] + section + ("\n" + text[nxt + 1 :] if nxt != -1 else "")
    else:
        text = text.rstrip() + "\n\n" + section
    RESULTS.write_text(text, encoding="utf-8")


def ffmpeg() -> str:
    import shutil

    import imageio_ffmpeg

    return shutil.which("ffmpeg") or imageio_ffmpeg.get_ffmpeg_exe()


def run(argv: list[str]) -> None:
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL)


# -- page-cache state ------------------------------------------------------------------------------
#
# This machine is a VM that may return memory to the host a few seconds after the guest frees it
# (free page reporting); the first write into such memory then faults on the host. The same 1 GiB
# copy has measured anywhere from ~360 MB/s (after a pause) to ~1,800 MB/s (right after another big
# file was deleted), and whichever operation happened to run right after a delete looked fastest.
# Throughput figures are therefore taken in two stated conditions, each operation prepared the
# same way just before it, in rotating order:
#
#   "settled": 10 s idle first, as on a server between uploads (freed memory may have gone back to
#              the host by then; on some runs it has not, and both states measure the same);
#   "recycled": 1.1x the file size written and deleted just before, so the operation reuses memory
#               the guest has just touched (what a bare-metal machine would see every time).

MEMORY_STATES = ("settled", "recycled")
SETTLE_SECONDS = 10.0


def prepare_memory(state: str, size: int, scratch_dir: Path) -> None:
    if state == "settled":
        import time

        time.sleep(SETTLE_SECONDS)
        return
    if state != "recycled":
        raise ValueError(state)
    block = bytearray(8 * 1024 * 1024)
    scratch = scratch_dir / "recycle.scratch"
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for _ in range(int(size * 1.1) // len(block) + 1):
            os.write(fd, block)
    finally:
        os.close(fd)
        scratch.unlink()


def timed_copy(src: Path, dst: Path) -> float:
    """`shutil.copyfile` + fsync of the copy (then deleted): the plain-copy baseline."""
    import shutil
    import time

    t0 = time.perf_counter()
    shutil.copyfile(src, dst)
    fd = os.open(dst, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    elapsed = time.perf_counter() - t0
    dst.unlink()
    return elapsed
