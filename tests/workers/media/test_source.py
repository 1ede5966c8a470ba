"""Reading a file while it is still being written (workers/media/source.py)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from workers.media.source import Arrival, ArrivalEnded, ArrivingFile, MediaSource


def test_reads_wait_for_their_bytes_and_the_end_is_the_declared_size(tmp_path: Path) -> None:
    path = tmp_path / "growing.part"
    path.write_bytes(b"abcd")
    arrival = Arrival(path, size=10)  # the writer says nothing: the file's growth is what is read
    with ArrivingFile(arrival) as f:
        assert f.read(4) == b"abcd"
        assert f.seek(0, os.SEEK_END) == 10  # as the finished file will be, though 4 bytes are on disk
        f.seek(4)
        got: list[bytes] = []
        reader = threading.Thread(target=lambda: got.append(f.read(6)))
        reader.start()
        time.sleep(0.05)
        assert reader.is_alive() and not got  # waiting: the bytes are not on disk yet
        with path.open("ab") as out:
            out.write(b"efghij")
        reader.join(timeout=5)
        assert got == [b"efghij"]
        assert f.read(1) == b""


def test_a_file_that_stops_short_raises_instead_of_waiting_forever(tmp_path: Path) -> None:
    path = tmp_path / "short.part"
    path.write_bytes(b"abc")
    ended, writer = os.pipe()
    os.close(writer)  # the writer is done, 3 bytes in
    with ArrivingFile(Arrival(path, size=10, ended=ended)) as f, pytest.raises(ArrivalEnded):
        f.read(10)
    os.close(ended)


def test_a_complete_source_is_read_by_name(tmp_path: Path) -> None:
    path = tmp_path / "whole.bin"
    path.write_bytes(b"0123456789")
    source = MediaSource.of(path)
    assert source.size == 10
    with source.open() as f:
        assert f.read() == b"0123456789"
    source.wait_complete()  # nothing to wait for
