//! `/__sim/*`: the test controls over HTTP, for out-of-process users (local stack, benchmark).
//! No auth, not counted in stats, not subject to the concurrency limit or faults.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::NotFoundStyle;
use crate::faults::Fault;
use crate::state::SimState;

type Control = Result<Response, (StatusCode, Json<Value>)>;

pub fn router() -> Router<Arc<SimState>> {
    Router::new()
        .route("/latency", put(set_latency))
        .route("/faults", post(add_fault).delete(clear_faults))
        .route("/stats", get(stats))
        .route("/stats/reset", post(reset_stats))
        .route("/tokens/expire", post(expire_tokens))
        .route("/concurrency-limit", put(set_concurrency_limit))
        .route("/aqua/polls-per-step", put(set_aqua_polls_per_step))
        .route("/not-found-style", put(set_not_found_style))
        .route("/accounts", put(upsert_account))
        .route("/accounts/{key}", get(account))
        .route("/accounts/{key}/fields/{field}", put(set_field))
        .route(
            "/subscriptions/{number}/status",
            put(set_subscription_status),
        )
        .route("/subscriptions/{number}", delete(remove_subscription))
        .route("/accounts/generate", post(generate_accounts))
        .route("/products", get(products).put(upsert_product))
        .route("/products/generate", post(generate_products))
        .route("/products/{id}", get(product).delete(remove_product))
}

fn error(status: StatusCode, message: impl Into<String>) -> (StatusCode, Json<Value>) {
    (status, Json(json!({"error": message.into()})))
}

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, (StatusCode, Json<Value>)> {
    serde_json::from_slice(body).map_err(|err| error(StatusCode::BAD_REQUEST, err.to_string()))
}

fn ok() -> Control {
    Ok(Json(json!({"ok": true})).into_response())
}

fn found(done: bool, what: &str) -> Control {
    if done {
        ok()
    } else {
        Err(error(StatusCode::NOT_FOUND, format!("{what} not found")))
    }
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

async fn add_fault(State(state): State<Arc<SimState>>, body: Bytes) -> Control {
    state.add_fault(parse::<Fault>(&body)?);
    ok()
}

async fn clear_faults(State(state): State<Arc<SimState>>) -> Control {
    state.clear_faults();
    ok()
}

async fn stats(State(state): State<Arc<SimState>>) -> Json<Value> {
    Json(serde_json::to_value(state.stats()).unwrap_or_default())
}

async fn reset_stats(State(state): State<Arc<SimState>>) -> Control {
    state.reset_stats();
    ok()
}

async fn expire_tokens(State(state): State<Arc<SimState>>) -> Control {
    state.expire_tokens();
    ok()
}

#[derive(Deserialize)]
struct Limit {
    limit: usize,
}

async fn set_concurrency_limit(State(state): State<Arc<SimState>>, body: Bytes) -> Control {
    let Limit { limit } = parse(&body)?;
    state.set_concurrency_limit(limit);
    ok()
}

#[derive(Deserialize)]
struct Polls {
    polls: u32,
}

async fn set_aqua_polls_per_step(State(state): State<Arc<SimState>>, body: Bytes) -> Control {
    let Polls { polls } = parse(&body)?;
    state.set_aqua_polls_per_step(polls);
    ok()
}

#[derive(Deserialize)]
struct Style {
    style: String,
}

async fn set_not_found_style(State(state): State<Arc<SimState>>, body: Bytes) -> Control {
    let Style { style } = parse(&body)?;
    let style: NotFoundStyle = style
        .parse()
        .map_err(|err: String| error(StatusCode::BAD_REQUEST, err))?;
    state.set_not_found_style(style);
    ok()
}

async fn upsert_account(State(state): State<Arc<SimState>>, body: Bytes) -> Control {
    let document: Value = parse(&body)?;
    state
        .store_mut()
        .upsert_account(document)
        .map_err(|err| error(StatusCode::BAD_REQUEST, err))?;
    ok()
}

async fn account(State(state): State<Arc<SimState>>, Path(key): Path<String>) -> Control {
    match state.store().account(&key) {
        Some(account) => Ok(Json(account.clone()).into_response()),
        None => Err(error(StatusCode::NOT_FOUND, "account not found")),
    }
}

async fn set_field(
    State(state): State<Arc<SimState>>,
    Path((key, field)): Path<(String, String)>,
    body: Bytes,
) -> Control {
    let value: Value = parse(&body)?;
    found(state.store_mut().set_field(&key, &field, value), "account")
}

#[derive(Deserialize)]
struct Status {
    status: String,
}

async fn set_subscription_status(
    State(state): State<Arc<SimState>>,
    Path(number): Path<String>,
    body: Bytes,
) -> Control {
    let Status { status } = parse(&body)?;
    let done = state.store_mut().set_subscription_status(&number, &status);
    found(done, "subscription")
}

async fn remove_subscription(
    State(state): State<Arc<SimState>>,
    Path(number): Path<String>,
) -> Control {
    found(
        state.store_mut().remove_subscription(&number),
        "subscription",
    )
}

#[derive(Deserialize)]
struct GenerateAccounts {
    count: usize,
    #[serde(default = "default_prefix")]
    prefix: String,
}

fn default_prefix() -> String {
    "GEN".into()
}

async fn generate_accounts(State(state): State<Arc<SimState>>, body: Bytes) -> Control {
    let GenerateAccounts { count, prefix } = parse(&body)?;
    let ids = state
        .store_mut()
        .generate_accounts(count, &prefix)
        .map_err(|err| error(StatusCode::BAD_REQUEST, err))?;
    Ok(Json(json!({"ok": true, "count": ids.len()})).into_response())
}

async fn products(State(state): State<Arc<SimState>>) -> Json<Value> {
    Json(Value::Array(state.store().products().to_vec()))
}

async fn product(State(state): State<Arc<SimState>>, Path(id): Path<String>) -> Control {
    match state.store().product(&id) {
        Some(product) => Ok(Json(product.clone()).into_response()),
        None => Err(error(StatusCode::NOT_FOUND, "product not found")),
    }
}

async fn upsert_product(State(state): State<Arc<SimState>>, body: Bytes) -> Control {
    let document: Value = parse(&body)?;
    state
        .store_mut()
        .upsert_product(document)
        .map_err(|err| error(StatusCode::BAD_REQUEST, err))?;
    ok()
}

async fn remove_product(State(state): State<Arc<SimState>>, Path(id): Path<String>) -> Control {
    found(state.store_mut().remove_product(&id), "product")
}

#[derive(Deserialize)]
struct Count {
    count: usize,
}

async fn generate_products(State(state): State<Arc<SimState>>, body: Bytes) -> Control {
    let Count { count } = parse(&body)?;
    let ids = state.store_mut().generate_products(count);
    Ok(Json(json!({"ok": true, "count": ids.len()})).into_response())
}
