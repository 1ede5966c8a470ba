"""Preview frames: decoding forward through a GOP instead of seeking back for every frame must pick
exactly the frames a seek would."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import ImageChops

from tests.conftest import make_clip
from workers.media import previews


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("one_gop_bframes.mp4", ["-g", "1000", "-bf", "3", "-preset", "medium"]),  # one keyframe for the whole clip
        ("short_gops.mp4", ["-g", "12", "-bf", "2"]),  # several frames per GOP, some a GOP apart
        ("vfr.mp4", ["-vf", "select='not(between(n,20,40))'", "-fps_mode", "vfr", "-g", "50"]),
    ],
)
def test_decoding_forward_picks_the_frames_seeking_would(tmp_path: Path, monkeypatch, name: str, extra: list[str]) -> None:
    clip = make_clip(tmp_path / name, seconds=4, audio=False, extra=extra)
    times = [3.9, 0.0, 1.02, 1.0, 2.5, 0.5, 3.3, 9.0]  # unsorted, two close together, one past the end
    decode_on = previews._decode_on
    continued: list[bool] = []
    monkeypatch.setattr(previews, "_decode_on", lambda *a: continued.append(decode_on(*a)) or continued[-1])
    forward = previews.frames_at(clip, times, 0, exact=True, max_side=160)
    assert any(continued)  # some frames were reached by decoding on, not by seeking
    monkeypatch.setattr(previews, "_keyframe_times", lambda *a: None)  # always seek, as for other containers
    seeking = previews.frames_at(clip, times, 0, exact=True, max_side=160)
    assert [t for t, _ in forward] == [t for t, _ in seeking]
    for (_, a), (_, b) in zip(forward, seeking, strict=True):
        assert ImageChops.difference(a.convert("RGB"), b.convert("RGB")).getbbox() is None


@pytest.mark.parametrize("seconds", [8, 75])  # exact frames, and keyframes only (past EXACT_SEEK_MAX_DURATION)
def test_previews_are_decoded_by_two_demuxers_and_match_a_single_pass(tmp_path: Path, monkeypatch, seconds) -> None:
    """The poster and tiles are split over two threads, each with its own demuxer: the poster must be
    the same bytes as a pass of its own makes."""
    from workers.media.probe import probe_file

    clip = make_clip(tmp_path / "c.mp4", seconds=seconds, size="480x270", rate=10, extra=["-g", "40", "-movflags", "+faststart"])
    facts = probe_file(clip)
    iter_frames = previews._iter_frames
    passes: list[int] = []
    monkeypatch.setattr(previews, "_iter_frames", lambda *a, **k: passes.append(len(a[1])) or iter_frames(*a, **k))

    previews.write_video_previews(clip, facts, tmp_path / "two.poster.jpg", tmp_path / "two.sheet.jpg")
    assert sorted(passes) == [5, 5]  # two threads, each with its own demuxer

    passes.clear()
    previews.write_poster(clip, facts, tmp_path / "one.poster.jpg")  # the poster alone: one pass
    assert passes == [1]
    assert (tmp_path / "one.poster.jpg").read_bytes() == (tmp_path / "two.poster.jpg").read_bytes()
