"""Downloads: byte ranges and conditional requests from local storage, presigned URLs from S3."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest


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
def test_s3_backend_upload_and_presigned_download(use_s3, client, small_clip: Path) -> None:
    data = small_clip.read_bytes()
    m = _upload(client, small_clip)
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
