"""A render job reads only the ranges it cuts, in place: the stored file on local storage, a presigned
URL seeked by range on S3; no copy of the source, no second probe, and the same frames as a job that
copied the whole source first (the old way)."""

from __future__ import annotations

import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from backend.renders.models import JobStatus
from tests.conftest import clear_caches, ffmpeg_exe, make_clip
from tests.renders.conftest import ingest_clip
from tests.renders.test_render_task import create_job, derived_of, job_state

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
CUT = {"ranges": [{"start": 30.0, "end": 31.5}], "presets": ["douyin.feed_9x16"]}

# An ffmpeg that logs how many bytes each run read (rchar of /proc/<pid>/io, read from the exited but
# not yet reaped child) beside its argv.
WRAPPER = """#!{python}
import json, os, subprocess, sys
child = subprocess.Popen([{real!r}, *sys.argv[1:]])
os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
with open(f"/proc/{{child.pid}}/io") as f:
    rchar = int(next(line for line in f if line.startswith("rchar:")).split()[1])
with open({log!r}, "a") as f:
    f.write(json.dumps({{"argv": sys.argv[1:], "rchar": rchar}}) + "\\n")
sys.exit(child.wait())
"""


@pytest.fixture(scope="module")
def big_source(clip_dir: Path) -> Path:
    """60 s of noisy 640x360 at ~4 Mb/s with a keyframe every second: ~30 MB, of which a 1.5 s cut needs ~3 %."""
    return make_clip(
        clip_dir / "big_60s.mp4", seconds=60.0, size="640x360", seed=3,
        extra=["-vf", "noise=alls=30:allf=t", "-b:v", "4M", "-g", "25"],
    )  # fmt: skip


@pytest.fixture
def counting_ffmpeg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "ffmpeg-runs.jsonl"
    script = tmp_path / "ffmpeg"
    script.write_text(WRAPPER.format(python=sys.executable, real=ffmpeg_exe(), log=str(log)))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("REELHOUSE_FFMPEG_PATH", str(script))
    clear_caches()
    return log


def _no_copies(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Keys any storage copied out during the test (the render must copy none of the source)."""
    from storage.local import LocalStorage
    from storage.s3 import S3Storage

    copied: list[str] = []
    for cls in (LocalStorage, S3Storage):
        original = cls.download_to

        def spy(self, key, path, _original=original):  # type: ignore[no-untyped-def]
            copied.append(key)
            return _original(self, key, path)

        monkeypatch.setattr(cls, "download_to", spy)
    return copied


def _frames(path: Path) -> list[str]:
    """Per decoded frame: stream, pts, duration and a hash of the picture."""
    out = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:v", "-f", "framemd5", "-"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return [line for line in out.splitlines() if line and not line.startswith("#")]


def _source_key(source_id: uuid.UUID) -> str:
    from backend.catalogue.models import Material
    from backend.db import session_scope

    with session_scope() as session:
        material = session.get(Material, source_id)
        assert material is not None and material.storage_key
        return material.storage_key


def _render(source_id: uuid.UUID, tmp_path: Path, name: str) -> tuple[list[str], float]:
    from backend.objectstore import get_storage
    from workers.renders import execute_render_job

    job_id = create_job(source_id, CUT)
    assert execute_render_job(str(job_id)) == "succeeded"
    job, outputs = job_state(job_id)
    assert job.status == JobStatus.succeeded
    (material,) = derived_of(job_id)
    local = tmp_path / f"{name}.mp4"
    get_storage().download_to(material.storage_key, local)
    return _frames(local), outputs[0].duration_s


def _source_reads(log: Path, marker: str) -> list[int]:
    import json

    runs = [json.loads(line) for line in log.read_text().splitlines()]
    return [r["rchar"] for r in runs if "-filter_complex" in r["argv"] and any(marker in a for a in r["argv"])]


def _old_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """The previous pipeline: copy the whole source into the job folder and probe the copy."""
    import dataclasses

    from backend.renders import pipeline

    monkeypatch.setattr(pipeline, "source_location", lambda *a: None)
    plan_of = pipeline.RenderPlan.of
    monkeypatch.setattr(
        pipeline.RenderPlan, "of", lambda s, j: dataclasses.replace(plan_of(s, j), source_facts=None)
    )


@sqlite_only
def test_local_render_reads_the_stored_file_in_place(
    app_env, sent, big_source, counting_ffmpeg, tmp_path, monkeypatch
):
    from backend.objectstore import get_storage
    from workers.media import inspect

    source_id = ingest_clip(big_source)
    copied = _no_copies(monkeypatch)
    probes: list[Path] = []
    real_inspect = inspect.inspect_untrusted
    monkeypatch.setattr("backend.renders.pipeline.inspect_untrusted", lambda p, **k: probes.append(p) or real_inspect(p, **k))

    frames, duration = _render(source_id, tmp_path, "in-place")

    size = big_source.stat().st_size
    key = _source_key(source_id)
    assert key not in copied and probes == []  # neither copied nor probed again: the facts stored at ingest
    (reads,) = _source_reads(counting_ffmpeg, str(get_storage().root))
    assert reads < 0.15 * size, f"the render read {reads} of the source's {size} bytes"

    # The same job the old way (a copy, probed again) gives the same frames at the same times.
    _old_way(monkeypatch)
    old_frames, old_duration = _render(source_id, tmp_path, "copied")
    assert copied.count(key) == 1 and len(probes) == 1
    assert frames == old_frames and duration == old_duration


@sqlite_only
def test_s3_render_reads_only_the_cut_through_a_presigned_url(
    app_env, sent, big_source, s3_bucket, tmp_path, monkeypatch
):
    from tests.tcp_proxy import tcp_proxy

    with tcp_proxy(s3_bucket.host, s3_bucket.port) as proxy:
        for key, value in {
            "REELHOUSE_STORAGE_BACKEND": "s3",
            "REELHOUSE_S3_ENDPOINT": f"127.0.0.1:{proxy.port}",
            "REELHOUSE_S3_ACCESS_KEY": s3_bucket.access_key,
            "REELHOUSE_S3_SECRET_KEY": s3_bucket.secret_key,
            "REELHOUSE_S3_BUCKET": s3_bucket.bucket,
            "REELHOUSE_S3_REGION": s3_bucket.region,
            "REELHOUSE_S3_SECURE": "false",
        }.items():
            monkeypatch.setenv(key, value)
        clear_caches()
        source_id = ingest_clip(big_source)
        copied = _no_copies(monkeypatch)
        argvs: list[list[str]] = []
        from backend.renders import pipeline

        real_run = pipeline.run_ffmpeg
        monkeypatch.setattr(pipeline, "run_ffmpeg", lambda argv, **k: argvs.append(argv) or real_run(argv, **k))

        before = proxy.bytes_from_server
        frames, duration = _render(source_id, tmp_path, "ranged")
        fetched = proxy.bytes_from_server - before

        size = big_source.stat().st_size
        # ~6 MB of 31 MB: the index, the cut, and the rest of its last 4 MiB range request.
        assert fetched < 0.25 * size, f"the render fetched {fetched} of the source's {size} bytes"
        assert _source_key(source_id) not in copied
        render_argv = argvs[0]
        i = render_argv.index("-i")
        assert render_argv[i + 1].startswith("http://127.0.0.1:")
        assert render_argv[render_argv.index("-protocol_whitelist") + 1] == "https,http,tcp,tls"
        assert render_argv.index("-ss") < i  # seeked on the input side

        _old_way(monkeypatch)
        before = proxy.bytes_from_server
        old_frames, old_duration = _render(source_id, tmp_path, "copied")
        assert proxy.bytes_from_server - before >= size  # the old way fetched the whole recording
        assert frames == old_frames and duration == old_duration
