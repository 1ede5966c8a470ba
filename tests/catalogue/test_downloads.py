"""Downloads: byte ranges and conditional requests from local storage, presigned URLs from S3, and names
(Chinese, or stored with control characters) sent in a valid Content-Disposition."""

from __future__ import annotations

import base64
import hashlib
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import Keys, make_clip


def _upload(client, path: Path):  # type: ignore[no-untyped-def]
    res = client.post("/api/v1/materials", params={"filename": "直播切片.mp4"}, content=path.read_bytes(),
                      headers={"Content-Type": "application/octet-stream"})
    assert res.status_code == 201, res.text
    return res.json()


def test_ranges_and_etags_from_local_storage(client, small_clip: Path) -> None:
    data = small_clip.read_bytes()
    m = _upload(client, small_clip)
    url = m["links"]["file"]
    whole = client.get(url)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["etag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert "filename*=UTF-8''%E7%9B%B4" in whole.headers["content-disposition"]

    first = client.get(url, headers={"Range": "bytes=0-99"})
    assert first.status_code == 206 and first.content == data[:100]
    assert first.headers["content-range"] == f"bytes 0-99/{len(data)}"
    middle = client.get(url, headers={"Range": "bytes=1000-1999"})
    assert middle.content == data[1000:2000]
    tail = client.get(url, headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == data[-10:]
    open_ended = client.get(url, headers={"Range": f"bytes={len(data) - 5}-"})
    assert open_ended.content == data[-5:]
    past = client.get(url, headers={"Range": f"bytes={len(data)}-"})
    assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{len(data)}"
    assert client.get(url, headers={"If-None-Match": whole.headers["etag"]}).status_code == 304
    stale = client.get(url, headers={"Range": "bytes=0-9", "If-Range": '"other"'})
    assert stale.status_code == 200 and stale.content == data
    head = client.head(url)
    assert head.status_code == 200 and head.headers["content-length"] == str(len(data))

    link = client.get(f"/api/v1/materials/{m['id']}/download-url").json()
    assert link == {"url": url, "expires_at": None}


def test_originals_are_never_modified(client, small_clip: Path, app_env) -> None:
    m = _upload(client, small_clip)
    client.patch(f"/api/v1/materials/{m['id']}", json={"title": "renamed"})
    client.delete(f"/api/v1/materials/{m['id']}")
    client.post(f"/api/v1/materials/{m['id']}/restore")
    stored = Path(app_env["REELHOUSE_DATA_DIR"]) / "objects" / f"materials/{m['id']}/original.mp4"
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == m["sha256"]
    assert small_clip.exists()  # the caller's file is untouched too


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_s3_backend_upload_and_presigned_download(use_s3, client, small_clip: Path, make_previews) -> None:
    data = small_clip.read_bytes()
    m = _upload(client, small_clip)
    assert make_previews(m["id"]) is True  # from the original downloaded from S3
    names = sorted(o.object_name for o in use_s3.client().list_objects(use_s3.bucket, recursive=True))
    assert names == [f"materials/{m['id']}/{n}" for n in ("contact-sheet.jpg", "original.mp4", "poster.jpg")]
    redirect = client.get(m["links"]["file"], follow_redirects=False)
    assert redirect.status_code == 307
    presigned = redirect.headers["location"]
    assert presigned.startswith(use_s3.url)
    assert httpx.get(presigned).content == data
    ranged = httpx.get(presigned, headers={"Range": "bytes=10-19"})
    assert ranged.status_code == 206 and ranged.content == data[10:20]
    proxied = client.get(m["links"]["file"], params={"redirect": False}, headers={"Range": "bytes=0-3"})
    assert proxied.status_code == 206 and proxied.content == data[:4]
    link = client.get(f"/api/v1/materials/{m['id']}/download-url").json()
    assert link["expires_at"] and httpx.get(link["url"]).content == data
    assert client.get(m["links"]["poster"]).headers["content-type"] == "image/jpeg"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_s3_rejected_upload_leaves_no_object(use_s3, client) -> None:
    res = client.post("/api/v1/materials", content=b"not media at all" * 64,
                      headers={"Content-Type": "application/octet-stream"})
    assert res.status_code == 422
    assert list(use_s3.client().list_objects(use_s3.bucket, recursive=True)) == []


def test_download_names_survive_control_characters_and_chinese(server, keys: Keys, small_clip: Path, tmp_path) -> None:
    """A name with CR/LF/NUL is stored clean; any stored name is sent in a valid header (RFC 6266/5987)."""
    from backend.catalogue.models import Material
    from backend.db import session_scope

    auth = Keys.auth(keys.editor)
    made = httpx.post(f"{server.url}/api/v1/materials", params={"filename": "直播\r\n切片\x00 618.mp4"},
                      content=small_clip.read_bytes(), headers={**auth, "Content-Type": "application/octet-stream"},
                      timeout=60)
    assert made.status_code == 201, made.text
    assert made.json()["original_filename"] == "直播 切片 618.mp4"
    got = httpx.get(f"{server.url}/api/v1/materials/{made.json()['id']}/file", headers=auth, timeout=60)
    assert got.status_code == 200 and got.content == small_clip.read_bytes()
    assert got.headers["content-disposition"] == (
        "attachment; filename=\"__ __ 618.mp4\"; "
        "filename*=UTF-8''%E7%9B%B4%E6%92%AD%20%E5%88%87%E7%89%87%20618.mp4"
    )
    # The same through tus (the name is metadata there).
    meta = "filename " + base64.b64encode("片段\r\n二\x00.mp4".encode()).decode()
    other = make_clip(tmp_path / "other.mp4", seconds=1.0, seed=3)
    tus = httpx.post(f"{server.url}/api/v1/uploads/", timeout=60, content=other.read_bytes(), headers={
        **auth, "Tus-Resumable": "1.0.0", "Upload-Length": str(other.stat().st_size), "Upload-Metadata": meta,
        "Content-Type": "application/offset+octet-stream",
    })
    assert tus.status_code == 201, tus.text
    material_id = httpx.get(f"{server.url}{tus.headers['location']}", headers={**auth, "Tus-Resumable": "1.0.0"}).json()[
        "material_id"
    ]
    assert httpx.get(f"{server.url}/api/v1/materials/{material_id}", headers=auth).json()["original_filename"] == "片段 二.mp4"
    # A row stored before names were cleaned still downloads.
    with session_scope() as session:
        row = session.get(Material, uuid.UUID(made.json()["id"]))
        assert row is not None
        row.original_filename = "旧\r\n名字\x1b.mp4"  # PostgreSQL stores no NUL
        session.add(row)
    old = httpx.get(f"{server.url}/api/v1/materials/{row.id}/file", headers=auth, timeout=60)
    assert old.status_code == 200
    assert "filename*=UTF-8''%E6%97%A7%20%E5%90%8D%E5%AD%97.mp4" in old.headers["content-disposition"]
