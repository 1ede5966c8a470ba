"""The rule engine's inputs built from rows: an account with its channels, and a publication."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from backend import i18n
from backend.compliance import rules
from backend.compliance.models import AccountChannel, PlatformAccount, Publication
from backend.errors import ValidationFailed


def rule_words(exc: ValueError) -> dict[str, Any]:
    """`key` and `params` of an engine refusal (rules.RuleError) for an AppError, which keeps the
    engine's English words: its Chinese comes from the catalogue (`compliance.rule.<text>`)."""
    text = getattr(exc, "text", None)
    params = dict(getattr(exc, "params", {}))
    if "status" in params:
        params["status"] = i18n.words(f"publication_status.{params['status']}", str(params["status"]))
    return {"key": f"compliance.rule.{text}" if text else None, "params": params}


def require_aware(name: str, value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValidationFailed(key="timezone-needed", params={"name": name, "example": "2026-11-30T23:30:00+08:00"})
    return value


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
            opens=rules.Opening(c.opens),
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

