//! Injected faults through the handle: session expiry, request limits, HTTP statuses and
//! per-record errors.

use reqwest::StatusCode;
use salesforce_sim::{Fault, FaultKind};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn an_expired_session_is_401_until_a_fresh_token_is_fetched() {
    let sim = start().await;
    sim.handle
        .add_fault(Fault::new("*", FaultKind::SessionExpired).times(1));
    let expired = sim.ping().await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert_eq!(expired.body, invalid_session());

    // The fault is used up, but the old token stays dead.
    let again = sim.ping().await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert_eq!(again.body, invalid_session());

    let token = sim.new_token().await;
    let fresh = sim
        .query_as(&token, "SELECT Id FROM Zuora__CustomerAccount__c")
        .await;
    assert_eq!(fresh.status, StatusCode::OK);
    assert_eq!(sim.handle.stats().calls("query"), 3);
    assert_eq!(sim.handle.api_usage(), 1);
}

#[tokio::test]
async fn expire_sessions_invalidates_every_issued_token() {
    let sim = start().await;
    let other = sim.new_token().await;
    sim.handle.expire_sessions();
    assert_eq!(sim.ping().await.status, StatusCode::UNAUTHORIZED);
    let answer = sim
        .query_as(&other, "SELECT Id FROM Zuora__CustomerAccount__c")
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let minted = sim.handle.token();
    let answer = sim
        .query_as(&minted, "SELECT Id FROM Zuora__CustomerAccount__c")
        .await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn a_request_limit_fault_refuses_one_upsert() {
    let sim = start().await;
    sim.handle
        .add_fault(Fault::new("upsert", FaultKind::RequestLimit { long: false }).times(1));
    assert_eq!(
        sim.ping().await.status,
        StatusCode::OK,
        "other routes unaffected"
    );

    let refused = sim
        .upsert_records(ACCOUNT, vec![account("A-1", "One")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.body, total_requests_exceeded());
    assert!(sim.handle.records(ACCOUNT).is_empty());

    let retried = sim
        .upsert_records(ACCOUNT, vec![account("A-1", "One")])
        .await;
    assert_eq!(retried.results()[0]["created"], true);
    assert!(sim.handle.find(ACCOUNT, EXT, "A-1").is_some());
}

#[tokio::test]
async fn a_long_request_limit_fault_has_the_concurrent_message() {
    let sim = start().await;
    sim.handle
        .add_fault(Fault::new("query", FaultKind::RequestLimit { long: true }).times(1));
    let refused = sim.ping().await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.body, long_requests_exceeded());
    assert_eq!(sim.ping().await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_503_fault_hits_only_the_matching_path_and_only_once() {
    let sim = start().await;
    sim.handle.add_fault(
        Fault::new("upsert", FaultKind::Status { status: 503 })
            .matching(SUBSCRIPTION)
            .times(1),
    );
    let parent = sim
        .upsert_records(ACCOUNT, vec![account("P-1", "Parent")])
        .await;
    assert_eq!(parent.status, StatusCode::OK);

    let failed = sim
        .upsert_records(SUBSCRIPTION, vec![subscription("S-1", "P-1")])
        .await;
    assert_eq!(failed.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        failed.body,
        api_error(
            "SERVER_UNAVAILABLE",
            "The server is temporarily unable to handle the request. Please try again later."
        )
    );
    assert!(sim.handle.records(SUBSCRIPTION).is_empty());

    let retried = sim
        .upsert_records(SUBSCRIPTION, vec![subscription("S-1", "P-1")])
        .await;
    assert_eq!(retried.results()[0]["success"], true);
}

#[tokio::test]
async fn the_any_route_fault_leaves_the_token_endpoint_alone() {
    let sim = start().await;
    sim.handle
        .add_fault(Fault::new("*", FaultKind::Status { status: 500 }));
    let token = sim.new_token().await;
    let answer = sim
        .query_as(&token, "SELECT Id FROM Zuora__CustomerAccount__c")
        .await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(answer.body[0]["errorCode"], "UNKNOWN_EXCEPTION");
    sim.handle.clear_faults();
    assert_eq!(sim.ping().await.status, StatusCode::OK);
}

#[tokio::test]
async fn unable_to_lock_row_fails_the_record_for_times_attempts() {
    let sim = start().await;
    sim.upsert_records(ACCOUNT, vec![account("P-1", "Parent")])
        .await;
    sim.upsert_records(SUBSCRIPTION, vec![subscription("S-2", "P-1")])
        .await;
    let s2 = sim.id_of(SUBSCRIPTION, "S-2");
    sim.handle
        .add_fault(Fault::record(SUBSCRIPTION, Some("S-2"), "UNABLE_TO_LOCK_ROW").times(2));

    let mut renamed = subscription("S-2", "P-1");
    renamed["Name"] = json!("Renamed");
    let lock_error = record_error(
        "UNABLE_TO_LOCK_ROW",
        &format!("unable to obtain exclusive access to this record or 1 records: {s2}"),
    );
    let first = sim
        .upsert_records(
            SUBSCRIPTION,
            vec![
                subscription("S-1", "P-1"),
                renamed.clone(),
                subscription("S-3", "P-1"),
            ],
        )
        .await;
    let s1 = sim.id_of(SUBSCRIPTION, "S-1");
    let s3 = sim.id_of(SUBSCRIPTION, "S-3");
    assert_eq!(
        first.results(),
        &[upserted(&s1, true), lock_error.clone(), upserted(&s3, true)]
    );
    assert_eq!(sim.handle.record(&s2).unwrap().fields["Name"], "A-S-2");

    let second = sim
        .upsert_records(SUBSCRIPTION, vec![renamed.clone()])
        .await;
    assert_eq!(second.results(), &[lock_error]);

    let third = sim.upsert_records(SUBSCRIPTION, vec![renamed]).await;
    assert_eq!(third.results(), &[upserted(&s2, false)]);
    assert_eq!(sim.handle.record(&s2).unwrap().fields["Name"], "Renamed");
}

#[tokio::test]
async fn a_record_error_on_delete_keeps_the_record() {
    let sim = start().await;
    sim.upsert_records(ACCOUNT, vec![account("A-1", "One")])
        .await;
    let id = sim.id_of(ACCOUNT, "A-1");
    sim.handle
        .add_fault(Fault::record(ACCOUNT, None, "UNABLE_TO_LOCK_ROW").times(1));
    let answer = sim.delete(&[&id], false).await;
    assert_eq!(
        answer.results(),
        &[record_error(
            "UNABLE_TO_LOCK_ROW",
            &format!("unable to obtain exclusive access to this record or 1 records: {id}")
        )]
    );
    assert!(sim.handle.record(&id).is_some());
    let answer = sim.delete(&[&id], false).await;
    assert_eq!(answer.results()[0]["success"], true);
    assert!(sim.handle.record(&id).is_none());
}

#[tokio::test]
async fn a_record_error_with_a_message_uses_it() {
    let sim = start().await;
    sim.handle.add_fault(Fault::new(
        "upsert",
        FaultKind::RecordError {
            object: ACCOUNT.into(),
            external_id: None,
            code: "CANNOT_EXECUTE_FLOW_TRIGGER".into(),
            message: Some("flow failed on {id}".into()),
        },
    ));
    let answer = sim
        .upsert_records(ACCOUNT, vec![account("A-1", "One"), account("A-2", "Two")])
        .await;
    let results = answer.results();
    assert_eq!(results.len(), 2);
    for result in results {
        assert_eq!(result["success"], false);
        assert_eq!(
            result["errors"][0]["statusCode"],
            "CANNOT_EXECUTE_FLOW_TRIGGER"
        );
        let message = result["errors"][0]["message"].as_str().unwrap();
        assert!(message.starts_with("flow failed on a0A"), "{message}");
    }
    assert!(sim.handle.records(ACCOUNT).is_empty());
}
