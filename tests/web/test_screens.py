"""The quota dashboard and the reports, in a real Chromium, walked as a team member would: a T-mall store
whose 视频 channel is open and whose 实拍 channel has 1 of its 6 approvals this month sees it at risk with
a chart and the draft that could fill the gap; a second approval moves it to 2/6; the same in English and
at a phone's width; the monthly report on the page and its XLSX/CSV downloads (plain links with the
session cookie), and the metrics exports. Each test fails on any console error, failed request, error
answer, or message key shown untranslated (tests/web/browser.py)."""

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
from tests.web.seed import api_client, catalogue_row, publish, tmall_store

pytestmark = pytest.mark.timeout(240)


def _material(session: Any, title: str, *, draft: bool = False) -> str:
    if draft:  # an automatic re-edit for 实拍, waiting for review
        return catalogue_row(session, title, kind="derived", preset_id="tmall.shipai_3x4", review_state="draft")
    return catalogue_row(session, title)


def _seed_store(server: Any, keys: Keys) -> dict[str, str]:
    """A T-mall store: 视频 opened last month, 实拍 opened by hand, one 实拍 approval this month, a second
    clip ready to submit and an automatic re-edit draft that fits 实拍."""
    from backend.db import session_scope

    api = api_client(server, keys.admin)
    account = tmall_store(api)
    now = datetime.now(UTC)
    with session_scope() as s:
        first, second = _material(s, "洗衣液 实拍 01"), _material(s, "洗衣液 实拍 02")
        draft = _material(s, "自动剪辑 洗衣液 卖点", draft=True)
    publish(api, first, account, "shipai", status="approved", submitted_at=(now - timedelta(hours=3)).isoformat(),
            approved_at=(now - timedelta(hours=1)).isoformat())
    return {"account": account, "second": second, "draft": draft}


def _shipai(page: Any) -> Any:
    return page.locator('.quota-card[data-channel="shipai"]')


def test_quota_dashboard_moves_and_reports_download(server, keys, person, page, watcher: Watcher, tmp_path: Path) -> None:
    ids = _seed_store(server, keys)
    sign_in(page, server, person)
    page.click('nav a[href="#/quota"]')
    page.wait_for_selector('.quota-card[data-channel="shipai"]')
    wait_until(page, "document.querySelector('#screen').dataset.charts !== undefined")
    card = _shipai(page)
    assert card.locator('[data-fig="approved"]').inner_text() == "1/6"
    assert card.locator("[data-status]").inner_text() == "有风险"
    assert "已开通" in card.locator(".quota-state").inner_text()
    # At risk first; the chart is drawn; the draft that fits 实拍 is offered with a link to it.
    assert page.locator(".quota-card").first.get_attribute("data-channel") == "shipai"
    assert card.locator(".quota-chart svg").count() == 1
    offered = card.locator(".candidate a")
    assert offered.count() >= 1 and "自动剪辑 洗衣液 卖点" in offered.first.inner_text()
    assert offered.first.get_attribute("href") == f"#/materials/{ids['draft']}"
    video = page.locator('.quota-card[data-channel="video"]')
    assert "已开通（自" in video.locator(".quota-state").inner_text()
    watcher.check_translated(page)

    # A second approval: the dashboard moves from 1/6 to 2/6.
    api = api_client(server, keys.editor)
    second = publish(api, ids["second"], ids["account"], "shipai")
    assert api.post(f"/publications/{second['id']}/approve", json={}).status_code == 200
    page.reload()
    page.wait_for_selector('.quota-card[data-channel="shipai"] .quota-chart svg')
    assert _shipai(page).locator('[data-fig="approved"]').inner_text() == "2/6"
    assert _shipai(page).locator('[data-fig="pending"]').inner_text() == "0"

    # English.
    page.select_option("#language", "en")
    page.wait_for_selector("text=Channel quotas")
    page.wait_for_selector('.quota-card[data-channel="shipai"] .quota-chart svg')
    assert _shipai(page).locator("[data-status]").inner_text() in ("At risk", "On track")
    assert "Open since" in page.locator('.quota-card[data-channel="video"] .quota-state').inner_text()
    watcher.check_translated(page)
    page.select_option("#language", "zh-CN")
    page.wait_for_selector("text=本月配额进度")

    # Reports: the month on the page, then the downloads as a person clicks them.
    page.click('nav a[href="#/reports"]')
    page.wait_for_selector('#report-table tr[data-channel="shipai"]')
    row = page.locator('#report-table tr[data-channel="shipai"]').inner_text()
    assert "2/6" in row and "洗护旗舰店" in row
    assert page.locator("#report-table tbody tr").first.get_attribute("data-channel") == "shipai"  # at risk first
    month = page.input_value("#report-month")  # the month as the team writes it, not "2026-12"
    assert page.locator("h2", has_text="配额月报").inner_text() == f"{int(month[:4])}年{int(month[5:])}月配额月报"
    with page.expect_download() as got:
        page.click("#report-xlsx")
    xlsx = Path(got.value.path()).read_bytes()
    with zipfile.ZipFile(io.BytesIO(xlsx)) as z:
        assert "xl/workbook.xml" in z.namelist()
    assert got.value.suggested_filename.endswith(".xlsx")
    with page.expect_download() as got:
        page.click("#report-csv")
    csv = Path(got.value.path()).read_bytes().decode("utf-8-sig")
    assert "洗护旗舰店" in csv and "实拍" in csv
    page.select_option("#metrics-by", "platform")
    with page.expect_download() as got:
        page.click("#metrics-xlsx")
    with zipfile.ZipFile(io.BytesIO(Path(got.value.path()).read_bytes())) as z:
        assert "xl/workbook.xml" in z.namelist()
    assert "by=platform" in page.locator("#metrics-csv").get_attribute("href")
    watcher.check_translated(page)

    # A phone's width: one column, nothing wider than the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(server.url + "/#/quota")
    page.wait_for_selector('.quota-card[data-channel="shipai"] .quota-chart svg')
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    watcher.assert_clean()


def test_empty_dashboard_and_report_say_what_to_do(server, person, page, watcher: Watcher) -> None:
    sign_in(page, server, person)
    page.goto(server.url + "/#/quota")
    page.wait_for_selector("#quota-empty")
    assert page.locator("#quota-empty h2").inner_text() == "还没有店铺账号"
    assert page.locator("#quota-empty a").get_attribute("href") == "#/settings/accounts"
    page.goto(server.url + "/#/reports")
    page.wait_for_selector("#reports-empty")
    assert page.locator("#reports-empty a").get_attribute("href") == "#/quota"
    assert page.locator("#report-xlsx").count() == 1
    watcher.check_translated(page)
    watcher.assert_clean()


def _seed_jobs() -> dict[str, str]:
    """A recording with three render jobs: one running (two renditions waiting), one done (its clip in the
    library), one failed because the source could not be read."""
    from backend.db import session_scope
    from backend.renders.models import JobStatus, OutputStatus, RenderJob, RenderOutput

    with session_scope() as s:
        source = _material(s, "双11 直播回放")
        clip = _material(s, "双11 卖点 抖音版", draft=True)
        presets = ["douyin.feed_9x16", "tmall.shipai_3x4"]
        request = {"ranges": [{"start_s": 10, "end_s": 40}], "presets": presets}
        running = RenderJob(source_id=uuid.UUID(source), request=request, status=JobStatus.running, progress=0.4, attempts=1)
        done = RenderJob(source_id=uuid.UUID(source), request=request, status=JobStatus.succeeded, progress=1.0, attempts=1)
        failed = RenderJob(source_id=uuid.UUID(source), request=request, status=JobStatus.failed, attempts=3,
                           error_code="source-unreadable", error_detail="moov atom not found")
        s.add_all([running, done, failed])
        s.flush()
        for preset in presets:
            s.add(RenderOutput(job_id=running.id, preset_id=preset))
        s.add(RenderOutput(job_id=done.id, preset_id="douyin.feed_9x16", status=OutputStatus.succeeded,
                           material_id=uuid.UUID(clip), duration_s=30.0, width=1080, height=1920))
        s.add(RenderOutput(job_id=failed.id, preset_id="douyin.feed_9x16", status=OutputStatus.failed,
                           error_code="source-unreadable"))
        s.flush()
        return {"running": str(running.id), "done": str(done.id), "failed": str(failed.id), "clip": clip}


def _set_progress(job_id: str, progress: float) -> None:
    from backend.db import session_scope
    from backend.renders.models import RenderJob

    with session_scope() as s:
        job = s.get(RenderJob, uuid.UUID(job_id))
        assert job is not None
        job.progress = progress
        s.add(job)


def test_jobs_progress_cancel_retry_and_errors_in_words(server, person, page, watcher: Watcher) -> None:
    ids = _seed_jobs()
    sign_in(page, server, person)
    page.click('nav a[href="#/jobs"]')
    page.wait_for_selector(f'.job-card[data-job="{ids["running"]}"]')
    running = page.locator(f'.job-card[data-job="{ids["running"]}"]')
    assert running.locator(".pct").inner_text() == "40%"
    assert running.locator(".rendition").count() == 2
    # The time reads apart from the recording's title (which often ends in a date of its own).
    assert running.locator(".job-created").inner_text().startswith("· 提交于 ")
    # Live progress: the worker moves on, the page follows without a reload.
    _set_progress(ids["running"], 0.8)
    wait_until(page, f"document.querySelector('.job-card[data-job=\"{ids['running']}\"] .pct').textContent === '80%'")
    # Done: the clip links to its material. Failed: the reason in words.
    done = page.locator(f'.job-card[data-job="{ids["done"]}"]')
    assert done.locator(".rendition a").get_attribute("href") == f"#/materials/{ids['clip']}"
    failed = page.locator(f'.job-card[data-job="{ids["failed"]}"]')
    assert "原视频读不出来" in failed.locator("p.job-error").inner_text()
    assert "重新上传原片" in failed.locator("p.job-error").inner_text()
    watcher.check_translated(page)
    # Cancel the running job; retry the failed one.
    running.locator("button.cancel").click()
    page.wait_for_selector(f'.job-card[data-job="{ids["running"]}"][data-status="cancelled"]')
    failed.locator("button.retry").click()
    page.wait_for_selector(f'.job-card[data-job="{ids["failed"]}"][data-status="queued"]')
    assert page.locator(f'.job-card[data-job="{ids["failed"]}"] .job-error').count() == 0
    # The status filter, and English.
    page.select_option("#jobs-status", "succeeded")
    page.wait_for_selector(f'.job-card[data-job="{ids["done"]}"]')
    assert page.locator(".job-card").count() == 1
    page.select_option("#language", "en")
    page.wait_for_selector("text=Render jobs")
    assert page.locator(f'.job-card[data-job="{ids["done"]}"] [data-state]').inner_text() == "Done"
    watcher.check_translated(page)
    page.select_option("#jobs-status", "failed")
    page.wait_for_selector("#jobs-empty-filtered")
    watcher.assert_clean()


def test_no_jobs_says_where_to_start(server, person, page, watcher: Watcher) -> None:
    sign_in(page, server, person)
    page.goto(server.url + "/#/jobs")
    page.wait_for_selector("#jobs-empty")
    assert page.locator("#jobs-empty a").get_attribute("href") == "#/library"
    watcher.check_translated(page)
    watcher.assert_clean()


def test_a_screen_left_before_its_answer_came_writes_nothing_into_the_next(server, keys, person, page, watcher: Watcher) -> None:
    """Someone clicks 配额 and, before the status has come, 任务: the quota screen's late answer must not
    draw its cards under the jobs screen (each address gets a <main> of its own)."""
    _seed_store(server, keys)
    sign_in(page, server, person)
    held: list[Any] = []

    def hold(route: Any) -> None:
        held.append(route)

    page.route("**/api/v1/compliance/status*", hold)
    page.click('nav a[href="#/quota"]')
    wait_until(page, "document.querySelector('#screen').dataset.screen === 'quota'")
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the quota screen asked for the status"
    page.click('nav a[href="#/jobs"]')
    page.wait_for_selector("#screen[data-screen=jobs] h1")
    held[0].continue_()
    page.wait_for_timeout(1500)  # the late answer arrives and the quota screen finishes drawing, out of the page
    assert page.locator("#screen .quota-card").count() == 0
    assert page.locator("#screen h1").count() == 1 and page.locator("main").count() == 1
