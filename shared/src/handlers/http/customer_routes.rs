//! The manual customer sync: all of one customer's subscriptions, now, with each outcome.

use super::dto::{BadRequest, CustomerCoalesced, CustomerSyncReport, ErrorBody, SyncFailure};
use super::extract::{Bearer, Caller, PathParams, SyncRole};
use super::openapi::{Forbidden, Unauthorized};
use super::sync_routes::failure_response;
use super::{Api, Rejection, error, invalid_field, json_response};
use crate::core::sync::{AccountOutcome, SyncReport};
use crate::model::{AccountKey, RecordKind, Trigger};
use axum::extract::State;
use axum::response::Response;
use std::sync::Arc;

/// The account a customer path segment names: a local customer id (`cus_…`) or a Zuora
/// account number or id.
async fn customer_account(api: &Api, caller: &Caller, raw: &str) -> Result<AccountKey, Rejection> {
    let key =
        AccountKey::parse(raw).map_err(|e| invalid_field("customer", &e.to_string(), None))?;
    if !raw.starts_with("cus_") {
        return Ok(key);
    }
    let found = api.sync.mirror().find_local_id(&caller.entity, raw).await;
    let answer = match found {
        Ok(Some((account_id, RecordKind::Customer))) => {
            AccountKey::parse(&account_id).map_err(|e| error(500, "store_corrupt", &e.to_string()))
        }
        Ok(_) => Err(error(
            404,
            "customer_not_found",
            &format!("no customer {raw} in entity {}", caller.entity),
        )),
        Err(e) => Err(error(503, "store_unavailable", &e.to_string())),
    };
    Ok(answer?)
}

/// Sync one customer now, subscription by subscription
///
/// Syncs the customer's account synchronously: the account, then each subscription read on its
/// own, answering with every subscription's outcome. A subscription Zuora cannot return keeps
/// its stored copy and is listed in `failed` (then `success` is false, with `message` and
/// `code: subscriptions_failed`; still 200). If another sync holds the lock, waits up to
/// `LOCK_WAIT_MS` (default 3 s), then folds this request into the follow-up sync that runs
/// after it (202).
///
/// Requires a bearer JWT whose entities claim includes the entity (or `*`) and whose roles
/// claim includes `sync` or `admin` (admin implies sync).
#[utoipa::path(
    post,
    path = "/plugins/zuora/entities/{entity}/sync/customers/{customer}",
    operation_id = "syncCustomer",
    tag = "sync",
    params(
        ("entity" = String, Path, example = "default", pattern = "^[A-Za-z0-9_-]{1,64}$", description = "The Zuora entity (percent-decoded): 1 to 64 letters, digits, `-` or `_`."),
        ("customer" = String, Path, example = "A00000001", pattern = "^[A-Za-z0-9_-]{1,64}$", description = "A local customer id (`cus_…`, looked up in the mirror) or a Zuora account number or id (percent-decoded)."),
        ("X-Correlation-Id" = Option<String>, Header, description = "Recorded on the sync's event and forwarded when it is 1 to 64 letters, digits, `-`, `_` or `.`; otherwise the request id is used."),
    ),
    responses(
        (status = 200, description = "Synced (possibly with failed subscriptions; see `success`).", body = CustomerSyncReport),
        (status = 202, description = "`coalesced`: the account is being synced; this request is served by the follow-up sync that runs after it.", body = CustomerCoalesced),
        (status = 400, description = "`invalid_request` with `field: customer` (not a valid id), or `invalid_entity`.", body = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "`unknown_entity`: the entity is not configured in this deployment (answered only after authorisation). `customer_not_found`: no local customer with this `cus_…` id in the entity. `zuora_not_found`: Zuora does not know the account (with `event_id`).", body = SyncFailure),
        (status = 409, description = "`account_busy`: the account lock could not be taken nor a follow-up recorded.", body = SyncFailure),
        (status = 500, description = "`store_corrupt`: a stored customer record names an invalid account.", body = ErrorBody),
        (status = 502, description = "A Zuora failure (`zuora_rejected`, `zuora_unavailable`, `zuora_timeout`, `zuora_bad_response`, `zuora_auth_failed`, `zuora_unreachable`, `zuora_busy`), with `event_id`; or `auth_keys_unavailable`.", body = SyncFailure),
        (status = 503, description = "`store_unavailable`, `lock_lost`, `snapshot_outdated` or `queue_unavailable`: nothing was written. `event_id` when a sync event records the failure.", body = SyncFailure),
    ),
    security(("bearerAuth" = ["sync"])),
    extensions(("x-required-role" = json!("sync"))),
)]
pub(super) async fn sync_customer(
    State(api): State<Arc<Api>>,
    Bearer(caller, _): Bearer<SyncRole>,
    params: PathParams,
) -> Response {
    let key = match customer_account(&api, &caller, params.get("customer")).await {
        Ok(k) => k,
        Err(r) => return *r,
    };
    let req = api.sync_request(&caller, Trigger::Manual);
    match api.sync.sync_customer(&req, &key).await {
        Ok(AccountOutcome::Synced(report)) => json_response(200, &customer_report(report)),
        Ok(AccountOutcome::Coalesced { event_id }) => json_response(
            202,
            &CustomerCoalesced {
                status: "coalesced".into(),
                event_id,
                message: format!(
                    "account {key} is being synced; this request is served by the follow-up sync that runs after it"
                ),
            },
        ),
        Err(f) => failure_response(&f),
    }
}

fn customer_report(r: SyncReport) -> CustomerSyncReport {
    let success = r.failures.is_empty();
    let (message, code) = if success {
        (None, None)
    } else {
        let names: Vec<String> = r
            .failures
            .iter()
            .map(|f| format!("{} ({}): {}", f.number, f.name, f.reason))
            .collect();
        let message = format!(
            "{} subscription(s) could not be synced and keep their stored copy: {}",
            r.failures.len(),
            names.join("; ")
        );
        (Some(message), Some("subscriptions_failed".to_string()))
    };
    CustomerSyncReport {
        success,
        customer: r.customer_id,
        account: r.account_number,
        account_id: r.account_id,
        event_id: r.event_id,
        written: r.written,
        unchanged: r.unchanged,
        removed: r.removed,
        subscriptions: r.subscriptions,
        failed: r.failures,
        message,
        code,
    }
}
