// Reports (issue 19, screen 9): the monthly quota report on the page (per account and channel: state at
// the month's close, approved/required, pending, projection, status), with CSV/XLSX/HTML downloads, and
// the metrics exports (leaderboard by material, source, tag, platform ... as CSV/XLSX; the HTML report).
// Downloads are plain links: the browser follows them with the session cookie (GET, so no CSRF token and
// no header are needed), and the server answers with Content-Disposition.

import { api, url } from "../api.js";
import { el } from "../dom.js";
import { currentLanguage, dateTime, label, month as monthName, number, t, today } from "../i18n.js";
import { emptyState } from "../layout.js";

const FORMATS = ["xlsx", "csv", "html"];
const RANK = { missed: 0, at_risk: 1, on_track: 2, met: 3, not_required: 4 };
const GROUPS = ["material", "source", "tag", "platform", "account", "channel", "month"];
const ORDERS = ["views", "gmv", "likes", "orders", "roi"];

const lang = () => (currentLanguage() === "zh-CN" ? "zh" : "en");
const name = (zh, en) => (currentLanguage() === "zh-CN" ? zh : en);

function downloadLink(href, text, id) {
  return el("a", { className: "button", href, download: "", id }, text);
}

function reportTable(report) {
  const rows = [];
  const pairs = [];
  for (const a of report.accounts) if (a.started) for (const c of a.channels) pairs.push([a, c]);
  pairs.sort(([, x], [, y]) => (RANK[x.quota.status] ?? 9) - (RANK[y.quota.status] ?? 9)); // missed and at risk first
  for (const [a, c] of pairs) {
    const q = c.quota;
    rows.push(el("tr", { "data-channel": c.channel_id },
      el("td", {}, a.account.name), el("td", {}, name(c.name_zh, c.name_en)),
      el("td", {}, label("channel_state", c.state_at_close)),
      el("td", { className: "num" }, q.required ? t("quota.approved_of", { n: number(q.approved), of: number(q.required) }) : number(q.approved)),
      el("td", { className: "num" }, number(q.pending)),
      el("td", { className: "num" }, number(Math.round(q.projected * 10) / 10)),
      el("td", {}, el("span", { className: `pill status-${q.status}` }, label("quota_status", q.status)))));
  }
  if (!rows.length) return emptyState({ id: "reports-empty", title: t("reports.empty.title"), text: t("reports.empty.text"), action: t("reports.empty.action"), href: "#/quota" });
  return el("table", { className: "table", id: "report-table" },
    el("thead", {}, el("tr", {}, ["account", "channel", "state", "approved", "pending", "projected", "status"].map((k) => el("th", {}, t(`reports.col.${k}`))))),
    el("tbody", {}, rows));
}

export async function render(main, ctx) {
  const thisMonth = today().slice(0, 7);
  const month = /^\d{4}-\d{2}$/.test(ctx.query.get("month") || "") && ctx.query.get("month") <= thisMonth ? ctx.query.get("month") : thisMonth;
  const picker = el("input", { type: "month", id: "report-month", value: month, max: thisMonth, "aria-label": t("reports.month"),
    onchange: (e) => { if (e.target.value) ctx.go(`/reports?month=${e.target.value}`); } });
  main.append(el("div", { className: "screen-head" }, el("h1", {}, t("reports.title")),
    el("label", { className: "inline" }, t("reports.month"), " ", picker)));

  // --- the monthly quota report ---------------------------------------------------------------------
  const report = await api(`/reports/monthly/${month}`, { query: { format: "json" } });
  const quota = el("section", { className: "card-panel", id: "report-quota" },
    el("h2", {}, t("reports.quota.title", { month: monthName(month) })),
    el("p", { className: "muted" }, t("reports.quota.as_of", { time: dateTime(report.as_of) })),
    el("div", { className: "quota-summary", id: "report-summary" },
      Object.entries(report.summary || {}).map(([s, n]) =>
        el("span", { className: `pill status-${s}` }, t("quota.summary", { status: label("quota_status", s), n: number(n) })))),
    el("div", { className: "downloads", id: "report-downloads" }, el("span", { className: "muted" }, t("reports.download")), " ",
      FORMATS.map((f) => downloadLink(url(`/reports/monthly/${month}`, { format: f, lang: lang() }), t(`reports.format.${f}`), `report-${f}`))),
    reportTable(report));
  main.append(quota);

  // --- metrics exports --------------------------------------------------------------------------------
  const by = el("select", { id: "metrics-by", "aria-label": t("reports.metrics.by") },
    GROUPS.map((g) => el("option", { value: g }, t(`reports.group.${g}`))));
  const order = el("select", { id: "metrics-order", "aria-label": t("reports.metrics.order") },
    ORDERS.map((o) => el("option", { value: o }, t(`reports.order.${o}`))));
  const links = el("div", { className: "downloads", id: "metrics-downloads" });
  const refresh = () => {
    links.replaceChildren(
      downloadLink(url("/metrics/leaderboard", { by: by.value, order: order.value, month, limit: 1000, format: "xlsx" }), t("reports.format.xlsx"), "metrics-xlsx"),
      downloadLink(url("/metrics/leaderboard", { by: by.value, order: order.value, month, limit: 1000, format: "csv" }), t("reports.format.csv"), "metrics-csv"),
      el("a", { className: "button", href: url("/metrics/report", { month, metric: order.value, lang: lang() }), target: "_blank", rel: "noopener", id: "metrics-html" }, t("reports.format.html")));
  };
  by.addEventListener("change", refresh);
  order.addEventListener("change", refresh);
  refresh();
  main.append(el("section", { className: "card-panel", id: "report-metrics" },
    el("h2", {}, t("reports.metrics.title", { month: monthName(month) })),
    el("p", { className: "muted" }, t("reports.metrics.text")),
    el("div", { className: "filters" },
      el("label", {}, t("reports.metrics.by"), " ", by), el("label", {}, t("reports.metrics.order"), " ", order)),
    links));
  return null;
}
