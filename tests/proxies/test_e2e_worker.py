"""End to end: a real Celery worker that takes only the proxy queue makes the proxy of an ingested video
(the message goes out after ingest's commit, routed by name to `proxy`; the quick work stays behind)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.conftest import REDIS_URL, make_clip, service_missing
from tests.processes import Worker
from tests.renders.conftest import ingest_clip

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]


def test_a_proxy_only_worker_makes_the_proxy_of_a_new_video(
    monkeypatch: pytest.MonkeyPatch, app_env: dict[str, str], tmp_path: Path
) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.flushdb()
    except redis.exceptions.ConnectionError:
        service_missing(f"Redis at {REDIS_URL}")
    env = {**app_env, "REELHOUSE_BROKER_URL": REDIS_URL}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    from tests.conftest import clear_caches

    clear_caches()
    worker = Worker(env, tmp_path / "worker.log", "proxy", queues="proxy")
    try:
        material_id = ingest_clip(make_clip(tmp_path / "e2e.mp4", seconds=2.0, seed=51))
        from backend.db import session_scope
        from backend.proxies.models import Proxy

        deadline, state = time.monotonic() + 120, None
        while time.monotonic() < deadline:
            with session_scope() as session:
                proxy = session.get(Proxy, material_id)
                state = proxy.status if proxy else None
            if state in ("ready", "failed"):
                break
            time.sleep(0.5)
        assert state == "ready", worker.text()[-3000:]
        # Quick work (the fingerprint, the autoclip rules) waits on its own queue for a quick worker.
        assert client.llen("quick") >= 1 and client.llen("proxy") == 0
    finally:
        worker.stop()
        client.flushdb()
        client.close()
