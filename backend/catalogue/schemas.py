"""Request and response models of the catalogue API (materials, tags)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict

from backend.catalogue.models import MaterialKind, MaterialStatus, MediaType, ReviewState
from backend.text import IntId, MultilineText, Number, PartialUpdate, Text, unchanged
from workers.media.facts import MediaFacts


class TagPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    category: str
    name_en: str | None
    name_zh: str | None


class TagCreate(BaseModel):
    category: Text = Field(
        max_length=100, description="A category id, or its Chinese or English label (GET /api/v1/tag-categories)"
    )
    name_en: Text | None = Field(default=None, max_length=100, examples=["Function demo"])
    name_zh: Text | None = Field(default=None, max_length=100, examples=["功能演示"])


class TagCategoryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str = Field(description="What a tag reference starts with: `campaign:618大促`")
    label_zh: str
    label_en: str
    inheritable: bool = Field(description="A rendition (derived clip) takes its source's tags of this category")


class TagCategoryCreate(BaseModel):
    id: str = Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_]*$", examples=["source"])
    label_zh: Text = Field(min_length=1, max_length=100, examples=["素材来源"])
    label_en: Text = Field(min_length=1, max_length=100, examples=["Source"])
    inheritable: bool = True


class TagUpdate(BaseModel):
    name_en: Text | None = Field(default=None, max_length=100)
    name_zh: Text | None = Field(default=None, max_length=100)


class BulkTagging(BaseModel):
    material_ids: list[uuid.UUID] = Field(min_length=1, max_length=10_000)
    tag_ids: list[Annotated[IntId, Strict()]] = Field(min_length=1, max_length=100)


class BulkTaggingResult(BaseModel):
    changed: int


class MediaFactsPublic(MediaFacts):
    """The probed facts as stored on the material (read from its columns)."""

    model_config = ConfigDict(from_attributes=True)


class MaterialProxyPublic(BaseModel):
    """Whether the material's proxy (browser-playable copy, sprite, waveform) is ready, and its links."""

    state: Literal["queued", "running", "ready", "failed"]
    progress: float = Field(description="0..1 while running")
    video: str | None = Field(default=None, description="The proxy MP4 (Range; 307 to a presigned URL on S3); null: audio-only")
    sprite_vtt: str | None = Field(default=None, description="WebVTT index of the thumbnail sprite (`sheet#xywh=x,y,w,h`)")
    waveform: str | None = Field(default=None, description="Audio peaks, audiowaveform's JSON; null: no sound")
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    error_code: str | None = None


class MaterialPublic(BaseModel):
    id: uuid.UUID
    title: str
    description: str
    media_type: MediaType
    kind: MaterialKind
    status: MaterialStatus
    sha256: str | None
    size_bytes: int
    original_filename: str | None
    download_name: str = Field(
        description="The name `/file` sends in Content-Disposition: a rendition's title, platform label and date"
    )
    content_type: str | None
    media: MediaFactsPublic
    previews_failed: bool = Field(
        default=False, description="No poster could be made (no frame decoded): /poster serves a placeholder until a retry makes one"
    )
    previews_pending: bool = Field(
        default=False, description=(
            "The poster and contact sheet are still to be made (a worker makes them seconds after the upload): "
            "/poster serves a placeholder until then"
        ),
    )
    tags: list[TagPublic]
    parent_id: uuid.UUID | None
    recipe: dict[str, Any] | None
    preset_id: str | None
    render_job_id: uuid.UUID | None
    production_cost: float | None
    review_state: ReviewState = Field(
        default=ReviewState.none,
        description="`draft`: an automatic re-edit waiting for a person (approve or reject it at /review)",
    )
    review: dict[str, Any] | None = Field(default=None, description="The decision: {decision, reason, by, at}")
    proxy: MaterialProxyPublic | None = Field(
        default=None, description="The proxy for playback and scrubbing (videos; audio gets its waveform); null: none"
    )
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    links: dict[str, str]


class MaterialUpdate(PartialUpdate):
    title: Text = unchanged(min_length=1, max_length=500)
    description: MultilineText = unchanged(max_length=20_000)
    production_cost: Number | None = Field(default=None, ge=0)


class MaterialPagePublic(BaseModel):
    items: list[MaterialPublic]
    next_cursor: str | None = Field(description="Pass as ?cursor= to get the next page; null on the last page")


class LineageMaterial(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    title: str
    kind: MaterialKind
    status: MaterialStatus
    preset_id: str | None
    recipe: dict[str, Any] | None
    duration_s: float | None
    display_width: int | None
    display_height: int | None
    created_at: datetime


class LineageNodePublic(BaseModel):
    material: LineageMaterial
    children: list[LineageNodePublic]


class LineagePublic(BaseModel):
    ancestors: list[LineageMaterial] = Field(description="Nearest parent first; the last one is the source footage")
    tree: LineageNodePublic


class DownloadLink(BaseModel):
    url: str
    expires_at: datetime | None

