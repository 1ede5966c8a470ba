"""SQLite under concurrent writers: a write waits for the lock (busy timeout) instead of failing with
`database is locked`, and more requests than SQLAlchemy's default pool (15) are in flight at once."""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import Keys
from tests.live_server import Server

WRITERS = 30


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_writes_wait_for_a_held_lock_and_all_succeed(server: Server, keys: Keys, app_env) -> None:
    auth = Keys.auth(keys.editor)
    assert httpx.get(f"{server.url}/api/v1/tags", headers=auth).status_code == 200
    path = app_env["REELHOUSE_DATABASE_URL"].removeprefix("sqlite:///")
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # another process (a worker) holds the write lock for a while
    released = threading.Timer(2.0, lambda: holder.execute("COMMIT"))
    released.start()

    def write(i: int) -> httpx.Response:
        return httpx.post(f"{server.url}/api/v1/tags", json={"category": "product", "name_zh": f"洗衣液 {i}"},
                          headers=auth, timeout=60)


    try:
        with ThreadPoolExecutor(WRITERS) as pool:
            answers = list(pool.map(write, range(WRITERS)))
    finally:
        released.join()
        holder.close()
    assert [a.status_code for a in answers] == [201] * WRITERS, [a.text for a in answers if a.status_code != 201][:3]
    names = {t["name_zh"] for t in httpx.get(f"{server.url}/api/v1/tags", headers=auth).json()}
    assert {f"洗衣液 {i}" for i in range(WRITERS)} <= names
    assert "database is locked" not in server.log.read_text(errors="replace")
