//! The event log and the settings routes.

use super::{
    Api, Call, Rejection, error, invalid_field, json_body, json_response, percent_decode,
    query_pairs,
};
use crate::core::StoreError;
use crate::core::settings::SettingsUpdate;
use crate::model::EpochMillis;
use crate::model::{AccountKey, SubscriptionKey};
use crate::model::{EventQuery, MAX_PAGE_SIZE};
use crate::model::{EventStatus, SyncEvent, Trigger};
use crate::model::{SyncMode, Versioned};
use lambda_http::{Body, Response};
use serde_json::{Value, json};

const DEFAULT_PAGE_SIZE: usize = 25;
const TRIGGERS: [&str; 7] = [
    "api",
    "on_demand",
    "manual",
    "hot_sync",
    "realtime",
    "sweep",
    "full",
];
const STATUSES: [&str; 6] = [
    "queued",
    "running",
    "succeeded",
    "failed",
    "skipped",
    "coalesced",
];

fn event_json(e: &SyncEvent) -> Value {
    let mut v = serde_json::to_value(e).expect("events always serialise");
    v["created"] = json!(e.created_at.to_rfc3339());
    v["updated"] = json!(e.updated_at.to_rfc3339());
    v
}

fn store_error(e: &StoreError) -> Response<Body> {
    match e {
        StoreError::InvalidCursor(_) => invalid_field("cursor", &e.to_string(), None),
        _ => {
            tracing::error!(error = %e, "store request failed");
            error(
                503,
                "store_unavailable",
                "the event store is unavailable; try again",
            )
        }
    }
}

/// A time bound: RFC 3339, or epoch milliseconds.
fn time_bound(field: &str, raw: &str) -> Result<EpochMillis, Rejection> {
    if let Ok(ms) = raw.parse::<i64>() {
        return Ok(EpochMillis(ms));
    }
    time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
        .map(|t| EpochMillis((t.unix_timestamp_nanos() / 1_000_000) as i64))
        .map_err(|_| -> Rejection {
            Box::new(invalid_field(
                field,
                "must be an RFC 3339 time (2026-11-23T10:00:00Z) or epoch milliseconds",
                None,
            ))
        })
}

/// Reads the search filters from the query string; every value is validated.
fn event_query(call: &Call<'_>) -> Result<EventQuery, Rejection> {
    let mut q = EventQuery {
        entity: Some(call.entity.clone()),
        limit: DEFAULT_PAGE_SIZE,
        ..EventQuery::default()
    };
    for (name, value) in query_pairs(call.req) {
        let id_ok = |v: &str| {
            AccountKey::parse(v)
                .map(|k| k.to_string())
                .map_err(|e| -> Rejection { Box::new(invalid_field(&name, &e.to_string(), None)) })
        };
        match name.as_str() {
            "account" => q.account = Some(id_ok(&value)?),
            "subscription" => {
                q.subscription = Some(
                    SubscriptionKey::parse(&value)
                        .map_err(|e| invalid_field(&name, &e.to_string(), None))?
                        .to_string(),
                )
            }
            "customer" => q.customer = Some(id_ok(&value)?),
            "trigger" => {
                q.trigger = Some(Trigger::parse(&value).ok_or_else(|| {
                    invalid_field(
                        &name,
                        &format!("{value:?} is not a trigger"),
                        Some(json!(TRIGGERS)),
                    )
                })?)
            }
            "status" => {
                q.status = Some(EventStatus::parse(&value).ok_or_else(|| {
                    invalid_field(
                        &name,
                        &format!("{value:?} is not a status"),
                        Some(json!(STATUSES)),
                    )
                })?)
            }
            "from" => q.from = Some(time_bound("from", &value)?),
            "to" => q.to = Some(time_bound("to", &value)?),
            "limit" => {
                q.limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
                    .ok_or_else(|| {
                        invalid_field(
                            "limit",
                            &format!("must be a whole number from 1 to {MAX_PAGE_SIZE}"),
                            Some(json!({"min": 1, "max": MAX_PAGE_SIZE})),
                        )
                    })?
            }
            "cursor" => q.cursor = Some(value),
            _ => {
                return Err(Box::new(invalid_field(
                    &name,
                    "is not a search parameter",
                    Some(json!([
                        "account",
                        "subscription",
                        "customer",
                        "trigger",
                        "status",
                        "from",
                        "to",
                        "limit",
                        "cursor"
                    ])),
                )));
            }
        }
    }
    if let (Some(from), Some(to)) = (q.from, q.to)
        && from > to
    {
        return Err(Box::new(invalid_field(
            "from",
            "must not be after to",
            None,
        )));
    }
    Ok(q)
}

fn settings_json(entity: &str, v: &Versioned) -> Value {
    json!({
        "entity": entity,
        "version": v.version,
        "updated_at": v.updated_at.map(EpochMillis::to_rfc3339),
        "updated_by": v.updated_by,
        "settings": v.settings,
    })
}

impl Api {
    pub(super) async fn search_events(&self, call: &Call<'_>) -> Response<Body> {
        let mut q = match event_query(call) {
            Ok(q) => q,
            Err(r) => return *r,
        };
        // Events are filed under the Zuora account id once it is known; a number the mirror
        // knows is searched by its id.
        if let Some(account) = q.account.clone().filter(|a| !a.starts_with("cus_")) {
            match self
                .sync
                .mirror()
                .resolve_account(&call.entity, &account)
                .await
            {
                Ok(Some(id)) => q.account = Some(id),
                Ok(None) => {}
                Err(e) => return store_error(&e),
            }
        }
        match self.sync.events().search_events(&q).await {
            Ok(page) => json_response(
                200,
                json!({
                    "events": page.events.iter().map(event_json).collect::<Vec<_>>(),
                    "next_cursor": page.next_cursor,
                }),
            ),
            Err(e) => store_error(&e),
        }
    }

    pub(super) async fn get_event(&self, call: &Call<'_>) -> Response<Body> {
        let id = percent_decode(call.matched.param("event_id"));
        let valid = !id.is_empty()
            && id.len() <= 64
            && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !valid {
            return invalid_field("event_id", "is not an event id", None);
        }
        match self.sync.events().get_event(&call.entity, &id).await {
            Ok(Some(e)) => json_response(200, event_json(&e)),
            Ok(None) => error(
                404,
                "event_not_found",
                &format!("no event {id} in entity {}", call.entity),
            ),
            Err(e) => store_error(&e),
        }
    }

    pub(super) async fn get_settings(&self, call: &Call<'_>) -> Response<Body> {
        match self.sync.entity_settings().get_fresh(&call.entity).await {
            Ok(v) => json_response(200, settings_json(call.entity.as_str(), &v)),
            Err(e) => store_error(&e),
        }
    }

    /// A partial update with the version read: fields given replace the current ones; a stale
    /// version is a 409 and changes nothing.
    pub(super) async fn update_settings(&self, call: &Call<'_>) -> Response<Body> {
        let body = match json_body(call.req) {
            Ok(b) => b,
            Err(r) => return *r,
        };
        let update = match SettingsUpdate::parse(&body) {
            Ok(u) => u,
            Err(e) => return invalid_field(&e.field, &e.message, Some(e.allowed)),
        };
        let cache = self.sync.entity_settings();
        let current = match cache.get_fresh(&call.entity).await {
            Ok(v) => v,
            Err(e) => return store_error(&e),
        };
        if current.version != update.version {
            return conflict(current.version, update.version);
        }
        let next = match update.apply(&current.settings) {
            Ok(s) => s,
            Err(e) => return invalid_field(&e.field, &e.message, Some(e.allowed)),
        };
        let by = if call.principal.subject.is_empty() {
            "unknown"
        } else {
            call.principal.subject.as_str()
        };
        let saved = cache
            .store()
            .put_settings(&call.entity, &next, update.version, by, self.sync.now())
            .await;
        match saved {
            Ok(Ok(v)) => {
                tracing::info!(entity = %call.entity, version = v.version, by, "settings updated");
                cache.remember(&call.entity, v.clone());
                let mut body = settings_json(call.entity.as_str(), &v);
                // Design §1.5: switching to real-time first syncs every account.
                if current.settings.sync_mode != SyncMode::Realtime
                    && v.settings.sync_mode == SyncMode::Realtime
                {
                    let correlation = super::correlation_id(call.req);
                    match self
                        .realtime
                        .start_full_sync(&call.entity, &correlation)
                        .await
                    {
                        Ok(session) => body["full_sync_session"] = json!(session.id),
                        Err(e) => {
                            tracing::error!(entity = %call.entity, error = %e, "could not start the full sync");
                            body["full_sync_error"] = json!(e.to_string());
                        }
                    }
                }
                json_response(200, body)
            }
            Ok(Err(current)) => conflict(current, update.version),
            Err(e) => store_error(&e),
        }
    }
}

fn conflict(current: u64, sent: u64) -> Response<Body> {
    json_response(
        409,
        json!({
            "message": format!("the settings changed since you read them (you sent version {sent}, the current version is {current}); read them again and reapply your change"),
            "code": "version_conflict",
            "current_version": current,
        }),
    )
}
