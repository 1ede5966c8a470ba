"""Platform export parsing: numbers as platforms write them, encodings, XLSX, malformed rows, duplicates."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from backend.metrics.mappings import shipped_mappings
from backend.metrics.parsing import (
    CellError,
    ExportUnreadable,
    decode_csv_bytes,
    detect_platform,
    parse_count,
    parse_datetime,
    parse_export,
    parse_money,
    parse_number,
    parse_ratio,
    parse_seconds,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
AS_OF = datetime(2026, 11, 20, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1.2万", 12000), ("3,456", 3456), ("1.5亿", 150_000_000), ("１２，３４５", 12345), ("2.3k", 2300),
     ("1.2w", 12000), (" 87 ", 87), (12, 12), (12.0, 12), ("0", 0)],
)
def test_numbers(text: object, expected: int) -> None:
    assert parse_count(text) == expected


@pytest.mark.parametrize("blank", ["—", "-", "--", "", "  ", None, "暂无", "N/A"])
def test_blanks_are_none(blank: object) -> None:
    assert parse_number(blank) is None
    assert parse_ratio(blank) is None


@pytest.mark.parametrize("bad", ["12..3", "abc", "1.2万万", "12%"])
def test_bad_numbers_raise(bad: str) -> None:
    with pytest.raises(CellError):
        parse_number(bad)


def test_negative_counts_only_when_signed() -> None:
    with pytest.raises(CellError):
        parse_count("-3")
    assert parse_count("-3", signed=True) == -3


def test_ratios_money_and_durations() -> None:
    assert parse_ratio("12.5%") == pytest.approx(0.125)
    assert parse_ratio("0.3") == pytest.approx(0.3)
    assert parse_ratio("45") == pytest.approx(0.45)  # a percentage written without the sign
    with pytest.raises(CellError):
        parse_ratio("150%")
    assert parse_money("¥1,234.50", "USD") == (Decimal("1234.50"), "CNY")
    assert parse_money("￥1.2万", "CNY") == (Decimal("12000.00"), "CNY")
    assert parse_money("$12", "CNY") == (Decimal("12.00"), "USD")
    assert parse_money("88.8元", "USD") == (Decimal("88.80"), "CNY")
    assert parse_seconds("1分20秒") == 80
    assert parse_seconds("0:01:20") == 80
    assert parse_seconds("12.5秒") == 12.5
    assert parse_seconds("15s") == 15


def test_dates_in_platform_zone() -> None:
    midnight_sh = datetime(2026, 6, 17, 16, 0, tzinfo=UTC)
    for text in ("2026-06-18", "2026/6/18", "2026年6月18日", "20260618", 46191.0):
        assert parse_datetime(text, SHANGHAI) == midnight_sh, text
    assert parse_datetime("2026-06-18 20:30", SHANGHAI) == datetime(2026, 6, 18, 12, 30, tzinfo=UTC)
    with pytest.raises(CellError):
        parse_datetime("18/06/2026", SHANGHAI)


DOUYIN_CSV = """数据更新时间：2026-11-20
作品ID,作品名称,发布时间,播放量,点赞数,评论数,分享数,收藏数,完播率,平均播放时长,涨粉数,成交金额（元）,投放消耗
7300000000000000001,618 直播切片 洗衣液功能演示,2026-11-01 20:00,1.2万,"3,456",210,88,97,12.5%,8.2秒,35,"¥1,234.50",300
7300000000000000002,问答：能不能洗羊毛,2026-11-02 20:00,—,12,3,1,0,-,-,-2,-,-
7300000000000000003,坏行,2026-11-03,12..5,1,1,1,1,1%,1,1,1,1
,,,,,,,,,,,,
,没有ID的标题,,100,1,1,1,1,1%,1,1,1,1
合计,,,13000,3468,214,90,98,,,33,1234.5,300
7300000000000000001,618 直播切片 洗衣液功能演示,2026-11-01 20:00,1.2万,"3,456",210,88,97,12.5%,8.2秒,35,"¥1,234.50",300
7300000000000000002,问答：能不能洗羊毛,2026-11-02 20:00,999,12,3,1,0,-,-,-2,-,-
"""


def test_gb18030_csv_with_chinese_headers() -> None:
    data = DOUYIN_CSV.encode("gb18030")
    assert decode_csv_bytes(data)[1] == "gb18030"
    parsed = parse_export(data, "作品数据.csv", shipped_mappings()["douyin"], as_of=AS_OF)
    assert parsed.header_line == 2
    assert parsed.columns["gmv"] == "成交金额（元）"
    first, second = parsed.rows
    assert first.post_id == "7300000000000000001" and first.title == "618 直播切片 洗衣液功能演示"
    assert first.values["views"] == 12000 and first.values["likes"] == 3456
    assert first.values["completion_rate"] == pytest.approx(0.125)
    assert first.values["avg_watch_seconds"] == pytest.approx(8.2)
    assert first.values["gmv"] == 123450 and first.currency == "CNY"
    assert first.values["ad_spend"] == 30000
    assert first.captured_at == AS_OF and first.is_cumulative
    assert first.published_at == datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    assert second.values["views"] is None and second.values["followers_gained"] == -2
    reasons = {e.line: e.reason for e in parsed.errors}
    assert "views" in reasons[5] and "12..5" in reasons[5]
    assert "publish time" in reasons[7]
    assert "different figures" in reasons[10] and "line 4" in reasons[10]
    skipped = {e.line: e.reason for e in parsed.skipped}
    assert "totals" in skipped[8] and "line 3" in skipped[9]


def test_utf8_bom_and_utf8_read_alike() -> None:
    plain = parse_export(DOUYIN_CSV.encode("utf-8"), "a.csv", shipped_mappings()["douyin"], as_of=AS_OF)
    bom = parse_export(DOUYIN_CSV.encode("utf-8-sig"), "a.csv", shipped_mappings()["douyin"], as_of=AS_OF)
    assert [r.values for r in plain.rows] == [r.values for r in bom.rows]
    assert len(plain.rows) == 2


def test_undecodable_csv_is_refused() -> None:
    with pytest.raises(ExportUnreadable):
        decode_csv_bytes(b"views,\x80\xff\n")


def test_xlsx_daily_export_with_dates_and_numbers() -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["日期", "内容ID", "内容标题", "播放量", "点赞数", "引导支付金额", "加购件数", "完播率"])
    sheet.append([datetime(2026, 11, 1), "c-1", "防晒喷雾 户外实测", 1200, 30, 88.8, 4, 0.31])
    sheet.append(["2026-11-02", "c-1", "防晒喷雾 户外实测", "1.5万", "41", "¥99", 5, "28%"])
    sheet.append(["", "c-2", "标题", 5, 1, 0, 0, 0])  # a per-day export needs the date
    buf = io.BytesIO()
    book.save(buf)
    mapping = shipped_mappings()["tmall"]
    parsed = parse_export(buf.getvalue(), "生意参谋.xlsx", mapping)
    assert not mapping.cumulative
    assert [r.values["views"] for r in parsed.rows] == [1200, 15000]
    assert [r.values["gmv"] for r in parsed.rows] == [8880, 9900]
    assert parsed.rows[0].captured_at == datetime(2026, 10, 31, 16, tzinfo=UTC)
    assert parsed.rows[1].values["completion_rate"] == pytest.approx(0.28)
    assert not parsed.rows[0].is_cumulative
    assert len(parsed.errors) == 1 and "date" in parsed.errors[0].reason


def test_english_export_and_detection() -> None:
    csv_text = ("Video ID,Video title,Post time,Video views,Likes,Comments,Shares,Saves,Watched full video (%),"
                "Average watch time\n7301,Sunscreen test,2026-11-01T08:00:00Z,\"12,345\",800,20,11,40,23.5%,0:00:09\n")
    data = csv_text.encode()
    assert detect_platform(data, "export.csv", shipped_mappings()) == "tiktok"
    parsed = parse_export(data, "export.csv", shipped_mappings()["tiktok"], as_of=AS_OF)
    (row,) = parsed.rows
    assert row.values["views"] == 12345 and row.values["avg_watch_seconds"] == 9
    assert row.values["completion_rate"] == pytest.approx(0.235)


def test_no_header_is_unreadable() -> None:
    with pytest.raises(ExportUnreadable, match="header"):
        parse_export(b"a,b\n1,2\n", "x.csv", shipped_mappings()["douyin"], as_of=AS_OF)


def test_every_shipped_mapping_loads() -> None:
    mappings = shipped_mappings()
    assert {"douyin", "xiaohongshu", "tmall", "kuaishou", "bilibili", "wechat_channels", "tiktok", "youtube"} <= set(mappings)


def _limited(**caps: int):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from backend.metrics.limits import DEFAULT_LIMITS

    return replace(DEFAULT_LIMITS, **caps)


def _xlsx(rows: list[list[object]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    for row in rows:
        book.active.append(row)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


HEAD = ["作品ID", "作品名称", "播放量"]


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
@pytest.mark.parametrize(
    ("limit", "caps", "rows"),
    [
        ("rows", {"rows": 3}, [HEAD] + [[f"73{i}", f"标题{i}", i] for i in range(4)]),
        ("columns", {"columns": 4}, [HEAD, ["731", "标题", 1, "", "x"]]),
        ("cell", {"cell_chars": 10}, [HEAD, ["731", "十一个字的作品标题呀", 1], ["732", "十二个字的作品标题呀呀", 2]]),
    ],
)
def test_limits_are_checked_while_reading(kind: str, limit: str, caps: dict[str, int], rows: list[list[object]]) -> None:
    from backend.metrics.limits import ImportLimitExceeded

    data = _xlsx(rows) if kind == "xlsx" else "\n".join(",".join(map(str, r)) for r in rows).encode()
    with pytest.raises(ImportLimitExceeded) as caught:
        parse_export(data, f"a.{kind}", shipped_mappings()["douyin"], as_of=AS_OF, limits=_limited(**caps))
    assert caught.value.limit == limit and caught.value.maximum == next(iter(caps.values()))


def test_blank_rows_and_trailing_empty_cells_do_not_count_toward_limits() -> None:
    rows = [HEAD + ["", "", ""], ["731", "标题", 5, None, None, None], [], [None, None], ["732", "标题二", 6]]
    parsed = parse_export(_xlsx(rows), "a.xlsx", shipped_mappings()["douyin"], as_of=AS_OF,
                          limits=_limited(rows=2, columns=3))
    assert [r.values["views"] for r in parsed.rows] == [5, 6] and [r.line for r in parsed.rows] == [2, 5]


def test_broken_utf8_is_refused_with_its_place_not_read_as_gb18030() -> None:
    from backend.metrics.parsing import ExportEncodingInvalid

    text = "作品ID,作品名称,播放量\n731,双十一直播切片,5\n".encode()
    cut = text.index("直".encode())
    with pytest.raises(ExportEncodingInvalid) as caught:
        decode_csv_bytes(text[:cut] + text[cut + 1 :])
    assert caught.value.line == 2 and caught.value.encoding == "UTF-8" and "byte" in str(caught.value)
    assert decode_csv_bytes("作品ID,播放量\n".encode("gb18030")) == ("作品ID,播放量\n", "gb18030")


def test_a_row_whose_figures_are_all_missing_is_skipped() -> None:
    data = "作品ID,作品名称,播放量,点赞数\n731,有数据,5,1\n732,还没有数据,--,暂无\n733,空,,-\n".encode()
    parsed = parse_export(data, "a.csv", shipped_mappings()["douyin"], as_of=AS_OF)
    assert [r.post_id for r in parsed.rows] == ["731"] and not parsed.errors
    assert [s.line for s in parsed.skipped] == [3, 4] and "no figures yet" in parsed.skipped[0].reason
