"""Fixtures for the storage contract: one `storage` fixture per backend, both real."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage import LocalStorage, Storage
from tests.s3server import S3ServerInfo, s3_bucket, s3_server  # noqa: F401

BACKENDS = ["local", "s3"]


@pytest.fixture(params=BACKENDS)
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    backend: Storage
    if request.param == "local":
        backend = LocalStorage(tmp_path / "objects")
    else:
        info: S3ServerInfo = request.getfixturevalue("s3_bucket")
        backend = info.storage()
    backend.ensure_bucket()
    return backend
