// Sign-in: OpenID Connect authorization code flow with PKCE (S256). The access token lives in
// sessionStorage only and is never logged.

const TOKEN_KEY = "zs.token";
const PKCE_KEY = "zs.pkce";

export function base64url(bytes) {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomToken(bytes) {
  const a = new Uint8Array(bytes);
  crypto.getRandomValues(a);
  return base64url(a);
}

/** The console's own address, without query or fragment: the OAuth redirect URI. */
export function redirectUri() {
  return location.origin + location.pathname;
}

async function challengeFor(verifier) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

/** Sends the browser to the identity provider. */
export async function startSignIn(config) {
  const state = randomToken(32);
  const verifier = randomToken(64); // 86 characters
  const challenge = await challengeFor(verifier);
  const returnTo = location.hash && location.hash.startsWith("#/") ? location.hash : "";
  sessionStorage.setItem(PKCE_KEY, JSON.stringify({ state, verifier, returnTo }));
  const q = new URLSearchParams({
    response_type: "code",
    client_id: config.client_id,
    redirect_uri: redirectUri(),
    scope: config.scope || "openid",
    state,
    code_challenge: challenge,
    code_challenge_method: "S256",
  });
  const sep = config.authorize_url.includes("?") ? "&" : "?";
  location.assign(config.authorize_url + sep + q.toString());
}

function dropQuery(hash) {
  history.replaceState(null, "", location.pathname + (hash || location.hash || ""));
}

/**
 * Completes a sign-in when the page was opened with ?code=&state= (or ?error=). Answers
 * {handled: bool, error?: string}.
 */
export async function finishSignIn(config) {
  const params = new URLSearchParams(location.search);
  if (!params.has("code") && !params.has("error")) return { handled: false };
  const saved = JSON.parse(sessionStorage.getItem(PKCE_KEY) || "null");
  sessionStorage.removeItem(PKCE_KEY);
  const returnTo = saved && saved.returnTo;
  if (params.has("error")) {
    const desc = params.get("error_description");
    dropQuery(returnTo);
    return { handled: true, error: `Sign-in failed: ${params.get("error")}${desc ? ` — ${desc}` : ""}` };
  }
  if (!saved || !saved.state || saved.state !== params.get("state")) {
    dropQuery(returnTo);
    return { handled: true, error: "The sign-in answer does not match a sign-in started in this tab; sign in again." };
  }
  const body = new URLSearchParams({
    grant_type: "authorization_code",
    code: params.get("code"),
    redirect_uri: redirectUri(),
    client_id: config.client_id,
    code_verifier: saved.verifier,
  });
  let res;
  try {
    res = await fetch(config.token_url, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
      body: body.toString(),
      credentials: "omit",
    });
  } catch (e) {
    dropQuery(returnTo);
    return { handled: true, error: "The token endpoint could not be reached; sign in again." };
  }
  let answer = null;
  try {
    answer = await res.json();
  } catch (e) {
    answer = null;
  }
  dropQuery(returnTo);
  if (!res.ok || !answer || typeof answer.access_token !== "string") {
    const err = answer && (answer.error_description || answer.error || answer.message);
    return { handled: true, error: `Sign-in failed: ${err || `the token endpoint answered HTTP ${res.status}`}` };
  }
  const expiresIn = Number(answer.expires_in) || 3600;
  sessionStorage.setItem(
    TOKEN_KEY,
    JSON.stringify({ access_token: answer.access_token, expires_at: Date.now() + expiresIn * 1000 }),
  );
  return { handled: true };
}

/** The stored access token, or null (an expired one is removed; `expired` says so). */
export function storedToken() {
  const raw = sessionStorage.getItem(TOKEN_KEY);
  if (!raw) return { token: null, expired: false };
  try {
    const t = JSON.parse(raw);
    if (!t.access_token || (t.expires_at && t.expires_at <= Date.now())) {
      sessionStorage.removeItem(TOKEN_KEY);
      return { token: null, expired: true };
    }
    return { token: t.access_token, expired: false };
  } catch (e) {
    sessionStorage.removeItem(TOKEN_KEY);
    return { token: null, expired: false };
  }
}

export function clearSession() {
  sessionStorage.clear();
}
