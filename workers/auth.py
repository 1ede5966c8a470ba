"""Housekeeping for sign-in: delete web sessions that ended (expired or revoked) a while ago."""

from __future__ import annotations

from backend.auth.sessions import delete_ended_sessions
from backend.db import session_scope
from workers.celery_app import celery_app

celery_app.conf.beat_schedule["delete-ended-sessions"] = {
    "task": "reelhouse.delete_ended_sessions",
    "schedule": 3600.0,
}


@celery_app.task(name="reelhouse.delete_ended_sessions")
def delete_ended_sessions_task(batch: int = 500, max_batches: int = 20) -> int:
    """Delete ended sessions a batch per transaction, at most `max_batches` a run (a backlog larger than
    that is finished by the next runs); the number deleted."""
    deleted = 0
    for _ in range(max_batches):
        with session_scope() as session:
            count = delete_ended_sessions(session, batch=batch)
        deleted += count
        if count < batch:
            break
    return deleted
