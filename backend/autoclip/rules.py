"""Automatic re-edit rules as data (create, read, change, delete, dry-run) and their runs: a source video
that matches an enabled rule gets an analysis, then proposals and draft renders for the rule's presets."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import exists
from sqlmodel import Session, col, select

from backend import errors, i18n, queue
from backend.autoclip import service as autoclip
from backend.autoclip.models import Analysis, AnalysisStatus, AutoclipRule, AutoclipRun, RunStatus
from backend.catalogue import tags as tag_service
from backend.catalogue.models import Material, MaterialKind, MaterialStatus, MaterialTag, MediaType, Tag
from backend.compliance.accounts import channels_of, get_account
from backend.compliance.models import AccountChannel
from backend.config import Settings
from backend.platforms.service import get_catalog
from backend.renders.models import JobStatus, RenderJob
from backend.sqltypes import utcnow
from presets.schema import UnknownPreset
from workers.media.analysis import ANALYSIS_VERSION

MATCHING_MATERIALS_SHOWN = 100


@dataclass
class RuleFields:
    """What a person sets on a rule; None leaves a field as it is (on update)."""

    name: str | None = None
    enabled: bool | None = None
    tags: list[str] | None = None
    kind: str | None = None
    account_ids: list[uuid.UUID] | None = None
    count: int | None = None
    min_s: float | None = None
    max_s: float | None = None
    preset_ids: list[str] | None = None


def _resolve_tags(session: Session, refs: list[str]) -> list[int]:
    try:
        tags = tag_service.resolve_tag_refs(session, refs, create=True)  # an unknown category is a 422 there
    except (errors.BadRequest, errors.NotFound) as e:  # a malformed ref or an unknown tag id: the rule is invalid
        raise errors.AutoclipRuleInvalid(e.detail, key=e.key, params=e.params, field="match.tags") from None
    return [t.id for t in tags if t.id is not None]


def _check_presets(preset_ids: list[str]) -> list[str]:
    catalog = get_catalog()
    ids = list(dict.fromkeys(preset_ids))
    for pid in ids:
        try:
            catalog.preset(pid)
        except UnknownPreset:
            raise errors.AutoclipRuleInvalid(key="preset-not-found", params={"id": pid}, field="preset_ids", preset=pid) from None
    return ids


def preset_bounds(preset_ids: list[str]) -> tuple[float | None, float | None, list[str]]:
    """The clip durations every preset takes: the longest minimum and the shortest maximum (None: no
    bound), and which presets set them."""
    catalog = get_catalog()
    low: float | None = None
    high: float | None = None
    who: list[str] = []
    for pid in preset_ids:
        try:
            preset = catalog.preset(pid)
        except UnknownPreset:
            continue
        if preset.min_duration_s is not None and (low is None or preset.min_duration_s.value > low):
            low = preset.min_duration_s.value
            who.append(f"{pid} ≥ {low:g}s")
        if preset.max_duration_s is not None and (high is None or preset.max_duration_s.value < high):
            high = preset.max_duration_s.value
            who.append(f"{pid} ≤ {high:g}s")
    return low, high, who


def clip_bounds(rule: AutoclipRule, channels: Sequence[AccountChannel] = ()) -> tuple[float, float]:
    """The durations the rule's clips are proposed within: its own min and max, narrowed to what every one
    of its presets takes (a 90 s clip is no T-mall 实拍 video) and, when that leaves room, to what the video
    `channels` it fills (those of its accounts with a gap) take."""
    low, high, _ = preset_bounds(list(rule.preset_ids))
    lo = max(rule.min_s, low or 0.0)
    hi = min(rule.max_s, high) if high is not None else rule.max_s
    clo, chi = lo, hi
    for ch in channels:
        if "video" not in (ch.media_types or ("video",)):
            continue
        clo = max(clo, ch.min_duration_s or 0.0)
        chi = min(chi, ch.max_duration_s) if ch.max_duration_s is not None else chi
    return (clo, chi) if clo <= chi else (lo, hi)


def gap_channels(session: Session, rule: AutoclipRule) -> list[AccountChannel]:
    """The channels of the rule's accounts that still need clips this month (a shortfall in the plan)."""
    if not rule.account_ids:
        return []
    ids = [uuid.UUID(a) for a in rule.account_ids]
    rows = channels_of(session, ids)
    out = []
    for aid in ids:
        try:
            plans = autoclip.clip_plan(session, aid, extra=0)
        except errors.NotFound:
            continue
        short = {p.channel_id for p in plans if p.plan.shortfall > 0}
        out += [c for c in rows.get(aid, []) if c.channel_id in short]
    return out


def _check_accounts(session: Session, account_ids: list[uuid.UUID]) -> list[str]:
    for aid in account_ids:
        try:
            get_account(session, aid)
        except errors.NotFound:
            raise errors.AutoclipRuleInvalid(key="autoclip.rule-account-unknown", params={"id": str(aid)}, field="account_ids") from None
    return [str(a) for a in dict.fromkeys(account_ids)]


def _apply(session: Session, rule: AutoclipRule, f: RuleFields) -> None:
    if f.name is not None:
        rule.name = f.name
    if f.enabled is not None:
        rule.enabled = f.enabled
    if f.tags is not None:
        rule.match_tag_ids = _resolve_tags(session, f.tags)
    if f.kind is not None:
        rule.match_kind = f.kind
    if f.account_ids is not None:
        rule.account_ids = _check_accounts(session, f.account_ids)
    if f.count is not None:
        rule.count = f.count
    if f.min_s is not None:
        rule.min_s = f.min_s
    if f.max_s is not None:
        rule.max_s = f.max_s
    if f.preset_ids is not None:
        rule.preset_ids = _check_presets(f.preset_ids)
    if rule.min_s > rule.max_s:
        raise errors.AutoclipRuleInvalid(
            key="autoclip.rule-min-above-max", params={"min_s": rule.min_s, "max_s": rule.max_s}, field="min_s"
        )
    if not rule.preset_ids:
        raise errors.AutoclipRuleInvalid(key="autoclip.rule-needs-preset", field="preset_ids")
    low, high = clip_bounds(rule)
    if low > high:
        _, _, who = preset_bounds(list(rule.preset_ids))
        raise errors.AutoclipRuleInvalid(
            key="autoclip.rule-no-clip-fits-presets",
            params={"min_s": rule.min_s, "max_s": rule.max_s, "presets": {i18n.ZH: "、".join(who), i18n.EN: ", ".join(who)}},
            field="max_s",
        )


def create_rule(session: Session, f: RuleFields, *, created_by: uuid.UUID | None) -> AutoclipRule:
    assert f.name is not None and f.count is not None and f.min_s is not None and f.max_s is not None
    rule = AutoclipRule(name=f.name, count=f.count, min_s=f.min_s, max_s=f.max_s, created_by=created_by)
    _apply(session, rule, f)
    session.add(rule)
    session.flush()
    return rule


def get_rule(session: Session, rule_id: uuid.UUID) -> AutoclipRule:
    rule = session.get(AutoclipRule, rule_id)
    if rule is None:
        raise errors.NotFound(key="autoclip.rule-not-found", params={"id": str(rule_id)})
    return rule


def list_rules(session: Session) -> list[AutoclipRule]:
    return list(session.exec(select(AutoclipRule).order_by(col(AutoclipRule.created_at), col(AutoclipRule.id))))


def update_rule(session: Session, rule_id: uuid.UUID, f: RuleFields) -> AutoclipRule:
    rule = get_rule(session, rule_id)
    _apply(session, rule, f)
    rule.updated_at = utcnow()
    session.flush()
    return rule


def delete_rule(session: Session, rule_id: uuid.UUID) -> None:
    session.delete(get_rule(session, rule_id))
    session.flush()


def tag_refs(session: Session, rule: AutoclipRule) -> list[str]:
    """The rule's tags as 'category:name' (the Chinese name when there is one)."""
    if not rule.match_tag_ids:
        return []
    tags = {t.id: t for t in session.exec(select(Tag).where(col(Tag.id).in_(rule.match_tag_ids)))}
    return [f"{tags[i].category}:{tags[i].name_zh or tags[i].name_en}" for i in rule.match_tag_ids if i in tags]


# --------------------------------------------------------------------------- matching


@dataclass
class Assessment:
    matched: bool
    reasons: list[str] = field(default_factory=list)
    clip_count: int = 0
    existing_run: AutoclipRun | None = None

    @property
    def would_start(self) -> bool:
        return self.matched and self.clip_count > 0 and self.existing_run is None


def clip_count(session: Session, rule: AutoclipRule) -> tuple[int, str]:
    """The rule's `count`, or with accounts the largest quota shortfall of their channels (one clip is
    rendered for every preset, so it serves each channel at once), capped by `count`."""
    if not rule.account_ids:
        return rule.count, f"规则固定 {rule.count} 条 / the rule's count, {rule.count}"
    shortfall = 0
    for aid in rule.account_ids:
        try:
            plans = autoclip.clip_plan(session, uuid.UUID(aid), extra=0)
        except errors.NotFound:
            continue  # an account removed after the rule was written asks for nothing
        shortfall = max([shortfall, *(p.plan.shortfall for p in plans)])
    n = min(rule.count, shortfall)
    return n, (f"店铺配额还差 {shortfall} 条，规则每条录像最多 {rule.count} 条"
               f" / the stores' quotas are {shortfall} short; the rule takes at most {rule.count} per recording")


def assess(session: Session, rule: AutoclipRule, material: Material) -> Assessment:
    """Whether the rule takes this material and why (or why not), and how many clips it would ask for."""
    reasons: list[str] = []
    ok = True
    if not rule.enabled:
        ok = False
        reasons.append("规则已停用 / the rule is disabled")
    if material.media_type != MediaType.video or str(material.kind) != rule.match_kind:
        ok = False
        reasons.append(f"不是{rule.match_kind}视频 / not a {rule.match_kind} video ({material.kind}, {material.media_type})")
    if material.status != MaterialStatus.ready:
        ok = False
        reasons.append(f"素材状态为 {material.status} / the material is {material.status}, not ready")
    have = set(session.exec(select(MaterialTag.tag_id).where(col(MaterialTag.material_id) == material.id)))
    refs = dict(zip(rule.match_tag_ids, tag_refs(session, rule), strict=False))
    missing = [refs.get(t, str(t)) for t in rule.match_tag_ids if t not in have]
    if missing:
        ok = False
        reasons.append(f"缺少标签 {', '.join(missing)} / missing tags {', '.join(missing)}")
    elif rule.match_tag_ids:
        reasons.append(f"带有标签 {', '.join(refs.values())} / tagged {', '.join(refs.values())}")
    n, why = clip_count(session, rule)
    reasons.append(why)
    low, high = clip_bounds(rule, gap_channels(session, rule))
    if (low, high) != (rule.min_s, rule.max_s):
        reasons.append(
            f"按预设与渠道时长收窄为 {low:g}-{high:g} 秒 / clips of {low:g}-{high:g} s, as the presets and channels take"
        )
    existing = session.exec(
        select(AutoclipRun).where(col(AutoclipRun.rule_id) == rule.id, col(AutoclipRun.material_id) == material.id)
    ).first()
    if existing is not None:
        reasons.append(f"已有运行 {existing.id} / already run for this material ({existing.status})")
    return Assessment(matched=ok, reasons=reasons, clip_count=n, existing_run=existing)


def matching_materials(session: Session, rule: AutoclipRule, *, limit: int = MATCHING_MATERIALS_SHOWN) -> list[uuid.UUID]:
    """Ready materials of the rule's kind that carry all its tags, newest first."""
    q = select(Material.id).where(
        col(Material.kind) == rule.match_kind, col(Material.media_type) == MediaType.video,
        col(Material.status) == MaterialStatus.ready,
    )
    for tid in rule.match_tag_ids:
        q = q.where(exists().where(col(MaterialTag.material_id) == Material.id, col(MaterialTag.tag_id) == tid))
    return list(session.exec(q.order_by(col(Material.created_at).desc()).limit(limit)))


# --------------------------------------------------------------------------- runs


def start_runs(session: Session, material_id: uuid.UUID) -> list[AutoclipRun]:
    """Start a run for each enabled rule the material matches and has not run for: an analysis queued
    (its message goes out after the commit) and the run recording it. Called again, it starts nothing."""
    material = session.get(Material, material_id)
    if material is None or material.kind != MaterialKind.source or material.media_type != MediaType.video:
        return []
    # One trigger at a time per material (PostgreSQL), so a redelivered message cannot start a second run.
    session.execute(select(Material.id).where(col(Material.id) == material.id).with_for_update())
    started = []
    for rule in session.exec(select(AutoclipRule).where(col(AutoclipRule.enabled))):
        found = assess(session, rule, material)
        if not found.would_start:
            continue
        analysis = autoclip.start_analysis(session, material.id, requested_by=rule.created_by)
        run = AutoclipRun(rule_id=rule.id, material_id=material.id, analysis_id=analysis.id, clip_count=found.clip_count)
        session.add(run)
        session.flush()
        started.append(run)
    return started


def _runs_of_analysis(session: Session, analysis_id: uuid.UUID, *states: RunStatus) -> list[AutoclipRun]:
    return list(session.exec(
        select(AutoclipRun).where(col(AutoclipRun.analysis_id) == analysis_id, col(AutoclipRun.status).in_(states))
    ))


def _set(run: AutoclipRun, status: RunStatus, error: str | None = None) -> None:
    run.status, run.updated_at = status, utcnow()
    if error is not None:
        run.error = error[-4000:]


def runs_analysing(session: Session, analysis_id: uuid.UUID) -> None:
    for run in _runs_of_analysis(session, analysis_id, RunStatus.queued):
        _set(run, RunStatus.analysing)
    session.flush()


def runs_failed(session: Session, analysis_id: uuid.UUID, error: str) -> None:
    for run in _runs_of_analysis(session, analysis_id, RunStatus.queued, RunStatus.analysing):
        _set(run, RunStatus.failed, f"analysis failed: {error}")
    session.flush()


def continue_runs(session: Session, settings: Settings, analysis_id: uuid.UUID) -> list[AutoclipRun]:
    """After the analysis succeeded: each run's proposals (the rule's count, min and max) rendered for the
    rule's presets as drafts. A refusal (a preset removed since, a source gone) fails that run only."""
    runs = _runs_of_analysis(session, analysis_id, RunStatus.queued, RunStatus.analysing)
    for run in runs:
        _propose_and_render(session, settings, run)
    session.flush()
    return runs


def continue_run(session: Session, settings: Settings, run_id: uuid.UUID) -> AutoclipRun | None:
    """A run started on an analysis that had already succeeded (a back-fill): its proposals and drafts now.
    Idempotent: a run past `queued` (a redelivered message) is left as it is."""
    run = session.get(AutoclipRun, run_id, with_for_update=True)
    if run is None or run.status != RunStatus.queued:
        return None
    _propose_and_render(session, settings, run)
    session.flush()
    return run


def _propose_and_render(session: Session, settings: Settings, run: AutoclipRun) -> None:
    rule = get_rule(session, run.rule_id)
    _set(run, RunStatus.proposing)
    session.flush()
    low, high = clip_bounds(rule, gap_channels(session, rule))
    try:
        if low > high:  # a preset changed since the rule was written
            raise errors.AutoclipRuleInvalid(key="autoclip.rule-no-clip-fits", params={"min_s": rule.min_s, "max_s": rule.max_s})
        with session.begin_nested():
            proposals = autoclip.compute_proposals(
                session, run.material_id, count=run.clip_count, min_s=low, max_s=high,
                created_by=rule.created_by,
            )
            made = autoclip.render_proposals(
                session, settings, [p.id for p in proposals], list(rule.preset_ids),
                requested_by=rule.created_by, rule_id=str(rule.id),
            ) if proposals else []
    except errors.AppError as e:
        _set(run, RunStatus.failed, f"{e.slug}: {e.detail}")
        return
    run.job_ids = [str(job.id) for _, job in made]
    _set(run, RunStatus.rendering if made else RunStatus.done)


def run_status(session: Session, run: AutoclipRun) -> RunStatus:
    """A run waiting on its analysis follows it (a swept analysis out of attempts fails the run); a
    rendering run is done when its render jobs are, failed when one of them failed."""
    if run.status in (RunStatus.queued, RunStatus.analysing) and run.analysis_id is not None:
        analysis = session.get(Analysis, run.analysis_id)
        if analysis is not None and analysis.status == AnalysisStatus.failed:
            return RunStatus.failed
        if analysis is not None and analysis.status == AnalysisStatus.running:
            return RunStatus.analysing
        return run.status
    if run.status != RunStatus.rendering:
        return run.status
    states = set(session.exec(
        select(RenderJob.status).where(col(RenderJob.id).in_([uuid.UUID(j) for j in run.job_ids]))
    ))
    if JobStatus.failed in states or JobStatus.cancelled in states:
        return RunStatus.failed
    if states and states <= {JobStatus.succeeded}:
        return RunStatus.done
    return RunStatus.rendering


ANALYSIS_SHARE = 0.5  # of a run's progress: the analysis, then the draft renders


def run_progress(session: Session, run: AutoclipRun, status: RunStatus) -> float:
    """How far the run got, 0..1: its analysis' progress for the first half, its render jobs' for the
    second (a failed run says how far it got before it failed)."""
    if status == RunStatus.done:
        return 1.0
    if status in (RunStatus.queued, RunStatus.analysing) or (status == RunStatus.failed and not run.job_ids):
        analysis = session.get(Analysis, run.analysis_id) if run.analysis_id else None
        if analysis is None:
            return 0.0
        done = 1.0 if analysis.status == AnalysisStatus.succeeded else analysis.progress
        return round(ANALYSIS_SHARE * done, 4)
    if status == RunStatus.proposing or not run.job_ids:
        return ANALYSIS_SHARE
    jobs = list(session.exec(
        select(RenderJob.status, RenderJob.progress).where(col(RenderJob.id).in_([uuid.UUID(j) for j in run.job_ids]))
    ))
    share = sum(1.0 if st == JobStatus.succeeded else (pr or 0.0) for st, pr in jobs) / max(len(run.job_ids), 1)
    return round(ANALYSIS_SHARE + (1 - ANALYSIS_SHARE) * share, 4)


def get_run(session: Session, run_id: uuid.UUID) -> AutoclipRun:
    run = session.get(AutoclipRun, run_id)
    if run is None:
        raise errors.NotFound(key="autoclip.run-not-found", params={"id": str(run_id)})
    return run


def list_runs(session: Session, *, material_id: uuid.UUID | None, rule_id: uuid.UUID | None) -> list[AutoclipRun]:
    q = select(AutoclipRun)
    if material_id is not None:
        q = q.where(col(AutoclipRun.material_id) == material_id)
    if rule_id is not None:
        q = q.where(col(AutoclipRun.rule_id) == rule_id)
    return list(session.exec(q.order_by(col(AutoclipRun.created_at).desc(), col(AutoclipRun.id)).limit(500)))



# --------------------------------------------------------------------------- back-fill

BACKFILL_MAX = 100


@dataclass
class BackfillItem:
    material: Material
    matched: bool
    clip_count: int
    reasons: list[str]
    run: AutoclipRun | None = None  # the run started (None in a dry run)
    reuses_analysis: bool = False


def backfill_candidates(
    session: Session, rule: AutoclipRule, *, since: datetime | None, limit: int
) -> list[tuple[Material, Assessment]]:
    """Ready materials the rule takes that it has not run for, ingested at or after `since`, newest first,
    at most `limit` of them."""
    q = select(Material).where(
        col(Material.kind) == rule.match_kind, col(Material.media_type) == MediaType.video,
        col(Material.status) == MaterialStatus.ready,
        ~exists().where(col(AutoclipRun.rule_id) == rule.id, col(AutoclipRun.material_id) == Material.id),
    )
    if since is not None:
        q = q.where(col(Material.created_at) >= since)
    for tid in rule.match_tag_ids:
        q = q.where(exists().where(col(MaterialTag.material_id) == Material.id, col(MaterialTag.tag_id) == tid))
    found = []
    for m in session.exec(q.order_by(col(Material.created_at).desc(), col(Material.id)).limit(limit)):
        found.append((m, assess(session, rule, m)))
    return found


def _reusable_analysis(session: Session, material_id: uuid.UUID) -> Analysis | None:
    """The material's newest succeeded analysis when the current analyser made it: proposals are computed
    from its stored signals without decoding the recording again."""
    current = autoclip.current_analysis(session, material_id)
    return current if current is not None and current.analyser_version == ANALYSIS_VERSION else None


def backfill(
    session: Session, rule_id: uuid.UUID, *, since: datetime | None, limit: int, dry_run: bool
) -> list[BackfillItem]:
    """Apply the rule to recordings already in the catalogue: a run for each match it has not run for
    (newest first, at most `limit`, ingested at or after `since`), `origin` "backfill". A recording with a
    current analysis reuses it (its run goes straight to proposals); others are analysed first. With
    accounts, the quota shortfall is shared out: each run takes what the runs before it left, and matches
    beyond it get none. Proposals never overlap ranges of the source that drafts, published clips or chosen
    proposals use (lineage). `dry_run` writes nothing and says what would start."""
    # Two back-fills of one rule at once would both start the same runs: the rule's row serialises them (PostgreSQL).
    rule = session.get(AutoclipRule, rule_id, with_for_update=not dry_run)
    if rule is None:
        raise errors.NotFound(key="autoclip.rule-not-found", params={"id": str(rule_id)})
    if not rule.enabled:
        raise errors.AutoclipRuleDisabled(key="autoclip.rule-disabled", params={"name": rule.name, "id": str(rule.id)})
    limit = max(1, min(limit, BACKFILL_MAX))
    total, why = clip_count(session, rule)
    left = total
    items = []
    for material, found in backfill_candidates(session, rule, since=since, limit=limit):
        n = min(found.clip_count, left) if rule.account_ids else found.clip_count
        reasons = [r for r in found.reasons if r != why]
        if rule.account_ids:
            reasons.append(f"{why}；本次补跑还剩 {left} 条 / {left} left for this back-fill")
        else:
            reasons.append(why)
        reuse = _reusable_analysis(session, material.id)
        if reuse is not None:
            reasons.append(f"沿用分析 v{reuse.version} / reuses analysis v{reuse.version}")
        item = BackfillItem(material=material, matched=found.matched, clip_count=n, reasons=reasons, reuses_analysis=reuse is not None)
        items.append(item)
        if not found.matched or n <= 0:
            continue
        left -= n
        if dry_run:
            continue
        # The ingest trigger locks the material too: a run it started meanwhile is not started twice.
        session.execute(select(Material.id).where(col(Material.id) == material.id).with_for_update())
        if session.exec(select(AutoclipRun.id).where(
            col(AutoclipRun.rule_id) == rule.id, col(AutoclipRun.material_id) == material.id
        )).first() is not None:
            item.reasons.append("已有运行 / already run for this material")
            continue
        if reuse is not None:
            run = AutoclipRun(rule_id=rule.id, material_id=material.id, analysis_id=reuse.id, clip_count=n,
                              origin="backfill")
            session.add(run)
            session.flush()
            queue.enqueue(session, queue.CONTINUE_AUTOCLIP_RUN, str(run.id))
        else:
            analysis = autoclip.start_analysis(session, material.id, requested_by=rule.created_by)
            run = AutoclipRun(rule_id=rule.id, material_id=material.id, analysis_id=analysis.id, clip_count=n,
                              origin="backfill")
            session.add(run)
            session.flush()
        item.run = run
    return items
