"""backend/http_protocol.py: request bodies through uvicorn with `BodyChunksProtocol` (as
`reelhouse serve` runs) arrive whole and in order, for every way a client sends them."""

from __future__ import annotations

import hashlib
import json
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.http_protocol import UVICORN_HTTP, BodyChunks
from tests.live_server import REPO, free_port


def test_a_lone_chunk_is_handed_on_uncopied() -> None:
    chunk = os.urandom(300_000)
    body = BodyChunks((bytearray(),))
    body += chunk
    assert len(body) == len(chunk)
    assert bytes(body) is chunk


def test_chunks_are_joined_in_order() -> None:
    body = BodyChunks((bytearray(b"ab"),))
    body += b"cd"
    body += b""
    body += b"ef"
    assert len(body) == 6
    assert bytes(body) == b"abcdef"
    assert bytes(BodyChunks()) == b""


@pytest.fixture(scope="module")
def echo_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = free_port()
    log = tmp_path_factory.mktemp("echo") / "uvicorn.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "tests.backend.body_echo_app:app", "--host", "127.0.0.1",
         "--port", str(port), "--http", UVICORN_HTTP, "--log-level", "warning"],
        cwd=REPO, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start: {log.read_text()[-2000:]}") from None
            time.sleep(0.1)
    yield port
    proc.terminate()
    proc.wait(10)


class Connection:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.reader = self.sock.makefile("rb")

    def send(self, data: bytes, pieces: int = 1) -> None:
        """Send `data` in `pieces` writes of random sizes, so the server reads it in odd chunks."""
        cuts = sorted(random.Random(len(data)).sample(range(1, len(data)), pieces - 1)) if pieces > 1 else []
        for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True):
            self.sock.sendall(data[start:end])

    def response(self) -> tuple[int, dict[str, str], bytes]:
        status = int(self.reader.readline().split()[1])
        headers = {}
        while (line := self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        body = self.reader.read(int(headers.get("content-length", "0")))
        return status, headers, body

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


def _request(length: int | None, extra: str = "", path: str = "/") -> bytes:
    framing = f"Content-Length: {length}\r\n" if length is not None else "Transfer-Encoding: chunked\r\n"
    return f"PUT {path} HTTP/1.1\r\nHost: test\r\n{framing}{extra}\r\n".encode()


def _echo(body: bytes) -> dict:  # type: ignore[type-arg]
    return {"sha256": hashlib.sha256(body).hexdigest(), "size": len(body)}


@pytest.mark.parametrize("size", [0, 1, 65_536, 65_537, 3 * 1024 * 1024 + 17])
def test_bodies_of_any_size_arrive_whole(echo_port: int, size: int) -> None:
    body = os.urandom(size)
    conn = Connection(echo_port)
    try:
        conn.send(_request(size) + body, pieces=min(size, 40) or 1)
        status, _, answer = conn.response()
    finally:
        conn.close()
    received = json.loads(answer)
    assert status == 200
    assert {k: received[k] for k in ("sha256", "size")} == _echo(body)
    assert received["bytes"] is True


def test_a_chunked_body_arrives_whole(echo_port: int) -> None:
    parts = [os.urandom(n) for n in (1, 70_000, 5, 300_000, 4096)]
    encoded = b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in parts) + b"0\r\n\r\n"
    conn = Connection(echo_port)
    try:
        conn.send(_request(None) + encoded, pieces=25)
        status, _, answer = conn.response()
    finally:
        conn.close()
    assert status == 200
    assert json.loads(answer)["sha256"] == _echo(b"".join(parts))["sha256"]


def test_a_body_after_100_continue_arrives_whole(echo_port: int) -> None:
    body = os.urandom(1_000_000)
    conn = Connection(echo_port)
    try:
        conn.send(_request(len(body), "Expect: 100-continue\r\n"))
        assert conn.reader.readline().startswith(b"HTTP/1.1 100")
        assert conn.reader.readline() == b"\r\n"
        conn.send(body, pieces=7)
        status, _, answer = conn.response()
    finally:
        conn.close()
    assert status == 200
    assert json.loads(answer)["sha256"] == _echo(body)["sha256"]


def test_pipelined_requests_keep_their_own_bodies(echo_port: int) -> None:
    first, second = os.urandom(500_000), os.urandom(123_457)
    conn = Connection(echo_port)
    try:
        conn.send(_request(len(first)) + first + _request(len(second)) + second, pieces=9)
        answers = [conn.response() for _ in range(2)]
    finally:
        conn.close()
    assert [json.loads(a[2])["sha256"] for a in answers] == [_echo(first)["sha256"], _echo(second)["sha256"]]


def test_a_connection_answered_early_serves_the_next_request(echo_port: int) -> None:
    """An app that answers before reading the body (a size limit): the unread body is skipped, and
    the next request on the same connection still gets exactly its own bytes."""
    unread, body = os.urandom(200_000), os.urandom(77_777)
    conn = Connection(echo_port)
    try:
        conn.send(_request(len(unread), path="/early") + unread)
        status, headers, _ = conn.response()
        assert status == 413
        if headers.get("connection") == "close":  # uvicorn may also close instead; then reconnect
            conn.close()
            conn = Connection(echo_port)
        conn.send(_request(len(body)) + body, pieces=3)
        status, _, answer = conn.response()
    finally:
        conn.close()
    assert status == 200
    assert json.loads(answer)["sha256"] == _echo(body)["sha256"]


def test_serve_runs_uvicorn_with_this_protocol(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import uvicorn

    from backend import cli

    seen: dict[str, object] = {}
    monkeypatch.setenv("REELHOUSE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("REELHOUSE_DATABASE_URL", raising=False)
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: seen.update(kw))
    monkeypatch.setattr(cli.signal, "signal", lambda *a: None)  # serve's SIGTERM handler: not in pytest
    from backend.config import get_settings

    get_settings.cache_clear()
    try:
        cli.serve(host="127.0.0.1", port=free_port(), with_worker=False, reload=False)
    finally:
        get_settings.cache_clear()
    assert seen["http"] == UVICORN_HTTP
