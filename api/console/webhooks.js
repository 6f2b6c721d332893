// Webhooks: the filtered list with keyset paging and bulk redelivery, and a webhook's page
// with what it waits on, its providers, callback body, attempt timeline and Redeliver.

import { api, session } from "./api.js";
import { h, fill, badge, when, count, millis, table, panel, alert, pageHead, toast, confirmDialog, json, every } from "./ui.js";
import { waitingFor, alarming } from "./flow.js";

const STATUSES = ["collecting", "delivering", "delivered", "parked"];
const PAGE_SIZES = ["25", "50", "100"];
const FILTERS = ["status", "provider", "callbackHost", "createdAfter", "createdBefore", "search"];
/** A webhook's page is read again this often while it is still moving. */
const DETAIL_REFRESH_MS = 2000;

export function render(main, parts, params) {
  return parts.length ? renderOne(main, parts[0]) : renderList(main, params);
}

/** `datetime-local` value (the reader's clock) → RFC 3339, and back. */
function toIso(local) { return local ? new Date(local).toISOString() : ""; }
function toLocal(iso) {
  if (!iso) return "";
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return "";
  return new Date(at.getTime() - at.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
}

function renderList(main, params) {
  const filter = Object.fromEntries(FILTERS.map((f) => [f, params.get(f) || ""]));
  const pageSize = PAGE_SIZES.includes(params.get("pageSize")) ? params.get("pageSize") : "25";
  const order = params.get("order") === "asc" ? "asc" : "desc";
  const cursors = [""];
  const result = h("div", {});
  const bulkArea = h("div", { class: "toolbar" });

  const input = (name, label, attrs = {}) => h("label", {}, label, h("input", { name, value: filter[name], ...attrs }));
  const select = (name, label, options, value) => h("label", {}, label,
    h("select", { name }, options.map(([v, text]) => h("option", { value: v, selected: v === value }, text))));
  const providerSelect = select("provider", "Provider", [["", "Any provider"]], filter.provider);
  api("/v1/providers").then((list) => {
    const el = providerSelect.querySelector("select");
    for (const p of list.items) el.append(h("option", { value: p.name, selected: p.name === filter.provider }, p.name));
  }).catch(() => {});

  const form = h("form", { class: "panel filters", role: "search" },
    input("search", "Id", { placeholder: "01J…", autocomplete: "off" }),
    select("status", "Status", [["", "Any status"], ...STATUSES.map((s) => [s, s])], filter.status),
    providerSelect,
    input("callbackHost", "Callback host", { placeholder: "example.com" }),
    h("label", {}, "Created from", h("input", { name: "createdAfter", type: "datetime-local", value: toLocal(filter.createdAfter) })),
    h("label", {}, "Created before", h("input", { name: "createdBefore", type: "datetime-local", value: toLocal(filter.createdBefore) })),
    select("order", "Order", [["desc", "Newest first"], ["asc", "Oldest first"]], order),
    select("pageSize", "Per page", PAGE_SIZES.map((s) => [s, s]), pageSize),
    h("div", { class: "actions" },
      h("button", { class: "primary", type: "submit" }, "Apply"),
      h("button", { type: "button", onclick: () => { window.location.hash = "#/webhooks"; } }, "Clear")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const next = new URLSearchParams();
    for (const [name, value] of data.entries()) {
      const text = String(value).trim();
      if (!text) continue;
      next.set(name, name === "createdAfter" || name === "createdBefore" ? toIso(text) : text);
    }
    window.location.hash = `#/webhooks?${next}`;
  });

  fill(main, pageHead("Webhooks", "Filter, search and page through every webhook; parked ones can be redelivered.", bulkArea), form, result);

  const query = (after) => ({ ...filter, pageSize, order, after });

  async function load(index) {
    try {
      const page = await api("/v1/webhooks", { query: query(cursors[index]) });
      if (page.nextAfter) cursors[index + 1] = page.nextAfter;
      fill(result, panel(null, listTable(page.items), pager(index, page)));
    } catch (error) {
      fill(result, alert("error", error.message));
    }
  }

  function pager(index, page) {
    const first = index * Number(pageSize) + 1;
    const last = index * Number(pageSize) + page.items.length;
    return h("div", { class: "pager" },
      page.items.length ? `${count(first)}–${count(last)}` : "",
      h("button", { type: "button", disabled: index === 0, onclick: () => load(index - 1) }, "← Previous"),
      h("button", { type: "button", disabled: !page.nextAfter, onclick: () => load(index + 1) }, "Next →"));
  }

  if (filter.status === "parked" || filter.status === "delivered") {
    fill(bulkArea, h("button", { class: "danger", type: "button", onclick: () => redeliverAll(filter, () => load(0)) }, "Redeliver all matching"));
  }
  load(0);
}

function listTable(items) {
  // Every tenant's webhooks in one list: say whose each is.
  const tenant = session.allTenants ? [["Tenant", (w) => h("code", {}, w.tenantId)]] : [];
  return table([
    ["Id", (w) => h("a", { href: `#/webhooks/${encodeURIComponent(w.id)}`, class: "mono" }, w.id)],
    ...tenant,
    ["Status", (w) => badge(w.status)],
    ["Callback", (w) => h("span", { title: w.callbackUrl }, w.callbackUrl), "url"],
    ["Created", (w) => when(w.createdAt)],
    ["Attempts", (w) => count(w.deliveryAttempts), "num"],
    ["Next run", (w) => (w.status === "delivering" || w.status === "collecting" ? when(w.nextRunAt) : "—")],
  ], items, "No webhook matches.");
}

/** Counts what the filter matches, asks, then redelivers it all. */
async function redeliverAll(filter, reload) {
  const body = {};
  for (const name of FILTERS) if (filter[name]) body[name] = filter[name];
  try {
    const dry = await api("/v1/webhooks/redeliver", { method: "POST", body: { ...body, dryRun: true } });
    if (!dry.matched) {
      toast("info", "No webhook matches this filter.");
      return;
    }
    const capped = dry.matched > dry.limit ? ` (the first ${count(dry.limit)} now; repeat for the rest)` : "";
    const ok = await confirmDialog(
      `Redeliver ${count(dry.matched)} webhook${dry.matched === 1 ? "" : "s"}?`,
      `Every ${filter.status} webhook matching the current filter gets one more delivery attempt, now${capped}.`,
      `Redeliver ${count(dry.matched)}`);
    if (!ok) return;
    const done = await api("/v1/webhooks/redeliver", { method: "POST", body });
    toast("ok", `${count(done.redelivered)} webhook${done.redelivered === 1 ? "" : "s"} queued for redelivery.`);
    reload();
  } catch (error) {
    toast("error", error.message);
  }
}

function renderOne(main, id) {
  const head = h("div", {});
  const body = h("div", {});
  fill(main, h("p", {}, h("a", { href: "#/webhooks" }, "← Webhooks")), head, body);
  let moving = true;
  let stop = null;
  const load = async () => {
    try {
      const w = await api(`/v1/webhooks/${encodeURIComponent(id)}`);
      moving = w.status === "collecting" || w.status === "delivering";
      fill(head, pageHead(h("span", { class: "mono" }, w.id), null,
        h("span", { id: "webhook-status" }, badge(w.status)),
        h("button", { class: "primary", type: "button", disabled: !(w.status === "parked" || w.status === "delivered"), onclick: () => redeliver(w.id) }, "Redeliver")));
      fill(body, ...detail(w));
    } catch (error) {
      fill(body, alert("error", error.message));
    }
  };
  async function redeliver(webhookId) {
    try {
      await api(`/v1/webhooks/${encodeURIComponent(webhookId)}/redeliver`, { method: "POST" });
      toast("ok", "Redelivery queued.");
      moving = true;
      await load();
    } catch (error) {
      toast("error", error.message);
    }
  }
  stop = every(DETAIL_REFRESH_MS, async () => { if (moving) await load(); });
  return () => stop();
}

function detail(w) {
  const d = w.delivery;
  // While it waits, its next run only checks again (a resume or a free place wakes it sooner).
  const next = w.waitingFor ? "Next check" : "Next attempt";
  const facts = panel("Webhook", h("dl", { class: "facts" },
    h("dt", {}, "Tenant"), h("dd", {}, w.tenantId),
    h("dt", {}, "Callback"), h("dd", {}, h("code", {}, w.callbackUrl)),
    ...(w.orderingKey === undefined ? [] : [h("dt", {}, "Ordering key"), h("dd", { id: "ordering-key" }, h("code", {}, w.orderingKey))]),
    h("dt", {}, "Outcome"), h("dd", {}, w.outcome ? badge(w.outcome === "completed" ? "complete" : "failed") : "—"),
    h("dt", {}, "Submitted"), h("dd", {}, when(w.createdAt)),
    h("dt", {}, "Deadline"), h("dd", {}, when(w.deadlineAt)),
    h("dt", {}, "Collected"), h("dd", {}, when(w.collectedAt)),
    h("dt", {}, "Delivered"), h("dd", {}, when(w.deliveredAt)),
    h("dt", {}, "Attempts"), h("dd", {}, `${d.attempts.length} of ${d.attemptLimit}`),
    h("dt", {}, next), h("dd", {}, when(d.nextAttemptAt))));

  const providers = panel("Providers", table([
    ["Provider", (p) => h("strong", {}, p.name)],
    ["Status", (p) => badge(p.status)],
    ["Requests", (p) => count(p.attempts), "num"],
    ["Last error", (p) => p.lastError || "—"],
    ["Fetched", (p) => when(p.fetchedAt)],
    ["Data", (p) => (p.data === undefined ? "—" : h("details", {}, h("summary", {}, "show"), json(p.data)))],
  ], w.providers));

  const callback = panel("Callback body", w.callbackBody ? json(w.callbackBody) : h("p", { class: "muted" }, "Not yet: the body is frozen when collection ends."));

  const items = d.attempts.map((a) => {
    const ok = a.statusCode >= 200 && a.statusCode < 300;
    const outcome = a.statusCode ? `HTTP ${a.statusCode}` : `${a.errorKind || "error"}${a.errorMessage ? `: ${a.errorMessage}` : ""}`;
    return h("li", { class: ok ? "ok" : "" },
      h("div", { class: "when" }, `#${a.number} · `, outcome),
      h("div", { class: "what" }, when(a.startedAt), ` · ${millis(a.durationMs)} · ${a.trigger}`),
      a.responseBody ? h("pre", {}, a.responseBody) : null);
  });
  if (d.nextAttemptAt) {
    items.push(h("li", { class: "next" }, h("div", { class: "when" }, next), h("div", { class: "what" }, when(d.nextAttemptAt))));
  }
  const timeline = panel("Delivery attempts", items.length ? h("ol", { class: "timeline", id: "attempts" }, items) : h("p", { class: "muted" }, "No attempt yet."));

  return [waitingLine(w), h("div", { class: "grid" }, facts, timeline), providers, callback];
}

/** While it waits on flow control: why and on what; in the warning colour when that is
 * paused or down. */
function waitingLine(w) {
  if (!w.waitingFor) return null;
  return h("div", { class: `alert ${alarming(w.waitingFor) ? "warn" : "info"} flow`, id: "waiting" }, waitingFor(w.waitingFor, w.waitingOn));
}
