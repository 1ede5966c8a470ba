// Settings (issue 19, screen 11): sub-pages under #/settings/<section>, each its own route in screens/index.js
// with the least role that sees it (the router refuses the rest; the API refuses them anyway).
//   accounts  platform accounts (create, rename, timezone, delete: admin) and each channel's rules, with the
//             platform's rule beside every override (GET/POST/PATCH/DELETE /accounts, /accounts/{id}/channels/*,
//             GET /platforms for the platform's rules)
//   rules     the automatic re-edit rules: list, create/edit, enable/disable, dry-run, delete (/autoclip/rules)
//   presets   every rendition preset, read-only, with each figure's source (GET /presets)
//   users     people who sign in (admin: /users)
//   keys      API keys (admin: /keys), the secret shown once

import { api } from "../api.js";
import { allTags, categoryName, tagInput, zh } from "../common.js";
import { append, clear, el } from "../dom.js";
import { currentLanguage, dateTime, label, number, percent, t, zoneName } from "../i18n.js";
import { allows, emptyState, notify, notifyError } from "../layout.js";
import { SCREENS } from "./index.js";

const ROLES = ["viewer", "editor", "admin"];

export async function render(main, ctx) {
  const section = ctx.route.id === "settings" ? "accounts" : ctx.route.id.replace(/^settings-/, "");
  const user = ctx.session.user;
  const tabs = SCREENS.filter((s) => s.navAs === "settings" && allows(user, s.role));
  main.append(el("div", { className: "screen-head" }, el("h1", {}, t("settings.title"))),
    el("nav", { className: "tabs", "aria-label": t("settings.tabs") }, tabs.map((s) => {
      const id = s.id.replace(/^settings-/, "");
      return el("a", { href: `#${s.path}`, className: id === section ? "active" : null,
        "aria-current": id === section ? "page" : null, dataset: { section: id } }, t(`settings.tab.${id}`));
    })));
  const box = el("div", { className: "settings", id: `settings-${section}` });
  main.append(box);
  const draw = async () => {
    box.replaceChildren();
    await SECTIONS[section](box, { user, reload: () => draw().catch(notifyError) });
  };
  await draw();
}

// --- small pieces ---------------------------------------------------------------------------------------

// A labelled control; a compound one (the tag box, whose chips hold buttons) gets a plain box instead, since
// a <label> would pass its clicks to the first button inside.
const field = (text, input, hint) => el(["INPUT", "SELECT"].includes(input.tagName) ? "label" : "div", { className: "field" },
  el("span", { className: "field-label" }, text), input, hint ? el("span", { className: "muted small" }, hint) : null);

// A list in words: 抖音、天猫 / Douyin, T-mall.
const listed = (items) => items.join(zh() ? "\u3001" : ", ");

const nameOf = (names) => (names && typeof names === "object" ? (zh() ? names.zh : names.en) : names) || "";

// A button that asks again in place before it acts (no browser dialog).
function confirming(text, confirmText, action, className) {
  const wrap = el("span", { className: "confirm" });
  const ask = el("button", { type: "button", className: `button danger ${className}`, onclick: () => {
    wrap.replaceChildren(el("span", { className: "muted small" }, t("settings.confirm.question")), " ",
      el("button", { type: "button", className: "button danger confirm-yes", onclick: action }, confirmText), " ",
      el("button", { type: "button", className: "button confirm-no", onclick: () => wrap.replaceChildren(ask) }, t("settings.confirm.cancel")));
  } }, text);
  wrap.append(ask);
  return wrap;
}

// Run an API call from a form or button: say it in words when it fails.
async function attempt(fn, done) {
  try {
    const result = await fn();
    if (done) done(result);
    return result;
  } catch (err) {
    notifyError(err);
    return undefined;
  }
}

function zoneList() {
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : ["Asia/Shanghai"];
  return el("datalist", { id: "settings-zones" }, zones.map((z) => el("option", { value: z })));
}

// A calendar day (YYYY-MM-DD, a local date of the account) in words, without moving it across zones.
const day = (iso) => new Intl.DateTimeFormat(currentLanguage(), { dateStyle: "medium", timeZone: "UTC" }).format(new Date(`${iso}T00:00:00Z`));

const numberOrNull = (input) => (input.value.trim() === "" ? null : Number(input.value));

// --- accounts and their channel rules ------------------------------------------------------------------

// A channel rule as the platform's files give it, in the shape of the API's channel (figures as values).
function platformRule(c) {
  return {
    opening_threshold: c.opening_threshold, monthly_minimum: c.monthly_minimum ?? 0, daily_cap: c.daily_cap,
    monthly_cap: c.monthly_cap, count_by: c.count_by, threshold_source: c.threshold_source, opening_month: c.opening_month,
    requires: c.requires || [], opens: c.opens, media_types: c.media_types,
    aspects: c.aspects ? c.aspects.value : null,
    min_duration_s: c.min_duration_s ? c.min_duration_s.value : null,
    max_duration_s: c.max_duration_s ? c.max_duration_s.value : null,
  };
}

function channelName(platformId, channel) {
  const key = `${platformId}.${channel.channel_id}`;
  const fallback = zh() ? channel.name_zh : channel.name_en;
  const text = label("channel", key);
  return text === key ? fallback : text;
}

// Each rule field in words; `worth` says whether to list it when the account has not changed it.
const RULE_FACTS = {
  monthly_minimum: { text: (v) => (v ? t("settings.rule.monthly_minimum", { n: number(v) }) : t("settings.rule.monthly_minimum_none")), worth: () => true },
  opening_threshold: { text: (v) => (v ? t("settings.rule.opening_threshold", { n: number(v) }) : t("settings.rule.opening_threshold_none")), worth: (v) => v > 0 },
  threshold_source: { text: (v) => label("settings.rule.threshold_source", v), worth: (v, r) => r.opening_threshold > 0 },
  opens: { text: (v) => label("settings.rule.opens", v), worth: (v) => v === "on_application" },
  opening_month: { text: (v) => label("settings.rule.opening_month", v), worth: (v, r) => r.opens === "on_application" || r.opening_threshold > 0 },
  daily_cap: { text: (v) => (v ? t("settings.rule.daily_cap", { n: number(v) }) : t("settings.rule.daily_cap_none")), worth: (v) => v != null },
  monthly_cap: { text: (v) => (v ? t("settings.rule.monthly_cap", { n: number(v) }) : t("settings.rule.monthly_cap_none")), worth: (v) => v != null },
  count_by: { text: (v) => label("settings.rule.count_by", v), worth: () => true },
  media_types: { text: (v) => t("settings.rule.media_types", { types: v.map((m) => label("media_type", m)).join(" / ") }), worth: (v) => v.join() !== "video" },
  aspects: { text: (v) => (v ? t("settings.rule.aspects", { aspects: v.join(" / ") }) : t("settings.rule.aspects_any")), worth: (v) => v != null },
  min_duration_s: { text: (v) => (v != null ? t("settings.rule.min_duration", { s: number(v) }) : t("settings.rule.min_duration_none")), worth: (v) => v != null },
  max_duration_s: { text: (v) => (v != null ? t("settings.rule.max_duration", { s: number(v) }) : t("settings.rule.max_duration_none")), worth: (v) => v != null },
  requires: { text: (v, names) => (v.length ? t("settings.rule.requires", { channels: v.map(names).join(" / ") }) : t("settings.rule.requires_none")), worth: (v) => v.length > 0 },
};

function ruleFacts(channel, defaults, names) {
  const overridden = new Set(channel.overridden || []);
  const facts = [];
  for (const [name, fact] of Object.entries(RULE_FACTS)) {
    const value = channel[name];
    const changed = overridden.has(name);
    if (!changed && !fact.worth(value, channel)) continue;
    facts.push(el("span", { className: `rule-fact${changed ? " overridden" : ""}`, dataset: { field: name } },
      fact.text(value, names),
      changed && defaults ? el("span", { className: "rule-default" }, t("settings.rule.platform_default", { rule: fact.text(defaults[name], names) })) : null));
  }
  return facts;
}

// The form that overrides a channel's rules for one account: only the fields changed are sent.
function channelForm(account, channel, reload) {
  const num = (name, attrs = {}) => el("input", { type: "number", name, min: 0, step: 1, value: channel[name] ?? "", ...attrs });
  const choose = (name, values) => el("select", { name }, values.map((v) => el("option", { value: v, selected: channel[name] === v }, label(`settings.rule.${name}`, v))));
  const inputs = {
    monthly_minimum: num("monthly_minimum", { required: true }),
    opening_threshold: num("opening_threshold", { required: true }),
    threshold_source: choose("threshold_source", ["own", "prerequisites"]),
    opening_month: choose("opening_month", ["exempt", "prorated", "full"]),
    daily_cap: num("daily_cap", { min: 1, placeholder: t("settings.rule.no_limit") }),
    monthly_cap: num("monthly_cap", { min: 1, placeholder: t("settings.rule.no_limit") }),
    count_by: choose("count_by", ["approval_date", "submission_date"]),
    min_duration_s: num("min_duration_s", { step: 0.1, placeholder: t("settings.rule.no_limit") }),
    max_duration_s: num("max_duration_s", { step: 0.1, placeholder: t("settings.rule.no_limit") }),
    aspects: el("input", { name: "aspects", value: (channel.aspects || []).join(", "), placeholder: t("settings.rule.aspects_placeholder") }),
  };
  const read = {
    monthly_minimum: (i) => Number(i.value), opening_threshold: (i) => Number(i.value),
    daily_cap: numberOrNull, monthly_cap: numberOrNull, min_duration_s: numberOrNull, max_duration_s: numberOrNull,
    aspects: (i) => { const list = i.value.split(/[,\uff0c\s]+/).filter(Boolean); return list.length ? list : null; },
  };
  const form = el("form", { className: "channel-form", onsubmit: async (e) => {
    e.preventDefault();
    const changes = {};
    for (const [name, input] of Object.entries(inputs)) {
      const value = read[name] ? read[name](input) : input.value;
      if (JSON.stringify(value) !== JSON.stringify(channel[name] ?? null)) changes[name] = value;
    }
    if (!Object.keys(changes).length) { notify(t("settings.nothing_changed")); return; }
    await attempt(() => api(`/accounts/${account.id}/channels/${encodeURIComponent(channel.channel_id)}`, { method: "PATCH", body: changes }),
      () => { notify(t("settings.channel.saved")); reload(); });
  } },
  el("div", { className: "form-grid" }, Object.entries(inputs).map(([name, input]) => field(t(`settings.rule.field.${name}`), input))),
  el("div", { className: "actions" }, el("button", { type: "submit", className: "button primary save-channel" }, t("settings.save")),
    el("button", { type: "button", className: "button", onclick: () => form.closest("tr").remove() }, t("settings.cancel"))));
  return form;
}

// The platforms a Chinese store team posts to most come first (not 哔哩哔哩 by the alphabet); the rest keep their order.
const TEAM_PLATFORMS = ["tmall", "douyin", "xiaohongshu", "kuaishou", "wechat_channels"];
function teamOrder(ids) {
  const rank = (id) => (TEAM_PLATFORMS.includes(id) ? TEAM_PLATFORMS.indexOf(id) : TEAM_PLATFORMS.length);
  return [...ids].sort((a, b) => rank(a) - rank(b));
}

async function accountsSection(box, { user, reload }) {
  const canEdit = allows(user, "editor");
  const isAdmin = allows(user, "admin");
  const [accounts, platforms] = await Promise.all([api("/accounts"), api("/platforms").then((page) => page.items)]);
  const platformById = new Map(platforms.map((p) => [p.id, p]));
  box.append(el("p", { className: "muted" }, t("settings.accounts.intro")), zoneList());

  if (canEdit) {
    const platform = el("select", { id: "account-platform", required: true },
      teamOrder(platforms.map((p) => p.id)).map((id) => el("option", { value: id }, label("platform", id))));
    const name = el("input", { id: "account-name", required: true, maxlength: 200, placeholder: t("settings.accounts.name_placeholder") });
    const zone = el("input", { id: "account-timezone", required: true, value: "Asia/Shanghai", list: "settings-zones" });
    box.append(el("form", { className: "settings-form", id: "account-create", onsubmit: async (e) => {
      e.preventDefault();
      await attempt(() => api("/accounts", { method: "POST", body: { platform_id: platform.value, name: name.value.trim(), timezone: zone.value.trim() } }),
        (made) => { notify(t("settings.accounts.created", { name: made.name })); reload(); });
    } }, el("h2", {}, t("settings.accounts.add")),
    el("div", { className: "form-row" }, field(t("settings.accounts.platform"), platform), field(t("settings.accounts.name"), name),
      field(t("settings.accounts.timezone"), zone),
      el("button", { type: "submit", className: "button primary" }, t("settings.accounts.create")))));
  }

  if (!accounts.length) {
    box.append(emptyState({ id: "accounts-empty", title: t("settings.accounts.empty.title"),
      text: t(canEdit ? "settings.accounts.empty.text" : "settings.accounts.empty.text_viewer") }));
    return;
  }

  for (const account of accounts) {
    const platform = platformById.get(account.platform_id);
    const defaults = new Map((platform ? platform.channels : []).map((c) => [c.id, platformRule(c)]));
    const names = (id) => {
      const c = account.channels.find((x) => x.channel_id === id);
      return c ? channelName(account.platform_id, c) : id;
    };
    const rows = el("tbody", {});
    for (const channel of account.channels) {
      const row = el("tr", { dataset: { channel: channel.channel_id } },
        el("th", { scope: "row" }, channelName(account.platform_id, channel),
          channel.overridden.length ? el("span", { className: "badge changed" }, t("settings.channel.changed")) : null,
          channel.from_platform_rules ? null : el("span", { className: "badge" }, t("settings.channel.added_by_hand")),
          channel.manual_state ? el("div", { className: "muted small manual-state", title: channel.manual_reason || "" },
            channel.manual_state === "open" && channel.manual_effective_on
              ? t("settings.channel.opened_by_hand", { date: day(channel.manual_effective_on) })
              : label("settings.channel.manual", channel.manual_state)) : null),
        el("td", {}, el("div", { className: "rule-facts" }, ruleFacts(channel, channel.from_platform_rules ? defaults.get(channel.channel_id) : null, names))),
        canEdit ? el("td", { className: "row-actions" },
          el("button", { type: "button", className: "button edit-channel", onclick: () => {
            if (row.nextSibling && row.nextSibling.classList.contains("channel-edit")) return;
            row.after(el("tr", { className: "channel-edit" }, el("td", { colspan: 3 }, channelForm(account, channel, reload))));
          } }, t("settings.channel.edit")),
          channel.overridden.length && channel.from_platform_rules ? el("button", { type: "button", className: "button reset-channel",
            onclick: () => attempt(() => api(`/accounts/${account.id}/channels/${encodeURIComponent(channel.channel_id)}/reset`, { method: "POST" }),
              () => { notify(t("settings.channel.reset_done")); reload(); }) }, t("settings.channel.reset")) : null) : null);
      rows.append(row);
    }

    const edit = canEdit ? (() => {
      const name = el("input", { className: "account-name", value: account.name, required: true, maxlength: 200, "aria-label": t("settings.accounts.name") });
      const zone = el("input", { className: "account-timezone", value: account.timezone, required: true, list: "settings-zones", "aria-label": t("settings.accounts.timezone") });
      return el("form", { className: "form-row account-edit", onsubmit: async (e) => {
        e.preventDefault();
        const changes = {};
        if (name.value.trim() !== account.name) changes.name = name.value.trim();
        if (zone.value.trim() !== account.timezone) changes.timezone = zone.value.trim();
        if (!Object.keys(changes).length) { notify(t("settings.nothing_changed")); return; }
        await attempt(() => api(`/accounts/${account.id}`, { method: "PATCH", body: changes }),
          () => { notify(t("settings.accounts.saved")); reload(); });
      } }, field(t("settings.accounts.name"), name), field(t("settings.accounts.timezone"), zone),
      el("button", { type: "submit", className: "button save-account" }, t("settings.save")),
      isAdmin ? confirming(t("settings.accounts.delete"), t("settings.accounts.delete_confirm"),
        () => attempt(() => api(`/accounts/${account.id}`, { method: "DELETE" }),
          () => { notify(t("settings.accounts.deleted", { name: account.name })); reload(); }), "delete-account") : null);
    })() : null;

    box.append(el("section", { className: "settings-card account", dataset: { account: account.id } },
      el("header", { className: "card-head" }, el("h2", {}, account.name),
        el("span", { className: "badge platform" }, label("platform", account.platform_id)),
        el("span", { className: "muted small" }, t("settings.accounts.zone_since", { zone: zoneName(account.timezone), date: dateTime(account.created_at) }))),
      edit,
      el("div", { className: "table-scroll" }, el("table", { className: "table channels" },
        el("thead", {}, el("tr", {}, el("th", {}, t("settings.channel.col.channel")), el("th", {}, t("settings.channel.col.rules")),
          canEdit ? el("th", {}, t("settings.channel.col.actions")) : null)), rows))));
  }
}

// --- automatic re-edit rules ---------------------------------------------------------------------------

// The server words a dry run's reasons in both languages ("中文 / English"): the person's half.
function reasonText(text) {
  const at = text.indexOf(" / ");
  if (at < 0) return text;
  return zh() ? text.slice(0, at) : text.slice(at + 3);
}

async function ruleForm(rule, { presets, accounts, onDone, onCancel }) {
  const tags = await tagInput("rule-tags", rule ? rule.match.tags : []);
  const name = el("input", { id: "rule-name", required: true, maxlength: 200, value: rule ? rule.name : "", placeholder: t("settings.autoclip.name_placeholder") });
  const kind = el("select", { id: "rule-kind" }, el("option", { value: "source" }, t("settings.autoclip.kind.source")));
  const count = el("input", { id: "rule-count", type: "number", min: 1, max: 50, step: 1, required: true, value: rule ? rule.count : 3 });
  const minS = el("input", { id: "rule-min", type: "number", min: 1, max: 3600, step: 1, required: true, value: rule ? rule.min_s : 15 });
  const maxS = el("input", { id: "rule-max", type: "number", min: 1, max: 3600, step: 1, required: true, value: rule ? rule.max_s : 60 });
  const enabled = el("input", { id: "rule-enabled", type: "checkbox", checked: rule ? rule.enabled : true });
  const chosenPresets = new Set(rule ? rule.preset_ids : []);
  const chosenAccounts = new Set(rule ? rule.account_ids : []);
  const checks = (items, chosen, text, cls) => el("div", { className: `check-list ${cls}` }, items.map((item) => el("label", { className: "inline" },
    el("input", { type: "checkbox", value: item.id, checked: chosen.has(item.id),
      onchange: (e) => (e.target.checked ? chosen.add(item.id) : chosen.delete(item.id)) }), " ", text(item))));
  const form = el("form", { className: "settings-form rule-form", id: rule ? "rule-edit" : "rule-create", onsubmit: async (e) => {
    e.preventDefault();
    if (!chosenPresets.size) { notify(t("settings.autoclip.no_presets"), { kind: "error" }); return; }
    const body = { name: name.value.trim(), enabled: enabled.checked, match: { tags: tags.values(), kind: kind.value },
      count: Number(count.value), min_s: Number(minS.value), max_s: Number(maxS.value),
      preset_ids: [...chosenPresets], account_ids: [...chosenAccounts] };
    await attempt(() => api(rule ? `/autoclip/rules/${rule.id}` : "/autoclip/rules", { method: rule ? "PATCH" : "POST", body }), onDone);
  } },
  el("h2", {}, t(rule ? "settings.autoclip.edit_title" : "settings.autoclip.add")),
  el("div", { className: "form-grid" }, field(t("settings.autoclip.name"), name), field(t("settings.autoclip.kind"), kind),
    field(t("settings.autoclip.count"), count, t("settings.autoclip.count_hint")),
    field(t("settings.autoclip.min_s"), minS), field(t("settings.autoclip.max_s"), maxS),
    el("label", { className: "inline" }, enabled, " ", t("settings.autoclip.enabled_field"))),
  field(t("settings.autoclip.tags"), tags.node, t("settings.autoclip.tags_hint")),
  el("fieldset", {}, el("legend", {}, t("settings.autoclip.presets")),
    checks(presets, chosenPresets, (p) => nameOf(p.label) || p.id, "rule-presets")),
  el("fieldset", {}, el("legend", {}, t("settings.autoclip.accounts")),
    accounts.length ? checks(accounts, chosenAccounts, (a) => `${label("platform", a.platform_id)} · ${a.name}`, "rule-accounts")
      : el("p", { className: "muted small" }, t("settings.autoclip.no_accounts")),
    el("p", { className: "muted small" }, t("settings.autoclip.accounts_hint"))),
  el("div", { className: "actions" }, el("button", { type: "submit", className: "button primary save-rule" }, t("settings.save")),
    el("button", { type: "button", className: "button", onclick: onCancel }, t("settings.cancel"))));
  return form;
}

async function rulesSection(box, { user, reload }) {
  const canEdit = allows(user, "editor");
  const [rules, presets, accounts, categories] = await Promise.all([api("/autoclip/rules"), api("/presets").then((page) => page.items),
    api("/accounts"), api("/tag-categories")]);
  // A rule's tag as the team types it (产品:洗衣凝珠), not its stored category id (product:洗衣凝珠).
  const tagWords = (ref) => {
    const at = ref.indexOf(":");
    const category = at > 0 ? categories.find((c) => c.id === ref.slice(0, at)) : null;
    return category ? `${categoryName(category)}:${ref.slice(at + 1)}` : ref;
  };
  const presetName = (id) => { const p = presets.find((x) => x.id === id); return p ? nameOf(p.label) || id : id; };
  const accountName = (id) => { const a = accounts.find((x) => x.id === id); return a ? a.name : t("settings.autoclip.account_gone"); };
  const formBox = el("div", { id: "rule-form-box" });
  const openForm = async (rule) => {
    await allTags({ refresh: true }); // the autocomplete offers tags added since the app started
    formBox.replaceChildren(await ruleForm(rule, { presets, accounts,
      onDone: (saved) => { notify(t(rule ? "settings.autoclip.saved" : "settings.autoclip.created", { name: saved.name })); reload(); },
      onCancel: () => formBox.replaceChildren() }));
    formBox.scrollIntoView({ block: "nearest" });
  };
  append(box, [el("p", { className: "muted" }, t("settings.autoclip.intro")),
    canEdit ? el("div", { className: "actions" }, el("button", { type: "button", className: "button primary", id: "rule-new",
      onclick: () => openForm(null).catch(notifyError) }, t("settings.autoclip.add"))) : null, formBox]);
  if (!rules.length) {
    box.append(emptyState({ id: "rules-empty", title: t("settings.autoclip.empty.title"),
      text: t(canEdit ? "settings.autoclip.empty.text" : "settings.autoclip.empty.text_viewer") }));
    return;
  }

  const card = (rule) => {
    const dry = el("div", { className: "dry-run", hidden: true });
    const runDry = () => attempt(async () => {
      const found = await api(`/autoclip/rules/${rule.id}/dry-run`, { method: "POST" });
      const shown = (found.materials || []).slice(0, 10);
      const titles = await Promise.all(shown.map((id) => api(`/materials/${id}`).then((m) => m.title).catch(() => null)));
      append(clear(dry), [el("h3", {}, t("settings.autoclip.dry.title")),
        el("p", { className: "dry-summary" }, t("settings.autoclip.dry.summary", { n: number(found.clip_count),
          min: number(found.min_s), max: number(found.max_s), presets: listed(found.preset_ids.map(presetName)) })),
        el("ul", { className: "reasons" }, found.reasons.map((r) => el("li", {}, reasonText(r)))),
        (found.materials || []).length
          ? [el("p", {}, t("settings.autoclip.dry.matches", { n: number(found.materials.length) })),
            el("ul", { className: "dry-materials" }, shown.map((id, i) => el("li", {}, el("a", { href: `#/materials/${id}` }, titles[i] || id))))]
          : el("p", { className: "muted dry-none" }, t("settings.autoclip.dry.none"))]);
      dry.hidden = false;
    });
    return el("article", { className: `settings-card rule${rule.enabled ? "" : " disabled"}`, dataset: { rule: rule.id, enabled: String(rule.enabled) } },
      el("header", { className: "card-head" }, el("h2", {}, rule.name),
        el("span", { className: `badge ${rule.enabled ? "on" : "off"}` }, t(rule.enabled ? "settings.autoclip.enabled" : "settings.autoclip.disabled"))),
      el("dl", { className: "details" },
        el("dt", {}, t("settings.autoclip.tags")), el("dd", {}, rule.match.tags.length ? rule.match.tags.map((ref) => el("span", { className: "tag", title: ref }, tagWords(ref))) : t("settings.autoclip.any_tags")),
        el("dt", {}, t("settings.autoclip.kind")), el("dd", {}, t(`settings.autoclip.kind.${rule.match.kind}`)),
        el("dt", {}, t("settings.autoclip.clips")), el("dd", { className: "rule-clips" }, t("settings.autoclip.clips_value", { n: number(rule.count), min: number(rule.min_s), max: number(rule.max_s) })),
        el("dt", {}, t("settings.autoclip.presets")), el("dd", {}, listed(rule.preset_ids.map(presetName))),
        el("dt", {}, t("settings.autoclip.accounts")), el("dd", {}, rule.account_ids.length ? listed(rule.account_ids.map(accountName)) : t("settings.autoclip.no_accounts_chosen")),
        el("dt", {}, t("settings.autoclip.updated")), el("dd", {}, dateTime(rule.updated_at))),
      el("div", { className: "actions" },
        el("button", { type: "button", className: "button dry-run-rule", onclick: runDry }, t("settings.autoclip.dry_run")),
        canEdit ? [
          el("button", { type: "button", className: "button edit-rule", onclick: () => openForm(rule).catch(notifyError) }, t("settings.autoclip.edit")),
          el("button", { type: "button", className: "button toggle-rule", onclick: () => attempt(
            () => api(`/autoclip/rules/${rule.id}`, { method: "PATCH", body: { enabled: !rule.enabled } }),
            () => { notify(t(rule.enabled ? "settings.autoclip.disabled_done" : "settings.autoclip.enabled_done", { name: rule.name })); reload(); }) },
          t(rule.enabled ? "settings.autoclip.disable" : "settings.autoclip.enable")),
          confirming(t("settings.autoclip.delete"), t("settings.autoclip.delete_confirm"), () => attempt(
            () => api(`/autoclip/rules/${rule.id}`, { method: "DELETE" }),
            () => { notify(t("settings.autoclip.deleted", { name: rule.name })); reload(); }), "delete-rule")] : null),
      dry);
  };
  box.append(el("div", { className: "rule-list" }, rules.map(card)));
}

// --- presets and their sources -------------------------------------------------------------------------

// Pixels and hertz as a video team writes them (1080, 48000), not as counts (1,080, 4.8万).
const PLAIN_FIGURES = new Set(["width", "height", "min_short_side_px", "audio_sample_rate", "fps_cap"]);  // (the last part of the name)

function figureValue(name, value) {
  if (value == null) return "–";
  if (name === "caption_safe_zone") return safeZoneText(value);
  if (Array.isArray(value)) return value.join(" / ");
  if (typeof value === "number") return PLAIN_FIGURES.has(name) ? String(value) : number(value);
  return String(value);
}

function safeZoneText(zone) {
  return t("settings.presets.safe_zone_value", { top: percent(zone.top), bottom: percent(zone.bottom), left: percent(zone.left), right: percent(zone.right) });
}

// 60 秒 / 15 分钟: whole minutes as minutes, as the platforms' upload pages say them.
function spokenSeconds(s) {
  return s >= 120 && s % 60 === 0 ? t("settings.presets.minutes", { n: number(s / 60) }) : t("settings.presets.seconds", { n: number(s) });
}

function durationBounds(preset) {
  const lo = preset.min_duration_s ? preset.min_duration_s.value : null;
  const hi = preset.max_duration_s ? preset.max_duration_s.value : null;
  if (lo != null && hi != null) return t("settings.presets.duration_between", { min: spokenSeconds(lo), max: spokenSeconds(hi) });
  if (hi != null) return t("settings.presets.duration_max", { max: spokenSeconds(hi) });
  if (lo != null) return t("settings.presets.duration_min", { min: spokenSeconds(lo) });
  return t("settings.presets.duration_any");
}

// Every platform figure of a preset (the names the API's figure_status lists), read from the preset.
function figuresOf(preset) {
  const names = [...preset.figure_status.documented, ...preset.figure_status.commonly_cited];
  const order = Object.keys(preset);
  const at = (name) => name.split(".").reduce((node, part) => (node ? node[part] : undefined), preset);
  return names.map((name) => ({ name, figure: at(name) })).filter((f) => f.figure && f.figure.source)
    .sort((a, b) => order.indexOf(a.name.split(".")[0]) - order.indexOf(b.name.split(".")[0]));
}

function presetCard(preset) {
  const figures = figuresOf(preset);
  const documented = preset.figure_status.documented.length;
  const cited = preset.figure_status.commonly_cited.length;
  return el("article", { className: "settings-card preset", dataset: { preset: preset.id } },
    el("header", { className: "card-head" }, el("h3", {}, nameOf(preset.label)), el("code", { className: "small" }, preset.id)),
    el("dl", { className: "details" },
      el("dt", {}, t("settings.presets.platform")), el("dd", {}, label("platform", preset.platform)),
      el("dt", {}, t("settings.presets.size")), el("dd", { className: "preset-size" }, `${preset.width.value}×${preset.height.value}`),
      el("dt", {}, t("settings.presets.aspect")), el("dd", {}, preset.aspect.value),
      el("dt", {}, t("settings.presets.duration")), el("dd", { className: "preset-duration" }, durationBounds(preset)),
      el("dt", {}, t("settings.presets.safe_zone")), el("dd", { className: "preset-safe-zone" },
        preset.caption_safe_zone ? safeZoneText(preset.caption_safe_zone.value) : t("settings.presets.no_safe_zone"))),
    el("details", { className: "preset-sources" },
      el("summary", {}, t("settings.presets.sources", { documented: number(documented), cited: number(cited) })),
      el("div", { className: "table-scroll" }, el("table", { className: "table sources" },
        el("thead", {}, el("tr", {}, ["figure", "value", "status", "source", "checked"].map((c) => el("th", {}, t(`settings.presets.col.${c}`))))),
        el("tbody", {}, figures.map(({ name, figure }) => el("tr", { dataset: { figure: name, status: figure.source.status } },
          el("td", {}, label("settings.figure", name)),
          el("td", { className: "figure-value" }, figureValue(name.split(".").pop(), figure.value)),
          el("td", {}, el("span", { className: `badge source-${figure.source.status}` }, label("settings.source_status", figure.source.status))),
          el("td", { className: "source-ref" }, figure.source.ref, figure.source.note ? el("div", { className: "muted small" }, figure.source.note) : null),
          el("td", {}, figure.source.checked || t("settings.presets.not_checked")))))))));
}

async function presetsSection(box) {
  const presets = await api("/presets").then((page) => page.items);
  box.append(el("p", { className: "muted" }, t("settings.presets.intro")));
  const platforms = teamOrder([...new Set(presets.map((p) => p.platform))]);
  for (const platform of platforms) {
    box.append(el("section", { className: "preset-platform", dataset: { platform } },
      el("h2", {}, label("platform", platform)),
      el("div", { className: "preset-grid" }, presets.filter((p) => p.platform === platform).map(presetCard))));
  }
}

// --- people ---------------------------------------------------------------------------------------------

const roleSelect = (attrs, selected) => el("select", attrs, ROLES.map((r) => el("option", { value: r, selected: r === selected }, label("role", r))));

async function usersSection(box, { user: me, reload }) {
  const people = await api("/users");
  const username = el("input", { id: "user-username", required: true, maxlength: 64, pattern: "[^\\s]+", autocomplete: "off" });
  const display = el("input", { id: "user-display", maxlength: 200 });
  const password = el("input", { id: "user-password", type: "password", required: true, minlength: 8, autocomplete: "new-password" });
  const role = roleSelect({ id: "user-role" }, "editor");
  box.append(el("p", { className: "muted" }, t("settings.users.intro")),
    el("form", { className: "settings-form", id: "user-create", onsubmit: async (e) => {
      e.preventDefault();
      await attempt(() => api("/users", { method: "POST", body: { username: username.value.trim(), password: password.value,
        display_name: display.value.trim() || null, role: role.value } }),
      (made) => { notify(t("settings.users.created", { name: made.display_name })); reload(); });
    } }, el("h2", {}, t("settings.users.add")),
    el("div", { className: "form-row" }, field(t("settings.users.username"), username), field(t("settings.users.display_name"), display),
      field(t("settings.users.password"), password, t("settings.users.password_hint")), field(t("settings.users.role"), role),
      el("button", { type: "submit", className: "button primary" }, t("settings.users.create")))));

  const row = (person) => {
    const self = person.id === me.id;
    const patch = (body, message) => attempt(() => api(`/users/${person.id}`, { method: "PATCH", body }),
      () => { notify(message); reload(); });
    const newPassword = el("input", { type: "password", className: "new-password", minlength: 8, autocomplete: "new-password",
      placeholder: t("settings.users.new_password"), "aria-label": t("settings.users.new_password") });
    return el("tr", { dataset: { user: person.id, username: person.username, disabled: String(!!person.disabled_at) } },
      el("td", {}, person.username), el("td", {}, person.display_name),
      el("td", {}, self ? label("role", person.role) : roleSelect({ className: "role-select", "aria-label": t("settings.users.role"),
        onchange: (e) => patch({ role: e.target.value }, t("settings.users.role_changed", { name: person.display_name, role: label("role", e.target.value) })) }, person.role)),
      el("td", {}, person.last_sign_in_at ? dateTime(person.last_sign_in_at) : t("settings.users.never")),
      el("td", {}, el("span", { className: `badge ${person.disabled_at ? "off" : "on"}` },
        person.disabled_at ? t("settings.users.disabled_since", { date: dateTime(person.disabled_at) }) : t("settings.users.active"))),
      el("td", { className: "row-actions" }, self ? el("span", { className: "muted small" }, t("settings.users.you")) : [
        el("form", { className: "inline-form", onsubmit: (e) => {
          e.preventDefault();
          patch({ password: newPassword.value }, t("settings.users.password_reset", { name: person.display_name }));
        } }, newPassword, el("button", { type: "submit", className: "button reset-password" }, t("settings.users.reset_password"))),
        person.disabled_at
          ? el("button", { type: "button", className: "button enable-user", onclick: () => patch({ disabled: false }, t("settings.users.enabled", { name: person.display_name })) }, t("settings.users.enable"))
          : confirming(t("settings.users.disable"), t("settings.users.disable_confirm"),
            () => patch({ disabled: true }, t("settings.users.disabled", { name: person.display_name })), "disable-user")]));
  };
  box.append(el("div", { className: "table-scroll" }, el("table", { className: "table users" },
    el("thead", {}, el("tr", {}, ["username", "display_name", "role", "last_sign_in", "state", "actions"].map((c) => el("th", {}, t(`settings.users.col.${c}`))))),
    el("tbody", {}, people.map(row)))));
}

// --- API keys -------------------------------------------------------------------------------------------

async function keysSection(box, { reload }) {
  const keys = await api("/keys");
  const name = el("input", { id: "key-name", required: true, maxlength: 200, placeholder: t("settings.keys.name_placeholder") });
  const role = roleSelect({ id: "key-role" }, "editor");
  const issued = el("div", { id: "key-issued" });
  const list = el("div", { className: "table-scroll" });

  const row = (key) => el("tr", { dataset: { key: key.id, revoked: String(!!key.revoked_at) } },
    el("td", {}, key.name), el("td", {}, el("code", {}, `rh_${key.prefix}_…`)), el("td", {}, label("role", key.role)),
    el("td", {}, dateTime(key.created_at)), el("td", {}, key.last_used_at ? dateTime(key.last_used_at) : t("settings.keys.never_used")),
    el("td", {}, el("span", { className: `badge ${key.revoked_at ? "off" : "on"}` },
      key.revoked_at ? t("settings.keys.revoked_at", { date: dateTime(key.revoked_at) }) : t("settings.keys.active"))),
    el("td", { className: "row-actions" }, key.revoked_at ? null : confirming(t("settings.keys.revoke"), t("settings.keys.revoke_confirm"),
      () => attempt(() => api(`/keys/${key.id}`, { method: "DELETE" }), () => { notify(t("settings.keys.revoked", { name: key.name })); reload(); }), "revoke-key")));
  const table = (items) => (items.length ? el("table", { className: "table keys" },
    el("thead", {}, el("tr", {}, ["name", "prefix", "role", "created", "last_used", "state", "actions"].map((c) => el("th", {}, t(`settings.keys.col.${c}`))))),
    el("tbody", {}, items.map(row)))
    : emptyState({ id: "keys-empty", title: t("settings.keys.empty.title"), text: t("settings.keys.empty.text") }));
  list.append(table(keys));

  box.append(el("p", { className: "muted" }, t("settings.keys.intro")),
    el("form", { className: "settings-form", id: "key-create", onsubmit: async (e) => {
      e.preventDefault();
      await attempt(() => api("/keys", { method: "POST", body: { name: name.value.trim(), role: role.value } }), (made) => {
        // The secret exists only in this answer: shown here once, never stored by the app, gone on reload.
        const secret = el("code", { id: "key-secret" }, made.token);
        issued.replaceChildren(el("div", { className: "notice-box secret-box" },
          el("strong", {}, t("settings.keys.issued", { name: made.name })),
          el("p", {}, t("settings.keys.once")),
          el("div", { className: "secret-line" }, secret,
            el("button", { type: "button", className: "button", id: "key-copy", onclick: async () => {
              try {
                await navigator.clipboard.writeText(made.token);
                notify(t("settings.keys.copied"));
              } catch {
                // No clipboard (an insecure origin, a refused permission): select it for a manual copy.
                getSelection().selectAllChildren(secret);
                notify(t("settings.keys.copy_manually"));
              }
            } }, t("settings.keys.copy")))));
        name.value = "";
        api("/keys").then((fresh) => list.replaceChildren(table(fresh))).catch(notifyError);
      });
    } }, el("h2", {}, t("settings.keys.add")),
    el("div", { className: "form-row" }, field(t("settings.keys.name"), name), field(t("settings.keys.role"), role),
      el("button", { type: "submit", className: "button primary" }, t("settings.keys.create")))),
    issued, list);
}

const SECTIONS = { accounts: accountsSection, rules: rulesSection, presets: presetsSection, users: usersSection, keys: keysSection };
