// Jobs (issue 19, screen 5): the render jobs, newest first, with live progress (the list is polled every
// 2 s while a job is queued or running, every 15 s otherwise), each rendition's status, cancel and
// retry (a failed or cancelled job), errors in plain words (by their stable code), and a link to every finished clip's material.
// Data: GET /jobs, POST /jobs/{id}/cancel, POST /jobs/{id}/retry, GET /presets, GET /materials/{id}.

import { api } from "../api.js";
import { el } from "../dom.js";
import { currentLanguage, dateTime, duration, has, label, percent, t } from "../i18n.js";
import { allows, emptyState, notify, notifyError } from "../layout.js";

const ACTIVE = new Set(["queued", "running"]);
const STATUSES = ["queued", "running", "succeeded", "failed", "cancelled"];

// An error code in words: the screen's own sentence, else the API's problem text, else the detail.
function errorText(error) {
  if (!error) return "";
  if (has(`jobs.error.${error.code}`)) return t(`jobs.error.${error.code}`);
  if (has(`problem.${error.code}`)) return t(`problem.${error.code}`, {});
  return t("jobs.error.other", { code: error.code });
}

export async function render(main, ctx) {
  const canEdit = allows(ctx.session.user, "editor");
  const presets = await api("/presets").then((page) => page.items).catch(() => []);
  const presetLabel = (id) => {
    const p = presets.find((x) => x.id === id);
    if (!p || !p.label) return id;
    return typeof p.label === "object" ? (currentLanguage() === "zh-CN" ? p.label.zh : p.label.en) : p.label;
  };
  const titles = new Map(); // source material id -> title (asked once)
  const filter = el("select", { id: "jobs-status", "aria-label": t("jobs.filter") },
    el("option", { value: "" }, t("jobs.filter_any")),
    STATUSES.map((s) => el("option", { value: s, selected: ctx.query.get("status") === s }, label("jobs.status", s))));
  filter.addEventListener("change", () => ctx.go(filter.value ? `/jobs?status=${filter.value}` : "/jobs"));
  const list = el("div", { id: "jobs-list", className: "jobs" });
  main.append(el("div", { className: "screen-head" }, el("h1", {}, t("jobs.title")),
    el("label", { className: "inline" }, t("jobs.filter"), " ", filter)), list);

  let timer = null;
  let stopped = false;

  async function act(job, action) {
    try {
      await api(`/jobs/${job.id}/${action}`, { method: "POST" });
      notify(t(`jobs.done.${action}`));
    } catch (err) {
      notifyError(err);
    }
    await refresh();
  }

  function rendition(r, job) {
    const name = presetLabel(r.preset_id);
    return el("li", { className: `rendition r-${r.status}`, "data-preset": r.preset_id },
      el("span", { className: `pill job-${r.status}` }, label("jobs.rendition", r.status)), " ",
      r.material_id ? el("a", { href: `#/materials/${r.material_id}` }, name) : el("span", {}, name),
      r.duration_s != null ? el("span", { className: "muted" }, ` · ${duration(r.duration_s)}`) : null,
      r.width && r.height ? el("span", { className: "muted" }, ` · ${r.width}×${r.height}`) : null,
      r.error && !(job.error && job.error.code === r.error.code) ? el("div", { className: "job-error" }, errorText(r.error)) : null,
      r.violations && r.violations.length ? el("div", { className: "job-error" }, t("jobs.violations", { n: r.violations.length })) : null);
  }

  function card(job) {
    const title = titles.get(job.source_id) || t("jobs.source_unknown");
    const buttons = [];
    if (canEdit && ACTIVE.has(job.status)) {
      buttons.push(el("button", { type: "button", className: "cancel", onclick: () => act(job, "cancel") }, t("jobs.cancel")));
    }
    if (canEdit && (job.status === "failed" || job.status === "cancelled")) {
      buttons.push(el("button", { type: "button", className: "retry", onclick: () => act(job, "retry") }, t("jobs.retry")));
    }
    return el("article", { className: `job-card job-${job.status}`, "data-job": job.id, "data-status": job.status },
      el("header", { className: "quota-head" },
        el("div", {}, el("a", { href: `#/materials/${job.source_id}`, className: "job-source" }, title), " ",
          el("span", { className: "muted job-created" }, t("jobs.created", { time: dateTime(job.created_at) }))),
        el("span", { className: `pill job-${job.status}`, "data-state": job.status }, label("jobs.status", job.status))),
      el("div", { className: "job-progress" },
        el("progress", { max: 1, value: job.status === "succeeded" ? 1 : job.progress || 0 }),
        el("span", { className: "muted pct" }, percent(job.status === "succeeded" ? 1 : job.progress || 0))),
      job.error && job.status !== "cancelled" ? el("p", { className: "job-error" }, errorText(job.error)) : null,
      job.attempts > 1 ? el("p", { className: "muted" }, t("jobs.attempts", { n: job.attempts, of: job.max_attempts })) : null,
      el("ul", { className: "renditions" }, (job.renditions || []).map((r) => rendition(r, job))),
      buttons.length ? el("div", { className: "actions" }, buttons) : null);
  }

  async function refresh() {
    if (stopped) return;
    clearTimeout(timer);
    let page;
    try {
      page = await api("/jobs", { query: { limit: 50, status: ctx.query.get("status") || undefined } });
    } catch (err) {
      notifyError(err);
      timer = setTimeout(refresh, 15000);
      return;
    }
    const unknown = [...new Set(page.items.map((j) => j.source_id))].filter((id) => !titles.has(id));
    await Promise.all(unknown.map((id) => api(`/materials/${id}`).then((m) => titles.set(id, m.title)).catch(() => titles.set(id, null))));
    if (stopped) return;
    if (!page.items.length) {
      list.replaceChildren(ctx.query.get("status")
        ? emptyState({ id: "jobs-empty-filtered", title: t("jobs.empty_filtered.title"), text: t("jobs.empty_filtered.text"), action: t("jobs.empty_filtered.action"), href: "#/jobs" })
        : emptyState({ id: "jobs-empty", title: t("jobs.empty.title"), text: t("jobs.empty.text"), action: t("jobs.empty.action"), href: "#/library" }));
    } else {
      list.replaceChildren(...page.items.map(card));
    }
    main.dataset.polled = String(Number(main.dataset.polled || 0) + 1);
    timer = setTimeout(refresh, page.items.some((j) => ACTIVE.has(j.status)) ? 2000 : 15000);
  }

  await refresh();
  return () => { stopped = true; clearTimeout(timer); };
}
