//! Multi-entity isolation: two entities holding the same Zuora account numbers, each with its
//! own Zuora; a token for one entity can neither read nor write the other's data.

use serde_json::{Value, json};
use stack::app::{AppOptions, TestApp, spawn_app_with};
use zuora_sim::SimConfig;

/// The demo data, with the first account renamed and linked to another CRM account.
fn eu_data() -> SimConfig {
    let mut sim = SimConfig::demo();
    let account = &mut sim.fixtures["accounts"][0];
    account["name"] = json!("Acme Europe GmbH");
    account["crmId"] = json!("001EU0000000001AAA");
    sim
}

async fn two_entities() -> TestApp {
    spawn_app_with(AppOptions {
        other_entities: vec![("eu", eu_data())],
        ..AppOptions::default()
    })
    .await
}

fn bearer(token: String) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn the_same_account_number_is_two_customers_in_two_entities() {
    let app = two_entities().await;
    let (status, default) = app.sync_subscription("A-S00000271").await;
    assert_eq!(status, 200, "{default}");
    let eu_auth = bearer(app.token_for(&["eu"], &["sync"]));
    let (status, eu) = app
        .call(
            "POST",
            "/plugins/zuora/sync/subscription/A-S00000271?entity=eu",
            Some(&eu_auth),
        )
        .await;
    assert_eq!(status, 200, "{eu}");
    assert_ne!(default["owner"], eu["owner"]);
    assert_ne!(default["id"], eu["id"]);

    let eu_id = zuora_sync::model::EntityId::parse("eu").unwrap();
    let records = |entity: zuora_sync::model::EntityId| {
        let store = app.services.store.clone();
        async move {
            use zuora_sync::ports::MirrorStore;
            store
                .load_account(&entity, "8a90a1b27c1f4e2d017c2b3c4d5e0001")
                .await
                .unwrap()
                .records
        }
    };
    let default_records = records(app.entity.clone()).await;
    let eu_records = records(eu_id.clone()).await;
    assert_eq!(
        default_records["CUSTOMER"].attrs["crm_id"],
        "0015g00000XyZabAAB"
    );
    assert_eq!(eu_records["CUSTOMER"].attrs["crm_id"], "001EU0000000001AAA");
    assert_eq!(eu_records["CUSTOMER"].attrs["name"], "Acme Europe GmbH");

    // Each entity's events are its own.
    let (_, events) = app
        .call(
            "GET",
            "/plugins/zuora/entities/eu/events?account=A00000001",
            Some(&eu_auth),
        )
        .await;
    let list = events["events"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{events}");
    assert_eq!(list[0]["entity"], "eu");
    assert_eq!(app.other_sims[0].1.stats().requests["v1_subscription"], 1);
}

#[tokio::test]
async fn a_token_for_one_entity_gets_403_and_touches_nothing_of_another() {
    let app = two_entities().await;
    let auth = bearer(app.token_for(&["default"], &["sync", "admin"]));
    let eu_sim = &app.other_sims[0].1;
    eu_sim.reset_stats();
    app.dynamo_counter.reset();
    let calls: Vec<(&str, &str, Option<Value>)> = vec![
        (
            "POST",
            "/plugins/zuora/sync/subscription/A-S00000271?entity=eu",
            None,
        ),
        (
            "POST",
            "/plugins/zuora/entities/eu/sync/accounts",
            Some(json!({"accounts": ["A00000001"]})),
        ),
        (
            "POST",
            "/plugins/zuora/entities/eu/sync/customers/A00000001",
            None,
        ),
        ("POST", "/plugins/zuora/entities/eu/sync/catalog", None),
        ("GET", "/plugins/zuora/entities/eu/events", None),
        ("GET", "/plugins/zuora/entities/eu/events/some-id", None),
        ("GET", "/plugins/zuora/entities/eu/settings", None),
        (
            "PATCH",
            "/plugins/zuora/entities/eu/settings",
            Some(json!({"version": 0, "sync_mode": "none"})),
        ),
    ];
    for (method, path, body) in calls {
        let (status, answer) = app.call_with_body(method, path, Some(&auth), body).await;
        assert_eq!(status, 403, "{method} {path}: {answer}");
        assert_eq!(answer["code"], "forbidden");
        assert!(answer["message"].as_str().unwrap().contains("eu"));
    }
    assert!(
        eu_sim.stats().requests.values().all(|n| *n == 0),
        "{:?}",
        eu_sim.stats()
    );
    assert!(app.sim.stats().requests.values().all(|n| *n == 0));
    let counts = app.dynamo_counter.snapshot();
    assert!(
        counts.requests.is_empty(),
        "no DynamoDB request at all: {counts:?}"
    );
    assert_eq!(app.queue_counts(&app.queue.queue_url).await.visible, 0);
}

#[tokio::test]
async fn tokens_without_entities_or_for_unknown_entities() {
    let app = two_entities().await;
    let none = bearer(app.token_for(&[], &["sync"]));
    let (status, _) = app
        .call(
            "POST",
            "/plugins/zuora/sync/subscription/A-S00000271",
            Some(&none),
        )
        .await;
    assert_eq!(status, 403);
    let all = bearer(app.token_for(&["*"], &["sync"]));
    let (status, body) = app
        .call("GET", "/plugins/zuora/entities/apac/events", Some(&all))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("unknown_entity"))
    );
    let (status, body) = app
        .call("GET", "/plugins/zuora/entities/a%23b/events", Some(&all))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_entity")),
        "{body}"
    );
    let no_role = bearer(app.token_for(&["default"], &[]));
    let (status, _) = app
        .call(
            "GET",
            "/plugins/zuora/entities/default/events",
            Some(&no_role),
        )
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn the_openapi_document_is_served_without_a_token() {
    let app = two_entities().await;
    for path in [
        "/plugins/zuora/openapi.json",
        "/plugins/zuora/openapi.json/",
    ] {
        let (status, doc) = app.call("GET", path, None).await;
        assert_eq!(status, 200);
        assert!(doc["paths"]["/plugins/zuora/sync/subscription/{id}"]["post"].is_object());
    }
}
