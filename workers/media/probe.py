"""Media probing: what a file really is, read with PyAV (FFmpeg's libraries) and Pillow.

`probe_file` runs in-process and is meant to be called inside the sandboxed child started by
`workers.media.inspect`; the API and workers call `inspect_untrusted`, never this directly on
uploads. Every rejection raises a `ProbeRejection` carrying a stable reason slug.
"""

from __future__ import annotations

import contextlib
import errno
import math
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

from workers.media.facts import MediaFacts, MediaType
from workers.media.source import ALLOWED_CONTAINERS, MediaSource

# Allow-lists: what reelhouse accepts as input (containers: workers/media/source.py). Names are
# FFmpeg's demuxer / codec names.
ALLOWED_VIDEO_CODECS = {"h264", "hevc", "vp8", "vp9", "av1", "mpeg4", "mpeg2video", "prores", "mjpeg"}
ALLOWED_AUDIO_CODECS = {
    "aac", "mp3", "opus", "vorbis", "ac3", "eac3", "flac", "alac", "mp2",
    "pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le", "pcm_s16be", "pcm_u8",
}
ALLOWED_IMAGE_FORMATS = {"JPEG": "jpeg", "PNG": "png", "WEBP": "webp"}

# Leading bytes of containers we know; a file that starts like one but will not open is truncated.
_SIGNATURES: tuple[tuple[int, bytes], ...] = (
    (4, b"ftyp"), (4, b"moov"), (4, b"mdat"), (4, b"free"), (4, b"wide"),
    (0, b"\x1a\x45\xdf\xa3"), (0, b"FLV"), (0, b"OggS"), (0, b"RIFF"), (0, b"ID3"),
    (0, b"fLaC"), (0, b"\x89PNG"), (0, b"\xff\xd8\xff"),
)


@dataclass
class Limits:
    max_video_pixels: int = 8192 * 8192
    max_image_pixels: int = 50_000_000
    max_dimension: int = 16384
    max_duration_seconds: float = 12 * 3600


class ProbeRejection(Exception):
    """The file is not acceptable media; `reason` is a stable slug (see backend.errors)."""

    def __init__(self, reason: str, detail: str, *, text: str | None = None, **params: Any) -> None:
        """`detail` is English; `text` names the same words in a caller's catalogue (the API's:
        backend/i18n, as `media.<text>`) and `params` the figures they need (JSON values)."""
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.text = text
        self.params: dict[str, Any] = params


def _looks_like_known_container(head: bytes) -> bool:
    return any(head[off : off + len(sig)] == sig for off, sig in _SIGNATURES) or (
        len(head) > 188 and head[0] == 0x47 and head[188] == 0x47
    )


# Text formats whose demuxers open the files they name (FFmpeg's concat and HLS, M3U lists).
_LIST_SIGNATURES = (b"ffconcat version", b"#EXTM3U", b"#EXTINF")

_IMAGE_SIGNATURES = (
    b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM",
    b"II*\x00", b"MM\x00*", b"MM*\x00", b"II\x00*", b"MM\x00+", b"II+\x00",  # TIFF and BigTIFF, as Pillow reads them
)


def _looks_like_image(head: bytes) -> bool:
    """Pillow is asked only about files that start like an image (loading all its format plugins
    to look at a video costs more than the rest of the probe's start-up)."""
    return head.startswith(_IMAGE_SIGNATURES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def _codec_name(stream: Any) -> str:
    # The codec descriptor name (e.g. "mp3"), not the decoder's ("mp3float").
    ctx = stream.codec_context
    name = ctx.codec.name
    descriptor = getattr(ctx.codec, "canonical_name", None) or getattr(stream, "codec_tag", None)
    aliases = {"mp3float": "mp3", "aac_fixed": "aac", "ac3_fixed": "ac3", "libdav1d": "av1", "libvpx": "vp8",
               "libvpx-vp9": "vp9", "opus": "opus"}
    return aliases.get(name, descriptor if isinstance(descriptor, str) and descriptor.isidentifier() else name)


def _parse_creation_time(tags: dict[str, str]) -> datetime | None:
    for key in ("com.apple.quicktime.creationdate", "creation_time", "date"):
        raw = tags.get(key)
        if not raw:
            continue
        try:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            continue
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        if parsed.year < 1971:  # cameras without a clock write the epoch
            continue
        return parsed.astimezone(UTC)
    return None


MP4_DEMUXER = "mov,mp4,m4a,3gp,3g2,mj2"


def _indexed_times(container: Any, stream: Any, limit: int) -> list[float] | None:
    """Times (s) of the first `limit` frames from an MP4/MOV sample index, which lists every frame
    (Matroska's cues list keyframes only): no frame data is read, where demuxing would read ~20 s of
    video. The index holds decode times, whose steps are the frames' durations; None where the
    container has no such index.

    Entries flagged discard count too: a sample the index marks discardable (iPhone HEVC marks
    non-reference frames so) still takes its slot on the timeline, and leaving it out would read a
    30 fps clip as 22.5 fps and variable. The frames an edit list cuts before its start all carry
    the edit's first time, so they add no time of their own: repeated times are counted once."""
    if container.format.name != MP4_DEMUXER:
        return None
    entries = getattr(stream, "index_entries", None)
    if not entries or len(entries) < 2:
        return None
    tb = stream.time_base
    times: set[float] = set()
    for i in range(len(entries)):
        times.add(float(entries[i].timestamp * tb))
        if len(times) == limit:
            break
    return sorted(times)


def _frame_intervals(container: Any, stream: Any, limit: int = 600) -> tuple[list[float], float | None]:
    """Presentation times (s) of up to `limit` video packets, sorted, and the last packet's end time
    (None when the times come from the index)."""
    if container.duration is not None and (indexed := _indexed_times(container, stream, limit)) is not None:
        return indexed, None
    times: list[float] = []
    end: float | None = None
    tb = stream.time_base
    for packet in container.demux(stream):
        if packet.pts is None:
            continue
        t = float(packet.pts * tb)
        if len(times) < limit:
            times.append(t)
        dur = float(packet.duration * tb) if packet.duration else 0.0
        end = max(end or 0.0, t + dur)
        if len(times) >= limit and container.duration is not None:
            break
    times.sort()
    return times, end


def _is_vfr(times: list[float], tick: float) -> bool:
    intervals = [b - a for a, b in zip(times, times[1:], strict=False) if b > a]
    if len(intervals) < 2:
        return False
    median = statistics.median(intervals)
    tolerance = max(0.0005, 1.5 * tick)
    return any(abs(i - median) > tolerance for i in intervals)


def _frame_rate(times: list[float], declared: Fraction | None) -> float | None:
    """Mean rate over the sampled frames (containers' declared rates can be their time base)."""
    if len(times) > 1 and times[-1] > times[0]:
        return round((len(times) - 1) / (times[-1] - times[0]), 3)
    return round(float(declared), 3) if declared else None


def _probe_image(source: MediaSource, limits: Limits) -> MediaFacts:
    from PIL import Image, ImageOps

    try:
        with source.open() as fh, Image.open(fh) as img:
            fmt = img.format or ""
            if fmt not in ALLOWED_IMAGE_FORMATS:
                raise ProbeRejection(
                    "media-container-not-allowed", f"image format {fmt or 'unknown'} is not allowed", text="image-format", format=fmt or "unknown"
                )
            w, h = img.size
            if w <= 0 or h <= 0 or max(w, h) > limits.max_dimension:
                raise ProbeRejection("media-dimensions-not-allowed", f"image is {w}x{h}", text="image-dimensions", width=w, height=h)
            if w * h > limits.max_image_pixels:
                raise ProbeRejection(
                    "media-decompression-bomb",
                    f"image is {w}x{h} = {w * h} pixels, above the limit of {limits.max_image_pixels}",
                    text="image-pixels", width=w, height=h, pixels=w * h, limit=limits.max_image_pixels,
                )
            exif_orientation = img.getexif().get(0x0112, 1)
            try:
                img.load()
            except (OSError, SyntaxError) as exc:
                raise ProbeRejection("media-truncated", f"image data is incomplete: {exc}") from exc
            shown = ImageOps.exif_transpose(img) if exif_orientation != 1 else img
            dw, dh = shown.size
    except ProbeRejection:
        raise
    except Image.DecompressionBombError as exc:
        raise ProbeRejection("media-decompression-bomb", str(exc)) from exc
    rotation = {3: 180, 6: -90, 8: 90}.get(exif_orientation, 0)
    return MediaFacts(
        media_type=MediaType.image, container=ALLOWED_IMAGE_FORMATS[fmt], width=w, height=h,
        display_width=dw, display_height=dh, rotation=rotation,
    )


def probe_file(path: Path | MediaSource, limits: Limits | None = None) -> MediaFacts:
    """Read the facts of a local file (or one still arriving, see workers/media/source.py), or
    raise ProbeRejection."""
    import av
    from PIL import Image, UnidentifiedImageError

    limits = limits or Limits()
    source = MediaSource.of(path)
    size = source.size
    if size == 0:
        raise ProbeRejection("media-empty", "the file has no bytes", text="empty")
    with source.open() as fh:
        head = fh.read(4096)

    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(_LIST_SIGNATURES):
        # A playlist or a list of files names other files: never media, and never opened as such.
        raise ProbeRejection(
            "media-container-not-allowed", "playlists and lists of files are not accepted, only media files", text="playlist"
        )

    is_image = False
    if _looks_like_image(head):
        Image.MAX_IMAGE_PIXELS = None  # opening reads only the header; sizes are checked against our limits
        try:
            with source.open() as fh, Image.open(fh) as img:
                is_image = img.format in ALLOWED_IMAGE_FORMATS or img.format in {"GIF", "BMP", "TIFF"}
        except (UnidentifiedImageError, OSError, ValueError):
            is_image = False
    if is_image:
        return _probe_image(source, limits)

    opened = contextlib.ExitStack()
    container = _open(source, head, opened)
    if container.format.name in _LIVE_DEMUXERS and _video_without_size(container):
        # A live segment cut mid-GOP: its first keyframe (and the stream parameters that come
        # with it) can be further in than FFmpeg's default 5 s of analysis. Look further.
        opened.close()
        opened = contextlib.ExitStack()
        container = _open(source, head, opened, analyzeduration=str(LIVE_ANALYZE_SECONDS * 1_000_000),
                          probesize=str(LIVE_PROBE_BYTES))

    with opened:
        demuxer = container.format.name
        if demuxer not in ALLOWED_CONTAINERS:
            raise ProbeRejection("media-container-not-allowed", f"container {demuxer!r} is not allowed", text="container", container=demuxer)
        video = next((s for s in container.streams.video if not (s.disposition & 0x0400)), None)  # skip cover art
        audio = container.streams.audio[0] if container.streams.audio else None
        if video is None and audio is None:
            raise ProbeRejection("media-unrecognised", "the file has neither a video nor an audio stream", text="no-streams")

        facts = MediaFacts(
            media_type=MediaType.video if video is not None else MediaType.audio,
            container=ALLOWED_CONTAINERS[demuxer],
            demuxer=demuxer,
            bit_rate=container.bit_rate or None,
            media_created_at=_parse_creation_time(dict(container.metadata)),
        )
        # The longest audio/video stream, not the container (data tracks can outlast the picture).
        stream_durations = [
            float(s.duration * s.time_base) for s in (video, audio) if s is not None and s.duration
        ]
        if stream_durations:
            duration: float | None = max(stream_durations)
        else:
            duration = container.duration / 1_000_000 if container.duration else None

        if audio is not None:
            codec = _codec_name(audio)
            if codec not in ALLOWED_AUDIO_CODECS:
                raise ProbeRejection("media-codec-not-allowed", f"audio codec {codec!r} is not allowed", text="audio-codec", codec=codec)
            facts.has_audio = True
            facts.audio_codec = codec
            facts.audio_channels = audio.codec_context.channels or None
            facts.audio_sample_rate = audio.codec_context.sample_rate or None

        if video is not None:
            codec = _codec_name(video)
            if codec not in ALLOWED_VIDEO_CODECS:
                raise ProbeRejection("media-codec-not-allowed", f"video codec {codec!r} is not allowed", text="video-codec", codec=codec)
            ctx = video.codec_context
            w, h = ctx.width, ctx.height
            if not w or not h or max(w, h) > limits.max_dimension or w * h > limits.max_video_pixels:
                raise ProbeRejection("media-dimensions-not-allowed", f"video is {w}x{h}", text="video-dimensions", width=w, height=h)
            facts.video_codec = codec
            facts.width, facts.height = w, h
            facts.pix_fmt = ctx.pix_fmt
            facts.bit_depth = 10 if ctx.pix_fmt and ("10" in ctx.pix_fmt or "p12" in ctx.pix_fmt) else 8
            trc = getattr(ctx, "color_trc", None)
            facts.color_transfer = _transfer_name(trc)
            facts.media_created_at = facts.media_created_at or _parse_creation_time(dict(video.metadata))

            # Rotation lives in per-frame side data: decode the first frame (also proves the stream decodes).
            try:
                first = next(container.decode(video), None)
            except av.error.FFmpegError as exc:
                raise ProbeRejection("media-truncated", f"the video stream does not decode: {_ffmpeg_reason(exc)}") from exc
            if first is None:
                raise ProbeRejection("media-truncated", "the video stream has no decodable frame", text="no-frame")
            facts.rotation = int(round(first.rotation or 0))
            sar = video.sample_aspect_ratio or Fraction(1)
            shown_w = int(round(w * float(sar))) if sar and sar != 1 else w
            if abs(facts.rotation) % 180 == 90:
                facts.display_width, facts.display_height = h, shown_w
            else:
                facts.display_width, facts.display_height = shown_w, h

            container.seek(0)
            times, end = _frame_intervals(container, video)
            tick = float(video.time_base) if video.time_base else 0.0
            facts.is_vfr = _is_vfr(times, tick)
            if duration is None and end is not None:
                duration = end - (times[0] if times else 0.0)
            facts.fps = _frame_rate(times, video.average_rate or video.guessed_rate)
        elif duration is None and audio is not None:
            end = 0.0
            for packet in container.demux(audio):
                if packet.pts is not None:
                    end = max(end, float((packet.pts + (packet.duration or 0)) * audio.time_base))
            duration = end or None

        if duration is None or not math.isfinite(duration) or duration <= 0:
            raise ProbeRejection("media-truncated", "the file has no playable duration", text="no-duration")
        if duration > limits.max_duration_seconds:
            raise ProbeRejection(
                "media-duration-not-allowed", f"duration {duration:.0f} s is above the limit", text="duration-over",
                duration=round(duration), limit=limits.max_duration_seconds,
            )
        facts.duration_s = round(duration, 3)
        if facts.bit_rate is None and size:
            facts.bit_rate = int(size * 8 / duration)
        _check_tail_readable(container, size)
    return facts


_LIVE_DEMUXERS = {"mpegts", "flv"}
LIVE_ANALYZE_SECONDS = 30
LIVE_PROBE_BYTES = 64 * 1024 * 1024


def _video_without_size(container: Any) -> bool:
    return any(not s.codec_context.width or not s.codec_context.height for s in container.streams.video)


def _open(source: MediaSource, head: bytes, opened: contextlib.ExitStack, **container_options: str) -> Any:
    """The file opened with PyAV (entered into `opened`), or the ProbeRejection saying why not."""
    import av

    try:
        return opened.enter_context(source.open_av(metadata_errors="ignore", **container_options))
    except (av.error.InvalidDataError, av.error.EOFError) as exc:  # EOF: the header itself is cut
        if _looks_like_known_container(head):
            raise ProbeRejection("media-truncated", f"the container cannot be read (truncated or corrupt): {_ffmpeg_reason(exc)}") from exc
        raise ProbeRejection("media-unrecognised", "the file is not a recognised video, audio or image", text="not-media") from exc
    except av.error.FFmpegError as exc:
        if getattr(exc, "errno", None) == errno.EINVAL:  # what FFmpeg says of a demuxer off the whitelist
            raise ProbeRejection(
                "media-container-not-allowed", "the container is not one reelhouse reads (playlists and lists of files are refused)"
            ) from exc
        raise ProbeRejection("media-unrecognised", f"the file cannot be opened as media: {_ffmpeg_reason(exc)}") from exc


def _ffmpeg_reason(exc: Any) -> str:
    """FFmpeg's reason without the file name it appends (a server path, or '<none>' for a file
    still arriving): the detail goes to API clients."""
    return str(getattr(exc, "strerror", None) or exc)


def _transfer_name(trc: Any) -> str | None:
    if trc is None:
        return None
    names = {1: "bt709", 14: "bt2020-10", 16: "smpte2084", 18: "arib-std-b67", 2: None, 6: "smpte170m"}
    if isinstance(trc, int):
        return names.get(trc, str(trc))
    text = str(getattr(trc, "name", trc)).lower()
    return {"arib_std_b67": "arib-std-b67", "smpte2084": "smpte2084", "unspecified": None}.get(text, text)


def _check_tail_readable(container: Any, size: int) -> None:
    """An MP4/MOV whose sample index points past the end of the file is truncated. (Other containers
    interleave their index with the data, so a cut file simply probes shorter.)"""
    if container.format.name != MP4_DEMUXER:
        return
    for stream in (*container.streams.video, *container.streams.audio):
        entries = getattr(stream, "index_entries", None)
        if not entries:
            continue
        last = entries[len(entries) - 1]
        if last.pos >= 0 and last.pos + last.size > size:
            raise ProbeRejection(
                "media-truncated",
                f"the file ends at byte {size} but its {stream.type} index goes to {last.pos + last.size}",
                text="cut-short", size=size, end=last.pos + last.size,
            )
