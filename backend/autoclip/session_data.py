"""A live session's own time series, as a platform's live dashboard exports it (per-minute viewers,
comments, likes, orders, GMV; CSV or XLSX with Chinese headers), read with the metrics parsing helpers
(encodings, XLSX, row limit, '1.2万', '¥1,234') into series in source seconds."""

from __future__ import annotations

import re
from datetime import datetime, time
from typing import Any

from backend import i18n
from backend.metrics.limits import ImportLimits
from backend.metrics.mappings import normalise_header
from backend.metrics.parsing import (
    HEADER_SEARCH_ROWS,
    CellError,
    ExportUnreadable,
    is_blank,
    parse_count,
    parse_money,
    read_table,
)

# Header names as the dashboards write them (normalised: no spaces, brackets or units).
HEADERS: dict[str, tuple[str, ...]] = {
    "time": ("时间", "时间点", "分钟", "时刻", "统计时间", "日期时间", "time", "minute", "timestamp"),
    "viewers": ("在线人数", "实时在线人数", "在线观众", "观看人数", "进入直播间人数", "在线用户数", "viewers", "online"),
    "comments": ("评论数", "评论", "评论次数", "弹幕数", "comments"),
    "likes": ("点赞数", "点赞", "点赞次数", "likes"),
    "orders": ("订单数", "成交订单数", "下单数", "成交件数", "支付订单数", "orders"),
    "gmv": ("成交金额", "gmv", "销售额", "成交额", "支付金额", "sales"),
}
_LOOKUP = {normalise_header(name): field for field, names in HEADERS.items() for name in names}
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
_MINUTE = re.compile(r"^第?(\d+)(?:分钟|分|min)?$")


# A live session's export has a row a minute (or a second) and a handful of columns: limits far below a
# metrics export's, so even a hostile file read in this process stays small (30,000 x 32 cells at most).
SESSION_LIMITS = ImportLimits(
    rows=30_000, columns=32, cell_chars=1_000, shared_strings_bytes=8 * 1024 * 1024,
    uncompressed_bytes=32 * 1024 * 1024, zip_members=100,
)


class SessionDataError(ValueError):
    """The session data cannot be read; the message says why in English, `key` (a text of
    backend/i18n) and `params` in every language."""

    def __init__(self, detail: str | None = None, *, key: str | None = None, params: dict[str, Any] | None = None) -> None:
        self.key, self.params = key, dict(params or {})
        super().__init__(detail if detail is not None else i18n.text(key or "", i18n.EN, self.params) or key)


def _find_header(rows: list[list[Any]]) -> tuple[int, dict[int, str]]:
    for i, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        columns = {j: _LOOKUP[normalise_header(str(c))] for j, c in enumerate(row) if c is not None and normalise_header(str(c)) in _LOOKUP}
        if "time" in columns.values() and len(set(columns.values())) >= 2:
            return i, columns
    wanted = "、".join(HEADERS["time"][:3])
    raise SessionDataError(key="session-data.no-header", params={"wanted": wanted})


def _seconds(value: Any) -> float:
    """A row's time as seconds on some clock: a datetime, a time of day, or a minute number."""
    if isinstance(value, datetime):
        return value.timestamp() if value.tzinfo else (value - datetime(1970, 1, 1)).total_seconds()
    if isinstance(value, time):
        return value.hour * 3600 + value.minute * 60 + value.second
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) * 60
    text = str(value).strip()
    try:
        return _seconds(datetime.fromisoformat(text.replace("/", "-")))
    except ValueError:
        pass
    if m := _CLOCK.match(text):
        return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3) or 0)
    if m := _MINUTE.match(text.replace(" ", "")):
        return int(m.group(1)) * 60.0
    raise CellError(f"{value!r} is not a time (20:01, 2026-12-01 20:01, or a minute number)")


def parse_session_data(data: bytes, filename: str, *, offset_s: float = 0.0) -> dict[str, dict[str, Any]]:
    """{metric: {"start", "step", "values"}} with times in source seconds: the first row is at `offset_s`
    (the second of the recording at which the export's first minute starts). Missing cells count 0."""
    try:
        rows = read_table(data, filename, SESSION_LIMITS)
    except ExportUnreadable as e:
        raise SessionDataError(str(e), key=e.key, params=e.params) from e
    header, columns = _find_header(rows)
    times: list[float] = []
    values: dict[str, list[float]] = {f: [] for f in columns.values() if f != "time"}
    for line, row in enumerate(rows[header + 1 :], start=header + 2):
        cells = {f: (row[j] if j < len(row) else None) for j, f in columns.items()}
        if is_blank(cells["time"]):
            if all(is_blank(v) for v in row):
                continue
            raise SessionDataError(key="session-data.no-time", params={"line": line})
        try:
            t = _seconds(cells["time"])
            if times and t < times[-1]:
                t += 86_400 * (1 + int((times[-1] - t) // 86_400))  # a session running past midnight
            times.append(t)
            for f in values:
                if f == "gmv":
                    money = parse_money(cells[f], "CNY")
                    values[f].append(float(money[0]) if money else 0.0)
                else:
                    values[f].append(float(parse_count(cells[f]) or 0))
        except CellError as e:
            raise SessionDataError(key="session-data.line-unreadable", params={"line": line, "error": str(e)}) from e
    if len(times) < 2:
        raise SessionDataError(key="session-data.too-few-rows")
    gaps = [b - a for a, b in zip(times, times[1:], strict=False) if b > a]
    step = min(gaps) if gaps else 0.0  # the export's own interval; a missing minute is a longer gap
    if step <= 0:
        raise SessionDataError(key="session-data.times-do-not-advance")
    # Rows onto a fixed grid (a missing minute becomes 0), first row at offset_s.
    n = int(round((times[-1] - times[0]) / step)) + 1
    out: dict[str, dict[str, Any]] = {}
    for f, vals in values.items():
        grid = [0.0] * n
        for t, v in zip(times, vals, strict=True):
            grid[min(n - 1, int(round((t - times[0]) / step)))] = v
        out[f] = {"start": round(offset_s, 3), "step": step, "values": grid}
    return out
