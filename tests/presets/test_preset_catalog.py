"""The shipped platform files, the override directory and the loader's error messages."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from presets.loader import SHIPPED_DIR, PresetFileError, load_catalog
from presets.schema import Figure, UnknownPlatform, UnknownPreset

REQUIRED_PLATFORMS = {
    "tmall",
    "douyin",
    "kuaishou",
    "xiaohongshu",
    "wechat_channels",
    "bilibili",
    "weibo",
    "jd",
    "tiktok",
    "youtube",
    "instagram",
}


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_every_required_platform_ships_with_presets_and_channels(catalog):
    assert {p.id for p in catalog.platforms} >= REQUIRED_PLATFORMS
    assert len(list(SHIPPED_DIR.glob("*.toml"))) == len(catalog.platforms)
    for platform in catalog.platforms:
        assert platform.presets, platform.id
        assert platform.channels, platform.id
        assert platform.name.zh and platform.name.en


def test_every_figure_names_its_source_and_status(catalog):
    count = 0
    for preset in catalog.presets():
        figures = preset.figures()
        assert {"aspect", "width", "height", "fps_cap", "audio_sample_rate"} <= set(figures)
        for name, figure in figures.items():
            assert isinstance(figure, Figure)
            assert figure.source.status in ("documented", "commonly_cited"), (preset.id, name)
            assert len(figure.source.ref) > 10, (preset.id, name)
            count += 1
    assert count > 200
    for platform in catalog.platforms:
        for channel in platform.channels:
            assert channel.source.status in ("documented", "commonly_cited")


def test_documented_figures_point_at_a_platform_page(catalog):
    documented = [f for p in catalog.presets() for f in p.figures().values() if f.documented]
    assert documented, "TikTok, YouTube and Instagram document some of their figures"
    for figure in documented:
        assert any(
            host in figure.source.ref for host in ("tiktok.com", "support.google.com", "Meta for Developers")
        )
    # Chinese platforms publish no public spec pages: nothing there may claim to be documented.
    for pid in ("tmall", "douyin", "kuaishou", "xiaohongshu", "wechat_channels", "bilibili", "weibo", "jd"):
        for preset in catalog.platform(pid).presets:
            assert not any(f.documented for f in preset.figures().values()), preset.id


def test_tmall_channels_and_bilibili_daily_cap(catalog):
    tmall = catalog.platform("tmall")
    shipai = tmall.channel("shipai")
    assert shipai.name.zh == "实拍"
    assert shipai.requires == ("video",)
    assert (shipai.opening_threshold, shipai.monthly_minimum, shipai.count_by) == (5, 6, "approval_date")
    assert tmall.channel("video").name.zh == "视频"
    upload = catalog.platform("bilibili").channel("video")
    assert upload.daily_cap == 5 and upload.count_by == "submission_date"
    assert {p.id for p in tmall.presets} >= {
        "tmall.main_video_3x4",
        "tmall.guangguang_9x16",
        "tmall.shipai_3x4",
    }


def test_lookup_by_id_and_unknown_ids(catalog):
    preset = catalog.preset("douyin.feed_9x16")
    assert preset.size == (1080, 1920) and preset.platform == "douyin"
    assert preset.aspect.value == "9:16"
    with pytest.raises(UnknownPreset):
        catalog.preset("nope.preset")
    with pytest.raises(UnknownPlatform):
        catalog.platform("nope")


def test_reframe_fallback_is_per_preset(catalog):
    # a smart reframe with nobody to follow: the centre crop unless the preset asks for the padded frame
    assert catalog.preset("douyin.feed_9x16").reframe_fallback == "centre"
    assert catalog.preset("tmall.main_video_3x4").reframe_fallback == "pad"
    with pytest.raises(ValidationError):
        type(catalog.preset("douyin.feed_9x16")).model_validate(
            {**catalog.preset("douyin.feed_9x16").model_dump(), "reframe_fallback": "zoom"}
        )


def test_models_are_frozen(catalog):
    preset = catalog.preset("douyin.feed_9x16")
    with pytest.raises(ValidationError):
        preset.crf = 30


def write(d: Path, name: str, text: str) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    path = d / name
    path.write_text(text, encoding="utf-8")
    return path


def test_override_dir_changes_fields_and_rules_and_adds_platforms(tmp_path):
    write(
        tmp_path,
        "douyin.toml",
        """
id = "douyin"
[sources.our_account]
status = "commonly_cited"
ref = "Our Douyin account manager, email of 2026-10-02"
[[presets]]
id = "douyin.feed_9x16"
fps_cap = { value = 30, source = "our_account" }
crf = 23
[[channels]]
id = "video"
daily_cap = 3
""",
    )
    write(
        tmp_path,
        "tmall-rules.toml",
        """
id = "tmall"
[[channels]]
id = "shipai"
monthly_minimum = 8
""",
    )
    write(
        tmp_path,
        "dewu.toml",
        """
id = "dewu"
name = { zh = "得物", en = "Dewu" }
[sources.team]
status = "commonly_cited"
ref = "Brand team's own upload checklist"
[[presets]]
id = "dewu.feed_3x4"
label = { zh = "得物 3:4", en = "Dewu 3:4" }
aspect = { value = "3:4", source = "team" }
width = { value = 1080, source = "team" }
height = { value = 1440, source = "team" }
fps_cap = { value = 30, source = "team" }
video_codec = { value = "h264", source = "team" }
maxrate_kbps = 6000
bufsize_kbps = 12000
audio_codec = { value = "aac", source = "team" }
audio_sample_rate = { value = 48000, source = "team" }
audio_channels = { value = 2, source = "team" }
[[channels]]
id = "video"
name = { zh = "视频", en = "Video" }
source = "team"
""",
    )
    catalog = load_catalog(tmp_path)
    feed = catalog.preset("douyin.feed_9x16")
    assert feed.fps_cap.value == 30 and feed.fps_cap.source.ref.startswith("Our Douyin")
    assert feed.crf == 23
    assert feed.width.value == 1080  # untouched fields keep the shipped value
    assert catalog.platform("douyin").channel("video").daily_cap == 3
    shipai = catalog.platform("tmall").channel("shipai")
    assert shipai.monthly_minimum == 8 and shipai.opening_threshold == 5
    assert catalog.preset("dewu.feed_3x4").size == (1080, 1440)
    assert catalog.preset("douyin.landscape_16x9").fps_cap.value == 60


def test_bad_value_names_file_and_field(tmp_path):
    override = write(
        tmp_path, "douyin.toml", 'id = "douyin"\n[[presets]]\nid = "douyin.feed_9x16"\ncrf = "high"\n'
    )
    with pytest.raises(PresetFileError) as e:
        load_catalog(tmp_path)
    msg = str(e.value)
    assert str(override) in msg and "douyin.toml" in msg
    assert "presets[douyin.feed_9x16].crf" in msg


def test_unknown_source_and_unknown_field_and_bad_toml(tmp_path):
    write(
        tmp_path / "a",
        "douyin.toml",
        'id = "douyin"\n[[presets]]\nid = "douyin.feed_9x16"\nwidth = { value = 720, source = "nowhere" }\n',
    )
    with pytest.raises(
        PresetFileError, match=r"presets\[douyin.feed_9x16\].width.source: unknown source id 'nowhere'"
    ):
        load_catalog(tmp_path / "a")
    write(tmp_path / "b", "douyin.toml", 'id = "douyin"\n[[presets]]\nid = "douyin.feed_9x16"\nwidht = 3\n')
    with pytest.raises(PresetFileError, match=r"widht: Extra inputs are not permitted"):
        load_catalog(tmp_path / "b")
    write(tmp_path / "c", "broken.toml", 'id = "x"\nname = {zh = \n')
    with pytest.raises(PresetFileError, match=r"broken.toml: cannot read TOML"):
        load_catalog(tmp_path / "c")
    write(
        tmp_path / "d",
        "douyin.toml",
        'id = "douyin"\n[[presets]]\nid = "douyin.feed_9x16"\n'
        'width = { value = 1000, source = "creator_guides" }\n',
    )
    with pytest.raises(PresetFileError, match="does not match aspect 9:16"):
        load_catalog(tmp_path / "d")


def test_shipped_figures_without_source_are_rejected(tmp_path):
    text = (SHIPPED_DIR / "kuaishou.toml").read_text(encoding="utf-8")
    write(
        tmp_path,
        "kuaishou.toml",
        text.replace('fps_cap = { value = 30, source = "creator_guides" }', "fps_cap = 30"),
    )
    with pytest.raises(PresetFileError, match=r"kuaishou.toml: presets\[kuaishou.feed_9x16\].fps_cap"):
        load_catalog(shipped_dir=tmp_path)


def test_missing_override_dir_is_an_error(tmp_path):
    with pytest.raises(PresetFileError, match="does not exist"):
        load_catalog(tmp_path / "missing")


def test_platform_minimum_sizes_name_their_source_and_fit_the_preset(catalog, tmp_path):
    minimums = {p.id: p.min_short_side_px for p in catalog.presets() if p.min_short_side_px}
    assert minimums["xiaohongshu.note_3x4"].value == 720 and minimums["tiktok.feed_9x16"].value == 360
    assert minimums["tiktok.feed_9x16"].documented and not minimums["douyin.feed_9x16"].documented
    assert all(m.value <= min(catalog.preset(pid).size) for pid, m in minimums.items())
    write(
        tmp_path, "douyin.toml",
        'id = "douyin"\n[[presets]]\nid = "douyin.feed_9x16"\n'
        'min_short_side_px = { value = 2000, source = "creator_guides" }\n',
    )
    with pytest.raises(PresetFileError, match="min_short_side_px"):
        load_catalog(tmp_path)


def test_presets_of_one_frame_and_bitrate_cap_share_their_encoder_settings(catalog):
    # crf and x264 speed are tuned per family (frame + max rate) by bench/encoder_tuning.py; two presets of
    # one family with different settings mean one of them was edited by hand and the tuning no longer holds.
    families: dict[tuple[int, int, int], set[tuple[int, str, str]]] = {}
    for p in catalog.presets():
        params = p.x264_params.argv_value() if p.x264_params else ""
        families.setdefault((*p.size, p.maxrate_kbps), set()).add((p.crf, p.x264_preset, params))
    assert {k: v for k, v in families.items() if len(v) > 1} == {}


def test_x264_params_take_motion_search_keys_only(tmp_path):
    def override(line: str):
        write(tmp_path, "douyin.toml", f'id = "douyin"\n[[presets]]\nid = "douyin.feed_9x16"\n{line}\n')
        return load_catalog(tmp_path).preset("douyin.feed_9x16")

    preset = override('x264_params = { me = "umh", subme = 4 }')
    assert preset.x264_params is not None and preset.x264_params.argv_value() == "me=umh:subme=4"
    assert override("x264_params = { subme = 1 }").x264_params.argv_value() == "subme=1"
    refused = (
        'x264_params = { me = "dia", threads = 64 }',  # a key outside the allow-list
        'x264_params = { me = "dia:threads=64" }',  # a value smuggling a second option
        'x264_params = { me = "esa" }',  # exhaustive search: not a value reelhouse allows
        "x264_params = { subme = 0 }",
        "x264_params = { subme = 11 }",
        'x264_params = "me=dia:subme=1"',  # a free-form string
    )
    for line in refused:
        with pytest.raises(PresetFileError, match="x264_params"):
            override(line)
