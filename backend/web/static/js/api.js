// The app's client of the documented /api/v1 (nothing else): the session cookie goes along by itself
// (same origin, HttpOnly: no script can read it); requests that change something carry the session's
// CSRF token. Errors are thrown as ApiError holding the problem+json body; 401 tells the app to sign in.

const BASE = "/api/v1";
const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);
let csrfToken = null;
const unauthorizedListeners = new Set();

export function setCsrfToken(token) { csrfToken = token; }
export function csrfHeaders() { return csrfToken ? { "X-CSRF-Token": csrfToken } : {}; }
export function onUnauthorized(fn) { unauthorizedListeners.add(fn); }

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && problem.detail) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || { status };
  }
}

export function url(path, query) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query || {})) {
    if (value == null || value === "") continue;
    for (const v of [value].flat()) params.append(name, String(v));
  }
  const qs = params.toString();
  return `${BASE}${path}${qs ? `?${qs}` : ""}`;
}

// `raw`: a File or Blob sent as the body itself (a platform export), with its own type or `headers`.
export async function api(path, { method = "GET", query, body, raw, headers = {}, signal, quiet401 = false } = {}) {
  const init = { method, credentials: "same-origin", signal, headers: { Accept: "application/json", ...headers } };
  if (!SAFE.has(method)) Object.assign(init.headers, csrfHeaders());
  if (raw !== undefined) {
    if (!init.headers["Content-Type"]) init.headers["Content-Type"] = raw.type || "application/octet-stream";
    init.body = raw;
  } else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(url(path, query), init);
  if (!res.ok) {
    let problem = { status: res.status };
    try { problem = await res.json(); } catch { /* not JSON: keep the status */ }
    if (res.status === 401 && !quiet401) for (const fn of unauthorizedListeners) fn(problem);
    throw new ApiError(res.status, problem);
  }
  if (res.status === 204) return null;
  const type = res.headers.get("content-type") || "";
  return type.includes("json") ? res.json() : res;
}

// --- sign-in ------------------------------------------------------------------------------------

export async function currentSession() {
  const session = await api("/session", { quiet401: true }); // 204 (null) when nobody is signed in
  setCsrfToken(session ? session.csrf_token : null);
  return session;
}

export async function signIn(username, password) {
  const session = await api("/session", { method: "POST", body: { username, password }, quiet401: true });
  setCsrfToken(session.csrf_token);
  return session;
}

export async function signOut() {
  try { await api("/session", { method: "DELETE", quiet401: true }); } finally { setCsrfToken(null); }
}

// Links the browser follows itself (img, video, downloads): the cookie authenticates them.
export const links = {
  poster: (id) => `${BASE}/materials/${id}/poster`,
  file: (id) => `${BASE}/materials/${id}/file`,
  download: (id) => `${BASE}/materials/${id}/file?download=1`,
};
