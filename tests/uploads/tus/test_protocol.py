"""tus 1.0 over the API: every status path, each extension, ingest on completion, S3 multipart.

Runs on SQLite and PostgreSQL (the `client` fixture is parametrized over both databases)."""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from backend.sqltypes import utcnow
from tests.conftest import Keys, clear_caches
from tests.uploads.tus.conftest import OCTETS, TUS, create, head, metadata, patch


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def _files(app_env: dict[str, str], sub: str) -> list[Path]:
    root = Path(app_env["REELHOUSE_DATA_DIR"]) / sub
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _upload_files(app_env: dict[str, str]) -> list[Path]:
    return [p for p in _files(app_env, "uploads") if not p.name.endswith(".lock")]


def test_options_lists_capabilities_without_a_key(anon_client) -> None:  # type: ignore[no-untyped-def]
    res = anon_client.options("/api/v1/uploads/")
    assert res.status_code == 204
    assert res.headers["tus-version"] == "1.0.0"
    assert set(res.headers["tus-extension"].split(",")) == {
        "creation",
        "creation-with-upload",
        "creation-defer-length",
        "termination",
        "checksum",
        "expiration",
    }
    assert int(res.headers["tus-max-size"]) == 64 * 1024 * 1024
    assert {"sha1", "sha256"} <= set(res.headers["tus-checksum-algorithm"].split(","))


def test_chunked_upload_with_checksums_becomes_a_material(client, small_clip: Path, app_env) -> None:  # type: ignore[no-untyped-def]
    data = small_clip.read_bytes()
    res = create(
        client,
        len(data),
        filename="直播/回放.mp4",
        title="618 直播回放",
        tags="content_type:直播回放,campaign:618",
    )
    assert res.status_code == 201, res.text
    url = res.headers["location"]
    assert url.startswith("/api/v1/uploads/") and res.headers["tus-resumable"] == "1.0.0"
    expires = parsedate_to_datetime(res.headers["upload-expires"])
    assert expires > utcnow() + timedelta(hours=1)

    info = head(client, url)
    assert info.status_code == 200
    assert info.headers["upload-offset"] == "0" and info.headers["upload-length"] == str(len(data))
    assert info.headers["cache-control"] == "no-store"
    assert info.headers["upload-metadata"].startswith("filename ")

    offset, step = 0, 7000
    for i, start in enumerate(range(0, len(data), step)):
        chunk = data[start : start + step]
        algo = "sha1" if i % 2 else "sha256"
        digest = hashlib.new(algo, chunk).digest()
        res = patch(client, url, offset, chunk, {"Upload-Checksum": f"{algo} {_b64(digest)}"})
        assert res.status_code == 204, res.text
        offset += len(chunk)
        assert res.headers["upload-offset"] == str(offset)
        assert res.headers["tus-resumable"] == "1.0.0"
    material_url = res.headers["reelhouse-material"]
    assert "upload-expires" not in res.headers  # finished uploads do not expire

    material = client.get(material_url).json()
    assert material["sha256"] == hashlib.sha256(data).hexdigest()
    assert material["title"] == "618 直播回放" and material["original_filename"] == "回放.mp4"
    assert {t["name_zh"] or t["name_en"] for t in material["tags"]} == {"直播回放", "618"}
    assert client.get(url).json()["status"] == "completed"
    final = head(client, url)
    assert final.status_code == 200 and final.headers["upload-offset"] == str(len(data))
    assert _upload_files(app_env) == [] and _files(app_env, "spool") == []


def test_tus_resumable_is_checked_first_with_412(anon_client, client) -> None:  # type: ignore[no-untyped-def]
    for headers in ({}, {"Tus-Resumable": "0.2.2"}):
        res = anon_client.post("/api/v1/uploads/", headers={**headers, "Upload-Length": "10"})
        assert res.status_code == 412  # before authentication: the request is not processed
        assert res.headers["tus-version"] == "1.0.0"
        assert res.json()["type"] == "/problems/tus-version-unsupported"
    url = create(client, 10).headers["location"]
    res = client.patch(
        url, content=b"x", headers={"Upload-Offset": "0", "Content-Type": OCTETS, "Tus-Resumable": "2.0.0"}
    )
    assert res.status_code == 412
    assert head(client, url).headers["upload-offset"] == "0"


def test_patch_needs_offset_octet_stream_415(client) -> None:  # type: ignore[no-untyped-def]
    url = create(client, 10).headers["location"]
    res = patch(client, url, 0, b"0123456789", {"Content-Type": "application/octet-stream"})
    assert res.status_code == 415 and res.json()["type"] == "/problems/unsupported-media-type"
    assert head(client, url).headers["upload-offset"] == "0"


def test_wrong_offset_is_409_and_changes_nothing(client, app_env) -> None:  # type: ignore[no-untyped-def]
    url = create(client, 10).headers["location"]
    assert patch(client, url, 0, b"01234").status_code == 204
    for wrong in (0, 3, 6):
        res = patch(client, url, wrong, b"56789")
        assert res.status_code == 409 and res.json()["type"] == "/problems/upload-offset-mismatch"
        assert res.headers["upload-offset"] == "5"
    assert head(client, url).headers["upload-offset"] == "5"
    (part,) = _upload_files(app_env)
    assert part.read_bytes() == b"01234"


def test_over_the_limit_is_413(client) -> None:  # type: ignore[no-untyped-def]
    res = create(client, 64 * 1024 * 1024 + 1)
    assert res.status_code == 413 and res.json()["type"] == "/problems/payload-too-large"
    url = create(client, 4).headers["location"]
    assert patch(client, url, 0, b"too long").status_code == 413
    assert head(client, url).headers["upload-offset"] == "0"
    deferred = create(client, None).headers["location"]
    res = patch(client, deferred, 0, b"", {"Upload-Length": str(64 * 1024 * 1024 + 1)})
    assert res.status_code == 413


def test_checksum_mismatch_460_discards_the_chunk(client, app_env) -> None:  # type: ignore[no-untyped-def]
    url = create(client, 8).headers["location"]
    assert patch(client, url, 0, b"abcd").status_code == 204
    bad = _b64(hashlib.sha1(b"something else").digest())
    res = patch(client, url, 4, b"efgh", {"Upload-Checksum": f"sha1 {bad}"})
    assert res.status_code == 460 and res.json()["type"] == "/problems/upload-checksum-mismatch"
    assert head(client, url).headers["upload-offset"] == "4"
    (part,) = _upload_files(app_env)
    assert part.read_bytes() == b"abcd"
    good = _b64(hashlib.sha1(b"efgh").digest())
    res = patch(client, url, 4, b"efgh", {"Upload-Checksum": f"sha1 {good}"})
    assert res.status_code == 422  # complete now, and eight letters are not media
    assert res.json()["type"] == "/problems/media-unrecognised"


_BAD_PATCH_HEADERS = [
    ({"Upload-Checksum": "crc99 AAAA"}, "upload-checksum-algorithm-unsupported"),
    ({"Upload-Checksum": "sha1"}, "bad-request"),
    ({"Upload-Checksum": "sha1 not*base64"}, "bad-request"),
    ({"Upload-Offset": "-1"}, "bad-request"),
    ({"Upload-Offset": "abc"}, "bad-request"),
]


def test_malformed_patch_headers_are_400(client) -> None:  # type: ignore[no-untyped-def]
    url = create(client, 4).headers["location"]
    for headers, slug in _BAD_PATCH_HEADERS:
        res = patch(client, url, 0, b"abcd", headers)
        assert res.status_code == 400 and res.json()["type"] == f"/problems/{slug}", headers
    assert head(client, url).headers["upload-offset"] == "0"


_BAD_CREATIONS = [
    {},  # neither length nor deferral
    {"Upload-Length": "10", "Upload-Defer-Length": "1"},
    {"Upload-Defer-Length": "2"},
    {"Upload-Length": "ten"},
    {"Upload-Length": "10", "Upload-Metadata": "filename not-base64!"},
    {"Upload-Length": "10", "Upload-Metadata": "a YQ==,a YQ=="},
    {"Upload-Length": "10", "Upload-Metadata": metadata(kind="derived")},
]


def test_malformed_creation_is_400(client) -> None:  # type: ignore[no-untyped-def]
    for headers in _BAD_CREATIONS:
        res = client.post("/api/v1/uploads/", headers={**TUS, **headers})
        assert res.status_code == 400, (headers, res.text)


def test_unknown_and_foreign_uploads_are_404(client, keys: Keys) -> None:  # type: ignore[no-untyped-def]
    missing = "/api/v1/uploads/00000000-0000-0000-0000-000000000000"
    assert head(client, missing).status_code == 404
    assert patch(client, missing, 0, b"x").status_code == 404
    assert client.delete(missing, headers=TUS).status_code == 404
    url = create(client, 4).headers["location"]
    viewer = {**TUS, **Keys.auth(keys.viewer)}
    assert client.head(url, headers=viewer).status_code == 404  # someone else's upload
    assert (
        client.patch(
            url, content=b"x", headers={**viewer, "Upload-Offset": "0", "Content-Type": OCTETS}
        ).status_code
        == 403
    )
    assert client.head(url, headers={**TUS, **Keys.auth(keys.admin)}).status_code == 200
    assert client.head(url, headers={**TUS, "Authorization": ""}).status_code == 401


def test_termination_then_410(client, app_env) -> None:  # type: ignore[no-untyped-def]
    url = create(client, 10).headers["location"]
    assert patch(client, url, 0, b"01234").status_code == 204
    res = client.delete(url, headers=TUS)
    assert res.status_code == 204 and res.headers["tus-resumable"] == "1.0.0"
    assert _upload_files(app_env) == []
    assert head(client, url).status_code == 410
    res = patch(client, url, 5, b"56789")
    assert res.status_code == 410 and res.json()["type"] == "/problems/upload-gone"
    assert client.delete(url, headers=TUS).status_code == 410


def test_method_override_for_clients_without_patch(client) -> None:  # type: ignore[no-untyped-def]
    url = create(client, 4).headers["location"]
    res = client.post(
        url,
        content=b"ab",
        headers={**TUS, "X-HTTP-Method-Override": "PATCH", "Upload-Offset": "0", "Content-Type": OCTETS},
    )
    assert res.status_code == 204 and res.headers["upload-offset"] == "2"
    assert client.post(url, headers={**TUS, "X-HTTP-Method-Override": "DELETE"}).status_code == 204
    assert head(client, url).status_code == 410


def test_defer_length_then_set_on_a_patch(client, small_clip: Path) -> None:  # type: ignore[no-untyped-def]
    data = small_clip.read_bytes()
    url = create(client, None, filename="deferred.mp4").headers["location"]
    info = head(client, url)
    assert info.headers["upload-defer-length"] == "1" and "upload-length" not in info.headers
    half = len(data) // 2
    assert patch(client, url, 0, data[:half]).status_code == 204
    res = patch(client, url, half, data[half:], {"Upload-Length": str(len(data))})
    assert res.status_code == 204, res.text
    assert head(client, url).headers["upload-length"] == str(len(data))
    assert client.get(url).json()["status"] == "completed"
    # The length, once set, never changes.
    other = create(client, None).headers["location"]
    assert patch(client, other, 0, b"abc", {"Upload-Length": "10"}).status_code == 204
    assert patch(client, other, 3, b"d", {"Upload-Length": "11"}).status_code == 400


def test_creation_with_upload(client, small_clip: Path) -> None:  # type: ignore[no-untyped-def]
    data = small_clip.read_bytes()
    res = client.post(
        "/api/v1/uploads/",
        content=data[:1000],
        headers={
            **TUS,
            "Upload-Length": str(len(data)),
            "Content-Type": OCTETS,
            "Upload-Metadata": metadata(filename="a.mp4"),
        },
    )
    assert res.status_code == 201 and res.headers["upload-offset"] == "1000"
    url = res.headers["location"]
    assert patch(client, url, 1000, data[1000:]).status_code == 204
    # The whole file in the creation request: done in one round trip (same bytes: the same material).
    res = client.post(
        "/api/v1/uploads/",
        content=data,
        headers={**TUS, "Upload-Length": str(len(data)), "Content-Type": OCTETS},
    )
    assert res.status_code == 201 and res.headers["upload-offset"] == str(len(data))
    assert client.get(res.headers["location"]).json()["material_id"] == client.get(url).json()["material_id"]
    res = client.post(
        "/api/v1/uploads/",
        content=b"abc",
        headers={**TUS, "Upload-Length": "3", "Content-Type": "text/plain"},
    )
    assert res.status_code == 415


def test_rejected_media_leaves_nothing_and_answers_410_after(client, app_env) -> None:  # type: ignore[no-untyped-def]
    junk = b"\x00not a video\x00" * 1000
    url = create(client, len(junk), filename="broken.mp4").headers["location"]
    res = patch(client, url, 0, junk)
    assert res.status_code == 422 and res.json()["type"] == "/problems/media-unrecognised"
    assert res.headers["content-type"] == "application/problem+json"
    assert (
        _upload_files(app_env) == [] and _files(app_env, "spool") == [] and _files(app_env, "objects") == []
    )
    assert head(client, url).status_code == 410
    assert (
        client.get(url).json() | {"status": "failed", "error_type": "/problems/media-unrecognised"}
        == client.get(url).json()
    )
    assert client.get("/api/v1/materials").json()["items"] == []
    empty = create(client, 0)
    assert empty.status_code == 422 and empty.json()["type"] == "/problems/media-empty"


def test_ingest_failing_after_the_row_is_written_commits_no_material(  # type: ignore[no-untyped-def]
    app_env, keys, small_clip, monkeypatch
) -> None:
    """The upload's row records the failure and is committed; the material ingest had flushed must not
    be committed with it (its objects are already gone)."""
    from fastapi.testclient import TestClient

    from backend.app import create_app

    def broken(session, material):  # type: ignore[no-untyped-def]
        raise RuntimeError("the proxy row could not be written")

    monkeypatch.setattr("backend.uploads.service.request_proxy", broken)
    data = small_clip.read_bytes()
    with TestClient(create_app(), headers=Keys.auth(keys.editor), raise_server_exceptions=False) as client:
        url = create(client, len(data), filename="直播切片.mp4").headers["location"]
        res = patch(client, url, 0, data)
        assert res.status_code == 500 and res.headers["content-type"] == "application/problem+json"
        _check_nothing_kept(client, app_env, url)


def _check_nothing_kept(client, app_env, url: str) -> None:  # type: ignore[no-untyped-def]
    assert client.get(url).json()["status"] == "failed" and head(client, url).status_code == 410
    assert client.get("/api/v1/materials").json()["items"] == []
    assert _files(app_env, "objects") == [] and _upload_files(app_env) == []


def test_expired_uploads_answer_410_and_the_sweep_frees_them(client, app_env) -> None:  # type: ignore[no-untyped-def]
    from backend.config import get_settings
    from backend.db import session_scope
    from backend.objectstore import get_storage
    from backend.uploads.models import TusUpload
    from backend.uploads.tus import expire_uploads

    stale = create(client, 10).headers["location"]
    fresh = create(client, 10).headers["location"]
    for url in (stale, fresh):
        assert patch(client, url, 0, b"01234").status_code == 204
    with session_scope() as session:
        row = session.get(TusUpload, uuid.UUID(stale.rsplit("/", 1)[1]))
        assert row is not None
        row.expires_at = utcnow() - timedelta(seconds=1)
        session.add(row)
    assert head(client, stale).status_code == 410
    assert patch(client, stale, 5, b"56789").status_code == 410
    with session_scope() as session:
        assert expire_uploads(session, get_storage(), get_settings()) == 1
    assert [p.name for p in _upload_files(app_env)] == [f"{fresh.rsplit('/', 1)[1]}.part"]
    assert client.get(stale).json()["status"] == "expired"
    assert head(client, fresh).headers["upload-offset"] == "5"


def test_one_writer_at_a_time(client, app_env) -> None:  # type: ignore[no-untyped-def]
    """Two writers on one upload: the second is refused at once (423), on SQLite and PostgreSQL."""
    import uuid

    from sqlmodel import Session

    from backend import errors
    from backend.auth.models import ApiKey
    from backend.config import get_settings
    from backend.db import get_engine
    from backend.uploads import tus
    url = create(client, 10).headers["location"]
    upload_id = uuid.UUID(url.rsplit("/", 1)[1])
    settings = get_settings()
    with Session(get_engine()) as first, Session(get_engine()) as second:
        owner = first.get(ApiKey, first.get(tus.TusUpload, upload_id).owner_key_id)  # type: ignore[union-attr]
        with tus.WriterLock(first, settings, upload_id, owner):
            with pytest.raises(errors.UploadLocked), tus.WriterLock(second, settings, upload_id, owner):
                pass
            res = patch(client, url, 0, b"01234")
            assert res.status_code == 423 and res.json()["type"] == "/problems/upload-locked"
            first.commit()
        with tus.WriterLock(second, settings, upload_id, owner):
            second.commit()
    assert patch(client, url, 0, b"01234").status_code == 204


def test_with_s3_storage_the_original_is_stored_once_and_nothing_is_left(client, use_s3, multipart_clip: Path, app_env) -> None:  # type: ignore[no-untyped-def]
    """The bytes wait on local disk; only the finished original goes to the bucket, and a refused
    upload leaves nothing in either."""
    data = multipart_clip.read_bytes()
    url = create(client, len(data), filename="multipart.mp4").headers["location"]
    offset, step = 0, 3 * 1024 * 1024 + 17
    while offset < len(data):
        chunk = data[offset : offset + step]
        res = patch(client, url, offset, chunk)
        assert res.status_code == 204, res.text
        offset += len(chunk)
    material = client.get(res.headers["reelhouse-material"]).json()
    assert material["sha256"] == hashlib.sha256(data).hexdigest()
    stored = client.get(material["links"]["file"], params={"redirect": "false"})
    assert hashlib.sha256(stored.content).hexdigest() == material["sha256"]
    names = {o.object_name for o in use_s3.client().list_objects(use_s3.bucket, recursive=True)}
    assert names and all(n.startswith(f"materials/{material['id']}/") for n in names)

    junk = b"\x01" * (6 * 1024 * 1024)
    url = create(client, len(junk)).headers["location"]
    assert patch(client, url, 0, junk[: 5 * 1024 * 1024 + 1]).status_code == 204
    res = patch(client, url, 5 * 1024 * 1024 + 1, junk[5 * 1024 * 1024 + 1 :])
    assert res.status_code == 422 and res.json()["type"] == "/problems/media-unrecognised"
    after = {o.object_name for o in use_s3.client().list_objects(use_s3.bucket, recursive=True)}
    assert after == names
    assert _files(app_env, "uploads") == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("fsync", [False, True])
def test_fsync_per_patch_is_a_setting(client, app_env, monkeypatch, fsync: bool) -> None:  # type: ignore[no-untyped-def]
    import os

    monkeypatch.setenv("REELHOUSE_TUS_FSYNC", "true" if fsync else "false")
    clear_caches()
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    url = create(client, 10).headers["location"]
    synced.clear()
    assert patch(client, url, 0, b"01234").status_code == 204
    assert bool(synced) is fsync


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_acknowledged_bytes_lost_by_the_os_fail_the_upload_cleanly(client, app_env) -> None:  # type: ignore[no-untyped-def]
    url = create(client, 10).headers["location"]
    assert patch(client, url, 0, b"01234").status_code == 204
    (part,) = _upload_files(app_env)
    part.write_bytes(b"012")  # what an OS crash without fsync can leave behind
    res = patch(client, url, 5, b"56789")
    assert res.status_code >= 400
    assert res.headers["content-type"] == "application/problem+json"


def test_a_resume_in_a_process_without_the_running_hash_rehashes_what_arrived(client, small_clip: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The running SHA-256 lives in the process that received the bytes; a PATCH that lands in a
    process without it (here: the table emptied, as after a restart) re-hashes the prefix once."""
    from backend.uploads import tus

    rehashed: list[int] = []
    real = tus._sha256_prefix
    monkeypatch.setattr(tus, "_sha256_prefix", lambda path: (rehashed.append(path.stat().st_size), real(path))[1])
    data = small_clip.read_bytes()
    url = create(client, len(data)).headers["location"]
    third = len(data) // 3
    assert patch(client, url, 0, data[:third]).status_code == 204
    assert patch(client, url, third, data[third : 2 * third]).status_code == 204
    assert rehashed == []  # the same process kept its hasher
    tus._hashers.clear()
    res = patch(client, url, 2 * third, data[2 * third :])
    assert res.status_code == 204 and rehashed == [2 * third]
    material = client.get(res.headers["reelhouse-material"]).json()
    assert material["sha256"] == hashlib.sha256(data).hexdigest()


def test_tus_refusals_are_worded_in_chinese_by_default_and_in_english_when_asked(client) -> None:  # type: ignore[no-untyped-def]
    """tuspy and tus-js-client send no Accept-Language: a content team reads the refusal in Chinese."""
    url = create(client, 10).headers["location"]
    assert patch(client, url, 0, b"01234").status_code == 204
    zh = patch(client, url, 3, b"56789", {"Accept-Language": "zh-CN"}).json()
    assert zh["type"] == "/problems/upload-offset-mismatch"
    assert zh["detail"] == "Upload-Offset 为 3，但服务器已收到 5 字节"
    en = patch(client, url, 3, b"56789").json()
    assert en["detail"] == "Upload-Offset is 3 but the server has received 5 bytes"
    res = patch(client, url, 5, b"56789", {"Upload-Checksum": "crc32 AAAA", "Accept-Language": "zh-CN"})
    assert res.status_code == 400 and res.json()["detail"] == "不支持校验算法「crc32」，请改用其中一种：sha1、sha256、md5"
    missing = client.patch(url, content=b"x", headers={"Accept-Language": "zh-CN"})
    assert missing.status_code == 412 and missing.json()["detail"] == "请发送 Tus-Resumable: 1.0.0"
    bad_kind = create(client, 10, {"Accept-Language": "zh-CN"}, kind="clip")
    assert bad_kind.status_code == 400
    assert bad_kind.json()["detail"] == "Upload-Metadata 中 kind 的值「clip」无效，可选：source、external"


@pytest.mark.parametrize("status", ["terminated", "expired", "failed"])
def test_every_gone_upload_is_worded_in_both_languages(status: str) -> None:
    from backend import i18n
    from backend.uploads.models import UploadStatus

    assert status in set(UploadStatus)
    for language in i18n.LANGUAGES:
        params = {"id": "u1", "error": {i18n.ZH: "不是音视频文件", i18n.EN: "not media"}}
        assert i18n.text(f"tus-gone.{status}", language, params), (status, language)
