"""Where channels stand now, and the monthly report: quotas, daily progress, the approved materials with
their source footage, and ready clips that could fill a gap. Built from the loader and the rule engine."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session

from backend.catalogue.models import Material, MaterialKind, MaterialStatus, ReviewState
from backend.compliance import rules
from backend.compliance.accounts import platform_catalog
from backend.compliance.candidates import Gap, GapCandidate, gap_candidates
from backend.compliance.checks import bounds_of
from backend.compliance.engine import require_aware
from backend.compliance.fit import Facts, misfits
from backend.compliance.loader import ApprovalRow, Loaded, MaterialRef, chunks, load, materials_with_sources
from backend.compliance.models import PlatformAccount, Publication, PublicationStatus
from backend.errors import ReportPeriodInvalid
from backend.sqltypes import utcnow

GAP_STATUSES = (rules.QuotaStatus.AT_RISK, rules.QuotaStatus.ON_TRACK)
FILLER_POOL = 500  # newest ready derived materials considered as gap fillers


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
        found = platform_catalog().platform(account.platform_id)
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
    candidates: list[GapCandidate] = field(default_factory=list)  # drafts and proposals that fit a gap
    # Per channel, the approvals counted on each day of the running month (the dashboard's charts).
    daily_approved: dict[str, tuple[int, ...]] = field(default_factory=dict)


def _rate(account: PlatformAccount) -> float:
    return rules.DEFAULT_APPROVAL_RATE if account.approval_rate is None else account.approval_rate


def _ledger(loaded: Loaded, account: PlatformAccount, as_of: datetime) -> rules.AccountLedger:
    return rules.AccountLedger(
        loaded.engine_accounts[account.id],
        (),
        as_of,
        approval_rate=_rate(account),
        instants=loaded.instants[account.id],
        lists=loaded.lists.get(account.id),
    )


def compliance_status(
    session: Session,
    as_of: datetime | None = None,
    account_ids: Sequence[uuid.UUID] | None = None,
    *,
    with_candidates: bool = False,
) -> list[AccountStatusReport]:
    """Where every channel of every account (or of the given ones) stands at as_of (default: now); with
    `with_candidates`, the drafts and open proposals that fit each channel with a gap (up to its shortfall)."""
    as_of = require_aware("as_of", as_of) or utcnow()
    # The status asks nothing before the running month (lengths aside). A local date is at most a day
    # behind UTC's, so in every timezone the running month starts after the day before the 1st of the
    # UTC month of as_of less a day (e.g. 1 March 00:00 UTC is still February in Los Angeles).
    day_before = (as_of - timedelta(days=1)).astimezone(ZoneInfo("UTC"))
    recent = datetime(day_before.year, day_before.month, 1, tzinfo=ZoneInfo("UTC")) - timedelta(days=1)
    loaded = load(session, as_of, account_ids, from_instant=recent)
    reports = []
    for a in loaded.accounts:
        ledger = _ledger(loaded, a, as_of)
        reports.append(AccountStatusReport(_info(a), ledger.status(), daily_approved=ledger.daily_approved()))
    if with_candidates:
        gaps = _gaps(loaded, [(r.account, r.status.channels, {}) for r in reports])
        found = gap_candidates(session, gaps)
        for r in reports:
            r.candidates = found.get(r.account.id, [])
    return reports


def _gaps(
    loaded: Loaded, accounts: list[tuple[AccountInfo, Sequence[Any], dict[str, int]]]
) -> list[Gap]:
    """Each channel's gap still open (at risk or on track: its shortfall, less what is already offered)."""
    rows = {(a.id, c.channel_id): c for a in loaded.accounts for c in loaded.channels.get(a.id, [])}
    out = []
    for info, channels, offered in accounts:
        for c in channels:
            gap = c.quota.shortfall if c.quota.status in GAP_STATUSES else 0
            row = rows.get((info.id, c.channel_id))
            if row is not None and gap - offered.get(c.channel_id, 0) > 0:
                out.append(Gap(info.id, info.platform_id, row, gap - offered.get(c.channel_id, 0)))
    return out


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
    # What could fill the rest of a gap once the ready clips are counted: drafts to review, proposals to render.
    candidates: list[GapCandidate] = field(default_factory=list)


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
        # the engine's own English words; the key words them in the other languages
        raise ReportPeriodInvalid(str(exc), key="compliance.month-malformed", params={"month": text}) from exc


def monthly_report(
    session: Session,
    month: rules.YearMonth | str,
    as_of: datetime | None = None,
    account_ids: Sequence[uuid.UUID] | None = None,
) -> MonthlyReport:
    """Every account's month as known at as_of (default: now): quotas, daily progress, approved materials
    with their source footage, and ready derived materials not yet published that could fill the gaps."""
    month = month if isinstance(month, rules.YearMonth) else parse_month(month)
    as_of = require_aware("as_of", as_of) or utcnow()
    if month.start(ZoneInfo("Etc/GMT-14")) > as_of:  # not started anywhere on Earth yet
        raise ReportPeriodInvalid(key="compliance.month-not-started", params={"month": str(month), "as_of": as_of.isoformat()})
    # Every timezone's month lies within a day of the month in UTC: load the approvals in that window.
    utc = ZoneInfo("UTC")
    window = (month.start(utc) - timedelta(days=1), month.end(utc) + timedelta(days=1))
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
    # Gap fillers are suggestions for what can still be done: only in the month that is running.
    running = [
        r
        for r in reports
        if r.month is not None and rules.YearMonth.of(as_of, ZoneInfo(r.account.timezone)) == month
    ]
    _suggest_fillers(running, _filler_candidates(session, running), loaded)
    filler_ids = {f.material.id for r in running for f in r.fillers}
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
    for report in running:
        report.fillers = [
            GapFiller(f.channel_id, walked[f.material.id], f.preset_id, roots[f.material.id])
            for f in report.fillers
        ]
    offered = [
        (r.account, r.month.channels if r.month else [], _count_by_channel(r.fillers)) for r in running
    ]
    found = gap_candidates(session, _gaps(loaded, offered))
    for report in running:
        report.candidates = found.get(report.account.id, [])
    return MonthlyReport(month, as_of, utcnow(), reports)


def _count_by_channel(fillers: Sequence[GapFiller]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for f in fillers:
        counts[f.channel_id] += 1
    return counts


def _suggest_fillers(
    reports: Sequence[AccountMonthReport],
    candidates: dict[uuid.UUID, list[tuple[MaterialRef, str | None, Facts]]],
    loaded: Loaded,
) -> None:
    """Up to each channel's shortfall, candidates that fit the channel (each offered once per account)."""
    rows = {(a.id, c.channel_id): c for a in loaded.accounts for c in loaded.channels.get(a.id, [])}
    for report in reports:
        assert report.month is not None
        taken: set[uuid.UUID] = set()
        for channel in report.month.channels:
            gap = channel.quota.shortfall if channel.quota.status in GAP_STATUSES else 0
            row = rows.get((report.account.id, channel.channel_id))
            if not gap or row is None:
                continue
            bounds = bounds_of(row)
            for material, preset_id, facts in candidates.get(report.account.id, []):
                if gap == 0:
                    break
                if material.id in taken or misfits(facts, bounds):
                    continue
                taken.add(material.id)
                gap -= 1
                report.fillers.append(GapFiller(channel.channel_id, material, preset_id, material))


def _filler_candidates(
    session: Session, reports: Sequence[AccountMonthReport]
) -> dict[uuid.UUID, list[tuple[MaterialRef, str | None, Facts]]]:
    """Per account: ready derived materials not yet submitted there (rejections aside) and not waiting for
    or refused at review, the platform's own
    renders first, newest first, with the facts that say which channel they fit."""
    wanted = [r for r in reports if r.month and any(c.quota.shortfall for c in r.month.channels)]
    if not wanted:
        return {}
    m = Material.__table__  # type: ignore[attr-defined]
    rows = (
        session.connection()
        .execute(
            sa.select(
                m.c.id,
                m.c.title,
                m.c.kind,
                m.c.preset_id,
                m.c.media_type,
                m.c.display_width,
                m.c.display_height,
                m.c.width,
                m.c.height,
                m.c.rotation,
                m.c.duration_s,
            )
            .where(
                m.c.kind == MaterialKind.derived.value,
                m.c.status == MaterialStatus.ready.value,
                # An automatic re-edit is offered once a person approved it, never as a draft or rejected.
                m.c.review_state.in_([ReviewState.none.value, ReviewState.approved.value]),
            )
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
    for chunk in chunks(ids):
        used.update(
            (a, mid)
            for a, mid in session.connection().execute(
                sa.select(p.c.account_id, p.c.material_id).where(
                    p.c.material_id.in_(chunk), p.c.status != PublicationStatus.rejected.value
                )
            )
        )
    out: dict[uuid.UUID, list[tuple[MaterialRef, str | None, Facts]]] = {}
    for report in wanted:
        aid, prefix = report.account.id, report.account.platform_id + "."
        free = [r for r in rows if (aid, r[0]) not in used]
        free.sort(key=lambda r: not (r[3] or "").startswith(prefix))  # stable: keeps newest first within
        out[aid] = [(MaterialRef(r[0], r[1], r[2]), r[3], _facts(r)) for r in free]
    return out

def _facts(row: Any) -> Facts:
    _, _, _, _, media_type, dw, dh, w, h, rotation, duration = row
    if not (dw and dh) and w and h:
        dw, dh = (h, w) if (rotation or 0) % 180 == 90 else (w, h)
    return Facts(str(media_type), dw, dh, duration)


def previous_month(now: datetime | None = None, tz: ZoneInfo = rules.DEFAULT_TIMEZONE) -> rules.YearMonth:
    return rules.YearMonth.of(now or utcnow(), tz).previous()


def local_date(value: datetime, tz: str) -> date:
    return value.astimezone(ZoneInfo(tz)).date()

