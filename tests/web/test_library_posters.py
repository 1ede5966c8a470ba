"""A new upload's poster in the library, in a real Chromium: the worker makes it seconds after the
upload, and the card that showed the placeholder shows the poster once it is there, without a reload."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import frames_do_not_decode, make_clip
from tests.web.browser import Watcher, wait_until
from tests.web.conftest import sign_in
from tests.web.seed import off_the_page_loop, upload

pytestmark = pytest.mark.timeout(240)


def _make_previews(material_id: str) -> bool:
    from workers.catalogue import make_previews_task

    return bool(make_previews_task.run(material_id))


def test_a_pending_poster_replaces_the_placeholder_once_made(server, keys, person, page, watcher: Watcher,
                                                             tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "live.mp4", seconds=2, size="480x270")
    material_id = upload(server, keys.editor, clip, title="双12直播 刚上传")
    sign_in(page, server, person)
    page.goto(f"{server.url}/#/library")
    img = f"#grid .card[data-id='{material_id}'] img"
    page.wait_for_selector(f"{img}[data-pending='true']")
    wait_until(page, f"document.querySelector(\"{img}\").naturalWidth === 640")  # the placeholder, 16:9

    assert off_the_page_loop(_make_previews, material_id) is True  # the quick queue's work
    wait_until(page, f"!document.querySelector(\"{img}\").dataset.pending", timeout_s=30)
    assert "made=" in (page.get_attribute(img, "src") or "")
    wait_until(page, f"document.querySelector(\"{img}\").naturalWidth === 480")  # the frame itself
    watcher.check_translated(page)
    watcher.assert_clean()


def test_a_poster_that_could_not_be_made_is_marked_on_its_card(server, keys, person, page, watcher: Watcher,
                                                               tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:

    clip = make_clip(tmp_path / "live.mp4", seconds=2, size="480x270")
    material_id = upload(server, keys.editor, clip, title="双12直播 画面坏了")
    sign_in(page, server, person)
    page.goto(f"{server.url}/#/library")
    card = f"#grid .card[data-id='{material_id}']"
    page.wait_for_selector(f"{card} img[data-pending='true']")

    frames_do_not_decode(monkeypatch)
    assert off_the_page_loop(_make_previews, material_id) is False
    page.wait_for_selector(f"{card} .badge.previews-failed", timeout=30_000)
    assert page.inner_text(f"{card} .badge.previews-failed") == "无封面"
    assert page.get_attribute(f"{card} img", "data-pending") is None
    assert "made=" not in (page.get_attribute(f"{card} img", "src") or "")  # the placeholder stays
    watcher.check_translated(page)
    watcher.assert_clean()
