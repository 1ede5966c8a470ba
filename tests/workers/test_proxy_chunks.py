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

from tests.conftest import REDIS_URL, make_clip, service_missing
from tests.processes import Worker, wait_for
from tests.workers.media.test_chunked import frame_marks, marker_source, whole_encode
from workers.media import chunked
from workers.media.probe import probe_file

ON_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _job(material: uuid.UUID, source_key: str, seconds: float, source: Path | None = None):  # type: ignore[no-untyped-def]
    from workers.media.probe import probe_file
    from workers.proxy_chunks import ChunkedJob

    facts = probe_file(source).to_dict() if source else {
        "media_type": "video", "demuxer": "matroska,webm", "display_width": 320, "display_height": 240,
        "fps": 29.97, "has_audio": True, "duration_s": 9.0}
    return ChunkedJob(material_id=str(material), source_key=source_key, output_key=f"proxies/{material}/proxy.mp4",
                      facts=facts, chunk_seconds=seconds)


def test_keys_and_ids_follow_the_material_and_plan() -> None:
    from workers import proxy_chunks as pc

    job = _job(uuid.UUID(int=1), "originals/a.mkv", 4.0)
    chunks = [chunked.Chunk(0, 0, 120, None), chunked.Chunk(1, 120, None, Fraction(4))]
    workflow = pc.plan_id(job, chunks)
    assert workflow.startswith(f"proxy-{uuid.UUID(int=1)}-") and workflow == pc.plan_id(job, list(chunks))
    assert pc.plan_id(job, chunks[:1]) != workflow  # another plan, other keys
    assert pc.chunk_key(workflow, 1) == f"proxy-chunks/{workflow.removeprefix('proxy-')}/chunk-00001.mp4"
    assert pc.audio_key(workflow).startswith(pc.chunk_prefix(workflow))
    run = f"{workflow}.0a1b2c3d"
    assert pc.workflow_of(run) == workflow
    assert pc.task_ids(run, 2) == {"chunks": [f"{run}:chunk:0", f"{run}:chunk:1"], "audio": f"{run}:audio",
                                   "join": f"{run}:join"}
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


CHUNK_SECONDS = 3.0


@pytest.fixture
def redis_env(monkeypatch: pytest.MonkeyPatch, app_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """The real broker (and result backend) for the test and the worker; long videos are over 5 s."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.flushdb()
    except redis.exceptions.ConnectionError:
        service_missing(f"Redis at {REDIS_URL}")
    env = {**app_env, "REELHOUSE_BROKER_URL": REDIS_URL, "REELHOUSE_BROKER_VISIBILITY_TIMEOUT": "30",
           "REELHOUSE_PROXY_CHUNK_THRESHOLD_SECONDS": "5", "REELHOUSE_PROXY_CHUNK_SECONDS": str(CHUNK_SECONDS)}
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


def _leftovers(prefix: str = "proxy-chunks/") -> list[str]:
    from backend.config import get_settings

    root = get_settings().effective_storage_root / prefix
    return sorted(str(p) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _proxy(material_id: uuid.UUID):  # type: ignore[no-untyped-def]
    from backend.db import session_scope
    from backend.proxies.models import Proxy

    with session_scope() as session:
        proxy = session.get(Proxy, material_id)
        assert proxy is not None
        session.expunge(proxy)
        return proxy


def _workflow_of(material_id: uuid.UUID) -> str:
    """The workflow id the proxy task gave the material (planned again from the same inputs)."""
    from backend.config import get_settings
    from backend.db import session_scope
    from backend.objectstore import get_storage
    from backend.proxies import service as proxies
    from workers import proxy_chunks as pc

    with session_scope() as session:
        inputs = proxies.inputs_for(session, material_id)
    job = pc.ChunkedJob(material_id=str(material_id), source_key=inputs.storage_key, output_key="-",
                        facts=inputs.facts.to_dict(), chunk_seconds=get_settings().proxy_chunk_seconds)
    return pc.plan_id(job, pc.plan(job, get_storage()))


@pytest.mark.slow
@pytest.mark.redis
@ON_SQLITE
def test_a_long_videos_proxy_is_a_chord_of_chunks_joined_and_recorded(worker: Worker, tmp_path: Path) -> None:
    from backend.objectstore import get_storage
    from tests.renders.conftest import ingest_clip
    from workers import proxy_chunks as pc
    from workers.celery_app import create_celery

    source = marker_source(tmp_path / "live.mkv", seconds=9)
    material = ingest_clip(source, title="直播回放 分段")  # ingest sends the proxy task to the broker
    proxy = wait_for(lambda: (p := _proxy(material)).status in ("ready", "failed") and p, 240, "the proxy")
    assert proxy.status == "ready", proxy.error
    assert proxy.details["chunked"] is True and proxy.details["chunks"] == 3
    assert proxy.details["workers"] == [f"w1@{socket.gethostname()}"]
    assert (proxy.width, proxy.height, proxy.fps) == (320, 240, pytest.approx(29.97, abs=0.01))
    storage = get_storage()
    assert proxy.sprite_keys and proxy.sprite_vtt_key and proxy.waveform_key
    assert all(storage.exists(k) for k in [proxy.proxy_key, *proxy.sprite_keys, proxy.sprite_vtt_key, proxy.waveform_key])
    assert _leftovers() == []  # the pieces are gone once the proxy is recorded
    local = tmp_path / "proxy.mp4"
    storage.download_to(proxy.proxy_key, local)
    facts = probe_file(source)
    whole = whole_encode(source, facts, tmp_path / "whole.mp4")
    assert frame_marks(local)[0] == frame_marks(whole)[0]
    workflow = _workflow_of(material)
    result = pc.join_result(workflow, create_celery())
    assert result is not None and result.get(timeout=5)["frames"] == 270
    assert abs(result.result["av_end_offset"]) <= 0.02 and result.result["audio_gap_max"] == 0.0
    assert worker.text().count("proxy chunk ") == 3
    # The proxy task sent again (the sweep, a redelivery): a finished proxy is not made again.
    from workers.proxies import make_proxy

    assert make_proxy(str(material)) == "ready"


@pytest.mark.slow
@pytest.mark.redis
@ON_SQLITE
def test_cancel_stops_the_running_chunk_and_the_queued_ones(worker: Worker, tmp_path: Path) -> None:
    from backend.objectstore import get_storage
    from tests.renders.conftest import ingest_clip
    from workers import proxy_chunks as pc
    from workers.celery_app import create_celery

    source = make_clip(tmp_path / "long.mp4", seconds=30, size="1280x720", rate=30, extra=["-g", "30"])
    material = ingest_clip(source, title="直播回放 取消")
    wait_for(worker.ffmpeg_running, 120, "a chunk's ffmpeg")
    workflow = _workflow_of(material)
    assert pc.cancel(workflow, get_storage(), create_celery()) == 12  # 10 chunks, the audio, the join
    wait_for(lambda: not worker.ffmpeg_running(), 30, "the running ffmpeg to be stopped")
    wait_for(lambda: "Discarding revoked task" in worker.text(), 30, "revokes")
    proxy = wait_for(lambda: (p := _proxy(material)).status == "failed" and p, 60, "the proxy to end")
    assert proxy.error_code == "proxy-cancelled"
    time.sleep(3)
    assert not worker.ffmpeg_running()
    assert worker.text().count("proxy chunk ") <= 1
    assert proxy.proxy_key is None
    wait_for(lambda: _leftovers() == [], 30, "the pieces to be deleted")


@pytest.mark.slow
@pytest.mark.redis
@ON_SQLITE
def test_a_person_cancelling_the_proxy_stops_its_chunked_workflow(worker: Worker, tmp_path: Path) -> None:
    """The API's cancel (the service here) ends the row at once; `reelhouse.cancel_proxy`, sent after the
    commit, finds the workflow the proxy task recorded and revokes and aborts it: ffmpeg stops, no piece stays."""
    from backend.db import session_scope
    from backend.proxies import service as proxies
    from tests.renders.conftest import ingest_clip

    source = make_clip(tmp_path / "long.mp4", seconds=30, size="1280x720", rate=30, extra=["-g", "30"])
    material = ingest_clip(source, title="直播回放 人工取消")
    wait_for(worker.ffmpeg_running, 120, "a chunk's ffmpeg")
    assert _proxy(material).details["workflow"] == _workflow_of(material)
    with session_scope() as session:
        assert proxies.cancel_proxy(session, material).error_code == "proxy-cancelled"
    wait_for(lambda: not worker.ffmpeg_running(), 30, "the running ffmpeg to be stopped")
    wait_for(lambda: "Discarding revoked task" in worker.text(), 30, "revokes")
    time.sleep(3)
    assert not worker.ffmpeg_running()
    proxy = _proxy(material)
    assert (proxy.status, proxy.error_code, proxy.proxy_key) == ("failed", "proxy-cancelled", None)
    wait_for(lambda: _leftovers() == [], 30, "the pieces to be deleted")


@ON_SQLITE
def test_the_workflows_tasks_are_registered_on_the_proxy_queue(app_env: dict[str, str]) -> None:
    from backend import queue
    from workers import proxy_chunks as pc
    from workers.celery_app import celery_app

    router = queue.producer().amqp.router
    for name in (pc.ENCODE_CHUNK, pc.ENCODE_AUDIO, pc.JOIN_CHUNKS, pc.CHUNKS_FAILED):
        assert name in celery_app.tasks and celery_app.tasks[name].queue == queue.PROXY_QUEUE
        assert router.route({}, name)["queue"].name == queue.PROXY_QUEUE
    chunk_task = celery_app.tasks[pc.ENCODE_CHUNK]
    assert chunk_task.acks_late and chunk_task.reject_on_worker_lost and not chunk_task.ignore_result
