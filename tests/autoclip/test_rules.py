"""Automatic re-edit rules over real SQLite and PostgreSQL: CRUD and its refusals (unknown preset, unknown
tag category, min above max: 422 problems), dry-runs, matching on tags, the trigger on ingest that starts
one run per material and rule however often it is sent, and the worker path on a short generated
recording: analysis finished -> proposals -> draft render jobs carrying the rule id."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.autoclip.footage import Card, Footage, FootageSpec, make_footage
from tests.compliance.conftest import Api, api, make_material  # noqa: F401 - `api`, `make_material` are fixtures
from tests.conftest import Keys
from tests.renders.conftest import clip_4s, ingest_clip  # noqa: F401 - fixture

RULES = "/api/v1/autoclip/rules"
EXAMPLE: dict[str, Any] = {
    "name": "直播切片 → 抖音/小红书/天猫",
    "match": {"tags": ["content_type:直播"]},
    "count": 8, "min_s": 15, "max_s": 60,
    "preset_ids": ["douyin.feed_9x16", "xiaohongshu.note_3x4", "tmall.shipai_3x4"],
}


@pytest.fixture(scope="session")
def short_footage(tmp_path_factory: pytest.TempPathFactory) -> Footage:
    """A 14-second 360p recording (two sentences, one price card): enough to propose clips from."""
    spec = FootageSpec(
        duration=14.0, width=640, height=360, cuts=(7.0,), sentences=("今天给大家介绍这款保温杯", "现在秒杀价只要五十九块九"),
        silences=(0.8, 1.2), cards=(Card(2.0, 10.0, ("保温杯", "¥59.9")),),
    )
    return make_footage(Path(tmp_path_factory.mktemp("short")) / "live.mp4", spec)


def _tagged(path: Path, *refs: str) -> uuid.UUID:
    from backend.catalogue import tags as tag_service
    from backend.db import session_scope

    mid = ingest_clip(path, title="直播回放 洁净家")
    with session_scope() as session:
        ids = [t.id for t in tag_service.resolve_tag_refs(session, refs, create=True) if t.id]
        tag_service.tag_materials(session, [mid], ids)
    return mid


def test_rule_crud_and_validation(client: TestClient, keys: Keys) -> None:
    r = client.post(RULES, json=EXAMPLE, headers=keys.auth(keys.viewer))
    assert r.status_code == 403
    r = client.post(RULES, json={**EXAMPLE, "preset_ids": ["douyin.feed_9x16", "nowhere.reel"]})
    assert r.status_code == 422 and r.json()["type"].endswith("autoclip-rule-invalid") and r.json()["preset"] == "nowhere.reel"
    r = client.post(RULES, json={**EXAMPLE, "match": {"tags": ["渠道风格:直播"]}})
    assert r.status_code == 422 and r.json()["type"].endswith("tag-category-unknown"), r.text
    r = client.post(RULES, json={**EXAMPLE, "match": {"tags": ["999999"]}})  # a tag id that does not exist
    assert r.status_code == 422 and r.json()["type"].endswith("autoclip-rule-invalid"), r.text
    r = client.post(RULES, json={**EXAMPLE, "min_s": 90})
    assert r.status_code == 422 and r.json()["type"].endswith("autoclip-rule-invalid")
    r = client.post(RULES, json={**EXAMPLE, "account_ids": [str(uuid.uuid4())]})
    assert r.status_code == 422 and r.json()["type"].endswith("autoclip-rule-invalid")
    assert client.get(RULES).json() == []  # nothing of the refused ones was kept

    r = client.post(RULES, json=EXAMPLE)
    assert r.status_code == 201, r.text
    rule = r.json()
    assert r.headers["Location"] == f"{RULES}/{rule['id']}"
    assert rule["match"] == {"tags": ["content_type:直播"], "kind": "source"} and rule["enabled"] is True
    assert rule["preset_ids"] == EXAMPLE["preset_ids"] and (rule["count"], rule["min_s"], rule["max_s"]) == (8, 15, 60)
    viewer = keys.auth(keys.viewer)
    assert [x["id"] for x in client.get(RULES, headers=viewer).json()] == [rule["id"]]
    assert client.get(f"{RULES}/{rule['id']}", headers=viewer).json()["name"] == EXAMPLE["name"]

    r = client.patch(f"{RULES}/{rule['id']}", json={"enabled": False, "count": 3})
    assert r.status_code == 200 and r.json()["enabled"] is False and r.json()["count"] == 3
    r = client.patch(f"{RULES}/{rule['id']}", json={"max_s": 10})  # below the stored min_s
    assert r.status_code == 422
    assert client.get(f"{RULES}/{rule['id']}").json()["max_s"] == 60
    assert client.delete(f"{RULES}/{rule['id']}", headers=viewer).status_code == 403
    assert client.delete(f"{RULES}/{rule['id']}").status_code == 204
    assert client.get(f"{RULES}/{rule['id']}").status_code == 404


def test_matching_dry_run_and_idempotent_trigger(
    client: TestClient, clip_4s: Path, queued: list  # noqa: F811  # type: ignore[type-arg]
) -> None:
    from workers.autoclip import apply_autoclip_rules

    rule = client.post(RULES, json=EXAMPLE).json()
    live = _tagged(clip_4s, "content_type:直播", "campaign:618大促")
    assert ("reelhouse.apply_autoclip_rules", (str(live),)) in queued

    r = client.post(f"{RULES}/{rule['id']}/dry-run", params={"material_id": str(live)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["matched"] is True and body["would_start"] is True and body["clip_count"] == 8
    assert body["preset_ids"] == EXAMPLE["preset_ids"] and any("content_type:直播" in x for x in body["reasons"])
    assert client.post(f"{RULES}/{rule['id']}/dry-run").json()["materials"] == [str(live)]
    assert client.get("/api/v1/autoclip/runs", params={"material_id": str(live)}).json() == []  # a dry-run writes nothing

    # An untagged recording does not match, and says why.
    from sqlalchemy import delete

    from backend.catalogue.models import MaterialTag
    from backend.db import session_scope

    with session_scope() as session:
        session.execute(delete(MaterialTag).where(MaterialTag.material_id == live))  # type: ignore[arg-type]
    body = client.post(f"{RULES}/{rule['id']}/dry-run", params={"material_id": str(live)}).json()
    assert body["matched"] is False and any("缺少标签 content_type:直播" in x for x in body["reasons"])
    assert apply_autoclip_rules(str(live)) == []
    assert client.post(f"{RULES}/{rule['id']}/dry-run").json()["materials"] == []

    # Tagged again: the trigger starts one run; sent again, none.
    _tagged(clip_4s, "content_type:直播")
    queued.clear()
    (run_id,) = apply_autoclip_rules(str(live))
    assert [name for name, _ in queued] == ["reelhouse.autoclip.analyse_material"]
    assert apply_autoclip_rules(str(live)) == []
    runs = client.get("/api/v1/autoclip/runs", params={"material_id": str(live)}).json()
    assert [(x["id"], x["status"], x["clip_count"], x["rule_id"]) for x in runs] == [(run_id, "queued", 8, rule["id"])]
    assert runs[0]["analysis_id"] == queued[0][1][0]
    body = client.post(f"{RULES}/{rule['id']}/dry-run", params={"material_id": str(live)}).json()
    assert body["matched"] is True and body["would_start"] is False and body["existing_run_id"] == run_id

    # An analysis that ends failed (here: out of attempts, as the sweep leaves it) fails the run.
    from backend.autoclip.models import Analysis, AnalysisStatus

    with session_scope() as session:
        analysis = session.get(Analysis, uuid.UUID(runs[0]["analysis_id"]))
        assert analysis is not None
        analysis.status = AnalysisStatus.failed
    (run,) = client.get("/api/v1/autoclip/runs", params={"material_id": str(live)}).json()
    assert run["status"] == "failed"

    # A disabled rule starts nothing.
    second = client.post(RULES, json={**EXAMPLE, "name": "停用的规则", "enabled": False}).json()
    assert apply_autoclip_rules(str(live)) == []
    body = client.post(f"{RULES}/{second['id']}/dry-run", params={"material_id": str(live)}).json()
    assert body["matched"] is False and any("停用" in x for x in body["reasons"])


def test_worker_path_analysis_proposals_drafts(
    client: TestClient, short_footage: Footage, queued: list  # type: ignore[type-arg]
) -> None:
    from sqlmodel import select

    from backend.db import session_scope
    from backend.renders.models import RenderJob
    from workers.autoclip import analyse_material, apply_autoclip_rules

    rule = client.post(RULES, json={**EXAMPLE, "count": 2, "min_s": 3, "max_s": 8}).json()
    live = _tagged(short_footage.path, "content_type:直播")
    (run_id,) = apply_autoclip_rules(str(live))
    (run,) = client.get("/api/v1/autoclip/runs", params={"material_id": str(live)}).json()
    assert run["status"] == "queued"

    assert analyse_material(run["analysis_id"]) == "succeeded"
    (run,) = client.get("/api/v1/autoclip/runs", params={"material_id": str(live)}).json()
    assert run["id"] == run_id and run["status"] == "rendering", run
    assert 1 <= len(run["job_ids"]) <= 2
    proposals = client.get(f"/api/v1/materials/{live}/proposals").json()
    assert {p["status"] for p in proposals} == {"accepted"} and len(proposals) == len(run["job_ids"])
    with session_scope() as session:
        jobs = session.exec(select(RenderJob).where(RenderJob.source_id == live)).all()  # type: ignore[arg-type]
        assert sorted(str(j.id) for j in jobs) == sorted(run["job_ids"])
        for job in jobs:
            assert job.request["draft"]["rule_id"] == rule["id"]
            assert job.request["presets"] == EXAMPLE["preset_ids"]
            (r,) = job.request["ranges"]
            assert 3 - 0.5 <= r["end"] - r["start"] <= 8 + 0.5
    # The analysis finished once: a redelivered message neither analyses nor renders again.
    assert analyse_material(run["analysis_id"]) == "skipped"
    (again,) = client.get("/api/v1/autoclip/runs", params={"material_id": str(live)}).json()
    assert again["job_ids"] == run["job_ids"]


def test_with_accounts_the_count_is_the_quota_shortfall_capped(api: Api, client: TestClient, clip_4s: Path) -> None:  # noqa: F811
    acc = api.account(name="洁净家天猫旗舰店", approval_rate=0.5)
    api.open_channel(acc, "video", on="2026-01-05")
    r = client.patch(f"/api/v1/accounts/{acc['id']}/channels/video", json={"monthly_minimum": 3})
    assert r.status_code == 200, r.text
    live = _tagged(clip_4s, "content_type:直播")
    # Nothing published this month: 3 approvals missing at 50 % is 6 clips, under the cap of 8 ...
    rule = client.post(RULES, json={**EXAMPLE, "account_ids": [acc["id"]]}).json()
    assert rule["account_ids"] == [acc["id"]]
    body = client.post(f"{RULES}/{rule['id']}/dry-run", params={"material_id": str(live)}).json()
    assert body["matched"] is True and body["clip_count"] == 6, body
    assert any("店铺配额还差 6 条" in x for x in body["reasons"])
    # ... and capped by the rule's count.
    client.patch(f"{RULES}/{rule['id']}", json={"count": 4})
    assert client.post(f"{RULES}/{rule['id']}/dry-run", params={"material_id": str(live)}).json()["clip_count"] == 4
