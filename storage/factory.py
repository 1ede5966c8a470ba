"""build_storage(): the one place settings turn into a Storage backend."""

from __future__ import annotations

from pathlib import Path

from storage.base import Storage
from storage.local import LocalStorage
from storage.s3 import S3Storage

BACKENDS = ("local", "s3")


def build_storage(
    backend: str,
    *,
    root: Path,
    s3_endpoint: str | None = None,
    s3_access_key: str | None = None,
    s3_secret_key: str | None = None,
    s3_bucket: str | None = None,
    s3_secure: bool | None = None,
    s3_region: str | None = None,
    s3_public_endpoint: str | None = None,
) -> Storage:
    """Return the backend named `backend` ("local" or "s3"). Connects to nothing.

    For "s3", `s3_endpoint` may be `host:port` or a URL; with a URL and `s3_secure=None`
    the scheme decides whether TLS is used.
    """
    name = backend.strip().lower()
    if name == "local":
        return LocalStorage(Path(root))
    if name == "s3":
        missing = [
            label
            for label, value in (
                ("s3_endpoint", s3_endpoint),
                ("s3_access_key", s3_access_key),
                ("s3_secret_key", s3_secret_key),
                ("s3_bucket", s3_bucket),
            )
            if not value
        ]
        if missing:
            raise ValueError(f"the s3 storage backend needs {', '.join(missing)}")
        return S3Storage(
            s3_endpoint,  # type: ignore[arg-type]
            s3_access_key,  # type: ignore[arg-type]
            s3_secret_key,  # type: ignore[arg-type]
            s3_bucket,  # type: ignore[arg-type]
            secure=s3_secure,
            region=s3_region,
            public_endpoint=s3_public_endpoint,
        )
    raise ValueError(f"unknown storage backend {backend!r}; expected one of {', '.join(BACKENDS)}")
