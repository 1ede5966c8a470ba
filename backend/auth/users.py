"""People who sign in to the web app: create, update, disable; passwords hashed with argon2id.

Each person acts through a principal API key of their own (`ApiKey.user_id`): uploads, render jobs and
publications record a key id, so a signed-in request is that key's request, with the person's role.
The principal key has no usable secret (its stored digest is empty, which no SHA-256 equals).
"""

from __future__ import annotations

import secrets
import unicodedata
import uuid
from dataclasses import dataclass
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, col, select

from backend.auth.models import ApiKey, Language, Role, User, WebSession
from backend.errors import LastAdmin, NotFound, PasswordRejected, UsernameTaken
from backend.sqltypes import utcnow

MIN_PASSWORD = 8
MAX_PASSWORD = 256


@lru_cache
def hasher() -> PasswordHasher:
    """argon2id with argon2-cffi's defaults (RFC 9106's low-memory profile: 64 MiB, 3 passes)."""
    return PasswordHasher()


def normalise_username(name: str) -> str:
    """One spelling per person: NFKC (full-width letters read as ASCII) and case-folded."""
    return unicodedata.normalize("NFKC", name).strip().casefold()


def check_password(password: str, *, username: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise PasswordRejected(key="auth.password-too-short", params={"min": MIN_PASSWORD}, reason="too-short")
    if len(password) > MAX_PASSWORD:
        raise PasswordRejected(key="auth.password-too-long", params={"max": MAX_PASSWORD}, reason="too-long")
    if password.casefold() == username:
        raise PasswordRejected(key="auth.password-is-username", reason="same-as-username")


def hash_password(password: str) -> str:
    return hasher().hash(password)


# A hash verified when the user name is unknown, so that a wrong name costs as long as a wrong password.
@lru_cache
def _dummy_hash() -> str:
    return hasher().hash(secrets.token_urlsafe(16))


def verify_password(user: User | None, password: str) -> bool:
    """True if `password` is the user's. Runs argon2 whether or not there is a user (same timing)."""
    try:
        return hasher().verify(user.password_hash if user else _dummy_hash(), password) and user is not None
    except (VerificationError, InvalidHashError):
        return False


def find_user(session: Session, username: str) -> User | None:
    return session.exec(select(User).where(User.username == normalise_username(username))).first()


def get_user(session: Session, user_id: uuid.UUID) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(key="user-not-found", params={"id": str(user_id)})
    return user


def principal_key(session: Session, user: User) -> ApiKey:
    key = session.exec(select(ApiKey).where(ApiKey.user_id == user.id)).first()
    if key is None:  # every user gets one when created; this only mends a hand-edited database
        key = _new_principal(user)
        session.add(key)
        session.flush()
    return key


def _new_principal(user: User) -> ApiKey:
    return ApiKey(
        name=user.username, prefix="u" + secrets.token_hex(7), secret_sha256="", role=user.role, user_id=user.id
    )


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: Role,
    display_name: str | None = None,
    timezone: str = "Asia/Shanghai",
    language: Language = Language.zh_CN,
) -> User:
    name = normalise_username(username)
    check_password(password, username=name)
    if find_user(session, name) is not None:
        raise UsernameTaken(key="auth.username-taken", params={"name": name})
    user = User(
        username=name, display_name=display_name or username.strip(), password_hash=hash_password(password),
        role=role, timezone=timezone, language=language,
    )
    session.add(user)
    session.flush()
    session.add(_new_principal(user))
    session.flush()
    return user


def list_users(session: Session) -> list[User]:
    return list(session.exec(select(User).order_by(col(User.created_at))))


def _active_admins(session: Session) -> int:
    return len(session.exec(select(User.id).where(User.role == Role.admin, col(User.disabled_at).is_(None))).all())


@dataclass
class UserChanges:
    display_name: str | None = None
    role: Role | None = None
    timezone: str | None = None
    language: Language | None = None
    disabled: bool | None = None
    password: str | None = None


def update_user(session: Session, user: User, changes: UserChanges) -> User:
    """Apply an admin's (or the person's own) changes. Disabling, or a new password, ends the
    person's sessions; a role change reaches their principal key at once."""
    losing_admin = user.role == Role.admin and user.disabled_at is None and (
        (changes.role is not None and changes.role != Role.admin) or changes.disabled is True
    )
    if losing_admin and _active_admins(session) <= 1:
        raise LastAdmin(key="auth.last-admin")
    if changes.display_name is not None:
        user.display_name = changes.display_name
    if changes.timezone is not None:
        user.timezone = changes.timezone
    if changes.language is not None:
        user.language = changes.language
    end_sessions = False
    if changes.password is not None:
        check_password(changes.password, username=user.username)
        user.password_hash = hash_password(changes.password)
        end_sessions = True
    if changes.disabled is not None:
        if changes.disabled and user.disabled_at is None:
            user.disabled_at = utcnow()
            end_sessions = True
        elif not changes.disabled:
            user.disabled_at = None
    key = principal_key(session, user)
    if changes.role is not None:
        user.role = changes.role
    key.role = user.role
    key.revoked_at = user.disabled_at
    user.updated_at = utcnow()
    session.add_all([user, key])
    session.flush()
    if end_sessions:
        revoke_sessions(session, user.id)
    return user


def change_own_password(session: Session, user: User, current: str, new: str, keep: uuid.UUID | None) -> None:
    """A person's new password: the current one must match; every other session of theirs ends."""
    if not verify_password(user, current):
        raise PasswordRejected(key="auth.current-password-wrong", reason="current-wrong")
    check_password(new, username=user.username)
    user.password_hash = hash_password(new)
    user.updated_at = utcnow()
    session.add(user)
    session.flush()
    revoke_sessions(session, user.id, keep=keep)


def revoke_sessions(session: Session, user_id: uuid.UUID, keep: uuid.UUID | None = None) -> int:
    now = utcnow()
    query = select(WebSession).where(WebSession.user_id == user_id, col(WebSession.revoked_at).is_(None))
    count = 0
    for row in session.exec(query):
        if row.id == keep:
            continue
        row.revoked_at = now
        session.add(row)
        count += 1
    session.flush()
    return count


def rehash_if_needed(session: Session, user: User, password: str) -> None:
    """After a successful sign-in: upgrade the stored hash when the parameters have been raised."""
    if hasher().check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        session.add(user)

