"""What only one backend or the factory does; the shared behaviour is in test_contract.py."""

from __future__ import annotations

import io
import os
import socket
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from storage import InvalidKey, LocalStorage, S3Storage, Storage, StorageError, build_storage
from tests.s3server import S3ServerInfo


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- factory ------------------------------------------------------------------------------


def test_build_local_storage(tmp_path: Path) -> None:
    storage = build_storage("local", root=tmp_path / "objects")
    assert isinstance(storage, LocalStorage) and isinstance(storage, Storage)
    assert storage.root == tmp_path / "objects"
    assert not storage.root.exists()  # nothing is created until ensure_bucket() or a put


def test_build_s3_storage_connects_to_nothing(tmp_path: Path) -> None:
    storage = build_storage(
        "S3",
        root=tmp_path,
        s3_endpoint=f"http://127.0.0.1:{closed_port()}",
        s3_access_key="key",
        s3_secret_key="secret",
        s3_bucket="reelhouse",
        s3_region="us-east-1",
    )
    assert isinstance(storage, S3Storage) and isinstance(storage, Storage)
    assert storage.secure is False  # taken from the URL's scheme
    assert storage.endpoint.startswith("127.0.0.1:")


def test_build_s3_storage_needs_its_settings(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="s3_bucket"):
        build_storage("s3", root=tmp_path, s3_endpoint="minio:9000", s3_access_key="k", s3_secret_key="s")


def test_build_unknown_backend(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown storage backend"):
        build_storage("ftp", root=tmp_path)


@pytest.mark.parametrize(
    ("endpoint", "secure", "expected"),
    [
        ("minio:9000", None, ("minio:9000", True)),
        ("minio:9000", False, ("minio:9000", False)),
        ("http://minio:9000", None, ("minio:9000", False)),
        ("https://s3.example.com/", None, ("s3.example.com", True)),
    ],
)
def test_s3_endpoint_forms(endpoint: str, secure: bool | None, expected: tuple[str, bool]) -> None:
    storage = S3Storage(endpoint, "k", "s", "reelhouse", secure=secure)
    assert (storage.endpoint, storage.secure) == expected


def test_s3_endpoint_with_a_path_is_rejected() -> None:
    with pytest.raises(ValueError):
        S3Storage("http://minio:9000/bucket", "k", "s", "reelhouse")


# -- S3 -----------------------------------------------------------------------------------


def test_unreachable_s3_fails_health_and_operations_with_storage_error() -> None:
    storage = S3Storage(
        f"127.0.0.1:{closed_port()}", "k", "s", "reelhouse", secure=False, region="us-east-1", retries=0
    )
    with pytest.raises(StorageError):
        storage.healthcheck()
    with pytest.raises(StorageError):
        storage.put("a/b", io.BytesIO(b"x"))
    with pytest.raises(StorageError):
        storage.stat("a/b")


def test_presigned_urls_are_signed_for_the_public_endpoint(s3_bucket: S3ServerInfo) -> None:
    # Clients reach the same server under another name (here: localhost instead of 127.0.0.1).
    public = f"http://localhost:{s3_bucket.port}"
    storage = s3_bucket.storage(public_endpoint=public)
    storage.put("a/public.mp4", io.BytesIO(b"public bytes"), content_type="video/mp4")

    url = storage.presigned_url("a/public.mp4", expires=timedelta(minutes=5))

    assert url is not None and urlsplit(url).netloc == f"localhost:{s3_bucket.port}"
    response = httpx.get(url)
    assert response.status_code == 200 and response.content == b"public bytes"


def test_presigned_url_expiry_is_bounded(s3_bucket: S3ServerInfo) -> None:
    with pytest.raises(ValueError):
        s3_bucket.storage().presigned_url("a/b", expires=timedelta(days=8))


def test_known_size_large_put_uses_parts(s3_bucket: S3ServerInfo) -> None:
    storage = s3_bucket.storage(part_size=5 * 1024 * 1024)
    data = os.urandom(11 * 1024 * 1024)
    stat = storage.put("a/big", io.BytesIO(data), size=len(data))
    assert stat.size == len(data) and stat.etag is not None and stat.etag.endswith("-3")
    assert b"".join(storage.iter_bytes("a/big")) == data


def test_s3_part_size_below_the_minimum_is_rejected() -> None:
    with pytest.raises(ValueError):
        S3Storage("minio:9000", "k", "s", "reelhouse", part_size=1024)


# -- local --------------------------------------------------------------------------------


def test_local_keys_cannot_escape_the_root_through_a_symlink(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    storage = LocalStorage(tmp_path / "objects")
    storage.ensure_bucket()
    (storage.root / "linked").symlink_to(outside, target_is_directory=True)

    with pytest.raises(InvalidKey):
        storage.put("linked/file", io.BytesIO(b"x"))
    assert list(outside.iterdir()) == []


def test_local_content_type_survives_only_for_the_version_it_describes(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "objects", fsync=False)
    storage.put("a/clip.mp4", io.BytesIO(b"x"), content_type="video/x-custom")
    path = storage.root / "a" / "clip.mp4"
    # Replaced behind the storage's back (as if a crash lost the sidecar update).
    replacement = tmp_path / "replacement"
    replacement.write_bytes(b"other")
    os.replace(replacement, path)

    stat = storage.stat("a/clip.mp4")
    assert stat is not None and stat.content_type == "video/mp4"  # guessed from the key, not stale


def test_local_healthcheck_needs_a_writable_root(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "objects")
    with pytest.raises(StorageError):
        storage.healthcheck()
    storage.ensure_bucket()
    storage.healthcheck()
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(StorageError):
        LocalStorage(tmp_path / "file").healthcheck()


def test_local_delete_prefix_removes_emptied_directories(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "objects")
    storage.put("materials/m1/original.mp4", io.BytesIO(b"x"))
    storage.put("materials/m1/poster.jpg", io.BytesIO(b"y"))
    storage.put("materials/m2/original.mp4", io.BytesIO(b"z"))

    assert storage.delete_prefix("materials/m1/") == 2

    assert not (storage.root / "materials" / "m1").exists()
    assert (storage.root / "materials" / "m2" / "original.mp4").exists()


def test_local_objects_are_readable_by_other_processes(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "objects")
    storage.put("a/b", io.BytesIO(b"x"))
    assert (storage.root / "a" / "b").stat().st_mode & 0o777 == 0o644
