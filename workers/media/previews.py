"""Poster frames and contact sheets (JPEG, displayed orientation) with PyAV and Pillow."""

from __future__ import annotations

import bisect
import contextlib
import functools
import io
import itertools
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont, ImageOps

from workers.media.facts import MediaFacts, MediaType
from workers.media.probe import MP4_DEMUXER
from workers.media.source import MediaSource

POSTER_MAX_SIDE = 1280
SHEET_COLUMNS = 3
SHEET_ROWS = 3
SHEET_TILE_WIDTH = 320


def _upright(image: Image.Image, rotation: int) -> Image.Image:
    # rotation is the display-matrix angle (-90 = turn 90 degrees clockwise); PIL turns counter-clockwise.
    return image.rotate(rotation, expand=True) if rotation % 360 else image


EXACT_SEEK_MAX_DURATION = 60.0
SHEET_DECODE_MAX_SIDE = 2 * SHEET_TILE_WIDTH  # tiles are cropped to fit: decode with room to spare


def frames_at(
    path: Path | MediaSource, times: list[float], rotation: int, *, exact: bool = True, max_side: int | None = None
) -> list[tuple[float, Image.Image]]:
    """One frame per time (where one decodes), upright, with the time it is shown at. `exact`
    decodes forward from the keyframe to the time; otherwise the nearest keyframe at or before it is
    used, which keeps previews of hour-long live streams (long GOPs, 1080p) to a few keyframe
    decodes instead of thousands of frames. `max_side` scales the frame in FFmpeg's scaler before
    it becomes an image (cheaper than converting a 4K frame)."""
    return [f for f in _frames_for(MediaSource.of(path), times, rotation, exact=exact, max_side=max_side) if f is not None]


def _frames_for(
    source: MediaSource, times: list[float], rotation: int, *, exact: bool, max_side: int | None
) -> list[tuple[float, Image.Image] | None]:
    out: list[tuple[float, Image.Image] | None] = [None] * len(times)
    for i, shown_at, frame in _iter_frames(source, times, exact=exact):
        out[i] = (shown_at, _picture(frame, rotation, max_side))
    return out


def _picture(frame: Any, rotation: int, max_side: int | None) -> Image.Image:
    return _upright(_to_image(frame, max_side), rotation)


def _iter_frames(
    source: MediaSource, times: list[float], *, exact: bool
) -> Generator[tuple[int, float, Any], None, None]:
    """`(index into times, time shown at, decoded frame)` for each time where a frame decodes,
    earliest time first: the caller finishes each frame (it is the decoder's, valid until the next
    step) before the next is decoded, so for a file still arriving that work is done while the
    bytes of the next frame arrive.

    Times count from the video's first timestamp (a live recording's clock starts anywhere), and
    so do the times shown at. A time whose seek or decode fails is not fatal: the times seeking
    gave nothing for are taken afterwards in one pass from the start (`_frames_in_order`)."""
    import av

    done: set[int] = set()
    with source.open_av(metadata_errors="ignore") as container:
        stream = container.streams.video[0]
        start = _start_time(container, stream)
        # Frame threads hold back several frames per seek; for a few scattered frames, slices suit.
        stream.thread_type = "SLICE"
        if not exact:
            stream.codec_context.skip_frame = "NONKEY"
        keyframes = _keyframe_times(container, stream) if exact else None
        frames: Iterator[Any] | None = None  # the decoder's output since the last seek
        last = None  # the last frame taken from `frames`
        for i in sorted(range(len(times)), key=lambda i: times[i]):
            t = start + times[i]
            chosen = None
            try:
                if not (frames is not None and _decode_on(keyframes, last, t)):
                    frames, last = _seek_to(container, stream, t, start), None
                chosen = last if last is not None and last.time is not None and last.time >= t - 0.001 else None
                while chosen is None:
                    frame = next(frames, None)
                    if frame is None:
                        chosen, frames = last, None  # past the end: the last frame there is
                        break
                    last = frame
                    if not exact or frame.time is None or frame.time >= t - 0.001:
                        chosen = frame
            except av.error.FFmpegError:
                frames, last, chosen = None, None, None
            if chosen is not None:
                done.add(i)
                yield i, (chosen.time - start if chosen.time is not None else times[i]), chosen
    missing = [i for i in range(len(times)) if i not in done]
    if missing:
        for j, shown_at, frame in _frames_in_order(source, [times[i] for i in missing], exact=exact):
            yield missing[j], shown_at, frame


def _seek_to(container: Any, stream: Any, t: float, start: float) -> Iterator[Any]:
    """The decoder's frames from the keyframe at or before `t` (absolute seconds). Where the
    demuxer has no index (MPEG-TS, FLV) a seek searches timestamps and can land past `t`, on the
    next keyframe: then it seeks again further back."""
    back = 0.0
    while True:
        target = max(t - back, start)
        container.seek(int(max(target, 0) * 1_000_000), backward=True, any_frame=False)
        frames = container.decode(stream)
        first = next(frames, None)
        if first is None:
            return iter(())
        overshoot = (first.time - t) if first.time is not None else 0.0
        if overshoot <= 0.001 or target <= start or back >= 60.0:
            return itertools.chain([first], frames)
        back = max(2 * back, overshoot + 1.0)


def _frames_in_order(source: MediaSource, times: list[float], *, exact: bool) -> Iterator[tuple[int, float, Any]]:
    """Like `_iter_frames`, from one pass that decodes from the start without seeking, packet by
    packet so a packet that does not decode is passed over: for the times seeking gave nothing
    (timestamps a seek cannot find its way through). Each time gets the first frame at or after
    it, or the last frame there is."""
    import av

    order = sorted(range(len(times)), key=lambda i: times[i])
    with source.open_av(metadata_errors="ignore") as container:
        stream = container.streams.video[0]
        start = _start_time(container, stream)
        if not exact:
            stream.codec_context.skip_frame = "NONKEY"
        last = None
        for packet in container.demux(stream):
            try:
                decoded = packet.decode()
            except av.error.FFmpegError:
                continue
            for frame in decoded:
                shown = frame.time - start if frame.time is not None else None
                while order and (shown is None or shown >= times[order[0]] - 0.001):
                    yield order.pop(0), (shown if shown is not None else 0.0), frame
                last = frame
            if not order:
                return
        if last is not None:
            shown = last.time - start if last.time is not None else 0.0
            for i in order:
                yield i, shown, last


def _start_time(container: Any, stream: Any) -> float:
    """The video's first timestamp, in seconds (0 for most files; a live recording's clock for TS and FLV)."""
    if stream.start_time is not None and stream.time_base:
        return float(stream.start_time * stream.time_base)
    return (container.start_time or 0) / 1_000_000


def _keyframe_times(container: Any, stream: Any) -> list[float] | None:
    """Sorted times (s) of the keyframes an MP4/MOV sample index lists; None for other containers."""
    if container.format.name != MP4_DEMUXER:
        return None
    entries = getattr(stream, "index_entries", None)
    if not entries:
        return None
    tb = stream.time_base
    return sorted(float(e.timestamp * tb) for e in entries if e.is_keyframe and not e.is_discard)


def _decode_on(keyframes: list[float] | None, last: Any, t: float) -> bool:
    """Whether to keep decoding forward to `t` rather than seek: a seek lands on the keyframe at or
    before `t`, and if that keyframe is not past the frame decoded last, seeking would decode the
    same frames again. (Short clips with long GOPs, phone clips of a few 4K frames: one pass
    instead of one per preview frame.)"""
    if keyframes is None or last is None or last.time is None:
        return False
    if last.time >= t - 0.001:
        return True  # the frame decoded last is the first one shown at `t` as well
    before = bisect.bisect_right(keyframes, t) - 1
    return before < 0 or keyframes[before] <= last.time


def _to_image(frame, max_side: int | None) -> Image.Image:
    scale = min(1.0, max_side / max(frame.width, frame.height)) if max_side else 1.0
    if scale >= 1.0:
        return frame.to_image()
    width, height = max(2, round(frame.width * scale)), max(2, round(frame.height * scale))
    return frame.reformat(width=width, height=height, format="rgb24", interpolation="AREA").to_image()


def _poster_time(facts: MediaFacts) -> float:
    duration = facts.duration_s or 0.0
    return min(1.0, duration * 0.1) if duration < 10 else min(duration * 0.1, 30.0)


def _sheet_times(facts: MediaFacts) -> list[float]:
    duration = facts.duration_s or 0.0
    count = SHEET_COLUMNS * SHEET_ROWS
    return [duration * (i + 0.5) / count for i in range(count)]


def _tile_size(facts: MediaFacts) -> tuple[int, int]:
    ratio = (facts.display_height or 9) / (facts.display_width or 16)
    return SHEET_TILE_WIDTH, max(2, int(round(SHEET_TILE_WIDTH * ratio)))


def _sheet_decode_side(facts: MediaFacts) -> int:
    """Long side to decode sheet frames at: room to spare for the tile, however narrow the video."""
    return max(SHEET_DECODE_MAX_SIDE, *_tile_size(facts))


def _exact(facts: MediaFacts) -> bool:
    return (facts.duration_s or 0.0) <= EXACT_SEEK_MAX_DURATION


class PreviewsUnavailable(ValueError):
    """Not one frame of the video decoded into a picture: the file's other facts still stand."""


def write_previews(path: Path | MediaSource, facts: MediaFacts, poster: Path | None, sheet: Path | None) -> str | None:
    """Write what previews `facts.media_type` has (poster and/or contact sheet); never raises for a
    picture that cannot be made: returns why (and removes what was half written), None when done.
    Previews are a convenience: they are never the reason a file is refused."""
    try:
        if facts.media_type == MediaType.video and (poster or sheet):
            write_video_previews(path, facts, poster, sheet)
        elif facts.media_type == MediaType.image and poster:
            write_poster(path, facts, poster)
        return None
    except Exception as exc:  # noqa: BLE001 - whatever failed, the media itself was read
        for out in (poster, sheet):
            if out is not None:
                with contextlib.suppress(OSError):
                    out.unlink(missing_ok=True)
        return f"{type(exc).__name__}: {exc}"


def write_poster(path: Path | MediaSource, facts: MediaFacts, out: Path) -> None:
    source = MediaSource.of(path)
    if facts.media_type == MediaType.image:
        with source.open() as fh, Image.open(fh) as img:
            shown = ImageOps.exif_transpose(img).convert("RGB")
        _save_poster(shown, out)
        return
    write_video_previews(source, facts, out, None)


def _save_poster(shown: Image.Image, out: Path) -> None:
    shown.thumbnail((POSTER_MAX_SIDE, POSTER_MAX_SIDE), Image.Resampling.LANCZOS)
    shown.save(out, "JPEG", quality=85, optimize=True)


def write_contact_sheet(path: Path | MediaSource, facts: MediaFacts, out: Path) -> None:
    """A 3x3 grid of frames spread over the video, each stamped with its time."""
    write_video_previews(path, facts, None, out)


def write_video_previews(path: Path | MediaSource, facts: MediaFacts, poster: Path | None, sheet: Path | None) -> None:
    """The poster and the contact sheet of a video (either may be None). The poster is written and
    each tile cut as soon as its frame is decoded, so for a file still arriving only the last tile
    and the sheet's layout wait for its last bytes.

    While most of the file is still to arrive, the bytes set the pace: one demuxer decoding each
    frame as its bytes land keeps up with them, at less CPU than two. A file that is all there is
    split over two threads, each with its own demuxer (FFmpeg releases the GIL while it decodes and
    scales): then the time to decode is time the uploader waits. A file whose index comes last
    (MP4 without faststart, Matroska cues) counts as all there because the probe, which runs
    first, has waited for its end; called before a probe, it would be decoded by one thread.

    The sheet has the tiles that decoded; raises PreviewsUnavailable when no frame at all does."""
    from concurrent.futures import ThreadPoolExecutor

    source = MediaSource.of(path)
    times = _sheet_times(facts) if sheet else []
    exact = _exact(facts)
    tiles: list[tuple[float, Image.Image] | None] = [None] * len(times)
    poster_written = False

    def decode(wanted: list[tuple[float, int]]) -> None:
        """Decode `(time, what)` pairs: `what` is a tile's index, or -1 for the poster."""
        nonlocal poster_written
        frames = _iter_frames(source, [t for t, _ in wanted], exact=exact)
        with contextlib.closing(frames):  # the container closes at once, also when saving fails
            for i, shown_at, frame in frames:
                what = wanted[i][1]
                if what < 0:
                    assert poster is not None
                    _save_poster(_picture(frame, facts.rotation, POSTER_MAX_SIDE).convert("RGB"), poster)
                    poster_written = True
                else:
                    tiles[what] = (shown_at, _tile(facts, _picture(frame, facts.rotation, _sheet_decode_side(facts))))

    wanted = ([(_poster_time(facts), -1)] if poster else []) + [(t, n) for n, t in enumerate(times)]
    if len(wanted) <= 5:
        decode(wanted)
    else:
        with ThreadPoolExecutor(max_workers=1) as pool:
            later = pool.submit(decode, wanted[5:])
            decode(wanted[:5])
            later.result()
    if poster and not poster_written:
        raise PreviewsUnavailable("no frame of the video could be decoded for the poster")
    if sheet:
        _save_sheet(facts, [tile for tile in tiles if tile is not None], sheet)


def _tile(facts: MediaFacts, image: Image.Image) -> Image.Image:
    return ImageOps.fit(image.convert("RGB"), _tile_size(facts), Image.Resampling.BILINEAR)


def _save_sheet(facts: MediaFacts, tiles: list[tuple[float, Image.Image]], out: Path) -> None:
    """Lay out `(shown at, tile)` pairs (tiles of `_tile_size`) in a grid, each stamped with its time."""
    if not tiles:
        raise PreviewsUnavailable("no frame of the video could be decoded for the contact sheet")
    w, h = _tile_size(facts)
    gap = 4
    sheet = Image.new("RGB", (SHEET_COLUMNS * (w + gap) + gap, SHEET_ROWS * (h + gap) + gap), (20, 20, 20))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=14)
    for i, (t, tile) in enumerate(tiles):
        x = gap + (i % SHEET_COLUMNS) * (w + gap)
        y = gap + (i // SHEET_COLUMNS) * (h + gap)
        sheet.paste(tile, (x, y))
        label = f"{int(t // 3600):d}:{int(t % 3600 // 60):02d}:{t % 60:05.2f}"
        draw.rectangle((x, y + h - 20, x + 8 + 8 * len(label), y + h), fill=(0, 0, 0))
        draw.text((x + 4, y + h - 18), label, fill=(255, 255, 255), font=font)
    sheet.save(out, "JPEG", quality=80, optimize=True)


@functools.cache
def placeholder_poster() -> bytes:
    """The JPEG shown for a video or image whose poster could not be made (yet): a dark frame with
    a play mark, 16:9."""
    width, height = 640, 360
    image = Image.new("RGB", (width, height), (38, 38, 42))
    draw = ImageDraw.Draw(image)
    cx, cy, r = width // 2, height // 2, 48
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=(150, 150, 156), width=4)
    draw.polygon([(cx - 16, cy - 24), (cx - 16, cy + 24), (cx + 26, cy)], fill=(150, 150, 156))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()
