"""Request and response models of the API key administration."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from backend.auth.models import Role
from backend.text import Text


class ApiKeyCreate(BaseModel):
    name: Text = Field(min_length=1, max_length=200, examples=["content team laptop"])
    role: Role = Role.editor


class ApiKeyPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    prefix: str
    role: Role
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyIssued(ApiKeyPublic):
    token: str = Field(description="Shown once; store it now")
