"""Request and response models of the performance API: imports, snapshots, identification."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ImportPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    platform: str
    file_name: str
    dry_run: bool
    is_cumulative: bool
    as_of: datetime | None
    rows_read: int
    rows_inserted: int
    rows_updated: int
    rows_unchanged: int
    rows_unmatched: int
    rows_failed: int
    rows_skipped: int
    errors: list[dict[str, Any]]
    unmatched: list[dict[str, Any]]
    planned: list[dict[str, Any]] | None = None
    created_at: datetime


class SnapshotIn(BaseModel):
    publication_id: uuid.UUID
    captured_at: datetime
    is_cumulative: bool = True
    views: int | None = Field(default=None, ge=0)
    likes: int | None = Field(default=None, ge=0)
    comments: int | None = Field(default=None, ge=0)
    shares: int | None = Field(default=None, ge=0)
    favourites: int | None = Field(default=None, ge=0)
    followers_gained: int | None = None
    avg_watch_seconds: float | None = Field(default=None, ge=0)
    completion_rate: float | None = Field(default=None, ge=0, le=1)
    clicks: int | None = Field(default=None, ge=0)
    add_to_cart: int | None = Field(default=None, ge=0)
    orders: int | None = Field(default=None, ge=0)
    gmv: float | None = Field(default=None, ge=0, description="In `currency`, e.g. 1234.50")
    ad_spend: float | None = Field(default=None, ge=0)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")


class SnapshotBatch(BaseModel):
    snapshots: list[SnapshotIn] = Field(max_length=10_000)


class WriteCountsPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    inserted: int
    updated: int
    unchanged: int


class IdentifiedPublic(BaseModel):
    material_id: uuid.UUID
    title: str
    kind: str
    score: float = Field(description="1 = identical frames, 0 = unrelated")
    distance: float = Field(description="Mean Hamming distance of aligned frame hashes (0..64)")
    offset_seconds: float = Field(description="Where the copy starts within the material (negative: before)")
    overlap_seconds: float
