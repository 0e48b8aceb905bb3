// The transmission tree of a case (GET /v1/cases/{id}/chain), F0 at the left, drawn in SVG
// at its natural size (the panel scrolls) so labels stay readable on a phone.

import { clear, count, degreeName, el, fullTime, localTime, shortId, svg } from "./format.js";

const ROW = 34;
const PAD = 16;
const LABEL = 150;

/** x (depth) and y (row) of every node: leaves in order, each parent centred on its children. */
export function layoutTree(root) {
  const placed = [];
  let row = 0;
  let depth = 0;
  const visit = (node, level) => {
    depth = Math.max(depth, level);
    const below = (node.children ?? []).map((child) => visit(child, level + 1));
    const y = below.length ? (below[0].y + below[below.length - 1].y) / 2 : row++;
    const spot = { node, level, y, children: below };
    placed.push(spot);
    return spot;
  };
  const top = visit(root, 0);
  return { top, placed, rows: row, depth };
}

export function renderChain(container, summary, chain, { width }) {
  clear(container);
  const { top, placed, rows, depth } = layoutTree(chain.chain);
  const byDegree = {};
  for (const spot of placed) byDegree[spot.node.degree] = (byDegree[spot.node.degree] ?? 0) + 1;
  const parts = Object.keys(byDegree).sort().map((d) => `${count(byDegree[d])} ${degreeName(d)}`);
  summary.textContent = `${chain.case_id} · ${chain.status} · reported `
    + `${localTime(chain.reported_at)} · ${parts.join(", ")}`;
  summary.classList.toggle("muted", false);

  // Columns share what the panel has, within reason; beyond it the panel scrolls sideways.
  const column = depth ? Math.max(110, Math.min(220, (width - 2 * PAD - LABEL) / depth)) : 0;
  const x = (spot) => PAD + 8 + spot.level * column;
  const y = (spot) => PAD + spot.y * ROW + ROW / 2;
  const drawing = svg("svg", {
    width: PAD * 2 + depth * column + LABEL, height: PAD * 2 + rows * ROW,
    role: "img", "aria-label": `Transmission chain of ${chain.case_id}`, class: "chain-svg",
  });
  const links = svg("g", { class: "links" });
  const nodes = svg("g", { class: "nodes" });
  for (const spot of placed) {
    for (const child of spot.children) {
      const midX = (x(spot) + x(child)) / 2;
      links.append(svg("path", {
        d: `M${x(spot)},${y(spot)} C${midX},${y(spot)} ${midX},${y(child)} ${x(child)},${y(child)}`,
      }));
    }
    const node = spot.node;
    const tip = node.degree === 0
      ? `F0 ${node.person} — case ${chain.case_id}`
      : `${degreeName(node.degree)} ${node.person}\nexposed ${fullTime(node.exposed_at)}`
        + `${node.via ? `\nvia ${node.via}` : ""}\nat ${node.venue_ids.join(", ")}`;
    const when = node.exposed_at ? ` · ${localTime(node.exposed_at)}` : "";
    nodes.append(svg("g", {
      class: `node d${Math.min(node.degree, 3)}`, transform: `translate(${x(spot)},${y(spot)})`,
      dataset: { person: node.person, degree: String(node.degree) },
    },
      svg("title", {}, tip),
      svg("circle", { r: node.degree === 0 ? 9 : 7 }),
      svg("text", { x: 13, y: 4 }, `${degreeName(node.degree)} ${shortId(node.person)}${when}`)));
  }
  drawing.append(links, nodes);
  container.append(drawing);
  if (!top.children.length) {
    container.append(el("p", { class: "muted small" },
      chain.status === "withdrawn"
        ? "The case was withdrawn: its alerts were retracted."
        : "No close contacts found (yet): late scans can still add some."));
  }
  return new Map(placed.map((spot) => [spot.node.person, spot.node.degree]));
}
