"""Render requests and jobs: ask for renditions of a source, follow, cancel and retry the job."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlmodel import Session

from backend.deps import Editor, SessionDep, SettingsDep, StorageDep, Viewer
from backend.renders import service as renders
from backend.renders.models import JobStatus, RenderJob, RenderOutput
from backend.renders.schemas import JobPagePublic, JobPublic, ProblemRef, RenditionPublic
from backend.responses import problems
from backend.text import Offset, Text

router = APIRouter(tags=["renders"], responses=problems(401))

API = "/api/v1"


def _rendition(out: RenderOutput) -> RenditionPublic:
    links = {}
    if out.material_id:
        links = {
            "material": f"{API}/materials/{out.material_id}",
            "file": f"{API}/materials/{out.material_id}/file",
        }
    public = RenditionPublic.model_validate(out, from_attributes=True)
    return public.model_copy(update={"error": ProblemRef.of(out), "links": links})


def job_public(job: RenderJob, outputs: list[RenderOutput]) -> JobPublic:
    base = f"{API}/jobs/{job.id}"
    links = {
        "self": base,
        "cancel": f"{base}/cancel",
        "retry": f"{base}/retry",
        "source": f"{API}/materials/{job.source_id}",
    }
    return JobPublic.model_validate(job, from_attributes=True).model_copy(update={
        "error": ProblemRef.of(job),
        "timings": renders.job_timings(job),
        "renditions": [_rendition(o) for o in outputs],
        "links": links,
    })


def _one(session: Session, job: RenderJob) -> JobPublic:
    return job_public(job, renders.outputs_of(session, [job.id])[job.id])


@router.post(
    f"{API}/materials/{{material_id}}/renders",
    status_code=202,
    response_model=JobPublic,
    summary="Render a source into platform presets",
    responses=problems(400, 403, 404),
    description="Cuts the ranges (joined in order) and renders every preset from one decode. The job is "
    "queued once the request commits; follow it at the `Location` URL. A cut shorter than every "
    "preset's minimum is refused (422 render-too-short); one too short for only some presets fails "
    "just those renditions. Duration limits count the intro and outro too. A preset rendered with fit "
    "`smart` follows `crop_path`; without one it falls back to a centre crop. Each rendition becomes its "
    "own derived material (with the source's inheritable tags and a platform tag); one smaller than its "
    "preset (a small source is not upscaled) carries `warnings`, also listed on the job.",
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
    preset: Annotated[Text | None, Query(max_length=100, description="Jobs with a rendition of this preset")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[Offset, Query()] = 0,
) -> JobPagePublic:
    jobs = renders.list_jobs(
        session,
        renders.JobQuery(status=status, source_id=source_id, preset_id=preset, limit=limit, offset=offset),
    )
    outs = renders.outputs_of(session, [j.id for j in jobs])
    return JobPagePublic(items=[job_public(j, outs[j.id]) for j in jobs], limit=limit, offset=offset)


@router.get(f"{API}/jobs/{{job_id}}", response_model=JobPublic, summary="One render job", responses=problems(404))
def get_job(job_id: uuid.UUID, _: Viewer, session: SessionDep) -> JobPublic:
    return _one(session, renders.get_job(session, job_id))


@router.post(
    f"{API}/jobs/{{job_id}}/cancel", response_model=JobPublic, summary="Cancel a queued or running job",
    responses=problems(403, 404, 409),
)
def cancel_job(job_id: uuid.UUID, _: Editor, session: SessionDep) -> JobPublic:
    return _one(session, renders.cancel_job(session, job_id))


@router.post(
    f"{API}/jobs/{{job_id}}/retry", status_code=202, response_model=JobPublic, summary="Retry a failed job",
    responses=problems(403, 404, 409),
)
def retry_job(job_id: uuid.UUID, response: Response, _: Editor, session: SessionDep) -> JobPublic:
    job = renders.retry_job(session, job_id)
    response.headers["Location"] = f"{API}/jobs/{job.id}"
    return _one(session, job)
