"""FastAPI dependencies as Annotated aliases: the session, storage, settings and the caller's key.

A caller is an API key sent in a header (scripts) or a person signed in to the web app with a session
cookie; either way the routes see an `ApiKey` (a person's principal key, with their role). A request
authenticated by cookie that changes something (any method but GET, HEAD, OPTIONS) must also send the
session's CSRF token in `X-CSRF-Token`: a page on another site can make the browser send the cookie,
but cannot read the token. Header-authenticated requests are unaffected (no browser adds that header)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from backend.auth.models import ApiKey, Role
from backend.auth.service import authenticate, record_use
from backend.auth.sessions import SignedIn, csrf_matches, resolve
from backend.config import Settings, get_settings
from backend.db import get_engine, session_scope
from backend.errors import CsrfFailed, Forbidden, Unauthorized
from backend.i18n import LANGUAGE_SCOPE
from backend.objectstore import get_storage  # re-exported: the API's storage is the process's
from storage import Storage

# Where the caller's key (and, for a cookie, the signed-in session) is kept in the ASGI scope once checked.
KEY_SCOPE = "reelhouse.api_key"
SIGNED_IN_SCOPE = "reelhouse.signed_in"
SESSION_COOKIE = "reelhouse_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# The cached getters are wrapped in `async def` so FastAPI calls them on the event loop: a plain
# `def` dependency costs a hop to the thread pool on every request.
async def _settings() -> Settings:
    return get_settings()


async def _storage() -> Storage:
    return get_storage()


async def request_session() -> AsyncIterator[Session]:
    """The request's session: committed before the response is sent, rolled back when the request fails.

    Declared with `scope="function"`, so FastAPI runs the code after `yield` as soon as the endpoint
    has returned (its answer already serialised) and before the first byte goes out: a client that
    got a 201 can read what it created, and a commit that fails becomes an error answer (5xx), never
    a 2xx for a write that was lost. The default ("request") scope runs it after the response is sent.

    Opening a session does no I/O; the first query checks out a connection. A session that never
    began a transaction (nothing used it, or the handler committed its own work) costs no hop to the
    thread pool; a commit or rollback does, because blocking database calls never run on the loop.
    """
    session = Session(get_engine(), expire_on_commit=False)
    try:
        yield session
    except BaseException:
        if session.in_transaction():
            await run_in_threadpool(_end, session, commit=False)
        raise
    else:
        if session.in_transaction():
            await run_in_threadpool(_end, session, commit=True)
    finally:
        session.close()  # no I/O left: the transaction, if any, has ended above


def _end(session: Session, *, commit: bool) -> None:
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()  # returns the connection to the pool from this thread, whatever happened


SettingsDep = Annotated[Settings, Depends(_settings)]
SessionDep = Annotated[Session, Depends(request_session, scope="function")]
StorageDep = Annotated[Storage, Depends(_storage)]


def bearer_token(authorization: str | None, x_api_key: str | None) -> str | None:
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return x_api_key


def lookup_key(token: str | None) -> ApiKey:
    """The key for `token`, in its own short transaction (blocking: call it in the thread pool).

    The transaction ends, and its connection goes back to the pool, before anything else happens:
    a multi-GB upload or a slow JSON body then streams in holding no connection and no lock. The
    once-a-minute `last_used_at` stamp is committed here for the same reason."""
    with session_scope() as session:
        key = authenticate(session, token)
        record_use(session, key)
    return key


def lookup_session(cookie: str, method: str, csrf: str | None) -> SignedIn:
    """The signed-in session for a cookie, in its own short transaction (blocking, like `lookup_key`);
    a request that changes something must carry the session's CSRF token."""
    with session_scope() as session:
        signed_in = resolve(session, get_settings(), cookie)
    if method not in SAFE_METHODS and not csrf_matches(signed_in, csrf):
        raise CsrfFailed(key="csrf-token-missing", params={"header": CSRF_HEADER})
    return signed_in


def lookup_caller(headers: Mapping[str, str], cookies: Mapping[str, str], method: str) -> tuple[ApiKey, SignedIn | None]:
    """Who is calling: an API key in a header wins; else the session cookie; else 401."""
    token = bearer_token(headers.get("authorization"), headers.get("x-api-key"))
    if token is not None:
        return lookup_key(token), None
    cookie = cookies.get(SESSION_COOKIE)
    if cookie:
        signed_in = lookup_session(cookie, method, headers.get(CSRF_HEADER.lower()))
        return signed_in.key, signed_in
    raise Unauthorized(key="sign-in-or-api-key")


async def authenticate_request(conn: HTTPConnection) -> ApiKey:
    """The caller's key, looked up once per request (in the thread pool) and kept in the scope."""
    checked = conn.scope.get(KEY_SCOPE)
    if isinstance(checked, ApiKey):
        return checked
    key, signed_in = await run_in_threadpool(lookup_caller, conn.headers, conn.cookies, conn.scope.get("method", "GET"))
    conn.scope[KEY_SCOPE] = key
    conn.scope[SIGNED_IN_SCOPE] = signed_in
    if signed_in is not None:  # the person's own choice of language, for error answers (backend/i18n)
        conn.scope[LANGUAGE_SCOPE] = str(signed_in.user.language)
    return key


async def current_key(
    request: Request,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    x_api_key: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> ApiKey:
    """The caller's key: the one `backend.guard` checked before the request's body was read, or
    looked up now in the thread pool (routes whose body the endpoint streams itself)."""
    return await authenticate_request(request)


CurrentKey = Annotated[ApiKey, Depends(current_key)]


def require(role: Role):
    async def check(key: CurrentKey) -> ApiKey:  # no I/O: stays on the event loop
        if Role(key.role).rank < role.rank:
            raise Forbidden(key="role-required", params={"role": role.value, "has": str(key.role)})
        return key

    return check


Viewer = Annotated[ApiKey, Depends(require(Role.viewer))]
Editor = Annotated[ApiKey, Depends(require(Role.editor))]
Admin = Annotated[ApiKey, Depends(require(Role.admin))]


async def signed_in(request: Request, _: CurrentKey) -> SignedIn:
    """The signed-in person (session cookie); an API key is no person: 401."""
    found = request.scope.get(SIGNED_IN_SCOPE)
    if not isinstance(found, SignedIn):
        raise Unauthorized(key="person-required")
    return found


SignedInDep = Annotated[SignedIn, Depends(signed_in)]
