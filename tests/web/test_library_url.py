"""The library's filters live in the address, in a real Chromium: every choice (category, tag, kind, status,
orientation, duration, dates, text, sort) is written to `#/library?...`, so a reload shows the same cards
with the same controls set, a link opened elsewhere (even by someone signed out, after signing in) shows
them too, and back/forward steps through the choices in place without building the screen again. Each
test fails on any console error, failed request, error answer or untranslated key (tests/web/browser.py)."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from tests.conftest import Keys
from tests.web.browser import PASSWORD, Watcher, wait_until
from tests.web.conftest import sign_in

pytestmark = pytest.mark.timeout(240)

CARDS = "document.querySelectorAll('#grid .card').length"


def _seed(server: Any, keys: Keys) -> dict[str, list[str]]:
    """Catalogue rows (no files: the grid shows placeholders) in kinds, shapes, lengths and states to
    filter on, two of them tagged with a product."""
    from backend.catalogue.models import Material, MaterialKind, MaterialStatus, MediaType, Orientation
    from backend.db import session_scope

    rows = {
        "portrait": [("竖屏口播 洗衣液 {}", MaterialKind.source, MaterialStatus.ready, Orientation.portrait, 30.0)] * 3,
        "short": [("横屏切片 {}", MaterialKind.derived, MaterialStatus.ready, Orientation.landscape, 10.0)] * 2,
        "failed": [("坏文件 {}", MaterialKind.source, MaterialStatus.failed, Orientation.landscape, 90.0)],
        "live": [("往期直播 {:02d}", MaterialKind.source, MaterialStatus.ready, Orientation.landscape, 600.0)] * 6,
    }
    ids: dict[str, list[str]] = {}
    with session_scope() as s:
        for group, specs in rows.items():
            for n, (title, kind, status, orientation, seconds) in enumerate(specs):
                portrait = orientation == Orientation.portrait
                m = Material(
                    title=title.format(n),
                    media_type=MediaType.video,
                    kind=kind,
                    status=status,
                    size_bytes=1,
                    storage_key=f"materials/{uuid.uuid4()}/o.mp4",
                    duration_s=seconds + n,
                    display_width=1080 if portrait else 1920,
                    display_height=1920 if portrait else 1080,
                    orientation=orientation,
                    aspect_ratio=9 / 16 if portrait else 16 / 9,
                )
                s.add(m)
                s.flush()
                ids.setdefault(group, []).append(str(m.id))
    auth = Keys.auth(keys.editor)
    tag = httpx.post(
        f"{server.url}/api/v1/tags", json={"category": "product", "name_zh": "洗衣液"}, headers=auth, timeout=30
    )
    assert tag.status_code == 201, tag.text
    tagged = httpx.post(
        f"{server.url}/api/v1/materials/tags:add",
        headers=auth,
        timeout=30,
        json={"material_ids": ids["portrait"][:2], "tag_ids": [tag.json()["id"]]},
    )
    assert tagged.status_code == 200, tagged.text
    ids["tag"] = [str(tag.json()["id"])]
    return ids


def _query(page: Any) -> dict[str, str]:
    path, _, search = page.evaluate("location.hash").removeprefix("#").partition("?")
    assert path == "/library"
    return dict(parse_qsl(search))


def _controls(page: Any) -> dict[str, str]:
    names = ["q", "category", "tag", "kind", "status", "orientation", "duration", "after", "before", "sort"]
    return {n: v for n in names if (v := page.input_value(f"#filter-{n}"))}


def test_filters_are_kept_in_the_address(server, keys, person, page, watcher: Watcher) -> None:
    ids = _seed(server, keys)
    sign_in(page, server, person)
    wait_until(page, f"{CARDS} === 12")
    assert _query(page) == {}
    page.evaluate("window.__screen = document.querySelector('#grid')")  # to see whether the screen is rebuilt

    # Each choice is written to the address as it is made.
    page.select_option("#filter-orientation", "portrait")
    wait_until(page, f"{CARDS} === 3")
    assert _query(page) == {"orientation": "portrait"}
    page.select_option("#filter-category", "product")
    page.select_option("#filter-tag", ids["tag"][0])
    wait_until(page, f"{CARDS} === 2")
    assert _query(page) == {"orientation": "portrait", "category": "product", "tag": ids["tag"][0]}
    page.select_option("#filter-sort", "title")
    page.fill("#filter-q", "洗衣")  # typed: written after the pause, with the non-ASCII text encoded
    wait_until(page, "location.hash.includes('q=')")
    wanted = {"q": "洗衣", "orientation": "portrait", "category": "product", "tag": ids["tag"][0], "sort": "title"}
    assert _query(page) == wanted and "%E6%B4%97" in page.evaluate("location.hash")
    page.fill("#filter-q", "洗衣液")  # more typing replaces that entry rather than adding one
    wait_until(page, "location.hash.includes('q=%E6%B4%97%E8%A1%A3%E6%B6%B2')")
    wanted["q"] = "洗衣液"
    wait_until(page, f"{CARDS} === 2")
    assert page.evaluate("window.__screen === document.querySelector('#grid')")

    # A reload shows the same cards with the same controls set.
    page.reload()
    wait_until(page, f"{CARDS} === 2")
    assert _query(page) == wanted and _controls(page) == wanted
    assert sorted(page.eval_on_selector_all("#grid .card", "cs => cs.map(c => c.dataset.id)")) == sorted(
        ids["portrait"][:2]
    )

    # Back and forward step through the choices in place (the screen is not built again).
    page.evaluate("window.__screen = document.querySelector('#grid')")
    page.go_back()  # before "洗衣液" was typed (the two searches were one entry): the sort only
    wait_until(page, "!location.hash.includes('q=')")
    wait_until(page, f"{CARDS} === 2 && document.querySelector('#filter-q').value === ''")
    assert _controls(page) == {k: v for k, v in wanted.items() if k != "q"}
    for _ in range(3):
        page.go_back()  # past the tag and the category
    wait_until(page, f"{CARDS} === 3")
    assert _query(page) == {"orientation": "portrait"} and _controls(page) == {"orientation": "portrait"}
    assert page.locator("#filter-tag option").count() > 1  # every tag offered again, none chosen
    page.go_forward()
    page.go_forward()
    wait_until(page, f"{CARDS} === 2 && document.querySelector('#filter-tag').value === '{ids['tag'][0]}'")
    assert _controls(page)["category"] == "product"
    assert page.evaluate("window.__screen === document.querySelector('#grid')")

    # Clearing the filters is a step too; dates, duration and status are kept like the rest.
    page.select_option("#filter-category", "")
    page.select_option("#filter-orientation", "")
    page.fill("#filter-q", "")
    page.select_option("#filter-sort", "")
    wait_until(page, f"{CARDS} === 12 && !location.hash.includes('?')")
    today = page.evaluate("import('/static/js/i18n.js').then(m => m.today())")
    page.select_option("#filter-duration", "short")
    page.fill("#filter-after", today)
    wait_until(page, f"{CARDS} === 2")
    assert _query(page) == {"duration": "short", "after": today}
    page.select_option("#filter-duration", "")
    page.select_option("#filter-status", "failed")
    wait_until(page, f"{CARDS} === 1")
    page.fill("#filter-before", "2020-01-01")
    page.wait_for_selector("#library-empty")
    assert _query(page) == {"status": "failed", "after": today, "before": "2020-01-01"}
    page.click("#library-empty button")  # 清除筛选
    wait_until(page, f"{CARDS} === 12 && !location.hash.includes('?')")
    page.go_back()
    page.wait_for_selector("#library-empty")
    assert _controls(page) == {"status": "failed", "after": today, "before": "2020-01-01"}

    # Leaving for another screen and coming back keeps the filters (the screen is built again from them).
    page.go_back()
    wait_until(page, f"{CARDS} === 1")
    page.evaluate("location.hash = '#/jobs'")
    wait_until(page, "document.querySelector('#screen').dataset.screen === 'jobs'")
    page.go_back()
    wait_until(page, f"document.querySelector('#screen').dataset.screen === 'library' && {CARDS} === 1")
    assert _controls(page) == {"status": "failed", "after": today}
    watcher.check_translated(page)
    watcher.assert_clean()


def test_a_shared_link_shows_the_same_filtered_cards(server, keys, person, browser, watcher: Watcher) -> None:
    ids = _seed(server, keys)
    link = f"{server.url}/#/library?kind=derived&duration=short&q=%E5%88%87%E7%89%87"
    # Someone signed out opens it: after signing in, they land on the filtered library.
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 1280, "height": 860})
    try:
        page = context.new_page()
        watcher.attach(page)
        page.goto(link)
        page.wait_for_selector("#username")
        page.fill("#username", person["username"])
        page.fill("#password", PASSWORD)
        page.click("form.signin button[type=submit]")
        wait_until(page, f"{CARDS} === 2")
        assert _query(page) == {"kind": "derived", "duration": "short", "q": "切片"}
        assert _controls(page) == {"kind": "derived", "duration": "short", "q": "切片"}
        assert sorted(page.eval_on_selector_all("#grid .card", "cs => cs.map(c => c.dataset.id)")) == sorted(
            ids["short"]
        )
        # Opened again in another tab of the same browser (signed in): straight to the same cards.
        other = context.new_page()
        watcher.attach(other)
        other.goto(link)
        wait_until(other, f"{CARDS} === 2")
        assert _controls(other) == {"kind": "derived", "duration": "short", "q": "切片"}
        # The order is part of the address too.
        other.goto(f"{server.url}/#/library?orientation=portrait&sort=title")
        wait_until(other, f"{CARDS} === 3")
        titles = other.eval_on_selector_all("#grid .card .title", "ts => ts.map(t => t.textContent)")
        assert titles == sorted(titles)
        watcher.check_translated(other)
    finally:
        context.close()
    watcher.assert_clean()


def test_the_plain_address_is_the_unfiltered_library(server, keys, person, page, watcher: Watcher) -> None:
    """`#/library` (the header's link) is the unfiltered library: going there from a filtered one clears the
    filters in place."""
    _seed(server, keys)
    sign_in(page, server, person)
    wait_until(page, f"{CARDS} === 12")
    page.select_option("#filter-kind", "derived")
    wait_until(page, f"{CARDS} === 2")
    page.evaluate("window.__screen = document.querySelector('#grid')")
    page.evaluate("location.hash = '#/library'")
    wait_until(page, f"{CARDS} === 12")
    assert _controls(page) == {} and page.evaluate("window.__screen === document.querySelector('#grid')")
    watcher.assert_clean()
