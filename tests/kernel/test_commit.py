"""A client gets a 2xx only after its write is committed: create-then-read through a real server, and a
commit that fails turns into a 5xx problem, never a 2xx."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import Keys, make_clip
from tests.live_server import Server

ROUNDS = 50


def test_a_created_tag_and_account_can_be_read_at_once(server: Server, keys: Keys) -> None:
    """Each 201 is followed at once by a GET on a fresh connection: if the commit ran after the
    response went out (a dependency torn down after sending), some GETs would find nothing."""
    auth = Keys.auth(keys.editor)
    misses: list[str] = []
    with httpx.Client(base_url=server.url, headers=auth, timeout=30) as writer:
        for i in range(ROUNDS):
            made = writer.post("/api/v1/tags", json={"category": "campaign", "name_zh": f"直播切片 {i}", "name_en": f"clip {i}"})
            assert made.status_code == 201, made.text
            # A new connection each time, as a second client (or browser tab) would read it.
            seen = httpx.get(f"{server.url}{made.headers['Location']}", headers=auth, timeout=30)
            if seen.status_code != 200:
                misses.append(f"tag {i}: {seen.status_code}")
            else:
                assert seen.json()["name_zh"] == f"直播切片 {i}"
            account = writer.post("/api/v1/accounts", json={"platform_id": "tmall", "name": f"旗舰店 {i}"})
            assert account.status_code == 201, account.text
            seen = httpx.get(f"{server.url}/api/v1/accounts/{account.json()['id']}", headers=auth, timeout=30)
            if seen.status_code != 200:
                misses.append(f"account {i}: {seen.status_code}")
    assert misses == []


def test_an_uploaded_material_can_be_read_at_once(server: Server, keys: Keys, clip_dir: Path) -> None:
    auth = Keys.auth(keys.editor)
    misses: list[str] = []
    for i in range(10):  # each upload is probed in the sandbox: fewer rounds than the JSON writes
        clip = make_clip(clip_dir / f"commit-{i}.mp4", seconds=0.5, size="64x48", seed=1000 + i)
        made = httpx.post(
            f"{server.url}/api/v1/materials", params={"title": f"素材 {i}"}, content=clip.read_bytes(),
            headers={**auth, "Content-Type": "video/mp4"}, timeout=60,
        )
        assert made.status_code == 201, made.text
        seen = httpx.get(f"{server.url}{made.headers['Location']}", headers=auth, timeout=30)
        if seen.status_code != 200:
            misses.append(f"material {i}: {seen.status_code}")
    assert misses == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_failed_commit_is_a_5xx_problem_not_a_201(app_env, keys: Keys, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient
    from sqlalchemy.orm import Session as OrmSession

    from backend.app import create_app

    failing = {"on": False}

    def refuse_commit(session: OrmSession) -> None:
        if failing["on"]:
            raise sa.exc.OperationalError("COMMIT", {}, Exception("disk I/O error"))

    sa.event.listen(OrmSession, "before_commit", refuse_commit)
    try:
        with TestClient(create_app(), headers=Keys.auth(keys.editor), raise_server_exceptions=False) as client:
            assert client.get("/api/v1/tags").status_code == 200  # the key's once-a-minute stamp is done
            failing["on"] = True
            res = client.post("/api/v1/tags", json={"category": "campaign", "name_zh": "不会保存"})
            failing["on"] = False
            assert res.status_code >= 500, res.text
            assert res.headers["content-type"].startswith("application/problem+json")
            assert res.json()["status"] == res.status_code
            tags = client.get("/api/v1/tags").json()
            assert all(t["name_zh"] != "不会保存" for t in tags)
    finally:
        sa.event.remove(OrmSession, "before_commit", refuse_commit)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_commit_happens_before_the_response_starts(app_env, keys: Keys) -> None:
    """The same rule, checked in order rather than by racing: the commit is logged before the
    response's first message leaves the application."""
    from fastapi.testclient import TestClient
    from sqlalchemy.orm import Session as OrmSession

    from backend.app import create_app

    events: list[str] = []

    def committed(session: OrmSession) -> None:
        events.append("commit")

    app = create_app()

    async def recording(scope, receive, send):  # type: ignore[no-untyped-def]
        async def send_logged(message):  # type: ignore[no-untyped-def]
            if message["type"] == "http.response.start":
                events.append(f"response {message['status']}")
            await send(message)

        await app(scope, receive, send_logged)

    sa.event.listen(OrmSession, "after_commit", committed)
    try:
        with TestClient(recording, headers=Keys.auth(keys.editor)) as client:
            assert client.get("/api/v1/tags").status_code == 200  # the key's once-a-minute stamp is done
            events.clear()
            made = client.post("/api/v1/tags", json={"category": "campaign", "name_zh": "双十一"})
            assert made.status_code == 201
            created = events.copy()
            events.clear()
            account = client.post("/api/v1/accounts", json={"platform_id": "tmall", "name": "旗舰店"})
            assert account.status_code == 201
    finally:
        sa.event.remove(OrmSession, "after_commit", committed)
    # The key lookup commits its own short transaction too; what matters is that nothing commits
    # after the response has started.
    for seen in (created, events):
        assert "commit" in seen and seen[-1] == "response 201", seen


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_write_refused_at_commit_is_a_5xx_through_a_real_server(server: Server, keys: Keys, app_env) -> None:
    """PostgreSQL checks a deferred constraint only at COMMIT: the write flushes fine, the commit
    fails. The client must see that failure, not a 201 for a tag that was never saved."""
    engine = sa.create_engine(app_env["REELHOUSE_DATABASE_URL"])
    with engine.begin() as conn:
        conn.execute(sa.text("""
            CREATE FUNCTION refuse_unsaved_tag() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.name_zh = '不会保存' THEN RAISE EXCEPTION 'refused at commit'; END IF;
                RETURN NULL;
            END $$"""))
        conn.execute(sa.text(
            "CREATE CONSTRAINT TRIGGER refuse_unsaved_tag AFTER INSERT ON tag DEFERRABLE INITIALLY DEFERRED "
            "FOR EACH ROW EXECUTE FUNCTION refuse_unsaved_tag()"
        ))
    try:
        auth = Keys.auth(keys.editor)
        res = httpx.post(f"{server.url}/api/v1/tags", json={"category": "campaign", "name_zh": "不会保存"},
                         headers=auth, timeout=30)
        assert res.status_code >= 500, res.text
        assert res.headers["content-type"].startswith("application/problem+json")
        tags = httpx.get(f"{server.url}/api/v1/tags", headers=auth, timeout=30).json()
        assert all(t["name_zh"] != "不会保存" for t in tags)
        ok = httpx.post(f"{server.url}/api/v1/tags", json={"category": "campaign", "name_zh": "会保存"},
                        headers=auth, timeout=30)
        assert ok.status_code == 201, ok.text
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TRIGGER IF EXISTS refuse_unsaved_tag ON tag"))
            conn.execute(sa.text("DROP FUNCTION IF EXISTS refuse_unsaved_tag()"))
        engine.dispose()
