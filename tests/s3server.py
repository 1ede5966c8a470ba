"""A real S3 endpoint for tests: moto's server on loopback, over HTTP, for the whole session.

Use it from any test module or conftest by importing the fixtures:

    from tests.s3server import s3_bucket, s3_server  # noqa: F401

`s3_server` (session) gives an `S3ServerInfo` whose bucket already exists; `s3_bucket`
(per test) gives one with a fresh, empty bucket that is emptied and removed afterwards.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from minio import Minio
from minio.deleteobjects import DeleteObject
from moto.server import ThreadedMotoServer

from storage.s3 import S3Storage

_bucket_numbers = itertools.count(1)


@dataclass(frozen=True)
class S3ServerInfo:
    host: str
    port: int
    access_key: str = "reelhouse-test"
    secret_key: str = "reelhouse-test-secret"
    region: str = "us-east-1"
    bucket: str = "reelhouse-test"
    secure: bool = False

    @property
    def endpoint(self) -> str:
        """`host:port`, as the minio SDK and `build_storage(s3_endpoint=...)` take it."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    def client(self) -> Minio:
        return Minio(
            self.endpoint,
            access_key=self.access_key,
            secret_key=self.secret_key,
            secure=self.secure,
            region=self.region,
        )

    def storage(self, **options) -> S3Storage:
        """An S3Storage on this server and bucket; `options` go to S3Storage (e.g. part_size)."""
        return S3Storage(
            self.endpoint,
            self.access_key,
            self.secret_key,
            self.bucket,
            secure=self.secure,
            region=self.region,
            **options,
        )

    def with_bucket(self, bucket: str) -> S3ServerInfo:
        return dataclasses.replace(self, bucket=bucket)


def empty_and_remove_bucket(client: Minio, bucket: str) -> None:
    if not client.bucket_exists(bucket):
        return
    for upload in client._list_multipart_uploads(bucket).uploads:
        with contextlib.suppress(Exception):
            client._abort_multipart_upload(bucket, upload.object_name, upload.upload_id)
    names = (DeleteObject(o.object_name) for o in client.list_objects(bucket, recursive=True))
    for error in client.remove_objects(bucket, names):
        raise RuntimeError(f"could not empty test bucket {bucket}: {error}")
    client.remove_bucket(bucket)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3ServerInfo]:
    # The server logs every request through werkzeug; keep test output to failures.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        info = S3ServerInfo(host=host, port=port)
        info.client().make_bucket(info.bucket)
        yield info
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_server: S3ServerInfo) -> Iterator[S3ServerInfo]:
    info = s3_server.with_bucket(f"reelhouse-test-{next(_bucket_numbers)}")
    client = info.client()
    client.make_bucket(info.bucket)
    yield info
    empty_and_remove_bucket(client, info.bucket)
