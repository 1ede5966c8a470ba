"""Reading platform metric exports (pure): CSV in UTF-8 / UTF-8 with BOM / GB18030 / UTF-16, or XLSX,
through a per-platform column mapping, into typed rows or per-row errors with reasons.

Nothing here touches the database; `backend.metrics.service` attributes and stores the rows.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from backend.metrics.mappings import METRICS, MetricMapping, normalise_header

MAX_ROWS = 200_000
HEADER_SEARCH_ROWS = 15  # exports often start with a title line or a "数据更新时间" line

# --- cells --------------------------------------------------------------------------------------


class CellError(ValueError):
    """A cell that cannot be read; the message is shown to the user as the row's reason."""


_NULLS = {"", "-", "--", "---", "—", "——", "–", "−", "n/a", "na", "null", "none", "nan", "/", "暂无", "无", "暂无数据"}
# Longest first so that 百万 is not read as 万 after a stray 百.
_SCALES: tuple[tuple[str, Decimal], ...] = (
    ("千万", Decimal(10_000_000)), ("百万", Decimal(1_000_000)), ("亿", Decimal(100_000_000)),
    ("万", Decimal(10_000)), ("千", Decimal(1_000)), ("w", Decimal(10_000)), ("k", Decimal(1_000)),
    ("m", Decimal(1_000_000)), ("b", Decimal(1_000_000_000)),
)
_CURRENCY_MARKS: tuple[tuple[str, str], ...] = (
    ("us$", "USD"), ("usd", "USD"), ("cny", "CNY"), ("rmb", "CNY"), ("hk$", "HKD"), ("hkd", "HKD"),
    ("eur", "EUR"), ("€", "EUR"), ("£", "GBP"), ("gbp", "GBP"), ("¥", "CNY"), ("￥", "CNY"),
    ("元", "CNY"), ("$", "USD"),
)
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$")


def _text(value: Any) -> str:
    # NFKC folds full-width digits, '，', '％' and '．' that Chinese spreadsheets are full of.
    text = unicodedata.normalize("NFKC", str(value)).strip().lower()
    return text.replace("\u2212", "-").replace("\u00a0", "").replace(" ", "")


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and _text(value) in _NULLS)


def parse_number(value: Any) -> Decimal | None:
    """'1.2万' -> 12000, '3,456' -> 3456, '1.5亿' -> 150000000, '2.3k' -> 2300, '—' -> None.

    Percent signs are not accepted here (see `parse_ratio`); currency marks are (see `parse_money`).
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, float):
        if value != value:  # NaN from a spreadsheet
            return None
        return Decimal(repr(value))
    text = _text(value)
    if text in _NULLS:
        return None
    text = text.replace(",", "").replace("'", "").replace("_", "")
    if text.startswith("+"):
        text = text[1:]
    scale = Decimal(1)
    for suffix, factor in _SCALES:
        if text.endswith(suffix) and len(text) > len(suffix):
            text, scale = text[: -len(suffix)], factor
            break
    if not _NUMBER.match(text):
        raise CellError(f"{value!r} is not a number")
    try:
        return Decimal(text) * scale
    except InvalidOperation as exc:  # pragma: no cover - the pattern above rules this out
        raise CellError(f"{value!r} is not a number") from exc


def parse_count(value: Any, *, signed: bool = False) -> int | None:
    number = parse_number(value)
    if number is None:
        return None
    if number < 0 and not signed:
        raise CellError(f"{value!r} is negative; a count cannot be")
    # Platforms display large counts rounded ("1.23万"); the nearest whole number is what they mean.
    return int(number.to_integral_value(rounding=ROUND_HALF_UP))


def parse_ratio(value: Any) -> float | None:
    """'12.5%' -> 0.125. A bare number is a fraction when <= 1 and a percentage when above (12.5 -> 0.125)."""
    if value is None:
        return None
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        number: Decimal | None = parse_number(value)
        percent = number is not None and number > 1
    else:
        text = _text(value)
        if text in _NULLS:
            return None
        percent = text.endswith("%")
        number = parse_number(text.rstrip("%"))
        if number is not None and not percent and number > 1:
            percent = True
    if number is None:
        return None
    ratio = number / 100 if percent else number
    if not 0 <= ratio <= 1:
        raise CellError(f"{value!r} is not a rate between 0 and 100%")
    return float(ratio)


def parse_money(value: Any, default_currency: str) -> tuple[Decimal, str] | None:
    """'¥1,234.50' -> (1234.50, 'CNY'); '$12' -> (12, 'USD'); '1.2万元' -> (12000, 'CNY'). Two decimals."""
    if value is None:
        return None
    currency = default_currency
    if isinstance(value, str):
        text = _text(value)
        if text in _NULLS:
            return None
        for mark, code in _CURRENCY_MARKS:
            if mark in text:
                currency = code
                text = text.replace(mark, "")
                break
        value = text
    number = parse_number(value)
    if number is None:
        return None
    if number < 0:
        raise CellError(f"{value!r} is negative; an amount cannot be")
    return number.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP), currency


_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)$")
_UNITS = re.compile(r"(\d+(?:\.\d+)?)(小时|时|h|分钟|分|min|m|秒|s)")
_UNIT_SECONDS = {"小时": 3600, "时": 3600, "h": 3600, "分钟": 60, "分": 60, "min": 60, "m": 60, "秒": 1, "s": 1}


def parse_seconds(value: Any) -> float | None:
    """'15.3' / '15.3s' / '15.3秒' / '1分20秒' / '0:01:20' / '1m20s' -> seconds."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, time):  # XLSX cells formatted as h:mm:ss
        return value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        number = parse_number(value)
        return None if number is None else float(number)
    text = _text(value)
    if text in _NULLS:
        return None
    if m := _CLOCK.match(text):
        hours, minutes, seconds = int(m.group(1) or 0), int(m.group(2)), float(m.group(3))
        return hours * 3600 + minutes * 60 + seconds
    parts = _UNITS.findall(text)
    if parts and "".join(n + u for n, u in parts) == text:
        return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    number = parse_number(text)
    if number is None:
        return None
    if number < 0:
        raise CellError(f"{value!r} is a negative duration")
    return float(number)


_DATE = re.compile(
    r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[t ]*(\d{1,2})[:时](\d{1,2})(?:[:分](\d{1,2}(?:\.\d+)?)秒?)?)?(z|[+-]\d{2}:?\d{2})?$"
)
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_EXCEL_EPOCH = datetime(1899, 12, 30)


def parse_datetime(value: Any, zone: ZoneInfo) -> datetime | None:
    """A date or date-time as a platform writes it, read in the platform's zone, returned in UTC.

    '2024-06-18', '2024/6/18 20:30', '2024年6月18日', '20240618', XLSX dates, Excel serial numbers,
    Unix seconds or milliseconds.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        local = value
    elif isinstance(value, date):
        local = datetime.combine(value, time())
    elif isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        number = float(value)
        if 20_000 <= number < 80_000:  # Excel serial day number (1954..2119)
            local = _EXCEL_EPOCH + timedelta(days=number)
        elif 1e9 <= number < 1e10:
            return datetime.fromtimestamp(number, UTC)
        elif 1e12 <= number < 1e13:
            return datetime.fromtimestamp(number / 1000, UTC)
        else:
            raise CellError(f"{value!r} is not a date")
    else:
        text = unicodedata.normalize("NFKC", str(value)).strip().lower()
        if text in _NULLS:
            return None
        if text.isdigit() and len(text) in (10, 13):
            return parse_datetime(int(text), zone)
        if m := _COMPACT_DATE.match(text):
            text = f"{m.group(1)}-{m.group(2)}-{m.group(3)}"
        m = _DATE.match(text)
        if not m:
            raise CellError(f"{value!r} is not a date")
        y, mo, d, hh, mi, ss, offset = m.groups()
        try:
            sec = float(ss or 0)
            local = datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(sec),
                             int(round((sec % 1) * 1e6)))
        except ValueError as exc:
            raise CellError(f"{value!r} is not a valid date") from exc
        if offset:
            iso = local.isoformat() + ("+00:00" if offset == "z" else offset[:3] + ":" + offset[-2:])
            return datetime.fromisoformat(iso).astimezone(UTC)
    if local.tzinfo is None:
        local = local.replace(tzinfo=zone)
    return local.astimezone(UTC)


def clean_text(value: Any, limit: int = 500) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a numeric id read from XLSX as 7.3e18 would be wrong anyway; ints survive
    text = unicodedata.normalize("NFC", str(value)).strip()
    return text[:limit] if text and _text(text) not in _NULLS else None


_URL_IN_TEXT = re.compile(r"https?://\S+")


def clean_url(value: Any) -> str | None:
    """Share texts paste a sentence around the link ('复制打开抖音… https://v.douyin.com/xxx/'): keep the link."""
    text = clean_text(value, 2000)
    if text is None:
        return None
    found = _URL_IN_TEXT.search(text)
    return found.group(0).rstrip("，。,.;；)）") if found else None


def clean_post_id(value: Any) -> str | None:
    text = clean_text(value, 200)
    if text is None:
        return None
    # Spreadsheets keep long ids as text with a leading apostrophe or tab, or as "7.38E+18" (lost).
    text = text.lstrip("'\t ")
    if re.fullmatch(r"\d+(\.\d+)?e\+\d+", text.lower()):
        raise CellError(f"{value!r} is a post id that the spreadsheet turned into a rounded number; "
                        "export ids as text")
    return text


# --- rows ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricRow:
    """One post's figures from one export row, typed. Money in minor units (cents / fen)."""

    line: int
    post_id: str | None
    url: str | None
    title: str | None
    published_at: datetime | None
    captured_at: datetime
    account: str | None
    values: dict[str, int | float | None]
    currency: str | None
    is_cumulative: bool

    @property
    def key(self) -> tuple[str, str, datetime]:
        """Identity of a post within one file: the best id it has, plus the capture time."""
        if self.post_id:
            return ("post_id", self.post_id, self.captured_at)
        if self.url:
            return ("url", self.url, self.captured_at)
        return ("title", f"{self.title}|{self.published_at}", self.captured_at)


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str
    raw: dict[str, str]


@dataclass
class ParsedExport:
    platform: str
    is_cumulative: bool
    header_line: int
    columns: dict[str, str]  # field -> header as written in the file
    unmapped_headers: list[str]
    rows: list[MetricRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    skipped: list[RowError] = field(default_factory=list)  # totals rows and exact duplicates: not errors

    @property
    def total_lines(self) -> int:
        return len(self.rows) + len(self.errors) + len(self.skipped)


class ExportUnreadable(ValueError):
    """The file as a whole cannot be read (encoding, format, no recognisable header)."""


# --- files --------------------------------------------------------------------------------------


def decode_csv_bytes(data: bytes) -> tuple[str, str]:
    """Text and the encoding it was read with.

    A BOM decides (UTF-8 or UTF-16, as Excel's "Unicode text" writes); otherwise strict UTF-8, and if
    that fails GB18030 (a superset of GBK/GB2312, what Chinese Excel and most platform back-ends
    write). Strict UTF-8 almost never accepts GBK bytes by accident, so the order is safe; a file that
    is neither is refused rather than guessed at.
    """
    if data.startswith(codecs.BOM_UTF16_LE) or data.startswith(codecs.BOM_UTF16_BE):
        return data.decode("utf-16"), "utf-16"
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise ExportUnreadable("the CSV is neither UTF-8 nor GB18030 text; save it again as CSV (UTF-8)")


def _csv_rows(text: str) -> list[list[str]]:
    sample = text[:8192]
    first = sample.splitlines()[0] if sample else ""
    delimiter = max([",", "\t", ";"], key=first.count) if first else ","
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


def _xlsx_rows(data: bytes) -> list[list[Any]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many types for a bad file
        raise ExportUnreadable(f"the XLSX file cannot be opened: {type(exc).__name__}") from exc
    try:
        sheet = book.worksheets[0]
        out: list[list[Any]] = []
        for row in sheet.iter_rows(values_only=True):
            out.append(list(row))
            if len(out) > MAX_ROWS + HEADER_SEARCH_ROWS:
                raise ExportUnreadable(f"the sheet has more than {MAX_ROWS} rows; split the export")
        return out
    finally:
        book.close()


def read_table(data: bytes, filename: str) -> list[list[Any]]:
    """All rows of the first sheet (XLSX) or of the CSV, as cell values."""
    if data[:4] == b"PK\x03\x04" or filename.lower().endswith((".xlsx", ".xlsm")):
        return _xlsx_rows(data)
    if filename.lower().endswith(".xls") or data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise ExportUnreadable("old .xls workbooks are not read; save the export as .xlsx or CSV")
    text, _ = decode_csv_bytes(data)
    rows = _csv_rows(text)
    if len(rows) > MAX_ROWS + HEADER_SEARCH_ROWS:
        raise ExportUnreadable(f"the file has more than {MAX_ROWS} rows; split the export")
    return rows


def _match_headers(row: Sequence[Any], mapping: MetricMapping) -> dict[int, str]:
    index = mapping.header_index()
    found: dict[int, str] = {}
    taken: set[str] = set()
    for i, cell in enumerate(row):
        if cell is None:
            continue
        fld = index.get(normalise_header(str(cell)))
        if fld and fld not in taken:  # the first column wins when a file repeats a header
            found[i] = fld
            taken.add(fld)
    return found


def _find_header(rows: list[list[Any]], mapping: MetricMapping) -> tuple[int, dict[int, str]]:
    best: tuple[int, dict[int, str]] = (-1, {})
    for i, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        found = _match_headers(row, mapping)
        if len(found) > len(best[1]):
            best = (i, found)
    idx, found = best
    fields = set(found.values())
    if idx < 0 or not fields & {"post_id", "url", "title"} or not fields & set(METRICS):
        raise ExportUnreadable(
            f"no header row of the {mapping.platform} export was found: it needs a post id, link or title "
            f"column and at least one figure; known headers: "
            + ", ".join(a for aliases in mapping.columns.values() for a in aliases[:1])
        )
    return idx, found


def detect_platform(data: bytes, filename: str, mappings: dict[str, MetricMapping]) -> str | None:
    """The mapping whose headers match the file best (ties: None, the caller must say)."""
    rows = read_table(data, filename)
    scores = []
    for name, mapping in mappings.items():
        try:
            _, found = _find_header(rows, mapping)
        except ExportUnreadable:
            continue
        scores.append((len(found), name))
    scores.sort(reverse=True)
    if not scores or (len(scores) > 1 and scores[0][0] == scores[1][0]):
        return None
    return scores[0][1]


_TOTALS = {"合计", "总计", "汇总", "total", "totals", "总计:", "合计:"}


def parse_export(
    data: bytes, filename: str, mapping: MetricMapping, *, as_of: datetime | None = None
) -> ParsedExport:
    """Read an export through `mapping`.

    `as_of` is the capture time for rows of a cumulative export that has no date column (the moment
    the export was downloaded); a per-day export takes each row's date instead.
    """
    rows = read_table(data, filename)
    header_idx, columns = _find_header(rows, mapping)
    header = rows[header_idx]
    parsed = ParsedExport(
        platform=mapping.platform,
        is_cumulative=mapping.cumulative,
        header_line=header_idx + 1,
        columns={fld: str(header[i]).strip() for i, fld in columns.items()},
        unmapped_headers=[str(c).strip() for i, c in enumerate(header) if i not in columns and c not in (None, "")],
    )
    seen: dict[tuple[str, str, datetime], MetricRow] = {}
    for offset, raw_row in enumerate(rows[header_idx + 1 :]):
        line = header_idx + 2 + offset
        cells = {fld: raw_row[i] if i < len(raw_row) else None for i, fld in columns.items()}
        raw = {parsed.columns[f]: ("" if v is None else str(v)) for f, v in cells.items()}
        if all(is_blank(v) for v in raw_row):
            continue
        first = next((v for v in raw_row if not is_blank(v)), "")
        if _text(first).rstrip(":") in _TOTALS:
            parsed.skipped.append(RowError(line, "a totals row, not a post", raw))
            continue
        try:
            row = _typed_row(line, cells, mapping, as_of)
        except CellError as exc:
            parsed.errors.append(RowError(line, str(exc), raw))
            continue
        previous = seen.get(row.key)
        if previous is not None:
            if previous.values == row.values:
                parsed.skipped.append(RowError(line, f"the same figures as line {previous.line}", raw))
            else:
                parsed.errors.append(RowError(
                    line, f"the same post and date as line {previous.line} but different figures", raw))
            continue
        seen[row.key] = row
        parsed.rows.append(row)
    return parsed


def _typed_row(line: int, cells: dict[str, Any], mapping: MetricMapping, as_of: datetime | None) -> MetricRow:
    def cell(fld: str, read):
        try:
            return read(cells.get(fld))
        except CellError as exc:
            raise CellError(f"{fld} ({_header_of(mapping, fld)}): {exc}") from None

    zone = mapping.zone
    post_id = cell("post_id", clean_post_id)
    url = cell("url", clean_url)
    title = cell("title", clean_text)
    if not (post_id or url or title):
        raise CellError("no post id, link or title to find the post by")
    published_at = cell("published_at", lambda v: parse_datetime(v, zone))
    captured = cell("captured_at", lambda v: parse_datetime(v, zone))
    if captured is None:
        if not mapping.cumulative:
            raise CellError("captured_at: a per-day export needs the date on every row")
        if as_of is None:
            raise CellError("captured_at: the export has no date column and no as-of time was given")
        captured = as_of
    if not (post_id or url) and published_at is None:
        raise CellError("only a title: a publish time is needed too to tell posts apart")

    values: dict[str, int | float | None] = {}
    currencies: set[str] = set()
    currency_override = cell("currency", lambda v: clean_text(v, 8))
    default_currency = (currency_override or mapping.currency).upper()
    for name, kind in METRICS.items():
        if name not in cells:
            continue
        raw = cells[name]
        if kind == "count":
            values[name] = cell(name, parse_count)
        elif kind == "signed_count":
            values[name] = cell(name, lambda v: parse_count(v, signed=True))
        elif kind == "ratio":
            values[name] = cell(name, parse_ratio)
        elif kind == "seconds":
            values[name] = cell(name, parse_seconds)
        else:
            money = cell(name, lambda v: parse_money(v, default_currency))
            if money is None:
                values[name] = None
            else:
                amount, code = money
                currencies.add(code)
                values[name] = int(amount * 100)
        del raw
    if len(currencies) > 1:
        raise CellError(f"money columns in different currencies ({', '.join(sorted(currencies))})")
    if all(v is None for v in values.values()):
        raise CellError("no figures on this row")
    return MetricRow(
        line=line, post_id=post_id, url=url, title=title, published_at=published_at, captured_at=captured,
        account=cell("account", clean_text), values=values,
        currency=(currencies.pop() if currencies else default_currency), is_cumulative=mapping.cumulative,
    )


def _header_of(mapping: MetricMapping, fld: str) -> str:
    return mapping.columns.get(fld, (fld,))[0]


def as_of_default(now: datetime, zone: ZoneInfo) -> datetime:
    """Start of the current day in the platform's zone: downloading the same export twice in a day
    then yields the same capture time, so the second import replaces rather than adds."""
    local = now.astimezone(zone)
    return datetime.combine(local.date(), time(), tzinfo=zone).astimezone(UTC)


def summarise_errors(errors: Iterable[RowError], limit: int = 5) -> str:
    items = list(errors)
    shown = "; ".join(f"line {e.line}: {e.reason}" for e in items[:limit])
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return shown + more
