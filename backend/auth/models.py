"""API keys (a lookup prefix and a SHA-256 of the secret, never in clear), the people who sign in to the
web app, their server-side sessions, and the sign-in attempts that rate limiting counts."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, String
from sqlmodel import Field, SQLModel

from backend.sqltypes import UTCDateTime, utcnow


class Role(enum.StrEnum):
    viewer = "viewer"  # read
    editor = "editor"  # upload, tag, render, record publications
    admin = "admin"  # keys and settings

    @property
    def rank(self) -> int:
        return {"viewer": 0, "editor": 1, "admin": 2}[self.value]


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(sa_column=Column(String(200), nullable=False))
    prefix: str = Field(sa_column=Column(String(16), nullable=False, unique=True))
    secret_sha256: str = Field(sa_column=Column(String(64), nullable=False))
    role: Role = Field(sa_column=Column(String(16), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    last_used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    # Set on a person's own key: the principal their signed-in requests act as (uploads, jobs and
    # publications record a key id). It has no usable secret and is not listed with the API keys.
    user_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(ForeignKey("web_user.id", ondelete="CASCADE"), nullable=True, unique=True)
    )


class Language(enum.StrEnum):
    zh_CN = "zh-CN"
    en = "en"


class User(SQLModel, table=True):
    """A person who signs in to the web app with a user name and a password (argon2id hash)."""

    __tablename__ = "web_user"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    username: str = Field(sa_column=Column(String(64), nullable=False, unique=True))  # case-folded
    display_name: str = Field(sa_column=Column(String(200), nullable=False))
    password_hash: str = Field(sa_column=Column(String(255), nullable=False))
    role: Role = Field(sa_column=Column(String(16), nullable=False))
    timezone: str = Field(default="Asia/Shanghai", sa_column=Column(String(64), nullable=False))
    language: Language = Field(default=Language.zh_CN, sa_column=Column(String(8), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    last_sign_in_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    disabled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class WebSession(SQLModel, table=True):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is stored, so a copy of
    the database signs nobody in. Revocable, with an idle and an absolute expiry."""

    __tablename__ = "web_session"
    __table_args__ = (Index("ix_web_session_user", "user_id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    token_sha256: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    csrf_token: str = Field(sa_column=Column(String(64), nullable=False))
    user_id: uuid.UUID = Field(sa_column=Column(ForeignKey("web_user.id", ondelete="CASCADE"), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    last_seen_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))  # idle expiry, slides on use
    absolute_expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    user_agent: str | None = Field(default=None, sa_column=Column(String(300), nullable=True))
    ip: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))


class LoginAttempt(SQLModel, table=True):
    """One sign-in attempt, kept for the rate limit (per user name and per address) and for audit."""

    __tablename__ = "login_attempt"
    __table_args__ = (Index("ix_login_attempt_username_at", "username", "at"), Index("ix_login_attempt_ip_at", "ip", "at"))

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    username: str = Field(sa_column=Column(String(64), nullable=False))
    ip: str = Field(sa_column=Column(String(64), nullable=False))
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    succeeded: bool = Field(sa_column=Column(Boolean, nullable=False))
