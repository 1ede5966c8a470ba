"""Leases on work rows (render jobs, analyses, proxies): the row, not the broker, says who works on it.
A worker takes a row that is queued, or running under a lease that has expired (its worker died),
while attempts remain; a compare-and-set UPDATE so two workers never both win. Every later change
(heartbeat, finish, release) is made only while the same worker still holds the lease. The sweep
sends again what a dead worker or a lost message left, for every kind of work row alike."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
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


@dataclass
class SweepResult:
    """What one sweep did to a table's rows."""

    requeued: list[uuid.UUID] = field(default_factory=list)  # an expired lease: sent again
    failed: list[uuid.UUID] = field(default_factory=list)  # out of attempts: failed
    resent: list[uuid.UUID] = field(default_factory=list)  # queued, its message lost: sent again

    @property
    def sent(self) -> list[uuid.UUID]:
        return self.requeued + self.resent


@dataclass(frozen=True)
class GiveUp:
    """The error a row is failed with when the sweep gives up on it."""

    code: str
    detail: str


def sweep(
    session: Session,
    table: Any,
    *,
    queued: Any,
    running: Any,
    failed: Any,
    sent_at: Any,
    stale_after: timedelta,
    send: Callable[[uuid.UUID], None],
    error_column: Any,
    worker_lost: GiveUp,
    exhausted: GiveUp,
) -> SweepResult:
    """Recover `table`'s lost work and send it again through `send` (called inside the transaction;
    it must send only after the commit):
    - a row whose worker died (running under an expired lease) is queued again, its lease taken back
      (the old worker, should it come back, can no longer record anything);
    - a row whose message was lost (queued, not sent for `stale_after`).
    Either way `sent_at` (a column of the row) becomes now, so a row nobody takes waits `stale_after`
    before it is sent once more. A row out of attempts is failed instead, with `error_code` and
    `error_column` from `worker_lost` (its last worker died) or `exhausted` (queued again after its
    last attempt, by transient failures).

    Every change is a conditional UPDATE, so a worker that renews its lease or finishes meanwhile,
    or a second sweep running at the same time, wins or loses cleanly: nothing is sent twice."""
    now = utcnow()
    stamp, stamp_key = col(sent_at), sent_at.key
    expired = (col(table.status) == running) & (col(table.lease_expires_at) < now)
    attempts_left = col(table.attempts) < col(table.max_attempts)
    gone_stale = or_(stamp.is_(None), stamp < now - stale_after)
    result = SweepResult()

    # The old holder can no longer record anything: a new attempt starts from the queue.
    take_back = update(table).where(expired, attempts_left).values(
        {"status": queued, "lease_owner": None, "lease_expires_at": None, "updated_at": now, stamp_key: now})
    result.requeued = _ids(session, take_back, table)

    def give_up(where: Any, why: GiveUp) -> list[uuid.UUID]:
        return _ids(session, update(table).where(where, ~attempts_left).values(
            status=failed, lease_owner=None, lease_expires_at=None, finished_at=now, updated_at=now,
            error_code=why.code, **{error_column.key: why.detail}), table)

    result.failed = give_up(expired, worker_lost)
    # Queued after its last attempt: nobody may claim it any more.
    result.failed += give_up(col(table.status) == queued, exhausted)

    lost = update(table).where(col(table.status) == queued, attempts_left, gone_stale).values({stamp_key: now})
    result.resent = _ids(session, lost, table)

    for row_id in result.sent:
        send(row_id)
    session.flush()
    return result


def _ids(session: Session, statement: Any, table: Any) -> list[uuid.UUID]:
    return list(session.execute(statement.returning(col(table.id))).scalars())
