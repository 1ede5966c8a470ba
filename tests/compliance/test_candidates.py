"""Drafts and clip proposals that could fill a channel's gap, in the compliance status and in the monthly
report (JSON, CSV, XLSX, HTML): only those that fit the channel (aspect, duration, media type), up to what the
gap still needs once ready clips are counted, proposals with the channel's preset to render them with."""

from __future__ import annotations

import csv
import io
import uuid

import pytest
from openpyxl import load_workbook

from tests.compliance.conftest import iso, sh

AS_OF = sh(2026, 11, 12)  # November is running: 实拍 needs 6, none approved yet


def _draft(make_material, title: str, live: uuid.UUID, **kw) -> uuid.UUID:  # type: ignore[no-untyped-def]
    from backend.catalogue.models import Material, ReviewState
    from backend.db import session_scope

    mid = make_material(title, parent=live, **kw)
    with session_scope() as session:
        m = session.get(Material, mid)
        assert m is not None
        m.review_state = ReviewState.draft
    return mid


def _proposals(live: uuid.UUID, specs: list[tuple[float, float, str, str]]) -> list[uuid.UUID]:
    """Proposals of `live` as (start, end, type, status), on one finished analysis."""
    from backend.autoclip.models import Analysis, AnalysisStatus, Proposal, ProposalStatus
    from backend.catalogue.models import PRODUCT_CATEGORY, Tag
    from backend.db import session_scope

    with session_scope() as session:
        tag = Tag(category=PRODUCT_CATEGORY, name_zh="洗衣液", name_en="Laundry Liquid")
        analysis = Analysis(material_id=live, version=1, status=AnalysisStatus.succeeded, signals={})
        session.add_all([tag, analysis])
        session.flush()
        rows = [
            Proposal(analysis_id=analysis.id, material_id=live, type=kind, start_s=a, end_s=b, score=1.0 - i / 100,
                     status=ProposalStatus(status), product_tag_id=tag.id if i == 0 else None,
                     reasons=[{"code": "price_on_screen", "text_zh": "画面出现价格 ¥59.9", "text_en": "price on screen"}])
            for i, (a, b, kind, status) in enumerate(specs)
        ]
        session.add_all(rows)
        session.flush()
        return [r.id for r in rows]


@pytest.fixture
def gap(api, make_material):  # type: ignore[no-untyped-def]
    store = api.account(name="洁净家天猫旗舰店")
    api.client.patch(
        f"/api/v1/accounts/{store['id']}/channels/shipai",
        json={"manual_state": "open", "manual_effective_on": "2026-10-01", "manual_reason": "小二开通"},
    )
    live = make_material("双11 直播回放 洗衣液专场", size=(1920, 1080), duration_s=3600.0)
    make_material("待发布切片", parent=live, preset_id="tmall.shipai_3x4")  # a ready clip: a filler already
    fits = _draft(make_material, "草稿 洗衣液 3:4", live, preset_id="tmall.shipai_3x4")
    _draft(make_material, "草稿 竖屏 9:16", live, size=(1080, 1920), preset_id="douyin.feed_9x16")  # wrong aspect
    _draft(make_material, "草稿 太长", live, duration_s=90.0)  # longer than 实拍's 60 s
    sent = _draft(make_material, "草稿 已提交", live)
    api.publish(store, "shipai", sh(2026, 11, 5, 9), material=sent)  # pending review there: not offered again
    proposals = _proposals(live, [
        (600.0, 630.0, "offer", "proposed"),  # 30 s, with the product
        (700.0, 775.0, "demo", "proposed"),  # 75 s: too long for 实拍
        (800.0, 820.0, "qa", "rejected"),
        (900.0, 920.0, "qa", "accepted"),  # rendered already: its drafts are what counts
        *[(1000.0 + 100 * i, 1020.0 + 100 * i, "highlight", "proposed") for i in range(6)],
    ])
    return {"store": store, "live": live, "fits": fits, "proposals": proposals}


def test_status_lists_fitting_drafts_then_proposals_up_to_the_shortfall(api, gap):  # type: ignore[no-untyped-def]
    doc = api.status(AS_OF, gap["store"])
    (account,) = doc["accounts"]
    shipai = next(c for c in account["channels"] if c["channel_id"] == "shipai")
    assert shipai["quota"]["required"] == 6 and shipai["quota"]["approved"] == 0
    found = account["candidates"]
    assert {c["channel_id"] for c in found} == {"shipai"} and len(found) == 6  # the shortfall
    assert [c["kind"] for c in found] == ["draft"] + ["proposal"] * 5
    assert found[0]["id"] == str(gap["fits"]) and found[0]["preset_id"] == "tmall.shipai_3x4"
    assert found[0]["source"]["title"] == "双11 直播回放 洗衣液专场"
    offered = [c for c in found if c["kind"] == "proposal"]
    assert all(c["preset_id"] == "tmall.shipai_3x4" and c["duration_s"] <= 60 for c in offered)
    assert str(gap["proposals"][1]) not in {c["id"] for c in offered}  # 75 s
    assert not {str(p) for p in gap["proposals"][2:4]} & {c["id"] for c in offered}  # rejected, accepted
    first = next(c for c in offered if c["id"] == str(gap["proposals"][0]))
    assert first["product"] == "洗衣液" and (first["start_s"], first["end_s"]) == (600.0, 630.0)
    assert first["title"] == "「双11 直播回放 洗衣液专场」 0:10:00-0:10:30 优惠 · 洗衣液"
    assert first["source"]["id"] == str(gap["live"])


def test_report_lists_them_after_the_ready_clips_in_every_format(api, gap):  # type: ignore[no-untyped-def]
    doc = api.month("2026-11", AS_OF)
    (account,) = doc["accounts"]
    assert [f["material"]["title"] for f in account["fillers"]] == ["待发布切片"]
    found = account["candidates"]
    assert len(found) == 5 and [c["kind"] for c in found] == ["draft"] + ["proposal"] * 4  # 6 - 1 ready clip

    client = api.client
    res = client.get("/api/v1/reports/monthly/2026-11", params={"format": "csv", "as_of": iso(AS_OF)})
    text = res.content.decode("utf-8-sig")
    section = text.split("可补位草稿与片段提议\r\n")[1]
    rows = list(csv.DictReader(io.StringIO(section)))
    assert len(rows) == 5 and rows[0]["类型"] == "草稿（待审核）" and rows[0]["素材"] == "草稿 洗衣液 3:4"
    offer = next(r for r in rows if r["商品"] == "洗衣液")
    assert offer["类型"] == "片段提议（待渲染）" and offer["来源区间"] == "0:10:00-0:10:30"
    assert offer["片段类型"] == "优惠" and offer["预设"] == "tmall.shipai_3x4" and offer["时长（秒）"] == "30.0"
    english = client.get(
        "/api/v1/reports/monthly/2026-11", params={"format": "csv", "as_of": iso(AS_OF), "lang": "en"}
    ).content.decode("utf-8-sig")
    assert "drafts and proposals that could fill the gap" in english and "proposal (not rendered)" in english

    res = client.get("/api/v1/reports/monthly/2026-11", params={"format": "xlsx", "as_of": iso(AS_OF)})
    wb = load_workbook(io.BytesIO(res.content))
    sheet = next(ws for ws in wb.worksheets if "洁净家" in ws.title)
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    start = next(i for i, r in enumerate(values) if r[0] == "可补位草稿与片段提议")
    assert values[start + 1][:4] == ["平台", "店铺", "渠道", "类型"]
    assert [r[3] for r in values[start + 2 : start + 7]] == ["草稿（待审核）"] + ["片段提议（待渲染）"] * 4

    html = client.get("/api/v1/reports/monthly/2026-11", params={"format": "html", "as_of": iso(AS_OF)}).text
    assert "可补位草稿与片段提议" in html and html.count('class="candidate proposal"') == 4
    assert "0:10:00-0:10:30" in html


def test_nothing_is_offered_without_a_gap(api, gap):  # type: ignore[no-untyped-def]
    client = api.client
    r = client.patch(f"/api/v1/accounts/{gap['store']['id']}/channels/shipai", json={"monthly_minimum": 0})
    assert r.status_code == 200, r.text
    (account,) = api.status(AS_OF, gap["store"])["accounts"]
    assert account["candidates"] == []
    assert api.month("2026-11", AS_OF)["accounts"][0]["candidates"] == []


def test_the_cli_status_lists_them(api, gap):  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from backend.cli import app

    result = CliRunner().invoke(app, ["report", "status", "--as-of", iso(AS_OF)])
    assert result.exit_code == 0, result.output
    assert "可补位草稿与片段提议" in result.output and "草稿（待审核）  草稿 洗衣液 3:4" in result.output
    assert "片段提议（待渲染）  「双11 直播回放 洗衣液专场」 0:10:00-0:10:30 优惠 · 洗衣液  tmall.shipai_3x4" in result.output
