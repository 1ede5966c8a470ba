"""Resumable uploads over tus 1.0 (core, creation, creation-with-upload, creation-defer-length,
termination, checksum, expiration): the protocol's rules and the bytes' way to disk, no HTTP framework.

`<data_dir>/uploads/<id>.part` holds bytes [0, offset), `<id>.lock` is the writer's flock. The running
SHA-256 stays in the receiving process; a PATCH landing in another (a restart, another worker)
re-hashes the bytes already received once.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import anyio.to_thread
from sqlmodel import Session, select

from backend import errors, i18n
from backend.auth.models import ApiKey, Role
from backend.catalogue.models import MaterialKind, MediaType
from backend.config import Settings
from backend.sqltypes import utcnow
from backend.text import safe_filename, single_line
from backend.uploads import service as ingest
from backend.uploads import spool
from backend.uploads.models import TusUpload, UploadStatus
from storage import Storage

log = logging.getLogger("reelhouse.tus")

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,creation-with-upload,creation-defer-length,termination,checksum,expiration"
OFFSET_OCTET_STREAM = "application/offset+octet-stream"
CHECKSUM_ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "md5": hashlib.md5}

_MAX_HASHERS = 1024  # uploads in progress per process; an evicted one is re-hashed from disk if it resumes
_hashers: OrderedDict[uuid.UUID, tuple[int, Any]] = OrderedDict()  # upload id -> (offset, hasher)
_hashers_lock = threading.Lock()  # the event loop and threadpool routes (DELETE) both change it


def _keep_hasher(upload_id: uuid.UUID, offset: int = 0, hasher: Any | None = None) -> None:
    with _hashers_lock:
        _hashers.pop(upload_id, None)
        if hasher is not None:
            _hashers[upload_id] = (offset, hasher)
            if len(_hashers) > _MAX_HASHERS:
                _hashers.popitem(last=False)


def _sha256_prefix(path: Path) -> Any:
    """The hasher of the bytes `path` holds (of a resumed upload this process has not seen)."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256")


def _integer(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name.lower())
    if value is not None and not (value.strip().isascii() and value.strip().isdigit()):
        raise errors.BadRequest(key="tus-not-an-integer", params={"header": name, "value": value.strip()})
    return None if value is None else int(value)


def _base64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise errors.BadRequest(key="tus-not-base64", params={"what": what}) from exc


def parse_metadata(header: str | None) -> dict[str, Any]:
    """Upload-Metadata (comma-separated `key base64value` pairs, keys unique) as the TusUpload fields
    reelhouse uses: filename (or tus-js-client's `name`), title, tags (comma-separated or a JSON list of
    tag ids or `category:name`), kind, media_type."""
    meta: dict[str, str | None] = {}
    for pair in header.split(",") if header and header.strip() else ():
        key, _, value = pair.strip().partition(" ")
        if not re.fullmatch(r"[^\s,]+", key) or key in meta:
            raise errors.BadRequest(key="tus-metadata-pair", params={"pair": pair.strip()})
        try:
            meta[key] = text = _base64(value, f"Upload-Metadata {key}").decode() if value else None
            if text and key != "filename":  # a filename is cleaned when stored instead
                single_line(text)  # as every text the API takes (backend/text.py)
        except UnicodeDecodeError as exc:
            raise errors.BadRequest(key="tus-metadata-not-utf8", params={"key": key}) from exc
        except ValueError as exc:
            raise errors.ValidationFailed(f"Upload-Metadata value of {key!r}: {exc}", key="tus-metadata-line", params={"key": key}) from None
    tags: Any = (meta.get("tags") or "").strip()
    with contextlib.suppress(ValueError):
        tags = json.loads(tags) if tags.startswith("[") else tags.split(",")
    if not isinstance(tags, list) or not all(isinstance(t, str | int) for t in tags):
        raise errors.BadRequest(key="tus-metadata-tags")
    if (kind := meta.get("kind") or MaterialKind.source.value) == MaterialKind.derived:
        raise errors.BadRequest(key="catalogue.derived-not-uploaded")
    _check_choice("kind", kind, [MaterialKind.source, MaterialKind.external])
    _check_choice("media_type", media_type := meta.get("media_type"), list(MediaType))
    return {
        "filename": safe_filename(meta.get("filename") or meta.get("name")),
        "title": (meta.get("title") or "").strip()[:500] or None,
        "tags": [str(t).strip() for t in tags if str(t).strip()],
        "kind": kind,
        "media_type": media_type,
    }


def _check_choice(field: str, value: str | None, allowed: list[str]) -> None:
    if value is not None and value not in allowed:
        raise errors.BadRequest(key="tus-metadata-choice", params={"field": field, "value": value, "allowed": _listed(allowed)})


def _listed(names: Iterable[str]) -> dict[str, str]:
    return {i18n.ZH: "、".join(names), i18n.EN: ", ".join(names)}


def parse_checksum(header: str | None) -> tuple[str, bytes] | None:
    """Upload-Checksum: `<algorithm> <base64 digest>`; an algorithm we lack is 460 (checksum extension)."""
    if header is None:
        return None
    algorithm, _, digest = header.strip().partition(" ")
    if not algorithm or not digest:
        raise errors.BadRequest(key="tus-checksum-header")
    if algorithm not in CHECKSUM_ALGORITHMS:
        params = {"algorithm": algorithm, "supported": _listed(CHECKSUM_ALGORITHMS)}
        raise errors.ChecksumAlgorithmUnsupported(key="tus-checksum-algorithm", params=params)
    return algorithm, _base64(digest, "Upload-Checksum")


def http_date(moment: datetime) -> str:
    """RFC 9110 IMF-fixdate, e.g. `Wed, 25 Jun 2014 16:00:00 GMT`."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def _file(settings: Settings, upload_id: uuid.UUID, suffix: str) -> Path:
    return settings.data_dir / "uploads" / f"{upload_id}{suffix}"


def discard_bytes(settings: Settings, upload: TusUpload) -> None:
    """Free the bytes an upload holds (WriterLock removes the lock file once it takes no more bytes)."""
    _file(settings, upload.id, ".part").unlink(missing_ok=True)
    _keep_hasher(upload.id)


def get_upload(session: Session, upload_id: uuid.UUID, key: ApiKey | None) -> TusUpload:
    """Another key's upload is 404 like a missing one (admins, and the system (key None), see all)."""
    upload = session.get(TusUpload, upload_id)
    if upload is None or (key and upload.owner_key_id != key.id and Role(key.role) != Role.admin):
        raise errors.NotFound(key="upload-not-found", params={"id": str(upload_id)})
    return upload


def check_active(upload: TusUpload) -> None:
    """410 for an upload that can no longer take bytes (finished uploads still answer HEAD)."""
    status = upload.status
    if status == UploadStatus.receiving and upload.expires_at <= utcnow():
        status = UploadStatus.expired
    if status in (UploadStatus.terminated, UploadStatus.expired, UploadStatus.failed):
        failure = next((c for c in errors.error_classes() if c.type_uri() == upload.error_type), errors.AppError)
        params = {"id": str(upload.id), "error": {lang: failure.title_in(lang) for lang in i18n.LANGUAGES}}
        raise errors.UploadGone(key=f"tus-gone.{status}", params=params, upload_status=str(status))


class WriterLock:
    """The only write access to one upload: an flock on `<id>.lock` (across processes on this
    machine); a second writer gets 423 at once. Taking it commits, reads the row and commits again,
    so no connection or row lock is held while a body streams; it blocks (an async route takes it
    on a worker thread). The caller commits its changes inside the block; the lock file goes once
    the upload takes no more bytes. `key` None: the system (the expiry sweep)."""

    def __init__(self, session: Session, settings: Settings, upload_id: uuid.UUID, key: ApiKey | None) -> None:
        session.commit()  # what the request wrote so far (auth's `last_used_at`) is not held either
        self.path = _file(settings, upload_id, ".lock")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self.finished = False  # as committed: an unknown upload, or one that takes no more bytes, keeps no lock file
        try:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise errors.UploadLocked(key="tus-locked") from exc
            row = session.get(TusUpload, upload_id, populate_existing=True)  # as committed now, not as last seen
            self.finished = row is None or row.status != UploadStatus.receiving
            session.commit()
            self.upload = get_upload(session, upload_id, key)  # (the row just read: no query)
        except BaseException:
            self._release()
            raise

    def __enter__(self) -> TusUpload:
        return self.upload

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:  # the caller's block has committed
            self.finished = self.upload.status != UploadStatus.receiving
        self._release()

    def _release(self) -> None:
        if self.finished:
            self.path.unlink(missing_ok=True)
        os.close(self.fd)  # releases the flock


def options_headers(settings: Settings) -> dict[str, str]:
    return {"Tus-Version": TUS_VERSION, "Tus-Extension": EXTENSIONS, "Tus-Max-Size": str(settings.max_upload_bytes),
            "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS)}


def _check_length(settings: Settings, length: int | None) -> None:
    if length is not None and length > settings.max_upload_bytes:
        raise errors.PayloadTooLarge(key="upload-length-over-limit", params={"length": length, "limit": settings.max_upload_bytes})


def create_upload(session: Session, settings: Settings, key: ApiKey, headers: Mapping[str, str]) -> TusUpload:
    """Creation extension: a new upload at offset 0 (with a known or deferred length)."""
    length, defer = _integer(headers, "Upload-Length"), headers.get("upload-defer-length")
    if (defer is not None and defer.strip() != "1") or (length is None) == (defer is None):
        raise errors.BadRequest(key="tus-length-or-defer")
    _check_length(settings, length)
    metadata, now = (headers.get("upload-metadata") or "").strip(), utcnow()
    upload = TusUpload(
        owner_key_id=key.id, length=length, metadata_header=metadata or None, **parse_metadata(metadata),
        expires_at=now + timedelta(seconds=settings.tus_expire_seconds), created_at=now, updated_at=now,
    )
    session.add(upload)
    session.flush()
    return upload


def upload_headers(upload: TusUpload, *, head: bool = False) -> dict[str, str]:
    """Upload-Offset (and Upload-Expires while receiving); for HEAD also the length and metadata."""
    headers = {"Upload-Offset": str(upload.offset)}
    if upload.status == UploadStatus.receiving:
        headers["Upload-Expires"] = http_date(upload.expires_at)
    if head:
        headers["Cache-Control"] = "no-store"
        if upload.length is None:
            headers["Upload-Defer-Length"] = "1"
        else:
            headers["Upload-Length"] = str(upload.length)
        if upload.metadata_header:
            headers["Upload-Metadata"] = upload.metadata_header
    return headers


def _check_patch(settings: Settings, upload: TusUpload, offset: int | None, new_length: int | None) -> None:
    """The PATCH's offset and (deferred) length against the upload's, before a byte is read."""
    if offset is None:
        raise errors.BadRequest(key="tus-patch-offset-missing")
    check_active(upload)
    if offset != upload.offset:
        raise errors.UploadOffsetMismatch(key="tus-offset-mismatch", params={"sent": offset, "offset": upload.offset}, upload_offset=upload.offset)
    if new_length is not None:
        if upload.length is not None and new_length != upload.length:
            raise errors.BadRequest(key="tus-length-fixed", params={"length": upload.length})
        if new_length < upload.offset:
            raise errors.BadRequest(key="tus-length-below-offset", params={"length": new_length, "offset": upload.offset})
        _check_length(settings, new_length)
        upload.length = new_length


async def receive(
    session: Session, storage: Storage, settings: Settings, upload: TusUpload, headers: Mapping[str, str],
    body: AsyncIterator[bytes], *, interrupted: type[BaseException], offset: int | None = None,
) -> tuple[dict[str, str], BaseException | None]:
    """Check a PATCH (Upload-Offset from `headers`, or `offset` for creation-with-upload) before a
    byte is read, then append its body (which raises `interrupted` if the client goes away) at the
    upload's offset; call under `WriterLock`. Returns the response headers and, if the last byte
    arrived but ingest refused the file, its error: the caller commits, then raises it. The row
    changes in memory; the database is used only by ingest, on a worker thread.

    With `tus_fsync`, bytes are fsynced before the new offset is flushed; without it (the default,
    as in tusd) an OS crash that loses acknowledged bytes is caught on the next PATCH. A body cut
    short keeps what arrived (unless it carried a checksum, which then cannot be verified); a
    checksum mismatch, a body past the upload's length or a full disk (507) discards the chunk.
    """
    offset = offset if offset is not None else _integer(headers, "Upload-Offset")
    new_length, content_length = _integer(headers, "Upload-Length"), _integer(headers, "Content-Length")
    checksum = parse_checksum(headers.get("upload-checksum"))  # every header is checked before the upload's state
    _check_patch(settings, upload, offset, new_length)
    limit = upload.length if upload.length is not None else settings.max_upload_bytes
    if content_length is not None and upload.offset + content_length > limit:
        raise errors.PayloadTooLarge(key="tus-chunk-over-length", params={"bytes": content_length, "offset": upload.offset, "length": limit})
    if upload.status == UploadStatus.completed:
        async for chunk in body:
            if chunk:
                raise errors.PayloadTooLarge(key="tus-complete")
        return upload_headers(upload), None

    # The chunk that should complete the upload starts the sandboxed inspector while its bytes arrive.
    last = content_length is not None and content_length > 0 and upload.length == upload.offset + content_length
    inspector = await anyio.to_thread.run_sync(ingest.SandboxedInspector) if last else None
    with inspector or contextlib.nullcontext():  # (closed by ingest already, if it got there)
        hasher, cut = await _append(settings, upload, body, checksum, limit, interrupted)
        upload.updated_at = utcnow()
        upload.expires_at = upload.updated_at + timedelta(seconds=settings.tus_expire_seconds)
        error = None
        if upload.length is not None and upload.offset == upload.length and not cut:
            error = await _complete(session, storage, settings, upload, hasher, inspector)
        return upload_headers(upload), error


async def _append(
    settings: Settings, upload: TusUpload, body: AsyncIterator[bytes], checksum: tuple[str, bytes] | None,
    limit: int, interrupted: type[BaseException],
) -> tuple[Any, BaseException | None]:
    """Write the body at the upload's offset and advance it; returns the running SHA-256 and the
    client's cut, if it went away (what arrived before it is kept)."""
    start, path = upload.offset, _file(settings, upload.id, ".part")  # (WriterLock made the folder)
    chunk_hashers = [CHECKSUM_ALGORITHMS[checksum[0]]()] if checksum else []
    cut: BaseException | None = None
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        if (held := os.fstat(fd).st_size) < start:
            raise errors.AppError(key="tus-bytes-lost", params={"held": held, "offset": start})
        os.ftruncate(fd, start)  # bytes past the last acknowledged offset were never acknowledged
        os.lseek(fd, start, os.SEEK_SET)
        with _hashers_lock:
            known_offset, hasher = _hashers.get(upload.id, (-1, None))
        # A copy: the chunk may yet be discarded. Offset 0 needs no history.
        hasher = hashlib.sha256() if start == 0 else hasher.copy() if known_offset == start else None
        hasher = hasher or await anyio.to_thread.run_sync(_sha256_prefix, path)
        try:
            try:
                await spool.receive(body, fd, [hasher, *chunk_hashers], limit - start, interrupted=interrupted)
            except interrupted as exc:
                cut = exc  # what arrived before the cut was written and hashed
            if checksum and cut:
                raise cut
            if checksum and chunk_hashers[0].digest() != checksum[1]:
                raise errors.ChecksumMismatch(key="tus-checksum-mismatch", params={"algorithm": checksum[0]})
            if settings.tus_fsync:
                os.fsync(fd)
                if held == 0:  # the new file's name, too
                    _fsync_folder(path.parent)
        except BaseException:
            os.ftruncate(fd, start)
            raise
        upload.offset = os.lseek(fd, 0, os.SEEK_CUR)
    finally:
        os.close(fd)
    _keep_hasher(upload.id, upload.offset, hasher)
    return hasher, cut


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


async def _complete(
    session: Session, storage: Storage, settings: Settings, upload: TusUpload, hasher: Any, inspector: Any
) -> BaseException | None:
    """Ingest the finished bytes where they are (ingest moves them into storage or removes them).
    Returns ingest's error (after recording it on the row) or None."""
    request = ingest.IngestRequest(
        title=upload.title, kind=MaterialKind(upload.kind), original_filename=upload.filename, tag_refs=list(upload.tags),
        declared_media_type=MediaType(upload.media_type) if upload.media_type else None, created_by=upload.owner_key_id,
    )
    spooled = spool.SpooledUpload(_file(settings, upload.id, ".part"), upload.offset, hasher.hexdigest())
    try:
        result = await anyio.to_thread.run_sync(ingest.ingest_spooled, session, storage, settings, spooled, request, inspector)
    except Exception as exc:  # noqa: BLE001  (recorded on the row, then re-raised by the caller)
        upload.status = UploadStatus.failed
        upload.error_type = exc.type_uri() if isinstance(exc, errors.AppError) else errors.AppError.type_uri()
        discard_bytes(settings, upload)
        if not isinstance(exc, errors.AppError):
            log.exception("completing upload %s failed", upload.id)
        return exc
    upload.status, upload.material_id = UploadStatus.completed, result.material.id
    _keep_hasher(upload.id)
    return None


def terminate(settings: Settings, upload: TusUpload) -> None:
    """Termination extension: free the bytes; the row stays so later requests get 410."""
    if upload.status in (UploadStatus.terminated, UploadStatus.expired):
        raise errors.UploadGone(key=f"tus-gone.{upload.status}", params={"id": str(upload.id), "error": None})
    discard_bytes(settings, upload)
    upload.status, upload.updated_at = UploadStatus.terminated, utcnow()


def expire_uploads(session: Session, storage: Storage, settings: Settings, now: datetime | None = None) -> int:
    """Expire unfinished uploads past `expires_at` (freeing their bytes) and forget old finished rows.
    An upload being written right now is skipped (its lock is held) and picked up next time."""
    now = now or utcnow()
    due = select(TusUpload.id).where(TusUpload.status == UploadStatus.receiving, TusUpload.expires_at <= now)
    expired = 0
    for upload_id in session.exec(due).all():
        try:
            with WriterLock(session, settings, upload_id, None) as upload:
                if upload.status == UploadStatus.receiving and upload.expires_at <= now:
                    discard_bytes(settings, upload)
                    upload.status, upload.updated_at = UploadStatus.expired, now
                    expired += 1
                session.commit()
        except (errors.UploadLocked, errors.NotFound):
            session.rollback()
    cutoff = now - timedelta(seconds=settings.tus_retain_seconds)
    done = select(TusUpload).where(TusUpload.status != UploadStatus.receiving, TusUpload.updated_at <= cutoff)
    for upload in session.exec(done).all():
        _file(settings, upload.id, ".lock").unlink(missing_ok=True)
        session.delete(upload)
    session.commit()
    return expired
