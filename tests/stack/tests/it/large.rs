//! H5: DynamoDB's limits. An item holds at most 400 KB and a transaction 4 MB (and 100
//! items); big subscriptions, accounts and catalogs must still mirror, each through the same
//! fenced commit as any sync.

use serde_json::{Value, json};
use stack::app::{AppOptions, TestApp, spawn_app, spawn_app_with};
use stack::fault_proxy::{Action, FaultProxy, Rule};
use zuora_sync::model::RecordKind;

const ACCOUNT: &str = "A00000001";

/// A Zuora-style 32-hex id, distinct per (kind, n).
fn id(kind: u32, n: usize) -> String {
    format!("{kind:08x}{n:024x}")
}

async fn sync_public(app: &TestApp, subscription: &str) {
    let (status, body) = app.sync_subscription(subscription).await;
    assert_eq!(status, 200, "{body}");
}

async fn subscriptions_stored(app: &TestApp, account_id: &str) -> Vec<Value> {
    app.mirror_records(account_id)
        .await
        .into_values()
        .filter(|r| r.kind == RecordKind::Subscription)
        .map(|r| serde_json::from_str(&r.data).unwrap())
        .collect()
}

fn charges_in(subscription: &Value) -> usize {
    subscription["ratePlans"]
        .as_array()
        .or_else(|| subscription["rate_plans"].as_array())
        .into_iter()
        .flatten()
        .map(|rp| {
            rp["ratePlanCharges"]
                .as_array()
                .or_else(|| rp["charges"].as_array())
                .map_or(0, Vec::len)
        })
        .sum()
}

/// The account's first Active subscription (the demo data has expired ones too).
fn active(account: &Value) -> usize {
    account["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .position(|s| s["status"] == "Active")
        .expect("an active subscription")
}

/// Gives the account's first active subscription `n` charges (its first rate plan's, named by
/// `name`) in the simulator; answers the account, the subscription's number and its charges.
fn with_charges(
    app: &TestApp,
    n: usize,
    kind: u32,
    mut name: impl FnMut(usize) -> String,
) -> (Value, String, usize) {
    let mut account = app.sim.account(ACCOUNT).unwrap();
    let at = active(&account);
    let sub = &mut account["subscriptions"][at];
    let number = sub["name"].as_str().unwrap().to_string();
    let template = sub["ratePlans"][0]["ratePlanCharges"][0].clone();
    let charges: Vec<Value> = (0..n)
        .map(|i| {
            let mut c = template.clone();
            c["id"] = json!(id(kind, i));
            c["originalId"] = c["id"].clone();
            c["chargeNumber"] = json!(format!("C-{kind:x}{i:07}"));
            c["name"] = json!(name(i));
            c
        })
        .collect();
    sub["ratePlans"][0]["ratePlanCharges"] = json!(charges);
    let total = charges_in(sub);
    app.sim.upsert_account(account.clone()).unwrap();
    (account, number, total)
}

/// About 720 KB of JSON in one subscription record (the item limit is 400 KB).
#[tokio::test]
async fn a_subscription_with_1200_charges_is_mirrored() {
    let app = spawn_app().await;
    let (account, name, expected) = with_charges(&app, 1200, 0xc4a7, |n| format!("Usage line {n}"));
    assert!(expected >= 1200);
    sync_public(&app, &name).await;
    let account_id = account["id"].as_str().unwrap();
    let stored = subscriptions_stored(&app, account_id).await;
    let most = stored.iter().map(charges_in).max().unwrap_or(0);
    assert_eq!(most, expected, "every charge is in the mirror");
    // Unchanged, a re-sync writes nothing and still reads it back whole.
    app.dynamo_counter.reset();
    sync_public(&app, &name).await;
    assert_eq!(
        app.dynamo_counter
            .snapshot()
            .table_writes(&app.tables().mirror),
        0
    );
}

/// Account A00000001 with 150 subscriptions of 3 charges each, in the simulator: over 96
/// records, so its commit takes several transactions. Answers the account id.
fn with_150_subscriptions(app: &TestApp) -> String {
    let mut account = app.sim.account(ACCOUNT).unwrap();
    let template = account["subscriptions"][active(&account)].clone();
    let charge = template["ratePlans"][0]["ratePlanCharges"][0].clone();
    let subs: Vec<Value> = (0..150)
        .map(|n| {
            let mut s = template.clone();
            s["id"] = json!(id(0x5b5, n));
            s["originalId"] = s["id"].clone();
            s["name"] = json!(format!("A-S9{n:07}"));
            s["version"] = json!(1);
            let charges: Vec<Value> = (0..3)
                .map(|k| {
                    let mut c = charge.clone();
                    c["id"] = json!(id(0xc3, n * 3 + k));
                    c["originalId"] = c["id"].clone();
                    c["chargeNumber"] = json!(format!("C-9{:07}", n * 3 + k));
                    c
                })
                .collect();
            s["ratePlans"] = json!([{
                "id": id(0x4a7e, n), "name": "Plan", "productId": template["ratePlans"][0]["productId"],
                "productRatePlanId": template["ratePlans"][0]["productRatePlanId"],
                "amendmentType": null, "lastChangeType": null,
                "createdDate": template["createdDate"], "updatedDate": template["updatedDate"],
                "ratePlanCharges": charges,
            }]);
            s
        })
        .collect();
    account["subscriptions"] = json!(subs);
    app.sim.upsert_account(account.clone()).unwrap();
    account["id"].as_str().unwrap().to_string()
}

/// 150 subscriptions × 3 charges through the public route.
#[tokio::test]
async fn an_account_with_150_subscriptions_is_mirrored_through_the_public_route() {
    let app = spawn_app().await;
    let account_id = with_150_subscriptions(&app);
    sync_public(&app, "A-S90000042").await;
    let stored = subscriptions_stored(&app, &account_id).await;
    assert_eq!(stored.len(), 150);
    assert!(stored.iter().all(|s| charges_in(s) == 3));
}

/// A commit cut between its transactions (here: DynamoDB fails every attempt of the second)
/// leaves the account half-written, but marked: the sweep queues a sync of it once its lock
/// is free, and that sync's commit completes it and clears the mark.
#[tokio::test]
async fn a_commit_cut_between_its_transactions_is_completed_after_the_sweep() {
    let proxy = FaultProxy::to_dynamodb().await;
    let app = spawn_app_with(AppOptions {
        dynamodb_url: Some(proxy.url()),
        ..AppOptions::default()
    })
    .await;
    let account_id = with_150_subscriptions(&app);
    // The second transaction of the commit and both of the SDK's retries of it.
    for _ in 0..3 {
        proxy.arm(Rule {
            operation: "TransactWriteItems",
            marker: Some(account_id.clone()),
            nth: 2,
            action: Action::Fail,
        });
    }
    let (status, body) = app.sync_subscription("A-S90000042").await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(proxy.fired(), 3);
    let torn = subscriptions_stored(&app, &account_id).await.len();
    assert!(torn < 150, "half-written: {torn} of 150");

    app.sweep("repair-1").await.unwrap();
    assert!(
        app.run_queued_jobs().await >= 1,
        "the sweep queued the repair"
    );
    assert_eq!(subscriptions_stored(&app, &account_id).await.len(), 150);
    // Completed and cleared: the next sweep queues nothing.
    app.sweep("repair-2").await.unwrap();
    assert_eq!(app.run_queued_jobs().await, 0);
}

/// A catalog over 4 MB: 120 products of 130 rate plans each (98 of them, one transaction, would be over 4 MB) (one transaction would be refused).
#[tokio::test]
async fn a_catalog_over_4_mb_is_mirrored() {
    let app = spawn_app().await;
    let mut total = 0;
    for index in 0..120 {
        let mut product = zuora_sim::generated_product(9_000 + index);
        let plan = product["productRatePlans"][0].clone();
        let plans: Vec<Value> = (0..130)
            .map(|k| {
                let mut p = plan.clone();
                p["id"] = json!(id(0x9a7, index * 130 + k));
                p["name"] = json!(format!("Plan {k} of product {index}"));
                p["productRatePlanCharges"][0]["id"] = json!(id(0x9c, index * 130 + k));
                p
            })
            .collect();
        product["productRatePlans"] = json!(plans);
        total += product.to_string().len();
        app.sim.upsert_product(product).unwrap();
    }
    assert!(total > 4 * 1024 * 1024, "the catalog is {total} bytes");
    app.dynamo_counter.reset();
    let (status, body) = app
        .admin("POST", "/plugins/zuora/entities/default/sync/catalog", None)
        .await;
    assert_eq!(status, 202, "{body}");
    app.run_queued_jobs().await;
    let path = format!(
        "/plugins/zuora/entities/default/events/{}",
        body["event_id"].as_str().unwrap()
    );
    let (_, event) = app.admin("GET", &path, None).await;
    assert_eq!(event["status"], "succeeded", "{event}");
    let products = app
        .mirror_records(zuora_sync::model::CATALOG_ACCOUNT)
        .await
        .into_values()
        .filter(|r| r.kind == RecordKind::Product)
        .count();
    assert!(products >= 120, "{products} products mirrored");
    // DynamoDB (and DynamoDB Local) refuses a transaction over 4 MB: every commit stays under
    // it.
    let largest = app.dynamo_counter.snapshot().max_transaction_bytes;
    assert!(
        largest < 4_000_000,
        "a transaction of {largest} bytes would be refused"
    );
}

/// A record DynamoDB refuses even compressed fails for good with a clear code: the public
/// route says so, and a queued job is acknowledged rather than retried into the DLQ.
#[tokio::test]
async fn a_record_too_large_even_compressed_fails_permanently_with_its_code() {
    let app = spawn_app().await;
    // Names of random hex do not compress below 400 KB.
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut noise = |len: usize| -> String {
        (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                char::from_digit((seed % 16) as u32, 16).unwrap()
            })
            .collect()
    };
    let (_, name, _) = with_charges(&app, 1000, 0xb16, |_| noise(1_000));
    let (status, body) = app.sync_subscription(&name).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["code"], "item_too_large", "{body}");

    let (status, queued) = app
        .admin(
            "POST",
            "/plugins/zuora/entities/default/sync/accounts",
            Some(json!({"accounts": [ACCOUNT]})),
        )
        .await;
    assert_eq!(status, 202, "{queued}");
    assert_eq!(app.run_queued_jobs().await, 1, "run once, not retried");
    let path = format!(
        "/plugins/zuora/entities/default/events/{}",
        queued["accounts"][0]["event_id"].as_str().unwrap_or("")
    );
    let (_, event) = app.admin("GET", &path, None).await;
    assert_eq!(event["code"], "item_too_large", "{event}");
    let counts = app.queue_counts(&app.queue.queue_url).await;
    assert_eq!(counts.visible + counts.in_flight + counts.delayed, 0);
}

/// A listed torn commit whose lock item is gone (it expired) is dropped, not repaired forever.
#[tokio::test]
async fn a_stale_torn_entry_is_dropped_by_the_sweep() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let app = spawn_app().await;
    let stale = "0123456789abcdef0123456789abcdef".to_string();
    app.aws
        .dynamodb
        .update_item()
        .table_name(&app.tables().state)
        .key("pk", AttributeValue::S("default#torn".into()))
        .update_expression("ADD accounts :a")
        .expression_attribute_values(":a", AttributeValue::Ss(vec![stale]))
        .send()
        .await
        .unwrap();
    app.sweep("stale").await.unwrap();
    assert_eq!(app.run_queued_jobs().await, 0, "nothing to repair");
    let list = app
        .aws
        .dynamodb
        .get_item()
        .table_name(&app.tables().state)
        .key("pk", AttributeValue::S("default#torn".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    let left = list.item().and_then(|i| i.get("accounts")).cloned();
    assert!(left.is_none(), "the stale entry is gone: {left:?}");
}
