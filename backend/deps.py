"""FastAPI dependencies as Annotated aliases: the session, storage, settings and the caller's key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from backend.auth.models import ApiKey, Role
from backend.auth.service import authenticate, record_use
from backend.config import Settings, get_settings
from backend.db import get_engine, session_scope
from backend.errors import Forbidden
from backend.objectstore import get_storage  # re-exported: the API's storage is the process's
from storage import Storage

# Where the caller's key is kept in the ASGI scope once it has been checked.
KEY_SCOPE = "reelhouse.api_key"


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


async def current_key(
    request: Request,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    x_api_key: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> ApiKey:
    """The caller's key: the one `backend.guard` checked before the request's body was read, or
    looked up now in the thread pool (routes whose body the endpoint streams itself)."""
    checked = request.scope.get(KEY_SCOPE)
    if isinstance(checked, ApiKey):
        return checked
    key = await run_in_threadpool(lookup_key, bearer_token(authorization, x_api_key))
    request.scope[KEY_SCOPE] = key
    return key


CurrentKey = Annotated[ApiKey, Depends(current_key)]


def require(role: Role):
    async def check(key: CurrentKey) -> ApiKey:  # no I/O: stays on the event loop
        if Role(key.role).rank < role.rank:
            raise Forbidden(f"this action needs the {role.value} role; the key has {key.role}")
        return key

    return check


Viewer = Annotated[ApiKey, Depends(require(Role.viewer))]
Editor = Annotated[ApiKey, Depends(require(Role.editor))]
Admin = Annotated[ApiKey, Depends(require(Role.admin))]
