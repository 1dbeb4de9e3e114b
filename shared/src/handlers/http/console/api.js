// The API client: bearer token, JSON in and out, correlation ids, and a 401 that signs out.

import { randomHex } from "./dom.js";
import { storedToken } from "./auth.js";

let config = null;
let onUnauthorized = () => {};

export function configureApi(cfg, unauthorized) {
  config = cfg;
  onUnauthorized = unauthorized;
}

/** Thrown after a 401 (the console has signed out): views stop quietly. */
export class SignedOut extends Error {}

export function newCorrelationId() {
  return `console-${randomHex(8)}`;
}

export function entityPath(entity, rest = "") {
  return `/plugins/zuora/entities/${encodeURIComponent(entity)}${rest}`;
}

/** A query string from an object, leaving out empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === null || v === undefined || v === "") continue;
    q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

/**
 * One API call. Answers {ok, status, body, correlation}; a 401 signs out and throws
 * SignedOut; a network failure answers status 0 with a message.
 */
export async function request(method, path, { body, correlation, signal } = {}) {
  const { token } = storedToken();
  if (!token) {
    onUnauthorized();
    throw new SignedOut();
  }
  const headers = { Accept: "application/json", Authorization: `Bearer ${token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (correlation) headers["X-Correlation-Id"] = correlation;
  const url = location.origin + (config.api_base || "").replace(/\/+$/, "") + path;
  let res;
  try {
    res = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
      signal,
    });
  } catch (e) {
    if (e && e.name === "AbortError") throw e;
    return { ok: false, status: 0, body: { message: "The API could not be reached; check the connection and try again." }, correlation };
  }
  if (res.status === 401) {
    onUnauthorized("Your session expired; sign in again.");
    throw new SignedOut();
  }
  let parsed = null;
  const text = await res.text();
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      parsed = { message: `The API answered HTTP ${res.status} with a body that is not JSON.` };
    }
  }
  return { ok: res.ok, status: res.status, body: parsed, correlation };
}
