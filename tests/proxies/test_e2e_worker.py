"""End to end: a real Celery worker that takes only the proxy queue makes the proxy of an ingested video
(the message goes out after ingest's commit, routed by name to `proxy`; the quick work stays behind)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REDIS_URL, REPO, make_clip, service_missing
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
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers.celery_app:celery_app", "worker", "-Q", "proxy",
             "--concurrency", "1", "-P", "prefork", "-n", "proxy@%h", "--without-gossip", "--without-mingle",
             "--loglevel", "INFO"],
            cwd=REPO, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
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
            assert state == "ready", log.read_text(errors="replace")[-3000:]
            # Quick work (the fingerprint, the autoclip rules) waits on its own queue for a quick worker.
            assert client.llen("quick") >= 1 and client.llen("proxy") == 0
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=30)
            client.flushdb()
            client.close()
