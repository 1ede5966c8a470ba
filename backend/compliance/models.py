"""Compliance tables: platform accounts, their channels, publications with their audit trail, and reports."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Column, Date, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.sqltypes import JSONColumn, UTCDateTime, utcnow


class PublicationStatus(enum.StrEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"
    withdrawn = "withdrawn"


class ManualState(enum.StrEnum):
    open = "open"
    closed = "closed"


class PlatformAccount(SQLModel, table=True):
    """A brand's store on a platform; months are calendar months in its timezone."""

    __tablename__ = "platform_account"
    __table_args__ = (Index("ix_platform_account_platform", "platform_id", "name"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    platform_id: str = Field(sa_column=Column(String(64), nullable=False))
    name: str = Field(sa_column=Column(String(200), nullable=False))
    store_id: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    store_url: str | None = Field(default=None, sa_column=Column(String(1000), nullable=True))
    timezone: str = Field(
        default="Asia/Shanghai", sa_column=Column(String(64), nullable=False, server_default="Asia/Shanghai")
    )
    # Share of pending reviews expected to be approved, for projections (None: the engine's default).
    approval_rate: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class AccountChannel(SQLModel, table=True):
    """One account's channel: the platform's rule copied at creation, then overridden per account.

    The rule columns hold the values in force; `overridden` names the ones changed from the platform's
    rules. A manual state records what the platform told the account (opened on a date, or closed).
    """

    __tablename__ = "account_channel"
    __table_args__ = (UniqueConstraint("account_id", "channel_id", name="uq_account_channel"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("platform_account.id", ondelete="CASCADE"), nullable=False)
    )
    channel_id: str = Field(sa_column=Column(String(100), nullable=False))
    position: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    name_zh: str = Field(sa_column=Column(String(100), nullable=False))
    name_en: str = Field(sa_column=Column(String(100), nullable=False))
    requires: list[str] = Field(default_factory=list, sa_column=Column(JSONColumn, nullable=False))
    opening_threshold: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    threshold_source: str = Field(
        default="own", sa_column=Column(String(16), nullable=False, server_default="own")
    )
    monthly_minimum: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    opening_month: str = Field(
        default="exempt", sa_column=Column(String(16), nullable=False, server_default="exempt")
    )
    daily_cap: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    monthly_cap: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    count_by: str = Field(
        default="approval_date", sa_column=Column(String(20), nullable=False, server_default="approval_date")
    )
    opens: str = Field(
        default="automatically",
        sa_column=Column(String(20), nullable=False, server_default="automatically"),
    )
    # What a submission must be (None: any aspect, no duration bound).
    media_types: list[str] = Field(default_factory=lambda: ["video"], sa_column=Column(JSONColumn, nullable=False))
    aspects: list[str] | None = Field(default=None, sa_column=Column(JSONColumn, nullable=True))
    min_duration_s: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    max_duration_s: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    overridden: list[str] = Field(default_factory=list, sa_column=Column(JSONColumn, nullable=False))
    from_platform_rules: bool = True
    manual_state: ManualState | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    manual_effective_on: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    manual_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # Who recorded the manual state (a person's name, or the API key's) and when.
    manual_recorded_by: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    manual_recorded_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class Publication(SQLModel, table=True):
    """A material submitted to an account's channel, and what the platform's review said."""

    __tablename__ = "publication"
    __table_args__ = (
        UniqueConstraint("account_id", "platform_post_id", name="uq_publication_account_post"),
        Index("ix_publication_account_channel", "account_id", "channel_id", "submitted_at"),
        Index("ix_publication_material", "material_id"),
        Index("ix_publication_status", "status"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    material_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("material.id", ondelete="RESTRICT"), nullable=False)
    )
    account_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("platform_account.id", ondelete="RESTRICT"), nullable=False)
    )
    channel_id: str = Field(sa_column=Column(String(100), nullable=False))
    submitted_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    platform_post_id: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    post_url: str | None = Field(default=None, sa_column=Column(String(1000), nullable=True))
    status: PublicationStatus = Field(sa_column=Column(String(16), nullable=False))
    rejection_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    approved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    rejected_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    withdrawn_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    resubmission_of: uuid.UUID | None = Field(
        default=None, sa_column=Column(ForeignKey("publication.id", ondelete="SET NULL"), nullable=True)
    )
    created_by: uuid.UUID | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class PublicationEvent(SQLModel, table=True):
    """The audit trail: every status change of a publication, who made it (API key) and when."""

    __tablename__ = "publication_event"
    __table_args__ = (Index("ix_publication_event_publication", "publication_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    publication_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("publication.id", ondelete="CASCADE"), nullable=False)
    )
    actor_key_id: uuid.UUID | None = Field(default=None)  # None: the CLI or a task
    recorded_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    effective_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    from_status: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    to_status: str = Field(sa_column=Column(String(16), nullable=False))
    note: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))


class Report(SQLModel, table=True):
    """A generated report kept in storage: one row per kind and period, replaced when regenerated."""

    __tablename__ = "report"
    __table_args__ = (UniqueConstraint("kind", "period", name="uq_report_kind_period"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(sa_column=Column(String(32), nullable=False))  # monthly | at_risk
    period: str = Field(sa_column=Column(String(10), nullable=False))  # 2026-11 or 2026-11-15
    as_of: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    generated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    files: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONColumn, nullable=False))
    summary: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONColumn, nullable=False))
    webhook_sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
