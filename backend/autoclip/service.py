"""Analyses of recordings: start one (a versioned row, queued after commit), read them, attach a transcript
or the live session's data; and the worker's side: claim, heartbeat, finish, with the inputs it needs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, exists, func, or_, update
from sqlmodel import Session, col, select

from backend import errors, i18n, leases, queue
from backend.autoclip.models import Analysis, AnalysisStatus, Proposal, ProposalStatus, SessionData, Transcript
from backend.autoclip.plan import ChannelPlan, ChannelPosition, plan_channel
from backend.autoclip.session_data import SessionDataError, parse_session_data
from backend.autoclip.transcripts import SubtitleTranscript, TranscriptError, TranscriptSource
from backend.catalogue.models import (
    PRODUCT_CATEGORY,
    Material,
    MaterialKind,
    MaterialStatus,
    MediaType,
    ReviewState,
    Tag,
)
from backend.compliance import rules as compliance_rules
from backend.compliance.accounts import get_account
from backend.compliance.models import Publication
from backend.compliance.monthly import compliance_status
from backend.config import Settings
from backend.metrics.limits import ImportLimitExceeded
from backend.platforms.service import get_catalog
from backend.renders import service as renders
from backend.renders.models import JobStatus, RenderJob
from backend.sqltypes import utcnow
from presets.schema import Fit
from workers.media.analysis import AnalysisResult
from workers.media.analysis.proposals import Candidate, Reason, assess, snap_to_speech
from workers.media.analysis.proposals import propose as propose_clips
from workers.media.argv import output_size
from workers.media.reframe import MIN_ANALYSIS_VERSION, ReframeOptions, camera_path

MAX_ATTEMPTS = 3


def _analysable(session: Session, material_id: uuid.UUID) -> Material:
    m = session.get(Material, material_id)
    if m is None or m.status == MaterialStatus.deleted:
        raise errors.NotFound(key="material-not-found", params={"id": str(material_id)})
    if m.media_type != MediaType.video or m.kind != MaterialKind.source:
        raise errors.AnalysisNotPossible(key="autoclip.only-source-video")
    if m.status != MaterialStatus.ready or not m.storage_key:
        raise errors.AnalysisNotPossible(
            key="autoclip.material-not-ready", params={"status": i18n.words(f"status.{m.status}", str(m.status))}
        )
    return m


# --------------------------------------------------------------------------- analyses


def start_analysis(session: Session, material_id: uuid.UUID, *, requested_by: uuid.UUID | None) -> Analysis:
    """A new version of the material's analysis, queued; the message goes out after the commit."""
    material = _analysable(session, material_id)
    # Serialise version numbers per material: two concurrent starts must not both take version n+1.
    session.execute(select(Material.id).where(col(Material.id) == material.id).with_for_update())
    latest = session.scalar(select(func.max(Analysis.version)).where(col(Analysis.material_id) == material.id))
    analysis = Analysis(material_id=material.id, version=(latest or 0) + 1, requested_by=requested_by, max_attempts=MAX_ATTEMPTS)
    session.add(analysis)
    session.flush()
    queue.enqueue(session, queue.ANALYSE_MATERIAL, str(analysis.id))
    return analysis


def get_analysis(session: Session, analysis_id: uuid.UUID) -> Analysis:
    a = session.get(Analysis, analysis_id)
    if a is None:
        raise errors.NotFound(key="autoclip.analysis-not-found", params={"id": str(analysis_id)})
    return a


def list_analyses(session: Session, material_id: uuid.UUID) -> list[Analysis]:
    if session.get(Material, material_id) is None:
        raise errors.NotFound(key="material-not-found", params={"id": str(material_id)})
    return list(session.scalars(
        select(Analysis).where(col(Analysis.material_id) == material_id).order_by(col(Analysis.version).desc())
    ))


def current_analysis(session: Session, material_id: uuid.UUID) -> Analysis | None:
    """The newest succeeded analysis: what proposals are computed from."""
    return session.scalars(
        select(Analysis)
        .where(col(Analysis.material_id) == material_id, col(Analysis.status) == AnalysisStatus.succeeded)
        .order_by(col(Analysis.version).desc())
        .limit(1)
    ).first()


# --------------------------------------------------------------------------- attachments


def attach_transcript(
    session: Session, material_id: uuid.UUID, source: TranscriptSource, *, filename: str | None, created_by: uuid.UUID | None
) -> Transcript:
    _analysable(session, material_id)
    try:
        segments = source.segments()
    except TranscriptError as e:
        raise errors.TranscriptUnreadable(key=e.key, params=e.params) from e
    row = Transcript(
        material_id=material_id, source=source.name, filename=filename,
        segments=[s.as_dict() for s in segments], created_by=created_by,
    )
    session.add(row)
    session.flush()
    return row


def import_subtitles(
    session: Session, material_id: uuid.UUID, data: bytes, filename: str, *, offset_s: float, created_by: uuid.UUID | None
) -> Transcript:
    return attach_transcript(
        session, material_id, SubtitleTranscript(data, filename, offset_s), filename=filename, created_by=created_by
    )


def import_session_data(
    session: Session, material_id: uuid.UUID, data: bytes, filename: str, *, offset_s: float, created_by: uuid.UUID | None
) -> SessionData:
    _analysable(session, material_id)
    try:
        series = parse_session_data(data, filename, offset_s=offset_s)
    except SessionDataError as e:
        raise errors.SessionDataUnreadable(str(e), key=e.key, params=e.params) from e
    except ImportLimitExceeded as e:  # checked before and while reading (zip directory, rows, columns, cells)
        raise errors.MetricsImportTooLarge(str(e), key=e.key, params=e.params, limit=e.limit, max=e.maximum) from e
    row = SessionData(material_id=material_id, filename=filename, offset_s=offset_s, series=series, created_by=created_by)
    session.add(row)
    session.flush()
    return row


def latest_transcript(session: Session, material_id: uuid.UUID) -> Transcript | None:
    return session.scalars(
        select(Transcript).where(col(Transcript.material_id) == material_id)
        .order_by(col(Transcript.created_at).desc(), col(Transcript.id).desc()).limit(1)
    ).first()


def latest_session_data(session: Session, material_id: uuid.UUID) -> SessionData | None:
    return session.scalars(
        select(SessionData).where(col(SessionData.material_id) == material_id)
        .order_by(col(SessionData.created_at).desc(), col(SessionData.id).desc()).limit(1)
    ).first()


# --------------------------------------------------------------------------- the worker's side


@dataclass(frozen=True)
class ProductTag:
    tag_id: int
    names: tuple[str, ...]


def product_tags(session: Session) -> list[ProductTag]:
    """Every `product` tag with the names it goes by (Chinese and English)."""
    tags = session.scalars(select(Tag).where(col(Tag.category) == PRODUCT_CATEGORY).order_by(col(Tag.id)))
    out = []
    for t in tags:
        names = tuple(n for n in (t.name_zh, t.name_en) if n)
        if names and t.id is not None:
            out.append(ProductTag(t.id, names))
    return out


@dataclass(frozen=True)
class AnalysisInputs:
    analysis_id: uuid.UUID
    material_id: uuid.UUID
    storage_key: str
    products: list[ProductTag]
    session_series: dict[str, dict[str, Any]] | None
    transcript_segments: list[tuple[float, float, str]] | None
    transcript_id: int | None
    session_data_id: int | None


def claim_analysis(session: Session, analysis_id: uuid.UUID, owner: str, lease_seconds: float) -> bool:
    """Take the analysis' lease: queued, or running under a lease that has expired."""
    return leases.claim(session, Analysis, analysis_id, owner, lease_seconds, queued=AnalysisStatus.queued,
                        running=AnalysisStatus.running, error_code=None, error=None)


def inputs_for(session: Session, analysis_id: uuid.UUID) -> AnalysisInputs:
    a = get_analysis(session, analysis_id)
    material = session.get(Material, a.material_id)
    if material is None or not material.storage_key:
        raise errors.AnalysisNotPossible(key="material-file-gone")
    transcript = latest_transcript(session, a.material_id)
    data = latest_session_data(session, a.material_id)
    return AnalysisInputs(
        analysis_id=a.id, material_id=a.material_id, storage_key=material.storage_key,
        products=product_tags(session), session_series=data.series if data else None,
        transcript_segments=[(s["start"], s["end"], s["text"]) for s in transcript.segments] if transcript else None,
        transcript_id=transcript.id if transcript else None, session_data_id=data.id if data else None,
    )


def _update_held(session: Session, analysis_id: uuid.UUID, owner: str, **values: Any) -> bool:
    return leases.update_held(session, Analysis, analysis_id, owner, running=AnalysisStatus.running, **values)


def heartbeat(session: Session, analysis_id: uuid.UUID, owner: str, lease_seconds: float, progress: float) -> bool:
    return leases.heartbeat(session, Analysis, analysis_id, owner, lease_seconds, running=AnalysisStatus.running,
                            progress=progress)


def finish_analysis(
    session: Session,
    analysis_id: uuid.UUID,
    owner: str,
    *,
    signals: dict[str, Any] | None = None,
    analyser_version: int | None = None,
    inputs: dict[str, Any] | None = None,
    error_code: str | None = None,
    error: str | None = None,
) -> bool:
    """Store the signals (succeeded) or the error (failed), only while `owner` holds the lease."""
    now = utcnow()
    values: dict[str, Any] = {
        "status": AnalysisStatus.failed if error_code else AnalysisStatus.succeeded,
        "finished_at": now, "updated_at": now, "lease_owner": None, "lease_expires_at": None,
        "error_code": error_code, "error": error and error[-4000:],
    }
    if not error_code:
        values.update(signals=signals, analyser_version=analyser_version, inputs=inputs or {}, progress=1.0)
    return _update_held(session, analysis_id, owner, **values)


def release_analysis(session: Session, analysis_id: uuid.UUID, owner: str) -> bool:
    """Give the lease back so a retry can take it at once (a transient failure)."""
    return leases.release(session, Analysis, analysis_id, owner, queued=AnalysisStatus.queued,
                          running=AnalysisStatus.running)


def sweep_analyses(session: Session, *, stale_after: timedelta = timedelta(minutes=10)) -> list[uuid.UUID]:
    """Analyses sent again (after commit): running under an expired lease (a worker died) or queued for
    `stale_after` (a lost message), each at most once every `stale_after`. Those out of attempts fail
    instead."""
    return leases.sweep(
        session, Analysis, queued=AnalysisStatus.queued, running=AnalysisStatus.running,
        failed=AnalysisStatus.failed, sent_at=Analysis.updated_at, stale_after=stale_after,
        send=lambda analysis_id: queue.enqueue(session, queue.ANALYSE_MATERIAL, str(analysis_id)),
        error_column=Analysis.error,
        worker_lost=leases.GiveUp("analysis-attempts", "gave up: the worker stopped on every attempt"),
        exhausted=leases.GiveUp("analysis-attempts", "gave up: every attempt failed with a transient error"),
    ).sent


# --------------------------------------------------------------------------- proposals


def _signals_of(analysis: Analysis) -> AnalysisResult:
    try:
        return AnalysisResult.model_validate(analysis.signals or {})
    except ValidationError as e:
        raise errors.ProposalsNeedAnalysis(
            key="autoclip.analysis-unreadable", params={"id": str(analysis.id)}
        ) from e


def _ranges_of(stored: Any) -> list[tuple[float, float]]:
    ranges = stored.get("ranges") if isinstance(stored, dict) else None
    out = []
    for r in ranges if isinstance(ranges, list) else []:
        if isinstance(r, dict) and isinstance(r.get("start"), int | float) and isinstance(r.get("end"), int | float):
            out.append((float(r["start"]), float(r["end"])))
    return out


def used_ranges(session: Session, material_id: uuid.UUID, *, besides: uuid.UUID | None = None) -> list[tuple[float, float]]:
    """Ranges of the source that clips already use, by lineage: every live or published derived material's recipe,
    every render job still to run, and the material's accepted and rejected proposals (a person chose
    or refused them; `besides` leaves one proposal out, the one being adjusted)."""
    used: list[tuple[float, float]] = []
    # A clip deleted from the catalogue after it was published still used its range on a platform.
    published = exists().where(col(Publication.material_id) == Material.id)
    derived = session.scalars(
        select(Material).where(
            col(Material.parent_id) == material_id,
            col(Material.kind) == MaterialKind.derived,
            or_(col(Material.status).not_in([MaterialStatus.deleted, MaterialStatus.failed]), published),
        )
    )
    for m in derived:
        used += _ranges_of(m.recipe)
    jobs = session.scalars(
        select(RenderJob).where(
            col(RenderJob.source_id) == material_id, col(RenderJob.status).in_([JobStatus.queued, JobStatus.running])
        )
    )
    for job in jobs:
        used += _ranges_of(job.request)
    decided = session.scalars(
        select(Proposal).where(col(Proposal.material_id) == material_id, col(Proposal.status) != ProposalStatus.proposed)
    )
    used += [(p.start_s, p.end_s) for p in decided if p.id != besides]
    return used


def _reasons(candidate: Candidate) -> list[dict[str, Any]]:
    return [r.as_dict() for r in candidate.reasons]


def compute_proposals(
    session: Session, material_id: uuid.UUID, *, count: int, min_s: float, max_s: float, created_by: uuid.UUID | None
) -> list[Proposal]:
    """Propose up to `count` clips of `min_s`..`max_s` seconds from the newest finished analysis; they
    replace the material's open proposals. Nothing is rendered. The material's row is locked meanwhile
    (PostgreSQL), so two requests at once do not both replace the same open proposals."""
    if session.get(Material, material_id, with_for_update=True) is None:
        raise errors.NotFound(key="material-not-found", params={"id": str(material_id)})
    analysis = current_analysis(session, material_id)
    if analysis is None:
        raise errors.ProposalsNeedAnalysis(key="autoclip.no-finished-analysis", params={"id": str(material_id)})
    result = _signals_of(analysis)
    used = used_ranges(session, material_id)
    picked = propose_clips(result, count=count, min_s=min_s, max_s=max_s, used=used)
    replaced = session.scalars(
        select(Proposal).where(col(Proposal.material_id) == material_id, col(Proposal.status) == ProposalStatus.proposed)
    )
    stale = [p.storyboard["key"] for p in replaced if p.storyboard and p.storyboard.get("key")]
    session.execute(
        delete(Proposal).where(col(Proposal.material_id) == material_id, col(Proposal.status) == ProposalStatus.proposed)
    )
    rows = [
        Proposal(
            analysis_id=analysis.id, material_id=material_id, type=c.type, product_tag_id=c.tag_id,
            start_s=c.start, end_s=c.end, score=c.score, reasons=_reasons(c), created_by=created_by,
        )
        for c in picked
    ]
    session.add_all(rows)
    session.flush()
    if rows or stale:  # the old storyboards are deleted by the same task, once this has committed
        queue.enqueue(session, queue.PROPOSAL_STORYBOARDS, str(material_id), *stale)
    return rows


def list_proposals(session: Session, material_id: uuid.UUID, status: ProposalStatus | None = None) -> list[Proposal]:
    if session.get(Material, material_id) is None:
        raise errors.NotFound(key="material-not-found", params={"id": str(material_id)})
    query = select(Proposal).where(col(Proposal.material_id) == material_id)
    if status is not None:
        query = query.where(col(Proposal.status) == status)
    return list(session.scalars(query.order_by(col(Proposal.start_s), col(Proposal.id))))


def get_proposal(session: Session, proposal_id: uuid.UUID) -> Proposal:
    row = session.get(Proposal, proposal_id)
    if row is None:
        raise errors.NotFound(key="autoclip.proposal-not-found", params={"id": str(proposal_id)})
    return row


def adjust_proposal(session: Session, proposal_id: uuid.UUID, *, start: float | None, end: float | None) -> Proposal:
    """Move a proposal's in and/or out point within the source. A point inside an utterance is moved out
    of it when the utterance's edge is within a second, else refused; the type, score and reasons are
    assessed again for the new range."""
    row = get_proposal(session, proposal_id)
    if row.status == ProposalStatus.rejected:
        raise errors.ProposalStateConflict(key="autoclip.proposal-rejected", params={"id": str(proposal_id)})
    analysis = session.get(Analysis, row.analysis_id)
    if analysis is None:  # pragma: no cover - the foreign key cascades
        raise errors.NotFound(key="autoclip.analysis-not-found", params={"id": str(row.analysis_id)})
    result = _signals_of(analysis)
    a = row.start_s if start is None else start
    b = row.end_s if end is None else end
    if not 0 <= a < b <= result.duration + 1e-6:
        raise errors.ProposalRangeInvalid(
            key="autoclip.range-not-in-source", params={"start": a, "end": b, "duration": result.duration}
        )
    snapped = snap_to_speech(result, a, b)
    if snapped is None:
        raise errors.ProposalCutsSpeech(
            key="autoclip.range-cuts-speech", params={"start": a, "end": b},
            start=a, end=b,
        )
    for ua, ub in used_ranges(session, row.material_id, besides=row.id):
        if snapped.start < ub and ua < snapped.end:
            raise errors.ProposalRangeUsed(
                key="autoclip.range-used",
                params={"start": snapped.start, "end": snapped.end, "used_start": ua, "used_end": ub},
            )
    c = assess(result, snapped.start, snapped.end, row.product_tag_id)
    reasons = _reasons(c)
    if snapped.snapped:
        reasons.append(Reason("snapped", "出入点已移出语音", "in/out moved out of speech", snapped.start, snapped.end,
                              f"{a:g}-{b:g}").as_dict())
    moved = (snapped.start, snapped.end) != (row.start_s, row.end_s)
    row.start_s, row.end_s, row.type, row.score, row.reasons = snapped.start, snapped.end, c.type, c.score, reasons
    row.updated_at = utcnow()
    if moved:  # the old storyboard shows the old range: a new one is made for this one, the old one goes
        stale = [row.storyboard["key"]] if row.storyboard and row.storyboard.get("key") else []
        row.storyboard = None
        queue.enqueue(session, queue.PROPOSAL_STORYBOARDS, str(row.material_id), *stale)
    session.flush()
    return row


def reject_proposal(session: Session, proposal_id: uuid.UUID) -> Proposal:
    row = get_proposal(session, proposal_id)
    if row.status != ProposalStatus.rejected:
        row.status = ProposalStatus.rejected
        row.updated_at = utcnow()
        session.flush()
    return row


# --------------------------------------------------------------------------- storyboards

STORYBOARD_PREFIX = "storyboards"


def storyboard_key(material_id: uuid.UUID, proposal_id: uuid.UUID, start: float, end: float) -> str:
    """Where the storyboard of a proposal's range is kept: the range is in the key, so a moved in or out
    point makes a new object and a redelivered task writes the same one again."""
    return f"{STORYBOARD_PREFIX}/{material_id}/{proposal_id}-{round(start * 1000)}-{round(end * 1000)}.jpg"


@dataclass(frozen=True)
class StoryboardWanted:
    proposal_id: uuid.UUID
    start: float
    end: float
    key: str


@dataclass(frozen=True)
class StoryboardSource:
    storage_key: str
    rotation: int
    wanted: list[StoryboardWanted]


def stale_storyboard_keys(material_id: uuid.UUID, keys: list[str]) -> list[str]:
    """Of keys a message names for deletion, those that are storyboards of this material (a message never
    makes the worker delete anything else)."""
    prefix = f"{STORYBOARD_PREFIX}/{material_id}/"
    return [k for k in keys if k.startswith(prefix) and "/" not in k[len(prefix):] and k.endswith(".jpg")]


def storyboards_wanted(session: Session, material_id: uuid.UUID) -> StoryboardSource | None:
    """The material's proposals (not rejected) whose current range has no storyboard yet, with the file to
    decode them from; None when there is nothing to make."""
    material = session.get(Material, material_id)
    if material is None or not material.storage_key or material.status == MaterialStatus.deleted:
        return None
    rows = session.scalars(
        select(Proposal).where(
            col(Proposal.material_id) == material_id, col(Proposal.status) != ProposalStatus.rejected,
        ).order_by(col(Proposal.start_s))
    )
    # Filtered here, not in SQL: a JSON column keeps None as JSON null, which IS NULL does not match.
    wanted = [
        StoryboardWanted(p.id, p.start_s, p.end_s, storyboard_key(material_id, p.id, p.start_s, p.end_s))
        for p in rows if not p.storyboard
    ]
    return StoryboardSource(material.storage_key, material.rotation or 0, wanted) if wanted else None


def forget_storyboards(session: Session, material_id: uuid.UUID) -> list[str]:
    """The recording was deleted: its proposals' storyboards are dropped from the rows here and deleted
    from storage by the storyboard task once this has committed (it makes none for a deleted material);
    the keys it was sent. A restore makes them again (`remake_storyboards`)."""
    rows = session.scalars(select(Proposal).where(col(Proposal.material_id) == material_id))
    stale = []
    for p in rows:
        if p.storyboard:  # JSON null or a dict: tested here, not in SQL (see `storyboards_wanted`)
            if p.storyboard.get("key"):
                stale.append(p.storyboard["key"])
            p.storyboard = None
    session.flush()
    if stale:
        queue.enqueue(session, queue.PROPOSAL_STORYBOARDS, str(material_id), *stale)
    return stale


def remake_storyboards(session: Session, material_id: uuid.UUID) -> bool:
    """The recording was restored: its proposals (not rejected) get their storyboards again, made by the
    storyboard task after the commit. True when a message is sent."""
    rows = session.scalars(
        select(Proposal.storyboard).where(
            col(Proposal.material_id) == material_id, col(Proposal.status) != ProposalStatus.rejected,
        )
    )
    if all(rows):
        return False
    queue.enqueue(session, queue.PROPOSAL_STORYBOARDS, str(material_id))
    return True


def sweep_storyboards(
    session: Session, *, after: timedelta = timedelta(minutes=10), window: timedelta = timedelta(days=1)
) -> list[uuid.UUID]:
    """Materials with proposals changed `after`..`window` ago that still have no storyboard (a lost message,
    a worker that died): their storyboard message is sent again after the commit. A deleted recording's
    proposals have none on purpose."""
    now = utcnow()
    rows = session.execute(
        select(Proposal.material_id, Proposal.storyboard)
        .join(Material, col(Material.id) == col(Proposal.material_id))
        .where(
            col(Proposal.status) != ProposalStatus.rejected, col(Material.status) != MaterialStatus.deleted,
            col(Proposal.updated_at) < now - after, col(Proposal.updated_at) >= now - window,
        )
    )
    missing = list(dict.fromkeys(mid for mid, board in rows if not board))
    for mid in missing:
        queue.enqueue(session, queue.PROPOSAL_STORYBOARDS, str(mid))
    return missing


def store_storyboard(
    session: Session, want: StoryboardWanted, *, times: list[float], width: int, height: int
) -> bool:
    """Record a storyboard made for `want`'s range; False (nothing written) when the proposal has moved or
    gone meanwhile, or its recording was deleted: that storyboard shows a range nobody looks at any more."""
    recording_kept = (
        select(Material.id)
        .where(col(Material.id) == col(Proposal.material_id), col(Material.status) != MaterialStatus.deleted)
        .exists()
    )
    result = session.execute(
        update(Proposal)
        .where(
            col(Proposal.id) == want.proposal_id, col(Proposal.start_s) == want.start, col(Proposal.end_s) == want.end,
            recording_kept,
        )
        .values(storyboard={"key": want.key, "times": times, "width": width, "height": height})
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- drafts


def draft_lineage(proposal: Proposal, rule_id: str | None) -> dict[str, Any]:
    """What a draft's recipe keeps of the proposal it was rendered from (under `autoclip`)."""
    return {
        "proposal_id": str(proposal.id),
        "analysis_id": str(proposal.analysis_id),
        "type": proposal.type,
        "score": proposal.score,
        "reasons": proposal.reasons,
        "product_tag_id": proposal.product_tag_id,
        "rule_id": rule_id,
    }


def _reframe_signals(session: Session, material_id: uuid.UUID) -> AnalysisResult | None:
    """The material's current analysis when it can drive a smart reframe (picture signals, from an analyser
    that kept every face of a sample), else None."""
    analysis = current_analysis(session, material_id)
    if analysis is None or not analysis.signals or (analysis.analyser_version or 0) < MIN_ANALYSIS_VERSION:
        return None
    try:
        result = AnalysisResult.model_validate(analysis.signals)
    except ValidationError:
        return None
    return result if result.picture is not None else None


def draft_reframe(
    result: AnalysisResult | None, source_size: tuple[int, int] | None, preset_ids: list[str], start: float, end: float
) -> tuple[dict[str, Fit], list[renders.CropKeyIn] | None]:
    """How a draft frames a preset narrower than its landscape source (9:16, 3:4 from 16:9): fit `smart` along
    the suggested path of its range where the analysis has picture signals and finds a subject, else the
    preset's reframe fallback (`crop` for "centre", or `pad`). A preset whose fit is `pad`, or one as wide as
    the source, keeps its own fit.

    A render request carries one path: it is computed for the narrowest such preset and followed by the
    presets of the same aspect and fallback; the others take their fallback."""
    src = result.picture.frame_size if result is not None and result.picture is not None else source_size
    if not src or not src[0] or not src[1]:
        return {}, None
    catalog = get_catalog()
    by_id = {pr.id: pr for pr in catalog.presets()}
    known = [by_id[i] for i in preset_ids if i in by_id]  # the render request refuses the others
    narrower = [
        pr for pr in known
        if pr.fit in ("crop", "smart") and pr.width.value * src[1] < pr.height.value * src[0] * 0.99
    ]
    if not narrower:
        return {}, None
    fit: dict[str, Fit] = {pr.id: _fallback_fit(pr.reframe_fallback) for pr in narrower}
    if result is None or result.picture is None:
        return fit, None
    lead = min(narrower, key=lambda pr: pr.width.value / pr.height.value)
    out = output_size(src[0], src[1], lead.width.value, lead.height.value, False)
    path = camera_path(result, [(start, end)], out, ReframeOptions(fallback=lead.reframe_fallback))
    if not any(s.subjects > 0 for s in path.shots):
        return fit, None
    for pr in narrower:
        if pr.width.value * lead.height.value == pr.height.value * lead.width.value and pr.reframe_fallback == lead.reframe_fallback:
            fit[pr.id] = "smart"
    keys = [renders.CropKeyIn(t=k.t, x=k.x, y=k.y, scale=k.scale, pad=k.pad) for k in path.keys[:2000]]
    return fit, keys


def _fallback_fit(fallback: str) -> Fit:
    return "pad" if fallback == "pad" else "crop"


def render_proposals(
    session: Session,
    settings: Settings,
    proposal_ids: list[uuid.UUID],
    preset_ids: list[str],
    *,
    requested_by: uuid.UUID | None,
    rule_id: str | None = None,
) -> list[tuple[Proposal, RenderJob]]:
    """One render job per proposal (its in and out point, every preset), each proposal `accepted`; the
    renditions become `draft` materials waiting for review. All or nothing: a proposal that is not open
    (already accepted or rejected) or a request the renders service refuses fails the whole call, and the
    caller's transaction is rolled back."""
    proposals = [get_proposal(session, pid) for pid in dict.fromkeys(proposal_ids)]
    for p in proposals:
        # Lock the row so two concurrent requests cannot render the same proposal twice.
        session.execute(select(Proposal.id).where(col(Proposal.id) == p.id).with_for_update())
        session.refresh(p)
        if p.status != ProposalStatus.proposed:
            raise errors.ProposalStateConflict(key="autoclip.proposal-not-open", params={
                "id": str(p.id), "status": i18n.words(f"proposals.status.{p.status}", str(p.status))})
    made = []
    analyses: dict[uuid.UUID, AnalysisResult | None] = {}
    for p in proposals:
        fit: dict[str, Fit] = {}
        crop_path = None
        if settings.autoclip_smart_reframe:
            if p.material_id not in analyses:
                analyses[p.material_id] = _reframe_signals(session, p.material_id)
            source = session.get(Material, p.material_id)
            size = (source.display_width or source.width or 0, source.display_height or source.height or 0) if source else None
            fit, crop_path = draft_reframe(analyses[p.material_id], size, list(preset_ids), p.start_s, p.end_s)
        request = renders.RenderRequest(
            ranges=[renders.TimeRangeIn(start=p.start_s, end=p.end_s)], presets=list(preset_ids),
            fit=fit, crop_path=crop_path,
        )
        job = renders.create_render_job(
            session, None, settings, p.material_id, request, requested_by=requested_by, origin="autoclip",
            draft=draft_lineage(p, rule_id),
        )
        p.status = ProposalStatus.accepted
        p.updated_at = utcnow()
        made.append((p, job))
    session.flush()
    return made


def review_material(
    session: Session, material_id: uuid.UUID, *, approve: bool, reason: str | None, by: uuid.UUID | None
) -> Material:
    """Approve or reject a draft. Deciding again is a conflict: a decision is a person's, not undone here."""
    m = session.get(Material, material_id)
    if m is None or m.status == MaterialStatus.deleted:
        raise errors.NotFound(key="material-not-found", params={"id": str(material_id)})
    session.execute(select(Material.id).where(col(Material.id) == m.id).with_for_update())
    session.refresh(m)
    if m.review_state != ReviewState.draft:
        raise errors.MaterialNotDraft(key="autoclip.material-not-draft", params={
            "id": str(material_id), "review": i18n.words(f"proposals.review.{m.review_state}", str(m.review_state))})
    m.review_state = ReviewState.approved if approve else ReviewState.rejected
    m.updated_at = utcnow()
    m.review = {"decision": str(m.review_state), "reason": reason, "by": str(by) if by else None,
                "at": m.updated_at.isoformat()}
    session.flush()
    return m


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class ChannelClipPlan:
    channel_id: str
    name_zh: str
    name_en: str
    state: str
    month: str
    plan: ChannelPlan


def clip_plan(
    session: Session, account_id: uuid.UUID, *, extra: int, as_of: datetime | None = None
) -> list[ChannelClipPlan]:
    """For each channel of the account, how many clips to propose today: its quota position this month
    (compliance's status at `as_of`, default now) through `plan_channel`, at the account's approval rate."""
    account = get_account(session, account_id)
    rate = compliance_rules.DEFAULT_APPROVAL_RATE if account.approval_rate is None else account.approval_rate
    (report,) = compliance_status(session, as_of, [account.id])
    out = []
    for c in report.status.channels:
        q = c.quota
        position = ChannelPosition(
            channel_id=c.channel_id, required=q.required, approved=q.approved, pending=q.pending,
            days_left=q.days_left, approval_rate=rate,
        )
        out.append(ChannelClipPlan(
            channel_id=c.channel_id, name_zh=c.name_zh, name_en=c.name_en, state=str(c.state), month=str(q.month),
            plan=plan_channel(position, extra=extra),
        ))
    return out
