"""`reelhouse report ...`: the monthly quota report as files, and where every channel stands now."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from backend.cli.common import migrate_database

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
) -> None:
    """Write the month's report in each format (the same files the API serves)."""
    from backend.compliance import service as compliance
    from backend.compliance.export import FORMATS, filename, render
    from backend.db import session_scope
    from backend.errors import AppError

    formats = [f.strip().lower() for item in format for f in item.split(",") if f.strip()] or list(FORMATS)
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise typer.BadParameter(f"unknown format {', '.join(unknown)}; use {', '.join(FORMATS)}")
    migrate_database()
    try:
        with session_scope() as session:
            report = compliance.monthly_report(session, month, _as_of(as_of))
    except AppError as exc:
        typer.echo(f"error: {exc.detail} [{exc.type_uri()}]", err=True)
        raise typer.Exit(code=1) from exc
    out.mkdir(parents=True, exist_ok=True)
    for fmt in formats:
        path = out / filename(report, fmt)
        path.write_bytes(render(report, fmt))
        typer.echo(str(path))
    counts = ", ".join(f"{k}: {v}" for k, v in sorted(report.status_counts().items())) or "no channels"
    typer.echo(f"{report.month}: {counts}", err=True)


@report_app.command("status")
def status(
    as_of: Annotated[str | None, typer.Option(help="ISO 8601 instant with offset; default: now")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")] = False,
) -> None:
    """Where every channel of every account stands."""
    from backend.compliance import service as compliance
    from backend.compliance.export import status_document
    from backend.db import session_scope
    from backend.sqltypes import utcnow

    migrate_database()
    at = _as_of(as_of) or utcnow()
    with session_scope() as session:
        found = compliance.compliance_status(session, at)
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
            if c.state.value == "opening":
                state = f"opening {c.approved_toward_opening}/{c.opening_threshold}"
            elif c.open_since:
                state = f"open since {c.open_since.date().isoformat()}"
            typer.echo(
                f"  {c.name_zh:<8} {state:<24} {q.approved:>3}/{q.required:<3} pending {q.pending:<3} "
                f"projected {q.projected:5.1f}  {q.status.value}"
            )
