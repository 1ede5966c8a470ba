"""Upload to validated drafts: a 1080p recording (10 minutes by default, `--minutes 120` for the goal's full
2 hours) through the API with an auto-clip rule, timed by stage; a shorter run is projected to 2 hours.

A fresh `reelhouse serve` (SQLite, local storage, filesystem broker, its quick and render worker pools).
A rule (as in the README: tag `content_type:直播`, 8 clips of 15-60 s, douyin.feed_9x16,
xiaohongshu.note_3x4, tmall.shipai_3x4); the recording of `bench.render_throughput` uploaded with that tag
and its two products' tags; then the run is followed: analysis, proposals, one render job per proposal.
Every rendition must be a validated draft (job succeeded, no preset violation, review state `draft`).

Stages: upload (first byte to 201), queue (upload answered to analysis start), analysis (the row's own
start/finish), proposals (analysis end to the run's render jobs), renders (first job queued to the last
job's end). Projection for 2 hours: the analysis scales with duration; proposals are bounded by the
2-hour proposal bench; the renders do not depend on the recording's length, only on the clips.

    python -m bench.upload_to_drafts [--minutes 120] [--face-check] [--write]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from bench.common import OUT, machine, today, write_section
from bench.render_throughput import PIECE_SECONDS, PRESETS, Service, check_job, recording

RULE = {
    "name": "直播切片 → 抖音/小红书/天猫",
    "match": {"tags": ["content_type:直播"], "kind": "source"},
    "count": 8, "min_s": 15, "max_s": 60,
    "preset_ids": PRESETS,
}  # fmt: skip
TWO_HOURS = 7200.0
GOAL_S = 15 * 60


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def follow(service: Service, material_id: str, timeout: float = 7200) -> tuple[dict, dict[str, float]]:
    """Poll the material's run until it is done; the wall-clock time each status was first seen."""
    seen: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = service.http.get("/api/v1/autoclip/runs", params={"material_id": material_id}).json()
        if runs:
            run = runs[0]
            seen.setdefault(run["status"], time.time())
            if run["status"] in ("done", "failed"):
                return run, seen
        time.sleep(0.5)
    raise RuntimeError("the rule's run did not end in time")


def face_check(src: Path) -> dict[str, float]:
    """The analysis with and without face tracking, interleaved in this process: wall seconds each."""
    from workers.media.analysis import analyse_recording
    from workers.media.analysis.pipeline import AnalysisOptions

    out: dict[str, float] = {}
    for name, options in (("faces", AnalysisOptions()), ("no faces", AnalysisOptions(faces=False))):
        t = time.perf_counter()
        analyse_recording(src, options=options)
        out[name] = time.perf_counter() - t
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--face-check", action="store_true", help="also time the analysis without face tracking")
    parser.add_argument("--count", type=int, default=8, help="clips the rule asks for")
    parser.add_argument("--min-s", type=float, default=15.0)
    parser.add_argument("--max-s", type=float, default=60.0)
    parser.add_argument("--minutes", type=float, default=10.0, help="recording length (joined 75 s pieces)")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    rule = {**RULE, "count": args.count, "min_s": args.min_s, "max_s": args.max_s}
    OUT.mkdir(exist_ok=True)
    src = recording(pieces=max(1, round(args.minutes * 60 / PIECE_SECONDS)))
    size = src.stat().st_size
    from workers.media.probe import probe_file

    seconds = probe_file(src).duration_s or 600.0
    with tempfile.TemporaryDirectory(dir=OUT, prefix="drafts-") as tmp:
        service = Service(Path(tmp) / "data", {})
        try:
            r = service.http.post("/api/v1/autoclip/rules", json=rule)
            r.raise_for_status()
            t0 = time.time()
            params: list[tuple[str, str | int | float | bool | None]] = [("title", f"直播回放 {seconds / 60:.0f} 分钟"), ("tag", "content_type:直播"), ("tag", "product:保温杯"),
                      ("tag", "product:洗衣凝珠")]
            with src.open("rb") as fh:
                r = service.http.post("/api/v1/materials", params=params, content=fh,
                                      headers={"Content-Type": "application/octet-stream"})
            r.raise_for_status()
            uploaded = time.time()
            material = r.json()
            run, seen = follow(service, material["id"])
            if run["status"] != "done":
                raise RuntimeError(f"run failed: {json.dumps(run, ensure_ascii=False)}")
            analysis = service.http.get(f"/api/v1/analyses/{run['analysis_id']}").json()
            jobs = {str(j): service.http.get(f"/api/v1/jobs/{j}").json() for j in run["job_ids"]}
            done = service.wait_jobs(list(jobs))
            drafts = 0
            for job in done.values():
                check_job(job)
                for o in job["renditions"]:
                    m = service.http.get(f"/api/v1/materials/{o['material_id']}").json()
                    if m["review_state"] != "draft":
                        raise RuntimeError(f"rendition {o['material_id']} is {m['review_state']}, not a draft")
                    drafts += 1
            end = max(_ts(j["finished_at"]) for j in done.values())
            jobs_queued = min(_ts(j["created_at"]) for j in done.values())
            clip_s = [sum(x["end"] - x["start"] for x in j["request"]["ranges"]) for j in done.values()]
        finally:
            service.stop()
    a0, a1 = _ts(analysis["started_at"]), _ts(analysis["finished_at"])
    timings = (analysis.get("signals") or {}).get("timings") or {}
    stages = {
        "upload (first byte to 201)": uploaded - t0,
        "queue (201 to analysis start)": a0 - uploaded,
        "analysis": a1 - a0,
        "proposals (analysis end to render jobs queued)": jobs_queued - a1,
        "renders (first job queued to last draft)": end - jobs_queued,
    }
    total = end - t0
    scale = TWO_HOURS / seconds
    projected = {
        "upload (first byte to 201)": stages["upload (first byte to 201)"] * scale,
        "queue (201 to analysis start)": stages["queue (201 to analysis start)"],
        "analysis": stages["analysis"] * scale,
        "proposals (analysis end to render jobs queued)": stages["proposals (analysis end to render jobs queued)"] * scale,
        # per clip: a run asked for fewer clips (--count) is scaled to the goal's 8
        "renders (first job queued to last draft)": stages["renders (first job queued to last draft)"] * 8 / len(done),
    }
    after_upload = sum(v for k, v in projected.items() if not k.startswith("upload"))
    rows = [f"| {k} | {v:.1f} s | {projected[k]:.0f} s |" for k, v in stages.items()]
    table = "\n".join([
        f"| stage | {seconds / 60:.0f}-minute recording ({size / 1e6:.0f} MB), {len(done)} clips | projected: 2 hours, 8 clips |", "|---|---|---|", *rows,
        f"| **total** | **{total:.0f} s** | **{sum(projected.values()):.0f} s** ({after_upload:.0f} s after the upload) |",
    ])  # fmt: skip
    face_share = timings.get("faces", 0.0) / timings["total"] if timings.get("total") else None
    lines = [
        table,
        "",
        f"{len(done)} jobs, {drafts} validated drafts; clips {min(clip_s):.0f}-{max(clip_s):.0f} s "
        f"(mean {sum(clip_s) / len(clip_s):.0f} s, {sum(clip_s):.0f} s in all).",
        f"Analysis stage timings (s, from the stored signals): {json.dumps({k: round(v, 2) for k, v in timings.items()})}",
    ]
    if face_share is not None:
        lines.append(f"Face tracking: {timings.get('faces', 0):.2f} s of the analysis' {timings['total']:.2f} s ({face_share:.0%}).")
    if args.face_check:
        fc = face_check(src)
        lines.append(f"Analysis alone, same recording, in one process: with faces {fc['faces']:.1f} s, without "
                     f"{fc['no faces']:.1f} s ({(fc['faces'] - fc['no faces']) / fc['faces']:.0%} of its wall time).")
    goal = "within" if after_upload <= GOAL_S else "over"
    lines.append(f"Projected 2-hour recording, upload finished to 8 drafts: {after_upload / 60:.1f} min ({goal} the 15-minute goal).")
    text = "\n".join(lines)
    print(text)
    print(json.dumps({"stages": stages, "projected": projected, "timings": timings}), file=sys.stderr)
    if args.write:
        write_section(
            f"Upload to drafts: a recording into 8 clips × 3 presets (issue 17), {today()}",
            f"`python -m bench.upload_to_drafts --minutes {args.minutes:g} --count {args.count} --min-s {args.min_s:g} --max-s {args.max_s:g}"
            f"{' --face-check' if args.face_check else ''}` on {machine()}.\n\n{text}\n",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
