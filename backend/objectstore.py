"""The deployment's object storage, built once per process from Settings (API, workers and CLI alike)."""

from __future__ import annotations

from functools import lru_cache

from backend.config import get_settings
from storage import Storage
from storage.factory import build_storage


@lru_cache
def get_storage() -> Storage:
    s = get_settings()
    return build_storage(
        s.storage_backend,
        root=s.effective_storage_root,
        s3_endpoint=s.s3_endpoint,
        s3_access_key=s.s3_access_key,
        s3_secret_key=s.s3_secret_key,
        s3_bucket=s.s3_bucket,
        s3_secure=s.s3_secure,
        s3_region=s.s3_region,
        s3_public_endpoint=s.s3_public_endpoint,
    )
