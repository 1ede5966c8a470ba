"""Where reelhouse keeps its bytes: the Storage protocol, a local-directory backend (default)
and an S3/MinIO backend, chosen by build_storage()."""

from storage.base import (
    InvalidKey,
    InvalidRange,
    ObjectNotFound,
    ObjectStat,
    Storage,
    StorageError,
    validate_key,
)
from storage.factory import build_storage
from storage.local import LocalStorage
from storage.s3 import S3Storage

__all__ = [
    "InvalidKey",
    "InvalidRange",
    "LocalStorage",
    "ObjectNotFound",
    "ObjectStat",
    "S3Storage",
    "Storage",
    "StorageError",
    "build_storage",
    "validate_key",
]
