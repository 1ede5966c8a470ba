"""Compliance tracking: platform accounts and channels, publications and their reviews, status and reports.

The rules live in `backend.compliance.rules` (pure); this module keeps their inputs in the database, loads
them in bulk (one query per table, whatever the number of accounts) and asks the engine.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from itertools import repeat
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from backend.catalogue.models import Material, MaterialKind, MaterialStatus
from backend.changes import apply_changes
from backend.compliance import rules
from backend.compliance.models import (
    AccountChannel,
    ManualState,
    PlatformAccount,
    Publication,
    PublicationEvent,
    PublicationStatus,
)
from backend.errors import (
    AccountInUse,
    BadRequest,
    ChannelRulesInvalid,
    Conflict,
    DuplicatePostId,
    InvalidTransition,
    NotFound,
    PublicationDatesOutOfOrder,
    PublicationNotSubmitted,
    ReportPeriodInvalid,
    UnknownChannel,
    UnknownMaterial,
    UnknownPlatform,
    ValidationFailed,
)
from backend.platforms.service import get_catalog
from backend.sqltypes import utcnow
from presets.schema import Platform

# Clocks differ a little between a phone, the platform and this server: a date this far ahead still counts
# as "now"; anything later is refused as a date in the future.
CLOCK_SKEW = timedelta(minutes=5)
MAX_LINEAGE_DEPTH = 32
FILLER_POOL = 500  # newest ready derived materials considered as gap fillers

RULE_FIELDS = (
    "opening_threshold",
    "monthly_minimum",
    "daily_cap",
    "monthly_cap",
    "count_by",
    "threshold_source",
    "opening_month",
    "requires",
)


# --- presets ------------------------------------------------------------------------------------------


def platform(platform_id: str) -> Platform:
    try:
        return get_catalog().platform(platform_id)
    except KeyError:
        known = ", ".join(p.id for p in get_catalog().platforms)
        raise UnknownPlatform(f"no platform {platform_id!r}; known: {known}") from None


# --- accounts and channels ----------------------------------------------------------------------------


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(f"unknown timezone {name!r}; use an IANA name such as Asia/Shanghai") from None


def create_account(
    session: Session,
    *,
    platform_id: str,
    name: str,
    store_id: str | None = None,
    store_url: str | None = None,
    timezone: str = "Asia/Shanghai",
    approval_rate: float | None = None,
) -> PlatformAccount:
    """A new account with one channel per channel rule of its platform."""
    found = platform(platform_id)
    _zone(timezone)
    account = PlatformAccount(
        platform_id=platform_id,
        name=name,
        store_id=store_id,
        store_url=store_url,
        timezone=timezone,
        approval_rate=approval_rate,
    )
    session.add(account)
    session.flush()
    for position, rule in enumerate(found.channels):
        session.add(
            AccountChannel(account_id=account.id, channel_id=rule.id, position=position, **_rule_values(rule))
        )
    session.flush()
    return account


def _rule_values(rule: Any) -> dict[str, Any]:
    return {
        "name_zh": rule.name.zh,
        "name_en": rule.name.en,
        "requires": list(rule.requires),
        "opening_threshold": rule.opening_threshold,
        "monthly_minimum": rule.monthly_minimum or 0,
        "daily_cap": rule.daily_cap,
        "monthly_cap": rule.monthly_cap,
        "count_by": rule.count_by,
        "threshold_source": rule.threshold_source,
        "opening_month": rule.opening_month,
    }


def get_account(session: Session, account_id: uuid.UUID) -> PlatformAccount:
    account = session.get(PlatformAccount, account_id)
    if account is None:
        raise NotFound(f"account {account_id} not found")
    return account


def list_accounts(session: Session, platform_id: str | None = None) -> list[PlatformAccount]:
    stmt = select(PlatformAccount).order_by(
        PlatformAccount.platform_id, PlatformAccount.created_at, PlatformAccount.id
    )
    if platform_id:
        stmt = stmt.where(PlatformAccount.platform_id == platform_id)
    return list(session.exec(stmt))


def update_account(session: Session, account_id: uuid.UUID, changes: dict[str, Any]) -> PlatformAccount:
    account = get_account(session, account_id)
    apply_changes(account, changes, {"name", "store_id", "store_url", "timezone", "approval_rate"})
    _zone(account.timezone)
    session.add(account)
    session.flush()
    return account


def delete_account(session: Session, account_id: uuid.UUID) -> None:
    account = get_account(session, account_id)
    used = session.exec(
        select(sa.func.count()).select_from(Publication).where(Publication.account_id == account_id)
    ).one()
    if used:
        raise AccountInUse(f"account {account_id} has {used} publications; their history would be lost")
    session.delete(account)
    session.flush()


def channels_of(
    session: Session, account_ids: Sequence[uuid.UUID] | None = None
) -> dict[uuid.UUID, list[AccountChannel]]:
    stmt = select(AccountChannel).order_by(
        AccountChannel.account_id, AccountChannel.position, AccountChannel.id
    )
    if account_ids is not None:
        stmt = stmt.where(col(AccountChannel.account_id).in_(list(account_ids)))
    out: dict[uuid.UUID, list[AccountChannel]] = {a: [] for a in account_ids or ()}
    for channel in session.exec(stmt):
        out.setdefault(channel.account_id, []).append(channel)
    return out


def get_channel(session: Session, account_id: uuid.UUID, channel_id: str) -> AccountChannel:
    get_account(session, account_id)
    channel = session.exec(
        select(AccountChannel).where(
            AccountChannel.account_id == account_id, AccountChannel.channel_id == channel_id
        )
    ).first()
    if channel is None:
        raise NotFound(f"account {account_id} has no channel {channel_id!r}")
    return channel


def _check_rules(session: Session, account: PlatformAccount) -> None:
    """Build the engine's account from what is flushed: refuses cycles, unknown prerequisites and the like."""
    session.flush()
    try:
        to_engine_account(account, channels_of(session, [account.id])[account.id])
    except ValueError as exc:
        raise ChannelRulesInvalid(str(exc)) from exc


def add_channel(
    session: Session, account_id: uuid.UUID, channel_id: str, values: dict[str, Any]
) -> AccountChannel:
    """A channel the platform's rules do not list (a pilot programme, a channel reelhouse does not ship)."""
    account = get_account(session, account_id)
    existing = channels_of(session, [account_id])[account_id]
    if any(c.channel_id == channel_id for c in existing):
        raise Conflict(f"account {account_id} already has channel {channel_id!r}")
    channel = AccountChannel(
        account_id=account_id,
        channel_id=channel_id,
        position=len(existing),
        from_platform_rules=False,
        **values,
    )
    session.add(channel)
    _check_rules(session, account)
    return channel


def update_channel(
    session: Session, account_id: uuid.UUID, channel_id: str, changes: dict[str, Any]
) -> AccountChannel:
    """Override the channel's rules for this account, or record what the platform decided by hand."""
    channel = get_channel(session, account_id, channel_id)
    overridden = set(channel.overridden)
    for key, value in changes.items():
        if key in RULE_FIELDS or key in {"name_zh", "name_en"}:
            setattr(channel, key, list(value) if key == "requires" else value)
            if key in RULE_FIELDS:
                overridden.add(key)
        elif key in {"manual_state", "manual_effective_on", "manual_reason"}:
            setattr(channel, key, value)
        else:
            raise BadRequest(f"field {key!r} cannot be changed")
    if channel.manual_state is None:
        channel.manual_effective_on = None
        channel.manual_reason = None
    elif not (channel.manual_reason or "").strip():
        raise ChannelRulesInvalid("a manual open or close needs a reason (what the platform said)")
    elif channel.manual_state == ManualState.open and channel.manual_effective_on is None:
        raise ChannelRulesInvalid("opening a channel by hand needs the date the platform opened it")
    channel.overridden = sorted(overridden)
    channel.updated_at = utcnow()
    session.add(channel)
    _check_rules(session, get_account(session, account_id))
    return channel


def reset_channel(session: Session, account_id: uuid.UUID, channel_id: str) -> AccountChannel:
    """Drop the account's rule overrides: back to the platform's rules (manual state is kept)."""
    channel = get_channel(session, account_id, channel_id)
    account = get_account(session, account_id)
    if not channel.from_platform_rules:
        raise Conflict(f"channel {channel_id!r} was added by hand; there are no platform rules to go back to")
    try:
        rule = platform(account.platform_id).channel(channel_id)
    except KeyError:
        raise Conflict(f"platform {account.platform_id!r} no longer lists channel {channel_id!r}") from None
    for key, value in _rule_values(rule).items():
        setattr(channel, key, value)
    channel.overridden = []
    channel.updated_at = utcnow()
    session.add(channel)
    _check_rules(session, account)
    return channel


def delete_channel(session: Session, account_id: uuid.UUID, channel_id: str) -> None:
    channel = get_channel(session, account_id, channel_id)
    used = session.exec(
        select(sa.func.count())
        .select_from(Publication)
        .where(Publication.account_id == account_id, Publication.channel_id == channel_id)
    ).one()
    if used:
        raise Conflict(f"channel {channel_id!r} has {used} publications; their history would be lost")
    session.delete(channel)
    _check_rules(session, get_account(session, account_id))


# --- publications ------------------------------------------------------------------------------------


@dataclass
class PublicationInput:
    material_id: uuid.UUID
    account_id: uuid.UUID
    channel_id: str
    submitted_at: datetime | None = None
    platform_post_id: str | None = None
    post_url: str | None = None
    status: PublicationStatus = PublicationStatus.pending
    approved_at: datetime | None = None
    rejected_at: datetime | None = None
    rejection_reason: str | None = None
    withdrawn_at: datetime | None = None
    note: str = ""


def _aware(name: str, value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValidationFailed(f"{name} needs a timezone (e.g. 2026-11-30T23:30:00+08:00)")
    return value


def _not_future(name: str, value: datetime | None, now: datetime) -> None:
    if value is not None and value > now + CLOCK_SKEW:
        raise PublicationDatesOutOfOrder(f"{name} {value.isoformat()} is in the future")


def _check_engine(pub: Publication) -> None:
    """The engine's own checks on a publication's history, as a last line (messages name the dates)."""
    try:
        to_engine_publication(pub)
    except ValueError as exc:
        raise PublicationDatesOutOfOrder(str(exc)) from exc


def _flush_publication(session: Session, pub: Publication) -> None:
    if pub.platform_post_id:
        with session.no_autoflush:
            clash = session.exec(
                select(Publication.id).where(
                    Publication.account_id == pub.account_id,
                    Publication.platform_post_id == pub.platform_post_id,
                    Publication.id != pub.id,
                )
            ).first()
        if clash is not None:
            raise DuplicatePostId(
                f"post id {pub.platform_post_id!r} is already recorded for this account ({clash})",
                publication_id=str(clash),
            )
    session.add(pub)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:  # a concurrent request recorded the same post id
        raise DuplicatePostId(
            f"post id {pub.platform_post_id!r} is already recorded for this account"
        ) from exc


def _event(
    session: Session,
    pub: Publication,
    from_status: str | None,
    actor: uuid.UUID | None,
    note: str,
    effective_at: datetime | None,
) -> None:
    session.add(
        PublicationEvent(
            publication_id=pub.id,
            actor_key_id=actor,
            from_status=from_status,
            to_status=pub.status,
            note=note,
            effective_at=effective_at,
        )
    )


def record_publication(
    session: Session, data: PublicationInput, actor: uuid.UUID | None = None
) -> Publication:
    """Record a submission (pending), or import one already reviewed with its dates."""
    now = utcnow()
    for name in ("submitted_at", "approved_at", "rejected_at", "withdrawn_at"):
        _aware(name, getattr(data, name))
        _not_future(name, getattr(data, name), now)
    status = PublicationStatus(data.status)
    reviewed = data.approved_at or data.rejected_at or data.withdrawn_at
    if data.submitted_at is None:
        if status != PublicationStatus.pending or reviewed:
            raise PublicationNotSubmitted(
                f"a publication recorded as {status} needs submitted_at: nothing is reviewed unsubmitted"
            )
        data.submitted_at = now
    if status == PublicationStatus.approved and data.approved_at is None:
        raise PublicationDatesOutOfOrder("an approved publication needs approved_at")
    if status == PublicationStatus.withdrawn and data.withdrawn_at is None:
        raise PublicationDatesOutOfOrder("a withdrawn publication needs withdrawn_at")
    if status == PublicationStatus.rejected and data.rejected_at is None:
        data.rejected_at = data.submitted_at if not reviewed else data.rejected_at
    get_account(session, data.account_id)
    channel = session.exec(
        select(AccountChannel.id).where(
            AccountChannel.account_id == data.account_id, AccountChannel.channel_id == data.channel_id
        )
    ).first()
    if channel is None:
        raise UnknownChannel(f"account {data.account_id} has no channel {data.channel_id!r}")
    material = session.get(Material, data.material_id)
    if material is None:
        raise UnknownMaterial(f"material {data.material_id} does not exist")
    if material.status == MaterialStatus.deleted:
        raise UnknownMaterial(f"material {data.material_id} is deleted; restore it before publishing it")
    pub = Publication(
        material_id=data.material_id,
        account_id=data.account_id,
        channel_id=data.channel_id,
        submitted_at=data.submitted_at,
        platform_post_id=data.platform_post_id or None,
        post_url=data.post_url,
        status=status,
        approved_at=data.approved_at,
        rejected_at=data.rejected_at,
        rejection_reason=data.rejection_reason,
        withdrawn_at=data.withdrawn_at,
        created_by=actor,
    )
    _check_engine(pub)
    _flush_publication(session, pub)
    _event(session, pub, None, actor, data.note or "recorded", reviewed or pub.submitted_at)
    session.flush()
    return pub


def get_publication(session: Session, publication_id: uuid.UUID) -> Publication:
    pub = session.get(Publication, publication_id)
    if pub is None:
        raise NotFound(f"publication {publication_id} not found")
    return pub


_TRANSITIONS: dict[str, tuple[set[PublicationStatus], PublicationStatus]] = {
    "approve": ({PublicationStatus.pending}, PublicationStatus.approved),
    "reject": ({PublicationStatus.pending}, PublicationStatus.rejected),
    "withdraw": ({PublicationStatus.pending, PublicationStatus.approved}, PublicationStatus.withdrawn),
}


def transition(
    session: Session,
    publication_id: uuid.UUID,
    action: str,
    *,
    at: datetime | None = None,
    reason: str | None = None,
    note: str = "",
    actor: uuid.UUID | None = None,
) -> Publication:
    """approve / reject / withdraw a publication, recording the change in its audit trail."""
    if action not in _TRANSITIONS:
        raise BadRequest(f"unknown action {action!r}; use approve, reject, withdraw or resubmit")
    pub = get_publication(session, publication_id)
    allowed, target = _TRANSITIONS[action]
    if pub.status not in allowed:
        raise InvalidTransition(
            f"cannot {action} a publication that is {pub.status}"
            + (
                "; resubmit it as a new publication instead"
                if pub.status == PublicationStatus.rejected
                else ""
            ),
            current_status=str(pub.status),
        )
    now = utcnow()
    at = _aware("at", at) or now
    _not_future("at", at, now)
    previous = pub.approved_at or pub.submitted_at
    if at < previous:
        what = "approval" if pub.approved_at else "submission"
        raise PublicationDatesOutOfOrder(
            f"{action} at {at.isoformat()} is before the {what} at {previous.isoformat()}"
        )
    if action == "reject" and not (reason or "").strip():
        raise ValidationFailed("a rejection needs the platform's reason")
    from_status = pub.status
    pub.status = target
    if target == PublicationStatus.approved:
        pub.approved_at = at
    elif target == PublicationStatus.rejected:
        pub.rejected_at, pub.rejection_reason = at, reason
    else:
        pub.withdrawn_at = at
    pub.updated_at = now
    _check_engine(pub)
    session.add(pub)
    _event(session, pub, from_status, actor, note or (reason or ""), at)
    session.flush()
    return pub


def resubmit(
    session: Session,
    publication_id: uuid.UUID,
    *,
    submitted_at: datetime | None = None,
    platform_post_id: str | None = None,
    post_url: str | None = None,
    note: str = "",
    actor: uuid.UUID | None = None,
) -> Publication:
    """Submit a rejected or withdrawn publication's material again: a new publication, linked to the old."""
    old = get_publication(session, publication_id)
    if old.status not in (PublicationStatus.rejected, PublicationStatus.withdrawn):
        raise InvalidTransition(
            f"only rejected or withdrawn publications are resubmitted; this one is {old.status}",
            current_status=str(old.status),
        )
    ended = old.rejected_at or old.withdrawn_at or old.submitted_at
    at = _aware("submitted_at", submitted_at) or utcnow()
    if at < ended:
        raise PublicationDatesOutOfOrder(
            f"resubmission at {at.isoformat()} is before the review ended at {ended.isoformat()}"
        )
    new = record_publication(
        session,
        PublicationInput(
            material_id=old.material_id,
            account_id=old.account_id,
            channel_id=old.channel_id,
            submitted_at=at,
            platform_post_id=platform_post_id,
            post_url=post_url,
            note=note or f"resubmission of {old.id}",
        ),
        actor,
    )
    new.resubmission_of = old.id
    session.add(new)
    session.flush()
    return new


def update_publication(session: Session, publication_id: uuid.UUID, changes: dict[str, Any]) -> Publication:
    """Fill in what the platform gave later: the post id and URL (statuses change through transitions)."""
    pub = get_publication(session, publication_id)
    apply_changes(pub, {key: value or None for key, value in changes.items()}, {"platform_post_id", "post_url"},
                  hint="use the approve/reject/withdraw actions")
    _flush_publication(session, pub)
    return pub


@dataclass
class PublicationQuery:
    account_id: uuid.UUID | None = None
    channel_id: str | None = None
    status: PublicationStatus | None = None
    material_id: uuid.UUID | None = None
    submitted_from: datetime | None = None
    submitted_before: datetime | None = None
    limit: int = 100
    offset: int = 0


def list_publications(session: Session, query: PublicationQuery) -> list[Publication]:
    stmt = select(Publication)
    if query.account_id:
        stmt = stmt.where(Publication.account_id == query.account_id)
    if query.channel_id:
        stmt = stmt.where(Publication.channel_id == query.channel_id)
    if query.status:
        stmt = stmt.where(Publication.status == query.status)
    if query.material_id:
        stmt = stmt.where(Publication.material_id == query.material_id)
    if query.submitted_from:
        stmt = stmt.where(Publication.submitted_at >= query.submitted_from)
    if query.submitted_before:
        stmt = stmt.where(Publication.submitted_at < query.submitted_before)
    stmt = (
        stmt.order_by(col(Publication.submitted_at).desc(), Publication.id)
        .offset(query.offset)
        .limit(query.limit)
    )
    return list(session.exec(stmt))


def events_of(
    session: Session, publication_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[PublicationEvent]]:
    ids = list(publication_ids)
    out: dict[uuid.UUID, list[PublicationEvent]] = {i: [] for i in ids}
    if ids:
        stmt = (
            select(PublicationEvent)
            .where(col(PublicationEvent.publication_id).in_(ids))
            .order_by(PublicationEvent.id)
        )
        for event in session.exec(stmt):
            out[event.publication_id].append(event)
    return out


# --- to the engine ------------------------------------------------------------------------------------


def to_engine_account(account: PlatformAccount, channels: Sequence[AccountChannel]) -> rules.Account:
    engine_rules = tuple(
        rules.ChannelRule(
            id=c.channel_id,
            name_zh=c.name_zh,
            name_en=c.name_en,
            requires=tuple(c.requires),
            opening_threshold=c.opening_threshold,
            monthly_minimum=c.monthly_minimum,
            daily_cap=c.daily_cap,
            monthly_cap=c.monthly_cap,
            count_by=rules.CountBy(c.count_by),
            threshold_source=rules.ThresholdSource(c.threshold_source),
            opening_month=rules.OpeningMonthPolicy(c.opening_month),
        )
        for c in channels
    )
    overrides = tuple(
        rules.ManualOverride(
            c.channel_id, rules.OverrideKind(c.manual_state), c.manual_reason or "", c.manual_effective_on
        )
        for c in channels
        if c.manual_state
    )
    return rules.Account(account.id, engine_rules, overrides, ZoneInfo(account.timezone))


def to_engine_publication(pub: Publication) -> rules.Publication:
    return rules.Publication(
        pub.id,
        pub.account_id,
        pub.channel_id,
        pub.submitted_at,
        rules.ReviewStatus(pub.status),
        pub.approved_at,
        pub.rejected_at,
        pub.withdrawn_at,
    )


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
    engine_accounts: dict[uuid.UUID, rules.Account]
    instants: dict[uuid.UUID, list[tuple[str, float, float | None, float | None, float | None]]]
    approvals: dict[uuid.UUID, list[ApprovalRow]]


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


def _instant_lists(session: Session, columns: Sequence[Any], order: Any) -> tuple[list[Any], Any]:
    """Aggregates collecting each timestamp column per group (same row order in every column), and a
    function turning one aggregated value back into a list of floats and Nones."""
    if session.get_bind().dialect.name == "postgresql":
        # Ordered alike, so the n-th element of every list is the same publication, parallel plans included.
        aggregates = [sa.func.array_agg(aggregate_order_by(_epoch(session, c), order)) for c in columns]
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
) -> Loaded:
    """Accounts, channels and publications submitted by as_of; with `approvals_between`, also the approvals
    (or submissions) in that window with their ids, material and post, for listing."""
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
    lists, parse = _instant_lists(
        session, [p.c.submitted_at, review_ended, p.c.approved_at, p.c.withdrawn_at], p.c.id
    )
    stmt = (
        sa.select(_as_text(session, p.c.account_id), p.c.channel_id, *lists)
        .where(p.c.submitted_at <= as_of)
        .group_by(p.c.account_id, p.c.channel_id)
    )
    if account_ids is not None:
        stmt = stmt.where(p.c.account_id.in_(ids))
    instants: dict[uuid.UUID, list[Any]] = {a: [] for a in ids}
    for account, channel, *columns in session.connection().execute(stmt):
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
    return Loaded(accounts, engine_accounts, instants, approvals)


# --- status and the monthly report --------------------------------------------------------------------


@dataclass
class AccountInfo:
    id: uuid.UUID
    name: str
    platform_id: str
    platform_name_zh: str
    platform_name_en: str
    store_id: str | None
    store_url: str | None
    timezone: str


def _info(account: PlatformAccount) -> AccountInfo:
    try:
        found = get_catalog().platform(account.platform_id)
        zh, en = found.name.zh, found.name.en
    except KeyError:
        zh = en = account.platform_id
    return AccountInfo(
        account.id,
        account.name,
        account.platform_id,
        zh,
        en,
        account.store_id,
        account.store_url,
        account.timezone,
    )


@dataclass
class AccountStatusReport:
    account: AccountInfo
    status: rules.AccountStatus


def _rate(account: PlatformAccount) -> float:
    return rules.DEFAULT_APPROVAL_RATE if account.approval_rate is None else account.approval_rate


def _ledger(loaded: Loaded, account: PlatformAccount, as_of: datetime) -> rules.AccountLedger:
    return rules.AccountLedger(
        loaded.engine_accounts[account.id],
        (),
        as_of,
        approval_rate=_rate(account),
        instants=loaded.instants[account.id],
    )


def compliance_status(
    session: Session, as_of: datetime | None = None, account_ids: Sequence[uuid.UUID] | None = None
) -> list[AccountStatusReport]:
    """Where every channel of every account (or of the given ones) stands at as_of (default: now)."""
    as_of = _aware("as_of", as_of) or utcnow()
    loaded = load(session, as_of, account_ids)
    return [AccountStatusReport(_info(a), _ledger(loaded, a, as_of).status()) for a in loaded.accounts]


@dataclass
class MaterialRef:
    id: uuid.UUID
    title: str
    kind: str


@dataclass
class ApprovedPublication:
    publication_id: uuid.UUID
    channel_id: str
    counted_at: datetime  # in the account's timezone
    material: MaterialRef
    source: MaterialRef  # the root footage (the live stream) it was cut from
    platform_post_id: str | None
    post_url: str | None


@dataclass
class GapFiller:
    channel_id: str
    material: MaterialRef
    preset_id: str | None
    source: MaterialRef


@dataclass
class AccountMonthReport:
    account: AccountInfo
    month: rules.AccountMonth | None  # None when the month has not started in the account's timezone
    approved: list[ApprovedPublication] = field(default_factory=list)
    fillers: list[GapFiller] = field(default_factory=list)


@dataclass
class MonthlyReport:
    month: rules.YearMonth
    as_of: datetime
    generated_at: datetime
    accounts: list[AccountMonthReport]

    def status_counts(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for a in self.accounts:
            for c in a.month.channels if a.month else ():
                counts[str(c.quota.status)] += 1
        return dict(counts)

    def channels_with(self, *statuses: rules.QuotaStatus) -> list[tuple[AccountInfo, rules.ChannelMonth]]:
        return [
            (a.account, c)
            for a in self.accounts
            for c in (a.month.channels if a.month else ())
            if c.quota.status in statuses
        ]


def parse_month(text: str) -> rules.YearMonth:
    try:
        return rules.YearMonth.parse(text)
    except ValueError as exc:
        raise ReportPeriodInvalid(str(exc)) from exc


def monthly_report(
    session: Session,
    month: rules.YearMonth | str,
    as_of: datetime | None = None,
    account_ids: Sequence[uuid.UUID] | None = None,
) -> MonthlyReport:
    """Every account's month as known at as_of (default: now): quotas, daily progress, approved materials
    with their source footage, and ready derived materials not yet published that could fill the gaps."""
    month = month if isinstance(month, rules.YearMonth) else parse_month(month)
    as_of = _aware("as_of", as_of) or utcnow()
    if month.start(ZoneInfo("Etc/GMT-14")) > as_of:  # not started anywhere on Earth yet
        raise ReportPeriodInvalid(f"month {month} has not started at {as_of.isoformat()}")
    # Every timezone's month lies within a day of the month in UTC: load the approvals in that window.
    window = (month.start(UTC) - timedelta(days=1), month.end(UTC) + timedelta(days=1))
    loaded = load(session, as_of, account_ids, approvals_between=window)
    reports: list[AccountMonthReport] = []
    counted: list[tuple[AccountMonthReport, ApprovalRow, float]] = []
    t = as_of.timestamp()
    for a in loaded.accounts:
        engine = loaded.engine_accounts[a.id]
        tz = engine.timezone
        report = AccountMonthReport(_info(a), None)
        reports.append(report)
        if month.start(tz) > as_of:
            continue
        report.month = _ledger(loaded, a, as_of).month(month)
        start, end = month.start(tz).timestamp(), month.end(tz).timestamp()
        by_submission = {r.id for r in engine.channels if r.count_by is rules.CountBy.SUBMISSION_DATE}
        for row in loaded.approvals[a.id]:
            if row.approved > t or (row.withdrawn is not None and row.withdrawn <= t):
                continue
            instant = row.submitted if row.channel_id in by_submission else row.approved
            if start <= instant < end:
                counted.append((report, row, instant))
    # The listed materials came with the approvals; their ancestors are walked once each.
    refs: dict[str, MaterialRef] = {}
    parents: dict[str, uuid.UUID] = {}
    for _, row, _ in counted:
        if row.material_id not in refs:
            refs[row.material_id] = MaterialRef(
                uuid.UUID(row.material_id), row.material_title, row.material_kind
            )
            if row.parent_id:
                parents[row.material_id] = uuid.UUID(row.parent_id)
    fillers = _filler_candidates(session, [r for r in reports if r.month is not None])
    filler_ids = {m.id for cands in fillers.values() for m, _ in cands}
    walked, roots = materials_with_sources(session, set(parents.values()) | filler_ids)
    counted.sort(key=lambda x: (x[2], x[1].publication_id))
    for report, row, instant in counted:
        ref = refs[row.material_id]
        parent = parents.get(row.material_id)
        source = roots.get(parent, ref) if parent is not None else ref
        local = datetime.fromtimestamp(instant, ZoneInfo(report.account.timezone))
        report.approved.append(
            ApprovedPublication(
                uuid.UUID(row.publication_id),
                row.channel_id,
                local,
                ref,
                source,
                row.platform_post_id,
                row.post_url,
            )
        )
    for report in reports:
        if report.month is None:
            continue
        pool = iter(fillers.get(report.account.id, ()))
        for channel in report.month.channels:
            gap = (
                channel.quota.shortfall
                if channel.quota.status
                in (rules.QuotaStatus.AT_RISK, rules.QuotaStatus.ON_TRACK, rules.QuotaStatus.MISSED)
                else 0
            )
            for _ in range(gap):
                found = next(pool, None)
                if found is None:
                    break
                material, preset_id = found
                report.fillers.append(
                    GapFiller(channel.channel_id, walked[material.id], preset_id, roots[material.id])
                )
    return MonthlyReport(month, as_of, utcnow(), reports)


def _filler_candidates(
    session: Session, reports: Sequence[AccountMonthReport]
) -> dict[uuid.UUID, list[tuple[MaterialRef, str | None]]]:
    """Per account: ready derived materials not yet submitted there (rejections aside), the platform's own
    renders first, newest first."""
    wanted = [r for r in reports if r.month and any(c.quota.shortfall for c in r.month.channels)]
    if not wanted:
        return {}
    m = Material.__table__  # type: ignore[attr-defined]
    rows = (
        session.connection()
        .execute(
            sa.select(m.c.id, m.c.title, m.c.kind, m.c.preset_id)
            .where(m.c.kind == MaterialKind.derived.value, m.c.status == MaterialStatus.ready.value)
            .order_by(m.c.created_at.desc(), m.c.id)
            .limit(FILLER_POOL)
        )
        .all()
    )
    if not rows:
        return {}
    p = Publication.__table__  # type: ignore[attr-defined]
    used: set[tuple[uuid.UUID, uuid.UUID]] = set()
    ids = [r[0] for r in rows]
    for chunk in _chunks(ids):
        used.update(
            (a, mid)
            for a, mid in session.connection().execute(
                sa.select(p.c.account_id, p.c.material_id).where(
                    p.c.material_id.in_(chunk), p.c.status != PublicationStatus.rejected.value
                )
            )
        )
    out: dict[uuid.UUID, list[tuple[MaterialRef, str | None]]] = {}
    for report in wanted:
        aid, prefix = report.account.id, report.account.platform_id + "."
        free = [r for r in rows if (aid, r[0]) not in used]
        free.sort(key=lambda r: not (r[3] or "").startswith(prefix))  # stable: keeps newest first within
        out[aid] = [(MaterialRef(r[0], r[1], r[2]), r[3]) for r in free]
    return out


def _chunks(items: Sequence[Any], size: int = 2000) -> Iterable[Sequence[Any]]:
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
        for chunk in _chunks(todo):
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


def previous_month(now: datetime | None = None, tz: ZoneInfo = rules.DEFAULT_TIMEZONE) -> rules.YearMonth:
    return rules.YearMonth.of(now or utcnow(), tz).previous()


def local_date(value: datetime, tz: str) -> date:
    return value.astimezone(ZoneInfo(tz)).date()
