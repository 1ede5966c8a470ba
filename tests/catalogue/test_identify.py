"""Fingerprints made at ingest, and identifying a platform's copy through the API and the CLI."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from backend.catalogue.models import MaterialFingerprint
from backend.db import session_scope
from tests.conftest import ffmpeg_exe


def _clip(path: Path, source: str, vf: str | None = None) -> Path:
    argv = [ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", source, "-t", "3"]
    if vf:
        argv += ["-vf", vf]
    subprocess.run([*argv, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("identify")
    fractal = "mandelbrot=size=320x180:rate=10"
    return {
        "original": _clip(d / "original.mp4", fractal),
        "copy": _clip(d / "copy.mp4", fractal,
                      "scale=-2:480,pad=iw:iw*16/9:0:(oh-ih)/2,drawbox=x=iw*0.7:y=ih*0.05:w=iw*0.2:h=ih*0.05:color=white@0.6:t=fill"),
        "other": _clip(d / "other.mp4", "testsrc2=size=320x180:rate=10"),
    }


def test_ingest_fingerprints_and_identify_finds_the_copy(client: TestClient, clips: dict[str, Path]) -> None:
    r = client.post("/api/v1/materials", params={"title": "直播切片 原片"}, content=clips["original"].read_bytes(),
                    headers={"Content-Type": "video/mp4"})
    assert r.status_code == 201, r.text
    material_id = r.json()["id"]
    with session_scope() as s:
        assert s.get(MaterialFingerprint, __import__("uuid").UUID(material_id)) is None  # not in the request
    from workers.catalogue import fingerprint_material_task, fingerprint_missing_task

    assert fingerprint_missing_task() == 0  # too new for the sweep: its own task is on the way
    assert fingerprint_material_task(material_id) is True
    assert fingerprint_material_task(material_id) is False  # idempotent
    with session_scope() as s:
        row = s.get(MaterialFingerprint, __import__("uuid").UUID(material_id))
        assert row is not None and row.frame_count == 6

    found = client.post("/api/v1/fingerprints/identify", content=clips["copy"].read_bytes(),
                        headers={"Content-Type": "video/mp4"})
    assert found.status_code == 200, found.text
    best = found.json()[0]
    assert best["material_id"] == material_id and best["title"] == "直播切片 原片" and best["score"] > 0.5
    none = client.post("/api/v1/fingerprints/identify", content=clips["other"].read_bytes())
    assert none.json() == []
    bad = client.post("/api/v1/fingerprints/identify", content=b"not a video at all")
    assert bad.status_code == 422 and bad.json()["type"].endswith("fingerprint-unavailable")

    from backend.cli import app

    out = CliRunner().invoke(app, ["metrics", "identify", str(clips["copy"])])
    assert out.exit_code == 0 and material_id in out.output
