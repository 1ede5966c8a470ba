"""The team's page in a real Chromium (Debian's, driven by Playwright): a title that holds markup is
shown as text everywhere (list, detail, lineage), no script it carries runs, the API key is kept in the
tab's memory only, and normal use logs no console error or Content-Security-Policy violation."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from backend.catalogue.models import Material, MaterialKind, MaterialStatus, MediaType, Orientation
from tests.conftest import Keys, service_missing

XSS_TITLE = '<img src=x onerror="window.__xss=1">'
XSS_CHILD = '<script>window.__xss=2</script><b onmouseover="window.__xss=3">子片段</b>'


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        service_missing("Chromium (Debian's `chromium` package)")
    return str(found)


@pytest.fixture
def browser() -> Iterator[object]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


def _child_of(parent_id: uuid.UUID) -> uuid.UUID:
    """A derived clip whose title is markup too, so the lineage shows both ways (ancestors, tree)."""
    from backend.db import session_scope

    with session_scope() as s:
        child = Material(
            title=XSS_CHILD, media_type=MediaType.video, kind=MaterialKind.derived, status=MaterialStatus.ready,
            size_bytes=1, storage_key=f"materials/{uuid.uuid4()}/original.mp4", duration_s=2.0,
            display_width=320, display_height=240, orientation=Orientation.landscape, aspect_ratio=4 / 3,
            parent_id=parent_id, preset_id="douyin-9x16",
        )
        s.add(child)
        s.flush()
        return child.id


def test_markup_in_titles_stays_text_and_the_key_stays_in_memory(
    server, keys: Keys, browser, small_clip: Path
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    page = browser.new_page()  # type: ignore[attr-defined]
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))

    answer = page.goto(server.url + "/")
    assert answer is not None and answer.ok
    csp = answer.headers["content-security-policy"]
    for directive in ("default-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"):
        assert directive in csp
    assert "unsafe-inline" not in csp
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "no-referrer"

    # Use a key, then upload through the page's own form with a title that is markup.
    page.fill("#key", keys.editor)
    page.click("#save-key")
    page.wait_for_selector("#who:has-text('editor')")
    page.set_input_files("#upload input[type=file]", str(small_clip))
    page.fill("#upload input[name=title]", XSS_TITLE)
    page.fill("#upload input[name=tags]", "content_type:功能演示")
    page.click("#upload button")
    page.wait_for_selector("#upload-status:has-text('added')")
    assert page.text_content("#upload-status") == f"added: {XSS_TITLE}"

    listed = httpx.get(f"{server.url}/api/v1/materials", headers=Keys.auth(keys.editor)).json()["items"]
    parent_id = uuid.UUID(listed[0]["id"])
    assert listed[0]["title"] == XSS_TITLE
    child_id = _child_of(parent_id)

    # The list: the title is the card's text, not an element.
    page.click("#search button")
    sync_api.expect(page.locator(".card")).to_have_count(2)
    titles = page.eval_on_selector_all(".card .title", "nodes => nodes.map(n => n.textContent)")
    assert XSS_TITLE in titles and XSS_CHILD in titles

    # The source's detail: heading and lineage tree (which holds the child).
    page.locator(".card", has_text="功能演示").first.click()
    page.wait_for_selector("#detail h2")
    assert page.text_content("#detail h2") == XSS_TITLE
    tree = page.text_content("#lineage") or ""
    assert XSS_TITLE in tree and XSS_CHILD in tree
    page.click("#detail .close")

    # The child's detail: its heading, and the ancestors line naming the source.
    page.locator(".card .title", has_text="子片段").first.click()
    sync_api.expect(page.locator("#detail h2")).to_have_text(XSS_CHILD)  # no page-side eval: CSP forbids it
    assert XSS_TITLE in (page.text_content("#detail .lineage-from") or "")

    assert page.evaluate("window.__xss") is None, "a script from a title ran"
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("#grid script, #detail script, #grid b, #detail b").count() == 0

    # The key is nowhere a script could read it back later.
    stored = page.evaluate(
        "JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage), document.cookie])"
    )
    assert keys.editor not in stored and "rh_" not in stored
    assert page.input_value("#key") == ""
    page.reload()
    page.wait_for_selector("#error:has-text('API key')")  # a new page load starts without a key
    assert page.text_content("#who") == ""

    assert child_id
    assert problems == [], problems
    page.close()


def test_security_headers_on_api_answers_and_documents(server, keys: Keys) -> None:
    """The script and style sheet are files of their own; JSON and stored documents say nosniff; an
    HTML document other than the page runs no script."""
    js = httpx.get(f"{server.url}/static/app.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert "localStorage" not in js.text.replace("nothing a page script could read later (localStorage", "")
    assert httpx.get(f"{server.url}/static/app.css").headers["content-type"].startswith("text/css")
    missing = httpx.get(f"{server.url}/static/..%2Fendpoints.py")
    assert missing.status_code == 404
    api = httpx.get(f"{server.url}/api/v1/keys/me", headers=Keys.auth(keys.viewer))
    assert api.headers["x-content-type-options"] == "nosniff"
    doc = httpx.get(f"{server.url}/problems/not-found")
    assert doc.headers["content-type"].startswith("text/html")
    assert "script-src" not in doc.headers["content-security-policy"]
    assert doc.headers["content-security-policy"].startswith("default-src 'none'")
