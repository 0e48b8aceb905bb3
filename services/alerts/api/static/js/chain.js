// The transmission tree of a case (GET /v1/cases/{id}/chain) as an indented tree in SVG:
// one row per person, F0 first, each F1's F2 under it. Rows never overlap, so it stays
// readable for hundreds of people and on a phone (the panel scrolls).

import { t } from "./i18n.js";
import { clear, count, degreeName, el, fullTime, localTime, shortId, svg } from "./format.js";

const ROW = 30;
const INDENT = 24;
const PAD = 14;
const CHAR = 7.2; // rough width of a 12px character, to size the drawing

/** Rows in pre-order: {node, depth, parent} where parent is the parent's row index. */
export function layoutTree(root) {
  const rows = [];
  const visit = (node, depth, parent) => {
    const index = rows.length;
    rows.push({ node, depth, parent });
    for (const child of node.children ?? []) visit(child, depth + 1, index);
  };
  visit(root, 0, null);
  return rows;
}

function venuesText(venueIds) {
  if (venueIds.length <= 2) return venueIds.join(", ");
  return `${venueIds.slice(0, 2).join(", ")} +${venueIds.length - 2}`;
}

function label(node, caseId) {
  if (node.degree === 0) return `F0 ${shortId(node.person)} · ${t("case")} ${caseId}`;
  return `${degreeName(node.degree)} ${shortId(node.person)} · ${localTime(node.exposed_at)}`
    + ` · ${venuesText(node.venue_ids)}`;
}

/** Draws `chain`; returns person → degree of everyone in it (to ring them in a graph). */
export function renderChain(container, summary, chain) {
  clear(container);
  const rows = layoutTree(chain.chain);
  const byDegree = new Map();
  for (const { node } of rows) byDegree.set(node.degree, (byDegree.get(node.degree) ?? 0) + 1);
  const parts = [...byDegree.keys()].sort((a, b) => a - b)
    .map((d) => `${count(byDegree.get(d))} ${degreeName(d)}`);
  summary.classList.remove("muted", "error");
  // "reported · reported 16:15" read twice: the status only when it says something more.
  const status = chain.status === "reported" ? "" : ` · ${t(chain.status)}`;
  summary.textContent = `${chain.case_id}${status} · ${t("reported")} `
    + `${localTime(chain.reported_at)} · ${parts.join(", ")}`;

  const x = (row) => PAD + 8 + row.depth * INDENT;
  const y = (index) => PAD + index * ROW + ROW / 2;
  const texts = rows.map((row) => label(row.node, chain.case_id));
  const width = Math.max(...rows.map((row, i) => x(row) + 16 + texts[i].length * CHAR)) + PAD;
  const drawing = svg("svg", {
    width: Math.ceil(width), height: PAD * 2 + rows.length * ROW, class: "chain-svg",
    role: "img", "aria-label": `${t("Transmission chain")} ${chain.case_id}: ${parts.join(", ")}`,
  });
  const links = svg("g", { class: "links" });
  const nodes = svg("g", { class: "nodes" });
  rows.forEach((row, index) => {
    const node = row.node;
    if (row.parent !== null) {
      const parent = rows[row.parent];
      links.append(svg("path", {
        d: `M${x(parent)},${y(row.parent) + 8} V${y(index)} H${x(row) - 8}`,
      }));
    }
    const tip = node.degree === 0
      ? `F0 ${node.person}\n${t("case")} ${chain.case_id}`
      : `${degreeName(node.degree)} ${node.person}\n${t("exposed")} ${fullTime(node.exposed_at)}`
        + `${node.via ? `\n${t("via")} ${node.via}` : ""}\n${t("at")} ${node.venue_ids.join(", ")}`;
    nodes.append(svg("g", {
      class: `node d${Math.min(node.degree, 3)}`, transform: `translate(${x(row)},${y(index)})`,
      dataset: { person: node.person, degree: String(node.degree) },
    },
      svg("title", {}, tip),
      svg("circle", { r: node.degree === 0 ? 8 : 6.5 }),
      svg("text", { x: 14, y: 4 }, texts[index])));
  });
  drawing.append(links, nodes);
  container.append(drawing);
  if (rows.length === 1) {
    container.append(el("p", { class: "muted small chain-note" },
      chain.status === "withdrawn"
        ? t("The case was withdrawn: its alerts were retracted.")
        : t("No close contacts found (yet): late scans can still add some.")));
  }
  return new Map(rows.map(({ node }) => [node.person, node.degree]));
}
