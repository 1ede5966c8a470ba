"""The compliance rule engine, driven directly with plain data: policies, edge cases and the T-mall story."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.compliance.rules import (
    Account,
    AccountLedger,
    CapUsage,
    ChannelRule,
    ChannelState,
    CountBy,
    LockReason,
    ManualOverride,
    OpeningMonthPolicy,
    OverrideKind,
    Publication,
    QuotaStatus,
    ReviewStatus,
    ThresholdSource,
    YearMonth,
    channel_status,
    ledgers_by_account,
    monthly_evaluation,
)

SH = ZoneInfo("Asia/Shanghai")

VIDEO = ChannelRule("tmall.video", "视频", "Video")
SHIPAI = ChannelRule(
    "tmall.shipai", "实拍", "Real shot", requires=("tmall.video",), opening_threshold=5, monthly_minimum=6
)
BILIBILI = ChannelRule("bilibili.video", "视频", "Video", daily_cap=5, monthly_cap=60)


def sh(y: int, m: int, d: int, h: int = 12, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=SH)


_ids = itertools.count(1)


def approved(
    channel: str,
    at: datetime,
    *,
    submitted: datetime | None = None,
    account: str = "store",
    withdrawn: datetime | None = None,
) -> Publication:
    return Publication(
        id=next(_ids),
        account_id=account,
        channel_id=channel,
        submitted_at=submitted or at - timedelta(hours=2),
        status=ReviewStatus.WITHDRAWN if withdrawn else ReviewStatus.APPROVED,
        approved_at=at,
        withdrawn_at=withdrawn,
    )


def pending(channel: str, submitted: datetime, *, account: str = "store") -> Publication:
    return Publication(next(_ids), account, channel, submitted, ReviewStatus.PENDING)


def rejected(channel: str, submitted: datetime, at: datetime | None = None, *, account: str = "store"):
    return Publication(next(_ids), account, channel, submitted, ReviewStatus.REJECTED, rejected_at=at)


def tmall(*overrides: ManualOverride, shipai: ChannelRule = SHIPAI, tz: ZoneInfo = SH) -> Account:
    return Account("store", (VIDEO, shipai), overrides, tz)


VIDEO_OPEN_JAN = ManualOverride(
    "tmall.video", OverrideKind.OPEN, "T-mall opened 视频 for the store", date(2026, 1, 1)
)


# --- months, validation ------------------------------------------------------------------------------


def test_year_month_parses_prints_and_knows_leap_years():
    assert YearMonth.parse("2026-11") == YearMonth(2026, 11)
    assert str(YearMonth(2026, 1)) == "2026-01"
    assert YearMonth(2028, 2).days == 29
    assert YearMonth(2027, 2).days == 28
    assert YearMonth(2100, 2).days == 28
    assert YearMonth(2026, 12).next() == YearMonth(2027, 1)
    assert YearMonth(2027, 1).previous() == YearMonth(2026, 12)
    for bad in ("2026-13", "2026-1", "nov 2026", "2026-00"):
        with pytest.raises(ValueError):
            YearMonth.parse(bad)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"status": ReviewStatus.APPROVED}, "no approval date"),
        ({"status": ReviewStatus.WITHDRAWN}, "no withdrawal date"),
        ({"status": ReviewStatus.PENDING, "approved_at": sh(2026, 3, 2)}, "has an approval date"),
        ({"status": ReviewStatus.APPROVED, "approved_at": sh(2026, 2, 28)}, "before its submission"),
        (
            {
                "status": ReviewStatus.WITHDRAWN,
                "approved_at": sh(2026, 3, 5),
                "withdrawn_at": sh(2026, 3, 4),
            },
            "withdrawn before it was approved",
        ),
        ({"status": ReviewStatus.APPROVED, "approved_at": datetime(2026, 3, 2)}, "timezone-aware"),
    ],
)
def test_publication_rejects_impossible_histories(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Publication(1, "store", "tmall.video", submitted_at=sh(2026, 3, 1), **kwargs)


def test_account_rejects_broken_rules():
    with pytest.raises(ValueError, match="unknown channel"):
        Account("store", (SHIPAI,))
    a = ChannelRule("a", "甲", "A", requires=("b",))
    b = ChannelRule("b", "乙", "B", requires=("a",))
    with pytest.raises(ValueError, match="cycle"):
        Account("store", (a, b))
    with pytest.raises(ValueError, match="needs the date"):
        ManualOverride("tmall.video", OverrideKind.OPEN, "platform says so")
    with pytest.raises(ValueError, match="needs a reason"):
        ManualOverride("tmall.video", OverrideKind.CLOSED, " ")
    with pytest.raises(ValueError, match="timezone-aware"):
        channel_status(tmall(), [], datetime(2026, 3, 1))
    with pytest.raises(ValueError, match="has not started"):
        monthly_evaluation(tmall(), [], "2026-04", sh(2026, 3, 31))


# --- the T-mall story ---------------------------------------------------------------------------------


def test_tmall_story_across_months():
    """视频 opened by hand; 实拍 locked, then n/5, opens on the 5th approval, then 6 a month."""
    video_opened = ManualOverride("tmall.video", OverrideKind.OPEN, "T-mall opened 视频", date(2026, 1, 10))
    account = tmall(video_opened)
    s = "tmall.shipai"
    pubs = [
        # February: five approvals open 实拍 on the 20th at 14:00.
        *(approved(s, sh(2026, 2, d)) for d in (3, 7, 12, 16)),
        approved(s, sh(2026, 2, 20, 14)),
        # March: six approvals, the month is met.
        *(approved(s, sh(2026, 3, d)) for d in (2, 6, 11, 17, 23, 29)),
        # April: slow first half, two approvals and one pending review by the 15th; catches up later.
        approved(s, sh(2026, 4, 3)),
        approved(s, sh(2026, 4, 9)),
        pending(s, sh(2026, 4, 14)),
        *(approved(s, sh(2026, 4, d)) for d in (18, 22, 26, 29)),
        # May: three approvals only.
        *(approved(s, sh(2026, 5, d)) for d in (5, 14, 27)),
    ]

    before = channel_status(account, pubs, sh(2026, 1, 5))
    assert before.channel("tmall.video").state is ChannelState.OPENING  # the platform has not opened it yet
    shipai = before.channel(s)
    assert shipai.state is ChannelState.LOCKED
    assert shipai.lock_reason is LockReason.PREREQUISITE
    assert shipai.missing_prerequisites == ("tmall.video",)

    jan = channel_status(account, pubs, sh(2026, 1, 15))
    assert jan.channel("tmall.video").state is ChannelState.OPEN
    assert jan.channel("tmall.video").open_since == datetime(2026, 1, 10, tzinfo=SH)
    assert jan.channel("tmall.video").opened_by_hand
    assert jan.channel("tmall.video").quota.status is QuotaStatus.NOT_REQUIRED
    assert jan.channel(s).state is ChannelState.OPENING
    assert (jan.channel(s).approved_toward_opening, jan.channel(s).opening_threshold) == (0, 5)

    feb18 = channel_status(account, pubs, sh(2026, 2, 18)).channel(s)
    assert feb18.state is ChannelState.OPENING
    assert feb18.approved_toward_opening == 4

    feb20 = channel_status(account, pubs, sh(2026, 2, 20, 15)).channel(s)
    assert feb20.state is ChannelState.OPEN
    assert feb20.open_since == sh(2026, 2, 20, 14)
    assert not feb20.opened_by_hand
    assert feb20.quota.status is QuotaStatus.NOT_REQUIRED  # the opening month is exempt by default
    assert channel_status(account, pubs, sh(2026, 2, 20, 13, 59)).channel(s).state is ChannelState.OPENING

    ledger = AccountLedger(account, pubs, sh(2026, 6, 1, 9))
    feb, mar, apr, may = (ledger.month(f"2026-0{m}").channel(s) for m in (2, 3, 4, 5))
    assert (feb.quota.required, feb.quota.approved, feb.quota.status) == (0, 5, QuotaStatus.NOT_REQUIRED)
    assert (mar.quota.required, mar.quota.approved, mar.quota.status) == (6, 6, QuotaStatus.MET)
    assert mar.cumulative_approved[-1] == 6
    assert mar.cumulative_approved[0] == 0 and mar.cumulative_approved[1] == 1  # 2 March
    assert apr.quota.status is QuotaStatus.MET
    assert (may.quota.approved, may.quota.status, may.quota.shortfall) == (3, QuotaStatus.MISSED, 3)
    assert may.state_at_close is ChannelState.OPEN

    mid_april = channel_status(account, pubs, sh(2026, 4, 15, 18), approval_rate=0.7).channel(s).quota
    assert (mid_april.approved, mid_april.pending, mid_april.days_left) == (2, 1, 16)
    assert mid_april.projected == pytest.approx(2 * 30 / 15 + 0.7)
    assert mid_april.status is QuotaStatus.AT_RISK

    late_april = channel_status(account, pubs, sh(2026, 4, 27)).channel(s).quota
    assert late_april.approved == 5
    assert late_april.status is QuotaStatus.ON_TRACK


# --- edge cases ---------------------------------------------------------------------------------------


def test_approval_late_on_the_last_day_in_shanghai_counts_in_that_month():
    late = approved("tmall.shipai", datetime(2026, 11, 30, 15, 30, tzinfo=UTC))  # 23:30 in Shanghai
    early = approved("tmall.shipai", sh(2026, 12, 1, 0, 30))  # 16:30 UTC on 30 November
    ledger = AccountLedger(tmall(VIDEO_OPEN_JAN), [late, early], sh(2027, 1, 2))
    nov, dec = (
        ledger.month("2026-11").channel("tmall.shipai"),
        ledger.month("2026-12").channel("tmall.shipai"),
    )
    assert nov.quota.approved == 1 and nov.daily_approved[29] == 1
    assert dec.quota.approved == 1 and dec.daily_approved[0] == 1


def test_months_follow_the_account_timezone():
    at = datetime(2026, 11, 30, 20, tzinfo=UTC)  # 1 December in Shanghai, 30 November in Los Angeles
    pubs = [approved("tmall.shipai", at)]
    la = tmall(VIDEO_OPEN_JAN, tz=ZoneInfo("America/Los_Angeles"))
    as_of = datetime(2027, 1, 5, tzinfo=UTC)
    assert monthly_evaluation(la, pubs, "2026-11", as_of).channel("tmall.shipai").quota.approved == 1
    assert (
        monthly_evaluation(tmall(VIDEO_OPEN_JAN), pubs, "2026-12", as_of)
        .channel("tmall.shipai")
        .quota.approved
        == 1
    )
    assert Account("store", (VIDEO,), timezone="Europe/Paris").timezone == ZoneInfo("Europe/Paris")


def test_leap_february_has_29_days_and_days_left_counts_today():
    account = tmall(VIDEO_OPEN_JAN)
    assert channel_status(account, [], sh(2028, 2, 10)).channel("tmall.video").quota.days_left == 20
    assert channel_status(account, [], sh(2028, 2, 29, 23, 59)).channel("tmall.video").quota.days_left == 1
    assert channel_status(account, [], sh(2027, 2, 10)).channel("tmall.video").quota.days_left == 19
    pubs = [approved("tmall.shipai", sh(2028, 2, 29, 23, 30))]
    feb = monthly_evaluation(account, pubs, "2028-02", sh(2028, 3, 1, 8)).channel("tmall.shipai")
    assert len(feb.daily_approved) == 29 and feb.daily_approved[-1] == 1
    assert feb.quota.days_left == 0


def test_month_with_no_activity():
    open_since_2025 = ManualOverride("tmall.shipai", OverrideKind.OPEN, "migrated store", date(2025, 6, 1))
    account = tmall(VIDEO_OPEN_JAN, open_since_2025)
    month = monthly_evaluation(account, [], "2026-07", sh(2026, 8, 3))
    shipai, video = month.channel("tmall.shipai"), month.channel("tmall.video")
    assert shipai.daily_approved == (0,) * 31 and shipai.daily_submitted == (0,) * 31
    assert (shipai.quota.required, shipai.quota.approved, shipai.quota.pending) == (6, 0, 0)
    assert shipai.quota.status is QuotaStatus.MISSED
    assert video.quota.status is QuotaStatus.NOT_REQUIRED
    running = channel_status(account, [], sh(2026, 8, 3)).channel("tmall.shipai").quota
    assert (running.projected, running.status) == (0, QuotaStatus.AT_RISK)


@pytest.mark.parametrize(
    "policy, required, status",
    [
        (OpeningMonthPolicy.EXEMPT, 0, QuotaStatus.NOT_REQUIRED),
        # Open 13 of 30 days: ceil(6 x 13 / 30) = ceil(2.6); the five opening approvals count.
        (OpeningMonthPolicy.PRORATED, 3, QuotaStatus.MET),
        (OpeningMonthPolicy.FULL, 6, QuotaStatus.MISSED),
    ],
)
def test_opening_month_policy(policy, required, status):
    rule = ChannelRule(
        "tmall.shipai",
        "实拍",
        "Real shot",
        requires=("tmall.video",),
        opening_threshold=5,
        monthly_minimum=6,
        opening_month=policy,
    )
    pubs = [approved("tmall.shipai", sh(2026, 9, d)) for d in (1, 3, 8, 12, 18)]  # opens 18 September
    ledger = AccountLedger(tmall(VIDEO_OPEN_JAN, shipai=rule), pubs, sh(2026, 11, 1))
    sep = ledger.month("2026-09").channel("tmall.shipai").quota
    assert sep.required == required
    assert (sep.approved, sep.status) == (5, status)
    assert ledger.month("2026-10").channel("tmall.shipai").quota.required == 6


def test_channel_opened_by_hand_on_the_first_needs_the_whole_month():
    first = ManualOverride("tmall.shipai", OverrideKind.OPEN, "platform letter", date(2026, 9, 1))
    second = ManualOverride("tmall.shipai", OverrideKind.OPEN, "platform letter", date(2026, 9, 2))
    as_of = sh(2026, 10, 1)
    assert (
        monthly_evaluation(tmall(VIDEO_OPEN_JAN, first), [], "2026-09", as_of)
        .channel("tmall.shipai")
        .quota.required
        == 6
    )
    assert (
        monthly_evaluation(tmall(VIDEO_OPEN_JAN, second), [], "2026-09", as_of)
        .channel("tmall.shipai")
        .quota.required
        == 0
    )


def test_withdrawal_after_the_month_reevaluates_it_and_history_stays_reproducible():
    open_before = ManualOverride("tmall.shipai", OverrideKind.OPEN, "migrated store", date(2026, 1, 1))
    account = tmall(VIDEO_OPEN_JAN, open_before)
    s = "tmall.shipai"
    pubs = [approved(s, sh(2026, 3, d)) for d in (2, 5, 9, 14, 20)]
    pubs.append(approved(s, sh(2026, 3, 25), withdrawn=sh(2026, 4, 6)))  # taken down in April

    at_close = monthly_evaluation(account, pubs, "2026-03", sh(2026, 4, 1)).channel(s).quota
    assert (at_close.approved, at_close.status) == (6, QuotaStatus.MET)
    later = monthly_evaluation(account, pubs, "2026-03", sh(2026, 4, 10)).channel(s).quota
    assert (later.approved, later.status) == (5, QuotaStatus.MISSED)
    again = monthly_evaluation(account, pubs, "2026-03", sh(2026, 4, 1)).channel(s).quota
    assert again == at_close


def test_withdrawn_approvals_can_undo_an_opening():
    s = "tmall.shipai"
    pubs = [approved(s, sh(2026, 5, d)) for d in (4, 6, 8, 10)]
    pubs.append(approved(s, sh(2026, 5, 12), withdrawn=sh(2026, 5, 20)))
    pubs.append(approved(s, sh(2026, 5, 25)))
    account = tmall(VIDEO_OPEN_JAN)
    assert channel_status(account, pubs, sh(2026, 5, 15)).channel(s).open_since == sh(2026, 5, 12)
    after = channel_status(account, pubs, sh(2026, 5, 21)).channel(s)
    assert (after.state, after.approved_toward_opening) == (ChannelState.OPENING, 4)
    assert channel_status(account, pubs, sh(2026, 5, 26)).channel(s).open_since == sh(2026, 5, 25)


def test_rejected_never_counts_and_a_resubmission_is_a_new_publication():
    open_before = ManualOverride("tmall.shipai", OverrideKind.OPEN, "migrated store", date(2026, 1, 1))
    account = tmall(VIDEO_OPEN_JAN, open_before)
    s = "tmall.shipai"
    first = rejected(s, sh(2026, 6, 27), sh(2026, 6, 29))
    again = approved(s, sh(2026, 7, 2), submitted=sh(2026, 6, 30))
    pubs = [first, again]

    june = monthly_evaluation(account, pubs, "2026-06", sh(2026, 7, 5)).channel(s)
    assert june.quota.approved == 0
    assert june.quota.pending == 1  # the resubmission was still in review when June ended
    assert june.daily_submitted[26] == 1 and june.daily_submitted[29] == 1
    assert monthly_evaluation(account, pubs, "2026-07", sh(2026, 7, 5)).channel(s).quota.approved == 1

    in_review = channel_status(account, pubs, sh(2026, 6, 28)).channel(s).quota
    assert in_review.pending == 1  # not yet rejected on the 28th
    assert channel_status(account, pubs, sh(2026, 6, 29, 18)).channel(s).quota.pending == 0
    undated = rejected(s, sh(2026, 6, 27))
    assert channel_status(account, [undated], sh(2026, 6, 28)).channel(s).quota.pending == 0


def test_pending_reviews_weight_the_projection():
    open_before = ManualOverride("tmall.shipai", OverrideKind.OPEN, "migrated store", date(2026, 1, 1))
    account = tmall(VIDEO_OPEN_JAN, open_before)
    s = "tmall.shipai"
    pubs = [approved(s, sh(2026, 9, d)) for d in (2, 5, 8)]
    pubs += [pending(s, sh(2026, 9, 9)), pending(s, sh(2026, 8, 28))]
    quota = channel_status(account, pubs, sh(2026, 9, 10), approval_rate=0.5).channel(s).quota
    assert (quota.approved, quota.pending) == (3, 2)
    assert quota.projected == pytest.approx(3 * 30 / 10 + 0.5 * 2)
    assert quota.status is QuotaStatus.ON_TRACK
    assert channel_status(account, pubs, sh(2026, 9, 10), approval_rate=0).channel(s).quota.projected == 9
    with pytest.raises(ValueError, match="approval_rate"):
        channel_status(account, pubs, sh(2026, 9, 10), approval_rate=1.5)


def test_count_by_submission_date():
    rule = ChannelRule(
        "tmall.shipai", "实拍", "Real shot", monthly_minimum=2, count_by=CountBy.SUBMISSION_DATE
    )
    account = Account("store", (rule,))
    s = "tmall.shipai"
    late = approved(s, sh(2026, 10, 3), submitted=sh(2026, 9, 29))
    pubs = [approved(s, sh(2026, 9, 10)), late, pending(s, sh(2026, 8, 30)), pending(s, sh(2026, 9, 20))]

    # On 1 October the late approval is not known yet; on the 5th it counts in September.
    assert monthly_evaluation(account, pubs, "2026-09", sh(2026, 10, 1)).channel(s).quota.approved == 1
    sep = monthly_evaluation(account, pubs, "2026-09", sh(2026, 10, 5)).channel(s).quota
    assert (sep.approved, sep.status) == (2, QuotaStatus.MET)
    assert monthly_evaluation(account, pubs, "2026-10", sh(2026, 10, 5)).channel(s).quota.approved == 0

    # Only the pending review submitted this month can land in this month.
    quota = channel_status(account, pubs, sh(2026, 9, 21), approval_rate=1).channel(s).quota
    assert quota.pending == 2
    assert quota.projected == pytest.approx(1 * 30 / 21 + 1)


def test_prerequisite_chain_and_manual_overrides():
    a = ChannelRule("a", "视频", "Video")
    b = ChannelRule("b", "实拍", "Real shot", requires=("a",), opening_threshold=2)
    c = ChannelRule("c", "直播切片", "Live clips", requires=("b",), opening_threshold=1, monthly_minimum=1)
    a_open = ManualOverride("a", OverrideKind.OPEN, "platform opened it", date(2026, 3, 10))
    pubs = [approved("b", sh(2026, 3, 1)), approved("c", sh(2026, 3, 2)), approved("b", sh(2026, 3, 12))]
    account = Account("store", (a, b, c), (a_open,))

    early = channel_status(account, pubs, sh(2026, 3, 5))
    assert early.channel("b").missing_prerequisites == ("a",)
    assert early.channel("c").state is ChannelState.LOCKED
    mid = channel_status(account, pubs, sh(2026, 3, 11))
    assert mid.channel("b").state is ChannelState.OPENING
    assert mid.channel("c").missing_prerequisites == ("b",)
    late = channel_status(account, pubs, sh(2026, 3, 13))
    assert late.channel("b").open_since == sh(2026, 3, 12)
    # c's approval predates b's opening; it still counts, and c opens with b.
    assert late.channel("c").open_since == sh(2026, 3, 12)

    # A later manual date wins over a threshold reached earlier; before it the channel is still opening.
    b_open = ManualOverride("b", OverrideKind.OPEN, "platform confirmed on the 20th", date(2026, 3, 20))
    confirmed = Account("store", (a, b, c), (a_open, b_open))
    assert channel_status(confirmed, pubs, sh(2026, 3, 15)).channel("b").state is ChannelState.OPENING
    status = channel_status(confirmed, pubs, sh(2026, 3, 21)).channel("b")
    assert (status.open_since, status.opened_by_hand) == (datetime(2026, 3, 20, tzinfo=SH), True)

    # Closing a channel by hand locks it and every channel that requires it, from its date on.
    a_closed = ManualOverride("a", OverrideKind.CLOSED, "store suspended", date(2026, 5, 1))
    closed = Account("store", (a, b, c), (a_closed,))
    assert channel_status(closed, pubs, sh(2026, 4, 30)).channel("c").state is ChannelState.OPEN
    after = channel_status(closed, pubs, sh(2026, 5, 2))
    assert after.channel("a").lock_reason is LockReason.CLOSED_BY_HAND
    assert after.channel("a").override_reason == "store suspended"
    assert after.channel("c").missing_prerequisites == ("b",)
    ledger = AccountLedger(closed, pubs, sh(2026, 6, 1))
    assert ledger.month("2026-04").channel("c").quota.required == 1
    assert ledger.month("2026-05").channel("c").quota.status is QuotaStatus.NOT_REQUIRED
    assert ledger.month("2026-04").channel("c").state_at_close is ChannelState.OPEN
    assert ledger.month("2026-05").channel("c").state_at_close is ChannelState.LOCKED
    forever = Account("store", (a, b, c), (ManualOverride("a", OverrideKind.CLOSED, "banned"),))
    assert channel_status(forever, pubs, sh(2026, 3, 13)).channel("a").state is ChannelState.LOCKED


def test_threshold_counted_on_prerequisites():
    video = ChannelRule("video", "视频", "Video")
    shipai = ChannelRule(
        "shipai",
        "实拍",
        "Real shot",
        requires=("video",),
        opening_threshold=3,
        threshold_source=ThresholdSource.PREREQUISITES,
    )
    pubs = [approved("video", sh(2026, 2, d)) for d in (1, 4, 9)] + [approved("shipai", sh(2026, 2, 2))]
    status = channel_status(Account("store", (video, shipai)), pubs, sh(2026, 2, 10)).channel("shipai")
    assert status.approved_toward_opening == 3
    assert status.open_since == sh(2026, 2, 9)


def test_caps_count_every_submission():
    account = Account("uploader", (BILIBILI,))
    c = "bilibili.video"
    day = [pending(c, sh(2026, 7, 3, h), account="uploader") for h in range(8, 14)]  # six on the 3rd
    day[0] = rejected(c, sh(2026, 7, 3, 8), sh(2026, 7, 3, 9), account="uploader")
    other = [approved(c, sh(2026, 7, 4, 15), account="uploader")]
    pubs = day + other

    today = channel_status(account, pubs, sh(2026, 7, 3, 11, 30)).channel(c)
    assert today.submitted_today == CapUsage(5, 4)
    assert today.submitted_today.remaining == 1
    assert channel_status(account, pubs, sh(2026, 7, 3, 20)).channel(c).submitted_today.exceeded
    assert channel_status(account, pubs, sh(2026, 7, 4, 20)).channel(c).submitted_this_month == CapUsage(
        60, 7
    )

    july = monthly_evaluation(account, pubs, "2026-07", sh(2026, 8, 1)).channel(c)
    assert july.busiest_day == CapUsage(5, 6)
    assert july.days_over_daily_cap == 1
    assert july.submissions == CapUsage(60, 7)
    assert july.quota.status is QuotaStatus.NOT_REQUIRED
    assert CapUsage(None, 9).remaining is None and not CapUsage(None, 9).exceeded


def test_several_accounts_stay_apart():
    north = tmall(VIDEO_OPEN_JAN)
    south = Account("south", (VIDEO, SHIPAI), (), ZoneInfo("Asia/Shanghai"))
    s = "tmall.shipai"
    pubs = [approved(s, sh(2026, 2, d), account="store") for d in range(1, 6)]
    pubs += [approved(s, sh(2026, 2, d), account="south") for d in range(1, 3)]
    pubs.append(approved("unknown.channel", sh(2026, 2, 3)))  # no rule for it: ignored
    ledgers = ledgers_by_account([north, south], pubs, sh(2026, 2, 10))
    assert ledgers["store"].status().channel(s).state is ChannelState.OPEN
    south_status = ledgers["south"].status()
    # Without an override, 视频 (no threshold, no prerequisite) is open from the start.
    assert south_status.channel("tmall.video").state is ChannelState.OPEN
    assert south_status.channel("tmall.video").open_since is None
    assert south_status.channel(s).state is ChannelState.OPENING
    assert south_status.channel(s).approved_toward_opening == 2
    assert ledgers["store"].month("2026-02").channel(s).quota.approved == 5
    assert ledgers["south"].month("2026-02").channel(s).quota.approved == 2
    assert channel_status(north, pubs, sh(2026, 2, 10)) == ledgers["store"].status()


def test_chinese_names_round_trip():
    status = channel_status(tmall(VIDEO_OPEN_JAN), [], sh(2026, 2, 1))
    assert [c.name_zh for c in status.channels] == ["视频", "实拍"]


# --- properties ---------------------------------------------------------------------------------------

BASE = sh(2026, 1, 1, 0)
WINDOW_MINUTES = 90 * 24 * 60  # January to March 2026
MONTHS = ("2026-01", "2026-02", "2026-03")
OPEN_ACCOUNT = tmall(
    VIDEO_OPEN_JAN, ManualOverride("tmall.shipai", OverrideKind.OPEN, "open all along", date(2025, 1, 1))
)


@st.composite
def publications(draw, withdrawn_only: bool = False):
    submitted = BASE + timedelta(minutes=draw(st.integers(0, WINDOW_MINUTES)))
    status = ReviewStatus.WITHDRAWN if withdrawn_only else draw(st.sampled_from(list(ReviewStatus)))
    delay = timedelta(minutes=draw(st.integers(0, 20 * 24 * 60)))
    later = timedelta(minutes=draw(st.integers(0, 20 * 24 * 60)))
    channel = draw(st.sampled_from(["tmall.video", "tmall.shipai"]))
    kwargs: dict = {}
    if status is ReviewStatus.APPROVED:
        kwargs["approved_at"] = submitted + delay
    elif status is ReviewStatus.REJECTED:
        kwargs["rejected_at"] = draw(st.none() | st.just(submitted + delay))
    elif status is ReviewStatus.WITHDRAWN:
        kwargs["approved_at"] = draw(st.none() | st.just(submitted + delay))
        kwargs["withdrawn_at"] = submitted + delay + later
    return Publication(next(_ids), "store", channel, submitted, status, **kwargs)


@settings(max_examples=60, deadline=None)
@given(st.lists(publications(), max_size=40), st.integers(32, 130))
def test_counts_are_never_negative_and_add_up(pubs, as_of_day):
    as_of = BASE + timedelta(days=as_of_day)
    ledger = AccountLedger(OPEN_ACCOUNT, pubs, as_of)
    for month in MONTHS:
        if YearMonth.parse(month).start(SH) > as_of:
            continue
        for ch in ledger.month(month).channels:
            q = ch.quota
            assert min(q.approved, q.pending, q.required, q.days_left) >= 0 and q.projected >= 0
            assert min(ch.daily_approved) >= 0 and min(ch.daily_submitted) >= 0
            assert sum(ch.daily_approved) == q.approved
            assert list(ch.cumulative_approved) == sorted(ch.cumulative_approved)
    for ch in ledger.status().channels:
        assert ch.quota.pending >= 0 and ch.submitted_today.used >= 0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(publications(), max_size=30),
    st.integers(0, 30 * 24 * 60 - 1),
    st.integers(0, 30 * 24 * 60 - 1),
)
def test_moving_an_approval_within_its_month_keeps_the_months_counts(pubs, first, second):
    submitted = sh(2026, 2, 28, 23, 59) - timedelta(days=30)  # 29 January, before any approval below
    # April has 30 days: both approval instants fall in April (Shanghai time).
    at_first = sh(2026, 4, 1, 0) + timedelta(minutes=first)
    at_second = sh(2026, 4, 1, 0) + timedelta(minutes=second)
    as_of = sh(2026, 5, 15)
    months = ("2026-01", "2026-02", "2026-03", "2026-04", "2026-05")

    def counts(at: datetime) -> list[int]:
        moved = approved("tmall.shipai", at, submitted=submitted)
        ledger = AccountLedger(OPEN_ACCOUNT, [*pubs, moved], as_of)
        return [c.quota.approved for m in months for c in ledger.month(m).channels]

    assert counts(at_first) == counts(at_second)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(publications(), max_size=30),
    st.lists(publications(withdrawn_only=True), max_size=15),
    st.integers(0, 200),
)
def test_withdrawn_publications_never_count(pubs, withdrawn, days_after):
    as_of = max((p.withdrawn_at for p in withdrawn), default=BASE) + timedelta(days=days_after)
    as_of = max(as_of, sh(2026, 3, 1))
    account = tmall(VIDEO_OPEN_JAN)  # 实拍 opens by threshold, so opening is checked too
    with_withdrawn = AccountLedger(account, [*pubs, *withdrawn], as_of)
    without = AccountLedger(account, pubs, as_of)
    for month in MONTHS:
        a, b = with_withdrawn.month(month), without.month(month)
        assert [c.quota.approved for c in a.channels] == [c.quota.approved for c in b.channels]
        assert [c.daily_approved for c in a.channels] == [c.daily_approved for c in b.channels]
    a_status, b_status = with_withdrawn.status(), without.status()
    assert [(c.state, c.open_since, c.approved_toward_opening) for c in a_status.channels] == [
        (c.state, c.open_since, c.approved_toward_opening) for c in b_status.channels
    ]


# --- channels that open on application ----------------------------------------------------------------


def test_a_channel_that_opens_on_application_stays_locked_until_its_opening_is_recorded():
    from backend.compliance.rules import Opening

    video = ChannelRule("tmall.video", "视频", "Video", opens=Opening.ON_APPLICATION)
    shipai = ChannelRule(
        "tmall.shipai", "实拍", "Real shot", requires=("tmall.video",), opening_threshold=5, monthly_minimum=6
    )
    pubs = [approved("tmall.shipai", sh(2026, 11, d, 15)) for d in (3, 4, 5, 6, 7)]
    before = channel_status(Account("store", (video, shipai)), pubs, sh(2026, 11, 10))
    v, s = before.channels
    assert (v.state, v.lock_reason) == (ChannelState.LOCKED, LockReason.NOT_OPENED)
    assert (s.state, s.lock_reason, s.missing_prerequisites) == (
        ChannelState.LOCKED,
        LockReason.PREREQUISITE,
        ("tmall.video",),
    )
    opened = ManualOverride("tmall.video", OverrideKind.OPEN, "千牛通知已开通", date(2026, 11, 2))
    after = channel_status(Account("store", (video, shipai), (opened,)), pubs, sh(2026, 11, 10))
    v, s = after.channels
    assert v.state is ChannelState.OPEN and v.opened_by_hand
    # 实拍 counts its own approvals (the shipped default): the fifth, on the 7th, opens it.
    assert s.state is ChannelState.OPEN and s.open_since == sh(2026, 11, 7, 15)
    with pytest.raises(ValueError, match="opens on application"):
        ChannelRule("x", "x", "x", requires=("tmall.video",), opening_threshold=2, opens=Opening.ON_APPLICATION)
