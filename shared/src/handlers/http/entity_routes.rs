//! The per-entity routes: on-demand account sync, manual customer sync, catalog sync.

use super::{
    Api, Call, Rejection, error, invalid_field, json_body, json_response, percent_decode,
    upstream_message,
};
use crate::core::ZuoraError;
use crate::core::sync::{AccountOutcome, Enqueued, Failure, SyncError, SyncReport};
use crate::model::AccountKey;
use crate::model::JobTarget;
use crate::model::RecordKind;
use crate::model::Trigger;
use lambda_http::{Body, Response};
use serde_json::{Value, json};
use std::time::Duration;

/// Design §1.2: at most 10 accounts per programmatic request.
pub const MAX_ACCOUNTS_PER_REQUEST: usize = 10;
/// Entries accepted before de-duplication, so a huge list of repeats is refused cheaply.
const MAX_ACCOUNT_ENTRIES: usize = 100;

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

pub(crate) fn failure_response(f: &Failure) -> Response<Body> {
    let mut body = json!({
        "message": upstream_message(&f.error),
        "code": f.error.code(),
    });
    if !f.event_id.is_empty() {
        body["event_id"] = json!(f.event_id);
    }
    json_response(failure_status(&f.error), body)
}

fn enqueued_json(account: &str, outcome: &Result<Enqueued, Failure>) -> Value {
    match outcome {
        Ok(Enqueued::Queued { event_id }) => {
            json!({"account": account, "status": "queued", "event_id": event_id})
        }
        Ok(Enqueued::CoalescedIntoRunning { event_id }) => json!({
            "account": account, "status": "coalesced", "into": "running", "event_id": event_id,
            "message": "a sync of this account is running; this request is served by the one follow-up sync that runs after it",
        }),
        Ok(Enqueued::CoalescedIntoQueued { event_id, queued }) => json!({
            "account": account, "status": "coalesced", "into": "queued", "event_id": event_id,
            "queued_event_id": queued,
            "message": "a sync of this account is queued and has not started; it serves this request too",
        }),
        Ok(Enqueued::Throttled { retry_after }) => json!({
            "account": account, "status": "throttled",
            "retry_after_seconds": retry_after.as_secs_f64().ceil() as u64,
            "message": "an on-demand sync of this account ran within the entity's minimum interval; not queued",
        }),
        Err(f) => json!({
            "account": account, "status": "failed", "code": f.error.code(),
            "message": upstream_message(&f.error), "event_id": f.event_id,
        }),
    }
}

/// The `accounts` list of an on-demand request: 1 to 10 valid keys once de-duplicated.
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

impl Api {
    /// On-demand sync of named accounts (design §1.2): answers at once; the worker syncs.
    pub(super) async fn sync_accounts(&self, call: &Call<'_>) -> Response<Body> {
        let body = match json_body(call.req) {
            Ok(b) => b,
            Err(r) => return *r,
        };
        let keys = match requested_accounts(&body) {
            Ok(k) => k,
            Err(r) => return *r,
        };
        let settings = match self.sync.entity_settings().get(&call.entity).await {
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
        let req = self.sync_request(call, Trigger::OnDemand);
        let outcomes: Vec<(String, Result<Enqueued, Failure>)> = futures::future::join_all(
            keys.iter()
                .map(|key| self.enqueue_account(&req, key, interval)),
        )
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
        let list: Vec<Value> = outcomes.iter().map(|(a, o)| enqueued_json(a, o)).collect();
        if accepted {
            return json_response(202, json!({ "accounts": list }));
        }
        if throttled.len() == outcomes.len() {
            let wait = throttled.iter().min().copied().unwrap_or(0);
            let mut r = json_response(
                429,
                json!({
                    "message": format!("every account was synced on demand within the minimum interval; retry in {wait} s"),
                    "code": "throttled",
                    "retry_after_seconds": wait,
                    "accounts": list,
                }),
            );
            r.headers_mut()
                .insert("retry-after", http::HeaderValue::from(wait));
            return r;
        }
        json_response(
            502,
            json!({"message": "no account could be queued", "code": "not_queued", "accounts": list}),
        )
    }

    async fn enqueue_account(
        &self,
        req: &crate::core::sync::SyncRequest,
        key: &AccountKey,
        interval: Duration,
    ) -> (String, Result<Enqueued, Failure>) {
        let target = JobTarget::Account {
            account: key.clone(),
        };
        let outcome = self.sync.enqueue(req, &target, Some(interval)).await;
        (key.to_string(), outcome)
    }

    /// The account a customer path segment names: a local customer id (`cus_…`) or a Zuora
    /// account number or id.
    async fn customer_account(&self, call: &Call<'_>) -> Result<AccountKey, Rejection> {
        let raw = percent_decode(call.matched.param("customer"));
        let key =
            AccountKey::parse(&raw).map_err(|e| invalid_field("customer", &e.to_string(), None))?;
        if !raw.starts_with("cus_") {
            return Ok(key);
        }
        let found = self.sync.mirror().find_local_id(&call.entity, &raw).await;
        let answer = match found {
            Ok(Some((account_id, RecordKind::Customer))) => AccountKey::parse(&account_id)
                .map_err(|e| error(500, "store_corrupt", &e.to_string())),
            Ok(_) => Err(error(
                404,
                "customer_not_found",
                &format!("no customer {raw} in entity {}", call.entity),
            )),
            Err(e) => Err(error(503, "store_unavailable", &e.to_string())),
        };
        Ok(answer?)
    }

    /// Manual sync of one customer (design §1.3): all its subscriptions, now, with the
    /// outcome of each.
    pub(super) async fn sync_customer(&self, call: &Call<'_>) -> Response<Body> {
        let key = match self.customer_account(call).await {
            Ok(k) => k,
            Err(r) => return *r,
        };
        let req = self.sync_request(call, Trigger::Manual);
        match self.sync.sync_customer(&req, &key).await {
            Ok(AccountOutcome::Synced(report)) => customer_report(&report),
            Ok(AccountOutcome::Coalesced { event_id }) => json_response(
                202,
                json!({
                    "status": "coalesced",
                    "event_id": event_id,
                    "message": format!("account {key} is being synced; this request is served by the follow-up sync that runs after it"),
                }),
            ),
            Ok(AccountOutcome::NothingPending | AccountOutcome::Skipped { .. }) => {
                error(500, "internal", "unexpected outcome of a manual sync")
            }
            Err(f) => failure_response(&f),
        }
    }

    /// On-demand catalog sync: queued for the worker; answers with the event id.
    pub(super) async fn sync_catalog(&self, call: &Call<'_>) -> Response<Body> {
        let req = self.sync_request(call, Trigger::OnDemand);
        match self.sync.enqueue(&req, &JobTarget::Catalog, None).await {
            Ok(outcome) => {
                let mut body = enqueued_json("catalog", &Ok(outcome));
                if let Some(obj) = body.as_object_mut() {
                    obj.remove("account");
                }
                json_response(202, body)
            }
            Err(f) => failure_response(&f),
        }
    }
}

fn customer_report(r: &SyncReport) -> Response<Body> {
    let success = r.failures.is_empty();
    let mut body = json!({
        "success": success,
        "customer": r.customer_id,
        "account": r.account_number,
        "account_id": r.account_id,
        "event_id": r.event_id,
        "written": r.written,
        "unchanged": r.unchanged,
        "removed": r.removed,
        "subscriptions": r.subscriptions,
        "failed": r.failures,
    });
    if !success {
        let names: Vec<String> = r
            .failures
            .iter()
            .map(|f| format!("{} ({}): {}", f.number, f.name, f.reason))
            .collect();
        body["message"] = json!(format!(
            "{} subscription(s) could not be synced and keep their stored copy: {}",
            r.failures.len(),
            names.join("; ")
        ));
        body["code"] = json!("subscriptions_failed");
    }
    json_response(200, body)
}
