"""How reelhouse's decoders open a media file (workers/media/source.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.media.source import MediaSource


def test_a_complete_source_is_read_by_name(tmp_path: Path) -> None:
    path = tmp_path / "whole.bin"
    path.write_bytes(b"0123456789")
    source = MediaSource.of(path)
    assert source.size == 10
    with source.open() as f:
        assert f.read() == b"0123456789"


def test_a_demuxer_outside_the_allow_list_is_refused_before_it_reads(tmp_path: Path) -> None:
    """A concat list names other files: FFmpeg would open them if its demuxer were allowed."""
    import av

    secret = tmp_path / "secret.txt"
    secret.write_text("not for uploads")
    playlist = tmp_path / "list.ffconcat"
    playlist.write_text(f"ffconcat version 1.0\nfile '{secret}'\n")
    with pytest.raises(av.error.FFmpegError), MediaSource(playlist).open_av(format="concat"):
        pass
