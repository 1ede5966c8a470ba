"""A PATCH holds nothing in the database while its body streams: no row lock, no open transaction
(the writer lock is a file lock on the upload); a second writer still gets 423 at once."""

from __future__ import annotations

import socket
import time

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import Keys
from tests.live_server import Server
from tests.uploads.tus.conftest import OCTETS, TUS


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_streaming_patch_holds_no_row_lock_or_transaction(server: Server, keys: Keys, app_env) -> None:  # type: ignore[no-untyped-def]
    auth = {**TUS, **Keys.auth(keys.editor)}
    res = httpx.post(f"{server.url}/api/v1/uploads/", headers={**auth, "Upload-Length": "2000"})
    path = res.headers["location"]
    upload_id = path.rsplit("/", 1)[1]
    engine = create_engine(app_env["REELHOUSE_DATABASE_URL"])
    with socket.create_connection(("127.0.0.1", server.port)) as first:
        first.sendall(
            f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\n"
            f"Authorization: Bearer {keys.editor}\r\nUpload-Offset: 0\r\nContent-Type: {OCTETS}\r\n"
            "Content-Length: 1000\r\n\r\n".encode() + b"a" * 10
        )
        deadline = time.monotonic() + 10
        refused = None
        while time.monotonic() < deadline:  # until the first PATCH holds the upload
            refused = httpx.patch(f"{server.url}{path}", content=b"b", headers={**auth, "Upload-Offset": "0", "Content-Type": OCTETS})
            if refused.status_code == 423:
                break
            time.sleep(0.05)
        assert refused is not None and refused.status_code == 423
        with engine.connect() as conn:
            # A transaction that read the upload row and is still open holds a lock on the table.
            held = conn.execute(text(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
                " WHERE c.relname = 'tus_upload' AND l.pid <> pg_backend_pid()"
            )).scalar_one()
            assert held == 0
            locked = conn.execute(
                text("SELECT id FROM tus_upload WHERE id = :id FOR UPDATE NOWAIT"), {"id": upload_id}
            ).all()  # would fail with 55P03 if the streaming PATCH held the row
            assert len(locked) == 1
            conn.rollback()
        first.sendall(b"a" * 990)
        reply = first.recv(4096).decode()
    engine.dispose()
    assert reply.startswith("HTTP/1.1 204") and "upload-offset: 1000" in reply.lower()
