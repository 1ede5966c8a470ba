"""The catalogue: read, edit, search, soft-delete/restore materials and walk their lineage."""

from __future__ import annotations

import base64
import json
import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import and_, func, literal, literal_column, or_, text
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from backend.catalogue.models import (
    Material,
    MaterialKind,
    MaterialStatus,
    MaterialTag,
    MediaType,
    Orientation,
    ReviewState,
    Tag,
)
from backend.changes import apply_changes
from backend.config import Settings
from backend.errors import BadRequest, Conflict, NotFound
from backend.sqltypes import table_of, utcnow
from backend.text import INT64_MAX, single_line
from workers.media.probe import Limits

SortKey = Literal["created_at", "-created_at", "title", "-title", "duration", "-duration", "size", "-size"]
_SORT_COLUMNS: dict[str, Any] = {
    "created_at": Material.created_at,
    "title": Material.title,
    # A literal (not a bound parameter), so the text matches ix_material_duration_sort's expression.
    "duration": func.coalesce(Material.duration_s, literal_column("-1.0")),
    "size": Material.size_bytes,
}
MAX_PAGE = 200


def limits_from(settings: Settings) -> Limits:
    """What the catalogue accepts as media (pixels, duration), for every probe of untrusted input."""
    return Limits(
        max_video_pixels=settings.max_video_pixels,
        max_image_pixels=settings.max_image_pixels,
        max_duration_seconds=settings.max_duration_seconds,
    )


def get_material(session: Session, material_id: uuid.UUID, *, include_deleted: bool = True) -> Material:
    material = session.get(Material, material_id)
    if material is None or (not include_deleted and material.status == MaterialStatus.deleted):
        raise NotFound(key="material-not-found", params={"id": str(material_id)})
    return material


def update_material(session: Session, material_id: uuid.UUID, changes: dict[str, Any]) -> Material:
    material = get_material(session, material_id)
    if material.status == MaterialStatus.deleted:
        raise Conflict(key="material-deleted-restore-to-edit")
    apply_changes(material, changes, {"title", "description", "production_cost"})
    session.add(material)
    session.flush()
    return material


def soft_delete_material(session: Session, material_id: uuid.UUID) -> Material:
    """Hide a material; its files stay in storage until purged, so it can be restored."""
    material = get_material(session, material_id)
    if material.status != MaterialStatus.deleted:
        material.deleted_at = utcnow()
        material.status = MaterialStatus.deleted
        material.updated_at = utcnow()
        session.add(material)
        session.flush()
    return material


def restore_material(session: Session, material_id: uuid.UUID) -> Material:
    material = get_material(session, material_id)
    if material.status == MaterialStatus.deleted:
        material.status = MaterialStatus.ready if material.storage_key else MaterialStatus.failed
        material.deleted_at = None
        material.updated_at = utcnow()
        session.add(material)
        session.flush()
    return material


@dataclass
class MaterialQuery:
    tag_ids: list[int] = field(default_factory=list)
    tag_mode: Literal["any", "all"] = "any"
    category: str | None = None  # a category id
    kind: MaterialKind | None = None
    status: MaterialStatus | None = None
    review_state: ReviewState | None = None  # `draft`: the automatic re-edits waiting for a person
    include_deleted: bool = False
    media_type: MediaType | None = None
    min_duration: float | None = None
    max_duration: float | None = None
    orientation: Orientation | None = None
    aspect: str | None = None  # "9:16"
    created_after: datetime | None = None
    created_before: datetime | None = None
    parent_id: uuid.UUID | None = None
    q: str | None = None
    sort: SortKey = "-created_at"
    cursor: str | None = None
    limit: int = 50


@dataclass
class MaterialPage:
    items: list[Material]
    next_cursor: str | None


def _encode_cursor(sort: str, value: Any, mid: uuid.UUID) -> str:
    if isinstance(value, datetime):
        value = {"dt": value.isoformat()}
    raw = json.dumps([sort, value, str(mid)], ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor_value(key: str, value: Any) -> Any:
    """A cursor comes back from the client: its value must be what the sort column holds (an aware
    datetime, a line of text, a finite number, a BIGINT), or the comparison fails in the database."""
    if key == "created_at" and isinstance(value, datetime) and value.tzinfo is not None:
        return value
    if key == "title" and isinstance(value, str):
        return single_line(value)
    if key == "duration" and isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    if key == "size" and isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= INT64_MAX:
        return value
    raise ValueError(f"a {key} cursor cannot hold {value!r}")


def _decode_cursor(cursor: str, sort: str) -> tuple[Any, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        got_sort, value, mid = json.loads(base64.urlsafe_b64decode(padded))
        if got_sort != sort:
            raise ValueError("sort changed")
        if isinstance(value, dict) and "dt" in value:
            value = datetime.fromisoformat(value["dt"])
        return _cursor_value(sort.lstrip("-"), value), uuid.UUID(mid)
    except (ValueError, TypeError, json.JSONDecodeError) as exc:
        raise BadRequest(key="catalogue.cursor-invalid") from exc


def parse_aspect(aspect: str) -> float:
    try:
        w, _, h = aspect.partition(":")
        value = float(w) / float(h)
    except (ValueError, ZeroDivisionError) as exc:
        raise BadRequest(key="catalogue.aspect-malformed", params={"aspect": aspect}) from exc
    if value <= 0:
        raise BadRequest(key="catalogue.aspect-not-positive", params={"aspect": aspect})
    return value


def _text_condition(session: Session, q: str) -> Any:
    words = [w for w in q.split() if w]
    if session.get_bind().dialect.name == "postgresql":
        document = func.to_tsvector(
            text("'simple'"), func.coalesce(Material.title, "") + " " + func.coalesce(Material.description, "")
        )
        fts = document.op("@@")(func.websearch_to_tsquery(text("'simple'"), q))
        # Chinese has no spaces, so the 'simple' parser sees whole phrases: substring match as well (trigram index).
        substring = and_(*[or_(col(Material.title).ilike(f"%{w}%"), col(Material.description).ilike(f"%{w}%")) for w in words])
        return or_(fts, substring)
    return and_(*[or_(col(Material.title).ilike(f"%{w}%"), col(Material.description).ilike(f"%{w}%")) for w in words])


def search_materials(session: Session, query: MaterialQuery) -> MaterialPage:
    limit = max(1, min(query.limit, MAX_PAGE))
    if session.get_bind().dialect.name == "postgresql":
        # A page is "first 50 in order": starting parallel workers costs more (~25 ms) than the
        # index walk they would share.
        session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
    stmt = select(Material)
    if query.status:
        stmt = stmt.where(Material.status == query.status)
    elif not query.include_deleted:
        stmt = stmt.where(Material.status != MaterialStatus.deleted)
    if query.kind:
        stmt = stmt.where(Material.kind == query.kind)
    if query.review_state:
        stmt = stmt.where(Material.review_state == query.review_state)
    if query.media_type:
        stmt = stmt.where(Material.media_type == query.media_type)
    # Duration filters use the same expression as the duration sort, so one index serves both.
    duration = _SORT_COLUMNS["duration"]
    if query.min_duration is not None:
        stmt = stmt.where(duration >= query.min_duration)
    if query.max_duration is not None:
        stmt = stmt.where(duration >= 0, duration <= query.max_duration)
    if query.orientation:
        stmt = stmt.where(Material.orientation == query.orientation)
    if query.aspect:
        ratio = parse_aspect(query.aspect)
        stmt = stmt.where(col(Material.aspect_ratio).between(ratio * 0.98, ratio * 1.02))
    if query.created_after:
        stmt = stmt.where(Material.created_at >= query.created_after)
    if query.created_before:
        stmt = stmt.where(Material.created_at < query.created_before)
    if query.parent_id:
        stmt = stmt.where(Material.parent_id == query.parent_id)
    if query.tag_ids:
        tag_ids = list(dict.fromkeys(query.tag_ids))
        if query.tag_mode == "all":
            matching = (
                select(MaterialTag.material_id)
                .where(col(MaterialTag.tag_id).in_(tag_ids))
                .group_by(col(MaterialTag.material_id))
                .having(func.count() == len(tag_ids))
            )
            stmt = stmt.where(col(Material.id).in_(matching))
        else:
            stmt = stmt.where(
                select(literal(1))
                .where(MaterialTag.material_id == Material.id, col(MaterialTag.tag_id).in_(tag_ids))
                .exists()
            )
    if query.category:
        stmt = stmt.where(
            select(literal(1))
            .select_from(MaterialTag)
            .join(Tag, Tag.id == MaterialTag.tag_id)  # type: ignore[arg-type]
            .where(MaterialTag.material_id == Material.id, Tag.category == query.category)
            .exists()
        )
    if query.q and query.q.strip():
        stmt = stmt.where(_text_condition(session, query.q.strip()))

    descending = query.sort.startswith("-")
    key = query.sort.lstrip("-")
    if key not in _SORT_COLUMNS:
        raise BadRequest(key="catalogue.sort-unknown", params={"sort": query.sort})
    sort_col = _SORT_COLUMNS[key]
    if query.cursor:
        value, last_id = _decode_cursor(query.cursor, query.sort)
        if descending:
            stmt = stmt.where(or_(sort_col < value, and_(sort_col == value, col(Material.id) < last_id)))
        else:
            stmt = stmt.where(or_(sort_col > value, and_(sort_col == value, col(Material.id) > last_id)))
    order = (sort_col.desc(), col(Material.id).desc()) if descending else (sort_col.asc(), col(Material.id).asc())
    rows = list(session.exec(stmt.order_by(*order).limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        value = {"created_at": last.created_at, "title": last.title, "size": last.size_bytes,
                 "duration": last.duration_s if last.duration_s is not None else -1.0}[key]
        next_cursor = _encode_cursor(query.sort, value, last.id)
    return MaterialPage(items=rows, next_cursor=next_cursor)


@dataclass
class LineageNode:
    material: Material
    children: list[LineageNode]


@dataclass
class Lineage:
    ancestors: list[Material]  # nearest parent first, ending at the source footage
    tree: LineageNode  # the material itself and everything derived from it


def lineage(session: Session, material_id: uuid.UUID, *, max_depth: int = 32) -> Lineage:
    material = get_material(session, material_id)
    ancestors: list[Material] = []
    seen = {material.id}
    current = material
    while current.parent_id is not None and len(ancestors) < max_depth:
        parent = session.get(Material, current.parent_id)
        if parent is None or parent.id in seen:
            break
        ancestors.append(parent)
        seen.add(parent.id)
        current = parent

    # Descendants in one recursive query (SQLite and PostgreSQL both support WITH RECURSIVE).
    m = table_of(Material)
    tree_cte = (
        select(m.c.id, m.c.parent_id, literal(0).label("depth")).where(m.c.id == material.id).cte(recursive=True)
    )
    child = aliased(m)
    tree_cte = tree_cte.union_all(
        select(child.c.id, child.c.parent_id, (tree_cte.c.depth + 1).label("depth"))
        .where(child.c.parent_id == tree_cte.c.id, tree_cte.c.depth < max_depth)
    )
    ids = list(session.exec(select(tree_cte.c.id)))
    materials = {x.id: x for x in session.exec(select(Material).where(col(Material.id).in_(ids)))}
    children: dict[uuid.UUID, list[Material]] = {}
    for x in materials.values():
        if x.parent_id is not None and x.id != material.id:
            children.setdefault(x.parent_id, []).append(x)

    def build(node: Material) -> LineageNode:
        kids = sorted(children.get(node.id, []), key=lambda k: (k.created_at, str(k.id)))
        return LineageNode(material=node, children=[build(k) for k in kids])

    return Lineage(ancestors=ancestors, tree=build(material))


def source_of(session: Session, material_id: uuid.UUID) -> Material:
    """The root footage a material was cut from (itself when it has no parent)."""
    found = lineage(session, material_id, max_depth=0)
    return found.ancestors[-1] if found.ancestors else found.tree.material
