"""Nothing of a failed upload stays on disk (issue 16 item 8): the data directory is listed before
and after each failure path, and a full spool disk is a clear 507 that the next upload outlives."""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.uploads.tus.conftest import create, head, patch


def _tree(app_env: dict[str, str]) -> set[str]:
    """Every file, and every folder under objects/materials, in the data directory."""
    root = Path(app_env["REELHOUSE_DATA_DIR"])
    found = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    materials = root / "objects" / "materials"
    if materials.exists():
        found |= {str(p.relative_to(root)) + "/" for p in materials.iterdir()}
    return found


def _upload(client, data: bytes, **params):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/materials", params=params, content=data, headers={"Content-Type": "application/octet-stream"})


def _chunked(total: int) -> Iterator[bytes]:  # no Content-Length: the limit is met while bytes arrive
    sent = 0
    while sent < total:
        yield b"\0" * 1_048_576
        sent += 1_048_576


def test_failed_simple_uploads_leave_nothing(client, app_env, small_clip: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from backend.uploads import service

    before = _tree(app_env)
    res = _upload(client, b"a spreadsheet, not a video\n" * 100)
    assert res.status_code == 422 and res.json()["type"] == "/problems/media-unrecognised"
    assert _tree(app_env) == before

    limit = int(app_env["REELHOUSE_MAX_UPLOAD_BYTES"])
    res = client.post("/api/v1/materials", content=_chunked(limit + 2_000_000), headers={"Content-Type": "application/octet-stream"})
    assert res.status_code == 413
    assert _tree(app_env) == before

    # A failure after the original was stored (here: the fingerprint request) removes the material's folder too.
    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("the database went away")

    with monkeypatch.context() as m:
        m.setattr(service, "request_fingerprint", broken)
        with contextlib.suppress(RuntimeError):
            _upload(client, small_clip.read_bytes())  # (TestClient re-raises the server's error)
    assert _tree(app_env) == before

    first = _upload(client, small_clip.read_bytes())
    assert first.status_code == 201
    kept = _tree(app_env)
    duplicate = _upload(client, small_clip.read_bytes())
    assert duplicate.status_code == 200
    assert _tree(app_env) == kept


def test_a_client_gone_mid_body_leaves_nothing(server, keys, app_env, small_clip: Path) -> None:  # type: ignore[no-untyped-def]
    import socket
    import time

    data = small_clip.read_bytes()
    before = _tree(app_env)
    head_ = (
        "POST /api/v1/materials HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {keys.editor}\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(head_.encode() + data[: len(data) // 2])
        time.sleep(0.5)
    deadline = time.monotonic() + 15
    while _tree(app_env) != before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _tree(app_env) == before


def test_tus_uploads_leave_no_lock_or_part_files(client, app_env, small_clip: Path) -> None:  # type: ignore[no-untyped-def]
    before = _tree(app_env)
    # Refused media: the upload fails at ingest, and nothing of it stays.
    junk = b"not media at all\n" * 64
    url = create(client, len(junk)).headers["location"]
    assert patch(client, url, 0, junk).status_code == 422
    assert head(client, url).status_code == 410
    assert _tree(app_env) == before
    # Too large for its declared length: refused, and the upload stays as it was.
    url = create(client, 10).headers["location"]
    assert patch(client, url, 0, b"x" * 11).status_code == 413
    assert client.delete(url, headers={"Tus-Resumable": "1.0.0"}).status_code == 204
    assert _tree(app_env) == before
    # Complete: the material is stored, no lock or partial file stays beside it.
    data = small_clip.read_bytes()
    url = create(client, len(data)).headers["location"]
    assert patch(client, url, 0, data[:1000]).status_code == 204
    assert patch(client, url, 1000, data[1000:]).status_code == 204
    assert not [p for p in _tree(app_env) - before if p.startswith(("uploads/", "spool/"))]


def test_a_spool_file_from_a_previous_run_goes_at_start_up(app_env, keys) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from backend.app import create_app

    spool = Path(app_env["REELHOUSE_DATA_DIR"]) / "spool"
    spool.mkdir(parents=True, exist_ok=True)
    (spool / "5f0c.part").write_bytes(b"half an upload from before a crash")
    (spool / "5f0c.poster.jpg").write_bytes(b"jpg")
    for path in spool.iterdir():
        os.utime(path, (time.time() - 60, time.time() - 60))
    with TestClient(create_app()):
        assert list(spool.iterdir()) == []


@contextlib.contextmanager
def _small_disk(data_dir: Path) -> Iterator[object]:
    """The data directory on a 1 MiB tmpfs (a real ENOSPC) where this may mount one; otherwise a
    1 MiB RLIMIT_FSIZE on this process (the kernel refuses the write with EFBIG). Yields how to
    make room again."""
    data_dir.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(data_dir)], capture_output=True)
    if mounted.returncode == 0:
        try:
            yield lambda: subprocess.run(["mount", "-o", "remount,size=64m", str(data_dir)], check=True)
        finally:
            subprocess.run(["umount", "-l", str(data_dir)], check=False)
        return
    if IN_CI:
        pytest.fail(f"CI runs as root and must mount a tmpfs: {mounted.stderr!r}")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024 * 1024, hard))
    try:
        yield lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_full_disk_is_507_and_the_next_upload_works(client, app_env, clip_dir: Path) -> None:  # type: ignore[no-untyped-def]
    """The simple upload and a tus PATCH on a full disk; PostgreSQL keeps the database off it."""
    from tests.conftest import make_clip

    big = make_clip(clip_dir / "over_a_mib.mp4", seconds=4, size="640x360", extra=["-b:v", "4M"])
    assert big.stat().st_size > 1024 * 1024
    data_dir = Path(app_env["REELHOUSE_DATA_DIR"])
    spool = data_dir / "spool"
    with _small_disk(data_dir) as make_room:
        before = _tree(app_env)
        res = _upload(client, big.read_bytes())
        assert res.status_code == 507, res.text
        assert res.json()["type"] == "/problems/storage-full"
        assert _tree(app_env) == before
        # tus: the chunk is discarded, the offset stays, and the upload goes on once there is room.
        url = create(client, big.stat().st_size).headers["location"]
        res = patch(client, url, 0, big.read_bytes())
        assert res.status_code == 507 and res.json()["type"] == "/problems/storage-full"
        assert head(client, url).headers["upload-offset"] == "0"
        make_room()  # type: ignore[operator]
        assert _upload(client, big.read_bytes()).status_code == 201
        assert patch(client, url, 0, big.read_bytes()).status_code == 204
        assert os.listdir(spool) == [] and list((data_dir / "uploads").glob("*")) == []
