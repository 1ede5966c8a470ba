"""Performance tables: metric snapshots per publication and the imports that wrote them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, Float, ForeignKey, Index, Integer, String
from sqlmodel import Field, SQLModel

from backend.compliance.models import Publication
from backend.sqltypes import JSONColumn, UTCDateTime, table_of, utcnow

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL needs 64 bits for billions of rows.
BigId = BigInteger().with_variant(Integer(), "sqlite")

# Figures that add up across posts and over time. Each has a `<name>_gain` twin: what this snapshot
# adds to the post's total (the difference to the previous cumulative snapshot, or the day's figure),
# so totals and per-month sums are plain SUMs however the platform reports.
ADDITIVE = ("views", "likes", "comments", "shares", "favourites", "followers_gained", "clicks",
            "add_to_cart", "orders", "gmv_cents", "ad_spend_cents")
# Rollups read only these columns of a snapshot: on PostgreSQL the unique index carries them, so a
# leaderboard is answered from the index alone (one page per publication instead of a heap visit).
ROLLUP_COLUMNS = [f"{c}_gain" for c in ADDITIVE] + ["currency", "avg_watch_seconds"]


def _count() -> Any:
    return Field(default=None, sa_column=Column(BigInteger, nullable=True))


class MetricImport(SQLModel, table=True):
    """One import (or dry run) of a platform export: what was read, written, skipped and why."""

    __tablename__ = "metric_import"
    __table_args__ = (Index("ix_metric_import_created", "created_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    platform: str = Field(sa_column=Column(String(64), nullable=False))
    file_name: str = Field(sa_column=Column(String(500), nullable=False))
    file_sha256: str = Field(sa_column=Column(String(64), nullable=False))
    dry_run: bool = Field(sa_column=Column(Boolean, nullable=False))
    as_of: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    is_cumulative: bool = Field(sa_column=Column(Boolean, nullable=False))
    rows_read: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_unchanged: int = 0
    rows_unmatched: int = 0
    rows_failed: int = 0
    rows_skipped: int = 0
    errors: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSONColumn, nullable=False))
    unmatched: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSONColumn, nullable=False))
    created_by: uuid.UUID | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class MetricSnapshot(SQLModel, table=True):
    """A publication's figures at one moment. (publication, captured_at) is unique: importing the same
    figures again updates the row instead of adding one, so nothing is counted twice."""

    __tablename__ = "metric_snapshot"
    __table_args__ = (
        Index("uq_metric_snapshot_publication_captured", "publication_id", "captured_at", unique=True,
              postgresql_include=ROLLUP_COLUMNS),
        Index("ix_metric_snapshot_captured", "captured_at"),
        Index("ix_metric_snapshot_import", "import_id"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    publication_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("publication.id", ondelete="CASCADE"), nullable=False)
    )
    captured_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    is_cumulative: bool = Field(sa_column=Column(Boolean, nullable=False))

    views: int | None = _count()
    likes: int | None = _count()
    comments: int | None = _count()
    shares: int | None = _count()
    favourites: int | None = _count()
    followers_gained: int | None = _count()
    avg_watch_seconds: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    completion_rate: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    clicks: int | None = _count()
    add_to_cart: int | None = _count()
    orders: int | None = _count()
    gmv_cents: int | None = _count()
    ad_spend_cents: int | None = _count()
    currency: str | None = Field(default=None, sa_column=Column(String(3), nullable=True))

    views_gain: int | None = _count()
    likes_gain: int | None = _count()
    comments_gain: int | None = _count()
    shares_gain: int | None = _count()
    favourites_gain: int | None = _count()
    followers_gained_gain: int | None = _count()
    clicks_gain: int | None = _count()
    add_to_cart_gain: int | None = _count()
    orders_gain: int | None = _count()
    gmv_cents_gain: int | None = _count()
    ad_spend_cents_gain: int | None = _count()

    import_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(ForeignKey("metric_import.id", ondelete="SET NULL"), nullable=True)
    )
    source: str = Field(default="import", sa_column=Column(String(16), nullable=False))  # import | api
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


# Rollups walk material -> publications; with these columns in the index that step never visits
# the publication heap (PostgreSQL; elsewhere it is a plain index on material_id).
Index("ix_publication_material_cover", table_of(Publication).c.material_id,
      postgresql_include=["id", "account_id", "channel_id"])
