"""What a user waits for when uploading: the code before issue 14 (from git) beside the lean upload
path (this tree), side by side in one run, with clients throttled to real link speeds.

Each upload is one raw streaming body of a real 1080p MP4 (bench/upload_throughput-style loop of a
noisy clip) to a fresh uvicorn server (SQLite, local storage), sent from a socket paced to
12, 50 or 125 MB/s or unthrottled. The wait is the time from the first byte sent to the 201
received: receive + SHA-256 + spool, the sandboxed probe, poster and contact sheet, the move into
storage and the catalogue row. Both servers get 2 s after start-up before the upload (the old code
starts its spare inspector then, as it would between uploads); runs alternate which goes first.
Beside them, a plain copy (+ fsync) of the same file. Reports medians, the server's peak RSS
(VmHWM) and lines of the upload-path modules in both trees.

    .venv/bin/python -m bench.uploads [--runs 3] [--rss-gib 10] [--audio-mib 1024]
        [--variants "name=commit[+ENV=value];..." --speeds 125,max --title "..."]

`--rss-gib N` adds one unthrottled upload of an N GiB file to the last variant, for its peak RSS
(the file is made, uploaded and deleted; needs ~2N GiB of free disk). `--audio-mib N` adds an
unthrottled WAV: no previews, so its wait is the receive path's, to set beside a plain copy.
"""

from __future__ import annotations

import argparse
import json
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

from bench.common import OUT, ffmpeg, machine, median, peak_rss_mb, run, timed_copy, today, write_section

REPO = Path(__file__).resolve().parents[1]
MB = 1_000_000
MiB = 1024 * 1024
# Link speed (MB/s, None = unthrottled) -> file size (MiB) and the variants run: the slow links get
# smaller files so a run stays within minutes (the size does not change what the wait after the last
# byte is made of), and the variants that isolate one mechanism run where it could matter most.
ALL = ("before", "before, no spare inspector", "lean, no inspection while arriving", "lean")
PLAN: dict[float | None, tuple[int, tuple[str, ...]]] = {
    12.0: (128, ("before", "lean")), 50.0: (512, ("before", "lean")), 125.0: (1024, ALL), None: (1024, ALL),
}  # (with --variants, every variant at every speed given by --speeds)
UPLOAD_PATH_MODULES = [
    "backend/uploads/__init__.py", "backend/uploads/blockio.py", "backend/uploads/endpoints.py",
    "backend/uploads/models.py", "backend/uploads/previews.py", "backend/uploads/service.py",
    "backend/uploads/spool.py", "backend/uploads/tus.py", "backend/http_protocol.py", "backend/allocator.py",
    "backend/warmup.py", "workers/media/inspect.py", "workers/media/source.py", "workers/uploads.py",
]


def make_video(size_mib: int) -> Path:
    """A real MP4 of about `size_mib` MiB: a noisy 1080p clip (60 Mbit/s) stream-copied in a loop."""
    OUT.mkdir(exist_ok=True)
    target = OUT / f"upload_{size_mib}mib.mp4"
    if target.exists():
        return target
    chunk = OUT / "upload_chunk.mp4"
    if not chunk.exists():
        run([ffmpeg(), "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
             "testsrc2=size=1920x1080:rate=30:duration=10,noise=alls=40:allf=t", "-f", "lavfi", "-i",
             "sine=duration=10", "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "60M", "-c:a", "aac",
             "-shortest", str(chunk)])
    loops = max(1, round(size_mib * MiB / chunk.stat().st_size))
    run([ffmpeg(), "-nostdin", "-v", "error", "-y", "-stream_loop", str(loops - 1), "-i", str(chunk),
         "-c", "copy", "-movflags", "+faststart", str(target)])
    return target


def lines_of(tree: Path) -> tuple[int, list[str]]:
    present = [m for m in UPLOAD_PATH_MODULES if (tree / m).exists()]
    total = sum(len((tree / m).read_text().splitlines()) for m in present)
    return total, present


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A reelhouse API (uvicorn, SQLite, local storage) run from `tree`, on a fresh data dir."""

    def __init__(self, tree: Path, data_dir: Path, extra_env: dict[str, str]) -> None:
        self.port = free_port()
        self.env = env = {**os.environ, "REELHOUSE_DATA_DIR": str(data_dir),
                          "REELHOUSE_MAX_UPLOAD_BYTES": str(16 * 1024**3), "PYTHONPATH": str(tree), **extra_env}
        env.pop("REELHOUSE_DATABASE_URL", None)
        py = [sys.executable, "-m"]
        subprocess.run([*py, "backend.cli", "migrate"], env=env, cwd=tree, check=True, capture_output=True)
        self.token = subprocess.run(
            [*py, "backend.cli", "keys", "create", "--name", "bench", "--role", "editor"],
            env=env, cwd=tree, check=True, capture_output=True, text=True,
        ).stdout.strip().splitlines()[-1]
        # As `reelhouse serve` ran it in each tree (the old one with its own HTTP protocol class).
        http = ["--http", "backend.http_protocol:BodyChunksProtocol"] if (tree / "backend/http_protocol.py").exists() else []
        self.proc = subprocess.Popen(
            [*py, "uvicorn", "backend.app:create_app", "--factory", "--host", "127.0.0.1", "--port", str(self.port),
             "--log-level", "warning", *http], env=env, cwd=tree, start_new_session=True,
        )
        for _ in range(200):
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        else:
            raise RuntimeError(f"server from {tree} did not start")
        time.sleep(2.0)  # idle, as between uploads

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=30)


def paced_upload(port: int, token: str, src: Path, rate: float | None) -> float:
    """Send `src` as a raw body at `rate` MB/s (None: as fast as the socket takes it); seconds from
    the first byte sent to the response."""
    size = src.stat().st_size
    head = (f"POST /api/v1/materials?title=bench HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port)) as sock, src.open("rb") as fh:
        t0 = time.perf_counter()
        sock.sendall(head)
        if rate is None:
            sock.sendfile(fh)
        else:
            sent, piece = 0, 64 * 1024
            while chunk := fh.read(piece):
                sock.sendall(chunk)
                sent += len(chunk)
                ahead = t0 + sent / (rate * MB) - time.perf_counter()
                if ahead > 0:
                    time.sleep(ahead)
        reply = b""
        while b"\r\n\r\n" not in reply:
            reply += sock.recv(65536)
        elapsed = time.perf_counter() - t0
        while more := sock.recv(65536):
            reply += more
    status = reply.split(b" ", 2)[1]
    body = json.loads(reply.split(b"\r\n\r\n", 1)[1] or b"{}")
    if status != b"201" or body.get("status") != "ready":
        raise RuntimeError(f"upload failed: {reply[:500]!r}")
    return elapsed, body["id"]


def one_upload(tree: Path, src: Path, rate: float | None, extra_env: dict[str, str] | None = None) -> tuple[float, float, float | None]:
    """The wait, the server's peak RSS and, where the tree makes previews on the quick queue after the
    201, how long its task takes for this upload (run here as the worker would, server stopped)."""
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        server = Server(tree, Path(tmp) / "data", extra_env or {})
        try:
            elapsed, material_id = paced_upload(server.port, server.token, src, rate)
            rss = peak_rss_mb(server.proc.pid)
        finally:
            server.stop()
        if not (tree / "backend/catalogue/previews.py").exists() or src.suffix != ".mp4":  # (audio has none)
            return elapsed, rss, None
        script = ("import sys, time; from workers.catalogue import make_previews_task; t = time.perf_counter(); "
                  "assert make_previews_task.run(sys.argv[1]); print(time.perf_counter() - t)")
        env = {**server.env, "PYTHONPATH": str(tree)}
        done = subprocess.run([sys.executable, "-c", script, material_id], env=env, cwd=tree, check=True,
                              capture_output=True, text=True)
        return elapsed, rss, float(done.stdout.strip().splitlines()[-1])


DEFAULT_VARIANTS = (
    "before=a81d507;before, no spare inspector=a81d507+REELHOUSE_INSPECTOR_SPARE=false;"
    "lean, no inspection while arriving=2d606bd;lean=HEAD"
)


def parse_variants(spec: str) -> dict[str, tuple[str, dict[str, str]]]:
    """`name=commit[+ENV=value...];...`: what to run, each from a worktree of its commit."""
    variants = {}
    for item in filter(None, (part.strip() for part in spec.split(";"))):
        name, _, rest = item.partition("=")
        commit, *env = rest.split("+")
        variants[name] = (commit, dict(e.split("=", 1) for e in env))
    return variants


def make_wav(size_mib: int) -> Path:
    """A WAV (PCM, 48 kHz stereo) of about `size_mib` MiB: probed, but no previews to make, so its
    wait is the receive path's (receive, hash, write, probe, store)."""
    target = OUT / f"upload_{size_mib}mib.wav"
    if not target.exists():
        OUT.mkdir(exist_ok=True)
        run([ffmpeg(), "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
             f"sine=frequency=440:sample_rate=48000:duration={size_mib * MiB // 192000}", "-ac", "2",
             "-c:a", "pcm_s16le", str(target)])
    return target


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--variants", default=DEFAULT_VARIANTS, help="name=commit[+ENV=value];... (first = reference)")
    parser.add_argument("--speeds", default="", help="e.g. 125,max: every variant at these speeds (default: PLAN)")
    parser.add_argument("--audio-mib", type=int, default=0, help="also an unthrottled WAV of this size per variant")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rss-gib", type=int, default=0, help="one N GiB upload to the last variant, for peak RSS")
    parser.add_argument("--title", default="Uploads at real link speeds, before and after issue 14")
    parser.add_argument("--quick", action="store_true", help="a smoke run: two small files, no RESULTS.md")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    specs = parse_variants(args.variants)
    names = tuple(specs)
    plan: dict[float | None, tuple[int, tuple[str, ...]]] = dict(PLAN)
    if args.speeds:
        plan = {(None if v == "max" else float(v)): (PLAN[None if v == "max" else float(v)][0], names)
                for v in args.speeds.split(",")}
    if args.quick:
        plan = {50.0: (64, names), None: (128, names)}
    trees: dict[str, Path] = {}
    for commit in {c for c, _ in specs.values()}:
        trees[commit] = Path(tempfile.mkdtemp(prefix="reelhouse-bench-"))
        subprocess.run(["git", "worktree", "add", "--detach", str(trees[commit]), commit], cwd=REPO, check=True,
                       capture_output=True)
    lines = {name: lines_of(trees[commit])[0] for name, (commit, _) in specs.items()}
    jobs: list[tuple[float | None, Path, tuple[str, ...]]] = [(rate, make_video(mib), ns) for rate, (mib, ns) in plan.items()]
    if args.audio_mib:
        jobs.append((None, make_wav(args.audio_mib), names))
    waits: dict[tuple[str, float | None, Path], list[float]] = {}
    rss: dict[str, list[float]] = {name: [] for name in names}
    posters: dict[tuple[str, Path], list[float]] = {}
    copies: dict[Path, list[float]] = {}
    big_rss = None
    try:
        for rate, src, ns in jobs:
            for i in range(args.runs):
                for name in ns[i % len(ns) :] + ns[: i % len(ns)]:  # rotate who goes first
                    commit, env = specs[name]
                    elapsed, peak, poster = one_upload(trees[commit], src, rate, env)
                    waits.setdefault((name, rate, src), []).append(elapsed)
                    rss[name].append(peak)
                    if poster is not None:
                        posters.setdefault((name, src), []).append(poster)
                    print(f"{rate or 'max'} MB/s {src.name} {name:36} {elapsed:7.2f} s  rss {peak:.0f} MB"
                          f"{f'  previews {poster:.2f} s' if poster is not None else ''}", flush=True)
                if rate is None:
                    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
                        copies.setdefault(src, []).append(timed_copy(src, Path(tmp) / "copy"))
        if args.rss_gib:
            big = make_video(args.rss_gib * 1024)
            try:
                elapsed, big_rss, _ = one_upload(trees[specs[names[-1]][0]], big, None)
                print(f"{args.rss_gib} GiB {names[-1]}: {elapsed:.1f} s, peak RSS {big_rss:.0f} MB", flush=True)
            finally:
                big.unlink()
    finally:
        for tree in trees.values():
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO, check=False)
            shutil.rmtree(tree, ignore_errors=True)

    rows = []
    for rate, src, ns in jobs:
        size = src.stat().st_size
        arrival = size / (rate * MB) if rate else None
        link = f"{rate:.0f} MB/s" if rate else "unthrottled"
        ref = median(waits[(ns[0], rate, src)])
        for name in ns:
            w = median(waits[(name, rate, src)])
            over = f"{(w / arrival - 1):+.1%}" if arrival else f"{size / MB / w:.0f} MB/s"
            vs = f"{(w / ref - 1):+.1%}" if name != ns[0] else ""
            rows.append(f"| {link} | {src.suffix[1:]} {size / MB:.0f} MB | {name} | **{w:.2f} s** | {vs} | {over} |"
                        f" {', '.join(f'{x:.2f}' for x in waits[(name, rate, src)])} |")
    copy_rows = "; ".join(f"{src.suffix[1:]} {src.stat().st_size / MB / median(c):.0f} MB/s ({', '.join(f'{x:.2f}' for x in c)} s)"
                          for src, c in copies.items())
    described = "; ".join(f"*{name}* = {commit}{' with ' + ', '.join(f'{k}={v}' for k, v in env.items()) if env else ''}"
                          for name, (commit, env) in specs.items())
    body = f"""Measured {today()} on {machine()} (shared with other work: load average {os.getloadavg()[0]:.0f} at the end), `python -m bench.uploads {' '.join(sys.argv[1:])}`.

Variants ({described}), each run from a git worktree of its commit, each upload to a fresh server
(SQLite, local storage), in rotating order. Wait = first byte sent to response received, all of
ingest included (probe; poster and contact sheet for video). "over arrival" = how much longer than
the bytes take to arrive at that link speed; unthrottled, the throughput (size / wait).

| link | file | variant | wait (median) | vs {names[0]} | over arrival | runs (s) |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Plain copy + fsync of the same files, in the same run: {copy_rows or 'not run'}.
Previews made on the quick queue after the 201 (where the tree does so; the task run alone once the server
stopped, medians): {'; '.join(f"{n}, {s.suffix[1:]} {s.stat().st_size / MB:.0f} MB: {median(v):.2f} s" for (n, s), v in posters.items()) or 'none'}.
Server peak RSS (VmHWM, median of all its runs): {', '.join(f'{n} {median(v):.0f} MB' for n, v in rss.items())}{f'; {names[-1]}, one {args.rss_gib} GiB upload: **{big_rss:.0f} MB** (target < 200 MB)' if big_rss else ''}.
Lines of the upload-path modules (`wc -l`, those of {', '.join(UPLOAD_PATH_MODULES)} that exist): {', '.join(f'{n} {v}' for n, v in lines.items())}.
"""
    print(body)
    if not (args.no_write or args.quick):
        write_section(args.title, body)


if __name__ == "__main__":
    main()
