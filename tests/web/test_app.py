"""The web app in a real Chromium, walked as a team member would: sign in (and a wrong password), switch the
language, upload several files over tus with a connection cut mid-upload (resumed from the server's
offset) and after a page reload, read why a file was refused or was already there, browse the library
(filters, bulk tagging, infinite scroll), open a material (facts in words, lineage, renditions). Each test
fails on any console error, failed request, error answer it did not cause on purpose, or message key
shown untranslated (tests/web/browser.py)."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Keys, make_clip
from tests.web.browser import Watcher, wait_until
from tests.web.conftest import sign_in
from tests.web.seed import upload

pytestmark = pytest.mark.timeout(240)
XSS_TITLE = '<img src=x onerror="window.__xss=1">双11直播'
XSS_CHILD = '<script>window.__xss=2</script><b onmouseover="window.__xss=3">子片段</b>'
CHUNK = 5 * 1024 * 1024  # the app's tus chunk size (static/js/screens/upload.js)


def big_clip(tmp_path: Path) -> Path:
    """A real video of about 9 MB (noise does not compress): two PATCHes of the app's 5 MiB chunks."""
    path = make_clip(tmp_path / "直播切片_大.mp4", seconds=3, size="640x360",
                     extra=["-vf", "noise=alls=100:allf=t", "-b:v", "24M", "-maxrate", "24M", "-bufsize", "4M"])
    assert path.stat().st_size > CHUNK + 1024 * 1024, path.stat().st_size
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def api_materials(server: Any, keys: Keys, **params: Any) -> list[dict[str, Any]]:
    return httpx.get(f"{server.url}/api/v1/materials", params=params, headers=Keys.auth(keys.editor), timeout=60).json()["items"]


def test_sign_in_language_and_sign_out(server, person, page, watcher: Watcher) -> None:
    page.goto(server.url + "/")
    page.wait_for_selector("#username")
    assert page.text_content("h1") == "登录" and page.title() == "reelhouse · 素材库"
    watcher.check_translated(page)

    watcher.expect("POST", r"/api/v1/session$", 401)
    page.fill("#username", "xiaomei")
    page.fill("#password", "wrong password")
    page.click("form.signin button[type=submit]")
    page.wait_for_selector("#signin-error:not([hidden])")
    assert page.text_content("#signin-error") == "用户名或密码不对，或者账号已停用。"

    page.fill("#password", person["password"])
    page.click("form.signin button[type=submit]")
    page.wait_for_selector("#library-empty")
    assert page.text_content("#who") == "小美"
    assert "素材库还是空的" in page.inner_text("#library-empty")
    watcher.check_translated(page)
    # The session cookie is HttpOnly: no script can read it.
    assert "reelhouse_session" not in page.evaluate("document.cookie")
    assert page.context.cookies()[0]["httpOnly"] is True and page.context.cookies()[0]["sameSite"] == "Lax"

    # English, remembered on the person (it follows them to another browser).
    page.select_option("#language", "en")
    page.wait_for_selector("h1:has-text('Library')")
    assert page.text_content("#library-empty h2") == "The library is empty"
    page.reload()
    page.wait_for_selector("h1:has-text('Library')")
    watcher.check_translated(page)

    page.click("#sign-out")
    page.wait_for_selector("#username")
    assert page.context.cookies() == []
    watcher.assert_clean()


def test_a_new_language_redraws_a_screen_that_follows_its_address(server, person, page, watcher: Watcher) -> None:
    """The library keeps its filters in the address and updates itself in place on back/forward; a language
    change must still draw it again, every text in the new language."""
    from backend.catalogue.models import Material, MaterialKind, MaterialStatus, MediaType
    from backend.db import session_scope

    with session_scope() as s:
        s.add(Material(title="双11 直播片段", media_type=MediaType.audio, kind=MaterialKind.source, status=MaterialStatus.ready,
                       size_bytes=1, storage_key=f"materials/{uuid.uuid4()}/o.m4a", content_type="audio/mp4"))
    sign_in(page, server, person)
    page.wait_for_selector(".card")
    page.select_option("#language", "en")
    page.wait_for_selector("h1:has-text('Library')")
    assert page.locator(".card .placeholder").inner_text() == "Audio"
    watcher.check_translated(page)
    watcher.assert_clean()


def test_upload_over_tus_with_a_cut_duplicates_and_refusals(server, keys, person, page, watcher: Watcher, tmp_path: Path) -> None:
    big = big_clip(tmp_path)
    small = make_clip(tmp_path / "已有的片段.mp4", seed=3)
    junk = tmp_path / "会议纪要.mp4"
    junk.write_bytes("这不是视频，只是一段文字。\n".encode() * 200)
    # The small clip is in the library already (uploaded by a script with a key).
    with small.open("rb") as f:
        first = httpx.post(f"{server.url}/api/v1/materials", params={"title": "早先上传的片段"}, content=f.read(),
                           headers={**Keys.auth(keys.editor), "Content-Type": "application/octet-stream"}, timeout=120)
    assert first.status_code == 201

    patches: list[str] = []
    cut: list[str] = []

    def cut_the_second_patch(route: Any) -> None:
        request = route.request
        if request.method == "PATCH" and request.headers.get("upload-offset") == str(CHUNK) and not cut:
            cut.append(request.url)  # the big file's second chunk: the connection drops
            route.abort("connectionreset")
            return
        if request.method == "PATCH":
            patches.append(f"{request.headers.get('upload-offset')}")
        route.continue_()

    page.route("**/api/v1/uploads/*", cut_the_second_patch)
    heads: list[str] = []
    page.on("request", lambda r: heads.append(r.url) if r.method == "HEAD" else None)
    watcher.expect("PATCH", r"/api/v1/uploads/", "cut")
    watcher.expect("PATCH", r"/api/v1/uploads/", 422)  # the junk file, refused at ingest

    sign_in(page, server, person)
    page.click("nav a[href='#/upload']")
    page.wait_for_selector("#upload-empty")
    watcher.check_translated(page)
    page.set_input_files("#upload-files", [str(big), str(small), str(junk)])
    page.wait_for_selector(".upload-row >> nth=2")
    page.fill(".upload-row[data-name='直播切片_大.mp4'] .title-input", "双11 直播切片")
    page.fill("#upload-tags", "活动:双11")
    page.keyboard.press("Enter")
    page.click("#upload-start")
    wait_until(page, "[...document.querySelectorAll('.upload-row')].every(r => ['done', 'duplicate', 'failed'].includes(r.dataset.state))", 90)
    watcher.check_translated(page)
    rows = {r.get_attribute("data-name"): r for r in page.query_selector_all(".upload-row")}
    assert rows["直播切片_大.mp4"].get_attribute("data-state") == "done"
    assert rows["已有的片段.mp4"].get_attribute("data-state") == "duplicate"
    assert "素材库里已经有这个文件" in rows["已有的片段.mp4"].inner_text()
    assert "早先上传的片段" in rows["已有的片段.mp4"].inner_text()
    assert rows["会议纪要.mp4"].get_attribute("data-state") == "failed"
    assert rows["会议纪要.mp4"].get_attribute("data-problem") == "/problems/media-unrecognised"
    assert "不是能识别的视频、音频或图片" in rows["会议纪要.mp4"].inner_text()

    # The cut chunk was resent from the offset the server reported (HEAD), not from the start.
    assert cut and any(url == cut[0] for url in heads)
    assert patches == ["0", str(CHUNK), "0", "0"]  # one file after another; the big one's cut chunk once more
    made = api_materials(server, keys, q="双11 直播切片")
    assert len(made) == 1 and made[0]["sha256"] == sha256(big) and made[0]["media"]["duration_s"] == pytest.approx(3, abs=0.1)
    assert [(t["category"], t["name_zh"]) for t in made[0]["tags"]] == [("campaign", "双11")]

    # The finished row links to its material.
    rows["直播切片_大.mp4"].query_selector("a").click()
    page.wait_for_selector("#facts")
    assert page.text_content("#material-title") == "双11 直播切片"
    watcher.assert_clean()


def test_an_upload_resumes_after_a_page_reload(server, keys, person, page, watcher: Watcher, tmp_path: Path) -> None:
    big = big_clip(tmp_path)
    held: list[Any] = []
    reloaded = False

    def hold_the_second_chunk(route: Any) -> None:
        # Every PATCH past the first chunk waits until the page is reloaded (a retry of the held one
        # too), so the server never gets the rest from the old page and the new one must resume.
        if route.request.method == "PATCH" and route.request.headers.get("upload-offset") != "0" and not reloaded:
            held.append(route)  # never answered: the reload cancels it
            watcher.expect("PATCH", r"/api/v1/uploads/", "cut")
            return
        route.continue_()

    page.route("**/api/v1/uploads/*", hold_the_second_chunk)
    # Until the server has seen the reloaded page's connection go, it still holds the upload's writer
    # lock: 423, which tus-js-client retries (as it should).
    watcher.tolerate("PATCH", r"/api/v1/uploads/", 423)
    sign_in(page, server, person)
    page.goto(server.url + "/#/upload")
    page.wait_for_selector("#upload-empty")
    page.set_input_files("#upload-files", str(big))
    page.click("#upload-start")
    wait_until(page, "document.querySelector('.upload-row progress').value > 50")
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(100)
    assert held
    page.reload()
    reloaded = True

    page.wait_for_selector("#upload-unfinished li")  # the app names the unfinished upload
    assert "直播切片_大.mp4" in page.inner_text("#upload-unfinished")
    watcher.check_translated(page)
    resumed_from: list[str] = []
    page.on("request", lambda r: resumed_from.append(r.headers.get("upload-offset", "")) if r.method == "PATCH" else None)
    page.set_input_files("#upload-files", str(big))
    page.click("#upload-start")
    page.wait_for_selector(".upload-row[data-state=done]", timeout=60_000)
    assert "已续传完成" in page.inner_text(".upload-row")
    # From the server's offset: at least the first chunk, more when a retry of the held chunk got part of
    # its body through before the reload (the server keeps what arrived); never from the start.
    assert resumed_from and min(int(o) for o in resumed_from) >= CHUNK, f"resumed from {resumed_from}: not from the start"
    made = api_materials(server, keys)
    assert len(made) == 1 and made[0]["sha256"] == sha256(big)
    watcher.assert_clean()


def _seed_library(server: Any, keys: Keys, tmp_path: Path) -> dict[str, str]:
    """Two real clips (landscape, portrait) uploaded by a script, a derived child of the first made for
    Douyin, and 42 bare catalogue rows so the grid has a second page."""
    from backend.catalogue.models import Material, MaterialKind, MaterialStatus, MediaType, Orientation
    from backend.db import session_scope

    ids = {}
    for name, size, title in [("landscape", "320x240", XSS_TITLE), ("portrait", "240x426", "竖屏口播 洗衣液")]:
        clip = make_clip(tmp_path / f"{name}.mp4", size=size, seed=len(ids) + 7)
        ids[name] = upload(server, keys.editor, clip, title=title, tag="产品:洗衣液")
    with session_scope() as s:
        parent = s.get(Material, uuid.UUID(ids["landscape"]))
        assert parent is not None
        child = Material(  # plays its parent's file: the player needs bytes, the test needs the row
            title=XSS_CHILD, media_type=MediaType.video, kind=MaterialKind.derived, status=MaterialStatus.ready,
            size_bytes=parent.size_bytes, storage_key=parent.storage_key, content_type="video/mp4", duration_s=2.0,
            display_width=1080, display_height=1920, orientation=Orientation.portrait, aspect_ratio=9 / 16,
            parent_id=uuid.UUID(ids["landscape"]), preset_id="douyin.feed_9x16",
        )
        s.add(child)
        for i in range(42):
            s.add(Material(title=f"往期直播 {i:02d}", media_type=MediaType.video, kind=MaterialKind.source,
                           status=MaterialStatus.ready, size_bytes=1, storage_key=f"materials/{uuid.uuid4()}/o.mp4",
                           duration_s=600.0 + i, display_width=1920, display_height=1080,
                           orientation=Orientation.landscape, aspect_ratio=16 / 9))
        s.flush()
        ids["child"] = str(child.id)
    return ids


def test_library_and_material(server, keys, person, page, watcher: Watcher, tmp_path: Path) -> None:
    ids = _seed_library(server, keys, tmp_path)
    # The second page is held until the test has counted the first: on a tall window the scroll sentinel
    # can be in view as soon as the first page is drawn, and the page would be fetched before the count.
    held: list[Any] = []

    def second_page(url: str) -> bool:
        return "/api/v1/materials?" in url and "cursor=" in url

    page.route(second_page, lambda route: held.append(route))
    sign_in(page, server, person)
    page.wait_for_selector(".card")
    assert page.locator(".card").count() == 40  # the first page
    assert "向下滚动加载更多" in page.text_content("#library-count")
    page.locator("#more").scroll_into_view_if_needed()
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(100)
    for route in held:
        route.continue_()
    page.unroute(second_page)
    wait_until(page, "document.querySelectorAll('.card').length === 45")
    assert page.text_content("#library-count") == "共 45 个素材"
    watcher.check_translated(page)

    # Titles are text, never markup; portrait clips are shown portrait; the rendition has its platform badge.
    assert page.evaluate("window.__xss") is None and page.locator("#grid script, #grid b, img[src='x']").count() == 0
    portrait = page.locator(f".card[data-id='{ids['portrait']}'] .thumb").bounding_box()
    landscape = page.locator(f".card[data-id='{ids['landscape']}'] .thumb").bounding_box()
    assert portrait["height"] > portrait["width"] and landscape["height"] < landscape["width"]
    assert page.text_content(f".card[data-id='{ids['child']}'] .badge.platform") == "抖音"
    assert page.text_content(f".card[data-id='{ids['portrait']}'] .duration") == "0:02"

    # Hovering a poster plays a short preview (the proxy when there is one, else the file); leaving stops it.
    thumb = f".card[data-id='{ids['portrait']}'] .thumb"
    page.hover(thumb)
    wait_until(page, f"!!document.querySelector(\"{thumb} video.preview\")")
    assert page.get_attribute(f"{thumb} video.preview", "src") == f"/api/v1/materials/{ids['portrait']}/file"
    page.mouse.move(5, 5)
    wait_until(page, f"!document.querySelector(\"{thumb} video.preview\")")

    # Filters: orientation, kind, text.
    page.select_option("#filter-orientation", "portrait")
    wait_until(page, "document.querySelectorAll('.card').length === 2")
    page.select_option("#filter-kind", "derived")
    wait_until(page, "document.querySelectorAll('.card').length === 1")
    page.select_option("#filter-orientation", "")
    page.select_option("#filter-kind", "")
    page.fill("#filter-q", "没有这样的素材")
    page.wait_for_selector("#library-empty")
    assert "没有符合条件的素材" in page.inner_text("#library-empty")
    page.click("#library-empty button")  # 清除筛选
    wait_until(page, "document.querySelectorAll('.card').length === 40")
    assert page.input_value("#filter-q") == ""
    page.fill("#filter-q", "口播")
    wait_until(page, "document.querySelectorAll('.card').length === 1")
    page.fill("#filter-q", "")
    # Dates are days in the person's zone (Asia/Shanghai): everything was uploaded today.
    today = page.evaluate("import('/static/js/i18n.js').then(m => m.today())")
    page.fill("#filter-before", "2020-01-01")
    page.wait_for_selector("#library-empty")
    page.fill("#filter-before", "")
    page.fill("#filter-after", today)
    wait_until(page, "document.querySelectorAll('.card').length === 40")
    page.fill("#filter-after", "")
    page.select_option("#filter-category", "product")
    wait_until(page, "document.querySelectorAll('.card').length === 2")

    # Bulk tagging: select both, add a tag (created on the way), then remove it from one.
    for mid in (ids["landscape"], ids["portrait"]):
        page.check(f".card[data-id='{mid}'] input.select")
    assert page.text_content("#bulk strong") == "已选 2 个"
    page.fill("#bulk-tag", "风格:口播")
    page.click("#bulk-add")
    page.wait_for_selector("#notice.info")
    assert "已给 2 个素材添加标签「口播」" in page.text_content("#notice")
    tagged = api_materials(server, keys, category="style")
    assert sorted(m["id"] for m in tagged) == sorted([ids["landscape"], ids["portrait"]])
    page.check(f".card[data-id='{ids['portrait']}'] input.select")
    page.fill("#bulk-tag", "风格:口播")
    page.click("#bulk-remove")
    page.wait_for_selector("#notice:has-text('已从 1 个素材移除标签「口播」')")
    assert [m["id"] for m in api_materials(server, keys, category="style")] == [ids["landscape"]]
    watcher.check_translated(page)

    # The material: player, facts in words, lineage (clickable), renditions with their platform.
    page.click(f".card[data-id='{ids['landscape']}'] a.card-link")
    page.wait_for_selector("#facts")
    assert page.text_content("#material-title") == XSS_TITLE
    assert page.text_content("#facts") == "时长 0:02 · 320×240 横屏 · 有声音"
    assert page.get_attribute("#player", "src") == f"/api/v1/materials/{ids['landscape']}/file"
    assert XSS_CHILD in page.text_content("#lineage")
    assert "抖音" in page.text_content("#renditions")
    page.wait_for_selector("#publications-empty")  # publications load after the rest of the screen
    watcher.check_translated(page)
    page.click(f"#lineage a[href='#/materials/{ids['child']}']")
    page.wait_for_selector("#material-title:has-text('子片段')")
    assert page.text_content("#material-title") == XSS_CHILD
    assert XSS_TITLE in page.text_content("#lineage .lineage-from")
    assert page.text_content("#facts") == "时长 0:02 · 1080×1920 竖屏 · 无声音"
    assert page.inner_text("a.button[download]") == "下载成片"  # a rendition's file is the clip, not an original
    assert page.evaluate("window.__xss") is None
    watcher.assert_clean()


def test_a_material_that_is_gone_says_so_with_a_way_back(server, person, page, watcher: Watcher) -> None:
    sign_in(page, server, person)
    missing = "00000000-0000-0000-0000-000000000000"
    watcher.tolerate("GET", rf"/api/v1/materials/{missing}", 404)
    page.goto(f"{server.url}/#/materials/{missing}")
    page.wait_for_selector("#screen-missing")
    assert page.locator("#screen-missing h2").inner_text() == "找不到这个页面的内容"
    assert page.locator("#screen-missing a").get_attribute("href") == "#/library"
    assert page.locator("#notice").is_hidden()
    page.click("#screen-missing a")
    page.wait_for_selector("h1:has-text('素材库')")
    watcher.check_translated(page)
    watcher.assert_clean()


def test_numbers_money_durations_and_dates_as_the_team_reads_them(server, page, watcher: Watcher) -> None:
    """The browser's Intl in the person's language and timezone (static/js/i18n.js)."""
    page.goto(server.url + "/")
    page.wait_for_selector("#username")
    script = """async ([language, zone]) => {
      const i18n = await import('/static/js/i18n.js');
      await i18n.setLanguage(language, { remember: false });
      i18n.setTimeZone(zone);
      return [i18n.number(12345), i18n.number(9876), i18n.money(23808), i18n.money(19.9), i18n.duration(180),
              i18n.duration(3723), i18n.dateTime('2026-12-07T06:05:00Z'), i18n.label('quota_status', 'at_risk'),
              i18n.zoneName('Asia/Shanghai'), i18n.zoneName('Not/AZone')];
    }"""
    zh = page.evaluate(script, ["zh-CN", "Asia/Shanghai"])
    assert zh[:6] == ["1.2万", "9,876", "¥23,808", "¥19.90", "3:00", "1:02:03"]
    assert "14:05" in zh[6] and "2026" in zh[6] and zh[7] == "有风险"
    assert zh[8] == "中国标准时间（Asia/Shanghai）" and zh[9] == "Not/AZone"  # a store's zone in words, its id beside
    en = page.evaluate(script, ["en", "Europe/Berlin"])
    assert en[:6] == ["12.3K", "9,876", "¥23,808", "¥19.90", "3:00", "1:02:03"]
    assert "7:05" in en[6] and en[7] == "At risk"
    assert en[8] == "China Standard Time (Asia/Shanghai)"
    # A problem without an answer (the network) is said in words, not as an empty status in brackets.
    said = page.evaluate("""async () => {
      const i18n = await import('/static/js/i18n.js');
      await i18n.setLanguage('zh-CN', { remember: false });
      return [i18n.problemText({ status: 0 }), i18n.problemText({ status: 418 }), i18n.problemText(null)];
    }""")
    assert said[0] == said[2] == "出了点问题：请检查网络，刷新页面后再试。" and "418" in said[1]
    watcher.assert_clean()
