// The live alert feed: newest first, one item per alert id, updated in place by later
// versions of the same alert and marked when it is retracted (its case was withdrawn).

import { count, degreeName, el, fullTime, localTime, shortId, utcDay } from "./format.js";
import { t } from "./i18n.js";

const MAX_ITEMS = 300;

export class Feed {
  constructor({ list, empty, counter }, { openCase, openVenue }) {
    this.list = list;
    this.empty = empty;
    this.counter = counter;
    this.openCase = openCase;
    this.openVenue = openVenue;
    this.items = new Map(); // alert_id → <li>
    this.received = 0;
  }

  /** One `alert` event of the stream. */
  apply(alert) {
    this.received += 1;
    const retracted = alert.op === "retract";
    const existing = this.items.get(alert.alert_id);
    const item = this.render(alert, retracted, existing !== undefined);
    if (existing) existing.replaceWith(item);
    else this.list.prepend(item);
    this.items.set(alert.alert_id, item);
    this.trim();
    this.update();
  }

  /** An alert the server could not decode: shown, so nobody believes the feed is complete. */
  undecodable(detail) {
    const item = el("li", { class: "feed-item warning" },
      el("div", { class: "feed-line" },
        el("span", { class: "badge warn" }, "?"),
        el("strong", {}, t("An alert could not be read")),
        el("span", { class: "muted small" },
          ` ${t("partition")} ${detail.partition}, offset ${detail.offset}`)));
    this.list.prepend(item);
    this.update();
  }

  render(alert, retracted, updated) {
    const degree = degreeName(alert.degree);
    const venues = alert.venue_ids.map((venueId) => {
      // A venue's graph is per UTC day: the day of the exposure there.
      const there = alert.exposures.find((e) => e.venue_id === venueId);
      const day = utcDay(there ? there.start : alert.exposed_at);
      return el("button", {
        type: "button", class: "chip venue", title: `${t("Contact graph of")} ${venueId} · ${day} (UTC)`,
        onclick: () => this.openVenue(venueId, day),
      }, venueId);
    });
    const state = retracted
      ? el("span", { class: "tag retracted-tag" }, t("retracted"))
      : updated ? el("span", { class: "tag" }, t("updated")) : null;
    return el("li", {
      class: `feed-item d${Math.min(alert.degree, 3)}${retracted ? " retracted" : ""}`,
      dataset: { alertId: alert.alert_id, caseId: alert.case_id, degree: String(alert.degree) },
    },
      el("div", { class: "feed-line" },
        el("span", { class: `badge d${Math.min(alert.degree, 3)}`, title: `${t("degree")} ${alert.degree}` },
          degree),
        el("span", { class: "person mono", title: alert.person_id }, shortId(alert.person_id)),
        state,
        el("time", { class: "muted small when", datetime: alert.exposed_at,
                     title: `${t("exposed")} ${fullTime(alert.exposed_at)}` },
          localTime(alert.exposed_at))),
      el("div", { class: "feed-line small" },
        el("button", { type: "button", class: "chip case", title: t("Show the transmission chain"),
                       onclick: () => this.openCase(alert.case_id) }, `${t("case")} ${alert.case_id}`),
        alert.via_person_id
          ? el("span", { class: "muted" }, `${t("via")} `,
            el("span", { class: "mono", title: alert.via_person_id },
              shortId(alert.via_person_id)))
          : el("span", { class: "muted" }, t("contact of the F0")),
        el("span", { class: "muted" }, t("at")),
        venues));
  }

  trim() {
    while (this.list.children.length > MAX_ITEMS) {
      const last = this.list.lastElementChild;
      if (last.dataset.alertId) this.items.delete(last.dataset.alertId);
      last.remove();
    }
  }

  update() {
    this.empty.hidden = this.list.children.length > 0;
    const retracted = this.list.querySelectorAll(".feed-item.retracted").length;
    this.counter.textContent = `${count(this.received)} ${t("received since opened")}`
      + (retracted ? ` · ${count(retracted)} ${t("retracted")}` : "");
  }

  clear() {
    this.items.clear();
    this.list.replaceChildren();
    this.received = 0;
    this.update();
  }
}
