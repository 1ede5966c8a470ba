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
    rows = list(csv.DictReader(io.StringIO(res.content.decode("utf-8-sig"))))
    assert len(rows) == 4
    shipai = next(r for r in rows if r["account"] == "旗舰店" and r["channel_zh"] == "实拍")
    assert (shipai["platform"], shipai["approved"], shipai["required"], shipai["status"]) == (
        "天猫/淘宝",
        "2",
        "6",
        "at_risk",
    )


def test_xlsx_has_a_sheet_per_account_and_coloured_statuses(api, story):
    res = api.client.get(
        "/api/v1/reports/monthly/2026-11",
        params={"as_of": iso(AS_OF)},
        headers={"Accept": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    )
    assert res.status_code == 200
    wb = load_workbook(io.BytesIO(res.content))
    assert wb.sheetnames == ["Summary", "天猫_淘宝 旗舰店", "天猫_淘宝 专卖店"]
    sheet = wb["天猫_淘宝 旗舰店"]
    header = [c.value for c in sheet[1]]
    status_col = header.index("status")
    values = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
    shipai = next(r for r in values if r[header.index("channel_zh")] == "实拍")
    assert shipai[status_col] == "at_risk"
    assert any(r[0] == "approved" for r in values) and any("双11 直播回放 第一场" in r for r in values)
    rules = [rule for cf in sheet.conditional_formatting for rule in cf.rules]
    assert {r.formula[0] for r in rules} >= {'"met"', '"at_risk"', '"missed"'}


def test_html_draws_svg_charts_without_scripts(api, story):
    res = api.client.get(
        "/api/v1/reports/monthly/2026-11", params={"as_of": iso(AS_OF)}, headers={"Accept": "text/html"}
    )
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/html")
    page = res.text
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart bars"') == 2
    assert page.count('class="chart progress"') == 2
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
