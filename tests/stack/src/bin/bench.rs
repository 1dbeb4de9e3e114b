//! Benchmark: prints ratios measured in one run against the local stack (DynamoDB Local, moto,
//! the Zuora simulator at 50 ms per call), so the figures hold on a noisy machine.
//! Run with `scripts/bench.sh`.

use shared::clock::{Clock, SystemClock};
use shared::domain::AccountKey;
use shared::events::Trigger;
use shared::sync::{OnBusy, SyncRequest};
use stack::app::{AppOptions, TestApp, spawn_app_with};
use std::time::{Duration, Instant};

const ROUNDS: usize = 30;
const LATENCY: Duration = Duration::from_millis(50);

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn app(use_object_query: bool) -> TestApp {
    let app = spawn_app_with(AppOptions {
        use_object_query,
        zuora_timeout: Duration::from_secs(5),
        ..AppOptions::default()
    })
    .await;
    app.sim.set_latency(LATENCY);
    app
}

fn request(app: &TestApp) -> SyncRequest {
    SyncRequest::new(
        app.entity.clone(),
        Trigger::OnDemand,
        "bench",
        SystemClock.now().plus_ms(60_000),
    )
}

async fn sync_once(app: &TestApp) -> Duration {
    let account = AccountKey::parse("A00000001").expect("valid");
    let started = Instant::now();
    app.services
        .sync
        .sync_account(&request(app), &account, OnBusy::Coalesce)
        .await
        .expect("sync succeeds");
    started.elapsed()
}

/// One raw Zuora GET with a valid token, as the slowest single call of a sync.
async fn raw_zuora_call(app: &TestApp, path: &str) -> Duration {
    let token = app.sim.token();
    let client = reqwest::Client::new();
    let started = Instant::now();
    let resp = client
        .get(format!("{}{path}", app.sim.base_url))
        .bearer_auth(token)
        .send()
        .await
        .expect("zuora call");
    resp.bytes().await.expect("body");
    started.elapsed()
}

async fn raw_dynamodb_write(app: &TestApp, n: usize) -> Duration {
    use aws_sdk_dynamodb::types::AttributeValue;
    let started = Instant::now();
    app.aws
        .dynamodb
        .put_item()
        .table_name(&app.tables().locks)
        .item("pk", AttributeValue::S(format!("bench#{n}")))
        .item("fence", AttributeValue::N("1".into()))
        .send()
        .await
        .expect("put");
    started.elapsed()
}

fn percentile(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

const LOGINS: usize = 1000;

/// Post-login handler time from invoke to return, over `LOGINS` Cognito events, each for a
/// user with its own account (the heavier path: a mark, an event and a message per login).
async fn logins(zuora_base_url: Option<String>) -> (Duration, Duration) {
    use lambda_runtime::{Context, LambdaEvent};
    let app = spawn_app_with(AppOptions {
        zuora_base_url,
        ..AppOptions::default()
    })
    .await;
    let (status, body) = app
        .admin(
            "PATCH",
            "/plugins/zuora/entities/default/settings",
            Some(serde_json::json!({"version": 0, "hot_sync_enabled": true, "claims": [
                {"claim": "custom:zuora_account", "service": "zuora", "issuer": "zuora", "type": "account"}
            ]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let sample: serde_json::Value =
        serde_json::from_str(include_str!("../../../../events/post-login-cognito.json"))
            .expect("the Cognito sample");
    let mut times = Vec::with_capacity(LOGINS);
    for i in 0..LOGINS {
        let mut event = sample.clone();
        event["request"]["userAttributes"]["sub"] = format!("bench-user-{i}").into();
        event["request"]["userAttributes"]["custom:zuora_account"] = format!("B{i:08}").into();
        let started = Instant::now();
        let out = app
            .login
            .handle(LambdaEvent::new(event, Context::default()), &app.entity)
            .await
            .expect("the trigger answers");
        times.push(started.elapsed());
        assert!(out.get("triggerSource").is_some());
    }
    assert_eq!(
        app.queue_counts(&app.queue.queue_url).await.visible as usize,
        LOGINS,
        "every login queued its sync"
    );
    (median(times.clone()), percentile(times, 0.99))
}

#[tokio::main]
async fn main() {
    let oq = app(true).await;
    sync_once(&oq).await; // first sync: creates records and the number → id mapping

    let mut syncs = Vec::new();
    let mut zuora = Vec::new();
    let mut writes = Vec::new();
    let oq_path = "/object-query/accounts/A00000001?expand[]=billto&expand[]=soldto&expand[]=defaultpaymentmethod&expand[]=paymentmethods&expand[]=subscriptions&expand[]=subscriptions.rateplans&expand[]=subscriptions.rateplans.rateplancharges&pageSize=99";
    // Interleaved, so machine noise hits all three measurements alike.
    for n in 0..ROUNDS {
        syncs.push(sync_once(&oq).await);
        zuora.push(raw_zuora_call(&oq, oq_path).await);
        writes.push(raw_dynamodb_write(&oq, n).await);
    }
    let (sync, call, write) = (median(syncs), median(zuora), median(writes));

    oq.sim.reset_stats();
    oq.dynamo_counter.reset();
    sync_once(&oq).await;
    let oq_calls = oq.sim.stats().requests.values().sum::<u64>();
    let counts = oq.dynamo_counter.snapshot();

    let v1 = app(false).await;
    sync_once(&v1).await;
    v1.sim.reset_stats();
    let v1_sync = sync_once(&v1).await;
    let v1_calls = v1.sim.stats().requests.values().sum::<u64>();

    println!(
        "zuora-sync benchmark ({ROUNDS} rounds, simulator latency {} ms per call)",
        LATENCY.as_millis()
    );
    println!(
        "  account sync, unchanged account (median)        {:>8.1} ms",
        ms(sync)
    );
    println!(
        "  slowest single Zuora call (object query, median) {:>8.1} ms",
        ms(call)
    );
    println!(
        "  one DynamoDB write round trip (median)           {:>8.1} ms",
        ms(write)
    );
    println!(
        "  ratio sync / (Zuora call + DynamoDB write)       {:>8.2}   (goal <= 1.3)",
        ms(sync) / (ms(call) + ms(write))
    );
    println!(
        "  Zuora calls per account sync, object query       {:>8}     (goal 1)",
        oq_calls
    );
    println!(
        "  Zuora calls per account sync, v1 fallback        {:>8}     (goal <= 3; took {:.1} ms)",
        v1_calls,
        ms(v1_sync)
    );
    println!(
        "  DynamoDB write requests, unchanged re-sync       {:>8}     (lock acquire + 1 transaction)",
        counts.writes()
    );
    println!(
        "    of which mirror items written                  {:>8}",
        counts.table_writes(&oq.tables().mirror)
    );
    println!(
        "    of which event items written                   {:>8}",
        counts.table_writes(&oq.tables().events)
    );
    println!("  DynamoDB requests by operation: {:?}", counts.requests);

    let (login_median, login_p99) = logins(None).await;
    let (down_median, down_p99) = logins(Some("http://127.0.0.1:9".into())).await;
    println!("post-login handler, {LOGINS} Cognito invokes (invoke to return)");
    println!(
        "  Zuora reachable:   median {:>6.2} ms   p99 {:>6.2} ms   (goal p99 < 20 ms)",
        ms(login_median),
        ms(login_p99)
    );
    println!(
        "  Zuora unreachable: median {:>6.2} ms   p99 {:>6.2} ms   (the login path never calls Zuora)",
        ms(down_median),
        ms(down_p99)
    );
}
