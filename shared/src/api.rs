//! The sync API (API Gateway HTTP API → `lambda_http`).
//!
//! `POST /plugins/zuora/sync/subscription/{id}` keeps its public contract (design §1.1): 200,
//! 401, and 502 for every other failure, with a machine-readable `code` beside `message`.

use crate::auth::{AuthError, JwtVerifier};
use crate::clock::EpochMillis;
use crate::domain::{EntityId, SubscriptionKey};
use crate::events::Trigger;
use crate::sync::{SyncError, SyncRequest, SyncService};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

pub struct Api {
    pub sync: Arc<SyncService>,
    pub auth: JwtVerifier,
    pub entity: EntityId,
    pub base_path: String,
    /// Deadline when a request has no Lambda context (the local server).
    pub default_timeout: Duration,
}

enum Route<'a> {
    SyncSubscription(&'a str),
}

fn json_response(status: u16, body: Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::Text(body.to_string()))
        .expect("status and header are valid")
}

fn error(status: u16, code: &str, message: &str) -> Response<Body> {
    json_response(status, json!({ "message": message, "code": code }))
}

impl Api {
    /// Path without the configured base path; routes answer with and without it.
    fn route_path<'a>(&self, path: &'a str) -> &'a str {
        if self.base_path.is_empty() {
            return path;
        }
        match path.strip_prefix(self.base_path.as_str()) {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
            _ => path,
        }
    }

    fn route<'a>(&self, path: &'a str) -> Option<Route<'a>> {
        let path = self.route_path(path).trim_end_matches('/');
        let id = path.strip_prefix("/plugins/zuora/sync/subscription/")?;
        (!id.is_empty() && !id.contains('/')).then_some(Route::SyncSubscription(id))
    }

    pub async fn handle(&self, req: Request) -> Response<Body> {
        let raw = req.raw_http_path();
        let path = if raw.is_empty() {
            req.uri().path().to_string()
        } else {
            raw.to_string()
        };
        let Some(route) = self.route(&path) else {
            return error(
                404,
                "not_found",
                &format!("no route for {}", truncate(&path, 100)),
            );
        };
        if req.method() != http::Method::POST {
            let mut r = error(405, "method_not_allowed", "this route accepts POST only");
            r.headers_mut()
                .insert("allow", http::HeaderValue::from_static("POST"));
            return r;
        }
        let authorization = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if let Err(e) = self.auth.verify_header(authorization).await {
            return auth_error(&e);
        }
        match route {
            Route::SyncSubscription(id) => self.sync_subscription(&req, id).await,
        }
    }

    async fn sync_subscription(&self, req: &Request, raw_id: &str) -> Response<Body> {
        // The public contract has only 200/401/502, so even a malformed id is a 502, with a
        // code that says so.
        let key = match SubscriptionKey::parse(&percent_decode(raw_id)) {
            Ok(key) => key,
            Err(e) => return error(502, "invalid_subscription_id", &e.to_string()),
        };
        let sync_req = SyncRequest {
            entity: self.entity.clone(),
            trigger: Trigger::Api,
            correlation_id: correlation_id(req),
            deadline: self.deadline(req),
            event_id: None,
            subscription: Some(key.to_string()),
        };
        match self.sync.sync_subscription(&sync_req, &key).await {
            Ok(done) => {
                tracing::info!(subscription = %key, id = %done.id, owner = %done.owner, event_id = %done.event_id, "subscription synced");
                json_response(
                    200,
                    json!({"success": true, "id": done.id, "owner": done.owner}),
                )
            }
            Err(failure) => {
                let mut body = json!({
                    "message": upstream_message(&failure.error),
                    "code": failure.error.code(),
                });
                if !failure.event_id.is_empty() {
                    body["event_id"] = json!(failure.event_id);
                }
                json_response(502, body)
            }
        }
    }

    fn deadline(&self, req: &Request) -> EpochMillis {
        match req.lambda_context_ref() {
            Some(ctx) if ctx.deadline > 0 => EpochMillis(ctx.deadline as i64),
            _ => self
                .sync
                .now()
                .plus_ms(self.default_timeout.as_millis() as i64),
        }
    }
}

fn upstream_message(e: &SyncError) -> String {
    match e {
        SyncError::Store(_) | SyncError::Queue(_) => {
            // Details are in the logs and the event; callers need not see table names.
            "the sync could not be stored; it was not applied".into()
        }
        other => other.to_string(),
    }
}

fn auth_error(e: &AuthError) -> Response<Body> {
    if let AuthError::KeysUnavailable(_) = e {
        tracing::error!(error = %e, "cannot verify tokens");
        return error(
            502,
            "auth_keys_unavailable",
            "token signing keys are unavailable; try again later",
        );
    }
    let mut r = error(401, "unauthorized", &e.to_string());
    r.headers_mut().insert(
        "www-authenticate",
        http::HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    r
}

/// The caller's correlation id when it is safe to log and forward, else the request id.
fn correlation_id(req: &Request) -> String {
    let given = req
        .headers()
        .get("x-correlation-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        });
    match given {
        Some(id) => id.to_string(),
        None => req
            .lambda_context_ref()
            .map(|c| c.request_id.clone())
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
    }
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Path segments may arrive percent-encoded; decode so `A%2DS1` and `A-S1` are the same id.
/// Anything that decodes to a non-id character is then rejected by the id parser.
fn percent_decode(raw: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(hi * 16 + lo);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_is_bounded() {
        assert_eq!(percent_decode("A%2DS1"), "A-S1");
        assert_eq!(percent_decode("A%2"), "A%2");
        assert_eq!(percent_decode("a%2Fb"), "a/b");
    }
}
