"""Reading platform metric exports (pure): CSV in UTF-8 / UTF-8 with BOM / GB18030 / UTF-16, or XLSX,
through a per-platform column mapping, into typed rows or per-row errors with reasons.

Nothing here touches the database; `backend.metrics.service` attributes and stores the rows.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from backend import i18n
from backend.metrics.limits import (
    DEFAULT_LIMITS,
    ExportUnreadable,
    ImportLimitExceeded,
    ImportLimits,
    check_xlsx_archive,
)
from backend.metrics.mappings import METRICS, MetricMapping, normalise_header

__all__ = ["ExportUnreadable", "ImportLimitExceeded", "ImportLimits", "parse_export", "iter_table"]

MAX_ROWS = DEFAULT_LIMITS.rows
EXCEL_MAX_ROWS = 1_048_576
HEADER_SEARCH_ROWS = 15  # exports often start with a title line or a "数据更新时间" line

# --- cells --------------------------------------------------------------------------------------


class CellError(ValueError):
    """A cell that cannot be read; the message is shown to the user as the row's reason, `code` is its
    stable name (a client words it in the person's language) and `params` what the wording needs."""

    def __init__(self, message: str, code: str = "cell-unreadable", **params: Any) -> None:
        super().__init__(message)
        self.code = code
        self.params: dict[str, Any] = params


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
        raise CellError(f"{value!r} is not a number", "not-a-number")
    try:
        return Decimal(text) * scale
    except InvalidOperation as exc:  # pragma: no cover - the pattern above rules this out
        raise CellError(f"{value!r} is not a number", "not-a-number") from exc


def parse_count(value: Any, *, signed: bool = False) -> int | None:
    number = parse_number(value)
    if number is None:
        return None
    if number < 0 and not signed:
        raise CellError(f"{value!r} is negative; a count cannot be", "negative")
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
        raise CellError(f"{value!r} is not a rate between 0 and 100%", "not-a-rate")
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
        raise CellError(f"{value!r} is negative; an amount cannot be", "negative")
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
        raise CellError(f"{value!r} is a negative duration", "negative")
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
            raise CellError(f"{value!r} is not a date", "not-a-date")
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
            raise CellError(f"{value!r} is not a date", "not-a-date")
        y, mo, d, hh, mi, ss, offset = m.groups()
        try:
            sec = float(ss or 0)
            local = datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(sec),
                             int(round((sec % 1) * 1e6)))
        except ValueError as exc:
            raise CellError(f"{value!r} is not a valid date", "not-a-date") from exc
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
                        "export ids as text", "post-id-rounded")
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


# Stable codes of a row's problems (the reason is their English wording; clients word the code):
#   cell problems, with `field`, `header` (as the file writes it) and `value`: not-a-number, negative,
#   not-a-rate, not-a-date, post-id-rounded, cell-unreadable;
#   row problems: no-identity, title-without-date, no-capture-date, no-as-of, mixed-currencies,
#   conflicting-duplicate (with `other_line`);
#   skipped rows (not errors): totals-row, no-figures-yet, duplicate-row (with `other_line`).
@dataclass(frozen=True)
class RowError:
    line: int
    reason: str
    raw: dict[str, str]
    code: str = "cell-unreadable"
    params: dict[str, Any] = field(default_factory=dict)


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


class ExportEncodingInvalid(ExportUnreadable):
    """A CSV that is not text in any encoding we read; says where the first bad byte is."""

    def __init__(
        self, detail: str | None = None, *, byte_offset: int, line: int, encoding: str, key: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail, key=key, params=params)
        self.byte_offset, self.line, self.encoding = byte_offset, line, encoding


# --- files --------------------------------------------------------------------------------------


def _looks_like_broken_utf8(data: bytes) -> bool:
    """Mostly valid UTF-8 multi-byte text with a few bad bytes (a truncated or spliced UTF-8 file),
    rather than GBK text: GB18030 would 'decode' it into mojibake, so it is refused instead."""
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    good = sum(1 for ch in text if ord(ch) > 0x7F) - bad
    return good >= 4 * bad


def decode_csv_bytes(data: bytes) -> tuple[str, str]:
    """Text and the encoding it was read with.

    A BOM decides (UTF-8 or UTF-16, as Excel's "Unicode text" writes); otherwise strict UTF-8, and if
    that fails GB18030 (a superset of GBK/GB2312, what Chinese Excel and most platform back-ends
    write). Strict UTF-8 almost never accepts GBK bytes by accident, so the order is safe; a file that
    is neither, or that is UTF-8 with a few broken bytes, is refused with the first bad byte's place.
    """
    if data.startswith(codecs.BOM_UTF16_LE) or data.startswith(codecs.BOM_UTF16_BE):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise _encoding_error(data, exc, "UTF-16") from None
    try:
        return data.decode("utf-8-sig"), "utf-8-sig"
    except UnicodeDecodeError as utf8_error:
        if data.startswith(codecs.BOM_UTF8) or _looks_like_broken_utf8(data):
            raise _encoding_error(data, utf8_error, "UTF-8") from None
        try:
            return data.decode("gb18030"), "gb18030"
        except UnicodeDecodeError:
            raise _encoding_error(data, utf8_error, "UTF-8 or GB18030") from None


def _encoding_error(data: bytes, exc: UnicodeDecodeError, tried: str) -> ExportEncodingInvalid:
    line = data.count(b"\n", 0, exc.start) + 1
    return ExportEncodingInvalid(
        byte_offset=exc.start, line=line, encoding=tried, key="metrics.csv-encoding",
        params={"encoding": {i18n.ZH: tried.replace(" or ", " 或 "), i18n.EN: tried}, "offset": exc.start, "line": line,
                "byte": data[exc.start]},
    )


def _checked(cells: Sequence[Any], line: int, limits: ImportLimits) -> list[Any]:
    """The row without its trailing empty cells, refused if it is too wide or a cell too long."""
    row = list(cells)
    while row and (row[-1] is None or row[-1] == ""):
        row.pop()
    if len(row) > limits.columns:
        raise ImportLimitExceeded("columns", limits.columns, key="metrics.too-many-columns",
                                  params={"line": line, "count": len(row), "limit": limits.columns})
    for value in row:
        if isinstance(value, str) and len(value) > limits.cell_chars:
            raise ImportLimitExceeded("cell", limits.cell_chars, key="metrics.cell-too-long",
                                      params={"line": line, "chars": len(value), "limit": limits.cell_chars})
    return row


def _lines_of(text: str) -> Iterator[str]:
    """The text's lines with their endings, one at a time (io.StringIO would hold the whole text
    again as 4-byte code points: 180 MB for a 45 MB file)."""
    sep = "\n" if "\n" in text or "\r" not in text else "\r"  # bare CR: old Mac Excel
    start = 0
    while start < len(text):
        end = text.find(sep, start)
        end = len(text) if end < 0 else end + 1
        yield text[start:end]
        start = end


def _csv_lines(data: bytes, limits: ImportLimits) -> Iterator[tuple[int, list[Any]]]:
    text, _ = decode_csv_bytes(data)
    del data
    sample = text[:8192]
    first = sample.splitlines()[0] if sample else ""
    delimiter = max([",", "\t", ";"], key=first.count) if first else ","
    reader = csv.reader(_lines_of(text), delimiter=delimiter)
    # The csv module's own cap stops one field from growing without end (a stray quote can make
    # the rest of a 45 MB file one field); its default (131072) is process-wide, so the explicit
    # length check in `_checked` is what holds the cap when this runs outside the parsing child.
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                raise ImportLimitExceeded("cell", limits.cell_chars, key="metrics.csv-field-too-long",
                                          params={"line": reader.line_num, "limit": limits.cell_chars}) from None
            raise ExportUnreadable(key="metrics.csv-line-unreadable",
                                   params={"line": reader.line_num, "error": str(exc)}) from None
        yield reader.line_num, _checked(cells, reader.line_num, limits)


def _xlsx_lines(data: bytes, limits: ImportLimits) -> Iterator[tuple[int, list[Any]]]:
    from openpyxl import load_workbook

    check_xlsx_archive(data, limits)
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except ImportLimitExceeded:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many types for a bad file
        raise ExportUnreadable(key="metrics.xlsx-cannot-open", params={"error": type(exc).__name__}) from exc
    try:
        if not book.worksheets:
            raise ExportUnreadable(key="metrics.xlsx-no-worksheet")
        sheet = book.worksheets[0]
        # Never trust <dimension>: read-only openpyxl pads every row to its width (A1:XFD1048576 made
        # 16,384 cells of every row). Without it a row holds only up to its last written cell.
        sheet.reset_dimensions()
        for line, cells in enumerate(sheet.iter_rows(values_only=True), 1):
            if line > EXCEL_MAX_ROWS:  # a row number no spreadsheet can write: stop counting empty rows
                raise ImportLimitExceeded("rows", limits.rows, key="metrics.row-past-excel",
                                          params={"last": EXCEL_MAX_ROWS})
            yield line, _checked(cells, line, limits)
    finally:
        book.close()


def is_xlsx(data: bytes, filename: str) -> bool:
    return data[:4] == b"PK\x03\x04" or filename.lower().endswith((".xlsx", ".xlsm"))


def iter_table(data: bytes, filename: str, limits: ImportLimits = DEFAULT_LIMITS) -> Iterator[tuple[int, list[Any]]]:
    """(line number, cells) of every non-blank row of the first sheet (XLSX) or of the CSV, read as
    they stream, with the row, column and cell limits checked on the way."""
    if is_xlsx(data, filename):
        lines = _xlsx_lines(data, limits)
    elif filename.lower().endswith(".xls") or data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise ExportUnreadable(key="metrics.old-xls")
    else:
        lines = _csv_lines(data, limits)
    kept = 0
    for line, row in lines:
        if not row or all(is_blank(v) for v in row):
            continue
        kept += 1
        if kept > limits.rows + HEADER_SEARCH_ROWS:
            raise ImportLimitExceeded("rows", limits.rows, key="metrics.too-many-rows", params={"limit": limits.rows})
        yield line, row


def read_table(data: bytes, filename: str, limits: ImportLimits = DEFAULT_LIMITS) -> list[list[Any]]:
    """All non-blank rows of the first sheet (XLSX) or of the CSV, as cell values."""
    return [row for _, row in iter_table(data, filename, limits)]


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
        raise ExportUnreadable(key="metrics.no-header", params={
            "platform": mapping.platform, "known": ", ".join(a for aliases in mapping.columns.values() for a in aliases[:1]),
        })
    return idx, found


def detect_platform(data: bytes, filename: str, mappings: dict[str, MetricMapping],
                    limits: ImportLimits = DEFAULT_LIMITS) -> str | None:
    """The mapping whose headers match the file best (ties: None, the caller must say)."""
    rows = [row for _, row in itertools.islice(iter_table(data, filename, limits), HEADER_SEARCH_ROWS)]
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


class _NoFiguresYet(CellError):
    """Every figure of the row is missing ('--', '-', '暂无', empty): the platform has no data yet."""


def parse_export(
    data: bytes, filename: str, mapping: MetricMapping, *, as_of: datetime | None = None,
    limits: ImportLimits = DEFAULT_LIMITS,
) -> ParsedExport:
    """Read an export through `mapping`, row by row as the file streams.

    `as_of` is the capture time for rows of a cumulative export that has no date column (the moment
    the export was downloaded); a per-day export takes each row's date instead.
    """
    lines = iter_table(data, filename, limits)
    head = list(itertools.islice(lines, HEADER_SEARCH_ROWS))
    header_idx, columns = _find_header([row for _, row in head], mapping)
    header_line, header = head[header_idx]
    parsed = ParsedExport(
        platform=mapping.platform,
        is_cumulative=mapping.cumulative,
        header_line=header_line,
        columns={fld: str(header[i]).strip() for i, fld in columns.items()},
        unmapped_headers=[str(c).strip() for i, c in enumerate(header) if i not in columns and c not in (None, "")],
    )
    seen: dict[tuple[str, str, datetime], MetricRow] = {}
    for count, (line, raw_row) in enumerate(itertools.chain(head[header_idx + 1 :], lines), 1):
        if count > limits.rows:
            raise ImportLimitExceeded("rows", limits.rows, key="metrics.too-many-rows", params={"limit": limits.rows})
        cells = {fld: raw_row[i] if i < len(raw_row) else None for i, fld in columns.items()}
        raw = {parsed.columns[f]: ("" if v is None else str(v)) for f, v in cells.items()}
        first = next((v for v in raw_row if not is_blank(v)), "")
        if _text(first).rstrip(":") in _TOTALS:
            parsed.skipped.append(RowError(line, "a totals row, not a post", raw, "totals-row"))
            continue
        try:
            row = _typed_row(line, cells, mapping, as_of, parsed.columns)
        except _NoFiguresYet as exc:
            parsed.skipped.append(RowError(line, str(exc), raw, exc.code))
            continue
        except CellError as exc:
            parsed.errors.append(RowError(line, str(exc), raw, exc.code, exc.params))
            continue
        previous = seen.get(row.key)
        if previous is not None:
            if previous.values == row.values:
                parsed.skipped.append(RowError(line, f"the same figures as line {previous.line}", raw, "duplicate-row",
                                               {"other_line": previous.line}))
            else:
                parsed.errors.append(RowError(
                    line, f"the same post and date as line {previous.line} but different figures", raw,
                    "conflicting-duplicate", {"other_line": previous.line}))
            continue
        seen[row.key] = row
        parsed.rows.append(row)
    return parsed


def _typed_row(line: int, cells: dict[str, Any], mapping: MetricMapping, as_of: datetime | None,
               headers: dict[str, str] | None = None) -> MetricRow:
    def cell(fld: str, read):
        try:
            return read(cells.get(fld))
        except CellError as exc:
            header = (headers or {}).get(fld) or _header_of(mapping, fld)
            value = cells.get(fld)
            raise CellError(f"{fld} ({_header_of(mapping, fld)}): {exc}", exc.code, field=fld, header=header,
                            value="" if value is None else str(value)[:200]) from None

    zone = mapping.zone
    post_id = cell("post_id", clean_post_id)
    url = cell("url", clean_url)
    title = cell("title", clean_text)
    if not (post_id or url or title):
        raise CellError("no post id, link or title to find the post by", "no-identity")
    published_at = cell("published_at", lambda v: parse_datetime(v, zone))
    captured = cell("captured_at", lambda v: parse_datetime(v, zone))
    if captured is None:
        if not mapping.cumulative:
            raise CellError("captured_at: a per-day export needs the date on every row", "no-capture-date")
        if as_of is None:
            raise CellError("captured_at: the export has no date column and no as-of time was given", "no-as-of")
        captured = as_of
    if not (post_id or url) and published_at is None:
        raise CellError("only a title: a publish time is needed too to tell posts apart", "title-without-date")

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
        raise CellError(f"money columns in different currencies ({', '.join(sorted(currencies))})", "mixed-currencies",
                        currencies=", ".join(sorted(currencies)))
    if all(v is None for v in values.values()):
        raise _NoFiguresYet("no figures yet: every figure is missing ('--', '暂无' or empty)", "no-figures-yet")
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
