"""Moving a streamed request body to disk fast: block buffers, work on threads, O_DIRECT.

Both upload paths (the simple upload's spool and tus PATCHes) receive a body as an async stream of
~64-256 KiB chunks from uvicorn, and must hash and write every byte. `stream_blocks` copies the
chunks into a ring of reused, page-aligned buffers of `BLOCK_BYTES`; each consumer (a hash, the file
write) works through the filled blocks in order on a pool thread (`_Lane`) while the event loop
fills the next. `hashlib`, OpenSSL through ctypes and `os.write` all release the GIL, so on two
cores receiving, hashing and writing overlap, and the ring lets the loop keep receiving while the
slowest consumer (an O_DIRECT write, the hash) catches up. Hand-offs per block instead of per chunk
keep the threads from queueing for the GIL, and reusing the buffers keeps the allocator out of the
way. When the body's length is known, blocks taper towards its end, so that once the last byte is
in, only small blocks are left to hash and write before the request can answer.

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
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from pathlib import Path

BLOCK_BYTES = 8 * 1024 * 1024  # multiples of every alignment O_DIRECT asks for
# A tus PATCH is typically 5-8 MiB: with blocks that large its hash could only start once its last
# byte is in, and the response would wait for all of it. Smaller blocks keep pace with the body.
PATCH_BLOCK_BYTES = 2 * 1024 * 1024
ALIGNMENT = 4096
# When the body's length is known, the blocks near its end shrink to this size: the hash and write of
# the last ones are all that is left once the last byte is in (~0.3 ms instead of 1.2-5 ms).
FINAL_BLOCK_BYTES = 256 * 1024
_O_DIRECT = getattr(os, "O_DIRECT", 0)
# Blocks a body may have filled ahead of its slowest consumer.
RING_BLOCKS = 4

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


# Two bodies' worth of buffers of each size stay allocated between requests (at most 8 x 8 MiB + 8 x 2 MiB).
_buffers = _BufferPool(keep=2 * RING_BLOCKS)


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


class _Lane:
    """One consumer's share of a body: its blocks run on the pool one at a time, in order, each as
    soon as the one before is done. After a failure (or a block cancelled before it ran) the blocks
    behind it fail with the same error: a consumer never sees a gap."""

    def __init__(self, consumer: Consumer) -> None:
        self._consumer = consumer
        self._lock = threading.Lock()
        self._queue: deque[tuple[memoryview, Future[None]]] = deque()
        self._running = False
        self._failed: BaseException | None = None

    def push(self, block: memoryview) -> Future[None]:
        done: Future[None] = Future()
        with self._lock:
            self._queue.append((block, done))
            if self._running:
                return done
            self._running = True
        _workers.submit(self._drain)
        return done

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._running = False
                    return
                block, done = self._queue.popleft()
            if not done.set_running_or_notify_cancel():  # its request was cancelled while it waited
                self._failed = self._failed or CancelledError("an earlier block of this body was cancelled")
                continue
            if self._failed is not None:  # never a block after a gap
                done.set_exception(self._failed)
                continue
            try:
                self._consumer(block)
            except BaseException as exc:  # noqa: BLE001 - handed to whoever waits for the block
                self._failed = exc
                done.set_exception(exc)
            else:
                done.set_result(None)


async def stream_blocks(
    chunks: AsyncIterator[bytes],
    consumers: Sequence[Consumer],
    count: Callable[[int], None],
    *,
    block_bytes: int | None = None,
    expected_bytes: int | None = None,
) -> None:
    """Feed a body to `consumers` in order, block by block; return when every byte was consumed.

    The event loop copies chunks into a ring of `RING_BLOCKS` buffers; each consumer works through
    the filled blocks in order on a thread (`_Lane`), so receiving only waits when it has come a
    whole ring ahead of the slowest consumer. With `expected_bytes` (the declared length), the
    blocks taper towards the end of the body, so that once its last byte is in only small blocks
    are left to hash and write.

    `count(n)` sees each chunk's size as it arrives, before any of it is consumed, and may raise
    (a size limit). If the body itself breaks off (the iterator raises), the bytes received so far
    are still consumed before the error propagates, so a resumable upload keeps them. On any
    error, no consumer is still running when this returns.
    """
    size = block_bytes or BLOCK_BYTES
    buffers = [_buffers.take(size) for _ in range(RING_BLOCKS)]  # page-aligned, as O_DIRECT needs
    lanes = [_Lane(consumer) for consumer in consumers]
    pending: list[list[Future[None]]] = [[] for _ in buffers]  # per buffer: its block's consumers
    current, fill = 0, 0
    consumed = 0  # bytes in the blocks handed to consumers so far

    def capacity() -> int:
        """How many bytes the block being filled takes: at most half of what is left of a body of
        known length (aligned, down to FINAL_BLOCK_BYTES), else a whole buffer."""
        remaining = None if expected_bytes is None else expected_bytes - consumed
        if remaining is None or remaining <= FINAL_BLOCK_BYTES:
            return size
        return min(size, max(FINAL_BLOCK_BYTES, remaining // 2 // ALIGNMENT * ALIGNMENT))

    cap = capacity()

    async def settle(index: int) -> None:
        """Wait until every consumer is done with the block in buffer `index`."""
        futures = pending[index]
        # Popped only once done: a cancellation mid-await leaves it for the `finally` to wait on.
        while futures:
            await asyncio.wrap_future(futures[0])
            futures.pop(0)

    def hand_over(length: int) -> None:
        block = memoryview(buffers[current])[:length]
        pending[current] = [lane.push(block) for lane in lanes]

    async def consume_rest() -> None:
        if fill:
            hand_over(fill)
        for index in range(len(buffers)):
            await settle(index)

    try:
        iterator = chunks.__aiter__()
        while True:
            try:
                chunk = await iterator.__anext__()
            except StopAsyncIteration:
                break
            except Exception:
                await consume_rest()
                raise
            count(len(chunk))
            view = memoryview(chunk)
            while view:
                n = min(len(view), cap - fill)
                buffers[current][fill : fill + n] = view[:n]
                fill += n
                view = view[n:]
                if fill == cap:
                    hand_over(cap)
                    consumed += cap
                    current, fill = (current + 1) % len(buffers), 0
                    await settle(current)  # the next buffer: free once its last block is consumed
                    cap = capacity()
        await consume_rest()
    finally:
        # After an error or a cancellation threads may still be on the last blocks: wait for them
        # (at most a ring's work), blocking, so that no thread reads a buffer handed back to the
        # pool and the caller can close, truncate or remove the file safely.
        for futures in pending:
            for future in futures:
                with contextlib.suppress(BaseException):
                    future.result()
        for buffer in buffers:
            _buffers.give(buffer)
