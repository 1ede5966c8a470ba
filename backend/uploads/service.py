"""Ingest: probe a spooled upload (backend/uploads/spool.py) in a sandbox, store the original and
register the catalogue row; its poster and contact sheet are made by a worker once the row is committed
(backend/catalogue/previews.py). An original is written once under a server-generated key and never
modified; a rejected or failed ingest leaves nothing in storage or in the catalogue.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from backend import errors, queue
from backend.catalogue import tags as tag_service
from backend.catalogue.fingerprints import request_fingerprint
from backend.catalogue.models import Material, MaterialKind, MaterialStatus, MediaType, Tag
from backend.catalogue.service import limits_from
from backend.config import Settings
from backend.proxies.service import has_proxy_work, request_proxy
from backend.sqltypes import utcnow
from backend.text import safe_filename
from backend.uploads.spool import SpooledUpload, spool_file
from storage import Storage
from workers.media.inspect import InspectFailed, SandboxedInspector
from workers.media.probe import ProbeRejection

_REJECTIONS = {cls.slug: cls for cls in errors.error_classes() if issubclass(cls, errors.MediaRejected)}
_EXTENSIONS = {  # container (as the probe names it) -> the original's file extension and content type
    "mp4": ("mp4", "video/mp4"), "matroska": ("mkv", "video/x-matroska"), "mpegts": ("ts", "video/mp2t"),
    "flv": ("flv", "video/x-flv"), "avi": ("avi", "video/x-msvideo"),
    "mp3": ("mp3", "audio/mpeg"), "wav": ("wav", "audio/wav"), "ogg": ("ogg", "audio/ogg"),
    "flac": ("flac", "audio/flac"), "aac": ("aac", "audio/aac"),
    "jpeg": ("jpg", "image/jpeg"), "png": ("png", "image/png"), "webp": ("webp", "image/webp"),
}


@dataclass
class IngestRequest:
    title: str | None = None
    description: str = ""
    kind: MaterialKind = MaterialKind.source
    declared_media_type: MediaType | None = None
    original_filename: str | None = None
    tag_refs: Sequence[str] = ()
    tags: Sequence[Tag] = ()  # tags already resolved (a rendition's inherited and platform tags)
    created_by: uuid.UUID | None = None
    parent_id: uuid.UUID | None = None
    recipe: dict[str, Any] | None = None
    preset_id: str | None = None
    render_job_id: uuid.UUID | None = None
    material_id: uuid.UUID | None = None  # callers that need a deterministic id (renders) pass one
    extra_objects: dict[str, Path] = field(default_factory=dict)  # more files to store beside the original


@dataclass
class IngestResult:
    material: Material
    created: bool


def original_key(material_id: uuid.UUID, container: str | None) -> str:
    return f"materials/{material_id}/original.{_EXTENSIONS.get(container or '', ('bin', ''))[0]}"


def find_by_sha256(session: Session, sha256: str) -> Material | None:
    """The material an upload of these bytes is: the uploaded one (unique among uploads), else the
    earliest rendition with the same bytes."""
    query = select(Material).where(Material.sha256 == sha256)
    return session.exec(query.order_by(col(Material.kind) == MaterialKind.derived, col(Material.created_at))).first()


def _existing(session: Session, found: Material, tag_ids: list[int]) -> IngestResult:
    if found.status == MaterialStatus.deleted:
        # Uploading the same bytes again is the clearest way to say "I want this back".
        found.status, found.deleted_at, found.updated_at = MaterialStatus.ready, None, utcnow()
        session.add(found)
        session.flush()
    if tag_ids:
        tag_service.tag_materials(session, [found.id], tag_ids)
    return IngestResult(material=found, created=False)


def ingest_spooled(
    session: Session, storage: Storage, settings: Settings, spooled: SpooledUpload, request: IngestRequest,
    inspector: SandboxedInspector | None = None,
) -> IngestResult:
    """Turn a spooled upload into a catalogue material (or return the one with the same bytes).
    The spool file is consumed: moved into storage, or deleted; a refused upload leaves nothing
    behind. `inspector` (one started while the bytes arrived; else one is started now) is closed here."""
    stored: str | None = None  # the new material's folder in storage, once anything may be in it
    try:
        if spooled.size == 0:
            raise errors.EmptyFile(key="upload-empty")
        tags = tag_service.resolve_tag_refs(session, request.tag_refs, create=True)
        tags += [t for t in request.tags if t.id not in {x.id for x in tags}]
        tag_ids = [t.id for t in tags if t.id is not None]
        # Uploads are deduplicated by their bytes. A rendition is not: two presets with the same
        # encoding settings make identical files, and each is its own material with its own preset.
        deduplicate = request.kind != MaterialKind.derived
        found = find_by_sha256(session, spooled.sha256) if deduplicate else None
        if found is not None:
            return _existing(session, found, tag_ids)

        inspector = inspector or SandboxedInspector()
        try:
            facts = inspector.inspect(spooled.path, limits=limits_from(settings), timeout=settings.probe_timeout_seconds)
        except ProbeRejection as exc:
            words = f"media.{exc.text}" if exc.text else None
            raise _REJECTIONS.get(exc.reason, errors.NotMedia)(exc.detail, key=words, params=exc.params) from exc
        except InspectFailed as exc:
            raise errors.NotMedia(key="media-unreadable") from exc
        declared = request.declared_media_type
        if declared is not None and facts.media_type != declared.value:
            raise errors.KindMismatch(key="media-kind-mismatch", params={"declared": declared.value, "actual": facts.media_type})

        material_id = request.material_id or uuid.uuid4()
        key = original_key(material_id, facts.container)
        content_type = _EXTENSIONS.get(facts.container or "", ("bin", "application/octet-stream"))[1]
        filename = safe_filename(request.original_filename)
        title = (request.title or "").strip() or (Path(filename).stem.replace("_", " ").strip() if filename else "")
        material = Material(
            id=material_id, title=(title or "Untitled")[:500], description=request.description,
            media_type=MediaType(facts.media_type), kind=request.kind, status=MaterialStatus.ready,
            sha256=spooled.sha256, size_bytes=spooled.size, storage_key=key, original_filename=filename,
            content_type=content_type, parent_id=request.parent_id, recipe=request.recipe,
            preset_id=request.preset_id, render_job_id=request.render_job_id, created_by=request.created_by,
        )
        material.apply_facts(facts)

        stored = f"materials/{material_id}/"
        storage.put_file(key, spooled.path, content_type=content_type, move=True)
        for name, path in request.extra_objects.items():
            storage.put_file(f"{stored}{name}", path)

        try:
            # All of the rows or none: a caller that commits after a failure here (tus records it on the
            # upload's row) must not commit a material whose objects are gone.
            with session.begin_nested():
                session.add(material)
                session.flush()
                if tag_ids:
                    tag_service.tag_materials(session, [material.id], tag_ids)
                if material.media_type != MediaType.audio:
                    queue.enqueue(session, queue.MAKE_PREVIEWS, str(material.id))  # decoding no upload waits for
                if material.media_type == MediaType.video:
                    request_fingerprint(session, material.id)
                if has_proxy_work(material):
                    request_proxy(session, material)  # its own queue: a long encode never holds up quick work
                if request.kind == MaterialKind.source and material.media_type == MediaType.video:
                    queue.enqueue(session, queue.APPLY_AUTOCLIP_RULES, str(material.id))  # rules match in a worker
                if request.kind == MaterialKind.source and settings.auto_render_presets.strip():
                    queue.enqueue(session, queue.AUTO_RENDER_SOURCE, str(material.id))  # the rule runs in a worker
        except IntegrityError:
            # Someone stored the same bytes a moment ago: keep theirs, drop ours.
            if not deduplicate or (found := find_by_sha256(session, spooled.sha256)) is None:
                raise
            storage.delete_prefix(stored)
            stored = None
            return _existing(session, found, tag_ids)
        stored = None
        return IngestResult(material=material, created=True)
    except BaseException:
        if stored is not None:
            storage.delete_prefix(stored)  # the objects and, on local disk, the folder they were in
        raise
    finally:
        if inspector is not None:
            inspector.close()
        spooled.discard()


def ingest_local_file(
    session: Session, storage: Storage, settings: Settings, path: Path, request: IngestRequest
) -> IngestResult:
    """Ingest a file already on this machine (CLI import, renders): copy it to the spool first so the
    caller's file is never moved or changed."""
    with path.open("rb") as fh:
        spooled = spool_file(fh, settings.spool_dir, settings.max_upload_bytes)
    request.original_filename = request.original_filename or path.name
    return ingest_spooled(session, storage, settings, spooled, request)
