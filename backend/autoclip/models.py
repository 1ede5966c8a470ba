"""Analyses of a recording (versioned: each run is a new row, the newest succeeded one is current) and
what a team attaches to the recording for them: a transcript and the live session's time series."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Column, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, true
from sqlmodel import Field, SQLModel

from backend.sqltypes import JSONColumn, UTCDateTime, utcnow


class AnalysisStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"

    @property
    def done(self) -> bool:
        return self in (AnalysisStatus.succeeded, AnalysisStatus.failed)


class Analysis(SQLModel, table=True):
    """One analysis run of a material. `version` counts runs per material (1, 2, ...); `analyser_version`
    is the library's ANALYSIS_VERSION that produced `signals`, so stale analyses can be recomputed."""

    __tablename__ = "analysis"
    __table_args__ = (
        UniqueConstraint("material_id", "version", name="uq_analysis_material_version"),
        Index("ix_analysis_lease", "status", "lease_expires_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    material_id: uuid.UUID = Field(sa_column=Column(ForeignKey("material.id", ondelete="CASCADE"), nullable=False))
    version: int = Field(sa_column=Column(Integer, nullable=False))
    analyser_version: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    status: AnalysisStatus = Field(default=AnalysisStatus.queued, sa_column=Column(String(16), nullable=False))
    progress: float = Field(default=0.0, sa_column=Column(Float, nullable=False, server_default="0"))
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    max_attempts: int = Field(default=3, sa_column=Column(Integer, nullable=False, server_default="3"))
    lease_owner: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    lease_expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    # The inputs it ran with: transcript and session-data ids, the product tags it matched against.
    inputs: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONColumn, nullable=False))
    signals: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONColumn, nullable=True))
    error_code: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    requested_by: uuid.UUID | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    started_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class Transcript(SQLModel, table=True):
    """A transcript attached to a material; the newest is the one analyses use."""

    __tablename__ = "transcript"
    __table_args__ = (Index("ix_transcript_material", "material_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    material_id: uuid.UUID = Field(sa_column=Column(ForeignKey("material.id", ondelete="CASCADE"), nullable=False))
    source: str = Field(sa_column=Column(String(32), nullable=False))  # "subtitles" (SRT/VTT import)
    filename: str | None = Field(default=None, sa_column=Column(String(500), nullable=True))
    segments: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSONColumn, nullable=False))
    created_by: uuid.UUID | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class SessionData(SQLModel, table=True):
    """The live session's per-minute series attached to a material; the newest is the one analyses use.
    `series` maps a metric (viewers, comments, likes, orders, gmv) to {start, step, values} in source seconds."""

    __tablename__ = "session_data"
    __table_args__ = (Index("ix_session_data_material", "material_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    material_id: uuid.UUID = Field(sa_column=Column(ForeignKey("material.id", ondelete="CASCADE"), nullable=False))
    filename: str | None = Field(default=None, sa_column=Column(String(500), nullable=True))
    offset_s: float = Field(default=0.0, sa_column=Column(Float, nullable=False))
    series: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONColumn, nullable=False))
    created_by: uuid.UUID | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class ProposalStatus(enum.StrEnum):
    proposed = "proposed"
    accepted = "accepted"
    rejected = "rejected"


class Proposal(SQLModel, table=True):
    """A clip proposed from an analysis: a range of the source, its type and product, its score and the
    reasons (a list of {code, text_zh, text_en, start, end, value}). Computing again replaces the
    material's open (`proposed`) ones; accepted and rejected ones stay as the person left them."""

    __tablename__ = "proposal"
    __table_args__ = (Index("ix_proposal_material_status", "material_id", "status"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    analysis_id: uuid.UUID = Field(sa_column=Column(ForeignKey("analysis.id", ondelete="CASCADE"), nullable=False))
    material_id: uuid.UUID = Field(sa_column=Column(ForeignKey("material.id", ondelete="CASCADE"), nullable=False))
    type: str = Field(sa_column=Column(String(16), nullable=False))  # demo, qa, offer, highlight
    product_tag_id: int | None = Field(
        default=None, sa_column=Column(ForeignKey("tag.id", ondelete="SET NULL"), nullable=True)
    )
    start_s: float = Field(sa_column=Column(Float, nullable=False))
    end_s: float = Field(sa_column=Column(Float, nullable=False))
    score: float = Field(sa_column=Column(Float, nullable=False))
    reasons: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSONColumn, nullable=False))
    status: ProposalStatus = Field(default=ProposalStatus.proposed, sa_column=Column(String(16), nullable=False))
    # The storyboard image of the current range, once the worker made it: {key, times, width, height}.
    # Moving the in or out point clears it (a new one is made for the new range).
    storyboard: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONColumn, nullable=True))
    created_by: uuid.UUID | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class AutoclipRule(SQLModel, table=True):
    """An automatic re-edit rule, as data: which ingested recordings it takes (all of `match_tag_ids`, a
    source video), how many clips of `min_s`..`max_s` to propose and the presets to render them for as
    drafts. With `account_ids` the count is those accounts' quota shortfall (the plan), capped by `count`."""

    __tablename__ = "autoclip_rule"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(sa_column=Column(String(200), nullable=False))
    enabled: bool = Field(default=True, sa_column=Column(Boolean, nullable=False, server_default=true()))
    match_tag_ids: list[int] = Field(default_factory=list, sa_column=Column(JSONColumn, nullable=False))
    match_kind: str = Field(default="source", sa_column=Column(String(16), nullable=False))
    account_ids: list[str] = Field(default_factory=list, sa_column=Column(JSONColumn, nullable=False))
    count: int = Field(sa_column=Column(Integer, nullable=False))
    min_s: float = Field(sa_column=Column(Float, nullable=False))
    max_s: float = Field(sa_column=Column(Float, nullable=False))
    preset_ids: list[str] = Field(default_factory=list, sa_column=Column(JSONColumn, nullable=False))
    created_by: uuid.UUID | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class RunStatus(enum.StrEnum):
    queued = "queued"
    analysing = "analysing"
    proposing = "proposing"
    rendering = "rendering"
    done = "done"
    failed = "failed"


class AutoclipRun(SQLModel, table=True):
    """One rule applied to one material: its analysis, then proposals, then draft render jobs. A rule
    runs at most once per material (the unique constraint is what makes the trigger idempotent)."""

    __tablename__ = "autoclip_run"
    __table_args__ = (
        UniqueConstraint("rule_id", "material_id", name="uq_autoclip_run_rule_material"),
        Index("ix_autoclip_run_material", "material_id"),
        Index("ix_autoclip_run_analysis", "analysis_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    rule_id: uuid.UUID = Field(sa_column=Column(ForeignKey("autoclip_rule.id", ondelete="CASCADE"), nullable=False))
    material_id: uuid.UUID = Field(sa_column=Column(ForeignKey("material.id", ondelete="CASCADE"), nullable=False))
    analysis_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(ForeignKey("analysis.id", ondelete="SET NULL"), nullable=True)
    )
    status: RunStatus = Field(default=RunStatus.queued, sa_column=Column(String(16), nullable=False))
    clip_count: int = Field(sa_column=Column(Integer, nullable=False))
    origin: str = Field(default="ingest", sa_column=Column(String(16), nullable=False, server_default="ingest"))
    job_ids: list[str] = Field(default_factory=list, sa_column=Column(JSONColumn, nullable=False))
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
