"""The proxy of a material: one row per video or audio material, its state and lease like other work
rows (backend/leases.py), and the keys of what the proxy task stored (proxy MP4, sprite sheets and
their WebVTT index, waveform peaks), all under the material's folder at deterministic keys."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Float, ForeignKey, Index, Integer, String, Text
from sqlmodel import Field, SQLModel

from backend.sqltypes import JSONColumn, UTCDateTime, utcnow


class ProxyState(enum.StrEnum):
    queued = "queued"
    running = "running"
    ready = "ready"
    failed = "failed"

    @property
    def done(self) -> bool:
        return self in (ProxyState.ready, ProxyState.failed)


class Proxy(SQLModel, table=True):
    """`proxy_key` is None for audio-only material (a waveform only); `waveform_key` is None for video
    without sound. `sprite_keys` lists the sheets in order; `sprite_vtt_key` is their index."""

    __tablename__ = "proxy"
    __table_args__ = (Index("ix_proxy_lease", "status", "lease_expires_at"),)

    # The material's id is the proxy's: one per material, and re-running never makes a second.
    id: uuid.UUID = Field(sa_column=Column(ForeignKey("material.id", ondelete="CASCADE"), primary_key=True))
    status: ProxyState = Field(default=ProxyState.queued, sa_column=Column(String(16), nullable=False))
    version: int = Field(default=1, sa_column=Column(Integer, nullable=False, server_default="1"))
    progress: float = Field(default=0.0, sa_column=Column(Float, nullable=False, server_default="0"))
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    max_attempts: int = Field(default=3, sa_column=Column(Integer, nullable=False, server_default="3"))
    lease_owner: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    lease_expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    proxy_key: str | None = Field(default=None, sa_column=Column(String(512), nullable=True))
    proxy_size_bytes: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    width: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    height: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    fps: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    sprite_keys: list[str] = Field(default_factory=list, sa_column=Column(JSONColumn, nullable=False))
    sprite_vtt_key: str | None = Field(default=None, sa_column=Column(String(512), nullable=True))
    waveform_key: str | None = Field(default=None, sa_column=Column(String(512), nullable=True))
    # How it was made: {"chunked": false, "encode_seconds": 12.3, ...}; the chunked workflow adds its chunks.
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONColumn, nullable=False))
    error_code: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    started_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))

    @property
    def material_id(self) -> uuid.UUID:
        return self.id
