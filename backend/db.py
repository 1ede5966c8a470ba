"""Database engines and sessions: one session per request or task, commit on success, roll back on error.

Services only flush(); the owner of the session (request dependency, `session_scope`) commits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, create_engine

from backend.config import get_settings

log = logging.getLogger(__name__)
_AFTER_COMMIT = "reelhouse.after_commit"


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` once the session's transaction has committed; dropped on rollback.

    This is how work is enqueued: the row is the truth, the Celery message is sent only after it
    is durable, and a message that fails to go out is re-sent by the owning sweep. Savepoints
    (`begin_nested`) count as part of their transaction: releasing one sends nothing, and rolling one
    back drops only what was registered inside it."""
    session.info.setdefault(_AFTER_COMMIT, []).append((session.get_nested_transaction(), callback))


# SQLAlchemy fires after_commit / after_rollback for savepoints too; while one is being released or
# rolled back, it is the session's nested transaction.
@event.listens_for(OrmSession, "after_commit")
def _run_after_commit(session: OrmSession) -> None:
    if session.in_nested_transaction():
        released = session.get_nested_transaction()
        parent = released.parent if released is not None and released.parent and released.parent.nested else None
        pending = session.info.get(_AFTER_COMMIT, [])
        session.info[_AFTER_COMMIT] = [(parent if owner is released else owner, cb) for owner, cb in pending]
        return
    for _, callback in session.info.pop(_AFTER_COMMIT, []):
        try:
            callback()
        except Exception:  # the row is committed: a sweep re-sends a message that failed to go out
            log.exception("after-commit callback failed")


@event.listens_for(OrmSession, "after_rollback")
def _drop_after_commit(session: OrmSession) -> None:
    if session.in_nested_transaction():
        undone = session.get_nested_transaction()
        session.info[_AFTER_COMMIT] = [(o, cb) for o, cb in session.info.get(_AFTER_COMMIT, []) if o is not undone]
        return
    session.info.pop(_AFTER_COMMIT, None)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        # `timeout` is SQLite's busy timeout: a writer waits up to 30 s for the write lock instead of
        # failing with `database is locked`. No `BEGIN IMMEDIATE`: the driver (pysqlite, left in its
        # default mode) opens a transaction only at the first INSERT/UPDATE/DELETE, so a write
        # transaction takes the lock with its first statement and never has to upgrade a read
        # snapshot (the one case the busy timeout cannot wait out); reads run outside transactions
        # and never wait for a writer (WAL). The pool is wide: a SQLite connection is a file handle,
        # and SQLAlchemy's default (5 + 10 overflow) made the 16th concurrent request wait for a
        # connection (issue 16: the API froze with ~15 requests in flight); writes serialise on
        # SQLite's lock, not on the pool.
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=20, max_overflow=80
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            # WAL lets the API read while a worker writes; foreign keys are off by default in SQLite.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


@lru_cache
def get_engine() -> Engine:
    return make_engine(get_settings().effective_database_url)


def dispose_engine() -> None:
    """Drop pooled connections (after a fork: a child must not share its parent's sockets)."""
    if get_engine.cache_info().currsize:
        get_engine().dispose(close=False)


@contextmanager
def session_scope() -> Iterator[Session]:
    session = Session(get_engine(), expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
