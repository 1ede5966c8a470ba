"""The service around the catalogue: health, readiness, OpenAPI, problem types, the web page."""

from __future__ import annotations

import pytest


def test_ready_checks_database_storage_and_broker(anon_client) -> None:
    res = anon_client.get("/ready")
    assert res.status_code == 200, res.text
    assert res.json() == {"status": "ok", "checks": {"database": "ok", "storage": "ok", "broker": "ok"}}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_ready_reports_an_unreachable_broker(anon_client, monkeypatch) -> None:
    from backend.queue import producer

    monkeypatch.setattr(producer().conf, "broker_url", "redis://127.0.0.1:1/0")
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
    assert page.status_code == 200 and "reelhouse" in page.text and 'src="/static/js/main.js"' in page.text
    assert 'const BASE = "/api/v1"' in anon_client.get("/static/js/api.js").text  # the scripts are files (CSP)
    icon = anon_client.get("/favicon.ico")  # asked for by every browser; no key needed
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
    assert icon.text.startswith("<svg") and 'href="/favicon.ico"' in page.text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_api_starts_while_the_database_is_unreachable(monkeypatch, app_env) -> None:
    """An unreachable database must not keep the API down: /ready says what is missing."""
    from fastapi.testclient import TestClient

    from backend.app import create_app
    from tests.conftest import clear_caches

    monkeypatch.setenv("REELHOUSE_DATABASE_URL", "postgresql+psycopg://reelhouse@127.0.0.1:1/none?connect_timeout=1")
    clear_caches()
    with TestClient(create_app()) as client:
        assert client.get("/health").status_code == 200
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"].startswith("error")
