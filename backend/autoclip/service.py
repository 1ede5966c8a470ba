"""Analyses of recordings: start one (a versioned row, queued after commit), read them, attach a transcript
or the live session's data; and the worker's side: claim, heartbeat, finish, with the inputs it needs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, or_, update
from sqlmodel import Session, col, select

from backend import errors, queue
from backend.autoclip.models import Analysis, AnalysisStatus, SessionData, Transcript
from backend.autoclip.session_data import SessionDataError, parse_session_data
from backend.autoclip.transcripts import SubtitleTranscript, TranscriptError, TranscriptSource
from backend.catalogue.models import PRODUCT_CATEGORY, Material, MaterialKind, MaterialStatus, MediaType, Tag
from backend.metrics.limits import ImportLimitExceeded
from backend.sqltypes import utcnow

MAX_ATTEMPTS = 3


def _analysable(session: Session, material_id: uuid.UUID) -> Material:
    m = session.get(Material, material_id)
    if m is None or m.status == MaterialStatus.deleted:
        raise errors.NotFound(f"no material {material_id}")
    if m.media_type != MediaType.video or m.kind != MaterialKind.source:
        raise errors.AnalysisNotPossible("only a source video (a recording) is analysed")
    if m.status != MaterialStatus.ready or not m.storage_key:
        raise errors.AnalysisNotPossible(f"the material is {m.status}, not ready")
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
        raise errors.NotFound(f"no analysis {analysis_id}")
    return a


def list_analyses(session: Session, material_id: uuid.UUID) -> list[Analysis]:
    if session.get(Material, material_id) is None:
        raise errors.NotFound(f"no material {material_id}")
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
        raise errors.TranscriptUnreadable(str(e)) from e
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
        raise errors.SessionDataUnreadable(str(e)) from e
    except ImportLimitExceeded as e:  # checked before and while reading (zip directory, rows, columns, cells)
        raise errors.MetricsImportTooLarge(str(e), limit=e.limit, max=e.maximum) from e
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
    now = utcnow()
    result = session.execute(
        update(Analysis)
        .where(
            col(Analysis.id) == analysis_id,
            col(Analysis.attempts) < col(Analysis.max_attempts),
            or_(
                col(Analysis.status) == AnalysisStatus.queued,
                (col(Analysis.status) == AnalysisStatus.running) & (col(Analysis.lease_expires_at) < now),
            ),
        )
        .values(
            status=AnalysisStatus.running, lease_owner=owner, lease_expires_at=now + timedelta(seconds=lease_seconds),
            attempts=Analysis.attempts + 1, started_at=now, updated_at=now, error_code=None, error=None,
        )
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def inputs_for(session: Session, analysis_id: uuid.UUID) -> AnalysisInputs:
    a = get_analysis(session, analysis_id)
    material = session.get(Material, a.material_id)
    if material is None or not material.storage_key:
        raise errors.AnalysisNotPossible("the material's file is gone")
    transcript = latest_transcript(session, a.material_id)
    data = latest_session_data(session, a.material_id)
    return AnalysisInputs(
        analysis_id=a.id, material_id=a.material_id, storage_key=material.storage_key,
        products=product_tags(session), session_series=data.series if data else None,
        transcript_segments=[(s["start"], s["end"], s["text"]) for s in transcript.segments] if transcript else None,
        transcript_id=transcript.id if transcript else None, session_data_id=data.id if data else None,
    )


def _update_held(session: Session, analysis_id: uuid.UUID, owner: str, **values: Any) -> bool:
    result = session.execute(
        update(Analysis)
        .where(col(Analysis.id) == analysis_id, col(Analysis.lease_owner) == owner, col(Analysis.status) == AnalysisStatus.running)
        .values(**values)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def heartbeat(session: Session, analysis_id: uuid.UUID, owner: str, lease_seconds: float, progress: float) -> bool:
    now = utcnow()
    return _update_held(
        session, analysis_id, owner, lease_expires_at=now + timedelta(seconds=lease_seconds), updated_at=now,
        progress=round(min(max(progress, 0.0), 1.0), 4),
    )


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
    return _update_held(
        session, analysis_id, owner, status=AnalysisStatus.queued, lease_owner=None, lease_expires_at=None, updated_at=utcnow()
    )


def sweep_analyses(session: Session, *, stale_after: timedelta = timedelta(minutes=10)) -> list[uuid.UUID]:
    """Analyses to send again: running under an expired lease (a worker died) or queued for a while
    (a lost message). Those that used up their attempts fail instead. The sender sends after commit."""
    now = utcnow()
    expired = (col(Analysis.status) == AnalysisStatus.running) & (col(Analysis.lease_expires_at) < now)
    lost = (col(Analysis.status) == AnalysisStatus.queued) & (col(Analysis.created_at) < now - stale_after)
    resend = []
    for a in session.scalars(select(Analysis).where(or_(expired, lost)).with_for_update(skip_locked=True)):
        if a.attempts >= a.max_attempts:
            a.status, a.error_code, a.finished_at, a.updated_at = AnalysisStatus.failed, "analysis-attempts", now, now
            a.error = f"gave up after {a.attempts} attempts (the worker stopped each time)"
            a.lease_owner, a.lease_expires_at = None, None
            continue
        resend.append(a.id)
        queue.enqueue(session, queue.ANALYSE_MATERIAL, str(a.id))
    session.flush()
    return resend
