"""Request and response models of API key administration, people and sign-in."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from backend.auth.models import Language, Role
from backend.auth.users import MIN_PASSWORD
from backend.text import PartialUpdate, Text, ZoneName, unchanged


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


# --- people and sessions ------------------------------------------------------------------------

Username = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\s]+$", examples=["xiaomei"])]
Password = Annotated[str, Field(min_length=1, max_length=256)]


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    username: str
    display_name: str
    role: Role
    timezone: str = Field(description="IANA zone the app shows dates and times in")
    language: Language = Field(description="The app's language: zh-CN (default) or en")
    created_at: datetime
    last_sign_in_at: datetime | None
    disabled_at: datetime | None


class UserCreate(BaseModel):
    username: Username
    password: Password = Field(description=f"At least {MIN_PASSWORD} characters")
    display_name: Text | None = Field(default=None, max_length=200, examples=["小美"])
    role: Role = Role.editor
    timezone: ZoneName = "Asia/Shanghai"
    language: Language = Language.zh_CN


class UserUpdate(PartialUpdate):
    """An admin's changes to a person; a new password or disabling ends their sessions."""

    display_name: Text = unchanged(min_length=1, max_length=200)
    role: Role = unchanged()
    timezone: ZoneName = unchanged()
    language: Language = unchanged()
    disabled: bool = unchanged()
    password: Password = unchanged()


class ProfileUpdate(PartialUpdate):
    """A person's own preferences."""

    display_name: Text = unchanged(min_length=1, max_length=200)
    timezone: ZoneName = unchanged()
    language: Language = unchanged()


class PasswordChange(BaseModel):
    current_password: Password
    new_password: Password


class SignIn(BaseModel):
    username: Username
    password: Password


class SessionPublic(BaseModel):
    user: UserPublic
    csrf_token: str = Field(description="Send it as X-CSRF-Token with every request that changes something")
    created_at: datetime
    expires_at: datetime = Field(description="Idle expiry; each use moves it forward, up to absolute_expires_at")
    absolute_expires_at: datetime
