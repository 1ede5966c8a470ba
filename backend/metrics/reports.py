"""Rollups as files: CSV (UTF-8 with BOM so Excel shows Chinese), XLSX, and an HTML report with
server-side SVG charts (bars for the leaderboard, a line for the time series; no script, no CDN)."""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from backend.metrics.rollups import RollupFilters, RollupRow, rollup

COLUMNS = ("key", "label", "publications", "materials", "views", "likes", "comments", "shares", "favourites",
           "engagement", "followers_gained", "clicks", "add_to_cart", "orders", "gmv", "ad_spend", "currency",
           "avg_watch_seconds", "production_cost", "cost", "roi")


def rows_to_csv(rows: Sequence[RollupRow]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(COLUMNS)
    for row in rows:
        d = row.as_dict()
        writer.writerow(["" if d[c] is None else d[c] for c in COLUMNS])
    return buf.getvalue().encode("utf-8-sig")


def rows_to_xlsx(rows: Sequence[RollupRow], title: str = "rollup") -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31] or "rollup")
    sheet.append(list(COLUMNS))
    for row in rows:
        d = row.as_dict()
        sheet.append([d[c] for c in COLUMNS])
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def _fmt(v: float) -> str:
    if abs(v) >= 1e8:
        return f"{v / 1e8:.1f}亿"
    if abs(v) >= 1e4:
        return f"{v / 1e4:.1f}万"
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.2f}"


def bar_chart_svg(labels: Sequence[str], values: Sequence[float], *, title: str, width: int = 720) -> str:
    bar_h, gap, label_w = 18, 6, 260
    height = 30 + len(values) * (bar_h + gap)
    top = max([*values, 1])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{html.escape(title)}"><text x="0" y="16" font-size="14" font-weight="bold">'
             f"{html.escape(title)}</text>"]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 28 + i * (bar_h + gap)
        w = max(1, int((width - label_w - 80) * value / top))
        short = label if len(label) <= 24 else label[:23] + "…"
        parts.append(f'<text x="{label_w - 6}" y="{y + 13}" font-size="12" text-anchor="end">{html.escape(short)}</text>'
                     f'<rect x="{label_w}" y="{y}" width="{w}" height="{bar_h}" fill="#3b7dd8"/>'
                     f'<text x="{label_w + w + 4}" y="{y + 13}" font-size="12">{_fmt(value)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def line_chart_svg(points: Sequence[tuple[str, float]], *, title: str, width: int = 720, height: int = 240) -> str:
    left, bottom, top_pad = 60, 30, 28
    plot_w, plot_h = width - left - 10, height - bottom - top_pad
    top = max([v for _, v in points] + [1])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{html.escape(title)}"><text x="0" y="16" font-size="14" font-weight="bold">'
             f'{html.escape(title)}</text><line x1="{left}" y1="{top_pad + plot_h}" x2="{left + plot_w}" '
             f'y2="{top_pad + plot_h}" stroke="#999"/><text x="{left - 4}" y="{top_pad + 4}" font-size="11" '
             f'text-anchor="end">{_fmt(top)}</text>']
    if points:
        step = plot_w / max(len(points) - 1, 1)
        # One point has no line to draw: it stands in the middle, as a marker with its value.
        xy = ([(left + plot_w / 2, top_pad + plot_h - plot_h * points[0][1] / top)] if len(points) == 1 else
              [(left + i * step, top_pad + plot_h - plot_h * v / top) for i, (_, v) in enumerate(points)])
        if len(points) > 1:
            parts.append('<polyline fill="none" stroke="#d8593b" stroke-width="2" points="'
                         + " ".join(f"{x:.1f},{y:.1f}" for x, y in xy) + '"/>')
        if len(points) <= 62:  # markers while they do not crowd (two months of days)
            parts.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{4 if len(points) == 1 else 3}" fill="#d8593b"/>'
                         for x, y in xy)
        if len(points) == 1:
            parts.append(f'<text x="{xy[0][0]:.1f}" y="{xy[0][1] - 8:.1f}" font-size="12" text-anchor="middle">'
                         f"{_fmt(points[0][1])}</text>")
        every = max(1, len(points) // 8)
        for i, (label, _) in enumerate(points):
            if i % every == 0 or i == len(points) - 1:
                parts.append(f'<text x="{xy[i][0]:.1f}" y="{height - 10}" font-size="11" text-anchor="middle">'
                             f"{html.escape(label)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _table(rows: Sequence[RollupRow], columns: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        d: dict[str, Any] = row.as_dict()
        cells = "".join(f"<td>{'' if d[c] is None else html.escape(str(d[c]))}</td>" for c in columns)
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


_TEXT = {
    "zh": {"top_materials": "素材排行（{metric}）", "series": "{metric}（按{period}）", "tags": "标签（{metric}）",
           "platforms": "平台（{metric}）", "sources": "原始素材（含全部衍生剪辑）", "day": "日", "month": "月",
           "period": "统计周期 {start} 至 {end}", "captured": "采集日期 {first} 至 {last}",
           "captured_one": "采集日期 {first}", "none": "暂无数据", "money": "金额单位 {currency}"},
    "en": {"top_materials": "Top materials by {metric}", "series": "{metric} per {period}", "tags": "Tags by {metric}",
           "platforms": "Platforms by {metric}", "sources": "Source footage (all clips derived from it)",
           "day": "day", "month": "month", "period": "Period {start} to {end}",
           "captured": "Captured {first} to {last}", "captured_one": "Captured {first}", "none": "no data yet",
           "money": "money in {currency}"},
}


def _window_text(session: Session, filters: RollupFilters, text: dict[str, str],
                 days: Sequence[RollupRow] | None) -> str:
    """The requested period (if any) and the capture dates actually present, in the report's zone."""
    zone = ZoneInfo(filters.zone)
    parts = []
    if filters.start is not None and filters.end is not None:
        start = filters.start.astimezone(zone).date()
        end = (filters.end - timedelta(microseconds=1)).astimezone(zone).date()
        parts.append(text["period"].format(start=start, end=end))
    captured = sorted(r.key for r in (days if days is not None else rollup(session, "day", filters, limit=None)))
    if not captured:
        parts.append(text["none"])
    elif captured[0] == captured[-1]:
        parts.append(text["captured_one"].format(first=captured[0]))
    else:
        parts.append(text["captured"].format(first=captured[0], last=captured[-1]))
    parts.append(text["money"].format(currency=filters.currency))
    return " · ".join(parts)


def html_report(session: Session, filters: RollupFilters, *, title: str, metric: str = "views",
                series_by: str = "day", limit: int = 20, lang: str = "zh") -> str:
    """One page: top materials, top tags, platforms, a time series, and ROI where it is known.
    Headings speak Chinese unless lang='en'; the header gives the capture dates actually present."""
    text = _TEXT.get(lang, _TEXT["zh"])
    top_materials = rollup(session, "material", filters, order_by=metric, limit=limit)
    top_tags = rollup(session, "tag", filters, order_by=metric, limit=limit)
    platforms = rollup(session, "platform", filters, order_by=metric, limit=None)
    sources = rollup(session, "source", filters, order_by="gmv", limit=limit)
    series = rollup(session, series_by, filters, limit=None)
    cols = ("label", "publications", "views", "likes", "comments", "shares", "orders", "gmv", "ad_spend",
            "production_cost", "roi")
    period = text.get(series_by, series_by)
    sections = [
        bar_chart_svg([r.label for r in top_materials], [getattr(r, metric) for r in top_materials],
                      title=text["top_materials"].format(metric=metric)),
        _table(top_materials, cols),
        line_chart_svg([(r.key, getattr(r, metric)) for r in series],
                       title=text["series"].format(metric=metric, period=period)),
        bar_chart_svg([r.label for r in top_tags], [getattr(r, metric) for r in top_tags],
                      title=text["tags"].format(metric=metric)),
        _table(top_tags, cols),
        bar_chart_svg([r.label for r in platforms], [getattr(r, metric) for r in platforms],
                      title=text["platforms"].format(metric=metric)),
        f"<h2>{html.escape(text['sources'])}</h2>",
        _table(sources, cols),
    ]
    window = _window_text(session, filters, text, series if series_by == "day" else None)
    style = ("body{font-family:system-ui,'PingFang SC','Noto Sans CJK SC',sans-serif;margin:24px;color:#222}"
             "table{border-collapse:collapse;margin:8px 0 28px;font-size:13px}"
             "td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}"
             "svg{display:block;margin:12px 0}")
    html_lang = "zh-CN" if text is _TEXT["zh"] else "en"
    return (f'<!doctype html><html lang="{html_lang}"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1>"
            f'<p class="window">{html.escape(window)}</p>'
            + "".join(sections) + "</body></html>")
