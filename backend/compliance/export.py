"""The compliance status and the monthly report as JSON, CSV (for Excel), XLSX and HTML with SVG charts.

Every format is built from the same `MonthlyReport`, so they agree with each other and with the API.
"""

from __future__ import annotations

import csv
import dataclasses
import enum
import io
import json
import unicodedata
import uuid
from datetime import date, datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from backend.compliance import rules
from backend.compliance.candidates import KIND_NAMES, PROPOSAL_TYPES, clock
from backend.compliance.monthly import AccountStatusReport, MonthlyReport

FORMATS = ("json", "csv", "xlsx", "html")
MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "html": "text/html; charset=utf-8",
}
STATUS_COLOURS = {  # fill colours shared by the XLSX cells and the HTML report
    "met": "C6EFCE",
    "on_track": "DDEBF7",
    "at_risk": "FFEB9C",
    "missed": "FFC7CE",
    "not_required": "EDEDED",
}
STATUS_LABELS = {
    "met": "达标 met",
    "on_track": "进度正常 on track",
    "at_risk": "有风险 at risk",
    "missed": "未达标 missed",
    "not_required": "不要求 not required",
}


# --- JSON ---------------------------------------------------------------------------------------------

_EXTRA_PROPERTIES = {
    rules.MonthQuota: ("shortfall",),
    rules.CapUsage: ("remaining", "exceeded"),
    rules.ChannelMonth: ("cumulative_approved",),
}


def jsonable(value: Any) -> Any:
    """Plain JSON data from the engine's and the report's dataclasses (enums as values, dates ISO 8601)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, rules.YearMonth)):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {
            f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init or f.name
        }
        for name in _EXTRA_PROPERTIES.get(type(value), ()):
            out[name] = jsonable(getattr(value, name))
        return out
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    raise TypeError(f"cannot serialise {type(value).__name__}")


def status_document(reports: list[AccountStatusReport], as_of: datetime) -> dict[str, Any]:
    return {
        "as_of": as_of.isoformat(),
        "accounts": [
            {
                "account": jsonable(r.account),
                "month": str(r.status.month),
                "as_of": r.status.as_of.isoformat(),
                "channels": [
                    {**ch, "daily_approved": list(r.daily_approved.get(ch["channel_id"], ()))}
                    for ch in jsonable(r.status.channels)
                ],
                "candidates": jsonable(r.candidates),
            }
            for r in reports
        ],
    }


def report_document(report: MonthlyReport) -> dict[str, Any]:
    return {
        "month": str(report.month),
        "as_of": report.as_of.isoformat(),
        "generated_at": report.generated_at.isoformat(),
        "summary": report.status_counts(),
        "accounts": [
            {
                "account": jsonable(a.account),
                "started": a.month is not None,
                "channels": jsonable(a.month.channels) if a.month else [],
                "approved": jsonable(a.approved),
                "fillers": jsonable(a.fillers),
                "candidates": jsonable(a.candidates),
            }
            for a in report.accounts
        ],
    }


def to_json(report: MonthlyReport) -> bytes:
    return json.dumps(report_document(report), ensure_ascii=False, indent=2).encode("utf-8")


# --- rows shared by CSV and XLSX ----------------------------------------------------------------------

LANGS = ("zh", "en")
CHANNEL_COLUMNS = (
    "month",
    "platform",
    "account",
    "store_id",
    "channel_id",
    "channel",
    "state",
    "open_since",
    "opened_by_hand",
    "required",
    "approved",
    "shortfall",
    "pending",
    "projected",
    "days_left",
    "status",
    "submissions",
    "monthly_cap",
    "busiest_day",
    "daily_cap",
    "days_over_daily_cap",
)
APPROVED_COLUMNS = (
    "platform",
    "account",
    "channel",
    "counted_at",
    "timezone",
    "material",
    "source",
    "post_id",
    "post_url",
)
FILLER_COLUMNS = ("platform", "account", "channel", "material", "preset", "source")
CANDIDATE_COLUMNS = (
    "platform", "account", "channel", "kind", "material", "source", "range", "duration", "preset", "clip_type",
    "product",
)
HEADERS = {
    "zh": {
        "month": "月份",
        "platform": "平台",
        "account": "店铺",
        "store_id": "店铺编号",
        "channel_id": "渠道编号",
        "channel": "渠道",
        "state": "渠道状态",
        "open_since": "开通日期",
        "opened_by_hand": "手动开通",
        "required": "要求数",
        "approved": "已通过",
        "shortfall": "缺口",
        "pending": "审核中",
        "projected": "预计",
        "days_left": "剩余天数",
        "status": "达标情况",
        "submissions": "本月提交",
        "monthly_cap": "月提交上限",
        "busiest_day": "单日最多提交",
        "daily_cap": "日提交上限",
        "days_over_daily_cap": "超日上限天数",
        "counted_at": "计入时间",
        "timezone": "时区",
        "material": "素材",
        "source": "来源素材",
        "post_id": "作品 ID",
        "post_url": "作品链接",
        "preset": "预设",
        "kind": "类型",
        "range": "来源区间",
        "duration": "时长（秒）",
        "clip_type": "片段类型",
        "product": "商品",
    },
    "en": {name: name for name in (*CHANNEL_COLUMNS, *APPROVED_COLUMNS, *FILLER_COLUMNS, *CANDIDATE_COLUMNS)},
}
SECTIONS = {
    "zh": {"approved": "已通过素材", "fillers": "可补位素材", "candidates": "可补位草稿与片段提议", "summary": "汇总", "as_of": "截至",
           "generated_at": "生成时间", "not_started": "该店铺时区的本月尚未开始"},
    "en": {"approved": "approved", "fillers": "could fill the gap", "candidates": "drafts and proposals that could fill the gap",
           "summary": "Summary", "as_of": "as_of",
           "generated_at": "generated_at", "not_started": "the month has not started in this account's timezone"},
}
STATUS_NAMES = {
    "zh": {"met": "达标", "on_track": "进度正常", "at_risk": "有风险", "missed": "未达标", "not_required": "不要求"},
    "en": {"met": "met", "on_track": "on_track", "at_risk": "at_risk", "missed": "missed",
           "not_required": "not_required"},
}
STATE_NAMES = {
    "zh": {"locked": "未开通", "opening": "开通中", "open": "已开通"},
    "en": {"locked": "locked", "opening": "opening", "open": "open"},
}
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def _lang(lang: str) -> str:
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}; use {' or '.join(LANGS)}")
    return lang


def local_time(value: datetime, tz: str | ZoneInfo) -> str:
    """An instant as the team reads it: in the account's timezone, to the second."""
    return value.astimezone(ZoneInfo(tz) if isinstance(tz, str) else tz).strftime(TIME_FORMAT)


def _report_zone(report: MonthlyReport) -> str:
    """The timezone for the report's own times: the accounts' one when they share it, else Shanghai."""
    zones = {a.account.timezone for a in report.accounts}
    return zones.pop() if len(zones) == 1 else str(rules.DEFAULT_TIMEZONE)


def _names(info: Any, lang: str) -> str:
    return info.platform_name_zh if lang == "zh" else info.platform_name_en


def channel_rows(report: MonthlyReport, lang: str = "zh") -> list[list[Any]]:
    lang = _lang(lang)
    yes, no = ("是", "否") if lang == "zh" else (True, False)
    rows = []
    for a in report.accounts:
        for c in a.month.channels if a.month else ():
            q = c.quota
            rows.append(
                [
                    str(report.month),
                    _names(a.account, lang),
                    a.account.name,
                    a.account.store_id or "",
                    c.channel_id,
                    c.name_zh if lang == "zh" else c.name_en,
                    STATE_NAMES[lang][c.state_at_close.value],
                    c.open_since.date().isoformat() if c.open_since else "",
                    yes if c.opened_by_hand else no,
                    q.required,
                    q.approved,
                    q.shortfall,
                    q.pending,
                    round(q.projected, 1),
                    q.days_left,
                    STATUS_NAMES[lang][q.status.value],
                    c.submissions.used,
                    c.submissions.cap if c.submissions.cap is not None else "",
                    c.busiest_day.used,
                    c.busiest_day.cap if c.busiest_day.cap is not None else "",
                    c.days_over_daily_cap,
                ]
            )
    return rows


def _channel_name(a: Any, channel_id: str, lang: str) -> str:
    for c in a.month.channels if a.month else ():
        if c.channel_id == channel_id:
            return c.name_zh if lang == "zh" else c.name_en
    return channel_id


def approved_rows(report: MonthlyReport, lang: str = "zh") -> list[list[Any]]:
    lang = _lang(lang)
    return [
        [
            _names(a.account, lang),
            a.account.name,
            _channel_name(a, p.channel_id, lang),
            local_time(p.counted_at, a.account.timezone),
            a.account.timezone,
            p.material.title,
            p.source.title,
            p.platform_post_id or "",
            p.post_url or "",
        ]
        for a in report.accounts
        for p in a.approved
    ]


def filler_rows(report: MonthlyReport, lang: str = "zh") -> list[list[Any]]:
    lang = _lang(lang)
    return [
        [
            _names(a.account, lang),
            a.account.name,
            _channel_name(a, f.channel_id, lang),
            f.material.title,
            f.preset_id or "",
            f.source.title,
        ]
        for a in report.accounts
        for f in a.fillers
    ]


def candidate_row(a: Any, c: Any, lang: str) -> list[Any]:
    words = KIND_NAMES[lang]
    span = f"{clock(c.start_s)}-{clock(c.end_s)}" if c.start_s is not None and c.end_s is not None else ""
    clip_type = (PROPOSAL_TYPES.get(c.proposal_type, c.proposal_type) if lang == "zh" else c.proposal_type) or ""
    return [
        _names(a.account, lang),
        a.account.name,
        _channel_name(a, c.channel_id, lang),
        words.get(c.kind, c.kind),
        c.title,
        c.source.title,
        span,
        round(c.duration_s, 1) if c.duration_s is not None else "",
        c.preset_id or "",
        clip_type,
        c.product or "",
    ]


def candidate_rows(report: MonthlyReport, lang: str = "zh") -> list[list[Any]]:
    lang = _lang(lang)
    return [candidate_row(a, c, lang) for a in report.accounts for c in a.candidates]


def headers(columns: tuple[str, ...], lang: str) -> list[str]:
    return [HEADERS[_lang(lang)][c] for c in columns]


def to_csv(report: MonthlyReport, lang: str = "zh") -> bytes:
    """One row per account and channel, then the approved clips (and gap fillers) as sections after a
    blank line; UTF-8 with a BOM so Excel reads 实拍 as Chinese, not mojibake."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(headers(CHANNEL_COLUMNS, lang))
    writer.writerows(channel_rows(report, lang))
    for section, columns, rows in (
        ("approved", APPROVED_COLUMNS, approved_rows(report, lang)),
        ("fillers", FILLER_COLUMNS, filler_rows(report, lang)),
        ("candidates", CANDIDATE_COLUMNS, candidate_rows(report, lang)),
    ):
        if section in ("fillers", "candidates") and not rows:
            continue
        writer.writerow([])
        writer.writerow([SECTIONS[lang][section]])
        writer.writerow(headers(columns, lang))
        writer.writerows(rows)
    return "\ufeff".encode() + buffer.getvalue().encode("utf-8")


# --- XLSX ---------------------------------------------------------------------------------------------

_SHEET_FORBIDDEN = set("[]:*?/\\")


def _sheet_title(name: str, taken: set[str]) -> str:
    base = "".join("_" if ch in _SHEET_FORBIDDEN else ch for ch in name).strip("'") or "account"
    title, n = base[:31], 2
    while title.lower() in taken:
        suffix = f" ({n})"
        title, n = base[: 31 - len(suffix)] + suffix, n + 1
    taken.add(title.lower())
    return title


def display_width(value: Any) -> int:
    """Columns a value takes in a spreadsheet: CJK characters are two wide."""
    text = value.strftime(TIME_FORMAT) if isinstance(value, datetime) else str(value)
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def to_xlsx(report: MonthlyReport, lang: str = "zh") -> bytes:
    """A summary sheet and one sheet per account, each table with an autofilter, the status column
    coloured by conditional formatting and columns as wide as their contents."""
    from openpyxl import Workbook
    from openpyxl.formatting.rule import CellIsRule
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    lang = _lang(lang)
    words = SECTIONS[lang]
    wb = Workbook()
    summary = wb.active
    summary.title = words["summary"]
    bold = Font(bold=True)
    status_col = get_column_letter(CHANNEL_COLUMNS.index("status") + 1)
    last_col = get_column_letter(len(CHANNEL_COLUMNS))

    def colour(ws: Any, first_row: int, last_row: int) -> None:
        if last_row < first_row:
            return
        cells = f"{status_col}{first_row}:{status_col}{last_row}"
        for status, fill in STATUS_COLOURS.items():
            ws.conditional_formatting.add(
                cells,
                CellIsRule(
                    operator="equal",
                    formula=[f'"{STATUS_NAMES[lang][status]}"'],
                    fill=PatternFill("solid", bgColor=fill),
                ),
            )

    def header_row(ws: Any, columns: tuple[str, ...]) -> None:
        ws.append(headers(columns, lang))
        for cell in ws[ws.max_row]:
            cell.font = bold

    def table(ws: Any, rows: list[list[Any]]) -> None:
        header_row(ws, CHANNEL_COLUMNS)
        first = ws.max_row + 1
        for row in rows:
            ws.append(row)
        colour(ws, first, ws.max_row)
        ws.auto_filter.ref = f"A{first - 1}:{last_col}{max(ws.max_row, first - 1)}"
        ws.freeze_panes = f"A{first}"

    def fit_columns(ws: Any) -> None:
        widths: dict[int, int] = {}
        for row in ws.iter_rows():
            for cell in row:
                if cell.value is not None and cell.value != "":
                    widths[cell.column] = max(widths.get(cell.column, 0), display_width(cell.value))
        for column, width in widths.items():
            ws.column_dimensions[get_column_letter(column)].width = max(6, min(60, width + 2))

    zone = _report_zone(report)
    all_rows = channel_rows(report, lang)
    table(summary, all_rows)
    summary.append([])
    summary.append([words["as_of"], local_time(report.as_of, zone), zone])
    summary.append([words["generated_at"], local_time(report.generated_at, zone), zone])
    fit_columns(summary)

    taken = {words["summary"].lower()}
    platform_col, account_col = CHANNEL_COLUMNS.index("platform"), CHANNEL_COLUMNS.index("account")
    for a in report.accounts:
        ws = wb.create_sheet(_sheet_title(f"{a.account.platform_name_zh} {a.account.name}", taken))
        mine = [r for r in all_rows if r[account_col] == a.account.name and r[platform_col] == _names(a.account, lang)]
        table(ws, mine)
        if a.month is None:
            ws.append([words["not_started"], a.account.timezone])
            fit_columns(ws)
            continue
        ws.append([])
        ws.append([words["approved"]])
        ws.cell(ws.max_row, 1).font = bold
        header_row(ws, APPROVED_COLUMNS)
        tz = ZoneInfo(a.account.timezone)
        for p in a.approved:
            ws.append(
                [
                    _names(a.account, lang),
                    a.account.name,
                    _channel_name(a, p.channel_id, lang),
                    p.counted_at.astimezone(tz).replace(tzinfo=None, microsecond=0),
                    a.account.timezone,
                    p.material.title,
                    p.source.title,
                    p.platform_post_id or "",
                    p.post_url or "",
                ]
            )
            ws.cell(ws.max_row, APPROVED_COLUMNS.index("counted_at") + 1).number_format = "yyyy-mm-dd hh:mm:ss"
        if a.fillers:
            ws.append([])
            ws.append([words["fillers"]])
            ws.cell(ws.max_row, 1).font = bold
            header_row(ws, FILLER_COLUMNS)
            for f in a.fillers:
                ws.append(
                    [
                        _names(a.account, lang),
                        a.account.name,
                        _channel_name(a, f.channel_id, lang),
                        f.material.title,
                        f.preset_id or "",
                        f.source.title,
                    ]
                )
        if a.candidates:
            ws.append([])
            ws.append([words["candidates"]])
            ws.cell(ws.max_row, 1).font = bold
            header_row(ws, CANDIDATE_COLUMNS)
            for c in a.candidates:
                ws.append(candidate_row(a, c, lang))
        fit_columns(ws)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# --- HTML with inline SVG -----------------------------------------------------------------------------

_PALETTE = ("#2f6fdf", "#e0782f", "#2f9f5f", "#a64fc9", "#c9464f", "#3fa7b5", "#8a6d3b", "#555555")


def bar_chart_svg(channels: list[tuple[str, int, int]], *, width: int = 640) -> str:
    """Approved (bar) against required (tick) per channel: [(label, approved, required)]."""
    bar_h, gap, left, top = 22, 14, 170, 28
    height = top + len(channels) * (bar_h + gap) + 24
    top_value = max([1] + [max(a, r) for _, a, r in channels])
    scale = (width - left - 60) / top_value
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart bars" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="approved vs required per channel">',
        f'<text x="{left}" y="16" font-size="12" fill="#333">■ approved 已通过   │ required 要求</text>',
    ]
    for i, (label, approved, required) in enumerate(channels):
        y = top + i * (bar_h + gap)
        colour = "#2f9f5f" if approved >= required else "#e0a02f" if approved else "#c9464f"
        parts.append(
            f'<text x="{left - 8}" y="{y + bar_h * 0.7:.1f}" font-size="12" text-anchor="end">'
            f"{escape(label)}</text>"
        )
        parts.append(
            f'<rect x="{left}" y="{y}" width="{approved * scale:.1f}" height="{bar_h}" fill="{colour}">'
            f"<title>{escape(label)}: {approved} / {required}</title></rect>"
        )
        if required:
            x = left + required * scale
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y - 4}" y2="{y + bar_h + 4}" '
                'stroke="#222" stroke-width="2"/>'
            )
        parts.append(
            f'<text x="{left + max(approved, required) * scale + 6:.1f}" y="{y + bar_h * 0.7:.1f}" '
            f'font-size="12">{approved} / {required}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def progress_chart_svg(series: list[tuple[str, tuple[int, ...], int]], days: int, *, width: int = 640) -> str:
    """Cumulative approvals day by day per channel, with its required minimum as a dashed line."""
    height, left, right, top, bottom = 260, 40, 150, 14, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = max([1] + [max((*cum, req), default=0) for _, cum, req in series])

    def px(day: float, value: float) -> tuple[float, float]:
        x = left + (day - 1) / max(1, days - 1) * plot_w
        return x, top + plot_h - value / top_value * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart progress" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="daily progress">',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#999"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#999"/>',
        f'<text x="{left - 6}" y="{top + 10}" font-size="11" text-anchor="end">{top_value}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" font-size="11" text-anchor="end">0</text>',
    ]
    for d in (1, 10, 20, days):
        x, _ = px(d, 0)
        parts.append(f'<text x="{x:.1f}" y="{height - 10}" font-size="11" text-anchor="middle">{d}</text>')
    for i, (label, cumulative, required) in enumerate(series):
        colour = _PALETTE[i % len(_PALETTE)]
        if cumulative:
            points = " ".join(f"{x:.1f},{y:.1f}" for x, y in (px(d + 1, v) for d, v in enumerate(cumulative)))
            parts.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}">'
                f"<title>{escape(label)}</title></polyline>"
            )
        if required:
            (x1, y), (x2, _) = px(1, required), px(days, required)
            parts.append(
                f'<line x1="{x1:.1f}" x2="{x2:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="{colour}" '
                f'stroke-dasharray="5,4"/>'
            )
        ly = top + 14 + i * 16
        parts.append(f'<rect x="{left + plot_w + 10}" y="{ly - 9}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{left + plot_w + 24}" y="{ly}" font-size="11">{escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


_CSS = """body{font-family:system-ui,"PingFang SC","Microsoft YaHei",sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
th{background:#f4f4f4}.num{text-align:right}section{margin-bottom:3em}"""


def to_html(report: MonthlyReport) -> str:
    """A self-contained page: per account a table, an approved-vs-required chart and the month's progress."""
    h: list[str] = [
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">',
        f"<title>reelhouse monthly quota report {report.month}</title><style>{_CSS}</style></head><body>",
        f"<h1>月度配额报告 Monthly quota report {report.month}</h1>",
        f"<p>截至 As of {local_time(report.as_of, _report_zone(report))} ({escape(_report_zone(report))}). "
        "Summary: "
        + ", ".join(
            f"{escape(STATUS_LABELS.get(k, k))}: {v}" for k, v in sorted(report.status_counts().items())
        )
        + "</p>",
    ]
    for a in report.accounts:
        info = a.account
        h.append(f"<section><h2>{escape(info.platform_name_zh)} · {escape(info.name)}</h2>")
        if a.month is None:
            h.append(f"<p>The month has not started in {escape(info.timezone)}.</p></section>")
            continue
        h.append(
            "<table><tr><th>渠道 Channel</th><th>State</th><th>Open since</th><th>Required</th>"
            "<th>Approved</th><th>Pending</th><th>Projected</th><th>Status</th><th>Submissions</th></tr>"
        )
        for c in a.month.channels:
            q = c.quota
            cap = f" / {c.submissions.cap}" if c.submissions.cap is not None else ""
            h.append(
                f"<tr><td>{escape(c.name_zh)} ({escape(c.name_en)})</td>"
                f"<td>{STATE_NAMES['zh'][c.state_at_close.value]}</td>"
                f"<td>{c.open_since.date().isoformat() if c.open_since else ''}</td>"
                f"<td class=num>{q.required}</td><td class=num>{q.approved}</td>"
                f"<td class=num>{q.pending}</td>"
                f"<td class=num>{q.projected:.1f}</td>"
                f'<td class="status {q.status.value}" style="background:#{STATUS_COLOURS[q.status.value]}">'
                f"{escape(STATUS_LABELS[q.status.value])}</td>"
                f"<td class=num>{c.submissions.used}{cap}</td></tr>"
            )
        h.append("</table>")
        # Charts show what is asked of a channel: one with nothing required this month has nothing to draw.
        charted = [c for c in a.month.channels if c.quota.required]
        tz = ZoneInfo(info.timezone)
        running = rules.YearMonth.of(report.as_of, tz) == report.month
        last_day = report.as_of.astimezone(tz).day if running else report.month.days  # no line past today
        if charted:
            h.append(bar_chart_svg([(c.name_zh, c.quota.approved, c.quota.required) for c in charted]))
            h.append(
                progress_chart_svg(
                    [(c.name_zh, c.cumulative_approved[:last_day], c.quota.required) for c in charted],
                    report.month.days,
                )
            )
        else:
            h.append("<p>本月没有渠道有数量要求 No channel has a monthly minimum this month.</p>")
        channel_names = {c.channel_id: c.name_zh for c in a.month.channels}
        if a.approved:
            h.append(
                "<h3>已通过 Approved</h3><table><tr><th>Channel</th><th>Counted at</th><th>Material</th>"
                "<th>Source footage</th><th>Post</th></tr>"
            )
            for p in a.approved:
                post = escape(p.platform_post_id or "")
                if p.post_url:
                    post = f'<a href="{escape(p.post_url)}">{post or "link"}</a>'
                h.append(
                    f"<tr><td>{escape(channel_names.get(p.channel_id, p.channel_id))}</td>"
                    f"<td>{p.counted_at:%Y-%m-%d %H:%M}</td>"
                    f"<td>{escape(p.material.title)}</td><td>{escape(p.source.title)}</td><td>{post}</td></tr>"
                )
            h.append("</table>")
        if a.fillers:
            h.append(
                "<h3>可补位 Ready to fill the gap</h3><table><tr><th>Channel</th><th>Material</th>"
                "<th>Preset</th>"
                "<th>Source footage</th></tr>"
            )
            for f in a.fillers:
                h.append(
                    f"<tr><td>{escape(channel_names.get(f.channel_id, f.channel_id))}</td>"
                    f"<td>{escape(f.material.title)}</td>"
                    f"<td>{escape(f.preset_id or '')}</td><td>{escape(f.source.title)}</td></tr>"
                )
            h.append("</table>")
        if a.candidates:
            h.append(
                "<h3>可补位草稿与片段提议 Drafts and proposals that could fill the gap</h3><table><tr>"
                "<th>渠道 Channel</th><th>类型 Kind</th><th>素材 / 提议 Clip</th><th>来源素材 Source</th>"
                "<th>来源区间 Range</th><th>时长 Duration</th><th>预设 Preset</th><th>商品 Product</th></tr>"
            )
            for cand in a.candidates:
                row = candidate_row(a, cand, "zh")
                h.append(
                    f"<tr class=\"candidate {cand.kind}\"><td>{escape(channel_names.get(cand.channel_id, cand.channel_id))}</td>"
                    f"<td>{escape(row[3])}</td><td>{escape(row[4])}</td><td>{escape(row[5])}</td>"
                    f"<td>{escape(row[6])}</td><td class=num>{row[7]}</td><td>{escape(row[8])}</td>"
                    f"<td>{escape(row[10])}</td></tr>"
                )
            h.append("</table>")
        h.append("</section>")
    h.append("</body></html>")
    return "".join(h)


def render(report: MonthlyReport, fmt: str, lang: str = "zh") -> bytes:
    """The report in a format; CSV and XLSX speak `lang` (zh by default, en for English)."""
    if fmt == "json":
        return to_json(report)
    if fmt == "csv":
        return to_csv(report, lang)
    if fmt == "xlsx":
        return to_xlsx(report, lang)
    if fmt == "html":
        return to_html(report).encode("utf-8")
    raise ValueError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")


def filename(report: MonthlyReport, fmt: str) -> str:
    return f"reelhouse-report-{report.month}.{fmt}"
