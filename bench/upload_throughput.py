"""Upload throughput: a 1 GiB video streamed as a raw body to a real reelhouse server (uvicorn,
local storage, SQLite), beside a plain file copy of the same bytes, in the same run.

Reports MB/s for both, their ratio, and the server's peak RSS (VmHWM). The upload time covers the
whole request: streaming + hashing to the spool, the sandboxed probe, poster and contact sheet,
the move into storage and the catalogue row.

    .venv/bin/python bench/upload_throughput.py [--size-mib 1024] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import OUT, ffmpeg, machine, median, peak_rss_mb, run, today, write_section  # noqa: E402


def make_big_video(size_mib: int) -> Path:
    """A real MP4 of about `size_mib` MiB: a noisy 1080p clip stream-copied in a loop."""
    OUT.mkdir(exist_ok=True)
    target = OUT / f"upload_{size_mib}mib.mp4"
    if target.exists():
        return target
    chunk = OUT / "upload_chunk.mp4"
    run([ffmpeg(), "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
         "testsrc2=size=1920x1080:rate=30:duration=10,noise=alls=40:allf=t", "-f", "lavfi", "-i",
         "sine=duration=10", "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "60M", "-c:a", "aac",
         "-shortest", str(chunk)])
    loops = max(1, int(size_mib * 1024 * 1024 / chunk.stat().st_size))
    run([ffmpeg(), "-nostdin", "-v", "error", "-y", "-stream_loop", str(loops - 1), "-i", str(chunk),
         "-c", "copy", "-movflags", "+faststart", str(target)])
    chunk.unlink()
    return target


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "REELHOUSE_DATA_DIR": str(data_dir), "REELHOUSE_MAX_UPLOAD_BYTES": str(8 * 1024**3)}
    env.pop("REELHOUSE_DATABASE_URL", None)
    subprocess.run([sys.executable, "-m", "backend.cli", "migrate"], env=env, check=True, capture_output=True)
    token = subprocess.run([sys.executable, "-m", "backend.cli", "keys", "create", "--name", "bench", "--role", "editor"],
                           env=env, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "backend.main:create_app", "--factory",
                             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                            env=env, start_new_session=True)
    for _ in range(100):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                proc.token = token  # type: ignore[attr-defined]
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def timed_copy(src: Path, dst: Path) -> float:
    t0 = time.perf_counter()
    shutil.copyfile(src, dst)
    with dst.open("rb+") as fh:
        os.fsync(fh.fileno())
    return time.perf_counter() - t0


def timed_upload(src: Path, work: Path) -> tuple[float, float]:
    port = free_port()
    proc = start_server(work / "data", port)
    try:
        def body():  # type: ignore[no-untyped-def]
            with src.open("rb") as fh:
                while chunk := fh.read(1024 * 1024):
                    yield chunk

        t0 = time.perf_counter()
        res = httpx.post(f"http://127.0.0.1:{port}/api/v1/materials", content=body(),
                         headers={"Authorization": f"Bearer {proc.token}",  # type: ignore[attr-defined]
                                  "Content-Type": "application/octet-stream",
                                  "Content-Length": str(src.stat().st_size)},
                         params={"title": "bench"}, timeout=600)
        elapsed = time.perf_counter() - t0
        res.raise_for_status()
        return elapsed, peak_rss_mb(proc.pid)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def timed_drain(src: Path) -> float:
    """The same client and body against bench/drain_app.py (read and discard)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "bench.drain_app:app", "--host", "127.0.0.1",
                             "--port", str(port), "--log-level", "warning"], start_new_session=True)
    try:
        for _ in range(100):
            try:
                httpx.post(f"http://127.0.0.1:{port}/", content=b"x")
                break
            except httpx.HTTPError:
                time.sleep(0.1)

        def body():  # type: ignore[no-untyped-def]
            with src.open("rb") as fh:
                while chunk := fh.read(1024 * 1024):
                    yield chunk

        t0 = time.perf_counter()
        httpx.post(f"http://127.0.0.1:{port}/", content=body(), timeout=600,
                   headers={"Content-Length": str(src.stat().st_size)}).raise_for_status()
        return time.perf_counter() - t0
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    src = make_big_video(args.size_mib)
    size_mb = src.stat().st_size / 1e6
    copies, uploads, rss, drains = [], [], [], []
    for i in range(args.runs):  # interleaved, so both see the same machine load
        with tempfile.TemporaryDirectory(dir=OUT) as tmp:
            work = Path(tmp)
            copies.append(timed_copy(src, work / "copy.mp4"))
            (work / "copy.mp4").unlink()
            drains.append(timed_drain(src))
            seconds, peak = timed_upload(src, work)
            uploads.append(seconds)
            rss.append(peak)
        print(f"run {i + 1}: copy {size_mb / copies[-1]:.0f} MB/s, drain {size_mb / drains[-1]:.0f} MB/s, "
              f"upload {size_mb / uploads[-1]:.0f} MB/s, "
              f"server peak RSS {peak:.0f} MB", flush=True)
    copy_mbs, upload_mbs = size_mb / median(copies), size_mb / median(uploads)
    drain_mbs = size_mb / median(drains)
    body = f"""Measured {today()} on {machine()}, `bench/upload_throughput.py --size-mib {args.size_mib} --runs {args.runs}`.

A {size_mb:.0f} MB MP4 (1080p, stream-copied loop) sent as one raw streaming body to a real
uvicorn server (SQLite, local storage), beside `shutil.copyfile` + fsync of the same bytes,
and beside a bare uvicorn app that reads and discards the same body (the ceiling of one HTTP
stream here), interleaved in one run. The upload time is the whole request: receive + SHA-256 + spool, sandboxed
probe, poster and contact sheet, move into storage, catalogue row.

| | median | runs |
|---|---|---|
| plain file copy | {copy_mbs:.0f} MB/s | {', '.join(f'{size_mb / c:.0f}' for c in copies)} |
| uvicorn reading and discarding the body (the HTTP ceiling) | {drain_mbs:.0f} MB/s | {', '.join(f'{size_mb / d:.0f}' for d in drains)} |
| reelhouse upload | {upload_mbs:.0f} MB/s | {', '.join(f'{size_mb / u:.0f}' for u in uploads)} |
| upload / copy | **{upload_mbs / copy_mbs:.0%}** | target ≥ 50 % |
| upload / HTTP ceiling | {upload_mbs / drain_mbs:.0%} | |
| server peak RSS | **{median(rss):.0f} MB** | {', '.join(f'{r:.0f}' for r in rss)} (target < 200 MB) |
"""
    write_section("Upload throughput (issue 2)", body)
    print(body)


if __name__ == "__main__":
    main()
