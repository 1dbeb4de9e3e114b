//! What the operator console stands on: its page served from sync-api under a strict policy,
//! its sign-in configuration and the local stack's dev OpenID provider (code + PKCE), and the
//! routes it reads beyond the event log (`me`, the hourly statistics, the status's queue,
//! the full re-sync).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sha2::{Digest, Sha256};
use stack::app::{json_of, send, spawn_app};
use stack::dev_idp;

async fn get(app: &stack::app::TestApp, path: &str) -> http::Response<axum::body::Body> {
    let req = http::Request::builder()
        .uri(format!("https://api.example.com{path}"))
        .body(axum::body::Body::empty())
        .unwrap();
    app.send(req).await
}

fn header<'a>(r: &'a http::Response<axum::body::Body>, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

#[tokio::test]
async fn the_console_is_served_from_the_binary_under_a_strict_policy() {
    let app = spawn_app().await;
    let page = get(&app, "/console").await;
    assert_eq!(page.status(), 200);
    assert!(header(&page, "content-type").starts_with("text/html"));
    let csp = header(&page, "content-security-policy").to_string();
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(part), "{part} in {csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(header(&page, "x-frame-options"), "DENY");
    assert_eq!(header(&page, "x-content-type-options"), "nosniff");

    let slash = get(&app, "/console/").await;
    assert_eq!(slash.status(), 308);
    assert_eq!(header(&slash, "location"), "../console");

    let module = get(&app, "/console/app.js").await;
    assert_eq!(module.status(), 200);
    assert!(header(&module, "content-type").starts_with("text/javascript"));
    assert_eq!(get(&app, "/console/missing.js").await.status(), 404);
    assert_eq!(get(&app, "/console/..%2Fmod.rs").await.status(), 404);

    let config = json_of(get(&app, "/console/config.json").await).await;
    assert_eq!(config["authorize_url"], dev_idp::AUTHORIZE_PATH);
    assert_eq!(config["token_url"], dev_idp::TOKEN_PATH);
    assert_eq!(config["client_id"], dev_idp::CLIENT_ID);
    assert_eq!(config["dev"], true);
    assert_eq!(config["api_base"], "");
}

fn pkce() -> (String, String) {
    let verifier = URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes().repeat(3));
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

async fn form(
    router: &axum::Router,
    path: &str,
    pairs: &[(&str, &str)],
) -> http::Response<axum::body::Body> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let req = http::Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(body))
        .unwrap();
    send(router, req).await
}

const REDIRECT: &str = "http://127.0.0.1:3000/console";

/// Signs in at the dev provider as `roles`: answers the authorization code.
async fn authorize(idp: &axum::Router, challenge: &str, roles: &[&str]) -> String {
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", dev_idp::CLIENT_ID),
        ("redirect_uri", REDIRECT),
        ("state", "st-1"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("subject", "operator-7"),
        ("entities", "default"),
    ];
    pairs.extend(roles.iter().map(|r| ("roles", *r)));
    let answer = form(idp, dev_idp::AUTHORIZE_PATH, &pairs).await;
    assert_eq!(answer.status(), 303);
    let to = url::Url::parse(header(&answer, "location")).unwrap();
    assert_eq!(to.path(), "/console");
    let query: std::collections::HashMap<_, _> = to.query_pairs().into_owned().collect();
    assert_eq!(query["state"], "st-1");
    query["code"].clone()
}

async fn exchange(idp: &axum::Router, code: &str, verifier: &str) -> (u16, Value) {
    let answer = form(
        idp,
        dev_idp::TOKEN_PATH,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("client_id", dev_idp::CLIENT_ID),
            ("code_verifier", verifier),
        ],
    )
    .await;
    (answer.status().as_u16(), json_of(answer).await)
}

#[tokio::test]
async fn the_dev_sign_in_is_a_code_flow_that_requires_the_pkce_verifier() {
    let app = spawn_app().await;
    let idp = dev_idp::routes();
    // No PKCE: refused before any form is shown.
    let plain = http::Request::builder()
        .uri(format!(
            "{}?response_type=code&client_id={}&redirect_uri={REDIRECT}&state=s",
            dev_idp::AUTHORIZE_PATH,
            dev_idp::CLIENT_ID
        ))
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(send(&idp, plain).await.status(), 400);

    let (verifier, challenge) = pkce();
    let code = authorize(&idp, &challenge, &["sync"]).await;
    let (status, wrong) = exchange(&idp, &code, &pkce().0).await;
    assert_eq!(
        (status, wrong["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // The code was spent by the failed attempt.
    let (status, _) = exchange(&idp, &code, &verifier).await;
    assert_eq!(status, 400);

    let code = authorize(&idp, &challenge, &["sync"]).await;
    let (status, token) = exchange(&idp, &code, &verifier).await;
    assert_eq!(status, 200, "{token}");
    let bearer = format!("Bearer {}", token["access_token"].as_str().unwrap());
    let (status, me) = app.call("GET", "/plugins/zuora/me", Some(&bearer)).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["subject"], "operator-7");
    assert_eq!(me["roles"], serde_json::json!(["sync"]));
    assert_eq!(me["entities"], serde_json::json!(["default"]));
    let (status, _) = app
        .call(
            "GET",
            "/plugins/zuora/entities/default/settings",
            Some(&bearer),
        )
        .await;
    assert_eq!(status, 403, "a reader is no admin");
}

#[tokio::test]
async fn me_lists_an_admins_roles_and_refuses_no_token() {
    let app = spawn_app().await;
    let (status, me) = app.admin("GET", "/plugins/zuora/me", None).await;
    assert_eq!(status, 200);
    assert_eq!(me["roles"], serde_json::json!(["sync", "admin"]));
    assert_eq!(me["entities"][0], "default");
    let (status, body) = app.call("GET", "/plugins/zuora/me", None).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
}

#[tokio::test]
async fn a_full_resync_needs_the_admin_role_and_runs_once_at_a_time() {
    let app = spawn_app().await;
    let path = "/plugins/zuora/entities/default/sync/full";
    let reader = format!("Bearer {}", app.token_for(&["default"], &["sync"]));
    let (status, _) = app.call("POST", path, Some(&reader)).await;
    assert_eq!(status, 403);

    let (status, started) = app.admin("POST", path, None).await;
    assert_eq!(status, 202, "{started}");
    let session = started["session_id"].as_str().unwrap().to_string();
    let (status, again) = app.admin("POST", path, None).await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(again["code"], "full_sync_running");
    assert_eq!(again["session_id"], session.as_str());

    app.run_queued_jobs().await;
    let (_, status_doc) = app
        .admin("GET", "/plugins/zuora/entities/default/status", None)
        .await;
    let last = &status_doc["last_session"];
    assert_eq!(last["id"], session.as_str());
    assert_eq!(last["status"], "done", "{status_doc}");
    assert!(last["succeeded"].as_u64().unwrap() >= 3, "{status_doc}");
    let (status, _) = app.admin("POST", path, None).await;
    assert_eq!(status, 202, "a finished full sync no longer blocks");
}

#[tokio::test]
async fn the_statistics_count_this_hours_syncs_and_the_status_shows_the_queue() {
    let app = spawn_app().await;
    let (status, _) = app.sync_subscription("A-S00000271").await;
    assert_eq!(status, 200);
    let (status, stats) = app
        .admin(
            "GET",
            "/plugins/zuora/entities/default/stats/syncs?hours=2",
            None,
        )
        .await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["complete"], true);
    let hours = stats["hours"].as_array().unwrap();
    assert_eq!(hours.len(), 2);
    let now = &hours[1];
    assert_eq!(now["succeeded"], 1, "{stats}");
    assert!(now["p50_ms"].as_u64().is_some(), "{stats}");
    assert_eq!(hours[0]["succeeded"], 0);

    for bad in ["hours=0", "hours=169", "hours=x", "days=1"] {
        let (status, body) = app
            .admin(
                "GET",
                &format!("/plugins/zuora/entities/default/stats/syncs?{bad}"),
                None,
            )
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["field"].is_string(), "{body}");
    }

    let (_, status_doc) = app
        .admin("GET", "/plugins/zuora/entities/default/status", None)
        .await;
    assert_eq!(status_doc["queue"]["dead_letter"], 0, "{status_doc}");
    assert_eq!(status_doc["queue"]["waiting"], 0, "{status_doc}");
    assert_eq!(status_doc["freshness"], "not_tracked", "on-demand mode");
}
