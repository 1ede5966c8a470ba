"""Render requests and jobs: ask for renditions of a source, follow, cancel and retry the job."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from backend.deps import Editor, SessionDep, SettingsDep, StorageDep, Viewer
from backend.renders import service as renders
from backend.renders.models import JobStatus, OutputStatus, RenderJob, RenderOutput

router = APIRouter(tags=["renders"])

API = "/api/v1"


class ProblemRef(BaseModel):
    code: str
    detail: str | None = None


class RenditionPublic(BaseModel):
    preset_id: str
    status: OutputStatus
    material_id: uuid.UUID | None
    violations: list[dict[str, Any]]
    error: ProblemRef | None
    size_bytes: int | None
    duration_s: float | None
    width: int | None
    height: int | None
    reencoded: bool
    links: dict[str, str]


class JobPublic(BaseModel):
    id: uuid.UUID
    status: JobStatus
    progress: float
    source_id: uuid.UUID
    requested_by: uuid.UUID | None
    request: dict[str, Any]
    attempts: int
    max_attempts: int
    error: ProblemRef | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    timings: dict[str, float | None]
    renditions: list[RenditionPublic]
    links: dict[str, str]


class JobPagePublic(BaseModel):
    items: list[JobPublic]
    limit: int
    offset: int


def _rendition(out: RenderOutput) -> RenditionPublic:
    links = {}
    if out.material_id:
        links = {
            "material": f"{API}/materials/{out.material_id}",
            "file": f"{API}/materials/{out.material_id}/file",
        }
    return RenditionPublic(
        preset_id=out.preset_id,
        status=out.status,
        material_id=out.material_id,
        violations=out.violations,
        error=ProblemRef(code=out.error_code, detail=out.error_detail) if out.error_code else None,
        size_bytes=out.size_bytes,
        duration_s=out.duration_s,
        width=out.width,
        height=out.height,
        reencoded=out.reencoded,
        links=links,
    )


def job_public(job: RenderJob, outputs: list[RenderOutput]) -> JobPublic:
    base = f"{API}/jobs/{job.id}"
    return JobPublic(
        id=job.id,
        status=job.status,
        progress=job.progress,
        source_id=job.source_id,
        requested_by=job.requested_by,
        request=job.request,
        attempts=job.attempts,
        max_attempts=job.max_attempts,
        error=ProblemRef(code=job.error_code, detail=job.error_detail) if job.error_code else None,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        timings=renders.job_timings(job),
        renditions=[_rendition(o) for o in outputs],
        links={
            "self": base,
            "cancel": f"{base}/cancel",
            "retry": f"{base}/retry",
            "source": f"{API}/materials/{job.source_id}",
        },
    )


def _one(session, job: RenderJob) -> JobPublic:  # type: ignore[no-untyped-def]
    return job_public(job, renders.outputs_of(session, [job.id])[job.id])


@router.post(
    f"{API}/materials/{{material_id}}/renders",
    status_code=202,
    response_model=JobPublic,
    summary="Render a source into platform presets",
    description="Cuts the ranges (joined in order) and renders every preset from one decode. The job is "
    "queued once the request commits; follow it at the `Location` URL. A cut shorter than every "
    "preset's minimum is refused (422 render-too-short); one too short for only some presets fails "
    "just those renditions. Duration limits count the intro and outro too. A preset rendered with fit "
    "`smart` follows `crop_path`; without one it falls back to a centre crop.",
)
def request_render(
    material_id: uuid.UUID,
    body: renders.RenderRequest,
    response: Response,
    key: Editor,
    session: SessionDep,
    storage: StorageDep,
    settings: SettingsDep,
) -> JobPublic:
    job = renders.create_render_job(session, storage, settings, material_id, body, requested_by=key.id)
    response.headers["Location"] = f"{API}/jobs/{job.id}"
    return _one(session, job)


@router.get(f"{API}/jobs", response_model=JobPagePublic, summary="List render jobs")
def list_jobs(
    _: Viewer,
    session: SessionDep,
    status: JobStatus | None = None,
    source_id: uuid.UUID | None = None,
    preset: Annotated[str | None, Query(description="Jobs with a rendition of this preset")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> JobPagePublic:
    jobs = renders.list_jobs(
        session,
        renders.JobQuery(status=status, source_id=source_id, preset_id=preset, limit=limit, offset=offset),
    )
    outs = renders.outputs_of(session, [j.id for j in jobs])
    return JobPagePublic(items=[job_public(j, outs[j.id]) for j in jobs], limit=limit, offset=offset)


@router.get(f"{API}/jobs/{{job_id}}", response_model=JobPublic, summary="One render job")
def get_job(job_id: uuid.UUID, _: Viewer, session: SessionDep) -> JobPublic:
    return _one(session, renders.get_job(session, job_id))


@router.post(
    f"{API}/jobs/{{job_id}}/cancel", response_model=JobPublic, summary="Cancel a queued or running job"
)
def cancel_job(job_id: uuid.UUID, _: Editor, session: SessionDep) -> JobPublic:
    return _one(session, renders.cancel_job(session, job_id))


@router.post(
    f"{API}/jobs/{{job_id}}/retry", status_code=202, response_model=JobPublic, summary="Retry a failed job"
)
def retry_job(job_id: uuid.UUID, response: Response, _: Editor, session: SessionDep) -> JobPublic:
    job = renders.retry_job(session, job_id)
    response.headers["Location"] = f"{API}/jobs/{job.id}"
    return _one(session, job)
