"""Imports, attribution, idempotency, rollups, exports and the report through the API, on SQLite
and PostgreSQL."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from backend.compliance.models import PublicationStatus
from backend.db import session_scope
from backend.tables import (
    Material,
    MaterialKind,
    MaterialStatus,
    MaterialTag,
    MediaType,
    PlatformAccount,
    Publication,
    Tag,
)
from tests.conftest import Keys

NOV = datetime(2026, 11, 20, tzinfo=UTC)


def _material(s, title: str, *, parent: Material | None = None, cost: float | None = None,  # type: ignore[no-untyped-def]
              preset: str | None = None) -> Material:
    m = Material(title=title, media_type=MediaType.video, status=MaterialStatus.ready,
                 kind=MaterialKind.derived if parent else MaterialKind.source,
                 parent_id=parent.id if parent else None, production_cost=cost, preset_id=preset)
    s.add(m)
    s.flush()
    return m


def _publication(s, material: Material, account: PlatformAccount, *, post_id: str | None, url: str | None,  # type: ignore[no-untyped-def]
                 submitted: datetime, channel: str = "video") -> Publication:
    p = Publication(material_id=material.id, account_id=account.id, channel_id=channel, submitted_at=submitted,
                    platform_post_id=post_id, post_url=url, status=PublicationStatus.approved)
    s.add(p)
    s.flush()
    return p


@pytest.fixture
def catalogue(app_env: dict[str, str]) -> dict[str, uuid.UUID]:
    """A live stream, three clips cut from it (one cut again), tags, and their posts on two platforms."""
    with session_scope() as s:
        live = _material(s, "618 直播回放 洗衣液专场", cost=1000.0)
        demo = _material(s, "洗衣液功能演示", parent=live, cost=200.0, preset="douyin.feed_9x16")
        qa = _material(s, "问答：能不能洗羊毛", parent=live, cost=100.0, preset="douyin.feed_9x16")
        demo_short = _material(s, "功能演示 15秒版", parent=demo, cost=50.0, preset="xiaohongshu.feed_3x4")
        other = _material(s, "防晒喷雾 户外实测", cost=300.0)
        t_demo = Tag(category="content_type", name_zh="功能演示", name_en="demo")
        t_qa = Tag(category="content_type", name_zh="问答", name_en="qa")
        t_618 = Tag(category="campaign", name_zh="618", name_en="618")
        s.add_all([t_demo, t_qa, t_618])
        s.flush()
        s.add_all([MaterialTag(material_id=demo.id, tag_id=t_demo.id), MaterialTag(material_id=demo_short.id, tag_id=t_demo.id),
                   MaterialTag(material_id=qa.id, tag_id=t_qa.id), MaterialTag(material_id=demo.id, tag_id=t_618.id),
                   MaterialTag(material_id=qa.id, tag_id=t_618.id)])
        dy = PlatformAccount(platform_id="douyin", name="品牌旗舰店")
        xhs = PlatformAccount(platform_id="xiaohongshu", name="品牌小红书")
        s.add_all([dy, xhs])
        s.flush()
        p_demo = _publication(s, demo, dy, post_id="7300000000000000001", url=None,
                              submitted=datetime(2026, 11, 1, 12, tzinfo=UTC))
        p_qa = _publication(s, qa, dy, post_id=None, url="https://www.douyin.com/video/7300000000000000002",
                            submitted=datetime(2026, 11, 2, 12, tzinfo=UTC))
        p_short = _publication(s, demo_short, dy, post_id="7300000000000000003", url=None,
                               submitted=datetime(2026, 11, 3, 12, tzinfo=UTC), channel="shop")
        p_other = _publication(s, other, dy, post_id=None, url=None, submitted=datetime(2026, 11, 4, 1, tzinfo=UTC))
        p_xhs = _publication(s, demo_short, xhs, post_id="note-1", url=None, submitted=datetime(2026, 11, 3, tzinfo=UTC))
        return {"live": live.id, "demo": demo.id, "qa": qa.id, "demo_short": demo_short.id, "other": other.id,
                "t_demo": t_demo.id, "t_qa": t_qa.id, "t_618": t_618.id, "p_demo": p_demo.id, "p_qa": p_qa.id,
                "p_short": p_short.id, "p_other": p_other.id, "p_xhs": p_xhs.id, "dy": dy.id}  # type: ignore[dict-item]


HEADER = "作品ID,作品链接,作品名称,发布时间,播放量,点赞数,评论数,分享数,收藏数,完播率,成交金额(元),投放消耗\n"
ROWS_1 = [
    "7300000000000000001,,洗衣液功能演示,2026-11-01 20:00,1.2万,\"3,456\",210,88,97,12.5%,\"¥1,234.50\",300",
    ",https://www.douyin.com/video/7300000000000000002?previous_page=app_code_link,问答：能不能洗羊毛,2026-11-02 20:00,5000,40,3,1,0,8%,0,50",
    "7300000000000000003,,功能演示 15秒版,2026-11-03 20:00,800,8,1,1,1,30%,-,-",
    ",,防晒喷雾 户外实测,2026-11-04 09:30,2000,20,2,2,2,20%,500,100",
    "7399999999999999999,,洗衣液功能演示（二）,2026-11-05 20:00,10,1,1,1,1,1%,-,-",
]


def _csv(rows: list[str], encoding: str = "gb18030") -> bytes:
    return (HEADER + "\n".join(rows) + "\n").encode(encoding)


def _import(client: TestClient, data: bytes, **params: object):  # type: ignore[no-untyped-def]
    q = {"platform": "douyin", "filename": "作品数据.csv", **params}
    return client.post("/api/v1/metrics/imports", params=q, content=data,
                       headers={"Content-Type": "text/csv"})


def test_import_dry_run_attribution_and_idempotent_reimport(client: TestClient, catalogue: dict) -> None:  # type: ignore[type-arg]
    as_of = "2026-11-10T00:00:00+08:00"
    dry = _import(client, _csv(ROWS_1 + ["7300000000000000009,,坏行,2026-11-06,12..5,1,1,1,1,1%,1,1"]),
                  dry_run="true", as_of=as_of)
    assert dry.status_code == 201, dry.text
    body = dry.json()
    assert body["dry_run"] and body["rows_inserted"] == 4 and body["rows_failed"] == 1
    methods = {p["line"]: p["matched_by"] for p in body["planned"]}
    assert methods == {2: "post_id", 3: "url", 4: "post_id", 5: "title_date"}
    assert body["errors"][0]["line"] == 7 and "12..5" in body["errors"][0]["reason"]
    (unmatched,) = body["unmatched"]
    assert unmatched["line"] == 6
    assert unmatched["suggestions"][0]["title"] == "洗衣液功能演示"
    assert client.get(f"/api/v1/metrics/publications/{catalogue['p_demo']}/snapshots").json() == []

    # With an unreadable row the real import writes nothing ...
    bad = _import(client, _csv(ROWS_1 + ["7300000000000000009,,坏行,2026-11-06,12..5,1,1,1,1,1%,1,1"]), as_of=as_of)
    assert bad.status_code == 422 and bad.json()["type"].endswith("metrics-import-rejected")
    assert bad.json()["errors"][0]["line"] == 7
    assert client.get(f"/api/v1/metrics/publications/{catalogue['p_demo']}/snapshots").json() == []

    # ... a clean file imports, and importing it again changes nothing.
    first = _import(client, _csv(ROWS_1), as_of=as_of).json()
    assert (first["rows_inserted"], first["rows_updated"], first["rows_unmatched"]) == (4, 0, 1)
    again = _import(client, _csv(ROWS_1, "utf-8-sig"), as_of=as_of).json()
    assert (again["rows_inserted"], again["rows_updated"], again["rows_unchanged"]) == (0, 0, 4)
    snaps = client.get(f"/api/v1/metrics/publications/{catalogue['p_demo']}/snapshots").json()
    assert len(snaps) == 1 and snaps[0]["views"] == 12000 and snaps[0]["gmv_cents"] == 123450

    # A later export of totals adds only the rise; rollups never double count.
    later = [r.replace("1.2万", "1.5万") for r in ROWS_1]
    assert _import(client, _csv(later), as_of="2026-12-02T00:00:00+08:00").json()["rows_inserted"] == 4
    rows = client.get("/api/v1/metrics/rollups", params={"by": "material"}).json()
    by_title = {r["label"]: r for r in rows}
    assert by_title["洗衣液功能演示"]["views"] == 15000
    nov = {r["label"]: r for r in client.get("/api/v1/metrics/rollups", params={"by": "material", "month": "2026-11"}).json()}
    dec = {r["label"]: r for r in client.get("/api/v1/metrics/rollups", params={"by": "material", "month": "2026-12"}).json()}
    assert nov["洗衣液功能演示"]["views"] == 12000 and dec["洗衣液功能演示"]["views"] == 3000
    months = client.get("/api/v1/metrics/rollups", params={"by": "month"}).json()
    assert [m["key"] for m in months] == ["2026-11", "2026-12"]
    assert months[0]["views"] == 12000 + 5000 + 800 + 2000

    imports = client.get("/api/v1/metrics/imports").json()
    assert len(imports) == 4 and sum(i["dry_run"] for i in imports) == 1


def test_rollups_by_lineage_tag_platform_channel_and_roi(client: TestClient, catalogue: dict) -> None:  # type: ignore[type-arg]
    _import(client, _csv(ROWS_1[:4]), as_of="2026-11-10T00:00:00+08:00")
    batch = {"snapshots": [{"publication_id": str(catalogue["p_xhs"]), "captured_at": "2026-11-09T00:00:00Z",
                            "views": 700, "likes": 70, "gmv": 88.8, "ad_spend": 10}]}
    assert client.post("/api/v1/metrics/snapshots", json=batch).json() == {"inserted": 1, "updated": 0, "unchanged": 0}
    assert client.post("/api/v1/metrics/snapshots", json=batch).json()["unchanged"] == 1

    source = client.get("/api/v1/metrics/rollups", params={"by": "source"}).json()
    live = next(r for r in source if r["key"] == str(catalogue["live"]))
    assert live["views"] == 12000 + 5000 + 800 + 700  # every clip cut from the live stream, on both platforms
    assert live["publications"] == 4 and live["materials"] == 3
    assert live["production_cost"] == 350.0  # the clips that earned something; the stream's own cost is not a clip
    one = client.get("/api/v1/metrics/rollups", params={"by": "source", "source_id": str(catalogue["demo"])}).json()
    assert one[0]["views"] == 12000 + 800 + 700

    tags = {r["label"]: r for r in client.get("/api/v1/metrics/rollups", params={"by": "tag"}).json()}
    assert tags["功能演示 (content_type)"]["views"] == 12000 + 800 + 700
    assert tags["问答 (content_type)"]["views"] == 5000
    cats = {r["key"]: r for r in client.get("/api/v1/metrics/rollups", params={"by": "tag_category"}).json()}
    assert cats["content_type"]["views"] == 12000 + 800 + 700 + 5000
    assert cats["campaign"]["views"] == 12000 + 5000

    platforms = {r["key"]: r for r in client.get("/api/v1/metrics/rollups", params={"by": "platform"}).json()}
    assert platforms["xiaohongshu"]["views"] == 700 and platforms["douyin"]["views"] == 19800
    channels = {r["label"]: r["views"] for r in client.get("/api/v1/metrics/rollups", params={"by": "channel"}).json()}
    assert channels["品牌旗舰店 / shop"] == 800
    presets = {r["key"]: r["views"] for r in client.get("/api/v1/metrics/rollups", params={"by": "preset"}).json()}
    assert presets["douyin.feed_9x16"] == 17000

    demo = next(r for r in client.get("/api/v1/metrics/rollups", params={"by": "material"}).json() if r["label"] == "洗衣液功能演示")
    assert demo["gmv"] == 1234.5 and demo["ad_spend"] == 300.0 and demo["cost"] == 500.0
    assert demo["roi"] == pytest.approx((1234.5 - 500) / 500, abs=1e-4)

    board = client.get("/api/v1/metrics/leaderboard", params={"tag": catalogue["t_618"], "month": "2026-11", "limit": 1}).json()
    assert [(b["rank"], b["label"]) for b in board] == [(1, "洗衣液功能演示")]
    by_roi = client.get("/api/v1/metrics/leaderboard", params={"order": "roi"}).json()
    assert by_roi[0]["roi"] >= by_roi[-1]["roi"] if by_roi[-1]["roi"] is not None else True

    exported = client.get("/api/v1/metrics/rollups", params={"by": "tag", "format": "csv"})
    assert exported.content.startswith(b"\xef\xbb\xbf")
    table = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert {"功能演示 (content_type)", "问答 (content_type)"} <= {r["label"] for r in table}
    xlsx = client.get("/api/v1/metrics/leaderboard", params={"format": "xlsx"})
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet.cell(1, 2).value == "label" and sheet.max_row >= 4

    report = client.get("/api/v1/metrics/report", params={"month": "2026-11"})
    assert report.status_code == 200 and report.text.count("<svg") >= 3 and "洗衣液功能演示" in report.text


def test_daily_xlsx_export_sums_days(client: TestClient, catalogue: dict) -> None:  # type: ignore[type-arg]
    from openpyxl import Workbook

    with session_scope() as s:
        tm = PlatformAccount(platform_id="tmall", name="天猫旗舰店")
        s.add(tm)
        s.flush()
        material = s.get(Material, catalogue["other"])
        pub = _publication(s, material, tm, post_id="c-1", url=None, submitted=datetime(2026, 11, 1, tzinfo=UTC))
        pub_id = pub.id
    book = Workbook()
    sheet = book.active
    sheet.append(["统计日期", "内容ID", "内容标题", "播放量", "引导支付金额", "加购件数"])
    sheet.append([datetime(2026, 11, 1), "c-1", "防晒喷雾 户外实测", 1200, 88.8, 4])
    sheet.append(["2026-11-02", "c-1", "防晒喷雾 户外实测", "1.5万", "¥99", 5])
    sheet.append(["2026-11-02", "c-1", "防晒喷雾 户外实测", "1.5万", "¥99", 5])  # a duplicate line
    buf = io.BytesIO()
    book.save(buf)
    r = client.post("/api/v1/metrics/imports", params={"platform": "tmall"},
                    files={"file": ("生意参谋.xlsx", buf.getvalue())})
    assert r.status_code == 201, r.text
    assert (r.json()["rows_inserted"], r.json()["rows_skipped"]) == (2, 1)
    rows = client.get("/api/v1/metrics/rollups", params={"by": "platform", "platform": "tmall"}).json()
    assert rows[0]["views"] == 16200 and rows[0]["add_to_cart"] == 9 and rows[0]["gmv"] == pytest.approx(187.8)
    snaps = client.get(f"/api/v1/metrics/publications/{pub_id}/snapshots").json()
    assert [s["is_cumulative"] for s in snaps] == [False, False]


def test_errors_are_problems(client: TestClient, catalogue: dict, keys: Keys) -> None:  # type: ignore[type-arg]
    r = _import(client, b"just,some\n1,2\n")
    assert r.status_code == 422 and r.json()["type"].endswith("metrics-file-unreadable")
    r = client.post("/api/v1/metrics/imports", params={"platform": "myspace"}, content=b"x")
    assert r.json()["type"].endswith("metrics-mapping-unknown")
    r = client.post("/api/v1/metrics/snapshots", json={"snapshots": [
        {"publication_id": str(uuid.uuid4()), "captured_at": "2026-11-09T00:00:00Z", "views": 1}]})
    assert r.status_code == 404
    viewer = client.post("/api/v1/metrics/imports", params={"platform": "douyin"}, content=_csv(ROWS_1),
                         headers=Keys.auth(keys.viewer))
    assert viewer.status_code == 403


def test_rows_with_no_figures_yet_are_skipped_not_a_failed_import(client: TestClient, catalogue: dict) -> None:  # type: ignore[type-arg]
    """Issue 15: one row of '--' (the platform's 'no data yet') used to reject the whole import."""
    rows = ROWS_1[:1] + ["7300000000000000003,,功能演示 15秒版,2026-11-03 20:00,--,-,,暂无,--,--,--,-"]
    answer = _import(client, _csv(rows), as_of="2026-11-10T00:00:00+08:00")
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["rows_inserted"] == 1 and body["rows_failed"] == 0 and body["rows_skipped"] == 1
    assert "no figures yet" in body["errors"][0]["reason"] and body["errors"][0]["skipped"]


def test_filters_take_tags_as_category_name(client: TestClient, catalogue: dict) -> None:  # type: ignore[type-arg]
    assert _import(client, _csv(ROWS_1[:3]), as_of="2026-11-10T00:00:00+08:00").status_code == 201
    by_ref = client.get("/api/v1/metrics/rollups", params={"by": "material", "tag": "content_type:功能演示"})
    by_en = client.get("/api/v1/metrics/rollups", params={"by": "material", "tag": "content_type:demo"})
    by_id = client.get("/api/v1/metrics/rollups", params={"by": "material", "tag": str(catalogue["t_demo"])})
    assert by_ref.status_code == 200, by_ref.text
    titles = sorted(r["label"] for r in by_ref.json())
    assert titles == ["功能演示 15秒版", "洗衣液功能演示"]
    assert by_ref.json() == by_en.json() == by_id.json()
    two = client.get("/api/v1/metrics/leaderboard", params=[("tag", "content_type:问答"), ("tag", "campaign:618")])
    assert sorted(r["label"] for r in two.json()) == sorted(["问答：能不能洗羊毛", "洗衣液功能演示"])
    unknown = client.get("/api/v1/metrics/rollups", params={"tag": "campaign:双12"})
    assert unknown.status_code == 404 and unknown.json()["type"] == "/problems/not-found"
    report = client.get("/api/v1/metrics/report", params={"tag": "campaign:618"})
    assert report.status_code == 200 and "问答：能不能洗羊毛" in report.text and "防晒喷雾" not in report.text


def test_report_of_one_capture_draws_its_point_and_names_the_dates(client: TestClient, catalogue: dict) -> None:  # type: ignore[type-arg]
    assert _import(client, _csv(ROWS_1[:2]), as_of="2026-11-10T00:00:00+08:00").status_code == 201
    page = client.get("/api/v1/metrics/report").text  # no month: one point in the monthly series
    series = page.split("<svg")[2]  # after the top-materials bar chart
    assert "<circle" in series and "<polyline" not in series
    assert "采集日期 2026-11-10" in page and "…" not in page and 'lang="zh-CN"' in page
    month = client.get("/api/v1/metrics/report", params={"month": "2026-11"}).text
    assert "统计周期 2026-11-01 至 2026-11-30" in month and "采集日期 2026-11-10" in month
    assert _import(client, _csv(ROWS_1[:2]), as_of="2026-11-12T00:00:00+08:00").status_code == 201
    two = client.get("/api/v1/metrics/report", params={"month": "2026-11", "lang": "en"}).text
    assert "Captured 2026-11-10 to 2026-11-12" in two and "<polyline" in two
    empty = client.get("/api/v1/metrics/report", params={"month": "2026-10"}).text
    assert "暂无数据" in empty


def test_dry_run_lists_every_row_with_its_result_and_problem_codes(client: TestClient, catalogue: dict) -> None:  # type: ignore[type-arg]
    """The preview a person confirms: every line of the file in order, the publication it matched, its
    figures, what the import would do, and each problem with a stable code and what words need."""
    rows = ROWS_1 + [
        "7300000000000000009,,坏行,2026-11-06,12..5,1,1,1,1,1%,1,1",  # 7: not a number
        "7300000000000000010,,负数,2026-11-06,100,-5,1,1,1,1%,1,1",  # 8: a negative count
        "合计,,,,20000,100,10,10,10,,,",  # 9: the totals row
        "7300000000000000003,,功能演示 15秒版,2026-11-03 20:00,--,-,,暂无,--,--,--,-",  # 10: no figures yet
        ROWS_1[0],  # 11: line 2 again
        ROWS_1[0].replace("1.2万", "1.3万"),  # 12: line 2's post with other figures
        ",,,2026-11-06,5,1,1,1,1,1%,1,1",  # 13: nothing to find the post by
    ]
    as_of = "2026-11-10T00:00:00+08:00"
    dry = _import(client, _csv(rows), dry_run="true", as_of=as_of)
    assert dry.status_code == 201, dry.text
    body = dry.json()
    got = body["rows"]
    assert [r["line"] for r in got] == list(range(2, 14))
    by_line = {r["line"]: r for r in got}
    assert {line: r["status"] for line, r in by_line.items()} == {
        2: "ready", 3: "ready", 4: "ready", 5: "ready", 6: "unmatched", 7: "failed", 8: "failed", 9: "skipped",
        10: "skipped", 11: "skipped", 12: "failed", 13: "failed"}
    codes = {line: [p["code"] for p in r["problems"]] for line, r in by_line.items()}
    assert codes == {2: [], 3: [], 4: [], 5: [], 6: ["unmatched"], 7: ["not-a-number"], 8: ["negative"], 9: ["totals-row"],
                     10: ["no-figures-yet"], 11: ["duplicate-row"], 12: ["conflicting-duplicate"], 13: ["no-identity"]}
    assert by_line[7]["problems"][0]["params"] == {"field": "views", "header": "播放量", "value": "12..5"}
    assert by_line[8]["problems"][0]["params"] == {"field": "likes", "header": "点赞数", "value": "-5"}
    assert by_line[11]["problems"][0]["params"] == {"other_line": 2} == by_line[12]["problems"][0]["params"]
    assert by_line[7]["raw"]["播放量"] == "12..5" and by_line[7]["publication"] is None
    assert (by_line[7]["title"], by_line[7]["post_id"]) == ("坏行", "7300000000000000009")  # named as written
    assert "12..5" in by_line[7]["problems"][0]["detail"]
    demo = by_line[2]
    assert demo["publication"]["material_id"] == str(catalogue["demo"]) and demo["publication"]["matched_by"] == "post_id"
    assert demo["publication"]["title"] == "洗衣液功能演示" and demo["publication"]["account"] == "品牌旗舰店"
    assert demo["values"]["views"] == 12000 and demo["values"]["gmv"] == 123450 and demo["action"] == "inserted"
    assert by_line[3]["publication"]["matched_by"] == "url" and by_line[5]["publication"]["matched_by"] == "title_date"
    assert by_line[6]["suggestions"][0]["title"] == "洗衣液功能演示" and by_line[6]["action"] is None
    assert body["rows_failed"] == 4 and body["rows_skipped"] == 3 and body["rows_unmatched"] == 1
    # Nothing written; the record's own lists carry the codes too.
    assert client.get(f"/api/v1/metrics/publications/{catalogue['p_demo']}/snapshots").json() == []
    assert {e["line"]: e["code"] for e in body["errors"]}[9] == "totals-row"
    assert body["unmatched"][0]["code"] == "unmatched"

    # The import that refuses the file says why row by row, by code.
    refused = _import(client, _csv(rows), as_of=as_of)
    assert refused.status_code == 422
    assert [e["code"] for e in refused.json()["errors"]] == ["not-a-number", "negative", "conflicting-duplicate", "no-identity"]

    # Confirmed (the unreadable rows left out), the answer has no rows; a second dry run says "unchanged".
    real = _import(client, _csv(rows), as_of=as_of, allow_errors="true")
    assert real.status_code == 201 and real.json()["rows"] is None and real.json()["rows_inserted"] == 4
    assert client.get(f"/api/v1/metrics/imports/{real.json()['id']}").json()["rows"] is None
    again = _import(client, _csv(rows), dry_run="true", as_of=as_of).json()
    assert [r["action"] for r in again["rows"] if r["status"] == "ready"] == ["unchanged"] * 4
    later = _import(client, _csv([ROWS_1[0].replace("1.2万", "1.3万")]), dry_run="true", as_of=as_of).json()
    assert later["rows"][0]["action"] == "updated"
