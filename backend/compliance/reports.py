"""The catalogue of generated reports: monthly quota reports kept in storage, and the at-risk checks."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from backend.compliance import monthly, rules
from backend.compliance.export import FORMATS, MEDIA_TYPES, filename, render
from backend.compliance.models import Report
from backend.errors import NotFound
from backend.sqltypes import utcnow
from storage import Storage

MONTHLY = "monthly"
AT_RISK = "at_risk"
# A projection from the month's pace means little in its first days (one slow day looks like a missed
# month), so the at-risk check stays quiet until this day of the month.
AT_RISK_FROM_DAY = 8


def monthly_key(month: rules.YearMonth, fmt: str) -> str:
    return f"reports/monthly/{month}/reelhouse-report-{month}.{fmt}"


def _summary(report: monthly.MonthlyReport) -> dict[str, Any]:
    return {
        "statuses": report.status_counts(),
        "accounts": len(report.accounts),
        "attention": [
            {
                "account_id": str(info.id),
                "account": info.name,
                "platform": info.platform_id,
                "channel_id": c.channel_id,
                "channel": c.name_zh,
                "status": c.quota.status.value,
                "approved": c.quota.approved,
                "required": c.quota.required,
                "projected": round(c.quota.projected, 1),
            }
            for info, c in report.channels_with(rules.QuotaStatus.MISSED, rules.QuotaStatus.AT_RISK)
        ],
    }


def _upsert(session: Session, kind: str, period: str) -> Report:
    row = session.exec(select(Report).where(Report.kind == kind, Report.period == period)).first()
    return row or Report(kind=kind, period=period, as_of=utcnow())


def store_monthly_report(
    session: Session, storage: Storage, month: rules.YearMonth | str, as_of: datetime | None = None
) -> Report:
    """Generate the month's report in every format under deterministic keys; one Report row per month.

    Generating a month again replaces its files and row (the webhook mark is kept, so it is sent once).
    """
    report = monthly.monthly_report(session, month, as_of)
    files: dict[str, Any] = {}
    for fmt in FORMATS:
        data = render(report, fmt)
        key = monthly_key(report.month, fmt)
        storage.put(key, io.BytesIO(data), size=len(data), content_type=MEDIA_TYPES[fmt])
        files[fmt] = {
            "key": key,
            "size": len(data),
            "content_type": MEDIA_TYPES[fmt],
            "filename": filename(report, fmt),
        }
    row = _upsert(session, MONTHLY, str(report.month))
    row.as_of, row.generated_at, row.files, row.summary = (
        report.as_of,
        report.generated_at,
        files,
        _summary(report),
    )
    session.add(row)
    session.flush()
    return row


def record_at_risk(session: Session, as_of: datetime | None = None) -> Report | None:
    """Today's at-risk channels as a Report row (None when nothing is at risk or it is too early to say)."""
    as_of = as_of or utcnow()
    day = as_of.astimezone(rules.DEFAULT_TIMEZONE)
    if day.day < AT_RISK_FROM_DAY:
        return None
    month = rules.YearMonth(day.year, day.month)
    report = monthly.monthly_report(session, month, as_of)
    summary = _summary(report)
    summary["attention"] = [a for a in summary["attention"] if a["status"] == rules.QuotaStatus.AT_RISK.value]
    if not summary["attention"]:
        return None
    row = _upsert(session, AT_RISK, day.date().isoformat())
    row.as_of, row.generated_at, row.summary = as_of, utcnow(), summary
    session.add(row)
    session.flush()
    return row


def list_reports(session: Session, kind: str | None = None, limit: int = 100) -> list[Report]:
    stmt = select(Report).order_by(col(Report.period).desc(), Report.kind)
    if kind:
        stmt = stmt.where(Report.kind == kind)
    return list(session.exec(stmt.limit(limit)))


def get_report(session: Session, report_id: int) -> Report:
    row = session.get(Report, report_id)
    if row is None:
        raise NotFound(key="report-not-found", params={"id": str(report_id)})
    return row


def report_links(row: Report, base: str = "") -> dict[str, str]:
    return {fmt: f"{base}/api/v1/reports/{row.id}/files/{fmt}" for fmt in row.files}


def webhook_payload(row: Report, public_url: str) -> dict[str, Any]:
    event = "report.monthly" if row.kind == MONTHLY else "compliance.at_risk"
    return {
        "event": event,
        "report": {
            "id": row.id,
            "kind": row.kind,
            "period": row.period,
            "as_of": row.as_of.isoformat(),
            "generated_at": row.generated_at.isoformat(),
            "summary": row.summary,
            "files": report_links(row, public_url.rstrip("/")),
        },
    }
