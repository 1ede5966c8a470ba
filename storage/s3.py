"""S3Storage: objects in one bucket of an S3-compatible service (MinIO, AWS S3), via the minio SDK.

Nothing connects until the first call; `ensure_bucket()` is the only call that creates anything.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO, cast
from urllib.parse import urlsplit

import urllib3
from minio import Minio
from minio.datatypes import Part
from minio.deleteobjects import DeleteObject
from minio.error import MinioException, S3Error
from urllib3.util import Retry, Timeout

from storage.base import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_CONTENT_TYPE,
    MAX_PART_NUMBER,
    MIN_PART_SIZE,
    ChunkIterator,
    FullReader,
    InvalidRange,
    ObjectNotFound,
    ObjectStat,
    RangeReader,
    StorageError,
    check_range,
    content_disposition,
    download_via_open,
    validate_key,
)

DEFAULT_PART_SIZE = 8 * 1024 * 1024
"""Part size for streams of unknown length: bounds memory per part and caps such objects at 80 GB."""

_MIB = 1024 * 1024
_NOT_FOUND_CODES = {"NoSuchKey", "NoSuchUpload", "NoSuchVersion"}


class S3Storage:
    """Objects in `bucket` on an S3-compatible endpoint.

    `endpoint` is `host:port` or a URL; a URL's scheme decides `secure` unless it is given.
    `public_endpoint`, when set, is the host clients reach (e.g. a proxy in front of MinIO):
    presigned URLs are signed for it, since the host is part of the signature.
    Streams are uploaded in parts of `part_size`; memory use is about
    (parallel_uploads + 1) parts.
    """

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        *,
        secure: bool | None = None,
        region: str | None = None,
        public_endpoint: str | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        parallel_uploads: int = 2,
        connect_timeout: float = 10.0,
        read_timeout: float = 300.0,
        retries: int = 3,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes")
        if not bucket:
            raise ValueError("bucket is required")
        self.endpoint, self.secure = _split_endpoint(endpoint, secure)
        self.public_endpoint = public_endpoint
        self.bucket = bucket
        self.region = region
        self._access_key = access_key
        self._secret_key = secret_key
        self._part_size = part_size
        self._parallel_uploads = max(1, parallel_uploads)
        self._timeout = Timeout(connect=connect_timeout, read=read_timeout)
        self._retries = retries
        self._clients: dict[str, Minio] = {}
        self._pid = os.getpid()

    def __repr__(self) -> str:
        scheme = "https" if self.secure else "http"
        return f"S3Storage(endpoint='{scheme}://{self.endpoint}', bucket={self.bucket!r})"

    # -- provisioning ---------------------------------------------------------------------

    def ensure_bucket(self) -> None:
        with self._errors():
            if self._client.bucket_exists(self.bucket):
                return
            try:
                self._client.make_bucket(self.bucket, location=self.region)
            except S3Error as exc:
                if exc.code != "BucketAlreadyOwnedByYou":
                    raise

    def healthcheck(self) -> None:
        with self._errors():
            exists = self._client.bucket_exists(self.bucket)
        if not exists:
            raise StorageError(f"bucket {self.bucket!r} does not exist at {self.endpoint}")

    # -- writing --------------------------------------------------------------------------

    def put(
        self,
        key: str,
        stream: BinaryIO,
        *,
        size: int | None = None,
        content_type: str = DEFAULT_CONTENT_TYPE,
    ) -> ObjectStat:
        validate_key(key)
        if size is not None and size < 0:
            raise ValueError("size must not be negative")
        reader = FullReader(stream, size)
        with self._errors(key):
            self._client.put_object(
                self.bucket,
                key,
                reader,  # type: ignore[arg-type]
                -1 if size is None else size,
                content_type=content_type,
                part_size=self._part_size_for(size),
                num_parallel_uploads=self._parallel_uploads,
            )
        return self._stat_written(key)

    def put_file(
        self,
        key: str,
        path: Path,
        *,
        content_type: str = DEFAULT_CONTENT_TYPE,
        move: bool = False,
    ) -> ObjectStat:
        validate_key(key)
        source = Path(path)
        if not source.is_file():
            raise FileNotFoundError(f"no file at {source}")
        with self._errors(key):
            self._client.fput_object(
                self.bucket,
                key,
                str(source),
                content_type=content_type,
                part_size=self._part_size_for(source.stat().st_size),
                num_parallel_uploads=self._parallel_uploads,
            )
        if move:
            source.unlink(missing_ok=True)
        return self._stat_written(key)

    def delete(self, key: str) -> None:
        validate_key(key)
        with self._errors(key):
            self._client.remove_object(self.bucket, key)

    def delete_prefix(self, prefix: str) -> int:
        validate_key(prefix, prefix=True)
        deleted = 0

        def listed() -> Iterator[DeleteObject]:
            nonlocal deleted
            for item in self._client.list_objects(self.bucket, prefix=prefix, recursive=True):
                deleted += 1
                yield DeleteObject(item.object_name)

        with self._errors():
            failures = list(self._client.remove_objects(self.bucket, listed()))
        if failures:
            first = failures[0]
            raise StorageError(f"{len(failures)} objects under {prefix!r} were not deleted, e.g. {first}")
        return deleted

    # -- reading --------------------------------------------------------------------------

    @contextlib.contextmanager
    def open(self, key: str, start: int = 0, end: int | None = None) -> Iterator[BinaryIO]:
        validate_key(key)
        check_range(start, end)
        length = 0 if end is None else end - start + 1
        with self._errors(key):
            response = self._client.get_object(self.bucket, key, offset=start, length=length)

        def release() -> None:
            response.close()
            response.release_conn()

        with _ResponseReader(cast(BinaryIO, response), None, release) as reader:
            yield reader  # type: ignore[misc]

    def iter_bytes(
        self, key: str, start: int = 0, end: int | None = None, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> Iterator[bytes]:
        return ChunkIterator(self.open(key, start, end), chunk_size)

    def stat(self, key: str) -> ObjectStat | None:
        validate_key(key)
        try:
            with self._errors(key):
                obj = self._client.stat_object(self.bucket, key)
        except ObjectNotFound:
            return None
        return ObjectStat(
            key=key,
            size=obj.size or 0,
            etag=obj.etag or None,
            content_type=obj.content_type,
            modified=obj.last_modified,
        )

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
        validate_key(key)
        response_headers: dict[str, str | list[str] | tuple[str]] = {}
        if filename:
            response_headers["response-content-disposition"] = content_disposition(filename)
        if content_type:
            response_headers["response-content-type"] = content_type
        with self._errors(key):
            return self._presign_client.presigned_get_object(
                self.bucket, key, expires=expires, response_headers=response_headers or None
            )

    def reader_url(self, key: str, *, expires: timedelta) -> str:
        """A presigned GET on the endpoint this machine uses (not the public one given to browsers):
        what a worker's ffmpeg reads an object from, by range, without copying it first."""
        validate_key(key)
        with self._errors(key):
            return self._client.presigned_get_object(self.bucket, key, expires=expires)

    def download_to(self, key: str, path: Path) -> ObjectStat:
        return download_via_open(self, key, path)

    # -- multipart (resumable uploads) ------------------------------------------------------
    # The minio SDK keeps the single-request multipart calls private (underscore-prefixed);
    # they are stable across 7.x and are the only way to drive one part per request.

    def multipart_start(self, key: str, *, content_type: str = DEFAULT_CONTENT_TYPE) -> str:
        validate_key(key)
        with self._errors(key):
            return self._client._create_multipart_upload(self.bucket, key, {"Content-Type": content_type})

    def multipart_put_part(
        self, key: str, upload_id: str, part_number: int, stream_or_path: BinaryIO | Path, size: int
    ) -> str:
        validate_key(key)
        if not 1 <= part_number <= MAX_PART_NUMBER:
            raise ValueError(f"part number must be between 1 and {MAX_PART_NUMBER}")
        if size < 0:
            raise ValueError("size must not be negative")
        # One part is one signed request body, so it is held in memory; parts are bounded by the
        # uploader's chunk size.
        if isinstance(stream_or_path, Path):
            with stream_or_path.open("rb") as src:
                data = FullReader(src, size).read(size)
        else:
            data = FullReader(stream_or_path, size).read(size)
        with self._errors(key):
            etag = self._client._upload_part(self.bucket, key, data, None, upload_id, part_number)
        return etag.strip('"')

    def multipart_complete(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> ObjectStat:
        validate_key(key)
        if not parts:
            raise StorageError("a multipart upload needs at least one part")
        with self._errors(key):
            self._client._complete_multipart_upload(
                self.bucket, key, upload_id, [Part(number, etag.strip('"')) for number, etag in parts]
            )
        return self._stat_written(key)

    def multipart_abort(self, key: str, upload_id: str) -> None:
        validate_key(key)
        try:
            with self._errors(key):
                self._client._abort_multipart_upload(self.bucket, key, upload_id)
        except ObjectNotFound:
            return

    # -- internals ------------------------------------------------------------------------

    @property
    def _client(self) -> Minio:
        return self._client_for(self.endpoint, self.secure, self.region)

    @property
    def _presign_client(self) -> Minio:
        if not self.public_endpoint:
            return self._client
        scheme_given = "://" in self.public_endpoint
        host, secure = _split_endpoint(self.public_endpoint, None if scheme_given else self.secure)
        # Signing needs the region, and the public endpoint may not be reachable from here to ask.
        region = self.region or self._client._get_region(self.bucket)
        return self._client_for(host, secure, region)

    def _client_for(self, host: str, secure: bool, region: str | None) -> Minio:
        # A forked worker must not share the parent's pooled connections.
        if os.getpid() != self._pid:
            self._clients.clear()
            self._pid = os.getpid()
        client = self._clients.get(host)
        if client is None:
            http = urllib3.PoolManager(
                timeout=self._timeout,
                maxsize=10,
                retries=Retry(total=self._retries, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
            )
            client = Minio(
                host,
                access_key=self._access_key,
                secret_key=self._secret_key,
                secure=secure,
                region=region,
                http_client=http,
            )
            self._clients[host] = client
        return client

    def _part_size_for(self, size: int | None) -> int:
        if size is None:
            return self._part_size
        # Large known sizes need larger parts to stay within the 10,000-part limit.
        return max(self._part_size, math.ceil(size / MAX_PART_NUMBER / _MIB) * _MIB)

    def _stat_written(self, key: str) -> ObjectStat:
        stat = self.stat(key)
        if stat is None:
            raise StorageError(f"object {key} is missing right after it was written")
        return stat

    @contextlib.contextmanager
    def _errors(self, key: str | None = None) -> Iterator[None]:
        """Translate SDK and transport errors into the storage error tree."""
        try:
            yield
        except S3Error as exc:
            if exc.code in _NOT_FOUND_CODES:
                raise ObjectNotFound(key or exc.object_name or "") from exc
            if exc.code == "InvalidRange":
                raise InvalidRange(f"range not satisfiable for {key}") from exc
            raise StorageError(f"S3 error {exc.code} on {key or self.bucket}: {exc.message}") from exc
        except (MinioException, urllib3.exceptions.HTTPError) as exc:
            raise StorageError(f"S3 request to {self.endpoint} failed: {exc}") from exc


class _ResponseReader(RangeReader):
    def readinto(self, buffer) -> int:
        try:
            return super().readinto(buffer)
        except urllib3.exceptions.HTTPError as exc:
            raise StorageError(f"reading from S3 failed: {exc}") from exc


def _split_endpoint(endpoint: str, secure: bool | None) -> tuple[str, bool]:
    """`host:port` plus the secure flag, from `host:port` or a URL."""
    if "://" not in endpoint:
        return endpoint.rstrip("/"), True if secure is None else secure
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        raise ValueError(f"S3 endpoint must be host:port or http(s)://host:port, not {endpoint!r}")
    return parts.netloc, parts.scheme == "https" if secure is None else secure
