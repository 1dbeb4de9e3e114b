//! The sync route end to end: API handler → Zuora simulator → DynamoDB Local.

use stack::app::{AppOptions, spawn_app, spawn_app_with};
use std::time::Duration;
use zuora_sim::{Fault, FaultKind, NotFoundStyle};
use zuora_sync::model::RecordKind;
use zuora_sync::model::{EventStatus, Trigger};

const ACCOUNT_ID: &str = "8a90a1b27c1f4e2d017c2b3c4d5e0001";

#[tokio::test]
async fn first_sync_creates_the_whole_account_with_the_crm_id() {
    let app = spawn_app().await;

    let (status, body) = app.sync_subscription("A-S00000271").await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    let sub_id = body["id"].as_str().unwrap();
    let owner = body["owner"].as_str().unwrap();
    assert!(
        sub_id.starts_with("sub_") && owner.starts_with("cus_"),
        "{body}"
    );

    let records = app.mirror_records(ACCOUNT_ID).await;
    let customer = &records["CUSTOMER"];
    assert_eq!(customer.id, owner);
    assert_eq!(customer.attrs["account_number"], "A00000001");
    assert_eq!(customer.attrs["crm_id"], "0015g00000XyZabAAB");
    let sub = &records["SUB#A-S00000271"];
    assert_eq!(sub.id, sub_id);
    assert_eq!(sub.owner, owner);
    assert_eq!(sub.attrs["status"], "Active");
    // The superseded version 1 is not what is stored.
    assert_eq!(sub.zuora_id, "8a90a1b27c1f4e2d017c2b3c4d5e9002");
    let data: serde_json::Value = serde_json::from_str(&sub.data).unwrap();
    assert!(!data["rate_plans"].as_array().unwrap().is_empty());
    assert!(
        !data["rate_plans"][0]["charges"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let pms: Vec<_> = records
        .values()
        .filter(|r| r.kind == RecordKind::PaymentMethod)
        .collect();
    assert_eq!(pms.len(), 2);
    let defaults: Vec<_> = pms
        .iter()
        .filter(|r| r.attrs["is_default"] == "true")
        .collect();
    assert_eq!(defaults.len(), 1, "exactly one default payment method");
    let card: serde_json::Value = serde_json::from_str(&defaults[0].data).unwrap();
    assert!(card["masked_number"].as_str().unwrap().starts_with("****"));
    assert!(records.contains_key("ADDR#BILL_TO") && records.contains_key("ADDR#SOLD_TO"));

    // Active, Cancelled and Pending are mirrored; Draft is not.
    assert!(records.contains_key("SUB#A-S00000273"));
    assert!(records.contains_key("SUB#A-S00000274"));
    assert!(!records.contains_key("SUB#A-S00000272"));

    let events = app.events_for(ACCOUNT_ID).await;
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(
        (e.trigger, e.status),
        (Trigger::Api, EventStatus::Succeeded)
    );
    assert_eq!(e.subscription.as_deref(), Some("A-S00000271"));
    assert_eq!(e.customer_id.as_deref(), Some(owner));
    assert_eq!(e.written as usize, records.len());
}

#[tokio::test]
async fn resync_returns_the_same_ids_and_rewrites_nothing() {
    let app = spawn_app().await;
    let (_, first) = app.sync_subscription("A-S00000271").await;
    let before = app.mirror_dump().await;
    app.dynamo_counter.reset();

    let (status, second) = app.sync_subscription("A-S00000271").await;

    assert_eq!(status, 200);
    assert_eq!(first["id"], second["id"]);
    assert_eq!(first["owner"], second["owner"]);
    assert_eq!(
        app.mirror_dump().await,
        before,
        "the mirror is byte-for-byte unchanged"
    );
    let counts = app.dynamo_counter.snapshot();
    assert_eq!(counts.table_writes(&app.tables().mirror), 0, "{counts:?}");
    assert_eq!(
        counts.table_writes(&app.tables().events),
        2,
        "only the event: running, then its result: {counts:?}"
    );
    let latest = &app.events_for(ACCOUNT_ID).await[0];
    assert_eq!((latest.written, latest.removed), (0, 0));
    assert_eq!(
        latest.unchanged as usize,
        before
            .iter()
            .filter(|i| !i["sk"].contains("MAP#") && !i["sk"].contains("ACCTNUM"))
            .count()
    );
}

#[tokio::test]
async fn subscription_id_works_like_its_number() {
    let app = spawn_app().await;
    let (_, by_number) = app.sync_subscription("A-S00000271").await;
    let (status, by_id) = app
        .sync_subscription("8a90a1b27c1f4e2d017c2b3c4d5e9002")
        .await;
    assert_eq!(status, 200, "{by_id}");
    assert_eq!(by_number["id"], by_id["id"]);
}

#[tokio::test]
async fn a_subscription_that_turns_draft_or_is_deleted_leaves_the_mirror() {
    let app = spawn_app().await;
    app.sync_subscription("A-S00000271").await;
    assert!(
        app.mirror_records(ACCOUNT_ID)
            .await
            .contains_key("SUB#A-S00000273")
    );

    assert!(app.sim.set_subscription_status("A-S00000273", "Draft"));
    assert!(app.sim.remove_subscription("A-S00000274"));
    let (status, _) = app.sync_subscription("A-S00000271").await;

    assert_eq!(status, 200);
    let records = app.mirror_records(ACCOUNT_ID).await;
    assert!(!records.contains_key("SUB#A-S00000273"), "turned Draft");
    assert!(!records.contains_key("SUB#A-S00000274"), "deleted in Zuora");
    assert!(records.contains_key("SUB#A-S00000271"));
    assert_eq!(app.events_for(ACCOUNT_ID).await[0].removed, 2);
}

#[tokio::test]
async fn a_draft_subscription_is_never_stored_and_answers_502() {
    let app = spawn_app().await;
    let (status, body) = app.sync_subscription("A-S00000272").await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["code"], "subscription_not_mirrored");
    assert!(body["message"].as_str().unwrap().contains("Draft"));
    assert!(
        !app.mirror_records(ACCOUNT_ID)
            .await
            .contains_key("SUB#A-S00000272")
    );
}

#[tokio::test]
async fn unknown_subscription_is_502_zuora_not_found_in_both_not_found_styles() {
    for style in [NotFoundStyle::Http404, NotFoundStyle::Http200SuccessFalse] {
        let app = spawn_app().await;
        app.sim.set_not_found_style(style);
        let (status, body) = app.sync_subscription("A-S09999999").await;
        assert_eq!(status, 502, "{style:?}: {body}");
        assert_eq!(body["code"], "zuora_not_found", "{style:?}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("Cannot find entity"),
            "{body}"
        );
        assert_eq!(
            app.sim.stats().requests("v1_subscription"),
            1,
            "4xx is not retried"
        );
    }
}

#[tokio::test]
async fn malformed_ids_are_refused_before_zuora() {
    let app = spawn_app().await;
    for bad in ["A-S0000%27or%271", "%2E%2E", "a%20b", &"X".repeat(65)] {
        let (status, body) = app.sync_subscription(bad).await;
        assert_eq!(status, 502, "{bad}");
        assert_eq!(body["code"], "invalid_subscription_id", "{bad}: {body}");
    }
    assert_eq!(app.sim.stats().requests("v1_subscription"), 0);
}

/// Each upstream failure is retried as specified, then answered 502 with a failed event, and
/// the mirror is left exactly as it was.
#[tokio::test]
async fn zuora_failures_are_retried_then_502_and_the_mirror_is_untouched() {
    let cases: Vec<(FaultKind, &str, u64)> = vec![
        (FaultKind::Status { status: 500 }, "zuora_unavailable", 3),
        (
            FaultKind::RateLimit { reset_secs: 0 },
            "zuora_unavailable",
            3,
        ),
        (FaultKind::Timeout { ms: 5_000 }, "zuora_timeout", 3),
        (FaultKind::Malformed, "zuora_bad_response", 3),
        // A 4xx other than 429 is not retried.
        (FaultKind::Status { status: 400 }, "zuora_rejected", 1),
    ];
    for (kind, code, attempts) in cases {
        let app = spawn_app_with(AppOptions {
            zuora_timeout: Duration::from_millis(400),
            ..AppOptions::default()
        })
        .await;
        app.sync_subscription("A-S00000271").await;
        app.sim.set_subscription_status("A-S00000273", "Draft");
        let before = app.mirror_dump().await;
        app.sim.reset_stats();
        app.sim
            .add_fault(Fault::new("object_query_account", kind.clone()));

        let (status, body) = app.sync_subscription("A-S00000271").await;

        assert_eq!(status, 502, "{kind:?}: {body}");
        assert_eq!(body["code"], code, "{kind:?}: {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(!body["message"].as_str().unwrap().contains("sim-secret"));
        assert_eq!(
            app.sim.stats().requests("object_query_account"),
            attempts,
            "{kind:?}"
        );
        assert_eq!(
            app.mirror_dump().await,
            before,
            "{kind:?}: mirror untouched"
        );
        let event = &app.events_for(ACCOUNT_ID).await[0];
        assert_eq!(event.status, EventStatus::Failed, "{kind:?}");
        assert_eq!(event.code.as_deref(), Some(code));
        assert_eq!(body["event_id"], event.id.as_str());
        // The lock was released: with the fault gone the next sync works at once.
        app.sim.clear_faults();
        assert_eq!(
            app.sync_subscription("A-S00000271").await.0,
            200,
            "{kind:?}"
        );
    }
}

#[tokio::test]
async fn a_transient_failure_that_clears_is_retried_into_success() {
    let app = spawn_app().await;
    app.sim
        .add_fault(Fault::new("object_query_account", FaultKind::Status { status: 503 }).times(1));
    app.sim.add_fault(
        Fault::new(
            "object_query_account",
            FaultKind::RateLimit { reset_secs: 0 },
        )
        .times(1),
    );
    let (status, body) = app.sync_subscription("A-S00000271").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.sim.stats().requests("object_query_account"), 3);
}

#[tokio::test]
async fn the_v1_fallback_syncs_the_same_records_in_three_concurrent_calls() {
    let oq = spawn_app().await;
    oq.sync_subscription("A-S00000271").await;
    let v1 = spawn_app_with(AppOptions {
        use_object_query: false,
        ..AppOptions::default()
    })
    .await;
    v1.sim.reset_stats();
    let (status, body) = v1.sync_subscription("A-S00000271").await;
    assert_eq!(status, 200, "{body}");

    let stats = v1.sim.stats();
    assert_eq!(stats.requests("v1_account"), 1);
    assert_eq!(stats.requests("v1_account_subscriptions"), 1);
    assert_eq!(stats.requests("v1_payment_methods"), 1);
    assert_eq!(stats.requests("object_query_account"), 0);
    let keys = |r: std::collections::BTreeMap<String, _>| r.into_keys().collect::<Vec<_>>();
    assert_eq!(
        keys(v1.mirror_records(ACCOUNT_ID).await),
        keys(oq.mirror_records(ACCOUNT_ID).await)
    );
}

#[tokio::test]
async fn the_route_answers_under_a_base_path_too() {
    let app = spawn_app_with(AppOptions {
        base_path: "/api".into(),
        ..AppOptions::default()
    })
    .await;
    let auth = format!("Bearer {}", app.token());
    for path in [
        "/api/plugins/zuora/sync/subscription/A-S00000271",
        "/plugins/zuora/sync/subscription/A-S00000271",
    ] {
        let (status, body) = app.call("POST", path, Some(&auth)).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    let (status, body) = app
        .call(
            "POST",
            "/apix/plugins/zuora/sync/subscription/A-S00000271",
            Some(&auth),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert!(body["message"].is_string());
    let (status, _) = app
        .call(
            "GET",
            "/api/plugins/zuora/sync/subscription/A-S00000271",
            Some(&auth),
        )
        .await;
    assert_eq!(status, 405);
}

#[tokio::test]
async fn a_busy_account_answers_502_account_busy_after_a_bounded_wait() {
    use zuora_sync::model::{Acquire, LockKey};
    use zuora_sync::ports::Clock;
    use zuora_sync::ports::LockStore;
    let app = spawn_app().await;
    let now = zuora_sync::adapters::clock::SystemClock.now();
    let key = LockKey {
        entity: app.entity.clone(),
        account_id: ACCOUNT_ID.into(),
    };
    let held = app
        .services
        .store
        .acquire(&key, "other", now.plus_ms(60_000), now)
        .await
        .unwrap();
    assert!(matches!(held, Acquire::Acquired(_)));

    let started = std::time::Instant::now();
    let (status, body) = app.sync_subscription("A-S00000271").await;

    assert_eq!(status, 502, "{body}");
    assert_eq!(body["code"], "account_busy");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "waited the configured 300 ms"
    );
    let event = &app.events_for(ACCOUNT_ID).await[0];
    assert_eq!(event.status, EventStatus::Coalesced);
    // The wish is on the lock, and a check is queued in case the holder dies.
    let state = app.services.store.peek(&key).await.unwrap().unwrap();
    assert_eq!(state.pending, 1);
    // Delayed until the holder's lease has ended.
    assert_eq!(app.queue_counts(&app.queue.queue_url).await.delayed, 1);
}

/// One canonical record whatever path fetched it: the object query with the v1 subscription
/// list, the v1 calls, and the manual sync's one read per subscription all store the same bytes
/// (before, object-query charges lacked price, currency and product name and SKU, so the manual
/// sync rewrote them, and the next account sync rewrote them back).
#[tokio::test]
async fn every_path_stores_byte_identical_records() {
    let mut stored = Vec::new();
    for use_object_query in [true, false] {
        let app = spawn_app_with(AppOptions {
            use_object_query,
            ..AppOptions::default()
        })
        .await;
        let (status, body) = app.sync_subscription("A-S00000271").await;
        assert_eq!(status, 200, "{body}");
        let after_account_sync = app.mirror_dump().await;

        let customer = body["owner"].as_str().unwrap();
        let path = format!("/plugins/zuora/entities/default/sync/customers/{customer}");
        let (status, body) = app.admin("POST", &path, None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            app.mirror_dump().await,
            after_account_sync,
            "object query: {use_object_query}: the manual sync rewrote records"
        );
        let records = app.mirror_records(ACCOUNT_ID).await;
        let data: Vec<(String, String)> = records.into_values().map(|r| (r.sk, r.data)).collect();
        let charge = data
            .iter()
            .find(|(sk, _)| sk == "SUB#A-S00000271")
            .map(|(_, d)| serde_json::from_str::<serde_json::Value>(d).unwrap())
            .unwrap();
        let first = &charge["rate_plans"][0];
        assert!(first["product_name"].is_string(), "{charge}");
        assert!(first["charges"][0]["currency"].is_string(), "{charge}");
        stored.push(data);
    }
    assert_eq!(
        stored[0], stored[1],
        "object query and v1 store the same records"
    );
}
