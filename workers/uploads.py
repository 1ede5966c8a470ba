"""Housekeeping for resumable uploads: expire the unfinished ones that went quiet."""

from __future__ import annotations

from backend.config import get_settings
from backend.db import session_scope
from backend.objectstore import get_storage
from backend.uploads.tus import expire_uploads
from workers.celery_app import celery_app

celery_app.conf.beat_schedule["expire-uploads"] = {"task": "reelhouse.expire_uploads", "schedule": 15 * 60.0}


@celery_app.task(name="reelhouse.expire_uploads")
def expire_uploads_task() -> int:
    """Free the bytes of uploads past their Upload-Expires; idempotent, skips uploads being written."""
    with session_scope() as session:
        return expire_uploads(session, get_storage(), get_settings())
