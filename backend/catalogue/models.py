"""Materials (videos, images, audio), their tags, their lineage and the fingerprint of each video
(for identifying a platform's copy)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
    true,
)
from sqlmodel import Field, SQLModel

from backend.sqltypes import JSONColumn, UTCDateTime, utcnow
from workers.media.facts import MediaFacts, MediaType, Orientation

__all__ = ["Material", "MaterialKind", "MaterialStatus", "MaterialTag", "MediaType", "Orientation", "Tag", "TagCategory"]


class MaterialKind(enum.StrEnum):
    source = "source"  # footage as recorded (live streams, shoots)
    derived = "derived"  # made by reelhouse from a parent material
    external = "external"  # a platform's copy of a video, brought back for identification


class MaterialStatus(enum.StrEnum):
    uploading = "uploading"
    processing = "processing"
    ready = "ready"
    failed = "failed"
    deleted = "deleted"


# The categories a new installation starts with (migration 0010 seeds them); admins add more as rows.
# (id, Chinese label, English label, inheritable: a derived clip takes its source's tags of this category)
SEEDED_TAG_CATEGORIES: tuple[tuple[str, str, str, bool], ...] = (
    ("audience", "受众", "Audience", True),
    ("content_type", "内容类型", "Content type", True),
    ("product", "产品", "Product", True),
    ("campaign", "活动", "Campaign", True),
    ("style", "风格", "Style", True),
    ("platform", "平台", "Platform", False),  # a rendition gets its own preset's platform instead
    ("other", "其他", "Other", True),
)
PLATFORM_CATEGORY = "platform"
PRODUCT_CATEGORY = "product"


class ReviewState(enum.StrEnum):
    """Whether a person has looked at a material made without one: only automatic re-edit drafts start
    as `draft`; everything else is `none` (nothing to review)."""

    none = "none"
    draft = "draft"
    approved = "approved"
    rejected = "rejected"


class TagCategory(SQLModel, table=True):
    """A tag category: data, so an admin can add one. `id` is what a tag reference starts with."""

    __tablename__ = "tag_category"

    id: str = Field(sa_column=Column(String(32), primary_key=True))
    label_zh: str = Field(sa_column=Column(String(100), nullable=False))
    label_en: str = Field(sa_column=Column(String(100), nullable=False))
    inheritable: bool = Field(default=True, sa_column=Column(Boolean, nullable=False, server_default=true()))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class Material(SQLModel, table=True):
    __tablename__ = "material"
    __table_args__ = (
        Index("ix_material_created", "created_at", "id"),
        Index("ix_material_status_kind", "status", "kind"),
        Index("ix_material_parent", "parent_id"),
        Index("ix_material_title_sort", "title", "id"),
        Index("ix_material_size_sort", "size_bytes", "id"),
        Index("ix_material_duration_sort", func.coalesce(text("duration_s"), -1.0), "id"),
        # Uploads are deduplicated by their bytes; renditions are not (two presets with the same
        # encoding settings make identical files, and each is its own material with its own preset).
        Index("uq_material_sha256_upload", "sha256", unique=True, sqlite_where=text("kind != 'derived'"),
              postgresql_where=text("kind != 'derived'")),
        Index("ix_material_sha256", "sha256"),
        Index("ix_material_review_state", "review_state"),  # the review queue: drafts among many `none`
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    title: str = Field(sa_column=Column(String(500), nullable=False))
    description: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    media_type: MediaType = Field(sa_column=Column(String(16), nullable=False))
    kind: MaterialKind = Field(sa_column=Column(String(16), nullable=False))
    status: MaterialStatus = Field(sa_column=Column(String(16), nullable=False))

    sha256: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    size_bytes: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    storage_key: str | None = Field(default=None, sa_column=Column(String(512), nullable=True))
    original_filename: str | None = Field(default=None, sa_column=Column(String(500), nullable=True))
    content_type: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))

    # Probed media facts: one column per field of workers.media.facts.MediaFacts, set by `apply_facts`.
    container: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    demuxer: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    duration_s: float | None = None
    video_codec: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    width: int | None = None
    height: int | None = None
    display_width: int | None = None
    display_height: int | None = None
    rotation: int = 0
    fps: float | None = None
    is_vfr: bool = False
    pix_fmt: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    bit_depth: int | None = None
    color_transfer: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    has_audio: bool = False
    audio_codec: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    audio_channels: int | None = None
    audio_sample_rate: int | None = None
    bit_rate: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    media_created_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    orientation: Orientation | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    aspect_ratio: float | None = None

    poster_key: str | None = Field(default=None, sa_column=Column(String(512), nullable=True))
    contact_sheet_key: str | None = Field(default=None, sa_column=Column(String(512), nullable=True))
    # A worker makes both once the row is committed (backend/uploads/previews.py). Failed: no frame
    # decoded; the material is kept, a placeholder is served and the sweep tries again for a day.
    previews_failed: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=false()))

    # Lineage: a derived material points to its parent and keeps the recipe that made it.
    parent_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(ForeignKey("material.id", ondelete="RESTRICT"), nullable=True)
    )
    recipe: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONColumn, nullable=True))
    preset_id: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    render_job_id: uuid.UUID | None = Field(default=None, index=True)
    production_cost: float | None = None
    review_state: ReviewState = Field(
        default=ReviewState.none, sa_column=Column(String(16), nullable=False, server_default="none")
    )
    # The last review decision: {decision, reason, by, at}.
    review: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONColumn, nullable=True))

    created_by: uuid.UUID | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    deleted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))

    def apply_facts(self, facts: MediaFacts) -> None:
        """Store the probed facts, each in the column of its name (the derived ones too)."""
        for name, value in facts.model_dump().items():
            setattr(self, name, value)


class Tag(SQLModel, table=True):
    __tablename__ = "tag"
    __table_args__ = (
        UniqueConstraint("category", "name_en", name="uq_tag_category_name_en"),
        UniqueConstraint("category", "name_zh", name="uq_tag_category_name_zh"),
    )

    id: int | None = Field(default=None, primary_key=True)
    category: str = Field(
        sa_column=Column(
            String(32),
            ForeignKey("tag_category.id", ondelete="RESTRICT", name="fk_tag_category"),
            nullable=False,
            index=True,
        )
    )
    name_en: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    name_zh: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class MaterialTag(SQLModel, table=True):
    __tablename__ = "material_tag"
    __table_args__ = (Index("ix_material_tag_tag", "tag_id", "material_id"),)

    material_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("material.id", ondelete="CASCADE"), primary_key=True)
    )
    tag_id: int = Field(sa_column=Column(ForeignKey("tag.id", ondelete="CASCADE"), primary_key=True))


class MaterialFingerprint(SQLModel, table=True):
    """Per-frame 64-bit perceptual hashes of a video, big-endian, `sample_fps` frames per second."""

    __tablename__ = "material_fingerprint"

    material_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("material.id", ondelete="CASCADE"), primary_key=True)
    )
    version: int = Field(sa_column=Column(Integer, nullable=False))
    sample_fps: float = Field(sa_column=Column(Float, nullable=False))
    frame_count: int = Field(sa_column=Column(Integer, nullable=False))
    hashes: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
