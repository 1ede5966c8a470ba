"""Browsing the catalogue: tags, search and filters, cursors, lineage, edits, delete and restore."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlmodel import Session

from backend.catalogue.models import Material, MaterialKind, MaterialStatus, MaterialTag, MediaType, Orientation, Tag
from backend.sqltypes import utcnow


def _material(session: Session, **fields) -> Material:  # type: ignore[no-untyped-def]
    defaults = dict(
        title="clip", media_type=MediaType.video, kind=MaterialKind.source, status=MaterialStatus.ready,
        size_bytes=1, storage_key=f"materials/{uuid.uuid4()}/original.mp4", duration_s=10.0,
        display_width=1080, display_height=1920, orientation=Orientation.portrait, aspect_ratio=0.5625,
    )
    defaults.update(fields)
    m = Material(**defaults)
    session.add(m)
    session.flush()
    return m


@pytest.fixture
def seeded(client):  # type: ignore[no-untyped-def]
    """A small catalogue: a live stream, two derived clips, one grandchild, one landscape ad."""
    from backend.db import session_scope

    now = utcnow()
    with session_scope() as s:
        demo = Tag(category="content_type", name_en="Function demo", name_zh="功能演示")
        qa = Tag(category="content_type", name_en="Q&A", name_zh="问答")
        gel = Tag(category="product", name_en="Laundry gel", name_zh="洗衣凝珠")
        s.add_all([demo, qa, gel])
        s.flush()
        live = _material(s, title="双11 直播回放 2026-11-11", description="七小时直播 洗衣凝珠 讲解",
                         duration_s=7 * 3600, display_width=1920, display_height=1080,
                         orientation=Orientation.landscape, aspect_ratio=16 / 9, created_at=now - timedelta(days=3))
        c1 = _material(s, title="凝珠溶解演示", kind=MaterialKind.derived, parent_id=live.id, duration_s=28,
                       recipe={"ranges": [[120.0, 148.0]], "preset": "douyin-9x16"}, preset_id="douyin-9x16",
                       created_at=now - timedelta(days=2))
        c2 = _material(s, title="Q&A: does it stain?", kind=MaterialKind.derived, parent_id=live.id, duration_s=45,
                       display_width=1080, display_height=1440, aspect_ratio=0.75, created_at=now - timedelta(days=1))
        c3 = _material(s, title="凝珠溶解演示 小红书版", kind=MaterialKind.derived, parent_id=c1.id, duration_s=28,
                       display_width=1080, display_height=1440, aspect_ratio=0.75, created_at=now)
        ad = _material(s, title="Brand film", description="landscape ad for Bilibili", duration_s=60,
                       display_width=1920, display_height=1080, orientation=Orientation.landscape,
                       aspect_ratio=16 / 9, created_at=now - timedelta(days=5))
        s.add_all([MaterialTag(material_id=c1.id, tag_id=demo.id), MaterialTag(material_id=c1.id, tag_id=gel.id),
                   MaterialTag(material_id=c2.id, tag_id=qa.id), MaterialTag(material_id=c2.id, tag_id=gel.id),
                   MaterialTag(material_id=c3.id, tag_id=demo.id)])
        ids = {"live": live.id, "c1": c1.id, "c2": c2.id, "c3": c3.id, "ad": ad.id,
               "demo": demo.id, "qa": qa.id, "gel": gel.id}
    return {k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in ids.items()}


def _titles(res) -> list[str]:  # type: ignore[no-untyped-def]
    assert res.status_code == 200, res.text
    return [m["title"] for m in res.json()["items"]]


def test_filters(client, seeded) -> None:
    get = lambda **p: _titles(client.get("/api/v1/materials", params=p))  # noqa: E731
    assert set(get(tag=[seeded["demo"], seeded["gel"]], tag_mode="all")) == {"凝珠溶解演示"}
    assert set(get(tag=[seeded["demo"], seeded["qa"]], tag_mode="any")) == {
        "凝珠溶解演示", "Q&A: does it stain?", "凝珠溶解演示 小红书版"}
    assert set(get(category="product")) == {"凝珠溶解演示", "Q&A: does it stain?"}
    assert set(get(kind="source")) == {"双11 直播回放 2026-11-11", "Brand film"}
    assert set(get(min_duration=30, max_duration=100)) == {"Q&A: does it stain?", "Brand film"}
    assert set(get(orientation="landscape")) == {"双11 直播回放 2026-11-11", "Brand film"}
    assert set(get(aspect="3:4")) == {"Q&A: does it stain?", "凝珠溶解演示 小红书版"}
    assert set(get(parent_id=seeded["live"])) == {"凝珠溶解演示", "Q&A: does it stain?"}
    since = (utcnow() - timedelta(days=1, hours=12)).isoformat()
    assert set(get(created_after=since)) == {"Q&A: does it stain?", "凝珠溶解演示 小红书版"}


def test_free_text_in_chinese_and_english(client, seeded) -> None:
    get = lambda q: set(_titles(client.get("/api/v1/materials", params={"q": q})))  # noqa: E731
    assert get("溶解") == {"凝珠溶解演示", "凝珠溶解演示 小红书版"}
    assert get("洗衣凝珠") == {"双11 直播回放 2026-11-11"}  # matched in the description
    assert get("bilibili") == {"Brand film"}
    assert get("stain") == {"Q&A: does it stain?"}
    assert get("nothing-like-this") == set()


def test_sorting_and_cursor_pagination_are_stable(client, seeded) -> None:
    newest = _titles(client.get("/api/v1/materials", params={"sort": "-created_at"}))
    assert newest[0] == "凝珠溶解演示 小红书版" and newest[-1] == "Brand film"
    for sort in ("-created_at", "created_at", "title", "-duration", "duration", "size"):
        seen: list[str] = []
        cursor = None
        for _ in range(10):
            params = {"sort": sort, "limit": 2, **({"cursor": cursor} if cursor else {})}
            page = client.get("/api/v1/materials", params=params).json()
            seen += [m["id"] for m in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert len(seen) == len(set(seen)) == 5, sort
    bad = client.get("/api/v1/materials", params={"cursor": "garbage"})
    assert bad.status_code == 400 and bad.json()["type"] == "/problems/bad-request"


def test_lineage_up_and_down(client, seeded) -> None:
    res = client.get(f"/api/v1/materials/{seeded['c1']}/lineage").json()
    assert [a["title"] for a in res["ancestors"]] == ["双11 直播回放 2026-11-11"]
    assert res["tree"]["material"]["recipe"] == {"ranges": [[120.0, 148.0]], "preset": "douyin-9x16"}
    assert [c["material"]["title"] for c in res["tree"]["children"]] == ["凝珠溶解演示 小红书版"]
    root = client.get(f"/api/v1/materials/{seeded['live']}/lineage").json()
    assert root["ancestors"] == []
    assert [c["material"]["title"] for c in root["tree"]["children"]] == ["凝珠溶解演示", "Q&A: does it stain?"]
    assert root["tree"]["children"][0]["children"][0]["material"]["id"] == seeded["c3"]
    leaf = client.get(f"/api/v1/materials/{seeded['c3']}/lineage").json()
    assert [a["id"] for a in leaf["ancestors"]] == [seeded["c1"], seeded["live"]]


def test_tags_crud_uniqueness_and_bulk(client, seeded) -> None:
    created = client.post("/api/v1/tags", json={"category": "campaign", "name_en": "Double 11", "name_zh": "双11"})
    assert created.status_code == 201
    tag_id = created.json()["id"]
    dup = client.post("/api/v1/tags", json={"category": "campaign", "name_zh": "双11"})
    assert dup.status_code == 409 and dup.json()["type"] == "/problems/conflict"
    other_category = client.post("/api/v1/tags", json={"category": "style", "name_zh": "双11"})
    assert other_category.status_code == 201
    bad = client.post("/api/v1/tags", json={"category": "mood", "name_en": "x"})
    assert bad.status_code == 422 and bad.json()["type"] == "/problems/tag-category-unknown"

    ids = [seeded["live"], seeded["c1"], seeded["c2"], seeded["ad"]]
    added = client.post("/api/v1/materials/tags:add", json={"material_ids": ids, "tag_ids": [tag_id]})
    assert added.json() == {"changed": 4}
    again = client.post("/api/v1/materials/tags:add", json={"material_ids": ids, "tag_ids": [tag_id]})
    assert again.json() == {"changed": 0}
    assert len(client.get("/api/v1/materials", params={"tag": tag_id}).json()["items"]) == 4
    removed = client.post("/api/v1/materials/tags:remove", json={"material_ids": ids[:2], "tag_ids": [tag_id]})
    assert removed.json() == {"changed": 2}
    missing = client.post("/api/v1/materials/tags:add", json={"material_ids": [str(uuid.uuid4())], "tag_ids": [tag_id]})
    assert missing.status_code == 404
    listed = client.get("/api/v1/tags", params={"category": "campaign"}).json()
    assert [(t["name_en"], t["name_zh"]) for t in listed] == [("Double 11", "双11")]
    assert client.patch(f"/api/v1/tags/{tag_id}", json={"name_en": "Singles Day"}).json()["name_en"] == "Singles Day"
    assert client.delete(f"/api/v1/tags/{tag_id}").status_code == 204
    assert client.get(f"/api/v1/tags/{tag_id}").status_code == 404


def test_edit_soft_delete_and_restore(client, seeded) -> None:
    mid = seeded["ad"]
    edited = client.patch(f"/api/v1/materials/{mid}", json={"title": "品牌片 横版", "production_cost": 5000})
    assert edited.json()["title"] == "品牌片 横版" and edited.json()["production_cost"] == 5000
    assert client.delete(f"/api/v1/materials/{mid}").json()["status"] == "deleted"
    assert mid not in [m["id"] for m in client.get("/api/v1/materials").json()["items"]]
    assert mid in [m["id"] for m in client.get("/api/v1/materials", params={"include_deleted": True}).json()["items"]]
    gone = client.get(f"/api/v1/materials/{mid}/file")
    assert gone.status_code == 410 and gone.json()["type"] == "/problems/gone"
    assert client.patch(f"/api/v1/materials/{mid}", json={"title": "x"}).status_code == 409
    assert client.post(f"/api/v1/materials/{mid}/restore").json()["status"] == "ready"
    assert client.get(f"/api/v1/materials/{uuid.uuid4()}").status_code == 404


def test_validation_errors_are_problem_json(client) -> None:
    res = client.get("/api/v1/materials", params={"min_duration": "long", "sort": "colour"})
    assert res.status_code == 422
    body = res.json()
    assert res.headers["content-type"] == "application/problem+json"
    assert body["type"] == "/problems/validation-error"
    assert {tuple(e["loc"]) for e in body["errors"]} >= {("query", "min_duration"), ("query", "sort")}
    assert client.get("/api/v1/nowhere").json()["type"] == "/problems/not-found"
