"""Render jobs: validate a request against its source and the presets, create the job row, enqueue it
after the transaction commits, list/cancel/retry jobs, the lease the worker holds, and the sweep.

The job row is the truth. A Celery message only carries the job id; a lost or duplicated message is
harmless because a worker must take the row's lease (a conditional UPDATE) before it renders.
"""

from __future__ import annotations

import io
import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import exists
from sqlmodel import Session, col, select

from backend import errors, i18n, leases, queue
from backend.catalogue.models import Material, MaterialKind, MaterialStatus, MediaType
from backend.config import Settings
from backend.db import after_commit
from backend.platforms.service import get_catalog
from backend.renders.models import JobStatus, OutputStatus, RenderJob, RenderOutput
from backend.sqltypes import utcnow
from backend.text import MultilineText, Number, Text
from presets.schema import Fit, RenditionPreset, UnknownPreset
from storage import Storage

log = logging.getLogger("reelhouse.renders")

RANGE_TOLERANCE_S = 0.05  # a range may end this far past the probed duration (container rounding)
MAX_BOOKEND_S = 30.0  # an intro/outro is a sting or a title card, not a second programme
DEFAULT_STILL_S = 3.0  # how long an image intro/outro shows when the request does not say
MAX_SRT_BYTES = 1024 * 1024
PresetId = Annotated[Text, Field(max_length=100, examples=["douyin-9x16"])]
_SRT_CUE = re.compile(r"\d{1,2}:\d{2}:\d{2}[,.]\d{1,3}\s*-->\s*\d{1,2}:\d{2}:\d{2}[,.]\d{1,3}")


# --------------------------------------------------------------------------- the request


class TimeRangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: Number = Field(ge=0, description="Seconds from the start of the source")
    end: Number = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> TimeRangeIn:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class WatermarkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    material_id: uuid.UUID = Field(description="An image material (logo / watermark)")
    corner: Literal["top_left", "top_right", "bottom_left", "bottom_right"] = "top_right"
    width_fraction: Number = Field(default=0.18, gt=0, le=0.5)
    opacity: Number = Field(default=1.0, gt=0, le=1)


class TitleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Text = Field(min_length=1, max_length=200, examples=["618 大促 · 新品首发"])
    position: Literal["top", "bottom"] = "top"
    start: Number | None = Field(default=None, ge=0)
    end: Number | None = Field(default=None, gt=0)


class SubtitlesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    srt: MultilineText = Field(min_length=1, max_length=MAX_SRT_BYTES, description="SRT text timed to the output (after cutting and joining)")


class CropKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    t: Number = Field(
        ge=0, description="Seconds on the output timeline (after cutting, joining and any intro)"
    )
    x: Number = Field(
        ge=0,
        le=1,
        validation_alias=AliasChoices("x", "cx"),
        description="Horizontal centre of the subject as a fraction of the frame width (0 left, 1 right); "
        "`cx` is accepted as a synonym",
    )
    y: Number = Field(
        default=0.5, ge=0, le=1, validation_alias=AliasChoices("y", "cy"),
        description="Vertical centre of the window as a fraction of the frame height (0 top, 1 bottom); "
        "it only matters when the window is shorter than the frame (zoomed, or a tall source)",
    )
    scale: Number = Field(
        default=1.0, ge=0.25, le=1,
        description="Window size as a share of the largest window of the preset's aspect that fits the "
        "frame (1: no zoom, 0.5: twice as close)",
    )
    pad: bool = Field(
        default=False,
        description="From this keyframe to the next, show the whole frame over a blurred copy of itself "
        "instead of a crop (the fallback when no subject is found or two cannot both fit)",
    )


class RenderRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ranges: list[TimeRangeIn] = Field(min_length=1, max_length=50, description="Joined in order")
    presets: list[PresetId] = Field(min_length=1, max_length=20)
    fit: dict[PresetId, Fit] = Field(max_length=20, default_factory=dict, description="Per-preset fit override")
    watermark: WatermarkIn | None = None
    title: TitleIn | None = None
    subtitles: SubtitlesIn | None = None
    crop_path: list[CropKeyIn] | None = Field(
        default=None,
        min_length=1,
        max_length=2000,
        description="Subject-following crop for presets rendered with fit `smart`: keyframes sorted by "
        "time, the crop centre (and zoom) moving linearly between them and held before the first and after "
        "the last. A suggested path comes from `POST /api/v1/materials/{id}/reframe`. A `smart` rendition "
        "without a crop path is a centre crop, like `crop`.",
    )
    intro_material_id: uuid.UUID | None = Field(
        default=None,
        description="A ready video (e.g. a brand sting) or image (a title card) joined before the cut. "
        "It is letterboxed to the cut's frame and counts toward each preset's duration limits.",
    )
    intro_seconds: Number | None = Field(
        default=None,
        gt=0,
        le=MAX_BOOKEND_S,
        description=f"An image intro shows this long (default {DEFAULT_STILL_S:g} s); a video intro is cut "
        f"to at most this long (default: all of it, which may not exceed {MAX_BOOKEND_S:g} s)",
    )
    outro_material_id: uuid.UUID | None = Field(
        default=None, description="Like `intro_material_id`, joined after the cut"
    )
    outro_seconds: Number | None = Field(
        default=None, gt=0, le=MAX_BOOKEND_S, description="Like `intro_seconds`"
    )
    loudnorm: bool = False
    mode: Literal["exact", "fast"] = "exact"
    allow_upscale: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> RenderRequest:
        if self.crop_path and any(
            b.t <= a.t for a, b in zip(self.crop_path[:-1], self.crop_path[1:], strict=True)
        ):
            raise ValueError("crop_path keyframes must be sorted by time, each later than the one before")
        for side in ("intro", "outro"):
            if getattr(self, f"{side}_seconds") is not None and getattr(self, f"{side}_material_id") is None:
                raise ValueError(f"{side}_seconds needs {side}_material_id")
        return self


def bookend_seconds(media_type: MediaType, duration: float | None, requested: float | None) -> float:
    """How long an intro/outro lasts on the output: an image for the requested (or default) time,
    a video for its own duration, cut to the requested time when that is shorter."""
    if media_type == MediaType.image:
        return requested or DEFAULT_STILL_S
    return min(requested, duration or requested) if requested else (duration or 0.0)


def cut_seconds(ranges: Sequence[dict[str, float]] | Sequence[TimeRangeIn], duration: float | None) -> float:
    total = 0.0
    for r in ranges:
        start, end = (r["start"], r["end"]) if isinstance(r, dict) else (r.start, r.end)
        total += (min(end, duration) if duration else end) - start
    return total


_FIGURE_STATUS = {"documented": "平台文档", "commonly_cited": "常见说法"}


def rendition_problem_text(preset: RenditionPreset, seconds: float) -> tuple[str, str, dict[str, Any]] | None:
    """Why a cut of `seconds` cannot become this preset as (code, catalogue key, params), or None."""
    if preset.min_duration_s and seconds < preset.min_duration_s.value:
        source = preset.min_duration_s.source
        return "source-too-short", "render.cut-below-preset-minimum", {
            "seconds": seconds, "preset": preset.id, "minimum": preset.min_duration_s.value,
            "status": {i18n.ZH: _FIGURE_STATUS.get(source.status, source.status), i18n.EN: source.status},
            "ref": source.ref,
        }
    if preset.max_duration_s and seconds > preset.max_duration_s.value:
        return "cut-too-long", "render.cut-above-preset-maximum", {
            "seconds": seconds, "preset": preset.id, "maximum": preset.max_duration_s.value,
        }
    return None


def rendition_problem(preset: RenditionPreset, seconds: float) -> tuple[str, str] | None:
    """Why a cut of `seconds` cannot become this preset (code, English detail), or None."""
    problem = rendition_problem_text(preset, seconds)
    if problem is None:
        return None
    code, key, params = problem
    return code, i18n.text(key, i18n.EN, params) or code


@dataclass(frozen=True)
class StoredRequest:
    """A job's request as the worker reads it back: the validated request, where its subtitles were
    stored (the SRT text itself is not kept in the row) and what asked for it (`api`, `auto-rule`,
    `autoclip`). `draft` is set for an automatic re-edit: its renditions wait for review, and it holds
    what the lineage keeps of the proposal (id, type, reasons, rule id, product tag id)."""

    request: RenderRequest
    origin: str
    subtitles_key: str | None
    draft: dict[str, Any] | None = None


def store_request(
    request: RenderRequest,
    preset_ids: list[str],
    *,
    origin: str,
    subtitles_key: str | None,
    draft: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON kept in `render_job.request`; `read_stored_request` is its inverse."""
    stored = request.model_dump(mode="json", exclude={"subtitles"})
    stored["presets"] = preset_ids
    stored["origin"] = origin
    if subtitles_key:
        stored["subtitles"] = {"key": subtitles_key}
    if draft is not None:
        stored["draft"] = draft
    return stored


def read_stored_request(stored: dict[str, Any]) -> StoredRequest:
    """Validate a stored request again as a `RenderRequest` (raises pydantic's ValidationError)."""
    data = dict(stored)
    origin = str(data.pop("origin", "api"))
    subtitles = data.pop("subtitles", None)
    draft = data.pop("draft", None)
    return StoredRequest(
        request=RenderRequest.model_validate(data),
        origin=origin,
        subtitles_key=subtitles["key"] if subtitles else None,
        draft=draft,
    )


def subtitles_key(job_id: uuid.UUID) -> str:
    return f"render-jobs/{job_id}/subtitles.srt"


def _check_srt(text: str) -> bytes:
    data = text.encode("utf-8")
    if len(data) > MAX_SRT_BYTES:
        raise errors.RenderOverlayInvalid(key="render.subtitles-too-large", params={"limit": MAX_SRT_BYTES})
    if not _SRT_CUE.search(text):
        raise errors.RenderOverlayInvalid(key="render.subtitles-no-cue")
    return data


def _ready_watermark(session: Session, material_id: uuid.UUID) -> Material:
    m = session.get(Material, material_id)
    if m is None or m.status != MaterialStatus.ready or m.media_type != MediaType.image:
        raise errors.RenderOverlayInvalid(key="render.watermark-not-ready", params={"id": str(material_id)})
    return m


_SIDES = {"intro": {i18n.ZH: "片头", i18n.EN: "intro"}, "outro": {i18n.ZH: "片尾", i18n.EN: "outro"}}


def _bookend(session: Session, material_id: uuid.UUID, requested: float | None, side: str) -> float:
    """Check an intro/outro material; return the seconds it adds to the output."""
    m = session.get(Material, material_id)
    if (
        m is None
        or m.status != MaterialStatus.ready
        or m.media_type not in (MediaType.video, MediaType.image)
        or not m.storage_key
    ):
        raise errors.RenderOverlayInvalid(
            key="render.bookend-not-ready", params={"side": _SIDES[side], "id": str(material_id)}
        )
    if m.media_type == MediaType.video and not m.duration_s:
        raise errors.RenderOverlayInvalid(
            key="render.bookend-no-duration", params={"side": _SIDES[side], "id": str(material_id)}
        )
    seconds = bookend_seconds(MediaType(m.media_type), m.duration_s, requested)
    if seconds > MAX_BOOKEND_S:
        raise errors.RenderOverlayInvalid(
            key="render.bookend-too-long",
            params={"side": _SIDES[side], "seconds": seconds, "limit": MAX_BOOKEND_S, "field": f"{side}_seconds"},
        )
    return seconds


def _smart_fit(request: RenderRequest, presets: Sequence[RenditionPreset]) -> bool:
    return any(request.fit.get(p.id, p.fit) == "smart" for p in presets)


def validate_request(
    session: Session, source_id: uuid.UUID, request: RenderRequest
) -> tuple[Material, list[str]]:
    """Check a request against its source and the catalogue; return the source and the preset ids."""
    source = session.get(Material, source_id)
    if source is None or source.status == MaterialStatus.deleted:
        raise errors.NotFound(key="material-not-found", params={"id": str(source_id)})
    if (
        source.status != MaterialStatus.ready
        or source.media_type != MediaType.video
        or not source.storage_key
    ):
        raise errors.RenderSourceNotReady(key="render.source-not-ready", params={
            "id": str(source_id), "status": i18n.words(f"status.{source.status}", str(source.status)),
            "media_type": i18n.words(f"media_type.{source.media_type}", str(source.media_type)),
        })
    duration = source.duration_s or 0.0
    for r in request.ranges:
        if duration and (r.start >= duration or r.end > duration + RANGE_TOLERANCE_S):
            raise errors.RenderRangeInvalid(
                key="render.range-outside-source", params={"start": r.start, "end": r.end, "duration": duration},
                duration_s=duration,
            )
    catalog = get_catalog()
    preset_ids = list(dict.fromkeys(request.presets))
    presets = []
    for pid in preset_ids:
        try:
            presets.append(catalog.preset(pid))
        except UnknownPreset:
            raise errors.RenderPresetUnknown(key="preset-not-found", params={"id": pid}, preset=pid) from None
    for pid in request.fit:
        if pid not in preset_ids:
            raise errors.RenderRequestInvalid(key="render.fit-not-requested", params={"preset": pid})
    if request.crop_path and not _smart_fit(request, presets):
        raise errors.RenderRequestInvalid(key="render.crop-path-needs-smart-fit")
    seconds = cut_seconds(request.ranges, duration)
    if request.intro_material_id:
        seconds += _bookend(session, request.intro_material_id, request.intro_seconds, "intro")
    if request.outro_material_id:
        seconds += _bookend(session, request.outro_material_id, request.outro_seconds, "outro")
    worded = {p.id: rendition_problem_text(p, seconds) for p in presets}
    if all(worded.values()):
        problems = [problem for problem in worded.values() if problem]
        each = {lang: [i18n.text(key, lang, params) or code for code, key, params in problems] for lang in i18n.LANGUAGES}
        raise errors.RenderTooShort(
            key="render.no-preset-fits-cut",
            params={"problems": {i18n.ZH: "；".join(each[i18n.ZH]), i18n.EN: "; ".join(each[i18n.EN])}},
            renditions={pid: {"code": problem[0], "detail": i18n.text(problem[1], i18n.EN, problem[2])}
                        for pid, problem in worded.items() if problem},
        )
    if request.watermark:
        _ready_watermark(session, request.watermark.material_id)
    if request.subtitles:
        _check_srt(request.subtitles.srt)
    return source, preset_ids


# --------------------------------------------------------------------------- enqueue after commit

def send_render_message(job_id: uuid.UUID) -> None:
    """The message-send boundary: put the job id on the render queue."""
    queue.send(queue.RENDER_JOB, str(job_id))


def _enqueue(session: Session, job: RenderJob) -> None:
    job.enqueued_at = utcnow()
    job_id = job.id
    after_commit(session, lambda: send_render_message(job_id))


# --------------------------------------------------------------------------- jobs


def create_render_job(
    session: Session,
    storage: Storage | None,
    settings: Settings,
    source_id: uuid.UUID,
    request: RenderRequest,
    *,
    requested_by: uuid.UUID | None,
    origin: str = "api",
    draft: dict[str, Any] | None = None,
) -> RenderJob:
    """A queued job (sent after commit). With `draft`, its renditions are review drafts carrying it."""
    source, preset_ids = validate_request(session, source_id, request)
    job = RenderJob(
        source_id=source.id, requested_by=requested_by, request={}, max_attempts=settings.render_max_attempts
    )
    key = None
    if request.subtitles:
        if storage is None:
            raise errors.RenderOverlayInvalid(key="render.subtitles-need-storage")
        data = _check_srt(request.subtitles.srt)
        key = subtitles_key(job.id)
        storage.put(key, io.BytesIO(data), size=len(data), content_type="application/x-subrip")
    job.request = store_request(request, preset_ids, origin=origin, subtitles_key=key, draft=draft)
    session.add(job)
    session.flush()
    for pid in preset_ids:
        session.add(RenderOutput(job_id=job.id, preset_id=pid))
    _enqueue(session, job)
    session.flush()
    return job


def get_job(session: Session, job_id: uuid.UUID) -> RenderJob:
    job = session.get(RenderJob, job_id)
    if job is None:
        raise errors.NotFound(key="render-job-not-found", params={"id": str(job_id)})
    return job


def outputs_of(session: Session, job_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[RenderOutput]]:
    out: dict[uuid.UUID, list[RenderOutput]] = {j: [] for j in job_ids}
    if job_ids:
        rows = session.exec(
            select(RenderOutput)
            .where(col(RenderOutput.job_id).in_(list(job_ids)))
            .order_by(col(RenderOutput.id))
        )
        for row in rows:
            out[row.job_id].append(row)
    return out


@dataclass
class JobQuery:
    status: JobStatus | None = None
    source_id: uuid.UUID | None = None
    preset_id: str | None = None
    limit: int = 50
    offset: int = 0


def list_jobs(session: Session, query: JobQuery) -> list[RenderJob]:
    stmt = select(RenderJob)
    if query.status:
        stmt = stmt.where(RenderJob.status == query.status)
    if query.source_id:
        stmt = stmt.where(RenderJob.source_id == query.source_id)
    if query.preset_id:
        stmt = stmt.where(
            exists().where(col(RenderOutput.job_id) == RenderJob.id, col(RenderOutput.preset_id) == query.preset_id)
        )
    stmt = (
        stmt.order_by(col(RenderJob.created_at).desc(), col(RenderJob.id))
        .offset(query.offset)
        .limit(query.limit)
    )
    return list(session.exec(stmt))


def _job_status(status: str) -> dict[str, str]:
    return i18n.words(f"jobs.status.{status}", str(status))


def cancel_job(session: Session, job_id: uuid.UUID) -> RenderJob:
    """Mark the job cancelled. A running worker sees it at its next heartbeat and kills ffmpeg."""
    job = get_job(session, job_id)
    if JobStatus(job.status).done:
        raise errors.JobStateConflict(key="render.job-already-done", params={"status": _job_status(job.status)},
                                      job_status=job.status)
    now = utcnow()
    job.status, job.finished_at, job.updated_at = JobStatus.cancelled, now, now
    job.error_code, job.error_detail = "cancelled", "cancelled on request"
    session.add(job)
    session.flush()
    return job


def retry_job(session: Session, job_id: uuid.UUID) -> RenderJob:
    """Queue a failed or cancelled job again with fresh attempts; outputs already made are reused."""
    job = get_job(session, job_id)
    if job.status not in (JobStatus.failed, JobStatus.cancelled):
        raise errors.JobStateConflict(key="render.job-not-retryable", params={"status": _job_status(job.status)})
    job.status, job.progress, job.attempts = JobStatus.queued, 0.0, 0
    job.error_code = job.error_detail = job.lease_owner = None
    job.lease_expires_at = job.started_at = job.finished_at = None
    job.updated_at, job.warnings = utcnow(), []
    for out in outputs_of(session, [job.id])[job.id]:
        out.status, out.error_code, out.error_detail, out.violations = OutputStatus.pending, None, None, []
        out.warnings = []
        session.add(out)
    session.add(job)
    _enqueue(session, job)
    session.flush()
    return job


# --------------------------------------------------------------------------- the lease


def claim_job(session: Session, job_id: uuid.UUID, owner: str, lease_seconds: float) -> bool:
    """Take the job's lease: it must be queued, or running under a lease that has expired."""
    return leases.claim(session, RenderJob, job_id, owner, lease_seconds, queued=JobStatus.queued,
                        running=JobStatus.running, error_code=None, error_detail=None)


def _update_held_job(session: Session, job_id: uuid.UUID, owner: str, **values: Any) -> bool:
    """Change a running job only while `owner` still holds its lease; False when it no longer does."""
    return leases.update_held(session, RenderJob, job_id, owner, running=JobStatus.running, **values)


def heartbeat(
    session: Session, job_id: uuid.UUID, owner: str, lease_seconds: float, progress: float | None
) -> bool:
    """Renew the lease (and record progress); False when the job was cancelled or its lease lost."""
    return leases.heartbeat(session, RenderJob, job_id, owner, lease_seconds, running=JobStatus.running,
                            progress=progress)


def finish_job(
    session: Session,
    job_id: uuid.UUID,
    owner: str,
    status: JobStatus,
    *,
    error_code: str | None = None,
    error_detail: str | None = None,
    warnings: list[dict[str, Any]] | None = None,
) -> bool:
    """End the job, only if this worker still holds it; False means nothing may be committed."""
    now = utcnow()
    values: dict[str, Any] = {
        "status": status,
        "finished_at": now,
        "updated_at": now,
        "lease_owner": None,
        "lease_expires_at": None,
        "error_code": error_code,
        "error_detail": error_detail and error_detail[-4000:],
        "warnings": warnings or [],
    }
    if status == JobStatus.succeeded:
        values["progress"] = 1.0
    return _update_held_job(session, job_id, owner, **values)


def release_job(session: Session, job_id: uuid.UUID, owner: str) -> bool:
    """Give the lease back so a retry can take the job at once (transient failure)."""
    return leases.release(session, RenderJob, job_id, owner, queued=JobStatus.queued, running=JobStatus.running)


def sweep_render_jobs(session: Session, settings: Settings) -> leases.SweepResult:
    """Re-queue running jobs whose worker vanished (lease expired; the old worker can no longer record
    anything) while attempts remain, fail the rest, and send again the message of a job queued longer
    than a lease (lost after commit), at most once a lease."""
    return leases.sweep(
        session, RenderJob, queued=JobStatus.queued, running=JobStatus.running, failed=JobStatus.failed,
        sent_at=RenderJob.enqueued_at, stale_after=timedelta(seconds=settings.render_lease_seconds),
        send=lambda job_id: after_commit(session, partial(send_render_message, job_id)),
        error_column=RenderJob.error_detail,
        worker_lost=leases.GiveUp("worker-lost", "the worker stopped renewing its lease and the job is out of attempts"),
        exhausted=leases.GiveUp("attempts-exhausted", "the job failed with transient errors on every attempt"),
    )


# --------------------------------------------------------------------------- automatic renders


def auto_render_preset_ids(settings: Settings) -> list[str]:
    return [p.strip() for p in settings.auto_render_presets.split(",") if p.strip()]


def auto_render_new_source(session: Session, settings: Settings, material: Material) -> RenderJob | None:
    """The automatic re-edit rule: a new source video is cut to its first `auto_render_seconds` (the
    whole clip when shorter) into REELHOUSE_AUTO_RENDER_PRESETS. Presets the cut cannot satisfy are left
    out; no job when none is left, nor when the rule already made one (a re-delivered message)."""
    wanted = auto_render_preset_ids(settings)
    if (
        not wanted
        or material.kind != MaterialKind.source
        or material.media_type != MediaType.video
        or material.status != MaterialStatus.ready
        or not material.duration_s
    ):
        return None
    earlier = session.exec(select(RenderJob.request).where(RenderJob.source_id == material.id)).all()
    if any(request.get("origin") == "auto-rule" for request in earlier):
        return None
    seconds = min(material.duration_s, settings.auto_render_seconds)
    catalog = get_catalog(settings)
    keep = []
    for pid in wanted:
        try:
            preset = catalog.preset(pid)
        except UnknownPreset:
            log.warning("REELHOUSE_AUTO_RENDER_PRESETS names unknown preset %r", pid)
            continue
        if rendition_problem(preset, seconds) is None:
            keep.append(pid)
    if not keep:
        return None
    request = RenderRequest(ranges=[TimeRangeIn(start=0, end=seconds)], presets=keep)
    return create_render_job(
        session, None, settings, material.id, request, requested_by=material.created_by, origin="auto-rule"
    )


def job_timings(job: RenderJob) -> dict[str, float | None]:
    def span(a: datetime | None, b: datetime | None) -> float | None:
        return round((b - a).total_seconds(), 3) if a and b else None

    return {
        "queued_seconds": span(job.created_at, job.started_at),
        "run_seconds": span(job.started_at, job.finished_at),
    }
