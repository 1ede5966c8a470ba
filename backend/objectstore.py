"""The deployment's object storage, built once per process from Settings (API, workers and CLI alike), and
stored media read in place by the decoders that seek (previews, storyboards)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from backend.config import get_settings
from storage import Storage
from storage.base import FullReader, ObjectNotFound
from storage.factory import build_storage
from storage.local import LocalStorage
from workers.media.ranged import RangedSource

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


def media_in_place(storage: Storage, key: str) -> Path | RangedSource:
    """A stored media file for decoders that seek, read where it is: the stored file itself on local
    storage (originals are immutable), else the object read by byte ranges, so a few frames of a
    two-hour recording cost a few ranged reads instead of a copy of the recording."""
    if isinstance(storage, LocalStorage):
        return storage.local_path(key)
    stat = storage.stat(key)
    if stat is None:
        raise ObjectNotFound(f"no object {key}")

    def read_range(start: int, end: int) -> bytes:
        with storage.open(key, start, end) as fh:
            return FullReader(fh).read(end - start + 1)

    return RangedSource(Path(key), read_range=read_range, length=stat.size)


@contextmanager
def stored_file(storage: Storage, key: str, folder: Path) -> Iterator[Path]:
    """A stored file as a path on this machine, for a program that opens it by name (the sandboxed
    inspector): the stored file itself on local storage (originals are immutable), else a download
    into a temporary directory under `folder`, removed afterwards."""
    if isinstance(storage, LocalStorage):
        yield storage.local_path(key)
        return
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        storage.download_to(key, Path(tmp) / "original")
        yield Path(tmp) / "original"
