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

/// A page of the failure list, in id order (account, object, key).
#[derive(Debug, Serialize, ToSchema)]
pub struct FailurePage {
    pub failures: Vec<PushFailure>,
    /// Pass back as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// Which failures a retry or dismiss is about.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FailureSelection {
    /// Failure ids (at most 500).
    #[serde(default)]
    pub ids: Vec<String>,
    /// Every failure of the entity (retry only).
    #[serde(default)]
    pub all: bool,
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

/// The failure ids of a retry or dismiss body.
fn selection(body: &Value, allow_all: bool) -> Result<FailureSelection, Rejection> {
    let selection: FailureSelection = serde_json::from_value(body.clone()).map_err(|e| {
        Box::new(invalid_field(
            "ids",
            &format!(
                "the body must be {{\"ids\": [..]}}{}: {e}",
                if allow_all { " or {\"all\": true}" } else { "" }
            ),
            Some(json!(if allow_all {
                vec!["ids", "all"]
            } else {
                vec!["ids"]
            })),
        ))
    })?;
    if selection.all && !allow_all {
        return Err(Box::new(invalid_field(
            "all",
            "is not a field of this request",
            Some(json!(["ids"])),
        )));
    }
    if !selection.all && selection.ids.is_empty() {
        return Err(Box::new(invalid_field(
            "ids",
            "name at least one failure id",
            None,
        )));
    }
    if selection.ids.len() > MAX_IDS {
        return Err(Box::new(invalid_field(
            "ids",
            &format!("at most {MAX_IDS} ids per request"),
            None,
        )));
    }
    if let Some((i, _)) = selection
        .ids
        .iter()
        .enumerate()
        .find(|(_, id)| !valid_id(id))
    {
        return Err(Box::new(invalid_field(
            &format!("ids[{i}]"),
            "is not a failure id (account/object/key field/key)",
            None,
        )));
    }
    Ok(selection)
}

fn valid_id(id: &str) -> bool {
    id.len() <= 512 && id.split('/').count() >= 4 && !id.chars().any(char::is_control)
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
            "account" => account = Some(value),
            "code" => code = Some(value),
            "cursor" => cursor = Some(value),
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
/// the cause was fixed in Salesforce or in Zuora); the failures leave the list, and a push that
/// fails again puts them back. `{"ids": [...]}` or `{"all": true}`. Answers at once; the
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
    request_body = FailureSelection,
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
    let selection = match selection(&body, true) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let ids = (!selection.all).then_some(selection.ids);
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
    request_body = FailureSelection,
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
    let selection = match selection(&body, false) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    match push.dismiss(&caller.entity, &selection.ids).await {
        Ok(()) => json_response(
            200,
            &FailuresHandled {
                count: selection.ids.len(),
            },
        ),
        Err(e) => push_error(&e),
    }
}
