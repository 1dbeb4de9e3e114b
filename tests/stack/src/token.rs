//! Local development tokens (HS256 with the local shared secret). Production verifies RS256
//! tokens from the IdP's JWKS instead.

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::json;

pub const DEV_SECRET: &str = "local-dev-secret-change-me";
pub const DEV_ISSUER: &str = "http://localhost/zuora-sync";
pub const DEV_AUDIENCE: &str = "zuora-sync";

/// A token for every entity with both roles (the local stack's default).
pub fn mint_hs256(secret: &str, issuer: &str, audience: &str, sub: &str, ttl_secs: i64) -> String {
    mint_hs256_for(
        secret,
        issuer,
        audience,
        sub,
        ttl_secs,
        &["*"],
        &["sync", "admin"],
    )
}

/// A token limited to some entities and roles (claims `zuora_entities`, `zuora_roles`).
pub fn mint_hs256_for(
    secret: &str,
    issuer: &str,
    audience: &str,
    sub: &str,
    ttl_secs: i64,
    entities: &[&str],
    roles: &[&str],
) -> String {
    let now = jsonwebtoken::get_current_timestamp() as i64;
    let claims = json!({
        "sub": sub,
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "exp": now + ttl_secs,
        "zuora_entities": entities,
        "zuora_roles": roles,
    });
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 encoding cannot fail")
}
