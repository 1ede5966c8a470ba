"""LocalStorage: objects as files under one root directory (the default backend).

Layout under the root: `<key>` holds the bytes, a hidden sidecar `.<name>.meta` beside it
holds the content type, and `.multipart/<upload id>/` holds the parts of unfinished uploads.
Key segments never start with a dot, so none of these can collide with an object.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import mimetypes
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from storage.base import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_CONTENT_TYPE,
    MAX_PART_NUMBER,
    MIN_PART_SIZE,
    ChunkIterator,
    InvalidKey,
    InvalidRange,
    ObjectNotFound,
    ObjectStat,
    RangeReader,
    StorageError,
    check_range,
    copy_stream,
    download_via_open,
    validate_key,
    write_file_atomically,
)

_MULTIPART_DIR = ".multipart"
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")
_Fill = Callable[[Callable[[bytes], object]], object]
"""Writes an object's bytes through the `write` callable it is given."""
_NOT_A_FILE = (FileNotFoundError, IsADirectoryError, NotADirectoryError)


class LocalStorage:
    """Objects as files under `root`. Writes go to a temp file in the target directory and are
    renamed into place, so readers see the old object or the new one, never a partial one."""

    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = Path(root)
        self._fsync = fsync

    def __repr__(self) -> str:
        return f"LocalStorage(root={str(self.root)!r})"

    # -- provisioning ---------------------------------------------------------------------

    def ensure_bucket(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create storage root {self.root}: {exc}") from exc

    def healthcheck(self) -> None:
        if not self.root.is_dir():
            raise StorageError(f"storage root {self.root} is not a directory")
        if not os.access(self.root, os.R_OK | os.W_OK | os.X_OK):
            raise StorageError(f"storage root {self.root} is not readable and writable")

    # -- writing --------------------------------------------------------------------------

    def put(
        self,
        key: str,
        stream: BinaryIO,
        *,
        size: int | None = None,
        content_type: str = DEFAULT_CONTENT_TYPE,
    ) -> ObjectStat:
        path = self._path(key)
        if size is not None and size < 0:
            raise ValueError("size must not be negative")
        return self._write_object(key, path, content_type, lambda write: copy_stream(stream, write, size))

    def put_file(
        self,
        key: str,
        path: Path,
        *,
        content_type: str = DEFAULT_CONTENT_TYPE,
        move: bool = False,
    ) -> ObjectStat:
        target = self._path(key)
        source = Path(path)
        if not source.is_file():
            raise FileNotFoundError(f"no file at {source}")
        if move:
            try:
                return self._move_into_place(key, source, target, content_type)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise StorageError(f"cannot move {source} to {key}: {exc}") from exc
                # Another filesystem: copy, then consume the source as promised.
        with source.open("rb") as src:
            stat = self._write_object(key, target, content_type, lambda write: copy_stream(src, write, None))
        if move:
            source.unlink(missing_ok=True)
        return stat

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink(missing_ok=True)
            _meta_path(path).unlink(missing_ok=True)
        except IsADirectoryError:
            return
        except OSError as exc:
            raise StorageError(f"cannot delete {key}: {exc}") from exc

    def delete_prefix(self, prefix: str) -> int:
        validate_key(prefix, prefix=True)
        head = prefix.rpartition("/")[0]
        base = self.root / head if head else self.root
        if not base.is_dir():
            return 0
        deleted = 0
        try:
            for dirpath, _dirnames, filenames in os.walk(base, topdown=False):
                directory = Path(dirpath)
                rel = directory.relative_to(self.root).as_posix()
                dir_key = "" if rel == "." else rel + "/"
                if any(part.startswith(".") for part in dir_key.split("/") if part):
                    continue
                for name in filenames:
                    if name.startswith("."):
                        continue
                    if (dir_key + name).startswith(prefix):
                        (directory / name).unlink(missing_ok=True)
                        _meta_path(directory / name).unlink(missing_ok=True)
                        deleted += 1
                if dir_key and dir_key.startswith(prefix):
                    # Drop sidecars of objects that are gone, then the directory if now empty.
                    for name in os.listdir(directory):
                        if name.endswith(".meta") and not (directory / name[1:-5]).exists():
                            (directory / name).unlink(missing_ok=True)
                    with contextlib.suppress(OSError):
                        directory.rmdir()
        except OSError as exc:
            raise StorageError(f"cannot delete prefix {prefix}: {exc}") from exc
        return deleted

    # -- reading --------------------------------------------------------------------------

    @contextlib.contextmanager
    def open(self, key: str, start: int = 0, end: int | None = None) -> Iterator[BinaryIO]:
        check_range(start, end)
        path = self._path(key)
        try:
            handle = path.open("rb")
        except _NOT_A_FILE as exc:
            raise ObjectNotFound(key) from exc
        except OSError as exc:
            raise StorageError(f"cannot open {key}: {exc}") from exc
        try:
            size = os.fstat(handle.fileno()).st_size
            if (start or end is not None) and start >= size:
                raise InvalidRange(f"range start {start} is past the end of {key} ({size} bytes)")
            handle.seek(start)
        except BaseException:
            handle.close()
            raise
        limit = None if end is None else end - start + 1
        with RangeReader(handle, limit, handle.close) as reader:
            yield reader  # type: ignore[misc]

    def iter_bytes(
        self, key: str, start: int = 0, end: int | None = None, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> Iterator[bytes]:
        return ChunkIterator(self.open(key, start, end), chunk_size)

    def stat(self, key: str) -> ObjectStat | None:
        path = self._path(key)
        try:
            st = path.stat()
        except _NOT_A_FILE:
            return None
        except OSError as exc:
            raise StorageError(f"cannot stat {key}: {exc}") from exc
        if not path.is_file():
            return None
        return _object_stat(key, st, self._content_type(key, path, st))

    def exists(self, key: str) -> bool:
        return self.stat(key) is not None

    def presigned_url(
        self,
        key: str,
        *,
        expires: timedelta,
        filename: str | None = None,
        content_type: str | None = None,
    ) -> str | None:
        # The API serves local objects itself (with Range support); there is nothing to sign.
        self._path(key)
        return None

    def download_to(self, key: str, path: Path) -> ObjectStat:
        return download_via_open(self, key, path)

    def local_path(self, key: str) -> Path:
        """The object's own file, for a reader on this machine that must not copy it (a render reads
        a few ranges of a many-GB recording). Objects are replaced by rename, never written in place,
        so an open file keeps its content. Not part of the Storage protocol: S3 has no such thing."""
        path = self._path(key)
        if not path.is_file():
            raise ObjectNotFound(key)
        return path

    # -- multipart (resumable uploads) ------------------------------------------------------

    def multipart_start(self, key: str, *, content_type: str = DEFAULT_CONTENT_TYPE) -> str:
        validate_key(key)
        upload_id = uuid.uuid4().hex
        directory = self._uploads_dir() / upload_id
        try:
            directory.mkdir(parents=True)
            manifest = json.dumps({"key": key, "content_type": content_type}).encode()
            write_file_atomically(directory / "upload.json", [manifest])
        except OSError as exc:
            raise StorageError(f"cannot start upload for {key}: {exc}") from exc
        return upload_id

    def multipart_put_part(
        self, key: str, upload_id: str, part_number: int, stream_or_path: BinaryIO | Path, size: int
    ) -> str:
        _check_part_number(part_number)
        if size < 0:
            raise ValueError("size must not be negative")
        directory, _ = self._upload(key, upload_id)
        digest = hashlib.md5(usedforsecurity=False)

        def fill(write: Callable[[bytes], object]) -> None:
            def write_and_hash(data: bytes) -> None:
                digest.update(data)
                write(data)

            if isinstance(stream_or_path, Path):
                with stream_or_path.open("rb") as src:
                    copy_stream(src, write_and_hash, size)
            else:
                copy_stream(stream_or_path, write_and_hash, size)

        self._write_temp_then_replace(directory / f"{part_number:05d}.part", fill)
        return digest.hexdigest()

    def multipart_complete(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> ObjectStat:
        directory, manifest = self._upload(key, upload_id)
        if not parts:
            raise StorageError("a multipart upload needs at least one part")
        numbers = [number for number, _ in parts]
        if numbers != sorted(set(numbers)):
            raise StorageError("parts must be listed in strictly ascending part-number order")
        part_files = []
        for index, (number, _) in enumerate(parts):
            part_file = directory / f"{number:05d}.part"
            try:
                part_size = part_file.stat().st_size
            except FileNotFoundError:
                raise StorageError(f"part {number} of upload {upload_id} was never uploaded") from None
            if index < len(parts) - 1 and part_size < MIN_PART_SIZE:
                raise StorageError(
                    f"part {number} is {part_size} bytes; all but the last need {MIN_PART_SIZE}"
                )
            part_files.append(part_file)

        def fill(write: Callable[[bytes], object]) -> None:
            for (number, etag), part_file in zip(parts, part_files, strict=True):
                digest = hashlib.md5(usedforsecurity=False)
                with part_file.open("rb") as src:
                    for chunk in iter(functools.partial(src.read, DEFAULT_CHUNK_SIZE), b""):
                        digest.update(chunk)
                        write(chunk)
                if digest.hexdigest() != etag.strip('"'):
                    raise StorageError(f"part {number} does not match etag {etag}")

        stat = self._write_object(key, self._path(key), manifest["content_type"], fill)
        shutil.rmtree(directory, ignore_errors=True)
        return stat

    def multipart_abort(self, key: str, upload_id: str) -> None:
        try:
            directory, _ = self._upload(key, upload_id)
        except ObjectNotFound:
            return
        shutil.rmtree(directory, ignore_errors=True)

    # -- internals ------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        validate_key(key)
        path = self.root / key
        if not path.resolve().is_relative_to(self.root.resolve()):
            raise InvalidKey(f"key {key!r} resolves outside the storage root")
        return path

    def _uploads_dir(self) -> Path:
        return self.root / _MULTIPART_DIR

    def _upload(self, key: str, upload_id: str) -> tuple[Path, dict]:
        validate_key(key)
        if not isinstance(upload_id, str) or not _UPLOAD_ID.fullmatch(upload_id):
            raise ObjectNotFound(f"no upload {upload_id!r}")
        directory = self._uploads_dir() / upload_id
        try:
            manifest = json.loads((directory / "upload.json").read_bytes())
        except FileNotFoundError:
            raise ObjectNotFound(f"no upload {upload_id!r}") from None
        if manifest.get("key") != key:
            raise ObjectNotFound(f"upload {upload_id!r} is not for {key!r}")
        return directory, manifest

    def _write_temp_then_replace(self, path: Path, fill: _Fill) -> int:
        """Run fill(write) into a temp file beside `path`, then rename it over `path`; return the inode.

        Exceptions raised by fill propagate unchanged (they are usually the caller's stream
        failing); filesystem errors become StorageError. Either way the temp file is removed.
        """
        try:
            tmp_name = _mkstemp_in(path.parent, path.name)
        except OSError as exc:
            raise StorageError(f"cannot write {path.name}: {exc}") from exc
        try:
            with open(tmp_name, "wb") as out:

                def write(data: bytes) -> None:
                    try:
                        out.write(data)
                    except OSError as exc:
                        raise StorageError(f"cannot write {path.name}: {exc}") from exc

                fill(write)
                try:
                    out.flush()
                    if self._fsync:
                        os.fsync(out.fileno())
                    inode = os.fstat(out.fileno()).st_ino
                except OSError as exc:
                    raise StorageError(f"cannot write {path.name}: {exc}") from exc
            try:
                os.chmod(tmp_name, 0o644)
                os.replace(tmp_name, path)
            except OSError as exc:
                raise StorageError(f"cannot write {path.name}: {exc}") from exc
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
            raise
        return inode

    def _write_object(self, key: str, path: Path, content_type: str, fill: _Fill) -> ObjectStat:
        inode = self._write_temp_then_replace(path, fill)
        self._write_meta(path, inode, content_type)
        return self._stat_written(key, path)

    def _move_into_place(self, key: str, source: Path, target: Path, content_type: str) -> ObjectStat:
        target.parent.mkdir(parents=True, exist_ok=True)
        if self._fsync:
            with source.open("rb") as handle:
                os.fsync(handle.fileno())
        os.chmod(source, 0o644)
        os.replace(source, target)
        self._write_meta(target, target.stat().st_ino, content_type)
        return self._stat_written(key, target)

    def _write_meta(self, path: Path, inode: int, content_type: str) -> None:
        # The inode ties the sidecar to one version of the file: a rename keeps it, a newer
        # put replaces it, so a sidecar left stale by a crash is recognised and ignored.
        meta = json.dumps({"content_type": content_type, "inode": inode}).encode()
        try:
            write_file_atomically(_meta_path(path), [meta])
        except OSError as exc:
            raise StorageError(f"cannot write metadata for {path.name}: {exc}") from exc

    def _stat_written(self, key: str, path: Path) -> ObjectStat:
        try:
            st = path.stat()
        except OSError as exc:
            raise StorageError(f"object {key} vanished right after it was written: {exc}") from exc
        return _object_stat(key, st, self._content_type(key, path, st))

    def _content_type(self, key: str, path: Path, st: os.stat_result) -> str:
        try:
            meta = json.loads(_meta_path(path).read_bytes())
            if meta.get("inode") == st.st_ino and isinstance(meta.get("content_type"), str):
                return meta["content_type"]
        except (OSError, ValueError):
            pass
        return mimetypes.guess_type(key)[0] or DEFAULT_CONTENT_TYPE


def _meta_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.meta")


def _object_stat(key: str, st: os.stat_result, content_type: str) -> ObjectStat:
    # Like a web server's ETag: inode, size and mtime change whenever the file is replaced.
    return ObjectStat(
        key=key,
        size=st.st_size,
        etag=f"{st.st_ino:x}-{st.st_size:x}-{st.st_mtime_ns:x}",
        content_type=content_type,
        modified=datetime.fromtimestamp(st.st_mtime, UTC),
    )


def _mkstemp_in(directory: Path, name: str) -> str:
    # A concurrent delete_prefix may remove an empty directory between mkdir and mkstemp.
    for attempt in range(3):
        directory.mkdir(parents=True, exist_ok=True)
        try:
            fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
        except FileNotFoundError:
            if attempt == 2:
                raise
            continue
        os.close(fd)
        return tmp_name
    raise AssertionError("unreachable")


def _check_part_number(part_number: int) -> None:
    if not 1 <= part_number <= MAX_PART_NUMBER:
        raise ValueError(f"part number must be between 1 and {MAX_PART_NUMBER}")
