// The frame around every screen: the header (brand, navigation by role, language switch, the person and
// sign-out) and the notice line for errors. Screens only fill <main>.

import { signOut } from "./api.js";
import { $, append, clear, el } from "./dom.js";
import { LANGUAGES, currentLanguage, label, problemText, t } from "./i18n.js";
import { SCREENS } from "./screens/index.js";

const RANK = { viewer: 0, editor: 1, admin: 2 };
export const allows = (person, role) => !role || (person && RANK[person.role] >= RANK[role]);

export function renderHeader(ctx) {
  const top = clear($("#top"));
  const person = ctx.session && ctx.session.user;
  const here = ctx.route ? ctx.route.navAs || ctx.route.id : "";
  const nav = el("nav", { className: "nav", "aria-label": t("nav.label") },
    SCREENS.filter((s) => s.nav && person && allows(person, s.role)).map((s) =>
      el("a", { href: `#${s.path}`, className: s.id === here ? "active" : null, "aria-current": s.id === here ? "page" : null },
        t(`nav.${s.id}`))));
  const languages = el("select", { id: "language", "aria-label": t("language.label"),
    onchange: (e) => ctx.changeLanguage(e.target.value) },
    LANGUAGES.map((code) => el("option", { value: code, selected: code === currentLanguage() }, label("language", code))));
  const who = person ? el("span", { className: "who" },
    el("span", { id: "who", title: person.username }, person.display_name),
    el("span", { className: "role" }, label("role", person.role)),
    el("button", { id: "sign-out", type: "button", className: "link", onclick: async () => {
      await signOut().catch(() => {});
      ctx.signedOut();
    } }, t("signin.sign_out"))) : null;
  append(top, [el("a", { className: "brand", href: "#/library" }, el("strong", {}, "reelhouse"),
    el("span", { className: "muted" }, t("app.tagline"))), nav, el("div", { className: "spacer" }), languages, who]);
}

// One line under the header: an error (by its problem type, in words) or a confirmation.
let noticeTimer = null;
export function notify(message, { kind = "info", sticky = false } = {}) {
  const box = $("#notice");
  clearTimeout(noticeTimer);
  if (!message) { box.hidden = true; return; }
  box.className = `notice ${kind}`;
  clear(box).append(el("span", {}, message), el("button", { type: "button", className: "link close",
    "aria-label": t("common.close"), onclick: () => { box.hidden = true; } }, "×"));
  box.hidden = false;
  if (!sticky) noticeTimer = setTimeout(() => { box.hidden = true; }, 6000);
}

export function notifyError(err) {
  // An answer of the API is said in words; anything else is a bug in the app, and logged as one.
  if (err && err.problem) console.warn(err); else console.error(err);
  notify(problemText(err && err.problem ? err.problem : { status: 0 }), { kind: "error", sticky: true });
}

// An empty state that says what to do next: a title, a line, and an optional action link.
export function emptyState({ title, text, action, href, onAction, id }) {
  const button = action && (onAction ? el("button", { type: "button", className: "button", onclick: onAction }, action)
    : el("a", { className: "button", href }, action));
  return el("div", { className: "empty", id }, el("h2", {}, title), el("p", { className: "muted" }, text), button || null);
}
