// Messages and formats. Every text the app shows comes from a catalogue (static/i18n/<lang>.json):
// `t(key, params)` looks it up, and a key that is missing is logged as a console error (the browser tests
// fail on it) and shown as the key itself. Numbers and dates use the browser's Intl in the person's
// language and timezone: 1.2万 / 12K, ¥23,808, 2026年12月7日 14:05 in Asia/Shanghai.

export const LANGUAGES = ["zh-CN", "en"];
export const DEFAULT_LANGUAGE = "zh-CN";
const STORE = "reelhouse.language"; // the choice before sign-in (not a secret)

let language = DEFAULT_LANGUAGE;
let timeZone = "Asia/Shanghai";
let messages = {};
const listeners = new Set();

export const currentLanguage = () => language;
export const currentTimeZone = () => timeZone;

export function preferredLanguage() {
  const stored = localStorage.getItem(STORE);
  return LANGUAGES.includes(stored) ? stored : DEFAULT_LANGUAGE;
}

export async function setLanguage(code, { remember = true } = {}) {
  const chosen = LANGUAGES.includes(code) ? code : DEFAULT_LANGUAGE;
  const res = await fetch(`/static/i18n/${chosen}.json`, { cache: "no-cache" });
  messages = await res.json();
  language = chosen;
  if (remember) localStorage.setItem(STORE, chosen);
  document.documentElement.lang = chosen;
  document.title = t("app.title");
  for (const fn of listeners) fn(chosen);
}

export function setTimeZone(zone) {
  timeZone = zone || "Asia/Shanghai";
}

export function onLanguageChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function has(key) {
  return Object.prototype.hasOwnProperty.call(messages, key);
}

export function t(key, params = {}) {
  if (!has(key)) {
    console.error(`missing message key: ${key}`);
    return key;
  }
  return messages[key].replace(/\{(\w+)\}/g, (_, name) => (params[name] ?? "").toString());
}

// A value's label from an enumeration (`kind.source`, `status.ready`), or the value itself if the
// catalogue does not know it (data the server added later must not break the page).
export function label(prefix, value) {
  const key = `${prefix}.${value}`;
  return has(key) ? messages[key] : String(value);
}

// --- problems (RFC 9457) by their stable type -----------------------------------------------------

export function problemSlug(problem) {
  const type = (problem && problem.type) || "";
  return type.includes("/") ? type.slice(type.lastIndexOf("/") + 1) : "";
}

export function problemText(problem) {
  const key = `problem.${problemSlug(problem)}`;
  if (has(key)) return t(key, problem || {});
  // No answer at all (the network, or the page itself): no empty （） where a status would be.
  const status = problem && problem.status;
  return status ? t("problem.unknown", { status }) : t("problem.no_answer");
}

// --- numbers, money, durations, dates ----------------------------------------------------------------

export function number(value) {
  if (value == null || Number.isNaN(value)) return "–";
  const compact = Math.abs(value) >= 10000;
  return new Intl.NumberFormat(language, compact ? { notation: "compact", maximumFractionDigits: 1 } : {}).format(value);
}

export function money(yuan) {
  if (yuan == null) return "–";
  const whole = Number.isInteger(yuan);
  return new Intl.NumberFormat(language, {
    style: "currency", currency: "CNY", currencyDisplay: "narrowSymbol",
    minimumFractionDigits: whole ? 0 : 2, maximumFractionDigits: whole ? 0 : 2,
  }).format(yuan);
}

export function percent(ratio) {
  return ratio == null ? "–" : new Intl.NumberFormat(language, { style: "percent", maximumFractionDigits: 1 }).format(ratio);
}

// 3:00, 1:02:03 (as players show it)
export function duration(seconds) {
  if (seconds == null) return "–";
  const total = Math.round(seconds);
  const h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return (h ? `${h}:` : "") + `${mm}:${String(s).padStart(2, "0")}`;
}

export function bytes(n) {
  if (n == null) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0, v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return `${new Intl.NumberFormat(language, { maximumFractionDigits: i ? 1 : 0 }).format(v)} ${units[i]}`;
}

// In the person's timezone, or in `zone` (an account's: a store's day is the platform's day).
export function dateTime(iso, zone) {
  if (!iso) return "–";
  return new Intl.DateTimeFormat(language, { dateStyle: "medium", timeStyle: "short", timeZone: zone || timeZone }).format(new Date(iso));
}

// A month ("2026-12") as the team says it: 2026年12月 / December 2026.
export function month(yyyymm) {
  if (!/^\d{4}-\d{2}$/.test(yyyymm || "")) return yyyymm || "–";
  return new Intl.DateTimeFormat(language, { year: "numeric", month: "long", timeZone: "UTC" }).format(new Date(`${yyyymm}-01T00:00:00Z`));
}

export function date(iso) {
  if (!iso) return "–";
  return new Intl.DateTimeFormat(language, { dateStyle: "medium", timeZone }).format(new Date(iso));
}

// A timezone in words with its id (中国标准时间（Asia/Shanghai）), or the id alone where the browser has no name.
export function zoneName(zone) {
  try {
    const parts = new Intl.DateTimeFormat(language, { timeZone: zone, timeZoneName: "longGeneric" }).formatToParts(new Date());
    const name = (parts.find((p) => p.type === "timeZoneName") || {}).value;
    if (!name || name === zone || name.startsWith("GMT")) return zone;
    return t("zone.named", { name, zone });
  } catch {
    return zone;
  }
}

// The person's zone offset on a day ("+08:00"), to turn a date picked in the app into an instant.
export function zoneOffset(day) {
  const parts = new Intl.DateTimeFormat("en-US", { timeZone, timeZoneName: "longOffset" }).formatToParts(new Date(`${day}T12:00:00Z`));
  const name = (parts.find((p) => p.type === "timeZoneName") || {}).value || "GMT";
  return name === "GMT" ? "+00:00" : name.replace("GMT", "");
}

// Today's date (YYYY-MM-DD) in the person's zone.
export function today() {
  return new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date());
}
