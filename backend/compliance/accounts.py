"""Platform accounts and their channels: the platform's rules copied per account, overrides, openings."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlmodel import Session, col, select

from backend.changes import apply_changes
from backend.compliance.engine import rule_words, to_engine_account
from backend.compliance.models import AccountChannel, ManualState, PlatformAccount, Publication
from backend.errors import (
    AccountInUse,
    BadRequest,
    ChannelRulesInvalid,
    Conflict,
    NotFound,
    UnknownPlatform,
    ValidationFailed,
)
from backend.platforms.service import get_catalog
from backend.sqltypes import utcnow
from presets.schema import Platform, PresetCatalog

RULE_FIELDS = (
    "opening_threshold",
    "monthly_minimum",
    "daily_cap",
    "monthly_cap",
    "count_by",
    "threshold_source",
    "opening_month",
    "requires",
    "opens",
    "media_types",
    "aspects",
    "min_duration_s",
    "max_duration_s",
)
LIST_FIELDS = {"requires", "media_types", "aspects"}


# --- presets ------------------------------------------------------------------------------------------


def platform_catalog() -> PresetCatalog:
    return get_catalog()


def platform(platform_id: str) -> Platform:
    try:
        return platform_catalog().platform(platform_id)
    except KeyError:
        known = ", ".join(p.id for p in platform_catalog().platforms)
        raise UnknownPlatform(key="compliance.platform-unknown", params={"platform": platform_id, "known": known}) from None


# --- accounts and channels ----------------------------------------------------------------------------


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(key="timezone-unknown", params={"name": name}) from None


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
        "opens": rule.opens,
        "media_types": list(rule.media_types),
        "aspects": list(rule.aspects.value) if rule.aspects else None,
        "min_duration_s": rule.min_duration_s.value if rule.min_duration_s else None,
        "max_duration_s": rule.max_duration_s.value if rule.max_duration_s else None,
    }


def get_account(session: Session, account_id: uuid.UUID) -> PlatformAccount:
    account = session.get(PlatformAccount, account_id)
    if account is None:
        raise NotFound(key="account-not-found", params={"id": str(account_id)})
    return account


def find_account(session: Session, ref: str) -> PlatformAccount:
    """An account by id, or by its name when exactly one account has it (for the command line)."""
    try:
        return get_account(session, uuid.UUID(ref))
    except ValueError:
        pass
    found = list(session.exec(select(PlatformAccount).where(PlatformAccount.name == ref)))
    if not found:
        raise NotFound(key="account-name-not-found", params={"name": ref})
    if len(found) > 1:
        ids = ", ".join(f"{a.platform_id}:{a.id}" for a in found)
        raise Conflict(key="account-name-ambiguous", params={"count": len(found), "name": ref, "ids": ids})
    return found[0]


def list_accounts(session: Session, platform_id: str | None = None) -> list[PlatformAccount]:
    stmt = select(PlatformAccount).order_by(
        col(PlatformAccount.platform_id), col(PlatformAccount.created_at), col(PlatformAccount.id)
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
        raise AccountInUse(key="account-in-use", params={"id": str(account_id), "count": used})
    session.delete(account)
    session.flush()


def channels_of(
    session: Session, account_ids: Sequence[uuid.UUID] | None = None
) -> dict[uuid.UUID, list[AccountChannel]]:
    stmt = select(AccountChannel).order_by(
        col(AccountChannel.account_id), col(AccountChannel.position), col(AccountChannel.id)
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
        raise NotFound(key="channel-not-found", params={"account": str(account_id), "channel": channel_id})
    return channel


def _check_rules(session: Session, account: PlatformAccount) -> None:
    """Build the engine's account from what is flushed: refuses cycles, unknown prerequisites and the like."""
    session.flush()
    try:
        to_engine_account(account, channels_of(session, [account.id])[account.id])
    except ValueError as exc:
        raise ChannelRulesInvalid(str(exc), **rule_words(exc)) from exc


def add_channel(
    session: Session, account_id: uuid.UUID, channel_id: str, values: dict[str, Any]
) -> AccountChannel:
    """A channel the platform's rules do not list (a pilot programme, a channel reelhouse does not ship)."""
    account = get_account(session, account_id)
    existing = channels_of(session, [account_id])[account_id]
    if any(c.channel_id == channel_id for c in existing):
        raise Conflict(key="compliance.channel-exists", params={"account": str(account_id), "channel": channel_id})
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
    session: Session,
    account_id: uuid.UUID,
    channel_id: str,
    changes: dict[str, Any],
    recorded_by: str | None = None,
) -> AccountChannel:
    """Override the channel's rules for this account, or record what the platform decided by hand."""
    channel = get_channel(session, account_id, channel_id)
    overridden = set(channel.overridden)
    for key, value in changes.items():
        if key in RULE_FIELDS or key in {"name_zh", "name_en"}:
            setattr(channel, key, list(value) if key in LIST_FIELDS and value is not None else value)
            if key in RULE_FIELDS:
                overridden.add(key)
        elif key in {"manual_state", "manual_effective_on", "manual_reason", "manual_recorded_by"}:
            setattr(channel, key, value)
        else:
            raise BadRequest(key="field-not-changeable", params={"field": key})
    if {"manual_state", "manual_effective_on", "manual_reason"} & changes.keys():
        channel.manual_recorded_at = utcnow() if channel.manual_state is not None else None
        if "manual_recorded_by" not in changes:
            channel.manual_recorded_by = recorded_by
    if channel.manual_state is None:
        channel.manual_effective_on = None
        channel.manual_reason = None
        channel.manual_recorded_by = None
    elif not (channel.manual_reason or "").strip():
        raise ChannelRulesInvalid(key="compliance.manual-needs-reason")
    elif channel.manual_state == ManualState.open and channel.manual_effective_on is None:
        raise ChannelRulesInvalid(key="compliance.manual-open-needs-date")
    channel.overridden = sorted(overridden)
    channel.updated_at = utcnow()
    session.add(channel)
    _check_rules(session, get_account(session, account_id))
    return channel


def record_opening(
    session: Session,
    account_id: uuid.UUID,
    channel_id: str,
    *,
    opened_on: date,
    opened_by: str,
    note: str = "",
) -> AccountChannel:
    """The platform opened the channel for the store on `opened_on` (a local date): recorded with who
    recorded it and a note. The channel is open from 00:00 that day whatever its rules say."""
    if not opened_by.strip():
        raise ValidationFailed(key="compliance.opened-by-missing")
    account = get_account(session, account_id)
    today = utcnow().astimezone(ZoneInfo(account.timezone)).date()
    if opened_on > today:
        raise ValidationFailed(key="compliance.opened-on-future", params={"opened_on": opened_on.isoformat(), "today": today.isoformat()})
    return update_channel(
        session,
        account_id,
        channel_id,
        {
            "manual_state": ManualState.open,
            "manual_effective_on": opened_on,
            "manual_reason": note.strip() or "平台已开通",
            "manual_recorded_by": opened_by.strip(),
        },
    )


def reset_channel(session: Session, account_id: uuid.UUID, channel_id: str) -> AccountChannel:
    """Drop the account's rule overrides: back to the platform's rules (manual state is kept)."""
    channel = get_channel(session, account_id, channel_id)
    account = get_account(session, account_id)
    if not channel.from_platform_rules:
        raise Conflict(key="compliance.channel-added-by-hand", params={"channel": channel_id})
    try:
        rule = platform(account.platform_id).channel(channel_id)
    except KeyError:
        raise Conflict(key="compliance.channel-no-longer-listed", params={"platform": account.platform_id, "channel": channel_id}) from None
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
        raise Conflict(key="compliance.channel-in-use", params={"channel": channel_id, "count": used})
    session.delete(channel)
    _check_rules(session, get_account(session, account_id))

