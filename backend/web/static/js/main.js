// Start-up and the hash router: find out who is signed in, load their language, and show the screen the
// address names (#/library, #/materials/<id> ...). Signed-out visitors see the sign-in screen. A screen
// may keep its state in the address's query (`ctx.setQuery`) and take it back on back/forward (`update`).

import { currentSession, onUnauthorized } from "./api.js";
import { $, clear } from "./dom.js";
import { emptyState, notify, notifyError, renderHeader } from "./layout.js";
import { allows } from "./layout.js";
import { preferredLanguage, setLanguage, setTimeZone, t } from "./i18n.js";
import { HOME, SCREENS } from "./screens/index.js";

const ctx = {
  session: null,
  route: null,
  params: {},
  query: new URLSearchParams(),
  path: null,
  go(path) { location.hash = `#${path}`; },
  // Write the screen's state into the address (a new history entry, or `replace` the current one) without
  // showing the screen again: a reload or a shared link restores it, back/forward returns to it.
  setQuery(query, { replace = false } = {}) {
    const search = new URLSearchParams(query).toString();
    const hash = `#${ctx.path}${search ? `?${search}` : ""}`;
    if (hash === location.hash) return;
    history[replace ? "replaceState" : "pushState"](null, "", hash);
    shownHash = location.hash;
    ctx.query = new URLSearchParams(search);
  },
  async signedIn(session) {
    ctx.session = session;
    setTimeZone(session.user.timezone);
    await setLanguage(session.user.language, { remember: true });
    const next = ctx.query.get("next");
    ctx.go(next && next.startsWith("/") ? next : HOME);
    if (!next) await show();
  },
  signedOut() {
    ctx.session = null;
    ctx.go("/signin");
  },
  async changeLanguage(code) {
    await setLanguage(code);
    if (ctx.session) {
      const { api } = await import("./api.js");
      try { ctx.session.user = await api("/me", { method: "PATCH", body: { language: code } }); } catch (err) { notifyError(err); }
    }
    await show({ rebuild: true });  // every text again, in the new language
  },
};

function match(hash) {
  const [path, search] = (hash.replace(/^#/, "") || HOME).split("?");
  for (const screen of SCREENS) {
    const names = [];
    const pattern = new RegExp("^" + screen.path.replace(/:(\w+)/g, (_, n) => { names.push(n); return "([^/]+)"; }) + "$");
    const found = path.match(pattern);
    if (found) {
      const params = Object.fromEntries(names.map((n, i) => [n, decodeURIComponent(found[i + 1])]));
      return { screen, params, query: new URLSearchParams(search || ""), path };
    }
  }
  return null;
}

let cleanup = null;
let update = null;
let showing = 0;
let shownHash = null;

// hashchange and popstate both come on back/forward; the address shown already is not shown twice.
function addressChanged() {
  if (location.hash !== shownHash) show();
}

async function show({ rebuild = false } = {}) {
  const turn = ++showing;
  shownHash = location.hash;
  const found = match(location.hash);
  if (!found) { ctx.go(HOME); return; }
  if (!found.screen.public && !ctx.session) {
    ctx.go(`/signin?next=${encodeURIComponent(found.path + (found.query.toString() ? `?${found.query}` : ""))}`);
    return;
  }
  if (found.screen.id === "signin" && ctx.session) { ctx.go(HOME); return; }
  if (!allows(ctx.session && ctx.session.user, found.screen.role)) { ctx.go(HOME); return; }
  if (update && !rebuild && found.screen === ctx.route && found.path === ctx.path) {
    ctx.query = found.query;  // the same screen, another query (back/forward): it updates itself
    try { update(found.query); } catch (err) { notifyError(err); }
    return;
  }
  if (cleanup) { try { cleanup(); } catch (err) { console.warn(err); } cleanup = null; }
  update = null;
  Object.assign(ctx, { route: found.screen, params: found.params, query: found.query, path: found.path });
  renderHeader(ctx);
  // A fresh <main> for each screen shown: a screen still rendering for an earlier address (its data came
  // late) writes into the one it was given, now out of the page, never beside this one.
  const main = Object.assign(document.createElement("main"), { id: "screen", tabIndex: -1 });
  $("#screen").replaceWith(main);
  main.dataset.screen = found.screen.id;
  main.setAttribute("aria-busy", "true");
  try {
    const module = await found.screen.load();
    if (turn !== showing) return;
    const made = await module.render(main, ctx);
    if (turn !== showing) { if (typeof made === "function") made(); else if (made && made.cleanup) made.cleanup(); return; }
    // A cleanup function, or { cleanup, update(query) } from a screen that follows its query in place.
    cleanup = typeof made === "function" ? made : (made && made.cleanup) || null;
    update = made && typeof made.update === "function" ? made.update : null;
  } catch (err) {
    // What the address names is gone (a deleted material, a link cut short): said on the page, with a way
    // back, rather than an empty screen under an error line.
    if (err && err.problem && err.problem.status === 404 && turn === showing) {
      clear(main).append(emptyState({ id: "screen-missing", title: t("screen.missing.title"), text: t("screen.missing.text"),
        action: t("screen.missing.action"), href: "#/library" }));
    } else notifyError(err);
  } finally {
    main.removeAttribute("aria-busy");
  }
}

onUnauthorized(() => {
  if (!ctx.session) return;
  ctx.session = null;
  notify(t("signin.expired"), { kind: "error", sticky: true });
  ctx.go(`/signin?next=${encodeURIComponent(location.hash.replace(/^#/, ""))}`);
});

async function start() {
  await setLanguage(preferredLanguage(), { remember: false });
  try {
    const session = await currentSession();
    if (session) {
      ctx.session = session;
      setTimeZone(session.user.timezone);
      await setLanguage(session.user.language, { remember: true });
    }
  } catch (err) {
    notifyError(err);
  }
  window.addEventListener("hashchange", addressChanged);
  window.addEventListener("popstate", addressChanged);
  await show();
  document.body.dataset.ready = "1";
}

start();
