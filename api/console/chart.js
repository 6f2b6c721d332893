// The overview's chart: the last hour minute by minute, in plain SVG.

import { h } from "./ui.js";

const NS = "http://www.w3.org/2000/svg";
// The plot is drawn in a fixed coordinate space stretched to its box; labels are HTML
// beside it, so text never stretches with it.
const WIDTH = 600;
const HEIGHT = 180;

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  for (const child of children) el.append(child);
  return el;
}

/** A "nice" ceiling for the y axis. */
function ceiling(max) {
  if (max <= 4) return 4;
  const step = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * step >= max) return m * step;
  return max;
}

/**
 * Submitted webhooks as bars, delivered and failed attempts as lines, per minute;
 * `minutes` as `GET /v1/stats` gives them (oldest first).
 */
export function minuteChart(minutes) {
  const top = ceiling(Math.max(1, ...minutes.flatMap((m) => [m.submitted, m.delivered, m.failed])));
  const step = WIDTH / Math.max(1, minutes.length);
  const x = (i) => i * step + step / 2;
  const y = (v) => HEIGHT - (v / top) * (HEIGHT - 4);
  const root = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, preserveAspectRatio: "none", role: "img",
    "aria-label": "Submissions and deliveries per minute over the last hour" });
  for (const fraction of [0.5, 1]) {
    root.append(svg("line", { class: "grid-line", x1: 0, x2: WIDTH, y1: y(top * fraction), y2: y(top * fraction) }));
  }
  root.append(svg("line", { class: "axis", x1: 0, x2: WIDTH, y1: HEIGHT, y2: HEIGHT }));
  minutes.forEach((m, i) => {
    if (!m.submitted) return;
    const bar = svg("rect", { class: "submitted", x: x(i) - step * 0.35, width: step * 0.7, y: y(m.submitted), height: HEIGHT - y(m.submitted) });
    const tip = svg("title");
    tip.textContent = `${new Date(m.minute).toLocaleTimeString()}: ${m.submitted} submitted, ${m.delivered} delivered, ${m.failed} failed`;
    bar.append(tip);
    root.append(bar);
  });
  for (const series of ["delivered", "failed"]) {
    const points = minutes.map((m, i) => `${x(i).toFixed(1)},${y(m[series]).toFixed(1)}`).join(" ");
    root.append(svg("polyline", { class: series, points }));
  }
  const half = top / 2;
  return h("div", { class: "chart" },
    h("div", { class: "y", "aria-hidden": "true" },
      h("span", {}, top.toLocaleString()),
      h("span", {}, Number.isInteger(half) ? half.toLocaleString() : half.toFixed(1)),
      h("span", {}, "0")),
    root,
    h("div", { class: "x", "aria-hidden": "true" }, h("span", {}, "−60 min"), h("span", {}, "−30 min"), h("span", {}, "now")),
    h("div", { class: "legend" },
      h("span", { class: "submitted" }, "submitted"),
      h("span", { class: "delivered" }, "delivered"),
      h("span", { class: "failed" }, "failed attempts")));
}
