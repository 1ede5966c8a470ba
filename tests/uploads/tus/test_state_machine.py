"""Property test: whatever mix of PATCHes, cut connections, bad offsets, bad checksums, HEADs and
DELETEs a client sends, the server's offset and bytes follow a simple model of the protocol."""

from __future__ import annotations

import base64
import hashlib
import random
from pathlib import Path

import anyio
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.conftest import Keys
from tests.uploads.tus.conftest import OCTETS, TUS, create, head, patch


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


def cut_patch(app, token: str, url: str, offset: int, data: bytes, delivered: int) -> None:  # type: ignore[no-untyped-def]
    """A PATCH announcing len(data) bytes whose connection drops after `delivered` of them."""
    headers = [
        (b"host", b"testserver"),
        (b"tus-resumable", b"1.0.0"),
        (b"authorization", f"Bearer {token}".encode()),
        (b"upload-offset", str(offset).encode()),
        (b"content-type", OCTETS.encode()),
        (b"content-length", str(len(data)).encode()),
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "PATCH",
        "scheme": "http",
        "path": url,
        "raw_path": url.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    messages = [{"type": "http.request", "body": data[:delivered], "more_body": True}]

    async def receive() -> dict:  # type: ignore[type-arg]
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict) -> None:  # type: ignore[type-arg]
        pass

    anyio.run(app, scope, receive, send)


class TusModel(RuleBasedStateMachine):
    def __init__(self, client, token: str, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
        super().__init__()
        self.client, self.token, self.data_dir = client, token, data_dir
        self.url: str | None = None
        self.source = b""
        self.offset = 0

    @initialize(length=st.integers(min_value=1, max_value=3000), seed=st.integers(0, 2**16))
    def start(self, length: int, seed: int) -> None:
        self._create(length, seed)

    @precondition(lambda self: self.url is None)
    @rule(length=st.integers(min_value=1, max_value=3000), seed=st.integers(0, 2**16))
    def create_another(self, length: int, seed: int) -> None:
        self._create(length, seed)

    def _create(self, length: int, seed: int) -> None:
        self.source = random.Random(seed).randbytes(length)
        res = create(self.client, length)
        assert res.status_code == 201
        self.url, self.offset = res.headers["location"], 0

    def _remaining(self) -> int:
        return len(self.source) - self.offset

    @precondition(lambda self: self.url is not None and self._remaining() > 1)
    @rule(size=st.integers(min_value=0, max_value=1500))
    def patch_bytes(self, size: int) -> None:
        size = min(size, self._remaining() - 1)  # completion (ingest) is covered elsewhere
        res = patch(self.client, self.url, self.offset, self.source[self.offset : self.offset + size])
        assert res.status_code == 204, res.text
        self.offset += size
        assert res.headers["upload-offset"] == str(self.offset)

    @precondition(lambda self: self.url is not None and self._remaining() > 1)
    @rule(extra=st.integers(min_value=1, max_value=500))
    def patch_past_the_end(self, extra: int) -> None:
        body = self.source[self.offset :] + b"x" * extra
        assert patch(self.client, self.url, self.offset, body).status_code == 413

    @precondition(lambda self: self.url is not None and self._remaining() > 1)
    @rule(size=st.integers(min_value=2, max_value=1500), data=st.data())
    def cut(self, size: int, data: st.DataObject) -> None:
        size = min(size, self._remaining() - 1)
        delivered = data.draw(st.integers(min_value=0, max_value=size - 1)) if size > 1 else 0
        cut_patch(
            self.client.app,
            self.token,
            self.url,
            self.offset,
            self.source[self.offset : self.offset + size],
            delivered,
        )
        self.offset += delivered

    @precondition(lambda self: self.url is not None)
    @rule(delta=st.sampled_from([-1, 1, 7]))
    def wrong_offset(self, delta: int) -> None:
        wrong = self.offset + delta if self.offset + delta >= 0 else self.offset + 1
        assert patch(self.client, self.url, wrong, b"z").status_code == 409

    @precondition(lambda self: self.url is not None and self._remaining() > 1)
    @rule()
    def bad_checksum(self) -> None:
        chunk = self.source[self.offset : self.offset + 1]
        wrong = base64.b64encode(hashlib.sha256(b"other" + chunk).digest()).decode()
        assert (
            patch(
                self.client, self.url, self.offset, chunk, {"Upload-Checksum": f"sha256 {wrong}"}
            ).status_code
            == 460
        )

    @precondition(lambda self: self.url is not None)
    @rule()
    def delete(self) -> None:
        assert self.client.delete(self.url, headers=TUS).status_code == 204
        assert head(self.client, self.url).status_code == 410
        self.url = None

    @invariant()
    def server_agrees(self) -> None:
        if self.url is None:
            return
        res = head(self.client, self.url)
        assert res.status_code == 200 and res.headers["upload-offset"] == str(self.offset)
        part = self.data_dir / "uploads" / f"{self.url.rsplit('/', 1)[1]}.part"
        held = part.read_bytes() if part.exists() else b""
        assert held == self.source[: self.offset]


def test_server_offset_follows_the_model(client, keys: Keys, app_env) -> None:  # type: ignore[no-untyped-def]
    data_dir = Path(app_env["REELHOUSE_DATA_DIR"])
    run_state_machine_as_test(
        lambda: TusModel(client, keys.editor, data_dir),
        settings=settings(
            max_examples=8, stateful_step_count=8, deadline=None, suppress_health_check=list(HealthCheck)
        ),
    )
