"""Smart reframe: the suggested camera path for a material + preset + ranges, computed from the
material's stored analysis (no decoding), and a strip of frames with the crop window drawn on them.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Sequence

from sqlmodel import Session

from backend import errors
from backend.autoclip import service as autoclip
from backend.autoclip.models import Analysis
from backend.catalogue.models import Material, MaterialStatus, MediaType
from backend.objectstore import media_in_place
from backend.platforms.service import get_catalog
from backend.reframe.schemas import ReframePublic, ReframeRequest, ShotPublic
from backend.renders.service import CropKeyIn, TimeRangeIn
from presets.schema import RenditionPreset, UnknownPreset
from storage import Storage
from storage.base import ObjectNotFound
from workers.media.analysis import AnalysisResult
from workers.media.argv import output_size
from workers.media.reframe import MIN_ANALYSIS_VERSION, Key, ReframeOptions, base_window, camera_path, key_at

STRIP_TILE_HEIGHT = 240


def _material(session: Session, material_id: uuid.UUID) -> Material:
    m = session.get(Material, material_id)
    if m is None:
        raise errors.NotFound(key="material-not-found", params={"id": str(material_id)})
    if m.status != MaterialStatus.ready or m.media_type != MediaType.video:
        raise errors.ReframeRequestInvalid(key="reframe.material-not-ready-video", params={"id": str(material_id)})
    return m


def _preset(preset_id: str) -> RenditionPreset:
    try:
        return get_catalog().preset(preset_id)
    except UnknownPreset as e:
        raise errors.ReframeRequestInvalid(key="reframe.preset-unknown", params={"id": preset_id}) from e


def _analysis(session: Session, material_id: uuid.UUID) -> tuple[Analysis, AnalysisResult]:
    analysis = autoclip.current_analysis(session, material_id)
    if analysis is None or not analysis.signals:
        raise errors.ReframeNeedsAnalysis(key="reframe.analyse-first", params={"id": str(material_id)})
    result = AnalysisResult.model_validate(analysis.signals)
    if result.picture is None:
        raise errors.ReframeNeedsAnalysis(key="reframe.no-picture-signals")
    return analysis, result


def _ranges(ranges: Sequence[TimeRangeIn], duration: float) -> list[tuple[float, float]]:
    out = []
    for r in ranges:
        if duration and r.start >= duration:
            raise errors.ReframeRequestInvalid(
                key="reframe.range-past-end", params={"start": r.start, "end": r.end, "duration": duration}
            )
        out.append((float(r.start), float(min(r.end, duration) if duration else r.end)))
    return out


def suggest(session: Session, material_id: uuid.UUID, body: ReframeRequest) -> ReframePublic:
    material = _material(session, material_id)
    preset = _preset(body.preset)
    analysis, result = _analysis(session, material.id)
    assert result.picture is not None
    src = result.picture.frame_size
    out = output_size(src[0], src[1], preset.width.value, preset.height.value, False)
    path = camera_path(result, _ranges(body.ranges, result.duration), out, ReframeOptions(fallback=preset.reframe_fallback))
    return ReframePublic(
        material_id=material.id,
        analysis_id=analysis.id,
        analysis_outdated=(analysis.analyser_version or 0) < MIN_ANALYSIS_VERSION,
        preset=preset.id,
        fallback=preset.reframe_fallback,
        output_size=out,
        window=(round(path.window[0], 4), round(path.window[1], 4)),
        min_scale=round(path.min_scale, 4),
        crop_path=[CropKeyIn(t=k.t, x=k.x, y=k.y, scale=k.scale, pad=k.pad) for k in path.keys],
        shots=[
            ShotPublic(start=round(s.start, 3), end=round(s.end, 3), move=s.move, scale=s.scale, subjects=s.subjects, product=s.product)
            for s in path.shots
        ],
    )


def _source_time(ranges: Sequence[tuple[float, float]], t: float) -> tuple[float, float, float]:
    """Output time -> (source time, start of its range in the source, start of it on the output)."""
    offset = 0.0
    for a, b in ranges:
        if t < offset + (b - a):
            return a + t - offset, a, offset
        offset += b - a
    a, b = ranges[-1]
    return b, a, offset - (b - a)


def preview_strip(
    session: Session,
    storage: Storage,
    material_id: uuid.UUID,
    body: ReframeRequest,
    crop_path: Sequence[CropKeyIn] | None,
    frames: int,
) -> bytes:
    """A JPEG strip: `frames` frames spread over the output, each the source frame with the crop window
    drawn (the stretch outside it dimmed), so a person can check the path before rendering."""
    from PIL import Image, ImageDraw

    from workers.media.previews import frames_at

    material = _material(session, material_id)
    preset = _preset(body.preset)
    if crop_path is None:
        crop_path = suggest(session, material_id, body).crop_path
    keys = [Key(k.t, k.x, k.y, k.scale, k.pad) for k in crop_path]
    duration = float(material.duration_s or 0.0)
    ranges = _ranges(body.ranges, duration)
    total = sum(b - a for a, b in ranges)
    times_out = [total * (i + 0.5) / frames for i in range(frames)]
    placed = [_source_time(ranges, t) for t in times_out]
    times_src = [p[0] for p in placed]
    if not material.storage_key:
        raise errors.ReframeRequestInvalid(key="material-no-stored-file")
    try:
        # read in place: the stored file on local storage, ranged reads on object storage (a strip of a
        # two-hour recording reads a few keyframes' bytes, never a copy of the recording)
        source = media_in_place(storage, material.storage_key)
    except ObjectNotFound as e:
        raise errors.ReframeRequestInvalid(key="material-stored-file-missing") from e
    # keyframe-exact is enough to check a framing and keeps an hour-long recording cheap
    got = frames_at(source, times_src, material.rotation or 0, exact=False, max_side=2 * STRIP_TILE_HEIGHT)
    tiles = []
    for (shown, image), (_, range_start, out_start) in zip(got, placed, strict=False):
        # the window where the frame shown (the keyframe at or before the asked time) is on the output
        t_out = out_start + max(0.0, shown - range_start)
        w0, h0 = image.size
        tile = image.convert("RGB").resize((max(2, w0 * STRIP_TILE_HEIGHT // h0), STRIP_TILE_HEIGHT))
        tw, th = tile.size
        k = key_at(keys, t_out)
        draw = ImageDraw.Draw(tile, "RGBA")
        if k.pad:
            draw.rectangle([1, 1, tw - 2, th - 2], outline=(255, 200, 0, 255), width=3)
        else:
            ww, wh = base_window((tw, th), (preset.width.value, preset.height.value))
            cw, ch = ww * k.scale * tw, wh * k.scale * th
            x0 = min(max(k.x * tw - cw / 2, 0), tw - cw)
            y0 = min(max(k.y * th - ch / 2, 0), th - ch)
            shade = (0, 0, 0, 140)
            draw.rectangle([0, 0, x0, th], fill=shade)
            draw.rectangle([x0 + cw, 0, tw, th], fill=shade)
            draw.rectangle([x0, 0, x0 + cw, y0], fill=shade)
            draw.rectangle([x0, y0 + ch, x0 + cw, th], fill=shade)
            draw.rectangle([x0, y0, x0 + cw, y0 + ch], outline=(0, 255, 120, 255), width=2)
        draw.text((4, 4), f"{t_out:.1f}s", fill=(255, 255, 255, 255))
        tiles.append(tile)
    if not tiles:
        raise errors.ReframeRequestInvalid(key="reframe.no-frame-decoded")
    strip = Image.new("RGB", (sum(t.width for t in tiles) + 4 * (len(tiles) - 1), STRIP_TILE_HEIGHT), (20, 20, 20))
    x = 0
    for tile in tiles:
        strip.paste(tile, (x, 0))
        x += tile.width + 4
    buf = io.BytesIO()
    strip.save(buf, "JPEG", quality=80)
    return buf.getvalue()
