"""The analysis task (render queue): claim the analysis row, fetch the recording, run
workers.media.analysis over it, store the signals with the row. Idempotent: a finished or
foreign-leased analysis is left alone; a lost worker's lease expires and a redelivery takes it over."""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy.exc import InterfaceError, OperationalError

from backend.autoclip import rules
from backend.autoclip import service as autoclip
from backend.config import get_settings
from backend.db import session_scope
from backend.errors import AppError
from backend.objectstore import get_storage
from backend.queue import ANALYSE_MATERIAL, APPLY_AUTOCLIP_RULES, QUICK_QUEUE
from storage import LocalStorage
from storage.base import StorageError
from workers.celery_app import celery_app
from workers.media.analysis import ANALYSIS_VERSION, ProductName, analyse_recording
from workers.media.analysis.signals import Series
from workers.media.run import MediaError

log = logging.getLogger("reelhouse.autoclip")
SWEEP_EVERY_SECONDS = 120.0

celery_app.conf.beat_schedule["analysis-sweep"] = {
    "task": "reelhouse.sweep_analyses",
    "schedule": SWEEP_EVERY_SECONDS,
}
TRANSIENT = (OperationalError, InterfaceError, ConnectionError, TimeoutError, StorageError)


class _Lease:
    """Progress and lease renewal, throttled to one write a few seconds."""

    def __init__(self, analysis_id: uuid.UUID, owner: str, seconds: float) -> None:
        self.analysis_id, self.owner, self.seconds = analysis_id, owner, seconds
        self._last = 0.0

    def __call__(self, progress: float) -> None:
        now = time.monotonic()
        if now - self._last < min(5.0, self.seconds / 4):
            return
        self._last = now
        try:
            with session_scope() as session:
                autoclip.heartbeat(session, self.analysis_id, self.owner, self.seconds, progress)
        except TRANSIENT:
            log.warning("heartbeat for analysis %s failed; will try again", self.analysis_id, exc_info=True)


def _readable_copy(key: str, tmp: Path) -> Path:
    """The recording as a local file: the stored one itself on local storage (an original is never
    rewritten in place; copying a 7 GB stream first cost about a minute), a copy from object storage
    (the analysis decodes all of it several times over, audio and pictures apart, so one download is
    cheaper than streaming it each time)."""
    storage = get_storage()
    if isinstance(storage, LocalStorage):
        return storage.local_path(key)
    path = tmp / ("source" + Path(key).suffix)
    storage.download_to(key, path)
    return path


@celery_app.task(name=ANALYSE_MATERIAL, bind=True, max_retries=5)
def analyse_material(self: object, analysis_id: str) -> str:
    aid = uuid.UUID(analysis_id)
    settings = get_settings()
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    lease = settings.render_lease_seconds
    with session_scope() as session:
        if not autoclip.claim_analysis(session, aid, owner, lease):
            return "skipped"  # done, running elsewhere, or out of attempts
        rules.runs_analysing(session, aid)
    with session_scope() as session:
        inputs = autoclip.inputs_for(session, aid)
    products = [ProductName(p.tag_id, p.names) for p in inputs.products]
    series = {k: Series(start=v["start"], step=v["step"], values=v["values"]) for k, v in (inputs.session_series or {}).items()}
    try:
        with tempfile.TemporaryDirectory(prefix="analysis-", dir=settings.data_dir if settings.data_dir.is_dir() else None) as tmp:
            path = _readable_copy(inputs.storage_key, Path(tmp))
            result = analyse_recording(
                path, products=products, session=series or None, transcript=inputs.transcript_segments,
                ffmpeg=settings.ffmpeg_path or None,
                on_progress=_Lease(aid, owner, lease),
            )
    except TRANSIENT as e:
        with session_scope() as session:
            autoclip.release_analysis(session, aid, owner)
        raise self.retry(exc=e, countdown=30) from e  # type: ignore[attr-defined]
    except (MediaError, AppError, OSError, ValueError) as e:
        log.warning("analysis %s failed: %s", aid, e)
        with session_scope() as session:
            if autoclip.finish_analysis(session, aid, owner, error_code="analysis-failed", error=str(e)):
                rules.runs_failed(session, aid, str(e))
        return "failed"
    used = {"transcript_id": inputs.transcript_id, "session_data_id": inputs.session_data_id, "product_tags": [p.tag_id for p in inputs.products]}
    with session_scope() as session:
        done = autoclip.finish_analysis(
            session, aid, owner, signals=result.model_dump(mode="json"), analyser_version=ANALYSIS_VERSION, inputs=used
        )
    if done:
        continue_rule_runs(aid)
    return "succeeded" if done else "lost"


def continue_rule_runs(analysis_id: uuid.UUID) -> None:
    """The analysis a rule started succeeded: its proposals, rendered as drafts for the rule's presets."""
    with session_scope() as session:
        rules.continue_runs(session, get_settings(), analysis_id)


@celery_app.task(name=APPLY_AUTOCLIP_RULES, queue=QUICK_QUEUE, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def apply_autoclip_rules(material_id: str) -> list[str]:
    """A source video was ingested: start a run for every enabled rule it matches (sent after its commit)."""
    with session_scope() as session:
        return [str(run.id) for run in rules.start_runs(session, uuid.UUID(material_id))]


@celery_app.task(name="reelhouse.sweep_analyses")
def sweep_analyses_task() -> int:
    """Send again the analyses whose worker died (lease expired) or whose message was lost."""
    with session_scope() as session:
        return len(autoclip.sweep_analyses(session))
