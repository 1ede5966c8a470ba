"""End to end: a real Celery worker process on the real Redis broker analyses a recording started
through the API, and the stored signals are read back through the API.

Test and worker share a SQLite file and a local storage directory through REELHOUSE_* variables; the
broker is this helper's Redis database (REELHOUSE_TEST_REDIS_URL), flushed before and after.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.autoclip.footage import Footage
from tests.conftest import REDIS_URL, Keys, clear_caches, service_missing
from tests.renders.conftest import ingest_clip
from tests.renders.test_e2e_worker import Worker

pytestmark = [pytest.mark.redis, pytest.mark.slow, pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch, app_env: dict[str, str], tmp_path: Path) -> Iterator[Worker]:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.flushdb()
    except redis.exceptions.ConnectionError:
        service_missing(f"Redis at {REDIS_URL}")
    env = {**app_env, "REELHOUSE_BROKER_URL": REDIS_URL, "REELHOUSE_BROKER_VISIBILITY_TIMEOUT": "30"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    clear_caches()  # the API's producer now sends to this broker
    w = Worker(env, tmp_path / "worker.log", f"analysis-{uuid.uuid4().hex[:6]}")
    try:
        w.wait_ready()
        yield w
    finally:
        w.stop()
        client.flushdb()
        client.close()


def test_a_real_worker_analyses_a_recording_started_through_the_api(
    worker: Worker, footage: Footage, keys: Keys
) -> None:
    from backend.app import create_app
    from backend.catalogue.models import PRODUCT_CATEGORY, Tag
    from backend.db import session_scope

    with session_scope() as session:
        cup = Tag(category=PRODUCT_CATEGORY, name_zh="保温杯", name_en="Thermos Cup")
        session.add(cup)
        session.flush()
        cup_id = cup.id
    material = ingest_clip(footage.path, title="直播回放 e2e")
    with TestClient(create_app(), headers=Keys.auth(keys.editor)) as api:
        r = api.post(f"/api/v1/materials/{material}/analyses")
        assert r.status_code == 202, r.text
        url = r.headers["Location"]
        deadline = time.monotonic() + 240
        body = api.get(url).json()
        while body["status"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.5)
            body = api.get(url).json()
    assert body["status"] == "succeeded", (body, worker.log.read_text(errors="replace")[-3000:])
    assert body["attempts"] == 1 and body["summary"]["products"] == [cup_id]
    assert body["summary"]["shot_changes"] == len(footage.spec.cuts)
    assert [round(p["start"]) for p in body["signals"]["audio"]["pauses"]][:2] == [0, round(footage.silences[1][0])]
