"""Scheduled compliance tasks: last month's report on the 1st, a daily at-risk check, signed webhooks.

Tasks take strings and ids, re-read the database and are idempotent: generating a month again replaces
its stored files and its one Report row, and a report's webhook is sent once (the row remembers it).
Webhooks are enqueued only after the report's transaction has committed.
"""

from __future__ import annotations

import logging
from datetime import datetime

from celery.schedules import crontab

from backend import webhooks
from backend.compliance import monthly, reports
from backend.config import get_settings
from backend.db import session_scope
from backend.objectstore import get_storage
from backend.sqltypes import utcnow
from workers.celery_app import celery_app

log = logging.getLogger("reelhouse.compliance")

MAX_WEBHOOK_RETRIES = 8

# Beat runs in UTC. 12:00 UTC on the 1st is the 1st everywhere from UTC-11 to UTC+11 (20:00 in Shanghai), so
# last month has ended for every account's timezone when its report is made.
celery_app.conf.beat_schedule["compliance-monthly-report"] = {
    "task": "reelhouse.compliance.monthly_report",
    "schedule": crontab(minute=0, hour=12, day_of_month="1"),
}
# 02:00 UTC is 10:00 in Shanghai: in time to upload more the same day.
celery_app.conf.beat_schedule["compliance-at-risk-check"] = {
    "task": "reelhouse.compliance.at_risk_check",
    "schedule": crontab(minute=0, hour=2),
}


def webhook_backoff(retries: int) -> int:
    """Seconds before retry n (0-based): 30 s, 1 min, 2 min ... capped at an hour."""
    return min(3600, 30 * 2**retries)


def generate_monthly_report(month: str | None = None, as_of: str | None = None) -> int:
    """Generate and store a month's report (default: last month in Shanghai); return the Report id."""
    at = datetime.fromisoformat(as_of) if as_of else utcnow()
    period = monthly.parse_month(month) if month else monthly.previous_month(at)
    with session_scope() as session:
        row = reports.store_monthly_report(session, get_storage(), period, at)
        report_id, notify = row.id, row.webhook_sent_at is None
    if notify and get_settings().webhook_url:
        send_webhook.delay(report_id)
    return report_id or 0


def check_at_risk(as_of: str | None = None) -> int | None:
    """Record today's at-risk channels (from the 8th of the month) and notify once a day."""
    at = datetime.fromisoformat(as_of) if as_of else utcnow()
    with session_scope() as session:
        row = reports.record_at_risk(session, at)
        if row is None:
            return None
        report_id, notify = row.id, row.webhook_sent_at is None
    if notify and get_settings().webhook_url:
        send_webhook.delay(report_id)
    return report_id


@celery_app.task(name="reelhouse.compliance.monthly_report")
def monthly_report_task(month: str | None = None, as_of: str | None = None) -> int:
    return generate_monthly_report(month, as_of)


@celery_app.task(name="reelhouse.compliance.at_risk_check")
def at_risk_check_task(as_of: str | None = None) -> int | None:
    return check_at_risk(as_of)


def deliver_report_webhook(report_id: int) -> bool:
    """POST the report's webhook unless it was already delivered; raise WebhookFailed on failure."""
    settings = get_settings()
    if not settings.webhook_url:
        return False
    with session_scope() as session:
        row = reports.get_report(session, report_id)
        if row.webhook_sent_at is not None:
            return False
        payload = reports.webhook_payload(row, settings.public_url)
        delivery_id = f"{row.kind}-{row.period}-{int(row.generated_at.timestamp())}"
    webhooks.deliver(
        settings.webhook_url, settings.webhook_secret, payload["event"], delivery_id, webhooks.encode(payload)
    )
    with session_scope() as session:
        row = reports.get_report(session, report_id)
        row.webhook_sent_at = utcnow()
        session.add(row)
    return True


@celery_app.task(name="reelhouse.compliance.send_webhook", bind=True, max_retries=MAX_WEBHOOK_RETRIES)
def send_webhook(self, report_id: int) -> bool:
    try:
        return deliver_report_webhook(report_id)
    except webhooks.WebhookFailed as exc:
        if not exc.retryable:
            log.error("%s; not retried", exc)
            return False
        log.warning("%s; retry %d", exc, self.request.retries + 1)
        raise self.retry(exc=exc, countdown=webhook_backoff(self.request.retries)) from exc
