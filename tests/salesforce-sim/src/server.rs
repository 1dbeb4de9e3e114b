//! The HTTP side: the Salesforce routes, the gate every data request passes (auth, faults,
//! daily allocation, long-request limit, latency, `Sforce-Limit-Info`) and the handlers.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use axum::{Json, Router};

use crate::errors::ApiError;
use crate::faults::{FaultKind, decode_target};
use crate::state::SimState;
use crate::{control, delete as collections_delete, oauth, soql, upsert};

type ApiResult = Result<Response, ApiError>;

const DATA: &str = "/services/data/{version}";

/// Route paths and their stable names (used by stats and faults).
const ROUTES: [(&str, &str); 4] = [
    (
        "/services/data/{version}/composite/sobjects/{object}/{field}",
        "upsert",
    ),
    ("/services/data/{version}/composite/sobjects", "delete"),
    ("/services/data/{version}/query", "query"),
    ("/services/data/{version}/limits", "limits"),
];

/// Collections (upsert and delete) exist from API v46.0.
const COLLECTIONS_SINCE: (u32, u32) = (46, 0);

/// Salesforce accepts request bodies far larger than axum's 2 MB default.
const BODY_LIMIT: usize = 50 * 1024 * 1024;

pub fn router(state: Arc<SimState>) -> Router {
    let data = Router::new()
        .route(
            &format!("{DATA}/composite/sobjects/{{object}}/{{field}}"),
            patch(upsert_records),
        )
        .route(
            &format!("{DATA}/composite/sobjects"),
            delete(delete_records),
        )
        .route(&format!("{DATA}/query"), get(query))
        .route(&format!("{DATA}/limits"), get(limits))
        .route_layer(middleware::from_fn_with_state(state.clone(), data_gate));
    data.route("/services/oauth2/token", post(oauth_token))
        .nest("/__sim__", control::router())
        .fallback(|| async { ApiError::not_found() })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

fn route_name(path: &str) -> &'static str {
    ROUTES
        .iter()
        .find(|(route, _)| *route == path)
        .map(|(_, name)| *name)
        .unwrap_or("unknown")
}

// ---------------------------------------------------------------------------------------------
// The gate
// ---------------------------------------------------------------------------------------------

async fn data_gate(
    State(state): State<Arc<SimState>>,
    matched: MatchedPath,
    request: Request,
    next: Next,
) -> Response {
    let route = route_name(matched.as_str());
    state.count_call(route);
    if !has_valid_token(&state, request.headers()) {
        return ApiError::invalid_session().into_response();
    }
    let method = request.method().clone();
    let mut response = admit_and_serve(&state, route, request, next).await;
    if response.status() == StatusCode::METHOD_NOT_ALLOWED {
        response = method_not_allowed(route, &method);
    }
    // Salesforce reports usage on every REST answer; a 401 comes before the org is known.
    if response.status() != StatusCode::UNAUTHORIZED {
        let usage = format!("api-usage={}/{}", state.api_usage(), state.daily_limit());
        if let Ok(value) = HeaderValue::from_str(&usage) {
            response.headers_mut().insert("Sforce-Limit-Info", value);
        }
    }
    response
}

/// Faults, then the limits (nothing is counted or done for a refused request), then latency
/// and the handler. A request counts as in flight only once admitted, so when
/// `wait_in_flight(n)` resolves, those `n` requests hold their long-request slots already.
async fn admit_and_serve(state: &SimState, route: &str, request: Request, next: Next) -> Response {
    let mut latency = state.latency();
    match state.take_request_fault(route, &request_target(&request)) {
        Some(FaultKind::SessionExpired) => {
            state.expire_sessions();
            return ApiError::invalid_session().into_response();
        }
        Some(FaultKind::RequestLimit { long }) => {
            return ApiError::request_limit(long).into_response();
        }
        Some(FaultKind::Status { status }) => return ApiError::injected(status).into_response(),
        Some(FaultKind::Latency { ms }) => latency += Duration::from_millis(ms),
        Some(FaultKind::RecordError { .. }) | None => {}
    }
    // A request is "long" when it will take at least the threshold: known up front here,
    // because the simulator's time is all latency.
    let is_long = latency >= state.config.long_request_threshold;
    let Ok(_long) = state.admit_long(is_long) else {
        return ApiError::request_limit(true).into_response();
    };
    // `/limits` does not count toward the allocation (and answers even when it is used up).
    if route != "limits" && !state.try_count_api_call() {
        return ApiError::request_limit(false).into_response();
    }
    let _flight = state.enter_flight();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    next.run(request).await
}

/// axum answers a wrong method with an empty 405 (and adds `Allow` afterwards); Salesforce
/// answers its error array.
fn method_not_allowed(route: &str, method: &Method) -> Response {
    let allowed = match route {
        "upsert" => "PATCH",
        "delete" => "DELETE",
        _ => "GET,HEAD",
    };
    let message = format!("HTTP Method '{method}' not allowed. Allowed are {allowed}");
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        message,
    )
    .into_response()
}

/// The decoded path and query, which `path_contains` faults match against.
fn request_target(request: &Request) -> String {
    let uri = request.uri();
    let target = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
    decode_target(target)
}

fn has_valid_token(state: &SimState, headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
            state.token_is_valid(token.trim())
        }
        _ => false,
    }
}

/// The URL clients used to reach us (so `instance_url` works behind any host name).
fn client_base(state: &SimState, headers: &HeaderMap) -> String {
    headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .map(|host| format!("http://{host}"))
        .unwrap_or_else(|| state.base_url.clone())
}

/// `v62.0` → `(62, 0)`; anything else is not an API version.
fn parse_version(version: &str) -> Option<(u32, u32)> {
    let (major, minor) = version.strip_prefix('v')?.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

fn collections_version(version: &str) -> Result<(), ApiError> {
    match parse_version(version) {
        Some(parsed) if parsed >= COLLECTIONS_SINCE => Ok(()),
        _ => Err(ApiError::not_found()),
    }
}

// ---------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------

async fn oauth_token(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.count_call("oauth_token");
    match state.take_request_fault("oauth_token", "/services/oauth2/token") {
        Some(FaultKind::Status { status }) => return ApiError::injected(status).into_response(),
        Some(FaultKind::SessionExpired) => return ApiError::invalid_session().into_response(),
        Some(FaultKind::RequestLimit { long }) => {
            return ApiError::request_limit(long).into_response();
        }
        Some(FaultKind::Latency { ms }) => tokio::time::sleep(Duration::from_millis(ms)).await,
        Some(FaultKind::RecordError { .. }) | None => {}
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok());
    let base = client_base(&state, &headers);
    let result =
        oauth::parse_form(content_type, &body).and_then(|form| oauth::token(&state, &base, &form));
    match result {
        Ok(body) => Json(body).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn upsert_records(
    State(state): State<Arc<SimState>>,
    Path((version, object, field)): Path<(String, String, String)>,
    request: Request,
) -> ApiResult {
    collections_version(&version)?;
    let target = request_target(&request);
    let spec = state
        .store()
        .object(&object)
        .cloned()
        .ok_or_else(ApiError::not_found)?;
    if !spec.is_external_id(&field) {
        return Err(ApiError::not_found());
    }
    let bytes = axum::body::to_bytes(request.into_body(), BODY_LIMIT)
        .await
        .map_err(|err| ApiError::json_parser(err.to_string()))?;
    let body = upsert::parse_body(&bytes, &spec.name)?;
    state.count_upsert_records(body.records.len());
    let results = upsert::upsert(&state, &spec, &field, body, &target);
    Ok(Json(results).into_response())
}

async fn delete_records(
    State(state): State<Arc<SimState>>,
    Path(version): Path<String>,
    request: Request,
) -> ApiResult {
    collections_version(&version)?;
    let target = request_target(&request);
    let parsed = collections_delete::parse_query(request.uri().query())?;
    let results = collections_delete::delete(&state, &parsed, &target);
    Ok(Json(results).into_response())
}

async fn query(
    State(state): State<Arc<SimState>>,
    Path(version): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    parse_version(&version).ok_or_else(ApiError::not_found)?;
    let q = url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .find(|(key, _)| key == "q")
        .map(|(_, value)| value.into_owned())
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| ApiError::malformed_query("A query string has to be specified"))?;
    let parsed = soql::parse(&q)?;
    let body = soql::execute(&state.store(), &parsed, &version)?;
    Ok(Json(body).into_response())
}

async fn limits(State(state): State<Arc<SimState>>, Path(version): Path<String>) -> ApiResult {
    parse_version(&version).ok_or_else(ApiError::not_found)?;
    let max = state.daily_limit();
    let remaining = max.saturating_sub(state.api_usage());
    let body = serde_json::json!({"DailyApiRequests": {"Max": max, "Remaining": remaining}});
    Ok(Json(body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version("v62.0"), Some((62, 0)));
        assert_eq!(parse_version("62.0"), None);
        assert_eq!(parse_version("vX"), None);
        assert!(collections_version("v46.0").is_ok());
        assert!(collections_version("v45.0").is_err());
    }
}
