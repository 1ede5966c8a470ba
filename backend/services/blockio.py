"""Moving a streamed request body to disk fast: block buffers, work on threads, O_DIRECT.

Both upload paths (the simple upload's spool and tus PATCHes) receive a body as an async stream of
~64-256 KiB chunks from uvicorn, and must hash and write every byte. `stream_blocks` copies the
chunks into two reused, page-aligned buffers of `BLOCK_BYTES`; while the event loop fills one, each
consumer (a hash, the file write) works on the other on a pool thread of its own. `hashlib`,
OpenSSL through ctypes and `os.write` all release the GIL, so on two cores receiving, hashing and
writing overlap. Two hand-offs per block instead of per chunk keep the threads from queueing for
the GIL, and reusing the buffers keeps the allocator out of the way.

`AppendFile` writes whole blocks with O_DIRECT where the filesystem takes it: an upload is written
once and read back only in small parts (the probe), so it skips the page cache. A multi-GB upload
then neither evicts everything else from memory nor costs the server a copy into the cache, and
its final fsync has little left to do. Unaligned writes (the tail of a body, an append at an odd
offset) go through the page cache, as do files on filesystems that refuse O_DIRECT (tmpfs, some
network filesystems).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import mmap
import os
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

BLOCK_BYTES = 8 * 1024 * 1024  # multiples of every alignment O_DIRECT asks for
# A tus PATCH is typically 5-8 MiB: with blocks that large its hash could only start once its last
# byte is in, and the response would wait for all of it. Smaller blocks keep pace with the body.
PATCH_BLOCK_BYTES = 2 * 1024 * 1024
ALIGNMENT = 4096
# When the body's length is known, its last block is cut to about this size: the hash and write of
# the last block are all that is left to do once the last byte is in (0.15 ms instead of 1.2-5 ms).
FINAL_BLOCK_BYTES = 256 * 1024
_O_DIRECT = getattr(os, "O_DIRECT", 0)

# Per body, each consumer works on at most one block at a time, so bodies share these threads
# without anyone's bytes being reordered.
_workers = ThreadPoolExecutor(max_workers=8, thread_name_prefix="reelhouse-blockio")

Consumer = Callable[[memoryview], object]


class _BufferPool:
    """Page-aligned buffers kept for reuse: a tus upload sends one request per chunk, and fresh
    anonymous memory for each would be faulted in page by page, every time."""

    def __init__(self, keep: int) -> None:
        self._keep = keep
        self._free: dict[int, list[mmap.mmap]] = {}
        self._lock = threading.Lock()

    def take(self, size: int) -> mmap.mmap:
        with self._lock:
            free = self._free.get(size)
            if free:
                return free.pop()
        return mmap.mmap(-1, size)

    def give(self, buffer: mmap.mmap) -> None:
        with self._lock:
            free = self._free.setdefault(len(buffer), [])
            if len(free) < self._keep:
                free.append(buffer)
                return
        with contextlib.suppress(BufferError):  # a consumer kept a view; the GC frees it later
            buffer.close()


# Two bodies' worth of buffers of each size stay allocated between requests (at most 4 x 8 MiB + 4 x 2 MiB).
_buffers = _BufferPool(keep=4)


class AppendFile:
    """A file opened for writing at one position, with O_DIRECT while writes stay aligned.

    `exclusive=True` creates a new file (fails if it exists); otherwise the file is opened (created
    if missing) and writing starts at `position`.
    """

    def __init__(self, path: Path, *, exclusive: bool = False, position: int = 0, direct: bool = True) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_EXCL if exclusive else 0)
        self.path = path
        self.direct = False
        if direct and _O_DIRECT and position % ALIGNMENT == 0:
            try:
                self.fd = os.open(path, flags | _O_DIRECT, 0o600)
                self.direct = True
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
        if not self.direct:
            self.fd = os.open(path, flags, 0o600)
        if position:
            os.lseek(self.fd, position, os.SEEK_SET)

    def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        if self.direct and len(view) % ALIGNMENT:
            self._stop_direct()  # a tail: O_DIRECT takes whole blocks only
        while view:
            try:
                view = view[os.write(self.fd, view) :]
            except OSError as exc:
                if not (self.direct and exc.errno == errno.EINVAL):
                    raise
                self._stop_direct()

    def _stop_direct(self) -> None:
        fcntl.fcntl(self.fd, fcntl.F_SETFL, fcntl.fcntl(self.fd, fcntl.F_GETFL) & ~_O_DIRECT)
        self.direct = False

    def truncate(self, size: int) -> None:
        os.ftruncate(self.fd, size)
        os.lseek(self.fd, size, os.SEEK_SET)

    def fsync(self) -> None:
        os.fsync(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> AppendFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def stream_blocks(
    chunks: AsyncIterator[bytes],
    consumers: Sequence[Consumer],
    count: Callable[[int], None],
    *,
    block_bytes: int | None = None,
    expected_bytes: int | None = None,
) -> None:
    """Feed a body to `consumers` in order, block by block; return when every byte was consumed.

    `count(n)` sees each chunk's size as it arrives, before any of it is consumed, and may raise
    (a size limit). If the body itself breaks off (the iterator raises), the bytes received so far
    are still consumed before the error propagates, so a resumable upload keeps them. On any
    error, no consumer is still running when this returns. `expected_bytes` (the declared length,
    if any) only shapes the blocks: the one before the last ends early, aligned, so that the last
    is about `FINAL_BLOCK_BYTES`.
    """
    size = block_bytes or BLOCK_BYTES
    buffers = (_buffers.take(size), _buffers.take(size))  # page-aligned, as O_DIRECT needs
    current, fill = 0, 0
    consumed = 0  # bytes in the blocks handed to consumers so far
    in_flight: list[Future[object]] = []

    def capacity() -> int:
        """How many bytes the block being filled takes."""
        if expected_bytes is None or FINAL_BLOCK_BYTES >= size:
            return size
        cut = (expected_bytes - consumed - FINAL_BLOCK_BYTES) // ALIGNMENT * ALIGNMENT
        return cut if 0 < cut < size else size  # not cut: a full block, or the last one

    cap = capacity()

    async def settle() -> None:
        # Popped only once done: a cancellation mid-await leaves it for the `finally` to wait on.
        while in_flight:
            await asyncio.wrap_future(in_flight[0])
            in_flight.pop(0)

    async def consume_tail() -> None:
        if fill:
            tail = memoryview(buffers[current])[:fill]
            in_flight.extend(_workers.submit(consumer, tail) for consumer in consumers)
        await settle()

    try:
        iterator = chunks.__aiter__()
        while True:
            try:
                chunk = await iterator.__anext__()
            except StopAsyncIteration:
                break
            except Exception:
                await settle()
                await consume_tail()
                raise
            count(len(chunk))
            view = memoryview(chunk)
            while view:
                n = min(len(view), cap - fill)
                buffers[current][fill : fill + n] = view[:n]
                fill += n
                view = view[n:]
                if fill == cap:
                    await settle()  # the previous block: frees the other buffer, keeps the order
                    block = memoryview(buffers[current])[:cap]
                    in_flight.extend(_workers.submit(consumer, block) for consumer in consumers)
                    consumed += cap
                    current, fill = 1 - current, 0
                    cap = capacity()
        await settle()
        await consume_tail()
    finally:
        # After an error or a cancellation a thread may still be on the last block: wait for it
        # (at most one block's work), blocking, so that no thread reads a buffer handed back to the
        # pool and the caller can close, truncate or remove the file safely.
        for future in in_flight:
            with contextlib.suppress(Exception):
                future.result()
        for buffer in buffers:
            _buffers.give(buffer)
