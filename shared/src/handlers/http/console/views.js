// The pages: overview (status and the syncs chart), events, actions and the Salesforce
// failure list. Everything is built with h()/s(); data is only ever set as text.

import { h, s, replace, uid, absTime, timeEl, duration, num, badge, tableWrap, dl, errorText, setFieldError } from "./dom.js";
import { request, entityPath, query, newCorrelationId, SignedOut } from "./api.js";

const MODE_LABELS = { none: "On demand (real-time sync off)", on_demand: "On demand", scheduled: "Scheduled", realtime: "Real time" };
const FRESHNESS_LABELS = { fresh: "Fresh", late: "Late", error: "Error", not_tracked: "Not tracked" };
const TRIGGERS = ["api", "on_demand", "manual", "hot_sync", "realtime", "sweep", "full", "salesforce_push"];
const STATUSES = ["queued", "running", "succeeded", "failed", "skipped", "coalesced"];
const MAX_CONSOLE_ACCOUNTS = 8;

function pageHeader(title, ctx, extra) {
  return h("div", { class: "page-head" },
    h("h1", null, title),
    h("p", { class: "page-entity" }, "Entity ", h("strong", null, ctx.entity)),
    extra || null);
}

/** Sleeps `ms` unless the view is left first (then rejects with AbortError). */
function pause(ms, signal) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => { clearTimeout(t); reject(new DOMException("left", "AbortError")); }, { once: true });
  });
}

function correlationLine(corr) {
  return h("p", { class: "meta" }, "Correlation id: ", h("code", { class: "correlation" }, corr));
}

function eventLink(eventId, filters) {
  const q = new URLSearchParams(filters || {});
  q.set("watch", eventId);
  return h("a", { href: `#/events?${q.toString()}`, class: "event-link", "data-event-link": eventId }, eventId);
}

// ======================================================================================
// Overview
// ======================================================================================

let overviewDetailsOpen = false;

export async function overviewView(ctx) {
  const statusBox = h("div", { id: "overview-status" }, h("p", { class: "loading" }, "Loading the status…"));
  const chartBox = h("section", { id: "overview-chart", class: "card", "aria-labelledby": "chart-title" },
    h("h2", { id: "chart-title" }, "Syncs in the last 24 hours"), h("p", { class: "loading" }, "Loading the chart…"));
  const updated = h("p", { class: "meta", id: "overview-updated", "aria-live": "off" });
  ctx.main.append(pageHeader("Overview", ctx, updated), statusBox, chartBox);

  const loadStatus = async () => {
    const res = await request("GET", entityPath(ctx.entity, "/status"), { signal: ctx.signal });
    if (!ctx.alive()) return;
    if (!res.ok) {
      replace(statusBox, h("p", { class: "notice notice-bad", role: "alert" }, errorText(res, "The status could not be loaded")));
      return;
    }
    renderStatus(statusBox, res.body || {});
    replace(updated, `Updated ${absTime(Date.now())}; refreshes every 10 s.`);
  };
  const loadChart = async () => {
    const res = await request("GET", entityPath(ctx.entity, "/stats/syncs?hours=24"), { signal: ctx.signal });
    if (!ctx.alive()) return;
    const title = chartBox.querySelector("h2");
    if (!res.ok) {
      replace(chartBox, title, h("p", { class: "notice notice-bad" }, errorText(res, "The sync statistics could not be loaded")));
      return;
    }
    replace(chartBox, title, syncChart(res.body || {}));
  };

  await Promise.all([loadStatus(), loadChart()]);
  ctx.ready();
  // Refresh every 10 s while the page is visible.
  (async () => {
    for (;;) {
      await pause(10_000, ctx.signal);
      if (document.visibilityState !== "visible") continue;
      try {
        await Promise.all([loadStatus(), loadChart()]);
      } catch (e) {
        if (e instanceof SignedOut || e.name === "AbortError") return;
      }
    }
  })().catch(() => {});
}

function renderStatus(box, st) {
  const freshness = st.freshness || null;
  const sections = [];

  // Sync state
  const lastOk = st.last_success_at;
  sections.push(h("section", { class: "card", "aria-labelledby": "sync-title" },
    h("h2", { id: "sync-title" }, "Sync"),
    dl([
      ["Mode", h("span", { id: "mode", "data-mode": st.mode }, MODE_LABELS[st.mode] || String(st.mode))],
      ["Freshness", freshness
        ? h("span", { id: "freshness-box" }, h("span", { id: "freshness" }, badge(freshness, FRESHNESS_LABELS[freshness] || freshness)))
        : null],
      ["Last successful sync", st.last_success_at !== undefined
        ? h("span", { id: "last-success" }, lastOk ? timeEl(lastOk, { relative: true }) : "None recorded")
        : null],
      ["Data changes waiting", num(st.changes)],
      ["Threshold", `${num(st.max_events_before_sync)} events or ${num(st.max_minutes_between_syncs)} minutes`],
    ]),
    h("p", { id: "status-message", class: "status-message" }, st.message || ""),
  ));

  // Last session
  const sess = st.last_session;
  const sessBody = [];
  if (!sess) {
    sessBody.push(h("p", null, "No sync session has run yet."));
  } else {
    const done = (sess.succeeded || 0) + (sess.failed || 0) + (sess.skipped || 0);
    sessBody.push(dl([
      ["Session", h("code", null, sess.id)],
      ["Trigger", String(sess.trigger).replace(/_/g, " ")],
      ["Status", badge(sess.status)],
      ["Started", timeEl(sess.started_at, { relative: true })],
      ["Finished", sess.finished_at ? timeEl(sess.finished_at, { relative: true }) : null],
      ["Accounts", `${num(done)} of ${num(sess.total)}${sess.enumerating ? "+" : ""}`],
      ["Succeeded", num(sess.succeeded)],
      ["Failed", num(sess.failed)],
      ["Skipped", num(sess.skipped)],
      ["Records written", num(sess.written)],
    ]));
    if (sess.status === "running") {
      const pid = uid("progress");
      const max = Math.max(sess.total || 0, done, 1);
      sessBody.push(h("div", { class: "progress-row" },
        h("label", { for: pid }, "Progress"),
        h("progress", { id: pid, max: String(max), value: String(done) }, `${done} of ${sess.total}`),
        h("span", { class: "meta" }, `${num(done)} of ${num(sess.total)} accounts`),
        sess.enumerating ? h("span", { class: "meta", id: "enumerating" }, " — still listing accounts") : null));
    }
    if (sess.failures && sess.failures.length) {
      sessBody.push(h("h3", null, `Failures (${sess.failures.length})`),
        h("ul", { class: "failures" }, sess.failures.slice(0, 50).map((f) => h("li", null, f))));
    }
  }
  sections.push(h("section", { class: "card", id: "last-session", "aria-labelledby": "session-title" },
    h("h2", { id: "session-title" }, "Last session"), sessBody));

  // Queue
  if (st.queue) {
    const q = st.queue;
    const dead = q.dead_letter;
    sections.push(h("section", { class: "card", id: "queue", "aria-labelledby": "queue-title" },
      h("h2", { id: "queue-title" }, "Queue"),
      dl([
        ["Waiting", num(q.waiting)],
        ["In flight", num(q.in_flight)],
        ["Delayed", num(q.delayed)],
        ["Dead letter", dead === null || dead === undefined ? "not known" : num(dead)],
      ]),
      dead > 0 ? h("p", { class: "notice notice-warn", id: "dead-letter-warning" },
        badge("failed", "Attention"), ` ${num(dead)} message${dead === 1 ? "" : "s"} in the dead-letter queue: jobs that failed every retry.`) : null,
    ));
  }

  // Salesforce
  if (st.salesforce) {
    const sf = st.salesforce;
    const ps = sf.status || {};
    const usage = ps.api_usage || sf.usage || null;
    const reason = ps.pause_reason || sf.reason || null;
    const until = ps.paused_until || sf.paused_until || null;
    let meter = null;
    if (usage && usage.max > 0) {
      const mid = uid("meter");
      meter = h("div", { class: "progress-row" },
        h("label", { for: mid }, "API budget used"),
        h("meter", { id: mid, min: "0", max: String(usage.max), value: String(usage.used), low: String(usage.max * 0.5), high: String(usage.max * 0.8), optimum: "0" },
          `${usage.used} of ${usage.max}`),
        h("span", { class: "meta" }, `${num(usage.used)} of ${num(usage.max)} calls today (${Math.round((usage.used * 100) / usage.max)}%)`));
    }
    sections.push(h("section", { class: "card", id: "salesforce-state", "aria-labelledby": "sf-title" },
      h("h2", { id: "sf-title" }, "Salesforce push"),
      dl([
        ["Connection", sf.connected === undefined ? null : (sf.connected ? "Configured" : "Not configured")],
        ["Pushes", sf.enabled === undefined ? null : (sf.enabled ? "Enabled" : "Disabled in settings")],
        ["State", sf.paused ? badge("paused", "Paused") : badge("succeeded", "Running")],
        ["Why paused", sf.paused && reason ? reason : null],
        ["Paused until", sf.paused && until ? timeEl(until, { relative: true }) : null],
        ["Accounts waiting", num(sf.pending)],
        ["Failures listed", h("a", { href: "#/salesforce" }, num(sf.failures))],
      ]),
      meter || h("p", { class: "meta" }, "API usage not known yet."),
    ));
  }
  replace(box, h("div", { class: "cards" }, sections));
}

// ---- the chart ----

function niceMax(v) {
  if (v <= 5) return 5;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function hourLabel(hr) {
  const ms = hr.start_ms !== undefined ? hr.start_ms : Date.parse(hr.start);
  const d = new Date(ms);
  return `${String(d.getHours()).padStart(2, "0")}:00`;
}

function syncChart(stats) {
  const hours = Array.isArray(stats.hours) ? stats.hours : [];
  const captionId = uid("chart-caption");
  const W = 720, H = 270, L = 44, R = 56, T = 26, B = 34;
  const pw = W - L - R, ph = H - T - B;
  const totals = hours.map((x) => (x.succeeded || 0) + (x.failed || 0) + (x.skipped || 0) + (x.coalesced || 0));
  const yMax = niceMax(Math.max(1, ...totals));
  const p95s = hours.map((x) => x.p95_ms).filter((v) => v !== null && v !== undefined);
  const lMax = niceMax(Math.max(1000, ...p95s) / 1000) * 1000;
  const n = Math.max(hours.length, 1);
  const bw = pw / n;
  const y = (v) => T + ph - (v / yMax) * ph;
  const yl = (ms) => T + ph - (ms / lMax) * ph;

  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-labelledby": captionId, focusable: "false" });
  // grid and axes
  // Whole-number ticks: niceMax gives 5, 10, 20, 25, 50, … which 4 or 5 steps divide.
  const steps = yMax % 4 === 0 ? 4 : 5;
  for (let i = 0; i <= steps; i++) {
    const v = (yMax / steps) * i;
    const yy = y(v);
    const secs = (lMax / steps) * i / 1000;
    svg.append(
      s("line", { x1: L, x2: L + pw, y1: yy, y2: yy, class: "grid" }),
      s("text", { x: L - 6, y: yy + 4, class: "axis-label", "text-anchor": "end" }, String(v)),
      s("text", { x: L + pw + 6, y: yl(secs * 1000) + 4, class: "axis-label" }, `${Number.isInteger(secs) ? secs : secs.toFixed(1)} s`),
    );
  }
  svg.append(s("text", { x: 4, y: 10, class: "axis-title" }, "syncs"), s("text", { x: W - 4, y: 10, class: "axis-title", "text-anchor": "end" }, "p95"));
  hours.forEach((hr, i) => {
    const x = L + i * bw + bw * 0.15;
    const w = bw * 0.7;
    let base = 0;
    for (const [key, cls] of [["succeeded", "bar-ok"], ["failed", "bar-bad"], ["other", "bar-other"]]) {
      const v = key === "other" ? (hr.skipped || 0) + (hr.coalesced || 0) : hr[key] || 0;
      if (v > 0) {
        svg.append(s("rect", { x, width: w, y: y(base + v), height: Math.max(y(base) - y(base + v), 0.5), class: cls }));
      }
      base += v;
    }
    if (i % 3 === 0) {
      svg.append(s("text", { x: L + i * bw + bw / 2, y: H - B + 16, class: "axis-label", "text-anchor": "middle" }, hourLabel(hr)));
    }
  });
  // p95 line, broken where an hour has no value
  let d = "";
  let pen = false;
  hours.forEach((hr, i) => {
    const v = hr.p95_ms;
    if (v === null || v === undefined) { pen = false; return; }
    const px = L + i * bw + bw / 2, py = yl(Math.min(v, lMax));
    d += `${pen ? "L" : "M"}${px.toFixed(1)},${py.toFixed(1)} `;
    pen = true;
    svg.append(s("circle", { cx: px, cy: py, r: 2.5, class: "line-dot" }));
  });
  if (d) svg.append(s("path", { d: d.trim(), class: "line-p95" }));
  svg.append(s("line", { x1: L, x2: L + pw, y1: T + ph, y2: T + ph, class: "axis" }));

  const legend = h("ul", { class: "legend", "aria-hidden": "true" },
    h("li", null, h("span", { class: "swatch swatch-ok" }), "Succeeded"),
    h("li", null, h("span", { class: "swatch swatch-bad" }), "Failed"),
    h("li", null, h("span", { class: "swatch swatch-other" }), "Skipped or coalesced"),
    h("li", null, h("span", { class: "swatch swatch-line" }), "p95 duration (right axis)"));

  const sum = (k) => hours.reduce((a, x) => a + (x[k] || 0), 0);
  const caption = h("figcaption", { id: captionId },
    `Syncs per hour by outcome, with the 95th-percentile duration, ${absTime(stats.from)} to ${absTime(stats.to)}: `
    + `${sum("succeeded")} succeeded, ${sum("failed")} failed, ${sum("skipped") + sum("coalesced")} skipped or coalesced.`,
    stats.complete === false ? " Some hours could not be counted completely." : "");

  const table = h("table", { class: "data", id: "chart-table" },
    h("caption", { class: "visually-hidden" }, "Syncs per hour"),
    h("thead", null, h("tr", null, ["Hour", "Succeeded", "Failed", "Skipped", "Coalesced", "Running", "Queued", "p50", "p95"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", null, hours.map((hr) => h("tr", null,
      h("th", { scope: "row" }, `${absTime(hr.start_ms !== undefined ? hr.start_ms : hr.start)}`),
      h("td", { class: "n" }, num(hr.succeeded)), h("td", { class: "n" }, num(hr.failed)), h("td", { class: "n" }, num(hr.skipped)),
      h("td", { class: "n" }, num(hr.coalesced)), h("td", { class: "n" }, num(hr.running)), h("td", { class: "n" }, num(hr.queued)),
      h("td", { class: "n" }, duration(hr.p50_ms)), h("td", { class: "n" }, duration(hr.p95_ms))))));
  const details = h("details", { class: "chart-numbers", open: overviewDetailsOpen },
    h("summary", null, "Show the numbers"), tableWrap("Syncs per hour, table", table));
  details.addEventListener("toggle", () => { overviewDetailsOpen = details.open; });
  return h("figure", { class: "chart-figure" }, h("div", { class: "chart-box" }, svg), legend, caption, details);
}

// ======================================================================================
// Events
// ======================================================================================

const FILTERS = ["account", "subscription", "customer", "trigger", "status", "from", "to"];
const FINAL = new Set(["succeeded", "failed", "skipped", "coalesced"]);
let eventsPaging = { key: null, stack: [], cursor: null };

function toLocalInput(iso) {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return "";
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

function fromLocalInput(v) {
  if (!v) return "";
  const ms = new Date(v).getTime();
  return Number.isNaN(ms) ? "" : new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

export async function eventsView(ctx) {
  const params = ctx.params;
  const watch = params.get("watch");
  const filterKey = `${ctx.entity}|${FILTERS.map((f) => params.get(f) || "").join("|")}`;
  if (eventsPaging.key !== filterKey) eventsPaging = { key: filterKey, stack: [], cursor: null };

  // ---- the filter form ----
  const inputs = {};
  const errors = {};
  const field = (name, label, control, hint) => {
    const eid = `f-${name}-error`;
    errors[name] = h("p", { class: "field-error", id: eid, hidden: true });
    inputs[name] = control;
    control.id = `f-${name}`;
    control.name = name;
    return h("div", { class: "field" }, h("label", { for: control.id }, label), control, hint || null, errors[name]);
  };
  const text = (name) => h("input", { type: "text", value: params.get(name) || "", autocomplete: "off", spellcheck: "false" });
  const select = (name, options, anyLabel) => h("select", null,
    h("option", { value: "" }, anyLabel),
    options.map((o) => h("option", { value: o, selected: params.get(name) === o }, o.replace(/_/g, " "))));
  const form = h("form", { id: "event-filters", class: "filters", role: "search", "aria-label": "Event filters", novalidate: true },
    h("div", { class: "field-grid" },
      field("account", "Account", text("account")),
      field("subscription", "Subscription", text("subscription")),
      field("customer", "Customer", text("customer")),
      field("trigger", "Trigger", select("trigger", TRIGGERS, "Any trigger")),
      field("status", "Status", select("status", STATUSES, "Any status")),
      field("from", "From", h("input", { type: "datetime-local", value: params.get("from") ? toLocalInput(params.get("from")) : "" })),
      field("to", "To", h("input", { type: "datetime-local", value: params.get("to") ? toLocalInput(params.get("to")) : "" }))),
    h("div", { class: "button-row" },
      h("button", { type: "submit", class: "button button-primary" }, "Search"),
      h("button", { type: "button", class: "button", id: "clear-filters", onclick: () => { location.hash = "#/events"; } }, "Clear filters")));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const f of FILTERS) {
      let v = inputs[f].value.trim();
      if (f === "from" || f === "to") v = fromLocalInput(v);
      if (v) q.set(f, v);
    }
    eventsPaging = { key: null, stack: [], cursor: null };
    const hash = q.toString() ? `#/events?${q}` : "#/events";
    if (location.hash === hash) ctx.rerender();
    else location.hash = hash;
  });

  const refreshing = h("p", { id: "events-refreshing", class: "refreshing", role: "status", hidden: true }, h("span", { class: "spinner", "aria-hidden": "true" }), "Refreshing while syncs run");
  const listError = h("div", { id: "events-error" });
  const watchBox = h("div", { id: "watch" });
  const tbody = h("tbody");
  const table = h("table", { class: "data", id: "events-table" },
    h("caption", { class: "visually-hidden" }, "Sync events, newest first"),
    h("thead", null, h("tr", null,
      ["Time", "Trigger", "Status", "Account", "Subscription", "Written", "Unchanged", "Removed", "Duration", "Details"]
        .map((t) => h("th", { scope: "col" }, t)))),
    tbody);
  const newer = h("button", { type: "button", class: "button", id: "events-newer" }, "Newer");
  const older = h("button", { type: "button", class: "button", id: "events-older" }, "Older");
  const pageInfo = h("span", { class: "meta", id: "events-page" });
  const paging = h("div", { class: "pager", role: "group", "aria-label": "Pages" }, newer, pageInfo, older);
  const detail = h("section", { id: "event-detail", class: "card detail", "aria-labelledby": "detail-title", hidden: true });

  ctx.main.append(pageHeader("Events", ctx), form, refreshing, listError, watchBox, tableWrap("Sync events", table), paging, detail);

  let selected = null;
  let nextCursor = null;
  let timer = null;
  const watchStarted = Date.now();

  const apiQuery = () => {
    const q = { limit: 25 };
    for (const f of FILTERS) {
      const v = params.get(f);
      if (v) q[f] = v;
    }
    if (eventsPaging.cursor) q.cursor = eventsPaging.cursor;
    return query(q);
  };

  const row = (ev) => {
    const tr = h("tr", { "data-event-id": ev.id, class: ev.id === watch ? "watched" : null },
      h("td", null, timeEl(ev.created_at)),
      h("td", null, String(ev.trigger).replace(/_/g, " "), ev.follow_up ? h("span", { class: "meta" }, " (follow-up)") : null),
      h("td", { class: "status" }, badge(ev.status)),
      h("td", { class: "wrap" }, ev.account || ev.account_id || "—"),
      h("td", { class: "wrap" }, ev.subscription || "—"),
      h("td", { class: "n" }, num(ev.written)),
      h("td", { class: "n" }, num(ev.unchanged)),
      h("td", { class: "n" }, num(ev.removed)),
      h("td", { class: "n" }, duration(ev.duration_ms)),
      h("td", null, h("button", { type: "button", class: "button button-small", "data-open-event": ev.id, onclick: () => openDetail(ev.id, true) },
        "Details", h("span", { class: "visually-hidden" }, ` of the ${String(ev.trigger).replace(/_/g, " ")} event at ${absTime(ev.created_at)}`))));
    return tr;
  };

  async function openDetail(id, focus) {
    selected = id;
    detail.hidden = false;
    replace(detail, h("h2", { id: "detail-title", tabindex: "-1" }, "Event"), h("p", { class: "loading" }, "Loading…"));
    if (focus) detail.querySelector("h2").focus();
    const res = await request("GET", entityPath(ctx.entity, `/events/${encodeURIComponent(id)}`), { signal: ctx.signal });
    if (!ctx.alive() || selected !== id) return;
    renderDetail(res, focus);
  }

  function renderDetail(res, focus) {
    const close = h("button", { type: "button", class: "button", onclick: () => { selected = null; detail.hidden = true; } }, "Close details");
    if (!res.ok) {
      replace(detail, h("h2", { id: "detail-title", tabindex: "-1" }, "Event"), h("p", { class: "notice notice-bad" }, errorText(res)), close);
      return;
    }
    const ev = res.body;
    const sf = ev.salesforce;
    replace(detail,
      h("h2", { id: "detail-title", tabindex: "-1" }, "Event ", h("code", null, ev.id)),
      dl([
        ["Status", badge(ev.status)],
        ["Trigger", String(ev.trigger).replace(/_/g, " ") + (ev.follow_up ? " (follow-up)" : "")],
        ["Created", timeEl(ev.created_at, { relative: true })],
        ["Updated", timeEl(ev.updated_at, { relative: true })],
        ["Duration", duration(ev.duration_ms)],
        ["Account", ev.account || "—"],
        ["Account id", ev.account_id || "—"],
        ["Subscription", ev.subscription || "—"],
        ["Customer", ev.customer_id || "—"],
        ["Subject", ev.subject || null],
        ["Written", num(ev.written)],
        ["Unchanged", num(ev.unchanged)],
        ["Removed", num(ev.removed)],
        ["Code", ev.code || "—", { id: "detail-code", "data-field": "code" }],
        ["Reason", ev.reason || "—", { id: "detail-reason", "data-field": "reason", class: "wrap" }],
        ["Correlation id", h("code", null, ev.correlation_id || "—"), { id: "detail-correlation" }],
        ["Notification", ev.notification_level ? `${ev.notification_level}${ev.notify === true ? " (notified)" : ev.notify === false ? " (not notified)" : ""}` : null],
      ]),
      ev.failures && ev.failures.length
        ? [h("h3", null, "Subscriptions that failed"),
          h("ul", { class: "failures", id: "detail-failures" }, ev.failures.map((f) => h("li", null,
            `Failed: ${f.number || f.subscription}${f.name ? ` (${f.name})` : ""} — ${f.reason}${f.code ? ` [${f.code}]` : ""}`)))]
        : null,
      sf ? [h("h3", null, "Salesforce push"), dl([
        ["Created", num(sf.created)], ["Updated", num(sf.updated)], ["Deleted", num(sf.deleted)],
        ["Unchanged", num(sf.unchanged)], ["Failed", num(sf.failed)], ["Blocked", num(sf.blocked)], ["Deferred", num(sf.deferred)],
      ])] : null,
      h("div", { class: "button-row" }, close));
    if (focus) detail.querySelector("h2").focus();
    return ev;
  }

  async function load(first) {
    const res = await request("GET", entityPath(ctx.entity, `/events${apiQuery()}`), { signal: ctx.signal });
    if (!ctx.alive()) return;
    for (const f of FILTERS) setFieldError(inputs[f], errors[f], null);
    if (!res.ok) {
      const fieldName = res.body && res.body.field;
      if (fieldName && inputs[fieldName]) setFieldError(inputs[fieldName], errors[fieldName], res.body.message);
      replace(listError, h("p", { class: "notice notice-bad", role: "alert" }, errorText(res, "The events could not be loaded")));
      tbody.replaceChildren();
      refreshing.hidden = true;
      return;
    }
    replace(listError);
    const events = (res.body && res.body.events) || [];
    nextCursor = res.body && res.body.next_cursor;
    const focusedId = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.openEvent : null;
    replace(tbody, events.length ? events.map(row)
      : h("tr", null, h("td", { colspan: "10", class: "empty" }, "No events match these filters.")));
    if (focusedId) {
      const again = tbody.querySelector(`button[data-open-event="${CSS.escape(focusedId)}"]`);
      if (again) again.focus();
    }
    newer.disabled = eventsPaging.stack.length === 0;
    older.disabled = !nextCursor;
    replace(pageInfo, `Page ${eventsPaging.stack.length + 1}`);

    // A watched event (from an action's link) that the list does not show is shown on its own.
    let watchPending = false;
    if (watch) {
      const listed = events.find((e) => e.id === watch);
      if (listed) {
        replace(watchBox);
        watchPending = !FINAL.has(listed.status);
      } else {
        const wr = await request("GET", entityPath(ctx.entity, `/events/${encodeURIComponent(watch)}`), { signal: ctx.signal });
        if (!ctx.alive()) return;
        if (wr.ok && wr.body) {
          replace(watchBox, h("p", { class: "notice", "data-event-id": watch },
            "Event ", h("code", null, watch), " (not on this page): ", h("span", { class: "status" }, badge(wr.body.status)), " ",
            h("button", { type: "button", class: "button button-small", onclick: () => openDetail(watch, true) }, "Details")));
          watchPending = !FINAL.has(wr.body.status);
        } else {
          replace(watchBox);
          watchPending = wr.status === 404; // may not be readable yet
        }
      }
      if (Date.now() - watchStarted > 180_000) watchPending = false;
    }
    if (selected) {
      const dr = await request("GET", entityPath(ctx.entity, `/events/${encodeURIComponent(selected)}`), { signal: ctx.signal });
      if (!ctx.alive()) return;
      if (selected && !detail.contains(document.activeElement)) renderDetail(dr, false);
    }
    const running = events.some((e) => e.status === "queued" || e.status === "running") || watchPending;
    refreshing.hidden = !running;
    clearTimeout(timer);
    if (running) {
      timer = setTimeout(() => { if (ctx.alive()) load(false).catch(() => {}); }, 2000);
    }
    if (first && watch) {
      if (events.find((e) => e.id === watch)) openDetail(watch, false);
    }
  }

  ctx.signal.addEventListener("abort", () => clearTimeout(timer));
  newer.addEventListener("click", () => {
    eventsPaging.cursor = eventsPaging.stack.pop() || null;
    load(false).catch(() => {});
  });
  older.addEventListener("click", () => {
    if (!nextCursor) return;
    eventsPaging.stack.push(eventsPaging.cursor);
    eventsPaging.cursor = nextCursor;
    load(false).catch(() => {});
  });
  await load(true);
}

// ======================================================================================
// Actions
// ======================================================================================

function resultRegion(id) {
  return h("div", { id, class: "result", role: "status", "aria-live": "polite" });
}

function working(region, text) {
  replace(region, h("p", { class: "meta" }, text));
}

export function parseAccounts(raw) {
  const seen = [];
  for (const part of raw.split(/[\s,;]+/)) {
    const v = part.trim();
    if (v && !seen.includes(v)) seen.push(v);
  }
  return seen;
}

/**
 * An action card of one text field and a button: the field is required; submitting shows
 * "Syncing …" in the card's live region, gives `run` a fresh correlation id, and keeps the
 * button disabled until it is done. `run(id, correlation, out, showFieldError)`.
 */
function oneFieldAction(ctx, { key, title, label, hint, button, missing, run }) {
  const input = h("input", { type: "text", id: key, name: key, autocomplete: "off", spellcheck: "false", "aria-describedby": `${key}-hint` });
  const err = h("p", { id: `${key}-error`, class: "field-error", hidden: true });
  const out = resultRegion(`${key}-result`);
  const submit = h("button", { type: "submit", class: "button button-primary" }, button);
  const form = h("form", { id: `sync-${key}-form`, novalidate: true },
    h("div", { class: "field" },
      h("label", { for: key }, label),
      h("p", { class: "hint", id: `${key}-hint` }, hint),
      input, err),
    h("div", { class: "button-row" }, submit));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const id = input.value.trim();
    if (!id) {
      setFieldError(input, err, missing);
      input.focus();
      return;
    }
    setFieldError(input, err, null);
    const corr = newCorrelationId();
    submit.disabled = true;
    working(out, `Syncing ${id}…`);
    try {
      await run(id, corr, out, (message) => setFieldError(input, err, message));
    } finally {
      submit.disabled = false;
    }
  });
  return h("section", { class: "card", "aria-labelledby": `act-${key}` }, h("h2", { id: `act-${key}` }, title), form, out);
}

export async function actionsView(ctx) {
  ctx.main.append(pageHeader("Actions", ctx));
  const grid = h("div", { class: "cards actions" });
  ctx.main.append(grid);

  // ---- on-demand account sync ----
  {
    const ta = h("textarea", { id: "accounts", name: "accounts", rows: "4", spellcheck: "false", "aria-describedby": "accounts-hint" });
    const err = h("p", { id: "accounts-error", class: "field-error", hidden: true });
    const out = resultRegion("accounts-result");
    const submit = h("button", { type: "submit", class: "button button-primary" }, "Sync accounts");
    const form = h("form", { id: "sync-accounts-form", novalidate: true },
      h("div", { class: "field" },
        h("label", { for: "accounts" }, "Account numbers or ids"),
        h("p", { class: "hint", id: "accounts-hint" }, "One per line or separated by commas; at most 8."),
        ta, err),
      h("div", { class: "button-row" }, submit));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const accounts = parseAccounts(ta.value);
      if (accounts.length === 0) {
        setFieldError(ta, err, "Enter at least one account number or id.");
        ta.focus();
        return;
      }
      if (accounts.length > MAX_CONSOLE_ACCOUNTS) {
        setFieldError(ta, err, "At most 8 accounts at a time from the console.");
        ta.focus();
        return;
      }
      setFieldError(ta, err, null);
      const corr = newCorrelationId();
      submit.disabled = true;
      working(out, `Queueing ${accounts.length} account${accounts.length === 1 ? "" : "s"}…`);
      try {
        const res = await request("POST", entityPath(ctx.entity, "/sync/accounts"), { body: { accounts }, correlation: corr, signal: ctx.signal });
        if (!ctx.alive()) return;
        const list = res.body && Array.isArray(res.body.accounts) ? res.body.accounts : null;
        if (!res.ok && !list) {
          const f = res.body && res.body.field;
          if (f && f.startsWith("accounts")) setFieldError(ta, err, res.body.message);
          replace(out, h("p", { class: "notice notice-bad" }, errorText(res)), correlationLine(corr));
          return;
        }
        const queued = list.filter((a) => a.status === "queued").length;
        replace(out,
          h("p", { class: res.ok ? "notice notice-ok" : "notice notice-bad" },
            res.ok ? `Started: ${queued} queued, ${list.length - queued} other outcome${list.length - queued === 1 ? "" : "s"}.` : errorText(res)),
          correlationLine(corr),
          tableWrap("Account outcomes", h("table", { class: "data", id: "accounts-outcomes" },
            h("caption", { class: "visually-hidden" }, "What each account's request did"),
            h("thead", null, h("tr", null, ["Account", "Outcome", "Event", "Note"].map((t) => h("th", { scope: "col" }, t)))),
            h("tbody", null, list.map((a) => h("tr", { "data-account": a.account },
              h("td", null, a.account),
              h("td", null, badge(a.status)),
              h("td", { class: "wrap" }, a.event_id ? eventLink(a.event_id, { account: a.account }) : "—",
                a.queued_event_id ? [h("br"), "served by ", eventLink(a.queued_event_id, { account: a.account })] : null),
              h("td", { class: "wrap" }, a.message || (a.retry_after_seconds ? `retry in ${a.retry_after_seconds} s` : "") || (a.code || ""))))))));
      } finally {
        submit.disabled = false;
      }
    });
    grid.append(h("section", { class: "card", "aria-labelledby": "act-accounts" },
      h("h2", { id: "act-accounts" }, "Sync accounts on demand"),
      h("p", { class: "meta" }, "Queues a sync of each account; the worker runs them."),
      form, out));
  }

  // ---- one subscription ----
  grid.append(oneFieldAction(ctx, {
    key: "subscription",
    title: "Sync one subscription",
    label: "Subscription number or id",
    hint: "Syncs the subscription's whole account now and waits for the answer.",
    button: "Sync subscription",
    missing: "Enter a subscription number or id.",
    run: async (id, corr, out) => {
      const res = await request("POST", `/plugins/zuora/sync/subscription/${encodeURIComponent(id)}${query({ entity: ctx.entity })}`, { correlation: corr, signal: ctx.signal });
      if (!ctx.alive()) return;
      const link = h("a", { href: `#/events?${new URLSearchParams({ subscription: id })}` }, `Events of ${id}`);
      if (res.ok && res.body && res.body.success) {
        replace(out, h("p", { class: "notice notice-ok" }, `Synced ${id}: subscription ${res.body.id}, customer ${res.body.owner}.`), correlationLine(corr), h("p", null, link));
      } else {
        const ev = res.body && res.body.event_id;
        replace(out, h("p", { class: "notice notice-bad" }, errorText(res)), correlationLine(corr),
          h("p", null, ev ? ["Event: ", eventLink(ev, { subscription: id }), " · "] : null, link));
      }
    },
  }));

  // ---- manual customer sync ----
  grid.append(oneFieldAction(ctx, {
    key: "customer",
    title: "Manual sync of a customer",
    label: "Customer id or account number",
    hint: "A local customer id (cus_…) or a Zuora account number or id. Every subscription is read on its own and reported.",
    button: "Sync customer",
    missing: "Enter a customer id or an account number.",
    run: async (id, corr, out, showFieldError) => {
      const res = await request("POST", entityPath(ctx.entity, `/sync/customers/${encodeURIComponent(id)}`), { correlation: corr, signal: ctx.signal });
      if (!ctx.alive()) return;
      const b = res.body || {};
      if (res.status === 200 && Array.isArray(b.subscriptions)) {
        const failed = b.failed || [];
        const reasons = new Map(failed.map((f) => [f.number, f]));
        replace(out,
          h("p", { class: b.success ? "notice notice-ok" : "notice notice-bad", id: "customer-summary" },
            b.success
              ? `Synced account ${b.account} (customer ${b.customer}): ${b.written} written, ${b.unchanged} unchanged, ${b.removed} removed.`
              : `Account ${b.account} synced with failures: ${failed.length} subscription${failed.length === 1 ? "" : "s"} could not be synced and keep their stored copy.`),
          failed.length ? h("ul", { class: "failures", id: "customer-failures" }, failed.map((f) =>
            h("li", { "data-subscription": f.number }, h("strong", null, `Failed: ${f.number}`), ` — ${f.reason}`, f.name ? ` (${f.name})` : "", f.code ? ` [${f.code}]` : ""))) : null,
          h("p", { class: "meta" }, "Event: ", eventLink(b.event_id, { account: b.account })),
          correlationLine(corr),
          tableWrap("Subscription outcomes", h("table", { class: "data", id: "customer-subscriptions" },
            h("caption", { class: "visually-hidden" }, "Each subscription's outcome"),
            h("thead", null, h("tr", null, ["Subscription", "Name", "Outcome", "Detail"].map((t) => h("th", { scope: "col" }, t)))),
            h("tbody", null, b.subscriptions.map((sub) => {
              const f = reasons.get(sub.number);
              return h("tr", { "data-subscription": sub.number },
                h("th", { scope: "row" }, sub.number),
                h("td", null, sub.name || ""),
                h("td", null, badge(sub.outcome, String(sub.outcome).replace(/_/g, " "))),
                h("td", { class: "wrap" }, (f && f.reason) || sub.reason || sub.code || (sub.id ? `id ${sub.id}` : "")));
            })))));
      } else if ((res.status === 202 || res.status === 409) && b.event_id && b.status === "coalesced") {
        replace(out, h("p", { class: "notice" }, badge("coalesced"), ` ${b.message || ""}`), h("p", { class: "meta" }, "Event: ", eventLink(b.event_id, {})), correlationLine(corr));
      } else {
        const f = b.field;
        if (f === "customer") showFieldError(b.message);
        replace(out, h("p", { class: "notice notice-bad" }, errorText(res)),
          b.event_id ? h("p", { class: "meta" }, "Event: ", eventLink(b.event_id, {})) : null, correlationLine(corr));
      }
    },
  }));

  // ---- catalog ----
  {
    const out = resultRegion("catalog-result");
    const button = h("button", { type: "button", class: "button button-primary", id: "sync-catalog" }, "Sync catalog");
    button.addEventListener("click", async () => {
      const corr = newCorrelationId();
      button.disabled = true;
      working(out, "Queueing the catalog sync…");
      try {
        const res = await request("POST", entityPath(ctx.entity, "/sync/catalog"), { correlation: corr, signal: ctx.signal });
        if (!ctx.alive()) return;
        const b = res.body || {};
        if (res.ok) {
          replace(out, h("p", { class: "notice notice-ok" }, "Catalog sync: ", badge(b.status), b.message ? ` ${b.message}` : ""),
            b.event_id ? h("p", { class: "meta" }, "Event: ", eventLink(b.event_id, { trigger: "on_demand" })) : null, correlationLine(corr));
        } else {
          replace(out, h("p", { class: "notice notice-bad" }, errorText(res)),
            b.event_id ? h("p", { class: "meta" }, "Event: ", eventLink(b.event_id, {})) : null, correlationLine(corr));
        }
      } finally {
        button.disabled = false;
      }
    });
    grid.append(h("section", { class: "card", "aria-labelledby": "act-catalog" },
      h("h2", { id: "act-catalog" }, "Sync the product catalog"),
      h("p", { class: "meta" }, "Queues a sync of the product catalog."),
      h("div", { class: "button-row" }, button), out));
  }

  // ---- full re-sync (admin) ----
  if (ctx.admin) {
    const out = resultRegion("full-result");
    const start = h("button", { type: "button", class: "button button-danger", id: "full-start" }, "Full re-sync…");
    const confirm = h("div", { class: "confirm", id: "full-confirm", hidden: true, role: "group", "aria-labelledby": "full-confirm-text" },
      h("p", { id: "full-confirm-text" }, `This syncs every account of entity ${ctx.entity} again. It can take a long time and uses Zuora API capacity. Start it?`));
    const go = h("button", { type: "button", class: "button button-danger", id: "full-confirm-go" }, "Start full re-sync");
    const cancel = h("button", { type: "button", class: "button", id: "full-confirm-cancel" }, "Cancel");
    confirm.append(h("div", { class: "button-row" }, go, cancel));
    start.addEventListener("click", () => { confirm.hidden = false; start.hidden = true; cancel.focus(); });
    cancel.addEventListener("click", () => { confirm.hidden = true; start.hidden = false; start.focus(); });
    go.addEventListener("click", async () => {
      const corr = newCorrelationId();
      go.disabled = true;
      working(out, "Starting the full re-sync…");
      try {
        const res = await request("POST", entityPath(ctx.entity, "/sync/full"), { correlation: corr, signal: ctx.signal });
        if (!ctx.alive()) return;
        const b = res.body || {};
        if (res.ok) {
          replace(out, h("p", { class: "notice notice-ok" }, `Full re-sync started: session `, h("code", { id: "full-session" }, b.session_id || "—"), ". ", b.message || ""),
            h("p", null, h("a", { href: "#/overview" }, "The overview shows its progress.")), correlationLine(corr));
        } else {
          replace(out, h("p", { class: "notice notice-bad" }, errorText(res)), correlationLine(corr));
        }
      } finally {
        go.disabled = false;
        confirm.hidden = true;
        start.hidden = false;
      }
    });
    grid.append(h("section", { class: "card", "aria-labelledby": "act-full" },
      h("h2", { id: "act-full" }, "Full re-sync"),
      h("p", { class: "meta" }, "Syncs every account of the entity (a full sync session)."),
      h("div", { class: "button-row" }, start), confirm, out));
  }
}

// ======================================================================================
// Salesforce failures
// ======================================================================================

export async function salesforceView(ctx) {
  const params = ctx.params;
  ctx.main.append(pageHeader("Salesforce", ctx));
  const body = h("div", { id: "salesforce-body" }, h("p", { class: "loading" }, "Loading the failure list…"));
  ctx.main.append(body);
  let cursor = null;
  const cursors = [];

  const load = async () => {
    const res = await request("GET", entityPath(ctx.entity, `/salesforce/failures${query({ account: params.get("account"), code: params.get("code"), limit: 50, cursor })}`), { signal: ctx.signal });
    if (!ctx.alive()) return;
    if (res.status === 404 && res.body && res.body.code === "salesforce_not_connected") {
      replace(body, h("p", { class: "notice", id: "salesforce-not-connected" }, "Salesforce is not connected for this entity."));
      return;
    }
    if (!res.ok) {
      replace(body, h("p", { class: "notice notice-bad", role: "alert" }, errorText(res, "The failure list could not be loaded")));
      return;
    }
    render(res.body || {});
  };

  const out = resultRegion("salesforce-result");
  function render(page) {
    const failures = page.failures || [];
    const boxes = [];
    const all = h("input", { type: "checkbox", id: "sf-select-all" });
    all.addEventListener("change", () => boxes.forEach((b) => { b.checked = all.checked; }));
    const rows = failures.map((f, i) => {
      const cb = h("input", { type: "checkbox", id: `sf-cb-${i}`, value: f.id, class: "sf-select" });
      boxes.push(cb);
      return h("tr", { "data-failure-id": f.id },
        h("td", null, cb, h("label", { for: cb.id, class: "visually-hidden" }, `Select the failure of ${f.object} ${f.key}`)),
        h("td", { class: "wrap" }, f.account_id),
        h("td", null, String(f.object || "").replace(/^Zuora__|__c$/g, "").replace(/([a-z])([A-Z])/g, "$1 $2")),
        h("td", { class: "wrap" }, f.key),
        h("td", null, h("code", null, f.code)),
        h("td", { class: "wrap" }, f.message),
        h("td", { class: "wrap" }, (f.fields || []).join(", ")),
        h("td", null, f.operation),
        h("td", null, timeEl(f.at)));
    });
    const selectedIds = () => boxes.filter((b) => b.checked).map((b) => b.value);
    const act = async (path, payload, label) => {
      const corr = newCorrelationId();
      working(out, `${label}…`);
      const res = await request("POST", entityPath(ctx.entity, path), { body: payload, correlation: corr, signal: ctx.signal });
      if (!ctx.alive()) return;
      if (res.ok) {
        replace(out, h("p", { class: "notice notice-ok" }, `${label}: ${num(res.body && res.body.count)} failure${res.body && res.body.count === 1 ? "" : "s"}.`),
          h("p", null, h("a", { href: "#/events?trigger=salesforce_push" }, "The pushes leave events")), correlationLine(corr));
        await load();
      } else {
        replace(out, h("p", { class: "notice notice-bad" }, errorText(res)), correlationLine(corr));
      }
    };
    const needSelection = (fn) => () => {
      const ids = selectedIds();
      if (!ids.length) {
        replace(out, h("p", { class: "notice notice-warn" }, "Select at least one failure first."));
        return;
      }
      fn(ids);
    };
    const filterAccount = h("input", { type: "text", id: "sf-account", name: "account", value: params.get("account") || "" });
    const filterCode = h("input", { type: "text", id: "sf-code", name: "code", value: params.get("code") || "" });
    const filters = h("form", { class: "filters", role: "search", "aria-label": "Failure filters" },
      h("div", { class: "field-grid" },
        h("div", { class: "field" }, h("label", { for: "sf-account" }, "Account id"), filterAccount),
        h("div", { class: "field" }, h("label", { for: "sf-code" }, "Salesforce code"), filterCode)),
      h("div", { class: "button-row" }, h("button", { type: "submit", class: "button" }, "Filter")));
    filters.addEventListener("submit", (e) => {
      e.preventDefault();
      const q = new URLSearchParams();
      if (filterAccount.value.trim()) q.set("account", filterAccount.value.trim());
      if (filterCode.value.trim()) q.set("code", filterCode.value.trim());
      location.hash = q.toString() ? `#/salesforce?${q}` : "#/salesforce";
    });
    const next = h("button", { type: "button", class: "button", disabled: !page.next_cursor }, "Next page");
    const prev = h("button", { type: "button", class: "button", disabled: cursors.length === 0 }, "Previous page");
    next.addEventListener("click", () => { cursors.push(cursor); cursor = page.next_cursor; load(); });
    prev.addEventListener("click", () => { cursor = cursors.pop() || null; load(); });
    replace(body,
      filters,
      h("div", { class: "button-row" },
        h("button", { type: "button", class: "button button-primary", id: "sf-retry-selected", onclick: needSelection((ids) => act("/salesforce/failures/retry", { ids }, "Retried")) }, "Retry selected"),
        h("button", { type: "button", class: "button", id: "sf-retry-all", onclick: () => act("/salesforce/failures/retry", { all: true }, "Retried") }, "Retry all"),
        h("button", { type: "button", class: "button button-danger", id: "sf-dismiss-selected", onclick: needSelection((ids) => act("/salesforce/failures/dismiss", { ids }, "Dismissed")) }, "Dismiss selected")),
      out,
      failures.length ? tableWrap("Salesforce failures", h("table", { class: "data", id: "sf-failures" },
        h("caption", { class: "visually-hidden" }, "Records Salesforce refused"),
        h("thead", null, h("tr", null,
          h("th", { scope: "col" }, all, h("label", { for: "sf-select-all", class: "visually-hidden" }, "Select every failure on this page")),
          ["Account", "Object", "Key", "Code", "Message", "Fields", "Operation", "Time"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", null, rows)))
        : h("p", { class: "notice notice-ok", id: "sf-empty" }, "No failures: Salesforce accepted every record."),
      h("div", { class: "pager" }, prev, next));
  }
  await load();
}
