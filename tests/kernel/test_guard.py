"""JSON bodies pass the key check, a size cap and a nesting cap before they are read (backend/guard.py).

Issue 16: a 60 MB `{"snapshots":[{},{},...]}` with no key took the API from 147 MB to 1.7 GB,
because FastAPI reads and parses a body before it solves the key dependency."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from typing import Any

import httpx
import psutil
import pytest

from backend.guard import JSON_MAX_BYTES, json_too_deep
from tests.conftest import Keys
from tests.live_server import Server

SNAPSHOTS = "/api/v1/metrics/snapshots"


def test_nesting_is_measured_without_parsing() -> None:
    assert not json_too_deep(b'{"a": [1, {"b": []}]}', 4)
    assert json_too_deep(b'{"a": [1, {"b": [[]]}]}', 4)
    assert not json_too_deep(b'{"text": "[[[[[[[[ {{{{{{ \\" [[[["}', 2)  # brackets in strings are text
    assert not json_too_deep(b"[" * 10_000, 32)  # unbalanced: the parser reports it
    assert json_too_deep(b"[" * 33 + b"]" * 33, 32) and not json_too_deep(b"[" * 32 + b"]" * 32, 32)
    assert not json_too_deep(json.dumps({"snapshots": [{}] * 100_000}).encode(), 32)


def _asgi_call(app: Any, path: str, headers: dict[str, str], chunks: list[bytes]) -> tuple[int, dict[str, Any], int]:
    """One request straight into the ASGI app; returns the status, the JSON answer and how many body
    messages the application asked for."""
    pulled = 0
    answer: dict[str, Any] = {"status": 0, "body": b""}

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if pulled < len(chunks):
            pulled += 1
            return {"type": "http.request", "body": chunks[pulled - 1], "more_body": pulled < len(chunks)}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    if "content-length" not in headers and "transfer-encoding" not in headers:
        headers = {**headers, "content-length": str(sum(map(len, chunks)))}
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
    }
    asyncio.run(app(scope, receive, send))
    return answer["status"], json.loads(answer["body"]), pulled


@pytest.fixture
def app(app_env, keys):  # type: ignore[no-untyped-def]
    from backend.app import create_app

    return create_app()


def test_no_key_is_refused_before_a_byte_of_body_is_read(app, keys: Keys) -> None:
    chunks = [b'{"snapshots":[', *([b"{}," * 10_000] * 5), b"{}]}"]
    status, problem, pulled = _asgi_call(app, SNAPSHOTS, {"content-type": "application/json"}, chunks)
    assert (status, problem["type"], pulled) == (401, "/problems/unauthorized", 0)
    status, problem, pulled = _asgi_call(
        app, SNAPSHOTS, {"content-type": "application/json", "authorization": "Bearer rh_nope_nope"}, chunks
    )
    assert (status, problem["type"], pulled) == (401, "/problems/unauthorized", 0)


def test_a_body_over_the_limit_is_refused_by_length_or_while_it_streams(app, keys: Keys) -> None:
    auth = {"authorization": f"Bearer {keys.editor}", "content-type": "application/json"}
    big = 2 * JSON_MAX_BYTES
    status, problem, pulled = _asgi_call(app, "/api/v1/tags", {**auth, "content-length": str(big)}, [b"{" * 10])
    assert (status, problem["type"], pulled) == (413, "/problems/body-too-large", 0)
    # Chunked (no Content-Length): counted as it arrives, refused once past the cap.
    chunks = [b'{"name_zh": "' + b"x" * (256 * 1024)] * 16
    status, problem, pulled = _asgi_call(app, "/api/v1/tags", {**auth, "transfer-encoding": "chunked"}, chunks)
    assert (status, problem["type"]) == (413, "/problems/body-too-large")
    assert pulled <= JSON_MAX_BYTES // (256 * 1024) + 1
    # The snapshot batch documents a larger cap: 2 MiB (an empty batch, padded) gets through.
    status, counts, _ = _asgi_call(app, SNAPSHOTS, auth, [b'{"snapshots": []' + b" " * big + b"}"])
    assert (status, counts["inserted"]) == (200, 0)


def test_deep_nesting_is_a_400_and_ordinary_json_passes(app, keys: Keys) -> None:
    auth = {"authorization": f"Bearer {keys.editor}", "content-type": "application/json"}
    deep = b'{"category": "campaign", "name_zh": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    status, problem, _ = _asgi_call(app, "/api/v1/tags", auth, [deep])
    assert (status, problem["type"]) == (400, "/problems/json-too-deep")
    body = json.dumps({"category": "campaign", "name_zh": "[618] {直播} 切片"}, ensure_ascii=False).encode()
    status, tag, _ = _asgi_call(app, "/api/v1/tags", auth, [body[:7], body[7:]])
    assert status == 201 and tag["name_zh"] == "[618] {直播} 切片"


def _rss(server: Server) -> int:
    assert server.proc is not None
    return int(psutil.Process(server.proc.pid).memory_info().rss)


def _post_raw(server: Server, headers: dict[str, str], body_size: int) -> bytes:
    """POST a `{"snapshots":[{},{},...]}` body of `body_size` bytes from a second thread while this one
    reads the answer: the server may answer (and discard the rest) long before the body is sent."""
    head = f"POST {SNAPSHOTS} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + f"Content-Length: {body_size}\r\n\r\n"
    piece = b"{}," * (1024 * 1024 // 3)

    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        def send_body() -> None:
            try:
                sock.sendall(head.encode() + b'{"snapshots":[')
                left = body_size - len(b'{"snapshots":[') - 3
                while left > 0:
                    part = piece[: min(left, len(piece))]
                    sock.sendall(part)
                    left -= len(part)
                sock.sendall(b"{}]}"[: max(0, 3 + left)])
            except OSError:
                pass  # the server answered and closed: what is left is not wanted

        sender = threading.Thread(target=send_body)
        sender.start()
        answer = b""
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
        sender.join(60)
    return answer


def test_a_60_mb_json_body_costs_the_server_no_memory(server: Server, keys: Keys) -> None:
    """Refused without a key (401), or over the cap with one (413): either way the server's resident
    memory grows by less than 40 MB (it grew by ~1.5 GB when the body was parsed before the key check)."""
    size = 60 * 1024 * 1024
    httpx.get(f"{server.url}/api/v1/tags", headers=Keys.auth(keys.editor))  # first-request costs paid
    before = _rss(server)
    assert _post_raw(server, {}, size).startswith(b"HTTP/1.1 401")
    assert _post_raw(server, {"Authorization": f"Bearer {keys.editor}"}, size).startswith(b"HTTP/1.1 413")
    grown = _rss(server) - before
    print(f"\nRSS before {before / 2**20:.0f} MiB, after two 60 MB bodies {(before + grown) / 2**20:.0f} MiB")
    assert grown < 40 * 1024 * 1024, f"the server grew by {grown / 2**20:.0f} MiB"
    assert httpx.get(f"{server.url}/health").status_code == 200
