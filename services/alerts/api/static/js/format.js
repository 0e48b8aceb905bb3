// Formatting and DOM building shared by the panels. Every value from the API reaches the page
// as text (textContent / SVG attributes), never as markup.

const SVG_NS = "http://www.w3.org/2000/svg";

export const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone;

const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const hourOnly = new Intl.DateTimeFormat(undefined, { hour: "2-digit" });
const dayAndClock = new Intl.DateTimeFormat(undefined, {
  month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
});
const full = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
  second: "2-digit", timeZoneName: "short",
});
const integer = new Intl.NumberFormat();

/** "14:05" today, "Nov 20, 14:05" on another day — in the viewer's time zone. */
export function localTime(iso) {
  if (!iso) return "";
  const at = new Date(iso);
  const today = new Date();
  return at.toDateString() === today.toDateString() ? clock.format(at) : dayAndClock.format(at);
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
