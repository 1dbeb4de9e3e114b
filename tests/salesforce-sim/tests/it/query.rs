//! `GET /services/data/vN/query?q=…`: finding record ids by External ID.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn a_query_by_external_id_finds_the_record_ids() {
    let sim = start().await;
    sim.upsert_records(
        ACCOUNT,
        vec![
            account("A-1", "One"),
            account("A-2", "Two"),
            account("A-3", "Three"),
        ],
    )
    .await;
    let one = sim.id_of(ACCOUNT, "A-1");
    let three = sim.id_of(ACCOUNT, "A-3");
    let answer = sim
        .query(
            "SELECT Id, Zuora__External_Id__c FROM Zuora__CustomerAccount__c \
             WHERE Zuora__External_Id__c IN ('A-3', 'A-1', 'A-9')",
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let url = |id: &str| format!("/services/data/{VERSION}/sobjects/{ACCOUNT}/{id}");
    assert_eq!(
        answer.body,
        json!({
            "totalSize": 2,
            "done": true,
            "records": [
                {"attributes": {"type": ACCOUNT, "url": url(&one)}, "Id": one, EXT: "A-1"},
                {"attributes": {"type": ACCOUNT, "url": url(&three)}, "Id": three, EXT: "A-3"},
            ]
        })
    );
}

#[tokio::test]
async fn an_equality_query_on_a_missing_key_finds_nothing() {
    let sim = start().await;
    sim.upsert_records(ACCOUNT, vec![account("A-1", "One")])
        .await;
    let answer = sim
        .query("SELECT Id FROM Zuora__CustomerAccount__c WHERE Zuora__External_Id__c = 'A-2'")
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.body,
        json!({"totalSize": 0, "done": true, "records": []})
    );
}

#[tokio::test]
async fn a_query_can_find_children_by_their_parent_id() {
    let sim = start().await;
    sim.upsert_records(ACCOUNT, vec![account("P-1", "Parent")])
        .await;
    sim.upsert_records(
        SUBSCRIPTION,
        vec![subscription("S-1", "P-1"), subscription("S-2", "P-1")],
    )
    .await;
    let parent = sim.id_of(ACCOUNT, "P-1");
    let answer = sim
        .query(&format!(
            "SELECT Id FROM Zuora__Subscription__c WHERE Zuora__CustomerAccount__c = '{parent}' LIMIT 1"
        ))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["totalSize"], 1);
    assert_eq!(
        answer.body["records"][0]["Id"],
        sim.id_of(SUBSCRIPTION, "S-1")
    );
}

#[tokio::test]
async fn a_malformed_query_is_malformed_query() {
    let sim = start().await;
    let answer = sim
        .query("SELECT Id FROM Zuora__CustomerAccount__c WHERE Name = 'x' OR Name = 'y'")
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.body[0]["errorCode"], "MALFORMED_QUERY");
    assert!(
        answer.body[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("unexpected token")
    );
}

#[tokio::test]
async fn a_query_on_an_unknown_object_is_invalid_type() {
    let sim = start().await;
    let answer = sim.query("SELECT Id FROM Nope__c").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.body[0]["errorCode"], "INVALID_TYPE");
    assert!(
        answer.body[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("sObject type 'Nope__c' is not supported.")
    );
}
