"""uvicorn's httptools protocol, with request bodies handed on without being copied twice.

For each chunk read from the socket, uvicorn appends the bytes to a `bytearray` and `receive()`
turns that into a new `bytes`: two copies of every byte on the event loop, which also receives,
parses and feeds the upload's hash and write (backend/services/blockio.py). On a 2-core machine the
loop is what limits an upload: without the copies it uses 10-15 % less CPU per GiB, and in paired
runs a 1 GiB upload ran ~5 % faster, tus PATCHes of 8 MiB ~3-4 % (bench/RESULTS.md).

`BodyChunksProtocol` keeps the chunks as they came: one chunk (the usual case) reaches the app as
the very `bytes` object the parser made; several are joined once. Everything else (flow control,
100-continue, pipelining, disconnects) is uvicorn's own code. `reelhouse serve` runs with it; to run
uvicorn by hand the same way, pass `--http backend.http_protocol:BodyChunksProtocol` (`UVICORN_HTTP`).
It leans on how uvicorn's request cycle treats its body buffer (see `BodyChunks`), so pyproject.toml
bounds uvicorn's version, and tests/uploads/test_http_protocol.py checks it against the installed one.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

UVICORN_HTTP = "backend.http_protocol:BodyChunksProtocol"
# Pieces smaller than this (a chunked body sent in tiny chunks) are gathered in one bytearray instead:
# kept one object each, they would cost ~50 bytes of memory per byte of body.
SMALL_PIECE = 16 * 1024


class BodyChunks:
    """What uvicorn's request cycle keeps as `body`: it only ever does `body += data`, `len(body)`
    and `bytes(body)`, then starts again with a fresh, empty `bytearray()`."""

    __slots__ = ("_parts", "_size")

    def __init__(self) -> None:
        self._parts: list[bytes | bytearray] = []
        self._size = 0

    def __iadd__(self, data: bytes) -> BodyChunks:
        size = len(data)
        if size >= SMALL_PIECE:
            self._parts.append(data if type(data) is bytes else bytes(data))
        elif size:
            if not self._parts or type(self._parts[-1]) is not bytearray:
                self._parts.append(bytearray())
            self._parts[-1] += data
        self._size += size
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
            held = bytes(cycle.body)  # always empty in the uvicorn versions allowed; kept if not
            cycle.body = BodyChunks()
            cycle.body += held
        super().on_body(body)
