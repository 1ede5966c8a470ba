"""Hostile files for the sandboxed inspector: a file whose container names other local files (an
ffconcat list, an HLS playlist) is refused before anything it names is opened, and the child runs
in an empty directory of its own.

The planted neighbours are FIFOs: opening one for reading blocks until a writer comes, so a child
that opened one would hang until its timeout instead of answering with a refusal, and a reader
that has one open can be seen from here (opening the FIFO for writing without blocking succeeds
only then)."""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import time
from pathlib import Path

import pytest

from workers.media.inspect import SandboxedInspector, inspect_untrusted
from workers.media.probe import Limits, ProbeRejection

HOSTILE = {
    "list.ffconcat": "ffconcat version 1.0\nfile neighbour.mp4\nfile neighbour.mp4\n",
    "live.m3u8": "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:0\n"
    "#EXTINF:4.0,\nneighbour.ts\n#EXT-X-ENDLIST\n",
}


def _plant(folder: Path) -> list[Path]:
    fifos = []
    for name in ("neighbour.mp4", "neighbour.ts"):
        fifo = folder / name
        os.mkfifo(fifo)
        fifos.append(fifo)
    return fifos


def _has_reader(fifo: Path) -> bool:
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # no process has it open for reading
            return False
        raise
    os.close(fd)
    return True


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_list_of_files_is_refused_without_opening_what_it_names(name: str, tmp_path: Path, monkeypatch) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    hostile = spool / name
    hostile.write_text(HOSTILE[name])
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # the child starts where its parent runs: neighbours there too
    fifos = _plant(spool) + _plant(cwd)
    with pytest.raises(ProbeRejection) as caught:
        inspect_untrusted(hostile, limits=Limits(), timeout=30)
    assert caught.value.reason == "media-container-not-allowed", caught.value.detail
    assert not any(_has_reader(f) for f in fifos)


def test_the_planted_neighbour_would_be_seen_if_opened(tmp_path: Path) -> None:
    """The check above can fail: FFmpeg's concat demuxer, left to itself, opens the FIFO."""
    import av

    hostile = tmp_path / "list.ffconcat"
    hostile.write_text(HOSTILE["list.ffconcat"])
    (fifo,) = [f for f in _plant(tmp_path) if f.name == "neighbour.mp4"]
    opened = threading.Thread(target=lambda: _open_quietly(av, hostile), daemon=True)
    opened.start()
    deadline = time.monotonic() + 20
    seen = False
    while time.monotonic() < deadline and not (seen := _has_reader(fifo)):
        time.sleep(0.05)
    with open(fifo, "wb"):  # releases the blocked open: it reads an empty file and gives up
        pass
    opened.join(20)
    assert seen


def _open_quietly(av, path: Path) -> None:  # type: ignore[no-untyped-def]
    with contextlib.suppress(av.error.FFmpegError):
        av.open(str(path)).close()


def test_the_inspector_child_runs_in_an_empty_directory_of_its_own(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "beside.txt").write_text("not for the child")
    with SandboxedInspector() as inspector:
        pid = inspector._proc.pid
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
            if cwd != tmp_path:
                break
            time.sleep(0.05)
        assert cwd != tmp_path and cwd.name.startswith("reelhouse-inspect-")
        assert list(cwd.iterdir()) == []
    inspector._proc.wait(10)
    assert not cwd.exists()  # removed when the child ends


def test_the_format_whitelist_refuses_a_list_before_opening_what_it_names(tmp_path: Path) -> None:
    """Below the probe's own check of a list's first bytes, every open of an untrusted file allows
    only the accepted demuxers: FFmpeg refuses the concat demuxer before it reads the list."""
    import av

    from workers.media.source import MediaSource

    hostile = tmp_path / "list.ffconcat"
    hostile.write_text(HOSTILE["list.ffconcat"])
    fifos = _plant(tmp_path)
    outcome: list[BaseException | None] = []

    def open_it() -> None:
        try:
            with MediaSource(hostile).open_av():
                outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            outcome.append(exc)

    opening = threading.Thread(target=open_it, daemon=True)
    opening.start()
    opening.join(20)
    blocked = opening.is_alive()
    for fifo in fifos:
        if _has_reader(fifo):
            with open(fifo, "wb"):
                pass
    assert not blocked and len(outcome) == 1
    assert isinstance(outcome[0], av.error.FFmpegError)
