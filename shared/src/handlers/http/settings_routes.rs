//! The entity's settings: read, and update with the version read (optimistic concurrency).

use super::dto::{BadRequest, ErrorBody, SettingsDocument, SettingsPatch, VersionConflict};
use super::extract::{AdminRole, Bearer};
use super::openapi::{BodyTooLarge, Forbidden, Unauthorized};
use super::{Api, error, invalid_field, json_body, json_response};
use crate::core::StoreError;
use crate::core::settings::SettingsUpdate;
use crate::model::{EntityId, EpochMillis, Versioned};
use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use std::sync::Arc;

fn document(entity: &EntityId, v: Versioned) -> SettingsDocument {
    SettingsDocument {
        entity: entity.to_string(),
        version: v.version,
        updated_at: v.updated_at.map(EpochMillis::to_rfc3339),
        updated_by: v.updated_by,
        settings: v.settings,
        full_sync_session: None,
        full_sync_error: None,
    }
}

fn store_error(e: &StoreError) -> Response {
    tracing::error!(error = %e, "settings store request failed");
    error(
        503,
        "store_unavailable",
        "the event store is unavailable; try again",
    )
}

fn conflict(current: u64, sent: u64) -> Response {
    json_response(
        409,
        &VersionConflict {
            message: format!(
                "the settings changed since you read them (you sent version {sent}, the current version is {current}); read them again and reapply your change"
            ),
            code: "version_conflict".into(),
            current_version: current,
        },
    )
}

/// Get the entity's settings
///
/// The entity's settings with their version (read past the cache). Version 0: never saved, the
/// defaults apply.
///
/// Requires a bearer JWT whose entities claim includes the entity (or `*`) and whose roles
/// claim includes `admin`.
#[utoipa::path(
    get,
    path = "/plugins/zuora/entities/{entity}/settings",
    operation_id = "getSettings",
    tag = "settings",
    params(
        ("entity" = String, Path, example = "default", pattern = "^[A-Za-z0-9_-]{1,64}$", description = "The Zuora entity (percent-decoded): 1 to 64 letters, digits, `-` or `_`."),
    ),
    responses(
        (status = 200, description = "The settings.", body = SettingsDocument),
        (status = 400, description = "`invalid_entity`: the `{entity}` path segment is not a valid entity id.", body = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "`unknown_entity`: the entity is not configured in this deployment (answered only after authorisation).", body = ErrorBody),
        (status = 502, description = "`auth_keys_unavailable`: the token signing keys (JWKS) could not be fetched, so the token could not be verified.", body = ErrorBody),
        (status = 503, description = "`store_unavailable`: settings could not be read.", body = ErrorBody),
    ),
    security(("bearerAuth" = ["admin"])),
    extensions(("x-required-role" = json!("admin"))),
)]
pub(super) async fn get_settings(
    State(api): State<Arc<Api>>,
    Bearer(caller, _): Bearer<AdminRole>,
) -> Response {
    match api.sync.entity_settings().get_fresh(&caller.entity).await {
        Ok(v) => json_response(200, &document(&caller.entity, v)),
        Err(e) => store_error(&e),
    }
}

/// Update the entity's settings
///
/// A partial update with the version read: the fields given replace the current ones and the
/// result is validated. A version that is not the current one is a 409 and changes nothing
/// (checked before the field values). Records the token's `sub` as `updated_by`. Switching
/// `sync_mode` to `realtime` first syncs every account (`full_sync_session`).
///
/// Requires a bearer JWT whose entities claim includes the entity (or `*`) and whose roles
/// claim includes `admin`.
#[utoipa::path(
    patch,
    path = "/plugins/zuora/entities/{entity}/settings",
    operation_id = "updateSettings",
    tag = "settings",
    params(
        ("entity" = String, Path, example = "default", pattern = "^[A-Za-z0-9_-]{1,64}$", description = "The Zuora entity (percent-decoded): 1 to 64 letters, digits, `-` or `_`."),
    ),
    request_body = SettingsPatch,
    responses(
        (status = 200, description = "Saved; the new settings and version.", body = SettingsDocument),
        (status = 400, description = "`invalid_request` naming the `field` (`body` not an object, `version` missing or not a non-negative integer, an unknown field, a value outside its list or range, a claim configuration field such as `claims[0].account_field`) with `allowed` where there is a list or range; `invalid_json`; or `invalid_entity`.", body = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "`unknown_entity`: the entity is not configured in this deployment (answered only after authorisation).", body = ErrorBody),
        (status = 409, description = "`version_conflict`: the settings changed since they were read.", body = VersionConflict),
        (status = 413, response = BodyTooLarge),
        (status = 502, description = "`auth_keys_unavailable`: the token signing keys (JWKS) could not be fetched, so the token could not be verified.", body = ErrorBody),
        (status = 503, description = "`store_unavailable`: settings could not be read or saved.", body = ErrorBody),
    ),
    security(("bearerAuth" = ["admin"])),
    extensions(("x-required-role" = json!("admin"))),
)]
pub(super) async fn update_settings(
    State(api): State<Arc<Api>>,
    Bearer(caller, _): Bearer<AdminRole>,
    body: Body,
) -> Response {
    let body = match json_body(body).await {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let update = match SettingsUpdate::parse(&body) {
        Ok(u) => u,
        Err(e) => return invalid_field(&e.field, &e.message, Some(e.allowed)),
    };
    let cache = api.sync.entity_settings();
    let current = match cache.get_fresh(&caller.entity).await {
        Ok(v) => v,
        Err(e) => return store_error(&e),
    };
    if current.version != update.version {
        return conflict(current.version, update.version);
    }
    let next = match update.apply(&current.settings, &api.outbound) {
        Ok(s) => s,
        Err(e) => return invalid_field(&e.field, &e.message, Some(e.allowed)),
    };
    let by = if caller.principal.subject.is_empty() {
        "unknown"
    } else {
        caller.principal.subject.as_str()
    };
    let saved = cache
        .store()
        .put_settings(&caller.entity, &next, update.version, by, api.sync.now())
        .await;
    match saved {
        Ok(Ok(v)) => {
            tracing::info!(entity = %caller.entity, version = v.version, by, "settings updated");
            cache.remember(&caller.entity, v.clone());
            let mut answer = document(&caller.entity, v.clone());
            // Switching to real time, or a change of what Salesforce receives, first syncs
            // every account (a full sync session).
            let started = api
                .realtime
                .after_settings_change(
                    &caller.entity,
                    &current.settings,
                    &v.settings,
                    &caller.correlation_id,
                )
                .await;
            match started {
                Ok(session) => answer.full_sync_session = session.map(|s| s.id),
                Err(e) => {
                    tracing::error!(entity = %caller.entity, error = %e, "could not start the full sync");
                    answer.full_sync_error = Some(e.to_string());
                }
            }
            json_response(200, &answer)
        }
        Ok(Err(current)) => conflict(current, update.version),
        Err(e) => store_error(&e),
    }
}
