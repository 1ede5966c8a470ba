// The app's screens. Adding one: write screens/<name>.js exporting `render(main, ctx)` (it may return a
// function that cleans up when the person leaves the screen, or `{ cleanup, update(query) }` when it keeps
// its state in the address with `ctx.setQuery` and follows back/forward in place), add its entry here,
// and its messages to both catalogues (static/i18n/*.json; tests/web/test_i18n.py checks them).
//   path: the hash route (`#/materials/:id`), params by name in ctx.params; query in ctx.query
//   nav: shown in the header under t(`nav.${id}`); role: the least role that sees it (viewer/editor/admin)
//   public: reachable without signing in
//   navAs: a sub-page that lights up another screen's navigation entry (settings' sections)

export const SCREENS = [
  { id: "signin", path: "/signin", public: true, load: () => import("./signin.js") },
  { id: "library", path: "/library", nav: true, role: "viewer", load: () => import("./library.js") },
  { id: "upload", path: "/upload", nav: true, role: "editor", load: () => import("./upload.js") },
  { id: "proposals", path: "/proposals", nav: true, role: "viewer", load: () => import("./proposals.js") },
  { id: "material", path: "/materials/:id", role: "viewer", load: () => import("./material.js") },
  { id: "editor", path: "/materials/:id/edit", role: "editor", load: () => import("./editor.js") },
  { id: "publishing", path: "/publishing", nav: true, role: "viewer", load: () => import("./publishing.js") },
  // screens helper: quota dashboard and reports
  { id: "quota", path: "/quota", nav: true, role: "viewer", load: () => import("./quota.js") },
  { id: "jobs", path: "/jobs", nav: true, role: "viewer", load: () => import("./jobs.js") },
  { id: "reports", path: "/reports", nav: true, role: "viewer", load: () => import("./reports.js") },
  { id: "performance", path: "/performance", nav: true, role: "viewer", load: () => import("./performance.js") },
  // settings: one module, a route per section with the least role that sees it
  { id: "settings", path: "/settings", nav: true, role: "viewer", load: () => import("./settings.js") },
  { id: "settings-accounts", path: "/settings/accounts", navAs: "settings", role: "viewer", load: () => import("./settings.js") },
  { id: "settings-rules", path: "/settings/rules", navAs: "settings", role: "viewer", load: () => import("./settings.js") },
  { id: "settings-presets", path: "/settings/presets", navAs: "settings", role: "viewer", load: () => import("./settings.js") },
  { id: "settings-users", path: "/settings/users", navAs: "settings", role: "admin", load: () => import("./settings.js") },
  { id: "settings-keys", path: "/settings/keys", navAs: "settings", role: "admin", load: () => import("./settings.js") },
];

export const HOME = "/library";
