//! The `/__sim` HTTP controls used by out-of-process callers.

mod common;

use std::time::{Duration, Instant};

use common::start;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn send(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    common::into_json(request.send().await.unwrap()).await
}

#[tokio::test]
async fn latency_faults_and_stats_over_http() {
    let sim = start().await;
    let http = &sim.http;
    let (status, _) = send(
        http.put(sim.url("/__sim/latency"))
            .json(&json!({"ms": 200})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let started = Instant::now();
    sim.get("/v1/accounts/A00000001").await;
    assert!(started.elapsed() >= Duration::from_millis(200));
    send(http.put(sim.url("/__sim/latency")).json(&json!({"ms": 0}))).await;

    let fault = json!({"route": "v1_account", "kind": "status", "status": 500, "times": 1});
    let (status, _) = send(http.post(sim.url("/__sim/faults")).json(&fault)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        sim.get("/v1/accounts/A00000001").await.status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let forever = json!({"kind": "rate_limit"});
    send(http.post(sim.url("/__sim/faults")).json(&forever)).await;
    assert_eq!(
        sim.get("/v1/accounts/A00000001").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let (status, _) = send(http.delete(sim.url("/__sim/faults"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        sim.get("/v1/accounts/A00000001").await.status(),
        StatusCode::OK
    );

    let (status, body) = send(
        http.post(sim.url("/__sim/faults"))
            .json(&json!({"kind": "nope"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].is_string());

    let (_, stats) = send(http.get(sim.url("/__sim/stats"))).await;
    assert_eq!(stats["requests"]["v1_account"], 4);
    assert_eq!(stats["responses_429"], 1);
    assert!(stats["max_in_flight"].as_u64().unwrap() >= 1);
    send(http.post(sim.url("/__sim/stats/reset"))).await;
    let (_, stats) = send(http.get(sim.url("/__sim/stats"))).await;
    assert_eq!(stats["requests"], json!({}));
}

#[tokio::test]
async fn data_controls_over_http() {
    let sim = start().await;
    let http = &sim.http;
    let (status, account) = send(http.get(sim.url("/__sim/accounts/A00000002"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(account["LimioExternalId__c"], "limio-shared-42");
    let (status, _) = send(http.get(sim.url("/__sim/accounts/A-NOPE"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let mut renamed = account.clone();
    renamed["name"] = json!("Beta Books International");
    let (status, _) = send(http.put(sim.url("/__sim/accounts")).json(&renamed)).await;
    assert_eq!(status, StatusCode::OK);
    let (_, v1) = sim.get_json("/v1/accounts/A00000002").await;
    assert_eq!(v1["basicInfo"]["name"], "Beta Books International");
    let (status, _) = send(http.put(sim.url("/__sim/accounts")).json(&json!([1]))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let field = sim.url("/__sim/accounts/A00000002/fields/LimioExternalId__c");
    let (status, _) = send(http.put(field).json(&json!("limio-new"))).await;
    assert_eq!(status, StatusCode::OK);
    let (_, oq) = sim.get_json("/object-query/accounts/A00000002").await;
    assert_eq!(oq["LimioExternalId__c"], "limio-new");

    let status_url = sim.url("/__sim/subscriptions/A-S00000301/status");
    send(http.put(status_url).json(&json!({"status": "Cancelled"}))).await;
    let (_, sub) = sim.get_json("/v1/subscriptions/A-S00000301").await;
    assert_eq!(sub["status"], "Cancelled");
    let (status, _) = send(http.delete(sim.url("/__sim/subscriptions/A-S00000301"))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = sim.get_json("/v1/subscriptions/A-S00000301").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = send(http.delete(sim.url("/__sim/subscriptions/A-S00000301"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    send(http.post(sim.url("/__sim/tokens/expire"))).await;
    assert_eq!(
        sim.get("/v1/accounts/A00000002").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = send(
        http.put(sim.url("/__sim/not-found-style"))
            .json(&json!({"style": "200"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}
