"""What the browser tests put in place before a page opens: people, catalogue rows, uploads, platform
accounts and their publications (through the API, as a script of the team's would), and work done off
Playwright's thread."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.conftest import Keys
from tests.web.browser import PASSWORD

T = TypeVar("T")


def add_person(username: str, display_name: str, role: str) -> dict[str, str]:
    """A person who signs in with PASSWORD; what `sign_in` takes."""
    from backend.auth.models import Role
    from backend.auth.users import create_user
    from backend.db import session_scope

    with session_scope() as session:
        create_user(session, username=username, password=PASSWORD, role=Role(role), display_name=display_name)
    return {"username": username, "password": PASSWORD}


def off_the_page_loop(work: Callable[..., T], *args: Any) -> T:
    """Run `work` on a thread of its own, as a worker would: the test's thread runs Playwright's event loop,
    and ingest and renders spool on anyio, which refuses a thread where another loop runs."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(work, *args).result()


def catalogue_row(session: Any, title: str, *, size: tuple[int, int] = (1080, 1440), seconds: float = 25.0,
                  kind: str = "source", preset_id: str | None = None, review_state: str = "none",
                  has_audio: bool = False) -> str:
    """A ready video's catalogue row without a file (these clips are never played)."""
    from backend.catalogue.models import Material, MaterialKind, MaterialStatus, MediaType, Orientation, ReviewState

    w, h = size
    row = Material(
        title=title, media_type=MediaType.video, kind=MaterialKind(kind), status=MaterialStatus.ready, size_bytes=1,
        storage_key=f"materials/{uuid.uuid4()}/o.mp4", content_type="video/mp4", duration_s=seconds,
        display_width=w, display_height=h, width=w, height=h, has_audio=has_audio,
        orientation=Orientation.portrait if h > w else Orientation.landscape, aspect_ratio=w / h,
        preset_id=preset_id, review_state=ReviewState(review_state),
    )
    session.add(row)
    session.flush()
    return str(row.id)


def upload(server: Any, token: str, path: Path, **params: str) -> str:
    """A file uploaded through the API in one request (`params`: title, tag, ...); the material's id."""
    res = httpx.post(f"{server.url}/api/v1/materials", params=params, content=path.read_bytes(),
                     headers={**Keys.auth(token), "Content-Type": "application/octet-stream"}, timeout=120)
    assert res.status_code == 201, res.text
    return str(res.json()["id"])


def api_client(server: Any, token: str, timeout: float = 60) -> httpx.Client:
    return httpx.Client(base_url=f"{server.url}/api/v1", headers=Keys.auth(token), timeout=timeout)


def add_account(api: httpx.Client, platform_id: str, name: str, **fields: Any) -> dict[str, Any]:
    """A platform account (store) as the API answers it, with its channels. `api` must be an admin's."""
    res = api.post("/accounts", json={"platform_id": platform_id, "name": name, **fields})
    assert res.status_code == 201, res.text
    return dict(res.json())


def tmall_store(api: httpx.Client) -> str:
    """A T-mall store whose 视频 channel opened last month and whose 实拍 channel was opened by hand then;
    its id. `api` must be an admin's."""
    account = add_account(api, "tmall", "洗护旗舰店")["id"]
    last_month = (datetime.now(UTC).replace(day=1) - timedelta(days=1)).replace(day=1).date().isoformat()
    res = api.post(f"/accounts/{account}/channels/video/opening", json={"opened_on": last_month})
    assert res.status_code == 200, res.text
    res = api.patch(f"/accounts/{account}/channels/shipai",
                    json={"manual_state": "open", "manual_effective_on": last_month, "manual_reason": "后台已开通"})
    assert res.status_code == 200, res.text
    return str(account)


def publish(api: httpx.Client, material_id: str, account_id: str, channel_id: str, **fields: Any) -> dict[str, Any]:
    """A publication recorded through the API (`fields`: status, platform_post_id, submitted_at, ...)."""
    res = api.post("/publications", json={"material_id": material_id, "account_id": account_id,
                                          "channel_id": channel_id, **fields})
    assert res.status_code == 201, res.text
    return dict(res.json())
