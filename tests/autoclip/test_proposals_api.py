"""The proposals API over real SQLite and PostgreSQL, on the generated footage analysed by the real task:
propose, list, adjust (snapped out of speech, or refused), reject; ranges used by a derived clip of the
same source (its lineage) or rejected are not proposed again."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient

from tests.autoclip.footage import Footage
from tests.autoclip.test_api import SESSION_CSV, SRT, _tag_ids, recording  # noqa: F401 - `recording` is a fixture
from tests.conftest import Keys


def _overlap(a: dict[str, Any], start: float, end: float) -> bool:
    return a["start"] < end and start < a["end"]


def _derived_clip(source: uuid.UUID, start: float, end: float) -> uuid.UUID:
    """A draft clip rendered from `source` before, as the catalogue keeps it: lineage to its parent and the
    recipe's ranges."""
    from backend.catalogue.models import Material, MaterialKind, MaterialStatus, MediaType
    from backend.db import session_scope

    with session_scope() as session:
        clip = Material(
            title="已剪片段", media_type=MediaType.video, kind=MaterialKind.derived, status=MaterialStatus.ready,
            parent_id=source, recipe={"source_id": str(source), "ranges": [{"start": start, "end": end}]},
            preset_id="douyin.feed_9x16",
        )
        session.add(clip)
        session.flush()
        return clip.id


def test_propose_adjust_reject_and_lineage(
    client: TestClient, recording: uuid.UUID, footage: Footage, keys: Keys, queued: list  # noqa: F811  # type: ignore[type-arg]
) -> None:
    url = f"/api/v1/materials/{recording}/proposals"
    r = client.post(url, json={"count": 6, "min_s": 4, "max_s": 15})
    assert r.status_code == 409 and r.json()["type"].endswith("proposals-need-analysis")

    assert client.post(f"/api/v1/materials/{recording}/transcript", params={"filename": "回放.srt"}, content=SRT.encode()).status_code == 201
    assert client.post(
        f"/api/v1/materials/{recording}/session-data", params={"filename": "直播数据.csv"}, content=SESSION_CSV.encode()
    ).status_code == 201
    aid = client.post(f"/api/v1/materials/{recording}/analyses").json()["id"]
    from workers.autoclip import analyse_material

    assert analyse_material(aid) == "succeeded"
    signals = client.get(f"/api/v1/analyses/{aid}").json()["signals"]
    speech = [(s["start"], s["end"]) for s in signals["audio"]["speech"]]

    r = client.post(url, json={"count": 6, "min_s": 4, "max_s": 15})
    assert r.status_code == 201, r.text
    first = r.json()
    assert len(first) >= 2
    tags = _tag_ids()
    for p in first:
        assert 4 <= p["duration"] <= 15 and p["analysis_id"] == aid and p["status"] == "proposed"
        assert p["type"] in {"demo", "qa", "offer", "highlight"}
        assert p["product_tag_id"] in {None, tags["保温杯"], tags["洗衣凝珠"]}
        assert not any(a + 0.05 < t < b - 0.05 for a, b in speech for t in (p["start"], p["end"]))
        assert any(x["code"] == "no_speech_cut" and x["text_zh"] == "未切断语音" for x in p["reasons"])
        assert all(not _overlap(q, p["start"], p["end"]) for q in first if q["id"] != p["id"])
    assert any(x["code"] == "price_on_screen" and "¥59.9" in x["text_zh"] for p in first for x in p["reasons"])
    listed = client.get(url).json()
    assert sorted(p["id"] for p in listed) == sorted(p["id"] for p in first)
    assert client.get(url, headers=Keys.auth(keys.viewer)).status_code == 200
    assert client.post(url, json={}, headers=Keys.auth(keys.viewer)).status_code == 403

    # adjust: an out point just inside an utterance is moved past it; deep inside, refused
    p = first[0]
    later = [(a, b) for a, b in speech if a > p["start"] + 1 and b - a > 2.5 and b + 0.2 < footage.spec.duration]
    a, b = max(later, key=lambda s: s[1] - s[0])
    r = client.patch(f"/api/v1/proposals/{p['id']}", json={"end": round(b - 0.4, 3)})
    assert r.status_code == 200, r.text
    moved = r.json()
    assert moved["end"] == round(b + 0.1, 3) and any(x["code"] == "snapped" for x in moved["reasons"])
    r = client.patch(f"/api/v1/proposals/{p['id']}", json={"end": round(a + 1.25, 3)})
    assert r.status_code == 422 and r.json()["type"].endswith("proposal-cuts-speech")
    r = client.patch(f"/api/v1/proposals/{p['id']}", json={"end": footage.spec.duration + 30})
    assert r.status_code == 422 and r.json()["type"].endswith("proposal-range-invalid")
    assert client.patch(f"/api/v1/proposals/{uuid.uuid4()}", json={"end": 5}).status_code == 404

    # a derived clip of the same source uses a range: it is not proposed again, nor can a proposal be moved onto it
    used = first[1]
    _derived_clip(recording, used["start"], used["end"])
    r = client.patch(f"/api/v1/proposals/{p['id']}", json={"start": used["start"], "end": used["end"]})
    assert r.status_code == 409 and r.json()["type"].endswith("proposal-range-used")
    second = client.post(url, json={"count": 6, "min_s": 4, "max_s": 15}).json()
    assert second and all(not _overlap(q, used["start"], used["end"]) for q in second)
    assert {q["id"] for q in client.get(url).json()} == {q["id"] for q in second}  # the open ones were replaced

    # a rejected proposal stays rejected and its range is not proposed again
    gone = second[0]
    r = client.post(f"/api/v1/proposals/{gone['id']}/reject")
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert client.post(f"/api/v1/proposals/{gone['id']}/reject").json()["status"] == "rejected"
    r = client.patch(f"/api/v1/proposals/{gone['id']}", json={"end": gone["end"]})
    assert r.status_code == 409 and r.json()["type"].endswith("proposal-state-conflict")
    third = client.post(url, json={"count": 6, "min_s": 4, "max_s": 15}).json()
    assert all(not _overlap(q, gone["start"], gone["end"]) for q in third)
    assert [q["id"] for q in client.get(url, params={"status": "rejected"}).json()] == [gone["id"]]

    r = client.post(url, json={"count": 3, "min_s": 20, "max_s": 10})
    assert r.status_code == 422


def test_used_ranges_come_from_live_lineage_and_pending_render_jobs(recording: uuid.UUID) -> None:  # noqa: F811
    """Live derived clips (any state but deleted or failed) and render jobs still to run use their ranges;
    a deleted clip, a failed or cancelled job and a malformed recipe use none."""
    from backend.autoclip.service import used_ranges
    from backend.catalogue.models import MaterialStatus
    from backend.db import session_scope
    from backend.renders.models import JobStatus, RenderJob

    live = _derived_clip(recording, 1.0, 5.0)
    deleted = _derived_clip(recording, 6.0, 9.0)
    broken = _derived_clip(recording, 10.0, 11.0)
    with session_scope() as session:
        from backend.catalogue.models import Material

        row = session.get(Material, deleted)
        assert row is not None
        row.status = MaterialStatus.deleted
        bad = session.get(Material, broken)
        assert bad is not None
        bad.recipe = {"ranges": [{"start": "ten", "end": None}, "x"]}
        for status, a, b in ((JobStatus.queued, 12.0, 14.0), (JobStatus.running, 15.0, 16.5),
                             (JobStatus.failed, 20.0, 22.0), (JobStatus.cancelled, 23.0, 24.0)):
            session.add(RenderJob(source_id=recording, request={"ranges": [{"start": a, "end": b}], "presets": ["x"]},
                                  status=status))
    with session_scope() as session:
        assert sorted(used_ranges(session, recording)) == [(1.0, 5.0), (12.0, 14.0), (15.0, 16.5)]
    assert live
