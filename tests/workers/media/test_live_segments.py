"""Live-stream recordings as recorders write them: MPEG-TS and FLV whose clock starts far from
zero, cut mid-GOP (the first frames refer to a keyframe the segment does not have). They are media:
probed, kept, previewed from the frames that decode; a preview that cannot be made never refuses
the file."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ffmpeg_exe
from workers.media import previews
from workers.media.inspect import inspect_untrusted
from workers.media.probe import Limits, probe_file

GOP_SECONDS = 4


def _ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", *args], check=True)


def live_recording(out: Path, seconds: int = 16) -> Path:
    """A live recording (MPEG-TS or FLV by the suffix): keyframes every 4 s, B-frames, audio, the
    stream clock an hour in."""
    _ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=size=320x240:rate=30:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
        "-c:v", "libx264", "-preset", "veryfast", "-bf", "2", "-g", str(30 * GOP_SECONDS),
        "-sc_threshold", "0", "-pix_fmt", "yuv420p", "-c:a", "aac",
        "-output_ts_offset", "3600", "-f", {".ts": "mpegts", ".flv": "flv"}[out.suffix], str(out),
    )  # fmt: skip
    return out


def copied_from_mid_gop(recording: Path, out: Path, at: float = 5.0) -> Path:
    """Stream copy from mid-GOP keeping the recorder's clock, as HLS/FLV segmenters write them."""
    fmt = {".ts": "mpegts", ".flv": "flv"}[out.suffix]
    _ffmpeg("-ss", str(at), "-i", str(recording), "-c", "copy", "-copyts", "-f", fmt, str(out))
    return out


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("live")
    return {ext: live_recording(root / f"live.{ext}") for ext in ("ts", "flv")}


def _byte_cut_mid_gop(recording: Path, out: Path) -> Path:
    """The recording from the first byte of a video packet 1 s after a keyframe (not a keyframe
    itself), as a recorder that rotates files at a size limit cuts it."""
    import av

    with av.open(str(recording)) as container:
        stream = container.streams.video[0]
        first = None
        for packet in container.demux(stream):
            if packet.pts is None or packet.pos is None or packet.pos < 0:
                continue
            t = float(packet.pts * stream.time_base)
            first = t if first is None else first
            if t - first >= GOP_SECONDS + 1 and not packet.is_keyframe:
                pos = packet.pos
                break
    out.write_bytes(recording.read_bytes()[pos:])
    return out


def _segment(recordings: dict[str, Path], kind: str, tmp_path: Path) -> Path:
    ext, how = kind.split("-", 1)
    out = tmp_path / f"segment.{ext}"
    if how == "bytes":
        return _byte_cut_mid_gop(recordings[ext], out)
    return copied_from_mid_gop(recordings[ext], out)


SEGMENTS = ["ts-bytes", "ts-copy", "flv-copy"]


@pytest.mark.parametrize("kind", SEGMENTS)
def test_a_segment_cut_mid_gop_is_media_with_previews(recordings, kind: str, tmp_path: Path) -> None:
    segment = _segment(recordings, kind, tmp_path)
    poster, sheet = tmp_path / "poster.jpg", tmp_path / "sheet.jpg"
    facts = inspect_untrusted(segment, limits=Limits(), poster=poster, contact_sheet=sheet)
    assert facts.media_type == "video" and facts.container in {"mpegts", "flv"}
    assert facts.duration_s and 9 < facts.duration_s < 13
    assert poster.stat().st_size > 0 and sheet.stat().st_size > 0


@pytest.mark.parametrize("kind", ["ts-copy", "flv-copy", "ts-bytes"])
def test_sheet_frames_of_a_live_segment_spread_over_the_segment(recordings, kind: str, tmp_path: Path) -> None:
    """Times count from the segment's first frame, not from the stream clock's zero an hour
    earlier: the tiles show different moments, each labelled with its time in the segment."""
    segment = _segment(recordings, kind, tmp_path)
    facts = probe_file(segment)
    shown = [round(t, 2) for t, _ in previews.frames_at(segment, previews._sheet_times(facts), 0)]
    assert len(shown) == 9
    assert len(set(shown)) >= 3  # keyframe-aligned at worst (a cut segment has 2-3 GOPs)
    assert all(0 <= t <= (facts.duration_s or 0) for t in shown)


def test_times_no_seek_reaches_are_decoded_in_one_pass(recordings, tmp_path: Path, monkeypatch) -> None:
    """Where seeking finds nothing (a demuxer that cannot search a cut file's timestamps), the
    frames come from one pass from the start: the previews are made all the same."""
    segment = _segment(recordings, "ts-bytes", tmp_path)
    facts = probe_file(segment)

    def seek_fails(*args, **kwargs):  # type: ignore[no-untyped-def]
        import av

        raise av.error.PermissionError(1, "seek refused")

    import av.container

    monkeypatch.setattr(av.container.InputContainer, "seek", seek_fails)
    poster, sheet = tmp_path / "poster.jpg", tmp_path / "sheet.jpg"
    previews.write_video_previews(segment, facts, poster, sheet)
    assert poster.stat().st_size > 0 and sheet.stat().st_size > 0


def test_a_preview_that_cannot_be_written_does_not_refuse_the_file(recordings, tmp_path: Path, caplog) -> None:
    """The poster cannot be saved (here: its path is a folder): the file is still media, and the
    real cause is logged."""
    segment = _segment(recordings, "ts-copy", tmp_path)
    poster = tmp_path / "poster.jpg"
    poster.mkdir()
    with caplog.at_level(logging.WARNING, logger="workers.media.inspect"):
        facts = inspect_untrusted(segment, limits=Limits(), poster=poster, contact_sheet=tmp_path / "sheet.jpg")
    assert facts.media_type == "video"
    assert any("no previews could be made" in r.getMessage() and "IsADirectoryError" in r.getMessage() for r in caplog.records)
    assert not (tmp_path / "sheet.jpg").exists()  # nothing half made is left


def test_write_previews_reports_a_video_with_no_decodable_frame(tmp_path: Path) -> None:
    from workers.media.facts import MediaFacts

    junk = tmp_path / "junk.ts"
    junk.write_bytes(b"\x47" + bytes(187) * 1)
    facts = MediaFacts(media_type="video", container="mpegts", duration_s=10.0, display_width=320, display_height=240)
    reason = previews.write_previews(junk, facts, tmp_path / "p.jpg", tmp_path / "s.jpg")
    assert reason is not None
    assert not (tmp_path / "p.jpg").exists() and not (tmp_path / "s.jpg").exists()


def test_a_segment_whose_first_keyframe_is_far_in_is_media(tmp_path: Path) -> None:
    """A 10 s GOP cut 1 s after a keyframe: the stream parameters come with the next keyframe,
    9 s in, past FFmpeg's default 5 s of analysis (the video read as 0x0 and was refused)."""
    whole = tmp_path / "long_gop.ts"
    _ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=24",
        "-c:v", "libx264", "-preset", "veryfast", "-g", "300", "-sc_threshold", "0", "-pix_fmt", "yuv420p",
        "-output_ts_offset", "3600", "-f", "mpegts", str(whole),
    )  # fmt: skip
    import av

    with av.open(str(whole)) as container:
        stream = container.streams.video[0]
        start = float(stream.start_time * stream.time_base)
        pos = next(
            p.pos for p in container.demux(stream)
            if p.pts is not None and float(p.pts * stream.time_base) - start >= 1.0 and p.pos is not None and p.pos >= 0
        )
    segment = tmp_path / "segment.ts"
    segment.write_bytes(whole.read_bytes()[pos:])
    poster, sheet = tmp_path / "poster.jpg", tmp_path / "sheet.jpg"
    facts = inspect_untrusted(segment, limits=Limits(), poster=poster, contact_sheet=sheet)
    assert (facts.display_width, facts.display_height) == (320, 240)
    assert facts.duration_s and 20 < facts.duration_s < 24
    assert poster.stat().st_size > 0 and sheet.stat().st_size > 0
