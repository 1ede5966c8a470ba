"""Resumable (tus) uploads in progress: how far each one got, where its bytes wait, who owns it.

A row outlives its bytes: once an upload is completed, terminated or expired its files are removed,
but the row stays so later requests get 410 Gone (not 404) and a finished upload can name its material.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Column, ForeignKey, Index, String, Text
from sqlmodel import Field, SQLModel

from backend.sqltypes import JSONColumn, UTCDateTime, utcnow


class UploadStatus(enum.StrEnum):
    receiving = "receiving"  # accepting PATCHes
    completed = "completed"  # all bytes in, ingested: material_id is set
    failed = "failed"  # all bytes in, rejected at ingest: error_type says why; nothing kept
    terminated = "terminated"  # DELETEd by its owner
    expired = "expired"  # not finished before expires_at; bytes removed by the sweep


class TusUpload(SQLModel, table=True):
    __tablename__ = "tus_upload"
    __table_args__ = (
        Index("ix_tus_upload_status_expires", "status", "expires_at"),
        Index("ix_tus_upload_owner", "owner_key_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    owner_key_id: uuid.UUID = Field(sa_column=Column(ForeignKey("api_key.id", ondelete="CASCADE"), nullable=False))
    status: UploadStatus = Field(default=UploadStatus.receiving, sa_column=Column(String(16), nullable=False))

    length: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))  # None: deferred
    offset: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))

    # Upload-Metadata as sent (echoed on HEAD); the fields reelhouse uses are pulled out.
    metadata_header: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    filename: str | None = Field(default=None, sa_column=Column(String(500), nullable=True))
    title: str | None = Field(default=None, sa_column=Column(String(500), nullable=True))
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSONColumn, nullable=False))
    kind: str = Field(default="source", sa_column=Column(String(16), nullable=False))
    media_type: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))

    error_type: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    material_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(ForeignKey("material.id", ondelete="SET NULL"), nullable=True)
    )
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
