"""Fixtures for resumable uploads: tus request helpers and media big enough for multipart. The
real clients need a socket, not a TestClient: they use the `server` fixture (tests/live_server.py)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.conftest import make_clip

TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = "application/offset+octet-stream"


def metadata(**fields: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in fields.items())


def create(client, length: int | None, headers: dict[str, str] | None = None, **meta: str):  # type: ignore[no-untyped-def]
    h = {**TUS, **(headers or {})}
    if length is None:
        h["Upload-Defer-Length"] = "1"
    else:
        h["Upload-Length"] = str(length)
    if meta:
        h["Upload-Metadata"] = metadata(**meta)
    return client.post("/api/v1/uploads/", headers=h)


def patch(client, url: str, offset: int, data: bytes, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    h = {**TUS, "Upload-Offset": str(offset), "Content-Type": OCTETS, **(headers or {})}
    return client.patch(url, content=data, headers=h)


def head(client, url: str):  # type: ignore[no-untyped-def]
    return client.head(url, headers=TUS)


@pytest.fixture(scope="session")
def multipart_clip(clip_dir: Path) -> Path:
    """A real video over 5 MiB, so S3 mode needs more than one multipart part."""
    path = make_clip(
        clip_dir / "multipart.mp4", seconds=5.0, size="1280x720", audio=False, extra=["-qp", "0"]
    )
    assert path.stat().st_size > 6 * 1024 * 1024, path.stat().st_size
    return path


