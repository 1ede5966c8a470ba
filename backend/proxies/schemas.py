"""Response models of the proxies API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from backend.proxies.models import ProxyState


class ProxyPublic(BaseModel):
    material_id: uuid.UUID
    state: ProxyState
    progress: float = Field(description="0..1 while running")
    attempts: int
    max_attempts: int
    width: int | None
    height: int | None
    fps: float | None
    size_bytes: int | None = Field(description="Bytes of the proxy MP4")
    sprite_sheets: int = Field(description="How many sprite sheets the WebVTT index refers to")
    details: dict[str, Any] = Field(description="How it was made: version, chunked, encode_seconds, host")
    error_code: str | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    links: dict[str, str] = Field(description="video (MP4), sprite_vtt, waveform: those that exist once ready")
