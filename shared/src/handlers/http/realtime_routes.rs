//! The callout receiver (Zuora data change notifications) and the real-time status.
//!
//! Zuora's HTTP Basic is not preemptive: its first delivery carries no `Authorization` and
//! expects `401` with a `WWW-Authenticate: Basic` challenge before it sends credentials
//! (the [`Callout`] extractor answers it). A callout is answered `200` once
//! durably counted (duplicates too) and `503` when it could not be recorded, so Zuora retries
//! instead of losing the change.

use super::dto::{BadRequest, CalloutAccepted, CalloutBody, CalloutNotRecorded, ErrorBody};
use super::extract::{Bearer, Callout, SyncRole};
use super::openapi::{BodyTooLarge, Forbidden, Unauthorized};
use super::{Api, error, invalid_field, json_body, json_response};
use crate::core::realtime::{Status, callout};
use crate::model::AccountKey;
use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use serde_json::json;
use std::sync::Arc;
/// Zuora waits 25 s for a callout's answer (and the function has 29 s): the callout is
/// answered within this, whatever is left of cutting sessions going to the sweep.
const CALLOUT_BUDGET: std::time::Duration = std::time::Duration::from_secs(20);

/// Receive a Zuora data change callout
///
/// A Zuora Events & Notifications callout (account, subscription, payment method, contact
/// changes). Authenticated with the entity's callout credentials (HTTP Basic, answered with a
/// challenge first, or a shared secret header). Marks the account changed and counts one data
/// change event. A retried delivery of one event counts once when the body carries a field
/// unique to the event (`EventId`, else `EventTime` with the event type and account — never
/// `Zuora-Request-Id`); a body without one counts every time. In real-time mode, reaching
/// `max_events_before_sync` starts a session.
#[utoipa::path(
    post,
    path = "/plugins/zuora/entities/{entity}/callouts",
    operation_id = "receiveCallout",
    tag = "realtime",
    params(
        ("entity" = String, Path, example = "default", pattern = "^[A-Za-z0-9_-]{1,64}$", description = "The Zuora entity (percent-decoded): 1 to 64 letters, digits, `-` or `_`."),
    ),
    request_body = CalloutBody,
    responses(
        (status = 200, description = "Recorded (or a duplicate of a recorded one).", body = CalloutAccepted),
        (status = 400, description = "`invalid_request`: no valid account in the body (`field` names the account field, `allowed` the names read); `invalid_json`; or `invalid_entity`.", body = BadRequest),
        (status = 401, description = "`unauthorized`: missing or wrong callout credentials (with `WWW-Authenticate: Basic` for Basic).", body = ErrorBody,
         headers(("WWW-Authenticate" = String, description = "`Basic realm=\"zuora-sync\", charset=\"UTF-8\"` for Basic credentials."))),
        (status = 404, description = "`callouts_not_configured`: the entity accepts no callouts.", body = ErrorBody),
        (status = 413, response = BodyTooLarge),
        (status = 503, description = "`store_unavailable`: not recorded; Zuora retries.", body = CalloutNotRecorded),
    ),
    security(("calloutBasic" = []), ("calloutSecret" = [])),
)]
pub(super) async fn callout(
    State(api): State<Arc<Api>>,
    Callout {
        entity,
        correlation_id,
    }: Callout,
    body: Body,
) -> Response {
    let body = match json_body(body).await {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let fields = match api.sync.entity_settings().get(&entity).await {
        Ok(v) => v.settings.callout_fields,
        Err(e) => {
            tracing::error!(entity = %entity, error = %e, "settings unreadable; callout not recorded");
            return error(
                503,
                "store_unavailable",
                "the change could not be recorded; retry later",
            );
        }
    };
    let raw_account = match callout::account(&body, &fields) {
        Ok(raw) => raw,
        Err(names) => {
            return invalid_field(names[0], "the callout names no account", Some(json!(names)));
        }
    };
    let account = match AccountKey::parse(raw_account) {
        Ok(a) => a,
        Err(e) => return invalid_field("AccountNumber", &e.to_string(), None),
    };
    // A delivery without a per-event field gets a marker no other delivery can match.
    let dedupe = callout::event_identity(&body, account.as_str(), &fields)
        .unwrap_or_else(|| format!("once:{}", uuid::Uuid::new_v4()));
    match api
        .realtime
        .callout(
            &entity,
            &dedupe,
            &account,
            &correlation_id,
            api.sync.now().plus_ms(CALLOUT_BUDGET.as_millis() as i64),
        )
        .await
    {
        Ok(outcome) => {
            tracing::info!(entity = %entity, account = %account, counted = outcome.counted, duplicate = outcome.duplicate, session = ?outcome.session_id, "callout");
            let answer = CalloutAccepted {
                success: true,
                counted: outcome.counted,
                duplicate: outcome.duplicate,
                session_id: outcome.session_id,
            };
            json_response(200, &answer)
        }
        Err(e) => {
            tracing::error!(entity = %entity, error = %e, "callout not recorded; Zuora will retry it");
            let answer = CalloutNotRecorded {
                success: false,
                code: "store_unavailable".into(),
                message: "the change could not be recorded; retry later".into(),
            };
            json_response(503, &answer)
        }
    }
}

/// How far the entity is from its next sync session
///
/// The mode, the data change events counted, how many more are needed and the minutes at most
/// until the next session, the last session's outcome, and a message such as "7 more data
/// change events, or at most 43 minutes, until the next sync".
///
/// Requires a bearer JWT whose entities claim includes the entity (or `*`) and whose roles
/// claim includes `sync` or `admin` (admin implies sync).
#[utoipa::path(
    get,
    path = "/plugins/zuora/entities/{entity}/status",
    operation_id = "getStatus",
    tag = "realtime",
    params(
        ("entity" = String, Path, example = "default", pattern = "^[A-Za-z0-9_-]{1,64}$", description = "The Zuora entity (percent-decoded): 1 to 64 letters, digits, `-` or `_`."),
    ),
    responses(
        (status = 200, description = "The status.", body = Status),
        (status = 400, description = "`invalid_entity`: the `{entity}` path segment is not a valid entity id.", body = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "`unknown_entity`: the entity is not configured.", body = ErrorBody),
        (status = 502, description = "`auth_keys_unavailable`: the token signing keys (JWKS) could not be fetched, so the token could not be verified.", body = ErrorBody),
        (status = 503, description = "`store_unavailable`: the state could not be read.", body = ErrorBody),
    ),
    security(("bearerAuth" = ["sync"])),
    extensions(("x-required-role" = json!("sync"))),
)]
pub(super) async fn status(
    State(api): State<Arc<Api>>,
    Bearer(caller, _): Bearer<SyncRole>,
) -> Response {
    match api.realtime.status(&caller.entity).await {
        Ok(status) => json_response(200, &status),
        Err(e) => error(503, "store_unavailable", &e.to_string()),
    }
}
