"""Real renders with the ffmpeg binary: tiny generated clips and ../shared/media samples."""

import dataclasses
import subprocess
from pathlib import Path

import av
import pytest
from PIL import Image

from tests.conftest import service_missing
from workers.media.argv import (
    Bookend,
    OutputSpec,
    RenderRecipe,
    SubtitleBurn,
    TimeRange,
    TitleText,
    Watermark,
    build_render_argv,
    output_duration,
    plan_outputs,
)
from workers.media.run import FfmpegFailed, cjk_font_path, ffmpeg_filters, run_ffmpeg


def stream_facts(path: Path) -> dict:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        a = c.streams.audio[0] if c.streams.audio else None
        frames = sum(1 for _ in c.demux(v) if _.size)
        return {
            "size": (v.codec_context.width, v.codec_context.height),
            "fps": float(v.average_rate or 0),
            "duration": float(c.duration) / 1e6,
            "pix_fmt": v.codec_context.pix_fmt,
            "codec": v.codec_context.name,
            "audio": a.codec_context.name if a else None,
            "channels": a.codec_context.channels if a else 0,
            "rotation": _rotation(v),
            "frames": frames,
        }


def _rotation(stream) -> int:
    for sd in getattr(stream, "side_data", None) or []:
        if "matrix" in str(getattr(sd, "type", "")).lower():
            return 1
    return 0


def render(ffmpeg, source, recipe, specs):
    argv = build_render_argv(source, recipe, specs, ffmpeg=ffmpeg, filters=ffmpeg_filters(ffmpeg))
    seen = []
    run_ffmpeg(argv, total_seconds=output_duration(source, recipe), timeout=120, on_progress=seen.append)
    assert seen and seen[-1] == 1.0
    return plan_outputs(source, recipe, specs)


def test_three_presets_from_two_ranges_with_overlays(ffmpeg, make_clip, source_facts, catalog, tmp_path):
    clip = make_clip(640, 360, 4.0)
    src = source_facts(clip)
    logo = tmp_path / "logo.png"
    Image.new("RGBA", (64, 32), (255, 0, 0, 180)).save(logo)
    subs = tmp_path / "subs.srt"
    subs.write_text("1\n00:00:00,000 --> 00:00:01,500\n直播回放：夏季新品\n", encoding="utf-8")
    font = cjk_font_path()
    if font is None:
        service_missing("a CJK font (Debian fonts-noto-cjk, or REELHOUSE_CJK_FONT_PATH)")
    recipe = RenderRecipe(
        ranges=(TimeRange(0.5, 1.5), TimeRange(2.0, 3.5)),
        loudnorm=True,
        watermark=Watermark(str(logo)),
        title=TitleText("夏季新品 限时: 5折, [直播]", font_file=font),
        subtitles=SubtitleBurn(str(subs), fonts_dir=str(Path(font).parent)),
    )
    specs = [
        OutputSpec(catalog.preset("douyin.feed_9x16"), str(tmp_path / "douyin.mp4")),
        OutputSpec(catalog.preset("xiaohongshu.note_3x4"), str(tmp_path / "xhs.mp4"), fit="pad"),
        OutputSpec(catalog.preset("weibo.landscape_720p"), str(tmp_path / "weibo.mp4")),
    ]
    plans = render(ffmpeg, src, recipe, specs)
    expected = {"douyin.mp4": (360, 640), "xhs.mp4": (480, 640), "weibo.mp4": (640, 360)}
    for plan in plans:
        facts = stream_facts(Path(plan.spec.path))
        assert facts["size"] == expected[Path(plan.spec.path).name] == (plan.width, plan.height)
        assert facts["codec"] == "h264" and facts["pix_fmt"] == "yuv420p"
        assert facts["audio"] == "aac" and facts["channels"] == 2
        assert facts["fps"] == pytest.approx(30, abs=0.01)
        assert facts["duration"] == pytest.approx(2.5, abs=0.15)
        assert facts["frames"] == pytest.approx(75, abs=2)


def test_fast_mode_stream_copies(ffmpeg, make_clip, source_facts, catalog, tmp_path):
    clip = make_clip(1280, 720, 3.0, gop=15)
    src = source_facts(clip)
    preset = catalog.preset("weibo.landscape_720p")
    recipe = RenderRecipe(ranges=(TimeRange(1.0, 2.5),), mode="fast")
    plans = render(ffmpeg, src, recipe, [OutputSpec(preset, str(tmp_path / "copy.mp4"))])
    assert plans[0].copy
    facts = stream_facts(tmp_path / "copy.mp4")
    assert facts["size"] == (1280, 720) and facts["audio"] == "aac"
    assert facts["duration"] == pytest.approx(1.5, abs=0.6)  # cut snaps to the keyframe before 1.0 s


def test_source_shorter_than_the_range_is_clamped(ffmpeg, make_clip, source_facts, catalog, tmp_path):
    src = source_facts(make_clip(320, 240, 2.0, audio=False))
    recipe = RenderRecipe(ranges=(TimeRange(1.0, 9.0),))
    render(ffmpeg, src, recipe, [OutputSpec(catalog.preset("kuaishou.feed_9x16"), str(tmp_path / "k.mp4"))])
    facts = stream_facts(tmp_path / "k.mp4")
    assert facts["audio"] == "aac"  # silence added: the preset requires an audio track
    assert facts["duration"] == pytest.approx(1.0, abs=0.1)
    assert facts["size"] == (180, 320)


def test_x264_params_reach_the_encoder_and_the_rendition_is_valid(
    ffmpeg, make_clip, source_facts, catalog, tmp_path
):
    from presets.schema import X264Params

    src = source_facts(make_clip(640, 360, 2.0))
    preset = catalog.preset("weibo.landscape_720p").model_copy(update={"x264_params": X264Params(me="dia", subme=1)})
    out = tmp_path / "dia.mp4"
    render(ffmpeg, src, RenderRecipe(ranges=(TimeRange(0, 2.0),)), [OutputSpec(preset, str(out))])
    facts = stream_facts(out)
    assert facts["size"] == (640, 360) and facts["audio"] == "aac"
    assert facts["duration"] == pytest.approx(2.0, abs=0.1)
    # x264 writes the options it encoded with into the stream (an SEI message).
    written = out.read_bytes()
    assert b" me=dia " in written and b" subme=1 " in written


def test_intro_clip_and_image_outro_join_the_cut(ffmpeg, make_clip, source_facts, catalog, tmp_path):
    """A silent intro of another size + a 2 s cut + a 1 s title card: one output at the preset's size."""
    intro = source_facts(make_clip(160, 160, 1.0, fps=25, audio=False))
    src = source_facts(make_clip(320, 240, 3.0))
    card = tmp_path / "outro.png"
    Image.new("RGB", (90, 160), (20, 40, 200)).save(card)
    recipe = RenderRecipe(
        ranges=(TimeRange(0.5, 2.5),),
        allow_upscale=True,
        intro=Bookend(intro.path, intro.duration, intro),
        outro=Bookend(str(card), 1.0),
    )
    assert output_duration(src, recipe) == pytest.approx(4.0)
    out = tmp_path / "joined.mp4"
    plans = render(ffmpeg, src, recipe, [OutputSpec(catalog.preset("weibo.landscape_720p"), str(out))])
    facts = stream_facts(out)
    assert facts["size"] == (1280, 720) == (plans[0].width, plans[0].height)
    assert facts["pix_fmt"] == "yuv420p" and facts["audio"] == "aac" and facts["channels"] == 2
    assert facts["fps"] == pytest.approx(30, abs=0.01)
    assert facts["duration"] == pytest.approx(4.0, abs=0.15)
    assert facts["frames"] == pytest.approx(120, abs=3)


# ---------------------------------------------------------------------------- ../shared/media


@pytest.mark.shared_media
@pytest.mark.parametrize(
    ("name", "preset_id", "fit", "expected_size", "fps"),
    [
        # portrait phone clip, 4K60 coded 3840x2160 with -90 rotation: displayed 2160x3840
        ("phone_android_portrait_4k60_h264_aac_rot90.mp4", "douyin.feed_9x16", "crop", (1080, 1920), 60),
        # 180-degree rotated VFR landscape
        (
            "phone_android_landscape_h264_aac_vfr_rot180.mp4",
            "weibo.landscape_720p",
            "crop",
            (1280, 720),
            10.527,
        ),
        # H.264 in WebM, VFR, no audio track
        ("chrome_mediarecorder_h264_in_webm_vfr.webm", "xiaohongshu.note_3x4", "pad", (480, 640), 29.961),
        # HEVC 10-bit HLG
        ("android_hevc10_hlg_landscape.mp4", "bilibili.landscape_16x9", "crop", (1920, 1080), 29.99),
        # slow motion, no audio
        ("android_slowmo_h264_noaudio.mp4", "tiktok.feed_9x16", "crop", (720, 1280), 12.195),
        # Matroska with AC-3 audio and a subtitle track
        ("mkv_h264_ac3_srt_subtitle.mkv", "tmall.main_video_1x1", "crop", (1080, 1080), 29.99),
    ],
)
def test_shared_samples_render(
    media_dir, ffmpeg, source_facts, catalog, tmp_path, name, preset_id, fit, expected_size, fps
):
    path = media_dir / name
    src = source_facts(path)
    recipe = RenderRecipe(ranges=(TimeRange(0, min(src.duration, 1.0)),))
    out = tmp_path / "out.mp4"
    spec = OutputSpec(catalog.preset(preset_id), str(out), fit=fit)
    plans = render(ffmpeg, src, recipe, [spec])
    facts = stream_facts(out)
    assert facts["size"] == expected_size == (plans[0].width, plans[0].height)
    assert facts["codec"] == "h264" and facts["pix_fmt"] == "yuv420p"
    assert facts["audio"] == "aac"  # silence added where the source had none
    assert facts["rotation"] == 0  # pixels are upright; no display matrix left to apply
    assert facts["fps"] == pytest.approx(float(plans[0].fps), rel=0.01)
    assert plans[0].fps == pytest.approx(min(fps, catalog.preset(preset_id).fps_cap.value), rel=0.01)
    assert facts["duration"] == pytest.approx(recipe.ranges[0].end, abs=0.15)


def tiny_gray(ffmpeg, path: Path, *extra: str) -> bytes:
    argv = [ffmpeg, "-v", "error", *extra, "-i", str(path), "-frames:v", "1"]
    argv += ["-vf", "scale=9:16,format=gray", "-f", "rawvideo", "-"]
    return subprocess.run(argv, capture_output=True, check=True).stdout


def mean_diff(a: bytes, b: bytes) -> float:
    return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a)


@pytest.mark.shared_media
def test_portrait_rotation_is_applied_to_pixels(media_dir, ffmpeg, source_facts, catalog, tmp_path):
    """The render looks like the upright source, not like its sideways coded frames."""
    path = media_dir / "phone_android_portrait_4k60_h264_aac_rot90.mp4"
    src = source_facts(path)
    assert src.size == (2160, 3840)
    out = tmp_path / "p.mp4"
    spec = OutputSpec(catalog.preset("douyin.feed_9x16"), str(out))
    render(ffmpeg, src, RenderRecipe(ranges=(TimeRange(0, 0.3),)), [spec])
    rendered = tiny_gray(ffmpeg, out)
    upright = tiny_gray(ffmpeg, path)
    sideways = tiny_gray(ffmpeg, path, "-noautorotate")
    assert mean_diff(rendered, upright) < 8
    assert mean_diff(rendered, upright) < mean_diff(rendered, sideways) / 2


@pytest.mark.shared_media
def test_hlg_source_comes_out_8bit_bt709(media_dir, ffmpeg, source_facts, catalog, tmp_path):
    src = source_facts(media_dir / "android_hevc10_hlg_landscape.mp4")
    assert src.facts.is_hdr and src.facts.bit_depth == 10
    out = tmp_path / "sdr.mp4"
    render(
        ffmpeg,
        src,
        RenderRecipe(ranges=(TimeRange(0, 0.3),)),
        [OutputSpec(catalog.preset("weibo.landscape_720p"), str(out))],
    )
    with av.open(str(out)) as c:
        cc = c.streams.video[0].codec_context
        assert cc.pix_fmt == "yuv420p"
        frame = next(c.decode(video=0))
        assert str(frame.color_trc).lower().endswith(("bt709", "1")) or int(frame.color_trc) == 1


def test_format_whitelist_refuses_a_file_that_is_not_what_was_probed(
    ffmpeg, make_clip, source_facts, catalog, tmp_path
):
    probed = source_facts(make_clip(320, 240, 2.0))
    src = dataclasses.replace(probed, facts=probed.facts.model_copy(update={"demuxer": "matroska,webm"}))
    spec = [OutputSpec(catalog.preset("weibo.landscape_720p"), str(tmp_path / "x.mp4"))]
    argv = build_render_argv(src, RenderRecipe(ranges=(TimeRange(0, 1),)), spec, ffmpeg=ffmpeg)
    with pytest.raises(FfmpegFailed):
        run_ffmpeg(argv, total_seconds=1, timeout=60)
    assert not (tmp_path / "x.mp4").exists()
