"""Live-stream segments through the API, and previews made by a worker after the upload: a
placeholder poster until then, a flag when no preview could be made, and a retry that makes them
from the stored original."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import frames_do_not_decode
from tests.workers.media.test_live_segments import _byte_cut_mid_gop, copied_from_mid_gop, live_recording


def _upload(client, data: bytes, **params):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/materials", params=params, content=data,
                       headers={"Content-Type": "application/octet-stream"})


@pytest.fixture(scope="module")
def segments(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An MPEG-TS segment cut at a byte mid-GOP and an FLV segment stream-copied from mid-GOP,
    both with the recorder's clock an hour in."""
    root = tmp_path_factory.mktemp("segments")
    return {
        "ts": _byte_cut_mid_gop(live_recording(root / "live.ts", seconds=12), root / "segment.ts"),
        "flv": copied_from_mid_gop(live_recording(root / "live.flv", seconds=12), root / "segment.flv"),
    }


@pytest.mark.parametrize("ext", ["ts", "flv"])
def test_a_live_segment_cut_mid_gop_is_catalogued_with_previews(client, segments, ext: str, make_previews) -> None:
    res = _upload(client, segments[ext].read_bytes(), title=f"直播切片 {ext}")
    assert res.status_code == 201, res.text
    body = res.json()
    assert body["media"]["container"] == {"ts": "mpegts", "flv": "flv"}[ext]
    assert make_previews(body["id"]) is True
    body = client.get(body["links"]["self"]).json()
    assert body["previews_failed"] is False
    poster = client.get(body["links"]["poster"])
    assert poster.status_code == 200 and "x-reelhouse-placeholder" not in poster.headers
    assert Image.open(io.BytesIO(poster.content)).size == (320, 240)
    assert client.get(body["links"]["contact_sheet"]).status_code == 200


def test_previews_are_made_after_the_upload_and_a_failure_is_kept_with_a_placeholder_and_retried(
    client, small_clip, monkeypatch, queued, make_previews
) -> None:
    from backend import queue

    res = _upload(client, small_clip.read_bytes(), title="预览稍后生成")
    assert res.status_code == 201, res.text
    body = res.json()
    assert (queue.MAKE_PREVIEWS, (body["id"],)) in queued  # sent once the row was committed
    assert body["previews_failed"] is False and body["previews_pending"] is True and body["status"] == "ready"
    pending = client.get(body["links"]["poster"])
    assert pending.status_code == 200 and pending.headers["content-type"] == "image/jpeg"
    assert pending.headers["x-reelhouse-placeholder"] == "previews-pending"
    assert pending.headers["cache-control"] == "no-store"

    put_back = frames_do_not_decode(monkeypatch)
    assert make_previews(body["id"]) is False
    body = client.get(body["links"]["self"]).json()
    assert body["previews_failed"] is True and body["previews_pending"] is False and body["status"] == "ready"
    assert "contact_sheet" not in body["links"]
    placeholder = client.get(body["links"]["poster"])
    assert placeholder.status_code == 200 and placeholder.headers["content-type"] == "image/jpeg"
    assert placeholder.headers["x-reelhouse-placeholder"] == "previews-failed"
    assert client.get(f"/api/v1/materials/{body['id']}/contact-sheet").status_code == 404

    from backend.catalogue.previews import materials_missing_previews
    from backend.db import session_scope

    with session_scope() as session:
        assert materials_missing_previews(session, 10) == [uuid.UUID(body["id"])]
    put_back()
    assert make_previews(body["id"]) is True
    assert make_previews(body["id"]) is False  # done: nothing more to do

    again = client.get(f"/api/v1/materials/{body['id']}").json()
    assert again["previews_failed"] is False and again["previews_pending"] is False and "contact_sheet" in again["links"]
    poster = client.get(again["links"]["poster"])
    assert poster.status_code == 200 and "x-reelhouse-placeholder" not in poster.headers
    assert Image.open(io.BytesIO(poster.content)).size == (320, 240)
    with session_scope() as session:
        assert materials_missing_previews(session, 10) == []
