"""Render jobs (one request to cut a source into several presets) and their per-preset outputs.

The job row is the truth: status, progress, attempts and the lease of the worker running it.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, ForeignKey, Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.sqltypes import JSONColumn, UTCDateTime, utcnow


class JobStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def done(self) -> bool:
        return self in (JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled)


class OutputStatus(enum.StrEnum):
    pending = "pending"
    succeeded = "succeeded"
    failed = "failed"


class RenderJob(SQLModel, table=True):
    __tablename__ = "render_job"
    __table_args__ = (
        Index("ix_render_job_status_created", "status", "created_at"),
        Index("ix_render_job_source", "source_id", "created_at"),
        Index("ix_render_job_lease", "status", "lease_expires_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    source_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("material.id", ondelete="RESTRICT"), nullable=False)
    )
    requested_by: uuid.UUID | None = Field(default=None)  # the API key (None: automatic rule)
    request: dict[str, Any] = Field(sa_column=Column(JSONColumn, nullable=False))
    status: JobStatus = Field(default=JobStatus.queued, sa_column=Column(String(16), nullable=False))
    progress: float = 0.0
    attempts: int = 0
    max_attempts: int = 3
    lease_owner: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    lease_expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    error_code: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    error_detail: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # Made, but worth a look: e.g. a rendition below the preset's size or the platform's minimum.
    warnings: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSONColumn, nullable=False, server_default="[]")
    )
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    enqueued_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    started_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class RenderOutput(SQLModel, table=True):
    __tablename__ = "render_output"
    __table_args__ = (
        UniqueConstraint("job_id", "preset_id", name="uq_render_output_job_preset"),
        Index("ix_render_output_preset", "preset_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    job_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("render_job.id", ondelete="CASCADE"), nullable=False)
    )
    preset_id: str = Field(sa_column=Column(String(100), nullable=False))
    status: OutputStatus = Field(default=OutputStatus.pending, sa_column=Column(String(16), nullable=False))
    material_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(ForeignKey("material.id", ondelete="SET NULL"), nullable=True)
    )
    violations: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSONColumn, nullable=False)
    )
    warnings: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSONColumn, nullable=False, server_default="[]")
    )
    error_code: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    error_detail: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    size_bytes: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    duration_s: float | None = None
    width: int | None = None
    height: int | None = None
    reencoded: bool = False
