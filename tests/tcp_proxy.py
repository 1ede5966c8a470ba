"""A TCP proxy on loopback for fault tests: put it between reelhouse and PostgreSQL, then stall,
cut or refuse the connections as a database restart (or a network failure) would."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.refusing = False  # new connections are closed at once, as by a database that is down
        self.bytes_from_server = 0  # what clients received through the proxy (e.g. bytes an S3 read fetched)
        self._stalled = asyncio.Event()  # set: bytes are held back, as by a hung server
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, from_server: bool = False
    ) -> None:
        try:
            while data := await reader.read(65536):
                while self._stalled.is_set():
                    await asyncio.sleep(0.01)
                if from_server:
                    self.bytes_from_server += len(data)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if self.refusing:
            client_w.close()
            return
        try:
            server_r, server_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.close()
            return
        self._writers |= {client_w, server_w}
        await asyncio.gather(self._pipe(client_r, server_w), self._pipe(server_r, client_w, from_server=True))
        self._writers -= {client_w, server_w}

    def start(self) -> None:
        self._thread.start()
        server = asyncio.run_coroutine_threadsafe(asyncio.start_server(self._serve, "127.0.0.1", 0), self._loop).result(10)
        self.port = server.sockets[0].getsockname()[1]

    def _call(self, fn) -> None:  # type: ignore[no-untyped-def]
        async def run() -> None:
            fn()

        asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    def stall(self) -> None:
        self._call(self._stalled.set)

    def cut(self) -> None:
        """Close every open connection (both sides) and let bytes flow again for new ones."""

        def close_all() -> None:
            for writer in list(self._writers):
                writer.transport.abort()  # RST, as when the server process dies
            self._writers.clear()
            self._stalled.clear()

        self._call(close_all)

    def stop(self) -> None:
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@contextmanager
def tcp_proxy(host: str, port: int) -> Iterator[TcpProxy]:
    proxy = TcpProxy(host, port)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
