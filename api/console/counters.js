// Counters: search by key prefix; a counter's persisted, pending and total value; the
// flush's last run and lag.

import { api } from "./api.js";
import { h, fill, when, count, plural, seconds, millis, table, panel, alert, pageHead } from "./ui.js";

const PAGE_SIZE = 50;

export function render(main, parts, params) {
  const prefix = params.get("prefix") || "";
  const page = Math.max(1, Number(params.get("page")) || 1);
  const selected = params.get("key");
  const selectedTenant = params.get("tenant") || "";
  const search = h("input", { name: "prefix", value: prefix, placeholder: "page-views", autocomplete: "off" });
  const form = h("form", { class: "panel filters", role: "search" },
    h("label", {}, "Key starts with", search),
    h("div", { class: "actions" }, h("button", { class: "primary", type: "submit" }, "Search")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = search.value.trim();
    window.location.hash = value ? `#/counters?${new URLSearchParams({ prefix: value })}` : "#/counters";
  });
  const flush = h("div", {});
  const card = h("div", {});
  const list = h("div", {});
  fill(main, pageHead("Counters", "Increments are buffered and flushed to the database every few seconds."),
    form, h("div", { class: "grid" }, card, flush), list);

  api("/v1/stats").then((stats) => {
    const c = stats.counters;
    fill(flush, panel("Flush", h("dl", { class: "facts" },
      h("dt", {}, "Lag"), h("dd", {}, seconds(c.lagSeconds)),
      h("dt", {}, "Last flush"), h("dd", {}, when(c.lastFlushAt)),
      // Every tenant's counters: the operator's figure only.
      ...(c.lastFlushKeys === undefined ? [] : [h("dt", {}, "Counters in it"), h("dd", {}, count(c.lastFlushKeys))]),
      h("dt", {}, "Took"), h("dd", {}, millis(c.lastFlushDurationMs)))));
  }).catch((error) => fill(flush, alert("error", error.message)));

  const link = (c) => `#/counters?${new URLSearchParams({ ...(prefix ? { prefix } : {}), key: c.key, tenant: c.tenantId })}`;
  api("/v1/counters", { query: { prefix, page, pageSize: PAGE_SIZE } }).then((result) => {
    const pages = Math.max(1, Math.ceil(result.total / PAGE_SIZE));
    const go = (n) => `#/counters?${new URLSearchParams({ ...(prefix ? { prefix } : {}), page: n })}`;
    fill(list, panel(prefix ? `Counters starting with “${prefix}”` : "Counters",
      table([
        ["Key", (c) => h("a", { href: link(c), class: "mono" }, c.key)],
        ["Tenant", (c) => c.tenantId],
        ["Persisted", (c) => count(c.persisted), "num"],
        ["Flushed", (c) => when(c.persistedAt)],
      ], result.items, prefix ? "No flushed counter starts with this; one still buffered shows once flushed." : "No counter has been flushed yet."),
      h("div", { class: "pager" }, `Page ${page} of ${pages} · ${plural(result.total, "counter")}`,
        page > 1 ? h("a", { class: "button", href: go(page - 1) }, "← Previous") : null,
        page < pages ? h("a", { class: "button", href: go(page + 1) }, "Next →") : null)));
    const first = result.items[0];
    const exact = result.items.find((c) => c.key === prefix);
    const pick = selected ? { key: selected, tenantId: selectedTenant } : exact || (result.items.length === 1 ? first : null);
    if (pick) showCounter(card, pick.key, pick.tenantId);
    else fill(card, panel("Counter", h("p", { class: "muted" }, "Pick a counter to see its buffered increments and its value now.")));
  }).catch((error) => fill(list, alert("error", error.message)));
}

async function showCounter(card, key, tenant) {
  try {
    const c = await api(`/v1/counters/${encodeURIComponent(key)}`, { query: tenant ? { tenant } : {} });
    fill(card, panel(h("span", { class: "mono" }, c.key), h("div", { class: "tiles" },
      h("div", { class: "tile" }, h("div", { class: "label" }, "Persisted"), h("div", { class: "value" }, count(c.persisted))),
      h("div", { class: "tile" }, h("div", { class: "label" }, "Pending"), h("div", { class: "value" }, count(c.pending))),
      h("div", { class: "tile" }, h("div", { class: "label" }, "Total"), h("div", { class: "value" }, count(c.value)))),
    h("p", { class: "muted small" }, "Tenant ", c.tenantId, " · persisted total last changed ", when(c.persistedAt))));
  } catch (error) {
    fill(card, alert("error", error.message));
  }
}
