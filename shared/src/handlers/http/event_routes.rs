//! The event log: search and fetch one event.

use super::dto::{BadRequest, ErrorBody, EventPage, EventView};
use super::extract::{Bearer, Caller, PathParams, SyncRole};
use super::openapi::{Forbidden, Unauthorized};
use super::{Api, Rejection, error, invalid_field, json_response, query_pairs};
use crate::core::StoreError;
use crate::model::{
    AccountKey, EpochMillis, EventQuery, EventStatus, MAX_PAGE_SIZE, SubscriptionKey, SyncEvent,
    Trigger,
};
use axum::extract::State;
use axum::response::Response;
use serde_json::json;
use std::sync::Arc;
use utoipa::IntoParams;

const DEFAULT_PAGE_SIZE: usize = 25;
const TRIGGERS: [&str; 8] = [
    "api",
    "on_demand",
    "manual",
    "hot_sync",
    "realtime",
    "sweep",
    "full",
    "salesforce_push",
];
const STATUSES: [&str; 6] = [
    "queued",
    "running",
    "succeeded",
    "failed",
    "skipped",
    "coalesced",
];

/// The search filters. Read pair by pair from the query string (so that an unknown parameter
/// is refused with the list of known ones); this is their schema.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct EventSearch {
    /// Zuora account number or id (a number the mirror knows is searched by its id).
    #[param(pattern = "^[A-Za-z0-9_-]{1,64}$", nullable = false)]
    account: Option<String>,
    /// Subscription number or id.
    #[param(pattern = "^[A-Za-z0-9_-]{1,64}$", nullable = false)]
    subscription: Option<String>,
    /// Local customer id.
    #[param(pattern = "^[A-Za-z0-9_-]{1,64}$", nullable = false)]
    customer: Option<String>,
    #[param(nullable = false)]
    trigger: Option<Trigger>,
    #[param(nullable = false)]
    status: Option<EventStatus>,
    /// Inclusive lower bound on the creation time.
    #[param(schema_with = time_bound_schema, required = false)]
    from: String,
    /// Inclusive upper bound on the creation time; not before `from`.
    #[param(schema_with = time_bound_schema, required = false)]
    to: String,
    /// Page size.
    #[param(minimum = 1, maximum = 100, default = 25, nullable = false)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page (only valid with the same filters).
    #[param(nullable = false)]
    cursor: Option<String>,
}

fn time_bound_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::{ObjectBuilder, Type, schema::OneOfBuilder};
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                    utoipa::openapi::KnownFormat::DateTime,
                ))),
        )
        .item(ObjectBuilder::new().schema_type(Type::Integer))
        .description(Some(
            "A creation time bound, inclusive: RFC 3339 (`2026-11-23T10:00:00Z`) or epoch milliseconds.",
        ))
        .build()
        .into()
}

fn event_view(e: SyncEvent) -> EventView {
    EventView {
        created: e.created_at.to_rfc3339(),
        updated: e.updated_at.to_rfc3339(),
        event: e,
    }
}

fn store_error(e: &StoreError) -> Response {
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
fn event_query(caller: &Caller, uri: &http::Uri) -> Result<EventQuery, Rejection> {
    let mut q = EventQuery {
        entity: Some(caller.entity.clone()),
        limit: DEFAULT_PAGE_SIZE,
        ..EventQuery::default()
    };
    for (name, value) in query_pairs(uri) {
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

/// Search the entity's sync events
///
/// Events of the entity, newest first, filtered by any of the parameters. Every parameter is
/// validated; an unknown parameter is a 400 listing the allowed ones. Each search is one
/// DynamoDB query on an index, never a scan.
///
/// Requires a bearer JWT whose entities claim includes the entity (or `*`) and whose roles
/// claim includes `sync` or `admin` (admin implies sync).
#[utoipa::path(
    get,
    path = "/plugins/zuora/entities/{entity}/events",
    operation_id = "searchEvents",
    tag = "events",
    params(
        ("entity" = String, Path, example = "default", pattern = "^[A-Za-z0-9_-]{1,64}$", description = "The Zuora entity (percent-decoded): 1 to 64 letters, digits, `-` or `_`."),
        EventSearch,
    ),
    responses(
        (status = 200, description = "A page of events.", body = EventPage),
        (status = 400, description = "`invalid_request` naming the `field` (an invalid value, `from` after `to`, an invalid `cursor`, an unknown parameter; `allowed` lists triggers, statuses, the `limit` range or the parameters), or `invalid_entity`.", body = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "`unknown_entity`: the entity is not configured in this deployment (answered only after authorisation).", body = ErrorBody),
        (status = 502, description = "`auth_keys_unavailable`: the token signing keys (JWKS) could not be fetched, so the token could not be verified.", body = ErrorBody),
        (status = 503, description = "`store_unavailable`: the event store is unavailable; try again.", body = ErrorBody),
    ),
    security(("bearerAuth" = ["sync"])),
    extensions(("x-required-role" = json!("sync"))),
)]
pub(super) async fn search_events(
    State(api): State<Arc<Api>>,
    Bearer(caller, _): Bearer<SyncRole>,
    uri: http::Uri,
) -> Response {
    let mut q = match event_query(&caller, &uri) {
        Ok(q) => q,
        Err(r) => return *r,
    };
    // Events are filed under the Zuora account id once it is known; a number the mirror knows
    // is searched by its id.
    if let Some(account) = q.account.clone().filter(|a| !a.starts_with("cus_")) {
        match api
            .sync
            .mirror()
            .resolve_account(&caller.entity, &account)
            .await
        {
            Ok(Some(id)) => q.account = Some(id),
            Ok(None) => {}
            Err(e) => return store_error(&e),
        }
    }
    match api.sync.events().search_events(&q).await {
        Ok(page) => json_response(
            200,
            &EventPage {
                events: page.events.into_iter().map(event_view).collect(),
                next_cursor: page.next_cursor,
            },
        ),
        Err(e) => store_error(&e),
    }
}

/// Get one sync event
///
/// One event of the entity by id.
///
/// Requires a bearer JWT whose entities claim includes the entity (or `*`) and whose roles
/// claim includes `sync` or `admin` (admin implies sync).
#[utoipa::path(
    get,
    path = "/plugins/zuora/entities/{entity}/events/{event_id}",
    operation_id = "getEvent",
    tag = "events",
    params(
        ("entity" = String, Path, example = "default", pattern = "^[A-Za-z0-9_-]{1,64}$", description = "The Zuora entity (percent-decoded): 1 to 64 letters, digits, `-` or `_`."),
        ("event_id" = String, Path, pattern = "^[A-Za-z0-9-]{1,64}$", description = "Event id (percent-decoded)."),
    ),
    responses(
        (status = 200, description = "The event.", body = EventView),
        (status = 400, description = "`invalid_request` with `field: event_id` (not 1 to 64 letters, digits or `-`), or `invalid_entity`.", body = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "`unknown_entity`: the entity is not configured; `event_not_found`: no such event in the entity.", body = ErrorBody),
        (status = 502, description = "`auth_keys_unavailable`: the token signing keys (JWKS) could not be fetched, so the token could not be verified.", body = ErrorBody),
        (status = 503, description = "`store_unavailable`: the event store is unavailable; try again.", body = ErrorBody),
    ),
    security(("bearerAuth" = ["sync"])),
    extensions(("x-required-role" = json!("sync"))),
)]
pub(super) async fn get_event(
    State(api): State<Arc<Api>>,
    Bearer(caller, _): Bearer<SyncRole>,
    params: PathParams,
) -> Response {
    let id = params.get("event_id");
    let valid = !id.is_empty()
        && id.len() <= 64
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !valid {
        return invalid_field("event_id", "is not an event id", None);
    }
    match api.sync.events().get_event(&caller.entity, id).await {
        Ok(Some(e)) => json_response(200, &event_view(e)),
        Ok(None) => error(
            404,
            "event_not_found",
            &format!("no event {id} in entity {}", caller.entity),
        ),
        Err(e) => store_error(&e),
    }
}
