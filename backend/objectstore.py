"""The deployment's object storage, built once per process from Settings (API, workers and CLI alike)."""

from __future__ import annotations

from functools import lru_cache

from backend.config import get_settings
from storage import Storage
from storage.factory import build_storage

# Settings fields passed to storage.factory.build_storage under the same names.
S3_SETTINGS = {
    "s3_endpoint", "s3_access_key", "s3_secret_key", "s3_bucket", "s3_secure", "s3_region", "s3_public_endpoint",
}


@lru_cache
def get_storage() -> Storage:
    settings = get_settings()
    return build_storage(
        settings.storage_backend, root=settings.effective_storage_root, **settings.model_dump(include=S3_SETTINGS)
    )
