// The console's frame: sign-in, the admin API client, roles, the router and a DOM helper.
// Plain ES modules, no build step: what the browser runs is what is in the repository.
import { PAGES } from "./pages.js";

const TOKEN = "switchyard.token";

// h("tag.class", {attr: value, onclick: fn}, ...children): text is always set as text, never
// parsed as HTML, so nothing the API returns can become markup.
export function h(spec, attrs, ...children) {
  const [tag, ...classes] = spec.split(".");
  const el = document.createElement(tag || "div");
  if (classes.length) el.className = classes.join(" ");
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export class ApiError extends Error {
  constructor(status, message, code) { super(message); this.status = status; this.code = code; }
}

// One request to the gateway with the signed-in credential; JSON in and out.
export async function api(path, { method = "GET", body, raw = false } = {}) {
  const headers = { authorization: `Bearer ${sessionStorage.getItem(TOKEN) || ""}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`, code;
    try {
      const error = (await response.json()).error || {};
      message = error.message || message; code = error.code || error.type;
    } catch (_) { /* not JSON */ }
    throw new ApiError(response.status, message, code);
  }
  if (raw) return response;
  const type = response.headers.get("content-type") || "";
  return type.includes("json") ? response.json() : response.text();
}

// What the signed-in role may do (the API checks again on every call; this only hides controls).
export const session = {
  who: null,
  manages(kind) {
    const role = this.who && this.who.role;
    if (role === "owner") return true;
    if (role === "admin") return kind !== "tenant";
    if (role === "team_admin") return kind === "key" || kind === "user";
    return false;
  },
  readsGateway() { return ["owner", "admin", "viewer"].includes(this.who && this.who.role); },
};

function signOut() {
  sessionStorage.removeItem(TOKEN);
  session.who = null;
  location.hash = "#/signin";
  render();
}

function signInPage(main, message) {
  const field = h("input", { type: "password", id: "credential", autocomplete: "off",
                             placeholder: "sk-… master key, virtual key or OIDC token" });
  const form = h("form.card.signin", {
    onsubmit: async (event) => {
      event.preventDefault();
      sessionStorage.setItem(TOKEN, field.value.trim());
      try {
        session.who = await api("/admin/whoami");
        location.hash = "#/overview";
        render();
      } catch (error) {
        sessionStorage.removeItem(TOKEN);
        signInPage(main, error.message);
      }
    },
  },
    h("h1", {}, "Sign in"),
    h("p.muted", {}, "The master key signs in as owner; an OIDC token (governance.oidc) with its role; a virtual key " +
      "reads its own key and spend. The credential stays in this tab only."),
    message ? h("p.error", { role: "alert" }, message) : null,
    h("label", { for: "credential" }, "Credential"), field,
    h("button", { type: "submit", id: "signin" }, "Sign in"));
  main.replaceChildren(form);
  field.focus();
}

function navigation(current) {
  const nav = document.getElementById("nav");
  nav.replaceChildren(...PAGES.filter((page) => !page.gateway || session.readsGateway()).map((page) =>
    h("a", { href: `#/${page.path}`, class: page.path === current ? "here" : null }, page.title)));
  const who = session.who;
  document.getElementById("who").replaceChildren(
    h("span", { id: "role" }, `${who.role} · ${who.subject}`),
    h("button.quiet", { id: "signout", onclick: signOut }, "Sign out"));
}

// Parses "#/page?a=1&b=2" into the page and its parameters.
export function route() {
  const [path, query] = (location.hash.replace(/^#\/?/, "") || "overview").split("?");
  return { path, params: new URLSearchParams(query || "") };
}

export function go(path, params) {
  const query = params ? new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "" && v != null)).toString() : "";
  location.hash = `#/${path}${query ? "?" + query : ""}`;
}

async function render() {
  const main = document.getElementById("main");
  if (!sessionStorage.getItem(TOKEN)) {
    document.getElementById("nav").replaceChildren();
    document.getElementById("who").replaceChildren();
    return signInPage(main);
  }
  if (!session.who) {
    try { session.who = await api("/admin/whoami"); } catch (error) {
      sessionStorage.removeItem(TOKEN);  // no longer valid (revoked, rotated, expired)
      return signInPage(main, error.message);
    }
  }
  const { path, params } = route();
  const page = PAGES.find((p) => p.path === path) || PAGES[0];
  navigation(page.path);
  const body = h("section", { id: `page-${page.path}` }, h("h1", {}, page.title));
  main.replaceChildren(body);
  try {
    await page.render(body, params);
  } catch (error) {
    body.append(h("p.error", { role: "alert" }, error.message));
  }
  body.dataset.ready = "true";  // the page has every figure it asked for
}

window.addEventListener("hashchange", render);
render();
