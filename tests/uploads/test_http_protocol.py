"""backend/http_protocol.py: request bodies through uvicorn with `BodyChunksProtocol` (as
`reelhouse serve` runs) arrive whole and in order, for every way a client sends them."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from backend.http_protocol import UVICORN_HTTP, BodyChunks, BodyChunksProtocol
from tests.live_server import REPO, free_port


def test_a_lone_chunk_is_handed_on_uncopied() -> None:
    chunk = os.urandom(300_000)
    body = BodyChunks()
    body += chunk
    assert len(body) == len(chunk)
    assert bytes(body) is chunk


def test_chunks_are_joined_in_order() -> None:
    pieces = [os.urandom(n) for n in (20_000, 3, 0, 5, 70_000, 1)]
    body = BodyChunks()
    for piece in pieces:
        body += piece
    assert len(body) == sum(map(len, pieces))
    assert bytes(body) == b"".join(pieces) and type(bytes(body)) is bytes
    assert bytes(BodyChunks()) == b""


def test_tiny_pieces_are_gathered_not_kept_one_by_one() -> None:
    """A chunked body sent a byte at a time: one bytearray, not one object per byte."""
    body = BodyChunks()
    for _ in range(70_000):
        body += b"x"
    assert len(body) == 70_000 and bytes(body) == b"x" * 70_000
    assert len(body._parts) == 1  # noqa: SLF001


class _Transport(asyncio.Transport):
    """Just enough of a socket transport for uvicorn's protocol, recording what it is asked to do."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.paused = False
        self.closed = False

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def write(self, data: bytes) -> None:  # type: ignore[override]
        self.written += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False


def test_the_protocol_hands_the_parsers_chunk_to_the_app_uncopied() -> None:
    """Driven in-process, chunk by chunk: a chunk read alone reaches the app as the very object the
    parser made (uvicorn's own protocol would copy it twice), chunks read while the app was busy are
    joined once, and flow control still pauses reading past 64 KiB."""
    from uvicorn.config import Config
    from uvicorn.server import ServerState

    parsed: list[bytes] = []
    messages: list[dict] = []  # type: ignore[type-arg]

    class Recording(BodyChunksProtocol):
        def on_body(self, body: bytes) -> None:
            parsed.append(body)
            super().on_body(body)

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        while True:
            messages.append(await receive())
            if not messages[-1].get("more_body"):
                break
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def until(condition) -> None:  # type: ignore[no-untyped-def]
        for _ in range(1000):
            if condition():
                return
            await asyncio.sleep(0)
        raise AssertionError("the app did not get there")

    async def scenario() -> _Transport:
        config = Config(app=app, lifespan="off", log_level="warning")
        config.load()
        protocol = Recording(config=config, server_state=ServerState(), app_state={}, _loop=asyncio.get_running_loop())
        transport = _Transport()
        protocol.connection_made(transport)
        first, second, third = os.urandom(100_000), os.urandom(100), os.urandom(70_000)
        total = len(first) + len(second) + len(third)
        protocol.data_received(f"PUT / HTTP/1.1\r\nHost: t\r\nContent-Length: {total}\r\n\r\n".encode() + first)
        assert transport.paused  # more than 64 KiB waiting for the app
        await until(lambda: len(messages) == 1)
        assert messages[0]["body"] is parsed[0]
        protocol.data_received(second)
        protocol.data_received(third)  # two chunks before the app asks again
        await until(lambda: transport.written)  # the app has read the rest and answered
        assert len(messages) == 2 and messages[1]["body"] == second + third and messages[1]["more_body"] is False
        assert b"".join(m["body"] for m in messages) == first + second + third
        protocol.connection_lost(None)
        return transport

    transport = asyncio.run(scenario())
    assert transport.written.startswith(b"HTTP/1.1 204")


@pytest.fixture(scope="module")
def echo_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = free_port()
    log = tmp_path_factory.mktemp("echo") / "uvicorn.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "tests.uploads.body_echo_app:app", "--host", "127.0.0.1",
             "--port", str(port), "--http", UVICORN_HTTP, "--log-level", "warning"],
            cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
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
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


class Connection:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.reader = self.sock.makefile("rb")

    def send(self, data: bytes, pieces: int = 1) -> None:
        """Send `data` in `pieces` writes of random sizes (loopback may still merge them into fewer reads)."""
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


def test_serve_runs_uvicorn_with_this_protocol(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    from backend import cli

    seen: dict[str, object] = {}
    monkeypatch.setattr(cli, "migrate_database", lambda: None)
    monkeypatch.setattr(cli, "_first_admin_key", lambda: None)
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: seen.update(kw))
    monkeypatch.setattr(cli.signal, "signal", lambda *a: None)  # serve's SIGTERM handler: not in pytest
    cli.serve(host="127.0.0.1", port=8000, with_worker=False, reload=False)
    assert seen["http"] == UVICORN_HTTP
