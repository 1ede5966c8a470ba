"""The spool: where a request body lands on local disk before it is inspected and stored.

`receive` is the one way a body reaches disk, for the simple upload and for tus PATCHes: counted
against a limit as it arrives, hashed and written on worker threads in batches of about 1 MiB while
the next batch arrives. A full disk is a 507 problem (`storage-full`), never a half-written file.
A spool file's writer holds an flock on it until it is ingested or removed; `cleanup_spool` removes
the files nobody holds (their request died with its process), at start-up and from the hourly sweep.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import anyio
import anyio.to_thread

from backend import errors

READ_CHUNK = 1024 * 1024
BATCH_BYTES = 1024 * 1024  # per hand-off to the threads: amortises the hop, bounds memory to ~2 MiB a body
FRESH_SECONDS = 10.0  # cleanup_spool leaves younger files alone: their writer may not have locked them yet

# A body's batch is written and hashed before the next is handed over, so bytes are never reordered.
_workers = ThreadPoolExecutor(max_workers=8, thread_name_prefix="reelhouse-receive")


def write_all(fd: int, data: bytes | memoryview) -> None:
    """os.write until all of `data` is written; a full disk raises StorageFull."""
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view) :]
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            raise errors.StorageFull(key="storage-full", params={"reason": os.strerror(exc.errno or 0)}) from exc
        raise


async def receive(
    chunks: AsyncIterator[bytes], fd: int, hashers: list[Any], limit: int, *, interrupted: type[BaseException] | tuple[()] = ()
) -> int:
    """Write a body to `fd` at its position, updating each of `hashers`; return the bytes written.

    Past `limit` bytes it is refused (PayloadTooLarge) before any excess is written. If the stream
    raises `interrupted` (a client gone mid-body), what arrived before is still written and hashed.
    On any error no thread is still writing when this returns, so the caller may truncate or remove
    the file.
    """
    received = batched = 0
    batch: list[bytes] = []
    pending: list[Future[Any]] = []

    def write(data: bytes) -> None:
        at = os.lseek(fd, 0, os.SEEK_CUR)
        write_all(fd, data)
        # Start writing the batch to disk now: left dirty in the page cache, a large upload's bytes
        # would all be written by the fsync that stores it, after the last byte arrived (~0.5 s per
        # GB here, bench/RESULTS.md). Pages still being written stay cached.
        os.posix_fadvise(fd, at, len(data), os.POSIX_FADV_DONTNEED)

    async def hand_over() -> None:
        nonlocal pending, batched
        data, batched = b"".join(batch), 0  # (one copy: a growing bytearray costs four times the CPU)
        batch.clear()
        await _settled(pending)
        # The write and each hash on threads of their own (hashlib and os.write release the GIL).
        pending = [_workers.submit(write, data), *(_workers.submit(h.update, data) for h in hashers)]

    try:
        try:
            async for chunk in chunks:
                received += len(chunk)
                if received > limit:
                    raise errors.PayloadTooLarge(key="body-over-limit", params={"limit": limit})
                batch.append(chunk)
                batched += len(chunk)
                if batched >= BATCH_BYTES:
                    await hand_over()
        except interrupted:
            await hand_over()  # keep what arrived before the cut
            raise
        await hand_over()
        await _settled(pending)
        return received
    finally:
        wait(pending)  # blocks for at most one batch: no thread outlives the request


async def _settled(futures: list[Future[Any]]) -> None:
    """Wait for a batch's work without blocking the loop; re-raise its first error."""
    if not all(f.done() for f in futures):
        await anyio.to_thread.run_sync(wait, futures)
    for future in futures:
        future.result()


@dataclass
class SpooledUpload:
    """Bytes received in full on local disk, with their digest; `fd` (if set) holds the file's flock."""

    path: Path
    size: int
    sha256: str
    fd: int = -1

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
        self.release()

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def new_spool_file(spool_dir: Path) -> tuple[Path, int]:
    """Create a spool file, locked for its writer; returns its path and a writable fd."""
    spool_dir.mkdir(parents=True, exist_ok=True)
    path = spool_dir / f"{uuid.uuid4().hex}.part"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return path, fd


async def spool_stream(chunks: AsyncIterator[bytes], spool_dir: Path, max_bytes: int) -> SpooledUpload:
    """Spool an async byte stream (a request body) to a new file, hashed on the way."""
    (path, fd), hasher = new_spool_file(spool_dir), hashlib.sha256()
    try:
        size = await receive(chunks, fd, [hasher], max_bytes)
    except BaseException:
        SpooledUpload(path, 0, "", fd).discard()
        raise
    return SpooledUpload(path=path, size=size, sha256=hasher.hexdigest(), fd=fd)


def spool_file(source: BinaryIO, spool_dir: Path, max_bytes: int) -> SpooledUpload:
    """Spool a readable binary file object (the CLI, a render's output) in the caller's thread, hashed
    on the way. Plain blocking code, not `spool_stream` under a loop of its own: the caller's thread may
    already run an event loop, where starting another fails."""
    (path, fd), hasher = new_spool_file(spool_dir), hashlib.sha256()
    size = 0
    try:
        while chunk := source.read(READ_CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise errors.PayloadTooLarge(key="body-over-limit", params={"limit": max_bytes})
            hasher.update(chunk)
            write_all(fd, chunk)
    except BaseException:
        SpooledUpload(path, 0, "", fd).discard()
        raise
    return SpooledUpload(path=path, size=size, sha256=hasher.hexdigest(), fd=fd)


def _unheld(path: Path) -> bool:
    """True if no process holds `path`'s flock (its writer is gone)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
    except OSError:
        return False
    return True


def cleanup_spool(spool_dir: Path) -> int:
    """Remove every `.part` nobody holds and previews whose spool file is gone or unheld (what
    requests that died with their process left). Safe while other uploads run."""
    removed, now = 0, time.time()
    for entry in spool_dir.iterdir() if spool_dir.exists() else ():
        part = entry if entry.suffix == ".part" else spool_dir / f"{entry.name.split('.', 1)[0]}.part"
        with contextlib.suppress(FileNotFoundError):  # removed meanwhile (ingested, or by another sweep)
            if entry.is_file() and now - entry.stat().st_mtime >= FRESH_SECONDS and (not part.exists() or _unheld(part)):
                entry.unlink()
                removed += 1
    return removed
