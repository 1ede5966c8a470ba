"""Metric snapshots: importing platform exports (dry run, all-or-nothing), attributing each row to a
publication, the batch API's upsert, and keeping each snapshot's gain over the previous one.

Attribution order: platform post id, then post URL (or a post id inside the URL), then title and
publish date; a row that matches nothing is reported with the closest publications as suggestions.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import unicodedata
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select, tuple_
from sqlmodel import Session
from sqlmodel import col as sqlcol  # `col` names snapshot columns here

from backend import errors
from backend.catalogue.models import Material
from backend.compliance.models import PlatformAccount, Publication
from backend.config import get_settings
from backend.metrics.limits import DEFAULT_LIMITS, ImportLimitExceeded, ImportLimits
from backend.metrics.mappings import METRICS, MetricMapping, load_mappings, shipped_mappings
from backend.metrics.models import ADDITIVE, MetricImport, MetricSnapshot
from backend.metrics.parsing import (
    ExportEncodingInvalid,
    ExportUnreadable,
    MetricRow,
    ParsedExport,
    as_of_default,
)
from backend.metrics.sandbox import parse_export_sandboxed
from backend.sqltypes import utcnow

# An import's record keeps the first rows it left out (the rows_* counts say how many in all): enough to
# act on, while a dry run of the same file lists every row again. Unbounded, one 200,000-row file of
# unmatched posts made a record of ~100 MB that every listing of imports read back.
STORED_LIST_CAP = 1_000
TITLE_DATE_WINDOW = timedelta(days=2)  # platform publish time vs. our recorded submission time
SUGGESTIONS = 3

# Export field -> snapshot column.
COLUMN_OF = {name: ("gmv_cents" if name == "gmv" else "ad_spend_cents" if name == "ad_spend" else name)
             for name in METRICS}
VALUE_COLUMNS = tuple(COLUMN_OF.values())


def mapping_for(platform: str) -> MetricMapping:
    extra = get_settings().presets_dir
    mappings = load_mappings(extra / "metrics") if extra else shipped_mappings()
    try:
        return mappings[platform]
    except KeyError:
        raise errors.MetricsMappingUnknown(
            key="metrics.mapping-unknown", params={"platform": platform, "known": ", ".join(sorted(mappings))}
        ) from None


# --- attribution --------------------------------------------------------------------------------


def normalise_title(text: str | None) -> str:
    folded = unicodedata.normalize("NFKC", text or "").casefold()
    return re.sub(r"[\W_]+", "", folded)


def normalise_url(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower().removeprefix("www.").removeprefix("m.")
    return f"{host}{parts.path.rstrip('/')}" if host else None


@dataclass(frozen=True)
class PublicationRef:
    id: uuid.UUID
    material_id: uuid.UUID
    post_id: str | None
    url: str | None
    title: str
    submitted_at: datetime
    account: str


@dataclass
class Attribution:
    publication: PublicationRef | None
    method: str  # post_id | url | url_post_id | title_date | unmatched | ambiguous
    suggestions: list[PublicationRef] = field(default_factory=list)


class Attributor:
    """Publications of one platform held in memory, indexed the ways export rows can name them."""

    def __init__(self, refs: Sequence[PublicationRef]) -> None:
        self.refs = refs
        self.by_post: dict[str, list[PublicationRef]] = defaultdict(list)
        self.by_url: dict[str, list[PublicationRef]] = defaultdict(list)
        self.by_title: dict[str, list[PublicationRef]] = defaultdict(list)
        for ref in refs:
            if ref.post_id:
                self.by_post[ref.post_id].append(ref)
            if (u := normalise_url(ref.url)) is not None:
                self.by_url[u].append(ref)
                # A recorded link's last path segment is usually the post id: index it as one too.
                last = u.rsplit("/", 1)[-1]
                if len(last) >= 6 and last != ref.post_id:
                    self.by_post[last].append(ref)
            self.by_title[normalise_title(ref.title)].append(ref)
        self._titles = list(self.by_title)

    @classmethod
    def load(cls, session: Session, platform: str, account_id: uuid.UUID | None = None) -> Attributor:
        stmt = (
            select(sqlcol(Publication.id), sqlcol(Publication.material_id), sqlcol(Publication.platform_post_id),
                   sqlcol(Publication.post_url), sqlcol(Material.title), sqlcol(Publication.submitted_at),
                   sqlcol(PlatformAccount.name))
            .join(Material, sqlcol(Material.id) == Publication.material_id)
            .join(PlatformAccount, sqlcol(PlatformAccount.id) == Publication.account_id)
            .where(sqlcol(PlatformAccount.platform_id) == platform)
        )
        if account_id is not None:
            stmt = stmt.where(sqlcol(Publication.account_id) == account_id)
        return cls([PublicationRef(*row) for row in session.execute(stmt)])

    def attribute(self, row: MetricRow) -> Attribution:
        if row.post_id and (hits := self._account_filter(self.by_post.get(row.post_id, []), row)):
            return self._one(hits, "post_id", row)
        if row.url:
            if hits := self._account_filter(self.by_url.get(normalise_url(row.url) or "", []), row):
                return self._one(hits, "url", row)
            # Share links often carry the post id in the path (…/video/7300000000000000001).
            for segment in reversed([s for s in urlsplit(row.url).path.split("/") if s]):
                if hits := self._account_filter(self.by_post.get(segment, []), row):
                    return self._one(hits, "url_post_id", row)
        if row.title and row.published_at:
            hits = [r for r in self.by_title.get(normalise_title(row.title), [])
                    if abs(r.submitted_at - row.published_at) <= TITLE_DATE_WINDOW]
            if hits := self._account_filter(hits, row):
                return self._one(hits, "title_date", row)
        return Attribution(None, "unmatched", self.suggest(row))

    def _account_filter(self, hits: list[PublicationRef], row: MetricRow) -> list[PublicationRef]:
        if len(hits) > 1 and row.account:
            narrowed = [h for h in hits if h.account == row.account]
            return narrowed or hits
        return hits

    def _one(self, hits: list[PublicationRef], method: str, row: MetricRow) -> Attribution:
        if len(hits) == 1:
            return Attribution(hits[0], method)
        return Attribution(None, "ambiguous", hits[:SUGGESTIONS])

    def suggest(self, row: MetricRow) -> list[PublicationRef]:
        """Closest publications by title, then by date: what a person would check first."""
        pool: list[PublicationRef] = []
        if row.title:
            for title in difflib.get_close_matches(normalise_title(row.title), self._titles, n=SUGGESTIONS, cutoff=0.4):
                pool.extend(self.by_title[title])
        if row.published_at and len(pool) < SUGGESTIONS:
            near = sorted(self.refs, key=lambda r: abs(r.submitted_at - row.published_at))  # type: ignore[operator]
            pool.extend(r for r in near[:SUGGESTIONS] if abs(r.submitted_at - row.published_at) <= timedelta(days=7))
        seen: dict[uuid.UUID, PublicationRef] = {}
        for ref in pool:
            seen.setdefault(ref.id, ref)
        return list(seen.values())[:SUGGESTIONS]


def ref_public(ref: PublicationRef) -> dict[str, Any]:
    return {"publication_id": str(ref.id), "material_id": str(ref.material_id), "title": ref.title,
            "platform_post_id": ref.post_id, "post_url": ref.url, "submitted_at": ref.submitted_at.isoformat(),
            "account": ref.account}


# --- writing snapshots --------------------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotValues:
    publication_id: uuid.UUID
    captured_at: datetime
    is_cumulative: bool
    values: dict[str, int | float | None]  # snapshot column -> value
    currency: str | None


@dataclass
class WriteCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    outcomes: list[str] = field(default_factory=list)  # per item, in order: inserted | updated | unchanged


def upsert_snapshots(
    session: Session, items: Sequence[SnapshotValues], *, import_id: uuid.UUID | None, source: str,
    dry_run: bool = False,
) -> WriteCounts:
    """Insert or replace snapshots by (publication, captured_at), then recompute the gains of every
    publication touched. Never commits; with dry_run nothing is written but the counts are real."""
    counts = WriteCounts()
    if not items:
        return counts
    existing: dict[tuple[uuid.UUID, datetime], MetricSnapshot] = {}
    keys = [(i.publication_id, i.captured_at) for i in items]
    for chunk in _chunks(keys, 500):
        stmt = select(MetricSnapshot).where(tuple_(MetricSnapshot.publication_id, MetricSnapshot.captured_at).in_(chunk))
        for stored in session.scalars(stmt):
            existing[(stored.publication_id, stored.captured_at)] = stored
    now = utcnow()
    for item in items:
        snap = existing.get((item.publication_id, item.captured_at))
        full: dict[str, Any] = {col: item.values.get(col) for col in VALUE_COLUMNS}
        if snap is None:
            counts.inserted += 1
            counts.outcomes.append("inserted")
            if not dry_run:
                session.add(MetricSnapshot(
                    publication_id=item.publication_id, captured_at=item.captured_at,
                    is_cumulative=item.is_cumulative, currency=item.currency, import_id=import_id,
                    source=source, updated_at=now, **full,
                ))
            continue
        # A column the new figures leave blank keeps what an earlier import said.
        merged = {col: (val if val is not None else getattr(snap, col)) for col, val in full.items()}
        same = all(_close(getattr(snap, c), v) for c, v in merged.items()) and snap.is_cumulative == item.is_cumulative
        if same and (item.currency or snap.currency) == snap.currency:
            counts.unchanged += 1
            counts.outcomes.append("unchanged")
            continue
        counts.updated += 1
        counts.outcomes.append("updated")
        if not dry_run:
            for col, val in merged.items():
                setattr(snap, col, val)
            snap.is_cumulative = item.is_cumulative
            snap.currency = item.currency or snap.currency
            snap.import_id = import_id
            snap.source = source
            snap.updated_at = now
            session.add(snap)
    if not dry_run:
        session.flush()
        recompute_gains(session, {i.publication_id for i in items})
    return counts


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and abs(a - b) < 1e-9
    return a == b


def recompute_gains(session: Session, publication_ids: Iterable[uuid.UUID]) -> None:
    """Each snapshot's `<figure>_gain`: for cumulative snapshots the rise since the previous one (the
    first one carries everything before it); for per-day snapshots the day's figure. When a post has
    cumulative snapshots they alone count: the platform's own totals beat a sum of days."""
    ids = list(publication_ids)
    for chunk in _chunks(ids, 500):
        stmt = (select(MetricSnapshot).where(sqlcol(MetricSnapshot.publication_id).in_(chunk))
                .order_by(sqlcol(MetricSnapshot.publication_id), sqlcol(MetricSnapshot.captured_at)))
        by_pub: dict[uuid.UUID, list[MetricSnapshot]] = defaultdict(list)
        for snap in session.scalars(stmt):
            by_pub[snap.publication_id].append(snap)
        for snaps in by_pub.values():
            has_cumulative = any(s.is_cumulative for s in snaps)
            last: dict[str, int] = {}
            for snap in snaps:
                for col in ADDITIVE:
                    value = getattr(snap, col)
                    if has_cumulative and not snap.is_cumulative:
                        gain = None
                    elif not snap.is_cumulative:
                        gain = value
                    elif value is None:
                        gain = None
                    else:
                        gain = value - last.get(col, 0)
                        last[col] = value
                    if getattr(snap, f"{col}_gain") != gain:
                        setattr(snap, f"{col}_gain", gain)
                        session.add(snap)
    session.flush()


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


# --- import -------------------------------------------------------------------------------------


@dataclass
class ImportOutcome:
    record: MetricImport
    planned: list[dict[str, Any]]  # what each matched row does (shown by dry runs)
    rows: list[dict[str, Any]] = field(default_factory=list)  # every row of the file with its result, by line


def _problem(code: str, detail: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"code": code, "detail": detail, "params": params or {}}


def _row_result(line: int, status: str, *, row: MetricRow | None = None, raw: dict[str, str] | None = None,
                columns: dict[str, str] | None = None, problems: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """One line of the file as a dry run shows it: what it names, what it would do, and what is wrong.
    A row that was not read names its post by the cells as written (`columns`: field -> header)."""
    written = {f: (raw or {}).get(h, "").strip() or None for f, h in (columns or {}).items()}
    return {
        "line": line, "status": status, "action": None,
        "post_id": row.post_id if row else written.get("post_id"), "url": row.url if row else written.get("url"),
        "title": row.title if row else written.get("title"),
        "published_at": row.published_at.isoformat() if row and row.published_at else None,
        "captured_at": row.captured_at.isoformat() if row else None,
        "values": row.values if row else None, "currency": row.currency if row else None,
        "raw": raw or {}, "publication": None, "suggestions": [], "problems": problems or [],
    }


def import_export(
    session: Session,
    data: bytes,
    filename: str,
    platform: str,
    *,
    as_of: datetime | None = None,
    dry_run: bool = False,
    allow_errors: bool = False,
    account_id: uuid.UUID | None = None,
    created_by: uuid.UUID | None = None,
    limits: ImportLimits = DEFAULT_LIMITS,
) -> ImportOutcome:
    """Read, attribute and (unless dry_run) write one export in the caller's transaction.

    Unreadable rows make the whole import fail (nothing is written) unless allow_errors; unmatched
    rows never block: they are reported with suggestions so publications can be recorded and the
    file imported again, which is safe because snapshots are keyed by (publication, captured_at).
    """
    mapping = mapping_for(platform)
    stamp = as_of or as_of_default(utcnow(), mapping.zone)
    parsed = parse_export_refusing(data, filename, mapping, as_of=stamp, limits=limits)

    attributor = Attributor.load(session, platform, account_id)
    items: list[SnapshotValues] = []
    planned: list[dict[str, Any]] = []
    unmatched: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = [{"line": e.line, "reason": e.reason, "raw": e.raw, "code": e.code, "params": e.params}
                                      for e in parsed.errors]
    results: list[dict[str, Any]] = [
        _row_result(e.line, "failed", raw=e.raw, columns=parsed.columns, problems=[_problem(e.code, e.reason, e.params)])
        for e in parsed.errors]
    results += [_row_result(s.line, "skipped", raw=s.raw, columns=parsed.columns,
                            problems=[_problem(s.code, s.reason, s.params)]) for s in parsed.skipped]
    ready: list[dict[str, Any]] = []  # the results of `items`, in the same order
    taken: dict[tuple[uuid.UUID, datetime], int] = {}
    for row in parsed.rows:
        found = attributor.attribute(row)
        if found.publication is None:
            code = "ambiguous" if found.method == "ambiguous" else "unmatched"
            reason = "several publications fit" if code == "ambiguous" else "no publication fits"
            suggestions = [ref_public(s) for s in found.suggestions]
            unmatched.append({
                "line": row.line, "post_id": row.post_id, "url": row.url, "title": row.title,
                "published_at": row.published_at.isoformat() if row.published_at else None,
                "reason": reason, "code": code, "suggestions": suggestions,
            })
            result = _row_result(row.line, "unmatched", row=row, problems=[_problem(code, reason)])
            result["suggestions"] = suggestions
            results.append(result)
            continue
        key = (found.publication.id, row.captured_at)
        if key in taken:
            reason = f"names the same publication and date as line {taken[key]}"
            failures.append({"line": row.line, "reason": reason, "raw": {}, "code": "same-publication",
                             "params": {"other_line": taken[key]}})
            results.append(_row_result(row.line, "failed", row=row,
                                       problems=[_problem("same-publication", reason, {"other_line": taken[key]})]))
            continue
        taken[key] = row.line
        result = _row_result(row.line, "ready", row=row)
        result["publication"] = {**ref_public(found.publication), "matched_by": found.method}
        results.append(result)
        ready.append(result)
        items.append(SnapshotValues(
            publication_id=found.publication.id, captured_at=row.captured_at, is_cumulative=row.is_cumulative,
            values={COLUMN_OF[k]: v for k, v in row.values.items()}, currency=row.currency,
        ))
        planned.append({"line": row.line, "publication_id": str(found.publication.id),
                        "material_id": str(found.publication.material_id), "matched_by": found.method,
                        "captured_at": row.captured_at.isoformat(), "values": row.values, "currency": row.currency})
    failures.sort(key=lambda f: f["line"])
    if failures and not allow_errors and not dry_run:
        raise errors.MetricsImportRejected(
            key="metrics.rows-rejected", params={"count": len(failures)},
            errors=failures[:200],
        )
    record = MetricImport(
        platform=platform, file_name=filename[:500], file_sha256=hashlib.sha256(data).hexdigest(),
        dry_run=dry_run, as_of=stamp if mapping.cumulative else None, is_cumulative=mapping.cumulative,
        rows_read=parsed.total_lines, rows_unmatched=len(unmatched), rows_failed=len(failures),
        rows_skipped=len(parsed.skipped),
        errors=(failures + [{"line": s.line, "reason": s.reason, "raw": s.raw, "skipped": True, "code": s.code,
                             "params": s.params} for s in parsed.skipped[:STORED_LIST_CAP]])[:STORED_LIST_CAP],
        unmatched=unmatched[:STORED_LIST_CAP], created_by=created_by,
    )
    session.add(record)
    session.flush()
    counts = upsert_snapshots(session, items, import_id=record.id, source="import", dry_run=dry_run)
    record.rows_inserted, record.rows_updated, record.rows_unchanged = counts.inserted, counts.updated, counts.unchanged
    session.add(record)
    session.flush()
    for result, outcome in zip(ready, counts.outcomes, strict=True):
        result["action"] = outcome
    results.sort(key=lambda r: r["line"])
    return ImportOutcome(record=record, planned=planned, rows=results)


def parse_export_refusing(data: bytes, filename: str, mapping: MetricMapping, *, as_of: datetime | None,
                          limits: ImportLimits = DEFAULT_LIMITS) -> ParsedExport:
    """The export parsed in the capped child (no database work happens meanwhile), its refusals as
    problem types: too large (naming the limit), not text, or unreadable."""
    try:
        return parse_export_sandboxed(data, filename, mapping, as_of=as_of, limits=limits).parsed
    except ImportLimitExceeded as exc:
        raise errors.MetricsImportTooLarge(str(exc), key=exc.key, params=exc.params, limit=exc.limit,
                                           max=exc.maximum) from exc
    except ExportEncodingInvalid as exc:
        raise errors.MetricsFileEncoding(str(exc), key=exc.key, params=exc.params, byte_offset=exc.byte_offset,
                                         line=exc.line, encoding=exc.encoding) from exc
    except ExportUnreadable as exc:
        raise errors.MetricsFileUnreadable(str(exc), key=exc.key, params=exc.params) from exc


def record_snapshots(session: Session, items: Sequence[SnapshotValues]) -> WriteCounts:
    """The batch API: figures for known publications (ids checked), upserted like an import."""
    ids = {i.publication_id for i in items}
    known = set(session.scalars(select(sqlcol(Publication.id)).where(sqlcol(Publication.id).in_(list(ids))))) if ids else set()
    missing = ids - known
    if missing:
        raise errors.NotFound(key="publication-not-found", params={"id": sorted(map(str, missing))[0]}, missing=sorted(map(str, missing)))
    seen: set[tuple[uuid.UUID, datetime]] = set()
    for item in items:
        key = (item.publication_id, item.captured_at)
        if key in seen:
            raise errors.BadRequest(key="metrics.snapshot-twice",
                                    params={"id": str(item.publication_id), "at": item.captured_at.isoformat()})
        seen.add(key)
    return upsert_snapshots(session, items, import_id=None, source="api")
