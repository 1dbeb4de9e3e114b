//! Generated accounts (`SimHandle::generate_accounts`) for bulk tests.

mod common;

use std::collections::HashSet;
use std::time::Instant;

use common::{start, start_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use zuora_sim::SimConfig;

const EXPANDS: &str = "expand[]=billto&expand[]=soldto&expand[]=defaultpaymentmethod\
&expand[]=paymentmethods&expand[]=subscriptions.rateplans.rateplancharges";

#[tokio::test]
async fn ten_thousand_accounts_are_readable_through_object_query_zoql_and_v1() {
    let sim = start().await;
    let started = Instant::now();
    let ids = sim.handle.generate_accounts(10_000, "GEN").unwrap();
    let took = started.elapsed();
    eprintln!("generate_accounts(10_000) took {took:?}");
    assert!(
        took.as_secs() < 20,
        "generating 10,000 accounts took {took:?}"
    );
    assert_eq!(ids.len(), 10_000);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 10_000);
    assert!(
        ids.iter()
            .all(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
    );

    // Object query, by number and by id, every expand.
    let started = Instant::now();
    let (status, account) = sim
        .get_json(&format!("/object-query/accounts/GEN00000042?{EXPANDS}"))
        .await;
    eprintln!("object query by key took {:?}", started.elapsed());
    assert_eq!(status, StatusCode::OK);
    assert_eq!(account["id"], ids[41]);
    assert_eq!(account["accountNumber"], "GEN00000042");
    assert_eq!(account["status"], "Active");
    assert_eq!(account["currency"], "USD");
    assert_eq!(account["LimioExternalId__c"], "limio-GEN00000042");
    assert_eq!(account["billToId"], account["billTo"]["id"]);
    assert_eq!(
        account["billTo"]["workEmail"],
        "gen00000042@generated.example"
    );
    assert_eq!(account["defaultPaymentMethod"]["type"], "CreditCard");
    assert_eq!(
        account["defaultPaymentMethodId"],
        account["paymentMethods"][0]["id"]
    );
    let subscriptions = account["subscriptions"].as_array().unwrap();
    assert_eq!(subscriptions.len(), 1);
    assert_eq!(subscriptions[0]["name"], "GEN-S00000042");
    assert_eq!(subscriptions[0]["status"], "Active");
    assert_eq!(subscriptions[0]["isLatestVersion"], true);
    let plans = subscriptions[0]["ratePlans"].as_array().unwrap();
    assert_eq!(plans.len(), 1);
    let charges = plans[0]["ratePlanCharges"].as_array().unwrap();
    assert_eq!(charges.len(), 1);
    assert_eq!(charges[0]["chargeNumber"], "GEN-C00000042");
    assert!(charges[0].get("price").is_none());
    let (status, last) = sim
        .get_json(&format!("/object-query/accounts/{}", ids[9_999]))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(last["accountNumber"], "GEN00010000");

    // Object-query list with a filter, and updatedDate rising with the index.
    let started = Instant::now();
    let (status, page) = sim
        .get_json(
            "/object-query/accounts?filter[]=updatedDate.GE:2025-01-07T14:00:00Z\
             &sort[]=updatedDate.ASC&pageSize=99",
        )
        .await;
    eprintln!("object query list took {:?}", started.elapsed());
    assert_eq!(status, StatusCode::OK);
    let data = page["data"].as_array().unwrap();
    assert_eq!(data.len(), 99);
    // 2025-01-07T14:00:00Z is 9,480 minutes after 2025-01-01T00:00:00Z.
    assert_eq!(data[0]["accountNumber"], "GEN00009480");
    assert!(page["nextPage"].is_string());

    // ZOQL sees all of them, in 2000-record batches.
    let started = Instant::now();
    let (status, mut batch) = sim
        .zoql("select Id, AccountNumber from Account where AccountNumber >= 'GEN'")
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut numbers = Vec::new();
    loop {
        for record in batch["records"].as_array().unwrap() {
            numbers.push(record["AccountNumber"].as_str().unwrap().to_string());
        }
        if batch["done"] == true {
            break;
        }
        let locator = batch["queryLocator"].as_str().unwrap().to_string();
        let (status, next) = sim
            .post_json("/v1/action/queryMore", &json!({"queryLocator": locator}))
            .await;
        assert_eq!(status, StatusCode::OK);
        batch = next;
    }
    eprintln!("ZOQL over all accounts took {:?}", started.elapsed());
    assert_eq!(numbers.len(), 10_000);
    assert_eq!(numbers.iter().collect::<HashSet<_>>().len(), 10_000);

    // v1: account, its subscriptions, one subscription (joined with the catalog), payment methods.
    let started = Instant::now();
    let (status, v1) = sim.get_json("/v1/accounts/GEN00005000").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v1["basicInfo"]["id"], ids[4_999]);
    assert_eq!(v1["basicInfo"]["status"], "Active");
    assert_eq!(v1["billToContact"]["zipCode"], "94105");
    assert_eq!(v1["soldToContact"]["id"], v1["billToContact"]["id"]);
    let (status, list) = sim.get_json("/v1/subscriptions/accounts/GEN00005000").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["subscriptions"].as_array().unwrap().len(), 1);
    assert_eq!(
        list["subscriptions"][0]["subscriptionNumber"],
        "GEN-S00005000"
    );
    let (status, sub) = sim.get_json("/v1/subscriptions/GEN-S00005000").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sub["status"], "Active");
    assert_eq!(sub["accountNumber"], "GEN00005000");
    // The demo catalog's first product / rate plan / charge.
    let plan = &sub["ratePlans"][0];
    assert_eq!(plan["productName"], "Acme Cloud");
    assert_eq!(plan["ratePlanName"], "Pro Monthly");
    assert_eq!(plan["ratePlanCharges"][0]["price"], 1100.0);
    assert_eq!(plan["ratePlanCharges"][0]["pricingSummary"], "USD1100");
    let (status, methods) = sim
        .get_json("/v1/accounts/GEN00005000/payment-methods")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(methods["creditcard"][0]["isDefault"], true);
    assert_eq!(methods["creditcard"][0]["cardNumber"], "************4242");
    eprintln!("four v1 calls took {:?}", started.elapsed());

    // The demo data is untouched.
    let (status, demo) = sim.get_json("/v1/accounts/A00000001").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(demo["basicInfo"]["name"], "Acme Robotics Ltd");
}

/// Every account number an object-query list returns, following `nextPage` cursors.
async fn list_numbers(sim: &common::Sim, query: &str) -> Vec<String> {
    let mut numbers = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/object-query/accounts?{query}&cursor={cursor}"),
            None => format!("/object-query/accounts?{query}"),
        };
        let (status, page) = sim.get_json(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        for account in page["data"].as_array().unwrap() {
            numbers.push(account["accountNumber"].as_str().unwrap().to_string());
        }
        match page["nextPage"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return numbers,
        }
    }
}

#[tokio::test]
async fn generated_accounts_page_through_object_query_lists() {
    let sim = start().await;
    sim.handle.generate_accounts(250, "BULK").unwrap();
    let numbers = list_numbers(
        &sim,
        "filter[]=accountNumber.SW:BULK&sort[]=updatedDate.DESC&pageSize=99",
    )
    .await;
    let expected: Vec<String> = (1..=250).rev().map(|i| format!("BULK{i:08}")).collect();
    assert_eq!(numbers, expected);
    // By the custom field too.
    let (_, page) = sim
        .get_json("/object-query/accounts?filter[]=LimioExternalId__c.EQ:limio-BULK00000007")
        .await;
    assert_eq!(page["data"][0]["accountNumber"], "BULK00000007");
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
}

/// The account children as lists of their own, as reconciliation reads them: each record
/// names its account, and filters and sorts apply to the record's own fields.
#[tokio::test]
async fn children_are_listed_on_their_own_with_their_account() {
    let sim = start().await;
    sim.handle.generate_accounts(30, "KID").unwrap();
    for list in ["subscriptions", "payment-methods", "contacts"] {
        let (status, page) = sim
            .get_json(&format!(
                "/object-query/{list}?filter[]=updatedDate.GT:2025-01-01T00:10:00Z&sort[]=updatedDate.ASC&pageSize=99"
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{list}: {page}");
        let data = page["data"].as_array().unwrap();
        assert!(!data.is_empty(), "{list}");
        assert!(data.iter().all(|r| r["accountId"].is_string()), "{list}");
        let times: Vec<&str> = data
            .iter()
            .map(|r| r["updatedDate"].as_str().unwrap())
            .collect();
        assert!(
            times.windows(2).all(|w| w[0] <= w[1]),
            "{list} sorted: {times:?}"
        );
    }
    // Ties by id, after a given id.
    let (_, all) = sim
        .get_json("/object-query/contacts?sort[]=id.ASC&pageSize=99")
        .await;
    let ids: Vec<&str> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let (_, after) = sim
        .get_json(&format!(
            "/object-query/contacts?filter[]=id.GT:{}&sort[]=id.ASC&pageSize=99",
            ids[0]
        ))
        .await;
    assert_eq!(after["data"].as_array().unwrap().len(), ids.len() - 1);
    let (status, _) = sim.get_json("/object-query/unknownthings").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn generating_again_replaces_and_prefixes_do_not_collide() {
    let sim = start().await;
    let first = sim.handle.generate_accounts(20, "GEN").unwrap();
    sim.handle
        .set_field("GEN00000005", "name", json!("Renamed"));
    let again = sim.handle.generate_accounts(20, "GEN").unwrap();
    assert_eq!(first, again);
    assert_eq!(
        sim.handle.account("GEN00000005").unwrap()["name"],
        "Generated Customer GEN00000005"
    );
    let other = sim.handle.generate_accounts(20, "OTHER").unwrap();
    assert!(other.iter().all(|id| !first.contains(id)));
    let (_, result) = sim
        .zoql("select Id from Account where AccountNumber >= 'A'")
        .await;
    assert_eq!(result["size"], 4 + 20 + 20);

    // "A" would reuse the demo's A00000001 and A-S00000271: refused, nothing added.
    let error = sim.handle.generate_accounts(300, "A").unwrap_err();
    assert!(error.contains("A00000001"), "{error}");
    let (_, result) = sim
        .zoql("select Id from Account where AccountNumber >= 'A'")
        .await;
    assert_eq!(result["size"], 44);
    assert_eq!(
        sim.handle.account("A00000001").unwrap()["name"],
        "Acme Robotics Ltd"
    );
}

#[tokio::test]
async fn an_empty_catalog_gets_generated_product_one() {
    let sim = start_with(SimConfig::with_fixtures(
        json!({"accounts": [], "products": []}),
    ))
    .await;
    let ids = sim.handle.generate_accounts(3, "GEN").unwrap();
    assert_eq!(ids.len(), 3);
    let products = sim.handle.products();
    assert_eq!(products, [zuora_sim::generated_product(1)]);
    let (status, sub) = sim.get_json("/v1/subscriptions/GEN-S00000003").await;
    assert_eq!(status, StatusCode::OK);
    let plan = &sub["ratePlans"][0];
    assert_eq!(plan["productId"], products[0]["id"]);
    assert_eq!(plan["productName"], "Generated Product 000001");
    assert_eq!(plan["ratePlanCharges"][0]["price"], 11.0);
    assert_eq!(plan["ratePlanCharges"][0]["mrr"], 11.0);
    assert_eq!(sub["totalContractedValue"], 132.0);
}

#[tokio::test]
async fn accounts_generated_over_http() {
    let sim = start().await;
    let url = sim.url("/__sim/accounts/generate");
    let response = sim
        .http
        .post(&url)
        .json(&json!({"count": 25, "prefix": "HTTP"}))
        .send()
        .await
        .unwrap();
    let (status, body): (StatusCode, Value) = common::into_json(response).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["count"], 25);
    let (status, account) = sim.get_json("/v1/accounts/HTTP00000025").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(account["basicInfo"]["status"], "Active");
    let response = sim
        .http
        .post(&url)
        .json(&json!({"count": 2, "prefix": "A"}))
        .send()
        .await
        .unwrap();
    let (status, body): (StatusCode, Value) = common::into_json(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].is_string());
}
