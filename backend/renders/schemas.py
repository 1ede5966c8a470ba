"""Request and response models of the render API (jobs and their renditions)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from backend.renders.models import JobStatus, OutputStatus


class _Failed(Protocol):
    error_code: str | None
    error_detail: str | None


class ProblemRef(BaseModel):
    code: str
    detail: str | None = None

    @classmethod
    def of(cls, row: _Failed) -> ProblemRef | None:
        """The row's error as a problem reference, or None when it has not failed."""
        return cls(code=row.error_code, detail=row.error_detail) if row.error_code else None


class RenditionPublic(BaseModel):
    # Read from the row; the derived fields (defaults) are filled in after, and always sent.
    model_config = ConfigDict(from_attributes=True, json_schema_serialization_defaults_required=True)

    preset_id: str
    status: OutputStatus
    material_id: uuid.UUID | None
    violations: list[dict[str, Any]]
    warnings: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Made, but worth a look: `below-preset-size` (the source is smaller; with "
        "`platform_minimum_met`) and `below-platform-minimum`",
    )
    error: ProblemRef | None = None
    size_bytes: int | None
    duration_s: float | None
    width: int | None
    height: int | None
    reencoded: bool
    links: dict[str, str] = Field(default_factory=dict)


class JobPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_serialization_defaults_required=True)

    id: uuid.UUID
    status: JobStatus
    progress: float
    source_id: uuid.UUID
    requested_by: uuid.UUID | None
    request: dict[str, Any]
    attempts: int
    max_attempts: int
    warnings: list[dict[str, Any]] = Field(
        default_factory=list, description="Every rendition's warnings, each with its `preset_id`"
    )
    error: ProblemRef | None = None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    timings: dict[str, float | None] = Field(default_factory=dict)
    renditions: list[RenditionPublic] = Field(default_factory=list)
    links: dict[str, str] = Field(default_factory=dict)


class JobPagePublic(BaseModel):
    items: list[JobPublic]
    limit: int
    offset: int
