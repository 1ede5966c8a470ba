"""Tag categories are data an admin adds to; a refused category tells the person what to type; a new tag
named by many simultaneous uploads is created once and every upload gets it (both databases)."""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from PIL import Image

from tests.conftest import Keys

SEEDED = {"audience", "content_type", "product", "campaign", "style", "platform", "other"}


def _png(seed: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (seed % 256, 80, 160)).save(out, format="PNG")
    return out.getvalue()


def test_categories_are_listed_with_labels_and_inheritance(client) -> None:
    listed = {c["id"]: c for c in client.get("/api/v1/tag-categories").json()}
    assert set(listed) == SEEDED
    assert listed["campaign"] == {"id": "campaign", "label_zh": "活动", "label_en": "Campaign", "inheritable": True}
    assert listed["platform"]["inheritable"] is False


def test_unknown_category_says_what_to_type_and_an_admin_can_add_it(client, keys: Keys) -> None:
    refused = client.post("/api/v1/materials", params={"tag": "source:手机"}, content=_png(1),
                          headers={"Content-Type": "application/octet-stream"})
    assert refused.status_code == 422
    problem = refused.json()
    assert problem["type"] == "/problems/tag-category-unknown"
    assert problem["detail"].startswith("Unknown tag category 'source'")
    for listed in ("campaign (Campaign)", "audience (Audience)", "category:name"):
        assert listed in problem["detail"]
    assert {c["id"] for c in problem["categories"]} == SEEDED
    chinese = client.post("/api/v1/materials", params={"tag": "source:手机"}, content=_png(1),
                          headers={"Content-Type": "application/octet-stream", "Accept-Language": "zh-CN"}).json()
    assert chinese["detail"].startswith("没有“source”这个标签类别")
    for listed in ("campaign（活动）", "audience（受众）", "类别:名称"):
        assert listed in chinese["detail"]
    assert chinese["categories"] == problem["categories"]

    body = {"id": "source", "label_zh": "素材来源", "label_en": "Source", "inheritable": True}
    assert client.post("/api/v1/tag-categories", json=body).status_code == 403  # editors cannot
    added = client.post("/api/v1/tag-categories", json=body, headers=Keys.auth(keys.admin))
    assert added.status_code == 201, added.text
    again = client.post("/api/v1/tag-categories", json={**body, "id": "origin"}, headers=Keys.auth(keys.admin))
    assert again.status_code == 409 and again.json()["type"] == "/problems/tag-category-exists"

    accepted = client.post("/api/v1/materials", params={"tag": ["source:手机", "活动：618大促"]}, content=_png(1),
                           headers={"Content-Type": "application/octet-stream"})
    assert accepted.status_code == 201, accepted.text
    tags = {(t["category"], t["name_zh"]) for t in accepted.json()["tags"]}
    assert tags == {("source", "手机"), ("campaign", "618大促")}  # a label and a full-width colon work too
    assert [t["name_zh"] for t in client.get("/api/v1/tags", params={"category": "素材来源"}).json()] == ["手机"]


def test_simultaneous_first_uses_of_a_tag_all_get_it(app_env, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every caller looks the tag up, finds nothing, then all insert at once: one row, no conflict."""
    from backend.catalogue import tags
    from backend.db import session_scope

    callers = 8
    barrier = threading.Barrier(callers, timeout=30)
    looked = threading.local()
    find = tags._find_by_name

    def find_then_wait(*args, **kwargs):  # type: ignore[no-untyped-def]
        found = find(*args, **kwargs)
        if not getattr(looked, "once", False):
            looked.once = True
            barrier.wait()  # nobody inserts before everybody has seen "missing"
        return found

    monkeypatch.setattr(tags, "_find_by_name", find_then_wait)

    def resolve(_: int) -> int:
        with session_scope() as session:
            (tag,) = tags.resolve_tag_refs(session, ["campaign:双12预热"], create=True)
            assert tag.id is not None
            return tag.id

    with ThreadPoolExecutor(callers) as pool:
        ids = list(pool.map(resolve, range(callers)))
    assert len(set(ids)) == 1
    with session_scope() as session:
        assert [t.name_zh for t in tags.list_tags(session, category="campaign")] == ["双12预热"]


def test_simultaneous_uploads_with_a_new_tag_over_http(server, keys: Keys) -> None:
    """Ten uploads at once through a real server, each naming the same new campaign tag."""

    def upload(seed: int) -> httpx.Response:
        return httpx.post(f"{server.url}/api/v1/materials", params={"tag": "campaign:年货节"}, content=_png(seed),
                          headers={**Keys.auth(keys.editor), "Content-Type": "application/octet-stream"}, timeout=60)

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(upload, range(10)))
    assert [a.status_code for a in answers] == [201] * 10, [a.text for a in answers if a.status_code != 201]
    tag_ids = {t["id"] for a in answers for t in a.json()["tags"]}
    assert len(tag_ids) == 1
