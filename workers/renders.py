"""Render tasks on the render queue: one job id in, every requested preset out from one ffmpeg decode.

`render_job` re-reads the job, takes its lease, renders into a temp dir, validates and registers each
output as a derived material under a deterministic id (uuid5 of job + preset), and commits the outputs
and the job's end state once, only while it still holds the lease. Running it twice never duplicates.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError

from backend.catalogue.models import Material, MaterialKind, MediaType
from backend.config import Settings, get_settings
from backend.db import session_scope
from backend.platforms.service import get_catalog
from backend.queue import AUTO_RENDER_SOURCE, RENDER_JOB
from backend.renders import service as renders
from backend.renders.models import JobStatus, OutputStatus, RenderJob, RenderOutput
from backend.uploads.service import IngestRequest, ingest_local_file, limits_from
from presets.schema import RenditionPreset
from storage import Storage
from storage.base import ObjectNotFound, StorageError
from workers.celery_app import QUICK_QUEUE, RENDER_QUEUE, celery_app
from workers.media.argv import (
    Bookend,
    CropKey,
    OutputSpec,
    RecipeError,
    RenderRecipe,
    SourceFacts,
    SubtitleBurn,
    TimeRange,
    TitleText,
    Watermark,
    build_render_argv,
    output_duration,
    plan_outputs,
)
from workers.media.cover import render_cover
from workers.media.inspect import InspectFailed, inspect_untrusted
from workers.media.probe import ProbeRejection
from workers.media.run import (
    MediaCancelled,
    MediaError,
    cjk_font_path,
    ffmpeg_filters,
    ffmpeg_path,
    run_ffmpeg,
)
from workers.media.validate import lowered_maxrate_kbps, probe_rendition, validate_rendition

log = logging.getLogger("reelhouse.renders")

OUTPUT_NAMESPACE = uuid.UUID("6f0b7a3e-2c1d-5e8f-9a4b-72656e646572")
ENCODE_SHARE = 0.85  # of the job's progress; the rest is validation, covers and registration
SWEEP_EVERY_SECONDS = 60.0
TRANSIENT = (OperationalError, InterfaceError, ConnectionError, TimeoutError)

celery_app.conf.beat_schedule["render-sweep"] = {
    "task": "reelhouse.sweep_render_jobs",
    "schedule": SWEEP_EVERY_SECONDS,
}


class RenderFailed(Exception):
    """A permanent failure of the whole job (bad input, missing capability); no retry."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class TransientStorageError(Exception):
    """Storage was unreachable; the task retries with backoff."""


def output_material_id(job_id: uuid.UUID, preset_id: str) -> uuid.UUID:
    """The derived material's id: the same job and preset always name the same material."""
    return uuid.uuid5(OUTPUT_NAMESPACE, f"{job_id}/{preset_id}")


def _storage() -> Storage:
    from backend.objectstore import get_storage

    return get_storage()


class Heartbeat:
    """Writes progress and renews the lease (throttled); says when the job was cancelled or lost."""

    def __init__(self, job_id: uuid.UUID, owner: str, lease_seconds: float, every: float = 1.0) -> None:
        self.job_id, self.owner, self.lease_seconds = job_id, owner, lease_seconds
        self.every = min(every, lease_seconds / 4)
        self.progress: float | None = None
        self._last = 0.0
        self.lost = False

    def beat(self, progress: float | None = None, *, force: bool = False) -> bool:
        """True while the job is still ours."""
        if progress is not None:
            self.progress = progress
        now = time.monotonic()
        if self.lost or (not force and now - self._last < self.every):
            return not self.lost
        self._last = now
        try:
            with session_scope() as session:
                self.lost = not renders.heartbeat(
                    session, self.job_id, self.owner, self.lease_seconds, self.progress
                )
        except TRANSIENT:
            log.warning("heartbeat for job %s failed; will try again", self.job_id, exc_info=True)
        return not self.lost

    def on_ffmpeg_progress(self, fraction: float) -> None:
        self.beat(fraction * ENCODE_SHARE)

    def should_cancel(self) -> bool:
        return not self.beat()


@dataclass
class Planned:
    preset: RenditionPreset
    spec: OutputSpec
    expected_size: tuple[int, int]


def _bookend(
    request: dict[str, Any], side: str, workdir: Path, storage: Storage, settings: Settings
) -> Bookend | None:
    """Fetch the intro/outro material into the work dir; a video is probed like the source."""
    material_id = request.get(f"{side}_material_id")
    if not material_id:
        return None
    with session_scope() as session:
        m = session.get(Material, uuid.UUID(material_id))
        key, media_type, duration = (m.storage_key, m.media_type, m.duration_s) if m else (None, None, None)
    if not key or media_type not in (MediaType.video, MediaType.image):
        raise RenderFailed(f"{side}-missing", f"{side} material {material_id} is gone")
    path = workdir / f"{side}{Path(key).suffix}"
    storage.download_to(key, path)
    seconds = renders.bookend_seconds(MediaType(media_type), duration, request.get(f"{side}_seconds"))
    if media_type == MediaType.image:
        return Bookend(str(path), seconds)
    try:
        facts = inspect_untrusted(path, limits=limits_from(settings), timeout=settings.probe_timeout_seconds)
        media = SourceFacts.from_media_facts(str(path), facts)
        return Bookend(str(path), min(seconds, media.duration or seconds), media)
    except (ProbeRejection, InspectFailed, RecipeError) as e:
        raise RenderFailed(f"{side}-unreadable", f"{side} material {material_id}: {e}") from e


def _recipe(request: dict[str, Any], workdir: Path, storage: Storage, settings: Settings) -> RenderRecipe:
    watermark = title = subtitles = None
    if request.get("watermark"):
        wm = request["watermark"]
        with session_scope() as session:
            image = session.get(Material, uuid.UUID(wm["material_id"]))
            key = image.storage_key if image else None
        if not key:
            raise RenderFailed("watermark-missing", f"watermark material {wm['material_id']} is gone")
        path = workdir / f"watermark{Path(key).suffix}"
        storage.download_to(key, path)
        watermark = Watermark(str(path), wm["width_fraction"], wm["corner"], wm["opacity"])
    if request.get("title"):
        t = request["title"]
        font = cjk_font_path(settings.cjk_font_path)
        if font is None or not os.path.isfile(font):
            raise RenderFailed(
                "cjk-font-missing",
                "no CJK font for the title: install fonts-noto-cjk or set REELHOUSE_CJK_FONT_PATH",
            )
        title = TitleText(t["text"], font, t["position"], start=t.get("start"), end=t.get("end"))
    if request.get("subtitles"):
        path = workdir / "subtitles.srt"
        storage.download_to(request["subtitles"]["key"], path)
        font = cjk_font_path(settings.cjk_font_path)
        subtitles = SubtitleBurn(str(path), fonts_dir=str(Path(font).parent) if font else None)
    return RenderRecipe(
        ranges=tuple(TimeRange(r["start"], r["end"]) for r in request["ranges"]),
        mode=request.get("mode", "exact"),
        loudnorm=bool(request.get("loudnorm")),
        allow_upscale=bool(request.get("allow_upscale")),
        watermark=watermark,
        title=title,
        subtitles=subtitles,
        crop_path=tuple(CropKey(k["t"], k["x"]) for k in request.get("crop_path") or ()),
        intro=_bookend(request, "intro", workdir, storage, settings),
        outro=_bookend(request, "outro", workdir, storage, settings),
    )


def _record(output: RenderOutput, **values: Any) -> None:
    for k, v in values.items():
        setattr(output, k, v)


def run_render(job_id: uuid.UUID, owner: str) -> str:
    """Render a job whose lease `owner` holds. Returns the job's final status (or 'lost')."""
    settings = get_settings()
    storage = _storage()
    ffmpeg = ffmpeg_path(settings.ffmpeg_path)
    hb = Heartbeat(job_id, owner, settings.render_lease_seconds)
    with session_scope() as session:
        job = session.get(RenderJob, job_id)
        assert job is not None
        request, source_id = dict(job.request), job.source_id
        source = session.get(Material, source_id)
        source_key = source.storage_key if source else None
        source_title = source.title if source else ""
        requested_by = job.requested_by
    if not source_key:
        raise RenderFailed("source-missing", f"source material {source_id} has no stored file")
    catalog = get_catalog()
    with tempfile.TemporaryDirectory(prefix="reelhouse-render-") as tmp:
        workdir = Path(tmp)
        src_path = workdir / f"source{Path(source_key).suffix}"
        try:
            storage.download_to(source_key, src_path)
        except ObjectNotFound as e:
            raise RenderFailed("source-missing", str(e)) from e
        except StorageError as e:
            raise TransientStorageError(str(e)) from e
        try:
            facts = inspect_untrusted(
                src_path, limits=limits_from(settings), timeout=settings.probe_timeout_seconds
            )
            source_facts = SourceFacts.from_media_facts(str(src_path), facts)
        except (ProbeRejection, InspectFailed, RecipeError) as e:
            raise RenderFailed("source-unreadable", str(e)) from e
        if not hb.beat(force=True):
            raise MediaCancelled("render cancelled")
        try:
            recipe = _recipe(request, workdir, storage, settings)
        except ObjectNotFound as e:
            raise RenderFailed("overlay-missing", str(e)) from e
        except StorageError as e:
            raise TransientStorageError(str(e)) from e
        seconds = output_duration(source_facts, recipe)

        failures: dict[str, tuple[str, str]] = {}
        planned: list[Planned] = []
        for pid in request["presets"]:
            try:
                preset = catalog.preset(pid)
            except KeyError:
                failures[pid] = ("preset-unknown", f"preset {pid!r} is no longer in the catalogue")
                continue
            problem = renders.rendition_problem(preset, seconds)
            if problem:
                failures[pid] = problem
                continue
            spec = OutputSpec(preset, str(workdir / f"{pid}.mp4"), fit=request.get("fit", {}).get(pid))
            planned.append(Planned(preset, spec, (0, 0)))
        if planned:
            plans = plan_outputs(source_facts, recipe, [p.spec for p in planned])
            for item, plan in zip(planned, plans, strict=True):
                item.expected_size = (plan.width, plan.height)
            filters = ffmpeg_filters(ffmpeg)
            argv = build_render_argv(
                source_facts, recipe, [p.spec for p in planned], ffmpeg=ffmpeg, filters=filters
            )
            hb.beat(0.0, force=True)
            run_ffmpeg(
                argv,
                total_seconds=seconds,
                timeout=settings.render_timeout_seconds,
                on_progress=hb.on_ffmpeg_progress,
                should_cancel=hb.should_cancel,
            )

        results: dict[str, dict[str, Any]] = {}
        for n, item in enumerate(planned):
            if not hb.beat(ENCODE_SHARE + (1 - ENCODE_SHARE) * n / max(1, len(planned)), force=True):
                raise MediaCancelled("render cancelled")
            results[item.preset.id] = _finish_output(
                item, source_facts, recipe, ffmpeg, filters, workdir, settings, hb
            )

        # Register and commit everything once, only while the lease is still ours.
        with session_scope() as session:
            # Renew in this transaction: a second connection could not write while it holds SQLite's lock.
            if not renders.heartbeat(session, job_id, owner, settings.render_lease_seconds, None):
                return "lost"
            outputs = {o.preset_id: o for o in renders.outputs_of(session, [job_id])[job_id]}
            made = 0
            for pid, (code, detail) in failures.items():
                _record(outputs[pid], status=OutputStatus.failed, error_code=code, error_detail=detail)
            for item in planned:
                res = results[item.preset.id]
                out = outputs[item.preset.id]
                if res["violations"]:
                    _record(
                        out,
                        status=OutputStatus.failed,
                        error_code="preset-violation",
                        error_detail="; ".join(
                            f"{v['field']}: {v['message']} ({v['actual']}, expected {v['expected']})"
                            for v in res["violations"]
                        ),
                        violations=res["violations"],
                        size_bytes=res["size_bytes"],
                        duration_s=res["duration_s"],
                        width=res["width"],
                        height=res["height"],
                        reencoded=res["reencoded"],
                    )
                    continue
                material = _register(
                    session,
                    storage,
                    settings,
                    job_id,
                    source_id,
                    source_title,
                    requested_by,
                    item,
                    res,
                    request,
                    _bookend_lineage(request, recipe),
                )
                _record(
                    out,
                    status=OutputStatus.succeeded,
                    material_id=material.id,
                    violations=[],
                    error_code=None,
                    error_detail=None,
                    size_bytes=res["size_bytes"],
                    duration_s=res["duration_s"],
                    width=res["width"],
                    height=res["height"],
                    reencoded=res["reencoded"],
                )
                made += 1
            for out in outputs.values():
                session.add(out)
            if made:
                status, code, detail = JobStatus.succeeded, None, None
                if failures or made < len(planned):
                    code, detail = "partial", f"{made} of {len(outputs)} renditions made"
            else:
                status, code = JobStatus.failed, "no-rendition"
                detail = (
                    "; ".join(f"{pid}: {d}" for pid, (_, d) in failures.items())
                    or "every rendition failed validation"
                )
            if not renders.finish_job(session, job_id, owner, status, error_code=code, error_detail=detail):
                session.rollback()
                log.warning("job %s was cancelled or taken over before it finished; nothing recorded", job_id)
                return "lost"
        return str(status)


def _finish_output(
    item: Planned,
    source: SourceFacts,
    recipe: RenderRecipe,
    ffmpeg: str,
    filters: frozenset[str],
    workdir: Path,
    settings: Settings,
    hb: Heartbeat,
) -> dict[str, Any]:
    """Validate one output (re-encoded once at a lower bitrate if over the size limit); make its cover."""
    path = Path(item.spec.path)
    facts = probe_rendition(path)
    reencoded = False
    lowered = lowered_maxrate_kbps(facts, item.preset)
    if lowered is not None:
        spec = OutputSpec(
            item.preset, str(workdir / f"{item.preset.id}.small.mp4"), fit=item.spec.fit, maxrate_kbps=lowered
        )
        argv = build_render_argv(source, recipe, [spec], ffmpeg=ffmpeg, filters=filters)
        run_ffmpeg(
            argv,
            total_seconds=facts.duration,
            timeout=settings.render_timeout_seconds,
            should_cancel=hb.should_cancel,
        )
        Path(spec.path).replace(path)
        facts = probe_rendition(path)
        reencoded = True
    violations = validate_rendition(facts, item.preset, expected_size=item.expected_size)
    cover = workdir / f"{item.preset.id}.cover.jpg"
    if not violations:
        render_cover(path, item.preset, cover, ffmpeg=ffmpeg, at=min(1.0, facts.duration / 2))
    return {
        "path": path,
        "cover": cover,
        "violations": [v.__dict__ for v in violations],
        "reencoded": reencoded,
        "size_bytes": facts.size_bytes,
        "duration_s": round(facts.duration, 3),
        "width": facts.width,
        "height": facts.height,
    }


def _register(
    session,
    storage: Storage,
    settings: Settings,
    job_id: uuid.UUID,
    source_id: uuid.UUID,
    source_title: str,
    requested_by: uuid.UUID | None,
    item: Planned,
    res: dict[str, Any],
    request: dict[str, Any],
    bookends: dict[str, Any],
) -> Material:
    material_id = output_material_id(job_id, item.preset.id)
    existing = session.get(Material, material_id)
    if existing is not None:
        return existing
    recipe = {
        "job_id": str(job_id),
        "preset_id": item.preset.id,
        "source_id": str(source_id),
        "ranges": request["ranges"],
        "fit": item.spec.fit or item.preset.fit,
        "mode": request.get("mode", "exact"),
        "loudnorm": bool(request.get("loudnorm")),
        "watermark": request.get("watermark"),
        "title": request.get("title"),
        "subtitles": request.get("subtitles"),
        "crop_path": request.get("crop_path") if (item.spec.fit or item.preset.fit) == "smart" else None,
        **bookends,
        "size": list(item.expected_size),
        "reencoded": res["reencoded"],
    }
    result = ingest_local_file(
        session,
        storage,
        settings,
        res["path"],
        IngestRequest(
            title=f"{source_title} · {item.preset.label.zh}"[:500],
            kind=MaterialKind.derived,
            original_filename=f"{item.preset.id}.mp4",
            created_by=requested_by,
            parent_id=source_id,
            recipe=recipe,
            preset_id=item.preset.id,
            render_job_id=job_id,
            material_id=material_id,
            extra_objects={"cover.jpg": res["cover"]},
        ),
    )
    return result.material


def _bookend_lineage(request: dict[str, Any], recipe: RenderRecipe) -> dict[str, Any]:
    """The intro/outro materials an output was joined with, and the seconds each took."""
    out: dict[str, Any] = {}
    for side, bookend in (("intro", recipe.intro), ("outro", recipe.outro)):
        material_id = request.get(f"{side}_material_id")
        out[side] = {"material_id": material_id, "seconds": round(bookend.duration, 3)} if bookend else None
    return out


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
        return run_render(jid, owner)
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
    import re

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
