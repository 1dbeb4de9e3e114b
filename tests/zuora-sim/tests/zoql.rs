//! `POST /v1/action/query` and `/v1/action/queryMore`.

mod common;

use common::start;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn numbers(body: &Value) -> Vec<&str> {
    body["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|record| record["AccountNumber"].as_str().unwrap())
        .collect()
}

/// Quotes a value as a ZOQL string literal, the way a careful client must.
fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[tokio::test]
async fn lookup_by_custom_field() {
    let sim = start().await;
    let (status, body) = sim
        .zoql("select Id, AccountNumber from Account where LimioExternalId__c = 'limio-shared-42'")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["size"], 2);
    assert_eq!(body["done"], true);
    assert!(body.get("queryLocator").is_none());
    assert!(body.get("success").is_none());
    assert_eq!(numbers(&body), ["A00000002", "A00000003"]);
    assert_eq!(
        body["records"][0],
        json!({"Id": "8a90a1b27c1f4e2d017c2b3c4d5e0002", "AccountNumber": "A00000002"})
    );
}

#[tokio::test]
async fn null_fields_are_omitted_and_dates_have_milliseconds() {
    let sim = start().await;
    let (_, body) = sim
        .zoql("select AccountNumber, CrmId, UpdatedDate from Account where AccountNumber = 'A00000003'")
        .await;
    assert_eq!(
        body["records"][0],
        json!({"AccountNumber": "A00000003", "UpdatedDate": "2025-03-01T09:00:00.000+01:00"})
    );
}

#[tokio::test]
async fn escaped_literals_match_literally() {
    let sim = start().await;
    let query = |value: &str| {
        format!(
            "select AccountNumber from Account where LimioExternalId__c = {}",
            literal(value)
        )
    };
    let (status, body) = sim.zoql(&query("o'brien\\7")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(numbers(&body), ["A00000004"]);

    for hostile in [
        "' or 1=1",
        "x' or AccountNumber != '",
        "\\' or 1=1 --",
        "'; drop",
    ] {
        let (status, body) = sim.zoql(&query(hostile)).await;
        assert_eq!(status, StatusCode::OK, "{hostile}");
        assert_eq!(body["size"], 0, "{hostile}");
    }

    let (_, body) = sim
        .zoql(&format!(
            "select AccountNumber from Account where Name = {}",
            literal("Zoë Ærøskøbing ApS")
        ))
        .await;
    assert_eq!(numbers(&body), ["A00000004"]);
}

#[tokio::test]
async fn injected_value_written_into_a_fixture_matches_only_itself() {
    let sim = start().await;
    let mut account = sim.handle.account("A00000003").unwrap();
    account["id"] = json!("eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee");
    account["accountNumber"] = json!("A00000009");
    account["LimioExternalId__c"] = json!("' or 1=1");
    sim.handle.upsert_account(account).unwrap();
    let (_, body) = sim
        .zoql(&format!(
            "select AccountNumber from Account where LimioExternalId__c = {}",
            literal("' or 1=1")
        ))
        .await;
    assert_eq!(numbers(&body), ["A00000009"]);
}

#[tokio::test]
async fn malformed_queries_get_the_actions_fault_body() {
    let sim = start().await;
    for query in [
        "SELECT Id FROM Account",
        "select Id from Account where LimioExternalId__c = 'it's'",
        "select Id from Account where Name = 'open",
        "select * from Account",
        "select Id from Account where (Name = 'x')",
    ] {
        let (status, body) = sim.zoql(query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(body["faultcode"], "fns:MALFORMED_QUERY", "{query}");
        assert!(body["faultstring"].is_string());
    }
    let (status, body) = sim.zoql("select Bogus from Account").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["faultcode"], "fns:INVALID_FIELD");
    assert_eq!(
        body["faultstring"],
        "invalid field for query: Account.bogus"
    );
    let (status, body) = sim.post_json("/v1/action/query", &json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["faultcode"], "fns:MALFORMED_QUERY");
}

#[tokio::test]
async fn query_more_pages_through_the_result() {
    let sim = start().await;
    let (status, first) = sim
        .post_json(
            "/v1/action/query",
            &json!({"queryString": "select AccountNumber from Account", "conf": {"batchSize": 3}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["done"], false);
    assert_eq!(first["size"], 3);
    let locator = first["queryLocator"].as_str().unwrap();
    assert!(locator.ends_with("-3"));
    let (status, second) = sim
        .post_json("/v1/action/queryMore", &json!({"queryLocator": locator}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(second["done"], true);
    assert_eq!(numbers(&second), ["A00000004"]);
    // A locator is single-use.
    let (status, body) = sim
        .post_json("/v1/action/queryMore", &json!({"queryLocator": locator}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["faultcode"], "fns:INVALID_QUERY_LOCATOR");
    let stats = sim.handle.stats();
    assert_eq!(stats.requests("action_query"), 1);
    assert_eq!(stats.requests("action_query_more"), 2);
}
