"""The spool: where an incoming byte stream lands on local disk before it is inspected and stored.

Bytes are counted against the size limit as they arrive, hashed (SHA-256) and written on the way;
a request body goes through `blockio.stream_blocks` (hash and write on threads, O_DIRECT).

A spool file is private to one upload, removed once the upload is ingested or rejected, and
swept by `cleanup_spool` when a crashed request left one behind.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from backend import errors
from backend.sqltypes import utcnow
from backend.uploads.blockio import AppendFile, stream_blocks

READ_CHUNK = 1024 * 1024


@dataclass
class SpooledUpload:
    """Bytes received in full on local disk, with their digest; deleted once ingested or rejected."""

    path: Path
    size: int
    sha256: str

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


class SpoolWatcher(Protocol):
    """Told where a new spool file is (`started`) and, after each write, how many bytes of it are
    on disk (`written`): the upload endpoints let the media inspector read the file as it grows."""

    def started(self, path: Path) -> None: ...

    def written(self, total_bytes: int) -> None: ...


class Spooler:
    """Writes a stream to a new spool file, hashing it and enforcing the size limit.

    `count` checks bytes against the limit as they arrive, `update_hash` and `write_bytes` do the
    rest (each may run on a thread of its own, one block at a time and in order).
    """

    def __init__(
        self, spool_dir: Path, max_bytes: int, *, direct: bool = False, watcher: SpoolWatcher | None = None
    ) -> None:
        spool_dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.path = spool_dir / f"{uuid.uuid4().hex}.part"
        self._file = AppendFile(self.path, exclusive=True, direct=direct)
        self._hash = hashlib.sha256()
        self._watcher = watcher
        self.size = 0
        self.written = 0
        if watcher is not None:
            try:
                watcher.started(self.path)
            except BaseException:
                self.abort()
                raise

    @property
    def direct(self) -> bool:
        return self._file.direct

    def count(self, n: int) -> None:
        self.size += n
        if self.size > self.max_bytes:
            raise errors.PayloadTooLarge(f"the upload is larger than the limit of {self.max_bytes} bytes")

    def update_hash(self, data: bytes | memoryview) -> None:
        self._hash.update(data)

    def write_bytes(self, data: bytes | memoryview) -> None:
        self._file.write(data)
        self.written += len(data)
        if self._watcher is not None:
            self._watcher.written(self.written)

    def write(self, chunk: bytes) -> None:
        self.count(len(chunk))
        self.update_hash(chunk)
        self.write_bytes(chunk)

    def finish(self) -> SpooledUpload:
        self._file.close()
        return SpooledUpload(path=self.path, size=self.size, sha256=self._hash.hexdigest())

    def abort(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)


async def spool_stream(
    chunks: AsyncIterator[bytes],
    spool_dir: Path,
    max_bytes: int,
    *,
    direct: bool = True,
    watcher: SpoolWatcher | None = None,
    expected_bytes: int | None = None,
) -> SpooledUpload:
    """Spool an async byte stream (a request body): hashed and written on threads (with O_DIRECT
    unless `direct` is false), reporting progress to `watcher` if given. `expected_bytes`, the
    declared length, lets the blocks near the end be small (`blockio.stream_blocks`)."""
    spooler = Spooler(spool_dir, max_bytes, direct=direct, watcher=watcher)
    try:
        await stream_blocks(
            chunks, (spooler.update_hash, spooler.write_bytes), spooler.count, expected_bytes=expected_bytes
        )
    except BaseException:
        spooler.abort()
        raise
    return spooler.finish()


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
