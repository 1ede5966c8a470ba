"""The spool and the one receive path (backend/uploads/spool.py): bytes land whole with their
SHA-256, the limit holds while they stream, and nothing of a refused or broken body stays."""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import random
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backend import errors
from backend.uploads import spool

BLOCK = 64 * 1024


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spool, "BATCH_BYTES", BLOCK)  # several hand-offs per body, quickly


async def _chunks(data: bytes, sizes: list[int], fail_at: int | None = None) -> AsyncIterator[bytes]:
    pos = 0
    for size in sizes:
        if fail_at is not None and pos >= fail_at:
            raise ConnectionResetError("client went away")
        yield data[pos : pos + size]
        pos += size
        await asyncio.sleep(0)


def _cut(total: int, rng: random.Random) -> list[int]:
    sizes = []
    while total > 0:
        size = min(total, rng.choice([1, 7, 4095, 4096, 65536, 65537, 3 * BLOCK + 11]))
        sizes.append(size)
        total -= size
    return sizes


@pytest.mark.parametrize("total", [0, 1, BLOCK - 1, BLOCK, 2 * BLOCK, 7 * BLOCK + 12345])
def test_stream_lands_byte_for_byte_with_its_sha256(tmp_path: Path, total: int) -> None:
    rng = random.Random(total)
    data = rng.randbytes(total)
    spooled = asyncio.run(spool.spool_stream(_chunks(data, _cut(total, rng)), tmp_path, max_bytes=total))
    assert spooled.size == total
    assert spooled.sha256 == hashlib.sha256(data).hexdigest()
    assert spooled.path.read_bytes() == data
    assert oct(spooled.path.stat().st_mode & 0o777) == oct(0o600)
    spooled.discard()
    assert list(tmp_path.iterdir()) == []


def test_the_limit_is_enforced_as_bytes_arrive_and_nothing_stays(tmp_path: Path) -> None:
    data = bytes(3 * BLOCK)
    with pytest.raises(errors.PayloadTooLarge):
        asyncio.run(spool.spool_stream(_chunks(data, [BLOCK] * 3), tmp_path, max_bytes=2 * BLOCK + 1))
    assert list(tmp_path.iterdir()) == []


def test_a_body_that_breaks_off_leaves_no_spool_file(tmp_path: Path) -> None:
    data = bytes(6 * BLOCK)
    with pytest.raises(ConnectionResetError):
        asyncio.run(spool.spool_stream(_chunks(data, [BLOCK // 2] * 12, fail_at=4 * BLOCK), tmp_path, len(data)))
    assert list(tmp_path.iterdir()) == []


def test_a_cancelled_request_leaves_no_spool_file(tmp_path: Path) -> None:
    async def endless() -> AsyncIterator[bytes]:
        while True:
            yield bytes(BLOCK // 4)
            await asyncio.sleep(0)

    async def main() -> None:
        task = asyncio.create_task(spool.spool_stream(endless(), tmp_path, 1 << 40))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert list(tmp_path.iterdir()) == []


def test_spool_file_copies_a_local_file(tmp_path: Path) -> None:
    data = random.Random(3).randbytes(3 * spool.READ_CHUNK + 5)
    source = tmp_path / "in.bin"
    source.write_bytes(data)
    with source.open("rb") as fh:
        spooled = spool.spool_file(fh, tmp_path / "spool", max_bytes=len(data))
    assert spooled.path.read_bytes() == data and spooled.sha256 == hashlib.sha256(data).hexdigest()


def test_spool_file_works_where_an_event_loop_runs_and_refuses_too_much(tmp_path: Path) -> None:
    """The CLI and tests call it from threads that may run a loop (Playwright's sync API does)."""
    data = random.Random(5).randbytes(spool.READ_CHUNK + 9)
    source = tmp_path / "in.bin"
    source.write_bytes(data)

    async def inside_a_loop() -> spool.SpooledUpload:
        with source.open("rb") as fh:
            return spool.spool_file(fh, tmp_path / "spool", max_bytes=len(data))

    spooled = asyncio.run(inside_a_loop())
    assert spooled.size == len(data) and spooled.sha256 == hashlib.sha256(data).hexdigest()
    spooled.discard()
    with source.open("rb") as fh, pytest.raises(errors.PayloadTooLarge):
        spool.spool_file(fh, tmp_path / "spool", max_bytes=len(data) - 1)
    assert list((tmp_path / "spool").iterdir()) == []


def test_a_body_that_breaks_off_is_written_up_to_the_break(tmp_path: Path) -> None:
    """tus keeps what arrived before a cut: every received byte is written and hashed first."""
    data = random.Random(4).randbytes(3 * BLOCK + 777)
    hasher = hashlib.sha256()

    async def cut_after_all_of_it() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 5000):
            yield data[start : start + 5000]
        raise ConnectionResetError("cut")

    fd = os.open(tmp_path / "part", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with pytest.raises(ConnectionResetError):
            asyncio.run(spool.receive(cut_after_all_of_it(), fd, [hasher], 1 << 40, interrupted=ConnectionResetError))
    finally:
        os.close(fd)
    assert (tmp_path / "part").read_bytes() == data and hasher.digest() == hashlib.sha256(data).digest()


def test_a_cancelled_body_returns_only_after_its_write_stopped(tmp_path: Path) -> None:
    """No thread may still write once the caller gets control back (and truncates or removes the file)."""
    started, finished = threading.Event(), threading.Event()

    class SlowHash:
        def update(self, data: bytes) -> None:
            started.set()
            time.sleep(0.3)
            finished.set()

    async def endless() -> AsyncIterator[bytes]:
        while True:
            yield bytes(BLOCK // 2)
            await asyncio.sleep(0)

    async def main(fd: int) -> None:
        task = asyncio.create_task(spool.receive(endless(), fd, [SlowHash()], 1 << 40))
        while not started.is_set():
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert finished.is_set()

    fd = os.open(tmp_path / "part", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        asyncio.run(main(fd))
    finally:
        os.close(fd)


def test_the_sweep_removes_what_no_process_holds_and_keeps_uploads_in_progress(tmp_path: Path) -> None:
    """A spool file left by a dead process (no flock on it) and its previews go; a file an upload
    is still writing (its writer holds the flock), and that upload's previews, stay."""
    left = tmp_path / "0123abcd.part"
    left.write_bytes(b"from a previous run")
    (tmp_path / "0123abcd.poster.jpg").write_bytes(b"jpg")
    live_path, live_fd = spool.new_spool_file(tmp_path)
    (tmp_path / f"{live_path.stem}.poster.jpg").write_bytes(b"jpg")
    fresh = tmp_path / "4567cdef.part"  # just created: its writer may not have locked it yet
    fresh.write_bytes(b"")
    _age(tmp_path, keep=fresh)
    try:
        assert spool.cleanup_spool(tmp_path) == 2
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live_path.name, f"{live_path.stem}.poster.jpg", fresh.name])
    finally:
        os.close(live_fd)
    _age(tmp_path)
    assert spool.cleanup_spool(tmp_path) == 3
    assert list(tmp_path.iterdir()) == []


def _age(folder: Path, keep: Path | None = None) -> None:
    for path in folder.iterdir():
        if path != keep:
            os.utime(path, (time.time() - 60, time.time() - 60))


def test_a_spooled_upload_holds_its_file_until_discarded(tmp_path: Path) -> None:
    spooled = asyncio.run(spool.spool_stream(_chunks(b"abc", [3]), tmp_path, 10))
    probe = os.open(spooled.path, os.O_RDONLY)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        spooled.release()
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(probe)
    spooled.discard()
