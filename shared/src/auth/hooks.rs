//! ID tokens from the IdPs an entity allows to call the post-login hook: one verifier per
//! configured IdP, each with its own JWKS cache.

use crate::auth::{JwtVerifier, KeySource};
use crate::model::LoginHook;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One verifier per configured IdP, kept for the life of the process so each keeps its JWKS
/// cache. Keyed by the whole configuration: changing a hook's settings makes a new verifier.
#[derive(Default)]
pub struct HookVerifiers {
    verifiers: Mutex<HashMap<(String, String, String), Arc<JwtVerifier>>>,
}

impl HookVerifiers {
    pub fn for_hook(&self, hook: &LoginHook) -> Result<Arc<JwtVerifier>, String> {
        let key = (
            hook.issuer.clone(),
            hook.jwks_url.clone(),
            hook.audience.clone(),
        );
        let mut map = self.verifiers.lock().expect("verifier map lock");
        if let Some(v) = map.get(&key) {
            return Ok(v.clone());
        }
        let url = url::Url::parse(&hook.jwks_url).map_err(|e| e.to_string())?;
        // RS256 is pinned by the key source: a token cannot choose its algorithm.
        let verifier = Arc::new(JwtVerifier::new(
            KeySource::Jwks(url),
            &hook.issuer,
            &hook.audience,
        ));
        map.insert(key, verifier.clone());
        Ok(verifier)
    }
}

/// The `iss` a token claims, read before verification only to pick the IdP whose keys then
/// verify everything (signature, `iss` again, `aud`, `exp`).
pub fn claimed_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("iss")?.as_str().map(str::to_string)
}
