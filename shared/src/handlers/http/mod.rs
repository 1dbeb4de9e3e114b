//! The sync API (API Gateway HTTP API → `lambda_http`).
//!
//! `POST /plugins/zuora/sync/subscription/{id}` keeps its public contract (design §1.1): 200,
//! 401, and 502 for every other failure, with a machine-readable `code` beside `message`.

mod admin_routes;
mod entity_routes;
mod realtime_routes;
mod routes;

pub use routes::{Access, ROUTES, RouteId, RouteSpec};

use crate::auth::{AccessClaims, AuthError, CalloutAuth, JwtVerifier, Principal};
use crate::core::sync::{SyncError, SyncRequest, SyncService};
use crate::model::EpochMillis;
use crate::model::Trigger;
use crate::model::{EntityId, SubscriptionKey};
use lambda_http::{Body, Request, RequestExt, Response};
use routes::{Lookup, Matched, lookup};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// The API's own OpenAPI 3.1 document, kept in the repository beside this file.
pub const OPENAPI: &str = include_str!("openapi.json");
/// Request bodies above this size are refused (413).
const MAX_BODY_BYTES: usize = 64 * 1024;

pub struct Api {
    pub sync: Arc<SyncService>,
    pub auth: JwtVerifier,
    /// Which token claims carry the caller's entities and roles.
    pub access: AccessClaims,
    /// The entity of routes that name none (the public subscription route).
    pub default_entity: EntityId,
    pub base_path: String,
    /// Deadline when a request has no Lambda context (the local server).
    pub default_timeout: Duration,
    pub realtime: Arc<crate::core::realtime::Realtime>,
    /// How each entity's Zuora callouts authenticate (none: callouts are refused).
    pub callouts: std::collections::HashMap<EntityId, CalloutAuth>,
}

/// A request that passed authentication and authorisation.
pub(crate) struct Call<'a> {
    pub req: &'a Request,
    pub entity: EntityId,
    pub principal: Principal,
    pub matched: Matched<'a>,
}

/// An error answer on its way out of a helper (boxed: a response is large).
pub(crate) type Rejection = Box<Response<Body>>;

pub(crate) fn json_response(status: u16, body: Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::Text(body.to_string()))
        .expect("status and header are valid")
}

pub(crate) fn error(status: u16, code: &str, message: &str) -> Response<Body> {
    json_response(status, json!({ "message": message, "code": code }))
}

/// A 400 that names the offending field and, where there is a list, what it allows.
pub(crate) fn invalid_field(field: &str, message: &str, allowed: Option<Value>) -> Response<Body> {
    let mut body = json!({
        "message": format!("{field}: {message}"),
        "code": "invalid_request",
        "field": field,
    });
    if let Some(allowed) = allowed.filter(|a| !a.is_null()) {
        body["allowed"] = allowed;
    }
    json_response(400, body)
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

    pub async fn handle(&self, req: Request) -> Response<Body> {
        let raw = req.raw_http_path();
        let path = if raw.is_empty() {
            req.uri().path().to_string()
        } else {
            raw.to_string()
        };
        let route_path = self.route_path(&path).to_string();
        let matched = match lookup(req.method(), &route_path) {
            Lookup::Found(m) => m,
            Lookup::WrongMethod(methods) => {
                let allow = methods.join(", ");
                let mut r = error(
                    405,
                    "method_not_allowed",
                    &format!("this route accepts {allow} only"),
                );
                if let Ok(v) = http::HeaderValue::from_str(&allow) {
                    r.headers_mut().insert("allow", v);
                }
                return r;
            }
            Lookup::NotFound => {
                return error(
                    404,
                    "not_found",
                    &format!("no route for {}", truncate(&path, 100)),
                );
            }
        };
        let role = match matched.spec.access {
            Access::Public => return openapi_response(),
            Access::Callout => return self.callout(&req, &matched).await,
            Access::Bearer(role) => role,
        };
        let authorization = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let claims = match self.auth.verify_header(authorization).await {
            Ok(claims) => claims,
            Err(e) => return auth_error(&e),
        };
        let principal = Principal::from_claims(&claims, &self.access);
        let entity = match self.entity_of(&req, &matched) {
            Ok(entity) => entity,
            Err(response) => return *response,
        };
        // Authorisation before anything of the entity is read, and before saying whether
        // the entity exists.
        if !principal.may_use(entity.as_str()) {
            return error(
                403,
                "forbidden",
                &format!("this token is not authorised for entity {entity}"),
            );
        }
        if !principal.has_role(role) {
            return error(
                403,
                "forbidden",
                &format!("this route needs the {} role", role.as_str()),
            );
        }
        if !self.sync.is_configured(&entity) {
            return error(
                404,
                "unknown_entity",
                &format!("entity {entity} is not configured"),
            );
        }
        let call = Call {
            req: &req,
            entity,
            principal,
            matched,
        };
        self.dispatch(call).await
    }

    async fn dispatch(&self, call: Call<'_>) -> Response<Body> {
        match call.matched.spec.id {
            RouteId::SyncSubscription => {
                let id = call.matched.param("id").to_string();
                self.sync_subscription(&call, &id).await
            }
            RouteId::SyncAccounts => self.sync_accounts(&call).await,
            RouteId::SyncCustomer => self.sync_customer(&call).await,
            RouteId::SyncCatalog => self.sync_catalog(&call).await,
            RouteId::SearchEvents => self.search_events(&call).await,
            RouteId::GetEvent => self.get_event(&call).await,
            RouteId::GetSettings => self.get_settings(&call).await,
            RouteId::UpdateSettings => self.update_settings(&call).await,
            RouteId::Status => self.status(&call).await,
            // Answered before authentication (they have their own).
            RouteId::OpenApi => openapi_response(),
            RouteId::Callout => error(500, "internal", "callouts are not dispatched here"),
        }
    }

    /// The entity a request is for: the `{entity}` path segment, or for the public
    /// subscription route an optional `?entity=` (the default entity without it).
    fn entity_of(&self, req: &Request, matched: &Matched<'_>) -> Result<EntityId, Rejection> {
        let raw = match matched.spec.id {
            RouteId::SyncSubscription => query_pairs(req)
                .into_iter()
                .find(|(k, _)| k == "entity")
                .map(|(_, v)| v),
            _ => Some(percent_decode(matched.param("entity"))),
        };
        match raw {
            None => Ok(self.default_entity.clone()),
            Some(raw) => EntityId::parse(&raw).map_err(|e| {
                // The public route keeps its 200/401/502 contract.
                let status = if matched.spec.id == RouteId::SyncSubscription {
                    502
                } else {
                    400
                };
                Box::new(error(status, "invalid_entity", &e.to_string()))
            }),
        }
    }

    pub(crate) fn sync_request(&self, call: &Call<'_>, trigger: Trigger) -> SyncRequest {
        SyncRequest::new(
            call.entity.clone(),
            trigger,
            correlation_id(call.req),
            self.deadline(call.req),
        )
    }

    async fn sync_subscription(&self, call: &Call<'_>, raw_id: &str) -> Response<Body> {
        // The public contract has only 200/401/502, so even a malformed id is a 502, with a
        // code that says so.
        let key = match SubscriptionKey::parse(&percent_decode(raw_id)) {
            Ok(key) => key,
            Err(e) => return error(502, "invalid_subscription_id", &e.to_string()),
        };
        let mut sync_req = self.sync_request(call, Trigger::Api);
        sync_req.subscription = Some(key.to_string());
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

fn openapi_response() -> Response<Body> {
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(Body::Text(OPENAPI.to_string()))
        .expect("status and header are valid")
}

/// The query string's pairs, decoded.
pub(crate) fn query_pairs(req: &Request) -> Vec<(String, String)> {
    req.uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// The request body as JSON, or the answer that says why it is not.
pub(crate) fn json_body(req: &Request) -> Result<Value, Rejection> {
    let bytes: &[u8] = match req.body() {
        Body::Empty => &[],
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    };
    if bytes.is_empty() {
        return Err(Box::new(error(
            400,
            "invalid_request",
            "a JSON request body is required",
        )));
    }
    if bytes.len() > MAX_BODY_BYTES {
        return Err(Box::new(error(
            413,
            "body_too_large",
            &format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
        )));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        Box::new(error(
            400,
            "invalid_json",
            &format!("the request body is not valid JSON: {e}"),
        ))
    })
}

pub(crate) fn upstream_message(e: &SyncError) -> String {
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
pub(crate) fn correlation_id(req: &Request) -> String {
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
pub(crate) fn percent_decode(raw: &str) -> String {
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
