// Clusters and exposure events by venue (GET /v1/venue-alerts): each venue with its window and
// counts only — cases, visitors exposed, alerts raised — for every aggregate reader.

import { t } from "./i18n.js";
import { clear, count, el, fullTime, localTime } from "./format.js";

const ACTIONS = { inform: "inform", test: "get tested", isolate: "isolate" };

/** "dd/mm hh:mm – hh:mm" in the deployment's zone, the full times as a tooltip. */
function window_(start, end) {
  return el("span", { title: `${fullTime(start)} – ${fullTime(end)}` },
    el("time", { datetime: start }, localTime(start)), " – ",
    el("time", { datetime: end }, localTime(end)));
}

function venue(item) {
  return el("span", { class: "venue-name" }, item.name,
    item.name !== item.venue_id ? el("span", { class: "muted small" }, ` ${item.venue_id}`) : null);
}

function table(id, heads, rows) {
  return el("div", { class: "table-wrap" },
    el("table", { id, class: "cases venue-alerts" },
      el("thead", {}, el("tr", {}, ...heads.map(([text, cls]) =>
        el("th", { scope: "col", class: cls ?? null }, t(text))))),
      el("tbody", {}, ...rows)));
}

export function renderVenueAlerts(root, answer) {
  clear(root);
  const clusters = answer.clusters.map((c) => el("tr", { dataset: { clusterId: c.cluster_id } },
    el("td", {}, venue(c)), el("td", { class: "when" }, window_(c.start, c.end)),
    el("td", { class: "num cases-n" }, count(c.cases)),
    el("td", { class: "num visitors-n" }, count(c.visitors))));
  const events = answer.exposure_events.map((e) => el("tr", { dataset: { eventId: e.event_id } },
    el("td", {}, venue(e)), el("td", { class: "when" }, window_(e.start, e.end)),
    el("td", { class: `action action-${e.action}` }, t(ACTIONS[e.action] ?? e.action)),
    el("td", { class: "num alerts-n" }, count(e.alerts))));
  root.append(
    el("h3", {}, t("Clusters")),
    clusters.length
      ? table("clusters", [["Venue"], ["Window"], ["Cases", "num"], ["Visitors exposed", "num"]],
        clusters)
      : el("p", { class: "muted empty", id: "clusters-empty" }, t("No cluster detected.")),
    el("h3", {}, t("Exposure events")),
    events.length
      ? table("events", [["Venue"], ["Window"], ["Action"], ["Alerts", "num"]], events)
      : el("p", { class: "muted empty", id: "events-empty" }, t("No exposure event declared.")));
}
