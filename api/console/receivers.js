// Receivers: the callback hosts a tenant paused or limited, or that its deliveries wait on,
// with Pause, Resume and limits for the tenant's key (the admin key reads every tenant's);
// and the hosts' circuits with failures on record.

import { api, session } from "./api.js";
import { h, fill, badge, when, count, table, panel, alert, pageHead, toast, every } from "./ui.js";
import { pause, limits, limitsText, waiting, limitFields, readLimits, limitsDialog } from "./flow.js";

const REFRESH_MS = 5000;

export function render(main) {
  const operator = session.role === "admin";
  const hosts = h("div", {});
  const circuits = h("div", {});
  // A slower answer never replaces a newer one (a refresh and an action can cross).
  let latest = 0;
  async function load() {
    const mine = ++latest;
    try {
      const list = await api("/v1/receivers");
      if (mine !== latest) return;
      fill(hosts, panel("Hosts", controlTable(list.controls || [], operator ? null : actions)));
      fill(circuits, panel("Circuits",
        h("p", { class: "muted small" }, "Callback hosts with failures on record, with their own failing → down → probe cycle; one not listed is up."),
        receiverTable(list.items || [])));
    } catch (error) {
      if (mine === latest) {
        fill(hosts, alert("error", error.message));
        fill(circuits);
      }
    }
  }

  // A tenant's: its own deliveries to a host, held or limited across every worker.
  const path = (host) => `/v1/receivers/${encodeURIComponent(host)}`;
  const actions = {
    /** Pause or resume; true when it worked. */
    async post(host, suffix, done) {
      let ok = false;
      try {
        toast("ok", done(await api(`${path(host)}${suffix}`, { method: "POST" })));
        ok = true;
      } catch (error) {
        toast("error", error.message);
      }
      await load();
      return ok;
    },
    /** Sets limits; true when it worked. */
    async put(host, body) {
      let ok = false;
      try {
        const set = await api(path(host), { method: "PUT", body });
        toast("ok", `Limits of ${set.host}: ${limitsText(set.limits)}.`);
        ok = true;
      } catch (error) {
        toast("error", error.message);
      }
      await load();
      return ok;
    },
    async limits(c) {
      const set = await limitsDialog(`Limits of ${c.host}`, c.limits || {}, (body) => api(path(c.host), { method: "PUT", body }));
      if (!set) return;
      toast("ok", `Limits of ${set.host}: ${limitsText(set.limits)}.`);
      await load();
    },
  };

  fill(main, pageHead("Receivers", operator
    ? "Every tenant's callback hosts: what each paused or limited, and what waits on them. Read only: a tenant's key changes its own."
    : "Your callback hosts: pause deliveries to one, or limit them across every worker; what waits spends no attempt."),
  operator ? null : addForm(actions), hosts, circuits);
  return every(REFRESH_MS, load);
}

/** Pauses or limits a host that has nothing set yet (or any other, by name). */
function addForm(actions) {
  const host = h("input", { name: "host", placeholder: "hooks.example.com", autocomplete: "off", spellcheck: "false", autocapitalize: "off" });
  const form = h("form", { class: "filters", novalidate: true },
    h("label", {}, "Host", host),
    ...limitFields(),
    h("div", { class: "actions" },
      h("button", { class: "primary", type: "submit" }, "Set limits"),
      h("button", { type: "button", onclick: () => go("pause") }, "Pause host")));
  async function go(what) {
    const name = host.value.trim();
    if (!name) {
      toast("error", "Enter a host name or address, such as hooks.example.com.");
      host.focus();
      return;
    }
    let done;
    if (what === "pause") {
      done = await actions.post(name, "/pause", (c) => `Deliveries to ${c.host} paused.`);
    } else {
      let body;
      try { body = readLimits(form); } catch (error) { toast("error", error.message); return; }
      done = await actions.put(name, body);
    }
    if (done) form.reset();
  }
  form.addEventListener("submit", (event) => { event.preventDefault(); go("limits"); });
  return panel("Add a host",
    h("p", { class: "muted small" }, "A host name or address (a callback URL works too: its scheme, port and path are left out). Empty limits are unlimited."),
    form);
}

/** The hosts' settings; with `actions` (a tenant's), Pause or Resume and Set limits on each. */
export function controlTable(items, actions = null) {
  const columns = [["Host", (c) => h("strong", {}, c.host)]];
  // Every tenant's hosts in one list: say whose each is.
  if (items.some((c) => c.tenant !== undefined)) columns.push(["Tenant", (c) => h("code", {}, c.tenant ?? "—")]);
  columns.push(
    ["Paused", (c) => pause(c)],
    ["Limits", (c) => limits(c.limits)],
    ["Waiting", (c) => waiting(c.waiting)]);
  if (actions) {
    columns.push(["Actions", (c) => h("div", { class: "row-actions" },
      c.paused
        ? h("button", { class: "primary", type: "button", "aria-label": `Resume ${c.host}`,
          onclick: () => actions.post(c.host, "/resume", (now) => `Deliveries to ${now.host} resumed.`) }, "Resume")
        : h("button", { type: "button", "aria-label": `Pause ${c.host}`,
          onclick: () => actions.post(c.host, "/pause", (now) => `Deliveries to ${now.host} paused.`) }, "Pause"),
      h("button", { type: "button", "aria-label": `Set limits of ${c.host}`, onclick: () => actions.limits(c) }, "Set limits"))]);
  }
  return table(columns, items, actions
    ? "No host is paused or limited, and no delivery waits on one."
    : "No tenant has paused or limited a host, and no delivery waits on one.");
}

/** Receiver circuits as the server describes them: the known fields first, any others after. */
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
