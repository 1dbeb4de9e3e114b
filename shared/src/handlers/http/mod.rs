//! The HTTP API (API Gateway HTTP API → axum): one router for every route, the post-login hook
//! included; each function mounts the routes it serves ([`router`]). The OpenAPI document is
//! generated from the handlers' annotations and their typed answers ([`openapi()`]).
//!
//! `POST /plugins/zuora/sync/subscription/{id}` keeps its public contract: 200,
//! 401, and 502 for every other failure, with a machine-readable `code` beside `message`.

mod console_routes;
mod customer_routes;
pub mod dto;
mod event_routes;
mod extract;
mod hook_routes;
mod openapi;
mod realtime_routes;
mod router;
mod salesforce_routes;
mod settings_routes;
mod stats_routes;
mod sync_routes;

pub use console_routes::{CONSOLE_PATHS, ConsoleSignIn};
pub use hook_routes::{HookRoute, InvalidBase64Body};
pub use openapi::{openapi, openapi_json};
pub use router::{Mount, router};

use crate::auth::{AccessClaims, CalloutAuth, JwtVerifier};
use crate::core::sync::{SyncError, SyncRequest, SyncService};
use crate::model::{EntityId, EpochMillis, Trigger};
use axum::body::Body;
use axum::response::Response;
use extract::Caller;
use http::request::Parts;
use lambda_http::RequestExt;
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// Request bodies above this size are refused (413).
const MAX_BODY_BYTES: usize = 64 * 1024;

/// The sync API's state: what its routes call.
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
    /// Where settings may point outbound calls and email (checked when settings are saved).
    pub outbound: crate::model::OutboundPolicy,
    /// The Salesforce push (its failure list), where connections are configured.
    pub push: Option<Arc<crate::core::push::PushService>>,
    /// The operator console's sign-in; without it the console says it is not configured.
    pub console: Option<ConsoleSignIn>,
}

impl Api {
    pub(crate) fn sync_request(&self, caller: &Caller, trigger: Trigger) -> SyncRequest {
        SyncRequest::new(
            caller.entity.clone(),
            trigger,
            caller.correlation_id.clone(),
            caller.deadline,
        )
    }

    /// The Lambda invocation's deadline, or (without a Lambda context) the default timeout.
    fn deadline(&self, parts: &Parts) -> EpochMillis {
        match parts.lambda_context_ref() {
            Some(ctx) if ctx.deadline > 0 => EpochMillis(ctx.deadline as i64),
            _ => self
                .sync
                .now()
                .plus_ms(self.default_timeout.as_millis() as i64),
        }
    }
}

/// An error answer on its way out of a helper (boxed: a response is large).
pub(crate) type Rejection = Box<Response>;

pub(crate) fn json_response(status: u16, body: &impl Serialize) -> Response {
    let text = serde_json::to_string(body).expect("answers always serialise");
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(text))
        .expect("status and header are valid")
}

pub(crate) fn error(status: u16, code: &str, message: &str) -> Response {
    json_response(
        status,
        &dto::ErrorBody {
            message: message.to_string(),
            code: code.to_string(),
        },
    )
}

/// A 400 that names the offending field and, where there is a list, what it allows.
pub(crate) fn invalid_field(field: &str, message: &str, allowed: Option<Value>) -> Response {
    json_response(
        400,
        &dto::BadRequest {
            message: format!("{field}: {message}"),
            code: "invalid_request".into(),
            field: Some(field.to_string()),
            allowed: allowed.filter(|a| !a.is_null()),
        },
    )
}

/// The query string's pairs, decoded.
pub(crate) fn query_pairs(uri: &http::Uri) -> Vec<(String, String)> {
    uri.query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// The request body as JSON, or the answer that says why it is not.
pub(crate) async fn json_body(body: Body) -> Result<Value, Rejection> {
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(e) if is_length_limit(&e) => {
            return Err(Box::new(error(
                413,
                "body_too_large",
                &format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
            )));
        }
        Err(e) => {
            return Err(Box::new(error(
                400,
                "invalid_request",
                &format!("the request body could not be read: {e}"),
            )));
        }
    };
    if bytes.is_empty() {
        return Err(Box::new(error(
            400,
            "invalid_request",
            "a JSON request body is required",
        )));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        Box::new(error(
            400,
            "invalid_json",
            &format!("the request body is not valid JSON: {e}"),
        ))
    })
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = err.source();
    }
    false
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

/// The caller's correlation id when it is safe to log and forward, else the request id.
pub(crate) fn correlation_id(parts: &Parts) -> String {
    let given = parts
        .headers
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
        None => {
            extract::lambda_request_id(parts).unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Path segments may arrive percent-encoded; decode so `A%2DS1` and `A-S1` are the same id.
/// Invalid escapes stay as they are and invalid UTF-8 is replaced: anything that decodes to a
/// non-id character is then rejected by the id parser.
pub(crate) fn decode(raw: &str) -> String {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_is_bounded() {
        assert_eq!(decode("A%2DS1"), "A-S1");
        assert_eq!(decode("A%2"), "A%2");
        assert_eq!(decode("a%2Fb"), "a/b");
    }
}
