"""Leases on work rows (render jobs, analyses): the row, not the broker, says who works on it. A
worker takes a row that is queued, or running under a lease that has expired (its worker died),
while attempts remain; a compare-and-set UPDATE so two workers never both win."""

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
