//! The Salesforce failure list: records Salesforce refused for good, searchable, with a retry
//! (one, several or all) and a dismiss, as Zuora's own Salesforce connector offers.

use super::dto::{BadRequest, ErrorBody};
use super::extract::{Bearer, SyncRole};
use super::openapi::{BodyTooLarge, Forbidden, Unauthorized};
use super::{Api, Rejection, error, invalid_field, json_body, json_response, query_pairs};
use crate::core::push::{PushError, PushService};
use crate::model::PushFailure;
use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;
use utoipa::ToSchema;

/// At most this many failures per page, and per retry or dismiss call.
const MAX_IDS: usize = 500;

/// A cursor is a failure id: far shorter than this (DynamoDB keys end at 1 KB).
const MAX_CURSOR: usize = 900;

/// A page of the failure list, in id order (account, object, key).
#[derive(Debug, Serialize, ToSchema)]
pub struct FailurePage {
    pub failures: Vec<PushFailure>,
    /// Pass back as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// Failures to dismiss, by id.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FailureIds {
    /// Failure ids (`id` in the list); ids not on the list are ignored.
    #[schema(min_items = 1, max_items = 500)]
    pub ids: Vec<String>,
}

/// Every failure of the entity.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllFailures {
    #[schema(schema_with = always_true)]
    pub all: bool,
}

fn always_true() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Boolean)
        .enum_values(Some([true]))
        .build()
}

/// Which failures to retry: some by id, or all.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum RetrySelection {
    Ids(FailureIds),
    All(AllFailures),
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FailuresHandled {
    /// How many failures were retried (their accounts queued for a push) or dismissed.
    pub count: usize,
}

fn push_of<'a>(
    api: &'a Api,
    caller_entity: &crate::model::EntityId,
) -> Result<&'a Arc<PushService>, Rejection> {
    match &api.push {
        Some(push) if push.is_connected(caller_entity) => Ok(push),
        _ => Err(Box::new(error(
            404,
            "salesforce_not_connected",
            "the entity has no Salesforce connection configured",
        ))),
    }
}

fn push_error(e: &PushError) -> Response {
    tracing::error!(error = %e, "Salesforce failure list request failed");
    match e {
        PushError::NotConnected(_) => error(404, "salesforce_not_connected", &e.to_string()),
        PushError::Queue(_) => error(
            503,
            "queue_unavailable",
            "the retry could not be queued; try again",
        ),
        _ => error(
            503,
            "store_unavailable",
            "the failure list is unavailable; try again",
        ),
    }
}

/// A retry or dismiss body, with a message naming what is wrong.
fn parse_body<T: serde::de::DeserializeOwned>(body: &Value, shape: &str) -> Result<T, Rejection> {
    let ids = body.get("ids").and_then(Value::as_array);
    if ids.is_some_and(|ids| ids.is_empty() || ids.len() > MAX_IDS) {
        return Err(Box::new(invalid_field(
            "ids",
            &format!("name 1 to {MAX_IDS} failure ids"),
            None,
        )));
    }
    serde_json::from_value(body.clone()).map_err(|e| {
        Box::new(invalid_field(
            "ids",
            &format!("the body must be {shape}: {e}"),
            None,
        ))
    })
}

/// Search the Salesforce failure list
///
/// Records Salesforce refused for good (a bad CRM account id, a duplicate, a missing required
/// field…), each with Salesforce's code, message and fields, one page at a time. Filters:
/// `account` (Zuora account id), `code`.
///
/// Requires a bearer JWT whose entities claim includes the entity (or `*`) and whose roles
/// claim includes `sync` or `admin` (admin implies sync).
#[utoipa::path(
    get,
    path = "/plugins/zuora/entities/{entity}/salesforce/failures",
    operation_id = "listSalesforceFailures",
    tag = "salesforce",
    params(
        ("entity" = String, Path, example = "default", pattern = "^[A-Za-z0-9_-]{1,64}$", description = "The Zuora entity (percent-decoded): 1 to 64 letters, digits, `-` or `_`."),
        ("account" = Option<String>, Query, description = "Only failures of this Zuora account id."),
        ("code" = Option<String>, Query, description = "Only failures with this Salesforce code."),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "Page size (default 50)."),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the page before."),
    ),
    responses(
        (status = 200, description = "One page of failures.", body = FailurePage),
        (status = 400, description = "`invalid_request` naming the query parameter, or `invalid_entity`.", body = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "`unknown_entity`; `salesforce_not_connected`: the entity has no Salesforce connection.", body = ErrorBody),
        (status = 502, description = "`auth_keys_unavailable`: the token signing keys (JWKS) could not be fetched, so the token could not be verified.", body = ErrorBody),
        (status = 503, description = "`store_unavailable`.", body = ErrorBody),
    ),
    security(("bearerAuth" = ["sync"])),
    extensions(("x-required-role" = json!("sync"))),
)]
pub(super) async fn list_failures(
    State(api): State<Arc<Api>>,
    Bearer(caller, _): Bearer<SyncRole>,
    uri: http::Uri,
) -> Response {
    let push = match push_of(&api, &caller.entity) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let (mut account, mut code, mut cursor, mut limit) = (None, None, None, 50usize);
    for (name, value) in query_pairs(&uri) {
        match name.as_str() {
            // An empty filter is no filter.
            "account" => account = Some(value).filter(|v| !v.is_empty()),
            "code" => code = Some(value).filter(|v| !v.is_empty()),
            "cursor" if value.len() > MAX_CURSOR => {
                return invalid_field("cursor", "is not a cursor this list issued", None);
            }
            "cursor" => cursor = Some(value).filter(|v| !v.is_empty()),
            "limit" => match value.parse::<usize>() {
                Ok(n) if (1..=MAX_IDS).contains(&n) => limit = n,
                _ => return invalid_field("limit", "must be a whole number from 1 to 500", None),
            },
            other => {
                return invalid_field(
                    other,
                    "is not a parameter of this request",
                    Some(json!(["account", "code", "limit", "cursor"])),
                );
            }
        }
    }
    let page = push
        .failures(
            &caller.entity,
            cursor.as_deref(),
            limit,
            account.as_deref(),
            code.as_deref(),
        )
        .await;
    match page {
        Ok((failures, next_cursor)) => json_response(
            200,
            &FailurePage {
                failures,
                next_cursor,
            },
        ),
        Err(e) => push_error(&e),
    }
}

/// Retry Salesforce failures
///
/// Pushes the failures' accounts again with the refused records sent even if unchanged (after
/// the cause was fixed in Salesforce or in Zuora); a failure leaves the list when its record
/// goes in, and stays (with Salesforce's new answer) when it is refused again. `{"ids": [...]}` or `{"all": true}`. Answers at once; the
/// pushes run on the worker and leave events (trigger `manual`).
///
/// Requires a bearer JWT whose entities claim includes the entity (or `*`) and whose roles
/// claim includes `sync` or `admin` (admin implies sync).
#[utoipa::path(
    post,
    path = "/plugins/zuora/entities/{entity}/salesforce/failures/retry",
    operation_id = "retrySalesforceFailures",
    tag = "salesforce",
    params(
        ("entity" = String, Path, example = "default", pattern = "^[A-Za-z0-9_-]{1,64}$", description = "The Zuora entity (percent-decoded): 1 to 64 letters, digits, `-` or `_`."),
    ),
    request_body = RetrySelection,
    responses(
        (status = 202, description = "Queued.", body = FailuresHandled),
        (status = 400, description = "`invalid_request` naming the field, `invalid_json`, or `invalid_entity`.", body = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "`unknown_entity`; `salesforce_not_connected`.", body = ErrorBody),
        (status = 413, response = BodyTooLarge),
        (status = 502, description = "`auth_keys_unavailable`: the token signing keys (JWKS) could not be fetched, so the token could not be verified.", body = ErrorBody),
        (status = 503, description = "`queue_unavailable` or `store_unavailable`: nothing was retried; try again.", body = ErrorBody),
    ),
    security(("bearerAuth" = ["sync"])),
    extensions(("x-required-role" = json!("sync"))),
)]
pub(super) async fn retry_failures(
    State(api): State<Arc<Api>>,
    Bearer(caller, _): Bearer<SyncRole>,
    body: Body,
) -> Response {
    let push = match push_of(&api, &caller.entity) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let body = match json_body(body).await {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let selection: RetrySelection =
        match parse_body(&body, r#"{"ids": ["<failure id>", ..]} or {"all": true}"#) {
            Ok(s) => s,
            Err(r) => return *r,
        };
    let ids = match selection {
        RetrySelection::Ids(FailureIds { ids }) => Some(ids),
        RetrySelection::All(AllFailures { all: true }) => None,
        RetrySelection::All(AllFailures { all: false }) => {
            return invalid_field("all", "must be true (or name ids)", None);
        }
    };
    match push
        .retry(&caller.entity, ids, &caller.correlation_id)
        .await
    {
        Ok(count) => json_response(202, &FailuresHandled { count }),
        Err(e) => push_error(&e),
    }
}

/// Dismiss Salesforce failures
///
/// Removes failures from the list without sending anything: the refused records are not sent
/// again until their data changes in Zuora (or a retry). `{"ids": [...]}`.
///
/// Requires a bearer JWT whose entities claim includes the entity (or `*`) and whose roles
/// claim includes `sync` or `admin` (admin implies sync).
#[utoipa::path(
    post,
    path = "/plugins/zuora/entities/{entity}/salesforce/failures/dismiss",
    operation_id = "dismissSalesforceFailures",
    tag = "salesforce",
    params(
        ("entity" = String, Path, example = "default", pattern = "^[A-Za-z0-9_-]{1,64}$", description = "The Zuora entity (percent-decoded): 1 to 64 letters, digits, `-` or `_`."),
    ),
    request_body = FailureIds,
    responses(
        (status = 200, description = "Dismissed.", body = FailuresHandled),
        (status = 400, description = "`invalid_request` naming the field, `invalid_json`, or `invalid_entity`.", body = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "`unknown_entity`; `salesforce_not_connected`.", body = ErrorBody),
        (status = 413, response = BodyTooLarge),
        (status = 502, description = "`auth_keys_unavailable`: the token signing keys (JWKS) could not be fetched, so the token could not be verified.", body = ErrorBody),
        (status = 503, description = "`store_unavailable`.", body = ErrorBody),
    ),
    security(("bearerAuth" = ["sync"])),
    extensions(("x-required-role" = json!("sync"))),
)]
pub(super) async fn dismiss_failures(
    State(api): State<Arc<Api>>,
    Bearer(caller, _): Bearer<SyncRole>,
    body: Body,
) -> Response {
    let push = match push_of(&api, &caller.entity) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let body = match json_body(body).await {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let selection: FailureIds = match parse_body(&body, r#"{"ids": ["<failure id>", ..]}"#) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    match push.dismiss(&caller.entity, selection.ids).await {
        Ok(count) => json_response(200, &FailuresHandled { count }),
        Err(e) => push_error(&e),
    }
}
