//! Bearer JWT verification: signature, pinned algorithm, `exp`, `iss` and `aud`.
//!
//! Exactly one key source is configured: an RS256 JWKS URL (production IdPs) or an HS256
//! shared secret (local use). The algorithm is pinned by that choice, so a token cannot pick
//! its own (`alg: none`, or HS256 signed with the RSA public key).

use super::JwksCache;
use crate::model::Secret;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AuthError {
    #[error("missing bearer token: send 'Authorization: Bearer <token>'")]
    Missing,
    #[error("token is malformed: {0}")]
    Malformed(String),
    #[error("token is not accepted: {0}")]
    Rejected(String),
    /// The verifier itself could not get keys; not the caller's fault.
    #[error("token signing keys are unavailable: {0}")]
    KeysUnavailable(String),
}

#[derive(Debug, Clone, Deserialize)]
pub struct Claims {
    pub sub: Option<String>,
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// What a verified token lets its holder do: which entities, in which roles. Read from two
/// claims (names configurable); each holds an array of strings or one space-separated string.
/// `*` among the entities grants every configured entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's subject, for audit fields (never the token itself).
    pub subject: String,
    pub all_entities: bool,
    pub entities: std::collections::BTreeSet<String>,
    pub roles: std::collections::BTreeSet<Role>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Sync calls and reading the event log.
    Sync,
    /// Settings; an admin may also do everything `sync` may.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sync => "sync",
            Self::Admin => "admin",
        }
    }
}

/// The claim names that carry entities and roles.
#[derive(Debug, Clone)]
pub struct AccessClaims {
    pub entities: String,
    pub roles: String,
}

impl Default for AccessClaims {
    fn default() -> Self {
        Self {
            entities: "zuora_entities".into(),
            roles: "zuora_roles".into(),
        }
    }
}

fn claim_values(value: Option<&serde_json::Value>) -> Vec<String> {
    match value {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str())
            .map(str::to_string)
            .collect(),
        Some(serde_json::Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

impl Principal {
    pub fn from_claims(claims: &Claims, names: &AccessClaims) -> Self {
        let entities = claim_values(claims.other.get(&names.entities));
        let roles = claim_values(claims.other.get(&names.roles))
            .iter()
            .filter_map(|r| match r.as_str() {
                "sync" => Some(Role::Sync),
                "admin" => Some(Role::Admin),
                _ => None,
            })
            .collect();
        Self {
            subject: claims.sub.clone().unwrap_or_default(),
            all_entities: entities.iter().any(|e| e == "*"),
            entities: entities.into_iter().filter(|e| e != "*").collect(),
            roles,
        }
    }

    pub fn may_use(&self, entity: &str) -> bool {
        self.all_entities || self.entities.contains(entity)
    }

    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role) || self.roles.contains(&Role::Admin)
    }
}

#[derive(Debug, Clone)]
pub enum KeySource {
    Hs256(Secret),
    Jwks(url::Url),
}

pub struct JwtVerifier {
    source: KeySource,
    validation: Validation,
    /// Only used with `KeySource::Jwks`.
    jwks: JwksCache,
}

impl JwtVerifier {
    pub fn new(source: KeySource, issuer: &str, audience: &str) -> Self {
        let alg = match source {
            KeySource::Hs256(_) => Algorithm::HS256,
            KeySource::Jwks(_) => Algorithm::RS256,
        };
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = 30;
        Self {
            source,
            validation,
            jwks: JwksCache::new(),
        }
    }

    /// The same verifier with its JWKS cache timed otherwise (tests).
    pub fn with_jwks_cache(mut self, jwks: JwksCache) -> Self {
        self.jwks = jwks;
        self
    }

    fn algorithm(&self) -> Algorithm {
        self.validation.algorithms[0]
    }

    /// Verifies the `Authorization` header value.
    pub async fn verify_header(&self, header: Option<&str>) -> Result<Claims, AuthError> {
        let header = header.map(str::trim).filter(|h| !h.is_empty());
        let Some(header) = header else {
            return Err(AuthError::Missing);
        };
        let token = match header.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => {
                return Err(AuthError::Malformed(
                    "the Authorization header must use the Bearer scheme".into(),
                ));
            }
        };
        self.verify(token).await
    }

    pub async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let header = decode_header(token)
            .map_err(|e| AuthError::Malformed(format!("cannot read the token header ({e})")))?;
        if header.alg != self.algorithm() {
            return Err(AuthError::Rejected(format!(
                "algorithm {:?} is not accepted (expected {:?})",
                header.alg,
                self.algorithm()
            )));
        }
        let key = self.key_for(header.kid.as_deref()).await?;
        decode::<Claims>(token, &key, &self.validation)
            .map(|data| data.claims)
            .map_err(describe)
    }

    async fn key_for(&self, kid: Option<&str>) -> Result<DecodingKey, AuthError> {
        match &self.source {
            KeySource::Hs256(secret) => Ok(DecodingKey::from_secret(secret.expose().as_bytes())),
            KeySource::Jwks(url) => {
                let kid =
                    kid.ok_or_else(|| AuthError::Malformed("token header has no kid".into()))?;
                self.jwks.key(url, kid).await
            }
        }
    }
}

fn describe(e: jsonwebtoken::errors::Error) -> AuthError {
    let why = match e.kind() {
        ErrorKind::ExpiredSignature => "it has expired",
        ErrorKind::ImmatureSignature => "it is not valid yet (nbf)",
        ErrorKind::InvalidIssuer => "its issuer is not accepted",
        ErrorKind::InvalidAudience => "its audience is not accepted",
        ErrorKind::InvalidSignature => "its signature is invalid",
        ErrorKind::InvalidAlgorithm => "its algorithm is not accepted",
        ErrorKind::MissingRequiredClaim(claim) => {
            return AuthError::Rejected(format!("the required claim {claim} is missing"));
        }
        ErrorKind::InvalidToken
        | ErrorKind::Base64(_)
        | ErrorKind::Json(_)
        | ErrorKind::Utf8(_) => {
            return AuthError::Malformed("the token is not a valid JWT".into());
        }
        _ => "it could not be verified",
    };
    AuthError::Rejected(why.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_read_arrays_strings_and_wildcards() {
        let claims: Claims = serde_json::from_value(serde_json::json!({
            "sub": "u1", "zuora_entities": ["eu", "us"], "zuora_roles": "sync"
        }))
        .unwrap();
        let p = Principal::from_claims(&claims, &AccessClaims::default());
        assert!(p.may_use("eu") && !p.may_use("apac"));
        assert!(p.has_role(Role::Sync) && !p.has_role(Role::Admin));
        let admin: Claims = serde_json::from_value(serde_json::json!({
            "zuora_entities": "*", "zuora_roles": ["admin", "unknown"]
        }))
        .unwrap();
        let p = Principal::from_claims(&admin, &AccessClaims::default());
        assert!(p.may_use("anything") && p.has_role(Role::Sync));
        let none: Claims = serde_json::from_value(serde_json::json!({})).unwrap();
        let p = Principal::from_claims(&none, &AccessClaims::default());
        assert!(!p.may_use("default") && !p.has_role(Role::Sync));
    }
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    fn verifier() -> JwtVerifier {
        JwtVerifier::new(
            KeySource::Hs256(Secret::new("s3cret")),
            "https://iss",
            "zuora-sync",
        )
    }

    fn token(claims: serde_json::Value, secret: &str) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn exp(offset: i64) -> i64 {
        jsonwebtoken::get_current_timestamp() as i64 + offset
    }

    #[tokio::test]
    async fn accepts_a_valid_token() {
        let t = token(
            json!({"sub":"u1","iss":"https://iss","aud":"zuora-sync","exp":exp(60)}),
            "s3cret",
        );
        let claims = verifier()
            .verify_header(Some(&format!("Bearer {t}")))
            .await
            .unwrap();
        assert_eq!(claims.sub.as_deref(), Some("u1"));
    }

    #[tokio::test]
    async fn rejects_each_bad_token_with_its_reason() {
        let v = verifier();
        let good = json!({"iss":"https://iss","aud":"zuora-sync","exp":exp(60)});
        let cases = [
            (
                json!({"iss":"https://iss","aud":"zuora-sync","exp":exp(-120)}),
                "s3cret",
                "expired",
            ),
            (
                json!({"iss":"https://other","aud":"zuora-sync","exp":exp(60)}),
                "s3cret",
                "issuer",
            ),
            (
                json!({"iss":"https://iss","aud":"other","exp":exp(60)}),
                "s3cret",
                "audience",
            ),
            (good.clone(), "wrong", "signature"),
            (
                json!({"iss":"https://iss","aud":"zuora-sync"}),
                "s3cret",
                "exp",
            ),
        ];
        for (claims, secret, why) in cases {
            let err = v.verify(&token(claims, secret)).await.unwrap_err();
            assert!(err.to_string().contains(why), "{why}: {err}");
        }
        assert_eq!(v.verify_header(None).await.unwrap_err(), AuthError::Missing);
        assert!(matches!(
            v.verify_header(Some("Basic abc")).await,
            Err(AuthError::Malformed(_))
        ));
        assert!(matches!(
            v.verify("garbage").await,
            Err(AuthError::Malformed(_))
        ));
    }
}
