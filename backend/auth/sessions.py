"""Web sessions: sign in (rate limited), resolve a session cookie, sign out.

The cookie carries a random token; the table keeps its SHA-256, the person, a CSRF token, an idle expiry
that slides on use and an absolute one. Every sign-in makes a new session (the one the browser had, if
any, is revoked), so a token planted before sign-in is worth nothing after it.

Failures are counted per user name and per address over a window (`login_attempt`): past the limit a
sign-in is refused with 429 and Retry-After before the password is even checked.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, or_
from sqlmodel import Session, col, select

from backend.auth.models import ApiKey, LoginAttempt, User, WebSession
from backend.auth.users import find_user, normalise_username, principal_key, rehash_if_needed, verify_password
from backend.config import Settings
from backend.db import session_scope
from backend.errors import SignInFailed, SignInThrottled, Unauthorized
from backend.sqltypes import utcnow

# Stamp last_seen_at (and slide the idle expiry) at most this often, so reads don't all become writes.
TOUCH_SECONDS = 60
# An ended session (expired or revoked) is kept this long before it is deleted: a browser coming back just
# after is still told its session ended rather than that it is unknown.
ENDED_SESSION_RETAIN = timedelta(days=1)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class SignedIn:
    """A session as the app sees it: the person, their principal key, the session row and its CSRF token."""

    user: User
    key: ApiKey
    session: WebSession


@dataclass(frozen=True)
class NewSession:
    signed_in: SignedIn
    token: str  # the cookie's value; never stored


def _failures_since(session: Session, column: str, value: str, since: datetime) -> tuple[int, datetime | None]:
    attempt = LoginAttempt.__table__.c  # type: ignore[attr-defined]
    row = session.execute(
        select(func.count(), func.min(attempt.at)).where(
            attempt[column] == value, attempt.at >= since, attempt.succeeded.is_(False)
        )
    ).one()
    return int(row[0]), row[1]


def _check_throttle(session: Session, settings: Settings, username: str, ip: str) -> None:
    window = timedelta(minutes=settings.login_window_minutes)
    now = utcnow()
    since = now - window
    for column, value, limit in (
        ("username", username, settings.login_max_failures_per_user),
        ("ip", ip, settings.login_max_failures_per_ip),
    ):
        count, oldest = _failures_since(session, column, value, since)
        if count >= limit and oldest is not None:
            wait = max(1, int((oldest + window - now).total_seconds()) + 1)
            raise SignInThrottled(
                key="sign-in-throttled", params={"count": count, "minutes": settings.login_window_minutes, "wait": wait},
                wait_s=wait,
            )


def sign_in(
    session: Session,
    settings: Settings,
    *,
    username: str,
    password: str,
    ip: str,
    user_agent: str | None,
    previous_token: str | None = None,
) -> NewSession:
    """A new session for the person, or SignInFailed / SignInThrottled. The attempt is recorded either
    way (commit it even when this raises: the caller's transaction must keep failures)."""
    name = normalise_username(username)[:64]
    _check_throttle(session, settings, name, ip)
    user = find_user(session, name)
    ok = verify_password(user, password) and user is not None and user.disabled_at is None
    session.add(LoginAttempt(username=name, ip=ip[:64], succeeded=ok))
    session.flush()
    if not ok or user is None:
        raise SignInFailed(key="sign-in-failed")
    rehash_if_needed(session, user, password)
    if previous_token:
        revoke_token(session, previous_token)
    now = utcnow()
    token = secrets.token_urlsafe(32)
    row = WebSession(
        token_sha256=token_digest(token), csrf_token=secrets.token_urlsafe(32), user_id=user.id,
        created_at=now, last_seen_at=now,
        expires_at=now + timedelta(hours=settings.session_idle_hours),
        absolute_expires_at=now + timedelta(days=settings.session_max_days),
        user_agent=(user_agent or "")[:300] or None, ip=ip[:64],
    )
    user.last_sign_in_at = now
    session.add_all([row, user])
    session.flush()
    return NewSession(SignedIn(user, principal_key(session, user), row), token)


_BY_TOKEN = (
    select(WebSession, User, ApiKey)
    .join(User, col(User.id) == col(WebSession.user_id))
    .join(ApiKey, col(ApiKey.user_id) == col(User.id))
    .where(WebSession.token_sha256 == bindparam("digest"))
)


def resolve(session: Session, settings: Settings, token: str) -> SignedIn:
    """The live session for a cookie's token, its idle expiry slid forward (at most once a minute)."""
    row = session.exec(_BY_TOKEN, params={"digest": token_digest(token)}).first()
    if row is None:
        raise Unauthorized(key="session-unknown")
    web_session, user, key = row
    now = utcnow()
    if web_session.revoked_at is not None or user.disabled_at is not None:
        raise Unauthorized(key="session-ended")
    if now >= web_session.expires_at or now >= web_session.absolute_expires_at:
        raise Unauthorized(key="session-expired")
    if (now - web_session.last_seen_at).total_seconds() > TOUCH_SECONDS:
        web_session.last_seen_at = now
        web_session.expires_at = min(now + timedelta(hours=settings.session_idle_hours), web_session.absolute_expires_at)
        session.add(web_session)
        session.flush()
    return SignedIn(user, key, web_session)


def revoke_token(session: Session, token: str) -> bool:
    row = session.exec(select(WebSession).where(WebSession.token_sha256 == token_digest(token))).first()
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    session.add(row)
    session.flush()
    return True


def revoke_session(session: Session, session_id: uuid.UUID) -> None:
    row = session.get(WebSession, session_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
        session.flush()


def delete_ended_sessions(
    session: Session, *, now: datetime | None = None, retain: timedelta = ENDED_SESSION_RETAIN, batch: int = 500
) -> int:
    """Delete at most `batch` sessions that ended (idle or absolute expiry, or revocation) more than
    `retain` ago; the number deleted. A short answer means nothing more is due; the caller commits
    between batches so no transaction holds many rows."""
    cutoff = (now or utcnow()) - retain
    ended = or_(
        col(WebSession.expires_at) < cutoff, col(WebSession.absolute_expires_at) < cutoff,
        col(WebSession.revoked_at) < cutoff,
    )
    ids = list(session.exec(select(WebSession.id).where(ended).limit(batch)).all())
    if ids:
        session.execute(delete(WebSession).where(col(WebSession.id).in_(ids)))
        session.flush()
    return len(ids)


def csrf_matches(signed_in: SignedIn, sent: str | None) -> bool:
    return bool(sent) and secrets.compare_digest(signed_in.session.csrf_token.encode(), (sent or "").encode())


def sign_in_recorded(settings: Settings, **kwargs: Any) -> NewSession:
    """`sign_in` in its own transaction, committed whether or not the password was right: a failed
    attempt must be counted even though the request ends in an error (which rolls back its session)."""
    failure: SignInFailed | None = None
    with session_scope() as session:
        try:
            return sign_in(session, settings, **kwargs)
        except SignInFailed as exc:
            failure = exc
    raise failure
