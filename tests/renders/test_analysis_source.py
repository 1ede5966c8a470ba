"""The analysis task reads a recording on local storage in place and copies one from S3 once
(workers/autoclip.py; kept here, beside the render's in-place reads, as one concern)."""

from __future__ import annotations

import io

import pytest

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@sqlite_only
def test_local_recording_is_analysed_in_place(app_env, tmp_path):
    from backend.objectstore import get_storage
    from workers.autoclip import _readable_copy

    storage = get_storage()
    storage.put("materials/x/original.mp4", io.BytesIO(b"recording"), size=9)
    work = tmp_path / "work"
    work.mkdir()
    path = _readable_copy("materials/x/original.mp4", work)
    assert path == storage.local_path("materials/x/original.mp4") and list(work.iterdir()) == []


@sqlite_only
def test_s3_recording_is_copied_once_for_the_analysis(use_s3, tmp_path):
    from backend.objectstore import get_storage
    from workers.autoclip import _readable_copy

    get_storage().put("materials/x/original.mp4", io.BytesIO(b"recording"), size=9)
    work = tmp_path / "work"
    work.mkdir()
    path = _readable_copy("materials/x/original.mp4", work)
    assert path.parent == work and path.read_bytes() == b"recording"
