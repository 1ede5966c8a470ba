"""The compliance rule engine: channel states, monthly quotas and cap usage computed from plain data.

Nothing here touches the database, the clock or the network. Callers pass an account (its channel rules,
manual overrides and timezone), its publications as review events and an ``as_of`` instant; they get
frozen dataclasses back. The API, the CLI and the monthly report all call this module, so they agree.

Policies (each one has a test in tests/compliance/test_rules.py):

Knowledge as of ``as_of``
    An answer uses only what was known at ``as_of``: a submission, approval, rejection or withdrawal
    stamped later is ignored. The same ``as_of`` always gives the same answer, so a past month's report
    is reproducible; re-running it later picks up the withdrawals made since.

Which publications count
    A publication counts from ``approved_at`` until its ``withdrawn_at``, if any. A withdrawn approval
    stops counting everywhere: in the month it was approved in and towards opening the channel.
    Rejected publications never count; a resubmission is a new publication.

Counting instant, months and days
    A channel counts an approved publication at its approval instant (``count_by=approval_date``, the
    default) or at its submission instant (``submission_date``). Months and days are calendar months
    and days in the account's timezone (Asia/Shanghai by default): an approval at 23:30 on 30 November
    in Shanghai (15:30 UTC) is November's; one at 00:30 on 1 December is December's.

Opening
    A channel opens at the instant it has its prerequisites open and ``opening_threshold`` counted
    approvals::

        open_since = max(open_since of every prerequisite,
                         counting instant of the N-th counted approval, in counting order)

    The approvals are those on the channel itself (``threshold_source=own``, the default) or on its
    prerequisites taken together (``prerequisites``). Approvals made before the prerequisites opened
    still count: platforms usually prevent them, and when imported data holds some we do not second-guess
    it. A channel with no threshold and no prerequisite is open from the start (``open_since`` is None),
    unless it opens on application (``opens=on_application``, e.g. T-mall 视频): the store applies and the
    platform opens it, so it is ``locked`` (reason ``not_opened``) until a manual ``open`` records the date.
    Since withdrawn approvals stop counting, ``open_since`` can move later and a channel can fall back to
    ``opening``; when the platform kept it open, record that with a manual override.

Manual overrides
    ``open`` with a date: the channel is open from 00:00 of that date in the account's timezone whatever
    its prerequisites and approvals say (the platform's word wins); before that date it is ``locked`` or
    ``opening`` as usual, never open. ``closed``: the channel is locked from 00:00 of its date, or always
    when it has none, and every channel that requires it locks with it.

Monthly minimum
    Required only in months the channel was open. The month it opened in follows the channel's
    ``opening_month`` policy: ``exempt`` (default: the platforms phrase the rule as "once open, N every
    month", and a channel opened on the 28th cannot be held to 6 approvals in three days), ``prorated``
    (ceil(minimum x days open, counting the opening day, / days in the month)) or ``full``. A channel
    opened at 00:00 on the 1st (typically by hand) is open the whole month and needs the full minimum.
    The month a channel closes in is not required. A month's count includes every counted approval in
    it, the ones that opened the channel included.

Status of a month
    ``not_required`` when nothing is required; ``met`` once approved >= required; otherwise ``missed``
    once the month is over, and while it runs ``on_track`` if the projection reaches the minimum, else
    ``at_risk``.

Projection (the running month only)
    ``projected = approved x days_in_month / day_of_month + approval_rate x pending``, where today counts
    as elapsed and ``pending`` are the reviews still open at ``as_of`` that can land in this month: all of
    them under ``approval_date``, only those submitted this month under ``submission_date``.
    ``approval_rate`` defaults to 0.7; pass the account's observed rate when it is known. For a past
    month the projection is the final count. ``days_left`` counts today (1 on the last day of the month)
    and is 0 for a past month.

Caps
    Caps limit submissions, so every submission counts against them, whatever its review outcome.
"""

from __future__ import annotations

import calendar
import math
import re
from bisect import bisect_left, bisect_right
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from heapq import merge
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

__all__ = [
    "DEFAULT_APPROVAL_RATE",
    "DEFAULT_TIMEZONE",
    "Account",
    "AccountLedger",
    "AccountMonth",
    "AccountStatus",
    "CapUsage",
    "ChannelMonth",
    "ChannelRule",
    "ChannelState",
    "ChannelStatus",
    "CountBy",
    "Instants",
    "LockReason",
    "ManualOverride",
    "MonthQuota",
    "Opening",
    "OpeningMonthPolicy",
    "OverrideKind",
    "Publication",
    "QuotaStatus",
    "ReviewStatus",
    "ThresholdSource",
    "YearMonth",
    "channel_status",
    "ledgers_by_account",
    "monthly_evaluation",
]

DEFAULT_TIMEZONE = ZoneInfo("Asia/Shanghai")
DEFAULT_APPROVAL_RATE = 0.7

# Instants are handled as POSIX timestamps inside the engine: bisecting floats is fast, and these stand in
# for "open from the start" and "never closed".
_ALWAYS = -math.inf
_NEVER = math.inf

_YEAR_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class CountBy(StrEnum):
    APPROVAL_DATE = "approval_date"
    SUBMISSION_DATE = "submission_date"


class ThresholdSource(StrEnum):
    OWN = "own"  # approvals on the channel itself
    PREREQUISITES = "prerequisites"  # approvals on the channels it requires, taken together


class OpeningMonthPolicy(StrEnum):
    EXEMPT = "exempt"
    PRORATED = "prorated"
    FULL = "full"


class Opening(StrEnum):
    AUTOMATICALLY = "automatically"  # by prerequisites and threshold; from the start when it has neither
    ON_APPLICATION = "on_application"  # only when the platform opens it (recorded as a manual open)


class OverrideKind(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class RuleError(ValueError):
    """A rule, override or publication history that would be inconsistent. The message is English;
    `text` names the same words in a caller's catalogue (the API's: backend/i18n, as
    `compliance.rule.<text>`) and `params` the values they need."""

    def __init__(self, detail: str, *, text: str, **params: Any) -> None:
        super().__init__(detail)
        self.text = text
        self.params: dict[str, Any] = params


class ReviewStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class ChannelState(StrEnum):
    LOCKED = "locked"
    OPENING = "opening"
    OPEN = "open"


class LockReason(StrEnum):
    PREREQUISITE = "prerequisite"
    CLOSED_BY_HAND = "closed_by_hand"
    NOT_OPENED = "not_opened"  # opens on application and no opening is recorded


class QuotaStatus(StrEnum):
    MET = "met"
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    MISSED = "missed"
    NOT_REQUIRED = "not_required"


def _require_aware(name: str, value: datetime | None) -> None:
    if value is not None and value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")


def _midnight(day: date, tz: ZoneInfo) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()


@dataclass(frozen=True, order=True)
class YearMonth:
    """A calendar month; its instants depend on the timezone it is read in."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12 or not 1 <= self.year <= 9998:
            raise ValueError(f"not a month: {self.year}-{self.month}")

    @classmethod
    def parse(cls, text: str) -> YearMonth:
        m = _YEAR_MONTH.match(text.strip())
        if not m:
            raise ValueError(f"month must look like 2026-11, got {text!r}")
        return cls(int(m.group(1)), int(m.group(2)))

    @classmethod
    def coerce(cls, value: YearMonth | str) -> YearMonth:
        return value if isinstance(value, YearMonth) else cls.parse(value)

    @classmethod
    def of(cls, instant: datetime, tz: ZoneInfo) -> YearMonth:
        _require_aware("instant", instant)
        local = instant.astimezone(tz)
        return cls(local.year, local.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def days(self) -> int:
        return calendar.monthrange(self.year, self.month)[1]

    def next(self) -> YearMonth:
        return YearMonth(self.year + 1, 1) if self.month == 12 else YearMonth(self.year, self.month + 1)

    def previous(self) -> YearMonth:
        return YearMonth(self.year - 1, 12) if self.month == 1 else YearMonth(self.year, self.month - 1)

    def start(self, tz: ZoneInfo) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=tz)

    def end(self, tz: ZoneInfo) -> datetime:
        """The first instant of the next month (months are half-open)."""
        return self.next().start(tz)


# --- inputs -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelRule:
    """A channel's rules as the engine needs them (mirrors presets' ChannelRule; 0 means "none")."""

    id: str
    name_zh: str
    name_en: str
    requires: tuple[str, ...] = ()
    opening_threshold: int = 0
    monthly_minimum: int = 0
    daily_cap: int | None = None
    monthly_cap: int | None = None
    count_by: CountBy = CountBy.APPROVAL_DATE
    threshold_source: ThresholdSource = ThresholdSource.OWN
    opening_month: OpeningMonthPolicy = OpeningMonthPolicy.EXEMPT
    opens: Opening = Opening.AUTOMATICALLY

    def __post_init__(self) -> None:
        object.__setattr__(self, "requires", tuple(self.requires))
        object.__setattr__(self, "opens", Opening(self.opens))
        object.__setattr__(self, "count_by", CountBy(self.count_by))
        object.__setattr__(self, "threshold_source", ThresholdSource(self.threshold_source))
        object.__setattr__(self, "opening_month", OpeningMonthPolicy(self.opening_month))
        if self.opening_threshold < 0 or self.monthly_minimum < 0:
            raise RuleError(f"channel {self.id!r}: threshold and minimum cannot be negative", text="negative-threshold",
                            channel=self.id)
        for cap in (self.daily_cap, self.monthly_cap):
            if cap is not None and cap < 0:
                raise RuleError(f"channel {self.id!r}: caps cannot be negative", text="negative-cap", channel=self.id)
        if self.id in self.requires:
            raise RuleError(f"channel {self.id!r} requires itself", text="requires-itself", channel=self.id)
        if self.threshold_source is ThresholdSource.PREREQUISITES and not self.requires:
            raise RuleError(f"channel {self.id!r} counts approvals on its prerequisites but has none",
                            text="no-prerequisites", channel=self.id)
        if self.opens is Opening.ON_APPLICATION and self.opening_threshold:
            raise RuleError(f"channel {self.id!r} opens on application, so it cannot also have a threshold",
                            text="application-with-threshold", channel=self.id)


@dataclass(frozen=True)
class ManualOverride:
    """What the platform told the account, overriding the derived state of one channel."""

    channel_id: str
    kind: OverrideKind
    reason: str
    effective_on: date | None = None  # local date; required to open, optional to close (None: always)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", OverrideKind(self.kind))
        if not self.reason.strip():
            raise RuleError(f"override of {self.channel_id!r} needs a reason", text="override-needs-reason",
                            channel=self.channel_id)
        if self.kind is OverrideKind.OPEN and self.effective_on is None:
            raise RuleError(f"opening {self.channel_id!r} by hand needs the date the platform opened it",
                            text="opening-needs-date", channel=self.channel_id)


@dataclass(frozen=True)
class Account:
    """A brand's account on a platform: its channels, their manual overrides and its timezone."""

    id: Hashable
    channels: tuple[ChannelRule, ...]
    overrides: tuple[ManualOverride, ...] = ()
    timezone: ZoneInfo = DEFAULT_TIMEZONE
    # Channel ids with every prerequisite before the channels requiring it.
    evaluation_order: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(self.channels))
        object.__setattr__(self, "overrides", tuple(self.overrides))
        if isinstance(self.timezone, str):
            object.__setattr__(self, "timezone", ZoneInfo(self.timezone))
        by_id = {c.id: c for c in self.channels}
        if len(by_id) != len(self.channels):
            raise RuleError(f"account {self.id!r}: duplicate channel id", text="duplicate-channel", account=str(self.id))
        for c in self.channels:
            for r in c.requires:
                if r not in by_id:
                    raise RuleError(f"account {self.id!r}: channel {c.id!r} requires unknown channel {r!r}",
                                    text="requires-unknown", account=str(self.id), channel=c.id, required=r)
        seen: set[str] = set()
        for o in self.overrides:
            if o.channel_id not in by_id:
                raise RuleError(f"account {self.id!r}: override for unknown channel {o.channel_id!r}",
                                text="override-unknown-channel", account=str(self.id), channel=o.channel_id)
            if o.channel_id in seen:
                raise RuleError(f"account {self.id!r}: more than one override for {o.channel_id!r}",
                                text="override-twice", account=str(self.id), channel=o.channel_id)
            seen.add(o.channel_id)
        object.__setattr__(self, "evaluation_order", _prerequisites_first(by_id))

    def channel(self, channel_id: str) -> ChannelRule:
        for c in self.channels:
            if c.id == channel_id:
                return c
        raise KeyError(channel_id)

    def override(self, channel_id: str) -> ManualOverride | None:
        return next((o for o in self.overrides if o.channel_id == channel_id), None)


def _prerequisites_first(by_id: dict[str, ChannelRule]) -> tuple[str, ...]:
    order: list[str] = []
    state: dict[str, int] = {}  # 1 = visiting, 2 = done

    def visit(cid: str, path: tuple[str, ...]) -> None:
        if state.get(cid) == 2:
            return
        if state.get(cid) == 1:
            cycle = " -> ".join((*path, cid))
            raise RuleError(f"channel prerequisites form a cycle: {cycle}", text="cycle", cycle=cycle)
        state[cid] = 1
        for r in by_id[cid].requires:
            visit(r, (*path, cid))
        state[cid] = 2
        order.append(cid)

    for cid in by_id:
        visit(cid, ())
    return tuple(order)


@dataclass(frozen=True, slots=True)
class Publication:
    """One submission of a material to an account's channel and what its review said, with when."""

    id: Hashable
    account_id: Hashable
    channel_id: str
    submitted_at: datetime
    status: ReviewStatus
    approved_at: datetime | None = None
    rejected_at: datetime | None = None  # None on a rejection: it is treated as never pending
    withdrawn_at: datetime | None = None

    def __post_init__(self) -> None:
        status = ReviewStatus(self.status)
        object.__setattr__(self, "status", status)
        for name in ("submitted_at", "approved_at", "rejected_at", "withdrawn_at"):
            _require_aware(name, getattr(self, name))
        label = f"publication {self.id!r}"
        if status is ReviewStatus.APPROVED and self.approved_at is None:
            raise RuleError(f"{label} is approved but has no approval date", text="approved-without-date", id=str(self.id))
        if status is ReviewStatus.WITHDRAWN and self.withdrawn_at is None:
            raise RuleError(f"{label} is withdrawn but has no withdrawal date", text="withdrawn-without-date",
                            id=str(self.id))
        if self.approved_at is not None and status not in (ReviewStatus.APPROVED, ReviewStatus.WITHDRAWN):
            raise RuleError(f"{label} is {status} but has an approval date", text="approval-date-unexpected",
                            id=str(self.id), status=str(status))
        if self.rejected_at is not None and status is not ReviewStatus.REJECTED:
            raise RuleError(f"{label} is {status} but has a rejection date", text="rejection-date-unexpected",
                            id=str(self.id), status=str(status))
        if self.withdrawn_at is not None and status is not ReviewStatus.WITHDRAWN:
            raise RuleError(f"{label} is {status} but has a withdrawal date", text="withdrawal-date-unexpected",
                            id=str(self.id), status=str(status))
        for name in ("approved_at", "rejected_at", "withdrawn_at"):
            value = getattr(self, name)
            if value is not None and value < self.submitted_at:
                raise RuleError(f"{label}: {name} {value.isoformat()} is before its submission",
                                text="date-before-submission", id=str(self.id), name=name, value=value.isoformat())
        if self.approved_at and self.withdrawn_at and self.withdrawn_at < self.approved_at:
            raise RuleError(f"{label}: withdrawn before it was approved", text="withdrawn-before-approved", id=str(self.id))

    @property
    def review_ended_at(self) -> datetime | None:
        """When the publication stopped waiting for review (None while it waits)."""
        return (
            self.approved_at
            or self.rejected_at
            or self.withdrawn_at
            or (self.submitted_at if self.status is ReviewStatus.REJECTED else None)
        )


class Instants(NamedTuple):
    """One of an account's publications reduced to what a ledger reads, as POSIX timestamps.

    Bulk loads build these straight from database rows (no datetimes, no checks); everything else passes
    `Publication`s, which a ledger reduces the same way.
    """

    channel_id: str
    submitted: float
    review_ended: float | None  # None while it waits for review
    approved: float | None  # the approval of an approved (or since withdrawn) publication
    withdrawn: float | None

    @classmethod
    def of(cls, p: Publication) -> Instants:
        ended = p.review_ended_at
        approved = (
            p.approved_at if p.status is ReviewStatus.APPROVED or p.status is ReviewStatus.WITHDRAWN else None
        )
        return cls(
            p.channel_id,
            p.submitted_at.timestamp(),
            None if ended is None else ended.timestamp(),
            None if approved is None else approved.timestamp(),
            None if p.withdrawn_at is None else p.withdrawn_at.timestamp(),
        )


# --- outputs ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CapUsage:
    cap: int | None
    used: int

    @property
    def remaining(self) -> int | None:
        return None if self.cap is None else max(0, self.cap - self.used)

    @property
    def exceeded(self) -> bool:
        return self.cap is not None and self.used > self.cap


@dataclass(frozen=True)
class MonthQuota:
    month: YearMonth
    required: int
    approved: int
    pending: int  # reviews open at as_of (running month) or at the month's end (past month)
    projected: float
    days_left: int
    status: QuotaStatus

    @property
    def shortfall(self) -> int:
        return max(0, self.required - self.approved)


@dataclass(frozen=True)
class ChannelStatus:
    channel_id: str
    name_zh: str
    name_en: str
    state: ChannelState
    lock_reason: LockReason | None
    missing_prerequisites: tuple[str, ...]
    approved_toward_opening: int  # n of "n of N"
    opening_threshold: int  # N
    open_since: datetime | None  # in the account's timezone; None when open from the start
    opened_by_hand: bool
    override_reason: str | None
    quota: MonthQuota
    submitted_today: CapUsage  # against the daily cap
    submitted_this_month: CapUsage  # against the monthly cap


@dataclass(frozen=True)
class AccountStatus:
    account_id: Hashable
    as_of: datetime
    month: YearMonth
    channels: tuple[ChannelStatus, ...]

    def channel(self, channel_id: str) -> ChannelStatus:
        return next(c for c in self.channels if c.channel_id == channel_id)


@dataclass(frozen=True)
class ChannelMonth:
    channel_id: str
    name_zh: str
    name_en: str
    state_at_close: ChannelState  # at the month's end, or at as_of for the running month
    open_since: datetime | None
    opened_by_hand: bool
    quota: MonthQuota
    daily_approved: tuple[int, ...]  # one entry per day of the month
    daily_submitted: tuple[int, ...]
    submissions: CapUsage  # the month's submissions against the monthly cap
    busiest_day: CapUsage  # the busiest day's submissions against the daily cap
    days_over_daily_cap: int

    @property
    def cumulative_approved(self) -> tuple[int, ...]:
        total, out = 0, []
        for n in self.daily_approved:
            total += n
            out.append(total)
        return tuple(out)


@dataclass(frozen=True)
class AccountMonth:
    account_id: Hashable
    month: YearMonth
    as_of: datetime
    channels: tuple[ChannelMonth, ...]

    def channel(self, channel_id: str) -> ChannelMonth:
        return next(c for c in self.channels if c.channel_id == channel_id)


# --- the engine ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChannelLists:
    """A channel's index made elsewhere (a bulk loader): the lists AccountLedger files instants into, with
    its filters at as_of already applied (``submitted``: every submission; ``review_ended``: the ends of
    review by as_of; ``pending_submitted``: the submissions still in review; ``by_approval`` and
    ``by_submission``: the approvals in effect). A loader that needs only some questions answered may put
    equal stand-in values in place of instants that no question it asks can tell apart (see
    loader.load's ``from_instant``)."""

    submitted: list[float]
    review_ended: list[float]
    pending_submitted: list[float]
    by_approval: list[float]
    by_submission: list[float]


class _ChannelIndex:
    """One channel's publications known at as_of, as sorted timestamps to bisect."""

    __slots__ = ("by_approval", "by_submission", "submitted", "review_ended", "pending_submitted")

    def __init__(self) -> None:
        # Approvals in effect at as_of, by approval instant and by submission instant.
        self.by_approval: list[float] = []
        self.by_submission: list[float] = []
        self.submitted: list[float] = []  # every submission
        self.review_ended: list[float] = []  # when submissions left review
        self.pending_submitted: list[float] = []  # submissions still in review at as_of

    def counted(self, count_by: CountBy) -> list[float]:
        return self.by_approval if count_by is CountBy.APPROVAL_DATE else self.by_submission

    def sort(self) -> None:
        for values in (
            self.by_approval,
            self.by_submission,
            self.submitted,
            self.review_ended,
            self.pending_submitted,
        ):
            values.sort()


@dataclass(frozen=True, slots=True)
class _Timeline:
    opened: float | None  # None: not open at as_of's knowledge; _ALWAYS: open from the start
    closed: float  # _NEVER unless closed by hand (itself or a prerequisite)
    by_hand: bool


class AccountLedger:
    """An account's publications indexed once for one ``as_of``; answers status and month questions.

    Publications of other accounts, of channels the account does not have, and anything stamped after
    ``as_of`` are ignored. Building costs one sort per channel; each question afterwards is a few bisects.
    """

    def __init__(
        self,
        account: Account,
        publications: Iterable[Publication],
        as_of: datetime,
        *,
        approval_rate: float = DEFAULT_APPROVAL_RATE,
        instants: Iterable[Instants] | None = None,
        lists: dict[str, ChannelLists] | None = None,
    ) -> None:
        """Index ``publications``, or (bulk loads) the account's ``instants`` instead; pass ``()`` then.
        ``lists`` gives channels' indexes ready made (see ChannelLists), in place of their instants."""
        _require_aware("as_of", as_of)
        if not 0 <= approval_rate <= 1:
            raise ValueError(f"approval_rate must be between 0 and 1, got {approval_rate}")
        self.account = account
        self.as_of = as_of
        self.approval_rate = approval_rate
        self._tz = account.timezone
        self._t = t = as_of.timestamp()
        self._current = YearMonth.of(as_of, self._tz)
        self._bounds_cache: dict[YearMonth, list[float]] = {}
        self._index = index = {c.id: _ChannelIndex() for c in account.channels}
        account_id = account.id
        if instants is None:
            instants = (Instants.of(p) for p in publications if p.account_id == account_id)
        for channel_id, s, e, a, w in instants:
            ix = index.get(channel_id)
            if ix is None or s > t:
                continue
            ix.submitted.append(s)
            if e is not None and e <= t:
                ix.review_ended.append(e)
            else:
                ix.pending_submitted.append(s)
            if a is not None and a <= t and (w is None or w > t):
                ix.by_approval.append(a)
                ix.by_submission.append(s)
        for channel_id, ready in (lists or {}).items():
            ix = index.get(channel_id)
            if ix is not None:
                ix.submitted.extend(ready.submitted)
                ix.review_ended.extend(ready.review_ended)
                ix.pending_submitted.extend(ready.pending_submitted)
                ix.by_approval.extend(ready.by_approval)
                ix.by_submission.extend(ready.by_submission)
        for ix in index.values():
            ix.sort()
        self._timeline: dict[str, _Timeline] = {}
        self._threshold_counts: dict[str, list[float]] = {}
        for cid in account.evaluation_order:
            self._timeline[cid] = self._derive_timeline(account.channel(cid))

    # - opening

    def _threshold_instants(self, rule: ChannelRule) -> list[float]:
        if rule.threshold_source is ThresholdSource.OWN:
            return self._index[rule.id].counted(rule.count_by)
        if rule.id not in self._threshold_counts:
            lists = [self._index[r].counted(rule.count_by) for r in rule.requires]
            self._threshold_counts[rule.id] = list(merge(*lists))
        return self._threshold_counts[rule.id]

    def _derive_timeline(self, rule: ChannelRule) -> _Timeline:
        override = self.account.override(rule.id)
        if override is not None and override.kind is OverrideKind.OPEN:
            assert override.effective_on is not None
            return _Timeline(_midnight(override.effective_on, self._tz), _NEVER, True)
        prerequisites = [self._timeline[r] for r in rule.requires]
        opened: float | None = _ALWAYS
        closed = _NEVER
        for pre in prerequisites:
            opened = None if opened is None or pre.opened is None else max(opened, pre.opened)
            closed = min(closed, pre.closed)
        if rule.opens is Opening.ON_APPLICATION:
            opened = None  # only a recorded opening (the manual open above) opens it
        n = rule.opening_threshold
        if n and opened is not None:
            counted = self._threshold_instants(rule)
            opened = max(opened, counted[n - 1]) if len(counted) >= n else None
        if override is not None:  # closed by hand
            closed = min(closed, self._closed_from(override))
        return _Timeline(opened, closed, False)

    def _closed_from(self, override: ManualOverride) -> float:
        if override.effective_on is None:
            return _ALWAYS
        return _midnight(override.effective_on, self._tz)

    def _is_open(self, cid: str, x: float, just_before: bool) -> bool:
        tl = self._timeline[cid]
        if tl.opened is None:
            return False
        if just_before:
            return tl.opened < x <= tl.closed
        return tl.opened <= x < tl.closed

    def _state(
        self, rule: ChannelRule, x: float, just_before: bool = False
    ) -> tuple[ChannelState, LockReason | None, tuple[str, ...]]:
        """The channel's state at instant x, or just before it (the state a month ends in)."""
        if self._is_open(rule.id, x, just_before):
            return ChannelState.OPEN, None, ()
        missing = tuple(r for r in rule.requires if not self._is_open(r, x, just_before))
        override = self.account.override(rule.id)
        if override is not None and override.kind is OverrideKind.CLOSED:
            closed = self._closed_from(override)
            if closed < x or (closed == x and not just_before):
                return ChannelState.LOCKED, LockReason.CLOSED_BY_HAND, missing
        if missing:
            return ChannelState.LOCKED, LockReason.PREREQUISITE, missing
        if rule.opens is Opening.ON_APPLICATION:
            return ChannelState.LOCKED, LockReason.NOT_OPENED, ()
        return ChannelState.OPENING, None, ()

    def _open_since(self, cid: str) -> datetime | None:
        opened = self._timeline[cid].opened
        if opened is None or opened == _ALWAYS:
            return None
        return datetime.fromtimestamp(opened, self._tz)

    # - months

    def _day_bounds(self, month: YearMonth) -> list[float]:
        """Local midnights from the 1st of the month to the 1st of the next: days + 1 instants."""
        bounds = self._bounds_cache.get(month)
        if bounds is None:
            tz = self._tz
            bounds = [
                datetime(month.year, month.month, d, tzinfo=tz).timestamp() for d in range(1, month.days + 1)
            ]
            bounds.append(month.end(tz).timestamp())
            self._bounds_cache[month] = bounds
        return bounds

    def _required(self, rule: ChannelRule, month: YearMonth, start: float, end: float) -> int:
        minimum = rule.monthly_minimum
        tl = self._timeline[rule.id]
        opened = tl.opened
        if not minimum or opened is None or opened > self._t or opened >= end or tl.closed < end:
            return 0
        if opened <= start:
            return minimum
        policy = rule.opening_month
        if policy is OpeningMonthPolicy.FULL:
            return minimum
        if policy is OpeningMonthPolicy.EXEMPT:
            return 0
        days_open = month.days - datetime.fromtimestamp(opened, self._tz).day + 1
        return -(-minimum * days_open // month.days)

    def _quota(self, rule: ChannelRule, month: YearMonth) -> MonthQuota:
        bounds = self._day_bounds(month)
        start, end = bounds[0], bounds[-1]
        t = self._t
        if start > t:
            raise ValueError(f"month {month} has not started at {self.as_of.isoformat()}")
        ix = self._index[rule.id]
        counted = ix.counted(rule.count_by)
        approved = bisect_left(counted, end) - bisect_left(counted, start)
        required = self._required(rule, month, start, end)
        running = t < end
        if running:
            pending = bisect_right(ix.submitted, t) - bisect_right(ix.review_ended, t)
            day = bisect_right(bounds, t)  # 1-based day of month of as_of
            days_left = month.days - day + 1
            landing = pending
            if rule.count_by is CountBy.SUBMISSION_DATE:
                landing = len(ix.pending_submitted) - bisect_left(ix.pending_submitted, start)
            projected = approved * month.days / day + self.approval_rate * landing
        else:
            pending = bisect_left(ix.submitted, end) - bisect_left(ix.review_ended, end)
            days_left = 0
            projected = float(approved)
        if not required:
            status = QuotaStatus.NOT_REQUIRED
        elif approved >= required:
            status = QuotaStatus.MET
        elif not running:
            status = QuotaStatus.MISSED
        elif projected >= required:
            status = QuotaStatus.ON_TRACK
        else:
            status = QuotaStatus.AT_RISK
        return MonthQuota(month, required, approved, pending, projected, days_left, status)

    # - public questions

    def status(self) -> AccountStatus:
        """Where every channel stands at as_of, in the account's channel order."""
        t, tz = self._t, self._tz
        month = self._current
        month_start = self._day_bounds(month)[0]
        local = self.as_of.astimezone(tz)
        day_start = datetime(local.year, local.month, local.day, tzinfo=tz).timestamp()
        out = []
        for rule in self.account.channels:
            ix = self._index[rule.id]
            state, lock_reason, missing = self._state(rule, t)
            override = self.account.override(rule.id)
            submitted_upto = bisect_right(ix.submitted, t)
            out.append(
                ChannelStatus(
                    channel_id=rule.id,
                    name_zh=rule.name_zh,
                    name_en=rule.name_en,
                    state=state,
                    lock_reason=lock_reason,
                    missing_prerequisites=missing,
                    approved_toward_opening=len(self._threshold_instants(rule)),
                    opening_threshold=rule.opening_threshold,
                    open_since=self._open_since(rule.id) if state is ChannelState.OPEN else None,
                    opened_by_hand=state is ChannelState.OPEN and self._timeline[rule.id].by_hand,
                    override_reason=override.reason if override is not None else None,
                    quota=self._quota(rule, month),
                    submitted_today=CapUsage(
                        rule.daily_cap, submitted_upto - bisect_left(ix.submitted, day_start)
                    ),
                    submitted_this_month=CapUsage(
                        rule.monthly_cap, submitted_upto - bisect_left(ix.submitted, month_start)
                    ),
                )
            )
        return AccountStatus(self.account.id, self.as_of, month, tuple(out))

    def month(self, month: YearMonth | str) -> AccountMonth:
        """Each channel's quota, daily progress and cap usage for a month that has started by as_of."""
        month = YearMonth.coerce(month)
        bounds = self._day_bounds(month)
        end = bounds[-1]
        running = self._t < end
        out = []
        for rule in self.account.channels:
            ix = self._index[rule.id]
            quota = self._quota(rule, month)
            counted = ix.counted(rule.count_by)
            approved_at = [bisect_left(counted, b) for b in bounds]
            submitted_at = [bisect_left(ix.submitted, b) for b in bounds]
            daily_approved = tuple(b - a for a, b in zip(approved_at, approved_at[1:], strict=False))
            daily_submitted = tuple(b - a for a, b in zip(submitted_at, submitted_at[1:], strict=False))
            if running:
                state, _, _ = self._state(rule, self._t)
            else:
                state, _, _ = self._state(rule, end, just_before=True)
            cap = rule.daily_cap
            out.append(
                ChannelMonth(
                    channel_id=rule.id,
                    name_zh=rule.name_zh,
                    name_en=rule.name_en,
                    state_at_close=state,
                    open_since=self._open_since(rule.id) if state is ChannelState.OPEN else None,
                    opened_by_hand=state is ChannelState.OPEN and self._timeline[rule.id].by_hand,
                    quota=quota,
                    daily_approved=daily_approved,
                    daily_submitted=daily_submitted,
                    submissions=CapUsage(rule.monthly_cap, sum(daily_submitted)),
                    busiest_day=CapUsage(cap, max(daily_submitted)),
                    days_over_daily_cap=0 if cap is None else sum(1 for n in daily_submitted if n > cap),
                )
            )
        return AccountMonth(self.account.id, month, self.as_of, tuple(out))

    def daily_approved(self, month: YearMonth | str | None = None) -> dict[str, tuple[int, ...]]:
        """Per channel, the approvals counted on each day of the month (default: the running one): the
        same figures as ``month(...).channels[i].daily_approved``, a few bisects per channel."""
        bounds = self._day_bounds(self._current if month is None else YearMonth.coerce(month))
        out = {}
        for rule in self.account.channels:
            counted = self._index[rule.id].counted(rule.count_by)
            at = [bisect_left(counted, b) for b in bounds]
            out[rule.id] = tuple(b - a for a, b in zip(at, at[1:], strict=False))
        return out

    def months(self, months: Iterable[YearMonth | str]) -> tuple[AccountMonth, ...]:
        return tuple(self.month(m) for m in months)


def ledgers_by_account(
    accounts: Iterable[Account],
    publications: Iterable[Publication],
    as_of: datetime,
    *,
    approval_rate: float = DEFAULT_APPROVAL_RATE,
) -> dict[Hashable, AccountLedger]:
    """One ledger per account, reading the publications once (what the monthly report wants)."""
    grouped: dict[Hashable, list[Publication]] = {}
    for p in publications:
        grouped.setdefault(p.account_id, []).append(p)
    return {
        a.id: AccountLedger(a, grouped.get(a.id, ()), as_of, approval_rate=approval_rate) for a in accounts
    }


def channel_status(
    account: Account,
    publications: Iterable[Publication],
    as_of: datetime,
    *,
    approval_rate: float = DEFAULT_APPROVAL_RATE,
) -> AccountStatus:
    """Where each of the account's channels stands at as_of."""
    return AccountLedger(account, publications, as_of, approval_rate=approval_rate).status()


def monthly_evaluation(
    account: Account,
    publications: Iterable[Publication],
    month: YearMonth | str,
    as_of: datetime,
    *,
    approval_rate: float = DEFAULT_APPROVAL_RATE,
) -> AccountMonth:
    """The account's month ("2026-11") as known at as_of: quotas, daily progress and cap usage."""
    return AccountLedger(account, publications, as_of, approval_rate=approval_rate).month(month)
