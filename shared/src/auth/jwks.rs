//! The JWKS cache: an IdP's signing keys, kept for 10 minutes, refetched on an unknown key id
//! (rotation) but at most every 30 s, so random key ids cannot make us hammer the IdP (M4).
//! One fetch at a time (callers wait for it rather than each fetching), and when the IdP fails,
//! the keys fetched before stay in use for up to a day (stale-if-error) and the failure is
//! remembered for the same 30 s, so an IdP outage neither breaks valid tokens nor makes every
//! request wait on a dead endpoint.

use super::AuthError;
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::JwkSet;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

const JWKS_TTL: Duration = Duration::from_secs(600);
const MAX_JWKS_BYTES: usize = 64 * 1024;
const JWKS_MIN_REFETCH: Duration = Duration::from_secs(30);
/// One JWKS request, connection included (inside Cognito's and the login hook's budgets).
const JWKS_TIMEOUT: Duration = Duration::from_secs(3);
/// Keys older than this are not used even when the IdP cannot give newer ones.
const JWKS_MAX_STALE: Duration = Duration::from_secs(24 * 3600);

struct CachedKeys {
    keys: JwkSet,
    fetched: Instant,
}

#[derive(Default)]
struct Cache {
    keys: Option<CachedKeys>,
    /// The last fetch tried, whether it succeeded or not.
    attempted: Option<Instant>,
}

pub struct JwksCache {
    http: std::sync::OnceLock<reqwest::Client>,
    cached: Mutex<Cache>,
    ttl: Duration,
    min_refetch: Duration,
}

impl Default for JwksCache {
    fn default() -> Self {
        Self::new()
    }
}

impl JwksCache {
    pub fn new() -> Self {
        Self::with_timing(JWKS_TTL, JWKS_MIN_REFETCH)
    }

    /// A cache whose keys are fresh for `ttl`, fetched at most every `min_refetch`.
    pub fn with_timing(ttl: Duration, min_refetch: Duration) -> Self {
        Self {
            http: std::sync::OnceLock::new(),
            cached: Mutex::new(Cache::default()),
            ttl,
            min_refetch,
        }
    }

    /// The same cache fetching with `http` (the composition root's client for admin-configured
    /// URLs: no redirects, inward addresses refused when a name resolves).
    pub fn using(self, http: reqwest::Client) -> Self {
        let _ = self.http.set(http);
        self
    }

    /// The client given by [`using`](Self::using), or one of its own built at the first
    /// fetch: a verifier of HS256 tokens never fetches, and never loads root certificates.
    fn http(&self) -> &reqwest::Client {
        self.http.get_or_init(|| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("a reqwest client without custom TLS settings always builds")
        })
    }

    /// Looks the key id up in the cached JWKS; stale keys or an unknown id refetch (key
    /// rotation), at most every `min_refetch`. The mutex is held across the fetch on purpose:
    /// concurrent callers wait for that one fetch instead of each making their own.
    pub async fn key(&self, url: &url::Url, kid: &str) -> Result<DecodingKey, AuthError> {
        let mut cache = self.cached.lock().await;
        let fresh = cache
            .keys
            .as_ref()
            .is_some_and(|c| c.fetched.elapsed() < self.ttl);
        let known = cache.keys.as_ref().and_then(|c| c.keys.find(kid).cloned());
        if let Some(jwk) = known.filter(|_| fresh) {
            return decoding_key(&jwk);
        }
        let may_fetch = cache
            .attempted
            .is_none_or(|at| at.elapsed() >= self.min_refetch);
        let mut failure = None;
        if may_fetch {
            cache.attempted = Some(Instant::now());
            match self.fetch_jwks(url).await {
                Ok(keys) => {
                    cache.keys = Some(CachedKeys {
                        keys,
                        fetched: Instant::now(),
                    })
                }
                Err(e) => {
                    tracing::warn!(error = %e, "JWKS fetch failed; keys fetched before stay in use");
                    failure = Some(e);
                }
            }
        }
        let usable = cache
            .keys
            .as_ref()
            .filter(|c| c.fetched.elapsed() < JWKS_MAX_STALE);
        match (usable, failure) {
            (Some(c), _) => match c.keys.find(kid) {
                Some(jwk) => decoding_key(jwk),
                None => Err(AuthError::Rejected("unknown signing key id".into())),
            },
            (None, Some(e)) => Err(e),
            (None, None) => Err(AuthError::KeysUnavailable(
                "the IdP's signing keys could not be fetched; retry shortly".into(),
            )),
        }
    }

    async fn fetch_jwks(&self, url: &url::Url) -> Result<JwkSet, AuthError> {
        let response = self
            .http()
            .get(url.clone())
            .timeout(JWKS_TIMEOUT)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| {
                AuthError::KeysUnavailable(format!("JWKS request failed: {}", e.without_url()))
            })?;
        let mut response = response;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| {
            AuthError::KeysUnavailable(format!("JWKS request failed: {}", e.without_url()))
        })? {
            // A key set is a few KB: a larger answer is not one (H10).
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(AuthError::KeysUnavailable(format!(
                    "the JWKS answer is larger than {MAX_JWKS_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice::<JwkSet>(&body)
            .map_err(|e| AuthError::KeysUnavailable(format!("JWKS is not valid: {e}")))
    }
}

fn decoding_key(jwk: &jsonwebtoken::jwk::Jwk) -> Result<DecodingKey, AuthError> {
    DecodingKey::from_jwk(jwk).map_err(|e| AuthError::KeysUnavailable(format!("bad JWK: {e}")))
}
