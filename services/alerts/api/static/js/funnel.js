// The follow-up funnel (GET /v1/follow-up/funnel): the open cases' contacts by follow-up
// state, counts only (a suppressed small count shows as count() shows one).

import { clear, count, el } from "./format.js";
import { t } from "./i18n.js";

export const LABELS = {
  new: "not yet reached", reached: "reached", unreachable: "unreachable",
  tested_negative: "tested negative", tested_positive: "tested positive",
  isolating: "isolating", released: "released",
};

export async function renderFunnel(api, list) {
  const funnel = await api.get("/v1/follow-up/funnel");
  clear(list);
  for (const [state, n] of Object.entries(funnel.states)) {
    list.append(el("li", { "data-state": state },
      el("span", { class: "funnel-count" }, count(n)), ` ${t(LABELS[state] ?? state)}`));
  }
}
