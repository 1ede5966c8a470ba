"""Render tasks on the render queue: one job id in; the task claims the job's lease, hands the job's
`RenderPlan` to `backend.renders.pipeline`, and records a failure. Running it twice never duplicates:
the pipeline registers each output under a deterministic id and commits once, only under the lease.

A worker starting up removes render folders that workers killed earlier left behind.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import uuid

from celery.signals import worker_init

from backend.catalogue.models import Material
from backend.config import get_settings
from backend.db import session_scope
from backend.queue import AUTO_RENDER_SOURCE, RENDER_JOB
from backend.renders import service as renders
from backend.renders.models import JobStatus, RenderJob
from backend.renders.pipeline import (
    TRANSIENT,
    RenderFailed,
    RenderPlan,
    TransientStorageError,
    execute,
    output_material_id,
    remove_stale_workdirs,
)
from storage import Storage
from workers.celery_app import QUICK_QUEUE, RENDER_QUEUE, celery_app
from workers.media.argv import RecipeError
from workers.media.inspect import InspectFailed
from workers.media.probe import ProbeRejection
from workers.media.run import MediaCancelled, MediaError

__all__ = ["execute_render_job", "output_material_id", "render_job"]

log = logging.getLogger("reelhouse.renders")

SWEEP_EVERY_SECONDS = 60.0

celery_app.conf.beat_schedule["render-sweep"] = {
    "task": "reelhouse.sweep_render_jobs",
    "schedule": SWEEP_EVERY_SECONDS,
}


@worker_init.connect
def _remove_stale_render_folders(**_: object) -> None:
    # In the worker's main process, before its pool starts: no job of this worker runs yet, and a
    # folder another live worker uses is locked, so only folders of stopped workers go.
    remove_stale_workdirs(get_settings().render_work_dir)


def _storage() -> Storage:
    from backend.objectstore import get_storage

    return get_storage()


def _owner(task_id: str | None) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{task_id or '-'}:{uuid.uuid4().hex[:8]}"


def execute_render_job(job_id: str, task_id: str | None = None) -> str:
    """The task body (also callable directly): take the lease, render, record the end state."""
    jid = uuid.UUID(job_id)
    settings = get_settings()
    owner = _owner(task_id)
    with session_scope() as session:
        job = session.get(RenderJob, jid)
        if job is None:
            return "missing"
        if JobStatus(job.status).done:
            return str(job.status)
        if not renders.claim_job(session, jid, owner, settings.render_lease_seconds):
            return "busy"  # another worker holds a live lease; the sweep recovers it if that worker dies
    try:
        with session_scope() as session:
            plan = RenderPlan.of(session, jid)
        return execute(plan, owner, settings, _storage())
    except MediaCancelled:
        return "cancelled"
    except (MediaError, RecipeError, RenderFailed, ProbeRejection, InspectFailed) as e:
        code = e.code if isinstance(e, RenderFailed) else type(e).__name__
        with session_scope() as session:
            renders.finish_job(
                session, jid, owner, JobStatus.failed, error_code=_slug(code), error_detail=str(e)
            )
        return "failed"
    except (*TRANSIENT, TransientStorageError):
        try:
            with session_scope() as session:
                renders.release_job(session, jid, owner)
        except TRANSIENT:
            pass  # the lease expires and the sweep re-queues the job
        raise
    except Exception as e:  # a bug, not the input: fail visibly rather than retry it max_attempts times
        log.exception("render job %s failed unexpectedly", jid)
        with session_scope() as session:
            renders.finish_job(
                session, jid, owner, JobStatus.failed, error_code="internal-error", error_detail=repr(e)
            )
        return "failed"


def _slug(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


@celery_app.task(
    name=RENDER_JOB,
    bind=True,
    queue=RENDER_QUEUE,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(*TRANSIENT, TransientStorageError),
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=5,
)
def render_job(self, job_id: str) -> str:
    return execute_render_job(job_id, self.request.id)


@celery_app.task(name="reelhouse.sweep_render_jobs", queue=QUICK_QUEUE)
def sweep_task() -> dict[str, int]:
    """Re-queue jobs whose worker vanished; fail those out of attempts; re-send lost messages."""
    with session_scope() as session:
        result = renders.sweep_render_jobs(session, get_settings())
    return {"requeued": len(result.requeued), "failed": len(result.failed), "resent": len(result.resent)}


@celery_app.task(
    name=AUTO_RENDER_SOURCE, queue=QUICK_QUEUE, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5
)
def auto_render_source_task(material_id: str) -> str | None:
    """Apply the automatic re-edit rule to a new source video (sent by ingest once its row committed)."""
    with session_scope() as session:
        material = session.get(Material, uuid.UUID(material_id))
        job = renders.auto_render_new_source(session, get_settings(), material) if material else None
        return str(job.id) if job else None
