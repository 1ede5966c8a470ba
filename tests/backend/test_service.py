"""The service around the catalogue: health, readiness, OpenAPI, problem types, the web page."""

from __future__ import annotations

import pytest


def test_ready_checks_database_storage_and_broker(anon_client) -> None:
    res = anon_client.get("/ready")
    assert res.status_code == 200, res.text
    assert res.json() == {"status": "ok", "checks": {"database": "ok", "storage": "ok", "broker": "ok"}}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_ready_reports_an_unreachable_broker(anon_client, monkeypatch) -> None:
    from workers.celery_app import celery_app

    monkeypatch.setattr(celery_app.conf, "broker_url", "redis://127.0.0.1:1/0")
    res = anon_client.get("/ready")
    assert res.status_code == 503
    assert res.json()["checks"]["broker"].startswith("error")
    assert res.json()["checks"]["database"] == "ok"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_openapi_is_versioned_and_documents_problems(anon_client) -> None:
    spec = anon_client.get("/openapi.json").json()
    paths = spec["paths"]
    assert all(p.startswith(("/api/v1/", "/health", "/ready", "/problems")) for p in paths)
    upload = paths["/api/v1/materials"]["post"]
    assert "application/octet-stream" in upload["requestBody"]["content"]
    assert {"413", "422"} <= set(upload["responses"])
    types = {p["type"] for p in anon_client.get("/problems").json()}
    assert {"/problems/media-truncated", "/problems/media-decompression-bomb", "/problems/unauthorized"} <= types
    assert anon_client.get("/problems/media-truncated").status_code == 200


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_web_page_is_served(anon_client) -> None:
    page = anon_client.get("/")
    assert page.status_code == 200 and "reelhouse" in page.text and 'const API = "/api/v1"' in page.text
