//! sObject Collections delete: `DELETE /services/data/vN/composite/sobjects?ids=…&allOrNone=…`.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

fn deleted(id: &str) -> Value {
    json!({"id": id, "success": true, "errors": []})
}

/// Accounts `A-1`, `A-2`, `A-3`; their ids in that order.
async fn three_accounts(sim: &Sim) -> Vec<String> {
    sim.upsert_records(
        ACCOUNT,
        vec![
            account("A-1", "One"),
            account("A-2", "Two"),
            account("A-3", "Three"),
        ],
    )
    .await;
    ["A-1", "A-2", "A-3"]
        .iter()
        .map(|key| sim.id_of(ACCOUNT, key))
        .collect()
}

/// A well-formed id of a `Zuora__CustomerAccount__c` that never existed.
const NEVER_EXISTED: &str = "a0A5f0000000ZZZ";

#[tokio::test]
async fn delete_removes_the_records_and_answers_per_id_in_order() {
    let sim = start().await;
    let ids = three_accounts(&sim).await;
    let answer = sim.delete(&[&ids[2], &ids[0]], false).await;
    assert_eq!(answer.results(), &[deleted(&ids[2]), deleted(&ids[0])]);
    assert!(sim.handle.record(&ids[0]).is_none());
    assert!(sim.handle.record(&ids[2]).is_none());
    let left = sim.handle.records(ACCOUNT);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, ids[1]);
}

#[tokio::test]
async fn deleting_a_deleted_record_is_entity_is_deleted() {
    let sim = start().await;
    let ids = three_accounts(&sim).await;
    sim.delete(&[&ids[0]], false).await;
    let answer = sim.delete(&[&ids[0], &ids[1]], false).await;
    assert_eq!(
        answer.results(),
        &[
            record_error("ENTITY_IS_DELETED", "entity is deleted"),
            deleted(&ids[1])
        ]
    );
}

#[tokio::test]
async fn deleting_an_id_that_never_existed_is_invalid_cross_reference_key() {
    let sim = start().await;
    let answer = sim.delete(&[NEVER_EXISTED], false).await;
    assert_eq!(
        answer.results(),
        &[record_error(
            "INVALID_CROSS_REFERENCE_KEY",
            "invalid cross reference id"
        )]
    );
}

#[tokio::test]
async fn fifteen_character_ids_name_the_same_record() {
    let sim = start().await;
    let ids = three_accounts(&sim).await;
    let answer = sim.delete(&[&ids[1][..15]], false).await;
    assert_eq!(answer.results(), &[deleted(&ids[1])]);
    assert!(sim.handle.record(&ids[1]).is_none());
}

#[tokio::test]
async fn all_or_none_delete_keeps_every_record_when_one_fails() {
    let sim = start().await;
    let ids = three_accounts(&sim).await;
    let answer = sim.delete(&[&ids[0], NEVER_EXISTED, &ids[1]], true).await;
    assert_eq!(
        answer.results(),
        &[
            rolled_back(),
            record_error("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id"),
            rolled_back(),
        ]
    );
    assert_eq!(sim.handle.records(ACCOUNT).len(), 3);
    assert!(sim.handle.record(&ids[0]).is_some());
    // Not deleted, so deleting them again works.
    let answer = sim.delete(&[&ids[0], &ids[1]], true).await;
    assert_eq!(answer.results(), &[deleted(&ids[0]), deleted(&ids[1])]);
}

#[tokio::test]
async fn deleting_a_customer_account_deletes_its_subscriptions() {
    let sim = start().await;
    sim.upsert_records(ACCOUNT, vec![account("P-1", "Parent")])
        .await;
    sim.upsert_records(SUBSCRIPTION, vec![subscription("S-1", "P-1")])
        .await;
    let parent = sim.id_of(ACCOUNT, "P-1");
    let child = sim.id_of(SUBSCRIPTION, "S-1");
    assert_eq!(
        sim.delete(&[&parent], false).await.results(),
        &[deleted(&parent)]
    );
    assert!(sim.handle.record(&child).is_none());
    assert_eq!(
        sim.delete(&[&child], false).await.results(),
        &[record_error("ENTITY_IS_DELETED", "entity is deleted")]
    );
}

#[tokio::test]
async fn a_delete_without_ids_is_a_bad_request() {
    let sim = start().await;
    let answer = Answer::read(sim.data(Method::DELETE, "/composite/sobjects")).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.body[0]["errorCode"], "MISSING_ARGUMENT");
}

#[tokio::test]
async fn more_than_two_hundred_ids_fail_the_whole_delete() {
    let sim = start().await;
    let ids = three_accounts(&sim).await;
    let mut many: Vec<&str> = vec![NEVER_EXISTED; 200];
    many.push(&ids[0]);
    let answer = sim.delete(&many, false).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.body[0]["errorCode"], "EXCEEDED_ID_LIMIT");
    assert!(sim.handle.record(&ids[0]).is_some());
}
