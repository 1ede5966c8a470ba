"""People and sign-in: argon2id hashes, server-side sessions in an HttpOnly SameSite=Lax cookie (Secure over
https), CSRF on cookie-authenticated writes (API keys unaffected), rotation on sign-in, sign-out, expiry,
rate limiting, admin management of people, and the CLI's first admin."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select
from typer.testing import CliRunner

from tests.conftest import Keys

PASSWORD = "直播剪辑-2026!"


def make_user(username: str = "xiaomei", role: str = "editor", password: str = PASSWORD, **extra):
    from backend.auth.models import Role
    from backend.auth.users import create_user
    from backend.db import session_scope

    with session_scope() as session:
        return create_user(session, username=username, password=password, role=Role(role), **extra)


def sign_in(client: TestClient, username: str = "xiaomei", password: str = PASSWORD):
    return client.post("/api/v1/session", json={"username": username, "password": password})


def test_password_is_stored_as_argon2id_and_wrong_ones_fail(anon_client, production_hasher) -> None:
    user = make_user(display_name="小美")
    # argon2-cffi's defaults, RFC 9106's low-memory profile: 64 MiB, 3 passes, 4 lanes.
    assert user.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$") and PASSWORD not in user.password_hash
    assert user.username == "xiaomei" and user.timezone == "Asia/Shanghai" and user.language == "zh-CN"
    wrong = sign_in(anon_client, password="not the password")
    assert wrong.status_code == 401 and wrong.json()["type"] == "/problems/sign-in-failed"
    assert "set-cookie" not in wrong.headers
    nobody = sign_in(anon_client, username="nobody")
    assert nobody.status_code == 401 and nobody.json()["type"] == "/problems/sign-in-failed"  # same answer
    # The user name is case-folded (and NFKC: full-width letters are the same name).
    assert sign_in(anon_client, username="ＸiaoMei").status_code == 200


def test_session_cookie_attributes_and_the_session_answer(anon_client) -> None:
    make_user()
    res = sign_in(anon_client)
    assert res.status_code == 200
    cookie = res.headers["set-cookie"]
    assert cookie.startswith("reelhouse_session=")
    lowered = cookie.lower()
    assert "httponly" in lowered and "samesite=lax" in lowered and "path=/" in lowered and "expires=" in lowered
    assert "secure" not in lowered  # plain http (a developer's machine): a Secure cookie would never come back
    body = res.json()
    assert body["user"]["username"] == "xiaomei" and body["user"]["role"] == "editor"
    assert len(body["csrf_token"]) >= 32 and body["csrf_token"] not in cookie
    again = anon_client.get("/api/v1/session")
    assert again.status_code == 200 and again.json()["csrf_token"] == body["csrf_token"]
    assert anon_client.get("/api/v1/materials").status_code == 200  # the cookie authenticates the API


def test_cookie_is_secure_over_https(app_env) -> None:
    from backend.app import create_app

    make_user()
    with TestClient(create_app(), base_url="https://testserver") as client:
        assert "secure" in sign_in(client).headers["set-cookie"].lower()


def test_the_token_is_stored_hashed(anon_client) -> None:
    from backend.auth.models import WebSession
    from backend.db import session_scope

    make_user()
    sign_in(anon_client)
    token = anon_client.cookies["reelhouse_session"]
    with session_scope() as session:
        rows = session.exec(select(WebSession)).all()
    assert len(rows) == 1 and token not in {rows[0].token_sha256, rows[0].csrf_token}


def test_writes_with_the_cookie_need_the_csrf_token(anon_client, keys) -> None:
    make_user()
    csrf = sign_in(anon_client).json()["csrf_token"]
    body = {"category": "style", "name_zh": "口播"}
    refused = anon_client.post("/api/v1/tags", json=body)
    assert refused.status_code == 403 and refused.json()["type"] == "/problems/csrf-failed"
    wrong = anon_client.post("/api/v1/tags", json=body, headers={"X-CSRF-Token": "x" * 43})
    assert wrong.status_code == 403
    assert anon_client.post("/api/v1/tags", json=body, headers={"X-CSRF-Token": csrf}).status_code == 201
    # A route whose body the endpoint streams (no BodyGuard) checks it too: the tus creation.
    tus = {"Tus-Resumable": "1.0.0", "Upload-Length": "10"}
    assert anon_client.post("/api/v1/uploads", headers=tus).status_code == 403
    assert anon_client.post("/api/v1/uploads", headers={**tus, "X-CSRF-Token": csrf}).status_code == 201
    # API keys are header-authenticated: no CSRF token, whatever cookie the client also holds.
    as_key = anon_client.post("/api/v1/tags", json={"category": "style", "name_zh": "测评"}, headers=Keys.auth(keys.editor))
    assert as_key.status_code == 201


def test_roles_apply_to_people(anon_client) -> None:
    make_user("kanban", role="viewer")
    csrf = sign_in(anon_client, "kanban").json()["csrf_token"]
    assert anon_client.get("/api/v1/materials").status_code == 200
    denied = anon_client.post("/api/v1/tags", json={"category": "style", "name_zh": "口播"}, headers={"X-CSRF-Token": csrf})
    assert denied.status_code == 403 and denied.json()["type"] == "/problems/forbidden"
    assert anon_client.get("/api/v1/users").status_code == 403


def test_sign_in_rotates_and_sign_out_ends_the_session(anon_client) -> None:
    make_user()
    first = sign_in(anon_client)
    old_token = anon_client.cookies["reelhouse_session"]
    second = sign_in(anon_client)  # the browser still sends the first cookie: that session ends
    new_token = anon_client.cookies["reelhouse_session"]
    assert new_token != old_token and second.json()["csrf_token"] != first.json()["csrf_token"]
    assert _with_cookie(anon_client, old_token).status_code == 401
    assert anon_client.delete("/api/v1/session").status_code == 403  # sign-out is a write: CSRF
    out = anon_client.delete("/api/v1/session", headers={"X-CSRF-Token": second.json()["csrf_token"]})
    assert out.status_code == 204 and 'reelhouse_session=""' in out.headers["set-cookie"]
    assert "max-age=0" in out.headers["set-cookie"].lower()
    assert _with_cookie(anon_client, new_token).status_code == 401


def _with_cookie(client: TestClient, token: str):
    with TestClient(client.app, cookies={"reelhouse_session": token}) as other:
        return other.get("/api/v1/materials")


def test_not_signed_in_is_no_error_for_the_session_answer(anon_client, keys) -> None:
    """The app asks at start-up whether anyone is signed in: 204, not 401 (which a browser logs as an error)."""
    assert anon_client.get("/api/v1/session").status_code == 204
    assert anon_client.get("/api/v1/session", headers=Keys.auth(keys.admin)).status_code == 204  # a key is no session
    # ... but endpoints about the signed-in person refuse a key.
    assert anon_client.patch("/api/v1/me", json={"language": "en"}, headers=Keys.auth(keys.admin)).status_code == 401


def test_sessions_expire_when_idle_and_absolutely(anon_client, monkeypatch) -> None:
    from backend.auth import sessions
    from backend.auth.models import WebSession
    from backend.db import session_scope
    from backend.sqltypes import utcnow

    make_user()
    sign_in(anon_client)
    assert anon_client.get("/api/v1/session").status_code == 200
    with session_scope() as session:
        row = session.exec(select(WebSession)).one()
        row.expires_at = utcnow() - timedelta(seconds=1)
        session.add(row)
    gone = anon_client.get("/api/v1/materials")
    assert gone.status_code == 401 and "expired" in gone.json()["detail"]
    assert anon_client.get("/api/v1/session").status_code == 204
    # Use slides the idle expiry, never past the absolute one.
    sign_in(anon_client)
    with session_scope() as session:
        row = session.exec(select(WebSession).order_by(WebSession.created_at.desc())).first()  # type: ignore[attr-defined]
        assert row is not None
        row.last_seen_at = utcnow() - timedelta(hours=1)
        row.absolute_expires_at = utcnow() + timedelta(minutes=5)
        session.add(row)
    assert anon_client.get("/api/v1/session").status_code == 200
    with session_scope() as session:
        row = session.exec(select(WebSession).order_by(WebSession.created_at.desc())).first()  # type: ignore[attr-defined]
        assert row is not None
        assert row.expires_at == row.absolute_expires_at
    assert sessions.TOUCH_SECONDS == 60


def test_ended_sessions_are_deleted_in_batches_by_the_hourly_task(anon_client) -> None:
    import uuid

    from backend.auth.models import WebSession
    from backend.db import session_scope
    from backend.sqltypes import utcnow
    from workers.auth import delete_ended_sessions_task
    from workers.celery_app import celery_app

    assert celery_app.conf.beat_schedule["delete-ended-sessions"]["task"] == "reelhouse.delete_ended_sessions"
    user = make_user()
    sign_in(anon_client)  # the live session the browser holds
    now = utcnow()
    long_ago, lately, later = now - timedelta(days=3), now - timedelta(hours=2), now + timedelta(hours=5)
    ended = {  # (idle expiry, absolute expiry, revoked) of sessions that ended over a day ago
        "idle": (long_ago, later, None), "absolute": (later + timedelta(days=9), long_ago, None),
        "revoked": (later, later, long_ago),
    }
    recent = {"idle lately": (lately, later, None), "revoked lately": (later, later, lately)}
    names: dict[uuid.UUID, str] = {}
    with session_scope() as session:
        for name, (idle, absolute, revoked) in {**ended, **recent}.items():
            for n in range(3):
                row = WebSession(
                    token_sha256=uuid.uuid4().hex + uuid.uuid4().hex, csrf_token="x" * 43, user_id=user.id,
                    created_at=long_ago, last_seen_at=long_ago, expires_at=idle, absolute_expires_at=absolute,
                    revoked_at=revoked, user_agent=f"{name} {n}", ip="127.0.0.1",
                )
                session.add(row)
                names[row.id] = name
    # Nine are due: batches of 4 take three transactions, and a run stops after `max_batches`.
    assert delete_ended_sessions_task(batch=4, max_batches=2) == 8
    assert delete_ended_sessions_task(batch=4, max_batches=2) == 1
    assert delete_ended_sessions_task(batch=4) == 0
    with session_scope() as session:
        left = session.exec(select(WebSession)).all()
    kept = sorted(names.get(row.id, "live") for row in left)
    assert kept == ["idle lately"] * 3 + ["live"] + ["revoked lately"] * 3  # ended under a day ago: kept
    assert anon_client.get("/api/v1/session").status_code == 200  # the live session is untouched


def test_failed_sign_ins_lock_the_name_then_the_address(anon_client, monkeypatch) -> None:
    make_user()
    make_user("laowang")
    for _ in range(5):
        assert sign_in(anon_client, password="wrong password").status_code == 401
    locked = sign_in(anon_client)  # even the right password waits now
    assert locked.status_code == 429 and locked.json()["type"] == "/problems/sign-in-throttled"
    assert 1 <= int(locked.headers["retry-after"]) <= 15 * 60 + 1
    assert sign_in(anon_client, "laowang").status_code == 200  # another name is not locked
    # Per address: many names tried from one address.
    monkeypatch.setenv("REELHOUSE_LOGIN_MAX_FAILURES_PER_IP", "8")
    from backend.config import get_settings

    get_settings.cache_clear()
    for i in range(3):
        sign_in(anon_client, username=f"guess{i}", password="wrong password")
    blocked = sign_in(anon_client, "laowang")
    assert blocked.status_code == 429


def test_admins_manage_people(anon_client, keys) -> None:
    admin = Keys.auth(keys.admin)
    created = anon_client.post("/api/v1/users", json={
        "username": "XiaoMei", "password": PASSWORD, "display_name": "小美", "role": "viewer", "timezone": "Asia/Shanghai",
    }, headers=admin)
    assert created.status_code == 201, created.text
    person = created.json()
    assert person["username"] == "xiaomei" and person["language"] == "zh-CN" and "password" not in str(person)
    taken = anon_client.post("/api/v1/users", json={"username": "xiaomei", "password": PASSWORD}, headers=admin)
    assert taken.status_code == 409 and taken.json()["type"] == "/problems/username-taken"
    short = anon_client.post("/api/v1/users", json={"username": "a", "password": "short"}, headers=admin)
    assert short.status_code == 422 and short.json()["type"] == "/problems/password-rejected"
    bad_zone = anon_client.post("/api/v1/users", json={"username": "b", "password": PASSWORD, "timezone": "Mars/Base"}, headers=admin)
    assert bad_zone.status_code == 422
    assert [u["username"] for u in anon_client.get("/api/v1/users", headers=admin).json()] == ["xiaomei"]

    # The person signs in; an admin raises their role: it applies to their session at once.
    with TestClient(anon_client.app) as browser:
        csrf = sign_in(browser).json()["csrf_token"]
        write = {"json": {"category": "style", "name_zh": "口播"}, "headers": {"X-CSRF-Token": csrf}}
        assert browser.post("/api/v1/tags", **write).status_code == 403
        patched = anon_client.patch(f"/api/v1/users/{person['id']}", json={"role": "editor"}, headers=admin)
        assert patched.status_code == 200 and patched.json()["role"] == "editor"
        assert browser.post("/api/v1/tags", **write).status_code == 201
        # Disabling ends the session; enabling does not bring it back.
        assert anon_client.patch(f"/api/v1/users/{person['id']}", json={"disabled": True}, headers=admin).status_code == 200
        assert browser.get("/api/v1/materials").status_code == 401
        assert sign_in(browser).status_code == 401
        anon_client.patch(f"/api/v1/users/{person['id']}", json={"disabled": False}, headers=admin)
        assert browser.get("/api/v1/session").status_code == 204
        assert sign_in(browser).status_code == 200
        assert anon_client.delete(f"/api/v1/users/{person['id']}/sessions", headers=admin).status_code == 204
        assert browser.get("/api/v1/session").status_code == 204

    # A person's principal key acts for them but is not an API key to list or revoke.
    listed = anon_client.get("/api/v1/keys", headers=admin).json()
    assert all(k["name"] != "xiaomei" for k in listed)


def test_the_last_admin_stays(anon_client) -> None:
    make_user("boss", role="admin")
    csrf = sign_in(anon_client, "boss").json()["csrf_token"]
    me = anon_client.get("/api/v1/session").json()["user"]
    res = anon_client.patch(f"/api/v1/users/{me['id']}", json={"role": "editor"}, headers={"X-CSRF-Token": csrf})
    assert res.status_code == 409 and res.json()["type"] == "/problems/last-admin"
    res = anon_client.patch(f"/api/v1/users/{me['id']}", json={"disabled": True}, headers={"X-CSRF-Token": csrf})
    assert res.status_code == 409


def test_people_set_their_own_language_timezone_and_password(anon_client) -> None:
    make_user()
    csrf = sign_in(anon_client).json()["csrf_token"]
    headers = {"X-CSRF-Token": csrf}
    res = anon_client.patch("/api/v1/me", json={"language": "en", "timezone": "Europe/Berlin"}, headers=headers)
    assert res.status_code == 200 and res.json()["language"] == "en" and res.json()["timezone"] == "Europe/Berlin"
    assert anon_client.patch("/api/v1/me", json={"language": "fr"}, headers=headers).status_code == 422
    with TestClient(anon_client.app) as other:
        sign_in(other)
        wrong = anon_client.post("/api/v1/me/password", json={"current_password": "nope", "new_password": "新的密码12345"}, headers=headers)
        assert wrong.status_code == 422 and wrong.json()["type"] == "/problems/password-rejected"
        ok = anon_client.post("/api/v1/me/password", json={"current_password": PASSWORD, "new_password": "新的密码12345"}, headers=headers)
        assert ok.status_code == 204
        assert anon_client.get("/api/v1/session").status_code == 200  # this session stays
        assert other.get("/api/v1/session").status_code == 204  # the other one ended
    assert sign_in(anon_client, password="新的密码12345").status_code == 200


def test_work_done_signed_in_is_recorded_under_the_person(anon_client) -> None:
    """Uploads record the principal key of the person: its name is their user name."""
    from backend.auth.models import ApiKey
    from backend.db import session_scope
    from backend.uploads.models import TusUpload

    make_user()
    csrf = sign_in(anon_client).json()["csrf_token"]
    res = anon_client.post("/api/v1/uploads", headers={"Tus-Resumable": "1.0.0", "Upload-Length": "10", "X-CSRF-Token": csrf})
    assert res.status_code == 201
    with session_scope() as session:
        upload = session.exec(select(TusUpload)).one()
        assert session.get(ApiKey, upload.owner_key_id).name == "xiaomei"  # type: ignore[union-attr]


@pytest.mark.parametrize("given", ["--password", "env"])
def test_cli_creates_the_first_admin(app_env, monkeypatch, given: str) -> None:
    from backend.cli import app

    args = ["users", "create-admin", "boss"]
    if given == "--password":
        args += ["--password", PASSWORD]
    else:
        monkeypatch.setenv("REELHOUSE_ADMIN_PASSWORD", PASSWORD)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "created admin 'boss'" in result.output
    listed = CliRunner().invoke(app, ["users", "list"])
    assert "boss" in listed.output and "admin" in listed.output
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 1
