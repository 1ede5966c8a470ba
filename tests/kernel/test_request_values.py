"""What a client sends is checked at the schema (backend/text.py), the same on SQLite and PostgreSQL:
control characters (NUL above all: PostgreSQL refuses it, SQLite stores it), integers past their column,
unknown time zones and nulls for NOT NULL columns are a 422, never a 500 or a half-done write."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from backend.catalogue.models import Material, MaterialKind, MaterialStatus, MediaType
from tests.conftest import Keys

NUL = "a\x00b"
API = "/api/v1"
BIG = 2**63  # one past BIGINT
HUGE = 10**30


def _problem(res, status: int = 422) -> dict:  # type: ignore[no-untyped-def]
    assert res.status_code == status, res.text
    assert res.headers["content-type"].startswith("application/problem+json")
    return res.json()


@pytest.fixture
def material_id(client: TestClient) -> str:
    from backend.db import session_scope

    with session_scope() as s:
        m = Material(title="源素材", media_type=MediaType.video, kind=MaterialKind.source,
                     status=MaterialStatus.ready, size_bytes=1, duration_s=10.0)
        s.add(m)
        s.flush()
        return str(m.id)


def _objects(app_env: dict[str, str]) -> list[Path]:
    root = Path(app_env["REELHOUSE_DATA_DIR"]) / "objects"
    return [p for p in root.rglob("*")] if root.exists() else []


def test_nul_in_text_is_422_everywhere(client: TestClient, keys: Keys, material_id: str, app_env) -> None:  # type: ignore[no-untyped-def]
    _problem(client.patch(f"{API}/materials/{material_id}", json={"title": NUL}))
    _problem(client.patch(f"{API}/materials/{material_id}", json={"description": "x\x00"}))
    _problem(client.post(f"{API}/tags", json={"category": "product", "name_zh": NUL}))
    _problem(client.get(f"{API}/materials", params={"q": NUL}))
    _problem(client.get(f"{API}/tags", params={"q": NUL}))
    _problem(client.get(f"{API}/jobs", params={"preset": NUL}))
    _problem(client.get(f"{API}/publications", params={"channel_id": NUL}))
    _problem(client.post(f"{API}/accounts", json={"platform_id": "tmall", "name": NUL}))
    _problem(client.post(f"{API}/keys", json={"name": NUL}, headers=Keys.auth(keys.admin)))
    # The render title used to be accepted (202) and fail the job in the worker.
    res = client.post(f"{API}/materials/{material_id}/renders",
                      json={"ranges": [{"start": 0, "end": 5}], "presets": ["douyin-9x16"], "title": {"text": NUL}})
    body = _problem(res)
    assert body["type"] == "/problems/validation-error" and "U+0000" in body["detail"]
    # Uploads: query metadata, multipart fields and tus metadata; nothing is stored.
    _problem(client.post(f"{API}/materials", params={"title": NUL, "filename": "a.mp4"}, content=b"x" * 1000))
    _problem(client.post(f"{API}/materials", params={"tag": "product:\x00"}, content=b"x" * 1000))
    _problem(client.post(f"{API}/materials", data={"title": NUL}, files={"file": ("a.mp4", b"x" * 1000)}))
    encoded = base64.b64encode(NUL.encode()).decode()
    _problem(client.post(f"{API}/uploads/", headers={"Tus-Resumable": "1.0.0", "Upload-Length": "10",
                                                     "Upload-Metadata": f"title {encoded}"}))
    assert _objects(app_env) == []
    assert client.get(f"{API}/materials").json()["items"][0]["title"] == "源素材"


def test_other_control_characters_and_lines(client: TestClient, material_id: str) -> None:
    _problem(client.patch(f"{API}/materials/{material_id}", json={"title": "line\nbreak"}))
    _problem(client.patch(f"{API}/materials/{material_id}", json={"title": "bell\x07"}))
    _problem(client.patch(f"{API}/materials/{material_id}", json={"description": "escape\x1b[31m"}))
    # Multi-line text keeps tabs and line breaks; Chinese and emoji are data.
    text = "第一行\n第二行\r\n\t缩进 🎬"
    res = client.patch(f"{API}/materials/{material_id}", json={"description": text, "title": "标题 🎬"})
    assert res.status_code == 200, res.text
    assert res.json()["description"] == text and res.json()["title"] == "标题 🎬"


def test_a_forged_cursor_is_400_not_500(client: TestClient, material_id: str) -> None:
    for sort, value in (("title", NUL), ("duration", "long"), ("size", HUGE), ("created_at", 5), ("size", True)):
        raw = json.dumps([sort, value, str(uuid.uuid4())]).encode()
        cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        _problem(client.get(f"{API}/materials", params={"sort": sort, "cursor": cursor}), 400)


def test_integers_past_their_column_are_422(client: TestClient, material_id: str) -> None:
    for path in (f"{API}/tags/{HUGE}", f"{API}/tags/{2**31}", f"{API}/tags/0", f"{API}/reports/{BIG}"):
        _problem(client.get(path))
    _problem(client.patch(f"{API}/tags/{BIG}", json={"name_en": "x"}))
    _problem(client.get(f"{API}/materials", params={"tag": BIG}))
    _problem(client.get(f"{API}/jobs", params={"offset": BIG}))
    _problem(client.get(f"{API}/publications", params={"offset": HUGE}))
    # A tag reference is text ('category:name' or an id): an id no tag can have is simply not found.
    assert client.get(f"{API}/metrics/rollups", params={"tag": HUGE}).status_code == 404
    _problem(client.post(f"{API}/materials/tags:add", json={"material_ids": [material_id], "tag_ids": [BIG]}))
    account = client.post(f"{API}/accounts", json={"platform_id": "tmall", "name": "旗舰店"})
    assert account.status_code == 201, account.text
    channel = account.json()["channels"][0]["channel_id"]
    url = f"{API}/accounts/{account.json()['id']}/channels/{channel}"
    for field in ("opening_threshold", "monthly_minimum", "daily_cap", "monthly_cap"):
        _problem(client.patch(url, json={field: 2**31}))
    snapshot = {"publication_id": str(uuid.uuid4()), "captured_at": "2026-11-20T00:00:00+08:00", "views": BIG}
    _problem(client.post(f"{API}/metrics/snapshots", json={"snapshots": [snapshot]}))


def test_unknown_time_zones_are_422(client: TestClient) -> None:
    for zone in ("Mars/Olympus_Mons", "../../etc/passwd", "", "Asia/Shanghai\x00", "America"):
        _problem(client.get(f"{API}/metrics/rollups", params={"zone": zone, "month": "2026-11"}))
        _problem(client.post(f"{API}/accounts", json={"platform_id": "tmall", "name": "店", "timezone": zone}))
    ok = client.get(f"{API}/metrics/rollups", params={"zone": "Europe/Berlin", "month": "2026-11"})
    assert ok.status_code == 200, ok.text


def test_null_for_a_not_null_column_is_422(client: TestClient, material_id: str) -> None:
    for field in ("title", "description"):
        _problem(client.patch(f"{API}/materials/{material_id}", json={field: None}))
    assert client.patch(f"{API}/materials/{material_id}", json={"production_cost": None}).status_code == 200
    account = client.post(f"{API}/accounts", json={"platform_id": "tmall", "name": "旗舰店"}).json()
    for field in ("name", "timezone"):
        _problem(client.patch(f"{API}/accounts/{account['id']}", json={field: None}))
    assert client.patch(f"{API}/accounts/{account['id']}", json={"store_id": None}).status_code == 200
    url = f"{API}/accounts/{account['id']}/channels/{account['channels'][0]['channel_id']}"
    for field in ("name_zh", "opening_threshold", "requires", "media_types", "count_by", "opens"):
        _problem(client.patch(url, json={field: None}))
    res = client.patch(url, json={"daily_cap": None, "aspects": None})
    assert res.status_code == 200, res.text
    _problem(client.post(f"{API}/accounts/{account['id']}/channels",
                         json={"channel_id": "extra", "name_zh": "额外", "name_en": "Extra", "opening_threshold": None}))
    # The schema shows no `default: null` for a field that refuses null.
    schema = client.get("/openapi.json").json()["components"]["schemas"]["MaterialUpdate"]["properties"]
    assert "default" not in schema["title"] and {"type": "null"} in schema["production_cost"]["anyOf"]


def test_405_names_every_method_of_the_path(client: TestClient) -> None:
    res = client.put(f"{API}/tags")
    _problem(res, 405)
    assert res.headers["allow"] == "GET, POST"  # FastAPI routes answer HEAD only where declared
    res = client.put(f"{API}/tags/1")
    _problem(res, 405)
    assert res.headers["allow"] == "DELETE, GET, PATCH"
    res = client.post(f"{API}/materials/{uuid.uuid4()}/file")
    _problem(res, 405)
    assert res.headers["allow"] == "GET, HEAD"


def test_what_schemathesis_found(client: TestClient, keys: Keys, material_id: str) -> None:
    """Each was a 500 or a schema-invalid value taken as valid before."""
    # A multipart upload without a boundary; a tag reference that str.isdigit() takes and int() refuses.
    res = client.post(f"{API}/materials", content=b"x" * 100, headers={"Content-Type": "multipart/form-data"})
    _problem(res, 400)
    for ref in ("²", "99999999999999999999"):
        res = client.post(f"{API}/materials", params={"tag": ref}, content=b"x" * 100)
        assert res.status_code in (400, 404, 422), res.text
    # Numbers are not Unix times, booleans are not numbers.
    _problem(client.get(f"{API}/materials", params={"created_before": "0.5"}))
    _problem(client.get(f"{API}/publications", params={"submitted_from": "1700000000"}))
    _problem(client.patch(f"{API}/materials/{material_id}", json={"production_cost": False}))
    account = client.post(f"{API}/accounts", json={"platform_id": "tmall", "name": "店", "approval_rate": True})
    _problem(account)
    account = client.post(f"{API}/accounts", json={"platform_id": "tmall", "name": "店"}).json()
    url = f"{API}/accounts/{account['id']}/channels/{account['channels'][0]['channel_id']}"
    _problem(client.patch(url, json={"monthly_cap": False}))
    _problem(client.post(f"{url}/opening", json={"opened_on": 0}))
    _problem(client.post(f"{API}/materials/tags:add", json={"material_ids": [material_id], "tag_ids": [True]}))
    # A literal path answers for itself: /keys/me and /materials/tags:add are not ids.
    res = client.delete(f"{API}/keys/me", headers=Keys.auth(keys.admin))
    _problem(res, 405)
    assert res.headers["allow"] == "GET"
    res = client.patch(f"{API}/materials/tags:add", json={})
    _problem(res, 405)
    assert res.headers["allow"] == "POST"
    # Rollups keep answering JSON (and CSV) as declared.
    assert client.get(f"{API}/metrics/rollups").headers["content-type"] == "application/json"
    assert client.get(f"{API}/metrics/rollups", params={"format": "csv"}).headers["content-type"].startswith("text/csv")


def test_numbers_in_render_requests_are_json_numbers(client: TestClient, material_id: str) -> None:
    base = {"ranges": [{"start": 0, "end": 5}], "presets": ["douyin-9x16"]}
    for bad in ({"ranges": [{"start": False, "end": 5}]}, {"ranges": [{"start": 0, "end": "5"}]},
                {"title": {"text": "标题", "start": True}}, {"crop_path": [{"t": 0, "x": True}]}):
        _problem(client.post(f"{API}/materials/{material_id}/renders", json={**base, **bad}))
