"""Screenshots of the quota dashboard, reports and jobs screens in zh-CN, in en and at a phone's width.

    .venv/bin/python docs/screens/make_screens_quota.py    # writes docs/screens/{quota,reports,jobs}-*.png

Like make_screens.py (same start-up: a fresh SQLite data directory, a person, Debian's Chromium), seeded
with two T-mall stores (one with 实拍 open and at risk, one opening it 3/5), a few render jobs (running,
done, failed) and no media files (the rows are enough for these screens).
"""

from __future__ import annotations

import shutil
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from make_screens import OUT, PASSWORD, SIZES, running_app  # the same start-up, person and sizes


def material(s, title: str, *, draft: bool = False, landscape: bool = False) -> str:  # type: ignore[no-untyped-def]
    from backend.catalogue.models import Material, MaterialKind, MaterialStatus, MediaType, Orientation, ReviewState

    w, h = (1920, 1080) if landscape else (1080, 1440)
    row = Material(title=title, media_type=MediaType.video, kind=MaterialKind.derived if draft else MaterialKind.source,
                   status=MaterialStatus.ready, size_bytes=1, storage_key=f"materials/{uuid.uuid4()}/o.mp4",
                   content_type="video/mp4", duration_s=3600.0 if landscape else 28.0, display_width=w, display_height=h,
                   width=w, height=h, orientation=Orientation.landscape if landscape else Orientation.portrait,
                   aspect_ratio=w / h, preset_id="tmall.shipai_3x4" if draft else None,
                   review_state=ReviewState.draft if draft else ReviewState.none)
    s.add(row)
    s.flush()
    return str(row.id)


def seed(url: str, key: str) -> None:
    from backend.db import session_scope
    from backend.renders.models import JobStatus, OutputStatus, RenderJob, RenderOutput

    api = httpx.Client(base_url=f"{url}/api/v1", headers={"Authorization": f"Bearer {key}"}, timeout=60)
    now = datetime.now(UTC)
    last_month = (now.replace(day=1) - timedelta(days=1)).replace(day=1).date().isoformat()
    stores = [api.post("/accounts", json={"platform_id": "tmall", "name": name}).json()["id"] for name in ("洁净官方旗舰店", "洁净母婴专营店")]
    for store in stores:
        api.post(f"/accounts/{store}/channels/video/opening", json={"opened_on": last_month})
    api.patch(f"/accounts/{stores[0]}/channels/shipai", json={"manual_state": "open", "manual_effective_on": last_month,
                                                              "manual_reason": "后台已开通"})
    with session_scope() as s:
        clips = [material(s, f"洗衣凝珠 实拍 {i:02d}") for i in range(5)]
        for title in ("自动剪辑 洗衣凝珠 卖点", "自动剪辑 洗衣液 开箱"):
            material(s, title, draft=True)
        source = material(s, "双11直播回放 12月5日", landscape=True)
        done_clip = material(s, "双11 洗衣凝珠 抖音 9:16", draft=True)
    pubs = [(stores[0], clips[0]), (stores[1], clips[1]), (stores[1], clips[2]), (stores[1], clips[3])]
    for store, clip in pubs:
        api.post("/publications", json={"material_id": clip, "account_id": store, "channel_id": "shipai", "status": "approved",
                                        "submitted_at": (now - timedelta(hours=30)).isoformat(),
                                        "approved_at": (now - timedelta(hours=5)).isoformat()})
    api.post("/publications", json={"material_id": clips[4], "account_id": stores[0], "channel_id": "shipai"})
    with session_scope() as s:
        request = {"ranges": [{"start_s": 600, "end_s": 630}], "presets": ["douyin.feed_9x16", "tmall.shipai_3x4"]}
        running = RenderJob(source_id=uuid.UUID(source), request=request, status=JobStatus.running, progress=0.45, attempts=1)
        done = RenderJob(source_id=uuid.UUID(source), request=request, status=JobStatus.succeeded, progress=1.0, attempts=1)
        failed = RenderJob(source_id=uuid.UUID(source), request=request, status=JobStatus.failed, attempts=3,
                           error_code="source-unreadable", error_detail="moov atom not found")
        s.add_all([running, done, failed])
        s.flush()
        for preset in request["presets"]:
            s.add(RenderOutput(job_id=running.id, preset_id=preset))
        s.add(RenderOutput(job_id=done.id, preset_id="douyin.feed_9x16", status=OutputStatus.succeeded,
                           material_id=uuid.UUID(done_clip), duration_s=30.0, width=1080, height=1920))
        s.add(RenderOutput(job_id=failed.id, preset_id="tmall.shipai_3x4", status=OutputStatus.failed, error_code="source-unreadable"))


def main() -> None:
    from playwright.sync_api import sync_playwright

    with running_app(8932) as (url, key, _work):
        seed(url, key)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=["--no-sandbox"])
            for name, (language, viewport) in SIZES.items():
                context = browser.new_context(locale=language, timezone_id="Asia/Shanghai", viewport=viewport, device_scale_factor=1)
                page = context.new_page()
                page.goto(url + "/")
                page.select_option("#language", language)
                page.wait_for_selector("#username")
                page.fill("#username", "xiaomei")
                page.fill("#password", PASSWORD)
                page.click("form.signin button[type=submit]")
                page.wait_for_selector("#who")
                page.select_option("#language", language)
                for screen, ready in (("quota", ".quota-card .quota-chart svg"), ("reports", "#report-table"),
                                      ("jobs", ".job-card")):
                    page.goto(f"{url}/#/{screen}")
                    page.wait_for_selector(ready)
                    page.wait_for_timeout(800)
                    page.screenshot(path=str(OUT / f"{screen}-{name}.png"), full_page=True)
                context.close()
            browser.close()
    print("screens written to", OUT)


if __name__ == "__main__":
    main()
