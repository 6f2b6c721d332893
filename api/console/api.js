// The console's only way out: the JSON API of this origin, with the signed-in key.
// The key lives in sessionStorage: it is gone when the browser session ends.

const KEY = "datahog.key";
const ROLE = "datahog.role";
const TENANT = "datahog.tenant";
const TENANTS = "datahog.tenants";

/** An answer other than 2xx, with the API's error code and its sentence. */
export class ApiError extends Error {
  constructor(status, body) {
    // Problem details carry `detail`; the older body carries `message`.
    const text = (body && (body.detail || body.message || body.title)) || `The API answered ${status}.`;
    super(text);
    this.status = status;
    this.code = (body && body.code) || null;
    this.body = body;
  }
}

/** Who is signed in. */
export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  get signedIn() { return sessionStorage.getItem(ROLE) !== null; },
  /** `admin` or `tenant`. */
  get role() { return sessionStorage.getItem(ROLE); },
  /** The tenant an admin has picked ("" for every tenant); a tenant key's own tenant. */
  get tenant() { return sessionStorage.getItem(TENANT) || ""; },
  set tenant(id) { sessionStorage.setItem(TENANT, id || ""); },
  /** Whether lists hold every tenant's items (an admin with no tenant picked). */
  get allTenants() { return this.role === "admin" && !this.tenant; },
  /** The tenants an admin can pick from. */
  get tenants() {
    try { return JSON.parse(sessionStorage.getItem(TENANTS) || "[]"); } catch { return []; }
  },
  signOut() {
    for (const name of [KEY, ROLE, TENANT, TENANTS]) sessionStorage.removeItem(name);
  },
};

/**
 * Checks `key` and signs in with it: a tenant's key sees its tenant, the admin key every
 * tenant (and may pick one). An empty key works where the server is open (the demo).
 */
export async function signIn(key) {
  const stats = await request("/v1/stats", { key });
  if (stats.tenantId) {
    sessionStorage.setItem(KEY, key);
    sessionStorage.setItem(ROLE, "tenant");
    sessionStorage.setItem(TENANT, stats.tenantId);
    sessionStorage.removeItem(TENANTS);
    return;
  }
  // No tenant in the answer: the figures were every tenant's, so this is the admin key.
  const tenants = await request("/v1/admin/tenants", { key, query: { pageSize: 100 } });
  sessionStorage.setItem(KEY, key);
  sessionStorage.setItem(ROLE, "admin");
  sessionStorage.setItem(TENANT, "");
  sessionStorage.setItem(TENANTS, JSON.stringify(tenants.items.map((t) => ({ id: t.id, name: t.name }))));
}

/**
 * Calls the API. `query` entries that are empty are left out; reads of an admin who
 * picked a tenant are narrowed to it (`?tenant=`).
 */
export async function api(path, { method = "GET", query = {}, body } = {}) {
  // A page's refresh may still be between two calls when its user signs out: the second
  // is not sent without a key (it would only be refused).
  if (!session.signedIn) throw new ApiError(401, { detail: "Signed out." });
  const q = { ...query };
  if (session.role === "admin" && session.tenant && !("tenant" in q)) q.tenant = session.tenant;
  try {
    return await request(path, { method, query: q, body, key: session.key });
  } catch (error) {
    if (error.status === 401) window.dispatchEvent(new Event("datahog:unauthorized"));
    throw error;
  }
}

async function request(path, { method = "GET", query = {}, body, key }) {
  const url = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  const headers = { Accept: "application/json" };
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, { message: "The API cannot be reached. Is the server running?" });
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { message: text }; }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/** Whether the server documents `path` (a route other releases may not have yet). */
export async function hasRoute(path) {
  const cacheKey = "datahog.routes";
  let paths = null;
  try { paths = JSON.parse(sessionStorage.getItem(cacheKey) || "null"); } catch { paths = null; }
  if (!paths) {
    try {
      const doc = await request("/api-docs/openapi.json", {});
      paths = Object.keys(doc.paths || {});
      sessionStorage.setItem(cacheKey, JSON.stringify(paths));
    } catch {
      paths = [];
    }
  }
  return paths.includes(path);
}
