//! The sync routes: the public subscription route, on-demand account sync, catalog sync (the
//! manual customer sync is in `customer_routes`). Each handler's doc comment is its operation's
//! summary and description.

use super::dto::{
    AccountResult, AccountsAccepted, AccountsRefused, AccountsRequest, BadRequest, CoalescedInto,
    ErrorBody, Outcome, SubscriptionSynced, SyncFailure,
};
use super::extract::{AdminRole, Bearer, PathParams, SyncRole};
use super::openapi::{BodyTooLarge, Forbidden, Unauthorized};
use super::{Api, Rejection, error, invalid_field, json_body, json_response, upstream_message};
use crate::core::ZuoraError;
use crate::core::sync::{Enqueued, Failure, SyncError};
use crate::model::{AccountKey, JobTarget, SubscriptionKey, Trigger};
use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// At most 10 accounts per programmatic request (the reference product allows 10).
pub const MAX_ACCOUNTS_PER_REQUEST: usize = 10;
/// Entries accepted before de-duplication, so a huge list of repeats is refused cheaply.
const MAX_ACCOUNT_ENTRIES: usize = 100;

/// Sync a subscription's account now
///
/// Reads the subscription from Zuora and syncs its whole account synchronously under the
/// account lock, then answers with the subscription's and its customer's local ids. If another
/// sync holds the lock, waits up to `LOCK_WAIT_MS` (default 3 s), then folds this request into
/// the follow-up sync that runs after it and answers 502 `account_busy`.
///
/// Public contract: 200, 401, and 502 for every other failure (including a malformed id or
/// entity), with a machine-readable `code`. Exceptions the code makes: 403 `forbidden` (token
/// not authorised for the entity or without the sync role) and 404 `unknown_entity` (entity
/// not configured).
///
/// Requires a bearer JWT whose entities claim includes the entity (or `*`) and whose roles
/// claim includes `sync` or `admin` (admin implies sync).
#[utoipa::path(
    post,
    path = "/plugins/zuora/sync/subscription/{id}",
    operation_id = "syncSubscription",
    tag = "sync",
    params(
        ("id" = String, Path, example = "A-S00000271",
         description = "A Zuora subscription number (`A-S00000271`) or subscription id (percent-decoded). A malformed id is a 502 `invalid_subscription_id`."),
        ("entity" = Option<String>, Query,
         description = "The entity; without it, the deployment's default entity (`ZUORA_ENTITY_ID`, default `default`). An invalid id is a 502 `invalid_entity`."),
        ("X-Correlation-Id" = Option<String>, Header, description = "Recorded on the sync's event and forwarded when it is 1 to 64 letters, digits, `-`, `_` or `.`; otherwise the request id is used."),
    ),
    responses(
        (status = 200, description = "Synced.", body = SubscriptionSynced),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "`unknown_entity`: the entity (the `entity` parameter or the default) is not configured.", body = ErrorBody),
        (status = 502, description = "Every other failure. `code`: `invalid_subscription_id` (not 1–64 letters, digits, `-`, `_`), `invalid_entity` (bad `entity` parameter), `auth_keys_unavailable`, `zuora_not_found`, `zuora_rejected`, `zuora_unavailable`, `zuora_timeout`, `zuora_bad_response`, `zuora_auth_failed`, `zuora_unreachable`, `zuora_busy` (Zuora asked for a long wait: its concurrency limit), `subscription_not_mirrored` (a status that is not mirrored; only Active, Pending and Cancelled are), `account_busy`, `store_unavailable`, `lock_lost`, `snapshot_outdated` (a newer snapshot was committed while this one was read; nothing was written), `queue_unavailable`, `unknown_entity`. `event_id` is present when a sync event records the failure (not for `invalid_subscription_id`, `invalid_entity`, `auth_keys_unavailable`).", body = SyncFailure),
    ),
    security(("bearerAuth" = ["sync"])),
    extensions(("x-required-role" = json!("sync"))),
)]
pub(super) async fn sync_subscription(
    State(api): State<Arc<Api>>,
    Bearer(caller, _): Bearer<SyncRole>,
    params: PathParams,
) -> Response {
    // The public contract has only 200/401/502, so even a malformed id is a 502, with a code
    // that says so.
    let key = match SubscriptionKey::parse(params.get("id")) {
        Ok(key) => key,
        Err(e) => return error(502, "invalid_subscription_id", &e.to_string()),
    };
    let mut sync_req = api.sync_request(&caller, Trigger::Api);
    sync_req.subscription = Some(key.to_string());
    let result = api.sync.sync_subscription(&sync_req, &key).await;
    public_sync_metrics(caller.entity.as_str(), &result);
    match result {
        Ok(done) => {
            tracing::info!(subscription = %key, id = %done.id, owner = %done.owner, event_id = %done.event_id, "subscription synced");
            let body = SubscriptionSynced {
                success: true,
                id: done.id,
                owner: done.owner,
            };
            json_response(200, &body)
        }
        Err(failure) => json_response(502, &sync_failure(&failure)),
    }
}

/// The public route's syncs by outcome (EMF, function sync-api): the same names as the
/// worker's, so one metric per outcome covers both.
fn public_sync_metrics<T>(entity: &str, result: &Result<T, Failure>) {
    let mut metrics = crate::handlers::metrics::Metrics::default();
    metrics.count(entity, outcome_metric(result), 1);
    metrics.emit("sync-api");
}

fn outcome_metric<T>(result: &Result<T, Failure>) -> &'static str {
    match result {
        Ok(_) => "SyncSucceeded",
        Err(f) if matches!(f.error, SyncError::Busy { .. }) => "SyncCoalesced",
        Err(f) if f.error.retry_after().is_some() => "ZuoraBusy",
        Err(_) => "SyncFailed",
    }
}

fn sync_failure(f: &Failure) -> SyncFailure {
    SyncFailure {
        message: upstream_message(&f.error),
        code: f.error.code().to_string(),
        event_id: (!f.event_id.is_empty()).then(|| f.event_id.clone()),
    }
}

/// HTTP status for a failed sync on the routes without the public route's 502-only contract.
pub(crate) fn failure_status(e: &SyncError) -> u16 {
    match e {
        SyncError::Zuora(ZuoraError::NotFound { .. }) => 404,
        SyncError::UnknownEntity(_) => 404,
        SyncError::Busy { .. } => 409,
        SyncError::Store(_) | SyncError::Queue(_) => 503,
        _ => 502,
    }
}

pub(crate) fn failure_response(f: &Failure) -> Response {
    json_response(failure_status(&f.error), &sync_failure(f))
}

fn outcome(result: &Result<Enqueued, Failure>) -> Outcome {
    match result {
        Ok(Enqueued::Queued { event_id }) => Outcome::Queued {
            event_id: event_id.clone(),
        },
        Ok(Enqueued::CoalescedIntoRunning { event_id }) => Outcome::Coalesced {
            into: CoalescedInto::Running,
            event_id: event_id.clone(),
            queued_event_id: None,
            message: "a sync of this account is running; this request is served by the one follow-up sync that runs after it".into(),
        },
        Ok(Enqueued::CoalescedIntoQueued { event_id, queued }) => Outcome::Coalesced {
            into: CoalescedInto::Queued,
            event_id: event_id.clone(),
            queued_event_id: Some(queued.clone()),
            message: "a sync of this account is queued and has not started; it serves this request too".into(),
        },
        Ok(Enqueued::Throttled { retry_after }) => Outcome::Throttled {
            retry_after_seconds: retry_after.as_secs_f64().ceil() as u64,
            message: "an on-demand sync of this account ran within the entity's minimum interval; not queued".into(),
        },
        Err(f) => Outcome::Failed {
            code: f.error.code().to_string(),
            message: upstream_message(&f.error),
            event_id: f.event_id.clone(),
        },
    }
}

/// The `accounts` list of an on-demand request: 1 to 10 valid keys once de-duplicated. Read
/// field by field so that each error names its field.
fn requested_accounts(body: &Value) -> Result<Vec<AccountKey>, Rejection> {
    let Some(list) = body.get("accounts").and_then(Value::as_array) else {
        return Err(Box::new(invalid_field(
            "accounts",
            "is required: an array of 1 to 10 Zuora account numbers or ids",
            None,
        )));
    };
    if let Some(extra) = body
        .as_object()
        .and_then(|o| o.keys().find(|k| *k != "accounts"))
    {
        return Err(Box::new(invalid_field(
            extra,
            "is not a field of this request",
            Some(json!(["accounts"])),
        )));
    }
    if list.len() > MAX_ACCOUNT_ENTRIES {
        return Err(Box::new(invalid_field(
            "accounts",
            &format!(
                "at most {MAX_ACCOUNTS_PER_REQUEST} accounts per request (got {} entries)",
                list.len()
            ),
            None,
        )));
    }
    let mut keys: Vec<AccountKey> = Vec::new();
    for (i, v) in list.iter().enumerate() {
        let raw = v
            .as_str()
            .ok_or_else(|| invalid_field(&format!("accounts[{i}]"), "must be a string", None))?;
        let key = AccountKey::parse(raw)
            .map_err(|e| invalid_field(&format!("accounts[{i}]"), &e.to_string(), None))?;
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    if keys.is_empty() || keys.len() > MAX_ACCOUNTS_PER_REQUEST {
        return Err(Box::new(invalid_field(
            "accounts",
            &format!(
                "between 1 and {MAX_ACCOUNTS_PER_REQUEST} distinct accounts per request (got {})",
                keys.len()
            ),
            None,
        )));
    }
    Ok(keys)
}

/// Queue on-demand syncs of accounts
///
/// Queues a sync of each named account for the worker and answers at once with each account's
/// outcome: `queued`; `coalesced` into a sync that is `running` (served by its one follow-up)
/// or `queued` (not started yet, `queued_event_id`); `throttled` (an on-demand sync of the
/// account was let through within the entity's `min_on_demand_interval_minutes`; nothing
/// queued); or `failed`.
///
/// 202 when at least one account was queued or coalesced; 429 when every account was
/// throttled; 502 `not_queued` otherwise.
///
/// Requires a bearer JWT whose entities claim includes the entity (or `*`) and whose roles
/// claim includes `sync` or `admin` (admin implies sync).
#[utoipa::path(
    post,
    path = "/plugins/zuora/entities/{entity}/sync/accounts",
    operation_id = "syncAccounts",
    tag = "sync",
    params(
        ("entity" = String, Path, example = "default", pattern = "^[A-Za-z0-9_-]{1,64}$", description = "The Zuora entity (percent-decoded): 1 to 64 letters, digits, `-` or `_`."),
        ("X-Correlation-Id" = Option<String>, Header, description = "Recorded on the events and forwarded when it is 1 to 64 letters, digits, `-`, `_` or `.`; otherwise the request id is used."),
    ),
    request_body = AccountsRequest,
    responses(
        (status = 202, description = "At least one account was queued or coalesced; the list has every account's outcome.", body = AccountsAccepted),
        (status = 400, description = "`invalid_request` (no body; `accounts` missing, not an array, more than 100 entries, an entry that is not a string or not a valid key, 0 or more than 10 distinct accounts; another field, with `allowed: [\"accounts\"]`), `invalid_json`, or `invalid_entity`.", body = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "`unknown_entity`: the entity is not configured in this deployment (answered only after authorisation).", body = ErrorBody),
        (status = 413, response = BodyTooLarge),
        (status = 429, description = "`throttled`: every account was synced on demand within the minimum interval.", body = AccountsRefused,
         headers(("Retry-After" = u64, description = "Seconds to wait."))),
        (status = 502, description = "`not_queued`: no account could be queued (each failed, or failed and throttled), with `accounts`; or `auth_keys_unavailable` (without `accounts`).", body = AccountsRefused),
        (status = 503, description = "`store_unavailable`: the entity's settings could not be read.", body = ErrorBody),
    ),
    security(("bearerAuth" = ["sync"])),
    extensions(("x-required-role" = json!("sync"))),
)]
pub(super) async fn sync_accounts(
    State(api): State<Arc<Api>>,
    Bearer(caller, _): Bearer<SyncRole>,
    body: Body,
) -> Response {
    let body = match json_body(body).await {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let keys = match requested_accounts(&body) {
        Ok(k) => k,
        Err(r) => return *r,
    };
    let settings = match api.sync.entity_settings().get(&caller.entity).await {
        Ok(v) => v.settings,
        Err(e) => {
            return error(
                503,
                "store_unavailable",
                &format!("settings could not be read: {e}"),
            );
        }
    };
    let interval = Duration::from_secs(u64::from(settings.min_on_demand_interval_minutes) * 60);
    let req = api.sync_request(&caller, Trigger::OnDemand);
    let outcomes: Vec<(String, Result<Enqueued, Failure>)> =
        futures::future::join_all(keys.iter().map(|key| async {
            let target = JobTarget::Account {
                account: key.clone(),
            };
            let result = api.sync.enqueue(&req, &target, Some(interval)).await;
            (key.to_string(), result)
        }))
        .await;
    let accepted = outcomes
        .iter()
        .any(|(_, o)| matches!(o, Ok(e) if !matches!(e, Enqueued::Throttled { .. })));
    let throttled: Vec<u64> = outcomes
        .iter()
        .filter_map(|(_, o)| match o {
            Ok(Enqueued::Throttled { retry_after }) => {
                Some(retry_after.as_secs_f64().ceil() as u64)
            }
            _ => None,
        })
        .collect();
    let accounts: Vec<AccountResult> = outcomes
        .iter()
        .map(|(account, o)| AccountResult {
            account: account.clone(),
            outcome: outcome(o),
        })
        .collect();
    if accepted {
        return json_response(202, &AccountsAccepted { accounts });
    }
    if throttled.len() == outcomes.len() {
        let wait = throttled.iter().min().copied().unwrap_or(0);
        let body = AccountsRefused {
            message: format!(
                "every account was synced on demand within the minimum interval; retry in {wait} s"
            ),
            code: "throttled".into(),
            retry_after_seconds: Some(wait),
            accounts,
        };
        let mut r = json_response(429, &body);
        r.headers_mut()
            .insert(http::header::RETRY_AFTER, http::HeaderValue::from(wait));
        return r;
    }
    let body = AccountsRefused {
        message: "no account could be queued".into(),
        code: "not_queued".into(),
        retry_after_seconds: None,
        accounts,
    };
    json_response(502, &body)
}

/// Queue a catalog sync
///
/// Queues a sync of the product catalog for the worker (or folds this request into a catalog
/// sync that is queued or running) and answers with the event id. No request body; the
/// on-demand interval does not apply to the catalog.
///
/// Requires a bearer JWT whose entities claim includes the entity (or `*`) and whose roles
/// claim includes `sync` or `admin` (admin implies sync).
#[utoipa::path(
    post,
    path = "/plugins/zuora/entities/{entity}/sync/catalog",
    operation_id = "syncCatalog",
    tag = "sync",
    params(
        ("entity" = String, Path, example = "default", pattern = "^[A-Za-z0-9_-]{1,64}$", description = "The Zuora entity (percent-decoded): 1 to 64 letters, digits, `-` or `_`."),
        ("X-Correlation-Id" = Option<String>, Header, description = "Recorded on the sync's event and forwarded when it is 1 to 64 letters, digits, `-`, `_` or `.`; otherwise the request id is used."),
    ),
    responses(
        (status = 202, description = "Queued (`status: queued`) or coalesced (`status: coalesced`).", body = Outcome),
        (status = 400, description = "`invalid_entity`: the `{entity}` path segment is not a valid entity id.", body = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "`unknown_entity`: the entity is not configured in this deployment (answered only after authorisation).", body = ErrorBody),
        (status = 409, description = "`account_busy`: the catalog's lock changed under every attempt; nothing queued.", body = SyncFailure),
        (status = 502, description = "`auth_keys_unavailable`: the token signing keys (JWKS) could not be fetched, so the token could not be verified.", body = ErrorBody),
        (status = 503, description = "`store_unavailable` or `queue_unavailable`: the job could not be recorded or queued (with `event_id`).", body = SyncFailure),
    ),
    security(("bearerAuth" = ["sync"])),
    extensions(("x-required-role" = json!("sync"))),
)]
pub(super) async fn sync_catalog(
    State(api): State<Arc<Api>>,
    Bearer(caller, _): Bearer<SyncRole>,
) -> Response {
    let req = api.sync_request(&caller, Trigger::OnDemand);
    match api.sync.enqueue(&req, &JobTarget::Catalog, None).await {
        Ok(result) => json_response(202, &outcome(&Ok(result))),
        Err(f) => failure_response(&f),
    }
}

/// A full re-sync that was started, or the one still running.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct FullSyncStarted {
    /// The full sync's session: the status route shows its progress.
    pub session_id: String,
    pub message: String,
}

/// A full sync of the entity is already running.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct FullSyncRunning {
    /// `full_sync_running`.
    pub code: String,
    pub message: String,
    /// The running full sync's session.
    pub session_id: String,
}

/// Start a full re-sync of every account
///
/// Starts a full sync session: the worker reads every account from Zuora, page by page, and
/// syncs each under its lock (what switching to real-time mode starts). Refused while a full
/// sync of the entity still runs. Its progress is the status route's `last_session`.
///
/// Requires a bearer JWT whose entities claim includes the entity (or `*`) and whose roles
/// claim includes `admin`.
#[utoipa::path(
    post,
    path = "/plugins/zuora/entities/{entity}/sync/full",
    operation_id = "syncFull",
    tag = "sync",
    params(
        ("entity" = String, Path, example = "default", pattern = "^[A-Za-z0-9_-]{1,64}$", description = "The Zuora entity (percent-decoded): 1 to 64 letters, digits, `-` or `_`."),
        ("X-Correlation-Id" = Option<String>, Header, description = "Recorded on the sync's events and forwarded when it is 1 to 64 letters, digits, `-`, `_` or `.`; otherwise the request id is used."),
    ),
    responses(
        (status = 202, description = "Started.", body = FullSyncStarted),
        (status = 400, description = "`invalid_entity`: the `{entity}` path segment is not a valid entity id.", body = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "`unknown_entity`: the entity is not configured in this deployment (answered only after authorisation).", body = ErrorBody),
        (status = 409, description = "`full_sync_running`: a full sync of the entity still runs (its `session_id`).", body = FullSyncRunning),
        (status = 502, description = "`auth_keys_unavailable`: the token signing keys (JWKS) could not be fetched, so the token could not be verified.", body = ErrorBody),
        (status = 503, description = "`store_unavailable` or `queue_unavailable`: the session could not be recorded or its first job queued (the sweep queues it later).", body = ErrorBody),
    ),
    security(("bearerAuth" = ["admin"])),
    extensions(("x-required-role" = json!("admin"))),
)]
pub(super) async fn sync_full(
    State(api): State<Arc<Api>>,
    Bearer(caller, _): Bearer<AdminRole>,
) -> Response {
    use crate::core::realtime::FullSyncError;
    match api
        .realtime
        .resync_all(&caller.entity, &caller.correlation_id)
        .await
    {
        Ok(Ok(session)) => {
            tracing::info!(entity = %caller.entity, session = %session.id, by = %caller.principal.subject, "full re-sync started");
            let body = FullSyncStarted {
                message: "full sync started: every account is read from Zuora and synced".into(),
                session_id: session.id,
            };
            json_response(202, &body)
        }
        Ok(Err(running)) => {
            let body = FullSyncRunning {
                code: "full_sync_running".into(),
                message: "a full sync of this entity is still running".into(),
                session_id: running.id,
            };
            json_response(409, &body)
        }
        Err(FullSyncError::Queue(why)) => {
            tracing::error!(entity = %caller.entity, error = %why, "full sync's first page not queued; the sweep queues it");
            error(
                503,
                "queue_unavailable",
                "the full sync was recorded but its first job could not be queued; the sweep queues it within minutes",
            )
        }
        Err(e) => {
            tracing::error!(entity = %caller.entity, error = %e, "full sync not started");
            error(
                503,
                "store_unavailable",
                "the full sync could not be started; try again",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(error: SyncError) -> Result<(), Failure> {
        Err(Failure {
            error,
            event_id: "e".into(),
            unrecorded: false,
        })
    }

    #[test]
    fn the_public_route_counts_its_syncs_by_outcome() {
        assert_eq!(outcome_metric(&Ok::<(), Failure>(())), "SyncSucceeded");
        let busy = failed(SyncError::Busy {
            account: "A1".into(),
        });
        assert_eq!(outcome_metric(&busy), "SyncCoalesced");
        let waited = failed(SyncError::Zuora(ZuoraError::Busy {
            retry_after_secs: 120,
            reason: "429".into(),
        }));
        assert_eq!(outcome_metric(&waited), "ZuoraBusy");
        let gone = failed(SyncError::Zuora(ZuoraError::Timeout { attempts: 4 }));
        assert_eq!(outcome_metric(&gone), "SyncFailed");
    }
}
