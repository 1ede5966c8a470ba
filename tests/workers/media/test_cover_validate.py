"""Covers per preset spec, and validating a rendition against its preset."""

from pathlib import Path

import pytest
from PIL import Image

from workers.media.cover import fit_cover, render_cover
from workers.media.validate import RenditionFacts, lowered_maxrate_kbps, probe_rendition, validate_rendition


def test_cover_matches_the_preset_cover_spec(ffmpeg, make_clip, catalog, tmp_path):
    preset = catalog.preset("tmall.main_video_3x4")
    out = tmp_path / "cover.jpg"
    size = render_cover(make_clip(640, 360, 3.0), preset, out, ffmpeg=ffmpeg, at=1.0)
    assert size == (750, 1000)
    with Image.open(out) as img:
        assert img.format == "JPEG" and img.size == (750, 1000)


def test_fit_cover_centre_crops():
    img = Image.new("RGB", (400, 100), "red")
    img.paste(Image.new("RGB", (100, 100), "blue"), (150, 0))
    cover = fit_cover(img, 50, 50)
    assert cover.size == (50, 50) and cover.getpixel((25, 25)) == (0, 0, 255)


def facts(**kw) -> RenditionFacts:
    base = dict(
        width=1080,
        height=1920,
        duration=30.0,
        size_bytes=20 * 1024 * 1024,
        fps=30.0,
        video_codec="h264",
        has_audio=True,
        audio_codec="aac",
    )
    base.update(kw)
    return RenditionFacts(**base)


def test_conforming_rendition_has_no_violations(catalog):
    assert validate_rendition(facts(), catalog.preset("instagram.reels_9x16")) == []


def test_each_violation_names_the_preset_field(catalog):
    reels = catalog.preset("instagram.reels_9x16")
    found = validate_rendition(
        facts(width=720, height=1281, duration=2.0, size_bytes=400 * 1024 * 1024, fps=120, has_audio=False),
        reels,
    )
    assert {v.field for v in found} == {
        "size",
        "fps_cap",
        "requires_audio",
        "min_duration_s",
        "max_file_size_mb",
    }
    too_long = validate_rendition(facts(duration=200.0), catalog.preset("youtube.shorts_9x16"))
    assert [v.field for v in too_long] == ["max_duration_s"]
    planned_smaller = validate_rendition(facts(width=720, height=1280), reels, expected_size=(720, 1280))
    assert planned_smaller == []


def test_lowered_bitrate_fits_the_size_limit(catalog):
    reels = catalog.preset("instagram.reels_9x16")  # 300 MB limit
    assert lowered_maxrate_kbps(facts(), reels) is None
    over = facts(duration=600.0, size_bytes=450 * 1024 * 1024)
    kbps = lowered_maxrate_kbps(over, reels)
    assert kbps is not None
    projected_mb = (kbps + reels.audio_bitrate_kbps) * 1000 / 8 * 600 / 1024 / 1024
    assert projected_mb < 300
    assert lowered_maxrate_kbps(over, catalog.preset("douyin.feed_9x16")) is None  # no size limit stated


def test_probe_rendition_reads_our_output(make_clip):
    f = probe_rendition(Path(make_clip(320, 240, 2.0)))
    assert (f.width, f.height, f.video_codec, f.has_audio) == (320, 240, "h264", True)
    assert f.duration == pytest.approx(2.0, abs=0.1)


def test_size_warnings_say_whether_the_platform_minimum_is_met(catalog):
    from workers.media.validate import size_warnings

    note = catalog.preset("xiaohongshu.note_3x4")  # 1080x1440; the platform asks 720 px or more
    assert size_warnings(facts(width=1080, height=1440), note) == []
    small = size_warnings(facts(width=636, height=848), note)  # the 480p clip of issue 15
    assert [(w.code, w.actual, w.platform_minimum_met) for w in small] == [
        ("below-preset-size", "636x848", False),
        ("below-platform-minimum", "636 px", False),
    ]
    (enough,) = size_warnings(facts(width=720, height=960), note)
    assert (enough.code, enough.platform_minimum_px, enough.platform_minimum_met) == ("below-preset-size", 720, True)
    (unknown,) = size_warnings(facts(width=540, height=960), catalog.preset("bilibili.vertical_9x16"))
    assert (unknown.platform_minimum_px, unknown.platform_minimum_met) == (None, None)
