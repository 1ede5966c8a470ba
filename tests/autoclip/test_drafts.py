"""Rendering chosen proposals as drafts and reviewing them, over real SQLite and PostgreSQL with a real
render (ffmpeg on a 4-second clip): one job per proposal cut at its in and out point, the proposal
accepted, the rendition a `draft` carrying the proposal in its lineage with the source's tags and the
proposal's product tag; a draft approved or rejected once, anything else a 409 problem."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from tests.conftest import Keys
from tests.renders.conftest import clip_4s, sent  # noqa: F401 - fixtures

REASONS = [{"code": "price_on_screen", "text_zh": "画面价格 ¥59.9", "text_en": "price on screen ¥59.9",
            "start": 1.0, "end": 2.0, "value": "¥59.9"}]


def _source_with_proposals(path: Path) -> tuple[uuid.UUID, dict[str, uuid.UUID], dict[str, int]]:
    """A ready recording tagged with a campaign, an analysis of it and three proposals (one already
    rejected), the first about a product."""
    from backend.autoclip.models import Analysis, AnalysisStatus, Proposal, ProposalStatus
    from backend.catalogue import tags as tag_service
    from backend.config import get_settings
    from backend.db import session_scope
    from backend.objectstore import get_storage
    from backend.uploads.service import IngestRequest, ingest_local_file

    with session_scope() as session:
        campaign = tag_service.ensure_tag(session, category="campaign", name_en="618", name_zh="618 大促")
        product = tag_service.ensure_tag(session, category="product", name_en="Thermos", name_zh="保温杯")
        source = ingest_local_file(
            session, get_storage(), get_settings(), path, IngestRequest(title="直播回放 618", tags=[campaign])
        ).material
        analysis = Analysis(material_id=source.id, version=1, status=AnalysisStatus.succeeded, signals={})
        session.add(analysis)
        session.flush()
        rows = {
            "offer": Proposal(analysis_id=analysis.id, material_id=source.id, type="offer", product_tag_id=product.id,
                              start_s=0.3, end_s=3.8, score=0.9, reasons=REASONS),
            "demo": Proposal(analysis_id=analysis.id, material_id=source.id, type="demo", start_s=0.0, end_s=3.5,
                             score=0.5, reasons=[]),
            "refused": Proposal(analysis_id=analysis.id, material_id=source.id, type="qa", start_s=0.5, end_s=3.9,
                                score=0.4, reasons=[], status=ProposalStatus.rejected),
        }
        session.add_all(rows.values())
        session.flush()
        assert campaign.id and product.id
        return source.id, {k: p.id for k, p in rows.items()}, {"campaign": campaign.id, "product": product.id}


def _status(pid: uuid.UUID) -> str:
    from backend.autoclip.models import Proposal
    from backend.db import session_scope

    with session_scope() as session:
        row = session.get(Proposal, pid)
        assert row is not None
        return str(row.status)


def test_render_proposals_as_drafts_and_review_them(
    client: TestClient, keys: Keys, clip_4s: Path, sent: list[uuid.UUID]  # noqa: F811
) -> None:
    from backend.catalogue.models import Material
    from backend.db import session_scope
    from backend.renders.models import RenderJob
    from workers.renders import execute_render_job

    source, ids, tags = _source_with_proposals(clip_4s)
    url = "/api/v1/proposals/render"
    preset = "douyin.feed_9x16"

    # All or nothing: a rejected proposal among them refuses the call, and the open one stays open.
    r = client.post(url, json={"proposal_ids": [str(ids["demo"]), str(ids["refused"])], "preset_ids": [preset]})
    assert r.status_code == 409 and r.json()["type"].endswith("proposal-state-conflict"), r.text
    assert _status(ids["demo"]) == "proposed" and sent == []
    r = client.post(url, json={"proposal_ids": [str(uuid.uuid4())], "preset_ids": [preset]})
    assert r.status_code == 404
    r = client.post(url, json={"proposal_ids": [str(ids["demo"])], "preset_ids": ["no.such_preset"]})
    assert r.status_code == 422 and r.json()["type"].endswith("render-preset-unknown")
    assert _status(ids["demo"]) == "proposed"
    body = {"proposal_ids": [str(ids["offer"])], "preset_ids": [preset], "rule_id": "douyin-月度-4"}
    assert client.post(url, json=body, headers=Keys.auth(keys.viewer)).status_code == 403

    r = client.post(url, json=body)
    assert r.status_code == 202, r.text
    (made,) = r.json()
    assert made["proposal_id"] == str(ids["offer"]) and made["job"]["status"] == "queued"
    job_id = uuid.UUID(made["job"]["id"])
    assert made["job"]["request"]["ranges"] == [{"start": 0.3, "end": 3.8}]
    assert made["job"]["request"]["origin"] == "autoclip" and sent == [job_id]
    assert _status(ids["offer"]) == "accepted"
    again = client.post(url, json=body)
    assert again.status_code == 409 and again.json()["type"].endswith("proposal-state-conflict")
    with session_scope() as session:
        assert len(session.exec(select(RenderJob).where(RenderJob.source_id == source)).all()) == 1

    assert execute_render_job(str(job_id)) == "succeeded"
    with session_scope() as session:
        (draft,) = session.exec(select(Material).where(Material.render_job_id == job_id)).all()
        draft_id = draft.id
    read = client.get(f"/api/v1/materials/{draft_id}").json()
    assert read["review_state"] == "draft" and read["parent_id"] == str(source)
    assert read["recipe"]["ranges"] == [{"start": 0.3, "end": 3.8}]
    lineage = read["recipe"]["autoclip"]
    assert lineage["proposal_id"] == str(ids["offer"]) and lineage["type"] == "offer"
    assert lineage["reasons"] == REASONS and lineage["rule_id"] == "douyin-月度-4"
    tag_ids = {t["id"] for t in read["tags"]}
    assert {tags["campaign"], tags["product"]} <= tag_ids
    assert any(t["category"] == "platform" for t in read["tags"])
    assert 3.3 < read["media"]["duration_s"] < 3.8
    assert client.get(f"/api/v1/materials/{source}").json()["review_state"] == "none"
    queue = client.get("/api/v1/materials", params={"review_state": "draft"}).json()["items"]
    assert [m["id"] for m in queue] == [str(draft_id)]

    review = f"/api/v1/materials/{draft_id}/review"
    assert client.post(review, json={"decision": "approve"}, headers=Keys.auth(keys.viewer)).status_code == 403
    r = client.post(review, json={"decision": "approve", "reason": "口播完整，可以发"})
    assert r.status_code == 200, r.text
    assert r.json()["review_state"] == "approved"
    assert r.json()["review"]["reason"] == "口播完整，可以发" and r.json()["review"]["decision"] == "approved"
    assert client.get("/api/v1/materials", params={"review_state": "draft"}).json()["items"] == []
    r = client.post(review, json={"decision": "reject", "reason": "改主意了"})
    assert r.status_code == 409 and r.json()["type"].endswith("material-not-draft")
    r = client.post(f"/api/v1/materials/{source}/review", json={"decision": "reject"})
    assert r.status_code == 409 and r.json()["type"].endswith("material-not-draft")
    assert client.post(f"/api/v1/materials/{uuid.uuid4()}/review", json={"decision": "reject"}).status_code == 404
    assert client.post(review, json={"decision": "maybe"}).status_code == 422


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_reject_a_draft(client: TestClient) -> None:
    from backend.catalogue.models import Material, MaterialKind, MaterialStatus, MediaType, ReviewState
    from backend.db import session_scope

    with session_scope() as session:
        m = Material(title="草稿", media_type=MediaType.video, kind=MaterialKind.derived, status=MaterialStatus.ready,
                     review_state=ReviewState.draft)
        session.add(m)
        session.flush()
        mid = m.id
    r = client.post(f"/api/v1/materials/{mid}/review", json={"decision": "reject", "reason": "开头口播被截断"})
    assert r.status_code == 200 and r.json()["review_state"] == "rejected"
    assert r.json()["review"]["reason"] == "开头口播被截断"
