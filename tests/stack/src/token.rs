//! Local development tokens (HS256 with the local shared secret). Production verifies RS256
//! tokens from the IdP's JWKS instead.

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::json;

pub const DEV_SECRET: &str = "local-dev-secret-change-me";
pub const DEV_ISSUER: &str = "http://localhost/zuora-sync";
pub const DEV_AUDIENCE: &str = "zuora-sync";

pub fn mint_hs256(secret: &str, issuer: &str, audience: &str, sub: &str, ttl_secs: i64) -> String {
    let now = jsonwebtoken::get_current_timestamp() as i64;
    let claims = json!({
        "sub": sub,
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "exp": now + ttl_secs,
    });
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 encoding cannot fail")
}
