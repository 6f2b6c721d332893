// Streams: the list with status and next run, and a stream's latest batch, its history,
// and Stop / Start.

import { api, session } from "./api.js";
import { h, fill, badge, when, count, plural, table, panel, alert, pageHead, toast, json, every } from "./ui.js";

const PAGE_SIZE = 50;
const REFRESH_MS = 5000;
const HISTORY_SIZE = 25;

export function render(main, parts, params) {
  return parts.length ? renderOne(main, parts[0]) : renderList(main, params);
}

function renderList(main, params) {
  const status = ["active", "stopped"].includes(params.get("status")) ? params.get("status") : "";
  const page = Math.max(1, Number(params.get("page")) || 1);
  const body = h("div", {});
  const link = (s, text) => h("a", { class: `button${s === status ? " primary" : ""}`, href: s ? `#/streams?status=${s}` : "#/streams" }, text);
  fill(main, pageHead("Streams", "Providers fetched on an interval; every run is kept as a batch.",
    link("", "All"), link("active", "Active"), link("stopped", "Stopped")), body);
  return every(REFRESH_MS, async () => {
    try {
      const list = await api("/v1/streams", { query: { status, page, pageSize: PAGE_SIZE } });
      const pages = Math.max(1, Math.ceil(list.total / PAGE_SIZE));
      const go = (n) => `#/streams?${new URLSearchParams({ ...(status ? { status } : {}), page: n })}`;
      // Every tenant's streams in one list: say whose each is.
      const tenant = session.allTenants ? [["Tenant", (s) => h("code", {}, s.tenantId)]] : [];
      fill(body, panel(null,
        table([
          ["Id", (s) => h("a", { href: `#/streams/${encodeURIComponent(s.id)}`, class: "mono" }, s.id)],
          ...tenant,
          ["Provider", (s) => h("strong", {}, s.provider)],
          ["Every", (s) => `${count(s.intervalSeconds)} s`, "num"],
          ["Status", (s) => badge(s.status)],
          ["Next run", (s) => when(s.nextRunAt)],
          ["Created", (s) => when(s.createdAt)],
        ], list.items, "No stream yet. Start one with POST /v1/streams."),
        h("div", { class: "pager" }, `Page ${page} of ${pages} · ${plural(list.total, "stream")}`,
          page > 1 ? h("a", { class: "button", href: go(page - 1) }, "← Previous") : null,
          page < pages ? h("a", { class: "button", href: go(page + 1) }, "Next →") : null)));
    } catch (error) {
      fill(body, alert("error", error.message));
    }
  });
}

function renderOne(main, id) {
  const head = h("div", {});
  const body = h("div", {});
  fill(main, h("p", {}, h("a", { href: "#/streams" }, "← Streams")), head, body);
  const path = `/v1/streams/${encodeURIComponent(id)}`;

  async function act(method, suffix, done) {
    try {
      await api(`${path}${suffix}`, { method });
      toast("ok", done);
      await load();
    } catch (error) {
      toast("error", error.message);
    }
  }

  async function load() {
    try {
      const stream = await api(path);
      const history = await api(`${path}/batches`, { query: { pageSize: HISTORY_SIZE } });
      // The newest complete run of the history is the latest batch; older ones are asked for.
      const newest = history.items.find((b) => b.status === "complete");
      const latest = newest
        ? { slot: newest.slot, fetchedAt: newest.finishedAt || newest.startedAt, data: newest.data }
        : history.total > history.items.length ? await api(`${path}/data`).catch(() => null) : null;
      const active = stream.status === "active";
      fill(head, pageHead(h("span", { class: "mono" }, stream.id), null,
        h("span", { id: "stream-status" }, badge(stream.status)),
        active
          ? h("button", { class: "danger", type: "button", onclick: () => act("DELETE", "", "Stream stopped.") }, "Stop")
          : h("button", { class: "primary", type: "button", onclick: () => act("POST", "/start", "Stream started.") }, "Start")));
      fill(body,
        h("div", { class: "grid" },
          panel("Stream", h("dl", { class: "facts" },
            h("dt", {}, "Tenant"), h("dd", {}, stream.tenantId),
            h("dt", {}, "Provider"), h("dd", {}, stream.provider),
            h("dt", {}, "Every"), h("dd", {}, `${count(stream.intervalSeconds)} s`),
            h("dt", {}, "Created"), h("dd", {}, when(stream.createdAt)),
            h("dt", {}, active ? "Next run" : "Stopped"), h("dd", {}, when(active ? stream.nextRunAt : stream.stoppedAt)))),
          panel("Latest batch", latest
            ? [h("p", { class: "muted small" }, "Slot ", when(latest.slot), " · fetched ", when(latest.fetchedAt)), json(latest.data)]
            : h("p", { class: "muted" }, "No complete batch yet."))),
        panel(`History · ${plural(history.total, "run")}`, table([
          ["Slot", (b) => when(b.slot)],
          ["Status", (b) => badge(b.status)],
          ["Reason", (b) => b.reason || "—"],
          ["Started", (b) => when(b.startedAt)],
          ["Finished", (b) => when(b.finishedAt)],
          ["Data", (b) => (b.data === undefined || b.data === null ? "—" : h("details", {}, h("summary", {}, "show"), json(b.data)))],
        ], history.items, "No run yet.")));
    } catch (error) {
      fill(body, alert("error", error.message));
    }
  }
  return every(REFRESH_MS, load);
}
