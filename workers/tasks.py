"""Housekeeping tasks that keep the catalogue's disk and storage tidy."""

from __future__ import annotations

from backend.config import get_settings
from backend.services.ingest import cleanup_spool
from workers.celery_app import celery_app

celery_app.conf.beat_schedule["cleanup-spool"] = {"task": "reelhouse.cleanup_spool", "schedule": 3600.0}


@celery_app.task(name="reelhouse.cleanup_spool")
def cleanup_spool_task() -> int:
    """Delete spool files older than a day (left by interrupted uploads)."""
    return cleanup_spool(get_settings().spool_dir)


@celery_app.task(name="reelhouse.ping")
def ping() -> str:
    return "pong"
