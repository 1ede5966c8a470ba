"""The spool: bytes, digest and size limit of a streamed body, O_DIRECT and its fallback, and that
nothing is left behind when a body fails half-way."""

from __future__ import annotations

import asyncio
import errno
import fcntl
import hashlib
import os
import random
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backend import errors
from backend.allocator import keep_heap_top
from backend.uploads import blockio, spool
from tests.conftest import IN_CI

BLOCK = 64 * 1024  # small blocks keep the tests quick; still a multiple of 4 KiB as O_DIRECT needs


def _unsupported(why: str) -> None:
    """Elsewhere a platform without O_DIRECT or glibc skips; CI runs on one that has both."""
    if IN_CI:
        pytest.fail(f"{why}: CI must exercise this path")
    pytest.skip(why)


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blockio, "BLOCK_BYTES", BLOCK)


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


@pytest.mark.parametrize("total", [1, 5000, BLOCK, BLOCK + 4096, 3 * BLOCK + 12345, 4 * BLOCK])
def test_a_declared_length_tapers_the_blocks_towards_the_end(total: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the body's length known, blocks shrink towards its end (each at most half of what is
    left, aligned for O_DIRECT) down to FINAL_BLOCK_BYTES: little is left after the last byte."""
    monkeypatch.setattr(blockio, "FINAL_BLOCK_BYTES", 8 * 1024)
    rng = random.Random(total)
    data = rng.randbytes(total)
    blocks: list[bytes] = []
    asyncio.run(blockio.stream_blocks(_chunks(data, _cut(total, rng)), [lambda b: blocks.append(bytes(b))],
                                      lambda n: None, expected_bytes=total))
    sizes = [len(b) for b in blocks]
    assert b"".join(blocks) == data
    assert all(n % blockio.ALIGNMENT == 0 for n in sizes[:-1])
    assert sizes == sorted(sizes, reverse=True)
    assert sizes[-1] <= blockio.FINAL_BLOCK_BYTES
    if total > 2 * BLOCK:
        assert sizes[0] == BLOCK and len(sizes) <= total // BLOCK + 5


def test_consumers_see_their_blocks_in_order_while_the_loop_runs_ahead() -> None:
    """The loop fills up to a ring of blocks ahead of a slow consumer; each consumer still gets
    every block once, in order, and a fast one is not held back by the slow one."""
    import threading
    import time

    data = random.Random(5).randbytes(12 * BLOCK + 777)
    slow: list[bytes] = []
    fast: list[bytes] = []
    fast_done_first = threading.Event()

    def slow_consumer(block: memoryview) -> None:
        time.sleep(0.01)
        slow.append(bytes(block))
        if len(fast) > len(slow):
            fast_done_first.set()

    asyncio.run(blockio.stream_blocks(_chunks(data, _cut(len(data), random.Random(6))),
                                      [slow_consumer, lambda b: fast.append(bytes(b))], lambda n: None))
    assert b"".join(slow) == data and b"".join(fast) == data
    assert fast_done_first.is_set()


def test_a_failing_consumer_fails_the_body_and_never_sees_a_later_block() -> None:
    data = random.Random(8).randbytes(6 * BLOCK)
    seen: list[int] = []

    def write(block: memoryview) -> None:
        if len(seen) == 2:
            raise OSError(28, "No space left on device")
        seen.append(len(block))

    with pytest.raises(OSError, match="No space left"):
        asyncio.run(blockio.stream_blocks(_chunks(data, _cut(len(data), random.Random(9))), [write], lambda n: None))
    assert seen == [BLOCK, BLOCK]


@pytest.mark.parametrize(("sent", "declared"), [(0, 0), (0, 5 * BLOCK), (3 * BLOCK + 5, 5 * BLOCK), (5 * BLOCK, 3 * BLOCK + 5)])
def test_a_body_that_differs_from_its_declared_length_still_lands_whole(tmp_path: Path, sent: int, declared: int) -> None:
    """The declared length only shapes the blocks: a body shorter or longer than declared (which
    the HTTP server would refuse first) or empty still lands byte for byte with its digest."""
    rng = random.Random(sent + declared)
    data = rng.randbytes(sent)
    spooled = asyncio.run(spool.spool_stream(_chunks(data, _cut(sent, rng)), tmp_path, max_bytes=10 * BLOCK,
                                             expected_bytes=declared))
    assert spooled.size == sent
    assert spooled.sha256 == hashlib.sha256(data).hexdigest()
    assert spooled.path.read_bytes() == data


def test_blocks_cut_short_towards_the_end_still_bypass_the_page_cache(tmp_path: Path, monkeypatch) -> None:
    """Only the last, small block of a body of declared length goes through the page cache."""
    monkeypatch.setattr(blockio, "FINAL_BLOCK_BYTES", 16 * 1024)
    data = random.Random(3).randbytes(4 * BLOCK + 12345)
    seen: list[tuple[int, bool]] = []
    with blockio.AppendFile(tmp_path / "body", exclusive=True) as out:
        if not out.direct:
            _unsupported(f"{tmp_path} refuses O_DIRECT")

        def write(block: memoryview) -> None:
            out.write(block)
            seen.append((len(block), out.direct))

        asyncio.run(blockio.stream_blocks(_chunks(data, _cut(len(data), random.Random(4))), [write], lambda n: None,
                                          expected_bytes=len(data)))
    assert (tmp_path / "body").read_bytes() == data
    assert [direct for _, direct in seen] == [True] * (len(seen) - 1) + [False]
    assert seen[-2][0] < BLOCK  # the blocks before the last were cut short, and stayed direct
    assert seen[-1][0] <= blockio.FINAL_BLOCK_BYTES


def test_spooling_with_a_declared_length_gives_the_same_file_and_digest(tmp_path: Path) -> None:
    rng = random.Random(7)
    data = rng.randbytes(5 * BLOCK + 999)
    spooled = asyncio.run(spool.spool_stream(_chunks(data, _cut(len(data), rng)), tmp_path, max_bytes=len(data),
                                             expected_bytes=len(data)))
    assert spooled.sha256 == hashlib.sha256(data).hexdigest()
    assert spooled.path.read_bytes() == data


def test_full_blocks_bypass_the_page_cache_where_the_filesystem_allows(tmp_path: Path) -> None:
    spooler = spool.Spooler(tmp_path, 10, direct=True)
    try:
        if not spooler.direct:
            _unsupported(f"{tmp_path} refuses O_DIRECT; the fallback is tested below")
        assert os.O_DIRECT & fcntl.fcntl(spooler._file.fd, fcntl.F_GETFL)
    finally:
        spooler.abort()


def test_filesystems_without_o_direct_get_buffered_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = os.open

    def refusing_open(path, flags, *args):  # type: ignore[no-untyped-def]
        if flags & os.O_DIRECT:
            raise OSError(errno.EINVAL, "O_DIRECT not supported")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", refusing_open)
    data = random.Random(1).randbytes(5 * BLOCK + 3)
    spooled = asyncio.run(spool.spool_stream(_chunks(data, [BLOCK] * 5 + [3]), tmp_path, max_bytes=len(data)))
    assert spooled.path.read_bytes() == data


def test_a_write_refused_mid_file_switches_to_buffered_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = os.write
    calls = {"n": 0}

    def flaky_write(fd, data):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.EINVAL, "alignment")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", flaky_write)
    data = random.Random(2).randbytes(4 * BLOCK)
    spooled = asyncio.run(spool.spool_stream(_chunks(data, [BLOCK] * 4), tmp_path, max_bytes=len(data)))
    assert spooled.path.read_bytes() == data


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


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
def test_the_allocator_keeps_its_heap_top_on_glibc() -> None:
    import platform

    if platform.libc_ver()[0] != "glibc":
        _unsupported("not glibc")
    assert keep_heap_top() is True


def test_a_body_that_breaks_off_is_consumed_up_to_the_break(tmp_path: Path) -> None:
    """tus keeps what arrived before a cut: every received byte reaches the consumers first."""
    data = random.Random(4).randbytes(3 * BLOCK + 777)
    seen = bytearray()

    async def cut_after_all_of_it() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 5000):
            yield data[start : start + 5000]
        raise ConnectionResetError("cut")

    with pytest.raises(ConnectionResetError):
        asyncio.run(blockio.stream_blocks(cut_after_all_of_it(), [seen.extend], lambda n: None))
    assert bytes(seen) == data


def test_append_file_uses_o_direct_only_from_aligned_positions(tmp_path: Path) -> None:
    path = tmp_path / "part"
    path.write_bytes(b"x" * 5000)
    with blockio.AppendFile(path, position=4096) as aligned:
        direct = aligned.direct
        aligned.truncate(4096)
        aligned.write(b"y" * 10)
    with blockio.AppendFile(path, position=4106) as unaligned:
        assert not unaligned.direct
        unaligned.write(b"z")
    assert path.read_bytes() == b"x" * 4096 + b"y" * 10 + b"z"
    if not direct:
        _unsupported(f"{tmp_path} refuses O_DIRECT")


def test_a_cancelled_body_returns_only_after_its_consumers_stopped() -> None:
    """No thread may still read a block once its buffer is back in the pool (and the file closed)."""
    import threading
    import time

    started, finished = threading.Event(), threading.Event()

    def slow_consumer(block: memoryview) -> None:
        started.set()
        time.sleep(0.3)
        finished.set()

    async def endless() -> AsyncIterator[bytes]:
        while True:
            yield bytes(BLOCK // 2)
            await asyncio.sleep(0)

    async def main() -> None:
        task = asyncio.create_task(blockio.stream_blocks(endless(), [slow_consumer], lambda n: None))
        while not started.is_set():
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # the loop is now waiting on the slow block before the next one
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert finished.is_set()

    asyncio.run(main())
