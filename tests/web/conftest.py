"""Fixtures of the browser tests: Chromium, a person who signs in, a signed-in page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.web.browser import Watcher, chromium_path
from tests.web.seed import add_person


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """The web tests drive the browser; the database's behaviour is tested elsewhere on both engines."""
    return sqlite_url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium per test module (starting Playwright's driver and the browser took ~1.3 s a test);
    each test still gets a context of its own (`page`): no cookies, storage or cache carry over.
    Module, not session: while Playwright runs, its event loop is this thread's, and tests elsewhere
    run asyncio and anyio on the main thread."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def person(app_env: dict[str, str]) -> dict[str, str]:
    return add_person("xiaomei", "小美", "editor")


@pytest.fixture
def watcher() -> Watcher:
    return Watcher()


@pytest.fixture
def page(browser: Any, watcher: Watcher) -> Iterator[Any]:
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 1280, "height": 860})
    p = context.new_page()
    p.set_default_timeout(20_000)
    watcher.attach(p)
    yield p
    context.close()


def sign_in(page: Any, server: Any, person: dict[str, str]) -> None:
    page.goto(server.url + "/")
    page.wait_for_selector("#username")
    page.fill("#username", person["username"])
    page.fill("#password", person["password"])
    page.click("form.signin button[type=submit]")
    page.wait_for_selector("#who")
