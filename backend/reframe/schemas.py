"""Request and response models of the smart reframe API: a suggested camera path, and its preview."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from backend.renders.service import CropKeyIn, PresetId, TimeRangeIn


class ReframeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    preset: PresetId
    ranges: list[TimeRangeIn] = Field(
        min_length=1, max_length=50, description="Source ranges, joined in order (as in a render request)"
    )


class ReframePreviewRequest(ReframeRequest):
    crop_path: list[CropKeyIn] | None = Field(
        default=None,
        min_length=1,
        max_length=2000,
        description="The path to draw (e.g. an edited one); without it, the suggested path",
    )
    frames: int = Field(default=8, ge=1, le=24, description="Frames in the strip, evenly spread over the output")


class ShotPublic(BaseModel):
    start: float = Field(description="Source seconds")
    end: float
    move: Literal["hold", "pan", "track", "centre", "pad"] = Field(
        description="`hold`: one window holds the subject; `pan`: the window holds, makes one eased move "
        "when the subject is about to leave it, and holds again; `track`: several such moves; "
        "`centre` / `pad`: no subject to follow (or two that cannot share the window)"
    )
    scale: float = Field(description="The shot's zoom (constant over a shot: no zoom jumps)")
    subjects: int = Field(description="People followed: 0 (fallback), 1 (the host) or 2 (both fit)")
    product: bool = Field(description="The product card, or the area of motion beside the host, is framed too")


class ReframePublic(BaseModel):
    material_id: uuid.UUID
    analysis_id: uuid.UUID
    analysis_outdated: bool = Field(
        description="The analysis was made before every face of a sample and the area of motion were kept "
        "(analyser version < 2): the path follows one face per sample and never the product; analyse the "
        "material again (POST .../analyses) for the full path. Automatic drafts do not follow such a path."
    )
    preset: str
    fallback: Literal["centre", "pad"]
    output_size: tuple[int, int]
    window: tuple[float, float] = Field(description="The window at scale 1, as fractions of the source frame (w, h)")
    min_scale: float = Field(description="The closest zoom that does not upscale past the source's resolution class")
    crop_path: list[CropKeyIn] = Field(description="Keyframes on the output timeline: send as a render's `crop_path`")
    shots: list[ShotPublic]
