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
    assert page.status_code == 200 and "reelhouse" in page.text and 'src="/static/app.js"' in page.text
    assert 'const API = "/api/v1"' in anon_client.get("/static/app.js").text  # the script is a file (CSP)
    icon = anon_client.get("/favicon.ico")  # asked for by every browser; no key needed
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
    assert icon.text.startswith("<svg") and 'href="/favicon.ico"' in page.text


def test_start_up_warms_routes_and_the_key_lookup_without_side_effects(app_env, keys) -> None:
    """The lifespan sends one in-process request through the app and runs the key lookup once, so a
    freshly started API serves its first request (an upload waiting for `100 Continue`) like any
    other. The warm-up request matches no route and changes nothing."""
    import asyncio

    from fastapi.testclient import TestClient
    from sqlmodel import select

    from backend.app import create_app
    from backend.auth.models import ApiKey
    from backend.db import session_scope
    from backend.warmup import WARM_UP_PATH, warm_up_database, warm_up_routes

    app = create_app()
    assert asyncio.run(warm_up_routes(app)) == 404
    warm_up_database()
    with TestClient(app) as client:
        res = client.get(WARM_UP_PATH)
        assert res.status_code == 404
        assert res.json()["type"] == "/problems/not-found"
        assert client.get("/api/v1/materials", headers={"Authorization": f"Bearer {keys.viewer}"}).status_code == 200
    with session_scope() as session:
        used = session.exec(select(ApiKey).where(ApiKey.last_used_at.is_not(None))).all()  # type: ignore[union-attr]
        assert [k.role for k in used] == ["viewer"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_api_starts_while_the_database_is_unreachable(monkeypatch, app_env) -> None:
    """The start-up warm-up must not keep the API down: /ready says what is missing."""
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


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_hanging_database_does_not_hold_start_up(monkeypatch, app_env) -> None:
    """A database host that drops packets would hold the warm-up for a TCP timeout: start-up waits
    a bounded time and goes on (here the warm-up is still blocked when /health answers)."""
    import threading

    from fastapi.testclient import TestClient

    import backend.app

    release = threading.Event()
    monkeypatch.setattr(backend.app, "warm_up_database", lambda: release.wait(30))
    monkeypatch.setattr(backend.app, "WARM_UP_DATABASE_SECONDS", 0.2)
    try:
        with TestClient(backend.app.create_app()) as client:
            assert client.get("/health").status_code == 200
            assert not release.is_set()
    finally:
        release.set()
