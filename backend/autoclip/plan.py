"""How many clips the automatic re-edit should propose for a channel: pure arithmetic on the channel's
position this month (compliance's quota) and the account's approval rate."""

from __future__ import annotations

import math
from dataclasses import dataclass

# Below this an approval rate says "almost nothing gets through"; dividing by it would ask for hundreds of
# clips. The plan then asks for 1/MIN_RATE per missing approval at most.
MIN_RATE = 0.1


@dataclass(frozen=True)
class ChannelPosition:
    """Where a channel stands this month: `pending` are reviews still open, `days_left` counts today."""

    channel_id: str
    required: int
    approved: int
    pending: int
    days_left: int
    approval_rate: float


@dataclass(frozen=True)
class ChannelPlan:
    channel_id: str
    required: int
    approved: int
    pending: int
    approval_rate: float
    expected_from_pending: float  # approval_rate x pending
    missing: float  # approvals still to find: required - approved - expected_from_pending (>= 0)
    shortfall: int  # clips to submit this month so that `missing` are approved at the approval rate
    days_left: int
    per_day: int  # today's share of the shortfall, rounded up
    extra: int  # asked for on top of per_day (rejections in review, choice for the editor)
    propose_today: int  # per_day + extra; 0 when nothing is missing


def plan_channel(position: ChannelPosition, *, extra: int = 0) -> ChannelPlan:
    """The clips to propose for one channel: the shortfall (missing approvals with a margin for the
    rejections the approval rate predicts), spread over the days left, plus `extra` while anything is missing."""
    if extra < 0:
        raise ValueError(f"extra must be >= 0, got {extra}")
    rate = min(1.0, max(position.approval_rate, MIN_RATE))
    expected = position.approval_rate * position.pending
    missing = max(0.0, position.required - position.approved - expected)
    # round() first: 6 - 1 - 0.7 * 3 is 2.9000000000000004 in floating point, not a reason for a clip more.
    shortfall = math.ceil(round(missing / rate, 9))
    days = max(1, position.days_left)
    per_day = math.ceil(shortfall / days) if shortfall else 0
    return ChannelPlan(
        channel_id=position.channel_id,
        required=position.required,
        approved=position.approved,
        pending=position.pending,
        approval_rate=position.approval_rate,
        expected_from_pending=round(expected, 3),
        missing=round(missing, 3),
        shortfall=shortfall,
        days_left=position.days_left,
        per_day=per_day,
        extra=extra if shortfall else 0,
        propose_today=per_day + extra if shortfall else 0,
    )


def plan_channels(positions: list[ChannelPosition], *, extra: int = 0) -> list[ChannelPlan]:
    return [plan_channel(p, extra=extra) for p in positions]
