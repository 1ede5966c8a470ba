// Upload: drop many files (or pick them), give each a title and the batch its tags, and send them over
// tus (resumable). Each file shows its progress, speed and state; a dropped connection is retried from
// the last byte the server has, and after a page reload choosing the same file again resumes it (the
// upload's address is remembered by tus-js-client under the file's fingerprint). A file the library
// already holds, or one the server refuses, is explained in words.

import { api, csrfHeaders } from "../api.js";
import { tagInput } from "../common.js";
import { clear, el } from "../dom.js";
import { bytes, dateTime, percent, problemText, t } from "../i18n.js";
import { emptyState, notifyError } from "../layout.js";

const ENDPOINT = "/api/v1/uploads";
const CHUNK = 5 * 1024 * 1024; // bounded PATCHes: a proxy's body limit never refuses one, a cut loses little
const RETRY_DELAYS = [0, 1000, 3000, 5000, 10000, 20000];
// Files go one after another: the team's uplink is the bottleneck, so parallel uploads finish no sooner
// in total, and each file is in the library as early as it can be.
const PARALLEL = 1;

export async function render(main) {
  const tus = window.tus;
  const rows = new Map(); // file key -> row state
  const tags = await tagInput("upload-tags");
  const list = el("div", { className: "upload-list", id: "upload-list" });
  const picker = el("input", { type: "file", id: "upload-files", multiple: true, accept: "video/*,audio/*,image/*", hidden: true,
    onchange: (e) => { addFiles(e.target.files); e.target.value = ""; } });
  const drop = el("label", { className: "dropzone", id: "dropzone", for: "upload-files" },
    el("strong", {}, t("upload.drop")), el("span", { className: "muted" }, t("upload.drop_hint")), picker);
  for (const type of ["dragenter", "dragover"]) drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.add("over"); });
  for (const type of ["dragleave", "drop"]) drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.remove("over"); });
  drop.addEventListener("drop", (e) => addFiles(e.dataTransfer.files));

  const start = el("button", { type: "button", id: "upload-start", className: "primary", disabled: true, onclick: startAll }, t("upload.start"));
  const unfinished = el("div", { id: "upload-unfinished" });
  main.append(el("div", { className: "screen-head" }, el("h1", {}, t("upload.title"))),
    drop, el("div", { className: "upload-options" }, el("label", {}, t("upload.tags")), tags.node, start), unfinished, list);
  renderEmpty();
  showUnfinished();

  // Uploads a reload interrupted: tus-js-client remembers them; the person picks the same file again.
  async function showUnfinished() {
    let previous = [];
    try { previous = await tus.defaultOptions.urlStorage.findAllUploads(); } catch { return; }
    clear(unfinished);
    if (!previous.length) return;
    unfinished.append(el("div", { className: "notice-box" }, el("strong", {}, t("upload.unfinished.title")),
      el("p", { className: "muted" }, t("upload.unfinished.text")),
      el("ul", {}, previous.map((p) => el("li", {}, (p.metadata && p.metadata.filename) || "?", " ",
        el("span", { className: "muted small" }, dateTime(p.creationTime)))))));
  }

  function renderEmpty() {
    const empty = document.getElementById("upload-empty");
    if (rows.size === 0 && !empty) list.append(emptyState({ id: "upload-empty", title: t("upload.empty.title"), text: t("upload.empty.text") }));
    if (rows.size > 0 && empty) empty.remove();
  }

  function addFiles(files) {
    for (const file of files) {
      const key = `${file.name}|${file.size}|${file.lastModified}`;
      if (rows.has(key)) continue;
      rows.set(key, makeRow(file, key));
    }
    renderEmpty();
    start.disabled = ![...rows.values()].some((r) => r.state === "ready");
  }

  function makeRow(file, key) {
    const row = { file, key, state: "ready", upload: null, lastBytes: 0, lastTime: 0, speed: 0 };
    const stem = file.name.replace(/\.[^.]+$/, "").replace(/_/g, " ");
    row.title = el("input", { className: "title-input", value: stem, "aria-label": t("upload.file_title", { name: file.name }) });
    row.bar = el("progress", { max: 100, value: 0 });
    row.status = el("span", { className: "status" }, t("upload.state.ready"));
    row.speedText = el("span", { className: "muted small speed" });
    row.actions = el("span", { className: "actions" });
    row.node = el("div", { className: "upload-row", dataset: { state: "ready", name: file.name } },
      el("div", { className: "name" }, el("strong", {}, file.name), el("span", { className: "muted small" }, " ", bytes(file.size))),
      row.title, row.bar, row.status, row.speedText, row.actions);
    list.append(row.node);
    setActions(row);
    return row;
  }

  function setState(row, state, text) {
    row.state = state;
    row.node.dataset.state = state;
    row.status.replaceChildren(...[text || t(`upload.state.${state}`)].flat());
    setActions(row);
  }

  function setActions(row) {
    const b = (id, handler) => el("button", { type: "button", className: "link", dataset: { action: id }, onclick: handler }, t(`upload.action.${id}`));
    const actions = {
      ready: [b("remove", () => { row.node.remove(); rows.delete(row.key); renderEmpty(); })],
      uploading: [b("pause", () => { row.upload.abort(); setState(row, "paused"); next(); })],
      paused: [b("resume", () => { setState(row, "uploading"); row.upload.start(); })],
      queued: [b("remove", () => { row.node.remove(); rows.delete(row.key); renderEmpty(); })],
      failed: row.node.dataset.problem === "network" ? [b("retry", () => send(row))] : [],
    }[row.state] || [];
    row.actions.replaceChildren(...actions);
  }

  function startAll() {
    const refs = tags.values();
    for (const row of rows.values()) if (row.state === "ready") { row.tags = refs; setState(row, "queued"); }
    start.disabled = true;
    next();
  }

  // Start queued files while fewer than PARALLEL are on the wire (paused ones hold no slot).
  function next() {
    const busy = [...rows.values()].filter((r) => r.state === "uploading" || r.state === "processing").length;
    const waiting = [...rows.values()].filter((r) => r.state === "queued");
    for (const row of waiting.slice(0, Math.max(0, PARALLEL - busy))) send(row);
  }

  async function send(row) {
    row.title.disabled = true;
    setState(row, "uploading");
    const upload = new tus.Upload(row.file, {
      endpoint: ENDPOINT,
      chunkSize: CHUNK,
      retryDelays: RETRY_DELAYS,
      headers: csrfHeaders(),
      metadata: { filename: row.file.name, title: row.title.value.trim() || row.file.name, tags: (row.tags || []).join(","), filetype: row.file.type },
      removeFingerprintOnSuccess: true,
      onShouldRetry: (err, attempt, options) => {
        const status = err.originalResponse ? err.originalResponse.getStatus() : 0;
        const retry = !status || status >= 500 || status === 409 || status === 423;
        if (retry) setState(row, "uploading", t("upload.state.reconnecting", { attempt: attempt + 1 }));
        return retry;
      },
      onProgress: (sent, total) => {
        const now = performance.now();
        if (row.lastTime && now > row.lastTime) {
          const rate = ((sent - row.lastBytes) * 1000) / (now - row.lastTime);
          row.speed = row.speed ? row.speed * 0.7 + rate * 0.3 : rate;
        }
        row.lastBytes = sent; row.lastTime = now;
        row.bar.value = total ? (sent / total) * 100 : 0;
        row.speedText.textContent = `${percent(total ? sent / total : 0)} · ${bytes(row.speed)}/s`;
        // All bytes sent: the server is checking the file (probe, previews) before it answers.
        const state = total && sent === total ? "processing" : "uploading";
        if (row.state !== state || row.status.textContent !== t(`upload.state.${state}`)) setState(row, state);
      },
      onError: (err) => failed(row, err),
      onSuccess: () => finished(row),
    });
    row.upload = upload;
    try {
      const previous = await upload.findPreviousUploads();
      if (previous.length) {
        upload.resumeFromPreviousUpload(previous[0]);
        row.resumed = true;
      }
    } catch (err) { console.warn(err); }
    upload.start();
  }

  async function failed(row, err) {
    let problem = { status: 0 };
    const response = err && err.originalResponse;
    if (response) {
      try { problem = JSON.parse(response.getBody()); } catch { problem = { status: response.getStatus() }; }
    }
    row.node.dataset.problem = problem.type || "network"; // a refused file offers no retry: it would be refused again
    row.speedText.textContent = "";
    setState(row, "failed", problem.type ? t("upload.refused", { reason: problemText(problem) }) : t("upload.network_error"));
    if (problem.type && row.upload.url) {
      // Refused for good: nothing to resume, so it is no longer an unfinished upload.
      const storage = tus.defaultOptions.urlStorage;
      for (const p of await storage.findAllUploads()) if (p.uploadUrl === row.upload.url) await storage.removeUpload(p.urlStorageKey);
      showUnfinished();
    }
    next();
  }

  async function finished(row) {
    row.bar.value = 100;
    row.speedText.textContent = "";
    setState(row, "processing");
    try {
      const status = await api(row.upload.url.replace(/^.*\/api\/v1/, ""));
      const material = await api(`/materials/${status.material_id}`);
      const link = el("a", { href: `#/materials/${material.id}` }, material.title);
      if (new Date(material.created_at) < new Date(status.created_at)) {
        setState(row, "duplicate", [t("upload.duplicate"), " ", link]);
      } else {
        setState(row, "done", [t(row.resumed ? "upload.done_resumed" : "upload.done"), " ", link]);
      }
    } catch (err) {
      notifyError(err);
    }
    showUnfinished();
    next();
  }

  return () => { for (const row of rows.values()) if (row.upload && row.state === "uploading") row.upload.abort(); };
}
