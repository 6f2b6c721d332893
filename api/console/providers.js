// Providers: health, failures, cool-down and next probe; the operator's pause and limits,
// and the collections waiting on each. The admin key pauses, resumes and limits them.

import { api, session } from "./api.js";
import { h, fill, badge, when, count, table, panel, alert, pageHead, toast, every } from "./ui.js";
import { pause, limits, limitsText, waiting, limitsDialog } from "./flow.js";

const REFRESH_MS = 5000;

export function render(main) {
  const operator = session.role === "admin";
  const body = h("div", {});
  fill(main, pageHead("Providers", operator
    ? "Shared by every worker: a provider that is down is probed, not hammered; one paused (in maintenance) is not called, and its collections wait without spending attempts."
    : "Shared by every worker: a provider that is down is probed, not hammered; the operator may pause or limit one, and your collections then wait for it."), body);
  // A slower answer never replaces a newer one (a refresh and an action can cross).
  let latest = 0;
  async function load() {
    const mine = ++latest;
    try {
      const list = await api("/v1/providers");
      if (mine !== latest) return;
      fill(body, panel("Providers", providerTable(list.items, operator ? actions : null),
        h("p", { class: "muted small" }, "Waiting: ", operator ? "every tenant's" : "your", " collections held by a pause, a limit, the provider being down, or its asking to wait (busy).")));
    } catch (error) {
      if (mine === latest) fill(body, alert("error", error.message));
    }
  }

  // The operator's: Pause or Resume, and Set limits. The tenant picker narrows reads
  // only; these change the provider for every tenant.
  const actions = {
    async post(name, suffix, done) {
      try {
        const provider = await api(`/v1/providers/${encodeURIComponent(name)}${suffix}`, { method: "POST", query: { tenant: "" } });
        toast("ok", done(provider));
      } catch (error) {
        toast("error", error.message);
      }
      await load();
    },
    async limits(p) {
      const set = await limitsDialog(`Limits of ${p.name}`, p.limits || {}, (limits) =>
        api(`/v1/providers/${encodeURIComponent(p.name)}`, { method: "PUT", body: limits, query: { tenant: "" } }));
      if (!set) return;
      toast("ok", `Limits of ${set.name}: ${limitsText(set.limits)}.`);
      await load();
    },
  };
  return every(REFRESH_MS, load);
}

/** The providers; with `actions` (the admin key's), Pause or Resume and Set limits on each. */
function providerTable(items, actions) {
  const columns = [
    ["Provider", (p) => h("strong", {}, p.name)],
    ["Health", (p) => badge(p.health)],
    ["Failures in a row", (p) => count(p.consecutiveFailures), "num"],
    ["Down since", (p) => when(p.downSince)],
    ["Next probe", (p) => when(p.nextProbeAt)],
    ["Paused", (p) => pause(p)],
    ["Limits", (p) => limits(p.limits)],
    ["Waiting", (p) => waiting(p.waiting)],
  ];
  if (actions) {
    columns.push(["Actions", (p) => h("div", { class: "row-actions" },
      p.paused
        ? h("button", { class: "primary", type: "button", "aria-label": `Resume ${p.name}`,
          onclick: () => actions.post(p.name, "/resume", (now) => `${now.name} resumed: its waiting collections go again.`) }, "Resume")
        : h("button", { type: "button", "aria-label": `Pause ${p.name}`,
          onclick: () => actions.post(p.name, "/pause", (now) => `${now.name} paused: its collections wait, nothing is sent to it.`) }, "Pause"),
      h("button", { type: "button", "aria-label": `Set limits of ${p.name}`, onclick: () => actions.limits(p) }, "Set limits"))]);
  }
  columns.push(["Timeout", (p) => `${count(p.timeoutMs)} ms`, "num"]);
  // URLs (credentials redacted) are the admin key's only.
  if (items.some((p) => p.url !== undefined)) columns.push(["URL", (p) => h("code", {}, p.url ?? "—"), "url"]);
  return table(columns, items, "No provider is configured.");
}
