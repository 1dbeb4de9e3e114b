//! The v1 endpoints, not-found styles, the catalog and data mutations.

mod common;

use common::{reason_code, start, start_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use zuora_sim::{NotFoundStyle, SimConfig};

#[tokio::test]
async fn account_shape() {
    let sim = start().await;
    let (status, body) = sim.get_json("/v1/accounts/A00000001").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["success"], true);
    let basic = &body["basicInfo"];
    assert_eq!(basic["accountNumber"], "A00000001");
    assert_eq!(basic["status"], "Active");
    assert_eq!(basic["crmId"], "0015g00000XyZabAAB");
    assert_eq!(basic["LimioExternalId__c"], "limio-cust-0001");
    assert_eq!(body["billingAndPayment"]["currency"], "USD");
    assert_eq!(
        body["billingAndPayment"]["additionalEmailAddresses"],
        json!(["billing@acme.example", "cfo@acme.example"])
    );
    assert_eq!(body["metrics"]["contractedMrr"], 1075.0);
    assert_eq!(body["billToContact"]["zipCode"], "94105");
    assert_eq!(body["soldToContact"]["zipCode"], "10010");
    // v1 keeps null fields.
    assert!(body["soldToContact"]["address2"].is_null());
    assert!(body["soldToContact"].get("address2").is_some());
}

#[tokio::test]
async fn subscriptions_by_account_follow_next_page_urls() {
    let sim = start().await;
    let (status, page1) = sim
        .get_json("/v1/subscriptions/accounts/A00000001?pageSize=2")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page1["success"], true);
    assert_eq!(page1["subscriptions"].as_array().unwrap().len(), 2);
    let next = page1["nextPage"].as_str().unwrap();
    assert_eq!(
        next,
        sim.url("/v1/subscriptions/accounts/A00000001?page=2&pageSize=2")
    );
    let page2 = sim
        .http
        .get(next)
        .bearer_auth(&sim.token)
        .send()
        .await
        .unwrap();
    let (_, page2) = common::into_json(page2).await;
    assert!(page2.get("nextPage").is_none());
    let all: Vec<Value> = [page1, page2]
        .iter()
        .flat_map(|page| page["subscriptions"].as_array().unwrap().clone())
        .collect();
    let mut numbers: Vec<_> = all
        .iter()
        .map(|sub| sub["subscriptionNumber"].as_str().unwrap())
        .collect();
    numbers.sort();
    assert_eq!(
        numbers,
        ["A-S00000271", "A-S00000272", "A-S00000273", "A-S00000274"]
    );
    assert!(all.iter().all(|sub| sub["status"] != "Expired"));
    let (_, default_page) = sim.get_json("/v1/subscriptions/accounts/A00000001").await;
    assert_eq!(default_page["subscriptions"].as_array().unwrap().len(), 4);
    assert!(default_page.get("nextPage").is_none());
    let (_, none) = sim.get_json("/v1/subscriptions/accounts/A00000003").await;
    assert_eq!(none["subscriptions"], json!([]));
}

#[tokio::test]
async fn subscriptions_page_size_is_capped_at_40() {
    let sim = start().await;
    for query in ["pageSize=41", "pageSize=0", "page=0"] {
        let (status, body) = sim
            .get_json(&format!("/v1/subscriptions/accounts/A00000001?{query}"))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(body["success"], false);
    }
    let (status, _) = sim
        .get_json("/v1/subscriptions/accounts/A00000001?pageSize=40")
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn subscription_by_number_or_version_id() {
    let sim = start().await;
    let (status, latest) = sim.get_json("/v1/subscriptions/A-S00000271").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(latest["success"], true);
    assert_eq!(latest["version"], 2);
    assert_eq!(latest["status"], "Active");
    assert_eq!(latest["isLatestVersion"], true);
    assert_eq!(latest["accountNumber"], "A00000001");
    let plans = latest["ratePlans"].as_array().unwrap();
    assert_eq!(plans.len(), 2);
    assert_eq!(plans[0]["productName"], "Acme Cloud");
    assert_eq!(plans[0]["ratePlanCharges"][0]["price"], 12000.0);
    assert_eq!(plans[0]["ratePlanCharges"][0]["number"], "C-00000501");

    let (_, old) = sim
        .get_json("/v1/subscriptions/8a90a1b27c1f4e2d017c2b3c4d5e9001")
        .await;
    assert_eq!(old["version"], 1);
    assert_eq!(old["status"], "Expired");
    assert_eq!(old["isLatestVersion"], false);
    let (_, pending) = sim.get_json("/v1/subscriptions/A-S00000274").await;
    assert_eq!(pending["status"], "Pending Activation");
}

#[tokio::test]
async fn payment_methods_grouped_by_type() {
    let sim = start().await;
    let (status, body) = sim.get_json("/v1/accounts/A00000001/payment-methods").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["success"], true);
    assert_eq!(
        body["defaultPaymentMethodId"],
        "8a90a1b27c1f4e2d017c2b3c4d5e8001"
    );
    let card = &body["creditcard"][0];
    assert_eq!(card["type"], "CreditCard");
    assert_eq!(card["isDefault"], true);
    assert_eq!(card["status"], "Active");
    assert_eq!(card["cardNumber"], "************1111");
    assert_eq!(card["expirationYear"], 2027);
    assert_eq!(
        card["accountHolderInfo"]["accountHolderName"],
        "Ada Lovelace"
    );
    assert_eq!(card["lastTransactionDateTime"], "2025-03-01 10:15:00");
    let ach = &body["ach"][0];
    assert_eq!(ach["isDefault"], false);
    assert_eq!(ach["bankAccountNumber"], "********6789");
    assert_eq!(ach["bankName"], "Chase");
    let (_, empty) = sim.get_json("/v1/accounts/A00000003/payment-methods").await;
    assert_eq!(empty["success"], true);
    assert!(empty.get("creditcard").is_none());
}

const V1_PATHS: [&str; 4] = [
    "/v1/accounts/A-NOPE",
    "/v1/subscriptions/accounts/A-NOPE",
    "/v1/subscriptions/A-NOPE",
    "/v1/accounts/A-NOPE/payment-methods",
];

fn assert_not_found_body(body: &Value) {
    assert_eq!(body["success"], false);
    assert_eq!(reason_code(body), 50000040);
    assert_eq!(
        body["reasons"][0]["message"],
        "Cannot find entity by key: 'A-NOPE'."
    );
    assert_eq!(body["processId"].as_str().unwrap().len(), 16);
}

#[tokio::test]
async fn not_found_as_http_404() {
    let sim = start().await;
    for path in V1_PATHS {
        let (status, body) = sim.get_json(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_not_found_body(&body);
    }
}

#[tokio::test]
async fn not_found_as_http_200_success_false() {
    let mut config = SimConfig::demo();
    config.not_found_style = NotFoundStyle::Http200SuccessFalse;
    let sim = start_with(config).await;
    for path in V1_PATHS {
        let (status, body) = sim.get_json(path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_not_found_body(&body);
    }
    // Object queries are a newer API: always 404.
    let (status, _) = sim.get_json("/object-query/accounts/A-NOPE").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    sim.handle.set_not_found_style(NotFoundStyle::Http404);
    let (status, _) = sim.get_json(V1_PATHS[0]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn catalog_pages() {
    let sim = start().await;
    let (status, page1) = sim.get_json("/v1/catalog/products?pageSize=2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page1["success"], true);
    assert_eq!(page1["products"].as_array().unwrap().len(), 2);
    let plan = &page1["products"][0]["productRatePlans"][0];
    assert_eq!(
        plan["productRatePlanCharges"][0]["pricing"][0]["price"],
        1100.0
    );
    let next = page1["nextPage"].as_str().unwrap();
    assert_eq!(next, sim.url("/v1/catalog/products?page=2&pageSize=2"));
    let (_, page2) = sim.get_json("/v1/catalog/products?page=2&pageSize=2").await;
    assert_eq!(page2["products"].as_array().unwrap().len(), 1);
    assert!(page2.get("nextPage").is_none());
    let (status, _) = sim.get_json("/v1/catalog/products?pageSize=41").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn mutations_show_in_both_shapes() {
    let sim = start().await;
    assert!(sim.handle.set_subscription_status("A-S00000272", "Active"));
    let (_, v1) = sim.get_json("/v1/subscriptions/A-S00000272").await;
    assert_eq!(v1["status"], "Active");
    let (_, oq) = sim
        .get_json("/object-query/accounts/A00000001?expand[]=subscriptions")
        .await;
    let draft = oq["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|sub| sub["name"] == "A-S00000272")
        .unwrap();
    assert_eq!(draft["status"], "Active");
    assert_eq!(
        draft["updatedDate"],
        canonical_updated_date(&sim, "A-S00000272")
    );

    assert!(sim.handle.remove_subscription("A-S00000271"));
    let (status, _) = sim.get_json("/v1/subscriptions/A-S00000271").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, oq) = sim
        .get_json("/object-query/accounts/A00000001?expand[]=subscriptions")
        .await;
    assert_eq!(oq["subscriptions"].as_array().unwrap().len(), 3);

    assert!(
        sim.handle
            .set_field("A00000002", "LimioExternalId__c", json!("moved"))
    );
    let (_, v1) = sim.get_json("/v1/accounts/A00000002").await;
    assert_eq!(v1["basicInfo"]["LimioExternalId__c"], "moved");
    let account = sim.handle.account("A00000002").unwrap();
    assert_ne!(account["updatedDate"], "2025-02-01T12:00:00-08:00");
    assert!(!sim.handle.set_field("A-NOPE", "name", json!("x")));

    let mut copy = sim.handle.account("A00000003").unwrap();
    copy["id"] = json!("ffffffffffffffffffffffffffffffff");
    copy["accountNumber"] = json!("A00000005");
    sim.handle.upsert_account(copy).unwrap();
    let (status, body) = sim.get_json("/object-query/accounts/A00000005").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["id"], "ffffffffffffffffffffffffffffffff");
    assert!(sim.handle.upsert_account(json!({"name": "no id"})).is_err());
}

fn canonical_updated_date(sim: &common::Sim, number: &str) -> Value {
    let account = sim.handle.account("A00000001").unwrap();
    account["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|sub| sub["name"] == number)
        .map(|sub| sub["updatedDate"].clone())
        .unwrap()
}
