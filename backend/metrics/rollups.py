"""Rollups of metric snapshots: by material, source footage (through lineage), tag, tag category,
platform, account, channel, preset, month or day; ranked and filtered leaderboards; ROI.

Every figure is a SUM of snapshot gains (see `MetricSnapshot`), so a window of capture dates sums
what was gained in it, and an open window sums each post's total. Money is summed in one currency
at a time (snapshots in other currencies add nothing to money columns).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import String, and_, case, cast, func, literal, select
from sqlalchemy.orm import aliased
from sqlalchemy.sql import ColumnElement, Select
from sqlmodel import Session

from backend import errors
from backend.catalogue.models import Material, MaterialTag, Tag
from backend.compliance.models import PlatformAccount, Publication
from backend.metrics.models import MetricSnapshot
from backend.sqltypes import table_of

GroupBy = Literal["material", "source", "tag", "tag_category", "platform", "account", "channel", "preset",
                  "month", "day"]
GROUPS: tuple[str, ...] = GroupBy.__args__  # type: ignore[attr-defined]
COUNTS = ("views", "likes", "comments", "shares", "favourites", "followers_gained", "clicks", "add_to_cart",
          "orders")
ORDERABLE = (*COUNTS, "gmv", "ad_spend", "roi", "publications", "engagement")
# Groups made of whole materials can carry their production cost; platform-side groups cannot
# (one material is published on many channels), so their ROI counts ad spend only.
MATERIAL_GROUPS = {"material", "source", "tag", "tag_category", "preset"}


@dataclass
class RollupFilters:
    start: datetime | None = None  # captured_at >= start
    end: datetime | None = None  # captured_at < end
    platform: str | None = None
    account_id: uuid.UUID | None = None
    channel_id: str | None = None
    preset_id: str | None = None
    tag_ids: list[int] = field(default_factory=list)  # see `tag_ids_of` for 'category:name' references
    category: str | None = None
    source_id: uuid.UUID | None = None  # only this material and everything derived from it
    material_id: uuid.UUID | None = None
    currency: str = "CNY"
    zone: str = "Asia/Shanghai"


@dataclass
class RollupRow:
    key: str
    label: str
    publications: int
    materials: int
    views: int
    likes: int
    comments: int
    shares: int
    favourites: int
    followers_gained: int
    clicks: int
    add_to_cart: int
    orders: int
    gmv: float
    ad_spend: float
    currency: str
    avg_watch_seconds: float | None
    production_cost: float | None
    cost: float | None
    cost_basis: str
    roi: float | None

    @property
    def engagement(self) -> int:
        return self.likes + self.comments + self.shares + self.favourites

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["engagement"] = self.engagement
        return out


def month_window(month: str, zone: str) -> tuple[datetime, datetime]:
    """'2026-11' -> [start, end) in UTC for that calendar month in `zone`."""
    try:
        y, m = (int(x) for x in month.split("-"))
        first = date(y, m, 1)
    except ValueError:
        raise errors.BadRequest(key="metrics.month-malformed", params={"month": month}) from None
    nxt = date(y + (m == 12), m % 12 + 1, 1)
    tz = ZoneInfo(zone)
    return (datetime.combine(first, time(), tz).astimezone(UTC), datetime.combine(nxt, time(), tz).astimezone(UTC))


def _lineage_cte(root_id: uuid.UUID | None):
    """(material id, its root source id) for every material, or for one source's tree."""
    m = table_of(Material)
    anchor = select(m.c.id.label("id"), m.c.id.label("root_id"))
    anchor = anchor.where(m.c.id == root_id) if root_id is not None else anchor.where(m.c.parent_id.is_(None))
    tree = anchor.cte("lineage", recursive=True)
    child = aliased(m)
    return tree.union_all(select(child.c.id, tree.c.root_id).where(child.c.parent_id == tree.c.id))


def _period_expr(session: Session, column: ColumnElement[Any], fmt: Literal["month", "day"], zone: str) -> ColumnElement[str]:
    if session.get_bind().dialect.name == "postgresql":
        pattern = "YYYY-MM" if fmt == "month" else "YYYY-MM-DD"
        return func.to_char(func.timezone(zone, column), pattern)
    # SQLite stores UTC; shift by the zone's current offset (exact for zones without DST, e.g. China).
    offset = datetime.now(ZoneInfo(zone)).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset else 0
    return func.strftime("%Y-%m" if fmt == "month" else "%Y-%m-%d", column, f"{minutes:+d} minutes")


def _base(session: Session, by: str, f: RollupFilters) -> tuple[Select[Any], ColumnElement[Any], ColumnElement[Any]]:
    """FROM/WHERE shared by the figures and the cost queries, with the group key and its label."""
    s, p, m, a = table_of(MetricSnapshot), table_of(Publication), table_of(Material), table_of(PlatformAccount)
    join = s.join(p, p.c.id == s.c.publication_id).join(m, m.c.id == p.c.material_id)
    if by in ("platform", "account", "channel") or f.platform:
        join = join.join(a, a.c.id == p.c.account_id)
    key: ColumnElement[Any]
    label: ColumnElement[Any]
    # UUID keys are grouped as UUIDs (cheaper than text) and shown as text by `_public_key`.
    if by == "material":
        key, label = m.c.id, m.c.title
    elif by == "source":
        tree = _lineage_cte(f.source_id)
        root = aliased(m, name="root")
        join = join.join(tree, tree.c.id == m.c.id).join(root, root.c.id == tree.c.root_id)
        key, label = root.c.id, root.c.title
    elif by == "tag":
        mt, t = table_of(MaterialTag), table_of(Tag)
        join = join.join(mt, mt.c.material_id == m.c.id).join(t, t.c.id == mt.c.tag_id)
        key = t.c.id
        label = func.coalesce(t.c.name_zh, t.c.name_en, "") + literal(" (") + t.c.category + literal(")")
    elif by == "tag_category":
        mt, t = table_of(MaterialTag), table_of(Tag)
        per_material = (select(mt.c.material_id, t.c.category).join(t, t.c.id == mt.c.tag_id).distinct()
                        .subquery("material_category"))
        join = join.join(per_material, per_material.c.material_id == m.c.id)
        key = label = per_material.c.category
    elif by == "platform":
        key = label = a.c.platform_id
    elif by == "account":
        key, label = a.c.id, a.c.platform_id + literal(" / ") + a.c.name
    elif by == "channel":
        key = a.c.platform_id + literal(":") + cast(a.c.id, String) + literal(":") + p.c.channel_id
        label = a.c.name + literal(" / ") + p.c.channel_id
    elif by == "preset":
        key = label = func.coalesce(m.c.preset_id, "(original)")
    elif by in ("month", "day"):
        key = label = _period_expr(session, s.c.captured_at, by, f.zone)  # type: ignore[arg-type]
    else:
        raise errors.BadRequest(key="metrics.group-unknown", params={"by": by, "known": ", ".join(GROUPS)})

    conds: list[ColumnElement[bool]] = []
    if f.start is not None:
        conds.append(s.c.captured_at >= f.start)
    if f.end is not None:
        conds.append(s.c.captured_at < f.end)
    if f.platform:
        conds.append(a.c.platform_id == f.platform)
    if f.account_id:
        conds.append(p.c.account_id == f.account_id)
    if f.channel_id:
        conds.append(p.c.channel_id == f.channel_id)
    if f.preset_id:
        conds.append(m.c.preset_id == f.preset_id)
    if f.material_id:
        conds.append(m.c.id == f.material_id)
    if f.tag_ids:
        mt = table_of(MaterialTag)
        conds.append(m.c.id.in_(select(mt.c.material_id).where(mt.c.tag_id.in_(f.tag_ids))))
    if f.category:
        mt, t = table_of(MaterialTag), table_of(Tag)
        conds.append(m.c.id.in_(select(mt.c.material_id).join(t, t.c.id == mt.c.tag_id).where(t.c.category == f.category)))
    if f.source_id and by != "source":
        tree = _lineage_cte(f.source_id)
        conds.append(m.c.id.in_(select(tree.c.id)))
    stmt = select().select_from(join)
    if conds:
        stmt = stmt.where(and_(*conds))
    return stmt, key, label


def tag_ids_of(session: Session, refs: list[str]) -> list[int]:
    """Filter tags as uploads name them: a tag id or 'category:name' (English or Chinese name).
    An unknown tag is a 404 rather than an empty report, so a typo does not pass for 'no figures'."""
    from backend.catalogue.tags import resolve_tag_refs

    return [t.id for t in resolve_tag_refs(session, refs, create=False) if t.id is not None]


def _public_key(by: str, key: Any) -> str:
    # SQLite keeps UUIDs as 32 hex digits; show the usual dashed form everywhere.
    return str(uuid.UUID(str(key))) if by in ("material", "source", "account") else str(key)


def rollup(
    session: Session, by: str, filters: RollupFilters | None = None, *, order_by: str = "views",
    limit: int | None = 50, descending: bool = True,
) -> list[RollupRow]:
    f = filters or RollupFilters()
    if order_by not in ORDERABLE:
        raise errors.BadRequest(key="metrics.order-unknown", params={"by": order_by, "known": ", ".join(ORDERABLE)})
    s, p = table_of(MetricSnapshot), table_of(Publication)
    base, key, label = _base(session, by, f)

    def money(col: str) -> ColumnElement[Any]:
        return func.coalesce(func.sum(case((s.c.currency == f.currency, s.c[col]), else_=0)), 0)

    figures = [func.coalesce(func.sum(s.c[f"{c}_gain"]), 0).label(c) for c in COUNTS]
    watch_weight = func.sum(case((s.c.avg_watch_seconds.is_not(None), s.c.views_gain), else_=0))
    stmt = base.add_columns(
        key.label("key"), func.min(label).label("label"),
        func.count(func.distinct(p.c.id)).label("publications"),
        func.count(func.distinct(p.c.material_id)).label("materials"),
        *figures,
        money("gmv_cents_gain").label("gmv"), money("ad_spend_cents_gain").label("ad_spend"),
        (func.sum(s.c.avg_watch_seconds * s.c.views_gain) / func.nullif(watch_weight, 0)).label("avg_watch"),
        func.min(table_of(Material).c.production_cost).label("own_cost"),
    ).group_by(key)
    if by in ("month", "day"):
        stmt = stmt.order_by(key)  # a time series reads in time order
        if limit is not None:
            stmt = stmt.limit(limit)
    elif order_by in (*COUNTS, "gmv", "ad_spend", "publications") and limit is not None:
        # Rank in SQL when the order is a plain column: the database returns only `limit` rows.
        col = {"gmv": "gmv", "ad_spend": "ad_spend"}.get(order_by, order_by)
        stmt = stmt.order_by(stmt.selected_columns[col].desc() if descending else stmt.selected_columns[col].asc(),
                             key).limit(limit)
    rows = session.execute(stmt).all()

    costs: dict[Any, float | None] = {}
    if by == "material":
        costs = {r.key: (float(r.own_cost) if r.own_cost is not None else None) for r in rows}
    elif by in MATERIAL_GROUPS and rows:
        m = table_of(Material)
        keys = [r.key for r in rows]
        members = (
            base.add_columns(key.label("key"), m.c.id.label("material_id"), m.c.production_cost.label("cost"))
            .where(key.in_(keys)).distinct().subquery()
        )
        cost_rows = session.execute(
            select(members.c.key, func.sum(members.c.cost), func.count(members.c.cost)).group_by(members.c.key)
        )
        costs = {k: (float(total) if n else None) for k, total, n in cost_rows}

    out = []
    for r in rows:
        gmv, ad = float(r.gmv) / 100, float(r.ad_spend) / 100
        production = costs.get(r.key) if by in MATERIAL_GROUPS else None
        cost = (production or 0) + ad
        known = production is not None or ad > 0
        out.append(RollupRow(
            key=_public_key(by, r.key), label=str(r.label or r.key), publications=r.publications, materials=r.materials,
            **{c: int(getattr(r, c)) for c in COUNTS}, gmv=gmv, ad_spend=ad, currency=f.currency,
            avg_watch_seconds=(round(float(r.avg_watch), 2) if r.avg_watch is not None else None),
            production_cost=production, cost=(cost if known else None),
            cost_basis="production+ad_spend" if by in MATERIAL_GROUPS else "ad_spend",
            roi=(round((gmv - cost) / cost, 4) if known and cost > 0 else None),
        ))
    if by not in ("month", "day") and (order_by in ("roi", "engagement") or limit is None):
        def sort_key(row: RollupRow) -> tuple[bool, float]:
            v = row.engagement if order_by == "engagement" else getattr(row, order_by)
            return (v is None, -(v or 0) if descending else (v or 0))

        out.sort(key=sort_key)
        if limit is not None:
            out = out[:limit]
    return out
