// One material: the player (its proxy when it has one, else the original), the media facts in words
// (时长 3:00 · 1920×1080 横屏 · 有声音), tags, the lineage tree (every node opens that material), its
// renditions with their platforms, and where it was published with how it performed.

import { api } from "../api.js";
import { categoryName, factsInWords, platformBadges, platformOf, playableUrl, tagName } from "../common.js";
import { el } from "../dom.js";
import { bytes, currentLanguage, dateTime, duration, label, number, t } from "../i18n.js";
import { allows, emptyState } from "../layout.js";
import { madePreviewUrl, previewWatcher, previewsNote } from "../previews.js";

export async function render(main, ctx) {
  const id = ctx.params.id;
  const [material, lineage, categories, presets] = await Promise.all([
    api(`/materials/${id}`), api(`/materials/${id}/lineage`), api("/tag-categories"), api("/presets").then((page) => page.items),
  ]);
  const presetLabel = (presetId) => {
    const preset = presets.find((p) => p.id === presetId);
    if (!preset || !preset.label) return presetId;
    return typeof preset.label === "object" ? (currentLanguage() === "zh-CN" ? preset.label.zh : preset.label.en) : preset.label;
  };

  // --- player and facts ----------------------------------------------------------------------------
  const src = playableUrl(material);
  const poster = material.links.poster || null;
  const player = material.media_type === "video"
    ? el("video", { id: "player", controls: true, preload: "metadata", playsinline: true, src, poster })
    : material.media_type === "audio" ? el("audio", { id: "player", controls: true, preload: "metadata", src })
      : el("img", { id: "player", src, alt: material.title });
  // A new upload's poster is made by a worker seconds after it: the placeholder until then, with words saying
  // so, then the poster itself without a reload (or words saying it could not be made).
  const previews = previewWatcher();
  const previewsWords = previewsNote("material-previews");
  if (material.media_type === "video") {
    previewsWords.show(material);
    previews.follow(material, (now) => {
      if (!now.previews_failed) player.poster = madePreviewUrl(now);
      previewsWords.show(now);
    }, { alive: () => player.isConnected });
  }
  const portrait = material.media.orientation === "portrait";
  const categoryLabel = (cid) => { const c = categories.find((x) => x.id === cid); return c ? categoryName(c) : cid; };

  const head = el("div", { className: "screen-head" },
    el("a", { href: "#/library", className: "back" }, t("material.back")),
    el("h1", { id: "material-title" }, material.title),
    el("span", { className: "badge" }, label("kind", material.kind)),
    material.status !== "ready" ? el("span", { className: `badge status-${material.status}` }, label("status", material.status)) : null,
    platformBadges(material),
    allows(ctx.session.user, "editor") && material.status !== "deleted"
      ? el("a", { className: "button", id: "material-publish", href: `#/publishing?material=${encodeURIComponent(id)}` }, t("material.publish"))
      : null);
  const facts = el("p", { className: "facts", id: "facts" }, factsInWords({ ...material.media, media_type: material.media_type }).join(" · "));
  const details = el("dl", { className: "details" },
    el("dt", {}, t("material.file")), el("dd", {}, material.original_filename || material.download_name),
    el("dt", {}, t("material.size")), el("dd", {}, bytes(material.size_bytes)),
    el("dt", {}, t(material.kind === "derived" ? "material.made" : "material.created")), el("dd", {}, dateTime(material.created_at)),
    material.preset_id ? [el("dt", {}, t("material.preset")), el("dd", {}, presetLabel(material.preset_id))] : null,
    el("dt", {}, t("material.tags")), el("dd", { id: "material-tags" }, material.tags.length
      ? material.tags.map((tag) => el("span", { className: "tag", title: categoryLabel(tag.category) }, tagName(tag)))
      : el("span", { className: "muted" }, t("material.no_tags"))));
  const download = el("a", { className: "button", href: `${material.links.file}`, download: material.download_name }, t(material.kind === "derived" ? "material.download_clip" : "material.download"));
  // The clip editor: ranges, presets, a title and smart reframe, sent as one render job.
  const editable = allows(ctx.session.user, "editor") && material.media_type === "video" && material.status === "ready";
  const editLink = editable ? el("a", { className: "button primary", id: "material-edit", href: `#/materials/${id}/edit` }, t("material.edit")) : null;

  // --- lineage ---------------------------------------------------------------------------------------
  const node = (n) => el("li", {},
    el("a", { href: `#/materials/${n.material.id}`, className: n.material.id === id ? "current" : null, "aria-current": n.material.id === id ? "page" : null },
      n.material.title),
    el("span", { className: "muted small" }, " ", [label("kind", n.material.kind),
      n.material.preset_id ? presetLabel(n.material.preset_id) : null,
      n.material.duration_s != null ? duration(n.material.duration_s) : null].filter(Boolean).join(" · ")),
    n.children.length ? el("ul", {}, n.children.map(node)) : null);
  const ancestors = lineage.ancestors.length
    ? el("p", { className: "lineage-from" }, t("material.derived_from"), " ",
      lineage.ancestors.slice().reverse().map((a, i) => [i ? " › " : "", el("a", { href: `#/materials/${a.id}` }, a.title)]))
    : null;
  let root = lineage.tree;
  const lineageBox = el("section", { id: "lineage" }, el("h2", {}, t("material.lineage")), ancestors,
    root.children.length || lineage.ancestors.length ? el("ul", { className: "tree" }, node(root))
      : el("p", { className: "muted" }, t("material.lineage_empty")));

  // --- renditions --------------------------------------------------------------------------------------
  const here = findNode(lineage.tree, id) || { children: [] };
  const renditions = here.children.map((c) => c.material);
  const renditionBox = el("section", { id: "renditions" }, el("h2", {}, t("material.renditions")),
    renditions.length ? el("table", { className: "table" },
      el("thead", {}, el("tr", {}, ["material.col.title", "material.col.platform", "material.col.preset", "material.col.duration", "material.col.size"].map((k) => el("th", {}, t(k))))),
      el("tbody", {}, renditions.map((r) => el("tr", {},
        el("td", {}, el("a", { href: `#/materials/${r.id}` }, r.title)),
        el("td", {}, r.preset_id ? el("span", { className: "badge platform" }, label("platform", platformOf(r.preset_id))) : "–"),
        el("td", {}, r.preset_id ? presetLabel(r.preset_id) : "–"),
        el("td", {}, duration(r.duration_s)),
        el("td", {}, r.display_width ? `${r.display_width}×${r.display_height}` : "–")))))
      : emptyState({ id: "renditions-empty", title: t("material.renditions_empty.title"), text: t("material.renditions_empty.text") }));

  // --- publications and performance ------------------------------------------------------------------
  const pubBox = el("section", { id: "publications" }, el("h2", {}, t("material.publications")), el("p", { className: "muted" }, t("common.loading")));

  main.append(head, el("div", { className: `material ${portrait ? "portrait" : ""}` },
    el("div", { className: "player-column" }, el("div", { className: "player-box" }, player), previewsWords.node),
    el("div", { className: "side" }, facts, details, el("div", { className: "actions" }, editLink, download))),
  lineageBox, renditionBox, pubBox);

  const ids = [id, ...renditions.map((r) => r.id)];
  const [accounts, lists] = await Promise.all([api("/accounts").catch(() => []),
    Promise.all(ids.map((mid) => api("/publications", { query: { material_id: mid } })))]);
  const pubs = lists.flat();
  const snapshots = await Promise.all(pubs.map((p) => api(`/metrics/publications/${p.id}/snapshots`).catch(() => [])));
  const accountOf = (aid) => accounts.find((a) => a.id === aid);
  const titleOf = (mid) => (mid === id ? material.title : (renditions.find((r) => r.id === mid) || {}).title);
  pubBox.replaceChildren(el("h2", {}, t("material.publications")), pubs.length ? el("table", { className: "table" },
    el("thead", {}, el("tr", {}, ["material.col.clip", "material.col.account", "material.col.channel", "material.col.status", "material.col.submitted", "material.col.views", "material.col.likes"].map((k) => el("th", {}, t(k))))),
    el("tbody", {}, pubs.map((p, i) => {
      const account = accountOf(p.account_id) || {};
      const last = snapshots[i][snapshots[i].length - 1] || {};
      const channelKey = `${account.platform_id}.${p.channel_id}`;
      return el("tr", {},
        el("td", {}, el("a", { href: `#/materials/${p.material_id}` }, titleOf(p.material_id) || "–")),
        el("td", {}, account.name || "–"),
        el("td", {}, label("channel", channelKey)),
        el("td", {}, el("span", { className: `badge pub-${p.status}` }, label("publication_status", p.status)),
          p.rejection_reason ? el("span", { className: "muted small" }, " ", p.rejection_reason) : null),
        el("td", {}, dateTime(p.submitted_at)),
        el("td", { className: "num" }, number(last.views)),
        el("td", { className: "num" }, number(last.likes)));
    })))
    : emptyState({ id: "publications-empty", title: t("material.publications_empty.title"), text: t("material.publications_empty.text") }));
  return () => previews.stop();
}

function findNode(tree, id) {
  if (tree.material.id === id) return tree;
  for (const child of tree.children) {
    const found = findNode(child, id);
    if (found) return found;
  }
  return null;
}
