"""API keys and roles: 401 without or with a bad key, 403 for a role too weak, keys stored hashed."""

from __future__ import annotations

import hashlib

from sqlmodel import select

from tests.conftest import Keys


def test_every_endpoint_but_health_needs_a_key(anon_client) -> None:
    assert anon_client.get("/health").json() == {"status": "ok"}
    for method, path in [("GET", "/api/v1/materials"), ("POST", "/api/v1/materials"), ("GET", "/api/v1/tags"),
                         ("GET", "/api/v1/keys")]:
        res = anon_client.request(method, path)
        assert res.status_code == 401, path
        assert res.json()["type"] == "/problems/unauthorized"
        assert res.headers["www-authenticate"] == "Bearer"
    wrong = anon_client.get("/api/v1/materials", headers=Keys.auth("rh_deadbeef0000_nope"))
    assert wrong.status_code == 401


def test_roles(anon_client, keys) -> None:
    viewer, editor = Keys.auth(keys.viewer), Keys.auth(keys.editor)
    assert anon_client.get("/api/v1/materials", headers=viewer).status_code == 200
    denied = anon_client.post("/api/v1/tags", json={"category": "style", "name_en": "vlog"}, headers=viewer)
    assert denied.status_code == 403 and denied.json()["type"] == "/problems/forbidden"
    assert anon_client.post("/api/v1/tags", json={"category": "style", "name_en": "vlog"}, headers=editor).status_code == 201
    assert anon_client.get("/api/v1/keys", headers=editor).status_code == 403
    assert anon_client.get("/api/v1/keys", headers={"X-API-Key": keys.admin}).status_code == 200


def test_admin_issues_and_revokes_keys(anon_client, keys) -> None:
    from backend.auth.models import ApiKey
    from backend.db import session_scope
    admin = Keys.auth(keys.admin)
    issued = anon_client.post("/api/v1/keys", json={"name": "直播剪辑组", "role": "editor"}, headers=admin)
    assert issued.status_code == 201
    token = issued.json()["token"]
    me = anon_client.get("/api/v1/keys/me", headers=Keys.auth(token)).json()
    assert me["name"] == "直播剪辑组" and me["role"] == "editor" and "token" not in me
    with session_scope() as s:
        row = s.exec(select(ApiKey).where(ApiKey.name == "直播剪辑组")).one()
        assert token.split("_", 2)[2] not in row.secret_sha256
        assert row.secret_sha256 == hashlib.sha256(token.split("_", 2)[2].encode()).hexdigest()
    assert anon_client.delete(f"/api/v1/keys/{me['id']}", headers=admin).json()["revoked_at"]
    assert anon_client.get("/api/v1/keys/me", headers=Keys.auth(token)).status_code == 401


def test_key_use_is_committed_before_the_request_goes_on(keys) -> None:
    """The key check runs in its own short transaction and commits the once-a-minute `last_used_at`
    stamp itself: a long request (a multi-GB upload) must not hold SQLite's write lock, the key's
    row on PostgreSQL, or a pooled connection, for its whole length."""
    from backend.auth.models import ApiKey
    from backend.db import get_engine, session_scope
    from backend.deps import lookup_key

    key = lookup_key(keys.editor)
    assert key.last_used_at is not None
    assert get_engine().pool.checkedout() == 0  # nothing held while the handler runs
    with session_scope() as other:  # another request's writer gets through at once
        row = other.get(ApiKey, key.id)
        assert row is not None and row.last_used_at is not None
        row.name = "renamed meanwhile"
        other.add(row)
    again = lookup_key(keys.editor)  # within the minute: a read, no write
    assert again.last_used_at == key.last_used_at and again.name == "renamed meanwhile"
    assert get_engine().pool.checkedout() == 0
