"""Poster frames and contact sheets (JPEG, displayed orientation) with PyAV and Pillow."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

from workers.media.probe import MediaFacts

POSTER_MAX_SIDE = 1280
SHEET_COLUMNS = 3
SHEET_ROWS = 3
SHEET_TILE_WIDTH = 320


def _upright(image: Image.Image, rotation: int) -> Image.Image:
    # rotation is the display-matrix angle (-90 = turn 90 degrees clockwise); PIL turns counter-clockwise.
    return image.rotate(rotation, expand=True) if rotation % 360 else image


EXACT_SEEK_MAX_DURATION = 60.0


def frames_at(
    path: Path, times: list[float], rotation: int, *, exact: bool = True
) -> list[tuple[float, Image.Image]]:
    """One frame per time. `exact` decodes forward from the keyframe to the time; otherwise the
    nearest keyframe at or before it is used, which keeps previews of hour-long live streams
    (long GOPs, 1080p) to a few keyframe decodes instead of thousands of frames."""
    import av

    out: list[tuple[float, Image.Image]] = []
    with av.open(str(path), metadata_errors="ignore") as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if not exact:
            stream.codec_context.skip_frame = "NONKEY"
        for t in times:
            container.seek(int(max(t, 0) * 1_000_000), backward=True, any_frame=False)
            chosen = None
            for frame in container.decode(stream):
                chosen = frame
                if not exact or frame.time is None or frame.time >= t - 0.001:
                    break
            if chosen is not None:
                shown_at = chosen.time if chosen.time is not None else t
                out.append((shown_at, _upright(chosen.to_image(), rotation)))
    return out


def write_poster(path: Path, facts: MediaFacts, out: Path) -> None:
    if facts.media_type == "image":
        with Image.open(path) as img:
            shown = ImageOps.exif_transpose(img).convert("RGB")
    else:
        duration = facts.duration_s or 0.0
        t = min(1.0, duration * 0.1) if duration < 10 else min(duration * 0.1, 30.0)
        exact = duration <= EXACT_SEEK_MAX_DURATION
        frames = frames_at(path, [t], facts.rotation, exact=exact) or frames_at(path, [0.0], facts.rotation)
        shown = frames[0][1].convert("RGB")
    shown.thumbnail((POSTER_MAX_SIDE, POSTER_MAX_SIDE), Image.Resampling.LANCZOS)
    shown.save(out, "JPEG", quality=85, optimize=True)


def write_contact_sheet(path: Path, facts: MediaFacts, out: Path) -> None:
    """A 3x3 grid of frames spread over the video, each stamped with its time."""
    duration = facts.duration_s or 0.0
    count = SHEET_COLUMNS * SHEET_ROWS
    times = [duration * (i + 0.5) / count for i in range(count)]
    frames = frames_at(path, times, facts.rotation, exact=duration <= EXACT_SEEK_MAX_DURATION)
    if not frames:
        raise ValueError("no frame could be decoded for the contact sheet")
    w = SHEET_TILE_WIDTH
    ratio = (facts.display_height or 9) / (facts.display_width or 16)
    h = max(2, int(round(w * ratio)))
    gap = 4
    sheet = Image.new("RGB", (SHEET_COLUMNS * (w + gap) + gap, SHEET_ROWS * (h + gap) + gap), (20, 20, 20))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=14)
    for i, (t, img) in enumerate(frames):
        tile = ImageOps.fit(img.convert("RGB"), (w, h), Image.Resampling.BILINEAR)
        x = gap + (i % SHEET_COLUMNS) * (w + gap)
        y = gap + (i // SHEET_COLUMNS) * (h + gap)
        sheet.paste(tile, (x, y))
        label = f"{int(t // 3600):d}:{int(t % 3600 // 60):02d}:{t % 60:05.2f}"
        draw.rectangle((x, y + h - 20, x + 8 + 8 * len(label), y + h), fill=(0, 0, 0))
        draw.text((x + 4, y + h - 18), label, fill=(255, 255, 255), font=font)
    sheet.save(out, "JPEG", quality=80, optimize=True)
