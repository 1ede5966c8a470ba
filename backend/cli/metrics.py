"""`reelhouse metrics ...`: import platform exports, rollups and leaderboards, the HTML report,
identifying a platform's copy of a video, and fingerprinting videos ingested before fingerprints."""

from __future__ import annotations

import functools
import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

if TYPE_CHECKING:
    from backend.metrics.words import Lang

metrics_app = typer.Typer(help="Per-platform performance: imports, rollups, reports, copy identification.",
                          no_args_is_help=True)


def _aware(text: str | None, what: str) -> datetime | None:
    if text is None:
        return None
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise typer.BadParameter(f"{what} needs a timezone, e.g. 2026-11-20T00:00:00+08:00")
    return value


def _print_rows(rows: list[dict[str, Any]], lang: Lang, show: int) -> None:
    """The per-code summary of the rows' problems, then the first `show` rows with a problem, in words."""
    from backend.metrics.preview import summarise
    from backend.metrics.words import CLI, MATCHED_BY, RESULTS, problem_words, words

    say = functools.partial(words, CLI, lang)
    summary = summarise(rows)
    s = summary.by_status
    typer.echo(say("summary", total=summary.total, ready=s["ready"], unmatched=s["unmatched"], failed=s["failed"],
                   skipped=s["skipped"], **summary.by_action))
    if not summary.with_problems:
        typer.echo(say("no_problems"))
        return
    colon = "：" if lang == "zh" else ": "
    typer.echo(say("by_code"))
    width = max(len(c) for c in summary.by_code)
    for code, count in summary.by_code.items():
        first = next(r for r in rows if any(p["code"] == code for p in r["problems"]))
        problem = next(p for p in first["problems"] if p["code"] == code)
        typer.echo(f"  {code:<{width}}  {say('code_count', count=count):>8}  "
                   f"{say('example', line=first['line'])}{colon}{problem_words(problem, lang)}")
    listed = [r for r in rows if r["problems"]][:show]
    if listed:
        typer.echo(say("first_rows", n=len(listed)))
    for r in listed:
        name = r["title"] or r["post_id"] or r["url"] or " · ".join(v for v in r["raw"].values() if v)[:60] or say("no_name")
        status = words(RESULTS, lang, r["action"] or r["status"])
        typer.echo("  " + say("row", line=r["line"], status=status, name=name))
        for p in r["problems"]:
            typer.echo(f"    {p['code']}{colon}{problem_words(p, lang)}")
        if r["suggestions"]:
            typer.echo("    " + say("maybe", titles=CLI[lang]["sep"].join(x["title"] for x in r["suggestions"])))
        if r["publication"]:
            pub = r["publication"]
            typer.echo("    " + say("matched", how=words(MATCHED_BY, lang, pub["matched_by"]), title=pub["title"],
                                    account=pub["account"]))
    if summary.with_problems > len(listed):
        typer.echo(say("more_rows", n=summary.with_problems - len(listed)))


@metrics_app.command("import")
def import_file(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or XLSX export")],
    platform: Annotated[str, typer.Option(help="Export mapping: douyin, xiaohongshu, tmall, kuaishou, ...")],
    dry_run: Annotated[bool, typer.Option(help="Show what would be imported; write nothing")] = False,
    allow_errors: Annotated[bool, typer.Option(help="Import the readable rows even if some are not")] = False,
    as_of: Annotated[str | None, typer.Option(help="When a totals export was downloaded (ISO, with zone)")] = None,
    account_id: Annotated[str | None, typer.Option(help="Only attribute to this platform account")] = None,
    show: Annotated[int, typer.Option(min=0, help="How many rows with problems to list")] = 20,
    lang: Annotated[str, typer.Option(help="Language of the summary and problems: zh (default) or en")] = "zh",
) -> None:
    """Import a platform's metrics export (one transaction: all of it or nothing). Prints the rows counted by
    status, the problems by code (with an example of each) and the first rows with a problem, in words."""
    from backend.cli.common import prepare_write
    from backend.db import session_scope
    from backend.errors import AppError
    from backend.metrics.service import import_export
    from backend.metrics.words import CLI, problem_words, words

    if lang not in ("zh", "en"):
        raise typer.BadParameter("--lang is zh or en")
    chosen = cast("Lang", lang)
    prepare_write()
    try:
        with session_scope() as session:
            outcome = import_export(
                session, path.read_bytes(), path.name, platform, as_of=_aware(as_of, "--as-of"), dry_run=dry_run,
                allow_errors=allow_errors, account_id=uuid.UUID(account_id) if account_id else None,
            )
            colon = "：" if chosen == "zh" else ": "
            typer.echo(f"{words(CLI, chosen, 'dry_run' if dry_run else 'done')}{colon}{path.name}")
            _print_rows(outcome.rows, chosen, show)
    except AppError as exc:
        typer.echo(f"{exc.title}: {exc.detail}", err=True)
        for e in exc.extra.get("errors", [])[:show or 50]:
            typer.echo(f"  {words(CLI, chosen, 'row', line=e['line'], status=e.get('code', ''), name='')}"
                       f"{problem_words({'code': e.get('code', ''), 'detail': e['reason'], 'params': e.get('params')}, chosen)}",
                       err=True)
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
