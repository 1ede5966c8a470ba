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
from backend.objectstore import get_storage, media_in_place
from backend.queue import (
    ANALYSE_MATERIAL,
    APPLY_AUTOCLIP_RULES,
    CONTINUE_AUTOCLIP_RUN,
    PROPOSAL_STORYBOARDS,
    QUICK_QUEUE,
)
from storage import LocalStorage
from storage.base import StorageError
from workers.celery_app import celery_app
from workers.media.analysis import ANALYSIS_VERSION, ProductName, analyse_recording
from workers.media.analysis.signals import Series
from workers.media.previews import PreviewsUnavailable
from workers.media.ranged import RangedSource
from workers.media.run import MediaError
from workers.media.storyboard import write_storyboard

log = logging.getLogger("reelhouse.autoclip")
SWEEP_EVERY_SECONDS = 120.0

celery_app.conf.beat_schedule["analysis-sweep"] = {
    "task": "reelhouse.sweep_analyses",
    "schedule": SWEEP_EVERY_SECONDS,
}
celery_app.conf.beat_schedule["storyboard-sweep"] = {
    "task": "reelhouse.sweep_storyboards",
    "schedule": 5 * SWEEP_EVERY_SECONDS,
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
    with tempfile.TemporaryDirectory(prefix="analysis-", dir=_tmp_dir(settings.data_dir)) as tmp:
        try:
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
        used = {"transcript_id": inputs.transcript_id, "session_data_id": inputs.session_data_id,
                "product_tags": [p.tag_id for p in inputs.products]}
        with session_scope() as session:
            done = autoclip.finish_analysis(
                session, aid, owner, signals=result.model_dump(mode="json"), analyser_version=ANALYSIS_VERSION, inputs=used
            )
        if done:
            continue_rule_runs(aid)
            # The recording is on disk now: the storyboards of the proposals a rule just made cost no second
            # download (the message the proposals sent finds nothing left to do).
            try:
                make_storyboards(inputs.material_id, path)
            except Exception:  # noqa: BLE001 - storyboards are a convenience; the queued task tries again
                log.warning("storyboards of material %s failed", inputs.material_id, exc_info=True)
    return "succeeded" if done else "lost"


def _tmp_dir(data_dir: Path) -> Path | None:
    return data_dir if data_dir.is_dir() else None


def continue_rule_runs(analysis_id: uuid.UUID) -> None:
    """The analysis a rule started succeeded: its proposals, rendered as drafts for the rule's presets."""
    with session_scope() as session:
        rules.continue_runs(session, get_settings(), analysis_id)


def make_storyboards(material_id: uuid.UUID, path: Path | None = None) -> int:
    """Make the storyboard of each of the material's proposals that has none for its current range, from
    `path` (the recording on disk) or the stored recording read in place; returns how many were stored. A
    range that does not decode is logged and left without one (a storyboard is a convenience, never a failure)."""
    with session_scope() as session:
        found = autoclip.storyboards_wanted(session, material_id)
    if found is None:
        return 0
    storage = get_storage()
    source: Path | RangedSource = path if path is not None else media_in_place(storage, found.storage_key)
    made = 0
    with tempfile.TemporaryDirectory(prefix="storyboard-", dir=_tmp_dir(get_settings().data_dir)) as tmp:
        for want in found.wanted:
            out = Path(tmp) / "storyboard.jpg"
            try:
                board = write_storyboard(source, want.start, want.end, out, rotation=found.rotation)
            except (PreviewsUnavailable, MediaError, OSError, ValueError) as e:
                log.warning("storyboard of proposal %s (%s-%s s) failed: %s", want.proposal_id, want.start, want.end, e)
                continue
            storage.put_file(want.key, out, content_type="image/jpeg")
            with session_scope() as session:
                if autoclip.store_storyboard(session, want, times=board.times, width=board.width, height=board.height):
                    made += 1
                else:
                    storage.delete(want.key)  # the proposal moved or went meanwhile
    return made


@celery_app.task(name=PROPOSAL_STORYBOARDS, bind=True, max_retries=5)
def proposal_storyboards(self: object, material_id: str, *stale: str) -> int:
    """Proposals were computed or moved: their storyboards (render queue: it decodes the recording); the
    storyboards of ranges replaced or moved (`stale` keys) are deleted."""
    mid = uuid.UUID(material_id)
    try:
        storage = get_storage()
        for key in autoclip.stale_storyboard_keys(mid, list(stale)):
            storage.delete(key)
        return make_storyboards(mid)
    except TRANSIENT as e:
        raise self.retry(exc=e, countdown=30) from e  # type: ignore[attr-defined]


@celery_app.task(name=APPLY_AUTOCLIP_RULES, queue=QUICK_QUEUE, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def apply_autoclip_rules(material_id: str) -> list[str]:
    """A source video was ingested: start a run for every enabled rule it matches (sent after its commit)."""
    with session_scope() as session:
        return [str(run.id) for run in rules.start_runs(session, uuid.UUID(material_id))]


@celery_app.task(name=CONTINUE_AUTOCLIP_RUN, queue=QUICK_QUEUE, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def continue_autoclip_run(run_id: str) -> str:
    """A back-filled run on an analysis that had already succeeded: its proposals and draft renders."""
    with session_scope() as session:
        run = rules.continue_run(session, get_settings(), uuid.UUID(run_id))
        return str(run.status) if run is not None else "skipped"


@celery_app.task(name="reelhouse.sweep_analyses")
def sweep_analyses_task() -> int:
    """Send again the analyses whose worker died (lease expired) or whose message was lost."""
    with session_scope() as session:
        return len(autoclip.sweep_analyses(session))


@celery_app.task(name="reelhouse.sweep_storyboards")
def sweep_storyboards_task() -> int:
    """Send again the storyboard messages of proposals left without one (lost message, dead worker)."""
    with session_scope() as session:
        return len(autoclip.sweep_storyboards(session))
