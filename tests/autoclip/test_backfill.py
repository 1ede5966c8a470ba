"""Rule back-fill over real SQLite and PostgreSQL: a rule applied to recordings already in the catalogue
(dry run, since/limit bounds, a disabled rule refused), each a run with progress; a recording with a current
analysis reuses it (straight to proposals and drafts, no second decode), and ranges used by a published clip
of the same source (lineage; also once the clip left the catalogue) or by a draft are never proposed again."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from backend import queue
from tests.autoclip.footage import Footage
from tests.autoclip.test_rules import EXAMPLE, RULES, _tagged, short_footage  # noqa: F401 - `short_footage` is a fixture
from tests.compliance.conftest import Api, api, make_material, sh  # noqa: F401 - `api`, `make_material` are fixtures
from tests.renders.conftest import clip_4s  # noqa: F401 - fixture


def _backfill(client: TestClient, rule_id: str, **body: object) -> tuple[int, dict]:  # type: ignore[type-arg]
    r = client.post(f"{RULES}/{rule_id}/backfill", json=body)
    return r.status_code, r.json()


def test_backfill_dry_run_bounds_and_runs(
    client: TestClient, clip_4s: Path, short_footage: Footage, queued: list  # noqa: F811  # type: ignore[type-arg]
) -> None:
    older = _tagged(clip_4s, "content_type:直播")
    time.sleep(0.01)
    cut = datetime.now(UTC)
    time.sleep(0.01)
    newer = _tagged(short_footage.path, "content_type:直播")
    _tagged(short_footage.path, "content_type:短视频")  # another kind of content: not the rule's
    rule = client.post(RULES, json={**EXAMPLE, "enabled": False}).json()

    status, body = _backfill(client, rule["id"], dry_run=True)
    assert status == 409 and body["type"].endswith("autoclip-rule-disabled")
    client.patch(f"{RULES}/{rule['id']}", json={"enabled": True})

    queued.clear()
    status, body = _backfill(client, rule["id"], dry_run=True)
    assert status == 200, body
    assert [m["material_id"] for m in body["materials"]] == [str(newer), str(older)]  # newest first
    assert all(m["matched"] and m["clip_count"] == 8 and m["run_id"] is None for m in body["materials"])
    assert body["started"] == 0 and queued == []
    assert client.get("/api/v1/autoclip/runs", params={"rule_id": rule["id"]}).json() == []

    status, body = _backfill(client, rule["id"], since=cut.isoformat(), dry_run=True)
    assert [m["material_id"] for m in body["materials"]] == [str(newer)]
    status, body = _backfill(client, rule["id"], since=(cut + timedelta(days=1)).isoformat(), dry_run=True)
    assert body["materials"] == []
    r = client.post(f"{RULES}/{rule['id']}/backfill", json={"since": "2026-11-01T00:00:00"})
    assert r.status_code == 400  # an instant needs its timezone

    status, body = _backfill(client, rule["id"], limit=1)
    assert status == 202, body
    (item,) = body["materials"]
    assert item["material_id"] == str(newer) and item["run_id"] and body["started"] == 1
    assert [name for name, _ in queued] == [queue.ANALYSE_MATERIAL]
    run = client.get(f"/api/v1/autoclip/runs/{item['run_id']}").json()
    assert (run["origin"], run["status"], run["progress"], run["clip_count"]) == ("backfill", "queued", 0.0, 8)
    # The next back-fill takes what is left; then nothing.
    status, body = _backfill(client, rule["id"])
    assert [m["material_id"] for m in body["materials"]] == [str(older)] and body["started"] == 1
    status, body = _backfill(client, rule["id"])
    assert body["materials"] == [] and body["started"] == 0
    assert client.get(f"/api/v1/autoclip/runs/{uuid.uuid4()}").status_code == 404
    # A back-fill never reruns what the ingest trigger ran.
    from workers.autoclip import apply_autoclip_rules

    assert apply_autoclip_rules(str(newer)) == []


def test_backfill_reuses_the_analysis_and_keeps_off_used_ranges(
    api: Api, client: TestClient, short_footage: Footage, make_material, queued: list  # noqa: F811  # type: ignore[no-untyped-def, type-arg]
) -> None:
    from backend.catalogue.models import Material, MaterialStatus
    from backend.db import session_scope
    from workers.autoclip import analyse_material, continue_autoclip_run

    live = _tagged(short_footage.path, "content_type:直播", "campaign:双12")
    aid = client.post(f"/api/v1/materials/{live}/analyses").json()["id"]
    assert analyse_material(aid) == "succeeded"
    # A clip of 0-6.5 s was published and has since left the catalogue; its range stays used (lineage).
    published = make_material("已发布切片", parent=live)
    with session_scope() as session:
        m = session.get(Material, published)
        assert m is not None
        m.recipe = {"source_id": str(live), "ranges": [{"start": 0.0, "end": 6.5}]}
    account = api.account(name="洁净家天猫旗舰店")
    api.open_channel(account)
    api.publish(account, "video", sh(2026, 12, 1), material=published)
    with session_scope() as session:
        m = session.get(Material, published)
        assert m is not None
        m.status = MaterialStatus.deleted

    rule = client.post(RULES, json={**EXAMPLE, "count": 2, "min_s": 3, "max_s": 8}).json()
    queued.clear()
    status, body = _backfill(client, rule["id"], dry_run=True)
    (item,) = body["materials"]
    assert item["reuses_analysis"] is True and any("沿用分析 v1" in x for x in item["reasons"])
    # An analysis by an older analyser (before ANALYSIS_VERSION was bumped) is not reused: the back-fill
    # analyses that recording again; nothing else re-analyses it by itself.
    from backend.autoclip.models import Analysis
    from workers.media.analysis import ANALYSIS_VERSION

    with session_scope() as session:
        row = session.get(Analysis, uuid.UUID(aid))
        assert row is not None and row.analyser_version == ANALYSIS_VERSION
        row.analyser_version = ANALYSIS_VERSION - 1
    status, body = _backfill(client, rule["id"], dry_run=True)
    assert body["materials"][0]["reuses_analysis"] is False and queued == []
    with session_scope() as session:
        row = session.get(Analysis, uuid.UUID(aid))
        assert row is not None
        row.analyser_version = ANALYSIS_VERSION
    status, body = _backfill(client, rule["id"])
    run_id = body["materials"][0]["run_id"]
    assert queued == [(queue.CONTINUE_AUTOCLIP_RUN, (run_id,))]  # no second analysis
    run = client.get(f"/api/v1/autoclip/runs/{run_id}").json()
    assert run["analysis_id"] == aid and run["status"] == "queued" and run["progress"] == 0.5

    queued.clear()
    assert continue_autoclip_run(run_id) == "rendering"
    assert continue_autoclip_run(run_id) == "skipped"  # redelivered: nothing twice
    run = client.get(f"/api/v1/autoclip/runs/{run_id}").json()
    assert run["status"] == "rendering" and 0.5 <= run["progress"] < 1.0 and run["job_ids"]
    assert [n for n, _ in queued].count(queue.RENDER_JOB) == len(run["job_ids"])
    proposals = client.get(f"/api/v1/materials/{live}/proposals").json()
    assert proposals and all(p["status"] == "accepted" for p in proposals)
    assert all(p["start"] >= 6.5 - 1e-6 for p in proposals), proposals  # never inside the published clip's range

    # Proposing again for this source: the drafts now pending hold their ranges as well.
    again = client.post(f"/api/v1/materials/{live}/proposals", json={"count": 4, "min_s": 3, "max_s": 8}).json()
    used = [(0.0, 6.5)] + [(p["start"], p["end"]) for p in proposals]
    assert all(not (q["start"] < b and a < q["end"]) for q in again for a, b in used), (again, used)


def test_clip_durations_are_narrowed_to_what_every_preset_takes(client: TestClient, clip_4s: Path) -> None:  # noqa: F811
    # T-mall 实拍 takes at most 60 s: a rule asking for 70-120 s clips for it cannot be met ...
    r = client.post(RULES, json={**EXAMPLE, "min_s": 70, "max_s": 120})
    assert r.status_code == 422 and r.json()["type"].endswith("autoclip-rule-invalid"), r.text
    assert "tmall.shipai_3x4 ≤ 60s" in r.json()["detail"]
    # ... and 15-120 s is proposed as 15-60 s (Douyin alone would take 120 s).
    rule = client.post(RULES, json={**EXAMPLE, "max_s": 120}).json()
    live = _tagged(clip_4s, "content_type:直播")
    body = client.post(f"{RULES}/{rule['id']}/dry-run", params={"material_id": str(live)}).json()
    assert any("收窄为 15-60 秒" in x for x in body["reasons"]), body
    from backend.autoclip.models import AutoclipRule
    from backend.autoclip.rules import clip_bounds
    from backend.db import session_scope

    with session_scope() as session:
        row = session.get(AutoclipRule, uuid.UUID(rule["id"]))
        assert row is not None and clip_bounds(row) == (15, 60)
        row.preset_ids = ["douyin.feed_9x16"]
        assert clip_bounds(row) == (15, 120)


def test_channels_with_a_gap_narrow_the_durations_too(api: Api, client: TestClient, clip_4s: Path) -> None:  # noqa: F811
    acc = api.account(name="洁净家天猫旗舰店", approval_rate=0.5)
    api.open_channel(acc, "video", on="2026-01-05")  # T-mall 视频 takes at most 60 s
    assert client.patch(f"/api/v1/accounts/{acc['id']}/channels/video", json={"monthly_minimum": 3}).status_code == 200
    rule = client.post(RULES, json={
        **EXAMPLE, "preset_ids": ["douyin.feed_9x16"], "max_s": 120, "account_ids": [acc["id"]],
    }).json()
    live = _tagged(clip_4s, "content_type:直播")
    body = client.post(f"{RULES}/{rule['id']}/dry-run", params={"material_id": str(live)}).json()
    assert any("收窄为 15-60 秒" in x for x in body["reasons"]), body
    from backend.autoclip.models import AutoclipRule
    from backend.autoclip.rules import clip_bounds, gap_channels
    from backend.db import session_scope

    with session_scope() as session:
        row = session.get(AutoclipRule, uuid.UUID(rule["id"]))
        assert row is not None
        channels = gap_channels(session, row)
        assert [c.channel_id for c in channels] == ["video"]
        assert clip_bounds(row) == (15, 120) and clip_bounds(row, channels) == (15, 60)
