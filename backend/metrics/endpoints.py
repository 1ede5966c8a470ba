"""Performance endpoints: export imports (with dry run), batch snapshots, rollups and leaderboards
(JSON, CSV, XLSX), the HTML report, and identifying a platform's copy of a video."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlmodel import col

from backend import errors, i18n
from backend.bodies import file_from_body
from backend.catalogue import fingerprints
from backend.deps import Editor, SessionDep, SettingsDep, Viewer
from backend.guard import max_body_bytes
from backend.metrics import reports as metric_reports
from backend.metrics import service as metrics
from backend.metrics.mappings import METRICS, shipped_mappings
from backend.metrics.models import MetricImport, MetricSnapshot
from backend.metrics.preview import (
    DEFAULT_PAGE,
    LIST_CAP,
    MAX_HEAD,
    MAX_PAGE,
    RowSelection,
    RowsWanted,
    select_rows,
    summarise,
)
from backend.metrics.rollups import GROUPS, ORDERABLE, RollupFilters, RollupRow, month_window, rollup, tag_ids_of
from backend.metrics.schemas import (
    ROW_PROBLEM_CODES,
    IdentifiedPublic,
    ImportPublic,
    ImportRowResult,
    ImportSummaryPublic,
    RowsPagePublic,
    RowStatus,
    SnapshotBatch,
    WriteCountsPublic,
)
from backend.responses import answers, problems
from backend.text import Moment, Text, ZoneName
from backend.uploads import spool

router = APIRouter(tags=["metrics"], responses=problems(401))
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TABLE_ANSWERS = {**answers(200, "Rows as JSON, CSV or XLSX (`format`)", "application/json", "text/csv", XLSX), **problems(400, 404)}
API = "/api/v1"
MAX_EXPORT_BYTES = 50 * 1024 * 1024


def _import_public(record: MetricImport, outcome: metrics.ImportOutcome | None = None,
                   selection: RowSelection | None = None) -> ImportPublic:
    """An import as answered: its lists cut to their first LIST_CAP entries; after a POST, the summary of
    every row and (dry runs) the page of rows the selection asks for."""
    public = ImportPublic.model_validate(record, from_attributes=True)
    update: dict[str, Any] = {"errors": record.errors[:LIST_CAP], "unmatched": record.unmatched[:LIST_CAP]}
    if outcome is not None:
        update["summary"] = ImportSummaryPublic.model_validate(summarise(outcome.rows), from_attributes=True)
    if outcome is not None and selection is not None:
        page = select_rows(outcome.rows, selection)
        update["planned"] = outcome.planned[:LIST_CAP]
        update["rows"] = [ImportRowResult.model_validate(r) for r in page.rows]
        update["rows_page"] = RowsPagePublic.model_validate(page, from_attributes=True)
    return public.model_copy(update=update)


@router.post(
    f"{API}/metrics/imports", response_model=ImportPublic, status_code=201,
    summary="Import a platform's metrics export (CSV or XLSX)",
    responses=problems(400, 403, 404, 413),
    openapi_extra={"requestBody": {"required": True, "content": {
        "text/csv": {"schema": {"type": "string", "format": "binary"}},
        XLSX: {"schema": {"type": "string", "format": "binary"}},
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                           "properties": {"file": {"type": "string", "format": "binary"}}}},
    }}},
    description="Send the file as the raw body (`filename` in the query) or as multipart `file`. "
                "`dry_run=true` writes no figures and answers with `rows`: lines of the file in order with "
                "their status (ready, unmatched, failed, skipped), the publication each matched and how, its figures, "
                "what the import would do (inserted, updated, unchanged) and its problems, each with a stable "
                "`code` (see ImportRowResult); `summary` counts every row by status, action and problem code. "
                "An export may hold 200,000 rows, so the rows come a page at a time (`rows_limit`, default "
                f"{DEFAULT_PAGE}, at most {MAX_PAGE}; `rows_offset`; `rows_page` says how many the selection takes "
                "and where the next page starts): `rows=problems` lists only rows with a problem, `status` and "
                "`code` narrow further, and `head=N` adds the file's first N lines whatever they are (a sample of "
                "the rows that are fine). Confirm by sending the same file without dry_run (and the dry "
                "run's `as_of`). "
                "Unreadable rows reject the whole import (422 `metrics-import-rejected`, nothing written) "
                "unless `allow_errors=true`. Unmatched rows are skipped and listed with suggestions; "
                "importing the same file again changes nothing.",
)
async def import_metrics(
    request: Request, session: SessionDep, key: Editor,
    platform: Annotated[Text, Query(max_length=64, examples=["douyin"], description="Export mapping (see GET /metrics/mappings)")],
    filename: Annotated[Text | None, Query(max_length=500)] = None,
    dry_run: bool = False,
    allow_errors: bool = False,
    as_of: Annotated[Moment | None, Query(description="When a totals export was downloaded (default: today)")] = None,
    account_id: uuid.UUID | None = None,
    rows: Annotated[RowsWanted, Query(description="Dry runs: list every row, only rows with a problem, or none")] = "all",
    status: Annotated[list[RowStatus], Query(max_length=4, description="Dry runs: only rows of these statuses")] = [],  # noqa: B006
    code: Annotated[list[Annotated[Text, Query(max_length=64)]], Query(
        max_length=len(ROW_PROBLEM_CODES), description="Dry runs: only rows with one of these problem codes")] = [],  # noqa: B006
    head: Annotated[int, Query(ge=0, le=MAX_HEAD, description="Dry runs: also the file's first N lines")] = 0,
    rows_offset: Annotated[int, Query(ge=0)] = 0,
    rows_limit: Annotated[int, Query(ge=0, le=MAX_PAGE)] = DEFAULT_PAGE,
) -> ImportPublic:
    unknown = sorted(set(code) - set(ROW_PROBLEM_CODES))
    if unknown:
        raise errors.BadRequest(key="metrics.problem-code-unknown", params={"code": unknown[0], "known": ", ".join(ROW_PROBLEM_CODES)},
                                codes=list(ROW_PROBLEM_CODES))
    selection = RowSelection(rows=rows, status=frozenset(status), codes=frozenset(code), head=head,
                             offset=rows_offset, limit=rows_limit)
    data, name = await file_from_body(request, filename=filename, default="export.csv", limit=MAX_EXPORT_BYTES,
                                      what={i18n.ZH: "数据导出文件", i18n.EN: "an export"})
    if as_of is not None and as_of.tzinfo is None:
        raise errors.BadRequest(key="timezone-needed", params={"name": "as_of", "example": "2026-11-20T00:00:00+08:00"})
    outcome = await run_in_threadpool(
        metrics.import_export, session, data, name, platform, as_of=as_of, dry_run=dry_run,
        allow_errors=allow_errors, account_id=account_id, created_by=key.id,
    )
    # Summing and paging 200,000 rows takes a while: off the event loop too.
    return await run_in_threadpool(_import_public, outcome.record, outcome, selection if dry_run else None)


@router.get(f"{API}/metrics/imports", response_model=list[ImportPublic], summary="Recent imports")
def list_imports(session: SessionDep, _: Viewer, limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[ImportPublic]:
    rows = session.scalars(select(MetricImport).order_by(col(MetricImport.created_at).desc()).limit(limit))
    return [_import_public(r) for r in rows]


@router.get(f"{API}/metrics/imports/{{import_id}}", response_model=ImportPublic, summary="One import", responses=problems(404))
def get_import(import_id: uuid.UUID, session: SessionDep, _: Viewer) -> ImportPublic:
    record = session.get(MetricImport, import_id)
    if record is None:
        raise errors.NotFound(key="metrics.import-not-found", params={"id": str(import_id)})
    return _import_public(record)


@router.get(f"{API}/metrics/mappings", summary="Platform export mappings (which headers are read)")
def list_mappings(_: Viewer) -> list[dict[str, Any]]:
    return [m.model_dump() for m in shipped_mappings().values()]


@router.post(
    f"{API}/metrics/snapshots", response_model=WriteCountsPublic, summary="Record snapshots in a batch",
    responses=problems(400, 403, 404, 413),
)
@max_body_bytes(8 * 1024 * 1024)  # a full batch (10,000 snapshots, every field) is ~5 MB of JSON
def post_snapshots(body: SnapshotBatch, session: SessionDep, _: Editor) -> WriteCountsPublic:
    items = []
    for s in body.snapshots:
        if s.captured_at.tzinfo is None:
            raise errors.BadRequest(key="timezone-needed", params={"name": "captured_at", "example": "2026-11-20T00:00:00+08:00"})
        values: dict[str, int | float | None] = {k: getattr(s, k) for k in METRICS if k not in ("gmv", "ad_spend")}
        values["gmv_cents"] = None if s.gmv is None else round(s.gmv * 100)
        values["ad_spend_cents"] = None if s.ad_spend is None else round(s.ad_spend * 100)
        items.append(metrics.SnapshotValues(s.publication_id, s.captured_at, s.is_cumulative, values,
                                            s.currency or ("CNY" if s.gmv is not None or s.ad_spend is not None else None)))
    counts = metrics.record_snapshots(session, items)
    return WriteCountsPublic.model_validate(counts, from_attributes=True)


@router.get(f"{API}/metrics/publications/{{publication_id}}/snapshots", summary="A publication's snapshots")
def publication_snapshots(publication_id: uuid.UUID, session: SessionDep, _: Viewer) -> list[dict[str, Any]]:
    rows = session.scalars(select(MetricSnapshot).where(col(MetricSnapshot.publication_id) == publication_id)
                           .order_by(col(MetricSnapshot.captured_at)))
    return [r.model_dump(mode="json") for r in rows]


Month = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$", examples=["2026-11"])]
Tags = Annotated[list[Annotated[Text, Query(max_length=200)]], Query(
    max_length=100, description="Only materials with any of these tags: 'category:name' (e.g. campaign:双11) "
                                "or a tag id; repeatable")]
ShortText = Annotated[Text | None, Query(max_length=100)]
Group = Annotated[Text, Query(description=" | ".join(GROUPS), json_schema_extra={"enum": list(GROUPS)})]
Order = Annotated[Text, Query(description=" | ".join(ORDERABLE), json_schema_extra={"enum": list(ORDERABLE)})]


def rollup_filters(
    session: SessionDep, month: Month = None, start: Annotated[Moment | None, Query()] = None,
    end: Annotated[Moment | None, Query()] = None,
    platform: ShortText = None, account_id: uuid.UUID | None = None, channel_id: ShortText = None,
    preset_id: ShortText = None, tag: Tags = [],  # noqa: B006
    category: ShortText = None, source_id: uuid.UUID | None = None,
    currency: Annotated[str, Query(pattern=r"^[A-Z]{3}$")] = "CNY", zone: Annotated[ZoneName, Query()] = "Asia/Shanghai",
) -> RollupFilters:
    """The query parameters every figure endpoint filters by (rollups, leaderboard, report)."""
    f = RollupFilters(platform=platform, account_id=account_id, channel_id=channel_id, preset_id=preset_id,
                      tag_ids=tag_ids_of(session, tag), category=category, source_id=source_id, currency=currency, zone=zone)
    if month:
        f.start, f.end = month_window(month, zone)
    f.start = start or f.start
    f.end = end or f.end
    for d in (f.start, f.end):
        if d is not None and d.tzinfo is None:
            raise errors.BadRequest(key="metrics.start-end-timezone")
    return f


Filters = Annotated[RollupFilters, Depends(rollup_filters)]


def _rollup_response(rows: list[RollupRow], fmt: str, name: str) -> Response | list[dict[str, Any]]:
    if fmt == "csv":
        return Response(metric_reports.rows_to_csv(rows), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    if fmt == "xlsx":
        return Response(metric_reports.rows_to_xlsx(rows, name),
                        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})
    return [r.as_dict() for r in rows]


@router.get(f"{API}/metrics/rollups", summary="Figures grouped by material, source, tag, platform, month ...",
            response_model=None, responses=TABLE_ANSWERS)
def get_rollup(
    session: SessionDep, _: Viewer, f: Filters,
    by: Group = "material",
    order: Order = "views",
    limit: Annotated[int, Query(ge=1, le=10_000)] = 50,
    ascending: bool = False,
    format: Literal["json", "csv", "xlsx"] = "json",
) -> Response | list[dict[str, Any]]:
    rows = rollup(session, by, f, order_by=order, limit=limit, descending=not ascending)
    return _rollup_response(rows, format, f"rollup-{by}")


@router.get(
    f"{API}/metrics/leaderboard", summary="Top materials (or any group) with filters", response_model=None,
    responses=TABLE_ANSWERS,
)
def get_leaderboard(
    session: SessionDep, _: Viewer, f: Filters,
    by: Group = "material", order: Order = "views", limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    format: Literal["json", "csv", "xlsx"] = "json",
) -> Response | list[dict[str, Any]]:
    rows = rollup(session, by, f, order_by=order, limit=limit)
    if format == "json":
        return [{"rank": i + 1, **r.as_dict()} for i, r in enumerate(rows)]
    return _rollup_response(rows, format, f"leaderboard-{by}")


@router.get(f"{API}/metrics/report", response_class=HTMLResponse, summary="HTML report with charts", responses=problems(400, 404))
def get_report(
    session: SessionDep, _: Viewer, f: Filters, month: Month = None, metric: Order = "views",
    lang: Literal["zh", "en"] = "zh",
) -> HTMLResponse:
    title = f"{'reelhouse 效果报告' if lang == 'zh' else 'reelhouse performance'} {month or ''}".strip()
    return HTMLResponse(metric_reports.html_report(session, f, title=title, metric=metric, lang=lang,
                                                   series_by="day" if month else "month"))


@router.post(
    f"{API}/fingerprints/identify", response_model=list[IdentifiedPublic],
    summary="Identify a platform's downloaded copy of a video",
    responses=problems(413),
    openapi_extra={"requestBody": {"required": True, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}},
    description="Send the video as the raw request body. It is fingerprinted in the sandbox and compared with "
                "every catalogued video; the best matches come first (empty: nothing matches). Nothing is stored.",
)
async def identify_copy(request: Request, session: SessionDep, settings: SettingsDep, _: Viewer,
                        limit: Annotated[int, Query(ge=1, le=20)] = 5) -> list[IdentifiedPublic]:
    spooled = await spool.spool_stream(request.stream(), settings.spool_dir, settings.max_upload_bytes)
    try:
        if spooled.size == 0:
            raise errors.EmptyFile(key="upload-empty")
        fp = await run_in_threadpool(fingerprints.fingerprint_untrusted, settings, spooled.path)
        found = await run_in_threadpool(fingerprints.identify, session, fp, limit)
    finally:
        spooled.discard()
    return [IdentifiedPublic(material_id=i.material.id, title=i.material.title, kind=i.material.kind, score=i.score,
                             distance=i.distance, offset_seconds=i.offset_seconds, overlap_seconds=i.overlap_seconds)
            for i in found]
