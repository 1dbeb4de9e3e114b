//! Catalog edits between syncs (`upsert_product`, `remove_product`, `generate_products`, the
//! `/__sim/products` controls) and `GET /v1/catalog/products` pagination.

mod common;

use common::{Sim, start, start_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use zuora_sim::{SimConfig, generated_product};

const ACME_CLOUD: &str = "8a90a1b27c1f4e2d017c2b3c4d5ec001";
const PREMIUM_SUPPORT: &str = "8a90a1b27c1f4e2d017c2b3c4d5ec002";

/// Follows `nextPage` from `first` to the end; returns every page body.
async fn all_pages(sim: &Sim, first: &str) -> Vec<Value> {
    let mut pages = Vec::new();
    let mut next = Some(sim.url(first));
    while let Some(url) = next {
        let response = sim
            .http
            .get(&url)
            .bearer_auth(&sim.token)
            .send()
            .await
            .unwrap();
        let (status, page) = common::into_json(response).await;
        assert_eq!(status, StatusCode::OK, "{url}");
        assert_eq!(page["success"], true);
        next = page.get("nextPage").map(|url| {
            let url = url.as_str().expect("nextPage is a string").to_string();
            assert!(url.starts_with(&sim.handle.base_url), "{url} is a full URL");
            url
        });
        pages.push(page);
        assert!(pages.len() <= 100, "nextPage never ends");
    }
    pages
}

fn ids(pages: &[Value]) -> Vec<String> {
    pages
        .iter()
        .flat_map(|page| page["products"].as_array().unwrap())
        .map(|product| product["id"].as_str().unwrap().to_string())
        .collect()
}

fn sizes(pages: &[Value]) -> Vec<usize> {
    pages
        .iter()
        .map(|page| page["products"].as_array().unwrap().len())
        .collect()
}

#[tokio::test]
async fn pages_follow_upserts_and_removals() {
    let sim = start().await;
    let before = all_pages(&sim, "/v1/catalog/products?pageSize=2").await;
    assert_eq!(sizes(&before), [2, 1]);

    // Between two syncs: 5 new products, one renamed, one repriced, one removed.
    let generated = sim.handle.generate_products(5);
    assert_eq!(generated.len(), 5);
    let mut acme = sim.handle.product(ACME_CLOUD).unwrap();
    acme["name"] = json!("Acme Cloud 2");
    sim.handle.upsert_product(acme).unwrap();
    let mut third = generated_product(3);
    third["productRatePlans"][0]["productRatePlanCharges"][0]["pricing"][0]["price"] = json!(99.5);
    sim.handle.upsert_product(third).unwrap();
    assert!(sim.handle.remove_product(PREMIUM_SUPPORT));
    assert!(!sim.handle.remove_product(PREMIUM_SUPPORT));
    let catalog = sim.handle.products();
    assert_eq!(catalog.len(), 7);

    // 7 products, 3 per page: 3 + 3 + 1, in catalog order (replacements keep their place).
    let pages = all_pages(&sim, "/v1/catalog/products?page=1&pageSize=3").await;
    assert_eq!(sizes(&pages), [3, 3, 1]);
    assert_eq!(
        pages[0]["nextPage"],
        sim.url("/v1/catalog/products?page=2&pageSize=3")
    );
    assert_eq!(
        pages[1]["nextPage"],
        sim.url("/v1/catalog/products?page=3&pageSize=3")
    );
    assert!(pages[2].get("nextPage").is_none());
    let expected: Vec<String> = catalog
        .iter()
        .map(|product| product["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids(&pages), expected);
    assert_eq!(expected[0], ACME_CLOUD);
    assert!(!expected.contains(&PREMIUM_SUPPORT.to_string()));
    assert_eq!(&expected[2..], &generated[..]);
    assert_eq!(pages[0]["products"][0]["name"], "Acme Cloud 2");
    let repriced = &pages[1]["products"][1];
    assert_eq!(repriced["id"], generated[2]);
    assert_eq!(
        repriced["productRatePlans"][0]["productRatePlanCharges"][0]["pricing"][0]["price"],
        99.5
    );

    // The v1 subscription joins the new product name in.
    let (_, subscription) = sim.get_json("/v1/subscriptions/A-S00000271").await;
    assert_eq!(subscription["ratePlans"][0]["productName"], "Acme Cloud 2");

    // Removing one more leaves exactly two full pages: the second has no nextPage.
    assert!(sim.handle.remove_product(&generated[4]));
    let pages = all_pages(&sim, "/v1/catalog/products?pageSize=3").await;
    assert_eq!(sizes(&pages), [3, 3]);
    assert!(pages[1].get("nextPage").is_none());

    // Past the end: an empty page, still a success, no nextPage.
    let (status, past) = sim.get_json("/v1/catalog/products?page=4&pageSize=3").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(past["products"], json!([]));
    assert_eq!(past["success"], true);
    assert!(past.get("nextPage").is_none());
}

#[tokio::test]
async fn a_hundred_products_in_three_pages_of_forty() {
    let sim = start_with(SimConfig::with_fixtures(
        json!({"accounts": [], "products": []}),
    ))
    .await;
    let generated = sim.handle.generate_products(100);
    // Generating again replaces instead of adding.
    assert_eq!(sim.handle.generate_products(100), generated);
    let pages = all_pages(&sim, "/v1/catalog/products?pageSize=40").await;
    assert_eq!(sizes(&pages), [40, 40, 20]);
    assert_eq!(ids(&pages), generated);
    let product = &pages[2]["products"][19];
    assert_eq!(product, &generated_product(100));
    assert_eq!(product["sku"], "SIM-SKU-000100");
    let plan = &product["productRatePlans"][0];
    assert_eq!(plan["status"], "Active");
    let charge = &plan["productRatePlanCharges"][0];
    assert_eq!(charge["type"], "Recurring");
    assert_eq!(charge["model"], "FlatFee");
    assert_eq!(charge["billingPeriod"], "Month");
    assert_eq!(
        charge["pricing"][0],
        json!({
            "currency": "USD", "price": 20.0, "tiers": null, "includedUnits": null,
            "overagePrice": null, "discountPercentage": null, "discountAmount": null
        })
    );

    // The default page size is 10; the maximum is 40; page and pageSize start at 1.
    let (_, default) = sim.get_json("/v1/catalog/products").await;
    assert_eq!(default["products"].as_array().unwrap().len(), 10);
    assert_eq!(
        default["nextPage"],
        sim.url("/v1/catalog/products?page=2&pageSize=10")
    );
    for bad in ["pageSize=41", "pageSize=0", "page=0", "page=x"] {
        let (status, body) = sim.get_json(&format!("/v1/catalog/products?{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(body["success"], false);
    }
}

#[tokio::test]
async fn invalid_products_are_rejected() {
    let sim = start().await;
    assert!(sim.handle.upsert_product(json!({"name": "no id"})).is_err());
    assert!(sim.handle.upsert_product(json!([1])).is_err());
    assert!(
        sim.handle
            .upsert_product(json!({"id": "p1", "productRatePlans": {}}))
            .is_err()
    );
    assert_eq!(sim.handle.products().len(), 3);
    // Missing rate plan / charge lists are filled in as empty arrays.
    sim.handle
        .upsert_product(json!({"id": "p1", "productRatePlans": [{"id": "rp1"}]}))
        .unwrap();
    let product = sim.handle.product("p1").unwrap();
    assert_eq!(
        product["productRatePlans"][0]["productRatePlanCharges"],
        json!([])
    );
}

async fn send(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    common::into_json(request.send().await.unwrap()).await
}

#[tokio::test]
async fn product_controls_over_http() {
    let sim = start().await;
    let http = &sim.http;
    let (status, products) = send(http.get(sim.url("/__sim/products"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(products.as_array().unwrap().len(), 3);

    let mut product = generated_product(1);
    product["name"] = json!("Over HTTP");
    let (status, _) = send(http.put(sim.url("/__sim/products")).json(&product)).await;
    assert_eq!(status, StatusCode::OK);
    let id = product["id"].as_str().unwrap();
    let (status, stored) = send(http.get(sim.url(&format!("/__sim/products/{id}")))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored["name"], "Over HTTP");
    let (_, page) = sim
        .get_json("/v1/catalog/products?page=1&pageSize=40")
        .await;
    assert_eq!(page["products"][3]["name"], "Over HTTP");

    let (status, body) = send(http.put(sim.url("/__sim/products")).json(&json!({"x": 1}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].is_string());

    let (status, _) = send(http.delete(sim.url(&format!("/__sim/products/{id}")))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = send(http.delete(sim.url(&format!("/__sim/products/{id}")))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "product not found");
    let (status, _) = send(http.get(sim.url(&format!("/__sim/products/{id}")))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, body) = send(
        http.post(sim.url("/__sim/products/generate"))
            .json(&json!({"count": 50})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["count"], 50);
    let (_, products) = send(http.get(sim.url("/__sim/products"))).await;
    assert_eq!(products.as_array().unwrap().len(), 53);
    // Controls are not Zuora calls.
    assert_eq!(sim.handle.stats().requests("catalog_products"), 1);
}
