"""Faults between the API and its database: PostgreSQL restarting under a request, or refusing
connections for a while. The client gets a clear 503 problem (never a hang, never a 200), and the
same API process answers again once the database is back (pre-ping drops the dead pooled connections)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import Keys
from tests.live_server import REPO, Server, free_port
from tests.tcp_proxy import TcpProxy, tcp_proxy


def _proxied(url: str, proxy: TcpProxy) -> str:
    return sa.engine.make_url(url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)


def _is_database_unavailable(res: httpx.Response) -> None:
    assert res.status_code == 503, res.text
    assert res.headers["content-type"].startswith("application/problem+json")
    assert res.json()["type"] == "/problems/database-unavailable"
    assert int(res.headers["retry-after"]) > 0


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_database_restart_mid_request_is_a_503_and_the_api_recovers(
    app_env: dict[str, str], keys: Keys, tmp_path: Path
) -> None:
    url = sa.engine.make_url(app_env["REELHOUSE_DATABASE_URL"])
    with tcp_proxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        env = {**os.environ, **app_env, "PYTHONPATH": str(REPO), "REELHOUSE_DATABASE_URL": _proxied(str(url), proxy)}
        server = Server(env=env, port=free_port(), log=tmp_path / "server.log")
        server.start()
        try:
            auth = Keys.auth(keys.editor)
            with httpx.Client(base_url=server.url, headers=auth, timeout=60) as client:
                assert client.get("/api/v1/tags").status_code == 200
                assert client.post("/api/v1/tags", json={"category": "campaign", "name_zh": "双十一"}).status_code == 201

                # The database stops answering while requests are in it, then its connections drop.
                answers: list[httpx.Response] = []
                proxy.stall()

                def request(method: str, path: str, **kw) -> None:  # type: ignore[no-untyped-def]
                    answers.append(httpx.request(method, f"{server.url}{path}", headers=auth, timeout=60, **kw))

                threads = [
                    threading.Thread(target=request, args=("GET", "/api/v1/tags")),
                    threading.Thread(target=request, args=("POST", "/api/v1/tags"),
                                     kwargs={"json": {"category": "campaign", "name_zh": "年货节"}}),
                    threading.Thread(target=request, args=("GET", "/api/v1/materials")),
                ]
                for t in threads:
                    t.start()
                time.sleep(1.0)  # every request is now waiting on the database
                assert all(t.is_alive() for t in threads)
                # The restart: every connection drops and, for a while, new ones are refused (a
                # request caught in the pool's pre-ping would otherwise reconnect and carry on).
                proxy.refusing = True
                proxy.cut()
                for t in threads:
                    t.join(60)
                assert len(answers) == 3
                for res in answers:
                    _is_database_unavailable(res)

                # Still down: requests fail fast and clearly.
                _is_database_unavailable(client.get("/api/v1/tags"))
                _is_database_unavailable(client.post("/api/v1/accounts", json={"platform_id": "tmall", "name": "旗舰店"}))

                # Back: the same process answers, without a restart.
                proxy.refusing = False
                for _ in range(5):
                    assert client.get("/api/v1/tags").status_code == 200
                made = client.post("/api/v1/tags", json={"category": "campaign", "name_zh": "恢复之后"})
                assert made.status_code == 201, made.text
                names = {t["name_zh"] for t in client.get("/api/v1/tags").json()}
                assert {"双十一", "恢复之后"} <= names and "年货节" not in names
                assert client.get("/ready").status_code == 200
        finally:
            server.stop()
