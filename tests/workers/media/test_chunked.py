"""Chunked proxy encoding: the plan and argv (pure), then real encodes compared with the whole-file encode.

The generated source carries its frame number as the brightness of its top half, a white flash in its
bottom half and a 1 kHz beep every 30 frames (1.001 s): decoding the proxy tells which source frame each
proxy frame shows, and how far apart picture and sound are at every join and at the end.
"""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from tests.conftest import ffmpeg_exe, shared_media
from workers.media import chunked as c
from workers.media.facts import MediaFacts
from workers.media.probe import probe_file
from workers.media.proxy import ProxyTargets, build_proxy_argv
from workers.media.run import run_ffmpeg

FF = "/usr/bin/ffmpeg"
NTSC = Fraction(30000, 1001)


# --------------------------------------------------------------------------- pure


def _facts(**over) -> MediaFacts:
    base = dict(media_type="video", container="mp4", demuxer="mov,mp4,m4a,3gp,3g2,mj2", duration_s=600.0,
                video_codec="h264", width=1920, height=1080, display_width=1920, display_height=1080, fps=29.97,
                pix_fmt="yuv420p", bit_depth=8, has_audio=True, audio_codec="aac", audio_channels=2,
                audio_sample_rate=48000)
    return MediaFacts.model_validate({**base, **over})


def test_the_chunks_picture_is_the_proxys():
    video = c.ProxyVideo.of(_facts())
    assert (video.width, video.height, video.rate) == (960, 540, NTSC)
    assert video.gop == 30 and video.timescale == 30000
    assert c.ProxyVideo(960, 540, Fraction(25)).timescale % 25 == 0
    assert c.ProxyVideo.of(_facts(display_width=2160, display_height=3840, fps=60.0)).rate == 30  # capped


def test_chunks_start_on_the_gop_grid_at_or_after_their_keyframe():
    video = c.ProxyVideo(960, 540, Fraction(25))
    # 90.5 s is too close to 89 s for a chunk of its own; 180.5 s starts on frame 4525, the next on the grid.
    keys = [Fraction(0), Fraction(89, 1), Fraction(181, 2), Fraction(361, 2), Fraction(270)]
    chunks = c.plan_chunks(keys, 400.0, video, 90)
    assert [(ch.first_frame, ch.frames, ch.seek) for ch in chunks] == [
        (0, 2225, None), (2225, 2300, Fraction(89)), (4525, 2225, Fraction(361, 2)), (6750, None, Fraction(270)),
    ]
    for ch in chunks:
        assert ch.first_frame % video.gop == 0
        assert ch.seek is None or ch.seek * video.rate <= ch.first_frame
        assert c.Chunk.from_dict(ch.to_dict()) == ch


def test_keyframes_too_close_or_too_near_the_end_are_skipped():
    video = c.ProxyVideo(640, 360, Fraction(30))
    # Every keyframe known (10 s apart): the last one before each 90 s boundary; none at 270 s (25 s left).
    keys = [Fraction(k * 10) for k in range(1, 30)]
    chunks = c.plan_chunks(keys, 295.0, video, 90)
    starts = [ch.first_frame for ch in chunks]
    assert starts == [0, 2700, 5400]
    # Keyframes 100 s apart against 90 s chunks: fewer, longer chunks.
    sparse = c.plan_chunks([Fraction(100), Fraction(200)], 400.0, video, 90)
    assert [ch.first_frame for ch in sparse] == [0, 3000, 6000]
    assert chunks[-1].frames is None and 295 * 30 - starts[-1] >= 45 * 30
    assert c.plan_chunks([], 295.0, video, 90) == [c.Chunk(0, 0, None, None)]
    assert c.boundary_targets(295.0, 90) == [90, 180]  # 270 would leave 25 s
    assert c.boundary_targets(60.0, 90) == []


def test_chunk_argv_seeks_to_the_keyframe_and_keeps_the_frame_range():
    facts = _facts()
    chunk = c.Chunk(1, 2700, 2700, Fraction(9001, 100))
    argv = c.chunk_video_argv(FF, "https://s3.example/src.mp4?sig=1", facts, chunk, "/w/chunk-00001.mp4")
    i = argv.index("-i")
    assert argv[i + 1] == "https://s3.example/src.mp4?sig=1"
    assert argv[argv.index("-ss") + 1] == "90.010000" and "-noaccurate_seek" in argv[:i]
    assert argv.index("-copyts") < i and argv.index("-start_at_zero") < i
    assert argv[argv.index("-format_whitelist") + 1] == "mov,mp4,m4a,3gp,3g2,mj2"
    assert "https" in argv[argv.index("-protocol_whitelist") + 1].split(",")
    vf = argv[argv.index("-filter:v") + 1]
    # The proxy's own filter (workers.media.proxy) with the chunk's frames kept right after its grid.
    assert vf.startswith("fps=fps=30000/1001:start_time=0,trim=start_pts=2700:end_pts=5400,setpts=PTS-STARTPTS,")
    assert vf.endswith("scale=960:540,setsar=1,format=yuv420p")
    assert argv[argv.index("-frames:v") + 1] == "2700"
    assert argv[argv.index("-g") + 1] == "30" and argv[argv.index("-keyint_min") + 1] == "30"
    assert argv[argv.index("-sc_threshold") + 1] == "0" and argv[argv.index("-flags") + 1] == "+cgop"
    assert argv[argv.index("-profile:v") + 1] == "baseline"
    assert "-an" in argv and argv[-1] == "/w/chunk-00001.mp4"
    # A seek time is rounded up to the microsecond: a backward seek then lands on that keyframe.
    assert c._seconds(Fraction(1, 3)) == "0.333334"
    last = c.chunk_video_argv(FF, "/src.mkv", facts, c.Chunk(2, 5400, None, Fraction(180)), "/w/c2.mp4")
    assert "-frames:v" not in last and "trim=start_pts=5400," in last[last.index("-filter:v") + 1]
    first = c.chunk_video_argv(FF, "/src.mkv", facts, c.Chunk(0, 0, 2700, None), "/w/c0.mp4")
    assert "-ss" not in first
    whole = c.chunk_video_argv(FF, "/src.mkv", facts, c.Chunk(0, 0, None, None), "/w/c0.mp4")
    assert "trim" not in whole[whole.index("-filter:v") + 1]
    with pytest.raises(c.ProxyNotPossible):
        c.chunk_video_argv(FF, "/src.mkv", _facts(demuxer=None), chunk, "/w/c.mp4")


def test_audio_and_join_argv():
    video = c.ProxyVideo(960, 540, NTSC)
    audio = c.audio_argv(FF, "/src.flv", _facts(demuxer="flv"), "/w/audio.m4a")
    assert audio[audio.index("-map") + 1] == "0:a:0" and "-vn" in audio
    assert audio[audio.index("-ac") + 1] == "2" and audio[audio.index("-ar") + 1] == "48000"
    assert "first_pts=0" in audio[audio.index("-filter:a") + 1]
    join = c.join_argv(FF, "/w/chunks.ffconcat", "/w/audio.m4a", video, "/w/proxy.mp4")
    assert join[join.index("-c") + 1] == "copy" and join[join.index("-movflags") + 1] == "+faststart"
    assert join[join.index("-f") + 1] == "concat"
    assert c.join_argv(FF, "/w/l", None, video, "/w/p.mp4").count("-map") == 1
    assert c.concat_list(["chunk-00000.mp4", "chunk-00001.mp4"]) == (
        "ffconcat version 1.0\nfile 'chunk-00000.mp4'\nfile 'chunk-00001.mp4'\n")
    with pytest.raises(c.ChunkPlanError):
        c.concat_list(["it's.mp4"])


# --------------------------------------------------------------------------- real encodes


def marker_source(path: Path, seconds: int = 13, gop: int = 37) -> Path:
    """29.97 fps in Matroska (millisecond timestamps: the output grid never matches them exactly),
    B-frames, a keyframe every `gop` frames (off the proxy's one-second grid), 44.1 kHz audio; flash
    and beep together on every 30th frame."""
    ff = ffmpeg_exe()
    subprocess.run([
        ff, "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
        f"color=c=black:s=320x240:r=30000/1001:d={seconds},"
        "geq=lum='if(lt(Y,H/2),mod(N*7,256),if(eq(mod(N,30),0),235,16))':cb=128:cr=128",
        "-f", "lavfi", "-i", f"aevalsrc='if(lt(mod(t,1.001),0.04),0.8*sin(2*PI*1000*t),0)':s=44100:d={seconds}",
        "-c:v", "libx264", "-preset", "ultrafast", "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
        "-bf", "2", "-c:a", "aac", str(path),
    ], check=True)  # fmt: skip
    return path


def frame_marks(path: Path) -> tuple[list[int], list[float]]:
    """Per frame, the source frame number it shows (mod 256, as brightness / 7) and the flash times."""
    ids, flashes = [], []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            gray = frame.to_ndarray(format="gray")
            h = gray.shape[0]
            ids.append(round(float(gray[: h // 2 - 8].mean())))
            if gray[h // 2 + 8:].mean() > 128:
                flashes.append(float(frame.pts * stream.time_base))
    return ids, flashes


def beep_onsets(path: Path) -> list[float]:
    """Times the 1 kHz beeps start (first loud sample after silence)."""
    onsets: list[float] = []
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        quiet_since = -1.0
        for frame in container.decode(stream):
            samples = np.abs(frame.to_ndarray()).max(axis=0)
            t0 = float(frame.pts * stream.time_base)
            loud = np.flatnonzero(samples > 0.2)
            for i in loud:
                t = t0 + i / frame.sample_rate
                if t - quiet_since > 0.5:
                    onsets.append(t)
                quiet_since = t
    return onsets


def sync_offsets(path: Path) -> list[tuple[float, float]]:
    """(time, sound minus picture) for every marker: the A/V offset across the whole proxy."""
    _, flashes = frame_marks(path)
    beeps = beep_onsets(path)
    pairs = []
    for f in flashes:
        near = min(beeps, key=lambda b: abs(b - f))
        pairs.append((f, near - f))
    return pairs


def whole_encode(source: Path, facts: MediaFacts, out: Path) -> Path:
    """The whole-file proxy encode of workers.media.proxy (the reference a chunked one must equal)."""
    run_ffmpeg(build_proxy_argv(source, facts, ProxyTargets(proxy=out), ffmpeg=ffmpeg_exe()), total_seconds=10,
               timeout=300)
    return out


def test_chunked_proxy_equals_the_whole_file_encode_frame_for_frame(tmp_path: Path) -> None:
    source = marker_source(tmp_path / "live.mkv")
    facts = probe_file(source)
    video = c.ProxyVideo.of(facts)
    run = c.encode_chunked(ffmpeg_exe(), str(source), str(tmp_path / "chunked.mp4"), str(tmp_path), facts, 4.0)
    whole = whole_encode(source, facts, tmp_path / "whole.mp4")
    assert len(run.chunks) == 3 and all(ch.seek is not None for ch in run.chunks[1:])
    # Source keyframes every 37 frames are not on the one-second grid: the chunks start on it anyway.
    assert [ch.first_frame for ch in run.chunks] == [0, 120, 240]

    chunked_ids, chunked_flashes = frame_marks(tmp_path / "chunked.mp4")
    whole_ids, whole_flashes = frame_marks(whole)
    assert len(chunked_ids) == len(whole_ids) == 390  # 13 s at 29.97
    assert chunked_ids == whole_ids  # the same source frame in every proxy frame, joins included
    assert chunked_flashes == whole_flashes

    report = run.report
    whole_report = c.measure_join(str(whole), video)
    assert report.frames == whole_report.frames
    assert abs(report.video_duration - whole_report.video_duration) < 1 / 29.97
    assert report.keyframes == list(range(0, 390, 30))  # one keyframe a second, across the joins too
    assert report.video_gaps == [0.0]
    assert report.audio_gap_max == 0.0 and report.audio_gaps_at_joins == [0.0, 0.0]
    # Measured sync: sound minus picture at every marker, at the joins (4 s, 8 s) and at the end.
    offsets = sync_offsets(tmp_path / "chunked.mp4")
    assert len(offsets) == 13
    assert max(abs(o) for _, o in offsets) <= 0.020, offsets
    drift = offsets[-1][1] - offsets[0][1]
    assert abs(drift) <= 0.001, offsets  # no drift: the audio is one encode under every join
    whole_offsets = sync_offsets(whole)
    assert [round(o, 4) for _, o in offsets] == [round(o, 4) for _, o in whole_offsets]
    assert abs(report.av_end_offset - whole_report.av_end_offset) <= 0.001  # type: ignore[operator]


def test_two_chunks_at_a_time_give_the_same_proxy(tmp_path: Path) -> None:
    source = marker_source(tmp_path / "live.mkv", seconds=9)
    facts = probe_file(source)
    one = c.encode_chunked(ffmpeg_exe(), str(source), str(tmp_path / "one.mp4"), str(tmp_path), facts, 3.0)
    (tmp_path / "two").mkdir()
    two = c.encode_chunked(ffmpeg_exe(), str(source), str(tmp_path / "two.mp4"), str(tmp_path / "two"), facts, 3.0,
                           parallel=2)
    assert one.chunks == two.chunks and len(one.chunks) == 3
    assert frame_marks(tmp_path / "one.mp4")[0] == frame_marks(tmp_path / "two.mp4")[0]


def test_a_broken_join_is_refused(tmp_path: Path) -> None:
    video = c.ProxyVideo(320, 240, Fraction(25))
    chunks = [c.Chunk(0, 0, 50, None), c.Chunk(1, 50, None, Fraction(2))]
    good = c.JoinReport(frames=100, video_duration=4.0, audio_duration=4.0, keyframes=[0, 25, 50, 75],
                        video_gaps=[0.0], audio_gap_max=0.0)
    c.validate_join(good, video, chunks, 100, 4.0)
    for broken, message in [
        (c.JoinReport(99, 3.96, 4.0, [0, 25, 50, 75], [0.0]), "99 frames"),
        (c.JoinReport(100, 4.04, 4.0, [0, 25, 50, 75], [0.04]), "video timestamps"),
        (c.JoinReport(100, 4.0, 4.0, [0, 25, 75], [0.0]), "no keyframe"),
        (c.JoinReport(100, 4.0, 3.9, [0, 25, 50, 75], [0.0], audio_gap_max=0.021), "audio breaks"),
        (c.JoinReport(100, 4.0, None, [0, 25, 50, 75], [0.0]), "audio track is missing"),
    ]:
        with pytest.raises(c.ChunkJoinInvalid, match=message):
            c.validate_join(broken, video, chunks, 100, 4.0)


def _repeat(clip: Path, times: int, out: Path) -> Path:
    """The clip `times` over by stream copy: its own timestamps (VFR) and rotation, a keyframe per copy."""
    listing = out.with_suffix(".ffconcat")
    listing.write_text("ffconcat version 1.0\n" + f"file '{clip}'\n" * times)
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing),
                    "-c", "copy", str(out)], check=True)
    return out


def _compare_with_whole(source: Path, chunk_seconds: float, tmp_path: Path,
                        min_chunks: int = 3) -> tuple[c.LocalRun, c.ProxyVideo]:
    facts = probe_file(source)
    video = c.ProxyVideo.of(facts)
    run = c.encode_chunked(ffmpeg_exe(), str(source), str(tmp_path / "chunked.mp4"), str(tmp_path), facts,
                           chunk_seconds)
    whole = whole_encode(source, facts, tmp_path / "whole.mp4")
    assert len(run.chunks) >= min_chunks
    a, b = _gray_frames(tmp_path / "chunked.mp4"), _gray_frames(whole)
    assert len(a) == len(b) == run.report.frames
    assert a[0].shape == (video.height, video.width)
    # The same pictures, up to the noise of two encodes (16x16 block means; which source frame each
    # slot shows is proven exactly on the marker source above).
    worst = max(float(np.abs(_blocks(x) - _blocks(y)).mean()) for x, y in zip(a, b, strict=True))
    assert worst < 1.5
    whole_report = c.measure_join(str(whole), video)
    assert abs(run.report.video_duration - whole_report.video_duration) <= 1 / float(video.rate)
    assert abs(run.report.av_end_offset - whole_report.av_end_offset) <= 0.020  # type: ignore[operator]
    return run, video


def _blocks(gray: np.ndarray) -> np.ndarray:
    h, w = gray.shape[0] // 16 * 16, gray.shape[1] // 16 * 16
    return gray[:h, :w].astype(float).reshape(h // 16, 16, w // 16, 16).mean(axis=(1, 3))


def _gray_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="gray") for f in container.decode(video=0)]


def test_vfr_phone_clip_chunks_join_on_the_original_timeline(tmp_path: Path) -> None:
    clip = shared_media("phone_android_landscape_h264_aac_vfr_rot180.mp4")  # 10.5 fps on average, VFR, 180°
    source = _repeat(clip, 4, tmp_path / "vfr.mp4")
    run, video = _compare_with_whole(source, 2.0, tmp_path)
    assert (video.width, video.height) == (960, 540)
    # A second in the proxy is a second in the original: 4 copies of a 2.38 s clip.
    assert abs(run.report.video_duration - 4 * 2.3798) < 1.5 / float(video.rate)


def test_rotated_portrait_clip_stays_portrait_in_chunks(tmp_path: Path) -> None:
    clip = shared_media("phone_android_portrait_4k60_h264_aac_rot90.mp4")  # 3840x2160 coded, shown 2160x3840
    # Seven loops scaled down, its display matrix kept (no autorotate): decoding 4K in every test encode
    # would cost a minute.
    source = tmp_path / "portrait.mp4"
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-stream_loop", "6", "-noautorotate", "-i", str(clip),
                    "-vf", "scale=480:270", "-c:v", "libx264", "-preset", "ultrafast", "-g", "15", "-c:a", "aac",
                    str(source)], check=True)
    run, video = _compare_with_whole(source, 1.0, tmp_path, min_chunks=2)
    assert (video.width, video.height) == (270, 480)
