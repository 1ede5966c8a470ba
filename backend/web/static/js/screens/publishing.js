// Publishing (issue 19, screen 7): record that a clip was submitted to an account's channel (the material
// found by searching, the account, the channel, the platform's post id or URL), checked before it is
// recorded (POST /publications:check: aspect, duration, media type, sound, already approved or in review
// there); a warning can be passed over once the person confirms (with a reason when the API asks for
// one), a refusal cannot. Below, the publications with their states, to approve, reject with the
// platform's reason, withdraw, or submit a rejected clip again (重新提交: checked the same way, recorded as a
// new publication linked to the rejected one); times in the account's timezone. `?material=<id>` prefills the clip.

import { api } from "../api.js";
import { factsInWords, zh } from "../common.js";
import { debounce, el } from "../dom.js";
import { dateTime, label, number, t } from "../i18n.js";
import { allows, emptyState, notify, notifyError } from "../layout.js";

const PAGE = 50;
const STATUSES = ["pending", "approved", "rejected", "withdrawn"];
// Reasons platforms commonly give when they turn a clip down (offered when rejecting; any text goes).
const REASONS = ["blurry", "aspect", "duration", "watermark", "duplicate", "product", "sound"];

const channelName = (c) => (zh() ? c.name_zh : c.name_en) || c.channel_id;
const seconds = (s) => number(Math.round(s * 10) / 10);

// A finding in words, from its stable code and figures (the server's `detail` is Chinese only).
function findingText(f, check) {
  const p = f.params || {};
  const params = { ...p, channel: channelName(check.channel) };
  if (p.accepted) {
    params.accepted = p.accepted.map((a) => (f.code === "media_type" ? label("media_type", a) : a)).join(" / ");
  }
  if (f.code === "media_type") params.media_type = label("media_type", p.media_type);
  if (p.duration_s != null) params.duration = seconds(p.duration_s);
  if (p.max_duration_s != null) params.limit = seconds(p.max_duration_s);
  if (p.min_duration_s != null) params.limit = seconds(p.min_duration_s);
  if (f.code.startsWith("duplicate")) params.status = label("publication_status", p.status);
  if (f.code === "material_not_ready") params.status = label("status", p.status);
  return t(`publishing.finding.${f.code}`, params);
}

// What a submission check says, in `box`: that it fits, why it is refused, or its warnings with the
// confirmation (and the reason, when checks are passed over) the person gives to go ahead.
function showCheckIn(box, check, confirm, reason) {
  box.dataset.verdict = check.verdict;
  const name = channelName(check.channel);
  if (check.verdict === "fits") {
    box.replaceChildren(el("p", { className: "check-ok" }, t("publishing.check.fits", { channel: name })));
    return;
  }
  const list = el("ul", { className: "findings" }, check.findings.map((f) =>
    el("li", { className: `finding ${f.severity}`, dataset: { code: f.code } }, findingText(f, check))));
  if (check.verdict === "refused") {
    box.replaceChildren(el("p", { className: "check-head" }, el("strong", {}, t("publishing.check.refused"))), list);
    return;
  }
  reason.value = "";
  box.replaceChildren(el("p", { className: "check-head" }, el("strong", {}, t("publishing.check.warning", { channel: name }))), list,
    el("label", { className: "inline confirm" }, confirm, " ", t(check.override.length ? "publishing.check.confirm_override" : "publishing.check.confirm")),
    check.override.length ? el("label", { className: "override-reason" }, t("publishing.override_reason"), reason) : null);
}

// Whether a check lets the submission be recorded: it fits, or its warnings are confirmed (with a reason
// when checks are passed over).
function mayRecord(check, confirm, reason) {
  return Boolean(check && check.verdict !== "refused"
    && (check.verdict === "fits" || (confirm.checked && (!check.override.length || reason.value.trim()))));
}

export async function render(main, ctx) {
  const canEdit = allows(ctx.session.user, "editor");
  const accounts = await api("/accounts");
  main.append(el("div", { className: "screen-head" }, el("h1", {}, t("publishing.title")),
    el("span", { className: "muted" }, t("publishing.intro"))));
  if (!accounts.length) {
    main.append(emptyState({ id: "publishing-empty", title: t("quota.empty.title"), text: t("publishing.no_accounts"),
      action: t("quota.empty.action"), href: "#/settings/accounts" }));
    return null;
  }
  const accountOf = (id) => accounts.find((a) => a.id === id) || null;
  const platformName = (a) => label("platform", a.platform_id);
  const titles = new Map(); // material id -> title, for the list

  // --- record a submission -----------------------------------------------------------------------------
  const state = { material: null, check: null, turn: 0 };
  const chosen = el("div", { className: "pub-chosen", id: "pub-material" });
  const results = el("ul", { className: "pub-results", id: "pub-material-results" });
  const search = el("input", { type: "search", id: "pub-material-q", placeholder: t("publishing.material.search"),
    "aria-label": t("publishing.material.search"), autocomplete: "off",
    oninput: debounce((e) => findMaterials(e.target.value.trim()), 250) });
  const accountSelect = el("select", { id: "pub-account", "aria-label": t("publishing.account"),
    onchange: () => { fillChannels(); runCheck(); } },
  accounts.map((a) => el("option", { value: a.id }, `${a.name} · ${platformName(a)}`)));
  const channelSelect = el("select", { id: "pub-channel", "aria-label": t("publishing.channel"), onchange: () => runCheck() });
  const recheckSoon = debounce(() => runCheck(), 300);
  const postId = el("input", { id: "pub-post-id", maxlength: 200, autocomplete: "off", placeholder: t("publishing.post_id_hint"),
    oninput: () => { state.turn += 1; state.check = null; updateSubmit(); recheckSoon(); } }); // nothing goes on a stale check
  const postUrl = el("input", { id: "pub-post-url", type: "url", maxlength: 1000, autocomplete: "off", placeholder: "https://" });
  const checkBox = el("div", { className: "pub-check", id: "pub-check", "aria-live": "polite" });
  const confirm = el("input", { type: "checkbox", id: "pub-confirm", onchange: () => updateSubmit() });
  const reason = el("input", { id: "pub-override-reason", maxlength: 2000, placeholder: t("publishing.override_reason_hint"),
    "aria-label": t("publishing.override_reason"), oninput: () => updateSubmit() });
  const submit = el("button", { type: "submit", className: "primary", id: "pub-submit", disabled: true }, t("publishing.submit"));

  function choose(material) {
    state.material = material;
    titles.set(material.id, material.title);
    results.replaceChildren();
    search.value = "";
    const facts = factsInWords({ ...(material.media || {}), media_type: material.media_type });
    chosen.replaceChildren(el("a", { href: `#/materials/${material.id}`, className: "title", id: "pub-material-title" }, material.title),
      el("span", { className: "muted small" }, " ", facts.join(" · ")));
    chosen.dataset.material = material.id;
    runCheck();
  }

  let searching = 0;
  async function findMaterials(q) {
    const turn = ++searching;
    if (!q) { results.replaceChildren(); return; }
    try {
      const page = await api("/materials", { query: { q, limit: 8 } });
      if (turn !== searching) return;
      results.replaceChildren(...(page.items.length ? page.items.map((m) => el("li", {},
        el("button", { type: "button", className: "link pick", dataset: { id: m.id }, onclick: () => choose(m) }, m.title),
        el("span", { className: "muted small" }, " ", factsInWords({ ...m.media, media_type: m.media_type }).join(" · "))))
        : [el("li", { className: "muted" }, t("publishing.material.none"))]));
    } catch (err) { notifyError(err); }
  }

  function fillChannels() {
    const account = accountOf(accountSelect.value);
    channelSelect.replaceChildren(...(account ? account.channels : []).map((c) =>
      el("option", { value: c.channel_id }, channelName(c))));
  }

  async function runCheck() {
    const turn = ++state.turn;
    state.check = null;
    confirm.checked = false;
    updateSubmit();
    if (!state.material || !accountSelect.value || !channelSelect.value) {
      checkBox.dataset.verdict = "";
      checkBox.replaceChildren(el("p", { className: "muted" }, t("publishing.check.choose")));
      return;
    }
    checkBox.dataset.verdict = ""; // the last check's verdict is not this one's
    checkBox.replaceChildren(el("p", { className: "muted" }, t("publishing.check.checking")));
    try {
      const check = await api("/publications:check", { method: "POST", body: {
        material_id: state.material.id, account_id: accountSelect.value, channel_id: channelSelect.value,
        platform_post_id: postId.value.trim() || null } });
      if (turn !== state.turn) return;
      state.check = check;
      showCheck(check);
    } catch (err) {
      if (turn === state.turn) { checkBox.replaceChildren(); notifyError(err); }
    }
    updateSubmit();
  }

  function showCheck(check) {
    showCheckIn(checkBox, check, confirm, reason);
  }

  function updateSubmit() {
    submit.disabled = !mayRecord(state.check, confirm, reason);
  }

  async function record(e) {
    e.preventDefault();
    const c = state.check;
    if (!c || submit.disabled) return;
    submit.disabled = true;
    const warned = c.verdict === "warning" && c.override.length;
    try {
      await api("/publications", { method: "POST", body: {
        material_id: state.material.id, account_id: accountSelect.value, channel_id: channelSelect.value,
        platform_post_id: postId.value.trim() || null, post_url: postUrl.value.trim() || null,
        override: warned ? c.override : [], override_reason: warned ? reason.value.trim() : null } });
      notify(t("publishing.submitted", { title: state.material.title, channel: channelName(c.channel) }));
      postId.value = "";
      postUrl.value = "";
      await Promise.all([runCheck(), list.reload()]);
    } catch (err) { notifyError(err); updateSubmit(); }
  }

  if (canEdit) {
    fillChannels();
    const field = (text, input, id) => el("label", { className: "field", for: id }, el("span", {}, text), input);
    main.append(el("section", { className: "card-panel pub-form", id: "pub-form" },
      el("h2", {}, t("publishing.form.title")),
      el("form", { onsubmit: record },
        el("div", { className: "field" }, el("span", {}, t("publishing.material")), chosen, search, results),
        el("div", { className: "pub-row" }, field(t("publishing.account"), accountSelect, "pub-account"),
          field(t("publishing.channel"), channelSelect, "pub-channel")),
        el("div", { className: "pub-row" }, field(t("publishing.post_id"), postId, "pub-post-id"),
          field(t("publishing.post_url"), postUrl, "pub-post-url")),
        checkBox, el("div", { className: "actions" }, submit))));
    chosen.append(el("span", { className: "muted" }, t("publishing.material.none_chosen")));
    const preset = ctx.query.get("material");
    const presetAccount = ctx.query.get("account");
    if (presetAccount && accountOf(presetAccount)) { accountSelect.value = presetAccount; fillChannels(); }
    if (preset) {
      try { choose(await api(`/materials/${preset}`)); } catch (err) { notifyError(err); }
    } else runCheck();
  }

  // --- publications ------------------------------------------------------------------------------------
  const list = publicationList();
  main.append(list.node);
  await list.reload();
  return null;

  function publicationList() {
    const filter = { account: "", status: "" };
    const accountFilter = el("select", { id: "pub-filter-account", "aria-label": t("publishing.filter.account"),
      onchange: (e) => { filter.account = e.target.value; reload(); } },
    el("option", { value: "" }, t("publishing.filter.account_any")),
    accounts.map((a) => el("option", { value: a.id }, `${a.name} · ${platformName(a)}`)));
    const statusFilter = el("select", { id: "pub-filter-status", "aria-label": t("publishing.filter.status"),
      onchange: (e) => { filter.status = e.target.value; reload(); } },
    el("option", { value: "" }, t("publishing.filter.status_any")),
    STATUSES.map((s) => el("option", { value: s }, label("publication_status", s))));
    const body = el("div", { id: "pub-list-body" });
    const more = el("button", { type: "button", id: "pub-more", hidden: true, onclick: () => load(false) }, t("publishing.more"));
    const reasons = el("datalist", { id: "pub-reasons" }, REASONS.map((r) => el("option", { value: t(`publishing.reason.${r}`) })));
    const node = el("section", { id: "pub-list" }, el("h2", {}, t("publishing.list.title")),
      el("div", { className: "filters" }, accountFilter, statusFilter,
        el("span", { className: "muted small" }, t("publishing.list.times"))), body, more, reasons);
    let rows = [];
    let offset = 0;
    let turn = 0;

    async function load(fresh) {
      const mine = fresh ? ++turn : turn;
      if (fresh) { offset = 0; rows = []; }
      const page = await api("/publications", { query: { account_id: filter.account, status: filter.status, limit: PAGE, offset } });
      const missing = [...new Set(page.map((p) => p.material_id))].filter((id) => !titles.has(id));
      await Promise.all(missing.map((id) => api(`/materials/${id}`).then((m) => titles.set(id, m.title)).catch(() => titles.set(id, null))));
      if (mine !== turn) return;
      rows = rows.concat(page);
      offset += page.length;
      more.hidden = page.length < PAGE;
      draw();
    }
    function reload() { return load(true).catch(notifyError); }

    function draw() {
      if (!rows.length) {
        body.replaceChildren(emptyState({ id: "pub-list-empty", title: t("publishing.list.empty.title"),
          text: t(filter.account || filter.status ? "publishing.list.empty.filtered" : "publishing.list.empty.text") }));
        return;
      }
      body.replaceChildren(el("div", { className: "table-scroll" }, el("table", { className: "table pubs", id: "pub-table" },
        el("thead", {}, el("tr", {}, ["material", "account", "channel", "status", "submitted", "reviewed", "post", "actions"]
          .map((k) => el("th", {}, t(`publishing.col.${k}`))))),
        el("tbody", {}, rows.map(row)))));
    }

    function row(p) {
      const account = accountOf(p.account_id) || { name: "–", timezone: undefined, channels: [] };
      const channel = account.channels.find((c) => c.channel_id === p.channel_id);
      const zone = account.timezone;
      const reviewed = p.withdrawn_at || p.rejected_at || p.approved_at;
      const tr = el("tr", { dataset: { publication: p.id, status: p.status } });
      const act = async (action, body = {}) => {
        try {
          const updated = await api(`/publications/${p.id}/${action}`, { method: "POST", body });
          notify(t(`publishing.done.${action}`, { title: titles.get(p.material_id) || "" }));
          rows = rows.map((x) => (x.id === p.id ? updated : x));
          if (filter.status && updated.status !== filter.status) rows = rows.filter((x) => x.id !== p.id);
          draw();
        } catch (err) { notifyError(err); }
      };
      const actions = [];
      if (canEdit && p.status === "pending") {
        actions.push(el("button", { type: "button", className: "primary approve", onclick: () => act("approve") }, t("publishing.approve")));
        actions.push(el("button", { type: "button", className: "danger reject", onclick: () => openReject(tr, p, act) }, t("publishing.reject")));
      }
      // A rejected clip goes to the platform again as a new submission (the rejected one stays, never counted).
      if (canEdit && p.status === "rejected" && !p.resubmitted_as) {
        actions.push(el("button", { type: "button", className: "resubmit", onclick: () => openResubmit(tr, p) }, t("publishing.resubmit")));
      }
      if (canEdit && (p.status === "pending" || p.status === "approved")) {
        const withdraw = el("button", { type: "button", className: "withdraw", onclick: () => {
          if (withdraw.dataset.confirming) { act("withdraw"); return; }
          withdraw.dataset.confirming = "1";
          withdraw.textContent = t("publishing.withdraw_confirm");
        } }, t("publishing.withdraw"));
        actions.push(withdraw);
      }
      const title = titles.get(p.material_id);
      const post = p.post_url && /^https?:\/\//i.test(p.post_url)
        ? el("a", { href: p.post_url, target: "_blank", rel: "noopener noreferrer" }, p.platform_post_id || t("publishing.post_link"))
        : p.platform_post_id || "–";
      tr.append(
        el("td", {}, el("a", { href: `#/materials/${p.material_id}` }, title || t("publishing.untitled"))),
        el("td", {}, account.name),
        el("td", {}, channel ? channelName(channel) : label("channel", `${account.platform_id}.${p.channel_id}`)),
        el("td", {}, el("span", { className: `badge pub-${p.status}`, dataset: { state: p.status } }, label("publication_status", p.status)),
          p.rejection_reason ? el("div", { className: "muted small reason" }, p.rejection_reason) : null,
          p.resubmitted_as ? el("div", { className: "muted small resubmitted" }, t("publishing.resubmitted")) : null,
          p.resubmission_of ? el("div", { className: "muted small resubmission" }, t("publishing.is_resubmission")) : null),
        el("td", { className: "when" }, dateTime(p.submitted_at, zone)),
        el("td", { className: "when" }, reviewed ? dateTime(reviewed, zone) : "–"),
        el("td", {}, post),
        el("td", { className: "actions" }, actions));
      return tr;
    }

    // 重新提交: the same clip, account and channel checked as a new submission would be (the platform may
    // have rejected it for what the check finds), an optional new post id, then recorded as a resubmission.
    function openResubmit(tr, p) {
      const next = tr.nextElementSibling;
      if (next && next.classList.contains("resubmit-row")) { next.remove(); return; }
      const account = accountOf(p.account_id);
      const channel = account ? account.channels.find((c) => c.channel_id === p.channel_id) : null;
      const title = titles.get(p.material_id) || t("publishing.untitled");
      const box = el("div", { className: "pub-check resubmit-check", "aria-live": "polite" });
      const confirmBox = el("input", { type: "checkbox", className: "resubmit-confirm-check", onchange: () => update() });
      const reasonInput = el("input", { className: "resubmit-override-reason", maxlength: 2000,
        placeholder: t("publishing.override_reason_hint"), "aria-label": t("publishing.override_reason"), oninput: () => update() });
      const recheck = debounce(() => check(), 300);
      const postIdInput = el("input", { className: "resubmit-post-id", maxlength: 200, autocomplete: "off",
        placeholder: t("publishing.post_id_hint"), "aria-label": t("publishing.resubmit_post_id"),
        oninput: () => { turn += 1; found = null; update(); recheck(); } });
      const go = el("button", { type: "button", className: "primary resubmit-confirm", disabled: true, onclick: () => send() },
        t("publishing.resubmit_confirm"));
      let found = null;
      let turn = 0;
      const update = () => { go.disabled = !mayRecord(found, confirmBox, reasonInput); };

      async function check() {
        const mine = ++turn;
        found = null;
        confirmBox.checked = false;
        update();
        box.dataset.verdict = "";
        box.replaceChildren(el("p", { className: "muted" }, t("publishing.check.checking")));
        try {
          const answer = await api("/publications:check", { method: "POST", body: {
            material_id: p.material_id, account_id: p.account_id, channel_id: p.channel_id,
            platform_post_id: postIdInput.value.trim() || null } });
          if (mine !== turn) return;
          found = answer;
          showCheckIn(box, answer, confirmBox, reasonInput);
        } catch (err) {
          if (mine === turn) { box.replaceChildren(); notifyError(err); }
        }
        update();
      }

      async function send() {
        if (go.disabled) return;
        go.disabled = true;
        const warned = found.verdict === "warning" && found.override.length;
        try {
          const created = await api(`/publications/${p.id}/resubmit`, { method: "POST", body: {
            platform_post_id: postIdInput.value.trim() || null,
            override: warned ? found.override : [], override_reason: warned ? reasonInput.value.trim() : null } });
          notify(t("publishing.done.resubmit", { title }));
          rows = rows.map((x) => (x.id === p.id ? { ...x, resubmitted_as: created.id } : x));
          const shown = (!filter.status || filter.status === created.status) && (!filter.account || filter.account === created.account_id);
          if (shown) { rows = [created, ...rows]; offset += 1; }
          draw();
        } catch (err) { notifyError(err); update(); }
      }

      tr.after(el("tr", { className: "resubmit-row" }, el("td", { colspan: 8 },
        el("p", { className: "resubmit-head" }, el("strong", {}, t("publishing.resubmit_title", {
          title, channel: channel ? channelName(channel) : p.channel_id }))),
        el("p", { className: "muted small" }, t("publishing.resubmit_hint")),
        el("div", { className: "resubmit-form" }, el("span", {}, t("publishing.resubmit_post_id")), postIdInput),
        box,
        el("div", { className: "actions" }, go,
          el("button", { type: "button", className: "link", onclick: (e) => e.target.closest("tr").remove() }, t("publishing.cancel"))))));
      postIdInput.focus();
      check();
    }

    function openReject(tr, p, act) {
      const next = tr.nextElementSibling;
      if (next && next.classList.contains("reject-row")) { next.remove(); return; }
      const input = el("input", { className: "reject-reason", list: "pub-reasons", maxlength: 2000,
        placeholder: t("publishing.reject_reason_hint"), "aria-label": t("publishing.reject_reason"),
        oninput: () => { go.disabled = !input.value.trim(); } });
      const go = el("button", { type: "button", className: "danger reject-confirm", disabled: true,
        onclick: () => act("reject", { reason: input.value.trim() }) }, t("publishing.reject_confirm"));
      const chips = REASONS.map((r) => el("button", { type: "button", className: "chip reason-chip",
        onclick: () => { input.value = t(`publishing.reason.${r}`); go.disabled = false; } }, t(`publishing.reason.${r}`)));
      tr.after(el("tr", { className: "reject-row" }, el("td", { colspan: 8 },
        el("div", { className: "reject-form" }, el("span", {}, t("publishing.reject_reason")), input, go,
          el("button", { type: "button", className: "link", onclick: (e) => e.target.closest("tr").remove() }, t("publishing.cancel"))),
        el("div", { className: "reason-chips" }, el("span", { className: "muted small" }, t("publishing.common_reasons")), chips))));
      input.focus();
    }

    return { node, reload };
  }
}
