//! Injected faults.

mod common;

use std::time::Duration;

use common::{reason_code, start};
use reqwest::StatusCode;
use zuora_sim::{Fault, FaultKind};

const ACCOUNT: &str = "/object-query/accounts/A00000001";

#[tokio::test]
async fn status_fault_is_used_up_after_times() {
    let sim = start().await;
    sim.handle
        .add_fault(Fault::new("object_query_account", FaultKind::Status { status: 500 }).times(2));
    for _ in 0..2 {
        let (status, body) = sim.get_json(ACCOUNT).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["success"], false);
        assert_eq!(reason_code(&body) % 100, 60);
    }
    assert_eq!(sim.get(ACCOUNT).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn faults_target_their_route_and_apply_in_order() {
    let sim = start().await;
    sim.handle
        .add_fault(Fault::new("v1_account", FaultKind::Status { status: 503 }).times(1));
    sim.handle
        .add_fault(Fault::new("*", FaultKind::Status { status: 502 }).times(1));
    assert_eq!(sim.get(ACCOUNT).await.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(sim.get(ACCOUNT).await.status(), StatusCode::OK);
    let (status, body) = sim.get_json("/v1/accounts/A00000001").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reason_code(&body) % 100, 61);

    // "*" leaves token requests alone.
    sim.handle
        .add_fault(Fault::new("*", FaultKind::Status { status: 500 }));
    let token = sim
        .http
        .post(sim.url("/oauth/token"))
        .form(&[
            ("client_id", "sim-client"),
            ("client_secret", "sim-secret"),
            ("grant_type", "client_credentials"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), StatusCode::OK);
    assert_eq!(
        sim.get(ACCOUNT).await.status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    sim.handle.clear_faults();
    assert_eq!(sim.get(ACCOUNT).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn rate_limit_fault() {
    let sim = start().await;
    sim.handle
        .add_fault(Fault::new("*", FaultKind::RateLimit { reset_secs: 7 }).times(1));
    let response = sim.get(ACCOUNT).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["ratelimit-remaining"], "0");
    assert_eq!(response.headers()["ratelimit-reset"], "7");
    assert!(response.headers().contains_key("ratelimit-limit"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(reason_code(&body), 70);
    assert_eq!(
        body["reasons"][0]["message"],
        "API Rate limit exceeded for the minute, retry after 7 seconds"
    );
    assert_eq!(sim.handle.stats().responses_429, 1);
}

#[tokio::test]
async fn concurrency_limit_fault() {
    let sim = start().await;
    sim.handle
        .add_fault(Fault::new("action_query", FaultKind::ConcurrencyLimit).times(1));
    let (status, body) = sim.zoql("select Id from Account").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reason_code(&body), 50000070);
    let (status, _) = sim.zoql("select Id from Account").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn timeout_fault_outlasts_the_client() {
    let sim = start().await;
    sim.handle
        .add_fault(Fault::new("v1_account", FaultKind::Timeout { ms: 2_000 }).times(1));
    let attempt = sim
        .http
        .get(sim.url("/v1/accounts/A00000001"))
        .bearer_auth(&sim.token)
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(attempt.unwrap_err().is_timeout());
    assert_eq!(
        sim.get("/v1/accounts/A00000001").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn latency_fault_delays_but_answers() {
    let sim = start().await;
    sim.handle
        .add_fault(Fault::new("v1_subscription", FaultKind::Latency { ms: 300 }).times(1));
    let started = std::time::Instant::now();
    let (status, body) = sim.get_json("/v1/subscriptions/A-S00000271").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["success"], true);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn malformed_fault_sends_a_truncated_body() {
    let sim = start().await;
    sim.handle
        .add_fault(Fault::new("v1_account", FaultKind::Malformed).times(1));
    let response = sim.get("/v1/accounts/A00000001").await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(text.starts_with('{'));
    assert!(serde_json::from_str::<serde_json::Value>(&text).is_err());
}

#[tokio::test]
async fn drop_connection_fault_breaks_the_response() {
    let sim = start().await;
    sim.handle
        .add_fault(Fault::new("v1_payment_methods", FaultKind::DropConnection).times(1));
    let attempt = sim
        .http
        .get(sim.url("/v1/accounts/A00000001/payment-methods"))
        .bearer_auth(&sim.token)
        .send()
        .await;
    match attempt {
        Err(_) => {}
        Ok(response) => assert!(response.bytes().await.is_err()),
    }
    let (status, _) = sim.get_json("/v1/accounts/A00000001/payment-methods").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn token_route_faults() {
    let sim = start().await;
    sim.handle
        .add_fault(Fault::new("oauth_token", FaultKind::Status { status: 500 }).times(1));
    let response = sim
        .http
        .post(sim.url("/oauth/token"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn path_matched_fault_hits_only_the_matching_subscription() {
    let sim = start().await;
    sim.handle.add_fault(
        Fault::new("v1_subscription", FaultKind::Status { status: 500 })
            .matching("A-S00000273")
            .times(2),
    );
    // Other subscriptions, and other routes whose path holds the text, are left alone and do
    // not use the fault up.
    for _ in 0..3 {
        let (status, body) = sim.get_json("/v1/subscriptions/A-S00000271").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["subscriptionNumber"], "A-S00000271");
    }
    let (status, _) = sim.get_json("/v1/subscriptions/A-S00000272").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = sim.get_json("/v1/subscriptions/A-S00000273").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reason_code(&body) % 100, 60);
    let (status, _) = sim.get_json("/v1/subscriptions/A-S00000274").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = sim.get_json("/v1/subscriptions/A-S00000273").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    // Used up after two matching requests.
    let (status, body) = sim.get_json("/v1/subscriptions/A-S00000273").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "Cancelled");
}

#[tokio::test]
async fn path_matched_faults_keep_first_match_wins() {
    let sim = start().await;
    // Unlimited, only for A00000002, on every route.
    sim.handle
        .add_fault(Fault::new("*", FaultKind::Status { status: 503 }).matching("A00000002"));
    // Behind it: a one-shot fault for any account.
    sim.handle
        .add_fault(Fault::new("v1_account", FaultKind::Status { status: 502 }).times(1));
    assert_eq!(
        sim.get("/v1/accounts/A00000002").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        sim.get("/object-query/accounts/A00000002").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        sim.get("/v1/accounts/A00000002/payment-methods")
            .await
            .status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    // A00000001 skips the first fault and takes the second.
    assert_eq!(
        sim.get("/v1/accounts/A00000001").await.status(),
        StatusCode::BAD_GATEWAY
    );
    assert_eq!(
        sim.get("/v1/accounts/A00000001").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        sim.get("/v1/accounts/A00000002").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn path_match_uses_the_decoded_path_and_works_over_http() {
    let sim = start().await;
    let fault = serde_json::json!({
        "route": "object_query_account",
        "path_contains": "no such account",
        "kind": {"kind": "malformed"},
        "times": 1,
    });
    let response = sim
        .http
        .post(sim.url("/__sim/faults"))
        .json(&fault)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // Not matched: the path does not contain the text.
    let (status, _) = sim.get_json("/object-query/accounts/A00000001").await;
    assert_eq!(status, StatusCode::OK);
    // Matched after percent-decoding: a truncated 200 instead of the 404.
    let response = sim.get("/object-query/accounts/no%20such%20account").await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(serde_json::from_str::<serde_json::Value>(&text).is_err());
    let (status, _) = sim
        .get_json("/object-query/accounts/no%20such%20account")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
