//! Settings per entity: validation that names the field, and optimistic versions.

use serde_json::{Value, json};
use stack::app::{TestApp, spawn_app};

const SETTINGS: &str = "/plugins/zuora/entities/default/settings";

async fn patch(app: &TestApp, body: Value) -> (u16, Value) {
    app.admin("PATCH", SETTINGS, Some(body)).await
}

#[tokio::test]
async fn defaults_then_updates_with_versions() {
    let app = spawn_app().await;
    let (status, body) = app.admin("GET", SETTINGS, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["version"], 0);
    assert_eq!(body["settings"]["sync_mode"], "none");
    assert_eq!(body["settings"]["max_events_before_sync"], 10);
    assert_eq!(body["settings"]["max_minutes_between_syncs"], 120);
    assert_eq!(body["settings"]["notification_level"], "all_including_zero");

    let claims = json!([
        {"claim": "custom:zuora_account", "service": "zuora", "issuer": "zuora", "type": "account"},
        {"claim": "email", "service": "zuora", "issuer": "zuora", "type": "lookup", "account_field": "LimioExternalId__c"}
    ]);
    let (status, body) = patch(
        &app,
        json!({"version": 0, "sync_mode": "realtime", "max_events_before_sync": 50,
               "hot_sync_enabled": true, "claims": claims, "event_retention_days": 30}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["version"], 1);
    assert_eq!(body["updated_by"], "test-user");
    let (_, read) = app.admin("GET", SETTINGS, None).await;
    assert_eq!(read["settings"]["max_events_before_sync"], 50);
    assert_eq!(read["settings"]["claims"], claims);
    assert_eq!(
        read["settings"]["notification_level"], "all_including_zero",
        "untouched"
    );

    // Stale version: 409, nothing written.
    let (status, body) = patch(&app, json!({"version": 0, "sync_mode": "none"})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "version_conflict");
    assert_eq!(body["current_version"], 1);
    let (_, read) = app.admin("GET", SETTINGS, None).await;
    assert_eq!(read["settings"]["sync_mode"], "realtime");
}

#[tokio::test]
async fn invalid_values_name_the_field_and_what_it_allows() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"version": 0, "max_events_before_sync": 7}),
            "max_events_before_sync",
        ),
        (json!({"version": 0, "sync_mode": "sometimes"}), "sync_mode"),
        (
            json!({"version": 0, "notification_level": "loud"}),
            "notification_level",
        ),
        (
            json!({"version": 0, "max_minutes_between_syncs": 0}),
            "max_minutes_between_syncs",
        ),
        (
            json!({"version": 0, "min_on_demand_interval_minutes": -1}),
            "min_on_demand_interval_minutes",
        ),
        (
            json!({"version": 0, "event_retention_days": 10000}),
            "event_retention_days",
        ),
        (
            json!({"version": 0, "hot_sync_enabled": "yes"}),
            "hot_sync_enabled",
        ),
        (json!({"version": 0, "colour": "red"}), "colour"),
        (json!({"sync_mode": "none"}), "version"),
        (
            json!({"version": 0, "claims": [{"claim": "email", "service": "zuora", "issuer": "zuora", "type": "lookup", "account_field": "x' or '1'='1"}]}),
            "claims[0].account_field",
        ),
        (
            json!({"version": 0, "claims": [{"claim": "email", "service": "zuora", "issuer": "zuora", "type": "magic"}]}),
            "claims[0].type",
        ),
    ];
    for (body, field) in cases {
        let (status, answer) = patch(&app, body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["field"], field, "{answer}");
        assert!(answer["message"].as_str().unwrap().starts_with(field));
    }
    let (_, answer) = patch(&app, json!({"version": 0, "max_events_before_sync": 7})).await;
    assert_eq!(
        answer["allowed"],
        json!([1, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500])
    );
    let (_, answer) = patch(&app, json!({"version": 0, "sync_mode": 3})).await;
    assert_eq!(answer["allowed"], json!(["none", "scheduled", "realtime"]));
    let (_, read) = app.admin("GET", SETTINGS, None).await;
    assert_eq!(read["version"], 0, "nothing was saved");
}

#[tokio::test]
async fn two_admins_racing_on_one_version_cannot_both_win() {
    let app = spawn_app().await;
    let (a, b) = tokio::join!(
        patch(&app, json!({"version": 0, "max_events_before_sync": 5})),
        patch(&app, json!({"version": 0, "max_events_before_sync": 100})),
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{a:?} {b:?}");
    let winner = if a.0 == 200 { a.1 } else { b.1 };
    let (_, read) = app.admin("GET", SETTINGS, None).await;
    assert_eq!(
        read["settings"]["max_events_before_sync"],
        winner["settings"]["max_events_before_sync"]
    );
}

#[tokio::test]
async fn settings_need_the_admin_role() {
    let app = spawn_app().await;
    let auth = format!("Bearer {}", app.token_for(&["default"], &["sync"]));
    let (status, body) = app.call("GET", SETTINGS, Some(&auth)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    assert!(body["message"].as_str().unwrap().contains("admin"));
    let (status, _) = app
        .call_with_body("PATCH", SETTINGS, Some(&auth), Some(json!({"version": 0})))
        .await;
    assert_eq!(status, 403);
    // The sync role may still read the event log.
    let (status, _) = app
        .call("GET", "/plugins/zuora/entities/default/events", Some(&auth))
        .await;
    assert_eq!(status, 200);
}
