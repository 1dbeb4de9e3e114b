//! The local stack's dev sign-in for the operator console: a minimal OpenID Connect provider
//! on the API's own origin with the authorization code flow and PKCE (S256), as Cognito's hosted
//! UI does it. Its page lets the developer choose the subject, roles and entities; the token
//! endpoint checks the code, the redirect URI, the client and the code verifier, then mints
//! the local HS256 token (`token::mint_hs256_for`) the sync API accepts.

use crate::token::{DEV_AUDIENCE, DEV_ISSUER, DEV_SECRET, mint_hs256_for};
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const AUTHORIZE_PATH: &str = "/dev-idp/authorize";
pub const TOKEN_PATH: &str = "/dev-idp/token";
pub const CLIENT_ID: &str = "zuora-sync-console";
/// A code is good for one exchange within this time (Cognito: 5 minutes).
const CODE_TTL: Duration = Duration::from_secs(300);
const TOKEN_TTL_SECS: i64 = 3600;

struct Grant {
    challenge: String,
    redirect_uri: String,
    subject: String,
    roles: Vec<String>,
    entities: Vec<String>,
    issued: Instant,
}

#[derive(Clone, Default)]
struct Codes(Arc<Mutex<HashMap<String, Grant>>>);

/// The provider's two routes, to merge in front of the API's router.
pub fn routes() -> Router {
    Router::new()
        .route(AUTHORIZE_PATH, get(authorize_page).post(authorize))
        .route(TOKEN_PATH, axum::routing::post(token))
        .with_state(Codes::default())
}

fn bad(why: &str) -> Response {
    let mut r = (axum::http::StatusCode::BAD_REQUEST, why.to_string()).into_response();
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        "text/plain; charset=utf-8".parse().unwrap(),
    );
    r
}

/// The authorization request's parameters, checked; the redirect URI must be a console on
/// this machine.
fn request_params(q: &HashMap<String, String>) -> Result<[String; 4], &'static str> {
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    if get("response_type") != "code" {
        return Err("response_type must be code");
    }
    if get("client_id") != CLIENT_ID {
        return Err("unknown client_id");
    }
    if get("code_challenge_method") != "S256" || get("code_challenge").len() < 43 {
        return Err("PKCE is required: code_challenge (S256) and code_challenge_method=S256");
    }
    let redirect = get("redirect_uri");
    let local = url::Url::parse(&redirect).is_ok_and(|u| {
        matches!(u.host_str(), Some("127.0.0.1" | "localhost")) && u.path().ends_with("/console")
    });
    if !local {
        return Err("redirect_uri must be a console on this machine");
    }
    Ok([redirect, get("state"), get("code_challenge"), get("scope")])
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn authorize_page(Query(q): Query<HashMap<String, String>>) -> Response {
    let [redirect, state, challenge, scope] = match request_params(&q) {
        Ok(p) => p,
        Err(why) => return bad(why),
    };
    let hidden = [
        ("response_type", "code"),
        ("client_id", CLIENT_ID),
        ("code_challenge_method", "S256"),
        ("redirect_uri", &redirect),
        ("state", &state),
        ("code_challenge", &challenge),
        ("scope", &scope),
    ]
    .iter()
    .map(|(k, v)| format!(r#"<input type="hidden" name="{k}" value="{}">"#, escape(v)))
    .collect::<String>();
    let page = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Dev sign-in — zuora-sync</title></head>
<body><main>
<h1>Dev sign-in</h1>
<p>The local stack's identity provider: choose who you are. Production signs in with the configured IdP.</p>
<form method="post" action="{AUTHORIZE_PATH}">{hidden}
<p><label for="dev-subject">User</label> <input id="dev-subject" name="subject" value="operator" required></p>
<fieldset><legend>Roles</legend>
<input type="checkbox" id="dev-role-sync" name="roles" value="sync" checked> <label for="dev-role-sync">sync</label>
<input type="checkbox" id="dev-role-admin" name="roles" value="admin" checked> <label for="dev-role-admin">admin</label>
</fieldset>
<p><label for="dev-entities">Entities</label> <input id="dev-entities" name="entities" value="*"></p>
<p><button type="submit">Sign in</button></p>
</form></main></body></html>"#
    );
    let mut r = Html(page).into_response();
    r.headers_mut().insert(
        "content-security-policy",
        "default-src 'none'; form-action 'self'; frame-ancestors 'none'"
            .parse()
            .unwrap(),
    );
    r
}

/// The form's pairs; `roles` may repeat.
fn form_pairs(body: &[u8]) -> (HashMap<String, String>, Vec<String>) {
    let mut single = HashMap::new();
    let mut roles = Vec::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        if k == "roles" {
            roles.push(v.into_owned());
        } else {
            single.insert(k.into_owned(), v.into_owned());
        }
    }
    (single, roles)
}

async fn authorize(State(codes): State<Codes>, body: axum::body::Bytes) -> Response {
    let (form, roles) = form_pairs(&body);
    let [redirect, state, challenge, _] = match request_params(&form) {
        Ok(p) => p,
        Err(why) => return bad(why),
    };
    let subject = form.get("subject").cloned().unwrap_or_default();
    if subject.trim().is_empty() {
        return bad("a user is required");
    }
    let entities = form
        .get("entities")
        .map(|e| {
            e.split([',', ' '])
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let code = uuid::Uuid::new_v4().simple().to_string();
    codes.0.lock().unwrap().insert(
        code.clone(),
        Grant {
            challenge,
            redirect_uri: redirect.clone(),
            subject,
            roles,
            entities,
            issued: Instant::now(),
        },
    );
    let mut to = url::Url::parse(&redirect).expect("checked above");
    to.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &state);
    Redirect::to(to.as_str()).into_response()
}

fn grant_error(error: &str, description: &str) -> Response {
    (
        axum::http::StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

async fn token(State(codes): State<Codes>, body: axum::body::Bytes) -> Response {
    let (form, _) = form_pairs(&body);
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    if get("grant_type") != "authorization_code" {
        return grant_error(
            "unsupported_grant_type",
            "grant_type must be authorization_code",
        );
    }
    if get("client_id") != CLIENT_ID {
        return grant_error("invalid_client", "unknown client_id");
    }
    // A code is taken out on first use, whatever comes of it.
    let Some(grant) = codes.0.lock().unwrap().remove(get("code")) else {
        return grant_error("invalid_grant", "unknown or used code");
    };
    if grant.issued.elapsed() > CODE_TTL {
        return grant_error("invalid_grant", "the code expired");
    }
    if grant.redirect_uri != get("redirect_uri") {
        return grant_error(
            "invalid_grant",
            "redirect_uri differs from the authorization request's",
        );
    }
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(get("code_verifier").as_bytes()));
    if computed != grant.challenge {
        return grant_error(
            "invalid_grant",
            "code_verifier does not match the code_challenge",
        );
    }
    let entities: Vec<&str> = grant.entities.iter().map(String::as_str).collect();
    let roles: Vec<&str> = grant.roles.iter().map(String::as_str).collect();
    let token = mint_hs256_for(
        DEV_SECRET,
        DEV_ISSUER,
        DEV_AUDIENCE,
        &grant.subject,
        TOKEN_TTL_SECS,
        &entities,
        &roles,
    );
    let mut r = axum::Json(json!({
        "access_token": token,
        "id_token": token,
        "token_type": "Bearer",
        "expires_in": TOKEN_TTL_SECS,
    }))
    .into_response();
    r.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        "no-store".parse().unwrap(),
    );
    r
}
