// The team's page: browse, search, upload and inspect materials through the API.
// Every text from the API reaches the page as a text node (never as markup), and the API key lives
// only in this tab's memory: nothing a page script could read later (localStorage, sessionStorage,
// cookies) ever holds it. The page's Content-Security-Policy allows this file and nothing inline.
"use strict";

const API = "/api/v1";
let apiKey = "";
let cursor = null;
const $ = (s) => document.querySelector(s);

// An element with attributes (and event handlers) and children; strings become text nodes.
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "className") node.className = value;
    else node.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function showError(problem) {
  const box = $("#error");
  if (!problem) { box.style.display = "none"; return; }
  box.textContent = (problem.title || "Error") + (problem.detail ? ": " + problem.detail : "") + (problem.type ? "  [" + problem.type + "]" : "");
  box.style.display = "block";
}

async function api(path, options = {}) {
  const headers = Object.assign({ "Authorization": "Bearer " + apiKey }, options.headers || {});
  const res = await fetch(path, Object.assign({}, options, { headers }));
  if (!res.ok) {
    let problem = { title: res.status + " " + res.statusText };
    try { problem = await res.json(); } catch (e) { /* not JSON: keep the status line */ }
    showError(problem);
    throw problem;
  }
  showError(null);
  return res;
}

async function imageInto(node, url, asBackground) {
  try {
    const blob = await (await api(url)).blob();
    const src = URL.createObjectURL(blob);
    if (asBackground) node.style.backgroundImage = `url("${src}")`; else node.src = src;
  } catch (e) { /* no preview: the tile stays dark */ }
}

function fmtDuration(s) {
  if (s == null) return "";
  const m = Math.floor(s / 60), sec = Math.round(s % 60);
  return `${m}:${String(sec).padStart(2, "0")}`;
}

function tagLabel(t) { return [t.name_zh, t.name_en].filter(Boolean).join(" / "); }

function card(m) {
  const size = m.media.display_width ? `${m.media.display_width}×${m.media.display_height}` : m.media_type;
  const thumb = el("div", { className: "thumb" }, el("span", {}, fmtDuration(m.media.duration_s)));
  const div = el("div", { className: "card", onclick: () => showDetail(m.id) },
    thumb,
    el("div", { className: "body" },
      el("div", { className: "title" }, m.title),
      el("div", { className: "muted" }, `${m.kind} · ${size} · ${m.status}`),
      el("div", { className: "tags" }, m.tags.map((t) => el("span", { className: "tag" }, tagLabel(t)))),
    ),
  );
  if (m.links.poster) imageInto(thumb, m.links.poster, true);
  else if (m.media_type === "audio") thumb.classList.add("audio");
  return div;
}

async function search(append) {
  const form = new FormData($("#search"));
  const params = new URLSearchParams();
  for (const [k, v] of form.entries()) if (v) params.append(k, v);
  if (append && cursor) params.set("cursor", cursor);
  params.set("limit", "40");
  const page = await (await api(`${API}/materials?${params}`)).json();
  const grid = $("#grid");
  if (!append) grid.replaceChildren();
  page.items.forEach((m) => grid.append(card(m)));
  if (!page.items.length && !append) grid.append(el("p", { className: "muted" }, "No materials match. 没有匹配的素材。"));
  cursor = page.next_cursor;
  $("#more").hidden = !cursor;
}

function treeItem(node) {
  const m = node.material;
  return el("li", {},
    m.title, " ",
    el("span", { className: "muted" }, `(${m.kind}${m.preset_id ? ", " + m.preset_id : ""})`),
    node.children.length ? el("ul", { className: "tree" }, node.children.map(treeItem)) : null,
  );
}

async function download(m) {
  const link = await (await api(`${API}/materials/${m.id}/download-url`)).json();
  if (link.expires_at) { window.location.assign(link.url); return; }
  const blob = await (await api(link.url)).blob();
  const a = el("a", { href: URL.createObjectURL(blob), download: m.download_name || m.original_filename || m.title });
  a.click();
}

// The proxy (small, browser-safe) plays in place of the contact sheet: straight from a presigned URL
// on S3, else fetched with the key (a <video> cannot send it) and played from an object URL.
async function playProxy(sheet, m) {
  const video = el("video", { id: "proxy", controls: true, preload: "metadata", playsinline: true });
  sheet.replaceWith(video);
  try {
    const link = await (await api(`${API}/materials/${m.id}/proxy/video-url`)).json();
    video.src = link.expires_at ? link.url : URL.createObjectURL(await (await api(link.url)).blob());
  } catch (e) { video.replaceWith(sheet); if (m.links.poster) imageInto(sheet, m.links.poster, false); }
}

async function showDetail(id) {
  const m = await (await api(`${API}/materials/${id}`)).json();
  const lineage = await (await api(`${API}/materials/${id}/lineage`)).json();
  const panel = $("#detail");
  const rows = Object.entries(m.media).filter(([, v]) => v !== null && v !== "")
    .map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", {}, typeof v === "object" ? JSON.stringify(v) : v)));
  const from = lineage.ancestors.length
    ? "From: " + lineage.ancestors.map((a) => a.title).reverse().join(" → ")
    : "Source footage";
  const sheet = el("img", { id: "sheet", alt: "contact sheet" });
  panel.replaceChildren(
    el("button", { className: "close", onclick: () => { panel.style.display = "none"; } }, "Close 关闭"),
    el("h2", {}, m.title),
    el("p", { className: "muted description" }, m.description),
    sheet,
    el("p", {},
      el("a", { href: "#", id: "download", onclick: (e) => { e.preventDefault(); download(m); } }, "Download original"),
      ` · ${(m.size_bytes / 1048576).toFixed(1)} MB · sha256 ${m.sha256 ? m.sha256.slice(0, 12) : ""}…`,
    ),
    el("h3", {}, "Media"),
    el("table", {}, el("tbody", {}, rows)),
    el("h3", {}, "Lineage 来源"),
    el("p", { className: "muted lineage-from" }, from),
    el("ul", { className: "tree", id: "lineage" }, treeItem(lineage.tree)),
  );
  if (m.proxy && m.proxy.video) playProxy(sheet, m);
  else if (m.links.contact_sheet) imageInto(sheet, m.links.contact_sheet, false);
  else if (m.links.poster) imageInto(sheet, m.links.poster, false);
  panel.style.display = "block";
}

async function loadTags() {
  const tags = await (await api(`${API}/tags`)).json();
  $("#tag-filter").replaceChildren(
    el("option", { value: "" }, "any tag"),
    tags.map((t) => el("option", { value: t.id }, `${t.category}: ${tagLabel(t)}`)),
  );
}

async function start() {
  if (!apiKey) { showError({ title: "Enter an API key 请输入 API key", detail: "create one on the server (any folder): reelhouse keys create --role editor — in a checkout: .venv/bin/reelhouse keys create --role editor" }); return; }
  const me = await (await api(`${API}/keys/me`)).json();
  $("#who").textContent = `${me.name} (${me.role})`;
  await loadTags();
  await search(false);
}

async function upload(e) {
  e.preventDefault();
  const form = new FormData(e.target);
  const file = form.get("file");
  // The file goes as the raw body (the browser streams it from disk and declares its size), so the
  // server hashes and inspects it while it arrives; title and tags go in the query string.
  const params = new URLSearchParams({ filename: file.name });
  if (form.get("title")) params.append("title", form.get("title"));
  for (const t of String(form.get("tags") || "").split(/[,，]/)) if (t.trim()) params.append("tag", t.trim());
  $("#upload-status").textContent = "uploading… 上传中";
  try {
    const res = await api(`${API}/materials?${params}`, {
      method: "POST", body: file, headers: { "Content-Type": "application/octet-stream" },
    });
    const m = await res.json();
    $("#upload-status").textContent = res.status === 200 ? `already in the catalogue: ${m.title}` : `added: ${m.title}`;
    e.target.reset();
    await loadTags();
    await search(false);
  } catch (problem) { $("#upload-status").textContent = "rejected 被拒绝"; }
}

document.addEventListener("DOMContentLoaded", () => {
  $("#key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    apiKey = $("#key").value.trim();
    $("#key").value = "";  // the field keeps nothing once the key is in use
    start().catch(() => {});
  });
  $("#search").addEventListener("submit", (e) => { e.preventDefault(); search(false).catch(() => {}); });
  $("#more").addEventListener("click", () => search(true).catch(() => {}));
  $("#upload").addEventListener("submit", upload);
  start().catch(() => {});
});
