// Performance (issue 19, screen 10): import a platform's export (CSV or XLSX as downloaded, Chinese headers,
// UTF-8 or GB18030) with a dry-run preview before anything is written: every row counted by result and
// problem, then every row with a problem (in words) and the file's first rows, fetched a page at a time,
// then the import on confirmation and its result; leaderboards by material, source stream, tag and platform
// for a period (this month, last month, custom) and a metric, with an ECharts bar chart; the current view as
// XLSX/CSV downloads (plain links, followed with the session cookie as on the reports screen).
// Data: GET /metrics/mappings, POST /metrics/imports (dry_run=true, then for real with the dry run's as_of),
// GET /metrics/imports, GET /metrics/leaderboard, GET /accounts, GET /tags.

import { api, url } from "../api.js";
import { allTags, tagName } from "../common.js";
import { append, clear, el } from "../dom.js";
import { currentLanguage, currentTimeZone, date, dateTime, has, label, money, number, problemText, t, today, zoneOffset } from "../i18n.js";
import { allows, emptyState, notify, notifyError } from "../layout.js";

const GROUPS = ["material", "source", "tag", "platform"];
const METRICS = ["views", "likes", "comments", "shares", "orders", "gmv"];
const COLUMNS = ["publications", "views", "likes", "comments", "orders", "gmv"];
const PERIODS = ["this_month", "last_month", "custom"];
const PAGE = 200; // preview rows shown at a time (an export may hold 200,000)
// The dry run lists every row with a problem and the file's first SAMPLE lines (rows that are fine, to
// check the matching by eye), FETCH rows per answer (~1 MB); the next rows are asked for as they are shown.
const SAMPLE = 20;
const FETCH = 1000;
const CHART_TOP = 10;

const zh = () => currentLanguage() === "zh-CN";
const lang = () => (zh() ? "zh" : "en");
const isMoney = (metric) => metric === "gmv" || metric === "ad_spend";
const figure = (metric, value) => (isMoney(metric) ? money(value) : number(value));

// --- periods ------------------------------------------------------------------------------------------

function monthOf(day, back = 0) {
  const [y, m] = day.split("-").map(Number);
  const d = new Date(Date.UTC(y, m - 1 - back, 1));
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, "0")}`;
}

function nextDay(day) {
  const d = new Date(`${day}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().slice(0, 10);
}

// The filter the figure endpoints take: a month, or [start, end) as instants in the person's zone.
function periodQuery(period, start, end) {
  if (period === "this_month") return { month: monthOf(today()) };
  if (period === "last_month") return { month: monthOf(today(), 1) };
  const q = {};
  if (start) q.start = `${start}T00:00:00${zoneOffset(start)}`;
  if (end) { const after = nextDay(end); q.end = `${after}T00:00:00${zoneOffset(after)}`; }
  return q;
}

// --- the preview of an import -------------------------------------------------------------------------

function problemWords(p) {
  const key = `perf.problem.${p.code}`;
  if (!has(key)) return p.detail;
  return t(key, p.params || {});
}

function rowName(r) {
  if (r.title) return r.title;
  if (r.post_id) return r.post_id;
  if (r.url) return r.url;
  const cells = Object.values(r.raw || {}).filter(Boolean);
  return cells.length ? cells.slice(0, 2).join(" · ") : t("perf.preview.no_name");
}

function rowResult(r) {
  const state = r.status === "ready" ? r.action || "ready" : r.status;
  return el("span", { className: `pill row-${state}`, "data-result": state }, label("perf.result", state));
}

function previewRow(r) {
  const pub = r.publication;
  const v = r.values || {};
  return el("tr", { "data-line": r.line, "data-status": r.status, className: `row-${r.status}` },
    el("td", { className: "num" }, String(r.line)),
    el("td", { className: "name" }, rowName(r)),
    el("td", {}, pub ? [el("a", { href: `#/materials/${pub.material_id}` }, pub.title), el("div", { className: "muted small" },
      t("perf.preview.matched", { how: label("perf.matched_by", pub.matched_by), account: pub.account }))] : "–"),
    el("td", { className: "num" }, r.values ? number(v.views) : "–"),
    el("td", { className: "num" }, r.values ? number(v.likes) : "–"),
    el("td", { className: "num" }, r.values ? number(v.comments) : "–"),
    el("td", { className: "num" }, r.values && v.gmv != null ? money(v.gmv / 100) : "–"),
    el("td", {}, rowResult(r)),
    el("td", { className: "problems" },
      r.problems.map((p) => el("div", { className: "problem", "data-code": p.code }, problemWords(p))),
      r.suggestions && r.suggestions.length ? el("div", { className: "muted small suggestions" }, t("perf.preview.maybe"), " ",
        r.suggestions.map((s, i) => [i ? t("perf.list_sep") : "", el("a", { href: `#/materials/${s.material_id}` }, s.title)])) : null));
}

// The dry run's counts, as the summary of every row gives them (the rows themselves come a page at a time).
function counts(summary) {
  return { total: summary.total, ...summary.by_status, ...summary.by_action };
}

// The problems by code, most frequent first: what a person fixes in the file (or records) first.
function codeSummary(summary) {
  const codes = Object.entries(summary.by_code || {});
  if (!codes.length) return null;
  return el("ul", { className: "code-summary small", id: "perf-codes" }, codes.map(([code, n]) =>
    el("li", { "data-code": code }, has(`perf.code.${code}`) ? t(`perf.code.${code}`) : code, " ",
      el("strong", {}, t(n === 1 ? "perf.preview.code_row" : "perf.preview.code_rows", { n: number(n) })))));
}

// --- the screen ---------------------------------------------------------------------------------------

export async function render(main, ctx) {
  const canImport = allows(ctx.session.user, "editor");
  delete main.dataset.chart; // (set when this screen's chart is drawn; the element outlives screens)
  const [mappings, imports, accounts, tags] = await Promise.all([
    api("/metrics/mappings"), api("/metrics/imports", { query: { limit: 20 } }), api("/accounts").catch(() => []),
    allTags().catch(() => [])]);
  const done = () => imports.filter((i) => !i.dry_run);
  main.append(el("div", { className: "screen-head" }, el("h1", {}, t("perf.title"))));

  let charts = [];
  const disposeCharts = () => { charts.forEach((c) => c.dispose()); charts = []; };
  const resize = () => charts.forEach((c) => c.resize());
  window.addEventListener("resize", resize);

  // --- import ---------------------------------------------------------------------------------------
  const fileInput = el("input", { type: "file", id: "perf-file", accept: ".csv,.xlsx,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "aria-label": t("perf.import.file") });
  const importBox = el("section", { className: "card-panel", id: "perf-import" });
  const previewBox = el("section", { className: "card-panel", id: "perf-preview", hidden: true });
  const resultBox = el("section", { className: "card-panel", id: "perf-result", hidden: true });
  let pending = null; // { file, platform, account, answer }

  if (canImport) {
    const ordered = [...mappings].sort((a, b) => (a.platform === "douyin" ? -1 : b.platform === "douyin" ? 1 : a.platform.localeCompare(b.platform)));
    const platform = el("select", { id: "perf-platform", "aria-label": t("perf.import.platform") },
      ordered.map((m) => el("option", { value: m.platform }, zh() ? m.name_zh : m.name_en)));
    const account = el("select", { id: "perf-account", "aria-label": t("perf.import.account") });
    const where = el("p", { className: "muted small", id: "perf-where" });
    const fillAccounts = () => {
      const mapping = mappings.find((m) => m.platform === platform.value);
      where.textContent = mapping ? t("perf.import.where", { export: mapping.export }) : "";
      account.replaceChildren(el("option", { value: "" }, t("perf.import.any_account")),
        ...accounts.filter((a) => a.platform_id === platform.value).map((a) => el("option", { value: a.id }, a.name)));
    };
    platform.addEventListener("change", fillAccounts);
    fillAccounts();
    const error = el("p", { className: "form-error", id: "perf-import-error", hidden: true });
    const previewButton = el("button", { type: "button", className: "primary", id: "perf-preview-button" }, t("perf.import.preview"));
    previewButton.addEventListener("click", async () => {
      const file = fileInput.files && fileInput.files[0];
      error.hidden = true;
      if (!file) { error.textContent = t("perf.import.choose"); error.hidden = false; return; }
      previewButton.disabled = true;
      previewButton.textContent = t("perf.import.reading");
      try {
        const query = { platform: platform.value, filename: file.name, dry_run: true, account_id: account.value || null };
        const answer = await dryRun(file, query, 0);
        pending = { file, platform: platform.value, account: account.value || null, answer, query };
        showPreview();
      } catch (err) {
        if (err.problem) { error.textContent = problemText(err.problem); error.hidden = false; } else notifyError(err);
      } finally {
        previewButton.disabled = false;
        previewButton.textContent = t("perf.import.preview");
      }
    });
    importBox.append(el("h2", {}, t("perf.import.title")), el("p", { className: "muted" }, t("perf.import.text")),
      el("div", { className: "filters" },
        el("label", { className: "inline" }, t("perf.import.platform"), " ", platform),
        el("label", { className: "inline" }, t("perf.import.account"), " ", account), fileInput, previewButton),
      where, error);
    main.append(importBox, previewBox, resultBox);
  }

  // One page of the dry run: every row with a problem and the file's first SAMPLE lines, from `offset`.
  function dryRun(file, query, offset) {
    return api("/metrics/imports", { method: "POST", raw: file, query: {
      ...query, rows: "problems", head: SAMPLE, rows_limit: FETCH, rows_offset: offset } });
  }

  function showPreview() {
    const { answer } = pending;
    const mine = pending;
    const rows = [...(answer.rows || [])];
    const listed = answer.rows_page.matched; // the problem rows and the sample, all told
    let next = answer.rows_page.next_offset;
    const c = counts(answer.summary);
    const sampleOnly = Math.max(0, listed - answer.summary.with_problems); // sample rows without a problem
    let onlyProblems = false;
    let shown = PAGE;
    const body = el("tbody", {});
    const more = el("button", { type: "button", id: "perf-more" });
    const fill = () => {
      const list = onlyProblems ? rows.filter((r) => r.problems.length) : rows;
      body.replaceChildren(...list.slice(0, shown).map(previewRow));
      const total = onlyProblems ? answer.summary.with_problems : listed;
      more.hidden = total <= shown;
      more.textContent = t("perf.preview.more", { n: number(total - Math.min(shown, total)) });
    };
    more.addEventListener("click", async () => {
      shown += PAGE;
      const list = () => (onlyProblems ? rows.filter((r) => r.problems.length) : rows);
      if (list().length < shown && next != null) { // the rows after those fetched: the next page of the same dry run
        more.disabled = true;
        more.textContent = t("perf.import.reading");
        try {
          while (list().length < shown && next != null) {
            // (the first answer's as_of: a totals export read after midnight is still the same day's figures)
            const page = await dryRun(mine.file, { ...mine.query, as_of: mine.answer.as_of }, next);
            if (pending !== mine) return;
            rows.push(...page.rows);
            next = page.rows_page.next_offset;
          }
        } catch (err) {
          shown -= PAGE;
          notifyError(err);
        } finally {
          more.disabled = false;
        }
      }
      fill();
    });
    const filter = el("input", { type: "checkbox", id: "perf-only-problems" });
    filter.addEventListener("change", () => { onlyProblems = filter.checked; shown = PAGE; fill(); });
    const confirm = el("button", { type: "button", className: "primary", id: "perf-confirm", disabled: c.ready === 0 },
      t("perf.preview.confirm", { n: number(c.ready) }));
    const cancel = el("button", { type: "button", id: "perf-cancel" }, t("perf.preview.cancel"));
    cancel.addEventListener("click", () => { pending = null; previewBox.hidden = true; previewBox.replaceChildren(); });
    confirm.addEventListener("click", () => runImport(confirm));
    const heads = ["line", "name", "material", "views", "likes", "comments", "gmv", "result", "problems"];
    append(clear(previewBox), [ // (append skips the parts that are null; replaceChildren would write "null")
      el("h2", {}, t("perf.preview.title", { file: answer.file_name })),
      el("p", { id: "perf-preview-summary" }, t("perf.preview.summary", {
        total: number(c.total), ready: number(c.ready), inserted: number(c.inserted), updated: number(c.updated),
        unchanged: number(c.unchanged), unmatched: number(c.unmatched), failed: number(c.failed), skipped: number(c.skipped) })),
      answer.as_of ? el("p", { className: "muted small" }, t("perf.preview.as_of", { date: date(answer.as_of) })) : null,
      codeSummary(answer.summary),
      el("p", { className: "muted small", id: "perf-sample-note" }, listed >= c.total
        ? t("perf.preview.listed_all", { total: number(c.total) })
        : t("perf.preview.listed", { problems: number(answer.summary.with_problems), sample: number(sampleOnly),
          rest: number(c.total - listed) })),
      el("p", { className: "muted small" }, t("perf.preview.nothing_written")),
      el("label", { className: "inline" }, filter, t("perf.preview.only_problems")),
      el("div", { className: "table-scroll" }, el("table", { className: "table preview", id: "perf-rows" },
        el("thead", {}, el("tr", {}, heads.map((h) => el("th", {}, t(`perf.preview.col.${h}`))))), body)),
      more,
      c.failed ? el("p", { className: "muted", id: "perf-failed-note" }, t("perf.preview.failed_note", { n: number(c.failed) })) : null,
      c.unmatched ? el("p", { className: "muted" }, t("perf.preview.unmatched_note", { n: number(c.unmatched) })) : null,
      el("div", { className: "actions" }, confirm, cancel)]);
    fill();
    previewBox.hidden = false;
    resultBox.hidden = true;
    previewBox.scrollIntoView({ block: "start" });
  }

  async function runImport(button) {
    const { file, platform, account, answer } = pending;
    button.disabled = true;
    try {
      const record = await api("/metrics/imports", { method: "POST", raw: file, query: {
        platform, filename: file.name, as_of: answer.as_of, account_id: account, allow_errors: answer.rows_failed > 0 } });
      pending = null;
      previewBox.hidden = true;
      previewBox.replaceChildren();
      imports.unshift(record);
      showResult(record);
      notify(t("perf.result.notice", { n: number(record.rows_inserted + record.rows_updated) }));
      fileInput.value = "";
      await Promise.all([refreshBoard(), Promise.resolve(renderImports())]);
    } catch (err) {
      button.disabled = false;
      notifyError(err);
    }
  }

  function showResult(record) {
    const failed = record.errors.filter((e) => !e.skipped);
    append(clear(resultBox), [
      el("h2", {}, t("perf.result.title", { file: record.file_name })),
      el("p", { id: "perf-result-summary" }, t("perf.result.summary", {
        inserted: number(record.rows_inserted), updated: number(record.rows_updated), unchanged: number(record.rows_unchanged),
        unmatched: number(record.rows_unmatched), failed: number(record.rows_failed), skipped: number(record.rows_skipped) })),
      el("p", { className: "muted small" }, t("perf.result.when", { time: dateTime(record.created_at) })),
      record.unmatched.length ? el("ul", { className: "small", id: "perf-result-unmatched" }, record.unmatched.slice(0, 20).map((u) =>
        el("li", {}, t("perf.result.line", { line: u.line }), " ", u.title || u.post_id || u.url || "", " · ",
          problemWords({ code: u.code || "unmatched", detail: u.reason, params: {} })))) : null,
      failed.length ? el("ul", { className: "small" }, failed.slice(0, 20).map((e) =>
        el("li", {}, t("perf.result.line", { line: e.line }), " ", problemWords({ code: e.code, detail: e.reason, params: e.params })))) : null]);
    resultBox.hidden = false;
  }

  // --- leaderboard ----------------------------------------------------------------------------------
  let by = "material";
  const tabs = el("div", { className: "segmented", id: "perf-by", role: "group", "aria-label": t("perf.board.by") },
    GROUPS.map((g) => el("button", { type: "button", "data-by": g, "aria-pressed": String(g === by),
      onclick: () => { by = g; tabs.querySelectorAll("button").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.by === by))); refreshBoard(); } },
    t(`perf.group.${g}`))));
  const period = el("select", { id: "perf-period", "aria-label": t("perf.board.period") },
    PERIODS.map((p) => el("option", { value: p }, t(`perf.period.${p}`))));
  const start = el("input", { type: "date", id: "perf-start", "aria-label": t("perf.board.start"), max: today() });
  const end = el("input", { type: "date", id: "perf-end", "aria-label": t("perf.board.end"), max: today() });
  const custom = el("span", { className: "inline custom-range", hidden: true }, start, el("span", { className: "muted" }, "–"), end);
  period.addEventListener("change", () => {
    custom.hidden = period.value !== "custom";
    if (period.value === "custom" && !start.value) { start.value = `${monthOf(today())}-01`; end.value = today(); }
    refreshBoard();
  });
  start.addEventListener("change", refreshBoard);
  end.addEventListener("change", refreshBoard);
  const metric = el("select", { id: "perf-metric", "aria-label": t("perf.board.metric") },
    METRICS.map((m) => el("option", { value: m }, t(`perf.metric.${m}`))));
  metric.addEventListener("change", refreshBoard);
  const downloads = el("div", { className: "downloads", id: "perf-downloads" });
  const chartBox = el("div", { className: "perf-chart", id: "perf-chart", role: "img" });
  const tableBox = el("div", { id: "perf-table-box" });
  const boardBox = el("section", { className: "card-panel", id: "perf-board" },
    el("h2", {}, t("perf.board.title")),
    el("div", { className: "filters" }, tabs,
      el("label", { className: "inline" }, t("perf.board.period"), " ", period), custom,
      el("label", { className: "inline" }, t("perf.board.metric"), " ", metric)),
    chartBox, tableBox, downloads);
  const importsBox = el("section", { id: "perf-imports" });
  main.append(boardBox, importsBox);

  function groupLabel(row) {
    if (by === "tag") {
      const tag = tags.find((x) => String(x.id) === row.key);
      return tag ? tagName(tag) : row.label;
    }
    if (by === "platform") return label("platform", row.key);
    return row.label;
  }

  function nameCell(row) {
    const text = groupLabel(row);
    if (by === "material" || by === "source") return el("a", { href: `#/materials/${row.key}`, className: "material-link" }, text);
    return text;
  }

  async function drawChart(rows, m, mine) {
    const echarts = await import("../../vendor/echarts/echarts.esm.min.mjs");
    if (mine !== turn) return; // a newer choice is being drawn
    disposeCharts();
    const top = rows.slice(0, CHART_TOP).reverse(); // the largest at the top of a horizontal bar chart
    chartBox.setAttribute("aria-label", t("perf.chart.label", { metric: t(`perf.metric.${m}`), group: t(`perf.group.${by}`) }));
    const chart = echarts.init(chartBox, null, { renderer: "canvas" });
    const short = (s) => (s.length > 14 ? `${s.slice(0, 13)}…` : s);
    chart.setOption({
      animation: false,
      grid: { left: 8, right: 56, top: 8, bottom: 8, containLabel: true },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, valueFormatter: (v) => figure(m, v) },
      xAxis: { type: "value", axisLabel: { fontSize: 10, formatter: (v) => figure(m, v) }, splitNumber: 4 },
      yAxis: { type: "category", data: top.map((r) => short(groupLabel(r))), axisLabel: { fontSize: 11 } },
      series: [{ name: t(`perf.metric.${m}`), type: "bar", data: top.map((r) => r[m]), color: "#e8453c", barMaxWidth: 22,
        label: { show: true, position: "right", fontSize: 10, formatter: (p) => figure(m, p.value) } }],
    });
    charts.push(chart);
    main.dataset.chart = String(top.length);
  }

  let turn = 0;
  async function refreshBoard() {
    const mine = ++turn;
    const m = metric.value;
    const query = { by, order: m, zone: currentTimeZone(), ...periodQuery(period.value, start.value, end.value) };
    downloads.replaceChildren(el("span", { className: "muted" }, t("perf.board.download")), " ",
      el("a", { className: "button", href: url("/metrics/leaderboard", { ...query, limit: 1000, format: "xlsx" }), download: "", id: "perf-xlsx" }, t("reports.format.xlsx")),
      el("a", { className: "button", href: url("/metrics/leaderboard", { ...query, limit: 1000, format: "csv" }), download: "", id: "perf-csv" }, t("reports.format.csv")),
      el("a", { className: "button", href: url("/metrics/report", { ...query, metric: m, lang: lang() }), target: "_blank", rel: "noopener", id: "perf-html" }, t("reports.format.html")));
    let rows;
    try {
      rows = await api("/metrics/leaderboard", { query: { ...query, limit: 50 } });
    } catch (err) {
      if (mine === turn) notifyError(err);
      return;
    }
    if (mine !== turn) return;
    delete main.dataset.chart;
    downloads.hidden = false;
    if (!rows.length) {
      disposeCharts();
      chartBox.hidden = true;
      if (!done().length) { // nothing was ever imported: say where the exports are and how to bring them in
        downloads.hidden = true;
        tableBox.replaceChildren(emptyState({ id: "perf-empty", title: t("perf.empty.title"), text: t(canImport ? "perf.empty.text" : "perf.empty.text_viewer"),
          action: canImport ? t("perf.empty.action") : null, onAction: () => fileInput.click() }));
        if (canImport) tableBox.append(el("ul", { className: "muted small how-to" }, ["qianniu", "juliang", "other"].map((k) => el("li", {}, t(`perf.empty.how.${k}`)))));
      } else {
        tableBox.replaceChildren(emptyState({ id: "perf-empty-period", title: t("perf.empty_period.title"), text: t("perf.empty_period.text") }));
      }
      return;
    }
    chartBox.hidden = false;
    const cols = COLUMNS.includes(m) ? COLUMNS : [...COLUMNS, m];
    tableBox.replaceChildren(el("div", { className: "table-scroll" }, el("table", { className: "table", id: "perf-table", "data-by": by, "data-metric": m },
      el("thead", {}, el("tr", {}, el("th", { className: "num" }, t("perf.board.col.rank")), el("th", {}, t(`perf.group.${by}`)),
        cols.map((k) => el("th", { className: `num${k === m ? " sorted" : ""}` }, t(`perf.metric.${k}`))))),
      el("tbody", {}, rows.map((r) => el("tr", { "data-key": r.key },
        el("td", { className: "num" }, String(r.rank)), el("td", { className: "name" }, nameCell(r)),
        cols.map((k) => el("td", { className: `num${k === m ? " sorted" : ""}`, "data-col": k }, figure(k, r[k])))))))));
    await drawChart(rows, m, mine);
  }

  // --- recent imports -------------------------------------------------------------------------------
  function renderImports() {
    const list = done().slice(0, 10);
    if (!list.length) { importsBox.replaceChildren(); return; }
    const platformName = (p) => { const m = mappings.find((x) => x.platform === p); return m ? (zh() ? m.name_zh : m.name_en) : p; };
    importsBox.replaceChildren(el("h2", {}, t("perf.imports.title")), el("div", { className: "table-scroll" }, el("table", { className: "table", id: "perf-imports-table" },
      el("thead", {}, el("tr", {}, ["time", "platform", "file", "inserted", "updated", "unchanged", "unmatched", "failed"].map((k) =>
        el("th", { className: ["time", "platform", "file"].includes(k) ? null : "num" }, t(`perf.imports.col.${k}`))))),
      el("tbody", {}, list.map((i) => el("tr", { "data-import": i.id },
        el("td", {}, dateTime(i.created_at)), el("td", {}, platformName(i.platform)), el("td", {}, i.file_name),
        ["rows_inserted", "rows_updated", "rows_unchanged", "rows_unmatched", "rows_failed"].map((k) => el("td", { className: "num" }, number(i[k])))))))));
  }

  renderImports();
  await refreshBoard();
  return () => { window.removeEventListener("resize", resize); disposeCharts(); };
}
