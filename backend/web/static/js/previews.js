// A material's poster and contact sheet are made by a worker seconds after its upload; until then the API
// answers /poster with a placeholder and the material with `previews_pending`. A screen that shows them asks
// again (from 2 s on, a minute at most) and swaps the placeholder for the made picture without a reload, or
// says in words that no preview could be made.

import { ApiError, api } from "./api.js";
import { el } from "./dom.js";
import { t } from "./i18n.js";

const CHECKS_MS = [2000, 3000, 5000, 10000, 20000, 20000];

// "pending" (the worker has not made them yet), "failed" (no frame decoded: the placeholder stays), "made".
export function previewsState(material) {
  if (material.previews_pending) return "pending";
  return material.previews_failed ? "failed" : "made";
}

// The address of a preview made after the screen showed its placeholder: the placeholder was answered
// `no-store`, and another address than the one shown makes the browser ask for the picture now.
export function madePreviewUrl(material, which = "poster") {
  const link = material.links[which];
  return link ? `${link}?made=${encodeURIComponent(material.updated_at)}` : null;
}

// One per screen. `follow(material, settled, { alive })` asks about a pending material until its previews
// are made or have failed, then calls `settled` with the material as it is then; `alive()` false (the
// element left the page) ends the asking. `stop()`, in the screen's cleanup, ends every check still waiting.
export function previewWatcher() {
  const timers = new Set();
  let stopped = false;
  function ask(id, settled, alive, attempt) {
    if (stopped || attempt >= CHECKS_MS.length) return;
    const timer = setTimeout(async () => {
      timers.delete(timer);
      if (stopped || !alive()) return;
      try {
        const material = await api(`/materials/${id}`);
        if (stopped || !alive()) return;
        if (material.previews_pending) ask(id, settled, alive, attempt + 1);
        else settled(material);
      } catch (err) {
        if (!(err instanceof ApiError)) ask(id, settled, alive, attempt + 1); // the network, not the answer: again
      }
    }, CHECKS_MS[attempt]);
    timers.add(timer);
  }
  return {
    follow(material, settled, { alive = () => true } = {}) {
      if (material.previews_pending) ask(material.id, settled, alive, 0);
    },
    stop() {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  };
}

// The words next to a player while its poster is being made (unless `pending: false`), or once it could not
// be made; `show(material)` updates them (hidden once the poster is there).
export function previewsNote(id, { pending = true } = {}) {
  const node = el("p", { className: "previews-note", id, "aria-live": "polite", hidden: true });
  function show(material) {
    const state = previewsState(material);
    const said = state === "failed" || (state === "pending" && pending);
    node.dataset.state = state;
    node.hidden = !said;
    node.textContent = said ? t(`previews.${state}`) : "";
  }
  return { node, show };
}
