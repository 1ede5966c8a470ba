"""Request and response models of the performance API: imports, snapshots, identification."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict

from backend.text import Moment, Number

# Bounds far above any real figure that keep sums over millions of snapshots inside a BIGINT
# (SQLite raises on integer overflow in SUM); money is stored as cents.
MAX_COUNT = 10**12
MAX_MONEY = 10**11
MetricCount = Annotated[int, Strict(), Field(ge=0, le=MAX_COUNT)]


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
    captured_at: Moment
    is_cumulative: bool = True
    views: MetricCount | None = None
    likes: MetricCount | None = None
    comments: MetricCount | None = None
    shares: MetricCount | None = None
    favourites: MetricCount | None = None
    followers_gained: int | None = Field(default=None, ge=-MAX_COUNT, le=MAX_COUNT, strict=True)
    avg_watch_seconds: Number | None = Field(default=None, ge=0)
    completion_rate: Number | None = Field(default=None, ge=0, le=1)
    clicks: MetricCount | None = None
    add_to_cart: MetricCount | None = None
    orders: MetricCount | None = None
    gmv: Number | None = Field(default=None, ge=0, le=MAX_MONEY, description="In `currency`, e.g. 1234.50")
    ad_spend: Number | None = Field(default=None, ge=0, le=MAX_MONEY)
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
