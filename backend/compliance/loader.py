"""The report loader: accounts, channels and publications known at an instant, read in bulk (one query per
table, whatever the number of accounts) into the rule engine's inputs; and materials with their source
footage, walking the lineage."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from itertools import repeat
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from backend.catalogue.models import Material
from backend.compliance import rules
from backend.compliance.accounts import channels_of, get_account, list_accounts
from backend.compliance.engine import to_engine_account
from backend.compliance.models import AccountChannel, PlatformAccount, Publication, PublicationStatus

MAX_LINEAGE_DEPTH = 32


@dataclass
class MaterialRef:
    id: uuid.UUID
    title: str
    kind: str


@dataclass(frozen=True, slots=True)
class ApprovalRow:
    """An approval loaded for the report's listing (ids as text, as the database returned them)."""

    publication_id: str
    channel_id: str
    submitted: float
    approved: float
    withdrawn: float | None
    material_id: str
    platform_post_id: str | None
    post_url: str | None
    material_title: str
    material_kind: str
    parent_id: str | None


@dataclass
class Loaded:
    """Accounts and their publications known at as_of, read with one query per table.

    Publications come back as POSIX timestamps computed by the database, straight into the engine's
    `Instants` order: building 200,000 datetimes and objects would cost more than the whole evaluation.
    """

    accounts: list[PlatformAccount]
    channels: dict[uuid.UUID, list[AccountChannel]]
    engine_accounts: dict[uuid.UUID, rules.Account]
    instants: dict[uuid.UUID, list[rules.Instants]]  # plain tuples in Instants' field order (bulk-loaded)
    approvals: dict[uuid.UUID, list[ApprovalRow]]
    # Channels indexed by the database instead (load's `from_instant`): account -> channel -> lists.
    lists: dict[uuid.UUID, dict[str, rules.ChannelLists]] = field(default_factory=dict)


@lru_cache(maxsize=1)
def _sqlite_has_unixepoch() -> bool:
    import sqlite3

    return sqlite3.sqlite_version_info >= (3, 38, 0)


def _sqlite_micros(column: Any) -> Any:
    """SQLite keeps UTCDateTime as 'YYYY-MM-DD HH:MM:SS.ffffff': integer microseconds since the epoch."""
    text = sa.type_coerce(column, sa.String)
    seconds = (
        sa.func.unixepoch(text)
        if _sqlite_has_unixepoch()
        else sa.cast(sa.func.strftime("%s", text), sa.Integer)
    )
    return seconds * 1_000_000 + sa.cast(sa.func.substr(text, 21), sa.Integer)


def _epoch(session: Session, column: Any) -> Any:
    """A UTCDateTime column as seconds since the epoch: the float datetime.timestamp() gives, to the bit
    (an exact decimal or integer microseconds, divided once, as Python does)."""
    if session.get_bind().dialect.name == "postgresql":
        return sa.cast(sa.extract("epoch", column), sa.Float)
    return _sqlite_micros(column) / sa.literal(1_000_000.0, sa.Float)


def _instant_lists(session: Session, columns: Sequence[Any]) -> tuple[list[Any], Any]:
    """Aggregates collecting each timestamp column per group (same row order in every column), and a
    function turning one aggregated value back into a list of floats and Nones.

    The lists line up without an ORDER BY: one aggregation pass hands each row to every aggregate of its
    group at once (a parallel plan's partial states are combined state row by state row, so alike too),
    which is what SQLite's group_concat below relies on as well. An `ORDER BY id` inside each aggregate
    made PostgreSQL sort every group four times and walk the publications by index (4x slower: 0.84 s
    against 0.22 s for 200,000 publications, bench/web_scale.py)."""
    if session.get_bind().dialect.name == "postgresql":
        aggregates: list[Any] = [sa.func.array_agg(_epoch(session, c)) for c in columns]
        return aggregates, lambda values: values
    # SQLite has no arrays: integer microseconds joined by commas ('' for NULL: group_concat drops NULLs).
    aggregates = [
        sa.func.group_concat(sa.func.coalesce(sa.cast(_sqlite_micros(c), sa.Text), ""), ",") for c in columns
    ]

    def parse(text: str) -> list[float | None]:
        return [int(x) / 1_000_000 if x else None for x in text.split(",")]

    return aggregates, parse


def _as_text(session: Session, column: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return sa.cast(column, sa.Text)
    return sa.type_coerce(column, sa.String)


def load(
    session: Session,
    as_of: datetime,
    account_ids: Sequence[uuid.UUID] | None = None,
    *,
    approvals_between: tuple[datetime, datetime] | None = None,
    from_instant: datetime | None = None,
) -> Loaded:
    """Accounts, channels and publications submitted by as_of; with `approvals_between`, also the approvals
    (or submissions) in that window with their ids, material and post, for listing.

    With `from_instant` (PostgreSQL; the status, which asks nothing about earlier months), a channel whose
    approvals no opening threshold reads comes as counts and the instants from then on: each of its lists
    holds a stand-in just before `from_instant` for every earlier instant, so lengths and every bisect at
    or after `from_instant` answer as with the whole history, without moving 200,000 instants."""
    accounts = (
        list_accounts(session) if account_ids is None else [get_account(session, a) for a in account_ids]
    )
    ids = [a.id for a in accounts]
    by_account = channels_of(session, None if account_ids is None else ids)
    engine_accounts = {a.id: to_engine_account(a, by_account.get(a.id, [])) for a in accounts}
    key_of: dict[str, uuid.UUID] = {}
    for a in accounts:  # the text of a UUID differs between SQLite (hex) and PostgreSQL (dashed)
        key_of[a.id.hex] = key_of[str(a.id)] = a.id
    p = Publication.__table__  # type: ignore[attr-defined]
    # One row per account and channel, its publications' instants as lists: a few hundred rows for the
    # driver instead of hundreds of thousands.
    review_ended = sa.func.coalesce(
        p.c.approved_at,
        p.c.rejected_at,
        p.c.withdrawn_at,
        sa.case((p.c.status == PublicationStatus.rejected.value, p.c.submitted_at)),
    )
    lists, parse = _instant_lists(session, [p.c.submitted_at, review_ended, p.c.approved_at, p.c.withdrawn_at])
    stmt = (
        sa.select(_as_text(session, p.c.account_id), p.c.channel_id, *lists)
        .where(p.c.submitted_at <= as_of)
        .group_by(p.c.account_id, p.c.channel_id)
    )
    if account_ids is not None:
        stmt = stmt.where(p.c.account_id.in_(ids))
    instants: dict[uuid.UUID, list[Any]] = {a: [] for a in ids}
    ready: dict[uuid.UUID, dict[str, rules.ChannelLists]] = {}
    if from_instant is not None and session.get_bind().dialect.name == "postgresql":
        # The channels whose earliest approvals decide an opening keep their whole history.
        whole = [
            (a, c)
            for a, engine_account in engine_accounts.items()
            for rule in engine_account.channels
            if rule.opening_threshold
            for c in (rule.requires if rule.threshold_source is rules.ThresholdSource.PREREQUISITES else (rule.id,))
        ]
        ready = _recent_lists(session, as_of, from_instant, account_ids and ids, set(whole), key_of)
        query: Any = stmt.where(sa.tuple_(p.c.account_id, p.c.channel_id).in_(whole)) if whole else None
    else:
        query = stmt
    if query is not None:
        for account, channel, *columns in session.connection().execute(query):
            instants[key_of[account]].extend(zip(repeat(channel), *map(parse, columns), strict=False))
    approvals: dict[uuid.UUID, list[ApprovalRow]] = {a: [] for a in ids}
    if approvals_between is not None:
        lo, hi = approvals_between
        submitted, approved = _epoch(session, p.c.submitted_at), _epoch(session, p.c.approved_at)
        m = Material.__table__  # type: ignore[attr-defined]
        window = (
            sa.select(
                _as_text(session, p.c.account_id),
                _as_text(session, p.c.id),
                p.c.channel_id,
                submitted,
                approved,
                _epoch(session, p.c.withdrawn_at),
                _as_text(session, p.c.material_id),
                p.c.platform_post_id,
                p.c.post_url,
                m.c.title,
                m.c.kind,
                _as_text(session, m.c.parent_id),
            )
            .join(m, m.c.id == p.c.material_id)
            .where(
                p.c.submitted_at <= as_of,
                p.c.approved_at.is_not(None),
                sa.or_(
                    sa.and_(p.c.approved_at >= lo, p.c.approved_at < hi),
                    sa.and_(p.c.submitted_at >= lo, p.c.submitted_at < hi),
                ),
            )
        )
        if account_ids is not None:
            window = window.where(p.c.account_id.in_(ids))
        for account, *row in session.connection().execute(window):
            approvals[key_of[account]].append(ApprovalRow(*row))
    return Loaded(accounts, by_account, engine_accounts, instants, approvals, ready)


def _recent_lists(
    session: Session,
    as_of: datetime,
    from_instant: datetime,
    account_ids: Sequence[uuid.UUID] | None,
    whole: set[tuple[uuid.UUID, str]],
    key_of: dict[str, uuid.UUID],
) -> dict[uuid.UUID, dict[str, rules.ChannelLists]]:
    """Per account and channel (but those in `whole`): the ledger's lists at as_of as counts and the
    instants from `from_instant` on, one grouped query (PostgreSQL), the ledger's own filters in SQL on the
    same float instants it compares."""
    p = Publication.__table__  # type: ignore[attr-defined]
    stand_in = from_instant.timestamp() - 1.0
    # The filters compare the timestamps themselves (cheap), the instants are computed only for the rows
    # listed: a microsecond timestamp and its float instant order alike (floats near 2e9 s are 0.24 us apart).
    review_ended = sa.func.coalesce(
        p.c.approved_at,
        p.c.rejected_at,
        p.c.withdrawn_at,
        sa.case((p.c.status == PublicationStatus.rejected.value, p.c.submitted_at)),
    )
    s, e, a = _epoch(session, p.c.submitted_at), _epoch(session, review_ended), _epoch(session, p.c.approved_at)
    ended = sa.and_(review_ended.is_not(None), review_ended <= as_of)
    pending = sa.or_(review_ended.is_(None), review_ended > as_of)
    approved = sa.and_(
        p.c.approved_at.is_not(None),
        p.c.approved_at <= as_of,
        sa.or_(p.c.withdrawn_at.is_(None), p.c.withdrawn_at > as_of),
    )
    count = sa.func.count()
    stmt = (
        sa.select(
            _as_text(session, p.c.account_id),
            p.c.channel_id,
            count,
            count.filter(ended),
            count.filter(pending),
            count.filter(approved),
            sa.func.array_agg(s).filter(p.c.submitted_at >= from_instant),
            sa.func.array_agg(e).filter(sa.and_(ended, review_ended >= from_instant)),
            sa.func.array_agg(s).filter(sa.and_(pending, p.c.submitted_at >= from_instant)),
            sa.func.array_agg(a).filter(sa.and_(approved, p.c.approved_at >= from_instant)),
            sa.func.array_agg(s).filter(sa.and_(approved, p.c.submitted_at >= from_instant)),
        )
        .where(p.c.submitted_at <= as_of)
        .group_by(p.c.account_id, p.c.channel_id)
    )
    if account_ids is not None:
        stmt = stmt.where(p.c.account_id.in_(account_ids))

    def padded(n: int, recent: list[float] | None) -> list[float]:
        recent = recent or []
        return [stand_in] * (n - len(recent)) + sorted(recent)

    out: dict[uuid.UUID, dict[str, rules.ChannelLists]] = {}
    for account, channel, n, n_ended, n_pending, n_approved, *recent in session.connection().execute(stmt):
        key = key_of[account]
        if (key, channel) in whole:
            continue
        sub, end, pend, appr, appr_sub = recent
        out.setdefault(key, {})[channel] = rules.ChannelLists(
            padded(n, sub),
            padded(n_ended, end),
            padded(n_pending, pend),
            padded(n_approved, appr),
            padded(n_approved, appr_sub),
        )
    return out



def chunks(items: Sequence[Any], size: int = 2000) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def materials_with_sources(
    session: Session, material_ids: Iterable[uuid.UUID]
) -> tuple[dict[uuid.UUID, MaterialRef], dict[uuid.UUID, MaterialRef]]:
    """Each material and its root footage (the live stream it was cut from), walking up the lineage one
    generation per query: the queries read each ancestor once, however many materials share it."""
    m = Material.__table__  # type: ignore[attr-defined]
    nodes: dict[uuid.UUID, tuple[uuid.UUID | None, MaterialRef]] = {}
    wanted = set(material_ids)
    todo = sorted(wanted, key=str)
    for _ in range(MAX_LINEAGE_DEPTH + 1):
        if not todo:
            break
        parents: set[uuid.UUID] = set()
        for chunk in chunks(todo):
            stmt = sa.select(
                _as_text(session, m.c.id), _as_text(session, m.c.parent_id), m.c.title, m.c.kind
            ).where(m.c.id.in_(chunk))
            for mid, parent, title, kind in session.connection().execute(stmt):
                key = uuid.UUID(mid)
                parent_id = uuid.UUID(parent) if parent else None
                nodes[key] = (parent_id, MaterialRef(key, title, kind))
                if parent_id is not None and parent_id not in nodes:
                    parents.add(parent_id)
        todo = sorted(parents - nodes.keys(), key=str)
    roots: dict[uuid.UUID, MaterialRef] = {}

    def root(mid: uuid.UUID) -> MaterialRef:
        path: list[uuid.UUID] = []
        current = mid
        while current not in roots:
            parent, ref = nodes[current]
            path.append(current)
            if parent is None or parent not in nodes or parent in path or len(path) > MAX_LINEAGE_DEPTH:
                roots[current] = ref
                break
            current = parent
        found = roots[current]
        for seen in path:
            roots[seen] = found
        return found

    refs = {mid: nodes[mid][1] for mid in wanted if mid in nodes}
    return refs, {mid: root(mid) for mid in refs}

