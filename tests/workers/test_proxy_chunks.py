"""The chunked proxy workflow with a real Celery worker on the real Redis broker (and result backend):
the chord encodes every chunk and the audio, the join stores a proxy equal to the whole-file encode and
deletes the pieces; a cancel stops the running chunk's ffmpeg, the queued chunks never run, and nothing
is left in storage. The planning and the keys are checked without a worker."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import pytest

from tests.cluster.processes import Worker, wait_for
from tests.conftest import REDIS_URL, make_clip, service_missing
from tests.workers.media.test_chunked import frame_marks, marker_source, whole_encode
from workers.media import chunked

ON_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _job(material: uuid.UUID, source_key: str, seconds: float, size: tuple[int, int] = (320, 240)):  # type: ignore[no-untyped-def]
    from workers.proxy_chunks import ChunkedJob

    return ChunkedJob(material_id=str(material), source_key=source_key, output_key=f"proxies/{material}/proxy.mp4",
                      width=size[0], height=size[1], rate=(30000, 1001), chunk_seconds=seconds, has_audio=True)


def test_keys_and_ids_follow_the_material_and_plan() -> None:
    from workers import proxy_chunks as pc

    job = _job(uuid.UUID(int=1), "originals/a.mkv", 4.0)
    chunks = [chunked.Chunk(0, 0, 120, None), chunked.Chunk(1, 120, None, Fraction(4))]
    workflow = pc.plan_id(job, chunks)
    assert workflow.startswith(f"proxy-{uuid.UUID(int=1)}-") and workflow == pc.plan_id(job, list(chunks))
    assert pc.plan_id(job, chunks[:1]) != workflow  # another plan, other keys
    assert pc.chunk_key(workflow, 1) == f"proxy-chunks/{workflow.removeprefix('proxy-')}/chunk-00001.mp4"
    assert pc.audio_key(workflow).startswith(pc.chunk_prefix(workflow))
    assert pc.task_ids(workflow, 2) == {"chunks": [f"{workflow}:chunk:0", f"{workflow}:chunk:1"],
                                        "audio": f"{workflow}:audio", "join": f"{workflow}:join"}
    assert pc.ChunkedJob.from_dict(job.to_dict()) == job


def test_stale_work_folders_of_dead_processes_are_removed(tmp_path: Path) -> None:
    from workers.proxy_chunks import remove_stale_workdirs

    mine = tmp_path / f"{os.getpid()}-abc"
    dead = tmp_path / "999999999-abc"
    other = tmp_path / "notes"
    for p in (mine, dead, other):
        p.mkdir()
    assert remove_stale_workdirs(tmp_path) == [dead]
    assert mine.exists() and other.exists()


@pytest.fixture
def redis_env(monkeypatch: pytest.MonkeyPatch, app_env: dict[str, str]) -> Iterator[dict[str, str]]:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.flushdb()
    except redis.exceptions.ConnectionError:
        service_missing(f"Redis at {REDIS_URL}")
    env = {**app_env, "REELHOUSE_BROKER_URL": REDIS_URL, "REELHOUSE_BROKER_VISIBILITY_TIMEOUT": "30"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    from tests.conftest import clear_caches

    clear_caches()
    yield {**os.environ, **env}
    client.flushdb()
    client.close()


@pytest.fixture
def worker(redis_env: dict[str, str], tmp_path: Path) -> Iterator[Worker]:
    w = Worker(redis_env, tmp_path / "worker.log", "w1", queues="proxy,quick", concurrency=1)
    try:
        w.wait_ready()
        yield w
    finally:
        w.stop()


def _put(path: Path, key: str) -> None:
    from backend.objectstore import get_storage

    get_storage().put_file(key, path)


def _leftovers(prefix: str = "proxy-chunks/") -> list[str]:
    from backend.config import get_settings

    root = get_settings().effective_storage_root / prefix
    return sorted(str(p) for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.mark.slow
@pytest.mark.redis
@ON_SQLITE
def test_the_chord_encodes_chunks_and_audio_then_joins_and_cleans_up(worker: Worker, tmp_path: Path) -> None:
    from backend.objectstore import get_storage
    from workers import proxy_chunks as pc
    from workers.celery_app import create_celery

    source = marker_source(tmp_path / "live.mkv", seconds=9)
    _put(source, "originals/live.mkv")
    job = _job(uuid.uuid4(), "originals/live.mkv", 3.0)
    storage = get_storage()
    chunks = pc.plan(job, storage)
    assert len(chunks) == 3
    workflow = pc.plan_id(job, chunks)
    app = create_celery()
    app.send_task(pc.START_CHUNKED, args=[job.to_dict()])
    result = app.AsyncResult(f"{workflow}:join").get(timeout=240)
    assert result["status"] == "joined" and result["chunks"] == 3
    assert result["workers"] == [f"w1@{socket.gethostname()}"]
    assert storage.exists(job.output_key)
    assert _leftovers() == []  # the pieces are gone once the proxy is stored
    local = tmp_path / "proxy.mp4"
    storage.download_to(job.output_key, local)
    whole = whole_encode(source, job.video, tmp_path / "whole.mp4")
    assert frame_marks(local)[0] == frame_marks(whole)[0]
    assert abs(result["av_end_offset"]) <= 0.02 and result["audio_gap_max"] == 0.0
    # Sent again (a redelivered start): the same workflow, not a second one.
    assert pc.start(job, chunks) == workflow
    assert worker.text().count("proxy chunk ") == 3


@pytest.mark.slow
@pytest.mark.redis
@ON_SQLITE
def test_cancel_stops_the_running_chunk_and_the_queued_ones(worker: Worker, tmp_path: Path) -> None:
    from backend.objectstore import get_storage
    from workers import proxy_chunks as pc
    from workers.celery_app import create_celery

    source = make_clip(tmp_path / "long.mp4", seconds=40, size="1280x720", rate=30, extra=["-g", "30"])
    _put(source, "originals/long.mp4")
    job = _job(uuid.uuid4(), "originals/long.mp4", 5.0, size=(960, 540))
    storage = get_storage()
    chunks = pc.plan(job, storage)
    assert len(chunks) == 8
    workflow = pc.plan_id(job, chunks)
    app = create_celery()
    app.send_task(pc.START_CHUNKED, args=[job.to_dict()])
    wait_for(worker.ffmpeg_running, 120, "a chunk's ffmpeg")
    assert pc.cancel(workflow, storage, app) == 10  # 8 chunks, the audio, the join
    wait_for(lambda: not worker.ffmpeg_running(), 30, "the running ffmpeg to be stopped")
    # The queued chunks are revoked: the worker takes none of them up; nothing stays in storage.
    wait_for(lambda: worker.text().count("revoked") >= 1 or "discarded" in worker.text(), 30, "revokes")
    time.sleep(3)
    assert not worker.ffmpeg_running()
    assert worker.text().count("proxy chunk ") <= 1
    assert not storage.exists(job.output_key)
    wait_for(lambda: _leftovers() == [], 30, "the pieces to be deleted")
