"""Probing the real-world recordings in ../shared/media: every file ingests with the right facts
or is refused for the right reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import SHARED_MEDIA, make_clip, shared_media
from workers.media.inspect import inspect_untrusted
from workers.media.probe import Limits, ProbeRejection, probe_file

# name -> (displayed WxH, rotation, vfr, has_audio, audio codec)
EXPECTED = {
    "phone_android_landscape_h264_aac_vfr_rot180.mp4": ((1280, 720), -180, True, True, "aac"),
    "phone_android_landscape_h264_aac_320x240.mp4": ((320, 240), 0, False, True, "aac"),
    "gopro_max_landscape_h264_aac_gpmf.mp4": ((848, 480), 0, False, True, "aac"),
    "flower_cc0_h264_aac_960x540.mp4": ((960, 540), 0, False, True, "aac"),
    "phone_android_portrait_4k60_h264_aac_rot90.mp4": ((2160, 3840), -90, True, True, "aac"),
    "apple_coremedia_h264_aac_640x428.mov": ((640, 428), 0, False, True, "aac"),
    "android_hevc10_hlg_landscape.mp4": ((1920, 1080), 0, False, True, "aac"),
    "chrome_mediarecorder_h264_in_webm_vfr.webm": ((640, 480), 0, True, False, None),
    "flower_cc0_vp8_vorbis.webm": ((960, 540), 0, False, True, "vorbis"),
    "mkv_h264_ac3_srt_subtitle.mkv": ((1080, 720), 0, False, True, "ac3"),
    "android_slowmo_h264_noaudio.mp4": ((1280, 720), 0, True, False, None),
}


def _manifest() -> dict[str, dict]:
    path = SHARED_MEDIA / "manifest.json"
    return {e["name"]: e for e in json.loads(path.read_text())} if path.exists() else {}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_recordings_probe_with_displayed_size_duration_and_audio(name: str) -> None:
    path = shared_media(name)
    facts = probe_file(path)
    (dw, dh), rotation, vfr, has_audio, audio_codec = EXPECTED[name]
    assert facts.media_type == "video"
    assert (facts.display_width, facts.display_height) == (dw, dh)
    assert facts.rotation == rotation
    assert facts.is_vfr is vfr
    assert facts.has_audio is has_audio and facts.audio_codec == audio_codec
    expected = _manifest()[name]
    if expected.get("duration_s"):
        assert facts.duration_s == pytest.approx(expected["duration_s"], rel=0.03)
    else:
        assert facts.duration_s and facts.duration_s > 1  # no duration in the header: measured from packets
    timing = expected.get("timing") or {}
    if timing.get("mean_fps"):
        assert facts.fps == pytest.approx(timing["mean_fps"], rel=0.03)


def test_hdr_source_is_flagged() -> None:
    facts = probe_file(shared_media("android_hevc10_hlg_landscape.mp4"))
    assert facts.video_codec == "hevc" and facts.bit_depth == 10
    assert facts.color_transfer == "arib-std-b67" and facts.is_hdr


def test_audio_only_file() -> None:
    facts = probe_file(shared_media("trex_roar_cc0_audio_only.mp3"))
    assert facts.media_type == "audio" and facts.audio_codec == "mp3"
    assert facts.display_width is None and facts.duration_s == pytest.approx(2.1, abs=0.1)


def test_truncated_recording_is_refused() -> None:
    with pytest.raises(ProbeRejection) as caught:
        probe_file(shared_media("truncated_gopro_no_moov.mp4"))
    assert caught.value.reason == "media-truncated"


def test_recording_time_is_read_from_metadata() -> None:
    facts = probe_file(shared_media("phone_android_portrait_4k60_h264_aac_rot90.mp4"))
    assert facts.media_created_at is not None and facts.media_created_at.isoformat() == "2023-03-16T15:26:24+00:00"


def test_sandboxed_inspector_writes_upright_previews(tmp_path: Path) -> None:
    from PIL import Image

    poster, sheet = tmp_path / "p.jpg", tmp_path / "s.jpg"
    facts = inspect_untrusted(shared_media("phone_android_portrait_4k60_h264_aac_rot90.mp4"), limits=Limits(),
                              poster=poster, contact_sheet=sheet)
    assert facts.display_height > facts.display_width
    width, height = Image.open(poster).size
    assert height > width  # the poster is shown the way the phone was held


def test_inspector_times_out_on_slow_files(tmp_path: Path, monkeypatch) -> None:
    clip = make_clip(tmp_path / "c.mp4", seconds=1)
    with pytest.raises(ProbeRejection):
        inspect_untrusted(clip, limits=Limits(), timeout=0.01)


@pytest.mark.parametrize(
    ("name", "extra", "vfr"),
    [
        ("cfr_bframes.mp4", ["-preset", "medium", "-bf", "2"], False),
        ("vfr_gap.mp4", ["-vf", "select='not(between(n,10,20))'", "-fps_mode", "vfr"], True),
    ],
)
def test_mp4_frame_times_from_the_index_match_demuxing(tmp_path: Path, monkeypatch, name, extra, vfr) -> None:
    """MP4/MOV frame times come from the sample index (no frame data read); demuxing must agree."""
    from workers.media import probe

    clip = make_clip(tmp_path / name, seconds=3, audio=False, extra=extra)
    from_index = probe_file(clip)
    monkeypatch.setattr(probe, "_indexed_times", lambda *a: None)
    from_packets = probe_file(clip)
    assert from_index.is_vfr is from_packets.is_vfr is vfr
    assert from_index.fps == from_packets.fps
    assert from_index.duration_s == from_packets.duration_s


def test_inspector_started_ahead_inspects_one_file_and_is_reaped(tmp_path: Path) -> None:
    from workers.media.inspect import SandboxedInspector

    clip = make_clip(tmp_path / "c.mp4", seconds=1)
    with SandboxedInspector() as inspector:
        facts = inspector.inspect(clip, limits=Limits())
        assert facts.media_type == "video"
        with pytest.raises(RuntimeError):
            inspector.inspect(clip, limits=Limits())
    unused = SandboxedInspector()
    unused.close()  # a duplicate upload or a refused request: the waiting child is killed and reaped
    assert unused._proc.returncode is not None


@pytest.mark.parametrize("name", [*sorted(EXPECTED), "trex_roar_cc0_audio_only.mp3", "truncated_gopro_no_moov.mp4"])
def test_the_sandboxed_inspector_gives_the_facts_and_rejections_of_the_probe(tmp_path: Path, name: str) -> None:
    """Uploads are probed in the child (workers/media/inspect.py): its facts and its refusals must be
    exactly those of the probe run in this process."""
    src = shared_media(name)
    try:
        expected = probe_file(src, Limits())
    except ProbeRejection as exc:
        with pytest.raises(ProbeRejection) as sandboxed:
            inspect_untrusted(src, limits=Limits())
        assert sandboxed.value.reason == exc.reason
        return
    assert inspect_untrusted(src, limits=Limits()) == expected


def test_the_inspector_child_runs_capped_and_without_reelhouse_settings(monkeypatch) -> None:
    """The child that opens untrusted media gets no database URL or storage keys, and caps its own
    memory and CPU before it reads a request."""
    import time

    from workers.media.inspect import CPU_CAP_SECONDS, MEMORY_CAP_BYTES, SandboxedInspector

    monkeypatch.setenv("REELHOUSE_S3_SECRET_KEY", "not-for-the-child")
    with SandboxedInspector() as inspector:
        pid = inspector._proc.pid
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        assert not [v for v in environ if v.startswith(b"REELHOUSE_")]
        deadline = time.monotonic() + 20
        limits = ""
        while time.monotonic() < deadline:
            limits = Path(f"/proc/{pid}/limits").read_text()
            if f"Max cpu time              {CPU_CAP_SECONDS}" in limits:
                break
            time.sleep(0.05)
        rows = {line[:26].strip(): line[26:].split() for line in limits.splitlines()[1:]}
        assert rows["Max cpu time"][0] == str(CPU_CAP_SECONDS)
        assert rows["Max address space"][0] == str(MEMORY_CAP_BYTES)
        assert rows["Max core file size"][0] == "0"


class _Entry:
    def __init__(self, timestamp: int, discard: bool) -> None:
        self.timestamp, self.is_discard, self.is_keyframe = timestamp, discard, False


def test_samples_marked_discardable_still_count_for_frame_rate() -> None:
    """An iPhone HEVC MOV's index at 30 fps (time base 1/600, 20 ticks a frame) marks every fourth
    sample discardable: those frames still take their slot on the timeline, so the clip is 30 fps
    constant, not 22.5 fps and variable."""
    from fractions import Fraction
    from types import SimpleNamespace

    from workers.media import probe

    stream = SimpleNamespace(
        time_base=Fraction(1, 600), index_entries=[_Entry(20 * n, discard=n % 4 == 3) for n in range(300)]
    )
    container = SimpleNamespace(format=SimpleNamespace(name=probe.MP4_DEMUXER), duration=10_000_000)
    times, _ = probe._frame_intervals(container, stream)
    assert probe._frame_rate(times, None) == 30.0
    assert not probe._is_vfr(times, float(stream.time_base))
    # An edit list that starts after its keyframe gives the frames it cuts the edit's first time:
    # counted once, they add nothing.
    cut = [_Entry(0, discard=True), _Entry(0, discard=True), *(_Entry(20 * n, discard=False) for n in range(100))]
    stream.index_entries = cut
    times, _ = probe._frame_intervals(container, stream)
    assert len(times) == 100 and probe._frame_rate(times, None) == 30.0


def test_mov_cut_mid_gop_by_its_edit_list_keeps_its_frame_rate(tmp_path: Path) -> None:
    """A stream copy started between keyframes: the MOV's edit list hides the frames before the cut,
    which its index marks discardable."""
    import subprocess

    from tests.conftest import ffmpeg_exe

    long_gop = make_clip(tmp_path / "long_gop.mov", seconds=4, rate=30, audio=False, extra=["-g", "120"])
    cut = tmp_path / "cut.mov"
    subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-ss", "1.5", "-i", str(long_gop), "-c", "copy", str(cut)],
        check=True,
    )
    facts = probe_file(cut)
    assert facts.fps == 30.0 and not facts.is_vfr
    assert facts.duration_s == pytest.approx(2.5, abs=0.05)
