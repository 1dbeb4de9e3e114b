//! The HTTP side: the Zuora routes, the gate every Zuora request passes (auth, concurrency
//! slot, latency, faults, standard headers) and the handlers.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{MatchedPath, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::errors::{ApiError, REQUEST_ID};
use crate::faults::{FaultKind, decode_path};
use crate::query::{Literal, Op, compare_values, matches, resolve_field};
use crate::render::{
    Expand, oq_account, oq_account_field, oq_account_field_names, oq_children, v1_account,
    v1_payment_methods, v1_subscription, v1_subscriptions_of,
};
use crate::state::{PendingQuery, RATE_LIMIT_PER_MINUTE, SimState};
use crate::time::parse_instant;
use crate::{NotFoundStyle, aqua, control, describe, zoql};

type ApiResult = Result<Response, ApiError>;

/// Route paths and their stable names (used by stats and faults).
const ROUTES: [(&str, &str); 16] = [
    ("/oauth/token", "oauth_token"),
    ("/object-query/accounts/{key}", "object_query_account"),
    ("/object-query/accounts", "object_query_accounts"),
    ("/object-query/{list}", "object_query_list"),
    ("/v1/accounts/{key}", "v1_account"),
    (
        "/v1/subscriptions/accounts/{key}",
        "v1_account_subscriptions",
    ),
    ("/v1/subscriptions/{key}", "v1_subscription"),
    ("/v1/accounts/{key}/payment-methods", "v1_payment_methods"),
    ("/v1/action/query", "action_query"),
    ("/v1/action/queryMore", "action_query_more"),
    ("/v1/catalog/products", "catalog_products"),
    ("/v1/batch-query/", "aqua_submit"),
    ("/v1/batch-query", "aqua_submit"),
    ("/v1/batch-query/jobs/{id}", "aqua_job"),
    ("/v1/file/{id}", "aqua_file"),
    ("/v1/describe/{object}", "v1_describe"),
];

const V1_MAX_PAGE: usize = 40;
const ZOQL_MAX_BATCH: usize = 2000;

pub fn router(state: Arc<SimState>) -> Router {
    let zuora = Router::new()
        .route("/oauth/token", post(oauth_token))
        .route("/object-query/accounts/{key}", get(object_query_account))
        .route("/object-query/accounts", get(object_query_accounts))
        .route("/object-query/{list}", get(object_query_list))
        .route("/v1/accounts/{key}", get(get_v1_account))
        .route(
            "/v1/subscriptions/accounts/{key}",
            get(get_v1_account_subscriptions),
        )
        .route("/v1/subscriptions/{key}", get(get_v1_subscription))
        .route(
            "/v1/accounts/{key}/payment-methods",
            get(get_v1_payment_methods),
        )
        .route("/v1/action/query", post(action_query))
        .route("/v1/action/queryMore", post(action_query_more))
        .route("/v1/catalog/products", get(catalog_products))
        .route("/v1/batch-query/", post(aqua::submit))
        .route("/v1/batch-query", post(aqua::submit))
        .route(
            "/v1/batch-query/jobs/{id}",
            get(aqua::job).delete(aqua::cancel),
        )
        .route("/v1/file/{id}", get(aqua::file))
        .route("/v1/describe/{object}", get(describe::describe))
        .route_layer(middleware::from_fn_with_state(state.clone(), zuora_gate));
    zuora
        .nest("/__sim", control::router())
        .fallback(|| async { ApiError::from_status(StatusCode::NOT_FOUND) })
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

async fn zuora_gate(
    State(state): State<Arc<SimState>>,
    matched: MatchedPath,
    request: Request,
    next: Next,
) -> Response {
    let route = route_name(matched.as_str());
    let request_id = uuid::Uuid::new_v4().to_string();
    let track_id = request.headers().get("Zuora-Track-Id").cloned();
    let response = REQUEST_ID
        .scope(request_id.clone(), gate(&state, route, request, next))
        .await;
    finish(&state, route, response, &request_id, track_id)
}

async fn gate(
    state: &Arc<SimState>,
    route: &'static str,
    request: Request,
    next: Next,
) -> Response {
    state.count_request(route);
    if route == "oauth_token" {
        // Token requests are not bound by the concurrency limit (Zuora rate-limits them by IP).
        return serve(state, route, request, next).await;
    }
    if !has_valid_token(state, request.headers()) {
        return ApiError::Unauthorized.into_response();
    }
    let Some(_slot) = state.acquire_slot() else {
        return ApiError::ConcurrencyLimited.into_response();
    };
    // Latency and faults run while the request holds its slot, as a slow Zuora call would.
    serve(state, route, request, next).await
}

async fn serve(state: &SimState, route: &str, request: Request, next: Next) -> Response {
    sleep(state.latency()).await;
    let fault = state.take_fault(route, &decode_path(request.uri().path()));
    match &fault {
        Some(FaultKind::Status { status }) => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return ApiError::from_status(status).into_response();
        }
        Some(FaultKind::Refuse { status, message }) => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST);
            let ApiError::Zuora { code, .. } = ApiError::from_status(status) else {
                return ApiError::from_status(status).into_response();
            };
            return ApiError::Zuora {
                status,
                code,
                message: message.clone(),
            }
            .into_response();
        }
        Some(FaultKind::RateLimit { reset_secs }) => {
            return ApiError::RateLimited {
                reset_secs: *reset_secs,
            }
            .into_response();
        }
        Some(FaultKind::ConcurrencyLimit) => return ApiError::ConcurrencyLimited.into_response(),
        Some(FaultKind::Timeout { ms } | FaultKind::Latency { ms }) => {
            sleep(Duration::from_millis(*ms)).await;
        }
        _ => {}
    }
    let response = next.run(request).await;
    match fault {
        Some(FaultKind::Malformed) => truncate_body(response).await,
        Some(FaultKind::DropConnection) => drop_mid_body(response),
        _ => response,
    }
}

async fn sleep(duration: Duration) {
    if !duration.is_zero() {
        tokio::time::sleep(duration).await;
    }
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

/// HTTP 200 with the first half of the real body: a client must not trust a 200 blindly.
async fn truncate_body(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
    parts.status = StatusCode::OK;
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(bytes.slice(..bytes.len() / 2)))
}

/// Sends the status line and headers, then fails the body so the server aborts the connection.
fn drop_mid_body(response: Response) -> Response {
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    let failing = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other("connection dropped by fault"))
    });
    Response::from_parts(parts, Body::from_stream(failing))
}

/// Adds the headers Zuora sends on every response, without overriding ones an error set.
fn finish(
    state: &SimState,
    route: &str,
    mut response: Response,
    request_id: &str,
    track_id: Option<HeaderValue>,
) -> Response {
    if response.status() == StatusCode::TOO_MANY_REQUESTS {
        state.count_429();
    }
    let (remaining, reset) = state.rate_window();
    let limit = state.concurrency_limit();
    let concurrency_type = if route.starts_with("object_query") {
        "Object Query"
    } else {
        "Default"
    };
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: String| {
        if !headers.contains_key(name)
            && let Ok(value) = HeaderValue::from_str(&value)
        {
            headers.insert(name, value);
        }
    };
    set("Zuora-Request-Id", request_id.to_string());
    if route == "oauth_token" {
        set("X-RateLimit-Limit-minute", "2000".into());
        set(
            "X-RateLimit-Remaining-minute",
            remaining.min(2000).to_string(),
        );
    } else {
        set(
            "RateLimit-Limit",
            format!(
                "{RATE_LIMIT_PER_MINUTE}, {RATE_LIMIT_PER_MINUTE};w=60, 2250000;w=3600, 27000000;w=86400"
            ),
        );
        set("RateLimit-Remaining", remaining.to_string());
        set("RateLimit-Reset", reset.to_string());
        set("Concurrency-Limit-Type", concurrency_type.into());
        set("Concurrency-Limit-Limit", limit.to_string());
        set(
            "Concurrency-Limit-Remaining",
            limit.saturating_sub(state.in_flight()).to_string(),
        );
    }
    if let Some(track_id) = track_id {
        headers.insert("Zuora-Track-Id", track_id);
    }
    response
}

// ---------------------------------------------------------------------------------------------
// Request helpers
// ---------------------------------------------------------------------------------------------

/// Query pairs in order, repeated keys kept (`filter[]=a&filter[]=b`).
fn query_pairs(raw: Option<String>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn values<'a>(pairs: &'a [(String, String)], names: &[&str]) -> Vec<&'a str> {
    pairs
        .iter()
        .filter(|(key, _)| names.contains(&key.as_str()))
        .map(|(_, value)| value.as_str())
        .collect()
}

/// Parses an integer parameter in `range`, or its default when absent.
fn int_param(
    pairs: &[(String, String)],
    name: &str,
    default: usize,
    range: std::ops::RangeInclusive<usize>,
) -> Result<usize, ApiError> {
    let Some(raw) = values(pairs, &[name]).last().copied() else {
        return Ok(default);
    };
    raw.parse::<usize>()
        .ok()
        .filter(|value| range.contains(value))
        .ok_or_else(|| {
            ApiError::bad_parameter(format!(
                "The {name} should be within {} to {}.",
                range.start(),
                range.end()
            ))
        })
}

/// The URL clients used to reach us, so `nextPage` links work behind any host name.
fn base_url(state: &SimState, headers: &HeaderMap) -> String {
    headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .map(|host| format!("http://{host}"))
        .unwrap_or_else(|| state.base_url.clone())
}

/// Builds an absolute `nextPage` URL for v1 list endpoints.
fn next_page_url(base: &str, segments: &[&str], page: usize, page_size: usize) -> Value {
    let Ok(mut url) = url::Url::parse(base) else {
        return Value::Null;
    };
    if let Ok(mut path) = url.path_segments_mut() {
        path.clear().extend(segments);
    }
    url.query_pairs_mut()
        .append_pair("page", &page.to_string())
        .append_pair("pageSize", &page_size.to_string());
    Value::String(url.into())
}

fn v1_not_found(state: &SimState, key: &str) -> ApiError {
    let status = match state.not_found_style() {
        NotFoundStyle::Http404 => StatusCode::NOT_FOUND,
        NotFoundStyle::Http200SuccessFalse => StatusCode::OK,
    };
    ApiError::not_found(key, status)
}

fn ok_json(value: Value) -> ApiResult {
    Ok(Json(value).into_response())
}

// ---------------------------------------------------------------------------------------------
// OAuth
// ---------------------------------------------------------------------------------------------

async fn oauth_token(State(state): State<Arc<SimState>>, body: Bytes) -> ApiResult {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| {
        values(&form, &[name])
            .first()
            .map(|value| value.to_string())
    };
    let invalid_request = |missing: &str| ApiError::OAuth {
        status: StatusCode::BAD_REQUEST,
        error: "invalid_request",
        description: format!("Missing {missing}"),
    };
    let grant_type = field("grant_type").ok_or_else(|| invalid_request("grant type"))?;
    if grant_type != "client_credentials" {
        return Err(ApiError::OAuth {
            status: StatusCode::BAD_REQUEST,
            error: "unsupported_grant_type",
            description: format!("Unsupported grant type: {grant_type}"),
        });
    }
    let client_id = field("client_id").ok_or_else(|| invalid_request("client_id"))?;
    let client_secret = field("client_secret").ok_or_else(|| invalid_request("client_secret"))?;
    if client_id != state.client_id || client_secret != state.client_secret {
        return Err(ApiError::OAuth {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: "Bad client credentials".into(),
        });
    }
    let token = state.issue_token();
    let user = uuid::Uuid::new_v4().simple().to_string();
    ok_json(json!({
        "access_token": token,
        "token_type": "bearer",
        "expires_in": state.token_ttl.as_secs(),
        "scope": format!("entity.{} platform.write service.events.read tenant.9999 user.{user}", uuid::Uuid::new_v4()),
        "jti": uuid::Uuid::new_v4().simple().to_string(),
    }))
}

// ---------------------------------------------------------------------------------------------
// Object query
// ---------------------------------------------------------------------------------------------

fn expand_of(pairs: &[(String, String)]) -> Result<Expand, ApiError> {
    Expand::parse(values(pairs, &["expand[]", "expand"])).map_err(ApiError::bad_parameter)
}

async fn object_query_account(
    State(state): State<Arc<SimState>>,
    Path(key): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let pairs = query_pairs(raw);
    let page_size = int_param(&pairs, "pageSize", 10, 1..=state.object_query_max_page())?;
    let expand = expand_of(&pairs)?;
    let store = state.store();
    let account = store
        .account(&key)
        .ok_or_else(|| ApiError::not_found(&key, StatusCode::NOT_FOUND))?;
    ok_json(oq_account(account, expand, page_size))
}

/// One `filter[]` condition; `IN` holds several values, any of which may match.
struct Filter {
    field: String,
    op: Op,
    values: Vec<Literal>,
}

fn parse_filter(text: &str, accounts: &[Value]) -> Result<Filter, ApiError> {
    parse_filter_of(text, |field| {
        resolve_field(field, accounts.iter().flat_map(oq_account_field_names))
    })
}

/// A filter on the fields `resolve` knows (canonical spelling, or `None`).
fn parse_filter_of(
    text: &str,
    resolve: impl Fn(&str) -> Option<String>,
) -> Result<Filter, ApiError> {
    let invalid = || ApiError::bad_parameter(format!("Invalid filter: {text}"));
    let (field, rest) = text.split_once('.').ok_or_else(invalid)?;
    let (op, value) = rest.split_once(':').ok_or_else(invalid)?;
    let field = resolve(field)
        .ok_or_else(|| ApiError::bad_parameter(format!("Field {field} is not filterable.")))?;
    let literal = |text: &str| match text {
        "null" => Literal::Null,
        text => Literal::Text(text.to_string()),
    };
    let (op, values) = match op.to_ascii_uppercase().as_str() {
        "IN" => {
            let list = value
                .strip_prefix('[')
                .and_then(|list| list.strip_suffix(']'))
                .ok_or_else(invalid)?;
            (
                Op::Eq,
                list.split(',').map(str::trim).map(literal).collect(),
            )
        }
        "EQ" => (Op::Eq, vec![literal(value)]),
        "NE" => (Op::Ne, vec![literal(value)]),
        "LT" => (Op::Lt, vec![literal(value)]),
        "GT" => (Op::Gt, vec![literal(value)]),
        "LE" => (Op::Le, vec![literal(value)]),
        "GE" => (Op::Ge, vec![literal(value)]),
        "SW" => (Op::StartsWith, vec![literal(value)]),
        _ => return Err(invalid()),
    };
    Ok(Filter { field, op, values })
}

/// The opaque `nextPage` cursor is just the offset of the next row, base64-encoded.
fn encode_cursor(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(json!({"offset": offset}).to_string())
}

fn decode_cursor(cursor: &str) -> Result<usize, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .and_then(|value| value.get("offset")?.as_u64())
        .map(|offset| offset as usize)
        .ok_or_else(|| ApiError::bad_parameter("Invalid cursor."))
}

async fn object_query_accounts(
    State(state): State<Arc<SimState>>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let pairs = query_pairs(raw);
    let page_size = int_param(&pairs, "pageSize", 10, 1..=state.object_query_max_page())?;
    let expand = expand_of(&pairs)?;
    let offset = match values(&pairs, &["cursor"]).last() {
        Some(cursor) => decode_cursor(cursor)?,
        None => 0,
    };
    let store = state.store();
    let accounts = store.accounts();
    let filters = values(&pairs, &["filter[]", "filter"])
        .into_iter()
        .map(|text| parse_filter(text, accounts))
        .collect::<Result<Vec<_>, _>>()?;
    let mut selected: Vec<usize> = (0..accounts.len())
        .filter(|&index| {
            filters.iter().all(|filter| {
                let field = oq_account_field(&accounts[index], &filter.field);
                filter
                    .values
                    .iter()
                    .any(|value| matches(field, filter.op, value))
            })
        })
        .collect();
    if let Some(sort) = values(&pairs, &["sort[]", "sort"]).first() {
        sort_accounts(&mut selected, accounts, sort)?;
    }
    let page: Vec<Value> = selected
        .iter()
        .skip(offset)
        .take(page_size)
        .map(|&index| oq_account(&accounts[index], expand, page_size))
        .collect();
    let mut body = json!({"data": page});
    if offset + page_size < selected.len() {
        body["nextPage"] = Value::String(encode_cursor(offset + page_size));
    }
    ok_json(body)
}

/// `GET /object-query/subscriptions`, `/payment-methods` and `/contacts`: the account
/// children as their own lists, with the same `filter[]`, `sort[]`, `pageSize` and `cursor` as
/// the account list (on the record's own fields: `id`, `accountId`, `updatedDate`, …).
async fn object_query_list(
    State(state): State<Arc<SimState>>,
    Path(list): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let pairs = query_pairs(raw);
    let page_size = int_param(&pairs, "pageSize", 10, 1..=state.object_query_max_page())?;
    let offset = match values(&pairs, &["cursor"]).last() {
        Some(cursor) => decode_cursor(cursor)?,
        None => 0,
    };
    let store = state.store();
    let records = oq_children(store.accounts(), &list)
        .ok_or_else(|| ApiError::not_found(&list, StatusCode::NOT_FOUND))?;
    let resolve = |field: &str| {
        records
            .iter()
            .filter_map(Value::as_object)
            .flat_map(|record| record.keys().map(String::as_str))
            .chain(["id", "accountId", "updatedDate"])
            .find(|name| name.eq_ignore_ascii_case(field))
            .map(|name| name.to_string())
    };
    let filters = values(&pairs, &["filter[]", "filter"])
        .into_iter()
        .map(|text| parse_filter_of(text, resolve))
        .collect::<Result<Vec<_>, _>>()?;
    let mut selected: Vec<&Value> = records
        .iter()
        .filter(|record| {
            filters.iter().all(|filter| {
                let field = record.get(&filter.field);
                filter
                    .values
                    .iter()
                    .any(|value| matches(field, filter.op, value))
            })
        })
        .collect();
    if let Some(sort) = values(&pairs, &["sort[]", "sort"]).first() {
        let (field, direction) = sort.rsplit_once('.').unwrap_or((sort, "ASC"));
        let field = resolve(field)
            .ok_or_else(|| ApiError::bad_parameter(format!("Field {field} is not sortable.")))?;
        selected.sort_by(|a, b| compare_values(a.get(&field), b.get(&field)));
        if direction.eq_ignore_ascii_case("DESC") {
            selected.reverse();
        }
    }
    let page: Vec<Value> = selected
        .iter()
        .skip(offset)
        .take(page_size)
        .map(|record| (*record).clone())
        .collect();
    let mut body = json!({"data": page});
    if offset + page_size < selected.len() {
        body["nextPage"] = Value::String(encode_cursor(offset + page_size));
    }
    ok_json(body)
}

/// `sort[]=field.ASC|DESC` on one account field.
fn sort_accounts(selected: &mut [usize], accounts: &[Value], sort: &str) -> Result<(), ApiError> {
    let (field, direction) = sort.rsplit_once('.').unwrap_or((sort, "ASC"));
    let field = resolve_field(field, accounts.iter().flat_map(oq_account_field_names))
        .ok_or_else(|| ApiError::bad_parameter(format!("Field {field} is not sortable.")))?;
    let descending = direction.eq_ignore_ascii_case("DESC");
    let value = |index: usize| oq_account_field(&accounts[index], &field);
    let direct = |ordering: std::cmp::Ordering| {
        if descending {
            ordering.reverse()
        } else {
            ordering
        }
    };
    // Fast path for the usual timestamp sort: parse every instant once, not per comparison.
    let instants: Option<Vec<(i64, usize)>> = selected
        .iter()
        .map(|&index| {
            let instant = value(index)
                .and_then(Value::as_str)
                .and_then(parse_instant)?;
            Some((instant, index))
        })
        .collect();
    match instants {
        Some(mut keyed) => {
            keyed.sort_by(|a, b| direct(a.0.cmp(&b.0)));
            for (slot, (_, index)) in selected.iter_mut().zip(keyed) {
                *slot = index;
            }
        }
        None => selected.sort_by(|&a, &b| direct(compare_values(value(a), value(b)))),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// v1
// ---------------------------------------------------------------------------------------------

async fn get_v1_account(State(state): State<Arc<SimState>>, Path(key): Path<String>) -> ApiResult {
    let store = state.store();
    let account = store
        .account(&key)
        .ok_or_else(|| v1_not_found(&state, &key))?;
    ok_json(v1_account(account))
}

async fn get_v1_account_subscriptions(
    State(state): State<Arc<SimState>>,
    Path(key): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    let pairs = query_pairs(raw);
    let page = int_param(&pairs, "page", 1, 1..=usize::MAX)?;
    let page_size = int_param(&pairs, "pageSize", 20, 1..=V1_MAX_PAGE)?;
    let store = state.store();
    let account = store
        .account(&key)
        .ok_or_else(|| v1_not_found(&state, &key))?;
    let all = v1_subscriptions_of(&store, account);
    let start = (page - 1).saturating_mul(page_size);
    let subscriptions: Vec<Value> = all.iter().skip(start).take(page_size).cloned().collect();
    let mut body = json!({"subscriptions": subscriptions, "success": true});
    if start.saturating_add(page_size) < all.len() {
        let segments = ["v1", "subscriptions", "accounts", key.as_str()];
        body["nextPage"] =
            next_page_url(&base_url(&state, &headers), &segments, page + 1, page_size);
    }
    ok_json(body)
}

async fn get_v1_subscription(
    State(state): State<Arc<SimState>>,
    Path(key): Path<String>,
) -> ApiResult {
    let store = state.store();
    let found = store
        .subscription(&key)
        .ok_or_else(|| v1_not_found(&state, &key))?;
    let mut body = v1_subscription(&store, found.account, found.subscription);
    body["success"] = Value::Bool(true);
    ok_json(body)
}

async fn get_v1_payment_methods(
    State(state): State<Arc<SimState>>,
    Path(key): Path<String>,
) -> ApiResult {
    let store = state.store();
    let account = store
        .account(&key)
        .ok_or_else(|| v1_not_found(&state, &key))?;
    ok_json(v1_payment_methods(account))
}

async fn catalog_products(
    State(state): State<Arc<SimState>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    let pairs = query_pairs(raw);
    let page = int_param(&pairs, "page", 1, 1..=usize::MAX)?;
    let page_size = int_param(&pairs, "pageSize", 10, 1..=V1_MAX_PAGE)?;
    let store = state.store();
    let all = store.products();
    let start = (page - 1).saturating_mul(page_size);
    let products: Vec<Value> = all.iter().skip(start).take(page_size).cloned().collect();
    let mut body = json!({"products": products, "success": true});
    if start.saturating_add(page_size) < all.len() {
        let segments = ["v1", "catalog", "products"];
        body["nextPage"] =
            next_page_url(&base_url(&state, &headers), &segments, page + 1, page_size);
    }
    ok_json(body)
}

// ---------------------------------------------------------------------------------------------
// Actions (ZOQL)
// ---------------------------------------------------------------------------------------------

fn json_body(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|_| ApiError::malformed_query("Malformed JSON request body"))
}

fn batch_size(body: &Value) -> usize {
    body.pointer("/conf/batchSize")
        .and_then(Value::as_u64)
        .map_or(ZOQL_MAX_BATCH, |size| {
            (size as usize).clamp(1, ZOQL_MAX_BATCH)
        })
}

async fn action_query(State(state): State<Arc<SimState>>, body: Bytes) -> ApiResult {
    let body = json_body(&body)?;
    let query_string = body
        .get("queryString")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::malformed_query("queryString is required"))?;
    let query = zoql::parse(query_string)?;
    let records = zoql::execute(&query, state.store().accounts())?;
    ok_json(query_page(&state, records, batch_size(&body), 0))
}

async fn action_query_more(State(state): State<Arc<SimState>>, body: Bytes) -> ApiResult {
    let body = json_body(&body)?;
    let locator = body
        .get("queryLocator")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::malformed_query("queryLocator is required"))?;
    let pending = state
        .take_query(locator)
        .ok_or_else(|| ApiError::ActionFault {
            code: "INVALID_QUERY_LOCATOR",
            message: format!("invalid query locator: {locator}"),
        })?;
    let offset = locator
        .rsplit_once('-')
        .and_then(|(_, offset)| offset.parse().ok())
        .unwrap_or(0);
    ok_json(query_page(
        &state,
        pending.records,
        pending.batch_size,
        offset,
    ))
}

/// One batch of records; the rest is parked behind a `queryLocator`.
fn query_page(
    state: &SimState,
    mut records: Vec<Value>,
    batch_size: usize,
    offset: usize,
) -> Value {
    let rest = records.split_off(records.len().min(batch_size));
    let mut body = json!({"records": records, "size": records.len(), "done": rest.is_empty()});
    if !rest.is_empty() {
        let next_offset = offset + records.len();
        let pending = PendingQuery {
            records: rest,
            batch_size,
        };
        body["queryLocator"] = Value::String(state.park_query(pending, next_offset));
    }
    body
}
