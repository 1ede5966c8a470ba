"""build_render_argv as data: assertions on the argv list, no ffmpeg run."""

import pytest

from workers.media.argv import (
    Bookend,
    CropKey,
    OutputSpec,
    RecipeError,
    RenderRecipe,
    SourceFacts,
    SubtitleBurn,
    TimeRange,
    TitleText,
    Watermark,
    build_render_argv,
    escape_filter_value,
    output_duration,
    output_size,
    plan_outputs,
)
from workers.media.facts import MediaFacts

MP4 = "mov,mp4,m4a,3gp,3g2,mj2"


def src(path: str = "/in/live.mp4", **kw) -> SourceFacts:
    """A 2-hour 1080p live recording; `kw` are MediaFacts fields (width/height set the displayed size too)."""
    facts = dict(
        media_type="video", container="mp4", demuxer=MP4, duration_s=7200.0, width=1920, height=1080,
        fps=30.0, has_audio=True, video_codec="h264", pix_fmt="yuv420p", bit_depth=8, audio_codec="aac",
    )
    facts.update(kw)
    facts.setdefault("display_width", facts["width"])
    facts.setdefault("display_height", facts["height"])
    return SourceFacts(path, MediaFacts(**facts))


@pytest.fixture
def three(catalog):
    return [
        OutputSpec(catalog.preset("douyin.feed_9x16"), "/out/a.mp4"),
        OutputSpec(catalog.preset("xiaohongshu.note_3x4"), "/out/b.mp4"),
        OutputSpec(catalog.preset("weibo.landscape_720p"), "/out/c.mp4"),
    ]


def graph_of(argv: list[str]) -> str:
    return argv[argv.index("-filter_complex") + 1]


def test_one_process_one_split_input_side_seeking(three):
    recipe = RenderRecipe(ranges=(TimeRange(3600, 3615), TimeRange(4000, 4010.5)))
    argv = build_render_argv(src(), recipe, three, ffmpeg="ffmpeg")
    assert argv[0] == "ffmpeg"
    inputs = [i for i, a in enumerate(argv) if a == "-i"]
    assert len(inputs) == 2
    for i, start, dur in zip(inputs, ("3600", "4000"), ("15", "10.5"), strict=True):
        assert argv[i - 4 : i] == ["-ss", start, "-t", dur]  # seeking happens before -i, on the input
        assert argv[i - 8 : i - 4] == ["-protocol_whitelist", "file", "-format_whitelist", MP4]
        assert argv[i + 1] == "file:/in/live.mp4"
    graph = graph_of(argv)
    assert graph.count(",split=3[") == 1 and graph.count("asplit=3[") == 1
    assert graph.count("concat=n=2:v=1:a=1") == 1
    assert argv.count("libx264") == 3 and argv.count("aac") == 3
    assert argv.count("-filter_complex") == 1
    for flag in ("-nostdin", "-nostats"):
        assert flag in argv
    assert argv[argv.index("-progress") + 1] == "pipe:1"
    assert argv[-1] == "file:/out/c.mp4"


def test_per_output_x264_settings_follow_the_preset(three):
    # Give one preset settings no shipped preset has, so the argv can only have them from that preset.
    tuned = three[1].preset.model_copy(update={"crf": 27, "x264_preset": "faster"})
    outputs = [three[0], OutputSpec(tuned, three[1].path), three[2]]
    argv = build_render_argv(src(), RenderRecipe(ranges=(TimeRange(0, 10),)), outputs, ffmpeg="ffmpeg")
    out_b = argv.index("file:/out/b.mp4")
    opts = argv[argv.index("[v1out]") : out_b]
    assert opts[opts.index("-crf") + 1] == "27"
    assert opts[opts.index("-maxrate") + 1] == "8000k" and opts[opts.index("-bufsize") + 1] == "16000k"
    assert opts[opts.index("-profile:v") + 1] == "high" and opts[opts.index("-level:v") + 1] == "4.1"
    assert opts[opts.index("-g") + 1] == "60"  # 2 s GOP at 30 fps
    assert opts[opts.index("-movflags") + 1] == "+faststart"
    assert opts[opts.index("-preset") + 1] == "faster"
    first = argv[argv.index("[v0out]") : argv.index("file:/out/a.mp4")]
    assert first[first.index("-crf") + 1] == str(three[0].preset.crf)
    assert first[first.index("-preset") + 1] == three[0].preset.x264_preset


def test_x264_params_reach_only_their_output(three):
    from presets.schema import X264Params

    plain = three[0].preset.model_copy(update={"x264_params": None})
    fast = three[1].preset.model_copy(update={"x264_params": X264Params(me="dia", subme=1)})
    empty = three[2].preset.model_copy(update={"x264_params": X264Params()})
    outputs = [OutputSpec(plain, three[0].path), OutputSpec(fast, three[1].path), OutputSpec(empty, three[2].path)]
    argv = build_render_argv(src(), RenderRecipe(ranges=(TimeRange(0, 10),)), outputs, ffmpeg="ffmpeg")
    assert argv.count("-x264-params") == 1
    opts = argv[argv.index("[v1out]") : argv.index("file:/out/b.mp4")]
    assert opts[opts.index("-x264-params") + 1] == "me=dia:subme=1"
    assert opts.index("-x264-params") > opts.index("-preset")  # applied on top of the speed preset


def test_shipped_motion_search_follows_the_tuning(catalog):
    # bench/RESULTS.md "Faster x264 motion search per preset family": the faster search kept the quality rule
    # for landscape and square families only; the 9:16 and 3:4 families keep veryfast's own.
    def params(preset_id: str) -> str | None:
        spec = OutputSpec(catalog.preset(preset_id), "/out/x.mp4")
        argv = build_render_argv(src(), RenderRecipe(ranges=(TimeRange(0, 10),)), [spec], ffmpeg="ffmpeg")
        return argv[argv.index("-x264-params") + 1] if "-x264-params" in argv else None

    for preset_id in ("douyin.landscape_16x9", "weibo.landscape_720p", "jd.main_video_1x1", "tmall.main_video_1x1"):
        assert params(preset_id) == "me=dia:subme=1", preset_id
    for preset_id in ("douyin.feed_9x16", "kuaishou.feed_9x16", "xiaohongshu.note_3x4", "wechat_channels.feed_6x7"):
        assert params(preset_id) is None, preset_id


def test_no_audio_source_gets_silence_only_where_required(catalog):
    reels = catalog.preset("instagram.reels_9x16")
    silent_ok = reels.model_copy(update={"requires_audio": False, "id": "x.silent"})
    outs = [OutputSpec(reels, "/o/1.mp4"), OutputSpec(silent_ok, "/o/2.mp4")]
    argv = build_render_argv(
        src(has_audio=False, audio_codec=None), RenderRecipe(ranges=(TimeRange(0, 5),)), outs, ffmpeg="ffmpeg"
    )
    graph = graph_of(argv)
    assert "anullsrc=r=48000:cl=stereo,atrim=duration=5" in graph
    assert "[0:a:0]" not in graph
    assert "[a0out]" in argv and "[a1out]" not in argv


def test_no_upscaling_unless_asked(catalog):
    tiny = src(width=320, height=240)
    douyin = catalog.preset("douyin.feed_9x16")
    assert output_size(320, 240, 1080, 1920, False) == (180, 320)
    assert output_size(1280, 720, 1080, 1920, False) == (720, 1280)
    assert output_size(1920, 1080, 1080, 1920, False) == (1080, 1920)  # reframing keeps the class
    assert output_size(3840, 2160, 1080, 1920, False) == (1080, 1920)
    plans = plan_outputs(tiny, RenderRecipe(ranges=(TimeRange(0, 1),)), [OutputSpec(douyin, "/o.mp4")])
    assert (plans[0].width, plans[0].height) == (180, 320)
    up = plan_outputs(
        tiny, RenderRecipe(ranges=(TimeRange(0, 1),), allow_upscale=True), [OutputSpec(douyin, "/o.mp4")]
    )
    assert (up[0].width, up[0].height) == (1080, 1920)
    assert output_size(641, 427, 1080, 1920, False) == (360, 640)


def test_odd_source_dimensions_give_even_output(catalog):
    odd = src(width=641, height=427)
    plans = plan_outputs(
        odd,
        RenderRecipe(ranges=(TimeRange(0, 1),)),
        [OutputSpec(catalog.preset("douyin.feed_9x16"), "/o.mp4", fit=f) for f in ("crop", "pad")],
    )
    for p in plans:
        assert p.width % 2 == 0 and p.height % 2 == 0


def test_hdr_is_tone_mapped_to_8bit_sdr_once(three):
    hlg = src(video_codec="hevc", pix_fmt="yuv420p10le", bit_depth=10, color_transfer="arib-std-b67")
    graph = graph_of(build_render_argv(hlg, RenderRecipe(ranges=(TimeRange(0, 1),)), three, ffmpeg="ffmpeg"))
    assert graph.count("tonemap=tonemap=hable") == 1
    assert "zscale=tin=arib-std-b67:pin=bt2020:min=bt2020nc:t=linear" in graph
    assert graph.index("tonemap") < graph.index("split=3")
    no_zimg = build_render_argv(
        hlg, RenderRecipe(ranges=(TimeRange(0, 1),)), three, ffmpeg="ffmpeg", filters=frozenset({"drawtext"})
    )
    assert "zscale" not in graph_of(no_zimg) and "format=yuv420p" in graph_of(no_zimg)


def test_sdr_source_has_no_tone_mapping_but_8bit_format(three):
    graph = graph_of(
        build_render_argv(src(), RenderRecipe(ranges=(TimeRange(0, 1),)), three, ffmpeg="ffmpeg")
    )
    assert "tonemap" not in graph and "format=yuv420p,fps=30,split=3" in graph


def test_vfr_source_goes_cfr_and_differing_caps_stay_per_branch(catalog):
    vfr = src(fps=59.94, is_vfr=True)
    outs = [
        OutputSpec(catalog.preset("douyin.feed_9x16"), "/a.mp4"),
        OutputSpec(catalog.preset("weibo.vertical_9x16"), "/b.mp4"),
    ]
    argv = build_render_argv(vfr, RenderRecipe(ranges=(TimeRange(0, 1),)), outs, ffmpeg="ffmpeg")
    graph = graph_of(argv)
    assert "[v0in]fps=60000/1001" in graph and "[v1in]fps=30" in graph
    assert argv.count("cfr") == 2


def test_fast_mode_copies_only_when_nothing_needs_filtering(catalog):
    feed = catalog.preset("douyin.landscape_16x9")
    spec = [OutputSpec(feed, "/o.mp4")]
    fast = RenderRecipe(ranges=(TimeRange(10, 20),), mode="fast")
    argv = build_render_argv(src(), fast, spec, ffmpeg="ffmpeg")
    assert "-filter_complex" not in argv and argv[argv.index("-c") + 1] == "copy"
    assert argv.index("-ss") < argv.index("-i")
    assert plan_outputs(src(), RenderRecipe(ranges=(TimeRange(10, 20),)), spec)[0].copy is False  # exact mode
    assert not plan_outputs(src(is_vfr=True), fast, spec)[0].copy
    assert not plan_outputs(src(video_codec="hevc"), fast, spec)[0].copy
    assert not plan_outputs(src(width=1280, height=720), fast, spec)[0].copy
    loud = RenderRecipe(ranges=(TimeRange(10, 20),), mode="fast", loudnorm=True)
    assert not plan_outputs(src(), loud, spec)[0].copy
    mixed = build_render_argv(
        src(), fast, spec + [OutputSpec(catalog.preset("douyin.feed_9x16"), "/p.mp4")], ffmpeg="ffmpeg"
    )
    assert "copy" in mixed and "split" not in graph_of(mixed) and mixed.count("libx264") == 1


def test_overlays_title_watermark_subtitles(three):
    recipe = RenderRecipe(
        ranges=(TimeRange(0, 10),),
        watermark=Watermark("/assets/logo.png", opacity=0.8),
        title=TitleText("夏季新品 限时: 50%", font_file="/fonts/NotoSansCJK-Regular.ttc", start=0, end=3),
        subtitles=SubtitleBurn("/tmp/job/subs.srt", fonts_dir="/fonts"),
    )
    argv = build_render_argv(src(), recipe, three, ffmpeg="ffmpeg")
    graph = graph_of(argv)
    i = argv.index("file:/assets/logo.png")
    assert argv[i - 5 : i - 1] == [
        "-protocol_whitelist",
        "file",
        "-format_whitelist",
        "image2,png_pipe,jpeg_pipe,webp_pipe",
    ]
    assert "[1:v:0]format=rgba,colorchannelmixer=aa=0.8,split=3[wm0][wm1][wm2]" in graph
    assert graph.count("drawtext=fontfile=/fonts/NotoSansCJK-Regular.ttc") == 3
    assert "text=夏季新品 限时\\\\: 50%" in graph and "expansion=none" in graph
    assert "enable='between(t,0,3)'" in graph
    assert graph.count("subtitles=filename=/tmp/job/subs.srt") == 3
    with pytest.raises(RecipeError, match="drawtext"):
        build_render_argv(src(), recipe, three, ffmpeg="ffmpeg", filters=frozenset({"subtitles"}))


def test_loudnorm_runs_once_when_targets_agree(three):
    graph = graph_of(
        build_render_argv(
            src(), RenderRecipe(ranges=(TimeRange(0, 10),), loudnorm=True), three, ffmpeg="ffmpeg"
        )
    )
    assert graph.count("loudnorm=I=-14:TP=-1") == 1
    assert graph.index("loudnorm") < graph.index("asplit=3")


def test_smart_fit_follows_the_crop_path(catalog):
    recipe = RenderRecipe(ranges=(TimeRange(0, 10),), crop_path=(CropKey(0, 0.3), CropKey(5, 0.7)))
    spec = [OutputSpec(catalog.preset("douyin.feed_9x16"), "/o.mp4", fit="smart")]
    graph = graph_of(build_render_argv(src(), recipe, spec, ffmpeg="ffmpeg"))
    assert (
        "crop@v0=w=608:h=1080:x='clip((if(lt(t,0),0.3,if(lt(t,5),lerp(0.3,0.7,(t-0)/5),0.7)))*iw-ow/2,0,iw-ow)'"
        ":y='clip((0.5)*ih-oh/2,0,ih-oh)'" in graph
    )
    assert "sendcmd" not in graph and "overlay" not in graph  # no zoom, no padded stretch: a plain crop


def test_smart_fit_follows_y_and_zoom_keyframes(catalog):
    # x-only keys still mean what they meant; y moves the window, scale resizes it by commands
    path = (CropKey(0, 0.3), CropKey(1.999, 0.5, 0.4), CropKey(2, 0.5, 0.4, 0.5), CropKey(2.1, 0.5, 0.4, 0.5),
            CropKey(4, 0.6, 0.4, 1.0))
    recipe = RenderRecipe(ranges=(TimeRange(0, 10),), crop_path=path)
    spec = [OutputSpec(catalog.preset("douyin.feed_9x16"), "/o.mp4", fit="smart"),
            OutputSpec(catalog.preset("xiaohongshu.note_3x4"), "/p.mp4", fit="smart")]
    graph = graph_of(build_render_argv(src(), recipe, spec, ffmpeg="ffmpeg"))
    assert "y='clip((if(lt(t,0),0.5,if(lt(t,4),if(lt(t,2),if(lt(t,1.999),lerp(0.5,0.4,(t-0)/1.999),0.4),if(lt(t,2.1),0.4,0.4)),0.4)))*ih-oh/2,0,ih-oh)'" in graph
    # each output's crop has its own name, so a command reaches only its own
    assert "crop@v0=w=608:h=1080" in graph and "crop@v1=w=" in graph
    cmds = graph.split("sendcmd=c=")[1].split(",crop@v0")[0]
    assert cmds.startswith("2 crop@v0 w 304\\, crop@v0 h 540\\;")  # halved at 2 s (escaped for the graph)
    assert cmds.count("crop@v0 w") > 10  # ... and grown back frame by frame from 2.1 s to 4 s
    assert "scale=1080:1920:flags=bicubic" in graph


def test_smart_fit_pads_the_stretches_marked_pad(catalog):
    path = (CropKey(0, 0.3), CropKey(3, 0.5, pad=True), CropKey(5, 0.7), CropKey(8, 0.5, pad=True))
    recipe = RenderRecipe(ranges=(TimeRange(0, 10),), crop_path=path)
    spec = [OutputSpec(catalog.preset("douyin.feed_9x16"), "/o.mp4", fit="smart")]
    graph = graph_of(build_render_argv(src(), recipe, spec, ffmpeg="ffmpeg"))
    assert "[v0in]split=2[v0c][v0p]" in graph
    assert "boxblur" in graph
    assert "overlay=0:0:format=yuv420:enable='between(t,3,5)+between(t,8,1000000000)'[v0fit]" in graph


def test_bad_recipes_are_rejected(three):
    with pytest.raises(RecipeError):
        TimeRange(5, 5)
    with pytest.raises(RecipeError, match="source is 10.000s long"):
        build_render_argv(
            src(duration_s=10.0), RenderRecipe(ranges=(TimeRange(12, 14),)), three, ffmpeg="ffmpeg"
        )
    with pytest.raises(RecipeError, match="whitelist"):
        build_render_argv(src(demuxer=""), RenderRecipe(ranges=(TimeRange(0, 1),)), three, ffmpeg="ffmpeg")
    with pytest.raises(RecipeError):
        build_render_argv(src(), RenderRecipe(ranges=()), three, ffmpeg="ffmpeg")


def test_range_past_the_end_is_clamped(three):
    argv = build_render_argv(
        src(duration_s=10.0), RenderRecipe(ranges=(TimeRange(8, 30),)), three, ffmpeg="ffmpeg"
    )
    assert argv[argv.index("-t") + 1] == "2"


def test_filter_value_escaping():
    assert escape_filter_value("a:b") == "a\\\\:b"
    assert escape_filter_value("x,y;[z]") == "x\\,y\\;\\[z\\]"
    assert escape_filter_value("it's") == "it\\\\\\'s"
    assert escape_filter_value("中文 标题") == "中文 标题"


def test_full_range_phone_video_is_converted_to_tv_range(three):
    graph = graph_of(
        build_render_argv(
            src(pix_fmt="yuvj420p"), RenderRecipe(ranges=(TimeRange(0, 1),)), three, ffmpeg="ffmpeg"
        )
    )
    assert "scale=out_range=tv,format=yuv420p" in graph


def inputs_of(argv: list[str]) -> list[tuple[list[str], str]]:
    """(options before -i, url) for every input, in order."""
    out, start = [], argv.index("-nostats") + 1
    for i, a in enumerate(argv):
        if a == "-i":
            out.append((argv[start:i], argv[i + 1]))
            start = i + 2
    return out


def test_intro_and_outro_are_inputs_of_the_same_process(three):
    sting = src(path="/in/sting.mov", duration_s=3.0, width=1280, height=720, fps=25.0, has_audio=False)
    recipe = RenderRecipe(
        ranges=(TimeRange(3600, 3615), TimeRange(4000, 4010)),
        intro=Bookend("/in/sting.mov", 2.0, sting),
        outro=Bookend("/in/card.png", 1.5),
        watermark=Watermark("/in/logo.png"),
    )
    argv = build_render_argv(src(), recipe, three, ffmpeg="ffmpeg")
    inputs = inputs_of(argv)
    assert [url for _, url in inputs] == [
        "file:/in/sting.mov",
        "file:/in/live.mp4",
        "file:/in/live.mp4",
        "file:/in/card.png",
        "file:/in/logo.png",
    ]
    for opts, _ in inputs:  # every input is whitelisted
        assert opts[:2] == ["-protocol_whitelist", "file"] and opts[2] == "-format_whitelist"
    assert inputs[0][0][3:] == [MP4, "-t", "2"]
    assert inputs[3][0][3:] == ["image2", "-f", "image2", "-pattern_type", "none", "-loop", "1",
                                "-framerate", "30", "-t", "1.5"]  # fmt: skip
    graph = graph_of(argv)
    assert graph.count("concat=") == 1 and "concat=n=4:v=1:a=1[vcat][acat]" in graph
    # the intro is letterboxed to the cut's size and rate, and gets silence for its 2 s
    assert (
        "[0:v:0]scale=1920:1080:force_original_aspect_ratio=decrease:out_range=tv:flags=bicubic,"
        "pad=1920:1080:(ow-iw)/2:(oh-ih)/2:color=black,setsar=1,fps=30,format=yuv420p[s0v]" in graph
    )
    assert "anullsrc=r=48000:cl=stereo,atrim=duration=2[s0a]" in graph
    assert "[1:v:0]format=yuv420p,setsar=1[s1v]" in graph and "[1:a:0]aresample=48000," in graph
    assert "anullsrc=r=48000:cl=stereo,atrim=duration=1.5[s3a]" in graph
    assert "[4:v:0]format=rgba" in graph  # the watermark comes after the timeline's inputs
    # joined before the shared chain and the split: still one split, one decode
    assert "concat=n=4:v=1:a=1[vcat][acat];[vcat]fps=30,split=3[v0in][v1in][v2in];" in graph
    assert output_duration(src(), recipe) == pytest.approx(2 + 15 + 10 + 1.5)


def test_a_video_intro_is_cut_to_its_own_length_and_brings_its_sound(catalog):
    sting = src(path="/in/sting.mp4", duration_s=1.2, width=640, height=640)
    recipe = RenderRecipe(ranges=(TimeRange(0, 5),), intro=Bookend("/in/sting.mp4", 30.0, sting))
    silent_source = src(has_audio=False, audio_codec=None)
    spec = [OutputSpec(catalog.preset("douyin.feed_9x16"), "/o.mp4")]
    argv = build_render_argv(silent_source, recipe, spec, ffmpeg="ffmpeg")
    assert inputs_of(argv)[0][0][-2:] == ["-t", "1.2"]
    graph = graph_of(argv)
    assert "[0:a:0]aresample=48000," in graph and "anullsrc=r=48000:cl=stereo,atrim=duration=5[s1a]" in graph
    assert "concat=n=2:v=1:a=1" in graph
    assert plan_outputs(silent_source, recipe, spec)[0].audio == "source"
    assert "-c" not in argv  # never stream-copied


def test_smart_fit_without_a_crop_path_is_a_centre_crop(catalog):
    spec = [OutputSpec(catalog.preset("douyin.feed_9x16"), "/o.mp4", fit="smart")]
    graph = graph_of(
        build_render_argv(src(), RenderRecipe(ranges=(TimeRange(0, 10),)), spec, ffmpeg="ffmpeg")
    )
    assert "crop=608:1080," in graph and "x='" not in graph


def test_a_presigned_url_source_is_read_by_range_over_http_only(three):
    url = "https://s3.example.com/bucket/materials/x/original.mp4?X-Amz-Signature=abc&X-Amz-Expires=3600"
    recipe = RenderRecipe(ranges=(TimeRange(3600, 3615), TimeRange(4000, 4010.5)))
    options = ["-multiple_requests", "1", "-request_size", "4194304"]
    argv = build_render_argv(src(url), recipe, three, ffmpeg="ffmpeg", url_options=options)
    inputs = [i for i, a in enumerate(argv) if a == "-i"]
    assert len(inputs) == 2
    for i, start in zip(inputs, ("3600", "4000"), strict=True):
        assert argv[i + 1] == url  # signed: passed untouched, no file: prefix
        assert argv[i - 4 : i - 2] == ["-ss", start]  # each range seeked on the input side
        head = argv[i - 12 : i - 4]
        assert head[:4] == ["-protocol_whitelist", "https,http,tcp,tls", "-format_whitelist", MP4]
        assert head[4:] == options
    # A local file keeps the file-only whitelist and never gets the http options.
    local = build_render_argv(src(), recipe, three, ffmpeg="ffmpeg", url_options=options)
    assert "https,http,tcp,tls" not in local and "-request_size" not in local


def test_threads_bound_every_encoder_and_the_filter_graph(three):
    recipe = RenderRecipe(ranges=(TimeRange(10, 40),))
    argv = build_render_argv(src(), recipe, three, ffmpeg="ffmpeg", threads=2)
    assert argv[argv.index("-filter_complex_threads") + 1] == "2"
    assert argv.count("-threads:v") == 3 and all(argv[i + 1] == "2" for i, a in enumerate(argv) if a == "-threads:v")
    default = build_render_argv(src(), recipe, three, ffmpeg="ffmpeg")
    assert "-threads:v" not in default and "-filter_complex_threads" not in default
