//! sObject Collections upsert by External ID:
//! `PATCH /services/data/vN/composite/sobjects/{object}/{externalIdField}`.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

/// The customer account `P-1` every subscription below hangs off.
async fn with_parent(sim: &Sim) -> String {
    let answer = sim
        .upsert_records(ACCOUNT, vec![account("P-1", "Parent")])
        .await;
    assert_eq!(answer.results()[0]["success"], true);
    sim.id_of(ACCOUNT, "P-1")
}

#[tokio::test]
async fn results_come_back_in_request_order_created_then_updated() {
    let sim = start().await;
    let first = sim
        .upsert_records(ACCOUNT, vec![account("A-1", "One"), account("A-2", "Two")])
        .await;
    let one = sim.id_of(ACCOUNT, "A-1");
    let two = sim.id_of(ACCOUNT, "A-2");
    assert_eq!(
        first.results(),
        &[upserted(&one, true), upserted(&two, true)]
    );
    assert!(one.starts_with("a0A") && one.len() == 18, "{one}");
    assert_ne!(one, two);

    let second = sim
        .upsert_records(
            ACCOUNT,
            vec![
                account("A-2", "Two renamed"),
                account("A-3", "Three"),
                account("A-1", "One"),
            ],
        )
        .await;
    let three = sim.id_of(ACCOUNT, "A-3");
    assert_eq!(
        second.results(),
        &[
            upserted(&two, false),
            upserted(&three, true),
            upserted(&one, false)
        ]
    );
    assert_eq!(sim.handle.records(ACCOUNT).len(), 3);
    assert_eq!(
        sim.handle.record(&two).unwrap().fields["Name"],
        "Two renamed"
    );
    assert_eq!(sim.handle.stats().records_per_call, [2, 3]);
}

#[tokio::test]
async fn an_update_keeps_the_fields_it_does_not_send() {
    let sim = start().await;
    let mut first = account("A-1", "One");
    first["Zuora__Status__c"] = json!("Active");
    sim.upsert_records(ACCOUNT, vec![first]).await;
    let answer = sim
        .upsert_records(
            ACCOUNT,
            vec![json!({"attributes": {"type": ACCOUNT}, EXT: "A-1", "Name": "Renamed"})],
        )
        .await;
    assert_eq!(answer.results()[0]["created"], false);
    let stored = sim.handle.find(ACCOUNT, EXT, "A-1").unwrap();
    assert_eq!(stored.fields["Name"], "Renamed");
    assert_eq!(stored.fields["Zuora__Status__c"], "Active");
    assert_eq!(stored.fields["Zuora__Zuora_Id__c"], "A-1");
}

#[tokio::test]
async fn two_hundred_records_are_accepted() {
    let sim = start().await;
    let records = (0..200)
        .map(|i| account(&format!("A-{i:03}"), "Bulk"))
        .collect();
    let answer = sim.upsert_records(ACCOUNT, records).await;
    let stored = sim.handle.records(ACCOUNT);
    assert_eq!(stored.len(), 200);
    let expected: Vec<Value> = stored.iter().map(|r| upserted(&r.id, true)).collect();
    assert_eq!(answer.results(), &expected);
    assert_eq!(stored[199].fields[EXT], "A-199");
    assert_eq!(sim.handle.api_usage(), 1, "one call however many records");
}

#[tokio::test]
async fn more_than_two_hundred_records_fail_the_whole_request() {
    let sim = start().await;
    let records = (0..201)
        .map(|i| account(&format!("A-{i:03}"), "Bulk"))
        .collect();
    let answer = sim.upsert_records(ACCOUNT, records).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.body,
        api_error(
            "EXCEEDED_ID_LIMIT",
            "record limit reached. cannot submit more than 200 records into this call"
        )
    );
    assert!(sim.handle.records(ACCOUNT).is_empty());
    assert!(sim.handle.stats().records_per_call.is_empty());
}

#[tokio::test]
async fn a_record_of_another_type_than_the_uri_fails_the_request() {
    let sim = start().await;
    let mut stray = account("A-2", "Two");
    stray["attributes"]["type"] = json!(SUBSCRIPTION);
    let answer = sim
        .upsert_records(ACCOUNT, vec![account("A-1", "One"), stray])
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.body,
        api_error(
            "INVALID_TYPE",
            "The list can contain objects only of the type indicated in the request URI"
        )
    );
    assert!(sim.handle.records(ACCOUNT).is_empty());
}

#[tokio::test]
async fn a_record_without_attributes_type_fails_the_request() {
    let sim = start().await;
    let answer = sim
        .upsert_records(ACCOUNT, vec![json!({EXT: "A-1", "Name": "One"})])
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.body[0]["errorCode"], "INVALID_TYPE");
    assert!(sim.handle.records(ACCOUNT).is_empty());
}

#[tokio::test]
async fn all_or_none_writes_nothing_when_one_record_fails() {
    let sim = start().await;
    with_parent(&sim).await;
    let mut old = subscription("S-1", "P-1");
    old["Name"] = json!("Old");
    sim.upsert_records(SUBSCRIPTION, vec![old]).await;
    let s1 = sim.id_of(SUBSCRIPTION, "S-1");

    let mut renamed = subscription("S-1", "P-1");
    renamed["Name"] = json!("New");
    let records = vec![
        renamed,
        subscription("S-9", "NO-SUCH"),
        subscription("S-2", "P-1"),
    ];
    let answer = sim
        .upsert(
            SUBSCRIPTION,
            EXT,
            &json!({"allOrNone": true, "records": records}),
        )
        .await;
    assert_eq!(
        answer.results(),
        &[
            rolled_back(),
            record_error(
                "INVALID_FIELD",
                "Foreign key external ID: NO-SUCH not found for field Zuora__External_Id__c in entity Zuora__CustomerAccount__c"
            ),
            rolled_back(),
        ]
    );
    assert_eq!(sim.handle.records(SUBSCRIPTION).len(), 1);
    assert_eq!(sim.handle.record(&s1).unwrap().fields["Name"], "Old");
    assert!(sim.handle.find(SUBSCRIPTION, EXT, "S-2").is_none());
}

#[tokio::test]
async fn without_all_or_none_the_good_records_are_written() {
    let sim = start().await;
    with_parent(&sim).await;
    let records = vec![
        subscription("S-1", "P-1"),
        subscription("S-9", "NO-SUCH"),
        subscription("S-2", "P-1"),
    ];
    let answer = sim.upsert_records(SUBSCRIPTION, records).await;
    let s1 = sim.id_of(SUBSCRIPTION, "S-1");
    let s2 = sim.id_of(SUBSCRIPTION, "S-2");
    assert_eq!(answer.results()[0], upserted(&s1, true));
    assert_eq!(answer.results()[1]["success"], false);
    assert_eq!(answer.results()[2], upserted(&s2, true));
    assert_eq!(sim.handle.records(SUBSCRIPTION).len(), 2);
    assert!(sim.handle.find(SUBSCRIPTION, EXT, "S-9").is_none());
}

#[tokio::test]
async fn a_nested_external_id_reference_resolves_to_the_parent_id() {
    let sim = start().await;
    let parent = with_parent(&sim).await;
    let answer = sim
        .upsert_records(SUBSCRIPTION, vec![subscription("S-1", "P-1")])
        .await;
    let id = sim.id_of(SUBSCRIPTION, "S-1");
    assert_eq!(answer.results(), &[upserted(&id, true)]);
    assert!(id.starts_with("a0B"), "{id}");
    let stored = sim.handle.record(&id).unwrap();
    assert_eq!(stored.object, SUBSCRIPTION);
    assert_eq!(stored.fields["Zuora__CustomerAccount__c"], parent.as_str());
    assert!(!stored.fields.contains_key("Zuora__CustomerAccount__r"));
}

#[tokio::test]
async fn an_unknown_parent_fails_only_that_record() {
    let sim = start().await;
    let answer = sim
        .upsert_records(SUBSCRIPTION, vec![subscription("S-1", "NO-SUCH")])
        .await;
    assert_eq!(
        answer.results(),
        &[record_error(
            "INVALID_FIELD",
            "Foreign key external ID: NO-SUCH not found for field Zuora__External_Id__c in entity Zuora__CustomerAccount__c"
        )]
    );
    assert!(sim.handle.records(SUBSCRIPTION).is_empty());
}

#[tokio::test]
async fn a_denied_crm_account_is_insufficient_access_on_cross_reference_entity() {
    let sim = start().await;
    sim.handle.deny_account("001A000000Is7Ah");
    let mut denied = account("A-1", "One");
    denied["Zuora__Account__c"] = json!("001A000000Is7AhIAJ");
    let mut visible = account("A-2", "Two");
    visible["Zuora__Account__c"] = json!("001A000000Is7Ai");
    let answer = sim.upsert_records(ACCOUNT, vec![denied, visible]).await;
    let two = sim.id_of(ACCOUNT, "A-2");
    assert_eq!(
        answer.results(),
        &[
            record_error(
                "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY",
                "insufficient access rights on cross-reference id: 001A000000Is7AhIAJ"
            ),
            upserted(&two, true),
        ]
    );
    assert!(sim.handle.find(ACCOUNT, EXT, "A-1").is_none());
    let crm_id = sim.handle.record(&two).unwrap().fields["Zuora__Account__c"].clone();
    let crm_id = crm_id.as_str().unwrap();
    assert!(
        crm_id.starts_with("001A000000Is7Ai") && crm_id.len() == 18,
        "{crm_id}"
    );
}

#[tokio::test]
async fn an_unknown_external_id_field_is_not_found() {
    let sim = start().await;
    let answer = sim
        .upsert(
            ACCOUNT,
            "Name",
            &json!({"records": [account("A-1", "One")]}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(
        answer.body,
        api_error("NOT_FOUND", "The requested resource does not exist")
    );
    assert!(sim.handle.records(ACCOUNT).is_empty());
}

#[tokio::test]
async fn collections_need_api_version_46() {
    let sim = start().await;
    let body = json!({"records": [account("A-1", "One")]});
    let rest = format!("/composite/sobjects/{ACCOUNT}/{EXT}");
    let old = sim
        .http
        .patch(sim.url(&format!("/services/data/v45.0{rest}")))
        .bearer_auth(&sim.token)
        .json(&body);
    let answer = Answer::read(old).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.body[0]["errorCode"], "NOT_FOUND");
    assert!(sim.handle.records(ACCOUNT).is_empty());

    let answer = Answer::read(sim.data(Method::PATCH, &rest).json(&body)).await;
    assert_eq!(answer.results()[0]["created"], true);
}

#[tokio::test]
async fn a_malformed_body_is_a_json_parser_error() {
    let sim = start().await;
    let rest = format!("/composite/sobjects/{ACCOUNT}/{EXT}");
    let answer = Answer::read(
        sim.data(Method::PATCH, &rest)
            .header("content-type", "application/json")
            .body("{\"records\": [}"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.body[0]["errorCode"], "JSON_PARSER_ERROR");
    assert!(
        answer.body[0]["message"]
            .as_str()
            .unwrap()
            .contains("line:1")
    );
}

#[tokio::test]
async fn a_wrong_method_gets_the_error_array() {
    let sim = start().await;
    let rest = format!("/composite/sobjects/{ACCOUNT}/{EXT}");
    let answer = Answer::read(sim.data(Method::GET, &rest)).await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        answer.body,
        api_error(
            "METHOD_NOT_ALLOWED",
            "HTTP Method 'GET' not allowed. Allowed are PATCH"
        )
    );
    let allow: Vec<_> = answer.headers.get_all("allow").iter().collect();
    assert_eq!(allow, ["PATCH"]);
    assert_eq!(answer.limit_info(), "api-usage=1/100000");
}
