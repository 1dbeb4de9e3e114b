//! The Describe API: an object's fields as XML, custom fields from the data, export contexts.

mod common;

use common::{Sim, reason_code, start};
use reqwest::StatusCode;
use serde_json::json;
use zuora_sim::{Fault, FaultKind};

/// The status, `Content-Type` and body of a describe call.
async fn describe(sim: &Sim, object: &str) -> (StatusCode, String, String) {
    let response = sim.get(&format!("/v1/describe/{object}")).await;
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, content_type, response.text().await.unwrap())
}

/// The `<field>` element named `name`, if the document lists it.
fn field<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let named = format!("<name>{name}</name>");
    xml.split("<field>")
        .skip(1)
        .find(|field| field.contains(&named))
}

fn is_exportable(field: &str) -> bool {
    field.contains("<context>export</context>")
}

#[tokio::test]
async fn account_lists_standard_custom_and_soap_only_fields() {
    let sim = start().await;
    let (status, content_type, xml) = describe(&sim, "Account").await;
    assert_eq!(status, StatusCode::OK, "{xml}");
    assert!(content_type.starts_with("text/xml"), "{content_type}");
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert!(xml.contains("<object>\n  <name>Account</name>"), "{xml}");

    let number = field(&xml, "AccountNumber").expect("a standard field");
    assert!(number.contains("<custom>false</custom>"), "{number}");
    assert!(number.contains("<label>Account Number</label>"), "{number}");
    assert!(is_exportable(number), "{number}");

    let limio = field(&xml, "LimioExternalId__c").expect("the fixtures' custom field");
    assert!(limio.contains("<custom>true</custom>"), "{limio}");
    assert!(is_exportable(limio), "{limio}");
    assert_eq!(xml.matches("<name>LimioExternalId__c</name>").count(), 1);
    // A subscription's custom field is not the account's.
    assert!(field(&xml, "SalesChannel__c").is_none());

    let soap_only = field(&xml, "BillToId").expect("a SOAP-only field");
    assert!(soap_only.contains("<context>soap</context>"), "{soap_only}");
    assert!(!is_exportable(soap_only), "{soap_only}");

    let stats = sim.handle.stats();
    assert_eq!(stats.requests("v1_describe"), 1);
}

#[tokio::test]
async fn other_export_objects_are_described_and_names_ignore_case() {
    let sim = start().await;
    for (object, known) in [
        ("Contact", "WorkEmail"),
        ("PaymentMethod", "CreditCardMaskNumber"),
        ("Subscription", "TermType"),
        ("RatePlan", "ProductRatePlanId"),
        ("RatePlanCharge", "ChargeNumber"),
        ("RatePlanChargeTier", "Price"),
        ("Product", "SKU"),
        ("ProductRatePlan", "Name"),
        ("rateplancharge", "RolloverBalance"),
    ] {
        let (status, _, xml) = describe(&sim, object).await;
        assert_eq!(status, StatusCode::OK, "{object}: {xml}");
        assert!(
            field(&xml, known).is_some(),
            "{object} lists {known}: {xml}"
        );
    }
    let (_, _, xml) = describe(&sim, "Subscription").await;
    assert!(field(&xml, "SalesChannel__c").is_some_and(is_exportable));
    let (_, _, xml) = describe(&sim, "RatePlanCharge").await;
    assert!(!field(&xml, "RolloverBalance").is_some_and(is_exportable));
    assert!(field(&xml, "LimioExternalId__c").is_none());
}

#[tokio::test]
async fn a_custom_field_set_through_the_control_api_appears_escaped() {
    let sim = start().await;
    let url = sim.url("/__sim/accounts/A00000002/fields/Region__c");
    let response = sim.http.put(url).json(&json!("EMEA")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // A name the data may hold but XML must escape.
    assert!(sim.handle.set_field("A00000001", "R&D__c", json!("yes")));

    let (_, _, xml) = describe(&sim, "Account").await;
    let region = field(&xml, "Region__c").expect("the new custom field");
    assert!(region.contains("<custom>true</custom>"), "{region}");
    assert!(is_exportable(region), "{region}");
    assert!(field(&xml, "R&amp;D__c").is_some(), "{xml}");
    assert!(!xml.contains("R&D"), "{xml}");
}

#[tokio::test]
async fn unknown_objects_are_not_found() {
    let sim = start().await;
    let (status, body) = sim.get_json("/v1/describe/Invoice2").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["success"], false);
    assert_eq!(reason_code(&body) % 100, 40);
    assert!(
        body["reasons"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Invoice2")
    );
}

#[tokio::test]
async fn the_gate_applies_auth_and_faults() {
    let sim = start().await;
    let response = sim
        .http
        .get(sim.url("/v1/describe/Account"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    sim.handle
        .add_fault(Fault::new("v1_describe", FaultKind::Status { status: 503 }).times(1));
    let (status, _, _) = describe(&sim, "Account").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let (status, _, _) = describe(&sim, "Account").await;
    assert_eq!(status, StatusCode::OK);
}
