"""`reelhouse metrics ...`: import platform exports, rollups and leaderboards, the HTML report,
identifying a platform's copy of a video, and fingerprinting videos ingested before fingerprints."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

metrics_app = typer.Typer(help="Per-platform performance: imports, rollups, reports, copy identification.",
                          no_args_is_help=True)


def _aware(text: str | None, what: str) -> datetime | None:
    if text is None:
        return None
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise typer.BadParameter(f"{what} needs a timezone, e.g. 2026-11-20T00:00:00+08:00")
    return value


@metrics_app.command("import")
def import_file(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or XLSX export")],
    platform: Annotated[str, typer.Option(help="Export mapping: douyin, xiaohongshu, tmall, kuaishou, ...")],
    dry_run: Annotated[bool, typer.Option(help="Show what would be imported; write nothing")] = False,
    allow_errors: Annotated[bool, typer.Option(help="Import the readable rows even if some are not")] = False,
    as_of: Annotated[str | None, typer.Option(help="When a totals export was downloaded (ISO, with zone)")] = None,
    account_id: Annotated[str | None, typer.Option(help="Only attribute to this platform account")] = None,
) -> None:
    """Import a platform's metrics export (one transaction: all of it or nothing)."""
    from backend.cli.common import prepare_write
    from backend.db import session_scope
    from backend.errors import AppError
    from backend.metrics.service import import_export

    prepare_write()
    try:
        with session_scope() as session:
            outcome = import_export(
                session, path.read_bytes(), path.name, platform, as_of=_aware(as_of, "--as-of"), dry_run=dry_run,
                allow_errors=allow_errors, account_id=uuid.UUID(account_id) if account_id else None,
            )
            r = outcome.record
            typer.echo(f"{'dry run: ' if dry_run else ''}{r.rows_read} rows read; inserted {r.rows_inserted}, "
                       f"updated {r.rows_updated}, unchanged {r.rows_unchanged}, unmatched {r.rows_unmatched}, "
                       f"unreadable {r.rows_failed}, skipped {r.rows_skipped}")
            if dry_run:
                for p in outcome.planned:
                    typer.echo(f"  line {p['line']}: {p['matched_by']} -> publication {p['publication_id']}")
            for e in r.errors:
                typer.echo(f"  line {e['line']}: {'skipped' if e.get('skipped') else 'unreadable'}: {e['reason']}")
            for u in r.unmatched:
                hint = "; ".join(s["title"] for s in u["suggestions"]) or "no suggestion"
                typer.echo(f"  line {u['line']}: unmatched ({u['title'] or u['post_id'] or u['url']}); closest: {hint}")
    except AppError as exc:
        typer.echo(f"{exc.title}: {exc.detail}", err=True)
        for e in exc.extra.get("errors", [])[:50]:
            typer.echo(f"  line {e['line']}: {e['reason']}", err=True)
        raise typer.Exit(1) from None


@metrics_app.command("rollup")
def rollup_cmd(
    by: Annotated[str, typer.Option(help="material, source, tag, tag_category, platform, account, channel, preset, month, day")] = "material",
    order: str = "views",
    limit: int = 50,
    month: Annotated[str | None, typer.Option(help="e.g. 2026-11")] = None,
    platform: str | None = None,
    tag: Annotated[list[str], typer.Option(help="'category:name' (e.g. campaign:双11) or a tag id; repeatable")] = [],  # noqa: B006
    category: str | None = None,
    source_id: str | None = None,
    currency: str = "CNY",
    out: Annotated[Path | None, typer.Option(help="Write .csv, .xlsx or .json instead of printing")] = None,
) -> None:
    """Figures grouped and ranked (a leaderboard when ordered and limited)."""
    from backend.db import session_scope
    from backend.metrics import reports as metric_reports
    from backend.metrics.rollups import RollupFilters, month_window, rollup, tag_ids_of

    f = RollupFilters(platform=platform, category=category, currency=currency,
                      source_id=uuid.UUID(source_id) if source_id else None)
    if month:
        f.start, f.end = month_window(month, f.zone)
    with session_scope() as session:
        f.tag_ids = tag_ids_of(session, list(tag))
        rows = rollup(session, by, f, order_by=order, limit=limit)
    if out is None:
        for i, r in enumerate(rows, 1):
            typer.echo(f"{i:>3}. {r.label[:40]:<40} views {r.views:>12,} likes {r.likes:>10,} gmv {r.gmv:>14,.2f} "
                       f"roi {'' if r.roi is None else f'{r.roi:.2f}'}")
        return
    if out.suffix == ".xlsx":
        out.write_bytes(metric_reports.rows_to_xlsx(rows, by))
    elif out.suffix == ".json":
        out.write_text(json.dumps([r.as_dict() for r in rows], ensure_ascii=False, indent=1), encoding="utf-8")
    else:
        out.write_bytes(metric_reports.rows_to_csv(rows))
    typer.echo(f"wrote {len(rows)} rows to {out}")


@metrics_app.command("report")
def report_cmd(
    out: Annotated[Path, typer.Option(help="HTML file to write")],
    month: Annotated[str | None, typer.Option(help="e.g. 2026-11; default: everything")] = None,
    platform: str | None = None,
    metric: str = "views",
    currency: str = "CNY",
    tag: Annotated[list[str], typer.Option(help="'category:name' or a tag id; repeatable")] = [],  # noqa: B006
    lang: Annotated[str, typer.Option(help="zh (default) or en")] = "zh",
) -> None:
    """An HTML report with charts (self-contained: inline SVG, no scripts)."""
    from backend.db import session_scope
    from backend.metrics.reports import html_report
    from backend.metrics.rollups import RollupFilters, month_window, tag_ids_of

    f = RollupFilters(platform=platform, currency=currency)
    if month:
        f.start, f.end = month_window(month, f.zone)
    title = f"{'reelhouse 效果报告' if lang == 'zh' else 'reelhouse performance'} {month or ''}".strip()
    with session_scope() as session:
        f.tag_ids = tag_ids_of(session, list(tag))
        out.write_text(html_report(session, f, title=title, metric=metric, lang=lang,
                                   series_by="day" if month else "month"), encoding="utf-8")
    typer.echo(f"wrote {out}")


@metrics_app.command("identify")
def identify_cmd(path: Annotated[Path, typer.Argument(exists=True, dir_okay=False)], limit: int = 5) -> None:
    """Which catalogued video is this file a copy of?"""
    from backend.catalogue.fingerprints import fingerprint_untrusted, identify
    from backend.config import get_settings
    from backend.db import session_scope

    fp = fingerprint_untrusted(get_settings(), path)
    with session_scope() as session:
        found = identify(session, fp, limit)
    if not found:
        typer.echo("no catalogued video matches")
        raise typer.Exit(1)
    for i in found:
        typer.echo(f"{i.score:.3f}  {i.material.id}  {i.material.title}  (offset {i.offset_seconds:+.1f} s)")


@metrics_app.command("fingerprint-missing")
def fingerprint_missing(limit: int = 1000) -> None:
    """Fingerprint ready videos that have none (ingested before fingerprints, or whose task was lost)."""
    from backend.catalogue.fingerprints import fingerprint_material, missing_fingerprints
    from backend.cli.common import announce_database
    from backend.config import get_settings
    from backend.db import session_scope
    from backend.errors import AppError
    from backend.objectstore import get_storage

    announce_database()
    settings, storage = get_settings(), get_storage()
    with session_scope() as session:
        todo = missing_fingerprints(session, limit)
    done = 0
    for material_id in todo:
        try:
            with session_scope() as session:
                done += fingerprint_material(session, storage, settings, material_id)
        except AppError as exc:
            typer.echo(f"{material_id}: {exc.detail}", err=True)
    typer.echo(f"fingerprinted {done} of {len(todo)}")
