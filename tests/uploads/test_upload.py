"""Uploading: raw and multipart bodies, dedupe, limits, and every way media is refused."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import make_clip


def _upload(client, data: bytes, **params):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/materials", params=params, content=data,
                       headers={"Content-Type": "application/octet-stream"})


def _objects(app_env: dict[str, str]) -> list[Path]:
    root = Path(app_env["REELHOUSE_DATA_DIR"]) / "objects"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _spool(app_env: dict[str, str]) -> list[Path]:
    root = Path(app_env["REELHOUSE_DATA_DIR"]) / "spool"
    return list(root.iterdir()) if root.exists() else []


def test_raw_upload_catalogues_video_with_facts_and_previews(client, small_clip: Path, app_env, make_previews) -> None:
    data = small_clip.read_bytes()
    res = _upload(client, data, title="618 直播切片 洗衣液", tag=["content_type:功能演示", "product:Laundry gel"])
    assert res.status_code == 201, res.text
    body = res.json()
    assert res.headers["location"] == f"/api/v1/materials/{body['id']}"
    assert body["title"] == "618 直播切片 洗衣液"
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["size_bytes"] == len(data)
    assert body["media_type"] == "video" and body["kind"] == "source" and body["status"] == "ready"
    media = body["media"]
    assert (media["display_width"], media["display_height"]) == (320, 240)
    assert media["video_codec"] == "h264" and media["has_audio"] and media["audio_codec"] == "aac"
    assert media["duration_s"] == pytest.approx(2.0, abs=0.1)
    assert media["fps"] == pytest.approx(25, abs=0.1) and not media["is_vfr"]
    assert media["orientation"] == "landscape"
    assert {t["name_zh"] or t["name_en"] for t in body["tags"]} == {"功能演示", "Laundry gel"}
    assert make_previews(body["id"]) is True  # the quick queue's work once the 201 is out
    body = client.get(body["links"]["self"]).json()
    poster = client.get(body["links"]["poster"])
    assert poster.status_code == 200 and poster.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(poster.content)).size == (320, 240)
    sheet = client.get(body["links"]["contact_sheet"])
    assert sheet.status_code == 200 and Image.open(io.BytesIO(sheet.content)).format == "JPEG"
    assert _spool(app_env) == []


def test_multipart_upload_from_a_browser_form(client, small_clip: Path) -> None:
    res = client.post(
        "/api/v1/materials",
        files={"file": ("直播回放.mp4", small_clip.read_bytes(), "video/mp4")},
        data={"title": "直播回放", "tags": ["audience:宝妈", "campaign:双11"]},
    )
    assert res.status_code == 201, res.text
    body = res.json()
    assert body["original_filename"] == "直播回放.mp4"
    assert sorted(t["category"] for t in body["tags"]) == ["audience", "campaign"]


def test_identical_bytes_return_the_existing_material(client, small_clip: Path, app_env) -> None:
    first = _upload(client, small_clip.read_bytes(), title="first")
    objects = _objects(app_env)
    again = _upload(client, small_clip.read_bytes(), title="second", tag=["style:vlog"])
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["title"] == "first"
    assert [t["name_en"] for t in again.json()["tags"]] == ["vlog"]
    assert _objects(app_env) == objects
    assert len(client.get("/api/v1/materials").json()["items"]) == 1
    assert _spool(app_env) == []  # nor the previews the inspector made of the copy while it arrived


def test_size_limit_is_enforced_while_streaming_chunked_bodies(client, app_env, monkeypatch) -> None:
    limit = int(app_env["REELHOUSE_MAX_UPLOAD_BYTES"])

    def chunks():  # no Content-Length: the server only learns the size as bytes arrive
        sent = 0
        while sent <= limit:
            yield b"\0" * 1_048_576
            sent += 1_048_576

    res = client.post("/api/v1/materials", content=chunks(), headers={"Content-Type": "application/octet-stream"})
    assert res.status_code == 413
    assert res.json()["type"] == "/problems/payload-too-large"
    assert res.headers["content-type"] == "application/problem+json"
    assert _spool(app_env) == [] and _objects(app_env) == []


def test_declared_content_length_over_the_limit_is_refused_up_front(client, app_env) -> None:
    limit = int(app_env["REELHOUSE_MAX_UPLOAD_BYTES"])
    res = client.post("/api/v1/materials", content=b"x" * 10,
                      headers={"Content-Type": "application/octet-stream", "Content-Length": str(limit + 1)})
    assert res.status_code == 413


def _png_bomb() -> bytes:
    """A tiny PNG whose header claims 16000x16000 pixels (256 megapixels)."""
    width = height = 16000
    raw = zlib.compress(b"\0" * 1000)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("payload", "params", "problem"),
    [
        (b"", {}, "media-empty"),
        (b"this is a spreadsheet, not a video\n" * 100, {}, "media-unrecognised"),
        (_png_bomb(), {}, "media-decompression-bomb"),
    ],
    ids=["empty", "text", "png-bomb"],
)
def test_refused_uploads_leave_nothing_behind(client, app_env, payload: bytes, params: dict, problem: str) -> None:
    res = _upload(client, payload, **params)
    assert res.status_code == 422, res.text
    assert res.json()["type"] == f"/problems/{problem}"
    assert res.json()["status"] == 422 and res.json()["detail"]
    assert _objects(app_env) == [] and _spool(app_env) == []
    assert client.get("/api/v1/materials").json()["items"] == []


def test_truncated_video_is_refused(client, app_env, clip_dir: Path) -> None:
    whole = make_clip(clip_dir / "to-truncate.mp4", seconds=3, extra=["-movflags", "+faststart"]).read_bytes()
    res = _upload(client, whole[: len(whole) // 2])
    assert res.status_code == 422
    assert res.json()["type"] == "/problems/media-truncated"
    assert _objects(app_env) == []
    cut_index = _upload(client, whole[:600])  # the index (first, +faststart) is cut: FFmpeg refuses it
    assert cut_index.json()["type"] == "/problems/media-truncated"
    assert "spool" not in cut_index.json()["detail"] and "<none>" not in cut_index.json()["detail"]


def test_audio_declared_as_video_is_a_kind_mismatch(client, clip_dir: Path) -> None:
    import subprocess

    from tests.conftest import ffmpeg_exe

    audio = clip_dir / "bed.m4a"
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=duration=1",
                    "-c:a", "aac", str(audio)], check=True)
    res = _upload(client, audio.read_bytes(), media_type="video")
    assert res.status_code == 422 and res.json()["type"] == "/problems/media-kind-mismatch"
    ok = _upload(client, audio.read_bytes(), media_type="audio", title="music bed")
    assert ok.status_code == 201 and ok.json()["media_type"] == "audio" and ok.json()["media"]["has_audio"]


def test_codec_outside_the_allow_list_is_refused(client, clip_dir: Path) -> None:
    odd = make_clip(clip_dir / "gif-in-mkv.mkv", seconds=1, vcodec="gif", audio=False, extra=["-pix_fmt", "rgb8"])
    res = _upload(client, odd.read_bytes())
    assert res.status_code == 422 and res.json()["type"] == "/problems/media-codec-not-allowed"


def test_container_outside_the_allow_list_is_refused(client, clip_dir: Path) -> None:
    import subprocess

    from tests.conftest import ffmpeg_exe

    nut = clip_dir / "clip.nut"
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=duration=1:size=160x120",
                    "-c:v", "mpeg4", str(nut)], check=True)
    res = _upload(client, nut.read_bytes())
    assert res.status_code == 422 and res.json()["type"] == "/problems/media-container-not-allowed"


def test_absurd_video_dimensions_are_refused(client, app_env, clip_dir: Path, monkeypatch) -> None:
    from tests.conftest import clear_caches

    monkeypatch.setenv("REELHOUSE_MAX_VIDEO_PIXELS", str(100 * 100))
    clear_caches()
    res = _upload(client, make_clip(clip_dir / "wide.mp4", seconds=1, size="640x360", seed=3).read_bytes())
    assert res.status_code == 422 and res.json()["type"] == "/problems/media-dimensions-not-allowed"


def test_images_are_materials_with_exif_orientation_applied(client, make_previews) -> None:
    img = Image.new("RGB", (400, 200), (200, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 to display
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    res = _upload(client, buf.getvalue(), title="logo", media_type="image")
    assert res.status_code == 201, res.text
    media = res.json()["media"]
    assert (media["width"], media["height"]) == (400, 200)
    assert (media["display_width"], media["display_height"]) == (200, 400)
    assert media["orientation"] == "portrait"
    assert make_previews(res.json()["id"]) is True
    poster = client.get(res.json()["links"]["poster"])
    assert poster.status_code == 200 and "x-reelhouse-placeholder" not in poster.headers
    assert Image.open(io.BytesIO(poster.content)).size[1] > Image.open(io.BytesIO(poster.content)).size[0]


def test_derived_cannot_be_uploaded(client, small_clip: Path) -> None:
    res = _upload(client, small_clip.read_bytes(), kind="derived")
    assert res.status_code == 400 and res.json()["type"] == "/problems/bad-request"


def test_a_body_cut_off_midway_leaves_nothing_behind(server, keys, app_env, clip_dir: Path) -> None:
    """A client that declared its size and drops the connection halfway: no spool file, inspector
    child, preview or material is left."""
    import socket
    import time

    import httpx

    clip = make_clip(clip_dir / "cut_faststart.mp4", seconds=6, size="640x360", extra=["-movflags", "+faststart"])
    data = clip.read_bytes()
    head = (
        "POST /api/v1/materials?title=cut HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {keys.editor}\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(head.encode() + data[: len(data) // 2])
        time.sleep(1.0)  # the server has received and written what was sent
    assert server.proc is not None

    def children() -> set[str]:
        found: set[str] = set()
        for task in Path(f"/proc/{server.proc.pid}/task").iterdir():
            found |= set((task / "children").read_text().split())
        return found

    deadline = time.monotonic() + 15
    while (_spool(app_env) or children()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _spool(app_env) == []
    assert children() == set()  # the inspector child was killed and reaped
    listed = httpx.get(f"{server.url}/api/v1/materials", headers={"Authorization": f"Bearer {keys.editor}"})
    assert listed.json()["items"] == []
