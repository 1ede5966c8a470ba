"""No transaction stays open, and no pooled connection is held, while a request body streams in
(issue 16: the key lookup ran on the request's session, leaving PostgreSQL 'idle in transaction'
for the whole of a multi-GB upload, and the pool emptied with ~15 uploads in flight)."""

from __future__ import annotations

import socket
import time

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import Keys
from tests.live_server import Server


def _server_sessions(url: str) -> list[str]:
    """The states of every other connection to the test database (the server's)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT state FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ))
            return [r[0] for r in rows]
    finally:
        engine.dispose()


def _start(server: Server, head: str, first: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sock.sendall(head.encode() + first)
    return sock


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_nothing_is_held_in_the_database_while_bodies_arrive(server: Server, keys: Keys, app_env) -> None:
    url = app_env["REELHOUSE_DATABASE_URL"]
    auth = f"Authorization: Bearer {keys.editor}\r\n"
    json_body = '{"category": "campaign", "name_zh": "慢慢来"}'.encode()
    raw_upload = 4 * 1024 * 1024
    # The key was used a moment ago: within the minute its check is a read, with no stamp to commit.
    assert httpx.get(f"{server.url}/api/v1/tags", headers=Keys.auth(keys.editor)).status_code == 200
    socks = [
        # A JSON body, a byte at a time after the first few.
        _start(server, f"POST /api/v1/tags HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\n"
                       f"Content-Length: {len(json_body)}\r\n\r\n", json_body[:5]),
        # A simple upload whose bytes stop coming after the first 64 KiB.
        _start(server, f"POST /api/v1/materials HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: video/mp4\r\n"
                       f"Content-Length: {raw_upload}\r\n\r\n", b"\0" * 65536),
    ]
    try:
        time.sleep(2.0)  # the key checks are done; the bodies are still on their way
        states = _server_sessions(url)
        assert "idle in transaction" not in states and "active" not in states, states
    finally:
        for sock in socks[1:]:
            sock.close()
    json_sock = socks[0]
    json_sock.sendall(json_body[5:])
    answer = json_sock.recv(65536)
    json_sock.close()
    assert answer.startswith(b"HTTP/1.1 201"), answer[:300]
