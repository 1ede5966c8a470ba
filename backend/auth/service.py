"""API keys: create, verify, revoke. A key is `rh_<prefix>_<secret>`; only the secret's SHA-256 is stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from backend.auth.models import ApiKey, Role
from backend.errors import NotFound, Unauthorized
from backend.sqltypes import utcnow

KEY_PREFIX = "rh_"


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    token: str  # shown once


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(session: Session, *, name: str, role: Role) -> IssuedKey:
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(name=name, prefix=prefix, secret_sha256=_digest(secret), role=role)
    session.add(key)
    session.flush()
    return IssuedKey(key=key, token=f"{KEY_PREFIX}{prefix}_{secret}")


# Built once: every request runs it, and building a statement costs more than SQLite's lookup.
_KEY_BY_PREFIX = select(ApiKey).where(ApiKey.prefix == bindparam("prefix"))


def find_key(session: Session, prefix: str) -> ApiKey | None:
    return session.exec(_KEY_BY_PREFIX, params={"prefix": prefix}).first()


def authenticate(session: Session, token: str | None) -> ApiKey:
    if not token or not token.startswith(KEY_PREFIX):
        raise Unauthorized(key="api-key-missing")
    prefix, _, secret = token[len(KEY_PREFIX) :].partition("_")
    key = find_key(session, prefix)
    if key is None or key.revoked_at is not None or not hmac.compare_digest(key.secret_sha256, _digest(secret)):
        raise Unauthorized(key="api-key-unknown")
    return key


def record_use(session: Session, key: ApiKey) -> bool:
    """Stamp `last_used_at`, at most once a minute so reads don't all become writes; True if it wrote."""
    now = utcnow()
    if key.last_used_at is not None and (now - key.last_used_at).total_seconds() <= 60:
        return False
    key.last_used_at = now
    session.add(key)
    session.flush()
    return True


def list_api_keys(session: Session) -> list[ApiKey]:
    """The API keys; a person's principal key (backend/auth/users.py) is not one of them."""
    return list(session.exec(select(ApiKey).where(col(ApiKey.user_id).is_(None)).order_by(col(ApiKey.created_at))))


def revoke_api_key(session: Session, key_id: uuid.UUID) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None or key.user_id is not None:
        raise NotFound(key="api-key-not-found", params={"id": str(key_id)})
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.add(key)
        session.flush()
    return key
