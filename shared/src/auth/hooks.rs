//! ID tokens from the IdPs an entity allows to call the post-login hook: one verifier per
//! configured IdP, each with its own JWKS cache.

use crate::auth::{JwksCache, JwtVerifier, KeySource};
use crate::model::{LoginHook, OutboundPolicy};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One verifier per configured IdP, kept for the life of the process so each keeps its JWKS
/// cache. Keyed by the whole configuration: changing a hook's settings makes a new verifier.
/// The JWKS URLs come from settings, so each is checked against the outbound rules before
/// use, and fetched with the composition root's guarded client.
#[derive(Default)]
pub struct HookVerifiers {
    verifiers: Mutex<HashMap<(String, String, String), Arc<JwtVerifier>>>,
    /// `None`: each verifier's own client (no redirects, no address checks at connect time).
    http: Option<reqwest::Client>,
    outbound: OutboundPolicy,
}

impl HookVerifiers {
    /// Verifiers fetching keys with `http`, from URLs `outbound` allows.
    pub fn new(http: reqwest::Client, outbound: OutboundPolicy) -> Self {
        Self {
            verifiers: Mutex::default(),
            http: Some(http),
            outbound,
        }
    }

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
        let url = self
            .outbound
            .check_url(&hook.jwks_url)
            .map_err(|why| format!("jwks_url {why}"))?;
        // RS256 is pinned by the key source: a token cannot choose its algorithm.
        let mut verifier = JwtVerifier::new(KeySource::Jwks(url), &hook.issuer, &hook.audience);
        if let Some(http) = &self.http {
            verifier = verifier.with_jwks_cache(JwksCache::new().using(http.clone()));
        }
        let verifier = Arc::new(verifier);
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
