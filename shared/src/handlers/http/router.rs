//! One axum router for every route of the HTTP API. A function mounts the routes it serves:
//! sync-api everything but the post-login hook, post-login only the hook, the local stack both.
//! Every route also answers under the configured base path, with or without a trailing `/`.

use super::hook_routes::{self, HookRoute};
use super::{
    Api, console_routes, customer_routes, error, event_routes, openapi, realtime_routes,
    salesforce_routes, settings_routes, stats_routes, sync_routes, truncate,
};
use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::response::Response;
use lambda_http::RequestExt;
use std::sync::Arc;
use tower::ServiceExt;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

/// What one process serves.
#[derive(Default)]
pub struct Mount {
    /// The sync API's routes (sync-api, the local stack).
    pub api: Option<Arc<Api>>,
    /// The post-login hook route (post-login, the local stack).
    pub hook: Option<Arc<HookRoute>>,
    /// A prefix every route also answers under (`API_BASE_PATH`), such as `/api`.
    pub base_path: String,
}

/// The router for `mount`: `lambda_http::run` runs it in Lambda, `axum::serve` locally.
pub fn router(mount: Mount) -> Router {
    let mut routes = Router::new();
    if let Some(api) = mount.api {
        routes = routes
            .merge(api_routes().split_for_parts().0.with_state(api.clone()))
            .merge(console_routes().with_state(api));
    }
    if let Some(hook) = mount.hook {
        routes = routes.merge(hook_routes().split_for_parts().0.with_state(hook));
    }
    let routes = routes.fallback(not_found);
    // axum matches routes before any `Router::layer` runs, so the path is settled outside the
    // router that matches it.
    let base_path: Arc<str> = Arc::from(mount.base_path.trim_end_matches('/'));
    Router::new().fallback_service(tower::service_fn(move |req: Request| {
        routes.clone().oneshot(route_path(req, &base_path))
    }))
}

/// The sync API's routes, each with its handler's OpenAPI operation.
pub(super) fn api_routes() -> OpenApiRouter<Arc<Api>> {
    OpenApiRouter::new()
        .routes(declared_only(routes!(sync_routes::sync_subscription)))
        .routes(declared_only(routes!(sync_routes::sync_accounts)))
        .routes(declared_only(routes!(customer_routes::sync_customer)))
        .routes(declared_only(routes!(sync_routes::sync_catalog)))
        .routes(declared_only(routes!(sync_routes::sync_full)))
        .routes(declared_only(routes!(stats_routes::sync_stats)))
        .routes(declared_only(routes!(console_routes::me)))
        .routes(declared_only(routes!(event_routes::search_events)))
        .routes(declared_only(routes!(event_routes::get_event)))
        .routes(declared_only(routes!(
            settings_routes::get_settings,
            settings_routes::update_settings
        )))
        .routes(declared_only(routes!(realtime_routes::status)))
        .routes(declared_only(routes!(salesforce_routes::list_failures)))
        .routes(declared_only(routes!(salesforce_routes::retry_failures)))
        .routes(declared_only(routes!(salesforce_routes::dismiss_failures)))
        .routes(declared_only(routes!(realtime_routes::callout)))
        .routes(declared_only(routes!(openapi::document)))
}

/// The operator console's page and files (not API operations: no OpenAPI document entry).
fn console_routes() -> Router<Arc<Api>> {
    use axum::routing::get;
    let [page, file] = console_routes::CONSOLE_PATHS;
    Router::new()
        .route(page, get(console_routes::index))
        .route(file, get(console_routes::asset))
}

/// The post-login function's one route.
pub(super) fn hook_routes() -> OpenApiRouter<Arc<HookRoute>> {
    OpenApiRouter::new().routes(declared_only(routes!(hook_routes::post_login_hook)))
}

/// A path answers only its documented methods: any other (HEAD included, which axum would
/// otherwise serve with the GET handler) is a 405 naming them.
fn declared_only<S>((schemas, paths, methods): UtoipaMethodRouter<S>) -> UtoipaMethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    let methods = methods
        .head(method_not_allowed)
        .fallback(method_not_allowed);
    (schemas, paths, methods)
}

/// Where the request is routed: API Gateway's raw path when there is one (the URI lambda_http
/// builds may carry the stage and normalises dot segments), without the base path, without
/// trailing slashes. The path as sent is kept for the 404's message.
fn route_path(mut req: Request, base_path: &str) -> Request {
    let raw = req.raw_http_path();
    let sent = if raw.is_empty() {
        req.uri().path().to_string()
    } else {
        raw.to_string()
    };
    // A raw path that is no valid URI path (API Gateway encodes, so hardly ever) is routed by
    // the URI lambda_http built from it.
    let uri = with_path(req.uri(), routed_path(&sent, base_path))
        .or_else(|| with_path(req.uri(), routed_path(req.uri().path(), base_path)));
    if let Some(uri) = uri {
        *req.uri_mut() = uri;
    }
    req.extensions_mut().insert(SentPath(sent));
    req
}

fn routed_path<'a>(sent: &'a str, base_path: &str) -> &'a str {
    let mut path = sent;
    if !base_path.is_empty()
        && let Some(rest) = path.strip_prefix(base_path)
        && (rest.is_empty() || rest.starts_with('/'))
    {
        path = rest;
    }
    let path = path.trim_end_matches('/');
    // No route has an empty segment, but axum would match one as an empty `{param}`: such a
    // path goes to `/`, which no route has either (the 404 names the path as sent).
    match path.strip_prefix('/') {
        Some(rest) if !rest.split('/').any(str::is_empty) => path,
        _ => "/",
    }
}

fn with_path(uri: &http::Uri, path: &str) -> Option<http::Uri> {
    let path_and_query = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query.parse().ok()?);
    http::Uri::from_parts(parts).ok()
}

/// The request's path as it arrived (before [`route_path`]).
#[derive(Clone)]
struct SentPath(String);

/// The path the request was sent to, as it arrived (base path and trailing `/` included).
pub(super) fn sent_path(req: &Request) -> String {
    req.extensions()
        .get::<SentPath>()
        .map(|p| p.0.clone())
        .unwrap_or_else(|| req.uri().path().to_string())
}

async fn not_found(req: Request) -> Response {
    let path = sent_path(&req);
    error(
        404,
        "not_found",
        &format!("no route for {}", truncate(&path, 100)),
    )
}

/// 405 with the methods the document gives the matched path.
async fn method_not_allowed(matched: Option<MatchedPath>) -> Response {
    let allow = matched
        .map(|m| allowed_methods(m.as_str()))
        .unwrap_or_default()
        .join(", ");
    let mut r = error(
        405,
        "method_not_allowed",
        &format!("this route accepts {allow} only"),
    );
    if let Ok(v) = http::HeaderValue::from_str(&allow) {
        r.headers_mut().insert(http::header::ALLOW, v);
    }
    r
}

/// The methods the OpenAPI document lists for a path template, in a stable order.
pub(crate) fn allowed_methods(template: &str) -> Vec<&'static str> {
    let doc = openapi::document_paths();
    let Some(item) = doc.get(template) else {
        return Vec::new();
    };
    [
        ("GET", item.get.is_some()),
        ("POST", item.post.is_some()),
        ("PUT", item.put.is_some()),
        ("PATCH", item.patch.is_some()),
        ("DELETE", item.delete.is_some()),
    ]
    .into_iter()
    .filter_map(|(m, present)| present.then_some(m))
    .collect()
}
