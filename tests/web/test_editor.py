"""The clip editor (#/materials/<id>/edit) in a real Chromium, walked as a team member would: open a freshly
uploaded recording (the original plays while the proxy is made, with a note saying so), see the proxy, its
thumbnail strip and waveform arrive, mark two ranges with I and O stepping frame by frame, choose three
presets (grouped by platform, each with its frame and safe zone), add a title previewed inside the frame,
submit ONE render job and watch it finish on the Jobs screen; then read the request through the API. A
second walk drags the smart-reframe window at two moments and nudges one with the keyboard: the keyframes
sent change with it. A third asks for a suggested camera path, refused in words before the footage is
analysed and placed as keyframes after. The proxy and the render run in the test process (no worker), as in
test_proposals.py. Each test fails on any console error, failed request, error answer or message key shown
untranslated (tests/web/browser.py)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Keys, make_clip
from tests.web import seed
from tests.web.browser import Watcher, wait_until
from tests.web.conftest import sign_in

pytestmark = pytest.mark.timeout(300)
PRESETS = ["douyin.feed_9x16", "xiaohongshu.note_3x4", "tmall.shipai_3x4"]
TITLE = "双12 新品首发"
LONG_TITLE = "双12 新品首发 · 限时 ¥59.9 · 前 100 名下单再送同款旅行装"


def upload(server: Any, keys: Keys, path: Path, title: str) -> str:
    return seed.upload(server, keys.editor, path, title=title)


def make_proxy(material_id: str) -> None:
    """What the proxy worker does with the message the upload queued."""
    from workers.proxies import make_proxy as task_body

    assert task_body(material_id) == "ready"


def run_render(job_id: str) -> None:
    """In a thread of its own, as in a worker: this thread runs Playwright's event loop, and the render
    registers its clips through the upload spool, which runs its own (anyio.run refuses a second one)."""
    from workers.renders import execute_render_job

    assert seed.off_the_page_loop(execute_render_job, job_id) == "succeeded"


def jobs_of(server: Any, keys: Keys, source_id: str) -> list[dict[str, Any]]:
    res = httpx.get(
        f"{server.url}/api/v1/jobs", params={"source_id": source_id}, headers=Keys.auth(keys.editor), timeout=30
    )
    assert res.status_code == 200, res.text
    return list(res.json()["items"])


def ranges_on_screen(page: Any) -> list[tuple[float, float]]:
    return [
        (float(li.get_attribute("data-start")), float(li.get_attribute("data-end")))
        for li in page.query_selector_all("#editor-ranges li")
    ]


def press(page: Any, key: str, times: int = 1) -> None:
    for _ in range(times):
        page.keyboard.press(key)


def video_at(page: Any, seconds: float) -> None:
    wait_until(page, f"Math.abs(document.querySelector('#editor-video').currentTime - {seconds}) < 0.001", 5)


def inside(inner: dict[str, float], outer: dict[str, float]) -> bool:
    return (
        inner["x"] >= outer["x"] - 1
        and inner["y"] >= outer["y"] - 1
        and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + 1
        and inner["y"] + inner["height"] <= outer["y"] + outer["height"] + 1
    )


def test_mark_two_ranges_choose_presets_title_and_render_one_job(
    server, keys, person, page, watcher: Watcher, tmp_path: Path
) -> None:
    source = upload(server, keys, make_clip(tmp_path / "直播切片.mp4", seconds=6), "双12 直播切片")
    sign_in(page, server, person)
    page.goto(f"{server.url}/#/materials/{source}")
    page.click("#material-edit")
    page.wait_for_selector("#editor-stage[data-source=original]")
    assert page.text_content("#editor-heading") == "剪辑：双12 直播切片"
    assert "预览版和缩略图正在生成" in page.inner_text("#editor-proxy-note")
    assert page.get_attribute("#editor-timeline", "data-thumbs") == "pending"
    assert "还没有片段" in page.inner_text("#editor-ranges-empty")
    assert page.is_disabled("#editor-submit") and "先用 I 和 O 标出至少一个片段" in page.inner_text("#editor-summary")
    assert page.locator("#editor-view option").all_inner_texts() == ["先勾选上面的输出规格"]  # not an empty list
    watcher.check_translated(page)

    # The proxy is made meanwhile: the player swaps to it, the strip gets its thumbnails and the waveform.
    make_proxy(source)
    page.wait_for_selector("#editor-stage[data-source=proxy]", timeout=20_000)
    wait_until(
        page,
        "document.querySelector('#editor-timeline').dataset.thumbs === 'ready'"
        " && document.querySelector('#editor-timeline').dataset.wave === 'ready'",
    )
    assert page.is_hidden("#editor-proxy-note")
    assert page.get_attribute("#editor-video", "src") == f"/api/v1/materials/{source}/proxy/video.mp4"
    drawn = """(sel) => { const c = document.querySelector(sel); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n / (c.width * c.height); }"""
    assert page.evaluate(drawn, "#editor-timeline canvas.thumbs") > 0.9  # tiles across the whole strip
    assert page.evaluate(drawn, "#editor-timeline canvas.wave") > 0.5  # a steady sine, scaled to its peak: a thick band
    wait_until(page, "document.querySelector('#editor-video').readyState >= 1")

    # Two ranges with the keyboard: I at 0, 25 frames on with '.', O; one second on twice with Shift+→, a
    # frame back and forth with the arrows and ',' / '.', I at 2 s, O at 4 s.
    page.focus("#editor-timeline")
    press(page, "Home")
    press(page, "i")
    assert "入点已标记在 0:00.00" in page.inner_text("#editor-pending")
    press(page, "o")  # an out point on the in point is refused in words
    page.wait_for_selector("#notice.error:has-text('出点要在入点之后')")
    press(page, ".", 25)
    video_at(page, 1.0)
    press(page, "o")
    assert ranges_on_screen(page) == [(0.0, 1.0)]
    press(page, "Shift+ArrowRight")
    press(page, "ArrowLeft")
    press(page, "ArrowRight", 2)
    press(page, ",")
    video_at(page, 2.0)
    assert page.text_content("#editor-time").startswith("0:02.00 / 0:06")
    press(page, "I")
    press(page, "Shift+ArrowRight", 2)
    press(page, "o")
    assert ranges_on_screen(page) == [(0.0, 1.0), (2.0, 4.0)]
    assert page.locator("#editor-timeline .range-block").count() == 2
    assert "片段 2：0:02.00 – 0:04.00" in page.inner_text("#editor-ranges")
    # A third, overlapping one is refused; removing one and marking it again works from the keyboard too.
    press(page, "ArrowLeft", 25)
    press(page, "i")
    press(page, "Shift+ArrowRight", 2)
    press(page, "o")
    page.wait_for_selector("#notice.error:has-text('重叠')")
    assert len(ranges_on_screen(page)) == 2
    # One more from 5 s to the end, then removed from the keyboard: Enter on its × (focus moves to the next ×).
    press(page, "i")
    press(page, "End")
    press(page, "o")
    assert ranges_on_screen(page)[2][0] == 5.0
    page.focus("#editor-ranges li:nth-child(3) .remove")
    press(page, "Enter")
    assert ranges_on_screen(page) == [(0.0, 1.0), (2.0, 4.0)]
    assert page.evaluate("document.activeElement.matches('#editor-ranges li:nth-child(2) .remove')")
    page.focus("#editor-timeline")

    # Presets, grouped by platform with their Chinese names; each has a picture of its frame.
    assert page.text_content("fieldset[data-platform=douyin] legend") == "抖音"
    assert page.text_content("fieldset[data-platform=xiaohongshu] legend") == "小红书"
    assert "天猫" in page.text_content("fieldset[data-platform=tmall] legend")
    assert "实拍视频 3:4" in page.inner_text(".preset-row[data-preset='tmall.shipai_3x4']")
    pic = page.locator(".preset-row[data-preset='douyin.feed_9x16'] .frame-pic").bounding_box()
    assert pic["height"] > pic["width"] * 1.6
    for preset in PRESETS:
        page.check(f".preset-row[data-preset='{preset}'] input.choose")
    assert "共 2 个片段，合计 0:03，输出 3 个规格" in page.inner_text("#editor-summary")

    # The title, previewed inside the frame of the preset shown (抖音 9:16: a tall window in the 4:3 picture);
    # one wider than the frame is centred and loses both ends, as the renderer draws it, and is said to.
    page.fill("#editor-title", LONG_TITLE)
    page.wait_for_selector("#editor-title-warning:has-text('两头会被切掉')")
    frame = page.locator("#editor-frame").bounding_box()
    stage = page.locator("#editor-stage").bounding_box()
    assert frame["height"] == pytest.approx(stage["height"], abs=2) and frame["width"] == pytest.approx(
        stage["height"] * 9 / 16, abs=3
    )
    wide = page.locator("#editor-title-preview").bounding_box()
    assert wide["x"] < frame["x"] and wide["x"] + wide["width"] > frame["x"] + frame["width"]
    assert wide["x"] + wide["width"] / 2 == pytest.approx(frame["x"] + frame["width"] / 2, abs=2)
    page.fill("#editor-title", TITLE)
    assert page.text_content("#editor-title-preview") == TITLE
    assert page.is_hidden("#editor-title-warning")
    assert inside(page.locator("#editor-title-preview").bounding_box(), frame)
    page.select_option("#editor-view", "xiaohongshu.note_3x4")
    frame = page.locator("#editor-frame").bounding_box()
    assert frame["width"] == pytest.approx(stage["height"] * 3 / 4, abs=3)
    # Padded instead of cropped: the whole picture is in the frame, and the screen says the backdrop fills the rest.
    page.select_option(".preset-row[data-preset='xiaohongshu.note_3x4'] select.fit", "pad")
    page.wait_for_selector("#editor-pad-note:has-text('模糊的原画面')")
    assert page.locator("#editor-frame").bounding_box()["width"] == pytest.approx(stage["width"], abs=2)
    page.select_option(".preset-row[data-preset='xiaohongshu.note_3x4'] select.fit", "crop")
    assert page.is_hidden("#editor-pad-note")
    watcher.check_translated(page)

    page.click("#editor-submit")
    page.wait_for_selector(".job-card")
    assert page.evaluate("location.hash") == "#/jobs"
    (job,) = jobs_of(server, keys, source)
    request = job["request"]
    assert request["ranges"] == [{"start": 0.0, "end": 1.0}, {"start": 2.0, "end": 4.0}]
    assert request["presets"] == PRESETS
    assert request["title"] == {"text": TITLE, "position": "top", "start": None, "end": None}
    assert request["fit"] == {} and request["crop_path"] is None

    card = f".job-card[data-job='{job['id']}']"
    page.wait_for_selector(card)
    run_render(job["id"])
    page.wait_for_selector(f"{card}[data-status=succeeded]", timeout=20_000)
    assert page.locator(f"{card} .rendition.r-succeeded").count() == 3
    assert page.text_content(f"{card} .job-source") == "双12 直播切片"
    watcher.check_translated(page)
    watcher.assert_clean()


def test_dragging_the_smart_reframe_window_changes_the_keyframes_sent(
    server, keys, person, page, watcher: Watcher, tmp_path: Path
) -> None:
    source = upload(server, keys, make_clip(tmp_path / "口播.mp4", seconds=4, seed=5), "口播 竖屏裁切")
    make_proxy(source)
    sign_in(page, server, person)
    # As a proposal opens it: its in and out in the address.
    page.goto(f"{server.url}/#/materials/{source}/edit?in=0&out=3")
    page.wait_for_selector("#editor-stage[data-source=proxy]")
    wait_until(page, "document.querySelector('#editor-video').readyState >= 1")
    assert ranges_on_screen(page) == [(0.0, 3.0)]
    page.check(".preset-row[data-preset='douyin.feed_9x16'] input.choose")
    assert page.is_hidden("#editor-crop") and page.is_hidden("#editor-reframe")
    page.select_option(".preset-row[data-preset='douyin.feed_9x16'] select.fit", "smart")
    page.wait_for_selector("#editor-crop")
    assert "还没有关键帧" in page.inner_text("#editor-keys-empty")
    assert page.is_enabled("#editor-suggest")

    def drag_window(dx: float) -> None:
        box = page.locator("#editor-crop").bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + dx / 2, y, steps=3)
        page.mouse.move(x + dx, y, steps=3)
        page.mouse.up()

    def keys_on_screen() -> list[tuple[float, float]]:
        return [
            (float(li.get_attribute("data-t")), float(li.get_attribute("data-x")))
            for li in page.query_selector_all("#editor-keys li")
        ]

    # 9:16 out of 4:3: the window is 0.421875 of the width, so its centre stays within 0.211 .. 0.789.
    page.focus("#editor-timeline")
    press(page, "Shift+ArrowRight")
    video_at(page, 1.0)
    drag_window(-400)
    assert keys_on_screen() == [(1.0, 0.211)]
    stage = page.locator("#editor-stage").bounding_box()
    crop = page.locator("#editor-crop").bounding_box()
    assert crop["x"] == pytest.approx(stage["x"], abs=2)  # drawn at the left edge
    assert page.locator("#editor-timeline .key-mark").count() == 1
    page.focus("#editor-timeline")
    press(page, "Shift+ArrowRight")
    video_at(page, 2.0)
    drag_window(600)
    assert keys_on_screen() == [(1.0, 0.211), (2.0, 0.789)]
    # Between two keys the window is where the renderer puts it: half way at 1.5 s.
    press(page, "ArrowLeft", 13)  # 1.48 s
    crop = page.locator("#editor-crop").bounding_box()
    assert crop["x"] + crop["width"] / 2 == pytest.approx(stage["x"] + stage["width"] * (0.211 + 0.578 * 0.48), abs=3)
    # Back to 1 s: the arrow keys on the focused window move that key (no new one).
    press(page, "ArrowLeft", 12)
    video_at(page, 1.0)
    page.focus("#editor-crop")
    press(page, "ArrowRight")
    assert keys_on_screen() == [(1.0, 0.231), (2.0, 0.789)]
    # Outside every range a drag is refused in words.
    page.focus("#editor-timeline")
    press(page, "End")
    drag_window(100)
    page.wait_for_selector("#notice.error:has-text('播放头不在任何片段里')")
    assert len(keys_on_screen()) == 2

    # The work survives a language switch (the screen is drawn again).
    page.select_option("#language", "en")
    page.wait_for_selector("#editor-heading:has-text('Edit: 口播 竖屏裁切')")
    assert keys_on_screen() == [(1.0, 0.231), (2.0, 0.789)]
    assert page.input_value(".preset-row[data-preset='douyin.feed_9x16'] select.fit") == "smart"
    assert "Smart reframe" in page.inner_text("#editor-reframe")
    watcher.check_translated(page)

    page.click("#editor-submit")
    page.wait_for_selector(".job-card")
    (job,) = jobs_of(server, keys, source)
    request = job["request"]
    assert request["ranges"] == [{"start": 0.0, "end": 3.0}] and request["presets"] == ["douyin.feed_9x16"]
    assert request["fit"] == {"douyin.feed_9x16": "smart"} and request["title"] is None
    assert [(k["t"], k["x"], k["y"], k["scale"], k["pad"]) for k in request["crop_path"]] == [
        (1.0, 0.231, 0.5, 1.0, False),
        (2.0, 0.789, 0.5, 1.0, False),
    ]
    run_render(job["id"])
    page.wait_for_selector(f".job-card[data-job='{job['id']}'][data-status=succeeded]", timeout=20_000)
    watcher.check_translated(page)
    watcher.assert_clean()


def test_an_image_or_a_material_in_processing_says_why_it_cannot_be_edited(
    server, person, page, watcher: Watcher
) -> None:
    from backend.catalogue.models import Material, MaterialKind, MaterialStatus, MediaType
    from backend.db import session_scope

    with session_scope() as s:
        image = Material(
            title="海报",
            media_type=MediaType.image,
            kind=MaterialKind.source,
            status=MaterialStatus.ready,
            size_bytes=1,
            storage_key=f"materials/{uuid.uuid4()}/o.jpg",
            content_type="image/jpeg",
            display_width=750,
            display_height=1000,
        )
        busy = Material(
            title="刚上传的直播",
            media_type=MediaType.video,
            kind=MaterialKind.source,
            status=MaterialStatus.processing,
            size_bytes=1,
            storage_key=f"materials/{uuid.uuid4()}/o.mp4",
            content_type="video/mp4",
        )
        s.add_all([image, busy])
        s.flush()
        ids = {"image": str(image.id), "busy": str(busy.id)}
    sign_in(page, server, person)
    page.goto(f"{server.url}/#/materials/{ids['image']}/edit")
    page.wait_for_selector("#editor-not-video")
    assert "只有视频可以剪辑" in page.inner_text("#editor-not-video")
    assert page.get_attribute("#editor-not-video a", "href") == f"#/materials/{ids['image']}"
    page.goto(f"{server.url}/#/materials/{ids['busy']}/edit")
    page.wait_for_selector("#editor-not-ready")
    assert "素材还在处理中" in page.inner_text("#editor-not-ready")
    watcher.check_translated(page)
    watcher.assert_clean()


def test_a_suggested_camera_path_fills_the_keyframes(
    server, keys, person, page, watcher: Watcher, tmp_path: Path
) -> None:
    """Generated host footage (a face that walks, a shot change at 11.3 s), analysed as the worker would:
    before the analysis the button's refusal is said in words; after it, the suggested path (timed on the
    output) becomes keyframes on the source's timeline, and goes out unchanged as the render's crop path."""
    from backend.autoclip.models import Analysis, AnalysisStatus
    from backend.db import session_scope
    from tests.workers.media.reframe_footage import make_subject_footage
    from workers.media.analysis import ANALYSIS_VERSION
    from workers.media.analysis.pipeline import AnalysisOptions, analyse_recording

    footage = make_subject_footage(tmp_path / "host.mp4")
    source = upload(server, keys, footage.path, "直播回放 主播走位")
    make_proxy(source)
    sign_in(page, server, person)
    page.goto(f"{server.url}/#/materials/{source}/edit?in=9&out=17")
    page.wait_for_selector("#editor-stage[data-source=proxy]")
    page.check(".preset-row[data-preset='douyin.feed_9x16'] input.choose")
    page.select_option(".preset-row[data-preset='douyin.feed_9x16'] select.fit", "smart")

    watcher.expect("POST", rf"/api/v1/materials/{source}/reframe$", 409)
    page.click("#editor-suggest")
    page.wait_for_selector("#notice.error:has-text('还没有分析完成')")
    assert page.locator("#editor-keys li").count() == 0

    signals = analyse_recording(footage.path, options=AnalysisOptions(ocr=False)).model_dump(mode="json")
    with session_scope() as s:
        s.add(Analysis(material_id=uuid.UUID(source), version=1, analyser_version=ANALYSIS_VERSION,
                       status=AnalysisStatus.succeeded, progress=1.0, signals=signals))  # fmt: skip
    body = {"preset": "douyin.feed_9x16", "ranges": [{"start": 9, "end": 17}]}
    res = httpx.post(
        f"{server.url}/api/v1/materials/{source}/reframe", json=body, headers=Keys.auth(keys.editor), timeout=60
    )
    assert res.status_code == 200, res.text
    suggested = res.json()["crop_path"]

    page.click("#editor-suggest")
    page.wait_for_selector(f"#notice.info:has-text('已按分析结果放上 {len(suggested)} 个关键帧')")
    shown = [
        (float(li.get_attribute("data-t")), float(li.get_attribute("data-x")))
        for li in page.query_selector_all("#editor-keys li")
    ]
    assert len(shown) == len(suggested) and shown[0][0] == 9.0  # output 0 s is source 9 s
    assert all(9.0 <= t <= 17.0 for t, _ in shown)
    assert [x for _, x in shown] == [k["x"] for k in suggested]
    watcher.check_translated(page)

    page.click("#editor-submit")
    page.wait_for_selector(".job-card")
    (job,) = jobs_of(server, keys, source)
    sent = job["request"]["crop_path"]
    assert [k["x"] for k in sent] == [k["x"] for k in suggested]
    assert [k["t"] for k in sent] == pytest.approx([k["t"] for k in suggested], abs=0.002)
    watcher.assert_clean()
