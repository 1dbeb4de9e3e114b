//! `POST /services/oauth2/token`: the client-credentials and JWT-bearer flows.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::errors::OAuthError;
use crate::state::SimState;

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Audiences Salesforce accepts besides the instance's own URL.
const LOGIN_AUDIENCES: [&str; 2] = [
    "https://login.salesforce.com",
    "https://test.salesforce.com",
];

/// How far in the future `exp` may be (Salesforce: "within 3 minutes") ...
const MAX_EXP_AHEAD_SECS: u64 = 180;
/// ... and the clock skew tolerated both ways.
const SKEW_SECS: u64 = 10;

const UNSUPPORTED_GRANT: OAuthError =
    OAuthError::new("unsupported_grant_type", "grant type not supported");
const INVALID_CLIENT_ID: OAuthError =
    OAuthError::new("invalid_client_id", "client identifier invalid");
const INVALID_ASSERTION: OAuthError = OAuthError::new("invalid_grant", "invalid assertion");

/// The parsed form, or `invalid_request` when the body is not a URL-encoded form.
pub fn parse_form(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Vec<(String, String)>, OAuthError> {
    let invalid = OAuthError::new("invalid_request", "invalid request");
    let is_form =
        content_type.is_none_or(|kind| kind.starts_with("application/x-www-form-urlencoded"));
    if !is_form || std::str::from_utf8(body).is_err() {
        return Err(invalid);
    }
    Ok(url::form_urlencoded::parse(body).into_owned().collect())
}

/// Checks the grant and answers the token response body. `base` is the URL the client used to
/// reach the simulator (its `instance_url`).
pub fn token(state: &SimState, base: &str, form: &[(String, String)]) -> Result<Value, OAuthError> {
    let field = |name: &str| {
        form.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    match field("grant_type") {
        Some("client_credentials") => {
            client_credentials(state, field("client_id"), field("client_secret"))?;
            Ok(token_body(state, base, true))
        }
        Some(JWT_BEARER) => {
            let assertion = field("assertion")
                .ok_or(OAuthError::new("invalid_request", "assertion is missing"))?;
            jwt_bearer(state, base, assertion)?;
            Ok(token_body(state, base, false))
        }
        _ => Err(UNSUPPORTED_GRANT),
    }
}

fn client_credentials(
    state: &SimState,
    client_id: Option<&str>,
    client_secret: Option<&str>,
) -> Result<(), OAuthError> {
    if client_id != Some(state.config.client_id.as_str()) {
        return Err(INVALID_CLIENT_ID);
    }
    if client_secret != Some(state.config.client_secret.as_str()) {
        return Err(OAuthError::new(
            "invalid_client",
            "invalid client credentials",
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Value>,
    exp: Option<u64>,
}

/// Salesforce finds the connected app by `iss`, verifies the signature with its certificate,
/// then checks audience, expiry and the user.
fn jwt_bearer(state: &SimState, base: &str, assertion: &str) -> Result<(), OAuthError> {
    let unverified = jsonwebtoken::dangerous::insecure_decode::<Claims>(assertion)
        .map_err(|_| INVALID_ASSERTION)?
        .claims;
    if unverified.iss.as_deref() != Some(state.config.client_id.as_str()) {
        return Err(INVALID_CLIENT_ID);
    }
    let key = state.jwt_key.as_ref().ok_or(INVALID_ASSERTION)?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Claims>(assertion, key, &validation)
        .map_err(|_| INVALID_ASSERTION)?
        .claims;
    if !audience_ok(claims.aud.as_ref(), &[base, &state.base_url]) {
        return Err(OAuthError::new("invalid_grant", "audience is invalid"));
    }
    check_expiry(claims.exp)?;
    if claims.sub.as_deref() != Some(state.config.username.as_str()) {
        return Err(OAuthError::new(
            "invalid_grant",
            "user hasn't approved this consumer",
        ));
    }
    Ok(())
}

fn audience_ok(aud: Option<&Value>, own: &[&str]) -> bool {
    let accepted = |text: &str| {
        let text = text.trim_end_matches('/');
        LOGIN_AUDIENCES.contains(&text) || own.contains(&text)
    };
    match aud {
        Some(Value::String(text)) => accepted(text),
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).any(accepted),
        _ => false,
    }
}

fn check_expiry(exp: Option<u64>) -> Result<(), OAuthError> {
    let exp = exp.ok_or(INVALID_ASSERTION)?;
    let now = now_secs();
    if exp + SKEW_SECS < now {
        return Err(OAuthError::new(
            "invalid_grant",
            "expired authorization code",
        ));
    }
    if exp > now + MAX_EXP_AHEAD_SECS + SKEW_SECS {
        return Err(INVALID_ASSERTION);
    }
    Ok(())
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or_default()
}

/// The success body. Client credentials also carry `signature` and `issued_at` (epoch ms as a
/// string); neither flow has `expires_in` or a refresh token.
fn token_body(state: &SimState, base: &str, client_credentials: bool) -> Value {
    let token = state.issue_token();
    state.count_token_issued();
    let mut body = json!({
        "access_token": token,
        "scope": "api",
        "instance_url": base,
        "id": format!("{base}/id/{}/{}", state.org_id, state.user_id),
        "token_type": "Bearer",
    });
    if client_credentials {
        let issued_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_millis())
            .unwrap_or_default();
        // Salesforce signs id + issued_at with the consumer secret; clients do not verify it
        // here, so a random value of the same shape is enough.
        let signature = STANDARD.encode(uuid::Uuid::new_v4().as_bytes().repeat(2));
        body["signature"] = Value::String(signature);
        body["issued_at"] = Value::String(issued_at.to_string());
    }
    body
}
