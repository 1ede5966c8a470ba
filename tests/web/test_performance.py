"""The performance screen in a real Chromium, walked as a team member would: with nothing imported it says
where the platform exports are; a Douyin export saved by Chinese Excel (GB18030, Chinese headers) is
previewed row by row with each problem in words, nothing written until the import is confirmed; then the
leaderboard by material, tag and platform shows the figures as the team reads them (1.2万, ¥23,808), its
chart is drawn, a material row links to its Material screen, and the leaderboard downloads as CSV and
XLSX by a click. Fails on any console error, failed request, error answer or message key shown
untranslated (tests/web/browser.py)."""

from __future__ import annotations

import io
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Keys
from tests.web.browser import Watcher, wait_until
from tests.web.conftest import sign_in
from tests.web.seed import add_account, add_person, api_client, catalogue_row, publish

pytestmark = pytest.mark.timeout(240)

HEADER = "作品ID,作品名称,发布时间,播放量,点赞数,评论数,分享数,成交金额(元)"
EXPORT_ROWS = [
    '7441000000000000001,双11 洗衣凝珠 卖点,{day} 20:00,1.2万,"3,456",210,88,"¥23,808"',  # line 2
    "7441000000000000002,洗衣液 开箱,{day} 21:00,5000,40,3,1,0",  # line 3
    "7441000000000000003,防晒喷雾 户外实测,{day} 22:00,12..5,20,2,2,500",  # line 4: not a number
    "7449999999999999999,没有记录的作品,{day} 23:00,10,1,1,1,-",  # line 5: no publication
    "合计,,,17010,3497,216,91,23808",  # line 6: the totals row
]
CANVAS_PIXELS = """(() => {
  const c = document.querySelector('#perf-chart canvas');
  if (!c || !c.width || !c.height) return 0;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 3; i < d.length; i += 4) if (d[i]) n++;
  return n;
})()"""


def _material(session: Any, title: str) -> str:
    return catalogue_row(session, title, size=(1080, 1920), kind="derived", preset_id="douyin.feed_9x16")


def _seed(server: Any, keys: Keys) -> dict[str, str]:
    """Three Douyin clips, the first two tagged 活动:双11, and their posts recorded through the API."""
    from backend.catalogue import tags as tag_service
    from backend.catalogue.models import MaterialTag
    from backend.db import session_scope

    with session_scope() as s:
        ids = {
            name: _material(s, title)
            for name, title in (
                ("pods", "双11 洗衣凝珠 卖点"),
                ("liquid", "洗衣液 开箱"),
                ("spray", "防晒喷雾 户外实测"),
            )
        }
        campaign = tag_service.ensure_tag(s, category="campaign", name_en="Singles' Day", name_zh="双11")
        for name in ("pods", "liquid"):
            s.add(MaterialTag(material_id=uuid.UUID(ids[name]), tag_id=campaign.id))
    account = add_account(api_client(server, keys.admin), "douyin", "洁净官方旗舰店")["id"]
    api = api_client(server, keys.editor)
    submitted = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    for n, name in enumerate(("pods", "liquid", "spray"), 1):
        publish(api, ids[name], account, "video", platform_post_id=f"744100000000000000{n}", submitted_at=submitted)
    return ids


def _export() -> bytes:
    day = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y/%m/%d")
    text = "\r\n".join([HEADER, *(row.format(day=day) for row in EXPORT_ROWS)]) + "\r\n"
    return text.encode("gb18030")  # as Chinese Excel saves "CSV (逗号分隔)"


def test_import_preview_confirm_leaderboard_and_downloads(server, keys, person, page, watcher: Watcher) -> None:
    ids = _seed(server, keys)
    api = api_client(server, keys.viewer)
    sign_in(page, server, person)
    page.click('nav a[href="#/performance"]')

    # Nothing imported yet: where the exports are, and how to bring one in.
    page.wait_for_selector("#perf-empty")
    assert page.locator("#perf-empty h2").inner_text() == "还没有导入效果数据"
    how = page.locator(".how-to").inner_text()
    assert "千牛" in how and "巨量百应" in how
    assert "从哪里导出" in page.locator("#perf-where").inner_text()
    assert "totals" not in page.locator("#perf-where").inner_text()  # the export's path only, in the platform's words
    # The store's Douyin account is an option of its own (not an array written out as text).
    assert page.locator("#perf-account option").all_inner_texts() == ["所有账号", "洁净官方旗舰店"]
    assert "object" not in page.locator("#perf-import").inner_text()
    watcher.check_translated(page)

    # The export as downloaded: previewed row by row, nothing written.
    data = _export()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    page.set_input_files("#perf-file", files=[{"name": "作品数据.csv", "mimeType": "text/csv", "buffer": data}])
    page.click("#perf-preview-button")
    page.wait_for_selector("#perf-rows tbody tr")
    lines = page.locator("#perf-rows tbody tr")
    assert [lines.nth(i).get_attribute("data-line") for i in range(lines.count())] == ["2", "3", "4", "5", "6"]
    status = {
        lines.nth(i).get_attribute("data-line"): lines.nth(i).get_attribute("data-status") for i in range(lines.count())
    }
    assert status == {"2": "ready", "3": "ready", "4": "failed", "5": "unmatched", "6": "skipped"}
    bad = page.locator('#perf-rows tr[data-line="4"]')
    assert bad.locator(".problem").inner_text() == "「播放量」一栏的「12..5」不是数字"
    assert bad.locator("[data-result]").inner_text() == "有问题"
    assert "找不到对应的发布记录" in page.locator('#perf-rows tr[data-line="5"] .problem').inner_text()
    assert page.locator('#perf-rows tr[data-line="6"] .problem').inner_text() == "合计行，不是作品"
    first = page.locator('#perf-rows tr[data-line="2"]')
    assert first.locator("a").get_attribute("href") == f"#/materials/{ids['pods']}"
    assert "1.2万" in first.inner_text() and "¥23,808" in first.inner_text()
    assert first.locator("[data-result]").inner_text() == "新增"
    summary = page.locator("#perf-preview-summary").inner_text()
    assert "共 5 行" in summary and "可导入 2 行" in summary and "有问题 1 行" in summary
    assert page.locator("#perf-confirm").inner_text() == "确认导入 2 行"
    page.check("#perf-only-problems")
    assert page.locator("#perf-rows tbody tr").count() == 3
    watcher.check_translated(page)
    assert api.get("/metrics/leaderboard").json() == []  # the preview wrote nothing
    assert all(i["dry_run"] for i in api.get("/metrics/imports").json())

    # Confirmed: the import's result, then the leaderboard with its chart.
    page.click("#perf-confirm")
    page.wait_for_selector("#perf-result:not([hidden])")
    result = page.locator("#perf-result-summary").inner_text()
    assert "新增 2 条" in result and "未匹配 1 行" in result and "有问题 1 行" in result
    page.wait_for_selector("#perf-table tr[data-key] a.material-link")
    top = page.locator("#perf-table tbody tr").first
    assert top.get_attribute("data-key") == ids["pods"]
    assert top.locator("a").get_attribute("href") == f"#/materials/{ids['pods']}"
    assert top.locator('[data-col="views"]').inner_text() == "1.2万"
    assert top.locator('[data-col="gmv"]').inner_text() == "¥23,808"
    assert top.locator('[data-col="likes"]').inner_text() == "3,456"
    wait_until(page, "document.querySelector('#screen').dataset.chart === '2'")
    assert page.locator("#perf-chart canvas").count() >= 1
    assert page.evaluate(CANVAS_PIXELS) > 500  # bars and labels drawn, not a blank canvas
    assert page.locator("#perf-imports-table tbody tr").count() == 1
    imported = [i for i in api.get("/metrics/imports").json() if not i["dry_run"]]
    assert len(imported) == 1 and imported[0]["rows_inserted"] == 2

    # Another metric, other groupings, last month (empty) and back.
    page.select_option("#perf-metric", "comments")
    page.wait_for_selector('#perf-table[data-metric="comments"]')
    assert page.locator("#perf-table th.sorted").inner_text() == "评论"
    page.click('#perf-by button[data-by="tag"]')
    page.wait_for_selector('#perf-table[data-by="tag"]')
    assert page.locator("#perf-table tbody tr").first.locator("td.name").inner_text() == "双11"
    assert page.locator("#perf-table tbody tr").first.locator('[data-col="views"]').inner_text() == "1.7万"
    page.click('#perf-by button[data-by="platform"]')
    page.wait_for_selector('#perf-table[data-by="platform"]')
    assert page.locator("#perf-table tbody tr").first.locator("td.name").inner_text() == "抖音"
    page.select_option("#perf-period", "last_month")
    page.wait_for_selector("#perf-empty-period")
    page.select_option("#perf-period", "custom")  # from the 1st of this month to today
    page.wait_for_selector('#perf-table[data-by="platform"]')
    assert page.locator("#perf-start").input_value().endswith("-01") and "start=" in page.locator(
        "#perf-csv"
    ).get_attribute("href")
    page.select_option("#perf-period", "this_month")
    page.click('#perf-by button[data-by="material"]')
    page.wait_for_selector("#perf-table tr[data-key] a.material-link")
    watcher.check_translated(page)

    # Downloads by a click (plain links, the session cookie authenticates them).
    with page.expect_download() as got:
        page.click("#perf-csv")
    exported = Path(got.value.path()).read_bytes().decode("utf-8-sig")
    assert "双11 洗衣凝珠 卖点" in exported and "12000" in exported
    assert got.value.suggested_filename.endswith(".csv")
    with page.expect_download() as got:
        page.click("#perf-xlsx")
    with zipfile.ZipFile(io.BytesIO(Path(got.value.path()).read_bytes())) as z:
        assert "xl/workbook.xml" in z.namelist()

    # English, then a phone's width.
    page.select_option("#language", "en")
    page.wait_for_selector("text=Leaderboard")
    page.wait_for_selector("#perf-table tr[data-key] a.material-link")
    assert page.locator("#perf-table tbody tr").first.locator('[data-col="views"]').inner_text() == "12K"
    watcher.check_translated(page)
    page.select_option("#language", "zh-CN")
    page.wait_for_selector("text=排行榜")
    page.wait_for_selector("#perf-table tr[data-key] a.material-link")
    wait_until(page, "document.querySelector('#screen').dataset.chart === '2'")  # nothing in flight at the reload
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    page.wait_for_selector("#perf-table tr[data-key] a.material-link")
    wait_until(page, "document.querySelector('#screen').dataset.chart === '2'")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    watcher.assert_clean()


def test_a_file_that_is_not_text_is_refused_in_words(server, person, page, watcher: Watcher) -> None:
    sign_in(page, server, person)
    page.goto(server.url + "/#/performance")
    page.wait_for_selector("#perf-empty")
    page.click("#perf-preview-button")  # no file yet
    assert page.locator("#perf-import-error").inner_text() == "请先选择一个导出文件。"
    broken = ("作品ID,作品名称,播放量\n7441,洗衣凝珠 卖点,1.2万\n" * 20).encode("utf-8") + b"\xff\xfe\xfd\n"
    watcher.expect("POST", r"/api/v1/metrics/imports\?", 422)
    page.set_input_files("#perf-file", files=[{"name": "作品数据.csv", "mimeType": "text/csv", "buffer": broken}])
    page.click("#perf-preview-button")
    page.wait_for_selector("#perf-import-error:has-text('编码')")
    assert page.locator("#perf-import-error").inner_text().startswith("数据文件的编码无法识别")
    assert page.locator("#perf-preview").is_hidden()
    watcher.check_translated(page)
    # A file with nothing to import yet: its one row skipped and said why; nothing to confirm.
    waiting = "作品ID,作品名称,播放量,点赞数\r\n7441,洗衣凝珠 卖点,--,暂无\r\n".encode("gb18030")
    page.set_input_files("#perf-file", files=[{"name": "作品数据.csv", "mimeType": "text/csv", "buffer": waiting}])
    page.click("#perf-preview-button")
    page.wait_for_selector('#perf-rows tr[data-line="2"][data-status="skipped"]')
    assert "平台还没有数据" in page.locator('#perf-rows tr[data-line="2"] .problem').inner_text()
    assert page.locator("#perf-confirm").is_disabled() and page.locator("#perf-failed-note").count() == 0
    watcher.check_translated(page)
    watcher.assert_clean()


def test_a_viewer_sees_the_leaderboard_without_the_import(server, app_env, page, watcher: Watcher) -> None:
    sign_in(page, server, add_person("laowang", "老王", "viewer"))
    page.click('nav a[href="#/performance"]')
    page.wait_for_selector("#perf-empty")
    assert page.locator("#perf-import").count() == 0
    assert "编辑导入" in page.locator("#perf-empty").inner_text() and page.locator("#perf-empty button").count() == 0
    watcher.check_translated(page)
    watcher.assert_clean()


def test_a_large_export_previews_every_problem_row_and_a_sample_a_page_at_a_time(server, keys, person, page,
                                                                                  watcher: Watcher) -> None:
    """1,240 rows, 1,200 of them with problems: the preview counts every row and every problem code, lists
    the file's first 20 lines and every row with a problem, and fetches the rows past the first answer's
    1,000 when the person asks to see them; the answers stay small."""
    from backend.compliance.models import PlatformAccount, Publication, PublicationStatus
    from backend.db import session_scope

    day = (datetime.now(UTC) - timedelta(days=1))
    with session_scope() as s:
        account = PlatformAccount(platform_id="douyin", name="洁净官方旗舰店")
        s.add(account)
        s.flush()
        for n in range(40):
            material = uuid.UUID(_material(s, f"凝珠 卖点 第{n}条"))
            s.add(Publication(material_id=material, account_id=account.id, channel_id="video", submitted_at=day,
                              platform_post_id=f"75100000000000{n:05d}", status=PublicationStatus.approved))
    stamp = day.strftime("%Y/%m/%d")
    rows = [f"75100000000000{n:05d},凝珠 卖点 第{n}条,{stamp} 20:00,{1000 + n},1,1,1,0" for n in range(40)]  # lines 2-41
    for i in range(1200):  # lines 42-1241
        rows.append(f"7529{i:015d},坏行 {i},{stamp} 20:00,12..{i},1,1,1,0" if i % 2 else
                    f"7539{i:015d},没有记录的作品 {i},{stamp} 20:00,{i},1,1,1,0")
    data = ("\r\n".join([HEADER, *rows]) + "\r\n").encode("gb18030")
    sizes: list[int] = []
    page.on("response", lambda r: sizes.append(len(r.body()))
            if r.request.method == "POST" and "/metrics/imports?" in r.url and "dry_run=true" in r.url else None)

    sign_in(page, server, person)
    page.goto(server.url + "/#/performance")
    page.wait_for_selector("#perf-empty")
    page.set_input_files("#perf-file", files=[{"name": "大文件.csv", "mimeType": "text/csv", "buffer": data}])
    page.click("#perf-preview-button")
    page.wait_for_selector("#perf-rows tbody tr")
    summary = page.locator("#perf-preview-summary").inner_text()
    assert "共 1,240 行" in summary and "可导入 40 行" in summary and "未匹配 600 行" in summary, summary
    assert "有问题 600 行" in summary
    assert page.locator('#perf-codes li[data-code="not-a-number"]').inner_text() == "不是数字 600 行"
    assert page.locator('#perf-codes li[data-code="unmatched"]').inner_text() == "未匹配 600 行"
    note = page.locator("#perf-sample-note").inner_text()
    assert "全部 1,200 个有问题的行" in note and "开头 20 个" in note and "其余 20 行" in note, note
    lines = page.locator("#perf-rows tbody tr")
    assert lines.count() == 200
    assert lines.nth(0).get_attribute("data-line") == "2" and lines.nth(19).get_attribute("data-line") == "21"
    assert lines.nth(20).get_attribute("data-line") == "42"  # the ready rows 22-41 are counted, not listed
    assert page.locator("#perf-more").inner_text() == "显示更多（还有 1,020 行）"
    assert page.locator("#perf-confirm").inner_text() == "确认导入 40 行"
    watcher.check_translated(page)

    # Past the first answer's 1,000 rows the next page of the dry run is fetched.
    for shown in (400, 600, 800, 1000, 1200, 1220):
        page.click("#perf-more")
        wait_until(page, f"document.querySelectorAll('#perf-rows tbody tr').length === {shown}")
    assert lines.last.get_attribute("data-line") == "1241" and page.locator("#perf-more").is_hidden()
    assert len(sizes) == 2 and max(sizes) < 1_500_000, sizes

    # Only the rows with a problem.
    page.check("#perf-only-problems")
    assert page.locator("#perf-rows tbody tr").count() == 200
    assert page.locator('#perf-rows tbody tr[data-status="ready"]').count() == 0
    assert page.locator("#perf-more").inner_text() == "显示更多（还有 1,000 行）"

    # Confirmed: the 40 ready rows go in, the unreadable ones are left out.
    page.click("#perf-confirm")
    page.wait_for_selector("#perf-result:not([hidden])")
    result = page.locator("#perf-result-summary").inner_text()
    assert "新增 40 条" in result and "未匹配 600 行" in result and "有问题 600 行" in result, result

    # In English the counts by problem read in English.
    page.select_option("#language", "en")
    page.wait_for_selector("text=Leaderboard")
    page.set_input_files("#perf-file", files=[{"name": "大文件.csv", "mimeType": "text/csv", "buffer": data}])
    page.click("#perf-preview-button")
    page.wait_for_selector('#perf-codes li[data-code="not-a-number"]')
    assert page.locator('#perf-codes li[data-code="not-a-number"]').inner_text() == "Not a number 600 rows"
    assert "all 1,200 rows with a problem" in page.locator("#perf-sample-note").inner_text()
    watcher.check_translated(page)
    watcher.assert_clean()
