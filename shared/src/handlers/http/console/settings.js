// The settings editor (admin only): every EntitySettings field, saved as a PATCH of the changed
// fields with the version read; a 400 names its field, a 409 offers a reload.

import { h, replace, timeEl, errorText, setFieldError } from "./dom.js";
import { request, entityPath, newCorrelationId } from "./api.js";

const THRESHOLDS = [1, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500];
const SF_OBJECTS = [
  ["Zuora__CustomerAccount__c", "Customer accounts"],
  ["Zuora__Subscription__c", "Subscriptions"],
  ["Zuora__SubscriptionRatePlan__c", "Subscription rate plans"],
  ["Zuora__SubscriptionProductCharge__c", "Subscription product charges"],
  ["Zuora__PaymentMethod__c", "Payment methods"],
];

/** Stable JSON (sorted keys) to compare values. */
function canon(v) {
  if (Array.isArray(v)) return `[${v.map(canon).join(",")}]`;
  if (v && typeof v === "object") {
    return `{${Object.keys(v).sort().filter((k) => v[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canon(v[k])}`).join(",")}}`;
  }
  return JSON.stringify(v === undefined ? null : v);
}

const idFor = (path) => `s-${path.replace(/\./g, "-")}`;

export async function settingsView(ctx) {
  const head = h("div", { class: "page-head" }, h("h1", null, "Settings"), h("p", { class: "page-entity" }, "Entity ", h("strong", null, ctx.entity)));
  const body = h("div", { id: "settings-body" }, h("p", { class: "loading" }, "Loading the settings…"));
  ctx.main.append(head, body);

  const load = async () => {
    const res = await request("GET", entityPath(ctx.entity, "/settings"), { signal: ctx.signal });
    if (!ctx.alive()) return null;
    if (!res.ok) {
      replace(body, h("p", { class: "notice notice-bad", role: "alert" }, errorText(res, "The settings could not be loaded")));
      return null;
    }
    render(res.body);
    return res.body;
  };

  function render(doc, statusMessage) {
    const s = doc.settings || {};
    const sf = s.salesforce || {};
    const ch = s.notification_channel || null;
    const cf = s.callout_fields || {};
    const controls = {}; // path -> input
    const errs = {}; // path -> error element

    const errorEl = (path) => {
      errs[path] = h("p", { class: "field-error", id: `${idFor(path)}-error`, hidden: true });
      return errs[path];
    };
    const hintEl = (path, text) => (text ? h("p", { class: "hint", id: `${idFor(path)}-hint` }, text) : null);
    const wrap = (path, label, control, hint) => {
      control.id = idFor(path);
      control.name = path;
      if (hint) control.setAttribute("aria-describedby", `${idFor(path)}-hint`);
      controls[path] = control;
      return h("div", { class: "field" }, h("label", { for: control.id }, label), hintEl(path, hint), control, errorEl(path));
    };
    const select = (value, options) => h("select", null, options.map(([v, l]) => h("option", { value: String(v), selected: String(v) === String(value) }, l)));
    const int = (value, min, max) => h("input", { type: "number", inputmode: "numeric", step: "1", min: String(min), max: String(max), value: value === undefined || value === null ? "" : String(value) });
    const check = (path, label, checked, hint) => {
      const cb = h("input", { type: "checkbox", checked: !!checked });
      cb.id = idFor(path);
      cb.name = path;
      if (hint) cb.setAttribute("aria-describedby", `${idFor(path)}-hint`);
      controls[path] = cb;
      return h("div", { class: "field field-check" }, cb, h("label", { for: cb.id }, label), hintEl(path, hint), errorEl(path));
    };
    const jsonArea = (value) => h("textarea", { rows: "6", spellcheck: "false", class: "mono", value: JSON.stringify(value || [], null, 2) });
    const text = (value) => h("input", { type: "text", spellcheck: "false", value: value || "" });

    // Salesforce objects: a checkbox group
    const objBoxes = SF_OBJECTS.map(([v, l]) => h("input", { type: "checkbox", value: v, id: `s-salesforce-objects-${v}`, checked: (sf.objects || []).includes(v) }));
    const objErr = errorEl("salesforce.objects");
    const objGroup = h("fieldset", { class: "subgroup", id: "s-salesforce-objects", "aria-describedby": "s-salesforce-objects-hint" },
      h("legend", null, "Objects written"),
      h("p", { class: "hint", id: "s-salesforce-objects-hint" }, "A child needs its parent: subscriptions and payment methods need customer accounts; rate plans and charges need subscriptions."),
      objBoxes.map((cb, i) => h("div", { class: "field-check" }, cb, h("label", { for: cb.id }, SF_OBJECTS[i][1]))),
      objErr);

    // Notification channel: type, then its fields
    const chType = select(ch ? ch.type : "", [["", "None (only recorded)"], ["email", "Email"], ["webhook", "Webhook"]]);
    const chFrom = text(ch && ch.type === "email" ? ch.from : "");
    const chTo = h("textarea", { rows: "3", spellcheck: "false", value: ch && ch.type === "email" ? (ch.to || []).join("\n") : "" });
    const chUrl = h("input", { type: "url", spellcheck: "false", value: ch && ch.type === "webhook" ? ch.url : "" });
    const emailBox = h("div", { class: "field-grid" },
      wrap("notification_channel.from", "Email sender", chFrom, "A verified sender address."),
      wrap("notification_channel.to", "Email recipients", chTo, "One address per line, 1 to 10."));
    const hookBox = h("div", { class: "field-grid" }, wrap("notification_channel.url", "Webhook URL", chUrl, "https (http only for localhost)."));
    const showChannel = () => { emailBox.hidden = chType.value !== "email"; hookBox.hidden = chType.value !== "webhook"; };
    chType.addEventListener("change", showChannel);

    const statusBox = h("div", { id: "settings-status", role: "status", "aria-live": "polite" }, statusMessage ? h("p", { class: "notice notice-ok" }, statusMessage) : null);
    const conflictBox = h("div", { id: "settings-conflict-box" });
    const save = h("button", { type: "submit", class: "button button-primary", id: "settings-save" }, "Save settings");

    const form = h("form", { id: "settings-form", novalidate: true, "aria-describedby": "settings-version" },
      h("fieldset", { class: "group" }, h("legend", null, "Sync"),
        h("div", { class: "field-grid" },
          wrap("sync_mode", "Sync mode", select(s.sync_mode, [["none", "None: on demand, at login and through the API"], ["scheduled", "Scheduled"], ["realtime", "Real time"]]),
            "Switching to real time first syncs every account."),
          wrap("max_events_before_sync", "Data change events before a sync", select(s.max_events_before_sync, THRESHOLDS.map((n) => [n, String(n)]))),
          wrap("max_minutes_between_syncs", "Maximum minutes between syncs", int(s.max_minutes_between_syncs, 1, 1440), "1 to 1440."),
          wrap("min_on_demand_interval_minutes", "Minimum minutes between on-demand syncs of one account", int(s.min_on_demand_interval_minutes, 0, 1440), "0 to 1440; 0 turns it off."),
          wrap("deep_reconcile_days", "Days between deep look-backs", int(s.deep_reconcile_days, 0, 365), "0 to 365; 0 turns them off."),
          wrap("event_retention_days", "Days events are kept", int(s.event_retention_days, 1, 3650), "1 to 3650.")),
        check("bulk_export", "Full syncs through one bulk export (AQuA)", s.bulk_export, "Needs AQuA on the tenant; a refused or failed export falls back to reading each account.")),
      h("fieldset", { class: "group" }, h("legend", null, "Notifications"),
        h("div", { class: "field-grid" },
          wrap("notification_level", "Notification level", select(s.notification_level, [
            ["none", "None"], ["errors_only", "Errors only"], ["all_excluding_zero", "All, except jobs that changed nothing"], ["all_including_zero", "All jobs"]])),
          wrap("notification_channel.type", "Channel", chType)),
        emailBox, hookBox, errorEl("notification_channel")),
      h("fieldset", { class: "group" }, h("legend", null, "Hot sync and login"),
        check("hot_sync_enabled", "Hot sync at login", s.hot_sync_enabled),
        wrap("claims", "Claim configurations", jsonArea(s.claims), "A JSON array, at most 20: {\"claim\", \"service\", \"issuer\", \"type\": \"account\" | \"lookup\", \"account_field\"}."),
        wrap("login_hooks", "Login hook identity providers", jsonArea(s.login_hooks), "A JSON array, at most 10: {\"issuer\", \"jwks_url\", \"audience\"}.")),
      h("fieldset", { class: "group" }, h("legend", null, "Callout fields"),
        h("p", { class: "hint" }, "Where callout bodies name the account and the event; empty uses the usual names."),
        h("div", { class: "field-grid" },
          wrap("callout_fields.account", "Account field", text(cf.account)),
          wrap("callout_fields.event_id", "Event id field", text(cf.event_id)),
          wrap("callout_fields.event_type", "Event type field", text(cf.event_type)),
          wrap("callout_fields.event_time", "Event time field", text(cf.event_time))),
        errorEl("callout_fields")),
      h("fieldset", { class: "group" }, h("legend", null, "Salesforce"),
        check("salesforce.enabled", "Push the mirror to Salesforce", sf.enabled, "Needs a configured connection."),
        objGroup,
        h("div", { class: "field-grid" },
          wrap("salesforce.subscription_key", "Subscriptions keyed by", select(sf.subscription_key, [["version_id", "Version id (Zuora 360's default)"], ["number", "Subscription number"]])),
          wrap("salesforce.max_api_share_percent", "Share of the daily API allocation (%)", int(sf.max_api_share_percent, 1, 100), "1 to 100.")),
        errorEl("salesforce")),
      h("div", { class: "button-row" }, save));
    showChannel();

    const version = h("p", { id: "settings-version", class: "meta" },
      `Version ${doc.version}`,
      doc.version === 0 ? " (never saved: the defaults apply)" : [", updated ", timeEl(doc.updated_at, { relative: true }), ` by ${doc.updated_by || "unknown"}`]);
    replace(body, version, conflictBox, form, statusBox);

    // ---- reading the form ----
    const intValue = (el) => {
      const raw = el.value.trim();
      if (raw === "") return null;
      const n = Number(raw);
      return Number.isFinite(n) ? n : raw;
    };
    const clientErrors = [];
    const jsonValue = (path) => {
      try {
        return JSON.parse(controls[path].value || "[]");
      } catch (e) {
        clientErrors.push([path, `${path}: not valid JSON (${e.message})`]);
        return undefined;
      }
    };
    const read = () => {
      clientErrors.length = 0;
      const out = {
        sync_mode: controls.sync_mode.value,
        max_events_before_sync: Number(controls.max_events_before_sync.value),
        max_minutes_between_syncs: intValue(controls.max_minutes_between_syncs),
        min_on_demand_interval_minutes: intValue(controls.min_on_demand_interval_minutes),
        deep_reconcile_days: intValue(controls.deep_reconcile_days),
        event_retention_days: intValue(controls.event_retention_days),
        notification_level: controls.notification_level.value,
        hot_sync_enabled: controls.hot_sync_enabled.checked,
        bulk_export: controls.bulk_export.checked,
        claims: jsonValue("claims"),
        login_hooks: jsonValue("login_hooks"),
      };
      const t = chType.value;
      out.notification_channel = t === "email"
        ? { type: "email", from: chFrom.value.trim(), to: chTo.value.split(/[\s,;]+/).map((x) => x.trim()).filter(Boolean) }
        : t === "webhook" ? { type: "webhook", url: chUrl.value.trim() } : null;
      const callout = {};
      for (const k of ["account", "event_id", "event_type", "event_time"]) {
        const v = controls[`callout_fields.${k}`].value.trim();
        if (v) callout[k] = v;
      }
      out.callout_fields = callout;
      out.salesforce = {
        enabled: controls["salesforce.enabled"].checked,
        objects: objBoxes.filter((b) => b.checked).map((b) => b.value),
        subscription_key: controls["salesforce.subscription_key"].value,
        max_api_share_percent: intValue(controls["salesforce.max_api_share_percent"]),
      };
      return out;
    };

    const clearErrors = () => {
      for (const [path, el] of Object.entries(errs)) {
        const input = path === "salesforce.objects" ? objGroup : controls[path];
        if (input) setFieldError(input, el, null);
        else { el.textContent = ""; el.hidden = true; }
      }
    };

    /** Shows `message` at the field `path` names (or its nearest parent), and focuses it. */
    const showFieldError = (path, message) => {
      const candidates = [];
      for (let p = String(path); p;) {
        candidates.push(p);
        const parent = p.replace(/(\[\d+\]|\.[^.[\]]*)$/, "");
        if (parent === p) break;
        p = parent;
      }
      for (const p of candidates) {
        const el = errs[p];
        if (!el) continue;
        const input = p === "salesforce.objects" ? objGroup : controls[p];
        if (input) setFieldError(input, el, message);
        else { el.textContent = message; el.hidden = false; }
        const focusable = p === "salesforce.objects" ? objBoxes[0] : p === "notification_channel" ? chType : input;
        if (focusable) focusable.focus();
        return true;
      }
      return false;
    };

    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      clearErrors();
      replace(conflictBox);
      const next = read();
      if (clientErrors.length) {
        for (const [path, msg] of clientErrors) showFieldError(path, msg);
        replace(statusBox, h("p", { class: "notice notice-bad" }, "Not saved: fix the marked fields."));
        return;
      }
      const patch = { version: doc.version };
      let changed = 0;
      for (const [k, v] of Object.entries(next)) {
        if (k === "salesforce") {
          const part = {};
          for (const [sk, sv] of Object.entries(v)) {
            if (canon(sv) !== canon(sf[sk])) part[sk] = sv;
          }
          if (Object.keys(part).length) { patch.salesforce = part; changed += 1; }
        } else if (canon(v) !== canon(s[k] === undefined ? (k === "notification_channel" ? null : s[k]) : s[k])) {
          patch[k] = v;
          changed += 1;
        }
      }
      if (!changed) {
        replace(statusBox, h("p", { class: "notice" }, "Nothing to save: no field changed."));
        return;
      }
      save.disabled = true;
      replace(statusBox, h("p", { class: "meta" }, "Saving…"));
      try {
        const res = await request("PATCH", entityPath(ctx.entity, "/settings"), { body: patch, correlation: newCorrelationId(), signal: ctx.signal });
        if (!ctx.alive()) return;
        const b = res.body || {};
        if (res.ok) {
          let msg = `Saved (version ${b.version}).`;
          if (b.full_sync_session) msg += ` A full sync started (session ${b.full_sync_session}); the overview shows its progress.`;
          if (b.full_sync_error) msg += ` The full sync could not start: ${b.full_sync_error}`;
          render(b, msg);
          const st = document.getElementById("settings-status");
          if (st) st.setAttribute("tabindex", "-1");
          return;
        }
        if (res.status === 409) {
          const current = b.current_version !== undefined ? b.current_version : "unknown";
          const reload = h("button", { type: "button", class: "button", id: "settings-reload" }, "Reload");
          reload.addEventListener("click", async () => {
            const fresh = await load();
            if (fresh) {
              const st = document.getElementById("settings-status");
              replace(st, h("p", { class: "notice" }, `Reloaded version ${fresh.version}. Reapply your change if it is still needed.`));
              const v = document.getElementById("settings-version");
              if (v) { v.setAttribute("tabindex", "-1"); v.focus(); }
            }
          });
          replace(conflictBox, h("div", { class: "notice notice-warn", id: "settings-conflict", role: "alert" },
            h("p", null, `These settings were changed by someone else (version ${current}).`),
            h("p", { class: "meta" }, "Reload them, then make your change again."), reload));
          replace(statusBox, h("p", { class: "notice notice-bad" }, "Not saved."));
          reload.focus();
          return;
        }
        if (res.status === 400 && b.field) {
          const shown = showFieldError(b.field, b.message || "Invalid value.");
          replace(statusBox, h("p", { class: shown ? "notice notice-bad" : "notice notice-bad" }, `Not saved: ${errorText(res)}`));
          return;
        }
        replace(statusBox, h("p", { class: "notice notice-bad", role: "alert" }, `Not saved: ${errorText(res)}`));
      } finally {
        save.disabled = false;
      }
    });
  }

  await load();
}
