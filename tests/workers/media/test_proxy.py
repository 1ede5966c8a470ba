"""workers/media/proxy.py: the proxy's argv as data, then real encodes of generated VFR clips and the
phone clips in ../shared/media (rotation, 4K60, no audio, audio only)."""

from __future__ import annotations

import json
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest

from tests.conftest import shared_media
from workers.media.facts import MediaFacts
from workers.media.probe import probe_file
from workers.media.proxy import (
    SPRITE_COLUMNS,
    WAVEFORM_PEAKS_PER_SECOND,
    WAVEFORM_SAMPLES_PER_PEAK,
    ProxyNotPossible,
    ProxyTargets,
    build_proxy_argv,
    encode_proxy,
    plan_targets,
    proxy_audio_options,
    proxy_fps,
    proxy_geometry,
    proxy_size,
    proxy_video_codec_options,
    proxy_video_options,
    sprite_interval,
    sprite_vtt,
    waveform_peaks,
)


def _facts(**over) -> MediaFacts:
    base = dict(media_type="video", container="mp4", demuxer="mov,mp4,m4a,3gp,3g2,mj2", duration_s=120.0,
                video_codec="h264", width=1920, height=1080, display_width=1920, display_height=1080, fps=30.0,
                pix_fmt="yuv420p", bit_depth=8, has_audio=True, audio_codec="aac", audio_channels=2,
                audio_sample_rate=48000)
    return MediaFacts(**{**base, **over})


def _after(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


# --------------------------------------------------------------------------- pure planning


@pytest.mark.parametrize(("display", "expected"), [
    ((1920, 1080), (960, 540)),
    ((3840, 2160), (960, 540)),
    ((2160, 3840), (540, 960)),  # a rotated portrait phone clip stays portrait
    ((1080, 1920), (540, 960)),
    ((1080, 720), (810, 540)),
    ((848, 480), (848, 480)),  # never upscaled
    ((320, 240), (320, 240)),
    ((641, 361), (640, 360)),  # even sides
    ((1000, 1000), (540, 540)),
])
def test_proxy_size_is_at_most_540_lines_on_the_short_side(display, expected) -> None:
    assert proxy_size(*display) == expected


@pytest.mark.parametrize(("mean", "expected"), [
    (30.0, Fraction(30)), (29.97, Fraction(30000, 1001)), (29.99, Fraction(30)), (25.0, Fraction(25)),
    (60.057, Fraction(30)), (59.94, Fraction(30000, 1001)), (50.0, Fraction(25)), (120.0, Fraction(30)),
    (240.0, Fraction(30)), (10.527, Fraction(10527, 1000)), (3.0, Fraction(10)), (None, Fraction(30)),
])
def test_proxy_fps_is_the_mean_rate_snapped_capped_at_30_by_whole_factors(mean, expected) -> None:
    assert proxy_fps(mean) == expected


def test_video_options_constrained_baseline_one_second_closed_gop_cfr() -> None:
    facts = _facts(fps=29.97)
    opts = proxy_video_codec_options(facts)
    assert _after(opts, "-c:v") == "libx264"
    assert _after(opts, "-profile:v") == "baseline"
    assert _after(opts, "-pix_fmt") == "yuv420p"
    assert _after(opts, "-g") == _after(opts, "-keyint_min") == "30"
    assert _after(opts, "-sc_threshold") == "0"
    assert _after(opts, "-flags") == "+cgop"
    assert _after(opts, "-fps_mode:v") == "cfr"
    assert _after(opts, "-r") == "30000/1001"
    full = proxy_video_options(facts)
    assert full[:2] == ["-map", "0:v:0"]
    chain = _after(full, "-filter:v")
    assert chain.startswith("fps=fps=30000/1001:start_time=0,")  # CFR from 0: the original's timeline
    assert "scale=960:540" in chain and "setsar=1" in chain


def test_audio_options_aac_stereo_48k_on_the_original_timeline() -> None:
    opts = proxy_audio_options()
    assert opts[:2] == ["-map", "0:a:0"]
    assert _after(opts, "-c:a") == "aac"
    assert (_after(opts, "-ar"), _after(opts, "-ac")) == ("48000", "2")
    assert _after(opts, "-filter:a").startswith("aresample=async=1:first_pts=0")


def test_one_run_writes_proxy_sprite_and_waveform_from_one_decode(tmp_path) -> None:
    facts = _facts(display_width=2160, display_height=3840, width=3840, height=2160, rotation=-90, fps=60.0)
    argv = build_proxy_argv("/in/-odd:name.mp4", facts, plan_targets(facts, tmp_path), ffmpeg="ffmpeg")
    assert argv.count("-i") == 1
    assert _after(argv, "-i") == "file:/in/-odd:name.mp4"
    assert _after(argv, "-protocol_whitelist") == "file"
    assert _after(argv, "-format_whitelist") == facts.demuxer
    graph = _after(argv, "-filter_complex")
    assert "[0:v:0]fps=fps=30:start_time=0," in graph and "scale=540:960" in graph and "split=2[pv][sv]" in graph
    assert "fps=fps=1/2:round=up,scale=160:284,tile=10x10[sprite]" in graph
    assert "[0:a:0]aresample=async=1:first_pts=0,asplit=2[pa][wa]" in graph
    assert _after(argv, "-movflags") == "+faststart"
    assert "+cgop" in argv and _after(argv, "-c:a") == "aac"
    assert argv[-1] == f"file:{tmp_path}/waveform.pcm"
    assert f"file:{tmp_path}/proxy.mp4" in argv and f"file:{tmp_path}/sprite-%03d.jpg" in argv


def test_no_audio_video_gets_a_proxy_without_an_audio_track(tmp_path) -> None:
    facts = _facts(has_audio=False, audio_codec=None)
    targets = plan_targets(facts, tmp_path)
    assert targets.waveform_pcm is None
    argv = build_proxy_argv("/in/a.mp4", facts, targets, ffmpeg="ffmpeg")
    assert "[0:a:0]" not in _after(argv, "-filter_complex")
    assert "-c:a" not in argv and "anullsrc" not in " ".join(argv)


def test_audio_only_material_gets_a_waveform_only(tmp_path) -> None:
    facts = MediaFacts(media_type="audio", container="mp3", demuxer="mp3", duration_s=2.0, has_audio=True,
                       audio_codec="mp3", audio_channels=1, audio_sample_rate=44100)
    targets = plan_targets(facts, tmp_path)
    assert targets.proxy is None and targets.sprite_dir is None and targets.waveform_pcm is not None
    argv = build_proxy_argv("/in/a.mp3", facts, targets, ffmpeg="ffmpeg")
    assert "libx264" not in argv and "[0:v:0]" not in _after(argv, "-filter_complex")
    with pytest.raises(ProxyNotPossible):
        plan_targets(MediaFacts(media_type="image", display_width=10, display_height=10), tmp_path)
    with pytest.raises(ProxyNotPossible):
        build_proxy_argv("/in/a.mp4", _facts(demuxer=None), ProxyTargets(proxy=tmp_path / "p.mp4"), ffmpeg="ffmpeg")


def test_sprite_interval_and_vtt_index() -> None:
    assert [sprite_interval(d) for d in (10, 600, 601, 3600, 7200)] == [2.0, 2.0, 5.0, 5.0, 10.0]
    vtt = sprite_vtt(102, 2.0, 203.5, (160, 90), ["sprite-000.jpg", "sprite-001.jpg"])
    lines = vtt.splitlines()
    assert lines[0] == "WEBVTT"
    assert lines[2:4] == ["00:00:00.000 --> 00:00:02.000", "sprite-000.jpg#xywh=0,0,160,90"]
    assert "00:00:22.000 --> 00:00:24.000\nsprite-000.jpg#xywh=160,90,160,90" in vtt  # tile 11: row 1, column 1
    assert "00:03:20.000 --> 00:03:22.000\nsprite-001.jpg#xywh=0,0,160,90" in vtt  # tile 100 opens sheet 2
    assert lines[-2:] == ["00:03:22.000 --> 00:03:23.500", "sprite-001.jpg#xywh=160,0,160,90"]


def test_waveform_peaks_are_min_max_pairs_per_window(tmp_path) -> None:
    import numpy as np

    spp = WAVEFORM_SAMPLES_PER_PEAK
    samples = np.zeros(spp * 3 + 10, dtype="<i2")
    samples[5], samples[7] = 32767, -32768  # window 0
    samples[spp + 1] = 256 * 10  # window 1
    samples[-1] = -256 * 3  # the short last window
    pcm = tmp_path / "w.pcm"
    pcm.write_bytes(samples.tobytes())
    peaks = waveform_peaks(pcm, block_samples=spp * 2)  # blocks smaller than the file: joined correctly
    assert peaks["length"] == 4 and peaks["bits"] == 8 and peaks["channels"] == 1
    assert peaks["samples_per_pixel"] == spp
    assert peaks["data"] == [-128, 127, 0, 10, 0, 0, -3, 0]


# --------------------------------------------------------------------------- real encodes


def _frames(path: Path) -> tuple[float, list[tuple[float, float]]]:
    """The file's start (s) and its video frames as (time from that start, mean luma)."""
    import av
    import numpy as np

    with av.open(str(path)) as c:
        start = (c.start_time or 0) / 1e6
        out = []
        for f in c.decode(video=0):
            y = f.to_ndarray(format="gray")
            out.append((float(f.time) - start, float(np.mean(y))))
    return start, out


def _streams(path: Path) -> dict[str, object]:
    import av

    with av.open(str(path)) as c:
        v = c.streams.video[0] if c.streams.video else None
        a = c.streams.audio[0] if c.streams.audio else None
        info: dict[str, object] = {"start": c.start_time or 0, "duration": (c.duration or 0) / 1e6}
        if v is not None:
            info.update(profile=v.codec_context.profile, width=v.codec_context.width, height=v.codec_context.height,
                        rotation=getattr(v, "side_data", {}).get("DISPLAYMATRIX", 0) if hasattr(v, "side_data") else 0)
            keys, count, durations = [], 0, set()
            for p in c.demux(v):
                if p.size == 0:
                    continue
                if p.is_keyframe:
                    keys.append(count)
                count += 1
                durations.add(p.duration)
            info.update(keyframes=keys, frames=count, durations=durations)
        if a is not None:
            info.update(audio=(a.codec_context.name, a.codec_context.sample_rate, a.codec_context.channels))
    return info


def _moov_before_mdat(path: Path) -> bool:
    data = path.read_bytes()[:1 << 20]
    return 0 <= data.find(b"moov") < data.find(b"mdat") or data.find(b"mdat") < 0


@pytest.fixture(scope="module")
def vfr_ts_clip(tmp_path_factory, ffmpeg) -> Path:
    """A VFR clip in MPEG-TS (whose clock starts at 1.4 s): 30 fps, then a 0.5 s hole after frame 45
    and 15 fps for the rest; every frame a different grey, so a frame is known by its luma."""
    out = tmp_path_factory.mktemp("vfr") / "vfr.ts"
    pts = "if(lt(N,45),N/30,if(lt(N,75),(N+15)/30,(N+15+(N-75))/30))"
    subprocess.run([
        ffmpeg, "-nostdin", "-v", "error", "-y",
        "-f", "lavfi", "-i", "color=c=black:s=160x120:r=30:d=4,geq=lum='mod(N*9\\,220)+16':cb=128:cr=128",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=5",
        "-filter:v", f"setpts='{pts}/TB'", "-fps_mode:v", "vfr", "-c:v", "libx264", "-preset", "ultrafast",
        "-qp", "0", "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "mpegts", str(out),
    ], check=True, timeout=60)
    return out


def _encode(src: Path, tmp_path: Path, ffmpeg: str):
    facts = probe_file(src)
    out = tmp_path / "out"
    out.mkdir()
    return facts, encode_proxy(src, facts, out, ffmpeg=ffmpeg, timeout=120)


def test_vfr_clip_with_a_start_offset_keeps_the_original_timeline(vfr_ts_clip, tmp_path, ffmpeg) -> None:
    facts, made = _encode(vfr_ts_clip, tmp_path, ffmpeg)
    assert facts.is_vfr
    assert made.proxy is not None and made.geometry is not None
    src_start, original = _frames(vfr_ts_clip)
    assert src_start > 1.0  # the TS clock does not start at 0: the proxy's must
    proxy_start, proxy = _frames(made.proxy)
    assert proxy_start == 0.0 and proxy[0][0] == 0.0
    fps = float(made.geometry.fps)
    # A second in the proxy is the same second in the original: each proxy frame shows the picture the
    # original shows at that time, to within one frame of the proxy.
    for t, luma in proxy:
        before = [lum for (ot, lum) in original if ot <= t - 1 / fps][-1:]  # shown when the window opens
        window = [lum for (ot, lum) in original if t - 1 / fps < ot <= t + 1 / fps]
        candidates = before + window
        assert any(abs(luma - lum) < 3 for lum in candidates), (t, luma, candidates)
    # Constant frame rate across the hole: frames are duplicated, not the timeline shifted.
    info = _streams(made.proxy)
    assert len(info["durations"]) == 1  # type: ignore[arg-type]
    assert abs(proxy[-1][0] - original[-1][0]) <= 1 / fps + 1e-3
    assert abs(info["duration"] - (original[-1][0] + 1 / 15)) < 0.2  # type: ignore[operator]


def test_proxy_is_browser_safe_and_scrubbable(tmp_path, ffmpeg, make_clip) -> None:
    src = make_clip(width=640, height=360, seconds=4.0, fps=30, audio=True, gop=250)
    facts, made = _encode(src, tmp_path, ffmpeg)
    assert made.proxy is not None
    info = _streams(made.proxy)
    assert info["profile"] == "Constrained Baseline"
    assert (info["width"], info["height"]) == (640, 360)
    assert info["audio"] == ("aac", 48000, 2)
    assert info["keyframes"] == list(range(0, info["frames"], 30))  # type: ignore[arg-type,call-overload]
    assert _moov_before_mdat(made.proxy)
    # Sprite: 2 tiles (0 s and 2 s) on one sheet, indexed by the VTT.
    assert [p.name for p in made.sprite_sheets] == ["sprite-000.jpg"]
    from PIL import Image

    with Image.open(made.sprite_sheets[0]) as sheet:
        assert sheet.size == (160 * SPRITE_COLUMNS, 90 * 10)
    assert made.sprite_vtt is not None
    vtt = made.sprite_vtt.read_text()
    assert vtt.count("#xywh=") == 2 and "sprite-000.jpg#xywh=160,0,160,90" in vtt
    # Waveform: 20 peaks a second; lavfi's sine is at 1/8 of full scale, i.e. about 16 of 128.
    assert made.waveform is not None
    peaks = json.loads(made.waveform.read_text())
    assert abs(peaks["length"] - 4.0 * WAVEFORM_PEAKS_PER_SECOND) <= 2
    assert 8 < max(peaks["data"]) <= 17 and -17 <= min(peaks["data"]) < -8
    assert not (made.waveform.parent / "waveform.pcm").exists()


def _upright_frame(path: Path, t: float, rotation: int):
    from workers.media.previews import frames_at

    [(_, image)] = frames_at(path, [t], rotation)
    return image


def _difference(a, b) -> float:
    import numpy as np

    size = (64, 64)
    x = np.asarray(a.convert("L").resize(size), dtype=float)
    y = np.asarray(b.convert("L").resize(size), dtype=float)
    return float(np.mean(np.abs(x - y)))


@pytest.mark.parametrize(("name", "size"), [
    ("phone_android_portrait_4k60_h264_aac_rot90.mp4", (540, 960)),
    ("phone_android_landscape_h264_aac_vfr_rot180.mp4", (960, 540)),
])
def test_rotated_phone_clips_are_upright_in_the_proxy(name, size, tmp_path, ffmpeg) -> None:
    src = shared_media(name)
    facts, made = _encode(src, tmp_path, ffmpeg)
    assert facts.rotation != 0
    assert made.proxy is not None
    proxied = probe_file(made.proxy)
    assert (proxied.display_width, proxied.display_height) == size
    assert proxied.rotation == 0  # the turn is in the pixels, not in a display matrix browsers may ignore
    assert proxied.fps is not None and not proxied.is_vfr
    assert abs((proxied.duration_s or 0) - (facts.duration_s or 0)) < 0.15
    # The proxy's picture at t is the original's, shown upright (and not its mirror or upside down).
    t = min(0.1, (facts.duration_s or 1) / 3)
    original, proxy = _upright_frame(src, t, facts.rotation), _upright_frame(made.proxy, t, 0)
    assert _difference(original, proxy) < _difference(original, proxy.rotate(180)) / 2 + 1


def test_video_without_audio_gets_no_audio_track(tmp_path, ffmpeg) -> None:
    facts, made = _encode(shared_media("android_slowmo_h264_noaudio.mp4"), tmp_path, ffmpeg)
    assert made.proxy is not None and made.waveform is None
    assert "audio" not in _streams(made.proxy)


def test_audio_only_gets_a_waveform_and_no_proxy(tmp_path, ffmpeg) -> None:
    facts, made = _encode(shared_media("trex_roar_cc0_audio_only.mp3"), tmp_path, ffmpeg)
    assert made.proxy is None and made.sprite_vtt is None and not made.sprite_sheets
    assert made.waveform is not None
    peaks = json.loads(made.waveform.read_text())
    assert abs(peaks["length"] - (facts.duration_s or 0) * WAVEFORM_PEAKS_PER_SECOND) <= 3
    assert max(abs(v) for v in peaks["data"]) > 20


def test_geometry_for_the_chunked_encode_matches_the_whole() -> None:
    """The chunk workflow encodes with the same options: the GOP is one second of the proxy's rate."""
    g = proxy_geometry(_facts(fps=25.0))
    assert (g.width, g.height, g.fps, g.gop) == (960, 540, Fraction(25), 25)


@pytest.mark.parametrize("name", [
    "android_hevc10_hlg_landscape.mp4",  # 10-bit HLG HEVC: tone-mapped to 8-bit SDR
    "chrome_mediarecorder_h264_in_webm_vfr.webm",  # VFR live capture that states no duration
    "flower_cc0_vp8_vorbis.webm",
    "mkv_h264_ac3_srt_subtitle.mkv",  # AC-3 sound, a subtitle track left out
    "apple_coremedia_h264_aac_640x428.mov",
])
def test_every_kind_of_phone_and_capture_file_gets_a_playable_proxy(name, tmp_path, ffmpeg) -> None:
    facts, made = _encode(shared_media(name), tmp_path, ffmpeg)
    assert made.proxy is not None and made.geometry is not None
    proxied = probe_file(made.proxy)
    assert proxied.video_codec == "h264" and proxied.pix_fmt == "yuv420p" and proxied.bit_depth == 8
    assert not proxied.is_hdr and not proxied.is_vfr
    w, h = proxied.display_width or 0, proxied.display_height or 0
    assert min(w, h) <= 540 and w % 2 == 0 and h % 2 == 0
    assert proxied.has_audio == facts.has_audio and (not facts.has_audio or proxied.audio_codec == "aac")
    info = _streams(made.proxy)
    assert info["profile"] == "Constrained Baseline"
    assert info["keyframes"] == list(range(0, info["frames"], made.geometry.gop))  # type: ignore[arg-type,call-overload]
    assert made.sprite_vtt is not None and "#xywh=" in made.sprite_vtt.read_text()
