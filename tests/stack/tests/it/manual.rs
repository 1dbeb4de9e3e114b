//! Manual customer sync: every subscription read on its own, each with its outcome.

use serde_json::Value;
use stack::app::{TestApp, spawn_app};
use zuora_sim::{Fault, FaultKind};

const ACCOUNT_ID: &str = "8a90a1b27c1f4e2d017c2b3c4d5e0001";

async fn manual(app: &TestApp, customer: &str) -> (u16, Value) {
    app.admin(
        "POST",
        &format!("/plugins/zuora/entities/default/sync/customers/{customer}"),
        None,
    )
    .await
}

fn outcome<'a>(body: &'a Value, number: &str) -> &'a Value {
    body["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["number"] == number)
        .unwrap_or_else(|| panic!("{number} missing from {body}"))
}

#[tokio::test]
async fn one_failing_subscription_is_named_and_the_others_are_stored() {
    let app = spawn_app().await;
    // The three mirrored subscriptions of A00000001 are 271 (Active), 273 (Cancelled) and
    // 274 (Pending Activation); 272 is a Draft.
    app.sim.add_fault(
        Fault::new("v1_subscription", FaultKind::Status { status: 500 }).matching("A-S00000273"),
    );

    let (status, body) = manual(&app, "A00000001").await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], false);
    assert_eq!(body["code"], "subscriptions_failed");
    let failed = body["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{body}");
    assert_eq!(failed[0]["number"], "A-S00000273");
    let name = failed[0]["name"].as_str().unwrap();
    assert!(
        !name.is_empty() && name != "A-S00000273",
        "a product name: {name}"
    );
    assert_eq!(failed[0]["code"], "zuora_unavailable");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("A-S00000273") && message.contains(name),
        "{message}"
    );
    assert_eq!(outcome(&body, "A-S00000271")["outcome"], "synced");
    assert_eq!(outcome(&body, "A-S00000274")["outcome"], "synced");
    assert_eq!(outcome(&body, "A-S00000272")["outcome"], "not_synced");
    assert_eq!(outcome(&body, "A-S00000273")["outcome"], "failed");

    let records = app.mirror_records(ACCOUNT_ID).await;
    assert!(records.contains_key("SUB#A-S00000271"));
    assert!(records.contains_key("SUB#A-S00000274"));
    assert!(!records.contains_key("SUB#A-S00000273"));
    // Each subscription was read on its own: the v1 form carries charge prices.
    let data: Value = serde_json::from_str(&records["SUB#A-S00000271"].data).unwrap();
    assert!(
        data["rate_plans"][0]["charges"][0]["price"].is_string(),
        "{data}"
    );

    let event_id = body["event_id"].as_str().unwrap();
    let (_, event) = app
        .admin(
            "GET",
            &format!("/plugins/zuora/entities/default/events/{event_id}"),
            None,
        )
        .await;
    assert_eq!(event["trigger"], "manual");
    assert_eq!(event["status"], "failed");
    assert_eq!(event["failures"][0]["number"], "A-S00000273");
    assert_eq!(event["notification_level"], "all_including_zero");
    assert_eq!(event["notify"], true);
}

#[tokio::test]
async fn a_subscription_that_fails_later_keeps_its_stored_copy() {
    let app = spawn_app().await;
    let (status, first) = manual(&app, "A00000001").await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["success"], true, "{first}");
    let customer = first["customer"].as_str().unwrap().to_string();
    let before = app.mirror_records(ACCOUNT_ID).await["SUB#A-S00000273"].clone();

    // Zuora changes it, but cannot return it: the last good copy stays.
    app.sim.set_subscription_status("A-S00000273", "Active");
    app.sim.add_fault(
        Fault::new("v1_subscription", FaultKind::Status { status: 404 }).matching("A-S00000273"),
    );
    let (status, body) = manual(&app, &customer).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], false);
    assert_eq!(body["customer"], customer.as_str(), "found by local id");
    let after = app.mirror_records(ACCOUNT_ID).await["SUB#A-S00000273"].clone();
    assert_eq!(after, before);
    // The kept subscription still answers with its local id.
    assert_eq!(
        outcome(&body, "A-S00000273")["id"],
        outcome(&first, "A-S00000273")["id"]
    );
    assert!(outcome(&first, "A-S00000273")["id"].is_string());

    app.sim.clear_faults();
    let (_, healed) = manual(&app, &customer).await;
    assert_eq!(healed["success"], true, "{healed}");
    let healed_record = app.mirror_records(ACCOUNT_ID).await["SUB#A-S00000273"].clone();
    assert_eq!(healed_record.attrs["status"], "Active");
    assert_eq!(healed_record.id, before.id, "same local id");
}

#[tokio::test]
async fn unknown_customers_and_accounts_are_404() {
    let app = spawn_app().await;
    let (status, body) = manual(&app, "cus_0000000000000000000000000000").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("customer_not_found")),
        "{body}"
    );
    let (status, body) = manual(&app, "A99999999").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("zuora_not_found")),
        "{body}"
    );
    let (status, body) = manual(&app, "A%2F1").await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("customer")),
        "{body}"
    );
}
