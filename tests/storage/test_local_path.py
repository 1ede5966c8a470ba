"""LocalStorage.local_path: the object's own file for an in-place reader (renders, the analysis)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from storage import InvalidKey, LocalStorage, ObjectNotFound


def test_local_path_is_the_stored_file_and_missing_objects_are_not_found(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "objects")
    storage.ensure_bucket()
    storage.put("materials/a/original.mp4", io.BytesIO(b"video"), size=5)
    path = storage.local_path("materials/a/original.mp4")
    assert path.read_bytes() == b"video" and path.is_relative_to(tmp_path / "objects")
    with pytest.raises(ObjectNotFound):
        storage.local_path("materials/b/original.mp4")
    with pytest.raises(ObjectNotFound):
        storage.local_path("materials")  # a folder is not an object
    with pytest.raises(InvalidKey):
        storage.local_path("../outside")
