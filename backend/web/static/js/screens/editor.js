// The clip editor (issue 19, screen 4): the player (the proxy once it is ready, else the original) over a
// timeline of sprite thumbnails and the audio waveform; in and out points marked with I and O (frame by
// frame with , . or the arrow keys, at the source's frame rate), the ranges listed and drawn on the
// timeline; presets grouped by platform with a small picture of each frame and its safe zone; a title
// previewed live over the player inside the chosen preset's frame; for fit `smart` the crop window drawn
// over the player, dragged to add or move a keyframe of the camera path; everything sent as ONE render job.
// `?in=<s>&out=<s>` opens with a range marked (a proposal's "adjust in the editor").
// Data: GET /materials/{id}, GET /materials/{id}/proxy (+ sprite.vtt, waveform.json), GET /presets,
// GET /platforms, POST /materials/{id}/reframe, POST /materials/{id}/renders.

import { api } from "../api.js";
import { playableUrl, zh } from "../common.js";
import { $$, el } from "../dom.js";
import { duration, label, number, t } from "../i18n.js";
import { emptyState, notify, notifyError } from "../layout.js";
import { madePreviewUrl, previewWatcher, previewsNote } from "../previews.js";

const PROXY_POLL_MS = 3000;
const FITS = ["crop", "pad", "smart"];
const NUDGE = 0.02; // a key press moves the crop window by 2 % of the frame
const FIRST_PLATFORMS = ["douyin", "xiaohongshu", "tmall"]; // where the team publishes most: listed first, the rest after
const drafts = new Map(); // material id -> the editor's state, kept while the app is open (a language switch re-renders)

// 0:01.04 (minutes, seconds, hundredths): an editor needs more than whole seconds.
export function clock(seconds) {
  const s = Math.max(0, seconds || 0);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), rest = s - h * 3600 - m * 60;
  const ss = rest.toFixed(2).padStart(5, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

const round3 = (x) => Math.round(x * 1000) / 1000;
const clamp = (x, lo, hi) => Math.min(hi, Math.max(lo, x));

// "9:16" -> 0.5625
function aspectOf(preset) {
  const [w, h] = String((preset.aspect && preset.aspect.value) || "16:9").split(":").map(Number);
  return w && h ? w / h : 16 / 9;
}

function safeZoneOf(preset) {
  const zone = preset.caption_safe_zone && preset.caption_safe_zone.value;
  return zone || { top: 0, bottom: 0, left: 0, right: 0 };
}

// The largest window of the preset's aspect inside the source, as fractions of the source (as the renderer
// computes it, workers/media/reframe.py base_window).
function baseWindow(sourceAspect, outAspect) {
  return sourceAspect > outAspect ? [outAspect / sourceAspect, 1] : [1, sourceAspect / outAspect];
}

// A path's value at time `at` (keys sorted by `field`): linear between keys, held before and after, pad
// held from the key before (as the render engine interpolates).
function keyAt(keys, at, field) {
  if (!keys.length) return { x: 0.5, y: 0.5, scale: 1, pad: false };
  if (at <= keys[0][field]) return keys[0];
  for (let i = 0; i < keys.length - 1; i += 1) {
    const a = keys[i], b = keys[i + 1];
    if (at < b[field]) {
      const f = (at - a[field]) / Math.max(b[field] - a[field], 1e-9);
      return { x: a.x + (b.x - a.x) * f, y: a.y + (b.y - a.y) * f, scale: a.scale + (b.scale - a.scale) * f, pad: a.pad };
    }
  }
  return keys[keys.length - 1];
}

async function fetchText(url) {
  const res = await fetch(url, { credentials: "same-origin" });
  if (!res.ok) throw new Error(`HTTP ${res.status} ${url}`);
  return res.text();
}

// The sprite's WebVTT index: one cue per tile, `sprite-000.jpg#xywh=x,y,w,h` relative to the index.
function parseSprite(text, base) {
  const cues = [];
  const seconds = (v) => v.split(":").reduce((acc, part) => acc * 60 + Number(part), 0);
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i += 1) {
    if (!lines[i].includes("-->")) continue;
    const [from, to] = lines[i].split("-->").map((s) => seconds(s.trim()));
    const [file, frag] = (lines[i + 1] || "").trim().split("#xywh=");
    if (!file || !frag) continue;
    const [x, y, w, h] = frag.split(",").map(Number);
    cues.push({ start: from, end: to, url: new URL(file, base).href, x, y, w, h });
  }
  return cues;
}

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error(`image ${url}`));
    img.src = url;
  });
}

export async function render(main, ctx) {
  const id = ctx.params.id;
  const [material, presets, platforms] = await Promise.all([
    api(`/materials/${id}`), api("/presets").then((page) => page.items), api("/platforms").then((page) => page.items),
  ]);
  const head = el("div", { className: "screen-head" },
    el("a", { href: `#/materials/${id}`, className: "back" }, t("editor.back")),
    el("h1", { id: "editor-heading" }, t("editor.title", { title: material.title })));
  main.append(head);
  if (material.media_type !== "video") {
    main.append(emptyState({ id: "editor-not-video", title: t("editor.not_video.title"), text: t("editor.not_video.text"),
      action: t("editor.back_to_material"), href: `#/materials/${id}` }));
    return null;
  }
  if (material.status !== "ready") {
    main.append(emptyState({ id: "editor-not-ready", title: t("editor.not_ready.title"), text: t("editor.not_ready.text"),
      action: t("editor.back_to_material"), href: `#/materials/${id}` }));
    return null;
  }

  const media = material.media;
  const total = media.duration_s || 0;
  const fps = media.fps && media.fps > 0 ? media.fps : (material.proxy && material.proxy.fps) || 25;
  const lastFrame = Math.max(0, Math.round(total * fps));
  const srcW = media.display_width || 16, srcH = media.display_height || 9;
  const sourceAspect = srcW / srcH;
  const presetById = new Map(presets.map((p) => [p.id, p]));
  const presetLabel = (p) => (p.label && typeof p.label === "object" ? (zh() ? p.label.zh : p.label.en) : p.label) || p.id;

  // --- state (kept per material while the app is open) ------------------------------------------------
  const query = ctx.query.toString();
  const fromQuery = ctx.query.has("in") && ctx.query.has("out");
  let state = drafts.get(id);
  if (!state || state.query !== query) { // a new address starts afresh; a re-render (language switch) keeps the work
    state = { query, ranges: [], pendingIn: null, presets: [], fits: {}, title: "", position: "top", keys: [], view: null };
    drafts.set(id, state);
    if (fromQuery) {
      const a = round3(clamp(Number(ctx.query.get("in")), 0, total)), b = round3(clamp(Number(ctx.query.get("out")), 0, total));
      if (Number.isFinite(a) && Number.isFinite(b) && b > a) state.ranges = [{ start: a, end: b }];
    }
  }
  const fitOf = (pid) => state.fits[pid] || (presetById.get(pid) || {}).fit || "crop";
  const smartPresets = () => state.presets.filter((pid) => fitOf(pid) === "smart");

  // --- the player ------------------------------------------------------------------------------------
  let proxy = material.proxy;
  const video = el("video", { id: "editor-video", preload: "auto", playsinline: true,
    poster: material.links.poster || null, "aria-label": t("editor.player") });
  const frameBox = el("div", { className: "frame", id: "editor-frame" });
  const safeBox = el("div", { className: "safe" });
  const titlePreview = el("div", { className: "title-preview", id: "editor-title-preview", hidden: true });
  frameBox.append(safeBox, titlePreview);
  const overlay = el("div", { className: "overlay", id: "editor-overlay" }, frameBox);
  const stage = el("div", { className: "stage", id: "editor-stage" }, video, overlay);
  stage.style.aspectRatio = `${srcW} / ${srcH}`;
  stage.style.width = `min(100%, calc(62vh * ${sourceAspect.toFixed(4)}))`;
  const proxyNote = el("p", { className: "proxy-note muted", id: "editor-proxy-note", "aria-live": "polite" });
  // The poster (shown until the video plays) of a new upload is made by a worker seconds after it: swapped in
  // once made; if it cannot be made, the screen says why the picture is a placeholder. While it is being made
  // the proxy's note already says the previews are coming.
  const previews = previewWatcher();
  const previewsWords = previewsNote("editor-previews", { pending: false });
  previewsWords.show(material);
  previews.follow(material, (now) => {
    if (!now.previews_failed) video.poster = madePreviewUrl(now);
    previewsWords.show(now);
  }, { alive: () => video.isConnected });
  // With fit `pad` the output frame is larger than the picture (a blurred copy fills the rest): the overlay
  // then shows the picture's area only, so the title's place there is approximate, and the screen says so.
  const padNote = el("p", { className: "muted small", id: "editor-pad-note", hidden: true }, t("editor.fit.pad_note"));
  const timeText = el("span", { className: "time", id: "editor-time" });

  function useSource() {
    const src = playableUrl({ ...material, proxy });
    const usingProxy = !!(proxy && proxy.state === "ready" && proxy.video);
    if (video.getAttribute("src") === src) return;
    const at = video.currentTime || 0;
    video.src = src;
    stage.dataset.source = usingProxy ? "proxy" : "original";
    if (at) video.addEventListener("loadedmetadata", () => { video.currentTime = at; }, { once: true });
  }

  function proxyWords() {
    const made = proxy ? proxy.state : "none";
    if (made === "ready") { proxyNote.hidden = true; return; }
    proxyNote.hidden = false;
    proxyNote.textContent = made === "failed" ? t("editor.proxy.failed")
      : made === "none" ? t("editor.proxy.none") : t("editor.proxy.making");
  }

  // --- the time and the frame ----------------------------------------------------------------------------
  const frameAt = (seconds) => clamp(Math.floor(seconds * fps + 1e-4), 0, lastFrame);
  const now = () => round3(frameAt(video.currentTime || 0) / fps);
  function seekFrame(frame) {
    video.pause();
    video.currentTime = clamp(frame, 0, lastFrame) / fps;
    updateTime();
  }
  const step = (frames) => seekFrame(frameAt(video.currentTime || 0) + frames);

  // --- the timeline ----------------------------------------------------------------------------------------
  const thumbs = el("canvas", { className: "thumbs", "aria-hidden": "true" });
  const wave = el("canvas", { className: "wave", "aria-hidden": "true" });
  const rangeLayer = el("div", { className: "layer ranges-layer" });
  const keyLayer = el("div", { className: "layer keys-layer" });
  const pendingMark = el("div", { className: "pending-in", hidden: true });
  const playhead = el("div", { className: "playhead" });
  const timeline = el("div", { className: "timeline", id: "editor-timeline", tabindex: 0, role: "slider",
    "aria-label": t("editor.timeline"), "aria-valuemin": 0, "aria-valuemax": round3(total) },
  thumbs, wave, rangeLayer, keyLayer, pendingMark, playhead);
  timeline.dataset.thumbs = "pending";
  timeline.dataset.wave = "pending";
  let cues = [], sheets = new Map(), peaks = null;
  const pct = (seconds) => `${(total ? clamp(seconds / total, 0, 1) : 0) * 100}%`;

  function drawThumbs() {
    const width = timeline.clientWidth, height = thumbs.clientHeight, ratio = window.devicePixelRatio || 1;
    thumbs.width = Math.max(1, Math.round(width * ratio));
    thumbs.height = Math.max(1, Math.round(height * ratio));
    const g = thumbs.getContext("2d");
    g.clearRect(0, 0, thumbs.width, thumbs.height);
    if (!cues.length || !total) return;
    const tileW = (height * cues[0].w) / cues[0].h;
    const count = Math.ceil(width / tileW);
    for (let i = 0; i < count; i += 1) {
      const at = ((i + 0.5) * tileW / width) * total;
      const cue = cues.find((c) => at >= c.start && at < c.end) || cues[cues.length - 1];
      const img = sheets.get(cue.url);
      if (img) g.drawImage(img, cue.x, cue.y, cue.w, cue.h, i * tileW * ratio, 0, tileW * ratio, height * ratio);
    }
  }

  function drawWave() {
    const width = timeline.clientWidth, height = wave.clientHeight, ratio = window.devicePixelRatio || 1;
    wave.width = Math.max(1, Math.round(width * ratio));
    wave.height = Math.max(1, Math.round(height * ratio));
    const g = wave.getContext("2d");
    g.clearRect(0, 0, wave.width, wave.height);
    if (!peaks || !total) return;
    const perSecond = peaks.sample_rate / peaks.samples_per_pixel;
    const pairs = peaks.data.length / 2, mid = wave.height / 2;
    // Scaled to the loudest peak (up to 8 times), so a quiet recording still shows where people speak.
    const loudest = peaks.data.reduce((acc, v) => Math.max(acc, Math.abs(v)), 1);
    const gain = Math.min(8, 128 / loudest);
    g.fillStyle = "#4f7bd9";
    for (let x = 0; x < wave.width; x += 1) {
      const i0 = Math.floor((x / wave.width) * total * perSecond);
      const i1 = Math.max(i0 + 1, Math.ceil(((x + 1) / wave.width) * total * perSecond));
      let lo = 0, hi = 0;
      for (let i = i0; i < Math.min(i1, pairs); i += 1) {
        lo = Math.min(lo, peaks.data[2 * i]);
        hi = Math.max(hi, peaks.data[2 * i + 1]);
      }
      const top = mid - Math.min(1, (hi * gain) / 128) * mid, bottom = mid - Math.max(-1, (lo * gain) / 128) * mid;
      g.fillRect(x, top, 1, Math.max(1, bottom - top));
    }
  }

  async function loadStrip() {
    const links = proxy && proxy.state === "ready" ? proxy : null;
    if (!links) return;
    if (links.sprite_vtt && timeline.dataset.thumbs !== "ready") {
      try {
        cues = parseSprite(await fetchText(links.sprite_vtt), new URL(links.sprite_vtt, location.origin));
        const urls = [...new Set(cues.map((c) => c.url))];
        const images = await Promise.all(urls.map(loadImage));
        sheets = new Map(urls.map((u, i) => [u, images[i]]));
        timeline.dataset.thumbs = "ready";
        drawThumbs();
      } catch (err) { console.warn(err); timeline.dataset.thumbs = "none"; }
    } else if (!links.sprite_vtt) timeline.dataset.thumbs = "none";
    if (links.waveform && timeline.dataset.wave !== "ready") {
      try {
        peaks = JSON.parse(await fetchText(links.waveform));
        timeline.dataset.wave = "ready";
        drawWave();
      } catch (err) { console.warn(err); timeline.dataset.wave = "none"; }
    } else if (!links.waveform) timeline.dataset.wave = "none";
  }

  let dragging = false;
  const timeAtPointer = (e) => {
    const box = timeline.getBoundingClientRect();
    return clamp((e.clientX - box.left) / Math.max(box.width, 1), 0, 1) * total;
  };
  timeline.addEventListener("pointerdown", (e) => {
    dragging = true;
    timeline.setPointerCapture(e.pointerId);
    video.pause();
    seekFrame(frameAt(timeAtPointer(e)));
  });
  timeline.addEventListener("pointermove", (e) => { if (dragging) seekFrame(frameAt(timeAtPointer(e))); });
  timeline.addEventListener("pointerup", () => { dragging = false; });

  // --- ranges ------------------------------------------------------------------------------------------------
  const rangeList = el("ol", { className: "range-list", id: "editor-ranges" });
  const rangeEmpty = el("p", { className: "muted", id: "editor-ranges-empty" }, t("editor.ranges.empty"));
  const pendingText = el("p", { className: "muted small", id: "editor-pending" });

  function markIn() {
    state.pendingIn = now();
    update();
  }

  function markOut() {
    const end = now();
    if (state.pendingIn == null) { notify(t("editor.ranges.need_in"), { kind: "error" }); return; }
    const start = state.pendingIn;
    if (end <= start) { notify(t("editor.ranges.out_before_in"), { kind: "error" }); return; }
    if (state.ranges.some((r) => start < r.end && end > r.start)) {
      notify(t("editor.ranges.overlap"), { kind: "error" });
      return;
    }
    state.ranges.push({ start, end });
    state.ranges.sort((a, b) => a.start - b.start);
    state.pendingIn = null;
    notify(t("editor.ranges.added", { start: clock(start), end: clock(end) }));
    update();
  }

  function removeRange(i) {
    state.ranges.splice(i, 1);
    update();
    const buttons = $$(".range-list .remove", main);
    (buttons[Math.min(i, buttons.length - 1)] || timeline).focus();
  }

  const cutSeconds = () => state.ranges.reduce((acc, r) => acc + (r.end - r.start), 0);

  // Source time <-> output time (the ranges joined in order): the crop path is timed on the output.
  function toOutput(seconds) {
    let acc = 0;
    for (const r of state.ranges) {
      if (seconds >= r.start && seconds <= r.end) return acc + (seconds - r.start);
      acc += r.end - r.start;
    }
    return null;
  }
  function toSource(out) {
    let acc = 0;
    for (const r of state.ranges) {
      const d = r.end - r.start;
      if (out <= acc + d + 1e-9) return r.start + (out - acc);
      acc += d;
    }
    return state.ranges.length ? state.ranges[state.ranges.length - 1].end : out;
  }

  // --- presets ----------------------------------------------------------------------------------------------
  function framePicture(preset) {
    const a = aspectOf(preset), zone = safeZoneOf(preset);
    const height = 40, width = Math.min(72, Math.round(height * a));
    const safe = preset.caption_safe_zone ? el("span", { className: "safe-pic" }) : null;
    const pic = el("span", { className: "frame-pic", "aria-hidden": "true" }, safe);
    pic.style.width = `${width}px`;
    pic.style.height = `${Math.round(width / a)}px`;
    if (safe) Object.assign(safe.style, { top: `${zone.top * 100}%`, bottom: `${zone.bottom * 100}%`, left: `${zone.left * 100}%`, right: `${zone.right * 100}%` });
    return pic;
  }

  const viewSelect = el("select", { id: "editor-view", "aria-label": t("editor.view") });
  viewSelect.addEventListener("change", () => { state.view = viewSelect.value; update(); });

  function presetRow(preset) {
    const checked = state.presets.includes(preset.id);
    const fitSelect = el("select", { className: "fit", "aria-label": t("editor.fit.label", { preset: presetLabel(preset) }), hidden: !checked },
      FITS.map((f) => el("option", { value: f, selected: fitOf(preset.id) === f }, t(`editor.fit.${f}`))));
    fitSelect.addEventListener("change", () => {
      state.fits[preset.id] = fitSelect.value;
      if (fitSelect.value === "smart") state.view = preset.id;
      update();
    });
    const box = el("input", { type: "checkbox", className: "choose", value: preset.id, checked,
      onchange: () => {
        if (box.checked) { if (!state.presets.includes(preset.id)) state.presets.push(preset.id); } else state.presets = state.presets.filter((p) => p !== preset.id);
        fitSelect.hidden = !box.checked;
        update();
      } });
    const zone = safeZoneOf(preset);
    const hint = preset.caption_safe_zone ? t("editor.presets.safe_hint", { top: number(Math.round(zone.top * 100)), bottom: number(Math.round(zone.bottom * 100)) }) : "";
    return el("div", { className: "preset-row", dataset: { preset: preset.id } },
      el("label", { className: "preset-choice" }, box, framePicture(preset),
        el("span", {}, el("span", { className: "preset-name" }, presetLabel(preset)),
          el("span", { className: "muted small" }, ` ${preset.width.value}×${preset.height.value}`, hint ? ` · ${hint}` : ""))),
      fitSelect);
  }

  const rank = (platform) => { const i = FIRST_PLATFORMS.indexOf(platform.id); return i < 0 ? FIRST_PLATFORMS.length : i; };
  const presetBox = el("div", { className: "preset-groups", id: "editor-presets", tabindex: -1 },
    [...platforms].sort((a, b) => rank(a) - rank(b)).map((platform) => {
      const own = platform.presets.map((pid) => presetById.get(pid)).filter(Boolean);
      if (!own.length) return null;
      const name = platform.name ? (zh() ? platform.name.zh : platform.name.en) : label("platform", platform.id);
      return el("fieldset", { className: "platform-group", dataset: { platform: platform.id } },
        el("legend", {}, name), own.map(presetRow));
    }));

  // --- the title -------------------------------------------------------------------------------------------------
  const titleInput = el("input", { id: "editor-title", maxlength: 200, value: state.title, placeholder: t("editor.title_text.placeholder"),
    autocomplete: "off" });
  titleInput.addEventListener("input", () => { state.title = titleInput.value; update(); });
  const positionSelect = el("select", { id: "editor-title-position", "aria-label": t("editor.title_text.position") },
    ["top", "bottom"].map((p) => el("option", { value: p, selected: state.position === p }, t(`editor.title_text.${p}`))));
  positionSelect.addEventListener("change", () => { state.position = positionSelect.value; update(); });
  const titleWarning = el("p", { className: "warn small", id: "editor-title-warning", hidden: true }, t("editor.title_text.too_wide"));

  // --- smart reframe: the crop window and its keyframes ------------------------------------------------------------
  const cropWindow = el("div", { className: "crop-window", id: "editor-crop", tabindex: 0, role: "application", hidden: true,
    "aria-label": t("editor.reframe.window"), "aria-roledescription": t("editor.reframe.window_role") });
  overlay.append(cropWindow);
  const keyList = el("ol", { className: "key-list", id: "editor-keys" });
  const keyEmpty = el("p", { className: "muted small", id: "editor-keys-empty" }, t("editor.reframe.no_keys"));
  const suggestButton = el("button", { type: "button", id: "editor-suggest", onclick: suggest }, t("editor.reframe.suggest"));
  const reframeBox = el("section", { className: "reframe", id: "editor-reframe", hidden: true },
    el("h2", {}, t("editor.reframe.heading")),
    el("p", { className: "muted small" }, t("editor.reframe.help")),
    el("div", { className: "actions" }, suggestButton,
      el("button", { type: "button", id: "editor-clear-keys", onclick: () => { state.keys = []; update(); } }, t("editor.reframe.clear"))),
    keyEmpty, keyList);

  // The path as the renderer will follow it at source time `at`: keys timed on the output inside a range.
  function pathAt(at) {
    const out = toOutput(at);
    if (out != null) {
      const keys = state.keys.map((k) => ({ ...k, out: toOutput(k.t) })).filter((k) => k.out != null).sort((a, b) => a.out - b.out);
      if (keys.length) return keyAt(keys, out, "out");
    }
    return keyAt(state.keys, at, "t");
  }

  function windowSize(preset, scale) {
    const [w, h] = baseWindow(sourceAspect, aspectOf(preset));
    return [w * scale, h * scale];
  }

  // Put a keyframe at the current time (moving the one within half a frame of it) with the window centred at x, y.
  function setKey(x, y) {
    const at = now();
    if (toOutput(at) == null) { notify(t("editor.reframe.outside"), { kind: "error" }); return false; }
    const preset = presetById.get(state.view);
    const current = pathAt(at);
    const [w, h] = windowSize(preset, current.scale);
    const key = { t: at, x: round3(clamp(x, w / 2, 1 - w / 2)), y: round3(clamp(y, h / 2, 1 - h / 2)), scale: round3(current.scale), pad: false };
    const near = state.keys.findIndex((k) => Math.abs(k.t - at) < 0.5 / fps);
    if (near >= 0) state.keys[near] = key; else state.keys.push(key);
    state.keys.sort((a, b) => a.t - b.t);
    update();
    return true;
  }

  let drag = null;
  cropWindow.addEventListener("pointerdown", (e) => {
    e.preventDefault();
    video.pause();
    const box = stage.getBoundingClientRect();
    const p = pathAt(now());
    drag = { x0: e.clientX, y0: e.clientY, cx: p.x, cy: p.y, w: box.width, h: box.height };
    cropWindow.setPointerCapture(e.pointerId);
    cropWindow.classList.add("dragging");
  });
  cropWindow.addEventListener("pointermove", (e) => {
    if (!drag) return;
    drag.x = drag.cx + (e.clientX - drag.x0) / drag.w;
    drag.y = drag.cy + (e.clientY - drag.y0) / drag.h;
    placeWindow(drag.x, drag.y, pathAt(now()).scale);
  });
  cropWindow.addEventListener("pointerup", () => {
    if (!drag) return;
    const moved = drag.x != null;
    const { x, y } = drag;
    drag = null;
    cropWindow.classList.remove("dragging");
    if (!moved || !setKey(x, y)) updateTime(); // a refused drag puts the window back
  });
  cropWindow.addEventListener("keydown", (e) => {
    const moves = { ArrowLeft: [-NUDGE, 0], ArrowRight: [NUDGE, 0], ArrowUp: [0, -NUDGE], ArrowDown: [0, NUDGE] };
    if (!moves[e.key]) return;
    e.preventDefault();
    const p = pathAt(now());
    setKey(p.x + moves[e.key][0], p.y + moves[e.key][1]);
  });

  async function suggest() {
    const preset = state.view;
    if (!state.ranges.length || !preset) { notify(t("editor.reframe.need_ranges"), { kind: "error" }); return; }
    suggestButton.disabled = true;
    try {
      const found = await api(`/materials/${id}/reframe`, { method: "POST", body: { preset, ranges: state.ranges } });
      state.keys = found.crop_path.map((k) => ({ t: round3(toSource(k.t)), x: k.x, y: k.y, scale: k.scale, pad: !!k.pad }))
        .filter((k, i, all) => i === 0 || k.t > all[i - 1].t);
      notify(t(found.analysis_outdated ? "editor.reframe.suggested_outdated" : "editor.reframe.suggested", { count: number(state.keys.length) }));
      update();
    } catch (err) { notifyError(err); } finally { update(); }
  }

  // --- drawing ----------------------------------------------------------------------------------------------------
  function placeBox(node, left, top, width, height) {
    Object.assign(node.style, { left: `${left * 100}%`, top: `${top * 100}%`, width: `${width * 100}%`, height: `${height * 100}%` });
  }

  function placeWindow(x, y, scale) {
    const preset = presetById.get(state.view);
    const [w, h] = windowSize(preset, scale);
    const left = clamp(x - w / 2, 0, 1 - w), top = clamp(y - h / 2, 0, 1 - h);
    placeBox(frameBox, left, top, w, h);
    placeBox(cropWindow, left, top, w, h);
  }

  // Which chosen preset's frame is drawn over the player (a smart one first).
  function syncView() {
    const chosen = state.presets.filter((pid) => presetById.has(pid));
    if (!chosen.includes(state.view)) state.view = smartPresets()[0] || chosen[0] || null;
    viewSelect.replaceChildren(...(chosen.length ? chosen.map((pid) => el("option", { value: pid, selected: pid === state.view }, presetLabel(presetById.get(pid))))
      : [el("option", { value: "" }, t("editor.view_none"))]));  // (an empty list looked broken)
    viewSelect.disabled = chosen.length < 2;
  }

  function drawFrame() {
    const preset = presetById.get(state.view);
    overlay.hidden = !preset;
    overlay.dataset.fit = preset ? fitOf(preset.id) : "";
    if (!preset) { padNote.hidden = true; return; }
    const fit = fitOf(preset.id);
    const zone = safeZoneOf(preset);
    if (fit === "pad") placeBox(frameBox, 0, 0, 1, 1);
    else {
      const p = fit === "smart" ? pathAt(now()) : { x: 0.5, y: 0.5, scale: 1 };
      placeWindow(p.x, p.y, p.scale);
    }
    cropWindow.hidden = fit !== "smart";
    padNote.hidden = fit !== "pad";
    Object.assign(safeBox.style, { top: `${zone.top * 100}%`, bottom: `${zone.bottom * 100}%`, left: `${zone.left * 100}%`, right: `${zone.right * 100}%` });
    // The title as the renderer draws it: 4.5 % of the frame's height, centred, inside the safe zone's margin.
    const text = state.title.trim();
    titlePreview.hidden = !text;
    titlePreview.textContent = text;
    const frameHeight = frameBox.getBoundingClientRect().height || stage.clientHeight;
    titlePreview.style.fontSize = `${Math.max(8, frameHeight * 0.045)}px`;
    titlePreview.style.top = state.position === "top" ? `${Math.max(zone.top, 0.03) * 100}%` : "auto";
    titlePreview.style.bottom = state.position === "bottom" ? `${Math.max(zone.bottom, 0.03) * 100}%` : "auto";
    // drawtext does not wrap: a title wider than the frame loses both ends, as the preview shows.
    titleWarning.hidden = !text || titlePreview.offsetWidth <= frameBox.clientWidth + 1;
  }

  function drawTimeline() {
    rangeLayer.replaceChildren(...state.ranges.map((r, i) => {
      const block = el("div", { className: "range-block", title: `${clock(r.start)} – ${clock(r.end)}` }, String(i + 1));
      block.style.left = pct(r.start);
      block.style.width = `calc(${pct(r.end)} - ${pct(r.start)})`;
      return block;
    }));
    pendingMark.hidden = state.pendingIn == null;
    if (state.pendingIn != null) pendingMark.style.left = pct(state.pendingIn);
    keyLayer.replaceChildren(...(smartPresets().length ? state.keys : []).map((k) => {
      const mark = el("div", { className: "key-mark", title: clock(k.t) });
      mark.style.left = pct(k.t);
      return mark;
    }));
  }

  const submitButton = el("button", { type: "submit", className: "button primary", id: "editor-submit" }, t("editor.submit"));
  const summary = el("p", { className: "muted", id: "editor-summary" });

  // What moves with the playhead (every frame while playing): cheap, and it never replaces a control.
  function updateTime() {
    const at = video.currentTime || 0;
    timeText.textContent = `${clock(at)} / ${clock(total)}`;
    playhead.style.left = pct(at);
    timeline.setAttribute("aria-valuenow", String(round3(at)));
    timeline.setAttribute("aria-valuetext", clock(at));
    drawFrame();
  }

  // Everything else: after a mark, a removal, a preset or a keyframe changes.
  function update() {
    pendingText.textContent = state.pendingIn != null ? t("editor.ranges.pending", { start: clock(state.pendingIn) }) : "";
    rangeEmpty.hidden = state.ranges.length > 0;
    rangeList.replaceChildren(...state.ranges.map((r, i) => el("li", { className: "range", dataset: { start: r.start, end: r.end } },
      el("button", { type: "button", className: "link go", onclick: () => seekFrame(Math.round(r.start * fps)),
        "aria-label": t("editor.ranges.go", { n: i + 1 }) }, t("editor.ranges.item", { n: i + 1, start: clock(r.start), end: clock(r.end) })),
      el("span", { className: "muted small" }, ` ${t("editor.ranges.length", { seconds: (r.end - r.start).toFixed(2) })} `),
      el("button", { type: "button", className: "link remove", "aria-label": t("editor.ranges.remove", { n: i + 1 }),
        onclick: () => removeRange(i) }, "×"))));
    const smart = smartPresets().length > 0;
    reframeBox.hidden = !smart;
    keyEmpty.hidden = state.keys.length > 0;
    keyList.replaceChildren(...state.keys.map((k, i) => el("li", { className: "key", dataset: { t: k.t, x: k.x } },
      el("button", { type: "button", className: "link go", onclick: () => seekFrame(Math.round(k.t * fps)) },
        t("editor.reframe.key", { time: clock(k.t), x: number(Math.round(k.x * 100)), y: number(Math.round(k.y * 100)) })),
      toOutput(k.t) == null ? el("span", { className: "muted small" }, ` ${t("editor.reframe.key_unused")}`) : null,
      el("button", { type: "button", className: "link remove", "aria-label": t("editor.reframe.remove", { time: clock(k.t) }),
        onclick: () => { state.keys.splice(i, 1); update(); } }, "×"))));
    syncView();
    suggestButton.disabled = !state.ranges.length || !state.view || fitOf(state.view) !== "smart";
    const seconds = cutSeconds();
    summary.textContent = !state.ranges.length ? t("editor.need_ranges")
      : !state.presets.length ? t("editor.need_presets")
        : t("editor.summary", { duration: duration(seconds), ranges: number(state.ranges.length), presets: number(state.presets.length) });
    submitButton.disabled = !state.ranges.length || !state.presets.length;
    drawTimeline();
    updateTime();
  }

  // --- the request ---------------------------------------------------------------------------------------------------
  function request() {
    const body = { ranges: state.ranges.map((r) => ({ start: r.start, end: r.end })), presets: [...state.presets] };
    const fit = {};
    for (const pid of state.presets) if (fitOf(pid) !== ((presetById.get(pid) || {}).fit || "crop")) fit[pid] = fitOf(pid);
    if (Object.keys(fit).length) body.fit = fit;
    const text = state.title.trim();
    if (text) body.title = { text, position: state.position };
    if (smartPresets().length) {
      const path = [];
      for (const k of state.keys) {
        const out = toOutput(k.t);
        if (out == null) continue;
        const key = { t: round3(out), x: k.x, y: k.y, scale: k.scale };
        if (k.pad) key.pad = true;
        if (!path.length || key.t > path[path.length - 1].t) path.push(key);
      }
      if (path.length) body.crop_path = path;
    }
    return body;
  }

  const form = el("form", { className: "editor-submit", id: "editor-form", onsubmit: async (e) => {
    e.preventDefault();
    if (submitButton.disabled) return;
    submitButton.disabled = true;
    try {
      await api(`/materials/${id}/renders`, { method: "POST", body: request() });
      drafts.delete(id);
      notify(t("editor.submitted"));
      ctx.go("/jobs");
    } catch (err) {
      notifyError(err);
      submitButton.disabled = false;
    }
  } }, summary, submitButton);

  // --- keyboard ----------------------------------------------------------------------------------------------------------
  // Shortcuts work anywhere on the screen except where a key means something already: typing in a text
  // box, a select's arrows, Space on a button or a checkbox.
  const NOT_TYPING = new Set(["checkbox", "radio", "button", "submit", "reset"]);
  const typing = (node) => node && (node.isContentEditable || node.tagName === "TEXTAREA" || node.tagName === "SELECT"
    || (node.tagName === "INPUT" && !NOT_TYPING.has(node.type)));
  const pressable = (node) => node && node.closest && node.closest("button, a, input, select, summary, textarea");
  function onKey(e) {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
    if (e.key === " " && pressable(e.target)) return; // Space presses the button, ticks the box
    const second = Math.round(fps);
    const actions = {
      i: markIn, I: markIn, o: markOut, O: markOut,
      ",": () => step(-1), ".": () => step(1),
      ArrowLeft: () => step(e.shiftKey ? -second : -1), ArrowRight: () => step(e.shiftKey ? second : 1),
      Home: () => seekFrame(0), End: () => seekFrame(lastFrame),
      " ": () => (video.paused ? video.play().catch(() => {}) : video.pause()),
    };
    const action = actions[e.key];
    if (!action) return;
    e.preventDefault();
    action();
  }
  document.addEventListener("keydown", onKey);

  const transport = el("div", { className: "transport", id: "editor-transport" },
    el("button", { type: "button", id: "editor-play", onclick: () => (video.paused ? video.play().catch(() => {}) : video.pause()) }, t("editor.play")),
    el("button", { type: "button", id: "editor-prev", "aria-label": t("editor.prev_frame"), onclick: () => step(-1) }, "◀︎|"),
    el("button", { type: "button", id: "editor-next", "aria-label": t("editor.next_frame"), onclick: () => step(1) }, "|▶︎"),
    el("button", { type: "button", id: "editor-in", onclick: markIn }, t("editor.mark_in")),
    el("button", { type: "button", id: "editor-out", onclick: markOut }, t("editor.mark_out")),
    timeText);

  main.append(el("div", { className: "editor" },
    el("div", { className: "editor-main" }, stage, padNote, proxyNote, previewsWords.node, transport, timeline,
      el("p", { className: "muted small keys-help", id: "editor-help" }, t("editor.help", { fps: number(Math.round(fps * 100) / 100) }))),
    el("div", { className: "editor-side" },
      el("section", { id: "editor-ranges-box" }, el("h2", {}, t("editor.ranges.heading")), pendingText, rangeEmpty, rangeList),
      el("section", {}, el("h2", {}, t("editor.presets.heading")), presetBox,
        el("label", { className: "inline view" }, t("editor.view"), " ", viewSelect)),
      el("section", { id: "editor-title-box" }, el("h2", {}, t("editor.title_text.heading")),
        el("label", { className: "stacked" }, t("editor.title_text.label"), titleInput),
        el("label", { className: "inline" }, t("editor.title_text.position"), " ", positionSelect), titleWarning),
      reframeBox, form)));

  // --- the player's events, the proxy's progress, resizing ----------------------------------------------------------------
  let raf = 0;
  const tick = () => { updateTime(); if (!video.paused) raf = requestAnimationFrame(tick); };
  video.addEventListener("play", () => { cancelAnimationFrame(raf); raf = requestAnimationFrame(tick); });
  video.addEventListener("seeked", updateTime);
  video.addEventListener("pause", updateTime);
  video.addEventListener("loadedmetadata", () => { stage.dataset.loaded = "1"; updateTime(); });
  video.addEventListener("error", () => {
    if (stage.dataset.source === "original") { proxyNote.hidden = false; proxyNote.textContent = t("editor.proxy.unplayable"); }
  });
  const resized = new ResizeObserver(() => { drawThumbs(); drawWave(); drawFrame(); });
  resized.observe(timeline);
  resized.observe(stage);

  let stopped = false, timer = null;
  async function watchProxy() {
    if (stopped) return;
    if (proxy && (proxy.state === "ready" || proxy.state === "failed")) return;
    if (proxy) {
      try {
        const found = await api(`/materials/${id}/proxy`);
        proxy = { ...found, video: found.links.video || null, sprite_vtt: found.links.sprite_vtt || null, waveform: found.links.waveform || null };
      } catch (err) { console.warn(err); }
    }
    if (stopped) return;
    proxyWords();
    if (proxy && proxy.state === "ready") { useSource(); loadStrip(); return; }
    if (proxy && proxy.state !== "failed") timer = setTimeout(watchProxy, PROXY_POLL_MS);
    else { timeline.dataset.thumbs = "none"; timeline.dataset.wave = "none"; }
  }

  useSource();
  proxyWords();
  update();
  if (proxy && proxy.state === "ready") loadStrip();
  else if (proxy && proxy.state !== "failed") watchProxy(); // the strip stays "pending" until the proxy is made
  else { timeline.dataset.thumbs = "none"; timeline.dataset.wave = "none"; }

  return () => {
    stopped = true;
    clearTimeout(timer);
    previews.stop();
    cancelAnimationFrame(raf);
    resized.disconnect();
    document.removeEventListener("keydown", onKey);
    video.pause();
  };
}
