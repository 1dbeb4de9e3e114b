//! `GET /object-query/accounts/{key}` and `GET /object-query/accounts`.

mod common;

use common::{Sim, reason_code, start};
use reqwest::StatusCode;
use serde_json::Value;

const ALL_EXPANDS: &str = "expand[]=billto&expand[]=soldto&expand[]=defaultpaymentmethod\
&expand[]=paymentmethods&expand[]=subscriptions.rateplans.rateplancharges";

fn names(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|item| item[key].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn account_with_every_expand() {
    let sim = start().await;
    let (status, account) = sim
        .get_json(&format!("/object-query/accounts/A00000001?{ALL_EXPANDS}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(account.get("success").is_none());
    assert_eq!(account["id"].as_str().unwrap().len(), 32);
    assert_eq!(account["crmId"], "0015g00000XyZabAAB");
    assert_eq!(account["LimioExternalId__c"], "limio-cust-0001");
    assert_eq!(account["billTo"]["postalCode"], "94105");
    assert_eq!(account["soldTo"]["city"], "New York");
    assert_eq!(account["billToId"], account["billTo"]["id"]);
    assert_eq!(account["defaultPaymentMethod"]["creditCardType"], "Visa");
    assert_eq!(
        names(&account["paymentMethods"], "type"),
        ["CreditCard", "ACH"]
    );

    let subscriptions = account["subscriptions"].as_array().unwrap();
    assert_eq!(subscriptions.len(), 5);
    let versions: Vec<_> = subscriptions
        .iter()
        .filter(|sub| sub["name"] == "A-S00000271")
        .map(|sub| {
            (
                sub["version"].as_i64().unwrap(),
                sub["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(versions, [(1, "Expired"), (2, "Active")]);
    assert!(
        subscriptions
            .iter()
            .all(|sub| sub.get("subscriptionNumber").is_none())
    );
    let statuses = names(&account["subscriptions"], "status");
    assert!(statuses.contains(&"Pending Activation".to_string()));
    assert!(statuses.contains(&"Draft".to_string()));
    assert!(statuses.contains(&"Cancelled".to_string()));

    let active = &subscriptions[1];
    assert_eq!(active["isLatestVersion"], true);
    assert_eq!(active["ratePlans"].as_array().unwrap().len(), 2);
    let charge = &active["ratePlans"][0]["ratePlanCharges"][0];
    assert_eq!(charge["chargeNumber"], "C-00000501");
    assert!(
        charge.get("price").is_none(),
        "object queries have no charge price"
    );
    // Object queries omit null fields.
    assert!(account["soldTo"].get("address2").is_none());
}

#[tokio::test]
async fn only_expanded_children_appear() {
    let sim = start().await;
    let (_, account) = sim.get_json("/object-query/accounts/A00000001").await;
    for child in [
        "billTo",
        "soldTo",
        "defaultPaymentMethod",
        "paymentMethods",
        "subscriptions",
    ] {
        assert!(account.get(child).is_none(), "{child}");
    }
    let (_, account) = sim
        .get_json("/object-query/accounts/A00000001?expand[]=SUBSCRIPTIONS")
        .await;
    assert!(account["subscriptions"][0].get("ratePlans").is_none());
}

#[tokio::test]
async fn expanded_children_are_truncated_at_page_size() {
    let sim = start().await;
    let (_, account) = sim
        .get_json(&format!(
            "/object-query/accounts/A00000001?pageSize=1&{ALL_EXPANDS}"
        ))
        .await;
    assert_eq!(account["subscriptions"].as_array().unwrap().len(), 1);
    assert_eq!(account["paymentMethods"].as_array().unwrap().len(), 1);
    let (_, account) = sim
        .get_json(&format!(
            "/object-query/accounts/A00000001?pageSize=2&{ALL_EXPANDS}"
        ))
        .await;
    let active = &account["subscriptions"][1];
    assert_eq!(
        active["ratePlans"][0]["ratePlanCharges"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let (_, account) = sim
        .get_json("/object-query/accounts/A00000001?pageSize=3&expand[]=subscriptions")
        .await;
    assert_eq!(account["subscriptions"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn lookup_by_id_unknown_key_and_bad_parameters() {
    let sim = start().await;
    let (status, account) = sim
        .get_json("/object-query/accounts/8a90a1b27c1f4e2d017c2b3c4d5e0002")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(account["accountNumber"], "A00000002");

    let (status, body) = sim.get_json("/object-query/accounts/A99999999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(reason_code(&body), 50000040);
    assert_eq!(
        body["reasons"][0]["message"],
        "Cannot find entity by key: 'A99999999'."
    );

    for query in [
        "pageSize=0",
        "pageSize=100",
        "pageSize=ten",
        "expand[]=invoicez",
    ] {
        let (status, body) = sim
            .get_json(&format!("/object-query/accounts/A00000001?{query}"))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(body["success"], false);
    }
}

async fn list(sim: &Sim, params: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = sim
        .http
        .get(sim.url("/object-query/accounts"))
        .bearer_auth(&sim.token)
        .query(params)
        .send()
        .await
        .unwrap();
    common::into_json(response).await
}

async fn numbers_matching(sim: &Sim, filters: &[&str]) -> Vec<String> {
    let params: Vec<_> = filters.iter().map(|filter| ("filter[]", *filter)).collect();
    let (status, body) = list(sim, &params).await;
    assert_eq!(status, StatusCode::OK, "{filters:?}: {body}");
    assert!(body.get("success").is_none());
    names(&body["data"], "accountNumber")
}

#[tokio::test]
async fn list_filters() {
    let sim = start().await;
    let shared = ["A00000002", "A00000003"];
    assert_eq!(
        numbers_matching(&sim, &["LimioExternalId__c.EQ:limio-shared-42"]).await,
        shared
    );
    assert_eq!(
        numbers_matching(&sim, &["limioexternalid__c.eq:limio-shared-42"]).await,
        shared
    );
    assert_eq!(
        numbers_matching(&sim, &["LimioExternalId__c.EQ:o'brien\\7"]).await,
        ["A00000004"]
    );
    assert_eq!(
        numbers_matching(&sim, &["name.EQ:Acme Robotics Ltd"]).await,
        ["A00000001"]
    );
    assert_eq!(numbers_matching(&sim, &["name.SW:zo"]).await, ["A00000004"]);
    assert_eq!(
        numbers_matching(&sim, &["accountNumber.IN:[A00000001,A00000003]"]).await,
        ["A00000001", "A00000003"]
    );
    assert_eq!(
        numbers_matching(&sim, &["currency.NE:USD", "status.EQ:Active"]).await,
        ["A00000003"]
    );
    assert_eq!(
        numbers_matching(&sim, &["updatedDate.GT:2025-03-02T00:00:00Z"]).await,
        ["A00000001", "A00000004"]
    );
    assert_eq!(
        numbers_matching(&sim, &["updateddate.LE:2025-03-01"]).await,
        ["A00000002"]
    );
    assert_eq!(
        numbers_matching(&sim, &["crmId.EQ:null"]).await,
        ["A00000003", "A00000004"]
    );
    assert_eq!(
        numbers_matching(&sim, &["billCycleDay.GE:15"]).await,
        ["A00000002"]
    );
    assert!(
        numbers_matching(&sim, &["LimioExternalId__c.EQ:nobody"])
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn list_rejects_bad_filters() {
    let sim = start().await;
    for filter in [
        "nosuchfield.EQ:x",
        "name.LIKE:x",
        "name",
        "accountNumber.IN:A00000001",
    ] {
        let (status, body) = list(&sim, &[("filter[]", filter)]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{filter}");
        assert_eq!(reason_code(&body), 50000027, "{filter}");
    }
    let (status, _) = list(&sim, &[("cursor", "not-a-cursor")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn list_pages_with_cursors() {
    let sim = start().await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut params = vec![
            ("pageSize", "1".to_string()),
            ("expand[]", "billto".to_string()),
        ];
        if let Some(cursor) = &cursor {
            params.push(("cursor", cursor.clone()));
        }
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, body) = list(&sim, &params).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["data"].as_array().unwrap().len(), 1);
        assert!(body["data"][0]["billTo"].is_object());
        seen.extend(names(&body["data"], "accountNumber"));
        match body.get("nextPage") {
            Some(next) => cursor = Some(next.as_str().unwrap().to_string()),
            None => break,
        }
    }
    assert_eq!(seen, ["A00000001", "A00000002", "A00000003", "A00000004"]);
    let (_, body) = list(&sim, &[("sort[]", "name.DESC"), ("pageSize", "2")]).await;
    assert_eq!(
        names(&body["data"], "accountNumber"),
        ["A00000004", "A00000003"]
    );
}
