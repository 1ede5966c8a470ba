"""Resumable uploads over tus 1.0 (core + creation, creation-with-upload, creation-defer-length,
termination, checksum, expiration): the protocol's rules, the bytes' way to disk, and the hand-off
to the ordinary ingest once the last byte is in.

No HTTP framework here: the router passes header values and an async iterator of body chunks, and
gets back response headers or an AppError. Byte layout under `<data_dir>/uploads/`:

* `<id>.part` holds bytes [0, offset), whatever the storage backend: ingest probes it where it is
  and puts it into storage once (staging parts in S3 meant sending the bytes up, down for the
  probe and up again).
* `<id>.lock`: the per-upload writer lock (flock), held while a request writes; removed once the
  upload takes no more bytes. No database transaction is open while a body streams.

SHA-256 of the whole file: the process that receives an upload keeps the running hasher in memory,
keyed by upload id, beside the offset it has reached. A PATCH that lands in a process without it
(after a restart, or in another worker) re-hashes the bytes already received once, then goes on.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import anyio.to_thread
from sqlalchemy import bindparam
from sqlmodel import Session, select

from backend import errors
from backend.auth.models import ApiKey, Role
from backend.catalogue.downloads import safe_filename
from backend.catalogue.models import MaterialKind, MediaType
from backend.config import Settings
from backend.sqltypes import utcnow
from backend.text import single_line
from backend.uploads import service as ingest
from backend.uploads import spool
from backend.uploads.models import TusUpload, UploadStatus, UploadStorageMode
from storage import Storage

log = logging.getLogger("reelhouse.tus")

TUS_VERSION = "1.0.0"
EXTENSIONS = (
    "creation",
    "creation-with-upload",
    "creation-defer-length",
    "termination",
    "checksum",
    "expiration",
)
OFFSET_OCTET_STREAM = "application/offset+octet-stream"
CHECKSUM_ALGORITHMS: dict[str, Callable[[], Any]] = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "md5": hashlib.md5,
}
_COPY_CHUNK = 1024 * 1024


# --- the running SHA-256 --------------------------------------------------------------------------

_MAX_HASHERS = 1024  # uploads in progress per process; an evicted one is re-hashed from disk if it resumes
_hashers: OrderedDict[uuid.UUID, tuple[int, Any]] = OrderedDict()
_hashers_lock = threading.Lock()


def _running_hasher(upload: TusUpload) -> Any | None:
    """A copy of this process's hasher of bytes [0, upload.offset), if it has one."""
    if upload.offset == 0:
        return hashlib.sha256()
    with _hashers_lock:
        offset, hasher = _hashers.get(upload.id, (-1, None))
        return hasher.copy() if offset == upload.offset else None


def _keep_hasher(upload_id: uuid.UUID, offset: int, hasher: Any) -> None:
    with _hashers_lock:
        _hashers[upload_id] = (offset, hasher)
        _hashers.move_to_end(upload_id)
        while len(_hashers) > _MAX_HASHERS:
            _hashers.popitem(last=False)


def _forget_hasher(upload_id: uuid.UUID) -> None:
    with _hashers_lock:
        _hashers.pop(upload_id, None)


def _sha256_prefix(path: Path, size: int) -> Any:
    """The hasher of the first `size` bytes of `path` (a resumed upload this process has not seen)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while size > 0 and (chunk := fh.read(min(_COPY_CHUNK, size))):
            digest.update(chunk)
            size -= len(chunk)
    return digest


# --- header parsing -----------------------------------------------------------------------------------


def _non_negative_int(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    value = value.strip()
    if not value.isascii() or not value.isdigit():
        raise errors.BadRequest(f"{name} must be a non-negative integer, not {value!r}")
    return int(value)


_METADATA_KEY = re.compile(r"[^\s,]+")


def parse_metadata(header: str | None) -> dict[str, str | None]:
    """Upload-Metadata: comma-separated `key base64value` pairs (value optional), keys unique."""
    result: dict[str, str | None] = {}
    if header is None or not header.strip():
        return result
    for pair in header.split(","):
        parts = pair.strip().split(" ")
        if not parts[0] or len(parts) > 2 or not _METADATA_KEY.fullmatch(parts[0]):
            raise errors.BadRequest(f"Upload-Metadata pair {pair.strip()!r} is not 'key base64value'")
        key = parts[0]
        if key in result:
            raise errors.BadRequest(f"Upload-Metadata key {key!r} appears twice")
        if len(parts) == 1 or parts[1] == "":
            result[key] = None
            continue
        try:
            raw = base64.b64decode(parts[1], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise errors.BadRequest(f"Upload-Metadata value of {key!r} is not valid Base64") from exc
        try:
            result[key] = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise errors.BadRequest(f"Upload-Metadata value of {key!r} is not UTF-8 text") from exc
        if key == "filename":  # a name from the client's disk: cleaned when stored (safe_filename)
            continue
        try:
            single_line(result[key] or "")  # as every text the API takes (backend/text.py)
        except ValueError as exc:
            raise errors.ValidationFailed(f"Upload-Metadata value of {key!r}: {exc}") from None
    return result


@dataclass(frozen=True)
class UploadFields:
    filename: str | None
    title: str | None
    tags: list[str]
    kind: MaterialKind
    media_type: MediaType | None


def upload_fields(meta: dict[str, str | None]) -> UploadFields:
    """The metadata reelhouse uses: filename (or tus-js-client's `name`), title, tags, kind, media_type."""
    filename = safe_filename(meta.get("filename") or meta.get("name"))
    title = (meta.get("title") or "").strip()[:500] or None
    raw_tags = (meta.get("tags") or "").strip()
    tags: list[str]
    if raw_tags.startswith("["):
        try:
            loaded = json.loads(raw_tags)
        except ValueError as exc:
            raise errors.BadRequest("metadata 'tags' is neither a JSON list nor comma-separated") from exc
        if not isinstance(loaded, list) or not all(isinstance(t, str | int) for t in loaded):
            raise errors.BadRequest("metadata 'tags' must be a list of tag ids or 'category:name' strings")
        tags = [str(t).strip() for t in loaded if str(t).strip()]
    else:
        tags = [t.strip() for t in raw_tags.split(",") if t.strip()]
    try:
        kind = MaterialKind(meta.get("kind") or MaterialKind.source.value)
        declared = meta.get("media_type")
        media_type = MediaType(declared) if declared else None
    except ValueError as exc:
        raise errors.BadRequest(f"metadata: {exc}") from exc
    if kind == MaterialKind.derived:
        raise errors.BadRequest(
            "derived materials are made by renders, not uploaded; use kind=source or external"
        )
    return UploadFields(filename=filename, title=title, tags=tags, kind=kind, media_type=media_type)


@dataclass(frozen=True)
class Checksum:
    algorithm: str
    digest: bytes

    def new(self) -> Any:
        return CHECKSUM_ALGORITHMS[self.algorithm]()


def parse_checksum(header: str | None) -> Checksum | None:
    """Upload-Checksum: `<algorithm> <base64 digest>`; an algorithm we lack is 400 (checksum extension)."""
    if header is None:
        return None
    parts = header.strip().split(" ")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise errors.BadRequest("Upload-Checksum must be '<algorithm> <base64 digest>'")
    algorithm = parts[0]
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise errors.ChecksumAlgorithmUnsupported(
            f"checksum algorithm {algorithm!r} is not supported; use one of {', '.join(CHECKSUM_ALGORITHMS)}"
        )
    try:
        digest = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise errors.BadRequest("the Upload-Checksum digest is not valid Base64") from exc
    return Checksum(algorithm, digest)


def http_date(moment: datetime) -> str:
    """RFC 9110 IMF-fixdate, e.g. `Wed, 25 Jun 2014 16:00:00 GMT`."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)


# --- files ---------------------------------------------------------------------------------------------


def uploads_dir(settings: Settings) -> Path:
    return settings.data_dir / "uploads"


def partial_path(settings: Settings, upload_id: uuid.UUID) -> Path:
    return uploads_dir(settings) / f"{upload_id}.part"


def lock_path(settings: Settings, upload_id: uuid.UUID) -> Path:
    return uploads_dir(settings) / f"{upload_id}.lock"


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def discard_bytes(storage: Storage, settings: Settings, upload: TusUpload) -> None:
    """Free everything an upload holds besides its row: its files (and the S3 multipart upload of
    one begun before uploads were staged only on local disk)."""
    for held in uploads_dir(settings).glob(f"{upload.id}.*"):
        if held.suffix != ".lock":  # (writer_lock removes that once the upload takes no more bytes)
            held.unlink(missing_ok=True)
    _forget_hasher(upload.id)


# --- access and locking --------------------------------------------------------------------------------


def get_upload(session: Session, upload_id: uuid.UUID, key: ApiKey) -> TusUpload:
    """The caller's upload; another key's upload is 404 like a missing one (admins see all)."""
    return _owned(session.get(TusUpload, upload_id), upload_id, key)


def _owned(upload: TusUpload | None, upload_id: uuid.UUID, key: ApiKey) -> TusUpload:
    if upload is None or (upload.owner_key_id != key.id and Role(key.role) != Role.admin):
        raise errors.NotFound(f"no upload {upload_id}")
    return upload


def check_active(upload: TusUpload, now: datetime | None = None) -> None:
    """410 for an upload that can no longer take bytes (finished uploads still answer HEAD)."""
    if upload.status in (UploadStatus.terminated, UploadStatus.expired, UploadStatus.failed):
        detail = f"upload {upload.id} is {str(upload.status)}"
        if upload.error_type:
            detail += f" ({upload.error_type})"
        raise errors.UploadGone(detail, upload_status=str(upload.status))
    if upload.status == UploadStatus.receiving and upload.expires_at <= (now or utcnow()):
        raise errors.UploadGone(
            f"upload {upload.id} expired at {http_date(upload.expires_at)}", upload_status="expired"
        )


class _FileLock:
    """An exclusive, non-blocking flock on `<id>.lock`: works across processes on one machine."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(self._fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise errors.UploadLocked("another request is writing to this upload") from exc
            raise

    def release(self) -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)


# The upload row as committed now (not as this session last saw it); built once, run on every request.
_LATEST_UPLOAD = (
    select(TusUpload).where(TusUpload.id == bindparam("upload_id")).execution_options(populate_existing=True)
)


@contextlib.contextmanager
def writer_lock(
    session: Session, settings: Settings, upload_id: uuid.UUID, key: ApiKey
) -> Iterator[TusUpload]:
    """Hold the only write access to one upload; a second writer gets 423 at once, never interleaves.

    The lock is an flock on `<id>.lock` (across processes on this machine, where the bytes are);
    the row is read once it is held, and the transaction that read it is committed before the
    caller streams a body, so no database connection or row lock is held meanwhile. The caller
    commits its changes inside the block. The lock file goes once the upload takes no more bytes.
    """
    if session.in_transaction():
        session.commit()  # what the request wrote so far (auth's `last_used_at`) is not held either
    path = lock_path(settings, upload_id)
    lock = _FileLock(path)
    finished = False  # as committed: an unknown upload, or one that takes no more bytes, keeps no lock file
    try:
        row = session.exec(_LATEST_UPLOAD, params={"upload_id": upload_id}).first()
        finished = row is None or row.status != UploadStatus.receiving
        session.commit()
        upload = _owned(row, upload_id, key)
        yield upload
        finished = upload.status != UploadStatus.receiving  # reached once the caller's block committed
    finally:
        if finished:
            path.unlink(missing_ok=True)
        lock.release()


# --- the protocol -------------------------------------------------------------------------------------


def options_headers(settings: Settings) -> dict[str, str]:
    return {
        "Tus-Version": TUS_VERSION,
        "Tus-Extension": ",".join(EXTENSIONS),
        "Tus-Max-Size": str(settings.max_upload_bytes),
        "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS),
    }


def create_upload(
    session: Session,
    settings: Settings,
    key: ApiKey,
    *,
    upload_length: str | None,
    defer_length: str | None,
    metadata: str | None,
) -> TusUpload:
    """Creation extension: a new upload at offset 0 (with a known or deferred length)."""
    length = _non_negative_int(upload_length, "Upload-Length")
    if defer_length is not None and defer_length.strip() != "1":
        raise errors.BadRequest("Upload-Defer-Length must be 1")
    if (length is None) == (defer_length is None):
        raise errors.BadRequest("send exactly one of Upload-Length and Upload-Defer-Length: 1")
    if length is not None and length > settings.max_upload_bytes:
        raise errors.PayloadTooLarge(
            f"Upload-Length {length} is over the limit of {settings.max_upload_bytes} bytes"
        )
    meta = parse_metadata(metadata)
    fields = upload_fields(meta)
    now = utcnow()
    upload = TusUpload(
        owner_key_id=key.id,
        length=length,
        metadata_header=metadata.strip() if metadata and metadata.strip() else None,
        # As sent (HEAD returns the header itself), but without NUL, which PostgreSQL's JSON cannot hold.
        upload_metadata={k: v.replace("\x00", "") if v else v for k, v in meta.items()},
        filename=fields.filename,
        title=fields.title,
        tags=fields.tags,
        kind=fields.kind.value,
        media_type=fields.media_type.value if fields.media_type else None,
        storage_mode=UploadStorageMode.local,
        expires_at=now + timedelta(seconds=settings.tus_expire_seconds),
        created_at=now,
        updated_at=now,
    )
    session.add(upload)
    session.flush()
    return upload


def head_headers(upload: TusUpload) -> dict[str, str]:
    headers = {"Upload-Offset": str(upload.offset), "Cache-Control": "no-store"}
    if upload.length is None:
        headers["Upload-Defer-Length"] = "1"
    else:
        headers["Upload-Length"] = str(upload.length)
    if upload.metadata_header:
        headers["Upload-Metadata"] = upload.metadata_header
    if upload.status == UploadStatus.receiving:
        headers["Upload-Expires"] = http_date(upload.expires_at)
    return headers


class BodyInterrupted(Exception):
    """The client went away mid-body (the router translates its framework's disconnect into this)."""


@dataclass
class PatchRequest:
    upload_offset: str | None
    content_type: str | None
    content_length: str | None = None
    upload_length: str | None = None
    checksum: str | None = None


@dataclass
class PatchOutcome:
    upload: TusUpload
    headers: dict[str, str] = field(default_factory=dict)
    interrupted: bool = False
    error: BaseException | None = None
    """Set when the last byte arrived but ingest refused the file: the caller commits, then raises it."""


def validate_patch(
    settings: Settings, upload: TusUpload, req: PatchRequest
) -> tuple[Checksum | None, int | None, int | None]:
    """Everything a PATCH is checked against before a byte is read: 415, 400, 409, 413.

    Returns the chunk's checksum, the Upload-Length it sets (deferred length) and its Content-Length."""
    if (req.content_type or "").split(";")[0].strip().lower() != OFFSET_OCTET_STREAM:
        raise errors.UnsupportedMediaType(f"PATCH needs Content-Type: {OFFSET_OCTET_STREAM}")
    offset = _non_negative_int(req.upload_offset, "Upload-Offset")
    if offset is None:
        raise errors.BadRequest("PATCH needs an Upload-Offset header")
    new_length = _non_negative_int(req.upload_length, "Upload-Length")
    checksum = parse_checksum(req.checksum)
    content_length = _non_negative_int(req.content_length, "Content-Length")
    check_active(upload)
    if offset != upload.offset:
        raise errors.UploadOffsetMismatch(
            f"Upload-Offset is {offset} but the upload is at {upload.offset}", upload_offset=upload.offset
        )
    if new_length is not None:
        if upload.length is not None and new_length != upload.length:
            raise errors.BadRequest(f"the upload's length is already {upload.length}; it cannot change")
        if new_length > settings.max_upload_bytes:
            raise errors.PayloadTooLarge(
                f"Upload-Length {new_length} is over the limit of {settings.max_upload_bytes} bytes"
            )
        if new_length < upload.offset:
            raise errors.BadRequest(
                f"Upload-Length {new_length} is below the bytes already received ({upload.offset})"
            )
    length = upload.length if upload.length is not None else new_length
    limit = length if length is not None else settings.max_upload_bytes
    if content_length is not None and upload.offset + content_length > limit:
        raise errors.PayloadTooLarge(
            f"{content_length} more bytes at offset {upload.offset} would pass the upload's length of {limit}"
        )
    return checksum, new_length, content_length


async def receive(
    session: Session,
    storage: Storage,
    settings: Settings,
    upload: TusUpload,
    body: AsyncIterator[bytes],
    *,
    checksum: Checksum | None = None,
    new_length: int | None = None,
) -> PatchOutcome:
    """Append a request body at the upload's offset; call under `writer_lock` after `validate_patch`.

    With `tus_fsync`, bytes are fsynced before the new offset is flushed; without it (the default,
    as in tusd) a process crash loses nothing (the page cache survives it) and an OS crash that
    loses acknowledged bytes is caught on the next PATCH ("lost bytes on disk": start again).
    A body cut short keeps what arrived (unless it carried a checksum, which then cannot be
    verified); a checksum mismatch, a body past the upload's length or a full disk (507) discards
    the chunk and leaves the offset where it was.
    """
    if upload.status == UploadStatus.completed:
        async for chunk in body:
            if chunk:
                raise errors.PayloadTooLarge("the upload is complete; it takes no more bytes")
        return PatchOutcome(upload=upload, headers={"Upload-Offset": str(upload.offset)})
    if upload.storage_mode != UploadStorageMode.local:
        raise errors.UploadGone(f"upload {upload.id} was begun in S3 by an older version; start it again")
    if new_length is not None and upload.length is None:
        upload.length = new_length
    limit = upload.length if upload.length is not None else settings.max_upload_bytes
    position = start = upload.offset
    uploads_dir(settings).mkdir(parents=True, exist_ok=True)
    path = partial_path(settings, upload.id)
    chunk_hash = checksum.new() if checksum else None
    interrupted = False

    def too_large(_: int) -> errors.AppError:
        return errors.PayloadTooLarge(f"the body passes the upload's length of {limit} bytes; the chunk was discarded")

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        held = os.fstat(fd).st_size
        if held < position:
            raise errors.AppError(f"upload {upload.id} lost bytes on disk ({held} of {position}); start again")
        os.ftruncate(fd, position)  # bytes past the last acknowledged offset were never acknowledged
        os.lseek(fd, position, os.SEEK_SET)
        hasher = _running_hasher(upload) or await anyio.to_thread.run_sync(_sha256_prefix, path, position)
        try:
            try:
                await spool.receive(
                    body, fd, [hasher, chunk_hash] if chunk_hash else [hasher], limit - start,
                    interrupted=BodyInterrupted, too_large=too_large,
                )
            except BodyInterrupted:
                interrupted = True  # what arrived before the cut was written and hashed
            if chunk_hash is not None and checksum is not None:
                if interrupted:
                    raise BodyInterrupted
                if chunk_hash.digest() != checksum.digest:
                    raise errors.ChecksumMismatch(
                        f"the {os.lseek(fd, 0, os.SEEK_CUR) - position}-byte chunk does not match its {checksum.algorithm} checksum"
                    )
            if settings.tus_fsync:
                os.fsync(fd)
        except BaseException:
            os.ftruncate(fd, position)
            raise
        received = os.lseek(fd, 0, os.SEEK_CUR) - position
    finally:
        os.close(fd)
    if settings.tus_fsync and held == 0:
        _fsync_dir(path.parent)

    upload.offset = start + received
    _keep_hasher(upload.id, upload.offset, hasher)
    now = utcnow()
    upload.updated_at = now
    upload.expires_at = now + timedelta(seconds=settings.tus_expire_seconds)
    outcome = PatchOutcome(upload=upload, interrupted=interrupted)
    if upload.length is not None and upload.offset == upload.length and not interrupted:
        outcome.error = await _complete(session, storage, settings, upload, hasher)
    session.add(upload)
    session.flush()
    outcome.headers = {"Upload-Offset": str(upload.offset)}
    if upload.status == UploadStatus.receiving:
        outcome.headers["Upload-Expires"] = http_date(upload.expires_at)
    return outcome


def _spooled(settings: Settings, upload: TusUpload, hasher: Any) -> spool.SpooledUpload:
    """The finished upload's bytes, ingested where they are (the spool may be another filesystem):
    ingest moves them into storage or removes them."""
    source = partial_path(settings, upload.id)
    if not source.exists():
        source.touch()
    return spool.SpooledUpload(path=source, size=upload.offset, sha256=hasher.hexdigest(), fd=spool.hold(source))


async def _complete(
    session: Session,
    storage: Storage,
    settings: Settings,
    upload: TusUpload,
    hasher: Any,
) -> BaseException | None:
    """Hand the finished bytes to ingest. Returns ingest's error (after recording it) or None."""

    def run() -> ingest.IngestResult:
        spooled = _spooled(settings, upload, hasher)
        request = ingest.IngestRequest(
            title=upload.title,
            kind=MaterialKind(upload.kind),
            declared_media_type=MediaType(upload.media_type) if upload.media_type else None,
            original_filename=upload.filename,
            tag_refs=list(upload.tags),
            created_by=upload.owner_key_id,
        )
        return ingest.ingest_spooled(session, storage, settings, spooled, request)

    try:
        result = await anyio.to_thread.run_sync(run)
    except Exception as exc:  # noqa: BLE001  (recorded on the row, then re-raised by the caller)
        upload.status = UploadStatus.failed
        upload.error_type = exc.type_uri() if isinstance(exc, errors.AppError) else errors.AppError.type_uri()
        discard_bytes(storage, settings, upload)
        if not isinstance(exc, errors.AppError):
            log.exception("completing upload %s failed", upload.id)
        return exc
    upload.status = UploadStatus.completed
    upload.material_id = result.material.id
    _forget_hasher(upload.id)
    return None


def terminate(storage: Storage, settings: Settings, upload: TusUpload) -> None:
    """Termination extension: free the bytes; the row stays so later requests get 410."""
    if upload.status in (UploadStatus.terminated, UploadStatus.expired):
        raise errors.UploadGone(f"upload {upload.id} is already {str(upload.status)}")
    discard_bytes(storage, settings, upload)
    upload.status = UploadStatus.terminated
    upload.updated_at = utcnow()


def upload_summary(upload: TusUpload) -> dict[str, Any]:
    return {
        "id": str(upload.id),
        "status": str(upload.status),
        "offset": upload.offset,
        "length": upload.length,
        "filename": upload.filename,
        "title": upload.title,
        "tags": upload.tags,
        "kind": upload.kind,
        "expires_at": upload.expires_at.isoformat() if upload.status == UploadStatus.receiving else None,
        "material_id": str(upload.material_id) if upload.material_id else None,
        "error_type": upload.error_type,
        "created_at": upload.created_at.isoformat(),
        "updated_at": upload.updated_at.isoformat(),
    }


# --- expiration sweep ---------------------------------------------------------------------------------


def expire_uploads(
    session: Session, storage: Storage, settings: Settings, now: datetime | None = None
) -> int:
    """Expire unfinished uploads past `expires_at` (freeing their bytes) and forget old finished rows.

    An upload being written right now is skipped (its lock is held) and picked up next time.
    """
    now = now or utcnow()
    due = list(
        session.exec(
            select(TusUpload.id, TusUpload.owner_key_id).where(
                TusUpload.status == UploadStatus.receiving, TusUpload.expires_at <= now
            )
        )
    )
    session.commit()
    expired = 0
    for upload_id, owner_key_id in due:
        owner = session.get(ApiKey, owner_key_id)
        if owner is None:
            continue
        try:
            with writer_lock(session, settings, upload_id, owner) as upload:
                if upload.status != UploadStatus.receiving or upload.expires_at > now:
                    session.commit()
                    continue
                discard_bytes(storage, settings, upload)
                upload.status = UploadStatus.expired
                upload.updated_at = now
                session.add(upload)
                session.commit()
                expired += 1
        except (errors.UploadLocked, errors.NotFound):
            session.rollback()
            continue
    cutoff = now - timedelta(seconds=settings.tus_retain_seconds)
    old = list(
        session.exec(
            select(TusUpload).where(
                TusUpload.status != UploadStatus.receiving, TusUpload.updated_at <= cutoff
            )
        )
    )
    for upload in old:
        lock_path(settings, upload.id).unlink(missing_ok=True)
        session.delete(upload)
    session.commit()
    return expired
