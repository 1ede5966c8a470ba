// The automatic re-edit review queue (screen 6): for each source recording (newest first), its proposed
// clips as storyboard cards (type and product in words, the reasons as the server words them, score, in
// and out points), to render the chosen ones as drafts for the chosen presets, reject, or move a point;
// then the drafts those renders made, with their review state, to approve or reject (with a reason).
// `?material=<id>` shows one recording.

import { api } from "../api.js";
import { allTags, tagName, zh } from "../common.js";
import { append, el } from "../dom.js";
import { dateTime, duration, label, number, t } from "../i18n.js";
import { allows, emptyState, notify, notifyError } from "../layout.js";

const SOURCES = 20; // newest recordings looked at
const DEFAULT_PRESETS = ["douyin.feed_9x16"];

export async function render(main, ctx) {
  const canEdit = allows(ctx.session.user, "editor");
  const only = ctx.query.get("material");
  const reload = () => { main.replaceChildren(); return render(main, ctx).catch(notifyError); };
  const [sources, tags, presets] = await Promise.all([
    only ? api(`/materials/${only}`).then((m) => [m]) : api("/materials", { query: { kind: "source", limit: SOURCES } }).then((page) => page.items),
    allTags({ refresh: true }), api("/presets").then((page) => page.items),
  ]);
  const presetLabel = (p) => (p.label && typeof p.label === "object" ? (zh() ? p.label.zh : p.label.en) : p.label) || p.id;
  const productName = (id) => { const tag = tags.find((x) => x.id === id); return tag ? tagName(tag) : null; };
  const chosenPresets = new Set(presets.filter((p) => DEFAULT_PRESETS.includes(p.id)).map((p) => p.id));
  if (!chosenPresets.size && presets.length) chosenPresets.add(presets[0].id);

  const loaded = await Promise.all(sources.map(async (source) => {
    const [proposals, children] = await Promise.all([api(`/materials/${source.id}/proposals`),
      api("/materials", { query: { parent_id: source.id, limit: 100 } }).then((page) => page.items)]);
    return { source, proposals, drafts: children.filter((m) => m.review_state && m.review_state !== "none") };
  }));
  const withWork = loaded.filter((x) => x.proposals.length || x.drafts.length);

  main.append(el("div", { className: "screen-head" }, el("h1", {}, t("proposals.title")),
    el("span", { className: "muted" }, t("proposals.intro"))));
  if (!withWork.length) {
    main.append(emptyState({ id: "proposals-empty", title: t("proposals.empty.title"), text: t("proposals.empty.text"),
      action: canEdit ? t("proposals.empty.action") : null, href: "#/upload" }));
    return;
  }

  // The presets the chosen proposals are rendered into (one job per proposal, every preset in it).
  const presetBox = canEdit ? el("details", { className: "presets", id: "proposals-presets" },
    el("summary", {}, t("proposals.presets")),
    el("div", { className: "preset-list" }, presets.map((p) => el("label", { className: "inline" },
      el("input", { type: "checkbox", value: p.id, checked: chosenPresets.has(p.id),
        onchange: (e) => (e.target.checked ? chosenPresets.add(p.id) : chosenPresets.delete(p.id)) }),
      " ", presetLabel(p))))) : null;
  if (presetBox) main.append(presetBox);

  for (const item of withWork) main.append(sourceSection(item));

  function sourceSection({ source, proposals, drafts }) {
    const selected = new Set();
    const section = el("section", { className: "proposal-source", dataset: { material: source.id } });
    const open = proposals.filter((p) => p.status === "proposed");
    const renderButton = el("button", { type: "button", className: "button primary render-selected", disabled: true,
      onclick: async () => {
        if (!chosenPresets.size) { notify(t("proposals.no_presets"), { kind: "error" }); return; }
        renderButton.disabled = true;
        try {
          const made = await api("/proposals/render", { method: "POST",
            body: { proposal_ids: [...selected], preset_ids: [...chosenPresets] } });
          notify(t("proposals.rendering", { count: number(made.length) }));
          reload();
        } catch (err) { notifyError(err); renderButton.disabled = false; }
      } }, t("proposals.render"));
    const update = () => {
      renderButton.disabled = !selected.size;
      renderButton.textContent = selected.size ? t("proposals.render_n", { count: number(selected.size) }) : t("proposals.render");
    };

    const card = (p) => {
      const product = p.product_tag_id != null ? productName(p.product_tag_id) : null;
      const board = p.storyboard
        ? el("img", { className: "storyboard", src: p.storyboard.url, alt: t("proposals.storyboard_alt", { start: duration(p.start), end: duration(p.end) }),
          width: p.storyboard.width, height: p.storyboard.height, loading: "lazy" })
        : el("div", { className: "storyboard pending muted" }, t("proposals.storyboard_pending"));
      const startInput = el("input", { type: "number", className: "in-point", min: 0, step: 0.1, value: p.start, "aria-label": t("proposals.in") });
      const endInput = el("input", { type: "number", className: "out-point", min: 0, step: 0.1, value: p.end, "aria-label": t("proposals.out") });
      const editable = canEdit && p.status === "proposed";
      return el("article", { className: `proposal-card status-${p.status}`, dataset: { proposal: p.id, type: p.type } },
        board,
        el("div", { className: "proposal-head" },
          editable ? el("input", { type: "checkbox", className: "choose", "aria-label": t("proposals.choose"),
            onchange: (e) => { if (e.target.checked) selected.add(p.id); else selected.delete(p.id); update(); } }) : null,
          el("span", { className: `badge type-${p.type}` }, label("proposals.type", p.type)),
          product ? el("span", { className: "tag product" }, product) : null,
          el("span", { className: "score", title: t("proposals.score_hint") }, t("proposals.score", { score: number(p.score) })),
          p.status !== "proposed" ? el("span", { className: `badge proposal-${p.status}` }, label("proposals.status", p.status)) : null),
        el("p", { className: "range" }, t("proposals.range", { start: duration(p.start), end: duration(p.end), duration: duration(p.duration) })),
        p.reasons.length ? el("ul", { className: "reasons" }, p.reasons.map((r) => el("li", {}, zh() ? r.text_zh : r.text_en,
          r.start != null ? el("span", { className: "muted small" }, " ", t("proposals.at", { time: duration(r.start) })) : null)))
          : el("p", { className: "muted small" }, t("proposals.no_reasons")),
        editable ? el("form", { className: "adjust", onsubmit: async (e) => {
          e.preventDefault();
          try {
            await api(`/proposals/${p.id}`, { method: "PATCH", body: { start: Number(startInput.value), end: Number(endInput.value) } });
            notify(t("proposals.adjusted"));
            reload();
          } catch (err) { notifyError(err); }
        } }, el("label", { className: "inline" }, t("proposals.in"), startInput),
        el("label", { className: "inline" }, t("proposals.out"), endInput),
        el("button", { type: "submit", className: "button adjust-save" }, t("proposals.adjust")),
        el("a", { className: "button open-editor", href: `#/materials/${source.id}/edit?in=${p.start}&out=${p.end}` }, t("proposals.open_editor")),
        el("button", { type: "button", className: "button danger reject", onclick: async () => {
          try {
            await api(`/proposals/${p.id}/reject`, { method: "POST" });
            notify(t("proposals.rejected"));
            reload();
          } catch (err) { notifyError(err); }
        } }, t("proposals.reject"))) : null);
    };

    const draftRow = (m) => {
      const reason = el("input", { className: "reject-reason", placeholder: t("proposals.draft.reason_placeholder"),
        "aria-label": t("proposals.draft.reason"), maxlength: 2000 });
      const decide = (decision) => async () => {
        try {
          await api(`/materials/${m.id}/review`, { method: "POST",
            body: { decision, reason: decision === "reject" ? reason.value.trim() || null : null } });
          notify(t(decision === "approve" ? "proposals.draft.approved" : "proposals.draft.rejected"));
          reload();
        } catch (err) { notifyError(err); }
      };
      return el("tr", { dataset: { material: m.id, review: m.review_state } },
        el("td", {}, el("a", { href: `#/materials/${m.id}` }, m.title)),
        el("td", {}, m.preset_id ? label("platform", m.preset_id.split(".")[0]) : "–"),
        el("td", {}, duration(m.media && m.media.duration_s)),
        el("td", {}, dateTime(m.created_at)),
        el("td", {}, el("span", { className: `badge review-${m.review_state}` }, label("proposals.review", m.review_state)),
          m.review && m.review.reason ? el("span", { className: "muted small" }, " ", m.review.reason) : null),
        el("td", {}, canEdit && m.review_state === "draft" ? [
          el("button", { type: "button", className: "button primary approve", onclick: decide("approve") }, t("proposals.draft.approve")),
          reason,
          el("button", { type: "button", className: "button danger reject-draft", onclick: decide("reject") }, t("proposals.draft.reject"))] : null));
    };

    append(section, [
      el("h2", {}, el("a", { href: `#/materials/${source.id}` }, source.title),
        el("span", { className: "muted small" }, " ", t("proposals.counts", { open: number(open.length), drafts: number(drafts.filter((d) => d.review_state === "draft").length) }))),
      proposals.length ? el("div", { className: "proposal-grid" }, proposals.map(card))
        : el("p", { className: "muted" }, t("proposals.none_open")),
      canEdit && open.length ? el("div", { className: "actions" }, renderButton, el("span", { className: "muted small" }, t("proposals.render_hint"))) : null,
      el("h3", {}, t("proposals.drafts")),
      drafts.length ? el("div", { className: "table-scroll" }, el("table", { className: "table drafts" },
        el("thead", {}, el("tr", {}, ["title", "platform", "duration", "created", "review", "actions"].map((k) => el("th", {}, t(`proposals.draft.col.${k}`))))),
        el("tbody", {}, drafts.map(draftRow))))
        : el("p", { className: "muted drafts-empty" }, t("proposals.drafts_empty"))]);
    return section;
  }
}
