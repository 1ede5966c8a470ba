"""Proxies: a small browser-safe copy of a video for playback and scrubbing, with its thumbnail sprite
(a WebVTT index of `#xywh=` tiles) and its audio waveform (audiowaveform's JSON: min/max peak pairs).

One ffmpeg process decodes the original once and writes all three: the proxy MP4, the sprite sheets
(from the proxy's own frames) and the waveform's PCM (turned into peaks here). The encoding is
defined once, as pure option builders that the whole-file encode (`encode_proxy`) and a chunked
encode (one task per stretch of the timeline, the audio once) both use:

- `proxy_video_options(facts)`: H.264 Constrained Baseline, constant frame rate, a closed GOP of
  about one second (keyint = keyint_min = round(fps), no scene-cut keyframes), at most 540 lines on
  the short side (rotation applied, never upscaled, even sizes, square pixels);
- `proxy_audio_options()`: AAC stereo 48 kHz;
- `proxy_container_options()`: MP4 with the index at the front.

The proxy keeps the original's timeline: frame k is shown at k/fps, which is the same second of the
original counted from the original's start (ffmpeg's default subtracts the file's start time; the
`fps` filter pads from 0 with the first frame, so a video that starts after its audio keeps its
place; the audio is padded from 0 likewise and its gaps filled). Nothing here imports backend.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from workers.media.argv import DEFAULT_FILTERS, SourceFacts, _colour_chain, _file_url, _input_args, _num
from workers.media.facts import MediaFacts, MediaType
from workers.media.run import CancelCheck, MediaError, ProgressCallback, run_ffmpeg

PROXY_VERSION = 1  # bump when the encoding changes so that stored proxies can be told apart

MAX_SHORT_SIDE = 540
# Review and scrubbing, not delivery: 60 fps sources are halved (x264 time and the browser's decode
# halve too, and Level 3.1 holds). Higher rates are decimated by a whole factor, so motion stays even.
FPS_CAP = 30
# A sparse VFR capture (a screen recording at 3 fps on average) would put scrub points 1/3 s apart.
FPS_FLOOR = 10
X264_PRESET = "veryfast"
CRF = 23
MAXRATE_KBPS = 2500
BUFSIZE_KBPS = 5000
AUDIO_BITRATE_KBPS = 128
AUDIO_SAMPLE_RATE = 48000
AUDIO_CHANNELS = 2

SPRITE_TILE_WIDTH = 160
SPRITE_COLUMNS = 10
SPRITE_ROWS = 10
SPRITE_PATTERN = "sprite-%03d.jpg"  # sheet n of the tiles, n from 0

WAVEFORM_SAMPLE_RATE = 16000
WAVEFORM_PEAKS_PER_SECOND = 20
WAVEFORM_SAMPLES_PER_PEAK = WAVEFORM_SAMPLE_RATE // WAVEFORM_PEAKS_PER_SECOND


class ProxyNotPossible(MediaError):
    """The material has nothing a proxy can be made of (no video and no audio, no demuxer)."""


# --------------------------------------------------------------------------- planning (pure)


def _even_floor(x: float) -> int:
    return max(2, int(x + 1e-9) // 2 * 2)


def _even_round(x: float) -> int:
    return max(2, round(x / 2) * 2)


def proxy_size(display_width: int, display_height: int) -> tuple[int, int]:
    """The proxy's frame: at most MAX_SHORT_SIDE lines on the short side, same orientation and
    aspect, never larger than the source, even sides."""
    short = min(display_width, display_height)
    if short <= MAX_SHORT_SIDE:
        return _even_floor(display_width), _even_floor(display_height)
    scale = MAX_SHORT_SIDE / short
    w, h = display_width * scale, display_height * scale
    return (MAX_SHORT_SIDE, _even_round(h)) if display_width == short else (_even_round(w), MAX_SHORT_SIDE)


# Rates cameras and encoders record at: a measured mean within 1 % of one is that one (a phone's
# "60.057 fps" is 60, a VFR capture's "29.99" is 30).
STANDARD_RATES = tuple(sorted({
    Fraction(r) for r in (10, 12, 15, 24, 25, 30, 48, 50, 60, 90, 100, 120, 240)
} | {Fraction(24000, 1001), Fraction(30000, 1001), Fraction(60000, 1001), Fraction(120000, 1001)}))


def proxy_fps(mean_fps: float | None) -> Fraction:
    """Constant rate of the proxy: the source's mean rate (snapped to a standard rate within 1 %),
    divided by the smallest whole factor that brings it to FPS_CAP or under, and at least FPS_FLOOR."""
    if not mean_fps or mean_fps <= 0 or not math.isfinite(mean_fps):
        return Fraction(FPS_CAP)
    nearest = min(STANDARD_RATES, key=lambda r: abs(float(r) - mean_fps))
    if abs(float(nearest) - mean_fps) <= 0.01 * mean_fps:
        rate = nearest
    else:
        rate = Fraction(round(mean_fps, 3)).limit_denominator(1001)
    if rate > FPS_CAP + Fraction(1, 100):
        rate = rate / math.ceil(rate / FPS_CAP - Fraction(1, 100))
    return max(rate, Fraction(FPS_FLOOR))


@dataclass(frozen=True)
class ProxyGeometry:
    width: int
    height: int
    fps: Fraction
    gop: int  # keyframe interval in frames: about one second

    @property
    def sprite_tile(self) -> tuple[int, int]:
        """Width and height of one sprite tile (the proxy's aspect, SPRITE_TILE_WIDTH wide)."""
        return SPRITE_TILE_WIDTH, _even_round(SPRITE_TILE_WIDTH * self.height / self.width)


def proxy_geometry(facts: MediaFacts) -> ProxyGeometry:
    if not facts.display_width or not facts.display_height:
        raise ProxyNotPossible("the material has no video stream")
    fps = proxy_fps(facts.fps)
    return ProxyGeometry(*proxy_size(facts.display_width, facts.display_height), fps=fps, gop=max(1, round(fps)))


def sprite_interval(duration_s: float | None) -> float:
    """Seconds between sprite tiles: every 2 s up to 10 minutes, 5 s up to an hour, then 10 s
    (a 2-hour stream: 720 tiles on 8 sheets)."""
    d = duration_s or 0.0
    return 2.0 if d <= 600 else 5.0 if d <= 3600 else 10.0


# --------------------------------------------------------------------------- options (pure)


def proxy_video_filter(facts: MediaFacts, filters: frozenset[str] = DEFAULT_FILTERS) -> str:
    """The proxy's picture from the decoded (already upright) frames: constant rate from 0 on the
    original's timeline, SDR 8-bit 4:2:0, scaled with square pixels. The rate is fixed first, so a
    60 fps 4K source is tone-mapped and scaled only for the frames kept."""
    g = proxy_geometry(facts)
    return ",".join([
        f"fps=fps={g.fps}:start_time=0",
        *_colour_chain(SourceFacts("", facts), filters),
        f"scale={g.width}:{g.height}",
        "setsar=1",
        "format=yuv420p",
    ])


def proxy_video_codec_options(facts: MediaFacts) -> list[str]:
    """x264 options of the proxy's video (no filter, no mapping): what every chunk of a chunked encode
    must share with the whole-file encode so that the pieces join by stream copy."""
    g = proxy_geometry(facts)
    return [
        "-c:v", "libx264",
        "-preset", X264_PRESET,
        "-crf", str(CRF),
        "-maxrate", f"{MAXRATE_KBPS}k",
        "-bufsize", f"{BUFSIZE_KBPS}k",
        # x264's baseline is Constrained Baseline (no B-frames, CAVLC): every browser and phone decodes it.
        "-profile:v", "baseline",
        "-pix_fmt", "yuv420p",
        # A keyframe every second exactly and nowhere else, each GOP closed: exact scrubbing, and
        # chunks cut at any second join without re-encoding.
        "-g", str(g.gop),
        "-keyint_min", str(g.gop),
        "-sc_threshold", "0",
        "-flags", "+cgop",
        "-r", str(g.fps),
        "-fps_mode:v", "cfr",
    ]  # fmt: skip


def proxy_video_options(facts: MediaFacts, filters: frozenset[str] = DEFAULT_FILTERS) -> list[str]:
    """Output options for the proxy's video from input 0's first video stream: filter and encoder."""
    return ["-map", "0:v:0", "-filter:v", proxy_video_filter(facts, filters), *proxy_video_codec_options(facts)]


# The sound on the original's timeline from 0: a late start padded with silence, gaps filled.
AUDIO_TIMELINE = "aresample=async=1:first_pts=0"
AUDIO_FORMAT = (
    f"aresample={AUDIO_SAMPLE_RATE},"
    f"aformat=sample_fmts=fltp:sample_rates={AUDIO_SAMPLE_RATE}:channel_layouts=stereo"
)


def proxy_audio_filter() -> str:
    """The proxy's sound: on the original's timeline, 48 kHz stereo."""
    return f"{AUDIO_TIMELINE},{AUDIO_FORMAT}"


def proxy_audio_codec_options() -> list[str]:
    return ["-c:a", "aac", "-b:a", f"{AUDIO_BITRATE_KBPS}k", "-ar", str(AUDIO_SAMPLE_RATE), "-ac", str(AUDIO_CHANNELS)]


def proxy_audio_options() -> list[str]:
    """Output options for the proxy's audio from input 0's first audio stream: filter and encoder."""
    return ["-map", "0:a:0", "-filter:a", proxy_audio_filter(), *proxy_audio_codec_options()]


def proxy_container_options() -> list[str]:
    return ["-map_metadata", "-1", "-map_chapters", "-1", "-movflags", "+faststart", "-f", "mp4"]


def input_options(facts: MediaFacts) -> list[str]:
    """The original as an input: only its own demuxer and the file protocol (it is untrusted)."""
    if not facts.demuxer:
        raise ProxyNotPossible("the material's demuxer is unknown, so its input cannot be whitelisted")
    return _input_args(facts.demuxer)


@dataclass(frozen=True)
class ProxyTargets:
    """Where one run writes: any of them may be None (audio-only material: the waveform only)."""

    proxy: Path | None = None
    sprite_dir: Path | None = None  # sheets named SPRITE_PATTERN
    waveform_pcm: Path | None = None  # raw s16le mono at WAVEFORM_SAMPLE_RATE, turned into peaks after


def plan_targets(facts: MediaFacts, out_dir: Path) -> ProxyTargets:
    """What a material gets: a video a proxy and a sprite, anything with sound a waveform."""
    video = facts.media_type == MediaType.video and bool(facts.display_width and facts.display_height)
    if not video and not facts.has_audio:
        raise ProxyNotPossible(f"a {facts.media_type} material without sound has no proxy")
    return ProxyTargets(
        proxy=out_dir / "proxy.mp4" if video else None,
        sprite_dir=out_dir if video else None,
        waveform_pcm=out_dir / "waveform.pcm" if facts.has_audio else None,
    )


def build_proxy_argv(
    source: str | Path,
    facts: MediaFacts,
    targets: ProxyTargets,
    *,
    ffmpeg: str,
    filters: frozenset[str] = DEFAULT_FILTERS,
) -> list[str]:
    """One ffmpeg run: decode the original once, write the proxy, the sprite sheets and the
    waveform's PCM (those `targets` name)."""
    video_out = targets.proxy is not None or targets.sprite_dir is not None
    audio_in = facts.has_audio and (targets.proxy is not None or targets.waveform_pcm is not None)
    if not video_out and not audio_in:
        raise ProxyNotPossible("nothing to write")
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-progress", "pipe:1", "-nostats"]
    argv += input_options(facts) + ["-i", _file_url(str(source))]
    graph: list[str] = []
    if video_out:
        outs = [label for label, wanted in (("[pv]", targets.proxy), ("[sv]", targets.sprite_dir)) if wanted]
        split = f"split={len(outs)}{''.join(outs)}" if len(outs) > 1 else f"null{outs[0]}"
        graph.append(f"[0:v:0]{proxy_video_filter(facts, filters)},{split}")
        if targets.sprite_dir is not None:
            tile_w, tile_h = proxy_geometry(facts).sprite_tile
            # round=up: the tile at k*interval is the frame shown at that second, not the one before.
            graph.append(
                f"[sv]fps=fps=1/{_num(sprite_interval(facts.duration_s))}:round=up,"
                f"scale={tile_w}:{tile_h},tile={SPRITE_COLUMNS}x{SPRITE_ROWS}[sprite]"
            )
    if audio_in:
        outs = [label for label, wanted in (("[pa]", targets.proxy), ("[wa]", targets.waveform_pcm)) if wanted]
        split = f"asplit={len(outs)}{''.join(outs)}" if len(outs) > 1 else f"anull{outs[0]}"
        graph.append(f"[0:a:0]{AUDIO_TIMELINE},{split}")
        if targets.proxy is not None:
            graph.append(f"[pa]{AUDIO_FORMAT}[pout]")
        if targets.waveform_pcm is not None:
            graph.append(
                f"[wa]aresample={WAVEFORM_SAMPLE_RATE},"
                f"aformat=sample_fmts=s16:sample_rates={WAVEFORM_SAMPLE_RATE}:channel_layouts=mono[wave]"
            )
    argv += ["-filter_complex", ";".join(graph)]
    if targets.proxy is not None:
        argv += ["-map", "[pv]", *proxy_video_codec_options(facts)]
        if audio_in:
            argv += ["-map", "[pout]", *proxy_audio_codec_options()]
        argv += [*proxy_container_options(), _file_url(str(targets.proxy))]
    if targets.sprite_dir is not None:
        argv += ["-map", "[sprite]", "-c:v", "mjpeg", "-q:v", "5", "-fps_mode:v", "passthrough",
                 "-f", "image2", "-start_number", "0", _file_url(str(targets.sprite_dir / SPRITE_PATTERN))]
    if targets.waveform_pcm is not None and audio_in:
        argv += ["-map", "[wave]", "-c:a", "pcm_s16le", "-f", "s16le", _file_url(str(targets.waveform_pcm))]
    return argv


# --------------------------------------------------------------------------- sprite index and peaks


def _vtt_time(t: float) -> str:
    ms = round(t * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def sprite_vtt(
    tiles: int, interval: float, duration_s: float, tile: tuple[int, int], sheet_names: Sequence[str]
) -> str:
    """The WebVTT index of the sprite: one cue per tile, `sheet#xywh=x,y,w,h` (names relative to the
    VTT, so the same text works wherever both are served from)."""
    per_sheet = SPRITE_COLUMNS * SPRITE_ROWS
    w, h = tile
    lines = ["WEBVTT", ""]
    for k in range(tiles):
        start, end = k * interval, min((k + 1) * interval, max(duration_s, k * interval + 0.001))
        cell = k % per_sheet
        x, y = (cell % SPRITE_COLUMNS) * w, (cell // SPRITE_COLUMNS) * h
        lines += [f"{_vtt_time(start)} --> {_vtt_time(end)}", f"{sheet_names[k // per_sheet]}#xywh={x},{y},{w},{h}", ""]
    return "\n".join(lines)


def waveform_peaks(pcm: Path, *, block_samples: int = WAVEFORM_SAMPLES_PER_PEAK * 4096) -> dict[str, object]:
    """audiowaveform's JSON (version 2, one channel, 8 bits) from raw s16le mono PCM: for every
    WAVEFORM_SAMPLES_PER_PEAK samples, the lowest and the highest sample. Read in blocks, so a
    two-hour recording needs a few MB of memory, not its whole PCM."""
    import numpy as np

    spp = WAVEFORM_SAMPLES_PER_PEAK
    block_samples -= block_samples % spp
    data: list[int] = []
    with pcm.open("rb") as fh:
        while True:
            raw = fh.read(block_samples * 2)
            if not raw:
                break
            samples = np.frombuffer(raw[: len(raw) // 2 * 2], dtype="<i2")
            whole = len(samples) // spp * spp
            pairs = []
            if whole:
                blocks = samples[:whole].reshape(-1, spp)
                pairs.append(np.stack([blocks.min(axis=1), blocks.max(axis=1)], axis=1))
            if whole < len(samples):  # the last, shorter block
                rest = samples[whole:]
                pairs.append(np.array([[rest.min(), rest.max()]], dtype=samples.dtype))
            for chunk in pairs:
                data.extend((chunk.astype(np.int32) >> 8).ravel().tolist())  # 16 -> 8 bits, -128..127
    return {
        "version": 2, "channels": 1, "sample_rate": WAVEFORM_SAMPLE_RATE, "samples_per_pixel": spp, "bits": 8,
        "length": len(data) // 2, "data": data,
    }


# --------------------------------------------------------------------------- running


@dataclass(frozen=True)
class ProxyOutputs:
    """What `encode_proxy` wrote (None: not made for this material)."""

    proxy: Path | None
    geometry: ProxyGeometry | None
    sprite_sheets: tuple[Path, ...]
    sprite_vtt: Path | None
    waveform: Path | None
    elapsed_s: float


def encode_proxy(
    source: Path,
    facts: MediaFacts,
    out_dir: Path,
    *,
    ffmpeg: str,
    timeout: float,
    filters: frozenset[str] = DEFAULT_FILTERS,
    on_progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
) -> ProxyOutputs:
    """Encode the whole file in one run: proxy, sprite (+ VTT) and waveform (JSON) into `out_dir`.
    Raises MediaError (typed: timeout, cancel, ffmpeg failed, ProxyNotPossible)."""
    targets = plan_targets(facts, out_dir)
    argv = build_proxy_argv(source, facts, targets, ffmpeg=ffmpeg, filters=filters)
    result = run_ffmpeg(argv, total_seconds=facts.duration_s or 1.0, timeout=timeout,
                        on_progress=on_progress, should_cancel=should_cancel)
    return finish_outputs(facts, targets, out_dir, elapsed_s=result.elapsed)


def _duration(path: Path) -> float | None:
    """Seconds of a file we wrote, from its index (nothing is decoded)."""
    import av

    try:
        with av.open(str(path)) as container:
            return container.duration / 1_000_000 if container.duration else None
    except (OSError, av.error.FFmpegError):
        return None


def finish_outputs(facts: MediaFacts, targets: ProxyTargets, out_dir: Path, *, elapsed_s: float = 0.0) -> ProxyOutputs:
    """After the ffmpeg run: the sprite's VTT index and the waveform's peaks (the PCM is removed)."""
    sheets: tuple[Path, ...] = ()
    vtt = None
    geometry = proxy_geometry(facts) if targets.proxy is not None or targets.sprite_dir is not None else None
    if targets.sprite_dir is not None and geometry is not None:
        sheets = tuple(sorted(targets.sprite_dir.glob("sprite-*.jpg")))
        if sheets:
            interval = sprite_interval(facts.duration_s)
            # The proxy's own length where there is one (a live capture may not state its duration).
            duration = (_duration(targets.proxy) if targets.proxy is not None else None) or facts.duration_s or interval
            tiles = min(max(1, math.ceil(duration / interval - 1e-6)), len(sheets) * SPRITE_COLUMNS * SPRITE_ROWS)
            vtt = out_dir / "sprite.vtt"
            vtt.write_text(sprite_vtt(tiles, interval, duration, geometry.sprite_tile, [p.name for p in sheets]),
                           encoding="utf-8")
    waveform = None
    if targets.waveform_pcm is not None and targets.waveform_pcm.exists():
        waveform = out_dir / "waveform.json"
        waveform.write_text(json.dumps(waveform_peaks(targets.waveform_pcm), separators=(",", ":")), encoding="utf-8")
        targets.waveform_pcm.unlink()
    if targets.proxy is not None and not targets.proxy.exists():
        raise MediaError("ffmpeg ended without writing the proxy")
    return ProxyOutputs(proxy=targets.proxy, geometry=geometry, sprite_sheets=sheets, sprite_vtt=vtt,
                        waveform=waveform, elapsed_s=elapsed_s)
