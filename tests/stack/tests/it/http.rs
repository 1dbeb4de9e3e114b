//! The router against its OpenAPI document: every documented operation is routed and
//! authenticates as its `security` says; every other method of a documented path is a 405 naming
//! the documented ones; paths match segment by segment, with or without a base path and a
//! trailing `/`; bodies are bounded.

use serde_json::{Value, json};
use stack::app::{AppOptions, TestApp, json_of, send, spawn_app, spawn_app_with};
use stack::aws_ops::as_function;
use zuora_sync::handlers::http::{Mount, router};
use zuora_sync::handlers::post_login::PostLogin;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn document() -> Value {
    serde_json::to_value(zuora_sync::handlers::http::openapi()).unwrap()
}

/// Every operation of the document as (METHOD, path template), sorted.
pub fn documented_operations() -> Vec<(String, String)> {
    let doc = document();
    let mut ops: Vec<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(|m| (m.to_uppercase(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    ops.sort();
    ops
}

/// A template with its parameters filled with values the demo data has.
fn concrete(template: &str) -> String {
    template
        .replace("{entity}", "default")
        .replace("{id}", "A-S00000271")
        .replace("{customer}", "A00000001")
        .replace("{event_id}", "0000-no-such-event")
}

/// One router with every route, as the local stack mounts them.
fn full_router(app: &TestApp) -> axum::Router {
    stack::aws_ops::attributed(router(Mount {
        api: Some(app.api.clone()),
        hook: Some(app.login.hook_route()),
        base_path: app.api.base_path.clone(),
    }))
}

async fn call(
    router: &axum::Router,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    body: Option<String>,
) -> (u16, http::HeaderMap, Value) {
    let mut req = http::Request::builder()
        .method(method)
        .uri(format!("https://api.example.com{path}"));
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    let body = body.map(axum::body::Body::from).unwrap_or_default();
    let resp = send(router, req.body(body).unwrap()).await;
    let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
    (status, headers, json_of(resp).await)
}

/// The router has a route for the request (its own error codes are the router's).
fn routed(status: u16, body: &Value) -> bool {
    status != 405 && body["code"] != "not_found"
}

#[test]
fn the_document_is_openapi_3_1_and_every_operation_has_an_id_and_security() {
    let doc = document();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    assert_eq!(schemes["bearerAuth"]["scheme"], "bearer");
    assert_eq!(schemes["calloutBasic"]["scheme"], "basic");
    assert_eq!(schemes["calloutSecret"]["in"], "header");
    for (method, path) in documented_operations() {
        let op = &doc["paths"][&path][method.to_lowercase()];
        assert!(op["operationId"].is_string(), "{method} {path}");
        assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()));
        let security = op["security"].as_array().expect("explicit security");
        let bearer: Vec<&Value> = security
            .iter()
            .filter_map(|s| s.get("bearerAuth"))
            .collect();
        match bearer.as_slice() {
            [] => assert!(op.get("x-required-role").is_none(), "{method} {path}"),
            [roles] => assert_eq!(
                roles.as_array().unwrap().as_slice(),
                [op["x-required-role"].clone()],
                "{method} {path}: the bearer requirement names the role"
            ),
            _ => panic!("{method} {path}: one bearer requirement at most"),
        }
    }
}

/// Every documented operation is routed, authenticates as its `security` says, and requires
/// the role its bearer requirement names.
#[tokio::test]
async fn every_documented_operation_is_routed_with_its_security() {
    let app = spawn_app().await;
    let router = full_router(&app);
    let doc = document();
    let sync_only = format!("Bearer {}", app.token_for(&["default"], &["sync"]));
    for (method, path) in documented_operations() {
        let op = &doc["paths"][&path][method.to_lowercase()];
        let security = op["security"].as_array().unwrap();
        let url = concrete(&path);
        let (status, headers, body) = call(&router, &method, &url, None, None).await;
        let challenge = headers
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_string());
        let names: Vec<&str> = security
            .iter()
            .flat_map(|s| s.as_object().unwrap().keys().map(String::as_str))
            .collect();
        match names.as_slice() {
            ["bearerAuth"] => {
                assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
                assert!(challenge.is_some_and(|c| c.starts_with("Bearer")), "{path}");
                let role = op["x-required-role"].as_str().unwrap();
                let (status, _, body) = call(&router, &method, &url, Some(&sync_only), None).await;
                if role == "admin" {
                    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));
                } else {
                    assert!(
                        routed(status, &body) && ![401, 403].contains(&status),
                        "{path}: {body}"
                    );
                }
            }
            ["calloutBasic", "calloutSecret"] => {
                assert_eq!(status, 401, "{method} {path}: {body}");
                assert!(challenge.is_some_and(|c| c.starts_with("Basic")), "{path}");
            }
            [] => assert!(
                routed(status, &body) && status != 401,
                "{path}: {status} {body}"
            ),
            other => panic!("{method} {path}: unexpected security {other:?}"),
        }
    }
}

/// A documented path answers its documented methods only: any other (HEAD too) is a 405 with
/// `Allow` listing them.
#[tokio::test]
async fn other_methods_of_a_documented_path_are_405_with_the_documented_allow() {
    let app = spawn_app().await;
    let router = full_router(&app);
    let mut by_path: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (method, path) in documented_operations() {
        by_path.entry(path).or_default().push(method);
    }
    for (path, methods) in by_path {
        let order = ["GET", "POST", "PUT", "PATCH", "DELETE"];
        let mut allowed = methods.clone();
        allowed.sort_by_key(|m| order.iter().position(|o| o == m));
        for other in ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] {
            if methods.iter().any(|m| m == other) {
                continue;
            }
            let (status, headers, body) = call(&router, other, &concrete(&path), None, None).await;
            assert_eq!(status, 405, "{other} {path}");
            assert_eq!(
                headers["allow"],
                allowed.join(", ").as_str(),
                "{other} {path}"
            );
            if other != "HEAD" {
                assert_eq!(body["code"], "method_not_allowed");
                assert_eq!(
                    body["message"],
                    format!("this route accepts {} only", allowed.join(", ")).as_str()
                );
            }
        }
    }
}

#[tokio::test]
async fn routes_match_segment_by_segment() {
    let app = spawn_app().await;
    let auth = format!("Bearer {}", app.token());
    let (status, body) = app
        .call(
            "POST",
            "/plugins/zuora/entities/default/sync/customers/A00000001/",
            Some(&auth),
        )
        .await;
    assert_eq!(status, 200, "a trailing / is ignored: {body}");
    let (status, headers, body) = call(
        &app.router,
        "DELETE",
        "/plugins/zuora/entities/eu/settings",
        None,
        None,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (405, Some("method_not_allowed"))
    );
    assert_eq!(headers["allow"], "GET, PATCH");
    for path in [
        "/plugins/zuora/sync/subscription/",
        "/plugins/zuora/sync/subscription/a/b",
        "/plugins/zuora/entities//settings",
    ] {
        let (status, body) = app.call("POST", path, Some(&auth)).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (404, Some("not_found")),
            "{path}"
        );
        assert_eq!(body["message"], format!("no route for {path}").as_str());
    }
}

#[tokio::test]
async fn bodies_are_bounded() {
    let app = spawn_app_with(AppOptions {
        base_path: "/api".into(),
        ..AppOptions::default()
    })
    .await;
    let router = full_router(&app);
    let auth = format!("Bearer {}", app.token());
    let big = json!({"accounts": ["A00000001"], "pad": "x".repeat(70 * 1024)}).to_string();
    let (status, _, body) = call(
        &router,
        "POST",
        "/api/plugins/zuora/entities/default/sync/accounts",
        Some(&auth),
        Some(big.clone()),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("body_too_large"))
    );
    // The hook keeps its own contract: an unusable body is a 400.
    let (status, _, body) = call(
        &router,
        "POST",
        "/api/plugins/zuora/entities/default/hooks/post-login/",
        None,
        Some(big),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_request"))
    );
}

/// The post-login function mounts only the hook route, also under the base path.
#[tokio::test]
async fn the_post_login_function_serves_the_hook_under_its_base_path() {
    let app = spawn_app().await;
    let login = PostLogin::with_base_path(app.login.login.clone(), "/api");
    let hook = |path: &str| {
        let mut event: Value =
            serde_json::from_str(include_str!("../../../../events/post-login-hook.json")).unwrap();
        event["rawPath"] = json!(path);
        event["requestContext"]["http"]["path"] = json!(path);
        event["body"] = json!("{");
        serde_json::from_value(event).unwrap()
    };
    let answer = login
        .hook(hook(
            "/api/plugins/zuora/entities/default/hooks/post-login/",
        ))
        .await;
    assert_eq!(answer.status_code, 400, "routed, and the body refused");
    for path in [
        "/plugins/zuora/entities//hooks/post-login",
        "/plugins/zuora/entities/default/settings",
        "/plugins/zuora/openapi.json",
    ] {
        let mut req = hook(path);
        req.request_context.http.method = http::Method::GET;
        assert_eq!(
            as_function("post-login", login.hook(req)).await.status_code,
            404,
            "{path}"
        );
    }
}
