"""Proxies over real SQLite and PostgreSQL, local storage and the S3 server: ingest asks for one (after
commit, on the proxy queue), the task makes it once, the API serves it with Range, materials report it
in one query per page, failures are typed, the sweep recovers a dead worker's proxy."""

from __future__ import annotations

import io
import json
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Keys, make_clip, shared_media
from tests.renders.conftest import ingest_clip

API = "/api/v1"


@pytest.fixture(scope="session")
def clip_3s(clip_dir: Path) -> Path:
    return make_clip(clip_dir / "proxy_3s.mp4", seconds=3.0, size="640x360", seed=31)


@pytest.fixture(scope="session")
def silent_clip(clip_dir: Path) -> Path:
    return make_clip(clip_dir / "proxy_silent.mp4", seconds=2.0, audio=False, seed=32)


def _make(material_id: uuid.UUID) -> str:
    from workers.proxies import make_proxy

    return make_proxy(str(material_id))


def _proxy(material_id: uuid.UUID):  # type: ignore[no-untyped-def]
    from backend.db import session_scope
    from backend.proxies.models import Proxy

    with session_scope() as session:
        proxy = session.get(Proxy, material_id)
        if proxy is not None:
            session.expunge(proxy)
        return proxy


def test_ingest_queues_a_proxy_after_commit_and_the_task_makes_it_once(
    client: TestClient, queued: list, clip_3s: Path
) -> None:
    from backend import queue

    answer = client.post(f"{API}/materials", content=clip_3s.read_bytes(), params={"title": "直播 切片"})
    assert answer.status_code == 201, answer.text
    material = answer.json()
    mid = uuid.UUID(material["id"])
    assert material["proxy"]["state"] == "queued" and material["proxy"]["video"] is None
    assert (queue.MAKE_PROXY, (str(mid),)) in queued

    assert _make(mid) == "ready"
    proxy = _proxy(mid)
    assert proxy is not None and proxy.status == "ready" and proxy.attempts == 1
    assert (proxy.width, proxy.height, proxy.fps) == (640, 360, 25.0)
    assert proxy.proxy_key == f"materials/{mid}/proxy/proxy.mp4"
    assert proxy.sprite_keys == [f"materials/{mid}/proxy/sprite-000.jpg"]
    assert proxy.details["chunked"] is False

    # Re-running is idempotent: a finished proxy is not made again.
    assert _make(mid) == "ready"
    assert _proxy(mid).finished_at == proxy.finished_at  # type: ignore[union-attr]

    shown = client.get(f"{API}/materials/{mid}").json()["proxy"]
    assert shown["state"] == "ready"
    assert shown["video"] == f"{API}/materials/{mid}/proxy/video.mp4"
    assert (shown["width"], shown["height"]) == (640, 360)

    # The MP4 with Range support, the sprite index and its sheet, the waveform.
    whole = client.get(shown["video"])
    assert whole.status_code == 200 and whole.headers["content-type"] == "video/mp4"
    assert int(whole.headers["content-length"]) == proxy.proxy_size_bytes
    part = client.get(shown["video"], headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == whole.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{proxy.proxy_size_bytes}"
    assert client.head(shown["video"]).status_code == 200
    vtt = client.get(shown["sprite_vtt"])
    assert vtt.status_code == 200 and vtt.text.startswith("WEBVTT")
    assert "sprite-000.jpg#xywh=0,0,160,90" in vtt.text
    sheet = client.get(f"{API}/materials/{mid}/proxy/sprite-000.jpg")  # the name in the VTT, resolved beside it
    assert sheet.status_code == 200 and sheet.content[:3] == b"\xff\xd8\xff"
    assert client.get(f"{API}/materials/{mid}/proxy/sprite-001.jpg").status_code == 404
    peaks = client.get(shown["waveform"]).json()
    assert peaks["bits"] == 8 and abs(peaks["length"] - 60) <= 2
    link = client.get(f"{API}/materials/{mid}/proxy/video-url").json()
    assert link == {"url": shown["video"], "expires_at": None}
    state = client.get(f"{API}/materials/{mid}/proxy").json()
    assert state["state"] == "ready" and state["sprite_sheets"] == 1 and set(state["links"]) == {"video", "sprite_vtt", "waveform"}


def test_not_ready_images_and_deleted_material(client: TestClient, queued: list, clip_3s: Path, tmp_path: Path) -> None:
    mid = ingest_clip(clip_3s)
    problem = client.get(f"{API}/materials/{mid}/proxy/video.mp4")
    assert problem.status_code == 404 and problem.json()["type"] == "/problems/proxy-not-ready"
    from PIL import Image

    image = tmp_path / "still.png"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(image)
    still = ingest_clip(image)
    assert client.get(f"{API}/materials/{still}").json()["proxy"] is None
    assert client.get(f"{API}/materials/{still}/proxy").status_code == 404
    refused = client.post(f"{API}/materials/{still}/proxy")
    assert refused.status_code == 422 and refused.json()["type"] == "/problems/proxy-not-possible"
    _make(mid)
    assert client.delete(f"{API}/materials/{mid}").status_code == 200
    assert client.get(f"{API}/materials/{mid}/proxy/video.mp4").status_code == 410


def test_audio_only_gets_a_waveform_and_silent_video_no_audio(client: TestClient, queued: list, silent_clip: Path) -> None:
    song = ingest_clip(shared_media("trex_roar_cc0_audio_only.mp3"))
    assert _make(song) == "ready"
    shown = client.get(f"{API}/materials/{song}").json()["proxy"]
    assert shown["state"] == "ready" and shown["video"] is None and shown["sprite_vtt"] is None
    assert client.get(shown["waveform"]).json()["length"] > 30
    assert client.get(f"{API}/materials/{song}/proxy/video.mp4").json()["type"] == "/problems/proxy-not-ready"

    silent = ingest_clip(silent_clip)
    assert _make(silent) == "ready"
    shown = client.get(f"{API}/materials/{silent}").json()["proxy"]
    assert shown["video"] and shown["waveform"] is None
    import av

    assert client.get(shown["video"]).status_code == 200
    with av.open(_local_file(silent)) as container:
        assert not container.streams.audio and container.streams.video


def _local_file(material_id: uuid.UUID) -> str:
    from backend.config import get_settings

    return str(get_settings().effective_storage_root / f"materials/{material_id}/proxy/proxy.mp4")


def test_media_errors_fail_without_retry_and_a_person_can_ask_again(
    client: TestClient, queued: list, clip_3s: Path
) -> None:
    from backend import queue
    from backend.db import session_scope
    from backend.objectstore import get_storage
    from backend.proxies.models import Proxy

    mid = ingest_clip(make_clip(clip_3s.with_name("broken_later.mp4"), seconds=2.0, seed=33))
    with session_scope() as session:
        assert session.get(Proxy, mid) is not None
        key = ingest_key(session, mid)
    get_storage().put(key, io.BytesIO(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 5000))  # the stored bytes no longer decode
    assert _make(mid) == "failed"
    proxy = _proxy(mid)
    assert proxy.status == "failed" and proxy.attempts == 1  # type: ignore[union-attr]
    assert proxy.error_code == "ffmpeg-failed"  # type: ignore[union-attr]
    assert _make(mid) == "failed"  # no retry by itself
    assert client.get(f"{API}/materials/{mid}").json()["proxy"]["error_code"] == "ffmpeg-failed"
    queued.clear()
    again = client.post(f"{API}/materials/{mid}/proxy")
    assert again.status_code == 202 and again.json()["state"] == "queued" and again.json()["attempts"] == 0
    assert queued == [(queue.MAKE_PROXY, (str(mid),))]
    queued.clear()
    assert client.post(f"{API}/materials/{mid}/proxy").json()["state"] == "queued"
    assert queued == []  # already queued: nothing more is sent


def ingest_key(session, material_id: uuid.UUID) -> str:  # type: ignore[no-untyped-def]
    from backend.catalogue.models import Material

    material = session.get(Material, material_id)
    assert material is not None and material.storage_key
    return material.storage_key


def test_sweep_requeues_an_expired_lease_and_fails_after_the_attempts(
    app_env: dict[str, str], queued: list, clip_3s: Path
) -> None:
    from backend import queue
    from backend.db import session_scope
    from backend.proxies import service
    from backend.proxies.models import Proxy, ProxyState
    from backend.sqltypes import utcnow

    mid = ingest_clip(clip_3s)
    with session_scope() as session:
        assert service.claim_proxy(session, mid, "dead-worker", 60)
        assert not service.claim_proxy(session, mid, "other-worker", 60)  # a live lease is not taken
        proxy = session.get(Proxy, mid)
        assert proxy is not None
        proxy.lease_expires_at = utcnow() - timedelta(seconds=1)  # the worker died
    queued.clear()
    with session_scope() as session:
        assert service.sweep_proxies(session) == [mid]
    assert queued == [(queue.MAKE_PROXY, (str(mid),))]
    assert _make(mid) == "ready"  # the redelivery takes the expired lease over
    assert _proxy(mid).attempts == 2  # type: ignore[union-attr]
    # Out of attempts: the sweep fails it instead of sending it again.
    with session_scope() as session:
        proxy = session.get(Proxy, mid)
        assert proxy is not None
        proxy.status, proxy.attempts, proxy.lease_expires_at = ProxyState.running, 3, utcnow() - timedelta(seconds=1)
    queued.clear()
    with session_scope() as session:
        assert service.sweep_proxies(session) == []
    assert queued == [] and _proxy(mid).error_code == "proxy-attempts"  # type: ignore[union-attr]


def test_the_sweep_backfills_material_catalogued_before_proxies(app_env: dict[str, str], queued: list, clip_3s: Path) -> None:
    from backend import queue
    from backend.db import session_scope
    from backend.proxies import service
    from backend.proxies.models import Proxy

    mid = ingest_clip(clip_3s)
    with session_scope() as session:
        session.delete(session.get(Proxy, mid))  # as if ingested before proxies existed
    queued.clear()
    with session_scope() as session:
        assert service.backfill_proxies(session) == [mid]
    assert queued == [(queue.MAKE_PROXY, (str(mid),))]
    with session_scope() as session:
        assert service.backfill_proxies(session) == []


def test_listing_reads_every_proxy_of_a_page_in_one_query(client: TestClient, queued: list, clip_3s: Path) -> None:
    import sqlalchemy as sa

    from backend.db import get_engine

    for seed in range(4):
        ingest_clip(make_clip(clip_3s.with_name(f"list_{seed}.mp4"), seconds=1.0, seed=40 + seed))
    statements: list[str] = []

    def count(conn, cursor, statement, *_):  # type: ignore[no-untyped-def]
        statements.append(statement)

    sa.event.listen(get_engine(), "before_cursor_execute", count)
    try:
        page = client.get(f"{API}/materials", params={"limit": 10}).json()
    finally:
        sa.event.remove(get_engine(), "before_cursor_execute", count)
    assert len(page["items"]) == 4 and all(m["proxy"]["state"] == "queued" for m in page["items"])
    assert sum(1 for s in statements if "FROM proxy" in s) == 1


def test_s3_redirects_the_proxy_to_a_presigned_url(use_s3, client: TestClient, queued: list, clip_3s: Path) -> None:
    mid = ingest_clip(clip_3s)
    assert _make(mid) == "ready"
    answer = client.get(f"{API}/materials/{mid}/proxy/video.mp4", follow_redirects=False)
    assert answer.status_code == 307
    assert "X-Amz-Signature" in answer.headers["location"]
    link = client.get(f"{API}/materials/{mid}/proxy/video-url").json()
    assert link["expires_at"] is not None and "X-Amz-Signature" in link["url"]
    # The VTT is served by the API (its sheet names resolve against it), as is the waveform.
    assert client.get(f"{API}/materials/{mid}/proxy/sprite.vtt").text.startswith("WEBVTT")
    assert json.loads(client.get(f"{API}/materials/{mid}/proxy/waveform.json").content)["version"] == 2


def test_chunking_is_decided_by_the_settings(monkeypatch) -> None:
    from backend.config import Settings
    from backend.proxies.service import should_chunk

    settings = Settings()
    assert (settings.proxy_chunk_threshold_seconds, settings.proxy_chunk_seconds) == (300.0, 90.0)
    assert not should_chunk(settings, 300.0) and should_chunk(settings, 300.5) and not should_chunk(settings, None)
    monkeypatch.setenv("REELHOUSE_PROXY_CHUNK_THRESHOLD_SECONDS", "60")
    assert should_chunk(Settings(), 61.0)


def test_the_lease_is_renewed_while_the_task_works(app_env: dict[str, str], queued: list, clip_3s: Path) -> None:
    """Downloading a long original can outlast a lease: a thread keeps renewing it, with ffmpeg's progress."""
    import time

    from backend.db import session_scope
    from backend.proxies import service
    from backend.sqltypes import utcnow
    from workers.proxies import _Lease

    mid = ingest_clip(clip_3s)
    with session_scope() as session:
        assert service.claim_proxy(session, mid, "me", 0.8)
    with _Lease(mid, "me", 0.8) as lease:
        lease(0.25)
        time.sleep(1.5)  # longer than the lease
        proxy = _proxy(mid)
        assert proxy is not None and proxy.lease_expires_at is not None and proxy.lease_expires_at > utcnow()
        assert proxy.progress == 0.25
        with session_scope() as session:
            assert not service.claim_proxy(session, mid, "someone-else", 60)  # still held


def test_cancelling_a_queued_proxy_and_the_answers_once_it_is_done(
    client: TestClient, keys: Keys, queued: list, clip_3s: Path, tmp_path: Path
) -> None:
    from PIL import Image

    from backend import queue

    mid = ingest_clip(clip_3s)
    queued.clear()
    r = client.post(f"{API}/materials/{mid}/proxy/cancel")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["state"], body["error_code"]) == ("failed", "proxy-cancelled") and body["finished_at"]
    assert queued == []  # no worker took it: nothing to stop
    assert _make(mid) == "failed"  # its message, delivered later, makes nothing
    assert _proxy(mid).proxy_key is None  # type: ignore[union-attr]

    again = client.post(f"{API}/materials/{mid}/proxy/cancel")
    assert again.status_code == 409 and again.headers["content-type"].startswith("application/problem+json")
    assert again.json()["type"] == "/problems/proxy-state-conflict" and again.json()["proxy_state"] == "failed"
    # Asked for again, it is made; a ready proxy cannot be cancelled.
    assert client.post(f"{API}/materials/{mid}/proxy").json()["state"] == "queued"
    assert _make(mid) == "ready"
    done = client.post(f"{API}/materials/{mid}/proxy/cancel")
    assert done.status_code == 409 and done.json()["proxy_state"] == "ready"
    assert (queue.CANCEL_PROXY, (str(mid),)) not in queued

    missing = client.post(f"{API}/materials/{uuid.uuid4()}/proxy/cancel")
    assert missing.status_code == 404 and missing.json()["type"] == "/problems/not-found"
    Image.new("RGB", (32, 32), (200, 0, 0)).save(tmp_path / "card.png")
    image = ingest_clip(tmp_path / "card.png", title="商品卡")
    none = client.post(f"{API}/materials/{image}/proxy/cancel")  # an image has no proxy
    assert none.status_code == 404 and none.json()["type"] == "/problems/not-found"
    viewer = client.post(f"{API}/materials/{mid}/proxy/cancel", headers=Keys.auth(keys.viewer))
    assert viewer.status_code == 403  # editors cancel, as they ask


@pytest.fixture(scope="session")
def clip_long(clip_dir: Path) -> Path:
    return make_clip(clip_dir / "proxy_long.mp4", seconds=240.0, size="640x360", seed=33)


def _ffmpeg_children() -> list[int]:
    import os

    from tests.processes import ffmpeg_pids

    return ffmpeg_pids(os.getpid())


def test_cancelling_a_running_encode_stops_its_ffmpeg_and_stores_nothing(
    client: TestClient, queued: list, clip_long: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    import time

    from backend import queue
    from backend.config import get_settings
    from tests.conftest import clear_caches

    monkeypatch.setenv("REELHOUSE_RENDER_LEASE_SECONDS", "1")  # renewed every 0.25 s
    clear_caches()
    mid = ingest_clip(clip_long)
    results: list[str] = []
    task = threading.Thread(target=lambda: results.append(_make(mid)))
    started = time.monotonic()
    task.start()
    while not _ffmpeg_children() and time.monotonic() - started < 60:
        time.sleep(0.05)
    assert _ffmpeg_children(), "the encode's ffmpeg never started"
    p = _proxy(mid)
    assert p is not None and p.status == "running"
    queued.clear()
    r = client.post(f"{API}/materials/{mid}/proxy/cancel")
    assert r.status_code == 200, r.text
    assert r.json()["error_code"] == "proxy-cancelled"
    assert queued == [(queue.CANCEL_PROXY, (str(mid),))]  # a worker took it (a chunked one would be stopped)
    cancelled = time.monotonic()
    task.join(timeout=30)
    assert results == ["cancelled"] and time.monotonic() - cancelled < 10
    assert _ffmpeg_children() == []  # killed, not left to finish
    from workers.proxies import cancel_proxy_task

    assert cancel_proxy_task(str(mid)) == 0  # a whole-file encode has no workflow to stop
    proxy = _proxy(mid)
    assert proxy is not None and proxy.status == "failed" and proxy.proxy_key is None
    root = get_settings().effective_storage_root / f"materials/{mid}/proxy"
    assert not root.exists() or not any(root.iterdir())  # nothing was stored
