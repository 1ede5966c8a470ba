"""The automatic re-edit review screen (#/proposals) walked as a team member would: the empty state says
to upload a recording; a recording's proposals show as storyboard cards (type and product in words,
the reasons as data in Chinese, score, in and out); move a point, reject one, render two as drafts, then
approve one draft and reject the other with a reason, and read it all again in English. Proposals and
storyboards are seeded through the service layer (an analysis would be too slow here); the draft renders
run in the test process (no worker)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Keys, make_clip
from tests.web.browser import Watcher, wait_until
from tests.web.conftest import sign_in
from tests.web.seed import add_person, off_the_page_loop

pytestmark = pytest.mark.timeout(240)

PRICE = [{"code": "price_on_screen", "text_zh": "画面出现价格 ¥59.9", "text_en": "price on screen ¥59.9",
          "start": 1.0, "end": 2.0, "value": "¥59.9"}]
DEMO = [{"code": "selling_cue", "text_zh": "主播在讲解用法", "text_en": "the host shows how it is used",
         "start": 4.0, "end": 5.0, "value": None}]


def seed(path: Path) -> tuple[uuid.UUID, dict[str, uuid.UUID]]:
    return off_the_page_loop(_seed, path)


def _seed(path: Path) -> tuple[uuid.UUID, dict[str, uuid.UUID]]:
    """A ready recording, a finished analysis of it, three proposals without overlaps and their storyboards."""
    from backend.autoclip.models import Analysis, AnalysisStatus, Proposal
    from backend.catalogue import tags as tag_service
    from backend.config import get_settings
    from backend.db import session_scope
    from backend.objectstore import get_storage
    from backend.uploads.service import IngestRequest, ingest_local_file
    from workers.autoclip import make_storyboards

    with session_scope() as session:
        product = tag_service.ensure_tag(session, category="product", name_en="Thermos", name_zh="保温杯")
        source = ingest_local_file(session, get_storage(), get_settings(), path, IngestRequest(title="直播回放 双12")).material
        analysis = Analysis(material_id=source.id, version=1, status=AnalysisStatus.succeeded,
                            signals={"version": 1, "duration": 8.0})  # no speech, shots or text: nothing to snap to
        session.add(analysis)
        session.flush()
        rows = {
            "offer": Proposal(analysis_id=analysis.id, material_id=source.id, type="offer", product_tag_id=product.id,
                              start_s=0.5, end_s=3.0, score=0.92, reasons=PRICE),
            "demo": Proposal(analysis_id=analysis.id, material_id=source.id, type="demo", start_s=3.5, end_s=6.0,
                             score=0.61, reasons=DEMO),
            "qa": Proposal(analysis_id=analysis.id, material_id=source.id, type="qa", start_s=6.2, end_s=7.8,
                           score=0.35, reasons=[]),
        }
        session.add_all(rows.values())
        session.flush()
        source_id, ids = source.id, {k: p.id for k, p in rows.items()}
    assert make_storyboards(source_id) == 3
    return source_id, ids


def run_draft_renders(source_id: uuid.UUID) -> int:
    """What the worker would do with the render jobs the screen asked for."""
    from sqlmodel import select

    from backend.db import session_scope
    from backend.renders.models import RenderJob
    from workers.renders import execute_render_job

    with session_scope() as session:
        jobs = [str(j.id) for j in session.exec(select(RenderJob).where(RenderJob.source_id == source_id)).all()]
    assert off_the_page_loop(lambda: [execute_render_job(job) for job in jobs]) == ["succeeded"] * len(jobs)
    return len(jobs)


def proposal(server: Any, keys: Keys, pid: uuid.UUID) -> dict[str, Any]:
    return httpx.get(f"{server.url}/api/v1/proposals/{pid}", headers=Keys.auth(keys.editor), timeout=30).json()


def test_empty_queue_says_to_upload_a_recording(server, person, page, watcher: Watcher) -> None:
    sign_in(page, server, person)
    page.click("nav a[href='#/proposals']")
    page.wait_for_selector("#proposals-empty")
    assert "还没有待审核的剪辑建议" in page.inner_text("#proposals-empty")
    assert page.get_attribute("#proposals-empty a", "href") == "#/upload"
    watcher.check_translated(page)
    watcher.assert_clean()


def test_review_proposals_render_drafts_and_decide(server, keys, person, page, watcher: Watcher, tmp_path: Path) -> None:
    source_id, ids = seed(make_clip(tmp_path / "直播回放.mp4", seconds=8))
    sign_in(page, server, person)
    page.click("nav a[href='#/proposals']")
    page.wait_for_selector(".proposal-card >> nth=2")
    wait_until(page, "[...document.querySelectorAll('img.storyboard')].every(i => i.complete && i.naturalWidth > 0)")

    offer = f".proposal-card[data-proposal='{ids['offer']}']"
    demo = f".proposal-card[data-proposal='{ids['demo']}']"
    qa = f".proposal-card[data-proposal='{ids['qa']}']"
    assert page.text_content(f"{offer} .badge") == "优惠讲解" and page.text_content(f"{offer} .product") == "保温杯"
    assert page.text_content(f"{offer} .score") == "得分 0.92"
    assert page.text_content(f"{offer} .range") == "0:01 – 0:03（时长 0:03）"
    # "在剪辑器中调整" opens the clip editor with the proposal's in and out marked (tests/web/test_editor.py).
    assert page.get_attribute(f"{offer} a.open-editor", "href") == f"#/materials/{source_id}/edit?in=0.5&out=3"
    assert page.inner_text(f"{offer} .reasons") == "画面出现价格 ¥59.9 0:01 处"
    assert page.text_content(f"{demo} .badge") == "功能演示" and page.text_content(f"{qa} .badge") == "答疑"
    assert "没有特别的理由" in page.inner_text(qa)
    assert "3 条待选建议 · 0 条草稿待审" in page.inner_text(".proposal-source h2")
    assert "还没有草稿" in page.inner_text(".drafts-empty")
    watcher.check_translated(page)

    # Move the demo's in point: the API keeps it, and the storyboard of the old range goes.
    page.fill(f"{demo} .in-point", "3.8")
    page.click(f"{demo} .adjust-save")
    page.wait_for_selector("#notice:has-text('入点和出点已更新')")
    assert proposal(server, keys, ids["demo"])["start"] == 3.8
    page.wait_for_selector(f"{demo} .storyboard.pending")

    # Reject the Q&A: it stays on the page as 已放弃, without controls.
    page.click(f"{qa} .reject")
    page.wait_for_selector(f"{qa}.status-rejected")
    assert proposal(server, keys, ids["qa"])["status"] == "rejected"
    assert page.query_selector(f"{qa} .choose") is None

    # Choose two and render them as drafts (douyin 9:16 is chosen by default).
    assert page.is_disabled(".render-selected")
    page.check(f"{offer} .choose")
    page.check(f"{demo} .choose")
    assert page.text_content(".render-selected") == "把选中的 2 条建议渲染成草稿"
    page.click(".render-selected")
    page.wait_for_selector("#notice:has-text('已开始渲染 2 条草稿')")
    page.wait_for_selector(f"{offer}.status-accepted")
    assert run_draft_renders(source_id) == 2
    page.reload()
    page.wait_for_selector("table.drafts tbody tr >> nth=1")
    assert "0 条待选建议 · 2 条草稿待审" in page.inner_text(".proposal-source h2")
    rows = page.query_selector_all("table.drafts tbody tr")
    first, second = (r.get_attribute("data-material") for r in rows)
    assert all("抖音" in r.inner_text() and "待审核" in r.inner_text() for r in rows)
    watcher.check_translated(page)

    page.click(f"tr[data-material='{first}'] .approve")
    page.wait_for_selector(f"tr[data-material='{first}'][data-review='approved']")
    page.fill(f"tr[data-material='{second}'] .reject-reason", "画面模糊")
    page.click(f"tr[data-material='{second}'] .reject-draft")
    page.wait_for_selector(f"tr[data-material='{second}'][data-review='rejected']")
    assert "未通过 画面模糊" in page.inner_text(f"tr[data-material='{second}']")
    assert "已通过" in page.inner_text(f"tr[data-material='{first}']")
    read = httpx.get(f"{server.url}/api/v1/materials/{second}", headers=Keys.auth(keys.editor), timeout=30).json()
    assert read["review_state"] == "rejected" and read["review"]["reason"] == "画面模糊"

    # The same in English.
    page.select_option("#language", "en")
    page.wait_for_selector("h1:has-text('Automatic re-edit review')")
    assert page.text_content(f"{offer} .badge") == "Offer" and page.text_content(f"{offer} .product") == "Thermos"
    assert "price on screen ¥59.9 at 0:01" in page.inner_text(offer)
    assert "Approved" in page.inner_text(f"tr[data-material='{first}']")
    watcher.check_translated(page)
    watcher.assert_clean()


def test_a_viewer_reads_the_queue_without_controls(server, page, watcher: Watcher, tmp_path: Path) -> None:
    source_id, ids = seed(make_clip(tmp_path / "直播回放.mp4", seconds=8))
    sign_in(page, server, add_person("laowang", "老王", "viewer"))
    page.goto(f"{server.url}/#/proposals?material={source_id}")
    page.wait_for_selector(".proposal-card >> nth=2")
    assert page.query_selector_all(".choose, .adjust, .reject, .render-selected, #proposals-presets") == []
    assert page.text_content(f".proposal-card[data-proposal='{ids['offer']}'] .badge") == "优惠讲解"
    watcher.check_translated(page)
    watcher.assert_clean()
