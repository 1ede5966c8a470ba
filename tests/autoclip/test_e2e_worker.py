"""End to end: a real Celery worker process on the real Redis broker analyses a recording started
through the API, and the stored signals are read back through the API; and a tagged recording uploaded
through the API triggers a rule whose drafts come out rendered and validated for every preset.

Test and worker share a SQLite file and a local storage directory through REELHOUSE_* variables; the
broker is this helper's Redis database (REELHOUSE_TEST_REDIS_URL), flushed before and after.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.autoclip.footage import Footage
from tests.autoclip.test_rules import short_footage  # noqa: F401 - fixture
from tests.conftest import REDIS_URL, Keys, clear_caches, service_missing
from tests.processes import Worker
from tests.renders.conftest import ingest_clip

pytestmark = [pytest.mark.redis, pytest.mark.slow, pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch, app_env: dict[str, str], tmp_path: Path) -> Iterator[Worker]:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.flushdb()
    except redis.exceptions.ConnectionError:
        service_missing(f"Redis at {REDIS_URL}")
    env = {**app_env, "REELHOUSE_BROKER_URL": REDIS_URL, "REELHOUSE_BROKER_VISIBILITY_TIMEOUT": "30"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    clear_caches()  # the API's producer now sends to this broker
    w = Worker(env, tmp_path / "worker.log", f"analysis-{uuid.uuid4().hex[:6]}", queues="quick,render")
    try:
        w.wait_ready()
        yield w
    finally:
        w.stop()
        client.flushdb()
        client.close()


def test_a_real_worker_analyses_a_recording_started_through_the_api(
    worker: Worker, footage: Footage, keys: Keys
) -> None:
    from backend.app import create_app
    from backend.catalogue.models import PRODUCT_CATEGORY, Tag
    from backend.db import session_scope

    with session_scope() as session:
        cup = Tag(category=PRODUCT_CATEGORY, name_zh="保温杯", name_en="Thermos Cup")
        session.add(cup)
        session.flush()
        cup_id = cup.id
    material = ingest_clip(footage.path, title="直播回放 e2e")
    with TestClient(create_app(), headers=Keys.auth(keys.editor)) as api:
        r = api.post(f"/api/v1/materials/{material}/analyses")
        assert r.status_code == 202, r.text
        url = r.headers["Location"]
        deadline = time.monotonic() + 240
        body = api.get(url).json()
        while body["status"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.5)
            body = api.get(url).json()
    assert body["status"] == "succeeded", (body, worker.log.read_text(errors="replace")[-3000:])
    assert body["attempts"] == 1 and body["summary"]["products"] == [cup_id]
    assert body["summary"]["shot_changes"] == len(footage.spec.cuts)
    assert [round(p["start"]) for p in body["signals"]["audio"]["pauses"]][:2] == [0, round(footage.silences[1][0])]


RULE_PRESETS = ["douyin.feed_9x16", "xiaohongshu.note_3x4", "tmall.shipai_3x4"]


def test_ingesting_a_tagged_recording_yields_validated_drafts_for_every_preset(
    worker: Worker, short_footage: Footage, keys: Keys  # noqa: F811
) -> None:
    """The rule's whole path on one real worker: upload (tagged) -> trigger -> analysis -> 2 proposals with
    storyboards -> 2 render jobs x 3 presets -> 6 validated drafts with lineage, tags and reasons -> review."""
    from backend.app import create_app
    from backend.catalogue.models import PRODUCT_CATEGORY, Tag
    from backend.db import session_scope

    with session_scope() as session:
        session.add(Tag(category=PRODUCT_CATEGORY, name_zh="保温杯", name_en="Thermos Cup"))  # the card on screen
    with TestClient(create_app(), headers=Keys.auth(keys.editor)) as api:
        r = api.post("/api/v1/autoclip/rules", json={
            "name": "直播切片 → 抖音/小红书/天猫", "match": {"tags": ["content_type:直播"]},
            "count": 2, "min_s": 3, "max_s": 8, "preset_ids": RULE_PRESETS,
        })
        assert r.status_code == 201, r.text
        rule = r.json()
        r = api.post(
            "/api/v1/materials",
            params=[("title", "直播回放 保温杯专场"), ("filename", "live.mp4"), ("tag", "content_type:直播"),
                    ("tag", "campaign:双12大促"), ("tag", "product:洗衣凝珠")],
            content=short_footage.path.read_bytes(), headers={"Content-Type": "application/octet-stream"},
        )
        assert r.status_code == 201, r.text
        live = r.json()["id"]

        deadline = time.monotonic() + 300
        runs: list[dict] = []  # type: ignore[type-arg]
        while time.monotonic() < deadline:
            runs = api.get("/api/v1/autoclip/runs", params={"material_id": live}).json()
            if runs and runs[0]["status"] in ("done", "failed"):
                break
            time.sleep(1.0)
        log = worker.log.read_text(errors="replace")[-4000:]
        (run,) = runs
        assert (run["rule_id"], run["status"], run["progress"], run["origin"]) == (rule["id"], "done", 1.0, "ingest"), (run, log)
        assert len(run["job_ids"]) == 2

        proposals = api.get(f"/api/v1/materials/{live}/proposals").json()
        assert len(proposals) == 2 and {p["status"] for p in proposals} == {"accepted"}
        for p in proposals:  # made by the analysis task while the recording was on its disk
            assert p["storyboard"] and api.get(p["storyboard"]["url"]).headers["content-type"] == "image/jpeg", log
        by_id = {p["id"]: p for p in proposals}
        drafts = []
        for job_id in run["job_ids"]:
            job = api.get(f"/api/v1/jobs/{job_id}").json()
            assert job["status"] == "succeeded", job
            assert sorted(x["preset_id"] for x in job["renditions"]) == sorted(RULE_PRESETS)
            for rendition in job["renditions"]:
                assert rendition["status"] == "succeeded" and rendition["violations"] == [], rendition
                drafts.append(api.get(f"/api/v1/materials/{rendition['material_id']}").json())
        assert len(drafts) == 6
        for d in drafts:
            assert d["kind"] == "derived" and d["review_state"] == "draft" and d["parent_id"] == live
            lineage = d["recipe"]["autoclip"]
            assert lineage["rule_id"] == rule["id"] and lineage["proposal_id"] in by_id
            proposal = by_id[lineage["proposal_id"]]
            assert lineage["type"] == proposal["type"] and lineage["reasons"] == proposal["reasons"]
            assert any(x["code"] == "no_speech_cut" for x in lineage["reasons"])
            (span,) = d["recipe"]["ranges"]
            assert (span["start"], span["end"]) == (proposal["start"], proposal["end"])
            assert abs(d["media"]["duration_s"] - (proposal["end"] - proposal["start"])) < 0.5
            tags = {(t["category"], t["name_zh"]) for t in d["tags"]}
            assert {("campaign", "双12大促"), ("product", "洗衣凝珠")} <= tags, tags  # inherited from the source
            if proposal["product_tag_id"] is not None:
                assert any(t["id"] == proposal["product_tag_id"] for t in d["tags"]), tags  # the proposal's product
        assert any(p["product_tag_id"] is not None for p in proposals)  # the 保温杯 card is on screen
        nodes = api.get(f"/api/v1/materials/{drafts[0]['id']}/lineage").json()
        assert live in str(nodes)

        r = api.post(f"/api/v1/materials/{drafts[0]['id']}/review", json={"decision": "approve"})
        assert r.status_code == 200 and r.json()["review_state"] == "approved"
        r = api.post(f"/api/v1/materials/{drafts[1]['id']}/review", json={"decision": "reject", "reason": "开头口播被截断"})
        assert r.status_code == 200 and r.json()["review"]["reason"] == "开头口播被截断"
