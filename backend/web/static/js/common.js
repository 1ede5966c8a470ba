// Small pieces several screens share: a tag's name in the person's language, a material's platform,
// the media facts said in words, and the tag autocomplete list.

import { api } from "./api.js";
import { el } from "./dom.js";
import { currentLanguage, duration, label, t } from "./i18n.js";

export const zh = () => currentLanguage() === "zh-CN";

export function tagName(tag) {
  return (zh() ? tag.name_zh || tag.name_en : tag.name_en || tag.name_zh) || "";
}

export function categoryName(category) {
  return zh() ? category.label_zh : category.label_en;
}

// `category:name` as typed in a tag box (the form the upload API takes too).
export function tagRef(tag) {
  return `${tag.category}:${tag.name_zh || tag.name_en}`;
}

export const platformOf = (presetId) => (presetId ? presetId.split(".")[0] : null);

export function platformBadges(material) {
  const names = new Set();
  const platform = platformOf(material.preset_id);
  if (platform) names.add(label("platform", platform));
  for (const tag of material.tags || []) if (tag.category === "platform") names.add(tagName(tag));
  return [...names].map((name) => el("span", { className: "badge platform" }, name));
}

// 时长 3:00 · 1920×1080 横屏 · 有声音
export function factsInWords(media) {
  const facts = [];
  if (media.duration_s != null) facts.push(t("facts.duration", { duration: duration(media.duration_s) }));
  if (media.display_width && media.display_height) {
    facts.push(t("facts.size", { width: media.display_width, height: media.display_height,
      orientation: media.orientation ? label("orientation", media.orientation) : "" }).trim());
  }
  if (media.media_type !== "image") facts.push(t(media.has_audio ? "facts.sound" : "facts.silent"));
  return facts;
}

let tagCache = null;
export async function allTags({ refresh = false } = {}) {
  if (!tagCache || refresh) tagCache = await api("/tags");
  return tagCache;
}

// A <datalist> of every tag as `category:name`, for inputs that take tag references.
export async function tagDatalist(id) {
  const tags = await allTags();
  return el("datalist", { id }, tags.map((tag) => el("option", { value: tagRef(tag) }, tagName(tag))));
}

// What the player plays: the material's proxy (a light copy made for the browser) when it has one,
// else the original file.
export function playableUrl(material) {
  // The proxy (browser-safe, 1 s keyframes for scrubbing) once it is ready; the API redirects to a
  // presigned URL on S3. Until then the original, which the browser may or may not play.
  const proxy = material.proxy;
  if (proxy && proxy.state === "ready" && proxy.video) return proxy.video;
  return `/api/v1/materials/${material.id}/file`;
}

// A tag box: type `category:name` (autocompleted from the existing tags), Enter or a comma adds it as a
// chip; × removes it. `values()` gives the references in order; `initial` are chips to start with.
export async function tagInput(id, initial = []) {
  const chosen = [];
  const chips = el("span", { className: "chips" });
  const list = await tagDatalist(`${id}-list`);
  const input = el("input", { id, list: `${id}-list`, placeholder: t("tags.placeholder"), "aria-label": t("tags.label"), autocomplete: "off" });
  const add = (ref) => {
    const value = ref.trim().replace(/,$/, "");
    if (!value || chosen.includes(value)) return;
    chosen.push(value);
    chips.append(el("span", { className: "tag chip" }, value, el("button", { type: "button", className: "link", "aria-label": t("tags.remove", { tag: value }),
      onclick: (e) => { chosen.splice(chosen.indexOf(value), 1); e.target.parentNode.remove(); } }, "×")));
  };
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === ",") { e.preventDefault(); add(input.value); input.value = ""; }
  });
  input.addEventListener("change", () => { if (input.value.includes(":")) { add(input.value); input.value = ""; } });
  for (const ref of initial) add(ref);
  const node = el("span", { className: "tag-input" }, chips, input, list);
  return { node, values: () => { if (input.value.trim()) { add(input.value); input.value = ""; } return [...chosen]; } };
}
