// The library: a grid of posters (portrait clips shown portrait) with duration and platform badges, a
// short preview on hover, filters (tag category, tag, kind, status, orientation, duration, date, text),
// bulk tagging of the selected cards, and infinite scroll over the API's cursor pages. The filters live
// in the address (#/library?kind=source&q=...): a reload or a shared link shows the same cards, and
// back/forward steps through the filters chosen.

import { ApiError, api, links } from "../api.js";
import { allTags, categoryName, platformBadges, playableUrl, tagDatalist, tagName } from "../common.js";
import { clear, debounce, el } from "../dom.js";
import { duration, label, number, t, zoneOffset } from "../i18n.js";
import { allows, emptyState, notify, notifyError } from "../layout.js";
import { madePreviewUrl, previewWatcher } from "../previews.js";

const PAGE = 40;
const DURATIONS = { any: [null, null], short: [null, 15], medium: [15, 60], long: [60, 300], longer: [300, null] };
const HOVER_DELAY_MS = 400;
const FILTERS = ["q", "category", "tag", "kind", "status", "orientation", "duration", "after", "before", "sort"];

export async function render(main, ctx) {
  const canEdit = allows(ctx.session.user, "editor");
  const state = { cursor: null, loading: false, done: false, selected: new Set(), generation: 0 };
  const fromQuery = (query) => Object.fromEntries(FILTERS.map((name) => [name, query.get(name) || ""]));
  const filters = fromQuery(ctx.query);
  const [categories, tags] = await Promise.all([api("/tag-categories"), allTags({ refresh: true })]);

  const select = (name, options) => el("select", { name, id: `filter-${name}`, "aria-label": t(`library.filter.${name}`),
    onchange: (e) => { filters[name] = e.target.value; if (name === "category") filters.tag = ""; changed(name); } },
    options.map(([value, text]) => el("option", { value, selected: filters[name] === value }, text)));
  const any = (name) => ["", t(`library.filter.${name}_any`)];
  const tagOptions = () => [any("tag"), ...tags.filter((tag) => !filters.category || tag.category === filters.category)
    .map((tag) => [String(tag.id), tagName(tag)])];

  const search = el("input", { type: "search", name: "q", id: "filter-q", value: filters.q, placeholder: t("library.search_placeholder"),
    "aria-label": t("library.filter.q"), oninput: debounce((e) => { filters.q = e.target.value.trim(); changed("q"); }, 300) });
  const dateInput = (name) => el("label", { className: "inline" }, t(`library.filter.${name}`),
    el("input", { type: "date", name, id: `filter-${name}`, value: filters[name], onchange: (e) => { filters[name] = e.target.value; changed(name); } }));
  const tagSelect = select("tag", tagOptions());
  const bar = el("form", { className: "filters", onsubmit: (e) => e.preventDefault() },
    search,
    select("category", [any("category"), ...categories.map((c) => [c.id, categoryName(c)])]),
    tagSelect,
    select("kind", [any("kind"), ...["source", "derived", "external"].map((v) => [v, label("kind", v)])]),
    select("status", [any("status"), ...["ready", "processing", "failed"].map((v) => [v, label("status", v)])]),
    select("orientation", [any("orientation"), ...["portrait", "landscape", "square"].map((v) => [v, label("orientation", v)])]),
    select("duration", Object.keys(DURATIONS).map((v) => [v === "any" ? "" : v, t(`library.duration.${v}`)])),
    dateInput("after"), dateInput("before"),
    select("sort", ["-created_at", "created_at", "-duration", "duration", "title"].map((v) => [v === "-created_at" ? "" : v, t(`library.sort.${v}`)])),
  );

  const count = el("span", { className: "muted", id: "library-count" });
  const grid = el("div", { className: "grid", id: "grid" });
  const sentinel = el("div", { className: "sentinel", id: "more" });
  const bulk = el("div", { className: "bulk", id: "bulk", hidden: true });
  main.append(el("div", { className: "screen-head" }, el("h1", {}, t("library.title")), count,
    canEdit ? el("a", { className: "button", href: "#/upload" }, t("library.upload")) : null), bar, bulk, grid, sentinel);

  // --- bulk tagging ----------------------------------------------------------------------------
  if (canEdit) main.append(await tagDatalist("library-tags"));
  const bulkInput = el("input", { id: "bulk-tag", list: "library-tags", placeholder: t("library.bulk.tag_placeholder"), "aria-label": t("library.bulk.tag_placeholder") });
  async function bulkTag(remove) {
    const ref = bulkInput.value.trim();
    if (!ref) return;
    // `category:name`, the category by its id or either label (产品 / Product / product), or a bare name.
    const [typed, ...rest] = ref.includes(":") ? ref.split(":") : [null, ref];
    const name = rest.join(":").trim();
    const category = typed && categories.find((c) => [c.id, c.label_zh, c.label_en].includes(typed.trim()));
    let tag = tags.find((x) => (x.name_zh === name || x.name_en === name) && (!typed || (category && x.category === category.id)));
    try {
      if (!tag && !remove) {
        tag = await api("/tags", { method: "POST", body: { category: category ? category.id : (typed || "other"), name_zh: name } });
        tags.push(tag);
      }
      if (!tag) { notify(t("library.bulk.unknown_tag", { tag: ref }), { kind: "error" }); return; }
      const result = await api(remove ? "/materials/tags:remove" : "/materials/tags:add", { method: "POST",
        body: { material_ids: [...state.selected], tag_ids: [tag.id] } });
      notify(t(remove ? "library.bulk.removed" : "library.bulk.added", { tag: tagName(tag), count: number(result.changed) }));
      state.selected.clear();
      reload();
    } catch (err) { notifyError(err); }
  }
  function renderBulk() {
    clear(bulk);
    bulk.hidden = state.selected.size === 0;
    if (bulk.hidden) return;
    bulk.append(el("strong", {}, t("library.bulk.selected", { count: number(state.selected.size) })), bulkInput,
      el("button", { type: "button", id: "bulk-add", className: "primary", onclick: () => bulkTag(false) }, t("library.bulk.add")),
      el("button", { type: "button", id: "bulk-remove", onclick: () => bulkTag(true) }, t("library.bulk.remove")),
      el("button", { type: "button", className: "link", onclick: () => { state.selected.clear(); for (const c of grid.querySelectorAll("input[type=checkbox]")) c.checked = false; renderBulk(); } }, t("library.bulk.clear")));
  }

  // --- cards -------------------------------------------------------------------------------------
  const previews = previewWatcher();
  const previewsFailedBadge = () => el("span", { className: "badge previews-failed", title: t("previews.failed") }, t("previews.failed_short"));

  function card(m) {
    const w = m.media.display_width, h = m.media.display_height;
    const ratio = w && h ? Math.min(Math.max(w / h, 9 / 16), 16 / 9) : 16 / 9;
    const poster = m.links.poster ? el("img", { src: links.poster(m.id), alt: "", loading: "lazy", decoding: "async" }) : el("div", { className: `placeholder ${m.media_type}` }, label("media_type", m.media_type));
    const badges = el("span", { className: "badges" }, platformBadges(m), m.previews_failed ? previewsFailedBadge() : null);
    if (m.previews_pending) {
      // A new upload: the worker makes its poster seconds after it; shown in place of the placeholder once made.
      poster.dataset.pending = "true";
      previews.follow(m, (now) => {
        delete poster.dataset.pending;
        if (now.previews_failed) badges.append(previewsFailedBadge());
        else poster.src = madePreviewUrl(now);
      }, { alive: () => poster.isConnected });
    }
    const thumb = el("div", { className: `thumb ${m.media.orientation || ""}`, style: { aspectRatio: String(ratio) } }, poster,
      m.media.duration_s != null ? el("span", { className: "duration" }, duration(m.media.duration_s)) : null,
      badges,
      m.status !== "ready" ? el("span", { className: `badge status-${m.status}` }, label("status", m.status)) : null);
    let timer = null, video = null;
    const stopPreview = () => { clearTimeout(timer); if (video) { video.removeAttribute("src"); video.load(); video.remove(); video = null; } };
    if (m.media_type === "video" && m.status === "ready") {
      thumb.addEventListener("mouseenter", () => { timer = setTimeout(() => {
        video = el("video", { src: playableUrl(m), muted: true, autoplay: true, loop: true, playsinline: true, className: "preview" });
        video.muted = true;
        thumb.append(video);
      }, HOVER_DELAY_MS); });
      thumb.addEventListener("mouseleave", stopPreview);
    }
    const check = canEdit ? el("input", { type: "checkbox", className: "select", "aria-label": t("library.select", { title: m.title }),
      checked: state.selected.has(m.id), onclick: (e) => e.stopPropagation(),
      onchange: (e) => { if (e.target.checked) state.selected.add(m.id); else state.selected.delete(m.id); renderBulk(); } }) : null;
    const node = el("article", { className: "card", dataset: { id: m.id } }, check,
      el("a", { href: `#/materials/${m.id}`, className: "card-link", onclick: stopPreview }, thumb,
        el("div", { className: "body" },
          el("div", { className: "title", title: m.title }, m.title),
          el("div", { className: "muted small" }, [label("kind", m.kind), m.tags.filter((x) => x.category !== "platform").slice(0, 3).map(tagName).join(" / ")]
            .filter(Boolean).join(" · ")))));
    node.stopPreview = stopPreview;
    return node;
  }

  // --- pages -------------------------------------------------------------------------------------
  function query() {
    const [minD, maxD] = DURATIONS[filters.duration || "any"];
    return {
      q: filters.q, category: filters.category, tag: filters.tag, kind: filters.kind, status: filters.status,
      orientation: filters.orientation, min_duration: minD, max_duration: maxD,
      // Days as the person sees them: midnight to midnight in their timezone.
      created_after: filters.after ? `${filters.after}T00:00:00${zoneOffset(filters.after)}` : null,
      created_before: filters.before ? `${filters.before}T23:59:59.999${zoneOffset(filters.before)}` : null,
      sort: filters.sort || "-created_at", limit: PAGE,
    };
  }
  const filtered = () => Object.entries(filters).some(([k, v]) => k !== "sort" && v);

  async function loadMore() {
    if (state.loading || state.done) return;
    state.loading = true;
    const generation = state.generation;
    try {
      const page = await api("/materials", { query: { ...query(), cursor: state.cursor } });
      if (generation !== state.generation) return;
      grid.append(...page.items.map(card));
      state.cursor = page.next_cursor;
      state.done = !page.next_cursor;
      const shown = grid.children.length;
      count.textContent = t(state.done ? "library.count" : "library.count_more", { count: number(shown) });
      if (shown === 0) {
        grid.append(filtered()
          ? emptyState({ id: "library-empty", title: t("library.empty_filtered.title"), text: t("library.empty_filtered.text"),
            action: t("library.empty_filtered.action"), onAction: clearFilters })
          : emptyState({ id: "library-empty", title: t("library.empty.title"), text: t(canEdit ? "library.empty.text" : "library.empty.text_viewer"),
            action: canEdit ? t("library.empty.action") : null, href: "#/upload" }));
      }
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) notifyError(err);
      state.done = true;
    } finally {
      state.loading = false;
    }
    if (!state.done && sentinel.getBoundingClientRect().top < window.innerHeight + 600) loadMore();
  }

  function clearFilters() {
    for (const name of Object.keys(filters)) filters[name] = "";
    for (const field of bar.elements) field.value = "";
    changed("clear");
  }

  // --- the address ---------------------------------------------------------------------------------
  // Each choice is a history entry; typing in the search box replaces the entry its first pause made, so
  // back/forward steps over searches, not keystrokes.
  let lastChange = null;
  function changed(name) {
    const query = Object.entries(filters).filter(([, v]) => v);
    ctx.setQuery(query, { replace: name === "q" && lastChange === "q" });
    lastChange = name;
    reload();
  }

  // Back/forward (or a link) to the library with other filters: take them over without building the screen again.
  function update(query) {
    const wanted = fromQuery(query);
    if (FILTERS.every((name) => wanted[name] === filters[name])) return;
    Object.assign(filters, wanted);
    lastChange = null;
    for (const field of bar.elements) if (field.name in filters && field.name !== "tag") field.value = filters[field.name];
    reload();  // the tag choices are rebuilt for the category, with the tag selected
  }

  function reload() {
    state.generation += 1;
    Object.assign(state, { cursor: null, done: false, loading: false });
    for (const c of grid.children) if (c.stopPreview) c.stopPreview();
    clear(grid);
    tagSelect.replaceChildren(...tagOptions().map(([value, text]) => el("option", { value, selected: filters.tag === value }, text)));
    renderBulk();
    loadMore();
  }

  const observer = new IntersectionObserver((entries) => { if (entries.some((e) => e.isIntersecting)) loadMore(); }, { rootMargin: "600px" });
  observer.observe(sentinel);
  reload();
  return {
    update,
    cleanup: () => {
      observer.disconnect();
      previews.stop();
      for (const c of grid.children) if (c.stopPreview) c.stopPreview();
    },
  };
}
