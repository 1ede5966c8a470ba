"""`reelhouse report ...`: the monthly quota report as files, and where every channel stands now."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from backend.cli.common import migrate_database
from backend.i18n import DEFAULT

report_app = typer.Typer(help="Compliance status and the monthly quota report.", no_args_is_help=True)


def _as_of(text: str | None) -> datetime | None:
    if text is None:
        return None
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise typer.BadParameter("--as-of needs a timezone, e.g. 2026-11-30T23:59:00+08:00")
    return value


@report_app.command("monthly")
def monthly(
    month: Annotated[str, typer.Argument(help="The month, e.g. 2026-11")],
    out: Annotated[Path, typer.Option(help="Directory to write the files into")] = Path("."),
    format: Annotated[  # noqa: A002
        list[str], typer.Option("--format", "-f", help="json, csv, xlsx, html (repeatable); default: all")
    ] = [],  # noqa: B006
    as_of: Annotated[str | None, typer.Option(help="ISO 8601 instant with offset; default: now")] = None,
    lang: Annotated[str, typer.Option(help="Language of CSV and XLSX: zh (default) or en")] = "zh",
) -> None:
    """Write the month's report in each format (the same files the API serves)."""
    from backend.compliance import monthly
    from backend.compliance.export import FORMATS, filename, render
    from backend.db import session_scope
    from backend.errors import AppError

    formats = [f.strip().lower() for item in format for f in item.split(",") if f.strip()] or list(FORMATS)
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise typer.BadParameter(f"unknown format {', '.join(unknown)}; use {', '.join(FORMATS)}")
    if lang not in ("zh", "en"):
        raise typer.BadParameter("--lang is zh or en")
    migrate_database()
    try:
        with session_scope() as session:
            report = monthly.monthly_report(session, month, _as_of(as_of))
    except AppError as exc:
        typer.echo(f"error: {exc.detail_in(DEFAULT)} [{exc.type_uri()}]", err=True)  # in Chinese, as reports are
        raise typer.Exit(code=1) from exc
    out.mkdir(parents=True, exist_ok=True)
    for fmt in formats:
        path = out / filename(report, fmt)
        path.write_bytes(render(report, fmt, lang))
        typer.echo(str(path))
    counts = ", ".join(f"{k}: {v}" for k, v in sorted(report.status_counts().items())) or "no channels"
    typer.echo(f"{report.month}: {counts}", err=True)


@report_app.command("status")
def status(
    as_of: Annotated[str | None, typer.Option(help="ISO 8601 instant with offset; default: now")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")] = False,
) -> None:
    """Where every channel of every account stands."""
    from backend.compliance import monthly
    from backend.compliance.export import status_document
    from backend.db import session_scope
    from backend.sqltypes import utcnow

    migrate_database()
    at = _as_of(as_of) or utcnow()
    with session_scope() as session:
        found = monthly.compliance_status(session, at, with_candidates=True)
    if as_json:
        typer.echo(json.dumps(status_document(found, at), ensure_ascii=False, indent=2))
        return
    for r in found:
        typer.echo(
            f"{r.account.platform_name_zh} · {r.account.name}  ({r.status.month}, {r.account.timezone})"
        )
        for c in r.status.channels:
            q = c.quota
            state = c.state.value
            if c.lock_reason is not None:
                state = f"locked ({c.lock_reason.value})"
            elif c.state.value == "opening":
                state = f"opening {c.approved_toward_opening}/{c.opening_threshold}"
            elif c.open_since:
                state = f"open since {c.open_since.date().isoformat()}"
            typer.echo(
                f"  {c.name_zh:<8} {state:<24} {q.approved:>3}/{q.required:<3} pending {q.pending:<3} "
                f"projected {q.projected:5.1f}  {q.status.value}"
            )
        if r.candidates:
            from backend.compliance.candidates import KIND_NAMES

            typer.echo("  可补位草稿与片段提议 / drafts and proposals that could fill the gap:")
            for cand in r.candidates:
                typer.echo(f"    {cand.channel_id:<8} {KIND_NAMES['zh'][cand.kind]}  {cand.title}  {cand.preset_id or ''}")


# --- channel openings and publications --------------------------------------------------------------

channels_app = typer.Typer(help="An account's channels: record that the platform opened one.", no_args_is_help=True)
publish_app = typer.Typer(
    help="Publications: submit a material to a channel, record the platform's approval or rejection.",
    no_args_is_help=True,
)


def _database() -> str:
    """The database a write goes to, password hidden (printed so nobody writes to the wrong one unawares)."""
    from sqlalchemy.engine import make_url

    from backend.config import get_settings

    return make_url(get_settings().effective_database_url).render_as_string(hide_password=True)


def _write(work):
    """Run `work(session)` in one transaction after migrating; AppErrors become exit code 1 with the type."""
    from backend.db import session_scope
    from backend.errors import AppError

    migrate_database()
    typer.echo(f"database: {_database()}", err=True)
    try:
        with session_scope() as session:
            return work(session)
    except AppError as exc:
        typer.echo(f"error: {exc.detail_in(DEFAULT)} [{exc.type_uri()}]", err=True)  # in Chinese, as reports are
        raise typer.Exit(code=1) from exc


def _uuid(text: str, what: str):
    import uuid

    try:
        return uuid.UUID(text)
    except ValueError:
        raise typer.BadParameter(f"{what} must be an id such as 0b6c…, got {text!r}") from None


def _print_publication(pub, as_json: bool) -> None:
    if as_json:
        from backend.compliance.schemas import PublicationPublic

        typer.echo(PublicationPublic.model_validate(pub).model_dump_json(indent=2))
    else:
        typer.echo(f"{pub.id}\t{pub.status}\t{pub.channel_id}")


@channels_app.command("open")
def open_channel(
    account: Annotated[str, typer.Argument(help="Account id, or its name when unique (e.g. 旗舰店)")],
    channel: Annotated[str, typer.Argument(help="Channel id, e.g. video")],
    on: Annotated[str, typer.Option("--on", help="Date the platform opened it, e.g. 2026-11-03 (local)")],
    by: Annotated[str, typer.Option("--by", help="Who records it, e.g. 张三")],
    note: Annotated[str, typer.Option(help="What the platform said")] = "",
) -> None:
    """Record that the platform opened a channel for the store (T-mall 视频 opens on application)."""
    from datetime import date

    from backend.compliance import accounts

    try:
        opened_on = date.fromisoformat(on)
    except ValueError:
        raise typer.BadParameter(f"--on must be a date such as 2026-11-03, got {on!r}") from None

    def work(session):
        found = accounts.find_account(session, account)
        row = accounts.record_opening(session, found.id, channel, opened_on=opened_on, opened_by=by, note=note)
        return found.name, row.name_zh, row.manual_effective_on

    name, channel_name, day = _write(work)
    typer.echo(f"{name} · {channel_name}: opened on {day.isoformat()}")


@publish_app.command("submit")
def submit(
    material: Annotated[str, typer.Argument(help="Material id")],
    account: Annotated[str, typer.Argument(help="Account id, or its name when unique")],
    channel: Annotated[str, typer.Argument(help="Channel id, e.g. shipai")],
    at: Annotated[str | None, typer.Option(help="Submitted at (ISO 8601 with offset); default: now")] = None,
    post_id: Annotated[str | None, typer.Option(help="The platform's post id")] = None,
    post_url: Annotated[str | None, typer.Option(help="The post's URL")] = None,
    note: Annotated[str, typer.Option(help="A note for the audit trail")] = "",
    override: Annotated[
        list[str], typer.Option(help="Pass over a check: media_type, aspect, duration, duplicate (repeatable)")
    ] = [],  # noqa: B006
    reason: Annotated[str | None, typer.Option(help="Why the checks passed over do not apply")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the publication as JSON")] = False,
) -> None:
    """Submit a material to an account's channel (pending review); refused when it does not fit."""
    from backend.compliance import accounts, publications

    material_id = _uuid(material, "MATERIAL")
    submitted_at = _as_of(at)

    def work(session):
        found = accounts.find_account(session, account)
        return publications.record_publication(
            session,
            publications.PublicationInput(
                material_id=material_id,
                account_id=found.id,
                channel_id=channel,
                submitted_at=submitted_at,
                platform_post_id=post_id,
                post_url=post_url,
                note=note,
                override=override,
                override_reason=reason,
            ),
        )

    _print_publication(_write(work), as_json)


def _review(action: str, publication: str, at: str | None, reason: str | None, note: str, as_json: bool) -> None:
    from backend.compliance import publications

    publication_id = _uuid(publication, "PUBLICATION")
    when = _as_of(at)

    def work(session):
        return publications.transition(session, publication_id, action, at=when, reason=reason, note=note)

    _print_publication(_write(work), as_json)


@publish_app.command("approve")
def approve(
    publication: Annotated[str, typer.Argument(help="Publication id")],
    at: Annotated[str | None, typer.Option(help="When the platform approved it; default: now")] = None,
    note: Annotated[str, typer.Option(help="A note for the audit trail")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print the publication as JSON")] = False,
) -> None:
    """The platform approved the publication."""
    _review("approve", publication, at, None, note, as_json)


@publish_app.command("reject")
def reject(
    publication: Annotated[str, typer.Argument(help="Publication id")],
    reason: Annotated[str, typer.Option(help="The platform's reason, e.g. 画面模糊")],
    at: Annotated[str | None, typer.Option(help="When the platform rejected it; default: now")] = None,
    note: Annotated[str, typer.Option(help="A note for the audit trail")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print the publication as JSON")] = False,
) -> None:
    """The platform rejected the publication (with its reason)."""
    _review("reject", publication, at, reason, note, as_json)
