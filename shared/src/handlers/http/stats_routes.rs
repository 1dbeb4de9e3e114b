//! Syncs per hour by outcome, and their latency (the console's chart).

use super::dto::{BadRequest, ErrorBody};
use super::extract::{Bearer, SyncRole};
use super::openapi::{Forbidden, Unauthorized};
use super::{Api, error, invalid_field, json_response, query_pairs};
use crate::core::stats::{self, MAX_HOURS};
use crate::model::SyncStats;
use axum::extract::State;
use axum::response::Response;
use serde_json::json;
use std::sync::Arc;

const DEFAULT_HOURS: u32 = 24;

/// Syncs per hour by outcome
///
/// For each of the last `hours` hours (the current one last): the syncs created in it by
/// status, and the median and 95th percentile duration of those that ended (Salesforce pushes
/// are not counted). Closed hours are computed once and kept; `complete` is false when an hour
/// held more events than one answer reads.
///
/// Requires a bearer JWT whose entities claim includes the entity (or `*`) and whose roles
/// claim includes `sync` or `admin` (admin implies sync).
#[utoipa::path(
    get,
    path = "/plugins/zuora/entities/{entity}/stats/syncs",
    operation_id = "getSyncStats",
    tag = "events",
    params(
        ("entity" = String, Path, example = "default", pattern = "^[A-Za-z0-9_-]{1,64}$", description = "The Zuora entity (percent-decoded): 1 to 64 letters, digits, `-` or `_`."),
        ("hours" = Option<u32>, Query, minimum = 1, maximum = 168, description = "Hours to cover, the current one included (default 24)."),
    ),
    responses(
        (status = 200, description = "The hours, oldest first.", body = SyncStats),
        (status = 400, description = "`invalid_request`: `hours` out of range or an unknown parameter (`field` names it); or `invalid_entity`.", body = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "`unknown_entity`: the entity is not configured.", body = ErrorBody),
        (status = 502, description = "`auth_keys_unavailable`: the token signing keys (JWKS) could not be fetched, so the token could not be verified.", body = ErrorBody),
        (status = 503, description = "`store_unavailable`: the events could not be read.", body = ErrorBody),
    ),
    security(("bearerAuth" = ["sync"])),
    extensions(("x-required-role" = json!("sync"))),
)]
pub(super) async fn sync_stats(
    State(api): State<Arc<Api>>,
    Bearer(caller, _): Bearer<SyncRole>,
    uri: http::Uri,
) -> Response {
    let mut hours = DEFAULT_HOURS;
    for (name, value) in query_pairs(&uri) {
        if name != "hours" {
            return invalid_field(
                &name,
                "is not a parameter of this route",
                Some(json!(["hours"])),
            );
        }
        match value.parse::<u32>() {
            Ok(n) if (1..=MAX_HOURS).contains(&n) => hours = n,
            _ => {
                return invalid_field(
                    "hours",
                    &format!("must be a whole number from 1 to {MAX_HOURS}"),
                    Some(json!({"min": 1, "max": MAX_HOURS})),
                );
            }
        }
    }
    let events = api.sync.events();
    match stats::hourly(events.as_ref(), &caller.entity, api.sync.now(), hours).await {
        Ok(answer) => json_response(200, &answer),
        Err(e) => {
            tracing::error!(entity = %caller.entity, error = %e, "sync statistics unreadable");
            error(
                503,
                "store_unavailable",
                "the events could not be read; try again",
            )
        }
    }
}
