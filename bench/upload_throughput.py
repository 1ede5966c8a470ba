"""Upload throughput: a 1 GiB video streamed as a raw body to a real reelhouse server (uvicorn,
local storage, SQLite), beside a plain file copy of the same bytes, in the same run.

Reports MB/s for both, their ratio, and the server's peak RSS (VmHWM). The upload time covers the
whole request: streaming + hashing to the spool, the sandboxed probe, poster and contact sheet,
the move into storage and the catalogue row. Each operation is timed in two page-cache states
(bench/common.py: `settled` and `recycled`), prepared the same way right before it, in rotating
order. The client is curl (`-T`, streaming from the file), as a script would upload.

    .venv/bin/python bench/upload_throughput.py [--size-mib 1024] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import (  # noqa: E402
    MEMORY_STATES,
    OUT,
    ffmpeg,
    machine,
    median,
    peak_rss_mb,
    prepare_memory,
    run,
    timed_copy,
    today,
    write_section,
)


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


def start_server(data_dir: Path, port: int, **settings: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "REELHOUSE_DATA_DIR": str(data_dir), "REELHOUSE_MAX_UPLOAD_BYTES": str(8 * 1024**3),
           **{f"REELHOUSE_{name.upper()}": value for name, value in settings.items()}}
    env.pop("REELHOUSE_DATABASE_URL", None)
    subprocess.run([sys.executable, "-m", "backend.cli", "migrate"], env=env, check=True, capture_output=True)
    token = subprocess.run([sys.executable, "-m", "backend.cli", "keys", "create", "--name", "bench", "--role", "editor"],
                           env=env, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "backend.app:create_app", "--factory",
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


def curl_upload(url: str, src: Path, headers: dict[str, str]) -> tuple[float, dict]:  # type: ignore[type-arg]
    argv = ["curl", "-sS", "--fail-with-body", "-X", "POST", "-T", str(src), url, "-H", "Content-Type: application/octet-stream"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    t0 = time.perf_counter()
    done = subprocess.run(argv, check=True, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    return elapsed, (json.loads(done.stdout) if done.stdout.startswith("{") else {})


def timed_upload(src: Path, work: Path, state: str) -> tuple[float, float]:
    port = free_port()
    proc = start_server(work / "data", port)
    try:
        prepare_memory(state, src.stat().st_size, work)
        elapsed, body = curl_upload(f"http://127.0.0.1:{port}/api/v1/materials?title=bench", src,
                                    {"Authorization": f"Bearer {proc.token}"})  # type: ignore[attr-defined]
        if body.get("status") != "ready":
            raise RuntimeError(f"upload did not produce a ready material: {body}")
        return elapsed, peak_rss_mb(proc.pid)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def timed_drain(src: Path, work: Path, state: str) -> float:
    """The same client and body against bench/drain_app.py (read and discard)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "bench.drain_app:app", "--host", "127.0.0.1",
                             "--port", str(port), "--log-level", "warning"], start_new_session=True,
                            cwd=Path(__file__).resolve().parents[1])
    try:
        for _ in range(100):
            try:
                httpx.post(f"http://127.0.0.1:{port}/", content=b"x")
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        prepare_memory(state, src.stat().st_size, work)
        return curl_upload(f"http://127.0.0.1:{port}/", src, {})[0]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def make_small_clips(count: int) -> list[Path]:
    """`count` different 10 s 720p clips (~2-3 MB each): a phone clip or an edited short."""
    clips = []
    for seed in range(count):
        clip = OUT / f"small_{seed}.mp4"
        if not clip.exists():
            run([ffmpeg(), "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                 f"testsrc2=size=1280x720:rate=30:duration=10,noise=alls=12:allf=t:all_seed={seed}", "-f", "lavfi",
                 "-i", "sine=duration=10", "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "2M", "-c:a", "aac",
                 "-shortest", str(clip)])
        clips.append(clip)
    return clips


def small_upload_latency(clips: list[Path]) -> dict[str, list[float]]:
    """Each clip uploaded to a server that keeps a spare inspector and to one that does not (both
    running, uploads alternating): seconds per request."""
    times: dict[str, list[float]] = {"spare": [], "no spare": []}
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        servers = {}
        try:
            for name, spare in (("spare", "true"), ("no spare", "false")):
                port = free_port()
                servers[name] = (port, start_server(Path(tmp) / name.replace(" ", "_"), port, inspector_spare=spare))
            time.sleep(2)  # the spare has loaded its libraries, as it has between uploads
            for i, clip in enumerate(clips):
                for name in (("spare", "no spare") if i % 2 else ("no spare", "spare")):
                    port, proc = servers[name]
                    elapsed, body = curl_upload(f"http://127.0.0.1:{port}/api/v1/materials?title=small", clip,
                                                {"Authorization": f"Bearer {proc.token}"})  # type: ignore[attr-defined]
                    if body.get("status") != "ready":
                        raise RuntimeError(f"upload did not produce a ready material: {body}")
                    times[name].append(elapsed)
                    time.sleep(0.5)  # as between one person's uploads: the spare is refilled
        finally:
            for _, proc in servers.values():
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--small", type=int, default=8, help="small clips for the latency comparison")
    parser.add_argument("--no-write", action="store_true", help="print, do not update RESULTS.md")
    args = parser.parse_args()
    src = make_big_video(args.size_mib)
    size_mb = src.stat().st_size / 1e6
    seconds: dict[tuple[str, str], list[float]] = {}
    rss: list[float] = []
    ops = ["copy", "drain", "upload"]
    for i in range(args.runs):
        for state in MEMORY_STATES:
            for op in ops[i % 3 :] + ops[: i % 3]:  # rotate, so no operation always goes first
                with tempfile.TemporaryDirectory(dir=OUT) as tmp:
                    work = Path(tmp)
                    if op == "copy":
                        prepare_memory(state, src.stat().st_size, work)
                        elapsed = timed_copy(src, work / "copy.mp4")
                    elif op == "drain":
                        elapsed = timed_drain(src, work, state)
                    else:
                        elapsed, peak = timed_upload(src, work, state)
                        rss.append(peak)
                seconds.setdefault((state, op), []).append(elapsed)
                print(f"run {i + 1} {state:8} {op:6} {size_mb / elapsed:6.0f} MB/s", flush=True)

    def mbs(state: str, op: str) -> float:
        return size_mb / median(seconds[(state, op)])

    def runs(state: str, op: str) -> str:
        return ", ".join(f"{size_mb / s:.0f}" for s in seconds[(state, op)])

    rows = []
    for state in MEMORY_STATES:
        rows += [
            f"| {state} | plain file copy + fsync | {mbs(state, 'copy'):.0f} MB/s | {runs(state, 'copy')} |",
            f"| {state} | uvicorn reading and discarding the body (HTTP ceiling) | {mbs(state, 'drain'):.0f} MB/s | {runs(state, 'drain')} |",
            f"| {state} | reelhouse upload | {mbs(state, 'upload'):.0f} MB/s | {runs(state, 'upload')} |",
            f"| {state} | **upload / copy** | **{mbs(state, 'upload') / mbs(state, 'copy'):.0%}** | target ≥ 50 % |",
            f"| {state} | upload / HTTP ceiling | {mbs(state, 'upload') / mbs(state, 'drain'):.0%} | |",
        ]
    table = "\n".join(rows)
    small_clips = make_small_clips(args.small)
    small = small_upload_latency(small_clips)
    small_size = median([c.stat().st_size for c in small_clips]) / 1e6
    small_rows = "\n".join(
        f"| {name} | {median(v) * 1000:.0f} ms | {', '.join(f'{x * 1000:.0f}' for x in v)} |" for name, v in small.items()
    )
    body = f"""Measured {today()} on {machine()}, `bench/upload_throughput.py --size-mib {args.size_mib} --runs {args.runs}`.

A {size_mb:.0f} MB MP4 (1080p, 60 Mbit/s, stream-copied loop) sent by curl as one raw streaming
body to a real uvicorn server (SQLite, local storage), beside `shutil.copyfile` + fsync of the same
bytes and beside a bare uvicorn app that reads and discards the same body, interleaved in one run.
The upload time is the whole request: receive + SHA-256 + spool (O_DIRECT), sandboxed probe, poster
and contact sheet (made while the body arrives), fsync and move into storage, catalogue row. The two page-cache states are
explained in bench/common.py: `settled` (10 s idle before each operation, as between uploads;
this VM may have returned freed memory to the host by then, which slows whatever writes next) and
`recycled` (memory touched just before, as on bare metal).

| state | | median | runs |
|---|---|---|---|
{table}
| | server peak RSS | **{median(rss):.0f} MB** | {', '.join(f'{r:.0f}' for r in rss)} (target < 200 MB) |

Small uploads: {len(small['spare'])} different 10 s 720p clips (median {small_size:.1f} MB), each sent by curl to a
server that keeps a spare inspector child started ahead (`REELHOUSE_INSPECTOR_SPARE`, the default)
and to one that starts the child when the upload begins, both running, alternating. Whole request,
as above.

| server | median | runs |
|---|---|---|
{small_rows}
"""
    print(body)
    if not args.no_write:
        write_section("Upload throughput (issue 2)", body)


if __name__ == "__main__":
    main()
