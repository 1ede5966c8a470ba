"""Executing a render job whose lease a worker holds: a typed `RenderPlan` read back from the job row,
then the source opened in place (its stored file, or a presigned URL read by range) with the facts
probed at ingest, one ffmpeg decode into every preset, validation, covers, and the derived materials
and the job's end state committed once, only while the lease is still held.

Each rendition is its own derived material (deterministic id: uuid5 of job + preset) with its own preset,
lineage and tags (the source's inheritable tags plus a platform tag), even when two presets encode to
the same bytes. Temporary files live in one folder per job under `settings.render_work_dir`, removed
when the job ends; folders left by a killed worker are removed when a worker starts
(`remove_stale_workdirs`).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlmodel import Session

from backend.catalogue import tags as tag_service
from backend.catalogue.models import PLATFORM_CATEGORY, Material, MaterialKind, MediaType, ReviewState, Tag
from backend.config import Settings
from backend.db import session_scope
from backend.platforms.service import get_catalog
from backend.queue import render_threads
from backend.renders import service as renders
from backend.renders.models import JobStatus, OutputStatus, RenderJob, RenderOutput
from backend.renders.service import RenderRequest
from backend.uploads.service import IngestRequest, ingest_local_file, limits_from
from presets.schema import PresetCatalog, RenditionPreset, UnknownPreset
from storage import LocalStorage, Storage
from storage.base import ObjectNotFound, StorageError
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
from workers.media.facts import MediaFacts
from workers.media.inspect import InspectFailed, inspect_untrusted
from workers.media.probe import ProbeRejection
from workers.media.run import (
    FfmpegFailed,
    MediaCancelled,
    cjk_font_path,
    ffmpeg_filters,
    ffmpeg_path,
    http_input_options,
    run_ffmpeg,
)
from workers.media.validate import (
    lowered_maxrate_kbps,
    probe_rendition,
    size_warnings,
    validate_rendition,
)

log = logging.getLogger("reelhouse.renders")

OUTPUT_NAMESPACE = uuid.UUID("6f0b7a3e-2c1d-5e8f-9a4b-72656e646572")
ENCODE_SHARE = 0.85  # of the job's progress; the rest is validation, covers and registration
TRANSIENT = (OperationalError, InterfaceError, ConnectionError, TimeoutError)
WORKDIR_PREFIX = "job-"
ORPHAN_LOCK_AGE_S = 3600.0


class RenderFailed(Exception):
    """A permanent failure of the whole job (bad input, missing capability); no retry."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class TransientStorageError(Exception):
    """Storage was unreachable; the task retries with backoff."""


def stored_facts(material: Material) -> MediaFacts | None:
    """The media facts probed when the material was ingested (one column each), or None when the row
    lacks what a render needs (a video stream and the demuxer its input is whitelisted with)."""
    if not (material.video_codec and material.demuxer and material.display_width and material.display_height):
        return None
    try:
        return MediaFacts.model_validate({name: getattr(material, name) for name in MediaFacts.model_fields})
    except ValidationError:
        return None


def output_material_id(job_id: uuid.UUID, preset_id: str) -> uuid.UUID:
    """The derived material's id: the same job and preset always name the same material."""
    return uuid.uuid5(OUTPUT_NAMESPACE, f"{job_id}/{preset_id}")


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class RenderPlan:
    """What a job asks for, read back from its row and validated again as a `RenderRequest`."""

    job_id: uuid.UUID
    source_id: uuid.UUID
    source_key: str | None
    source_title: str
    requested_by: uuid.UUID | None
    request: RenderRequest
    subtitles_key: str | None
    origin: str
    draft: dict[str, Any] | None = None
    source_facts: MediaFacts | None = None  # as probed at ingest; None for a row that has none

    @classmethod
    def of(cls, session: Session, job_id: uuid.UUID) -> RenderPlan:
        job = session.get(RenderJob, job_id)
        if job is None:
            raise RenderFailed("job-missing", f"render job {job_id} is gone")
        try:
            stored = renders.read_stored_request(job.request)
        except ValidationError as e:
            raise RenderFailed("request-invalid", f"the stored request no longer validates: {e}") from e
        source = session.get(Material, job.source_id)
        return cls(
            job_id=job.id,
            source_id=job.source_id,
            source_key=source.storage_key if source else None,
            source_title=source.title if source else "",
            requested_by=job.requested_by,
            request=stored.request,
            subtitles_key=stored.subtitles_key,
            origin=stored.origin,
            draft=stored.draft,
            source_facts=stored_facts(source) if source else None,
        )

    def fit(self, preset: RenditionPreset) -> str:
        return self.request.fit.get(preset.id) or preset.fit

    def lineage(self, preset: RenditionPreset, recipe: RenderRecipe, size: tuple[int, int], reencoded: bool) -> dict[str, Any]:
        """The recipe a derived material keeps: enough to say how it was made from its parent."""
        r = self.request
        fit = self.fit(preset)
        bookends = {
            side: {"material_id": str(material_id), "seconds": round(bookend.duration, 3)}
            if bookend and material_id
            else None
            for side, bookend, material_id in (
                ("intro", recipe.intro, r.intro_material_id),
                ("outro", recipe.outro, r.outro_material_id),
            )
        }
        return {
            "job_id": str(self.job_id),
            "preset_id": preset.id,
            "source_id": str(self.source_id),
            "ranges": [x.model_dump(mode="json") for x in r.ranges],
            "fit": fit,
            "mode": r.mode,
            "loudnorm": r.loudnorm,
            "watermark": r.watermark.model_dump(mode="json") if r.watermark else None,
            "title": r.title.model_dump(mode="json") if r.title else None,
            "subtitles": {"key": self.subtitles_key} if self.subtitles_key else None,
            "crop_path": [k.model_dump(mode="json") for k in r.crop_path] if r.crop_path and fit == "smart" else None,
            **bookends,
            "size": list(size),
            "reencoded": reencoded,
            **({"autoclip": self.draft} if self.draft else {}),
        }


@dataclass
class Rendition:
    """One preset of the job: planned, encoded, then validated (or failed before encoding)."""

    preset_id: str
    preset: RenditionPreset | None = None
    spec: OutputSpec | None = None
    expected_size: tuple[int, int] = (0, 0)
    failure: tuple[str, str] | None = None  # (code, detail) when it could not be made at all
    path: Path | None = None
    cover: Path | None = None
    violations: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    reencoded: bool = False
    size_bytes: int | None = None
    duration_s: float | None = None
    width: int | None = None
    height: int | None = None

    def measured(self) -> dict[str, Any]:
        return {
            "size_bytes": self.size_bytes,
            "duration_s": self.duration_s,
            "width": self.width,
            "height": self.height,
            "reencoded": self.reencoded,
            "violations": self.violations,
            "warnings": self.warnings,
        }


# --------------------------------------------------------------------------- heartbeat


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


# --------------------------------------------------------------------------- the work directory


@contextmanager
def render_workdir(root: Path, job_id: uuid.UUID) -> Iterator[Path]:
    """A job's temporary folder under `root`, removed when the job ends however it ends. A lock file
    beside it, held while the job runs, tells `remove_stale_workdirs` the folder is in use; the kernel
    drops the lock when the process dies, even by SIGKILL."""
    root.mkdir(parents=True, exist_ok=True)
    name = f"{WORKDIR_PREFIX}{job_id}-{uuid.uuid4().hex[:8]}"
    lock = (root / f"{name}.lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # taken before the folder exists
        path = root / name
        path.mkdir()
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)
    finally:
        (root / f"{name}.lock").unlink(missing_ok=True)
        lock.close()


def remove_stale_workdirs(root: Path) -> list[Path]:
    """Remove job folders no live process holds (left by a killed worker); returns what was removed."""
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    for path in sorted(root.glob(f"{WORKDIR_PREFIX}*")):
        if not path.is_dir():
            continue
        lock_path = path.with_name(f"{path.name}.lock")
        with lock_path.open("a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a running job's folder
            shutil.rmtree(path, ignore_errors=True)
            lock_path.unlink(missing_ok=True)
            removed.append(path)
    # Lock files whose folder is gone (a worker killed between the two). Only old ones: a job starting
    # right now has its lock file, not yet locked, a moment before its folder.
    for lock_path in root.glob(f"{WORKDIR_PREFIX}*.lock"):
        with contextlib.suppress(FileNotFoundError):
            if not lock_path.with_suffix("").exists() and time.time() - lock_path.stat().st_mtime > ORPHAN_LOCK_AGE_S:
                lock_path.unlink()
    if removed:
        log.warning("removed %d render folder(s) left by stopped workers under %s", len(removed), root)
    return removed


# --------------------------------------------------------------------------- execution


def execute(plan: RenderPlan, owner: str, settings: Settings, storage: Storage) -> str:
    """Render the plan of a job whose lease `owner` holds. Returns the job's final status (or 'lost')."""
    if not plan.source_key:
        raise RenderFailed("source-missing", f"source material {plan.source_id} has no stored file")
    hb = Heartbeat(plan.job_id, owner, settings.render_lease_seconds)
    with render_workdir(settings.render_work_dir, plan.job_id) as workdir:
        source = _open_source(plan, workdir, storage, settings)
        if not hb.beat(force=True):
            raise MediaCancelled("render cancelled")
        recipe = _recipe(plan, workdir, storage, settings)
        renditions = _plan_renditions(plan, get_catalog(), source, recipe, workdir)
        ffmpeg = ffmpeg_path(settings.ffmpeg_path)
        filters = ffmpeg_filters(ffmpeg)
        planned = [r for r in renditions if r.failure is None]
        specs = [r.spec for r in planned if r.spec is not None]
        if specs:
            argv = build_render_argv(
                source, recipe, specs, ffmpeg=ffmpeg, filters=filters, threads=render_threads(settings),
                url_options=http_input_options(ffmpeg) if source.is_url else (),
            )
            hb.beat(0.0, force=True)
            try:
                run_ffmpeg(
                    argv,
                    total_seconds=output_duration(source, recipe),
                    timeout=settings.render_timeout_seconds,
                    on_progress=hb.on_ffmpeg_progress,
                    should_cancel=hb.should_cancel,
                )
            except FfmpegFailed:
                _recheck_source(source, settings)
                raise
        for n, rendition in enumerate(planned):
            if not hb.beat(ENCODE_SHARE + (1 - ENCODE_SHARE) * n / len(planned), force=True):
                raise MediaCancelled("render cancelled")
            _check_output(rendition, source, recipe, ffmpeg, filters, workdir, settings, hb)
        return _record(plan, owner, renditions, recipe, settings, storage)


def _open_source(plan: RenderPlan, workdir: Path, storage: Storage, settings: Settings) -> SourceFacts:
    """Where ffmpeg reads the source, and its facts; nothing is copied when it can be read in place.

    Local storage: the stored file itself (originals are immutable). Object storage: a presigned URL,
    each cut range seeked on the input side, so only its bytes (and the index) are fetched. The facts
    probed at ingest are reused; a row without them (or a backend that can do neither) falls back to
    the old way, a copy probed in a sandbox.
    """
    key = plan.source_key or ""
    facts = plan.source_facts
    try:
        location = source_location(storage, key, settings)
    except ObjectNotFound as e:
        raise RenderFailed("source-missing", str(e)) from e
    except StorageError as e:
        raise TransientStorageError(str(e)) from e
    if location is None:
        path = workdir / f"source{Path(key).suffix}"
        try:
            storage.download_to(key, path)
        except ObjectNotFound as e:
            raise RenderFailed("source-missing", str(e)) from e
        except StorageError as e:
            raise TransientStorageError(str(e)) from e
        location = str(path)
    if facts is None:
        if location.startswith(("https://", "http://")):
            # No stored facts: the sandboxed probe reads a local file, so copy this one.
            path = workdir / f"source{Path(key).suffix}"
            _fetch(storage, key, path, code="source-missing")
            location = str(path)
        try:
            facts = inspect_untrusted(
                Path(location), limits=limits_from(settings), timeout=settings.probe_timeout_seconds
            )
        except (ProbeRejection, InspectFailed) as e:
            raise RenderFailed("source-unreadable", str(e)) from e
    try:
        return SourceFacts.from_media_facts(location, facts)
    except RecipeError as e:
        raise RenderFailed("source-unreadable", str(e)) from e


def _recheck_source(source: SourceFacts, settings: Settings) -> None:
    """After a failed render: the stored facts were trusted, so say so if the file itself went bad
    (a local source is probed again in the sandbox; a failure of anything else stays ffmpeg's)."""
    if source.is_url:
        return
    try:
        inspect_untrusted(Path(source.path), limits=limits_from(settings), timeout=settings.probe_timeout_seconds)
    except (ProbeRejection, InspectFailed) as e:
        raise RenderFailed("source-unreadable", str(e)) from e


def source_location(storage: Storage, key: str, settings: Settings) -> str | None:
    """A path or URL ffmpeg can read the object at without a copy, or None if there is none."""
    if isinstance(storage, LocalStorage):
        return str(storage.local_path(key))
    # Valid for the longest render and its one re-encode (S3 allows a week at most).
    ttl = min(timedelta(days=7), timedelta(seconds=2 * settings.render_timeout_seconds + 600))
    return storage.presigned_url(key, expires=ttl)


def _fetch(storage: Storage, key: str, path: Path, code: str = "overlay-missing") -> Path:
    try:
        storage.download_to(key, path)
    except ObjectNotFound as e:
        raise RenderFailed(code, str(e)) from e
    except StorageError as e:
        raise TransientStorageError(str(e)) from e
    return path


def _material_file(material_id: uuid.UUID) -> tuple[str | None, MediaType | None, float | None]:
    with session_scope() as session:
        m = session.get(Material, material_id)
        if m is None or not m.storage_key:
            return None, None, None
        return m.storage_key, MediaType(m.media_type), m.duration_s


def _bookend(
    plan: RenderPlan, side: str, workdir: Path, storage: Storage, settings: Settings
) -> Bookend | None:
    """Fetch the intro/outro material into the work dir; a video is probed like the source."""
    material_id: uuid.UUID | None = getattr(plan.request, f"{side}_material_id")
    if material_id is None:
        return None
    key, media_type, duration = _material_file(material_id)
    if not key or media_type not in (MediaType.video, MediaType.image):
        raise RenderFailed(f"{side}-missing", f"{side} material {material_id} is gone")
    path = _fetch(storage, key, workdir / f"{side}{Path(key).suffix}")
    seconds = renders.bookend_seconds(media_type, duration, getattr(plan.request, f"{side}_seconds"))
    if media_type == MediaType.image:
        return Bookend(str(path), seconds)
    try:
        facts = inspect_untrusted(path, limits=limits_from(settings), timeout=settings.probe_timeout_seconds)
        media = SourceFacts.from_media_facts(str(path), facts)
        return Bookend(str(path), min(seconds, media.duration or seconds), media)
    except (ProbeRejection, InspectFailed, RecipeError) as e:
        raise RenderFailed(f"{side}-unreadable", f"{side} material {material_id}: {e}") from e


def _recipe(plan: RenderPlan, workdir: Path, storage: Storage, settings: Settings) -> RenderRecipe:
    """The plan as the ffmpeg library's recipe, with its overlays fetched into the work dir."""
    r = plan.request
    watermark = title = subtitles = None
    if r.watermark:
        key, _, _ = _material_file(r.watermark.material_id)
        if not key:
            raise RenderFailed("watermark-missing", f"watermark material {r.watermark.material_id} is gone")
        path = _fetch(storage, key, workdir / f"watermark{Path(key).suffix}")
        watermark = Watermark(str(path), r.watermark.width_fraction, r.watermark.corner, r.watermark.opacity)
    font = cjk_font_path(settings.cjk_font_path)
    if r.title:
        if font is None or not os.path.isfile(font):
            raise RenderFailed(
                "cjk-font-missing",
                "no CJK font for the title: install fonts-noto-cjk or set REELHOUSE_CJK_FONT_PATH",
            )
        title = TitleText(r.title.text, font, r.title.position, start=r.title.start, end=r.title.end)
    if plan.subtitles_key:
        path = _fetch(storage, plan.subtitles_key, workdir / "subtitles.srt")
        subtitles = SubtitleBurn(str(path), fonts_dir=str(Path(font).parent) if font else None)
    return RenderRecipe(
        ranges=tuple(TimeRange(x.start, x.end) for x in r.ranges),
        mode=r.mode,
        loudnorm=r.loudnorm,
        allow_upscale=r.allow_upscale,
        watermark=watermark,
        title=title,
        subtitles=subtitles,
        crop_path=tuple(CropKey(k.t, k.x, k.y, k.scale, k.pad) for k in r.crop_path or ()),
        intro=_bookend(plan, "intro", workdir, storage, settings),
        outro=_bookend(plan, "outro", workdir, storage, settings),
    )


def _plan_renditions(
    plan: RenderPlan, catalog: PresetCatalog, source: SourceFacts, recipe: RenderRecipe, workdir: Path
) -> list[Rendition]:
    """Every requested preset: planned with its output size, or failed (unknown, or the cut does not fit)."""
    seconds = output_duration(source, recipe)
    renditions: list[Rendition] = []
    for pid in plan.request.presets:
        rendition = Rendition(pid)
        renditions.append(rendition)
        try:
            rendition.preset = catalog.preset(pid)
        except UnknownPreset:
            rendition.failure = ("preset-unknown", f"preset {pid!r} is no longer in the catalogue")
            continue
        rendition.failure = renders.rendition_problem(rendition.preset, seconds)
        if rendition.failure is None:
            rendition.spec = OutputSpec(rendition.preset, str(workdir / f"{pid}.mp4"), fit=plan.request.fit.get(pid))
    planned = [r for r in renditions if r.failure is None]
    specs = [r.spec for r in planned if r.spec is not None]
    if specs:
        for rendition, output in zip(planned, plan_outputs(source, recipe, specs), strict=True):
            rendition.expected_size = (output.width, output.height)
    return renditions


def _check_output(
    rendition: Rendition,
    source: SourceFacts,
    recipe: RenderRecipe,
    ffmpeg: str,
    filters: frozenset[str],
    workdir: Path,
    settings: Settings,
    hb: Heartbeat,
) -> None:
    """Validate one output (re-encoded once at a lower bitrate if over the size limit), note what is
    worth a look (smaller than the preset), and make its cover."""
    preset, spec = rendition.preset, rendition.spec
    assert preset is not None and spec is not None
    path = Path(spec.path)
    facts = probe_rendition(path)
    lowered = lowered_maxrate_kbps(facts, preset)
    if lowered is not None:
        smaller = OutputSpec(preset, str(workdir / f"{preset.id}.small.mp4"), fit=spec.fit, maxrate_kbps=lowered)
        argv = build_render_argv(
            source, recipe, [smaller], ffmpeg=ffmpeg, filters=filters, threads=render_threads(settings),
            url_options=http_input_options(ffmpeg) if source.is_url else (),
        )
        run_ffmpeg(
            argv, total_seconds=facts.duration, timeout=settings.render_timeout_seconds, should_cancel=hb.should_cancel
        )
        Path(smaller.path).replace(path)
        facts = probe_rendition(path)
        rendition.reencoded = True
    rendition.violations = [asdict(v) for v in validate_rendition(facts, preset, expected_size=rendition.expected_size)]
    rendition.warnings = [asdict(w) for w in size_warnings(facts, preset)]
    rendition.path, rendition.cover = path, workdir / f"{preset.id}.cover.jpg"
    rendition.size_bytes, rendition.duration_s = facts.size_bytes, round(facts.duration, 3)
    rendition.width, rendition.height = facts.width, facts.height
    if not rendition.violations:
        render_cover(path, preset, rendition.cover, ffmpeg=ffmpeg, at=min(1.0, facts.duration / 2))


def _record(
    plan: RenderPlan,
    owner: str,
    renditions: list[Rendition],
    recipe: RenderRecipe,
    settings: Settings,
    storage: Storage,
) -> str:
    """Register the derived materials and end the job in one transaction, only while the lease is ours."""
    with session_scope() as session:
        # Renew in this transaction: a second connection could not write while it holds SQLite's lock.
        if not renders.heartbeat(session, plan.job_id, owner, settings.render_lease_seconds, None):
            return "lost"
        outputs = {o.preset_id: o for o in renders.outputs_of(session, [plan.job_id])[plan.job_id]}
        inherited = _inherited_tags(session, plan.source_id)
        made, job_warnings = 0, []
        for rendition in renditions:
            out = outputs[rendition.preset_id]
            if rendition.failure:
                _set(out, status=OutputStatus.failed, error_code=rendition.failure[0], error_detail=rendition.failure[1])
            elif rendition.violations:
                _set(
                    out,
                    status=OutputStatus.failed,
                    error_code="preset-violation",
                    error_detail="; ".join(
                        f"{v['field']}: {v['message']} ({v['actual']}, expected {v['expected']})"
                        for v in rendition.violations
                    ),
                    **rendition.measured(),
                )
            else:
                material = _register(session, storage, settings, plan, rendition, recipe, inherited)
                _set(
                    out,
                    status=OutputStatus.succeeded,
                    material_id=material.id,
                    error_code=None,
                    error_detail=None,
                    **rendition.measured(),
                )
                job_warnings += [{"preset_id": rendition.preset_id, **w} for w in rendition.warnings]
                made += 1
            session.add(out)
        failed = [r for r in renditions if r.failure]
        if made:
            status, code, detail = JobStatus.succeeded, None, None
            if made < len(renditions):
                code, detail = "partial", f"{made} of {len(renditions)} renditions made"
        else:
            status, code = JobStatus.failed, "no-rendition"
            detail = "; ".join(f"{r.preset_id}: {r.failure[1]}" for r in failed if r.failure) or (
                "every rendition failed validation"
            )
        if not renders.finish_job(
            session, plan.job_id, owner, status, error_code=code, error_detail=detail, warnings=job_warnings
        ):
            session.rollback()
            log.warning("job %s was cancelled or taken over before it finished; nothing recorded", plan.job_id)
            return "lost"
        return str(status)


def _set(output: RenderOutput, **values: Any) -> None:
    for k, v in values.items():
        setattr(output, k, v)


def _inherited_tags(session: Session, source_id: uuid.UUID) -> list[Tag]:
    """The source's tags a rendition takes: every category but those marked not inheritable."""
    keep = tag_service.inheritable_categories(session)
    return [t for t in tag_service.tags_of(session, [source_id])[source_id] if t.category in keep]


def _platform_tag(session: Session, preset: RenditionPreset) -> Tag:
    names = get_catalog().platform(preset.platform).name
    return tag_service.ensure_tag(session, category=PLATFORM_CATEGORY, name_en=names.en, name_zh=names.zh)


def _register(
    session: Session,
    storage: Storage,
    settings: Settings,
    plan: RenderPlan,
    rendition: Rendition,
    recipe: RenderRecipe,
    inherited: list[Tag],
) -> Material:
    """The rendition as a derived material: its own row even when another preset made the same bytes."""
    preset = rendition.preset
    assert preset is not None and rendition.path is not None and rendition.cover is not None
    material_id = output_material_id(plan.job_id, preset.id)
    existing = session.get(Material, material_id)
    if existing is not None:  # a re-run after the commit of an earlier attempt
        return existing
    tags = [*inherited, _platform_tag(session, preset)]
    product_tag_id = plan.draft.get("product_tag_id") if plan.draft else None
    if product_tag_id is not None and all(t.id != product_tag_id for t in tags):
        product = session.get(Tag, product_tag_id)
        if product is not None:  # the tag may have been deleted since the proposal was made
            tags.append(product)
    result = ingest_local_file(
        session,
        storage,
        settings,
        rendition.path,
        IngestRequest(
            title=f"{plan.source_title} · {preset.label.zh}"[:500],
            kind=MaterialKind.derived,
            original_filename=f"{preset.id}.mp4",
            created_by=plan.requested_by,
            parent_id=plan.source_id,
            recipe=plan.lineage(preset, recipe, rendition.expected_size, rendition.reencoded),
            preset_id=preset.id,
            render_job_id=plan.job_id,
            material_id=material_id,
            tags=tags,
            extra_objects={"cover.jpg": rendition.cover},
        ),
    )
    if plan.draft is not None:  # an automatic re-edit: nobody has looked at it yet
        result.material.review_state = ReviewState.draft
        session.add(result.material)
        session.flush()
    return result.material
