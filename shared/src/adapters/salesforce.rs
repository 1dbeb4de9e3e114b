//! The Salesforce adapter: OAuth 2.0 (client credentials, or the JWT bearer flow with an RS256
//! key) against the org's My Domain, data calls to the `instance_url` the token endpoint
//! answers, one re-authentication on `401 INVALID_SESSION_ID`, and the org's API usage read
//! from `Sforce-Limit-Info` on every answer.

use crate::model::{ApiUsage, OutboundPolicy, Secret, SfObject};
use crate::ports::{Cause, RecordError, RecordResult, SalesforceApi, SalesforceError};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::Mutex as AsyncMutex;
use url::Url;

/// How the product signs in to the org.
#[derive(Debug, Clone)]
pub enum SalesforceAuth {
    /// `grant_type=client_credentials` (an external client app with a Run As user).
    ClientCredentials { client_id: String, secret: Secret },
    /// `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`: an assertion signed with the
    /// app's RS256 key for `username`; `audience` is `https://login.salesforce.com` (or
    /// `https://test.salesforce.com` for sandboxes).
    JwtBearer {
        client_id: String,
        username: String,
        private_key_pem: Secret,
        audience: String,
    },
}

#[derive(Debug, Clone)]
pub struct SalesforceConfig {
    /// The org's My Domain URL (`https://acme.my.salesforce.com`): the token endpoint's host.
    pub login_url: Url,
    pub auth: SalesforceAuth,
    /// The org has the Zuora 360 package: objects and fields carry its `Zuora__` namespace.
    /// Without it they are custom objects and fields of the same names without the prefix
    /// (`CustomerAccount__c`, `External_Id__c`, …).
    pub zuora360_package: bool,
    /// REST API version (collections upsert needs 46.0 or later).
    pub api_version: String,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
struct Session {
    token: Secret,
    instance_url: Url,
}

pub struct SalesforceClient {
    config: SalesforceConfig,
    http: reqwest::Client,
    policy: OutboundPolicy,
    session: AsyncMutex<Option<Session>>,
    usage: Mutex<Option<ApiUsage>>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    instance_url: String,
}

#[derive(Deserialize)]
struct OAuthError {
    error: String,
    #[serde(default)]
    error_description: String,
}

#[derive(Deserialize)]
struct WireResult {
    #[serde(default)]
    id: Option<String>,
    success: bool,
    #[serde(default)]
    created: Option<bool>,
    #[serde(default)]
    errors: Vec<WireError>,
}

#[derive(Deserialize)]
struct WireError {
    #[serde(rename = "statusCode")]
    status_code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    fields: Vec<String>,
}

/// A request-level error body: `[{"message", "errorCode"}]`.
#[derive(Deserialize)]
struct RequestError {
    #[serde(default)]
    message: String,
    #[serde(rename = "errorCode", default)]
    error_code: String,
}

impl From<WireResult> for RecordResult {
    fn from(w: WireResult) -> Self {
        Self {
            success: w.success,
            id: w.id,
            created: w.created.unwrap_or(false),
            errors: w
                .errors
                .into_iter()
                .map(|e| RecordError {
                    code: e.status_code,
                    message: e.message,
                    fields: e.fields,
                })
                .collect(),
        }
    }
}

/// A transport failure: before the request was sent (nothing to reach), or after (no answer:
/// Salesforce may carry it out anyway).
fn unavailable(e: reqwest::Error) -> SalesforceError {
    if e.is_connect() || e.is_builder() {
        SalesforceError::Unavailable(Cause::with_source(e.to_string(), e))
    } else {
        SalesforceError::NoAnswer(Cause::with_source(e.to_string(), e))
    }
}

impl SalesforceClient {
    /// A client over `http`, the process's client for admin-configured URLs, whose every
    /// connection is checked against `policy` (the My Domain and the instance URL it answers
    /// may not point inward).
    pub fn new(config: SalesforceConfig, policy: OutboundPolicy, http: reqwest::Client) -> Self {
        Self {
            config,
            http,
            policy,
            session: AsyncMutex::new(None),
            usage: Mutex::new(None),
        }
    }

    fn note_usage(&self, headers: &reqwest::header::HeaderMap) {
        let usage = headers
            .get("sforce-limit-info")
            .and_then(|v| v.to_str().ok())
            .and_then(ApiUsage::parse);
        if let Some(usage) = usage {
            *self.usage.lock().unwrap_or_else(|e| e.into_inner()) = Some(usage);
        }
    }

    /// The session, signing in when there is none (or `renew`: the last one was refused).
    async fn session(&self, renew: bool) -> Result<Session, SalesforceError> {
        let mut current = self.session.lock().await;
        if let Some(s) = current.as_ref().filter(|_| !renew) {
            return Ok(s.clone());
        }
        let fresh = self.sign_in().await?;
        *current = Some(fresh.clone());
        Ok(fresh)
    }

    async fn sign_in(&self) -> Result<Session, SalesforceError> {
        let url = self
            .config
            .login_url
            .join("/services/oauth2/token")
            .map_err(|e| SalesforceError::AuthFailed(e.to_string()))?;
        let form: Vec<(&str, String)> = match &self.config.auth {
            SalesforceAuth::ClientCredentials { client_id, secret } => vec![
                ("grant_type", "client_credentials".into()),
                ("client_id", client_id.clone()),
                ("client_secret", secret.expose().to_string()),
            ],
            SalesforceAuth::JwtBearer { .. } => vec![
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:jwt-bearer".into(),
                ),
                ("assertion", self.assertion()?),
            ],
        };
        let answer = self
            .http
            .post(url)
            .timeout(self.config.timeout)
            .form(&form)
            .send()
            .await
            .map_err(unavailable)?;
        let status = answer.status();
        let body = answer.bytes().await.map_err(unavailable)?;
        if status.is_server_error() {
            return Err(SalesforceError::Unavailable(Cause::new(format!(
                "token endpoint answered {status}"
            ))));
        }
        if !status.is_success() {
            let why = serde_json::from_slice::<OAuthError>(&body)
                .map(|e| format!("{}: {}", e.error, e.error_description))
                .unwrap_or_else(|_| format!("token endpoint answered {status}"));
            return Err(SalesforceError::AuthFailed(why));
        }
        let token: TokenAnswer = serde_json::from_slice(&body)
            .map_err(|e| SalesforceError::BadResponse(format!("token answer: {e}")))?;
        // Data calls go where the org says, which must be as reachable as the login host.
        let instance_url = self
            .policy
            .check_url(&token.instance_url)
            .map_err(|e| SalesforceError::AuthFailed(format!("instance_url refused: {e}")))?;
        Ok(Session {
            token: Secret::new(token.access_token),
            instance_url,
        })
    }

    /// The JWT bearer assertion: `iss` the app, `sub` the user, `aud` the login host, expiring
    /// within 3 minutes.
    fn assertion(&self) -> Result<String, SalesforceError> {
        let SalesforceAuth::JwtBearer {
            client_id,
            username,
            private_key_pem,
            audience,
        } = &self.config.auth
        else {
            unreachable!("only the JWT bearer flow signs an assertion");
        };
        let exp = time::OffsetDateTime::now_utc().unix_timestamp() + 170;
        let claims = json!({ "iss": client_id, "sub": username, "aud": audience, "exp": exp });
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(private_key_pem.expose().as_bytes())
            .map_err(|e| {
                SalesforceError::AuthFailed(format!("the JWT key is not an RSA PEM key: {e}"))
            })?;
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
            &claims,
            &key,
        )
        .map_err(|e| SalesforceError::AuthFailed(format!("signing the assertion: {e}")))
    }

    /// One data call; on `401 INVALID_SESSION_ID` signs in again and repeats it once.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, SalesforceError> {
        let mut renew = false;
        loop {
            let session = self.session(renew).await?;
            let url = session
                .instance_url
                .join(&format!(
                    "/services/data/v{}/{path}",
                    self.config.api_version
                ))
                .map_err(|e| SalesforceError::BadResponse(e.to_string()))?;
            let mut request = self
                .http
                .request(method.clone(), url)
                .timeout(self.config.timeout)
                .bearer_auth(session.token.expose())
                .query(query);
            if let Some(body) = body {
                request = request.json(body);
            }
            let answer = request.send().await.map_err(unavailable)?;
            self.note_usage(answer.headers());
            let status = answer.status().as_u16();
            let bytes = answer.bytes().await.map_err(unavailable)?;
            if status == 401 && !renew {
                renew = true;
                continue;
            }
            if (200..300).contains(&status) {
                return serde_json::from_slice(&bytes)
                    .map_err(|e| SalesforceError::BadResponse(format!("{path}: {e}")));
            }
            return Err(request_error(status, &bytes));
        }
    }
}

fn request_error(status: u16, body: &[u8]) -> SalesforceError {
    let first = serde_json::from_slice::<Vec<RequestError>>(body)
        .ok()
        .and_then(|v| v.into_iter().next());
    let (code, message) = first.map(|e| (e.error_code, e.message)).unwrap_or_else(|| {
        (
            String::new(),
            String::from_utf8_lossy(body).chars().take(300).collect(),
        )
    });
    match (status, code.as_str()) {
        (403, "REQUEST_LIMIT_EXCEEDED") => SalesforceError::LimitExceeded {
            daily: !message.contains("ConcurrentPerOrgLongTxn"),
            message,
        },
        (401, _) => SalesforceError::AuthFailed(format!("{code}: {message}")),
        (500.., _) => {
            SalesforceError::Unavailable(Cause::new(format!("{status} {code}: {message}")))
        }
        _ => SalesforceError::Rejected {
            status,
            code,
            message,
        },
    }
}

fn results(value: Value, expected: usize) -> Result<Vec<RecordResult>, SalesforceError> {
    let list: Vec<WireResult> = serde_json::from_value(value)
        .map_err(|e| SalesforceError::BadResponse(format!("collection results: {e}")))?;
    if list.len() != expected {
        return Err(SalesforceError::BadResponse(format!(
            "{} results for {expected} records",
            list.len()
        )));
    }
    Ok(list.into_iter().map(Into::into).collect())
}

/// A SOQL string literal: backslashes and quotes escaped, so a key cannot end the literal.
pub fn soql_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// The Zuora 360 package's namespace, which the model's names carry.
const PACKAGE_PREFIX: &str = "Zuora__";

impl SalesforceClient {
    /// An object or field name as the org knows it.
    fn org_name<'a>(&self, name: &'a str) -> std::borrow::Cow<'a, str> {
        match name.strip_prefix(PACKAGE_PREFIX) {
            Some(bare) if !self.config.zuora360_package => bare.into(),
            _ => name.into(),
        }
    }

    /// A record as the org knows it: every field name, nested reference and
    /// `attributes.type`.
    fn org_names(&self, record: &Value) -> Value {
        if self.config.zuora360_package {
            return record.clone();
        }
        match record {
            Value::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(name, value)| {
                        let value = match (name.as_str(), value) {
                            ("type", Value::String(object)) => {
                                Value::String(self.org_name(object).into_owned())
                            }
                            _ => self.org_names(value),
                        };
                        (self.org_name(name).into_owned(), value)
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

#[async_trait::async_trait]
impl SalesforceApi for SalesforceClient {
    async fn upsert(
        &self,
        object: SfObject,
        key_field: &str,
        records: &[Value],
    ) -> Result<Vec<RecordResult>, SalesforceError> {
        let records: Vec<Value> = records.iter().map(|r| self.org_names(r)).collect();
        let body = json!({ "allOrNone": false, "records": records });
        let path = format!(
            "composite/sobjects/{}/{}",
            self.org_name(object.api_name()),
            self.org_name(key_field)
        );
        let answer = self
            .call(reqwest::Method::PATCH, &path, &[], Some(&body))
            .await?;
        results(answer, records.len())
    }

    async fn delete(&self, ids: &[String]) -> Result<Vec<RecordResult>, SalesforceError> {
        let query = [("ids", ids.join(",")), ("allOrNone", "false".to_string())];
        let answer = self
            .call(reqwest::Method::DELETE, "composite/sobjects", &query, None)
            .await?;
        results(answer, ids.len())
    }

    async fn find_ids(
        &self,
        object: SfObject,
        key_field: &str,
        keys: &[String],
    ) -> Result<Vec<(String, String)>, SalesforceError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        // The field name is one of ours (a constant), the keys are escaped literals.
        let list: Vec<String> = keys.iter().map(|k| soql_literal(k)).collect();
        let key_field = self.org_name(key_field);
        let soql = format!(
            "SELECT Id, {key_field} FROM {} WHERE {key_field} IN ({})",
            self.org_name(object.api_name()),
            list.join(", ")
        );
        let answer = self
            .call(reqwest::Method::GET, "query", &[("q", soql)], None)
            .await?;
        let records = answer
            .get("records")
            .and_then(Value::as_array)
            .ok_or_else(|| SalesforceError::BadResponse("query answer without records".into()))?;
        Ok(records
            .iter()
            .filter_map(|r| {
                let id = r.get("Id")?.as_str()?;
                let key = r.get(key_field.as_ref())?.as_str()?;
                Some((key.to_string(), id.to_string()))
            })
            .collect())
    }

    fn usage(&self) -> Option<ApiUsage> {
        *self.usage.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soql_literals_cannot_be_escaped_from() {
        assert_eq!(soql_literal("A-S1"), "'A-S1'");
        assert_eq!(soql_literal("x' OR Name != '"), r"'x\' OR Name != \''");
        assert_eq!(soql_literal(r"a\'"), r"'a\\\''");
    }

    #[test]
    fn request_errors_are_classified() {
        let daily = br#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#;
        assert!(matches!(
            request_error(403, daily),
            SalesforceError::LimitExceeded { daily: true, .. }
        ));
        let long = br#"[{"message":"ConcurrentPerOrgLongTxn Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#;
        assert!(matches!(
            request_error(403, long),
            SalesforceError::LimitExceeded { daily: false, .. }
        ));
        assert!(matches!(
            request_error(503, b"down"),
            SalesforceError::Unavailable(_)
        ));
        let bad =
            br#"[{"message":"The requested resource does not exist","errorCode":"NOT_FOUND"}]"#;
        match request_error(404, bad) {
            SalesforceError::Rejected { code, .. } => assert_eq!(code, "NOT_FOUND"),
            other => panic!("{other:?}"),
        }
    }
}
