"""End to end: a real Celery worker process on the real Redis broker renders a job; a worker killed
with SIGKILL mid-render is replaced and the job still ends succeeded once, with no duplicate materials;
a cancel stops the worker's running ffmpeg.

Test and worker share a SQLite file and a local storage directory through REELHOUSE_* variables.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from backend.catalogue.models import Material
from backend.renders.models import JobStatus, OutputStatus, RenderJob
from tests.conftest import REDIS_URL, make_clip, service_missing
from tests.processes import Worker
from tests.renders.conftest import ingest_clip

pytestmark = [pytest.mark.redis, pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]

THREE = ["douyin.feed_9x16", "xiaohongshu.note_3x4", "weibo.landscape_720p"]
# Apart from anything else using this Redis server; flushed at the start. Parallel test runs on one
# server each set their own REELHOUSE_TEST_E2E_REDIS_DB.
E2E_REDIS_DB = int(os.environ.get("REELHOUSE_TEST_E2E_REDIS_DB", "13"))
LEASE_SECONDS = 3


def _broker_url() -> str:
    base = REDIS_URL.rsplit("/", 1)[0] if REDIS_URL.count("/") > 2 else REDIS_URL.rstrip("/")
    return f"{base}/{E2E_REDIS_DB}"


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch, app_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """Redis for this test (flushed), the settings the worker gets, and messages sent to that broker."""
    import redis

    url = _broker_url()
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.flushdb()
    except redis.exceptions.ConnectionError:
        service_missing(f"Redis at {REDIS_URL}")
    env = {
        **app_env,
        "REELHOUSE_BROKER_URL": url,
        "REELHOUSE_RENDER_LEASE_SECONDS": str(LEASE_SECONDS),
        "REELHOUSE_BROKER_VISIBILITY_TIMEOUT": "6",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    from tests.conftest import clear_caches

    clear_caches()
    from backend.config import get_settings
    from workers.celery_app import create_celery

    app = create_celery(get_settings())
    monkeypatch.setattr(
        "backend.renders.service.send_render_message",
        lambda job_id: app.send_task("reelhouse.render.render_job", args=[str(job_id)]),
    )
    yield env
    client.flushdb()
    client.close()


@pytest.fixture
def workers(broker: dict[str, str], tmp_path: Path) -> Iterator[list[Worker]]:
    started: list[Worker] = []

    def start(name: str) -> Worker:
        w = Worker(broker, tmp_path / f"{name}.log", name, queues="quick,render")
        started.append(w)
        w.wait_ready()
        return w

    yield start  # type: ignore[misc]
    for w in started:
        w.stop()


def _create(source_id: uuid.UUID, seconds: float) -> uuid.UUID:
    from backend.config import get_settings
    from backend.db import session_scope
    from backend.renders import service as renders
    request = renders.RenderRequest(ranges=[renders.TimeRangeIn(start=0, end=seconds)], presets=THREE)
    with session_scope() as session:
        return renders.create_render_job(
            session, None, get_settings(), source_id, request, requested_by=None
        ).id


def _job(job_id: uuid.UUID) -> RenderJob:
    from backend.db import session_scope

    with session_scope() as session:
        job = session.get(RenderJob, job_id)
        assert job is not None
        return job


def _wait_done(job_id: uuid.UUID, timeout: float, every=None) -> RenderJob:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = _job(job_id)
        if JobStatus(job.status).done:
            return job
        if every:
            every()
        time.sleep(0.5)
    raise AssertionError(f"job still {_job(job_id).status} after {timeout}s")


def _check_outputs(job_id: uuid.UUID) -> None:
    from backend.db import session_scope
    from backend.renders import service as renders
    from workers.renders import output_material_id

    with session_scope() as session:
        outputs = renders.outputs_of(session, [job_id])[job_id]
        materials = session.exec(select(Material).where(Material.render_job_id == job_id)).all()
    assert sorted(o.preset_id for o in outputs) == sorted(THREE)
    assert all(o.status == OutputStatus.succeeded and o.violations == [] for o in outputs)
    assert sorted(m.id for m in materials) == sorted(output_material_id(job_id, p) for p in THREE)


def test_worker_renders_one_source_into_three_presets(workers, clip_4s):
    source_id = ingest_clip(clip_4s)
    workers("e2e-one")
    job_id = _create(source_id, 4.0)
    job = _wait_done(job_id, 60)
    assert job.status == JobStatus.succeeded, (job.error_code, job.error_detail)
    assert job.attempts == 1 and job.progress == 1.0
    _check_outputs(job_id)


def test_worker_killed_mid_render_is_recovered_once(workers, tmp_path):
    from backend.config import get_settings
    from backend.db import session_scope
    from backend.renders import service as renders
    source_id = ingest_clip(make_clip(tmp_path / "long.mp4", seconds=16.0, size="640x360", seed=21))
    first = workers("e2e-first")
    job_id = _create(source_id, 16.0)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = _job(job_id)
        if job.status == JobStatus.running and job.progress > 0:
            break
        assert not JobStatus(job.status).done, job.status
        time.sleep(0.1)
    else:
        raise AssertionError("the render never started")
    first.kill()
    assert _job(job_id).status == JobStatus.running  # the row still says so: only the lease can tell
    work_dir = get_settings().render_work_dir
    (left_behind,) = _render_folders(work_dir)  # the killed job's temporary folder, with its files
    assert any(left_behind.iterdir())

    workers("e2e-second")
    assert not left_behind.exists()  # removed when the next worker started

    def sweep() -> None:
        with session_scope() as session:
            renders.sweep_render_jobs(session, get_settings())

    job = _wait_done(job_id, 120, every=sweep)
    assert job.status == JobStatus.succeeded, (job.error_code, job.error_detail)
    assert job.attempts >= 2
    _check_outputs(job_id)
    assert _render_folders(work_dir) == []


def _render_folders(work_dir: Path) -> list[Path]:
    return sorted(p for p in work_dir.glob("job-*") if p.is_dir()) if work_dir.is_dir() else []


def test_cancel_stops_a_running_render_in_the_worker(workers, tmp_path):
    from backend.db import session_scope
    from backend.renders import service as renders
    source_id = ingest_clip(make_clip(tmp_path / "long.mp4", seconds=16.0, size="640x360", seed=22))
    worker = workers("e2e-cancel")
    job_id = _create(source_id, 16.0)
    deadline = time.monotonic() + 60
    while not (_job(job_id).progress > 0 and worker.ffmpeg_pids()):
        assert time.monotonic() < deadline, "the render never started"
        assert not JobStatus(_job(job_id).status).done, _job(job_id).status
        time.sleep(0.1)
    with session_scope() as session:
        renders.cancel_job(session, job_id)
    cancelled_at = time.monotonic()
    while worker.ffmpeg_pids():  # the worker's next heartbeat sees it and kills ffmpeg's process group
        assert time.monotonic() - cancelled_at < 10, "ffmpeg still running after the cancel"
        time.sleep(0.1)
    while b"'cancelled'" not in worker.log.read_bytes():  # the task returns; it must not overwrite the cancel
        assert time.monotonic() - cancelled_at < 20, worker.log.read_text(errors="replace")[-3000:]
        time.sleep(0.1)
    job = _job(job_id)
    assert job.status == JobStatus.cancelled and job.error_code == "cancelled" and job.progress < 0.85
    assert worker.proc.poll() is None  # the worker lives on for the next job
    from backend.config import get_settings

    assert _render_folders(get_settings().render_work_dir) == []  # a cancelled job leaves no files
    with session_scope() as session:
        assert session.exec(select(Material).where(Material.render_job_id == job_id)).all() == []
