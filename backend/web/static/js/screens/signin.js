// Sign in with a user name and password. Wrong credentials, a locked name (too many failures, with the
// wait) and other problems are said in words.

import { ApiError, signIn } from "../api.js";
import { el } from "../dom.js";
import { problemSlug, problemText, t } from "../i18n.js";
import { notify } from "../layout.js";

export function render(main, ctx) {
  const message = el("p", { className: "form-error", id: "signin-error", role: "alert", hidden: true });
  const username = el("input", { id: "username", name: "username", autocomplete: "username", required: true, autofocus: true });
  const password = el("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const button = el("button", { type: "submit", className: "primary" }, t("signin.submit"));
  const form = el("form", { className: "signin card-panel", onsubmit: async (e) => {
    e.preventDefault();
    button.disabled = true;
    message.hidden = true;
    try {
      const session = await signIn(username.value, password.value);
      notify(null);
      await ctx.signedIn(session);
    } catch (err) {
      const problem = err instanceof ApiError ? err.problem : { status: 0 };
      message.textContent = problemSlug(problem) === "sign-in-throttled"
        ? t("signin.throttled", { minutes: Math.ceil((problem.retry_after_s || 900) / 60) })
        : problemText(problem);
      message.hidden = false;
      password.value = "";
      password.focus();
    } finally {
      button.disabled = false;
    }
  } },
  el("h1", {}, t("signin.title")),
  el("p", { className: "muted" }, t("signin.intro")),
  el("label", { for: "username" }, t("signin.username")), username,
  el("label", { for: "password" }, t("signin.password")), password,
  message, button,
  el("p", { className: "muted small" }, t("signin.first_admin_hint")),
  el("code", { className: "small" }, "reelhouse users create-admin"));
  main.append(el("div", { className: "center" }, form));
}
