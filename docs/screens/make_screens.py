"""Screenshots of the web app's screens in zh-CN, in en and at a phone's width, for the README.

    .venv/bin/python docs/screens/make_screens.py          # writes docs/screens/*.png
    .venv/bin/python docs/screens/make_screens.py performance   # only the screens named

Starts reelhouse on a fresh data directory (SQLite, local storage), adds a person and a few materials
(the sample recordings in ../shared/media when present, else clips made with ffmpeg), then signs in with
Debian's Chromium (Playwright; no browser download) and photographs each screen. Needs `chromium`
(apt-get install -y chromium fonts-noto-cjk).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent
MEDIA = REPO.parent / "shared" / "media"
PASSWORD = "直播剪辑-2026!"
SIZES = {"zh-CN": ("zh-CN", {"width": 1280, "height": 860}), "en": ("en", {"width": 1280, "height": 860}),
         "phone": ("zh-CN", {"width": 390, "height": 844})}
sys.path.insert(0, str(REPO))


def clip(work: Path, name: str, size: str, seconds: float, seed: int) -> Path:
    from tests.conftest import make_clip

    return make_clip(work / name, size=size, seconds=seconds, seed=seed)


def seed(url: str, key: str, work: Path) -> dict[str, str]:
    auth = {"Authorization": f"Bearer {key}"}
    files = [
        ("双11直播 洗衣凝珠 功能演示", MEDIA / "flower_cc0_h264_aac_960x540.mp4", ["活动:双11", "产品:洗衣凝珠", "内容类型:功能演示"]),
        ("达人口播 竖屏", MEDIA / "phone_android_portrait_4k60_h264_aac_rot90.mp4", ["产品:洗衣液", "风格:口播"]),
        ("门店实拍 横屏", MEDIA / "gopro_max_landscape_h264_aac_gpmf.mp4", ["产品:洗衣液", "内容类型:实拍"]),
        ("开箱 慢动作", MEDIA / "android_slowmo_h264_noaudio.mp4", ["风格:开箱"]),
    ]
    ids: dict[str, str] = {}
    for i, (title, path, tags) in enumerate(files):
        if not path.exists():
            path = clip(work, f"{i}.mp4", "240x426" if "竖屏" in title else "640x360", 4 + i, i)
        res = httpx.post(f"{url}/api/v1/materials", params={"title": title, "tag": tags}, content=path.read_bytes(),
                         headers={**auth, "Content-Type": "application/octet-stream"}, timeout=300)
        if res.status_code >= 400:  # e.g. a probe that timed out on a busy machine: a made clip stands in
            print(f"{path.name}: {res.status_code} {res.text}; using a generated clip")
            path = clip(work, f"{i}.mp4", "240x426" if "竖屏" in title else "640x360", 4 + i, i)
            res = httpx.post(f"{url}/api/v1/materials", params={"title": title, "tag": tags}, content=path.read_bytes(),
                             headers={**auth, "Content-Type": "application/octet-stream"}, timeout=300)
        res.raise_for_status()
        ids[title] = res.json()["id"]
    source = ids["双11直播 洗衣凝珠 功能演示"]
    # Posters and contact sheets, made here as the quick queue's worker would after each upload.
    from workers.catalogue import make_previews_task

    for material_id in ids.values():
        make_previews_task.run(material_id)
    # A rendition for Douyin, recorded as a render would (the row; it plays its parent's file).
    from backend.catalogue.models import Material, MaterialKind, MaterialStatus, MediaType, Orientation
    from backend.db import session_scope

    with session_scope() as s:
        parent = s.get(Material, uuid.UUID(source))
        assert parent is not None
        child = Material(title="双11 洗衣凝珠 抖音 9:16", media_type=MediaType.video, kind=MaterialKind.derived,
                         status=MaterialStatus.ready, size_bytes=parent.size_bytes, storage_key=parent.storage_key,
                         content_type="video/mp4", duration_s=parent.duration_s, display_width=1080, display_height=1920,
                         orientation=Orientation.portrait, aspect_ratio=9 / 16, has_audio=True, parent_id=parent.id,
                         preset_id="douyin.feed_9x16", poster_key=parent.poster_key)
        s.add(child)
        s.flush()
        ids["child"] = str(child.id)
    account = httpx.post(f"{url}/api/v1/accounts", json={"platform_id": "douyin", "name": "洁净官方旗舰店"}, headers=auth).json()
    pub = httpx.post(f"{url}/api/v1/publications", headers=auth, json={
        "material_id": ids["child"], "account_id": account["id"], "channel_id": "video", "platform_post_id": "7441234567890"})
    if pub.status_code != 201:
        print("publication not recorded:", pub.text)
    ids["source"] = source
    ids["douyin_account"] = account["id"]
    ids["tmall"] = seed_store(url, auth, ids)
    seed_proposals(source)
    # The editor shows the proxy's thumbnails and waveform: make the recording's proxy here, as a worker would.
    from workers.proxies import make_proxy

    print("proxy of the recording:", make_proxy(source))
    seed_settings(url, auth, ids["tmall"])
    return ids


def edit_a_clip(page: Any, url: str, key: str, source: str, language: str) -> None:
    """The clip editor with two ranges (the first from the address, as a proposal opens it; the second
    marked with I and O), three presets (抖音 smart), a title and one dragged keyframe."""
    from tests.web.browser import wait_until

    auth = {"Authorization": f"Bearer {key}"}
    d = float(httpx.get(f"{url}/api/v1/materials/{source}", headers=auth).json()["media"]["duration_s"])
    page.goto(f"{url}/#/materials/{source}/edit?in=0&out={round(d * 0.25, 2)}")
    page.wait_for_selector("#editor-timeline[data-thumbs=ready]", timeout=30_000)
    wait_until(page, "document.querySelector('#editor-video').readyState >= 2", 30)
    page.focus("#editor-timeline")
    page.keyboard.press("Home")
    for _ in range(int(d * 0.5 + 0.999)):
        page.keyboard.press("Shift+ArrowRight")
    page.keyboard.press("i")
    for _ in range(max(1, int(d * 0.3))):
        page.keyboard.press("Shift+ArrowRight")
    page.keyboard.press("o")
    for preset in ("douyin.feed_9x16", "xiaohongshu.note_3x4", "tmall.shipai_3x4"):
        page.check(f".preset-row[data-preset='{preset}'] input.choose")
    page.select_option(".preset-row[data-preset='douyin.feed_9x16'] select.fit", "smart")
    page.fill("#editor-title", "双11 洗衣凝珠 限时价" if language == "zh-CN" else "Laundry pods ¥59.9")
    page.focus("#editor-timeline")
    page.keyboard.press("Home")
    for _ in range(max(1, int(d * 0.1))):
        page.keyboard.press("Shift+ArrowRight")
    box = page.locator("#editor-crop").bounding_box()
    if box:
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x - box["width"] * 0.4, y, steps=4)
        page.mouse.up()
    # The chosen presets' group at the top of its list, the page at its top (the header is sticky).
    page.evaluate("document.querySelector('#editor-presets').scrollTop = 0; window.scrollTo(0, 0)")
    page.wait_for_timeout(800)


PERF_HEADER = "作品ID,作品名称,发布时间,播放量,点赞数,评论数,分享数,成交金额(元)"
PERF_CLIPS = [  # (title, parent, post id, views, likes, comments, shares, GMV) as Douyin's export writes them
    ("双11 洗衣凝珠 卖点 抖音版", "双11直播 洗衣凝珠 功能演示", "7441234567891", "5.2万", "1,204", "98", "40", "¥12,560.50"),
    ("洗衣凝珠 功能演示 抖音版", "双11直播 洗衣凝珠 功能演示", "7441234567892", "3.1万", "860", "45", "12", "¥4,388"),
    ("达人口播 洗衣液 抖音版", "达人口播 竖屏", "7441234567893", "1.8万", "512", "61", "9", "0"),
    ("门店实拍 洗衣液 抖音版", "门店实拍 横屏", "7441234567894", "9,450", "233", "12", "3", "-"),
]


def perf_export(rows: list[str]) -> bytes:
    """A Douyin 作品数据 export as Chinese Excel saves it: GB18030, CRLF."""
    return ("\r\n".join([PERF_HEADER, *rows]) + "\r\n").encode("gb18030")


def seed_performance(url: str, key: str, ids: dict[str, str]) -> bytes:
    """Douyin cuts of the recordings and their posts, this month's export imported through the API (the
    leaderboard), and a later export with a broken and an unknown row, returned for the preview."""
    from sqlmodel import select

    from backend.catalogue.models import Material, MaterialKind, MaterialStatus, MaterialTag, MediaType, Orientation
    from backend.db import session_scope

    auth = {"Authorization": f"Bearer {key}"}
    day = time.strftime("%Y/%m/%d", time.localtime(time.time() - 86400))
    clips: list[tuple[str, str]] = []
    with session_scope() as s:
        for title, parent_title, post, *_ in PERF_CLIPS:
            parent = s.get(Material, uuid.UUID(ids[parent_title]))
            assert parent is not None
            clip = Material(title=title, media_type=MediaType.video, kind=MaterialKind.derived, status=MaterialStatus.ready,
                            size_bytes=parent.size_bytes, storage_key=parent.storage_key, content_type="video/mp4",
                            duration_s=min(parent.duration_s or 20.0, 20.0), display_width=1080, display_height=1920,
                            orientation=Orientation.portrait, aspect_ratio=9 / 16, has_audio=True, parent_id=parent.id,
                            preset_id="douyin.feed_9x16", poster_key=parent.poster_key)
            s.add(clip)
            s.flush()
            for tag in s.exec(select(MaterialTag).where(MaterialTag.material_id == parent.id)).all():
                s.add(MaterialTag(material_id=clip.id, tag_id=tag.tag_id))
            clips.append((str(clip.id), post))
    for material_id, post in clips:
        res = httpx.post(f"{url}/api/v1/publications", headers=auth, json={
            "material_id": material_id, "account_id": ids["douyin_account"], "channel_id": "video", "platform_post_id": post})
        if res.status_code != 201:
            print("publication not recorded:", res.text)
    first = [f"7441234567890,双11 洗衣凝珠 抖音 9:16,{day} 20:00,8.6万,\"2,310\",186,95,\"¥23,808\""]
    first += [f"{post},{title},{day} 21:00,\"{v}\",\"{lk}\",{c},{sh},\"{g}\"" for title, _, post, v, lk, c, sh, g in PERF_CLIPS]
    res = httpx.post(f"{url}/api/v1/metrics/imports", headers={**auth, "Content-Type": "text/csv"}, content=perf_export(first),
                     params={"platform": "douyin", "filename": "抖音作品数据.csv"}, timeout=120)
    res.raise_for_status()
    later = [row.replace("8.6万", "9.1万").replace("5.2万", "5.6万") for row in first]
    later.insert(3, f"7441234567895,洗衣液 对比实验,{day} 22:00,12..5,88,7,1,-")
    later.append(f"7441234567999,没有记录的作品,{day} 23:00,3200,41,2,0,-")
    later.append("合计,,,,,,,")
    return perf_export(later)


def seed_store(url: str, auth: dict[str, str], ids: dict[str, str]) -> str:
    """A T-mall store with 视频 and 实拍 open, a clip approved and one rejected (history, with their dates),
    for the publishing screen."""
    from datetime import UTC, datetime, timedelta

    api = httpx.Client(base_url=f"{url}/api/v1", headers=auth, timeout=60)
    store = api.post("/accounts", json={"platform_id": "tmall", "name": "洁净天猫旗舰店"}).json()["id"]
    now = datetime.now(UTC)
    last_month = (now.replace(day=1) - timedelta(days=1)).replace(day=1).date().isoformat()
    api.post(f"/accounts/{store}/channels/video/opening", json={"opened_on": last_month})
    api.patch(f"/accounts/{store}/channels/shipai", json={"manual_state": "open", "manual_effective_on": last_month,
                                                          "manual_reason": "后台已开通"})
    day = now - timedelta(days=1)
    for title, status, extra in (("达人口播 竖屏", "approved", {"approved_at": (day + timedelta(hours=6)).isoformat()}),
                                 ("开箱 慢动作", "rejected", {"rejected_at": (day + timedelta(hours=5)).isoformat(),
                                                         "rejection_reason": "画面模糊"})):
        res = api.post("/publications", json={"material_id": ids[title], "account_id": store, "channel_id": "video",
                                              "status": status, "submitted_at": day.isoformat(), **extra})
        if res.status_code != 201:
            print("publication not recorded:", res.text)
    return store


def seed_settings(url: str, auth: dict[str, str], store: str) -> None:
    """For the settings screens: the T-mall store's 实拍 channel asks 8 a month (the platform says 6), an
    automatic re-edit rule, an editor and a viewer, and two API keys (one revoked)."""
    httpx.patch(f"{url}/api/v1/accounts/{store}/channels/shipai", headers=auth,
                json={"monthly_minimum": 8}).raise_for_status()
    httpx.post(f"{url}/api/v1/autoclip/rules", headers=auth, json={
        "name": "洗衣凝珠直播切片 → 抖音/天猫实拍", "match": {"tags": ["产品:洗衣凝珠"]}, "count": 3, "min_s": 15, "max_s": 45,
        "preset_ids": ["douyin.feed_9x16", "tmall.shipai_3x4"], "account_ids": [store]}).raise_for_status()
    httpx.post(f"{url}/api/v1/autoclip/rules", headers=auth, json={
        "name": "口播素材 → 小红书", "enabled": False, "match": {"tags": ["风格:口播"]}, "count": 2, "min_s": 20, "max_s": 60,
        "preset_ids": ["xiaohongshu.note_3x4"]}).raise_for_status()
    for username, name, role in (("xiaowang", "小王", "editor"), ("laoli", "老李", "viewer")):
        httpx.post(f"{url}/api/v1/users", headers=auth, json={"username": username, "display_name": name, "role": role,
                                                                "password": PASSWORD}).raise_for_status()
    httpx.post(f"{url}/api/v1/keys", headers=auth, json={"name": "剪辑组笔记本", "role": "editor"}).raise_for_status()
    old = httpx.post(f"{url}/api/v1/keys", headers=auth, json={"name": "旧的上传脚本", "role": "editor"}).json()
    httpx.delete(f"{url}/api/v1/keys/{old['id']}", headers=auth).raise_for_status()


def photograph_settings(page, url: str, auth: dict[str, str], name: str, shoot) -> None:  # type: ignore[no-untyped-def]
    """The settings sections: accounts with a changed channel rule, rules with a dry run, a preset's sources,
    people, and an API key just issued (its secret shown once; revoked afterwards, so the next run lists it so)."""
    page.goto(f"{url}/#/settings/accounts")
    page.wait_for_selector(".rule-fact.overridden")
    page.evaluate("document.querySelector('#notice').hidden = true")  # the editor's note, seconds ago
    page.wait_for_timeout(300)
    shoot(page, "settings-accounts", name, full_page=True)
    page.goto(f"{url}/#/settings/rules")
    page.wait_for_selector("article.rule .dry-run-rule")
    page.click("article.rule .dry-run-rule >> nth=0")
    page.wait_for_selector("article.rule .dry-run:not([hidden])")
    page.wait_for_timeout(300)
    shoot(page, "settings-rules", name, full_page=True)
    page.goto(f"{url}/#/settings/presets")
    page.wait_for_selector("article.preset[data-preset='douyin.feed_9x16'] summary")
    page.click("article.preset[data-preset='douyin.feed_9x16'] summary")
    page.wait_for_timeout(300)
    shoot(page, "settings-presets", name)
    page.goto(f"{url}/#/settings/users")
    page.wait_for_selector("table.users tbody tr")
    page.wait_for_timeout(300)
    shoot(page, "settings-users", name, full_page=True)
    page.goto(f"{url}/#/settings/keys")
    page.wait_for_selector("#key-create")
    page.fill("#key-name", "报表同步" if name != "en" else "report sync")
    page.click("#key-create button[type=submit]")
    page.wait_for_selector("#key-secret")
    page.wait_for_timeout(300)
    shoot(page, "settings-keys", name, full_page=True)
    issued = [k for k in httpx.get(f"{url}/api/v1/keys", headers=auth).json() if k["revoked_at"] is None]
    httpx.delete(f"{url}/api/v1/keys/{issued[-1]['id']}", headers=auth).raise_for_status()


def seed_proposals(source: str) -> None:
    """Proposals of the recording as the analysis would leave them (their reasons as data), their storyboards,
    and one draft waiting for review, for the proposals screen."""
    from backend.autoclip.models import Analysis, AnalysisStatus, Proposal
    from backend.catalogue import tags as tag_service
    from backend.catalogue.models import Material, MaterialKind, MaterialStatus, MediaType, Orientation, ReviewState
    from backend.db import session_scope
    from workers.autoclip import make_storyboards

    with session_scope() as s:
        parent = s.get(Material, uuid.UUID(source))
        assert parent is not None and parent.duration_s
        d = parent.duration_s
        product = tag_service.ensure_tag(s, category="product", name_en="Laundry pods", name_zh="洗衣凝珠")
        analysis = Analysis(material_id=parent.id, version=1, status=AnalysisStatus.succeeded,
                            signals={"version": 1, "duration": d})
        s.add(analysis)
        s.flush()
        reason = lambda code, zh, en, at: {"code": code, "text_zh": zh, "text_en": en, "start": at, "end": at + 1, "value": None}  # noqa: E731
        s.add_all([
            Proposal(analysis_id=analysis.id, material_id=parent.id, type="offer", product_tag_id=product.id,
                     start_s=0.0, end_s=round(d * 0.3, 1), score=0.92,
                     reasons=[reason("price_on_screen", "画面出现价格 ¥59.9", "price on screen ¥59.9", 0.5),
                              reason("selling_cue", "主播说“今天下单立减 20”", "the host says “20 off today”", 1.0)]),
            Proposal(analysis_id=analysis.id, material_id=parent.id, type="demo", product_tag_id=product.id,
                     start_s=round(d * 0.35, 1), end_s=round(d * 0.65, 1), score=0.74,
                     reasons=[reason("product_on_screen", "商品在画面中", "the product is on screen", round(d * 0.4, 1))]),
            Proposal(analysis_id=analysis.id, material_id=parent.id, type="qa", start_s=round(d * 0.7, 1),
                     end_s=round(d * 0.98, 1), score=0.41,
                     reasons=[reason("question", "观众提问：敏感肌能用吗", "a viewer asks: is it fine for sensitive skin", round(d * 0.72, 1))]),
        ])
        draft = Material(title="双11 洗衣凝珠 优惠讲解 抖音 9:16", media_type=MediaType.video, kind=MaterialKind.derived,
                         status=MaterialStatus.ready, size_bytes=parent.size_bytes, storage_key=parent.storage_key,
                         content_type="video/mp4", duration_s=round(d * 0.3, 1), display_width=1080, display_height=1920,
                         orientation=Orientation.portrait, aspect_ratio=9 / 16, has_audio=True,
                         parent_id=parent.id, preset_id="douyin.feed_9x16", poster_key=parent.poster_key,
                         review_state=ReviewState.draft)
        s.add(draft)
    make_storyboards(uuid.UUID(source))


def free_port() -> int:
    """A port nothing listens on (several copies of this script may run side by side)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_app(port: int) -> Iterator[tuple[str, str, Path]]:
    """reelhouse on a fresh data directory (SQLite, local storage) with one admin person, 小美: yields the
    server's URL, an admin API key for seeding, and a scratch folder; everything is removed afterwards."""
    work = Path(tempfile.mkdtemp(prefix="reelhouse-screens-"))
    env = {**os.environ, "REELHOUSE_DATA_DIR": str(work / "data"), "REELHOUSE_STORAGE_BACKEND": "local",
           "PYTHONPATH": str(REPO)}
    env.pop("REELHOUSE_DATABASE_URL", None)
    os.environ.update(env)
    from backend.auth.models import Role
    from backend.auth.service import create_api_key
    from backend.auth.users import create_user
    from backend.db import session_scope
    from backend.migrations import upgrade

    (work / "data").mkdir()
    upgrade(f"sqlite:///{work / 'data' / 'reelhouse.db'}")
    with session_scope() as s:
        create_user(s, username="xiaomei", password=PASSWORD, role=Role.admin, display_name="小美")
        key = create_api_key(s, name="screens", role=Role.admin).token
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "backend.app:create_app", "--factory", "--port", str(port),
                               "--log-level", "warning"], cwd=REPO, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        yield url, key, work
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    from playwright.sync_api import sync_playwright

    wanted = set(sys.argv[1:])  # screen names to photograph; none: all of them
    def shoot(page, screen: str, name: str, **options) -> None:  # type: ignore[no-untyped-def]
        if not wanted or screen in wanted:
            page.screenshot(path=str(OUT / f"{screen}-{name}.png"), **options)

    with running_app(free_port()) as (url, key, work):
        ids = seed(url, key, work)
        preview = seed_performance(url, key, ids)
        chromium = shutil.which("chromium") or "/usr/bin/chromium"
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            for name, (language, viewport) in SIZES.items():
                context = browser.new_context(locale=language, timezone_id="Asia/Shanghai", viewport=viewport,
                                              device_scale_factor=1)
                page = context.new_page()
                page.goto(url + "/")
                if language == "en":
                    page.select_option("#language", "en")
                page.wait_for_selector("#username")
                shoot(page, "signin", name)
                page.fill("#username", "xiaomei")
                page.fill("#password", PASSWORD)
                page.click("form.signin button[type=submit]")
                page.wait_for_selector(".card img")
                if language == "en":
                    page.select_option("#language", "en")
                    page.wait_for_selector("h1:has-text('Library')")
                else:
                    page.select_option("#language", "zh-CN")
                    page.wait_for_selector("h1:has-text('素材库')")
                page.wait_for_timeout(800)
                shoot(page, "library", name)
                page.goto(f"{url}/#/upload")
                page.wait_for_selector("#dropzone")
                extra = [p for p in (MEDIA / "flower_cc0_vp8_vorbis.webm", MEDIA / "truncated_gopro_no_moov.mp4",
                                     MEDIA / "phone_android_landscape_h264_aac_320x240.mp4") if p.exists()]
                if extra and (not wanted or "upload" in wanted):
                    page.set_input_files("#upload-files", [str(p) for p in extra])
                    page.fill("#upload-tags", "活动:双11")
                    page.keyboard.press("Enter")
                    page.click("#upload-start")
                    page.wait_for_selector(".upload-row[data-state=failed]", timeout=120_000)
                    page.wait_for_timeout(1500)
                shoot(page, "upload", name)
                page.goto(f"{url}/#/materials/{ids['source']}")
                page.wait_for_selector("#publications table, #publications-empty")
                page.wait_for_timeout(800)
                shoot(page, "material", name, full_page=True)
                page.goto(f"{url}/#/proposals")
                page.wait_for_selector(".proposal-card")
                for _ in range(100):  # (wait_for_function evaluates a string, which the page's CSP forbids)
                    if page.evaluate("[...document.querySelectorAll('img.storyboard')].every(i => i.complete)"):
                        break
                    page.wait_for_timeout(100)
                page.wait_for_timeout(500)
                shoot(page, "proposals", name, full_page=True)
                # Publishing: a landscape clip about to go to T-mall 实拍 (3:4 only), warned before it is recorded.
                page.goto(f"{url}/#/publishing?material={ids['门店实拍 横屏']}&account={ids['tmall']}")
                page.wait_for_selector("#pub-material-title")
                page.select_option("#pub-channel", "shipai")
                page.wait_for_selector("#pub-check[data-verdict=warning]")
                page.wait_for_selector("#pub-table")
                page.wait_for_timeout(500)
                shoot(page, "publishing", name, full_page=True)
                page.goto(f"{url}/#/performance")
                page.wait_for_selector("#perf-table a.material-link")
                page.set_input_files("#perf-file", files=[{"name": "抖音作品数据.csv", "mimeType": "text/csv", "buffer": preview}])
                page.click("#perf-preview-button")
                page.wait_for_selector("#perf-rows tbody tr")
                page.wait_for_selector("#perf-chart canvas")
                page.evaluate("window.scrollTo(0, 0)")  # the preview scrolled itself into view
                page.wait_for_timeout(800)
                shoot(page, "performance", name, full_page=True)
                if not wanted or "editor" in wanted:
                    edit_a_clip(page, url, key, ids["source"], language)
                    shoot(page, "editor", name)  # the viewport: player, timeline, ranges, presets
                photograph_settings(page, url, {"Authorization": f"Bearer {key}"}, name, shoot)
                context.close()
            browser.close()
    print("screens written to", OUT)


if __name__ == "__main__":
    main()
