"""Pure functions turning a render recipe (source facts + cuts + presets) into one ffmpeg argv.

One process decodes the cut ranges once, does the shared work (concat, HDR->SDR, pixel format,
frame rate when every output agrees) once, then `split`s into one branch per preset. An intro or
outro (a video, or an image shown for N seconds) is one more input of the same process, normalised
to the cut's frame size, rate and audio format and joined by the same concat. Nothing here runs
ffmpeg or touches the file system, so tests assert on the list directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

from presets.schema import Fit, RenditionPreset
from workers.media.facts import MediaFacts

Mode = Literal["exact", "fast"]
Corner = Literal["top_left", "top_right", "bottom_left", "bottom_right"]

# Protocols a source read from object storage (a presigned http(s) URL) may use; nothing else, so a
# redirect or a playlist inside the file cannot make ffmpeg open a local file or another scheme.
URL_PROTOCOLS = "https,http,tcp,tls"
# Demuxers a watermark image may be read with (ffmpeg picks one by probing the file).
IMAGE_DEMUXERS = "image2,png_pipe,jpeg_pipe,webp_pipe"
# A still intro/outro is read by image2 by name (it alone has -loop); the worker names the file.
STILL_DEMUXER = "image2"
# Working audio of a joined timeline: every segment is resampled to this before the concat.
WORK_AUDIO = "aresample=48000,aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo"
# The bundled imageio-ffmpeg build has these; a system ffmpeg is checked by run.ffmpeg_filters().
DEFAULT_FILTERS = frozenset({"zscale", "tonemap", "drawtext", "subtitles", "loudnorm"})


class RecipeError(ValueError):
    """The recipe cannot be rendered from this source (bad range, missing capability...)."""


@dataclass(frozen=True)
class SourceFacts:
    """A render's source: where to read it and its probed facts (one video stream at least).

    `path` is a local file, or an http(s) URL (a presigned object-storage URL) read with range
    requests: every cut range is its own input seeked before `-i`, so only those bytes are fetched.
    """

    path: str
    facts: MediaFacts

    def __post_init__(self) -> None:
        if not self.facts.video_codec or not self.facts.display_width or not self.facts.display_height:
            raise RecipeError("the source has no video stream")

    @classmethod
    def from_media_facts(cls, path: str, facts: MediaFacts) -> SourceFacts:
        return cls(path=path, facts=facts)

    @property
    def is_url(self) -> bool:
        return self.path.startswith(("https://", "http://"))

    @property
    def size(self) -> tuple[int, int]:
        """Displayed width and height (rotation applied)."""
        return self.facts.display_width or 0, self.facts.display_height or 0

    @property
    def fps(self) -> float:
        """Average frame rate; 0 when unknown."""
        return self.facts.fps or 0.0

    @property
    def duration(self) -> float:
        return self.facts.duration_s or 0.0


@dataclass(frozen=True)
class TimeRange:
    start: float
    end: float

    def __post_init__(self) -> None:
        if not (self.start >= 0 and self.end > self.start):
            raise RecipeError(f"bad time range {self.start}..{self.end}")

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Watermark:
    path: str
    width_fraction: float = 0.18  # of the output width
    corner: Corner = "top_right"
    opacity: float = 1.0


@dataclass(frozen=True)
class TitleText:
    """A title burned in with a CJK-capable font; the text is data, escaped here."""

    text: str
    font_file: str
    position: Literal["top", "bottom"] = "top"
    size_fraction: float = 0.045  # font size as a fraction of the output height
    color: str = "white"
    start: float | None = None  # seconds on the output timeline
    end: float | None = None


@dataclass(frozen=True)
class SubtitleBurn:
    """A subtitle file (SRT/ASS) timed to the output timeline, i.e. after cutting and joining."""

    path: str
    font_name: str = "Noto Sans CJK SC"
    fonts_dir: str | None = None
    size_fraction: float = 0.035


@dataclass(frozen=True)
class CropKey:
    """A point of a subject-following crop path: the window's centre as fractions of the frame and its
    size as a share of the largest window of the output's aspect (1: no zoom). x, y and scale move
    linearly to the next key; `pad` shows the whole frame over a blurred copy until the next key."""

    t: float  # seconds on the output timeline
    x: float
    y: float = 0.5
    scale: float = 1.0
    pad: bool = False


@dataclass(frozen=True)
class Bookend:
    """An intro or outro joined to the cut: a catalogued video (`media` holds its probe facts),
    or a still image (`media` None) shown for `seconds` as a title card."""

    path: str
    seconds: float  # length on the output timeline; a video is cut to at most its own duration
    media: SourceFacts | None = None

    def __post_init__(self) -> None:
        if not self.seconds > 0:
            raise RecipeError(f"an intro/outro must last more than 0s, not {self.seconds}")
        if self.media is not None and not self.media.facts.demuxer:
            raise RecipeError("the intro/outro's demuxer is unknown, so its input cannot be whitelisted")

    @property
    def still(self) -> bool:
        return self.media is None

    @property
    def has_audio(self) -> bool:
        return self.media is not None and self.media.facts.has_audio

    @property
    def duration(self) -> float:
        if self.media is not None and self.media.duration > 0:
            return min(self.seconds, self.media.duration)
        return self.seconds


@dataclass(frozen=True)
class RenderRecipe:
    ranges: tuple[TimeRange, ...]
    mode: Mode = "exact"
    loudnorm: bool = False
    allow_upscale: bool = False
    watermark: Watermark | None = None
    title: TitleText | None = None
    subtitles: SubtitleBurn | None = None
    crop_path: tuple[CropKey, ...] = ()  # used by fit="smart"; centre crop without it
    intro: Bookend | None = None
    outro: Bookend | None = None

    @property
    def bookends(self) -> tuple[Bookend, ...]:
        return tuple(b for b in (self.intro, self.outro) if b is not None)

    @property
    def filtered(self) -> bool:
        return bool(self.loudnorm or self.watermark or self.title or self.subtitles or self.bookends)


@dataclass(frozen=True)
class OutputSpec:
    preset: RenditionPreset
    path: str
    fit: Fit | None = None  # per-render override of preset.fit
    maxrate_kbps: int | None = None  # lowered for the one re-encode of an over-size file


@dataclass(frozen=True)
class OutputPlan:
    spec: OutputSpec
    width: int
    height: int
    fps: Fraction
    fit: Fit
    copy: bool
    audio: Literal["source", "silence", "none"]
    gop_frames: int = field(default=0)


# --------------------------------------------------------------------------- escaping


def escape_filter_value(value: str) -> str:
    """Escape a string for use as an option value inside a -filter_complex graph.

    Two levels: the option parser (`\\ ' :`) and the graph parser (`\\ ' [ ] , ;`).
    """
    level1 = "".join("\\" + c if c in "\\':" else c for c in value)
    return "".join("\\" + c if c in "\\'[],;" else c for c in level1)


def _num(x: float) -> str:
    return f"{x:.6f}".rstrip("0").rstrip(".") or "0"


# --------------------------------------------------------------------------- planning


def _even_floor(x: float) -> int:
    return max(2, int(x + 1e-9) // 2 * 2)


def _even_round(x: float) -> int:
    return max(2, round(x / 2) * 2)


def output_size(src_w: int, src_h: int, preset_w: int, preset_h: int, allow_upscale: bool) -> tuple[int, int]:
    """Output frame size: the preset's, or smaller (same aspect) when the source is a lower resolution class.

    The resolution class is the long side: a 1920x1080 source fills a 1080x1920 preset (reframing keeps
    the class), while a 1280x720 source gives 720x1280 and a 320x240 one 180x320, unless upscaling is
    asked for. The output is never larger than the preset.
    """
    s = max(preset_w, preset_h) / max(src_w, src_h)
    if s <= 1 or allow_upscale:
        return preset_w, preset_h
    return _even_floor(preset_w / s), _even_floor(preset_h / s)


def _rate(fps: float) -> Fraction:
    return Fraction(fps).limit_denominator(1001)


def target_fps(source: SourceFacts, cap: float) -> Fraction:
    if source.fps <= 0:
        return _rate(cap)
    if source.fps <= cap + 0.01:
        # Snap 29.97-style rates to their exact NTSC fractions.
        for exact in (Fraction(24000, 1001), Fraction(30000, 1001), Fraction(60000, 1001)):
            if abs(float(exact) - source.fps) < 0.005:
                return exact
        return _rate(round(source.fps, 3))
    return _rate(cap)


def clamp_ranges(source: SourceFacts, ranges: Sequence[TimeRange]) -> tuple[TimeRange, ...]:
    if not ranges:
        raise RecipeError("no time range given")
    out = []
    for r in ranges:
        if source.duration and r.start >= source.duration:
            raise RecipeError(f"range starts at {r.start}s but the source is {source.duration:.3f}s long")
        end = min(r.end, source.duration) if source.duration else r.end
        out.append(TimeRange(r.start, end))
    return tuple(out)


def output_duration(source: SourceFacts, recipe: RenderRecipe) -> float:
    """Seconds on the output timeline: intro + the cut ranges + outro."""
    cut = sum(r.duration for r in clamp_ranges(source, recipe.ranges))
    return cut + sum(b.duration for b in recipe.bookends)


def timeline_has_audio(source: SourceFacts, recipe: RenderRecipe) -> bool:
    """Whether the joined timeline carries sound (silent segments are then filled with silence)."""
    return source.facts.has_audio or any(b.has_audio for b in recipe.bookends)


def _can_copy(
    source: SourceFacts, recipe: RenderRecipe, preset: RenditionPreset, size: tuple[int, int]
) -> bool:
    return (
        recipe.mode == "fast"
        and len(recipe.ranges) == 1
        and not recipe.filtered
        and source.facts.video_codec in preset.stream_copy_codecs
        and source.size == size == preset.size
        and source.facts.rotation % 360 == 0
        and source.facts.pix_fmt == "yuv420p"
        and (source.facts.bit_depth or 8) == 8
        and not source.facts.is_hdr
        and not source.facts.is_vfr
        and 0 < source.fps <= preset.fps_cap.value + 0.01
        and (
            (source.facts.has_audio and source.facts.audio_codec == preset.audio_codec.value)
            or (not source.facts.has_audio and not preset.requires_audio)
        )
    )


def plan_outputs(
    source: SourceFacts, recipe: RenderRecipe, outputs: Sequence[OutputSpec]
) -> list[OutputPlan]:
    if not outputs:
        raise RecipeError("no output requested")
    plans = []
    for spec in outputs:
        p = spec.preset
        fit = spec.fit or p.fit
        w, h = output_size(*source.size, p.width.value, p.height.value, recipe.allow_upscale)
        fps = target_fps(source, p.fps_cap.value)
        audio: Literal["source", "silence", "none"] = (
            "source" if timeline_has_audio(source, recipe) else ("silence" if p.requires_audio else "none")
        )
        plans.append(
            OutputPlan(
                spec=spec,
                width=w,
                height=h,
                fps=fps,
                fit=fit,
                copy=_can_copy(source, recipe, p, (w, h)),
                audio=audio,
                gop_frames=max(1, round(p.gop_seconds * float(fps))),
            )
        )
    return plans


# --------------------------------------------------------------------------- filter graph pieces


def _hdr_to_sdr(source: SourceFacts, filters: frozenset[str]) -> list[str]:
    if "zscale" in filters and "tonemap" in filters:
        tin = source.facts.color_transfer or "arib-std-b67"
        pin = "bt2020"
        min_ = "bt2020nc"
        return [
            f"zscale=tin={tin}:pin={pin}:min={min_}:t=linear:npl=100",
            "format=gbrpf32le",
            "zscale=p=bt709",
            "tonemap=tonemap=hable:desat=0",
            "zscale=t=bt709:m=bt709:r=tv",
            "format=yuv420p",
        ]
    # Without zimg there is no linear-light path: convert the matrix only (colours come out flat).
    return ["scale=out_color_matrix=bt709:out_range=tv", "format=yuv420p"]


def _colour_chain(source: SourceFacts, filters: frozenset[str]) -> list[str]:
    """The source's frames as 8-bit limited-range yuv420p, SDR."""
    if source.facts.is_hdr:
        return _hdr_to_sdr(source, filters)
    if (source.facts.pix_fmt or "").startswith("yuvj"):
        # Phones record full range; players and platforms expect limited (TV) range.
        return ["scale=out_range=tv", "format=yuv420p"]
    return ["format=yuv420p"]


def _bookend_video(bookend: Bookend, width: int, height: int, fps: Fraction, filters: frozenset[str]) -> str:
    """Filters normalising an intro/outro picture to the cut's working frame: letterboxed into its
    size with square pixels, at its rate, yuv420p; so the concat sees one kind of frame."""
    steps = _hdr_to_sdr(bookend.media, filters) if bookend.media and bookend.media.facts.is_hdr else []
    steps += [
        f"scale={width}:{height}:force_original_aspect_ratio=decrease:out_range=tv:flags=bicubic",
        f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2:color=black",
        "setsar=1",
        f"fps={fps}",
        "format=yuv420p",
    ]
    return ",".join(steps)


def _path_expr(keys: Sequence[CropKey], attr: str) -> str:
    """A piecewise-linear function of t through the keys' `attr`, held before the first and after the last.

    The pieces are chosen by a balanced tree of `if(lt(t,...))`: ffmpeg's expression parser refuses
    nesting deeper than about 100 levels, which a chain of ifs reached at some 60 keyframes."""
    values = [getattr(k, attr) for k in keys]
    if len(set(values)) == 1:
        return _num(values[0])

    def piece(i: int) -> str:
        a, b = keys[i], keys[i + 1]
        if values[i] == values[i + 1]:
            return _num(values[i])
        span = max(b.t - a.t, 1e-3)
        return f"lerp({_num(values[i])},{_num(values[i + 1])},(t-{_num(a.t)})/{_num(span)})"

    def tree(lo: int, hi: int) -> str:  # the pieces lo..hi-1 (piece i runs from key i to key i+1)
        if hi - lo == 1:
            return piece(lo)
        mid = (lo + hi) // 2
        return f"if(lt(t,{_num(keys[mid].t)}),{tree(lo, mid)},{tree(mid, hi)})"

    inner = f"if(lt(t,{_num(keys[-1].t)}),{tree(0, len(keys) - 1)},{_num(values[-1])})"
    return f"if(lt(t,{_num(keys[0].t)}),{_num(values[0])},{inner})"


def _crop_x_expr(path: Sequence[CropKey]) -> str:
    return f"clip(({_path_expr(sorted(path, key=lambda k: k.t), 'x')})*iw-ow/2,0,iw-ow)"


def _crop_y_expr(path: Sequence[CropKey]) -> str:
    return f"clip(({_path_expr(sorted(path, key=lambda k: k.t), 'y')})*ih-oh/2,0,ih-oh)"


def _zoom_commands(keys: Sequence[CropKey], cw: int, ch: int, fps: Fraction, target: str) -> tuple[tuple[int, int], str]:
    """The crop's first size and the `sendcmd` commands resizing it (crop's w and h are evaluated only
    when a command sets them): at each key, and every output frame while the scale ramps between two."""

    def size(scale: float) -> tuple[int, int]:
        s = min(1.0, max(0.05, scale))
        return min(cw, _even_round(cw * s)), min(ch, _even_round(ch * s))

    first = size(keys[0].scale)
    cmds: list[str] = []
    current = first
    step = 1 / float(fps) if fps else 1 / 30
    for a, b in zip(keys, list(keys[1:]) + [None], strict=True):
        times = [a.t]
        if b is not None and b.scale != a.scale:
            n = max(1, int((b.t - a.t) / step))
            times = [a.t + i * step for i in range(n)]
        for t in times:
            f = 0.0 if b is None else (t - a.t) / max(b.t - a.t, 1e-9)
            want = size(a.scale + ((b.scale if b is not None else a.scale) - a.scale) * f)
            if want != current:
                cmds.append(f"{_num(t)} {target} w {want[0]}, {target} h {want[1]};")
                current = want
    return first, "".join(cmds)


def _pad_stretches(keys: Sequence[CropKey]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for a, b in zip(keys, list(keys[1:]) + [None], strict=True):
        if a.pad:
            end = b.t if b is not None else 1e9
            if out and abs(out[-1][1] - a.t) < 1e-9:
                out[-1] = (out[-1][0], end)
            else:
                out.append((a.t, end))
    return out


def _pad_chain(ow: int, oh: int, src_w: int, src_h: int, tag: str, src: str, out: str) -> list[str]:
    """The whole frame over a blurred, zoomed copy of itself (cheap: blurred at 1/8 size)."""
    s = min(ow / src_w, oh / src_h)
    fw, fh = min(ow, _even_floor(src_w * s)), min(oh, _even_floor(src_h * s))
    if (fw, fh) == (ow, oh):
        return [f"{src}scale={ow}:{oh}:flags=bicubic,setsar=1{out}"]
    bw, bh = max(16, _even_floor(ow / 8)), max(16, _even_floor(oh / 8))
    r = max(1, min(10, min(bw, bh) // 4 - 1))
    return [
        f"{src}split=2[{tag}bg][{tag}fg]",
        f"[{tag}bg]scale={bw}:{bh}:force_original_aspect_ratio=increase,crop={bw}:{bh},"
        f"boxblur={r}:2,scale={ow}:{oh},setsar=1[{tag}bgs]",
        f"[{tag}fg]scale={fw}:{fh}:flags=bicubic,setsar=1[{tag}fgs]",
        f"[{tag}bgs][{tag}fgs]overlay=(W-w)/2:(H-h)/2:format=yuv420{out}",
    ]


def _smart_chain(
    plan: OutputPlan, src_w: int, src_h: int, cw: int, ch: int, path: Sequence[CropKey], tag: str, src: str
) -> list[str]:
    """A crop following the keys exactly (x, y per frame; its size by commands when it zooms), scaled to
    the output; stretches marked `pad` show the padded frame instead (an overlay enabled there only)."""
    ow, oh = plan.width, plan.height
    keys = sorted(path, key=lambda k: k.t)
    pads = _pad_stretches(keys)
    steps = []
    (w, h), cmds = _zoom_commands(keys, cw, ch, plan.fps, f"crop@{tag}")
    if cmds:
        steps.append(f"sendcmd=c={escape_filter_value(cmds)}")
    steps.append(f"crop@{tag}=w={w}:h={h}:x='{_crop_x_expr(keys)}':y='{_crop_y_expr(keys)}'")
    if cmds or (w, h) != (ow, oh):
        steps.append(f"scale={ow}:{oh}:flags=bicubic")
    steps.append("setsar=1")
    if not pads:
        return [f"{src}{','.join(steps)}[{tag}fit]"]
    enable = "+".join(f"between(t,{_num(a)},{_num(b)})" for a, b in pads)
    return [
        f"{src}split=2[{tag}c][{tag}p]",
        f"[{tag}c]{','.join(steps)}[{tag}cr]",
        *_pad_chain(ow, oh, src_w, src_h, f"{tag}p", f"[{tag}p]", f"[{tag}pd]"),
        f"[{tag}cr][{tag}pd]overlay=0:0:format=yuv420:enable='{enable}'[{tag}fit]",
    ]


def _fit_chain(
    plan: OutputPlan, src_w: int, src_h: int, recipe: RenderRecipe, tag: str, src: str
) -> list[str]:
    """Filter statements taking the `src` pad to [{tag}fit] at the plan's size."""
    ow, oh = plan.width, plan.height
    if plan.fit in ("crop", "smart"):
        # Crop in source pixels first, then scale: scaling the whole frame up before cropping
        # (e.g. 1920x1080 -> 3414x1920 for 9:16) costs several times more.
        s = max(ow / src_w, oh / src_h)
        cw, ch = min(src_w, _even_round(ow / s)), min(src_h, _even_round(oh / s))
        if plan.fit == "smart" and recipe.crop_path:
            return _smart_chain(plan, src_w, src_h, cw, ch, recipe.crop_path, tag, src)
        steps = []
        if (cw, ch) != (src_w, src_h):
            steps.append(f"crop={cw}:{ch}")
        if (cw, ch) != (ow, oh):
            steps.append(f"scale={ow}:{oh}:flags=bicubic")
        steps.append("setsar=1")
        return [f"{src}{','.join(steps)}[{tag}fit]"]
    return _pad_chain(ow, oh, src_w, src_h, tag, src, f"[{tag}fit]")


def _margin(plan: OutputPlan, side: str) -> int:
    zone = plan.spec.preset.caption_safe_zone
    frac = getattr(zone.value, side) if zone else 0.0
    size = plan.height if side in ("top", "bottom") else plan.width
    return int(size * max(frac, 0.03))


def _drawtext(title: TitleText, plan: OutputPlan) -> str:
    size = max(8, round(plan.height * title.size_fraction))
    border = max(1, size // 12)
    y = str(_margin(plan, "top")) if title.position == "top" else f"h-text_h-{_margin(plan, 'bottom')}"
    opts = [
        f"fontfile={escape_filter_value(title.font_file)}",
        f"text={escape_filter_value(title.text)}",
        "expansion=none",
        f"fontsize={size}",
        f"fontcolor={escape_filter_value(title.color)}",
        f"borderw={border}",
        "bordercolor=black@0.6",
        "x=(w-text_w)/2",
        f"y={y}",
    ]
    if title.start is not None or title.end is not None:
        a = _num(title.start or 0.0)
        b = _num(title.end) if title.end is not None else "1e9"
        opts.append(f"enable='between(t,{a},{b})'")
    return "drawtext=" + ":".join(opts)


def _subtitles(sub: SubtitleBurn, plan: OutputPlan) -> str:
    # libass sizes fonts against its PlayResY (288 for SRT), not against output pixels.
    font_size = max(8, round(288 * sub.size_fraction))
    margin_v = max(10, round(288 * _margin(plan, "bottom") / plan.height))
    style = f"FontName={sub.font_name},FontSize={font_size},MarginV={margin_v}"
    opts = [f"filename={escape_filter_value(sub.path)}", f"force_style={escape_filter_value(style)}"]
    if sub.fonts_dir:
        opts.append(f"fontsdir={escape_filter_value(sub.fonts_dir)}")
    return "subtitles=" + ":".join(opts)


def _watermark_xy(wm: Watermark, plan: OutputPlan) -> str:
    mx, my = (
        _margin(plan, "right" if wm.corner.endswith("right") else "left"),
        _margin(plan, "top" if wm.corner.startswith("top") else "bottom"),
    )
    x = f"W-w-{mx}" if wm.corner.endswith("right") else str(mx)
    y = str(my) if wm.corner.startswith("top") else f"H-h-{my}"
    return f"{x}:{y}"


# --------------------------------------------------------------------------- argv


def _input_args(demuxers: str, protocols: str = "file") -> list[str]:
    return ["-protocol_whitelist", protocols, "-format_whitelist", demuxers]


def _source_input(source: SourceFacts, r: TimeRange, url_options: Sequence[str]) -> list[str]:
    """One cut range of the source as its own input, seeked on the input side (only its bytes are read)."""
    assert source.facts.demuxer
    if source.is_url:
        # The URL is signed: it is passed as is; `url_options` bound its range requests (run.http_input_options).
        args = _input_args(source.facts.demuxer, URL_PROTOCOLS) + list(url_options)
        return args + ["-ss", _num(r.start), "-t", _num(r.duration), "-i", source.path]
    args = _input_args(source.facts.demuxer)
    return args + ["-ss", _num(r.start), "-t", _num(r.duration), "-i", _file_url(source.path)]


def _bookend_input(bookend: Bookend, fps: Fraction) -> list[str]:
    if bookend.media is None:
        # One image looped at the cut's rate for its seconds; image2 is named so -loop applies.
        return _input_args(STILL_DEMUXER) + [
            "-f", STILL_DEMUXER, "-pattern_type", "none", "-loop", "1", "-framerate", str(fps),
            "-t", _num(bookend.duration), "-i", _file_url(bookend.path),
        ]  # fmt: skip
    demuxer = bookend.media.facts.demuxer
    assert demuxer, "Bookend refuses media without a demuxer"
    return _input_args(demuxer) + ["-t", _num(bookend.duration), "-i", _file_url(bookend.path)]


def _file_url(path: str) -> str:
    # An explicit protocol keeps a path such as "-x.mp4" or "a:b.mp4" from being read as an option/URL.
    return path if path.startswith("file:") else "file:" + path


def build_render_argv(
    source: SourceFacts,
    recipe: RenderRecipe,
    outputs: list[OutputSpec],
    *,
    ffmpeg: str,
    filters: frozenset[str] = DEFAULT_FILTERS,
    threads: int | None = None,
    url_options: Sequence[str] = (),
) -> list[str]:
    """One ffmpeg invocation rendering every output from one decode of the cut ranges.

    `threads` bounds each x264 encoder's and the filter graph's thread pool (None: ffmpeg's default,
    about 1.5 per core each), so jobs running side by side do not oversubscribe the cores. `url_options`
    go before each input of a source read over http(s)."""
    if not source.facts.demuxer:
        raise RecipeError("the source's demuxer is unknown, so its input cannot be whitelisted")
    ranges = clamp_ranges(source, recipe.ranges)
    plans = plan_outputs(source, recipe, outputs)
    total = sum(r.duration for r in ranges) + sum(b.duration for b in recipe.bookends)
    if recipe.title and "drawtext" not in filters:
        raise RecipeError("this ffmpeg has no drawtext filter (libfreetype) for burned-in titles")
    if recipe.subtitles and "subtitles" not in filters:
        raise RecipeError("this ffmpeg has no subtitles filter (libass)")

    argv = [ffmpeg, "-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-progress", "pipe:1", "-nostats"]
    encoded = [p for p in plans if not p.copy]
    if threads is not None and encoded:
        argv += ["-filter_complex_threads", str(threads)]
    # The working rate a still intro/outro is looped at and a video one resampled to.
    work_fps = max((p.fps for p in encoded), default=Fraction(30))
    # Inputs in timeline order: intro, the cut ranges, outro; then the watermark image.
    segments: list[tuple[int, TimeRange | Bookend]] = []
    if recipe.intro:
        segments.append((len(segments), recipe.intro))
        argv += _bookend_input(recipe.intro, work_fps)
    for r in ranges:
        segments.append((len(segments), r))
        argv += _source_input(source, r, url_options)
    if recipe.outro:
        segments.append((len(segments), recipe.outro))
        argv += _bookend_input(recipe.outro, work_fps)
    wm_index = None
    if recipe.watermark and encoded:
        wm_index = len(segments)
        argv += _input_args(IMAGE_DEMUXERS) + ["-i", _file_url(recipe.watermark.path)]

    graph: list[str] = []
    if encoded:
        n = len(encoded)
        has_audio = timeline_has_audio(source, recipe)
        colour = _colour_chain(source, filters)
        # --- shared video: join the segments, HDR->SDR / 8-bit, common frame rate, then split
        if recipe.bookends:
            # Every segment becomes the same kind of frame and sound before the one concat: the cut
            # gets its colour conversion here, intro/outro are letterboxed to the cut's size.
            pads = ""
            for i, seg in segments:
                if isinstance(seg, Bookend):
                    video = _bookend_video(seg, *source.size, work_fps, filters)
                    sound = seg.has_audio
                else:
                    video, sound = ",".join([*colour, "setsar=1"]), source.facts.has_audio
                graph.append(f"[{i}:v:0]{video}[s{i}v]")
                if has_audio:
                    if sound:
                        graph.append(f"[{i}:a:0]{WORK_AUDIO}[s{i}a]")
                    else:
                        graph.append(f"anullsrc=r=48000:cl=stereo,atrim=duration={_num(seg.duration)}[s{i}a]")
                pads += f"[s{i}v]" + (f"[s{i}a]" if has_audio else "")
            outs = "[vcat]" + ("[acat]" if has_audio else "")
            graph.append(f"{pads}concat=n={len(segments)}:v=1:a={int(has_audio)}{outs}")
            vsrc, asrc = "[vcat]", "[acat]"
            shared: list[str] = []
        elif len(ranges) > 1:
            a = "[{i}:a:0]" if source.facts.has_audio else ""
            pads = "".join(f"[{i}:v:0]" + a.format(i=i) for i, _ in segments)
            outs = "[vcat]" + ("[acat]" if source.facts.has_audio else "")
            graph.append(f"{pads}concat=n={len(ranges)}:v=1:a={int(source.facts.has_audio)}{outs}")
            vsrc, asrc = "[vcat]", "[acat]"
            shared = colour
        else:
            vsrc, asrc = "[0:v:0]", "[0:a:0]"
            shared = colour
        fps_set = {p.fps for p in encoded}
        common_fps = len(fps_set) == 1
        if common_fps:
            shared.append(f"fps={next(iter(fps_set))}")
        split = f"split={n}" + "".join(f"[v{k}in]" for k in range(n)) if n > 1 else "null[v0in]"
        graph.append(f"{vsrc}{','.join([*shared, split])}")
        if wm_index is not None:
            wm = recipe.watermark
            assert wm is not None
            alpha = f",colorchannelmixer=aa={_num(wm.opacity)}" if wm.opacity < 1 else ""
            wsplit = f",split={n}" + "".join(f"[wm{k}]" for k in range(n)) if n > 1 else "[wm0]"
            graph.append(f"[{wm_index}:v:0]format=rgba{alpha}{wsplit}")

        # --- per-output video
        for k, plan in enumerate(encoded):
            tag = f"v{k}"
            src = f"[{tag}in]"
            if not common_fps:
                graph.append(f"[{tag}in]fps={plan.fps}[{tag}r]")
                src = f"[{tag}r]"
            graph += _fit_chain(plan, *source.size, recipe, tag, src)
            last = f"[{tag}fit]"
            if wm_index is not None:
                wm = recipe.watermark
                assert wm is not None
                ww = _even_floor(plan.width * wm.width_fraction)
                graph.append(f"[wm{k}]scale={ww}:-2[wm{k}s]")
                graph.append(f"{last}[wm{k}s]overlay={_watermark_xy(wm, plan)}:format=yuv420[{tag}wm]")
                last = f"[{tag}wm]"
            post = []
            if recipe.title:
                post.append(_drawtext(recipe.title, plan))
            if recipe.subtitles:
                post.append(_subtitles(recipe.subtitles, plan))
            post.append("format=yuv420p")
            graph.append(f"{last}{','.join(post)}[{tag}out]")

        # --- audio: loudness once when every output shares the target, then one branch per output
        with_src = [k for k, p in enumerate(encoded) if p.audio == "source"]
        with_sil = [k for k, p in enumerate(encoded) if p.audio == "silence"]
        if with_src:
            targets = {_loudness_key(encoded[k].spec.preset) for k in with_src}
            shared_a = ["aresample=async=1:first_pts=0"]
            if recipe.loudnorm and len(targets) == 1:
                shared_a += [_loudnorm(encoded[with_src[0]].spec.preset), "aresample=48000"]
                per_output_loudnorm = False
            else:
                per_output_loudnorm = recipe.loudnorm
            outs = "".join(f"[a{k}pre]" for k in with_src)
            asplit = f"asplit={len(with_src)}{outs}" if len(with_src) > 1 else f"anull{outs}"
            graph.append(f"{asrc}{','.join(shared_a)},{asplit}")
            for k in with_src:
                preset = encoded[k].spec.preset
                steps = [_loudnorm(preset), "aresample=48000"] if per_output_loudnorm else ["anull"]
                graph.append(f"[a{k}pre]{','.join(steps)}[a{k}out]")
        if with_sil:
            outs = "".join(f"[a{k}out]" for k in with_sil)
            tail = f",asplit={len(with_sil)}{outs}" if len(with_sil) > 1 else outs
            graph.append(f"anullsrc=r=48000:cl=stereo,atrim=duration={_num(total)}{tail}")
        argv += ["-filter_complex", ";".join(graph)]

    k = 0
    for plan in plans:
        if plan.copy:
            argv += _copy_output_args(plan)
        else:
            argv += _encode_output_args(plan, k, threads)
            k += 1
    return argv


DEFAULT_LOUDNESS = (-14.0, -1.0)  # LUFS, dBTP: used when a preset states no target


def _loudness_key(preset: RenditionPreset) -> tuple[float, float]:
    if preset.loudness is None:
        return DEFAULT_LOUDNESS
    return preset.loudness.integrated_lufs.value, preset.loudness.true_peak_dbtp.value


def _loudnorm(preset: RenditionPreset) -> str:
    lufs, peak = _loudness_key(preset)
    return f"loudnorm=I={_num(lufs)}:TP={_num(peak)}:LRA=11"


def _container_args(preset: RenditionPreset) -> list[str]:
    args = ["-map_metadata", "-1", "-map_chapters", "-1"]
    if preset.faststart:
        args += ["-movflags", "+faststart"]
    return args + ["-f", "mp4"]


def _encode_output_args(plan: OutputPlan, k: int, threads: int | None = None) -> list[str]:
    p = plan.spec.preset
    maxrate = plan.spec.maxrate_kbps or p.maxrate_kbps
    bufsize = p.bufsize_kbps if plan.spec.maxrate_kbps is None else 2 * maxrate
    args = [
        "-map", f"[v{k}out]",
        "-c:v", "libx264",
        "-preset", p.x264_preset,
        "-crf", str(p.crf),
        "-maxrate", f"{maxrate}k",
        "-bufsize", f"{bufsize}k",
        "-profile:v", p.profile,
        "-level:v", p.level,
        "-pix_fmt", "yuv420p",
        "-g", str(plan.gop_frames),
        "-fps_mode:v", "cfr",
    ]  # fmt: skip
    if p.x264_params is not None and (x264_params := p.x264_params.argv_value()):
        args += ["-x264-params", x264_params]
    if threads is not None:
        args += ["-threads:v", str(threads)]
    if plan.audio != "none":
        args += [
            "-map", f"[a{k}out]",
            "-c:a", "aac",
            "-b:a", f"{p.audio_bitrate_kbps}k",
            "-ar", str(p.audio_sample_rate.value),
            "-ac", str(p.audio_channels.value),
        ]  # fmt: skip
    return args + _container_args(p) + [_file_url(plan.spec.path)]


def _copy_output_args(plan: OutputPlan) -> list[str]:
    args = ["-map", "0:v:0"]
    if plan.audio == "source":
        args += ["-map", "0:a:0"]
    args += ["-c", "copy", "-avoid_negative_ts", "make_zero"]
    return args + _container_args(plan.spec.preset) + [_file_url(plan.spec.path)]
