// Formatting and DOM building shared by the panels. Every value from the API reaches the page
// as text (textContent / SVG attributes), never as markup.

const SVG_NS = "http://www.w3.org/2000/svg";

// Times are shown in the deployment's zone (TRUYVET_TIMEZONE, told by /v1/whoami), the one a
// health worker and the people they call live in, whatever the viewer's machine says.
export let timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
let locale = "en-GB";
let clock, hourOnly, dayAndClock, full, dayKey, integer;

/** Set the zone and the language ("vi" or "en") every time on the page is shown in. */
export function configureFormats({ zone, language } = {}) {
  if (zone) timeZone = zone;
  if (language) locale = language === "vi" ? "vi-VN" : "en-GB";
  const base = { timeZone, hourCycle: "h23" };
  clock = new Intl.DateTimeFormat(locale, { ...base, hour: "2-digit", minute: "2-digit" });
  hourOnly = new Intl.DateTimeFormat(locale, { ...base, hour: "2-digit" });
  dayAndClock = new Intl.DateTimeFormat(locale, {
    ...base, month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
  });
  full = new Intl.DateTimeFormat(locale, {
    ...base, year: "numeric", month: "short", day: "numeric", hour: "2-digit",
    minute: "2-digit", second: "2-digit", timeZoneName: "short",
  });
  dayKey = new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit",
                                              day: "2-digit" });
  integer = new Intl.NumberFormat(locale);
}
configureFormats();

/** "14:05" today, "20 Nov, 14:05" on another day — in the deployment's zone. */
export function localTime(iso) {
  if (!iso) return "";
  const at = new Date(iso);
  return localDay(at) === localDay(new Date()) ? clock.format(at) : dayAndClock.format(at);
}

/** The calendar day (YYYY-MM-DD) of an instant in the deployment's zone. */
export function localDay(at) {
  return dayKey.format(at instanceof Date ? at : new Date(at));
}

export function localHour(iso) {
  return hourOnly.format(new Date(iso));
}

/** Date, time and zone, for tooltips. */
export function fullTime(iso) {
  return iso ? full.format(new Date(iso)) : "";
}

/** A count; null is one the server suppressed (below TRUYVET_MIN_GROUP, default 5). */
export function count(n) {
  return n === null || n === undefined ? "<5" : integer.format(n);
}

/** A pseudonym (64 hex characters) shortened for reading: "3f9a0c…e41b". */
export function shortId(id) {
  if (!id) return "";
  return id.length > 12 ? `${id.slice(0, 6)}…${id.slice(-4)}` : id;
}

export function degreeName(degree) {
  return `F${degree}`;
}

/** 95 → "1 min", 5400 → "1 h 30 min". */
export function duration(seconds) {
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return m ? `${h} h ${m} min` : `${h} h`;
}

/** The UTC calendar day (YYYY-MM-DD) of an instant: venue graphs are per UTC day. */
export function utcDay(iso) {
  return new Date(iso ?? Date.now()).toISOString().slice(0, 10);
}

/**
 * An element: el("li", {class: "x", dataset: {id: "1"}, onclick: fn}, "text", child…).
 * Strings become text nodes.
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  setAttributes(node, attrs);
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "string" || typeof child === "number" ? String(child) : child);
  }
  return node;
}

export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttributes(node, attrs);
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "string" || typeof child === "number" ? String(child) : child);
  }
  return node;
}

function setAttributes(node, attrs) {
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else node.setAttribute(key, value === true ? "" : String(value));
  }
}

export function clear(node) {
  node.replaceChildren();
  return node;
}
