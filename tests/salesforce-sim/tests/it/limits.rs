//! `Sforce-Limit-Info`, `/limits`, the daily API allocation and the concurrent long-request
//! limit.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use salesforce_sim::SimConfig;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn every_data_answer_carries_sforce_limit_info_and_usage_grows() {
    let sim = start().await;
    let query = sim.ping().await;
    assert_eq!(query.status, StatusCode::OK);
    assert_eq!(query.limit_info(), "api-usage=1/100000");

    let upsert = sim
        .upsert_records(ACCOUNT, vec![account("A-1", "One")])
        .await;
    assert_eq!(upsert.status, StatusCode::OK);
    assert_eq!(upsert.limit_info(), "api-usage=2/100000");

    let id = sim.id_of(ACCOUNT, "A-1");
    let delete = sim.delete(&[&id], false).await;
    assert_eq!(delete.status, StatusCode::OK);
    assert_eq!(delete.limit_info(), "api-usage=3/100000");

    let bad = sim.query("SELECT FROM").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.limit_info(), "api-usage=4/100000");

    assert_eq!(sim.handle.api_usage(), 4);
    assert_eq!(sim.handle.stats().api_usage, 4);
}

#[tokio::test]
async fn limits_reports_the_daily_allocation_without_using_it() {
    let sim = start().await;
    sim.ping().await;
    sim.ping().await;
    let answer = Answer::read(sim.data(Method::GET, "/limits")).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.body,
        json!({"DailyApiRequests": {"Max": 100000, "Remaining": 99998}})
    );
    assert_eq!(answer.limit_info(), "api-usage=2/100000");
    assert_eq!(sim.handle.api_usage(), 2);
    assert_eq!(sim.handle.stats().calls("limits"), 1);
}

#[tokio::test]
async fn an_exhausted_daily_allocation_is_403_request_limit_exceeded() {
    let sim = start_with(SimConfig {
        daily_api_limit: 2,
        ..config()
    })
    .await;
    assert_eq!(sim.ping().await.limit_info(), "api-usage=1/2");
    assert_eq!(sim.ping().await.limit_info(), "api-usage=2/2");

    let refused = sim
        .upsert_records(ACCOUNT, vec![account("A-1", "One")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.body, total_requests_exceeded());
    assert_eq!(refused.limit_info(), "api-usage=2/2");
    assert!(!refused.headers.contains_key("retry-after"));
    assert!(sim.handle.records(ACCOUNT).is_empty());
    assert_eq!(sim.handle.api_usage(), 2);

    // /limits still answers, and a bigger allocation lets calls through again.
    let limits = Answer::read(sim.data(Method::GET, "/limits")).await;
    assert_eq!(limits.body["DailyApiRequests"]["Remaining"], 0);
    sim.handle.set_daily_api_limit(3);
    let answer = sim
        .upsert_records(ACCOUNT, vec![account("A-1", "One")])
        .await;
    assert_eq!(answer.results()[0]["created"], true);
    assert_eq!(answer.limit_info(), "api-usage=3/3");
}

#[tokio::test]
async fn usage_set_near_the_limit_runs_out_after_the_last_call() {
    let sim = start().await;
    sim.handle.set_api_usage(99_999);
    assert_eq!(sim.ping().await.limit_info(), "api-usage=100000/100000");
    let refused = sim.ping().await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.body, total_requests_exceeded());
}

/// Long requests: anything taking 100 ms or more, one at a time.
fn one_long_request() -> SimConfig {
    SimConfig {
        long_request_threshold: Duration::from_millis(100),
        concurrent_long_limit: 1,
        ..config()
    }
}

// Several worker threads: `wait_in_flight` must still mean "holds its long-request slot".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_the_concurrent_long_limit_are_refused() {
    let sim = start_with(one_long_request()).await;
    sim.handle.set_latency(Duration::from_secs(2));
    let first = tokio::spawn(Answer::read(
        sim.data(Method::GET, "/query")
            .query(&[("q", "SELECT Id FROM Zuora__CustomerAccount__c")]),
    ));
    within("the long request", sim.handle.wait_in_flight(1)).await;
    assert_eq!(sim.handle.stats().long_in_flight, 1);

    let second = sim.ping().await;
    assert_eq!(second.status, StatusCode::FORBIDDEN);
    assert_eq!(second.body, long_requests_exceeded());

    // While the limit is full, even a short request is refused (Salesforce cannot know in
    // advance how long a new request will take).
    sim.handle.set_latency(Duration::ZERO);
    let short = sim.ping().await;
    assert_eq!(short.status, StatusCode::FORBIDDEN);
    assert_eq!(short.body, long_requests_exceeded());
    assert_eq!(
        sim.handle.api_usage(),
        1,
        "refused requests are not counted"
    );
    assert_eq!(sim.handle.stats().max_concurrent, 1, "nor in flight");

    let first = within("the long request to end", first).await.unwrap();
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(sim.handle.stats().long_in_flight, 0);
    assert_eq!(sim.ping().await.status, StatusCode::OK);
    assert_eq!(sim.handle.api_usage(), 2);
}

#[tokio::test]
async fn short_requests_have_no_concurrency_limit() {
    let sim = start_with(SimConfig {
        long_request_threshold: Duration::from_secs(20),
        concurrent_long_limit: 1,
        ..config()
    })
    .await;
    sim.handle.set_latency(Duration::from_secs(1));
    let requests: Vec<_> = (0..3)
        .map(|_| {
            tokio::spawn(Answer::read(
                sim.data(Method::GET, "/query")
                    .query(&[("q", "SELECT Id FROM Zuora__CustomerAccount__c")]),
            ))
        })
        .collect();
    within("three requests at once", sim.handle.wait_in_flight(3)).await;
    assert_eq!(sim.handle.stats().long_in_flight, 0);
    for request in requests {
        let answer = within("a short request", request).await.unwrap();
        assert_eq!(answer.status, StatusCode::OK);
    }
    assert!(sim.handle.stats().max_concurrent >= 3);
    assert_eq!(sim.handle.api_usage(), 3);
}
