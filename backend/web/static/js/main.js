// Start-up and the hash router: find out who is signed in, load their language, and show the screen the
// address names (#/library, #/materials/<id> ...). Signed-out visitors see the sign-in screen.

import { currentSession, onUnauthorized } from "./api.js";
import { $, clear } from "./dom.js";
import { notify, notifyError, renderHeader } from "./layout.js";
import { allows } from "./layout.js";
import { preferredLanguage, setLanguage, setTimeZone, t } from "./i18n.js";
import { HOME, SCREENS } from "./screens/index.js";

const ctx = {
  session: null,
  route: null,
  params: {},
  query: new URLSearchParams(),
  go(path) { location.hash = `#${path}`; },
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
    await show();
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
let showing = 0;

async function show() {
  const turn = ++showing;
  const found = match(location.hash);
  if (!found) { ctx.go(HOME); return; }
  if (!found.screen.public && !ctx.session) {
    ctx.go(`/signin?next=${encodeURIComponent(found.path + (found.query.toString() ? `?${found.query}` : ""))}`);
    return;
  }
  if (found.screen.id === "signin" && ctx.session) { ctx.go(HOME); return; }
  if (!allows(ctx.session && ctx.session.user, found.screen.role)) { ctx.go(HOME); return; }
  if (cleanup) { try { cleanup(); } catch (err) { console.warn(err); } cleanup = null; }
  Object.assign(ctx, { route: found.screen, params: found.params, query: found.query });
  renderHeader(ctx);
  const main = clear($("#screen"));
  main.dataset.screen = found.screen.id;
  main.setAttribute("aria-busy", "true");
  try {
    const module = await found.screen.load();
    if (turn !== showing) return;
    cleanup = (await module.render(main, ctx)) || null;
  } catch (err) {
    notifyError(err);
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
  window.addEventListener("hashchange", show);
  await show();
  document.body.dataset.ready = "1";
}

start();
