"""Poster frames and contact sheets (JPEG, displayed orientation) with PyAV and Pillow."""

from __future__ import annotations

import bisect
import contextlib
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont, ImageOps

from workers.media.probe import MP4_DEMUXER, MediaFacts
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
    bytes of the next frame arrive."""
    with source.open_av(metadata_errors="ignore") as container:
        stream = container.streams.video[0]
        # Frame threads hold back several frames per seek; for a few scattered frames, slices suit.
        stream.thread_type = "SLICE"
        if not exact:
            stream.codec_context.skip_frame = "NONKEY"
        keyframes = _keyframe_times(container, stream) if exact else None
        frames: Iterator[Any] | None = None  # the decoder's output since the last seek
        last = None  # the last frame taken from `frames`
        for i in sorted(range(len(times)), key=lambda i: times[i]):
            t = times[i]
            if not (frames is not None and _decode_on(keyframes, last, t)):
                container.seek(int(max(t, 0) * 1_000_000), backward=True, any_frame=False)
                frames, last = container.decode(stream), None
            chosen = last if last is not None and last.time is not None and last.time >= t - 0.001 else None
            while chosen is None:
                frame = next(frames, None)
                if frame is None:
                    chosen, frames = last, None  # past the end: the last frame there is
                    break
                last = frame
                if not exact or frame.time is None or frame.time >= t - 0.001:
                    chosen = frame
            if chosen is not None:
                yield i, (chosen.time if chosen.time is not None else t), chosen


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


def write_poster(path: Path | MediaSource, facts: MediaFacts, out: Path) -> None:
    source = MediaSource.of(path)
    if facts.media_type == "image":
        with source.open() as fh, Image.open(fh) as img:
            shown = ImageOps.exif_transpose(img).convert("RGB")
        _save_poster(shown, out)
        return
    frames = frames_at(source, [_poster_time(facts)], facts.rotation, exact=_exact(facts), max_side=POSTER_MAX_SIDE)
    _save_poster(_poster_image(source, facts, frames[0][1] if frames else None), out)


def _poster_image(source: MediaSource, facts: MediaFacts, image: Image.Image | None) -> Image.Image:
    """The poster frame, or the first frame where the one at the poster time did not decode."""
    if image is None:
        first = frames_at(source, [0.0], facts.rotation, max_side=POSTER_MAX_SIDE)
        if not first:
            raise ValueError("no frame could be decoded for the poster")
        image = first[0][1]
    return image.convert("RGB")


def _save_poster(shown: Image.Image, out: Path) -> None:
    shown.thumbnail((POSTER_MAX_SIDE, POSTER_MAX_SIDE), Image.Resampling.LANCZOS)
    shown.save(out, "JPEG", quality=85, optimize=True)


def write_contact_sheet(path: Path | MediaSource, facts: MediaFacts, out: Path) -> None:
    """A 3x3 grid of frames spread over the video, each stamped with its time."""
    frames = frames_at(path, _sheet_times(facts), facts.rotation, exact=_exact(facts), max_side=_sheet_decode_side(facts))
    _save_sheet(facts, [(t, _tile(facts, img)) for t, img in frames], out)


def write_video_previews(path: Path | MediaSource, facts: MediaFacts, poster: Path, sheet: Path) -> None:
    """The poster and the contact sheet of a video. The poster is written and each tile cut as soon
    as its frame is decoded, so for a file still arriving only the last tile and the sheet's layout
    wait for its last bytes.

    While most of the file is still to arrive, the bytes set the pace: one demuxer decoding each
    frame as its bytes land keeps up with them, at less CPU than two. A file that is all there is
    split over two threads, each with its own demuxer (FFmpeg releases the GIL while it decodes and
    scales): then the time to decode is time the uploader waits. A file whose index comes last
    (MP4 without faststart, Matroska cues) counts as all there because the probe, which runs
    first, has waited for its end; called before a probe, it would be decoded by one thread."""
    from concurrent.futures import ThreadPoolExecutor

    source = MediaSource.of(path)
    times = _sheet_times(facts)
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
                    _save_poster(_picture(frame, facts.rotation, POSTER_MAX_SIDE).convert("RGB"), poster)
                    poster_written = True
                else:
                    tiles[what] = (shown_at, _tile(facts, _picture(frame, facts.rotation, _sheet_decode_side(facts))))

    wanted = [(_poster_time(facts), -1), *((t, n) for n, t in enumerate(times))]
    arrival = source.arrival
    if arrival is not None and arrival.available * 2 < arrival.size:
        decode(wanted)
    else:
        with ThreadPoolExecutor(max_workers=1) as pool:
            later = pool.submit(decode, wanted[5:])
            decode(wanted[:5])
            later.result()
    if not poster_written:
        _save_poster(_poster_image(source, facts, None), poster)
    _save_sheet(facts, [tile for tile in tiles if tile is not None], sheet)


def _tile(facts: MediaFacts, image: Image.Image) -> Image.Image:
    return ImageOps.fit(image.convert("RGB"), _tile_size(facts), Image.Resampling.BILINEAR)


def _save_sheet(facts: MediaFacts, tiles: list[tuple[float, Image.Image]], out: Path) -> None:
    """Lay out `(shown at, tile)` pairs (tiles of `_tile_size`) in a grid, each stamped with its time."""
    if not tiles:
        raise ValueError("no frame could be decoded for the contact sheet")
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
