// The console's shell: sign in, the navigation, and a page per `#/route`.

import { session, signIn, ApiError } from "./api.js";
import { h, fill, alert } from "./ui.js";
import * as overview from "./overview.js";
import * as webhooks from "./webhooks.js";
import * as streams from "./streams.js";
import * as counters from "./counters.js";
import * as providers from "./providers.js";
import * as receivers from "./receivers.js";

const PAGES = [
  { path: "overview", title: "Overview", page: overview },
  { path: "webhooks", title: "Webhooks", page: webhooks },
  { path: "streams", title: "Streams", page: streams },
  { path: "counters", title: "Counters", page: counters },
  { path: "providers", title: "Providers", page: providers },
  { path: "receivers", title: "Receivers", page: receivers },
];

const root = document.getElementById("app");
let stopPage = null;

/** `#/webhooks/ID?status=parked` → `{ parts: ["webhooks", "ID"], params }`. */
function route() {
  const hash = window.location.hash.replace(/^#\/?/, "");
  const [path, search = ""] = hash.split("?");
  return { parts: path.split("/").filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(search) };
}

function render() {
  if (stopPage) { stopPage(); stopPage = null; }
  root.classList.remove("loading");
  if (!session.signedIn) return renderSignIn();
  const { parts, params } = route();
  const current = PAGES.find((p) => p.path === parts[0]) || PAGES[0];
  document.title = `${current.title} · datahog console`;
  const main = h("main", { id: "main" });
  fill(root, h("div", { class: "shell" }, sidebar(current), main));
  const stop = current.page.render(main, parts.slice(1), params);
  stopPage = typeof stop === "function" ? stop : null;
}

function sidebar(current) {
  const nav = h("nav", { class: "nav", "aria-label": "Sections" },
    PAGES.map((p) => h("a", { href: `#/${p.path}`, class: p === current ? "active" : "" }, p.title)));
  return h("aside", { class: "side" }, h("div", { class: "side-inner" },
    h("div", { class: "brand" }, h("img", { src: "/console/favicon.svg", alt: "" }), "datahog"),
    nav,
    h("div", { class: "who" },
      session.role === "admin" ? tenantPicker() : h("span", { class: "role" }, "Signed in as tenant", h("strong", {}, session.tenant)),
      h("button", { type: "button", onclick: signOut }, "Sign out"))));
}

/** The admin key sees every tenant, or the one it picks. */
function tenantPicker() {
  const select = h("select", { "aria-label": "Tenant", onchange: (e) => { session.tenant = e.target.value; render(); } },
    h("option", { value: "" }, "All tenants"),
    session.tenants.map((t) => h("option", { value: t.id, selected: t.id === session.tenant }, `${t.name} (${t.id})`)));
  return h("label", { class: "role" }, "Admin · tenant", select);
}

function signOut() {
  session.signOut();
  document.getElementById("toasts")?.replaceChildren();
  window.location.hash = "#/";
  render();
}

function renderSignIn(message) {
  document.title = "Sign in · datahog console";
  const key = h("input", { id: "api-key", name: "api-key", type: "password", autocomplete: "off", spellcheck: "false", placeholder: "dh_…" });
  const status = h("div", {});
  const button = h("button", { class: "primary", type: "submit" }, "Sign in");
  const form = h("form", { class: "panel", novalidate: true },
    h("div", { class: "brand" }, h("img", { src: "/console/favicon.svg", alt: "" }), "datahog console"),
    h("p", {}, "Sign in with a tenant's API key to see its webhooks, streams and counters, or with the admin key to see every tenant's. The key is kept for this browser tab only."),
    h("p", { class: "muted small" }, "An open instance (no keys configured, as the embedded demo) takes an empty key: leave the field blank and sign in."),
    message ? alert("info", message) : null,
    h("label", { for: "api-key" }, "API key", key),
    status,
    button);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    fill(status);
    try {
      await signIn(key.value.trim());
      render();
    } catch (error) {
      const text = error instanceof ApiError && error.status === 401
        ? (key.value.trim() ? "That API key was not accepted. Check it and try again." : "This server needs an API key.")
        : error.message;
      fill(status, alert("error", text));
      button.disabled = false;
      key.select();
    }
  });
  fill(root, h("div", { class: "signin" }, form));
  key.focus();
}

/** A page whose key stopped working sends the user back to sign in. */
window.addEventListener("datahog:unauthorized", () => {
  session.signOut();
  if (stopPage) { stopPage(); stopPage = null; }
  renderSignIn("Your key is no longer accepted; sign in again.");
});

window.addEventListener("hashchange", render);
render();
