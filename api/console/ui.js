// Small DOM helpers: elements are built from data, never from HTML strings, so nothing the
// API returns can become markup.

/** An element: `h("a", { href: "#/" }, "text", child)`. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A coloured state. */
export function badge(state) {
  const text = state === undefined || state === null ? "—" : String(state);
  return h("span", { class: `badge ${text.replace(/[^a-z_]/gi, "")}` }, text.replace(/_/g, " "));
}

const dateTime = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
});
const timeOnly = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });

/** A time as the reader's clock shows it (the time of day alone when it is today), with
 * how long ago (or until) and the exact time in its tooltip. */
export function when(iso) {
  if (!iso) return h("span", { class: "muted" }, "—");
  const at = new Date(iso);
  const today = at.toDateString() === new Date().toDateString();
  return h("time", { datetime: iso, title: `${relative(at)} · ${iso}` }, today ? timeOnly.format(at) : dateTime.format(at));
}

/** "1 webhook", "3 webhooks". */
export function plural(n, word) {
  const many = word.endsWith("s") ? `${word}es` : `${word}s`;
  return `${count(n)} ${n === 1 ? word : many}`;
}

/** A time of day. */
export function clock(at = new Date()) {
  return timeOnly.format(at);
}

/** "3 min ago", "in 20 s". */
export function relative(at) {
  const seconds = Math.round((at.getTime() - Date.now()) / 1000);
  const size = Math.abs(seconds);
  const text = size < 60 ? `${size} s` : size < 3600 ? `${Math.round(size / 60)} min` : size < 86400 ? `${Math.round(size / 3600)} h` : `${Math.round(size / 86400)} d`;
  return seconds >= 0 ? `in ${text}` : `${text} ago`;
}

/** A duration in seconds, short. */
export function seconds(value) {
  if (value === undefined || value === null) return "—";
  if (value < 1) return `${Math.round(value * 1000)} ms`;
  if (value < 120) return `${value.toFixed(1)} s`;
  if (value < 7200) return `${Math.round(value / 60)} min`;
  return `${(value / 3600).toFixed(1)} h`;
}

/** Milliseconds, short. */
export function millis(value) {
  return value === undefined || value === null ? "—" : seconds(value / 1000);
}

/** A count with thousands separators. */
export function count(value) {
  return value === undefined || value === null ? "—" : Number(value).toLocaleString();
}

/** A table; `columns` are `[heading, cell(row), className?]`. */
export function table(columns, rows, emptyText = "Nothing here yet.") {
  if (!rows.length) return h("div", { class: "empty" }, emptyText);
  return h("div", { class: "table-wrap" },
    h("table", {},
      h("thead", {}, h("tr", {}, columns.map(([title, , cls]) => h("th", { class: cls }, title)))),
      h("tbody", {}, rows.map((row) => h("tr", {}, columns.map(([, cell, cls]) => h("td", { class: cls }, cell(row))))))));
}

/** A panel with a heading. */
export function panel(title, ...children) {
  return h("section", { class: "panel" }, title ? h("h2", {}, title) : null, ...children);
}

/** Pretty JSON in a block. */
export function json(value) {
  return h("pre", {}, JSON.stringify(value, null, 2));
}

/** A message in the page. */
export function alert(kind, text) {
  return h("div", { class: `alert ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

/** A message in the corner that goes away by itself. */
export function toast(kind, text) {
  let stack = document.getElementById("toasts");
  if (!stack) {
    stack = h("div", { id: "toasts", class: "toasts" });
    document.body.append(stack);
  }
  const el = h("div", { class: `alert ${kind}`, role: "status" }, text);
  stack.append(el);
  setTimeout(() => el.remove(), 5000);
}

/** Asks a yes/no question in a modal dialog; resolves to the answer. */
export function confirmDialog(title, text, confirmLabel) {
  return new Promise((resolve) => {
    const yes = h("button", { class: "danger", type: "button" }, confirmLabel);
    const no = h("button", { type: "button" }, "Cancel");
    const dialog = h("dialog", { "aria-labelledby": "dialog-title" },
      h("h2", { id: "dialog-title" }, title),
      h("p", {}, text),
      h("div", { class: "toolbar" }, no, yes));
    const close = (answer) => { dialog.close(); dialog.remove(); resolve(answer); };
    yes.addEventListener("click", () => close(true));
    no.addEventListener("click", () => close(false));
    dialog.addEventListener("cancel", () => close(false));
    document.body.append(dialog);
    dialog.showModal();
    yes.focus();
  });
}

/** The page's heading, with what it shows and room for actions. */
export function pageHead(title, subtitle, ...actions) {
  return h("div", { class: "page-head" },
    h("div", {}, h("h1", {}, title), subtitle ? h("p", {}, subtitle) : null),
    h("div", { class: "toolbar" }, ...actions));
}

/** Calls `load` now and every `ms` until the returned stop function is called. */
export function every(ms, load) {
  let stopped = false;
  let timer = null;
  const tick = async () => {
    if (stopped) return;
    try { await load(); } finally {
      if (!stopped) timer = setTimeout(tick, ms);
    }
  };
  tick();
  return () => { stopped = true; clearTimeout(timer); };
}
