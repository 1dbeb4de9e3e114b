// DOM helpers: every element is built with createElement and every piece of data is set as
// text (textContent / text nodes), never parsed as HTML. Nothing here sets a style attribute.

const PROPS = new Set(["value", "checked", "selected", "disabled", "open", "indeterminate", "multiple", "hidden"]);

function setAttrs(el, attrs) {
  if (!attrs) return;
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "style" || k === "innerHTML" || k === "outerHTML") {
      throw new Error(`h(): ${k} is not allowed`);
    }
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") {
      el.addEventListener(k.slice(2), v);
    } else if (k === "class") {
      el.setAttribute("class", Array.isArray(v) ? v.filter(Boolean).join(" ") : v);
    } else if (k === "dataset") {
      for (const [dk, dv] of Object.entries(v)) {
        if (dv !== null && dv !== undefined) el.dataset[dk] = String(dv);
      }
    } else if (PROPS.has(k) && el.namespaceURI === "http://www.w3.org/1999/xhtml") {
      el[k] = v;
    } else {
      el.setAttribute(k, v === true ? "" : String(v));
    }
  }
}

function appendAll(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) appendAll(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** An HTML element: h("p", {class: "x"}, "text", child, [more]). Text is always text. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  appendAll(el, children);
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";
/** An SVG element, the same way. */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  appendAll(el, children);
  return el;
}

/** Replaces an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  appendAll(el, children);
  return el;
}

export function randomHex(bytes = 8) {
  const a = new Uint8Array(bytes);
  crypto.getRandomValues(a);
  return Array.from(a, (b) => b.toString(16).padStart(2, "0")).join("");
}

let idSeq = 0;
export function uid(prefix = "id") {
  idSeq += 1;
  return `${prefix}-${idSeq}`;
}

// ---- formatting ----

function toMs(t) {
  if (t === null || t === undefined || t === "") return null;
  if (typeof t === "number") return t;
  const ms = Date.parse(t);
  return Number.isNaN(ms) ? null : ms;
}

export function absTime(t) {
  const ms = toMs(t);
  if (ms === null) return "—";
  const d = new Date(ms);
  return d.toLocaleString(undefined, {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
}

export function relTime(t, now = Date.now()) {
  const ms = toMs(t);
  if (ms === null) return "";
  const diff = Math.round((now - ms) / 1000);
  const abs = Math.abs(diff);
  let text;
  if (abs < 45) text = `${abs} s`;
  else if (abs < 45 * 60) text = `${Math.round(abs / 60)} min`;
  else if (abs < 36 * 3600) text = `${Math.round(abs / 3600)} h`;
  else text = `${Math.round(abs / 86400)} d`;
  return diff >= 0 ? `${text} ago` : `in ${text}`;
}

/** A <time> element with the absolute time, and the relative one when asked. */
export function timeEl(t, { relative = false } = {}) {
  const ms = toMs(t);
  if (ms === null) return h("span", null, "—");
  const text = relative ? `${relTime(ms)} (${absTime(ms)})` : absTime(ms);
  return h("time", { datetime: new Date(ms).toISOString() }, text);
}

export function duration(ms) {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(ms / 60_000);
  const sec = Math.round((ms % 60_000) / 1000);
  return `${m} min ${sec} s`;
}

export function num(n) {
  if (n === null || n === undefined) return "—";
  return Number(n).toLocaleString();
}

const TONES = {
  succeeded: "ok", done: "ok", fresh: "ok", synced: "ok", queued: "info", running: "info",
  coalesced: "neutral", skipped: "neutral", not_synced: "neutral", removed: "neutral",
  not_tracked: "neutral", late: "warn", throttled: "warn", expired: "warn", paused: "warn",
  failed: "bad", error: "bad",
};

/** A status badge: always a text label; the colour only repeats it. */
export function badge(status, label) {
  const tone = TONES[status] || "neutral";
  return h("span", { class: `badge badge-${tone}`, "data-status": status }, label || String(status).replace(/_/g, " "));
}

/** A scrollable table wrapper that keyboard users can focus and scroll. */
export function tableWrap(label, table) {
  return h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": label }, table);
}

/** A definition list from [term, value] pairs (pairs with a null value are left out). */
export function dl(pairs, attrs) {
  const out = h("dl", Object.assign({ class: "facts" }, attrs || {}));
  for (const [term, value, ddAttrs] of pairs) {
    if (value === null || value === undefined) continue;
    out.appendChild(h("div", { class: "fact" }, h("dt", null, term), h("dd", ddAttrs || null, value)));
  }
  return out;
}

/** An error paragraph for a failed API answer (message as text, code when given). */
export function errorText(res, fallback = "The request failed") {
  const body = res && res.body;
  if (body && typeof body === "object" && typeof body.message === "string") {
    return body.code ? `${body.message} (${body.code})` : body.message;
  }
  return `${fallback} (HTTP ${res ? res.status : "error"}).`;
}

/** Marks a field invalid with a message tied by aria-describedby; null clears it. */
export function setFieldError(input, errorEl, message) {
  if (!input || !errorEl) return;
  const ids = (input.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
  if (message) {
    errorEl.textContent = message;
    errorEl.hidden = false;
    input.setAttribute("aria-invalid", "true");
    if (!ids.includes(errorEl.id)) ids.push(errorEl.id);
    input.setAttribute("aria-describedby", ids.join(" "));
  } else {
    errorEl.textContent = "";
    errorEl.hidden = true;
    input.removeAttribute("aria-invalid");
  }
}
