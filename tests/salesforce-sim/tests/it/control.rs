//! The `/__sim__` control plane over HTTP: no token, not counted, not limited.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use salesforce_sim::{Fault, FaultKind, SimConfig, Stats};
use serde_json::json;

use crate::common::*;

fn ok() -> serde_json::Value {
    json!({"ok": true})
}

#[tokio::test]
async fn post_faults_adds_a_fault_that_is_used_up() {
    let sim = start().await;
    let fault = json!({"route": "upsert", "kind": "status", "status": 503, "times": 1});
    let added = sim
        .control(Method::POST, "/faults", Some(fault.clone()))
        .await;
    assert_eq!((added.status, added.body), (StatusCode::OK, ok()));
    assert_eq!(sim.control_get("/faults").await.body, json!([fault]));

    let failed = sim
        .upsert_records(ACCOUNT, vec![account("A-1", "One")])
        .await;
    assert_eq!(failed.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(failed.body[0]["errorCode"], "SERVER_UNAVAILABLE");
    assert_eq!(sim.control_get("/faults").await.body, json!([]));
    let retried = sim
        .upsert_records(ACCOUNT, vec![account("A-1", "One")])
        .await;
    assert_eq!(retried.status, StatusCode::OK);
}

#[tokio::test]
async fn post_faults_takes_record_errors_and_delete_clears_them() {
    let sim = start().await;
    let fault = json!({
        "kind": "record_error",
        "object": ACCOUNT,
        "external_id": "A-2",
        "code": "DUPLICATE_VALUE",
    });
    sim.control(Method::POST, "/faults", Some(fault)).await;
    // Control calls are not counted as calls.
    assert_eq!(
        sim.handle.stats().calls,
        [("oauth_token".to_string(), 1)].into()
    );
    let answer = sim
        .upsert_records(ACCOUNT, vec![account("A-1", "One"), account("A-2", "Two")])
        .await;
    let one = sim.id_of(ACCOUNT, "A-1");
    assert_eq!(answer.results()[0], upserted(&one, true));
    assert_eq!(
        answer.results()[1]["errors"][0]["statusCode"],
        "DUPLICATE_VALUE"
    );
    let message = answer.results()[1]["errors"][0]["message"]
        .as_str()
        .unwrap();
    assert!(
        message.starts_with(
            "duplicate value found: Zuora__External_Id__c duplicates value on record with id: a0A"
        ),
        "{message}"
    );

    let cleared = sim.control(Method::DELETE, "/faults", None).await;
    assert_eq!(cleared.body, ok());
    let answer = sim
        .upsert_records(ACCOUNT, vec![account("A-2", "Two")])
        .await;
    assert_eq!(answer.results()[0]["success"], true);
}

#[tokio::test]
async fn a_malformed_fault_is_refused() {
    let sim = start().await;
    let answer = sim
        .control(Method::POST, "/faults", Some(json!({"kind": "nope"})))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.body["error"].is_string());
    assert_eq!(sim.handle.stats().calls("upsert"), 0);
    assert_eq!(sim.control_get("/faults").await.body, json!([]));
}

#[tokio::test]
async fn records_lists_an_objects_records_with_resolved_references() {
    let sim = start().await;
    sim.upsert_records(ACCOUNT, vec![account("P-1", "Parent")])
        .await;
    sim.upsert_records(SUBSCRIPTION, vec![subscription("S-1", "P-1")])
        .await;
    let parent = sim.id_of(ACCOUNT, "P-1");
    let child = sim.id_of(SUBSCRIPTION, "S-1");
    let answer = sim.control_get(&format!("/records/{SUBSCRIPTION}")).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.body,
        json!([{
            "id": child,
            "object": SUBSCRIPTION,
            "fields": {
                EXT: "S-1",
                "Name": "A-S-1",
                "Zuora__Status__c": "Active",
                "Zuora__CustomerAccount__c": parent,
            },
        }])
    );
    let unknown = sim.control_get("/records/Nope__c").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.body, json!({"error": "unknown object Nope__c"}));
}

#[tokio::test]
async fn stats_reports_calls_usage_and_records_per_call() {
    let sim = start().await;
    sim.ping().await;
    sim.upsert_records(
        ACCOUNT,
        vec![
            account("A-1", "One"),
            account("A-2", "Two"),
            account("A-3", "Three"),
        ],
    )
    .await;
    let answer = sim.control_get("/stats").await;
    assert_eq!(answer.status, StatusCode::OK);
    let stats: Stats = serde_json::from_value(answer.body.clone()).expect("stats");
    assert_eq!(stats, sim.handle.stats());
    assert_eq!(stats.calls("oauth_token"), 1);
    assert_eq!(stats.calls("query"), 1);
    assert_eq!(stats.calls("upsert"), 1);
    assert_eq!(stats.api_usage, 2);
    assert_eq!(stats.daily_api_limit, 100_000);
    assert_eq!(stats.records_per_call, [3]);
    assert_eq!(stats.tokens_issued, 1);
    assert_eq!(stats.in_flight, 0);
    // Control calls are not API calls.
    assert_eq!(sim.handle.api_usage(), 2);
}

#[tokio::test]
async fn reset_clears_records_faults_and_usage_but_keeps_tokens() {
    let sim = start().await;
    sim.upsert_records(ACCOUNT, vec![account("A-1", "One")])
        .await;
    sim.handle
        .add_fault(Fault::new("delete", FaultKind::Status { status: 500 }));
    sim.handle.set_daily_api_limit(10);
    let answer = sim.control(Method::POST, "/reset", None).await;
    assert_eq!(answer.body, ok());

    assert!(sim.handle.records(ACCOUNT).is_empty());
    assert_eq!(sim.control_get("/faults").await.body, json!([]));
    assert_eq!(
        sim.handle.stats(),
        Stats {
            daily_api_limit: 100_000,
            ..Stats::default()
        }
    );
    let after = sim.ping().await;
    assert_eq!(after.status, StatusCode::OK, "the token survives a reset");
    assert_eq!(after.limit_info(), "api-usage=1/100000");
}

#[tokio::test]
async fn api_usage_sets_the_count_sforce_limit_info_reports() {
    let sim = start().await;
    let answer = sim
        .control(Method::POST, "/api-usage", Some(json!({"used": 99_999})))
        .await;
    assert_eq!(answer.body, ok());
    assert_eq!(sim.ping().await.limit_info(), "api-usage=100000/100000");
    assert_eq!(sim.ping().await.body, total_requests_exceeded());
}

#[tokio::test]
async fn sessions_expire_and_token_mint_over_http() {
    let sim = start().await;
    let answer = sim.control(Method::POST, "/sessions/expire", None).await;
    assert_eq!(answer.body, ok());
    assert_eq!(sim.ping().await.body, invalid_session());

    let minted = sim.control(Method::POST, "/token", None).await;
    let token = minted.body["access_token"].as_str().expect("a token");
    let answer = sim
        .query_as(token, "SELECT Id FROM Zuora__CustomerAccount__c")
        .await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn accounts_deny_refuses_lookups_to_that_account() {
    let sim = start().await;
    let answer = sim
        .control(
            Method::POST,
            "/accounts/deny",
            Some(json!({"id": "001A000000Is7AhIAJ"})),
        )
        .await;
    assert_eq!(answer.body, ok());
    let mut record = account("A-1", "One");
    record["Zuora__Account__c"] = json!("001A000000Is7Ah");
    let answer = sim.upsert_records(ACCOUNT, vec![record]).await;
    assert_eq!(
        answer.results(),
        &[record_error(
            "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY",
            "insufficient access rights on cross-reference id: 001A000000Is7Ah"
        )]
    );
    let bad = sim
        .control(Method::POST, "/accounts/deny", Some(json!({"id": "nope"})))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn latency_makes_requests_long() {
    let sim = start_with(SimConfig {
        long_request_threshold: Duration::from_millis(100),
        ..config()
    })
    .await;
    let answer = sim
        .control(Method::PUT, "/latency", Some(json!({"ms": 500})))
        .await;
    assert_eq!(answer.body, ok());
    let request = tokio::spawn(Answer::read(
        sim.data(Method::GET, "/query")
            .query(&[("q", "SELECT Id FROM Zuora__CustomerAccount__c")]),
    ));
    within("the slow request", sim.handle.wait_in_flight(1)).await;
    assert_eq!(sim.handle.stats().long_in_flight, 1);
    let answer = within("the slow request to end", request).await.unwrap();
    assert_eq!(answer.status, StatusCode::OK);
}
