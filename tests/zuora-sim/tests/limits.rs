//! The concurrency limit and latency.

mod common;

use std::time::{Duration, Instant};

use common::{reason_code, start, start_with};
use futures::future::join_all;
use reqwest::StatusCode;
use zuora_sim::SimConfig;

#[tokio::test]
async fn requests_beyond_the_concurrency_limit_get_429() {
    let mut config = SimConfig::demo();
    config.concurrency_limit = 3;
    config.latency = Duration::from_millis(600);
    let sim = start_with(config).await;
    let requests = (0..10).map(|_| sim.get("/v1/accounts/A00000001"));
    let responses = join_all(requests).await;
    let mut ok = 0;
    let mut limited = 0;
    for response in responses {
        match response.status() {
            StatusCode::OK => ok += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                limited += 1;
                assert_eq!(response.headers()["retry-after"], "120");
                assert_eq!(response.headers()["concurrency-limit-remaining"], "0");
                let body: serde_json::Value = response.json().await.unwrap();
                assert_eq!(reason_code(&body), 50000070);
                assert!(
                    body["reasons"][0]["message"]
                        .as_str()
                        .unwrap()
                        .starts_with("The total number of concurrent requests has exceeded")
                );
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((ok, limited), (3, 7));
    let stats = sim.handle.stats();
    assert_eq!(stats.max_in_flight, 3);
    assert_eq!(stats.responses_429, 7);
    assert_eq!(stats.requests("v1_account"), 10);
    assert_eq!(stats.in_flight, 0);
    // Slots are released: the next request goes through.
    assert_eq!(
        sim.get("/v1/accounts/A00000001").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn token_and_control_requests_are_not_limited_or_counted() {
    let sim = start().await;
    sim.handle.set_concurrency_limit(0);
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
    let stats = sim.http.get(sim.url("/__sim/stats")).send().await.unwrap();
    assert_eq!(stats.status(), StatusCode::OK);
    let stats: zuora_sim::Stats = stats.json().await.unwrap();
    assert_eq!(stats.requests.len(), 1, "only oauth_token: {stats:?}");
    assert_eq!(
        sim.get("/v1/accounts/A00000001").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn latency_is_applied_per_call() {
    let sim = start().await;
    sim.handle.set_latency(Duration::from_millis(250));
    let started = Instant::now();
    assert_eq!(
        sim.get("/v1/accounts/A00000001").await.status(),
        StatusCode::OK
    );
    assert!(started.elapsed() >= Duration::from_millis(250));
    sim.handle.set_latency(Duration::ZERO);
    let started = Instant::now();
    sim.get("/v1/accounts/A00000001").await;
    assert!(started.elapsed() < Duration::from_millis(250));
}

#[tokio::test]
async fn max_in_flight_tracks_parallel_calls_and_resets() {
    let sim = start().await;
    sim.handle.set_latency(Duration::from_millis(300));
    join_all((0..5).map(|_| sim.get("/object-query/accounts/A00000001"))).await;
    assert_eq!(sim.handle.stats().max_in_flight, 5);
    sim.handle.reset_stats();
    let stats = sim.handle.stats();
    assert_eq!(stats.max_in_flight, 0);
    assert!(stats.requests.is_empty());
}
