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
    /// With a prefix (Cognito's resource server identifier plus `/`, or an Okta scope
    /// prefix), the standard `scope` claim grants too: `<prefix>sync`, `<prefix>admin`, and
    /// `<prefix>entity:<id>` (`<prefix>entity:*` for every entity). Tokens of ordinary OAuth
    /// servers (client credentials) carry no custom claims.
    pub scope_prefix: Option<String>,
}

impl Default for AccessClaims {
    fn default() -> Self {
        Self {
            entities: "zuora_entities".into(),
            roles: "zuora_roles".into(),
            scope_prefix: None,
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
        let mut entities = claim_values(claims.other.get(&names.entities));
        let mut roles = claim_values(claims.other.get(&names.roles));
        if let Some(prefix) = &names.scope_prefix {
            for scope in claim_values(claims.other.get("scope")) {
                let Some(granted) = scope.strip_prefix(prefix.as_str()) else {
                    continue;
                };
                match granted.strip_prefix("entity:") {
                    Some(entity) => entities.push(entity.to_string()),
                    None => roles.push(granted.to_string()),
                }
            }
        }
        let roles = roles
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
    /// Cognito access tokens carry no `aud`: their `client_id` must be this instead, and
    /// `token_use` must be `access` (an ID token is not an access token).
    client_id: Option<String>,
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
        validation.validate_nbf = true;
        validation.leeway = 30;
        Self {
            source,
            validation,
            client_id: None,
            jwks: JwksCache::new(),
        }
    }

    /// Cognito's access tokens: the audience is checked against `client_id` (they have no
    /// `aud`), and only access tokens (`token_use: access`) are accepted.
    pub fn audience_in_client_id(mut self) -> Self {
        let audience = self.validation.aud.clone().unwrap_or_default();
        self.client_id = audience.into_iter().next();
        self.validation.validate_aud = false;
        self.validation.set_required_spec_claims(&["exp", "iss"]);
        self
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
        let claims = decode::<Claims>(token, &key, &self.validation)
            .map(|data| data.claims)
            .map_err(describe)?;
        if let Some(client_id) = &self.client_id {
            let text = |name: &str| claims.other.get(name).and_then(|v| v.as_str());
            if text("client_id") != Some(client_id.as_str()) {
                return Err(AuthError::Rejected("its client_id is not accepted".into()));
            }
            if text("token_use") != Some("access") {
                return Err(AuthError::Rejected("it is not an access token".into()));
            }
        }
        Ok(claims)
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

    /// Ordinary OAuth servers: roles and entities from the standard `scope` claim (Cognito
    /// resource-server scopes), beside or instead of custom claims.
    #[test]
    fn scopes_with_the_configured_prefix_grant_roles_and_entities() {
        let names = AccessClaims {
            scope_prefix: Some("zuora-sync/".into()),
            ..AccessClaims::default()
        };
        let claims: Claims = serde_json::from_value(serde_json::json!({
            "sub": "svc", "scope": "openid zuora-sync/sync zuora-sync/entity:eu other/admin"
        }))
        .unwrap();
        let p = Principal::from_claims(&claims, &names);
        assert!(p.has_role(Role::Sync) && !p.has_role(Role::Admin));
        assert!(p.may_use("eu") && !p.may_use("us"));
        let all: Claims = serde_json::from_value(serde_json::json!({
            "scope": "zuora-sync/admin zuora-sync/entity:*"
        }))
        .unwrap();
        let p = Principal::from_claims(&all, &names);
        assert!(p.has_role(Role::Admin) && p.may_use("anything"));
        // Without a prefix configured, scopes grant nothing.
        let p = Principal::from_claims(&all, &AccessClaims::default());
        assert!(!p.has_role(Role::Sync) && !p.may_use("eu"));
    }

    fn hs256(claims: serde_json::Value) -> String {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(b"a-secret-of-enough-length"),
        )
        .unwrap()
    }

    /// Cognito access tokens have `client_id` and `token_use` instead of `aud`.
    #[tokio::test]
    async fn cognito_access_tokens_are_checked_by_client_id_and_token_use() {
        let verifier = JwtVerifier::new(
            KeySource::Hs256(Secret::new("a-secret-of-enough-length")),
            "https://cognito-idp.eu-west-1.amazonaws.com/pool",
            "client-123",
        )
        .audience_in_client_id();
        let exp = 4_000_000_000u64;
        let token = |client: &str, usage: &str| {
            hs256(
                serde_json::json!({"iss": "https://cognito-idp.eu-west-1.amazonaws.com/pool",
                "exp": exp, "client_id": client, "token_use": usage, "scope": "zuora-sync/sync"}),
            )
        };
        assert!(
            verifier
                .verify(&token("client-123", "access"))
                .await
                .is_ok()
        );
        assert!(
            verifier
                .verify(&token("other-client", "access"))
                .await
                .is_err()
        );
        assert!(verifier.verify(&token("client-123", "id")).await.is_err());
        // nbf is checked too (L8).
        let early = hs256(
            serde_json::json!({"iss": "https://cognito-idp.eu-west-1.amazonaws.com/pool",
            "exp": exp, "nbf": exp - 10, "client_id": "client-123", "token_use": "access"}),
        );
        assert!(verifier.verify(&early).await.is_err());
    }
}
