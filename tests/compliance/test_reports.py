"""The monthly report in every format, with lineage and gap fillers, from the API and the CLI."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from tests.compliance.conftest import channel, iso, sh

AS_OF = sh(2026, 11, 12)  # November is running: 实拍 needs 6 and has 2


@pytest.fixture
def story(api, make_material):  # type: ignore[no-untyped-def]
    """Two Tmall accounts; 实拍 opened in October; 2 实拍 approvals in November; ready clips on the shelf."""
    store = api.account(name="旗舰店")
    api.account(name="专卖店")
    api.client.patch(
        f"/api/v1/accounts/{store['id']}/channels/shipai",
        json={"manual_state": "open", "manual_effective_on": "2026-10-01", "manual_reason": "小二开通"},
    )
    live = make_material("双11 直播回放 第一场")
    cut = make_material("直播切片 洗衣液", parent=live)
    vertical = make_material("直播切片 洗衣液 3:4", parent=cut, preset_id="tmall.shipai_3x4")
    api.publish(
        store,
        "shipai",
        sh(2026, 11, 2, 9),
        approved=sh(2026, 11, 3, 10),
        material=vertical,
        post_id="SP-1",
        post_url="https://detail.tmall.com/item?id=1",
    )
    api.publish(store, "shipai", sh(2026, 11, 5, 9), approved=sh(2026, 11, 6, 10))
    api.publish(store, "shipai", sh(2026, 11, 10, 9))  # pending
    rejected = api.publish(
        store, "shipai", sh(2026, 11, 8, 9), material=make_material("被拒切片", parent=live)
    )
    api.act(rejected, "reject", sh(2026, 11, 8, 12), reason="画面模糊")
    fillers = [make_material(f"待发布切片 {i}", parent=live, preset_id="tmall.shipai_3x4") for i in range(3)]
    make_material("处理中切片", parent=live, status="processing")
    return {"store": store, "live": live, "vertical": vertical, "fillers": fillers}


def test_json_lists_approved_materials_with_their_source_and_gap_fillers(api, story):
    doc = api.month("2026-11", AS_OF)
    store = next(a for a in doc["accounts"] if a["account"]["name"] == "旗舰店")
    shipai = next(c for c in store["channels"] if c["channel_id"] == "shipai")
    assert (shipai["quota"]["approved"], shipai["quota"]["required"], shipai["quota"]["pending"]) == (2, 6, 1)
    assert shipai["quota"]["status"] == "at_risk" and shipai["opened_by_hand"]
    first = store["approved"][0]
    assert first["material"]["title"] == "直播切片 洗衣液 3:4" and first["platform_post_id"] == "SP-1"
    assert first["source"] == {"id": str(story["live"]), "title": "双11 直播回放 第一场", "kind": "source"}
    assert first["counted_at"] == "2026-11-03T10:00:00+08:00"
    # The rejected clip is free again; published, pending and unfinished clips are not offered.
    offered = {f["material"]["title"] for f in store["fillers"]}
    assert len(store["fillers"]) == 4 and offered >= {f"待发布切片 {i}" for i in range(3)}
    assert "被拒切片" in offered and "处理中切片" not in offered
    assert all(
        f["channel_id"] == "shipai" and f["source"]["title"] == "双11 直播回放 第一场"
        for f in store["fillers"]
    )
    other = next(a for a in doc["accounts"] if a["account"]["name"] == "专卖店")
    assert other["fillers"] == [] and doc["summary"] == {"at_risk": 1, "not_required": 3}


def test_csv_has_a_bom_and_chinese_survives(api, story):
    res = api.client.get("/api/v1/reports/monthly/2026-11", params={"format": "csv", "as_of": iso(AS_OF)})
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/csv")
    assert res.content.startswith(b"\xef\xbb\xbf")
    assert "attachment" in res.headers["content-disposition"]
    text = res.content.decode("utf-8-sig")
    channels_part = text.split("\r\n\r\n")[0]
    rows = list(csv.DictReader(io.StringIO(channels_part)))
    assert len(rows) == 4
    shipai = next(r for r in rows if r["店铺"] == "旗舰店" and r["渠道"] == "实拍")
    assert (shipai["平台"], shipai["已通过"], shipai["要求数"], shipai["达标情况"]) == (
        "天猫/淘宝",
        "2",
        "6",
        "有风险",
    )


def test_xlsx_has_a_sheet_per_account_and_coloured_statuses(api, story):
    res = api.client.get(
        "/api/v1/reports/monthly/2026-11",
        params={"as_of": iso(AS_OF)},
        headers={"Accept": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    )
    assert res.status_code == 200
    wb = load_workbook(io.BytesIO(res.content))
    assert wb.sheetnames == ["汇总", "天猫_淘宝 旗舰店", "天猫_淘宝 专卖店"]
    sheet = wb["天猫_淘宝 旗舰店"]
    header = [c.value for c in sheet[1]]
    status_col = header.index("达标情况")
    values = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
    shipai = next(r for r in values if r[header.index("渠道")] == "实拍")
    assert shipai[status_col] == "有风险"
    assert any(r[0] == "已通过素材" for r in values) and any("双11 直播回放 第一场" in r for r in values)
    rules = [rule for cf in sheet.conditional_formatting for rule in cf.rules]
    assert {r.formula[0] for r in rules} >= {'"达标"', '"有风险"', '"未达标"'}


def test_html_draws_svg_charts_without_scripts(api, story):
    res = api.client.get(
        "/api/v1/reports/monthly/2026-11", params={"as_of": iso(AS_OF)}, headers={"Accept": "text/html"}
    )
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/html")
    page = res.text
    # 专卖店 has not opened 视频, so nothing is required of it: no charts for it.
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart bars"') == 1
    assert page.count('class="chart progress"') == 1
    assert "实拍" in page and "双11 直播回放 第一场" in page and "<script" not in page
    assert re.search(r"<title>实拍: 2 / 6</title>", page)
    assert "<td>shipai</td>" not in page and "<tr><td>实拍</td>" in page  # people read names, not ids


def test_report_periods_are_checked(api, client):
    api.account()
    res = client.get("/api/v1/reports/monthly/2026-13")
    assert res.status_code == 422 and res.json()["type"] == "/problems/report-period-invalid"
    res = client.get("/api/v1/reports/monthly/2031-01")
    assert res.status_code == 422 and "has not started" in res.json()["detail"]
    assert client.get("/api/v1/reports/monthly/2026-11", params={"format": "pdf"}).status_code == 422


def test_cli_writes_the_same_files(api, story, app_env, tmp_path):
    from backend.cli import app

    out = tmp_path / "reports"
    runner = CliRunner()
    result = runner.invoke(app, ["report", "monthly", "2026-11", "--out", str(out), "--as-of", iso(AS_OF)])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"reelhouse-report-2026-11.{ext}" for ext in ("csv", "html", "json", "xlsx")]
    from_cli = json.loads((out / "reelhouse-report-2026-11.json").read_text(encoding="utf-8"))
    from_api = api.month("2026-11", AS_OF)
    for doc in (from_cli, from_api):
        doc.pop("generated_at")
    assert from_cli == from_api
    assert (out / "reelhouse-report-2026-11.csv").read_bytes().startswith(b"\xef\xbb\xbf")

    result = runner.invoke(
        app, ["report", "monthly", "2026-11", "--out", str(out), "-f", "csv", "--format", "html"]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["report", "status", "--as-of", iso(AS_OF)])
    assert result.exit_code == 0 and "实拍" in result.output and "at_risk" in result.output
    result = runner.invoke(app, ["report", "status", "--json", "--as-of", iso(AS_OF)])
    status = json.loads(result.output)
    assert channel(status, "shipai")["quota"]["approved"] == 2
    result = runner.invoke(app, ["report", "monthly", "2026-1x"])
    assert result.exit_code == 1 and "report-period-invalid" in result.output


# --- gap fillers, charts and exports in the team's language ---------------------------------------------


def test_gap_fillers_fit_the_channel_and_only_for_the_running_month(api, story, make_material):
    live = story["live"]
    make_material("横屏切片 16:9", parent=live, preset_id="douyin.feed_16x9", size=(1920, 1080))
    make_material("竖屏切片 9:16", parent=live, preset_id="douyin.feed_9x16", size=(1080, 1920))
    make_material("过长切片 3:4", parent=live, size=(1080, 1440), duration_s=120)
    make_material("一张海报", parent=live, media_type="image", size=(1080, 1440), duration_s=None)
    doc = api.month("2026-11", AS_OF)
    store = next(a for a in doc["accounts"] if a["account"]["name"] == "旗舰店")
    offered = {f["material"]["title"] for f in store["fillers"]}
    assert offered.isdisjoint({"横屏切片 16:9", "竖屏切片 9:16", "过长切片 3:4", "一张海报"})
    assert len(store["fillers"]) == 4 and offered >= {f"待发布切片 {i}" for i in range(3)}

    # October is over (and December's report would be the running one): no suggestions for a closed month.
    api.publish(story["store"], "shipai", sh(2026, 10, 20, 9), approved=sh(2026, 10, 21, 9))
    october = api.month("2026-10", AS_OF)
    assert all(a["fillers"] == [] for a in october["accounts"])
    assert api.month("2026-11", sh(2026, 12, 2))["accounts"][0]["fillers"] == []


def test_html_progress_stops_at_the_as_of_day_and_skips_channels_with_nothing_required(api, story):
    page = api.client.get(
        "/api/v1/reports/monthly/2026-11", params={"as_of": iso(AS_OF), "format": "html"}
    ).text
    progress = page[page.index('class="chart progress"') :]
    progress = progress[: progress.index("</svg>")]
    lines = re.findall(r'<polyline[^>]*points="([^"]*)"><title>([^<]*)</title>', progress)
    assert [title for _, title in lines] == ["实拍"]  # 视频 requires nothing: not charted
    assert len(lines[0][0].split()) == 12  # 1 to 12 November, not to the 30th
    bars = page[page.index('class="chart bars"') :]
    assert "<title>视频" not in bars[: bars.index("</svg>")]
    past = api.client.get(
        "/api/v1/reports/monthly/2026-11", params={"as_of": iso(sh(2026, 12, 3)), "format": "html"}
    ).text
    line = re.search(r'<polyline[^>]*points="([^"]*)"><title>实拍</title>', past)
    assert line is not None and len(line.group(1).split()) == 30
    assert "本月没有渠道有数量要求" in page  # 专卖店


def test_csv_speaks_chinese_by_default_with_local_times_and_the_approved_clips(api, story):
    res = api.client.get("/api/v1/reports/monthly/2026-11", params={"format": "csv", "as_of": iso(AS_OF)})
    sections = res.content.decode("utf-8-sig").split("\r\n\r\n")
    channels = list(csv.reader(io.StringIO(sections[0])))
    assert channels[0][:8] == ["月份", "平台", "店铺", "店铺编号", "渠道编号", "渠道", "渠道状态", "开通日期"]
    assert {r[channels[0].index("达标情况")] for r in channels[1:]} <= {"达标", "进度正常", "有风险", "未达标", "不要求"}
    assert {r[1] for r in channels[1:]} == {"天猫/淘宝"} and {r[5] for r in channels[1:]} == {"视频", "实拍"}
    approved = list(csv.reader(io.StringIO(sections[1])))
    assert approved[0] == ["已通过素材"]
    header = approved[1]
    assert header == ["平台", "店铺", "渠道", "计入时间", "时区", "素材", "来源素材", "作品 ID", "作品链接"]
    first = dict(zip(header, approved[2], strict=True))
    assert first["计入时间"] == "2026-11-03 10:00:00" and first["时区"] == "Asia/Shanghai"
    assert (first["渠道"], first["素材"], first["来源素材"], first["作品 ID"]) == (
        "实拍",
        "直播切片 洗衣液 3:4",
        "双11 直播回放 第一场",
        "SP-1",
    )
    assert len(approved) == 4  # title, header, two approvals

    en = api.client.get(
        "/api/v1/reports/monthly/2026-11", params={"format": "csv", "as_of": iso(AS_OF), "lang": "en"}
    ).content.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(en.split("\r\n\r\n")[0])))
    shipai = next(r for r in rows if r["account"] == "旗舰店" and r["channel"] == "Real-shot")
    assert (shipai["platform"], shipai["status"], shipai["state"]) == ("Tmall / Taobao", "at_risk", "open")
    assert api.client.get(
        "/api/v1/reports/monthly/2026-11", params={"format": "csv", "lang": "fr"}
    ).status_code == 422


def test_xlsx_has_autofilters_fitted_widths_and_local_times(api, story):
    res = api.client.get(
        "/api/v1/reports/monthly/2026-11", params={"format": "xlsx", "as_of": iso(AS_OF)}
    )
    wb = load_workbook(io.BytesIO(res.content))
    summary = wb["汇总"]
    assert summary.auto_filter.ref == "A1:U5"
    as_of_row = next(r for r in summary.iter_rows(values_only=True) if r[0] == "截至")
    assert as_of_row[1:3] == ("2026-11-12 12:00:00", "Asia/Shanghai")
    sheet = wb["天猫_淘宝 旗舰店"]
    assert sheet.auto_filter.ref == "A1:U3"
    widths = {k: d.width for k, d in sheet.column_dimensions.items()}
    # 店铺 holds "旗舰店" (6 columns wide), 作品链接 a long URL: widths follow the contents.
    assert widths["F"] >= 6 and widths["I"] >= len("https://detail.tmall.com/item?id=1")
    assert len(set(widths.values())) > 3
    counted = next(r for r in sheet.iter_rows(values_only=True) if r[5] == "直播切片 洗衣液 3:4")
    assert counted[3].isoformat() == "2026-11-03T10:00:00" and counted[4] == "Asia/Shanghai"
    en = load_workbook(
        io.BytesIO(
            api.client.get(
                "/api/v1/reports/monthly/2026-11", params={"format": "xlsx", "as_of": iso(AS_OF), "lang": "en"}
            ).content
        )
    )
    assert en.sheetnames[0] == "Summary" and [c.value for c in en["Summary"][1]][15] == "status"


def test_gap_fillers_leave_out_re_edit_drafts_and_rejected_ones(api, story, make_material):  # type: ignore[no-untyped-def]
    from backend.catalogue.models import Material, ReviewState
    from backend.db import session_scope

    live = story["live"]
    states = {"草稿切片": ReviewState.draft, "退回切片": ReviewState.rejected, "已审切片": ReviewState.approved}
    made = {make_material(title, parent=live, preset_id="tmall.shipai_3x4"): state for title, state in states.items()}
    with session_scope() as session:
        for material_id, state in made.items():
            row = session.get(Material, material_id)
            assert row is not None
            row.review_state = state
    doc = api.month("2026-11", AS_OF)
    store = next(a for a in doc["accounts"] if a["account"]["name"] == "旗舰店")
    offered = {f["material"]["title"] for f in store["fillers"]}
    assert "已审切片" in offered and offered.isdisjoint({"草稿切片", "退回切片"})
