//! `/__sim__/*`: the test controls over HTTP, for out-of-process users (scripts, local stack).
//! No token, not counted, not subject to limits, latency or faults.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::faults::Fault;
use crate::state::SimState;

type Control = Result<Json<Value>, (StatusCode, Json<Value>)>;

pub fn router() -> Router<Arc<SimState>> {
    Router::new()
        .route("/faults", post(add_fault).delete(clear_faults).get(faults))
        .route("/records/{object}", get(records))
        .route("/stats", get(stats))
        .route("/reset", post(reset))
        .route("/api-usage", post(set_api_usage))
        .route("/sessions/expire", post(expire_sessions))
        .route("/accounts/deny", post(deny_account))
        .route("/latency", put(set_latency))
        .route("/token", post(mint_token))
}

fn error(status: StatusCode, message: impl Into<String>) -> (StatusCode, Json<Value>) {
    (status, Json(json!({"error": message.into()})))
}

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, (StatusCode, Json<Value>)> {
    serde_json::from_slice(body).map_err(|err| error(StatusCode::BAD_REQUEST, err.to_string()))
}

fn ok() -> Control {
    Ok(Json(json!({"ok": true})))
}

async fn add_fault(State(state): State<Arc<SimState>>, body: Bytes) -> Control {
    state.add_fault(parse::<Fault>(&body)?);
    ok()
}

async fn clear_faults(State(state): State<Arc<SimState>>) -> Control {
    state.clear_faults();
    ok()
}

async fn faults(State(state): State<Arc<SimState>>) -> Json<Value> {
    Json(serde_json::to_value(state.faults()).unwrap_or_default())
}

async fn records(State(state): State<Arc<SimState>>, Path(object): Path<String>) -> Control {
    let store = state.store();
    if store.object(&object).is_none() {
        return Err(error(
            StatusCode::NOT_FOUND,
            format!("unknown object {object}"),
        ));
    }
    Ok(Json(
        serde_json::to_value(store.records(&object)).unwrap_or_default(),
    ))
}

async fn stats(State(state): State<Arc<SimState>>) -> Json<Value> {
    Json(serde_json::to_value(state.stats()).unwrap_or_default())
}

async fn reset(State(state): State<Arc<SimState>>) -> Control {
    state.reset();
    ok()
}

#[derive(Deserialize)]
struct Used {
    used: u64,
}

async fn set_api_usage(State(state): State<Arc<SimState>>, body: Bytes) -> Control {
    let Used { used } = parse(&body)?;
    state.set_api_usage(used);
    ok()
}

async fn expire_sessions(State(state): State<Arc<SimState>>) -> Control {
    state.expire_sessions();
    ok()
}

#[derive(Deserialize)]
struct AccountId {
    id: String,
}

async fn deny_account(State(state): State<Arc<SimState>>, body: Bytes) -> Control {
    let AccountId { id } = parse(&body)?;
    if crate::ids::normalize(&id).is_none() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!("not a record id: {id}"),
        ));
    }
    state.store().accounts.deny(&id);
    ok()
}

#[derive(Deserialize)]
struct Millis {
    ms: u64,
}

async fn set_latency(State(state): State<Arc<SimState>>, body: Bytes) -> Control {
    let Millis { ms } = parse(&body)?;
    state.set_latency(Duration::from_millis(ms));
    ok()
}

async fn mint_token(State(state): State<Arc<SimState>>) -> Control {
    Ok(Json(json!({"access_token": state.issue_token()})))
}
