// A venue's contact graph of a day (GET /v1/venues/{id}/graph) as a network: a small
// force-directed layout (d3-force's link, many-body and centring forces, brute force — the
// graphs drawn here are at most a few hundred people), rendered once into a scaled SVG.

import { t as tr } from "./i18n.js";
import {
  clear, count, degreeName, duration, el, fullTime, localHour, shortId, svg,
} from "./format.js";

export const MAX_DRAWN = 400;
// Past this many people a drawn graph is a solid disc: a timeline and a ranked table instead.
export const BUSY_NODES = 60;
const RANKED_SHOWN = 30;
const PALETTE = ["#2563eb", "#0d9488", "#9333ea", "#c2410c", "#4d7c0f", "#be185d", "#0369a1",
  "#a16207"];

/** Positions {x, y} for each node index; deterministic for the same input. */
export function forceLayout(nodeCount, edges, { iterations = 300, distance = 34 } = {}) {
  const x = new Float64Array(nodeCount);
  const y = new Float64Array(nodeCount);
  const vx = new Float64Array(nodeCount);
  const vy = new Float64Array(nodeCount);
  for (let i = 0; i < nodeCount; i += 1) {
    // d3's phyllotaxis start: spread evenly, no randomness.
    const radius = 10 * Math.sqrt(0.5 + i);
    const angle = i * Math.PI * (3 - Math.sqrt(5));
    x[i] = radius * Math.cos(angle);
    y[i] = radius * Math.sin(angle);
  }
  const degree = new Float64Array(nodeCount);
  for (const [s, t] of edges) { degree[s] += 1; degree[t] += 1; }
  const strength = edges.map(([s, t]) => 1 / Math.min(degree[s], degree[t]));
  const bias = edges.map(([s, t]) => degree[s] / (degree[s] + degree[t]));
  const charge = -40;
  const gravity = 0.08; // pulls separate clusters in, so they share the view
  const decay = 1 - Math.pow(0.001, 1 / iterations);
  let alpha = 1;
  for (let step = 0; step < iterations; step += 1) {
    alpha -= alpha * decay;
    edges.forEach(([s, t], j) => {
      let dx = x[t] + vx[t] - x[s] - vx[s] || 1e-6;
      let dy = y[t] + vy[t] - y[s] - vy[s] || 1e-6;
      const length = Math.sqrt(dx * dx + dy * dy);
      const pull = ((length - distance) / length) * alpha * strength[j];
      dx *= pull;
      dy *= pull;
      vx[t] -= dx * bias[j];
      vy[t] -= dy * bias[j];
      vx[s] += dx * (1 - bias[j]);
      vy[s] += dy * (1 - bias[j]);
    });
    for (let i = 0; i < nodeCount; i += 1) {
      for (let k = i + 1; k < nodeCount; k += 1) {
        const dx = x[k] - x[i] || 1e-6;
        const dy = y[k] - y[i];
        const d2 = Math.max(1, dx * dx + dy * dy);
        const w = (charge * alpha) / d2;
        vx[i] += dx * w;
        vy[i] += dy * w;
        vx[k] -= dx * w;
        vy[k] -= dy * w;
      }
      vx[i] -= x[i] * gravity * alpha;
      vy[i] -= y[i] * gravity * alpha;
    }
    for (let i = 0; i < nodeCount; i += 1) {
      vx[i] *= 0.6;
      vy[i] *= 0.6;
      x[i] += vx[i];
      y[i] += vy[i];
    }
  }
  return Array.from({ length: nodeCount }, (_, i) => ({ x: x[i], y: y[i] }));
}

/**
 * Draws `graph` into `container`; `chainDegrees` (person → degree of the open chain) rings the
 * case's people. Returns nothing; writes the figures into `summary` and node details into
 * `detail` on click.
 */
export function renderGraph(container, summary, detail, graph, chainDegrees) {
  clear(container);
  container.classList.remove("busy");
  detail.textContent = "";
  const f = graph.figures;
  summary.classList.toggle("muted", false);
  summary.textContent = `${graph.graph.venue_id} · ${graph.graph.day} (UTC) · `
    + `${count(f.people)} ${tr("people")}, ${count(f.pairs)} ${tr("pairs in contact")}, `
    + `${count(f.clusters)} ${tr(f.clusters === 1 ? "group" : "groups")} `
    + `(${tr("largest")} ${count(f.largest_cluster)})`;
  if (!graph.nodes.length) {
    container.append(el("p", { class: "muted empty" }, tr("No contacts at this venue that day.")));
    return;
  }
  if (graph.nodes.length > BUSY_NODES) {
    renderBusy(container, graph, chainDegrees);
    return;
  }
  // Clusters are numbered by size: drawing the first ones keeps whole clusters together.
  const nodes = [...graph.nodes].sort((a, b) => a.cluster - b.cluster).slice(0, MAX_DRAWN);
  const index = new Map(nodes.map((node, i) => [node.id, i]));
  const links = graph.links.filter((l) => index.has(l.source) && index.has(l.target));
  const at = forceLayout(nodes.length, links.map((l) => [index.get(l.source), index.get(l.target)]));

  const radius = (node) => Math.min(14, 4 + 1.6 * Math.sqrt(node.contacts));
  const xs = at.map((p) => p.x);
  const ys = at.map((p) => p.y);
  const margin = 24;
  const minX = Math.min(...xs) - margin;
  const minY = Math.min(...ys) - margin;
  const w = Math.max(...xs) - minX + margin;
  const h = Math.max(...ys) - minY + margin;
  const drawing = svg("svg", {
    viewBox: `${minX} ${minY} ${w} ${h}`, preserveAspectRatio: "xMidYMid meet",
    role: "img", "aria-label": `${tr("Contact graph of")} ${graph.graph.venue_id} · ${graph.graph.day}`,
    class: "graph-svg",
  });
  // In the page first (an empty panel is not displayed), then measured: text and strokes are
  // sized to look the same on screen whatever scale the view ends up drawn at.
  container.append(drawing);
  const box = drawing.getBoundingClientRect();
  const scale = Math.max(w / Math.max(box.width, 1), h / Math.max(box.height, 1), 0.25);
  const edgeLayer = svg("g", { class: "links" });
  const edges = links.map((link) => {
    const s = at[index.get(link.source)];
    const t = at[index.get(link.target)];
    const line = svg("line", {
      x1: s.x, y1: s.y, x2: t.x, y2: t.y,
      "stroke-width": Math.min(6, 0.8 + Math.log2(1 + link.weight / 900)) * Math.min(scale, 2),
    }, svg("title", {}, `${shortId(link.source)} – ${shortId(link.target)}: `
      + `${duration(link.weight)} ${tr("together")}`));
    edgeLayer.append(line);
    return { link, line };
  });
  const nodeLayer = svg("g", { class: "nodes" });
  // Names only where they help: the open chain's people, else the three most connected.
  const labelled = new Set(chainDegrees.size ? [] : [...nodes]
    .sort((a, b) => b.contacts - a.contacts).slice(0, 3).map((n) => n.id));
  nodes.forEach((node, i) => {
    const degree = chainDegrees.get(node.id);
    const known = degree !== undefined;
    const group = svg("g", {
      class: `gnode${known ? ` in-chain d${Math.min(degree, 3)}` : ""}`,
      transform: `translate(${at[i].x},${at[i].y})`, tabindex: "0",
      dataset: { person: node.id },
    },
      svg("title", {}, `${node.id}\n${node.contacts} ${tr("contacts")}, ${duration(node.exposure_s)}`
        + (known ? `\n${degreeName(degree)} ${tr("of the chain shown")}` : "")),
      svg("circle", {
        r: radius(node) * Math.min(scale, 2),
        fill: PALETTE[node.cluster % PALETTE.length],
        "stroke-width": (known ? 3 : 1.2) * Math.min(scale, 2),
      }));
    // Of the chain, F0 and F1 are named; F2 and beyond are ringed only, to keep it legible.
    if ((known && degree <= 1) || labelled.has(node.id)) {
      group.append(svg("text", {
        x: (radius(node) + 3) * Math.min(scale, 2), y: 4 * scale, "font-size": 11 * scale,
        "stroke-width": 3 * scale,
      }, `${known ? `${degreeName(degree)} ` : ""}${shortId(node.id)}`));
    }
    const show = () => {
      for (const other of nodeLayer.children) other.classList.toggle("selected", other === group);
      for (const { link, line } of edges) {
        line.classList.toggle("lit", link.source === node.id || link.target === node.id);
      }
      detail.textContent = `${shortId(node.id)}: ${count(node.contacts)} `
        + `${tr(node.contacts === 1 ? "person met" : "people met")}, ${duration(node.exposure_s)} `
        + `${tr("in contact")}${known ? ` · ${degreeName(degree)} ${tr("of the chain shown")}` : ""}`;
    };
    group.addEventListener("click", show);
    group.addEventListener("keydown", (event) => { if (event.key === "Enter") show(); });
    nodeLayer.append(group);
  });
  drawing.append(edgeLayer, nodeLayer);
  if (graph.nodes.length > nodes.length) {
    container.append(el("p", { class: "muted small" },
      `${tr("Showing the largest groups:")} ${count(nodes.length)} / ${count(graph.nodes.length)} `
      + `${tr("people")}. ${tr("The whole graph is at")} /v1/venues/{id}/graph.graphml.`));
  }
}

/**
 * Who was there with the case, and for how long: with its F0 where the F0 was at the venue,
 * else with the open chain's people there (the longest time with one of them). Returns
 * [{person, with, seconds}], longest first. Pure, on the graph's links.
 */
export function rankWithCase(links, chainDegrees, present = new Set()) {
  const f0 = [...chainDegrees].find(([, degree]) => degree === 0)?.[0];
  const anchors = f0 !== undefined && present.has(f0) ? new Set([f0]) : new Set(chainDegrees.keys());
  const ranked = new Map();
  const credit = (person, withWhom, seconds) => {
    const entry = ranked.get(person);
    if (!entry || seconds > entry.seconds) ranked.set(person, { person, with: withWhom, seconds });
  };
  for (const link of links) {
    if (anchors.has(link.source)) credit(link.target, link.source, link.weight);
    if (anchors.has(link.target)) credit(link.source, link.target, link.weight);
  }
  return [...ranked.values()].sort((a, b) => b.seconds - a.seconds || (a.person < b.person ? -1 : 1));
}

/** A busy venue-day: people present per 15 minutes, then who was with the case, longest first. */
function renderBusy(container, graph, chainDegrees) {
  const slots = graph.occupancy ?? [];
  const peak = Math.max(0, ...slots.map((s) => s.people));
  const bars = el("div", { class: "bars occupancy", role: "img",
    "aria-label": `${tr("People present per 15 minutes")}; ${tr("peak")} ${count(peak)}` });
  const axis = el("div", { class: "bars-axis occupancy-axis", "aria-hidden": "true" });
  slots.forEach((slot, index) => {
    const bar = el("div", { class: slot.people ? "bar" : "bar zero",
      title: `${fullTime(slot.start)}: ${count(slot.people)} ${tr("people present")}` });
    bar.style.height = `${Math.max(slot.people ? 3 : 1, (100 * slot.people) / Math.max(1, peak))}%`;
    bars.append(bar);
    // A label every 6 hours (24 slots) stays readable on a phone.
    if (index % 24 === 0) axis.append(el("span", {}, localHour(slot.start)));
  });
  const present = new Set(graph.nodes.map((node) => node.id));
  const ranked = rankWithCase(graph.links, chainDegrees, present).slice(0, RANKED_SHOWN);
  const rows = ranked.map((r, i) => {
    const degree = chainDegrees.get(r.person);
    const withDegree = chainDegrees.get(r.with);
    return el("tr", { dataset: { person: r.person } },
      el("td", { class: "num" }, String(i + 1)),
      el("td", { class: "mono", title: r.person },
        `${degree !== undefined ? `${degreeName(degree)} ` : ""}${shortId(r.person)}`),
      el("td", { class: "mono", title: r.with },
        `${withDegree !== undefined ? `${degreeName(withDegree)} ` : ""}${shortId(r.with)}`),
      el("td", { class: "num" }, duration(r.seconds)));
  });
  container.classList.add("busy");
  container.append(
    el("p", { class: "small muted busy-note" },
      `${tr("Too many people to draw")} (${count(graph.nodes.length)} > ${BUSY_NODES}): `
      + tr("people present per 15 minutes, and who was with the case's people, longest first.")),
    el("h3", {}, `${tr("People present per 15 minutes")} · ${tr("peak")} ${count(peak)}`),
    bars, axis,
    el("h3", {}, tr("With the case, longest first")),
    el("div", { class: "table-wrap" }, el("table", { class: "cases ranked" },
      el("thead", {}, el("tr", {},
        el("th", { scope: "col", class: "num" }, "#"),
        el("th", { scope: "col" }, tr("Person")),
        el("th", { scope: "col" }, tr("With")),
        el("th", { scope: "col", class: "num" }, tr("Time together")))),
      el("tbody", {}, ...rows))));
}
