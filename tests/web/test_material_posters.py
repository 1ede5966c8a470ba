"""A new upload's poster on its material page and in the clip editor, in a real Chromium: someone who opens
the material right after uploading it sees the placeholder with words saying the poster is coming, and the
poster itself once the worker has made it, without a reload; when no frame decodes, both screens say so in
words (Chinese, and English after switching). The quick queue's work runs in the test process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import frames_do_not_decode, make_clip
from tests.web.browser import Watcher, wait_until
from tests.web.conftest import sign_in
from tests.web.seed import off_the_page_loop, upload

pytestmark = pytest.mark.timeout(240)

# What the browser shows at an <img>/<video poster> address: its width, and whether the server answered
# with its placeholder (the poster not made yet, or never).
SHOWN = """async (url) => {
  const res = await fetch(url, { credentials: "same-origin" });
  const size = await createImageBitmap(await res.blob());
  return { width: size.width, placeholder: res.headers.get("X-Reelhouse-Placeholder") };
}"""


def _uploaded(server: Any, keys: Any, tmp_path: Path) -> str:
    clip = make_clip(tmp_path / "live.mp4", seconds=2, size="480x270")
    return upload(server, keys.editor, clip, title="双12直播 刚上传")


def _poster(page: Any, selector: str) -> str:
    return str(page.get_attribute(selector, "poster") or "")


@pytest.mark.parametrize("screen", ["material", "editor"])
def test_a_pending_poster_is_shown_once_made_without_a_reload(server, keys, person, page, watcher: Watcher,
                                                              tmp_path: Path, make_previews: Callable[[str], bool],
                                                              screen: str) -> None:
    material_id = _uploaded(server, keys, tmp_path)
    sign_in(page, server, person)
    if screen == "material":
        page.goto(f"{server.url}/#/materials/{material_id}")
        video, note = "#player", "#material-previews"
        page.wait_for_selector(f"{note}[data-state='pending']")
        assert "封面正在生成" in page.inner_text(note)
    else:
        page.goto(f"{server.url}/#/materials/{material_id}/edit")
        video, note = "#editor-video", "#editor-previews"
        page.wait_for_selector(f"{note}[data-state='pending']", state="attached")
        assert page.is_hidden(note)  # the proxy's note already says the previews are being made
    shown = page.evaluate(SHOWN, _poster(page, video))
    assert shown == {"width": 640, "placeholder": "previews-pending"}

    assert off_the_page_loop(make_previews, material_id) is True  # the quick queue's work
    wait_until(page, f"document.querySelector('{video}').getAttribute('poster').includes('made=')", timeout_s=30)
    assert page.evaluate(SHOWN, _poster(page, video)) == {"width": 480, "placeholder": None}  # the frame itself
    assert page.get_attribute(note, "data-state") == "made" and page.is_hidden(note)
    watcher.check_translated(page)
    watcher.assert_clean()


@pytest.mark.parametrize("screen", ["material", "editor"])
def test_a_poster_that_could_not_be_made_is_explained_in_both_languages(server, keys, person, page, watcher: Watcher,
                                                                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                        make_previews: Callable[[str], bool],
                                                                        screen: str) -> None:
    material_id = _uploaded(server, keys, tmp_path)
    sign_in(page, server, person)
    path = f"#/materials/{material_id}" + ("/edit" if screen == "editor" else "")
    note = "#material-previews" if screen == "material" else "#editor-previews"
    video = "#player" if screen == "material" else "#editor-video"
    page.goto(f"{server.url}/{path}")
    page.wait_for_selector(f"{note}[data-state='pending']", state="attached")

    frames_do_not_decode(monkeypatch)
    assert off_the_page_loop(make_previews, material_id) is False
    page.wait_for_selector(f"{note}[data-state='failed']", timeout=30_000)
    assert page.is_visible(note)
    assert "封面没能生成" in page.inner_text(note) and "无法解码" in page.inner_text(note)
    assert "made=" not in _poster(page, video)  # the placeholder stays
    watcher.check_translated(page)

    page.select_option("#language", "en")
    page.wait_for_selector(f"{note}[data-state='failed']:has-text('No poster could be made')")
    assert "do not decode" in page.inner_text(note)

    # Opened later (in another tab: a reload here would cut the screen's own requests still on their way),
    # the words are there from the start.
    later = page.context.new_page()
    watcher.attach(later)
    later.goto(f"{server.url}/{path}")
    later.wait_for_selector(f"{note}[data-state='failed']")
    assert "No poster could be made" in later.inner_text(note)
    watcher.check_translated(later)
    watcher.assert_clean()
