//! Configuration from the environment, parsed once at start-up. A bad value stops the
//! function at init with a message naming the variable, instead of failing every request.

use crate::auth::KeySource;
use crate::domain::EntityId;
use crate::store::Tables;
use crate::sync::SyncSettings;
use crate::zuora::{Secret, ZuoraConfig};
use std::time::Duration;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {why}")]
    Invalid { name: &'static str, why: String },
}

/// Reads variables through a function, so tests need not touch the process environment.
pub struct Env<F: Fn(&str) -> Option<String>>(pub F);

impl Env<fn(&str) -> Option<String>> {
    pub fn process() -> Self {
        Env(|k| std::env::var(k).ok())
    }
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    fn optional(&self, name: &'static str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.optional(name).ok_or(ConfigError::Missing(name))
    }

    fn parsed<T: std::str::FromStr>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        match self.optional(name) {
            None => Ok(default),
            Some(raw) => raw.parse().map_err(|e: T::Err| ConfigError::Invalid {
                name,
                why: e.to_string(),
            }),
        }
    }

    fn millis(&self, name: &'static str, default_ms: u64) -> Result<Duration, ConfigError> {
        self.parsed(name, default_ms).map(Duration::from_millis)
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub entity: EntityId,
    pub zuora: ZuoraConfig,
    pub tables: Tables,
    pub queue_url: String,
    pub event_retention_days: i64,
    pub sync: SyncSettings,
}

impl Config {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let base_url = env.required("ZUORA_BASE_URL")?;
        let base_url = url::Url::parse(&base_url).map_err(|e| ConfigError::Invalid {
            name: "ZUORA_BASE_URL",
            why: e.to_string(),
        })?;
        let mut zuora = ZuoraConfig::new(
            base_url,
            env.required("ZUORA_CLIENT_ID")?,
            Secret::new(env.required("ZUORA_CLIENT_SECRET")?),
        );
        zuora.entity_header = env.optional("ZUORA_ENTITY_HEADER");
        zuora.use_object_query = env.parsed("ZUORA_USE_OBJECT_QUERY", true)?;
        zuora.max_concurrency = env.parsed("ZUORA_MAX_CONCURRENCY", 20usize)?;
        zuora.timeout = env.millis("ZUORA_TIMEOUT_MS", 10_000)?;
        zuora.retry.max_attempts = env.parsed("ZUORA_MAX_ATTEMPTS", 4u32)?;
        if zuora.max_concurrency == 0 || zuora.retry.max_attempts == 0 {
            return Err(ConfigError::Invalid {
                name: "ZUORA_MAX_CONCURRENCY/ZUORA_MAX_ATTEMPTS",
                why: "must be at least 1".into(),
            });
        }
        let entity_raw = env
            .optional("ZUORA_ENTITY_ID")
            .unwrap_or_else(|| "default".into());
        let entity = EntityId::parse(&entity_raw).map_err(|e| ConfigError::Invalid {
            name: "ZUORA_ENTITY_ID",
            why: e.to_string(),
        })?;
        let sync = SyncSettings {
            lease_margin: env.millis("LOCK_LEASE_MARGIN_MS", 5_000)?,
            lock_wait: env.millis("LOCK_WAIT_MS", 3_000)?,
            follow_up_min_time: env.millis("FOLLOW_UP_MIN_TIME_MS", 5_000)?,
        };
        Ok(Self {
            entity,
            zuora,
            tables: Tables {
                mirror: env.required("MIRROR_TABLE")?,
                locks: env.required("LOCKS_TABLE")?,
                events: env.required("EVENTS_TABLE")?,
            },
            queue_url: env.required("SYNC_QUEUE_URL")?,
            event_retention_days: env.parsed("EVENT_RETENTION_DAYS", 90i64)?,
            sync,
        })
    }
}

/// The sync API's own settings.
pub struct ApiConfig {
    /// A prefix the routes also answer under, such as `/api`.
    pub base_path: String,
    pub key_source: KeySource,
    pub issuer: String,
    pub audience: String,
    /// Deadline used when a request carries no Lambda context (the local server).
    pub default_timeout: Duration,
}

impl ApiConfig {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let key_source = match (
            env.optional("JWT_JWKS_URL"),
            env.optional("JWT_HS256_SECRET"),
        ) {
            (Some(url), None) => {
                KeySource::Jwks(url::Url::parse(&url).map_err(|e| ConfigError::Invalid {
                    name: "JWT_JWKS_URL",
                    why: e.to_string(),
                })?)
            }
            (None, Some(secret)) if secret.len() >= 16 => KeySource::Hs256(Secret::new(secret)),
            (None, Some(_)) => {
                return Err(ConfigError::Invalid {
                    name: "JWT_HS256_SECRET",
                    why: "must be at least 16 characters".into(),
                });
            }
            (Some(_), Some(_)) => {
                return Err(ConfigError::Invalid {
                    name: "JWT_JWKS_URL/JWT_HS256_SECRET",
                    why: "set exactly one of them, so the token algorithm is pinned".into(),
                });
            }
            (None, None) => return Err(ConfigError::Missing("JWT_JWKS_URL or JWT_HS256_SECRET")),
        };
        let base_path = env.optional("API_BASE_PATH").unwrap_or_default();
        let base_path = base_path.trim_end_matches('/').to_string();
        if !base_path.is_empty() && !base_path.starts_with('/') {
            return Err(ConfigError::Invalid {
                name: "API_BASE_PATH",
                why: "must start with '/'".into(),
            });
        }
        Ok(Self {
            base_path,
            key_source,
            issuer: env.required("JWT_ISSUER")?,
            audience: env.required("JWT_AUDIENCE")?,
            default_timeout: env.millis("API_TIMEOUT_MS", 29_000)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Env<impl Fn(&str) -> Option<String>> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Env(move |k: &str| map.get(k).cloned())
    }

    const BASE: [(&str, &str); 7] = [
        ("ZUORA_BASE_URL", "https://rest.test.zuora.com"),
        ("ZUORA_CLIENT_ID", "id"),
        ("ZUORA_CLIENT_SECRET", "secret"),
        ("MIRROR_TABLE", "m"),
        ("LOCKS_TABLE", "l"),
        ("EVENTS_TABLE", "e"),
        ("SYNC_QUEUE_URL", "http://q"),
    ];

    #[test]
    fn reads_defaults() {
        let c = Config::from_env(&env(&BASE)).unwrap();
        assert_eq!(c.entity.as_str(), "default");
        assert_eq!(c.zuora.max_concurrency, 20);
        assert!(c.zuora.use_object_query);
        assert_eq!(c.sync.lock_wait, Duration::from_secs(3));
    }

    #[test]
    fn names_the_bad_variable() {
        let mut pairs = BASE.to_vec();
        pairs.push(("ZUORA_MAX_CONCURRENCY", "many"));
        let err = Config::from_env(&env(&pairs)).unwrap_err();
        assert!(err.to_string().contains("ZUORA_MAX_CONCURRENCY"));
        let err = Config::from_env(&env(&BASE[1..])).unwrap_err();
        assert_eq!(err, ConfigError::Missing("ZUORA_BASE_URL"));
    }

    #[test]
    fn api_needs_exactly_one_key_source() {
        let both = env(&[
            ("JWT_JWKS_URL", "https://idp/jwks"),
            ("JWT_HS256_SECRET", "0123456789abcdef"),
            ("JWT_ISSUER", "i"),
            ("JWT_AUDIENCE", "a"),
        ]);
        assert!(ApiConfig::from_env(&both).is_err());
        let hs = env(&[
            ("JWT_HS256_SECRET", "0123456789abcdef"),
            ("JWT_ISSUER", "i"),
            ("JWT_AUDIENCE", "a"),
            ("API_BASE_PATH", "/api/"),
        ]);
        assert_eq!(ApiConfig::from_env(&hs).unwrap().base_path, "/api");
    }
}
