"""The autoclip API and worker task over real SQLite and PostgreSQL: attach a transcript and the live
session's data, start an analysis (202, queued after commit), run the task, read the stored signals."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.autoclip.footage import Footage
from tests.conftest import Keys
from tests.renders.conftest import ingest_clip
from workers.media.analysis import ANALYSIS_VERSION

SRT = """1
00:00:00,800 --> 00:00:04,600
大家好，欢迎来到直播间

2
00:00:06,200 --> 00:00:10,200
今天给大家介绍这款<i>保温杯</i>

3
00:00:12,300 --> 00:00:16,400
这个保温杯能保温多久？
"""

SESSION_CSV = """直播间实时数据（导出时间 2026-12-01 21:00）
时间,在线人数,评论数,点赞数,成交订单数,成交金额（元）
20:00,1.2万,30,100,2,¥119.8
20:01,12500,35,120,3,179.7
20:02,12600,32,110,2,119.8
20:03,13000,240,400,25,"1,497.50"
20:04,12900,31,100,3,179.7
20:05,12800,33,105,2,119.8
"""


@pytest.fixture
def recording(app_env: dict[str, str], footage: Footage, queued: list) -> uuid.UUID:  # type: ignore[type-arg]
    from backend.catalogue.models import PRODUCT_CATEGORY, Tag
    from backend.db import session_scope

    with session_scope() as session:
        session.add(Tag(category=PRODUCT_CATEGORY, name_zh="保温杯", name_en="Thermos Cup"))
        session.add(Tag(category=PRODUCT_CATEGORY, name_zh="洗衣凝珠", name_en="Laundry Pods"))
        session.add(Tag(category=PRODUCT_CATEGORY, name_zh="电动牙刷", name_en="Electric Toothbrush"))
    return ingest_clip(footage.path, title="直播回放 保温杯专场")


def _tag_ids() -> dict[str, int]:
    from sqlmodel import select

    from backend.catalogue.models import Tag
    from backend.db import session_scope

    with session_scope() as session:
        return {t.name_zh: t.id for t in session.scalars(select(Tag)) if t.name_zh and t.id}


def test_attach_analyse_and_read(client: TestClient, recording: uuid.UUID, queued: list) -> None:  # type: ignore[type-arg]
    r = client.post(f"/api/v1/materials/{recording}/transcript", params={"filename": "回放.srt"}, content=SRT.encode())
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["segment_count"] == 3 and body["first_segments"][1] == {"start": 6.2, "end": 10.2, "text": "今天给大家介绍这款保温杯"}

    r = client.post(
        f"/api/v1/materials/{recording}/session-data", params={"filename": "直播数据.csv", "offset_seconds": 0},
        files={"file": ("直播数据.csv", SESSION_CSV.encode("gb18030"), "text/csv")},
    )
    assert r.status_code == 201, r.text
    series = r.json()["series"]
    assert set(series) == {"viewers", "comments", "likes", "orders", "gmv"}
    assert series["viewers"]["step"] == 60 and series["viewers"]["points"] == 6 and series["gmv"]["max"] == 1497.5

    queued.clear()
    r = client.post(f"/api/v1/materials/{recording}/analyses")
    assert r.status_code == 202, r.text
    first = r.json()
    assert first["version"] == 1 and first["status"] == "queued" and r.headers["Location"] == first["links"]["self"]
    assert queued == [("reelhouse.autoclip.analyse_material", (first["id"],))]  # sent after the commit

    from workers.autoclip import analyse_material

    assert analyse_material(first["id"]) == "succeeded"
    assert analyse_material(first["id"]) == "skipped"  # idempotent: a finished analysis is left alone

    r = client.get(f"/api/v1/analyses/{first['id']}")
    assert r.status_code == 200
    a = r.json()
    tags = _tag_ids()
    assert a["status"] == "succeeded" and a["progress"] == 1.0 and a["analyser_version"] == ANALYSIS_VERSION
    assert a["summary"]["products"] == sorted([tags["保温杯"], tags["洗衣凝珠"]])
    assert a["summary"]["shot_changes"] == 4 and a["summary"]["sampling"] == "keyframes"
    assert a["inputs"]["transcript_id"] == body["id"] and a["inputs"]["session_data_id"] is not None
    peaks = a["signals"]["session"]["peaks"]
    assert {(p["metric"], p["t"]) for p in peaks} >= {("comments", 180.0), ("orders", 180.0)}
    assert any(c["kind"] == "price" and c["value"] == "59.9" for c in a["signals"]["text"]["selling"])
    spoken = a["signals"]["transcript"]
    assert spoken["segments"] == 3 and {m["tag_id"] for m in spoken["products"]} == {tags["保温杯"]}
    assert [q["start"] for q in spoken["questions"]] == [12.3]

    # A second run is a new version; the list shows versions newest first, without signals.
    r = client.post(f"/api/v1/materials/{recording}/analyses")
    assert r.status_code == 202 and r.json()["version"] == 2
    listed = client.get(f"/api/v1/materials/{recording}/analyses").json()
    assert [x["version"] for x in listed] == [2, 1] and all(x["signals"] is None for x in listed)


def test_refusals_are_problems(client: TestClient, recording: uuid.UUID, keys: Keys, tmp_path: Path) -> None:
    r = client.post(f"/api/v1/materials/{recording}/transcript", params={"filename": "x.srt"}, content=b"not subtitles at all")
    assert r.status_code == 422 and r.json()["type"].endswith("transcript-unreadable")
    r = client.post(f"/api/v1/materials/{recording}/session-data", params={"filename": "x.csv"}, content="名称,数值\n甲,1\n".encode())
    assert r.status_code == 422 and r.json()["type"].endswith("session-data-unreadable")
    r = client.post(f"/api/v1/materials/{uuid.uuid4()}/analyses")
    assert r.status_code == 404
    from PIL import Image

    Image.new("RGB", (32, 32), (0, 128, 0)).save(tmp_path / "card.png")
    image_id = ingest_clip(tmp_path / "card.png", title="商品卡")
    r = client.post(f"/api/v1/materials/{image_id}/analyses")
    assert r.status_code == 422 and r.json()["type"].endswith("analysis-not-possible")
    r = client.post(f"/api/v1/materials/{recording}/analyses", headers=Keys.auth(keys.viewer))
    assert r.status_code == 403


def test_sweep_sends_again_what_a_dead_worker_left_and_gives_up_after_the_attempts(
    recording: uuid.UUID, queued: list  # type: ignore[type-arg]
) -> None:
    from datetime import timedelta

    from backend.autoclip import service as autoclip
    from backend.autoclip.models import Analysis, AnalysisStatus
    from backend.db import session_scope
    from backend.sqltypes import utcnow

    with session_scope() as session:
        aid = autoclip.start_analysis(session, recording, requested_by=None).id
    with session_scope() as session:
        assert autoclip.claim_analysis(session, aid, "worker-that-dies", lease_seconds=60)
        assert not autoclip.claim_analysis(session, aid, "another", lease_seconds=60)  # held
    with session_scope() as session:
        assert autoclip.sweep_analyses(session) == []  # the lease is still good
        row = session.get(Analysis, aid)
        assert row is not None
        row.lease_expires_at = utcnow() - timedelta(seconds=1)
    queued.clear()
    with session_scope() as session:
        assert autoclip.sweep_analyses(session) == [aid]
    assert queued == [("reelhouse.autoclip.analyse_material", (str(aid),))]
    with session_scope() as session:  # the redelivery takes the expired lease over
        assert autoclip.claim_analysis(session, aid, "second-worker", lease_seconds=60)
        row = session.get(Analysis, aid)
        assert row is not None and row.attempts == 2
        row.attempts = row.max_attempts
        row.lease_expires_at = utcnow() - timedelta(seconds=1)
    with session_scope() as session:
        assert autoclip.sweep_analyses(session) == []
        row = session.get(Analysis, aid)
        assert row is not None and row.status == AnalysisStatus.failed and row.error_code == "analysis-attempts"
