// The dashboard: asks for a token once (kept in this tab's sessionStorage), then shows what
// that token may read (GET /v1/whoami): the headline figures (counts only) for every reader; the
// open cases, a case's chain and the venue graphs that case touches for an authority; the live
// alert feed for a notifier.

import { AlertStream, Api, Unauthorized } from "./api.js";
import { renderChain } from "./chain.js";
import { Feed } from "./feed.js";
import { Figures } from "./figures.js";
import { renderFollowUp } from "./follow_up.js";
import { renderFunnel } from "./funnel.js";
import { configureFormats, timeZone, utcDay } from "./format.js";
import { applyLanguage, language, t } from "./i18n.js";
import { renderGraph } from "./graph.js";
import { renderVenueAlerts } from "./venue_alerts.js";

const TOKEN_KEY = "truyvet.dashboardToken";
const FIGURES_EVERY_MS = 30000;
// After a burst of alerts: once soon, and once more for stores that lag behind the stream
// (the worker publishes an alert before it writes the case's rows to ClickHouse).
const AFTER_ALERTS_MS = [1500, 6000];

const $ = (id) => document.getElementById(id);

class Dashboard {
  constructor(token) {
    this.api = new Api(token);
    this.chainCase = null;
    this.chainDegrees = new Map();
    this.graphShown = null;
    this.timers = [];
    this.feed = new Feed(
      { list: $("feed"), empty: $("feed-empty"), counter: $("feed-count") },
      { openCase: (id) => this.openCase(id), openVenue: (id, day) => this.openVenue(id, day) });
    this.figures = new Figures(document,
      { openCase: (id) => this.openCase(id), openVenue: (id, day) => this.openVenue(id, day) });
    this.stream = new AlertStream(this.api, {
      onEvent: (event) => this.onStreamEvent(event),
      onStatus: (status, detail) => showStreamStatus(status, detail),
      onUnauthorized: () => signOut(t("The token was refused. Enter a valid token.")),
    });
  }

  async start() {
    try {
      this.access = await this.api.get("/v1/whoami"); // also proves the token
    } catch (error) {
      this.failed(error, $("activity-note"));
      return;
    }
    // Times in the deployment's zone (TRUYVET_TIMEZONE), not the viewing machine's.
    configureFormats({ zone: this.access.timezone, language });
    showZone();
    showAccess(this.access);
    if (this.access.aggregates) await this.refreshFigures();
    if (this.access.stream) this.stream.start();
    this.timers.push(setInterval(() => {
      this.refreshFigures();
      if (this.chainCase) this.openCase(this.chainCase, false);
    }, FIGURES_EVERY_MS));
  }

  stop() {
    this.stream.stop();
    for (const timer of this.timers) clearInterval(timer);
    for (const timer of this.soon ?? []) clearTimeout(timer);
  }

  onStreamEvent(event) {
    if (event.type === "alert") {
      const alert = JSON.parse(event.data);
      this.feed.apply(alert);
      // Counts and the open chain follow the feed, a moment later, once per burst of alerts.
      this.refreshSoon(alert.case_id);
    } else if (event.type === "undecodable") {
      this.feed.undecodable(JSON.parse(event.data));
    }
  }

  refreshSoon(caseId) {
    this.touchedCases = this.touchedCases ?? new Set();
    this.touchedCases.add(caseId);
    for (const timer of this.soon ?? []) clearTimeout(timer);
    const touched = this.touchedCases;
    this.soon = AFTER_ALERTS_MS.map((delay, i) => setTimeout(() => {
      if (i === AFTER_ALERTS_MS.length - 1) this.touchedCases = new Set();
      this.refreshFigures();
      if (this.chainCase && touched.has(this.chainCase)) this.openCase(this.chainCase, false);
    }, delay));
  }

  async refreshFigures() {
    if (!this.access?.aggregates) return;
    try {
      this.figures.render(await this.api.get("/v1/figures"));
      $("funnel-panel").hidden = false;
      await renderFunnel(this.api, $("funnel"));
      renderVenueAlerts($("venue-alerts"), await this.api.get("/v1/venue-alerts"));
      $("venue-alerts-panel").hidden = false;
    } catch (error) {
      this.failed(error, $("activity-note"));
    }
  }

  async openCase(caseId, scroll = true) {
    caseId = caseId.trim();
    if (!caseId || !this.access?.cases) return;
    // A venue-day graph is read for the case that touches it: another case, another graph.
    if (this.chainCase !== caseId && this.graphShown) {
      this.graphShown = null;
      $("graph").replaceChildren();
      $("graph-detail").textContent = "";
      $("graph-summary").textContent = t("Pick a venue and a UTC day to see who met whom.");
    }
    this.chainCase = caseId;
    $("chain-case").value = caseId;
    this.figures.select(caseId);
    const summary = $("chain-summary");
    summary.classList.remove("error");
    if (scroll) $("chain-panel").scrollIntoView({ behavior: "smooth", block: "start" });
    try {
      const chain = await this.api.get(`/v1/cases/${encodeURIComponent(caseId)}/chain`);
      if (this.chainCase !== caseId) return; // another case was picked meanwhile
      this.chainDegrees = renderChain($("chain"), summary, chain);
      if (this.graphShown) this.openVenue(...this.graphShown, false);
    } catch (error) {
      $("chain").replaceChildren();
      this.failed(error, summary);
      this.followUpCase = null;
      $("follow-up").closest(".table-wrap").hidden = true;
      $("follow-up-summary").textContent = "";
      return;
    }
    // The contact list is an audited read: read when a case is picked, not on every refresh.
    if (scroll || this.followUpCase !== caseId) await this.openFollowUp(caseId);
  }

  async openFollowUp(caseId) {
    this.followUpCase = caseId;
    const summary = $("follow-up-summary");
    try {
      const list = await this.api.get(`/v1/cases/${encodeURIComponent(caseId)}/contacts.json`);
      if (this.chainCase !== caseId) return;
      renderFollowUp($("follow-up"), summary, list);
    } catch (error) {
      this.failed(error, summary);
    }
  }

  async openVenue(venueId, day, scroll = true) {
    venueId = venueId.trim();
    if (!venueId || !day || !this.access?.cases) return;
    $("graph-venue").value = venueId;
    $("graph-day").value = day;
    this.graphShown = [venueId, day];
    const summary = $("graph-summary");
    summary.classList.remove("error");
    if (scroll) $("graph-panel").scrollIntoView({ behavior: "smooth", block: "start" });
    if (!this.chainCase) {
      // A venue-day graph is read for a case that touches it, in that case's ids.
      summary.textContent = t("Open a case first: its venue-days can be shown.");
      return;
    }
    try {
      const graph = await this.api.get(`/v1/venues/${encodeURIComponent(venueId)}/graph`,
        { date: day, case: this.chainCase });
      if (this.graphShown[0] !== venueId || this.graphShown[1] !== day) return;
      renderGraph($("graph"), summary, $("graph-detail"), graph, this.chainDegrees);
    } catch (error) {
      $("graph").replaceChildren();
      this.failed(error, summary);
    }
  }

  failed(error, where) {
    if (error instanceof Unauthorized) {
      signOut(t("The token was refused. Enter a valid token."));
      return;
    }
    where.classList.remove("muted");
    where.textContent = error.message;
    where.classList.add("error");
  }
}

const MAY_SEE = {
  dashboard: "Signed in as dashboard: counts only, small counts shown as <5; no person.",
  authority: "Signed in as authority: counts, open cases, chains and the venue graphs a case " +
    "touches; persons in each case's own ids; every read is audited.",
  notifier: "Signed in as notifier: the live alert feed.",
  admin: "Signed in as admin: counts only.",
};

function showAccess(access) {
  const note = MAY_SEE[access.role] ?? `Signed in as ${access.role}.`;
  $("access-note").textContent = t(note);
  $("feed-panel").hidden = !access.stream;
  $("stream-status").hidden = !access.stream;
  for (const id of ["summary", "activity-panel"]) $(id).hidden = !access.aggregates;
  if (!access.aggregates) $("venue-alerts-panel").hidden = true;
  for (const id of ["cases-panel", "chain-panel", "follow-up-panel", "graph-panel"]) {
    $(id).hidden = !access.cases;
  }
}

function showStreamStatus(status, detail) {
  const pill = $("stream-status");
  const labels = {
    connecting: "connecting…", live: "live", reconnecting: "reconnecting…", stopped: "offline",
  };
  pill.textContent = t(labels[status] ?? status);
  pill.className = `pill pill-${status === "live" ? "on" : status === "stopped" ? "off" : "wait"}`;
  pill.title = detail ? `Alert stream: ${detail}` : "Alert stream";
}

let dashboard = null;

function signIn(token) {
  $("sign-in").hidden = true;
  $("dashboard").hidden = false;
  $("sign-out").hidden = false;
  dashboard = new Dashboard(token);
  dashboard.start();
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  dashboard?.stop();
  dashboard?.feed.clear();
  dashboard = null;
  $("dashboard").hidden = true;
  $("sign-out").hidden = true;
  $("sign-in").hidden = false;
  const error = $("token-error");
  error.hidden = !message;
  error.textContent = message ?? "";
  $("token").value = "";
  $("token").focus();
}

function showZone() {
  $("zone").textContent = `${t("times in")} ${timeZone}`;
}

function switchLanguage(lang) {
  applyLanguage(lang);
  configureFormats({ language: lang });
  showZone();
  if (dashboard) {
    if (dashboard.access) showAccess(dashboard.access);
    dashboard.refreshFigures();
    if (dashboard.chainCase) {
      dashboard.followUpCase = null; // drawn again in the new language
      dashboard.openCase(dashboard.chainCase, false);
    }
  }
}

function init() {
  applyLanguage(language);
  configureFormats({ language });
  showZone();
  $("language").addEventListener("click", () => switchLanguage(language === "vi" ? "en" : "vi"));
  $("graph-day").value = utcDay();
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("token").value.trim();
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    signIn(token);
  });
  $("sign-out").addEventListener("click", () => signOut());
  $("chain-form").addEventListener("submit", (event) => {
    event.preventDefault();
    dashboard?.openCase($("chain-case").value);
  });
  $("graph-form").addEventListener("submit", (event) => {
    event.preventDefault();
    dashboard?.openVenue($("graph-venue").value, $("graph-day").value);
  });
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) signIn(token);
  else signOut();
}

init();
