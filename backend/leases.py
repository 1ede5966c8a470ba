"""Leases on work rows (render jobs, analyses, proxies): the row, not the broker, says who works on it.
A worker takes a row that is queued, or running under a lease that has expired (its worker died),
while attempts remain; a compare-and-set UPDATE so two workers never both win. Every later change
(heartbeat, finish, release) is made only while the same worker still holds the lease."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlmodel import Session, col

from backend.sqltypes import utcnow


def claim(session: Session, table: Any, row_id: uuid.UUID, owner: str, lease_seconds: float, *,
          queued: Any, running: Any, **values: Any) -> bool:
    """Take the lease of `table`'s row `row_id` for `owner`; `values` are set with it (e.g. the
    previous attempt's error cleared). True when this call took it."""
    now = utcnow()
    result = session.execute(
        update(table)
        .where(
            col(table.id) == row_id,
            col(table.attempts) < col(table.max_attempts),
            or_(col(table.status) == queued, (col(table.status) == running) & (col(table.lease_expires_at) < now)),
        )
        .values(
            status=running, lease_owner=owner, lease_expires_at=now + timedelta(seconds=lease_seconds),
            attempts=table.attempts + 1, started_at=now, updated_at=now, **values,
        )
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def update_held(session: Session, table: Any, row_id: uuid.UUID, owner: str, *, running: Any, **values: Any) -> bool:
    """Change a running row only while `owner` still holds its lease; False when it no longer does
    (cancelled, swept after the lease expired, or taken by another worker): nothing may be committed."""
    result = session.execute(
        update(table)
        .where(col(table.id) == row_id, col(table.lease_owner) == owner, col(table.status) == running)
        .values(**values)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def heartbeat(session: Session, table: Any, row_id: uuid.UUID, owner: str, lease_seconds: float, *,
              running: Any, progress: float | None) -> bool:
    """Renew the lease for `lease_seconds` from now and record the progress (clamped to 0..1; None
    leaves it as it is). False when the row was cancelled or the lease lost."""
    now = utcnow()
    values: dict[str, Any] = {"lease_expires_at": now + timedelta(seconds=lease_seconds), "updated_at": now}
    if progress is not None:
        values["progress"] = round(min(max(progress, 0.0), 1.0), 4)
    return update_held(session, table, row_id, owner, running=running, **values)


def release(session: Session, table: Any, row_id: uuid.UUID, owner: str, *, queued: Any, running: Any) -> bool:
    """Give the lease back (queued again, no owner) so a retry can take the row at once: a transient failure."""
    return update_held(session, table, row_id, owner, running=running, status=queued, lease_owner=None,
                       lease_expires_at=None, updated_at=utcnow())
