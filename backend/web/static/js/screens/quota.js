// The quota dashboard (issue 19, screen 8): per account and channel, where the month stands — the
// channel's state (开通中 3/5, 已开通 since …), approved/required, pending, days left, the projection and
// its status (达标/进度正常/有风险/未达标) — a chart of the month per channel (approved so far against the
// pace the quota needs), and the drafts and proposals that fit a gap. The channels at risk come first.
// Data: GET /compliance/status alone (with its `candidates`, and each channel's `daily_approved` for the
// charts). The cards are drawn first; each chart fills its box once ECharts has loaded, without holding
// the cards back (the screen's `data-charts` says when every chart is made).

import { api } from "../api.js";
import { el } from "../dom.js";
import { currentLanguage, date, dateTime, duration, label, number, t } from "../i18n.js";
import { emptyState } from "../layout.js";

const RANK = { missed: 0, at_risk: 1, on_track: 2, met: 3, not_required: 4 };
const COLOR = { met: "#2e7d32", on_track: "#1565c0", at_risk: "#e65100", missed: "#c62828", not_required: "#757575" };

const channelName = (c) => (currentLanguage() === "zh-CN" ? c.name_zh : c.name_en) || label("channel", c.channel_id);

function stateText(c) {
  if (c.state === "opening") {
    return t("quota.state.opening", { n: number(c.approved_toward_opening), of: number(c.opening_threshold) });
  }
  if (c.state === "open") {
    return c.open_since ? t("quota.state.open_since", { date: date(c.open_since) }) : t("quota.state.open");
  }
  return t("quota.state.locked", { reason: label("quota.lock", c.lock_reason || "not_opened") });
}

function figure(name, value, id) {
  return el("div", { className: "figure" }, el("span", { className: "muted" }, t(`quota.fig.${name}`)),
    el("strong", { "data-fig": id || name }, value));
}

function chart(box, month, channel) {
  // Approved so far, day by day, against the straight line from 0 to the month's requirement.
  const daily = (month && month.daily_approved) || [];
  let total = 0;
  const cumulative = daily.map((n) => (total += n));
  // days_left counts today: on the 7th of a 31-day month it is 25, and the line runs to day 7.
  const today = cumulative.length && channel.quota.days_left != null
    ? Math.min(cumulative.length, Math.max(1, cumulative.length - channel.quota.days_left + 1)) : cumulative.length;
  const days = cumulative.map((_, i) => String(i + 1));
  const need = channel.quota.required;
  box.setAttribute("role", "img");
  box.setAttribute("aria-label", t("quota.chart.label", { channel: channelName(channel) }));
  return import("../../vendor/echarts/echarts.esm.min.mjs").then((echarts) => {
    const c = echarts.init(box, null, { renderer: "svg" });
    c.setOption({
      animation: false,
      grid: { left: 32, right: 12, top: 24, bottom: 24 },
      legend: { top: 0, right: 0, textStyle: { fontSize: 11 }, itemWidth: 14, itemHeight: 8 },
      tooltip: { trigger: "axis" },
      xAxis: { type: "category", data: days, axisLabel: { fontSize: 10 } },
      yAxis: { type: "value", minInterval: 1, axisLabel: { fontSize: 10 } },
      series: [
        { name: t("quota.chart.approved"), type: "line", step: "end", symbol: "none",
          data: cumulative.slice(0, today), color: COLOR[channel.quota.status] || "#1565c0", areaStyle: { opacity: 0.12 } },
        { name: t("quota.chart.pace"), type: "line", symbol: "none", lineStyle: { type: "dashed" }, color: "#9e9e9e",
          data: cumulative.map((_, i) => Math.round((need * (i + 1)) / cumulative.length * 10) / 10) },
      ],
    });
    return c;
  });
}

let presetLabel = (id) => id;

// A proposal named in the person's language (录像标题 · 优惠讲解 · 洗衣凝珠); its range is said once, beside it.
function candidateTitle(cand) {
  const source = cand.source && cand.source.title;
  if (cand.kind !== "proposal" || !source) return cand.title || source || t("quota.cand.untitled");
  return [source, cand.proposal_type ? label("proposals.type", cand.proposal_type) : null, cand.product].filter(Boolean).join(" · ");
}

function candidateRow(cand) {
  const href = cand.kind === "draft" ? `#/materials/${cand.id}` : `#/materials/${cand.source.id}`;
  const range = cand.start_s != null ? t("quota.cand.range", { start: duration(cand.start_s), end: duration(cand.end_s) }) : "";
  return el("li", { className: "candidate" },
    el("span", { className: "badge" }, label("quota.cand.kind", cand.kind)), " ",
    el("a", { href }, candidateTitle(cand)), " ",
    el("span", { className: "muted" }, [cand.duration_s != null ? duration(cand.duration_s) : "", range,
      cand.preset_id ? t("quota.cand.preset", { preset: presetLabel(cand.preset_id) }) : ""].filter(Boolean).join(" · ")));
}

function channelCard(account, channel, month, candidates, charts) {
  const q = channel.quota;
  const status = q.status;
  const card = el("article", { className: `quota-card status-${status}`, "data-channel": channel.channel_id, "data-account": account.id },
    el("header", { className: "quota-head" },
      el("div", {}, el("strong", {}, channelName(channel)), " ",
        el("span", { className: "muted" }, `${account.name} · ${currentLanguage() === "zh-CN" ? account.platform_name_zh : account.platform_name_en}`)),
      el("span", { className: `pill status-${status}`, "data-status": status }, label("quota_status", status))),
    el("p", { className: "quota-state muted" }, stateText(channel)),
    el("div", { className: "figures" },
      q.required ? figure("approved", t("quota.approved_of", { n: number(q.approved), of: number(q.required) }), "approved")
        : figure("approved_only", number(q.approved), "approved"), // nothing required: "3/0" would read oddly
      figure("pending", number(q.pending)),
      figure("days_left", number(q.days_left)),
      figure("projected", t("quota.fig.projected_value", { n: number(Math.round(q.projected)) })), // whole videos, as the team counts them
      figure("shortfall", number(Math.max(0, q.required - q.approved)))));
  if (status !== "not_required") { // a channel with nothing to reach this month needs no chart
    const box = el("div", { className: "quota-chart" });
    card.append(box);
    if (month) charts.push(chart(box, month, channel));
    else box.append(el("p", { className: "muted" }, t("quota.chart.none")));
  }
  const mine = candidates.filter((c) => c.channel_id === channel.channel_id);
  const gap = q.required > q.approved && (status === "at_risk" || status === "on_track" || status === "missed");
  if (gap) {
    card.append(el("h3", {}, t("quota.cand.title")));
    card.append(mine.length
      ? el("ul", { className: "candidates" }, mine.map(candidateRow))
      : el("p", { className: "muted cand-empty" }, t("quota.cand.empty")));
  }
  return card;
}

export async function render(main, ctx) {
  const [status, presets] = await Promise.all([api("/compliance/status"), api("/presets").then((p) => p.items).catch(() => [])]);
  presetLabel = (id) => {
    const p = presets.find((x) => x.id === id);
    if (!p || !p.label) return id;
    return typeof p.label === "object" ? (currentLanguage() === "zh-CN" ? p.label.zh : p.label.en) : p.label;
  };
  const accounts = status.accounts || [];
  main.append(el("div", { className: "screen-head" }, el("h1", {}, t("quota.title")),
    el("span", { className: "muted", id: "quota-as-of" }, t("quota.as_of", { time: dateTime(status.as_of) }))));
  if (!accounts.length) {
    main.append(emptyState({ id: "quota-empty", title: t("quota.empty.title"), text: t("quota.empty.text"),
      action: t("quota.empty.action"), href: "#/settings/accounts" }));
    return null;
  }
  const rows = [];
  for (const a of accounts) for (const c of a.channels) rows.push({ a, c });
  rows.sort((x, y) => (RANK[x.c.quota.status] ?? 9) - (RANK[y.c.quota.status] ?? 9)
    || (x.c.quota.days_left - y.c.quota.days_left) || x.a.account.name.localeCompare(y.a.account.name));
  const counts = {};
  for (const { c } of rows) counts[c.quota.status] = (counts[c.quota.status] || 0) + 1;
  main.append(el("div", { className: "quota-summary", id: "quota-summary" },
    Object.keys(RANK).filter((s) => counts[s]).map((s) =>
      el("span", { className: `pill status-${s}` }, t("quota.summary", { status: label("quota_status", s), n: number(counts[s]) })))));
  if (!rows.length) {
    main.append(emptyState({ id: "quota-no-channels", title: t("quota.no_channels.title"), text: t("quota.no_channels.text") }));
    return null;
  }
  // The day-by-day approvals of the running month come with each channel's status.
  const charts = [];
  main.append(el("div", { className: "quota-grid", id: "quota-grid" },
    rows.map(({ a, c }) => channelCard(a.account, c, c.daily_approved ? { daily_approved: c.daily_approved } : null,
      a.candidates || [], charts))));
  // The cards are on screen now; the charts fill in as they are made (the router need not wait for them).
  let made = [];
  let gone = false;
  const resize = () => made.forEach((c) => c.resize());
  window.addEventListener("resize", resize);
  Promise.all(charts).then((list) => {
    made = list;
    if (gone) made.forEach((c) => c.dispose());
    else main.dataset.charts = String(made.length);
  });
  return () => { gone = true; window.removeEventListener("resize", resize); made.forEach((c) => c.dispose()); };
}
