"""Housekeeping tasks that keep the catalogue's disk and storage tidy."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import OperationalError

from backend import queue
from backend.catalogue.fingerprints import fingerprint_material, missing_fingerprints
from backend.config import get_settings
from backend.db import session_scope
from backend.errors import AppError
from backend.objectstore import get_storage
from backend.sqltypes import utcnow
from backend.uploads.spool import cleanup_spool
from storage import StorageError
from workers.celery_app import celery_app

celery_app.conf.beat_schedule["cleanup-spool"] = {"task": "reelhouse.cleanup_spool", "schedule": 3600.0}
celery_app.conf.beat_schedule["retry-missing-previews"] = {
    "task": "reelhouse.retry_missing_previews",
    "schedule": 900.0,
}
celery_app.conf.beat_schedule["fingerprint-missing"] = {
    "task": "reelhouse.fingerprint_missing",
    "schedule": 900.0,
}


@celery_app.task(name="reelhouse.cleanup_spool")
def cleanup_spool_task() -> int:
    """Delete spool files no process holds (left by requests that died with their process)."""
    return cleanup_spool(get_settings().spool_dir)


@celery_app.task(
    name=queue.FINGERPRINT_MATERIAL, autoretry_for=(StorageError, OperationalError), retry_backoff=True,
    max_retries=5,
)
def fingerprint_material_task(material_id: str) -> bool:
    """Fingerprint one new video (idempotent: a material that has one is skipped)."""
    with session_scope() as session:
        try:
            return fingerprint_material(session, get_storage(), get_settings(), uuid.UUID(material_id))
        except AppError:  # undecodable video: nothing to identify it by; the catalogue row stays as is
            return False


@celery_app.task(name="reelhouse.fingerprint_missing")
def fingerprint_missing_task(limit: int = 200) -> int:
    """Re-send fingerprint work for recent videos that still have none (a lost message). Only the last
    day is swept, so an undecodable video is not retried forever; `reelhouse metrics
    fingerprint-missing` backfills older material."""
    return _resend_recent(missing_fingerprints, fingerprint_material_task, limit, settled_minutes=10)


@celery_app.task(
    name=queue.MAKE_PREVIEWS, autoretry_for=(StorageError, OperationalError), retry_backoff=True, max_retries=5,
)
def make_previews_task(material_id: str) -> bool:
    """Make the poster and contact sheet of a new material, or of one kept without them (idempotent)."""
    from backend.catalogue.previews import make_previews

    with session_scope() as session:
        return make_previews(session, get_storage(), get_settings(), uuid.UUID(material_id))


@celery_app.task(name="reelhouse.retry_missing_previews")
def retry_missing_previews_task(limit: int = 100) -> int:
    """Send again, every quarter hour, the previews of material from the last day that has none (a lost
    message, a failure). Older material is not retried forever: a file whose frames never decode stays
    on its placeholder."""
    from backend.catalogue.previews import materials_missing_previews

    return _resend_recent(materials_missing_previews, make_previews_task, limit, settled_minutes=5)


def _resend_recent(find: Any, task: Any, limit: int, *, settled_minutes: int) -> int:
    """Send `task` for each material of the last day that `find` lists (a lost message, a retry),
    leaving alone what is younger than `settled_minutes` (its first attempt may still be running)."""
    now = utcnow()
    with session_scope() as session:
        todo = find(
            session, limit, created_after=now - timedelta(days=1), created_before=now - timedelta(minutes=settled_minutes)
        )
    for material_id in todo:
        task.apply_async(args=[str(material_id)])
    return len(todo)


@celery_app.task(name="reelhouse.ping")
def ping() -> str:
    return "pong"
