// Headline figures (GET /v1/figures): tiles, scans per hour, busiest venues, open cases.

import { t } from "./i18n.js";
import { clear, count, el, fullTime, localHour, localTime, shortId, utcDay } from "./format.js";

const CASES_PER_PAGE = 10;

export class Figures {
  constructor(root, { openCase, openVenue }) {
    this.$ = (id) => root.getElementById(id);
    this.openCase = openCase;
    this.openVenue = openVenue;
    this.selectedCase = null;
    this.$("cases-search").addEventListener("input", () => this.casePage());
    this.$("cases-prev").addEventListener("click", () => this.casePage(-1));
    this.$("cases-next").addEventListener("click", () => this.casePage(1));
  }

  render(figures) {
    const cases = figures.open_cases;
    this.$("tile-scans").textContent = count(figures.scans);
    this.$("tile-cases").textContent = count(cases.count);
    this.$("tile-f1").textContent = count(cases.f1);
    this.$("tile-f2").textContent = count(cases.f2);
    this.hourly(figures.scans_per_hour);
    this.venues(figures.busiest_venues);
    this.cases(cases);
    this.$("activity-note").textContent = `${t("updated")} ${localTime(new Date().toISOString())}`;
  }

  hourly(hours) {
    const bars = clear(this.$("hourly"));
    const axis = clear(this.$("hourly-axis"));
    const peak = Math.max(0, ...hours.map((h) => h.scans ?? 0));
    const highest = Math.max(1, peak);
    hours.forEach((hour, index) => {
      const bar = el("div", {
        class: hour.scans ? "bar" : "bar zero",
        title: `${fullTime(hour.hour)}: ${count(hour.scans)} scans, ${count(hour.people)} people`,
      });
      bar.style.height = `${Math.max(hour.scans ? 3 : 1, (100 * (hour.scans ?? 0)) / highest)}%`;
      bars.append(bar);
      // A label every 6 hours keeps a phone-width axis readable.
      axis.append(el("span", {}, index % 6 === 0 ? localHour(hour.hour) : ""));
    });
    bars.setAttribute("aria-label",
      `Scans per hour, last 24 hours; most in one hour: ${count(peak)}`);
    this.$("activity-title").textContent = `${t("Scans per hour")} · ${t("peak")} ${count(peak)}`;
  }

  venues(venues) {
    const list = clear(this.$("venues"));
    this.$("venues-empty").hidden = venues.length > 0;
    const most = Math.max(1, ...venues.map((v) => v.scans ?? 0));
    for (const venue of venues) {
      const fill = el("span", { class: "venue-fill" });
      fill.style.width = `${(100 * (venue.scans ?? 0)) / most}%`;
      list.append(el("li", {},
        el("button", {
          type: "button", class: "venue-row", dataset: { venueId: venue.venue_id },
          title: `Today's contact graph of ${venue.venue_id}`,
          onclick: () => this.openVenue(venue.venue_id, utcDay()),
        },
          el("span", { class: "venue-name" }, venue.name,
            venue.name !== venue.venue_id
              ? el("span", { class: "muted small" }, ` ${venue.venue_id}`) : null),
          el("span", { class: "venue-bar" }, fill),
          el("span", { class: "num" }, count(venue.scans)))));
    }
  }

  cases(open) {
    // Listed for authority tokens only; a dashboard token sees the counts.
    this.$("cases-panel").hidden = open.cases === null;
    if (open.cases === null) return;
    this.openCases = open;
    const shown = open.count !== null && open.cases.length < open.count
      ? ` · ${t("newest shown")}: ${open.cases.length}` : "";
    this.$("cases-note").textContent = `${count(open.count)} ${t("open")}${shown}`;
    this.casePage();
  }

  /** The open cases whose id contains the search text, a page of CASES_PER_PAGE at a time. */
  casePage(move = 0) {
    const open = this.openCases;
    if (!open) return;
    const wanted = this.$("cases-search").value.trim().toLowerCase();
    const found = open.cases.filter((c) => c.case_id.toLowerCase().includes(wanted));
    const pages = Math.max(1, Math.ceil(found.length / CASES_PER_PAGE));
    this.page = Math.min(Math.max(0, (wanted === this.searched ? this.page ?? 0 : 0) + move),
                         pages - 1);
    this.searched = wanted;
    const body = clear(this.$("cases").tBodies[0]);
    this.$("cases-empty").hidden = found.length > 0;
    this.$("cases-page").textContent = `${this.page + 1} / ${pages}`;
    this.$("cases-prev").disabled = this.page === 0;
    this.$("cases-next").disabled = this.page >= pages - 1;
    this.$("cases-pager").hidden = pages === 1;
    const start = this.page * CASES_PER_PAGE;
    for (const c of found.slice(start, start + CASES_PER_PAGE)) {
      const row = el("tr", {
        class: c.case_id === this.selectedCase ? "selected" : null,
        dataset: { caseId: c.case_id }, tabindex: "0",
        title: `Show the transmission chain of ${c.case_id}`,
        onclick: () => this.openCase(c.case_id),
        onkeydown: (event) => { if (event.key === "Enter") this.openCase(c.case_id); },
      },
        el("td", { class: "case-id" }, c.case_id),
        el("td", { class: "mono f0-col", title: c.person_id }, shortId(c.person_id)),
        el("td", {}, el("time", { datetime: c.reported_at, title: fullTime(c.reported_at) },
          localTime(c.reported_at))),
        el("td", { class: "num f1" }, count(c.f1)),
        el("td", { class: "num f2" }, count(c.f2) + (c.beyond_f2 ? ` +${c.beyond_f2}` : "")));
      body.append(row);
    }
  }

  select(caseId) {
    this.selectedCase = caseId;
    for (const row of this.$("cases").tBodies[0].rows) {
      row.classList.toggle("selected", row.dataset.caseId === caseId);
    }
  }
}
