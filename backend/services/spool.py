"""The spool: where an incoming byte stream lands on local disk before it is inspected and stored.

Bytes are counted against the size limit as they arrive and hashed (SHA-256) on the way to disk.

A request body is spooled in 4 MiB blocks through two reused, page-aligned buffers: while the event
loop fills one, two background threads hash and write the other (`hashlib` and `os.write` release
the GIL). Full blocks are written with O_DIRECT where the filesystem allows it: an upload is
written once and read back only in small parts (the probe), so it skips the page cache. That keeps
a multi-GB upload from pushing everything else out of memory, and costs the server no copy into
the cache. The tail and files on filesystems without O_DIRECT are written through the cache.

A spool file is private to one upload, removed once the upload is ingested or rejected, and
swept by `cleanup_spool` when a crashed request left one behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import hashlib
import mmap
import os
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from backend import errors
from backend.models.types import utcnow

BLOCK_BYTES = 8 * 1024 * 1024  # a multiple of every block size O_DIRECT asks alignment to
READ_CHUNK = 1024 * 1024
_O_DIRECT = getattr(os, "O_DIRECT", 0)

# Per upload, at most one block is being hashed and written at a time, so uploads share these
# threads without reordering anyone's bytes.
_workers = ThreadPoolExecutor(max_workers=8, thread_name_prefix="reelhouse-spool")


@dataclass
class SpooledUpload:
    """Bytes received in full on local disk, with their digest; deleted once ingested or rejected."""

    path: Path
    size: int
    sha256: str

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


class Spooler:
    """Writes a stream to a new spool file, hashing it and enforcing the size limit.

    `count` checks bytes against the limit as they arrive, `update_hash` and `write_bytes` do the
    rest; each may run on its own thread, one block at a time and in order (see `spool_stream`).
    With `direct=True`, blocks that are page-aligned and a multiple of 4 KiB bypass the page cache.
    """

    def __init__(self, spool_dir: Path, max_bytes: int, *, direct: bool = False) -> None:
        spool_dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.path = spool_dir / f"{uuid.uuid4().hex}.part"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        self._direct = False
        if direct and _O_DIRECT:
            try:
                self._fd = os.open(self.path, flags | _O_DIRECT, 0o600)
                self._direct = True
            except OSError as exc:  # tmpfs and some network filesystems refuse O_DIRECT
                if exc.errno != errno.EINVAL:
                    raise
        if not self._direct:
            self._fd = os.open(self.path, flags, 0o600)
        self._hash = hashlib.sha256()
        self.size = 0

    def count(self, n: int) -> None:
        self.size += n
        if self.size > self.max_bytes:
            raise errors.PayloadTooLarge(f"the upload is larger than the limit of {self.max_bytes} bytes")

    def update_hash(self, data: bytes | memoryview) -> None:
        self._hash.update(data)

    def write_bytes(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        if self._direct and len(view) % 4096:
            self._stop_direct()  # the tail: O_DIRECT takes whole blocks only
        while view:
            try:
                view = view[os.write(self._fd, view) :]
            except OSError as exc:
                if not (self._direct and exc.errno == errno.EINVAL):
                    raise
                self._stop_direct()

    def _stop_direct(self) -> None:
        fcntl.fcntl(self._fd, fcntl.F_SETFL, fcntl.fcntl(self._fd, fcntl.F_GETFL) & ~_O_DIRECT)
        self._direct = False

    def write(self, chunk: bytes) -> None:
        self.count(len(chunk))
        self.update_hash(chunk)
        self.write_bytes(chunk)

    def finish(self) -> SpooledUpload:
        os.close(self._fd)
        self._fd = -1
        return SpooledUpload(path=self.path, size=self.size, sha256=self._hash.hexdigest())

    def abort(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self.path.unlink(missing_ok=True)


async def spool_stream(chunks: AsyncIterator[bytes], spool_dir: Path, max_bytes: int) -> SpooledUpload:
    """Spool an async byte stream (a request body).

    Arriving chunks (~64 KiB each from uvicorn) are copied into one of two reused 4 MiB buffers;
    a full buffer is hashed and written on background threads while the other one fills. Two
    hand-offs per 4 MiB instead of two per chunk keep the threads from queueing for the GIL, and
    reusing the buffers keeps the allocator out of it.
    """
    spooler = Spooler(spool_dir, max_bytes, direct=True)
    buffers = (mmap.mmap(-1, BLOCK_BYTES), mmap.mmap(-1, BLOCK_BYTES))  # page-aligned, as O_DIRECT needs
    current, fill = 0, 0
    in_flight: tuple[Future[None], ...] = ()
    try:
        async for chunk in chunks:
            spooler.count(len(chunk))
            view = memoryview(chunk)
            while view:
                n = min(len(view), BLOCK_BYTES - fill)
                buffers[current][fill : fill + n] = view[:n]
                fill += n
                view = view[n:]
                if fill == BLOCK_BYTES:
                    for future in in_flight:  # the previous block: frees the other buffer, keeps order
                        await asyncio.wrap_future(future)
                    block = memoryview(buffers[current])
                    in_flight = (_workers.submit(spooler.update_hash, block), _workers.submit(spooler.write_bytes, block))
                    current, fill = 1 - current, 0
        for future in in_flight:
            await asyncio.wrap_future(future)
        in_flight = ()
        tail = memoryview(buffers[current])[:fill]
        spooler.update_hash(tail)
        spooler.write_bytes(tail)
        return spooler.finish()
    except BaseException:
        # A thread may still be on the last block: let it finish before the file is closed and
        # removed. Blocking (at most one 4 MiB block) keeps this correct under cancellation.
        for future in in_flight:
            with contextlib.suppress(Exception):
                future.result()
        spooler.abort()
        raise
    finally:
        for buffer in buffers:
            with contextlib.suppress(BufferError):
                buffer.close()


def spool_file(source: BinaryIO, spool_dir: Path, max_bytes: int) -> SpooledUpload:
    """Spool a readable binary file object, in the caller's thread."""
    spooler = Spooler(spool_dir, max_bytes)
    try:
        while chunk := source.read(READ_CHUNK):
            spooler.write(chunk)
        return spooler.finish()
    except BaseException:
        spooler.abort()
        raise


def cleanup_spool(spool_dir: Path, older_than_seconds: float = 24 * 3600) -> int:
    """Remove spool files left by crashed requests."""
    if not spool_dir.exists():
        return 0
    removed = 0
    now = utcnow().timestamp()
    for entry in spool_dir.iterdir():
        try:
            if entry.is_file() and now - entry.stat().st_mtime > older_than_seconds:
                entry.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed
