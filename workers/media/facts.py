"""What reelhouse knows about a media file: the one model of its facts.

The probe fills it, render argv is built from it, the catalogue stores each field in a `material`
column of the same name (`Material.apply_facts`), and the API shows it (`MediaFactsPublic`). A new
fact is a field here, a column there and a migration.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, computed_field

HDR_TRANSFERS = frozenset({"arib-std-b67", "smpte2084"})


class MediaType(enum.StrEnum):
    video = "video"
    image = "image"
    audio = "audio"


class Orientation(enum.StrEnum):
    portrait = "portrait"
    landscape = "landscape"
    square = "square"


class MediaFacts(BaseModel):
    """Facts read from the file itself. Display sizes have rotation (and sample aspect) applied."""

    media_type: MediaType
    container: str | None = Field(default=None, description="Normalised container: mp4, matroska, mpegts, flv, jpeg ...")
    demuxer: str | None = Field(default=None, description="FFmpeg demuxer name(s), e.g. 'mov,mp4,m4a,3gp,3g2,mj2'")
    duration_s: float | None = None
    video_codec: str | None = None
    width: int | None = Field(default=None, description="Coded width, as stored in the stream")
    height: int | None = None
    display_width: int | None = Field(default=None, description="Width as shown, rotation applied")
    display_height: int | None = None
    rotation: int = Field(default=0, description="Display-matrix angle; -90 turns 90 degrees clockwise")
    fps: float | None = Field(default=None, description="Mean frame rate")
    is_vfr: bool = False
    pix_fmt: str | None = None
    bit_depth: int | None = None
    color_transfer: str | None = Field(default=None, description="bt709, arib-std-b67 (HLG), smpte2084 (PQ) ...")
    has_audio: bool = False
    audio_codec: str | None = None
    audio_channels: int | None = None
    audio_sample_rate: int | None = None
    bit_rate: int | None = None
    media_created_at: datetime | None = Field(default=None, description="When the camera recorded it (UTC)")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def orientation(self) -> Orientation | None:
        if not self.display_width or not self.display_height:
            return None
        if self.display_width == self.display_height:
            return Orientation.square
        return Orientation.portrait if self.display_height > self.display_width else Orientation.landscape

    @computed_field  # type: ignore[prop-decorator]
    @property
    def aspect_ratio(self) -> float | None:
        """Display width over height."""
        if not self.display_width or not self.display_height:
            return None
        return round(self.display_width / self.display_height, 5)

    @property
    def is_hdr(self) -> bool:
        return self.color_transfer in HDR_TRANSFERS

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (what the sandboxed inspector prints)."""
        return self.model_dump(mode="json", exclude=set(self.model_computed_fields))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MediaFacts:
        return cls.model_validate(data)
