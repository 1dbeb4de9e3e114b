//! Callout credentials: how one entity's Zuora callouts prove they come from its tenant.

use crate::model::Secret;
use base64::Engine;
use subtle::ConstantTimeEq;

/// How one entity's callouts prove they come from its Zuora tenant.
#[derive(Clone)]
pub enum CalloutAuth {
    Basic {
        user: String,
        password: Secret,
    },
    /// A custom header with a shared secret (set in the callout template).
    Header {
        name: String,
        secret: Secret,
    },
}

impl std::fmt::Debug for CalloutAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Basic { user, .. } => write!(f, "Basic({user}, ***)"),
            Self::Header { name, .. } => write!(f, "Header({name}, ***)"),
        }
    }
}

/// Equal lengths and contents, compared in constant time (`subtle`).
fn same(a: &[u8], b: &[u8]) -> bool {
    bool::from(a.ct_eq(b))
}

impl CalloutAuth {
    /// Whether the request's headers carry this entity's callout credentials.
    pub fn accepts(&self, headers: &http::HeaderMap) -> bool {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        match self {
            Self::Basic { user, password } => {
                let Some(given) = header("authorization").and_then(|h| {
                    h.strip_prefix("Basic ")
                        .or_else(|| h.strip_prefix("basic "))
                }) else {
                    return false;
                };
                let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(given.trim())
                else {
                    return false;
                };
                let expected = format!("{user}:{}", password.expose());
                same(&decoded, expected.as_bytes())
            }
            Self::Header { name, secret } => {
                header(name).is_some_and(|v| same(v.as_bytes(), secret.expose().as_bytes()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        h.insert("authorization", format!("Basic {token}").parse().unwrap());
        h
    }

    #[test]
    fn constant_time_compare_needs_equal_lengths() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
    }

    #[test]
    fn basic_credentials_must_match_exactly() {
        let auth = CalloutAuth::Basic {
            user: "zuora".into(),
            password: Secret::new("pw"),
        };
        assert!(auth.accepts(&basic("zuora", "pw")));
        assert!(!auth.accepts(&basic("zuora", "pw2")));
        assert!(!auth.accepts(&basic("zuor", "apw")));
        assert!(!auth.accepts(&http::HeaderMap::new()));
    }

    #[test]
    fn header_secret_must_match_exactly() {
        let auth = CalloutAuth::Header {
            name: "x-callout-secret".into(),
            secret: Secret::new("s3cret"),
        };
        let mut h = http::HeaderMap::new();
        h.insert("x-callout-secret", "s3cret".parse().unwrap());
        assert!(auth.accepts(&h));
        h.insert("x-callout-secret", "s3cre".parse().unwrap());
        assert!(!auth.accepts(&h));
    }
}
