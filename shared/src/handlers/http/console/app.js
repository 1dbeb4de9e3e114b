// The console's shell: configuration, sign-in, the header, the navigation and hash routing.

import { h, replace, errorText } from "./dom.js";
import { startSignIn, finishSignIn, storedToken, clearSession } from "./auth.js";
import { configureApi, request, SignedOut, entityPath } from "./api.js";
import { overviewView, eventsView, actionsView, salesforceView } from "./views.js";
import { settingsView } from "./settings.js";

const ENTITY_KEY = "zs.entity";
const main = document.getElementById("main");
const nav = document.getElementById("nav");
const navList = document.getElementById("nav-list");
const sessionBox = document.getElementById("session");

const state = {
  config: null,
  me: null,
  entity: null,
  salesforce: false,
  view: null, // {abort: AbortController}
  lastRoute: null,
};

const PAGES = [
  { name: "overview", label: "Overview", view: overviewView },
  { name: "events", label: "Events", view: eventsView },
  { name: "actions", label: "Actions", view: actionsView },
  { name: "salesforce", label: "Salesforce", view: salesforceView, when: () => state.salesforce },
  { name: "settings", label: "Settings", view: settingsView, when: () => isAdmin() },
];

function roles() {
  return (state.me && state.me.roles) || [];
}
function isAdmin() {
  return roles().includes("admin");
}
function canSync() {
  return isAdmin() || roles().includes("sync");
}

function setBusy(busy) {
  main.setAttribute("aria-busy", busy ? "true" : "false");
}

function stopView() {
  if (state.view) state.view.abort.abort();
  state.view = null;
}

// ---- signed out ----

function showSignIn(message) {
  stopView();
  state.me = null;
  sessionBox.hidden = true;
  nav.hidden = true;
  navList.replaceChildren();
  document.body.dataset.page = "signin";
  const button = h("button", { type: "button", class: "button button-primary", id: "signin" }, "Sign in");
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await startSignIn(state.config);
    } catch (e) {
      button.disabled = false;
      replace(msg, "Sign-in could not start: this browser lacks the crypto it needs.");
    }
  });
  const msg = h("p", { id: "signin-message", class: message ? "notice notice-bad" : "notice", role: "status" }, message || "");
  if (!message) msg.hidden = true;
  replace(
    main,
    h("section", { class: "signin card", "aria-labelledby": "signin-title" },
      h("h1", { id: "signin-title" }, "Sign in"),
      h("p", null, "Sign in to see sync status, search events, start syncs and manage settings."),
      msg,
      button,
      state.config && state.config.dev
        ? h("p", { class: "hint", id: "dev-note" }, "Local stack: the dev sign-in lets you choose roles.")
        : null,
    ),
  );
  setBusy(false);
}

function signOut(message) {
  clearSession();
  showSignIn(message);
}

// ---- signed in ----

function renderHeader() {
  replace(document.getElementById("who"), state.me.subject || "unknown");
  const r = roles();
  replace(document.getElementById("roles"), r.length ? `(${r.join(", ")})` : "(no roles)");
  const box = document.getElementById("entity-box");
  const entities = state.me.entities || [];
  if (entities.length > 1) {
    const select = h("select", { id: "entity", name: "entity" },
      entities.map((e) => h("option", { value: e, selected: e === state.entity }, e)));
    select.addEventListener("change", () => {
      state.entity = select.value;
      sessionStorage.setItem(ENTITY_KEY, state.entity);
      loadEntityInfo().then(() => route(true));
    });
    replace(box, h("label", { for: "entity" }, "Entity"), select);
  } else {
    replace(box, h("span", { class: "entity-name" }, "Entity: ", h("strong", { id: "entity-name" }, state.entity || "—")));
  }
  sessionBox.hidden = false;
}

function renderNav(current) {
  navList.replaceChildren();
  for (const p of PAGES) {
    if (p.when && !p.when()) continue;
    const a = h("a", { href: `#/${p.name}`, id: `nav-${p.name}` }, p.label);
    if (p.name === current) a.setAttribute("aria-current", "page");
    navList.appendChild(h("li", null, a));
  }
  nav.hidden = false;
}

/** Whether the entity has a Salesforce connection (decides the Salesforce nav item). */
async function loadEntityInfo() {
  state.salesforce = false;
  if (!state.entity) return;
  try {
    const res = await request("GET", entityPath(state.entity, "/status"));
    state.salesforce = !!(res.ok && res.body && res.body.salesforce);
  } catch (e) {
    if (!(e instanceof SignedOut)) throw e;
  }
}

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const q = raw.indexOf("?");
  const name = (q >= 0 ? raw.slice(0, q) : raw) || "overview";
  const params = new URLSearchParams(q >= 0 ? raw.slice(q + 1) : "");
  return { name, params };
}

function route(force) {
  if (!state.me || !canSync() || !state.entity) return;
  if (location.hash && !location.hash.startsWith("#/")) return; // e.g. the skip link
  const { name, params } = parseHash();
  const key = `${name}?${params.toString()}`;
  if (!force && key === state.lastRoute && state.view) return;
  const moved = state.lastRoute !== null && state.lastRoute.split("?")[0] !== name;
  state.lastRoute = key;
  stopView();
  renderNav(name);
  document.body.dataset.page = name;
  const abort = new AbortController();
  state.view = { abort };
  const page = PAGES.find((p) => p.name === name);
  setBusy(true);
  main.replaceChildren();
  const ctx = {
    entity: state.entity,
    me: state.me,
    admin: isAdmin(),
    config: state.config,
    params,
    signal: abort.signal,
    alive: () => !abort.signal.aborted,
    main,
    ready: () => { if (!abort.signal.aborted) setBusy(false); },
    rerender: () => route(true),
  };
  let done;
  if (!page) {
    main.append(h("h1", { tabindex: "-1" }, "Page not found"), h("p", null, h("a", { href: "#/overview" }, "Go to the overview")));
    done = Promise.resolve();
  } else if (name === "settings" && !isAdmin()) {
    main.append(h("h1", { tabindex: "-1" }, "Settings"), h("p", { class: "notice", id: "settings-denied" }, "Settings need the admin role."));
    done = Promise.resolve();
  } else {
    document.title = `${page.label} — Zuora sync console`;
    done = Promise.resolve().then(() => page.view(ctx));
  }
  done
    .catch((e) => {
      if (e instanceof SignedOut || (e && e.name === "AbortError")) return;
      if (ctx.alive()) main.append(h("p", { class: "notice notice-bad", role: "alert" }, `Something went wrong: ${e && e.message ? e.message : e}`));
    })
    .finally(() => {
      if (!ctx.alive()) return;
      ctx.ready();
      if (moved) {
        const h1 = main.querySelector("h1");
        if (h1) {
          h1.setAttribute("tabindex", "-1");
          h1.focus();
        }
      }
    });
}

async function startSession() {
  setBusy(true);
  let res;
  try {
    res = await request("GET", "/plugins/zuora/me");
  } catch (e) {
    if (e instanceof SignedOut) return;
    throw e;
  }
  if (res.status === 403) {
    // A valid token without the sync or admin role.
    nav.hidden = true;
    document.body.dataset.page = "no-access";
    replace(main, h("h1", null, "No access"), h("p", { class: "notice notice-warn", id: "no-access" }, "This account has no access to the console."));
    setBusy(false);
    return;
  }
  if (!res.ok) {
    replace(main, h("h1", null, "The console could not start"), h("p", { class: "notice notice-bad", role: "alert" }, errorText(res)),
      h("button", { type: "button", class: "button", onclick: () => signOut() }, "Sign out"));
    setBusy(false);
    return;
  }
  state.me = res.body || {};
  const entities = state.me.entities || [];
  const saved = sessionStorage.getItem(ENTITY_KEY);
  state.entity = entities.includes(saved) ? saved : entities[0] || null;
  renderHeader();
  if (!canSync()) {
    nav.hidden = true;
    document.body.dataset.page = "no-access";
    replace(main, h("h1", null, "No access"), h("p", { class: "notice notice-warn", id: "no-access" }, "This account has no access to the console."));
    setBusy(false);
    return;
  }
  if (!state.entity) {
    nav.hidden = true;
    replace(main, h("h1", null, "No entity"), h("p", { class: "notice notice-warn" }, "This account may not use any configured entity."));
    setBusy(false);
    return;
  }
  await loadEntityInfo();
  if (!state.me) return; // signed out meanwhile
  if (!location.hash.startsWith("#/")) history.replaceState(null, "", `${location.pathname}#/overview`);
  route(true);
}

async function boot() {
  document.getElementById("signout").addEventListener("click", () => signOut());
  document.getElementById("skip-link").addEventListener("click", (e) => {
    e.preventDefault();
    main.focus();
  });
  window.addEventListener("hashchange", () => route(false));
  try {
    // Next to this module, whether the page is served at `.../console` or `.../console/`.
    const res = await fetch(new URL("./config.json", import.meta.url), { cache: "no-store", credentials: "omit" });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    state.config = await res.json();
  } catch (e) {
    replace(main, h("h1", null, "The console could not start"), h("p", { class: "notice notice-bad", role: "alert" }, "The console configuration could not be loaded; reload the page to try again."));
    setBusy(false);
    return;
  }
  configureApi(state.config, (message) => signOut(message));
  const finished = await finishSignIn(state.config);
  if (finished.error) {
    clearSession();
    showSignIn(finished.error);
    return;
  }
  const { token, expired } = storedToken();
  if (!token) {
    showSignIn(expired ? "Your session expired; sign in again." : undefined);
    return;
  }
  await startSession();
}

boot();
