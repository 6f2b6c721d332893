// Overview: webhooks and streams by status, the last hour, providers, receivers and the
// counter flush, what is paused or waiting, and for the operator the queues and workers;
// refreshed every few seconds.

import { api, hasRoute } from "./api.js";
import { minuteChart } from "./chart.js";
import { h, fill, badge, when, clock, seconds, millis, count, plural, table, panel, alert, pageHead, every } from "./ui.js";
import { receiverTable, controlTable } from "./receivers.js";
import { addWaiting, waitingTotal, reasonLabel, alarming } from "./flow.js";

/** How often the figures are read again. */
const REFRESH_MS = 5000;

export function render(main) {
  const updated = h("span", { class: "updated", "aria-live": "polite" }, "Loading…");
  const body = h("div", {});
  fill(main, pageHead("Overview", "Everything at a glance; refreshed every 5 seconds.", updated), body);
  let receivers = null;
  hasRoute("/v1/receivers").then((yes) => { receivers = yes; });
  return every(REFRESH_MS, async () => {
    try {
      const stats = await api("/v1/stats");
      const receiverList = receivers ? await api("/v1/receivers").catch(() => null) : null;
      fill(body, ...view(stats, receiverList));
      fill(updated, `Updated ${clock()}`);
    } catch (error) {
      fill(updated, alert("error", `Could not refresh: ${error.message}`));
    }
  });
}

/** Workers register once per queue as `<process>-<queue>-<restarts>`: one row per process. */
function workerProcesses(workers) {
  const byName = new Map();
  for (const w of workers) {
    const suffix = new RegExp(`-${w.queue.replace(/[^a-z0-9_]/gi, "")}-\\d+$`);
    const name = w.name.replace(suffix, "");
    const seen = byName.get(name) || { name, queues: [], lastSeen: w.lastSeen, alive: false };
    seen.queues.push(w.queue);
    if (w.lastSeen > seen.lastSeen) seen.lastSeen = w.lastSeen;
    seen.alive = seen.alive || w.alive;
    byName.set(name, seen);
  }
  return [...byName.values()];
}

function view(stats, receivers) {
  const hour = stats.lastHour;
  const tiles = h("div", { class: "tiles" },
    stats.webhooks.map((s) => h("a", { class: `tile ${s.status}`, href: `#/webhooks?status=${s.status}` },
      h("div", { class: "label" }, s.status),
      h("div", { class: "value" }, count(s.count)),
      h("div", { class: "sub" }, "webhooks"))),
    h("div", { class: "tile" },
      h("div", { class: "label" }, "Success rate"),
      h("div", { class: "value" }, hour.successRate === undefined ? "—" : `${(hour.successRate * 100).toFixed(1)}%`),
      h("div", { class: "sub" }, `${count(hour.delivered)} of ${plural(hour.attempts, "attempt")}, last hour`)),
    h("div", { class: "tile" },
      h("div", { class: "label" }, "Submit → callback"),
      h("div", { class: "value" }, millis(hour.p50Ms)),
      h("div", { class: "sub" }, `p50 · p99 ${millis(hour.p99Ms)} · ${count(hour.sampleSize)} delivered`)));

  const chart = panel("Last hour, per minute",
    h("p", { class: "muted small" }, `${count(hour.submitted)} submitted · ${count(hour.delivered)} delivered · ${count(hour.attempts - hour.delivered)} failed attempts`),
    minuteChart(hour.minutes));

  const streams = panel("Streams", table([
    ["Status", (s) => h("a", { href: `#/streams?status=${s.status}` }, s.status)],
    ["Streams", (s) => count(s.count), "num"],
  ], stats.streams));

  const providers = panel("Providers", table([
    ["Provider", (p) => h("strong", {}, p.name)],
    // A provider in maintenance is marked whatever its health.
    ["Health", (p) => [badge(p.health), p.paused ? [" ", badge("paused")] : null]],
    ["Failures", (p) => count(p.consecutiveFailures), "num"],
    ["Waiting", (p) => (waitingTotal(p.waiting) ? count(waitingTotal(p.waiting)) : "—"), "num"],
    ["Next probe", (p) => when(p.nextProbeAt)],
  ], stats.providers));

  const c = stats.counters;
  const flush = panel("Counter flush", h("dl", { class: "facts" },
    h("dt", {}, "Lag"), h("dd", {}, seconds(c.lagSeconds)),
    h("dt", {}, "Last flush"), h("dd", {}, when(c.lastFlushAt)),
    ...(c.lastFlushKeys === undefined ? [] : [h("dt", {}, "Counters in it"), h("dd", {}, count(c.lastFlushKeys))]),
    h("dt", {}, "Took"), h("dd", {}, millis(c.lastFlushDurationMs))));

  // The queues and workers are the operator's: a tenant's figures have none.
  const platform = stats.queues && stats.workers ? platformPanels(stats) : [];
  const sections = [flowLine(stats, receivers), tiles, chart, h("div", { class: "grid" }, ...platform, streams, providers, flush)];
  if (receivers && Array.isArray(receivers.items)) {
    const controls = receivers.controls || [];
    sections.push(h("div", { class: "grid" }, panel("Receivers", receiverTable(receivers.items),
      controls.length ? [h("h3", {}, "Hosts paused, limited or waited on"), controlTable(controls)] : null)));
  }
  return sections;
}

/**
 * What is paused and what waits, when anything does: "Paused: provider gas · 1 receiver
 * host", then "3 waiting without spending an attempt: receiver paused 2 · ordering key 1".
 * In the warning colour while something is paused or down, or webhooks wait on that;
 * waits for a limit, an ordering key or the tenant's turn alone are flow as usual.
 */
function flowLine(stats, receivers) {
  const controls = (receivers && receivers.controls) || [];
  const pausedProviders = stats.providers.filter((p) => p.paused).map((p) => p.name);
  const pausedHosts = controls.filter((c) => c.paused).length;
  const paused = [];
  if (pausedProviders.length) {
    paused.push(h("a", { href: "#/providers" }, `provider${pausedProviders.length === 1 ? "" : "s"} ${pausedProviders.join(", ")}`));
  }
  if (pausedHosts) paused.push(h("a", { href: "#/receivers" }, plural(pausedHosts, "receiver host")));
  const waiting = waitingByReason(stats, controls).filter((w) => w.count > 0);
  if (!paused.length && !waiting.length) return null;
  const total = waiting.reduce((sum, w) => sum + w.count, 0);
  const warn = paused.length || waiting.some((w) => alarming(w.reason));
  return h("div", { class: `alert ${warn ? "warn" : "info"} flow`, id: "flow" },
    paused.length ? h("div", {}, h("strong", {}, "Paused: "), joined(paused)) : null,
    waiting.length ? h("div", { id: "waiting" },
      h("strong", {}, `${count(total)} waiting`), " without spending an attempt: ",
      joined(waiting.map((w) => `${reasonLabel(w.reason)} ${count(w.count)}`))) : null);
}

/** The stats' `waiting`; an older server lacks it: its providers' and hosts' own counts. */
function waitingByReason(stats, controls) {
  if (Array.isArray(stats.waiting)) return stats.waiting.map((w) => ({ reason: w.reason, count: Number(w.count) || 0 }));
  const sum = addWaiting([...stats.providers.map((p) => p.waiting), ...controls.map((c) => c.waiting)]);
  return Object.entries(sum).map(([reason, n]) => ({ reason, count: n }));
}

/** "a · b · c". */
function joined(parts) {
  return parts.flatMap((part, i) => (i ? [" · ", part] : [part]));
}

/** The queues and the worker processes, as the operator's figures give them. */
function platformPanels(stats) {
  // A queue whose oldest due job waited past QUEUE_STALL_AFTER is wedged or unserved.
  const stalled = stats.queues.filter((q) => q.stalled).length;
  const queues = panel(stalled ? `Queues · ${stalled} stalled` : "Queues", table([
    ["Queue", (q) => h("code", {}, q.name)],
    ["Ready", (q) => count(q.ready), "num"],
    ["Scheduled", (q) => count(q.scheduled), "num"],
    ["Running", (q) => count(q.running), "num"],
    ["Oldest waiting", (q) => seconds(q.oldestReadySeconds), "num"],
    ["", (q) => badge(q.stalled ? "stalled" : "ok")],
  ], stats.queues));

  const processes = workerProcesses(stats.workers);
  const alive = processes.filter((w) => w.alive).length;
  const workers = panel(`Workers · ${plural(alive, "process")} alive`, table([
    ["Process", (w) => h("code", {}, w.name)],
    ["Queues", (w) => w.queues.join(", ")],
    ["Last heartbeat", (w) => when(w.lastSeen)],
    ["", (w) => badge(w.alive ? "alive" : "silent")],
  ], processes, "No worker has registered yet."));
  return [queues, workers];
}
