//! The JWKS cache: an IdP's signing keys, kept for 10 minutes, refetched on an unknown key id
//! (rotation) but at most every 30 s, so random key ids cannot make us hammer the IdP.

use super::AuthError;
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::JwkSet;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

const JWKS_TTL: Duration = Duration::from_secs(600);
const JWKS_MIN_REFETCH: Duration = Duration::from_secs(30);

struct CachedKeys {
    keys: JwkSet,
    fetched: Instant,
}

pub struct JwksCache {
    http: reqwest::Client,
    cached: Mutex<Option<CachedKeys>>,
}

impl Default for JwksCache {
    fn default() -> Self {
        Self::new()
    }
}

impl JwksCache {
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .build()
            .expect("a reqwest client with a timeout always builds");
        Self {
            http,
            cached: Mutex::new(None),
        }
    }

    /// Looks the key id up in the cached JWKS; an unknown id refetches (key rotation), but
    /// not more than every 30 s so random key ids cannot make us hammer the IdP.
    pub async fn key(&self, url: &url::Url, kid: &str) -> Result<DecodingKey, AuthError> {
        let mut cache = self.cached.lock().await;
        let fresh = cache
            .as_ref()
            .is_some_and(|c| c.fetched.elapsed() < JWKS_TTL);
        let found = cache
            .as_ref()
            .filter(|_| fresh)
            .and_then(|c| c.keys.find(kid).cloned());
        let jwk = match found {
            Some(jwk) => jwk,
            None => {
                let may_refetch = cache
                    .as_ref()
                    .is_none_or(|c| !fresh || c.fetched.elapsed() >= JWKS_MIN_REFETCH);
                if may_refetch {
                    *cache = Some(CachedKeys {
                        keys: self.fetch_jwks(url).await?,
                        fetched: Instant::now(),
                    });
                }
                cache
                    .as_ref()
                    .and_then(|c| c.keys.find(kid).cloned())
                    .ok_or_else(|| AuthError::Rejected("unknown signing key id".into()))?
            }
        };
        DecodingKey::from_jwk(&jwk).map_err(|e| AuthError::KeysUnavailable(format!("bad JWK: {e}")))
    }

    async fn fetch_jwks(&self, url: &url::Url) -> Result<JwkSet, AuthError> {
        let response = self
            .http
            .get(url.clone())
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| {
                AuthError::KeysUnavailable(format!("JWKS request failed: {}", e.without_url()))
            })?;
        response
            .json::<JwkSet>()
            .await
            .map_err(|e| AuthError::KeysUnavailable(format!("JWKS is not valid: {e}")))
    }
}
