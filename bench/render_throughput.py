"""Render throughput through the real API and worker vs the same split graphs run alone, back to back.

A 10-minute 1080p30 live-stream-like recording (generated once by `bench.analysis`'s generator into
bench/out), 8 clips of 30 s spread over it, each into douyin.feed_9x16, xiaohongshu.note_3x4 and
tmall.shipai_3x4:

- `alone`: for each clip, the one ffmpeg process the worker would run (`build_render_argv`: one decode,
  `split` into the three encoders) with ffmpeg's default threads, one after the other, nothing else.
- `api` variants: a fresh `reelhouse serve` (SQLite, local storage, filesystem broker; its own quick and
  render worker pools), the recording uploaded through the API, then the 8 render requests posted at
  once; timed from the first POST to the last job's end (validated, covers made, derived materials
  registered). `shipped` takes the render concurrency and encoder threads from the cores; `two-jobs`
  is the earlier shape (2 jobs at once, ffmpeg's default threads each).

Rounds interleave the variants. Reports medians and the throughput ratio alone / api.

    python -m bench.render_throughput --rounds 2 [--variants alone,shipped,two-jobs] [--write]
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

from bench.common import OUT, machine, median, today, write_section

REPO = Path(__file__).resolve().parents[1]
PRESETS = ["douyin.feed_9x16", "xiaohongshu.note_3x4", "tmall.shipai_3x4"]
CLIP_STARTS = [20.0 + 72.0 * k for k in range(8)]  # 8 clips spread over a 10-minute recording
API_VARIANTS = {
    "shipped": {},
    "two-jobs": {"REELHOUSE_RENDER_CONCURRENCY": "2", "REELHOUSE_RENDER_THREADS": "0"},
}


PIECE_SECONDS = 75.0


def recording(pieces: int = 8) -> Path:
    """A 10-minute 1080p30 live-stream-like recording: a 75 s piece made by tests/autoclip/footage.py
    (espeak-ng Mandarin with pauses, a shot cut, a product card with a price, a moving face, backdrop
    noise filling a 6 Mb/s cap, keyframes every 2 s as OBS writes them) joined 8 times by stream copy.
    Generating 600 s in one go took over 30 minutes on the shared 2-core machine."""
    path = OUT / f"live_1080p30_{int(PIECE_SECONDS * pieces)}s_joined.mp4"
    if path.exists():
        return path
    from tests.autoclip.footage import Card, FootageSpec, make_footage
    from workers.media.run import ffmpeg_path

    piece = OUT / f"live_1080p30_{int(PIECE_SECONDS)}s_piece.mp4"
    if not piece.exists():
        spec = FootageSpec(
            duration=PIECE_SECONDS, width=1920, height=1080, cuts=(37.3,),
            cards=(Card(8.0, 30.0, ("保温杯 ¥59.9", "3号链接 限时秒杀")), Card(45.0, 68.0, ("洗衣凝珠 39.9元", "2号链接"))),
            preset="veryfast", noise=20, maxrate_kbps=6000,
        )  # fmt: skip
        partial = piece.with_suffix(".partial.mp4")
        make_footage(partial, spec)
        partial.rename(piece)
    listing = OUT / "pieces.txt"
    listing.write_text("".join(f"file '{piece.name}'\n" for _ in range(pieces)))
    partial = path.with_suffix(".partial.mp4")
    subprocess.run([ffmpeg_path(), "-nostdin", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing),
                    "-c", "copy", "-movflags", "+faststart", str(partial)], check=True)
    partial.rename(path)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------- alone


def clips(seconds: float) -> list[tuple[float, float]]:
    return [(a, a + seconds) for a in CLIP_STARTS]


def run_alone(src: Path, work: Path, cuts: list[tuple[float, float]]) -> float:
    """Every clip's split graph, one ffmpeg after another, default threads; seconds in total."""
    from presets.loader import load_catalog
    from workers.media.argv import OutputSpec, RenderRecipe, SourceFacts, TimeRange, build_render_argv
    from workers.media.probe import probe_file
    from workers.media.run import ffmpeg_filters, ffmpeg_path

    ffmpeg = ffmpeg_path()
    filters = ffmpeg_filters(ffmpeg)
    catalog = load_catalog()
    source = SourceFacts(str(src), probe_file(src))
    t0 = time.perf_counter()
    for n, (a, b) in enumerate(cuts):
        specs = [OutputSpec(catalog.preset(p), str(work / f"alone-{n}-{p}.mp4")) for p in PRESETS]
        argv = build_render_argv(source, RenderRecipe(ranges=(TimeRange(a, b),)), specs, ffmpeg=ffmpeg, filters=filters)
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


# --------------------------------------------------------------------------- through the API


class Service:
    """`reelhouse serve` on a fresh data dir: the API plus its worker pools, as a user runs it."""

    def __init__(self, data_dir: Path, extra_env: dict[str, str]) -> None:
        self.port = free_port()
        self.env = {**os.environ, "REELHOUSE_DATA_DIR": str(data_dir), "REELHOUSE_MAX_UPLOAD_BYTES": str(16 * 1024**3),
                    **extra_env}
        for k in ("REELHOUSE_DATABASE_URL", "REELHOUSE_BROKER_URL", "REELHOUSE_STORAGE_BACKEND"):
            self.env.pop(k, None)
        py = [sys.executable, "-m", "backend.cli"]
        subprocess.run([*py, "migrate"], env=self.env, cwd=REPO, check=True, capture_output=True)
        self.token = subprocess.run(
            [*py, "keys", "create", "--name", "bench", "--role", "editor"],
            env=self.env, cwd=REPO, check=True, capture_output=True, text=True,
        ).stdout.strip().splitlines()[-1]
        self.log = (data_dir.parent / "serve.log").open("ab")
        self.proc = subprocess.Popen([*py, "serve", "--port", str(self.port)], env=self.env, cwd=REPO,
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", headers={"Authorization": f"Bearer {self.token}"},
                                 timeout=600)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if self.http.get("/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise RuntimeError("reelhouse serve did not start")

    def upload(self, src: Path, title: str, params: dict[str, str] | None = None) -> dict:
        with src.open("rb") as fh:
            r = self.http.post("/api/v1/materials", params={"title": title, **(params or {})}, content=fh,
                               headers={"Content-Type": "application/octet-stream"})
        r.raise_for_status()
        return r.json()

    def wait_jobs(self, job_ids: list[str], timeout: float = 3600) -> dict[str, dict]:
        done: dict[str, dict] = {}
        deadline = time.monotonic() + timeout
        while len(done) < len(job_ids):
            if time.monotonic() > deadline:
                raise RuntimeError(f"jobs still running after {timeout} s")
            for jid in job_ids:
                if jid in done:
                    continue
                r = self.http.get(f"/api/v1/jobs/{jid}")
                if r.status_code != 200:  # e.g. SQLite busy on a loaded machine: ask again
                    print(f"job {jid}: {r.status_code} {r.text[:300]}", file=sys.stderr, flush=True)
                    continue
                job = r.json()
                if job["status"] in ("succeeded", "failed", "cancelled"):
                    job["seen_done"] = time.perf_counter()
                    done[jid] = job
            time.sleep(0.5)
        return done

    def stop(self) -> None:
        # As a user's Ctrl-C: uvicorn's graceful stop, then the workers' warm shutdown.
        with_suppress = self.proc.poll() is None
        if with_suppress:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.http.close()
        self.log.close()


def check_job(job: dict) -> None:
    bad = [o for o in job["renditions"] if o["status"] != "succeeded" or o["violations"]]
    if job["status"] != "succeeded" or bad:
        raise RuntimeError(f"render job failed: {json.dumps(job, ensure_ascii=False)[:1500]}")


def run_api(src: Path, extra_env: dict[str, str], cuts: list[tuple[float, float]]) -> dict[str, float]:
    with tempfile.TemporaryDirectory(dir=OUT, prefix="throughput-") as tmp:
        service = Service(Path(tmp) / "data", extra_env)
        try:
            material = service.upload(src, "直播回放 10 分钟")
            t0 = time.perf_counter()
            jobs = []
            for a, b in cuts:
                r = service.http.post(f"/api/v1/materials/{material['id']}/renders",
                                      json={"ranges": [{"start": a, "end": b}], "presets": PRESETS})
                r.raise_for_status()
                jobs.append(r.json()["id"])
            done = service.wait_jobs(jobs)
            for job in done.values():
                check_job(job)
            total = max(j["seen_done"] for j in done.values()) - t0
            return {"total": total}
        finally:
            service.stop()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--variants", default="alone,shipped")
    parser.add_argument("--clip-seconds", type=float, default=30.0)
    parser.add_argument("--write", action="store_true", help="write the section of bench/RESULTS.md")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    src = recording()
    cuts = clips(args.clip_seconds)
    variants = args.variants.split(",")
    results: dict[str, list[float]] = {v: [] for v in variants}
    load: list[float] = []
    for r in range(args.rounds):
        order = variants if r % 2 == 0 else list(reversed(variants))
        for v in order:
            load.append(os.getloadavg()[0])
            if v == "alone":
                with tempfile.TemporaryDirectory(dir=OUT, prefix="alone-") as tmp:
                    seconds = run_alone(src, Path(tmp), cuts)
            else:
                seconds = run_api(src, API_VARIANTS[v], cuts)["total"]
            results[v].append(seconds)
            print(f"round {r + 1} {v}: {seconds:.1f} s", file=sys.stderr, flush=True)
    alone = median(results["alone"]) if results.get("alone") else None
    rows = []
    for v in variants:
        m = median(results[v])
        ratio = f"{alone / m * 100:.0f} %" if alone else "-"
        runs = ", ".join(f"{x:.0f}" for x in results[v])
        rows.append(f"| {v} | {m:.0f} s ({runs}) | {m / len(cuts):.1f} s | {ratio} |")
    table = "\n".join([f"| variant | 8 clips of {args.clip_seconds:g} s × 3 presets, median (runs) | per clip | throughput vs alone |",
                       "|---|---|---|---|", *rows])
    print(table)
    print(json.dumps({"results": results, "load": load}))
    if args.write:
        write_section(
            f"Render throughput: 8 clips × 3 presets through the API (issue 17), {today()}",
            f"`python -m bench.render_throughput --rounds {args.rounds} --variants {args.variants} "
            f"--clip-seconds {args.clip_seconds:g}` on {machine()}; "
            f"load average at the start of each run: {', '.join(f'{x:.1f}' for x in load)}.\n\n{table}\n",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
