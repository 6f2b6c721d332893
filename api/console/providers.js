// Providers (and callback receivers, where the server has them): health, failures,
// cool-down and next probe.

import { api, hasRoute } from "./api.js";
import { h, fill, badge, when, count, table, panel, alert, pageHead, every } from "./ui.js";

const REFRESH_MS = 5000;

export function render(main) {
  const body = h("div", {});
  fill(main, pageHead("Providers", "Shared by every worker: a provider that is down is probed, not hammered."), body);
  let receivers = null;
  hasRoute("/v1/receivers").then((yes) => { receivers = yes; });
  return every(REFRESH_MS, async () => {
    try {
      const list = await api("/v1/providers");
      const sections = [panel("Providers", providerTable(list.items))];
      if (receivers) {
        const hosts = await api("/v1/receivers").catch(() => null);
        if (hosts && Array.isArray(hosts.items)) {
          sections.push(panel("Receivers", h("p", { class: "muted small" }, "Callback hosts, with their own failing → down → probe cycle."), receiverTable(hosts.items)));
        }
      }
      fill(body, ...sections);
    } catch (error) {
      fill(body, alert("error", error.message));
    }
  });
}

function providerTable(items) {
  const columns = [
    ["Provider", (p) => h("strong", {}, p.name)],
    ["Health", (p) => badge(p.health)],
    ["Failures in a row", (p) => count(p.consecutiveFailures), "num"],
    ["Down since", (p) => when(p.downSince)],
    ["Next probe", (p) => when(p.nextProbeAt)],
    ["Timeout", (p) => `${count(p.timeoutMs)} ms`, "num"],
  ];
  // URLs (credentials redacted) are the admin key's only.
  if (items.some((p) => p.url !== undefined)) columns.push(["URL", (p) => h("code", {}, p.url ?? "—"), "url"]);
  return table(columns, items);
}

/** Receivers as the server describes them: the known fields first, any others after. */
export function receiverTable(items) {
  const known = ["host", "health", "state", "consecutiveFailures", "downSince", "nextProbeAt"];
  const extra = [...new Set(items.flatMap((r) => Object.keys(r)))].filter((k) => !known.includes(k));
  const cell = (value) => (typeof value === "string" && /^\d{4}-\d\d-\d\dT/.test(value) ? when(value) : typeof value === "object" && value !== null ? JSON.stringify(value) : value ?? "—");
  return table([
    ["Host", (r) => h("strong", {}, r.host ?? "—")],
    ["Health", (r) => badge(r.health ?? r.state)],
    ["Failures in a row", (r) => count(r.consecutiveFailures), "num"],
    ["Down since", (r) => when(r.downSince)],
    ["Next probe", (r) => when(r.nextProbeAt)],
    ...extra.map((k) => [k, (r) => cell(r[k])]),
  ], items, "No receiver has failed yet.");
}
