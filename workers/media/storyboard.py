"""Storyboards of clip proposals: a strip of a few frames across a range of a recording, each stamped with
its time in the source, so a person can judge a proposal at a glance (JPEG, displayed orientation)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

from workers.media.previews import PreviewsUnavailable, frames_at
from workers.media.source import MediaSource

STORYBOARD_FRAMES = 5
TILE_HEIGHT = 180
DECODE_MAX_SIDE = 480  # scaled in FFmpeg before the frame becomes an image: 1080p frames stay cheap
GAP = 4


@dataclass(frozen=True)
class Storyboard:
    times: list[float]  # source seconds each tile shows, left to right
    width: int
    height: int


def storyboard_times(start: float, end: float, frames: int = STORYBOARD_FRAMES) -> list[float]:
    """`frames` times spread over start..end, each in the middle of its share (never on the cut itself)."""
    step = (end - start) / frames
    return [round(start + (i + 0.5) * step, 3) for i in range(frames)]


def time_label(t: float) -> str:
    return f"{int(t // 3600):d}:{int(t % 3600 // 60):02d}:{t % 60:04.1f}"


def write_storyboard(
    path: Path | MediaSource, start: float, end: float, out: Path, *, rotation: int = 0,
    frames: int = STORYBOARD_FRAMES,
) -> Storyboard:
    """Decode `frames` frames across start..end and lay them out in one row, each stamped with its source
    time. Keyframes first (a seek and one decode each, cheap on hour-long streams); a time whose nearest
    keyframe lies before `start` (outside the clip) is decoded exactly instead, so every tile shows the
    clip. Raises PreviewsUnavailable when no frame decodes."""
    wanted = storyboard_times(start, end, frames)
    got = dict(enumerate(frames_at(path, wanted, rotation, exact=False, max_side=DECODE_MAX_SIDE)))
    outside = [i for i, (shown, _) in got.items() if not start - 0.05 <= shown <= end + 0.05]
    if outside or len(got) < len(wanted):
        redo = [i for i in range(len(wanted)) if i in outside or i not in got]
        exact = frames_at(path, [wanted[i] for i in redo], rotation, exact=True, max_side=DECODE_MAX_SIDE)
        for i, frame in zip(redo, exact, strict=False):
            got[i] = frame
    tiles = [got[i] for i in sorted(got)]
    if not tiles:
        raise PreviewsUnavailable("no frame of the range could be decoded for the storyboard")
    first = tiles[0][1]
    tile_w = max(2, round(TILE_HEIGHT * first.width / max(first.height, 1)))
    width = len(tiles) * (tile_w + GAP) + GAP
    height = TILE_HEIGHT + 2 * GAP
    sheet = Image.new("RGB", (width, height), (20, 20, 20))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=15)
    for n, (shown, image) in enumerate(tiles):
        x = GAP + n * (tile_w + GAP)
        sheet.paste(ImageOps.fit(image.convert("RGB"), (tile_w, TILE_HEIGHT), Image.Resampling.BILINEAR), (x, GAP))
        label = time_label(shown)
        draw.rectangle((x, GAP + TILE_HEIGHT - 22, x + 10 + 8 * len(label), GAP + TILE_HEIGHT), fill=(0, 0, 0))
        draw.text((x + 5, GAP + TILE_HEIGHT - 20), label, fill=(255, 255, 255), font=font)
    sheet.save(out, "JPEG", quality=80, optimize=True)
    return Storyboard(times=[round(t, 3) for t, _ in tiles], width=width, height=height)
