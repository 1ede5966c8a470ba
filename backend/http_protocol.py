"""uvicorn's httptools protocol, with request bodies handed on without being copied twice.

For each chunk read from the socket, uvicorn appends the bytes to a `bytearray` and `receive()`
turns that into a new `bytes`: two copies of every byte on the event loop, which also receives,
parses and feeds the upload's hash and write (backend/services/blockio.py). On a 2-core machine the
loop is what limits a tus PATCH of 8 MiB: without the copies it uses ~15 % less CPU per GiB and a
PATCH takes ~1 ms less (bench/RESULTS.md).

`BodyChunksProtocol` keeps the chunks as they came: one chunk (the usual case) reaches the app as
the very `bytes` object the parser made; several are joined once. Everything else (flow control,
100-continue, pipelining, disconnects) is uvicorn's own code. `reelhouse serve` runs with it; to run
uvicorn by hand the same way, pass `--http backend.http_protocol:BodyChunksProtocol` (`UVICORN_HTTP`).
It leans on how uvicorn's request cycle treats its body buffer (see `BodyChunks`);
tests/backend/test_http_protocol.py checks bodies of every shape against the installed uvicorn.
"""

from __future__ import annotations

from collections.abc import Iterable

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

UVICORN_HTTP = "backend.http_protocol:BodyChunksProtocol"


class BodyChunks:
    """What uvicorn's request cycle keeps as `body`: it only ever does `body += data`, `len(body)`
    and `bytes(body)`, then starts again with a fresh `bytearray()`."""

    __slots__ = ("_parts", "_size")

    def __init__(self, parts: Iterable[bytes] = ()) -> None:
        self._parts = [bytes(p) for p in parts if p]
        self._size = sum(len(p) for p in self._parts)

    def __iadd__(self, data: bytes) -> BodyChunks:
        if data:
            self._parts.append(data)
            self._size += len(data)
        return self

    def __len__(self) -> int:
        return self._size

    def __bytes__(self) -> bytes:
        # bytes.join returns a lone `bytes` part itself, uncopied.
        return b"".join(self._parts)


class BodyChunksProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with `BodyChunks` as each request cycle's body buffer."""

    def on_body(self, body: bytes) -> None:
        cycle = self.cycle
        if cycle is not None and not isinstance(cycle.body, BodyChunks):
            cycle.body = BodyChunks((cycle.body,))
        super().on_body(body)
