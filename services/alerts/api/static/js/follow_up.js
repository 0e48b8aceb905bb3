// An authority's follow-up view of a case (GET /v1/cases/{id}/contacts.json, audited): each
// contact with its degree, exposure, risk level, follow-up state and the end of its follow-up.
// The identifiers stay sealed: the call centre opens them with `truyvet contacts open`.

import { t } from "./i18n.js";
import { clear, degreeName, el, fullTime, localDay, localTime, shortId } from "./format.js";
import { LABELS as FUNNEL_LABELS } from "./funnel.js";

const RISK = { low: "low", medium: "medium", high: "high" };

export function renderFollowUp(table, summary, list) {
  const body = clear(table.tBodies[0]);
  const states = new Map();
  for (const c of list.contacts) {
    states.set(c.follow_up_state, (states.get(c.follow_up_state) ?? 0) + 1);
  }
  const byState = [...states].map(([s, n]) => `${n} ${t(FUNNEL_LABELS[s] ?? s)}`);
  summary.classList.remove("error");
  summary.classList.add("muted");
  summary.textContent = `${list.case_id} · ${list.contacts.length} ${t("contacts")}`
    + (byState.length ? ` · ${byState.join(", ")}` : "");
  for (const c of list.contacts) {
    body.append(el("tr", { dataset: { alertId: c.alert_id, state: c.follow_up_state,
                                      degree: String(c.degree) } },
      el("td", { class: "mono", title: c.person }, shortId(c.person)),
      el("td", { class: `deg d${Math.min(c.degree, 3)}` }, degreeName(c.degree)),
      el("td", {}, el("time", { datetime: c.exposed_at, title: fullTime(c.exposed_at) },
        localTime(c.exposed_at))),
      el("td", { class: `risk risk-${c.risk_level || "none"}` },
        c.risk_level ? t(RISK[c.risk_level] ?? c.risk_level) : "–"),
      el("td", { class: `state state-${c.follow_up_state}` },
        t(FUNNEL_LABELS[c.follow_up_state] ?? c.follow_up_state)),
      el("td", {}, el("time", { datetime: c.follow_up_until, title: fullTime(c.follow_up_until) },
        localDay(c.follow_up_until)))));
  }
  table.closest(".table-wrap").hidden = list.contacts.length === 0;
}
