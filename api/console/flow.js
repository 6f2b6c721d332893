// Flow control as the pages show it: a provider's or a receiver host's pause, its limits,
// the webhooks waiting on it by reason, why one webhook waits, and the dialog that sets
// the limits.

import { h, fill, badge, when, count, alert } from "./ui.js";

/** Why webhooks wait, as `waiting` counts them; none of them spends an attempt. */
const REASONS = ["paused", "limit", "down", "busy"];

/** How many wait on something, for every reason. */
export function waitingTotal(waiting) {
  return waiting ? REASONS.reduce((sum, reason) => sum + (Number(waiting[reason]) || 0), 0) : 0;
}

/** "paused 2, limit 1": the reasons with something waiting. */
export function waitingReasons(waiting) {
  return REASONS.filter((reason) => waiting && waiting[reason]).map((reason) => `${reason} ${count(waiting[reason])}`).join(", ");
}

/** The sum of several `waiting` counts. */
export function addWaiting(list) {
  const sum = Object.fromEntries(REASONS.map((reason) => [reason, 0]));
  for (const waiting of list) for (const reason of REASONS) sum[reason] += Number(waiting?.[reason]) || 0;
  return sum;
}

/** "3 waiting: paused 2, limit 1", or a muted "none". */
export function waiting(counts) {
  const total = waitingTotal(counts);
  if (!total) return h("span", { class: "muted" }, "none");
  return h("span", { title: "Waiting without spending an attempt, by reason" }, `${count(total)} waiting: ${waitingReasons(counts)}`);
}

/**
 * Why one webhook waits (`waitingFor`), in plain words: a short label for the counts, and
 * the sentence its page shows with what it waits on (`waitingOn`). Listed as the API
 * lists them.
 */
const WAITING_FOR = {
  provider_down: ["provider down", (on) => ["provider ", code(on), " is down until its next probe"]],
  provider_limit: ["provider at its limit", (on) => ["provider ", code(on), " is at its limit"]],
  provider_paused: ["provider paused", (on) => ["provider ", code(on), " is paused"]],
  provider_busy: ["provider busy", (on) => ["provider ", code(on), " asked to be called later"]],
  receiver_down: ["receiver down", (on) => ["receiver ", code(on), " is down until its next probe"]],
  receiver_limit: ["receiver at its limit", (on) => ["receiver ", code(on), " is at its limit"]],
  receiver_paused: ["receiver paused", (on) => ["receiver ", code(on), " is paused"]],
  receiver_busy: ["receiver busy", (on) => ["receiver ", code(on), " asked to be called later"]],
  ordering: ["ordering key", (on) => ["an earlier webhook with ordering key ", code(on), " is not delivered or parked yet"]],
  turn: ["tenant's turn", (on) => ["its tenant ", code(on), " has its share of the queue already, so it waits its turn"]],
};

function code(text) {
  return text ? h("code", {}, text) : "—";
}

/** "receiver paused": a reason's short label (one a newer server added: its own name). */
export function reasonLabel(reason) {
  return WAITING_FOR[reason] ? WAITING_FOR[reason][0] : String(reason).replace(/_/g, " ");
}

/** Whether webhooks waiting for `reason` wait on something paused or down, which the
 * pages show in the warning colour (an older server's reasons have no side: "paused"). */
export function alarming(reason) {
  return /(^|_)(paused|down)$/.test(reason);
}

/** "Waiting without spending an attempt: receiver 127.0.0.1 is paused." */
export function waitingFor(reason, on) {
  const words = WAITING_FOR[reason] ? WAITING_FOR[reason][1](on) : [reasonLabel(reason), " ", code(on)];
  return ["Waiting without spending an attempt: ", ...words, "."];
}

/** "4 at once · 2.5/s", or "unlimited". */
export function limitsText(limits) {
  const parts = [];
  if (limits && limits.maxConcurrent !== undefined && limits.maxConcurrent !== null) parts.push(`${count(limits.maxConcurrent)} at once`);
  if (limits && limits.maxPerSecond !== undefined && limits.maxPerSecond !== null) parts.push(`${Number(limits.maxPerSecond).toLocaleString()}/s`);
  return parts.length ? parts.join(" · ") : "unlimited";
}

/** The limits, "unlimited" muted. */
export function limits(set) {
  const text = limitsText(set);
  return text === "unlimited" ? h("span", { class: "muted" }, text) : text;
}

/** A "paused" badge and since when, or a muted "no". */
export function pause(item) {
  if (!item.paused) return h("span", { class: "muted" }, "no");
  return h("span", { class: "since" }, badge("paused"), " since ", when(item.pausedAt));
}

/** The two limit inputs, filled with `current`; empty is unlimited. */
export function limitFields(current = {}) {
  return [
    h("label", {}, "Max at once",
      h("input", { name: "maxConcurrent", type: "number", min: 1, step: 1, inputmode: "numeric", placeholder: "unlimited", value: current.maxConcurrent ?? "" })),
    h("label", {}, "Max per second",
      h("input", { name: "maxPerSecond", type: "number", min: 0.01, step: "any", inputmode: "decimal", placeholder: "unlimited", value: current.maxPerSecond ?? "" })),
  ];
}

/** The limits typed in `form`'s limit inputs, as the API takes them (empty: left out). */
export function readLimits(form) {
  const limits = {};
  for (const name of ["maxConcurrent", "maxPerSecond"]) {
    const input = form.querySelector(`input[name="${name}"]`);
    if (input.validity.badInput) throw new Error(`${input.parentElement.firstChild.textContent}: enter a number, or nothing for unlimited.`);
    const text = input.value.trim();
    if (text) limits[name] = Number(text);
  }
  return limits;
}

/**
 * Asks for new limits in a modal dialog and calls `save(limits)` with them; an error it
 * throws is shown in the dialog, which stays open. Resolves to what `save` returned, or
 * null when cancelled.
 */
export function limitsDialog(title, current, save) {
  return new Promise((resolve) => {
    const status = h("div", {});
    const saveButton = h("button", { class: "primary", type: "submit" }, "Save limits");
    const cancel = h("button", { type: "button" }, "Cancel");
    const form = h("form", { class: "limits", novalidate: true },
      h("p", { class: "muted small" }, "Counted across every worker. Leave a field empty for no limit; what waits for a place spends no attempt."),
      ...limitFields(current),
      status,
      h("div", { class: "toolbar" }, cancel, saveButton));
    const dialog = h("dialog", { "aria-labelledby": "dialog-title" }, h("h2", { id: "dialog-title" }, title), form);
    const close = (answer) => { dialog.close(); dialog.remove(); resolve(answer); };
    cancel.addEventListener("click", () => close(null));
    dialog.addEventListener("cancel", (event) => { event.preventDefault(); close(null); });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      saveButton.disabled = true;
      fill(status);
      try {
        close(await save(readLimits(form)));
      } catch (error) {
        fill(status, alert("error", error.message));
        saveButton.disabled = false;
      }
    });
    document.body.append(dialog);
    dialog.showModal();
    form.querySelector("input").focus();
  });
}
