"""FastAPI dependencies as Annotated aliases: the session, storage, settings and the caller's key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from backend.auth.models import ApiKey, Role
from backend.auth.service import authenticate, record_use
from backend.config import Settings, get_settings
from backend.db import get_engine
from backend.errors import Forbidden
from backend.objectstore import get_storage  # re-exported: the API's storage is the process's
from storage import Storage


# The cached getters are wrapped in `async def` so FastAPI calls them on the event loop: a plain
# `def` dependency costs a hop to the thread pool on every request.
async def _settings() -> Settings:
    return get_settings()


async def _storage() -> Storage:
    return get_storage()


async def request_session() -> AsyncIterator[Session]:
    """The request's session: committed when the request succeeds, rolled back when it fails.

    Opening a session does no I/O, and a handler that committed its own work (a tus PATCH) leaves
    nothing to do, so only a pending commit or rollback goes to the thread pool: on a busy machine
    each hop there costs a request about a millisecond of waiting for a thread.
    """
    session = Session(get_engine(), expire_on_commit=False)
    try:
        yield session
        if session.in_transaction():
            await run_in_threadpool(session.commit)
    except BaseException:
        if session.in_transaction():
            await run_in_threadpool(session.rollback)
        raise
    finally:
        session.close()


SettingsDep = Annotated[Settings, Depends(_settings)]
SessionDep = Annotated[Session, Depends(request_session)]
StorageDep = Annotated[Storage, Depends(_storage)]


async def current_key(
    session: SessionDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    x_api_key: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> ApiKey:
    """The caller's key. Runs on the event loop: the lookup is one indexed row, cheaper than the hop
    to a thread. The once-a-minute `last_used_at` stamp is committed at once, so a long request (a
    multi-GB upload) holds no lock on the key's row, nor SQLite's write lock, while it runs."""
    token = x_api_key
    if authorization and authorization.lower().startswith("bearer "):
        token = authorization[7:].strip()
    key = authenticate(session, token)
    if record_use(session, key):
        session.commit()
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
