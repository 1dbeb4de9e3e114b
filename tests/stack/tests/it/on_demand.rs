//! On-demand account sync and catalog sync through the API, the queue and the worker.

use serde_json::{Value, json};
use stack::app::{TestApp, spawn_app};
use zuora_sync::adapters::clock::SystemClock;
use zuora_sync::model::{Acquire, LockKey};
use zuora_sync::ports::Clock;
use zuora_sync::ports::LockStore;

const ACCOUNTS: &str = "/plugins/zuora/entities/default/sync/accounts";
const ACCOUNT_ID: &str = "8a90a1b27c1f4e2d017c2b3c4d5e0001";

async fn on_demand(app: &TestApp, accounts: Value) -> (u16, Value) {
    app.admin("POST", ACCOUNTS, Some(json!({ "accounts": accounts })))
        .await
}

fn statuses(body: &Value) -> Vec<(String, String)> {
    body["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["account"].as_str().unwrap().to_string(),
                a["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn refuses_zero_and_eleven_accounts_and_counts_duplicates_once() {
    let app = spawn_app().await;

    let (status, body) = on_demand(&app, json!([])).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "accounts");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("between 1 and 10")
    );

    let eleven: Vec<String> = (1..=11).map(|i| format!("A{i:08}")).collect();
    let (status, body) = on_demand(&app, json!(eleven)).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("got 11"),
        "{body}"
    );
    assert_eq!(app.queue_counts(&app.queue.queue_url).await.visible, 0);

    let ten = &eleven[..10];
    let (status, body) = on_demand(&app, json!(ten)).await;
    assert_eq!(status, 202, "{body}");
    assert!(statuses(&body).iter().all(|(_, s)| s == "queued"), "{body}");
    assert_eq!(app.queue_counts(&app.queue.queue_url).await.visible, 10);

    // Eleven entries, ten distinct: accepted, and each account answered once.
    let mut repeated: Vec<String> = (11..=20).map(|i| format!("A{i:08}")).collect();
    repeated.push("A00000011".into());
    let (status, body) = on_demand(&app, json!(repeated)).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(statuses(&body).len(), 10);

    for bad in [json!(["A/1"]), json!([7]), json!("A00000001")] {
        let (status, body) = on_demand(&app, bad).await;
        assert_eq!(status, 400, "{body}");
        assert!(
            body["field"].as_str().unwrap().starts_with("accounts"),
            "{body}"
        );
    }
    let (status, body) = app.admin("POST", ACCOUNTS, None).await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn a_second_request_folds_into_the_queued_job_and_the_worker_syncs_once() {
    let app = spawn_app().await;

    let (status, first) = on_demand(&app, json!(["A00000001"])).await;
    assert_eq!(status, 202, "{first}");
    let queued_event = first["accounts"][0]["event_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, second) = on_demand(&app, json!(["A00000001"])).await;
    assert_eq!(status, 202, "{second}");
    let answer = &second["accounts"][0];
    assert_eq!(answer["status"], "coalesced", "{second}");
    assert_eq!(answer["into"], "queued");
    assert_eq!(answer["queued_event_id"], queued_event.as_str());
    assert_eq!(app.queue_counts(&app.queue.queue_url).await.visible, 1);

    assert_eq!(app.run_queued_jobs().await, 1);
    let (status, event) = app
        .admin(
            "GET",
            &format!("/plugins/zuora/entities/default/events/{queued_event}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{event}");
    assert_eq!(event["status"], "succeeded");
    assert_eq!(event["trigger"], "on_demand");
    assert_eq!(event["account_id"], ACCOUNT_ID);
    // The default notification level reports every on-demand job.
    assert_eq!(event["notification_level"], "all_including_zero");
    assert_eq!(event["notify"], true);

    // The worker's lock acquisition cleared the mark: the next request queues again.
    let (_, third) = on_demand(&app, json!(["A00000001"])).await;
    assert_eq!(third["accounts"][0]["status"], "queued", "{third}");
}

#[tokio::test]
async fn a_request_for_a_running_account_is_coalesced_into_its_follow_up() {
    let app = spawn_app().await;
    let (status, _) = app.sync_subscription("A-S00000271").await;
    assert_eq!(status, 200);
    let now = SystemClock.now();
    let key = LockKey {
        entity: app.entity.clone(),
        account_id: ACCOUNT_ID.into(),
    };
    let held = app
        .services
        .store
        .acquire(&key, "running-sync", now.plus_ms(60_000), now)
        .await
        .unwrap();
    assert!(matches!(held, Acquire::Acquired(_)));

    // By number: the mirror knows its id, so the request meets the running sync's lock.
    let (status, body) = on_demand(&app, json!(["A00000001", ACCOUNT_ID])).await;
    assert_eq!(status, 202, "{body}");
    for answer in body["accounts"].as_array().unwrap() {
        assert_eq!(answer["status"], "coalesced", "{body}");
        assert_eq!(answer["into"], "running", "{body}");
    }
    let lock = app.services.store.peek(&key).await.unwrap().unwrap();
    assert_eq!(lock.pending, 2, "both requests wait for the one follow-up");
    let counts = app.queue_counts(&app.queue.queue_url).await;
    assert_eq!(
        (counts.visible, counts.delayed),
        (0, 1),
        "only the dead-holder check is queued"
    );
}

#[tokio::test]
async fn the_minimum_interval_answers_with_the_time_left() {
    let app = spawn_app().await;
    let (status, body) = app
        .admin(
            "PATCH",
            "/plugins/zuora/entities/default/settings",
            Some(json!({"version": 0, "min_on_demand_interval_minutes": 30})),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let (status, _) = on_demand(&app, json!(["A00000002"])).await;
    assert_eq!(status, 202);
    app.run_queued_jobs().await;
    let (status, body) = on_demand(&app, json!(["A00000002"])).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], "throttled");
    let left = body["retry_after_seconds"].as_u64().unwrap();
    assert!((1790..=1800).contains(&left), "{left}");
    assert_eq!(body["accounts"][0]["status"], "throttled");
    assert_eq!(app.queue_counts(&app.queue.queue_url).await.visible, 0);

    // Another account is not affected, and a mixed request is accepted for it.
    let (status, body) = on_demand(&app, json!(["A00000002", "A00000003"])).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        statuses(&body),
        [
            ("A00000002".to_string(), "throttled".to_string()),
            ("A00000003".to_string(), "queued".to_string())
        ]
    );
}

async fn catalog_sync(app: &TestApp) -> Value {
    let (status, body) = app
        .admin("POST", "/plugins/zuora/entities/default/sync/catalog", None)
        .await;
    assert_eq!(status, 202, "{body}");
    let event_id = body["event_id"].as_str().unwrap().to_string();
    assert_eq!(app.run_queued_jobs().await, 1);
    let (status, event) = app
        .admin(
            "GET",
            &format!("/plugins/zuora/entities/default/events/{event_id}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(event["status"], "succeeded", "{event}");
    event
}

async fn stored_products(app: &TestApp) -> Vec<(String, Value)> {
    app.mirror_records(zuora_sync::model::CATALOG_ACCOUNT)
        .await
        .into_values()
        .map(|r| (r.zuora_id.clone(), serde_json::from_str(&r.data).unwrap()))
        .collect()
}

#[tokio::test]
async fn catalog_sync_adds_changes_and_removes_products() {
    let app = spawn_app().await;
    let demo = app.sim.products();
    assert_eq!(demo.len(), 3);

    let first = catalog_sync(&app).await;
    assert_eq!(
        (first["written"].as_u64(), first["removed"].as_u64()),
        (Some(3), Some(0))
    );
    let stored = stored_products(&app).await;
    assert_eq!(stored.len(), 3);
    let with_charges = stored
        .iter()
        .find(|(_, p)| !p["product_rate_plans"][0]["product_rate_plan_charges"].is_null())
        .expect("a product with charges");
    let charge = &with_charges.1["product_rate_plans"][0]["product_rate_plan_charges"][0];
    assert!(charge["pricing"][0]["price"].is_string(), "{charge}");

    // Unchanged: nothing rewritten.
    let again = catalog_sync(&app).await;
    assert_eq!(
        (again["written"].as_u64(), again["unchanged"].as_u64()),
        (Some(0), Some(3))
    );

    let removed_id = demo[0]["id"].as_str().unwrap().to_string();
    let mut renamed = demo[1].clone();
    renamed["name"] = json!("Renamed Product");
    app.sim.remove_product(&removed_id);
    app.sim.upsert_product(renamed.clone()).unwrap();
    app.sim
        .upsert_product(zuora_sim::generated_product(900))
        .unwrap();
    let changed = catalog_sync(&app).await;
    assert_eq!(changed["written"], 2, "{changed}");
    assert_eq!(changed["removed"], 1, "{changed}");
    assert_eq!(changed["unchanged"], 1, "{changed}");
    let stored = stored_products(&app).await;
    assert!(stored.iter().all(|(id, _)| *id != removed_id));
    let renamed_stored = stored.iter().find(|(id, _)| *id == renamed["id"]).unwrap();
    assert_eq!(renamed_stored.1["name"], "Renamed Product");
}

#[tokio::test]
async fn catalog_sync_follows_pagination() {
    let app = spawn_app().await;
    app.sim.generate_products(85);
    let total = app.sim.products().len();
    assert!(total > 80, "{total}");
    app.sim.reset_stats();
    let event = catalog_sync(&app).await;
    assert_eq!(event["written"].as_u64().unwrap() as usize, total);
    assert_eq!(stored_products(&app).await.len(), total);
    let pages = app.sim.stats().requests["catalog_products"] as usize;
    assert_eq!(pages, total.div_ceil(40), "pages of 40");
}
