//! Benchmark: prints ratios measured in one run against the local stack (DynamoDB Local, moto,
//! the Zuora simulator at 50 ms per call), so the figures hold on a noisy machine.
//! Run with `scripts/bench.sh`.

mod binaries;
mod callouts;
mod cpu;
mod heap;

#[global_allocator]
static HEAP: heap::Counting = heap::Counting;

use zuora_sync::adapters::clock::SystemClock;

use stack::app::{AppOptions, TestApp, spawn_app_with};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zuora_sync::core::sync::{OnBusy, SyncRequest};
use zuora_sync::model::Trigger;
use zuora_sync::model::{AccountKey, SubscriptionKey};
use zuora_sync::ports::Clock;

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

fn request(app: &TestApp, trigger: Trigger) -> SyncRequest {
    SyncRequest::new(
        app.entity.clone(),
        trigger,
        "bench",
        SystemClock.now().plus_ms(60_000),
    )
}

/// A read made while acquiring is used only when the last commit's reads began more than the
/// clock-skew margin (1 s) before it: rounds are spaced by more than that.
const AFTER_LAST_COMMIT: Duration = Duration::from_millis(1_100);

/// One sync of an unchanged account: as queued work (acquire, event, read, commit) or for a
/// waiting caller (the read while acquiring, then the commit).
async fn sync_once(app: &TestApp, waiting: bool) -> Duration {
    let account = AccountKey::parse("A00000001").expect("valid");
    let (trigger, on_busy) = if waiting {
        (
            Trigger::Api,
            OnBusy::WaitThenCoalesce(Duration::from_secs(3)),
        )
    } else {
        (Trigger::OnDemand, OnBusy::Coalesce)
    };
    let started = Instant::now();
    app.services
        .sync
        .sync_account(&request(app, trigger), &account, on_busy)
        .await
        .expect("sync succeeds");
    started.elapsed()
}

/// The public route's work: the subscription's read, then its account's sync.
async fn route_once(app: &TestApp) -> Duration {
    let subscription = SubscriptionKey::parse(SUBSCRIPTION).expect("valid");
    let started = Instant::now();
    app.services
        .sync
        .sync_subscription(&request(app, Trigger::Api), &subscription)
        .await
        .expect("sync succeeds");
    started.elapsed()
}

const SUBSCRIPTION: &str = "A-S00000271";

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

/// The raw Zuora calls an object-query sync makes, at once as the sync makes them: the account
/// with its contacts and payment methods, and its subscriptions from the v1 list.
async fn raw_zuora_calls(app: &TestApp) -> Duration {
    let account = "/object-query/accounts/A00000001?expand[]=billto&expand[]=soldto&expand[]=defaultpaymentmethod&expand[]=paymentmethods&pageSize=99";
    let subscriptions = "/v1/subscriptions/accounts/A00000001?page=1&pageSize=40";
    let started = Instant::now();
    tokio::join!(
        raw_zuora_call(app, account),
        raw_zuora_call(app, subscriptions)
    );
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
    let sample: serde_json::Value = serde_json::from_str(include_str!(
        "../../../../../events/post-login-cognito.json"
    ))
    .expect("the Cognito sample");
    let mut times = Vec::with_capacity(LOGINS);
    let mut queued = 0;
    for i in 0..LOGINS {
        if i % 100 == 0 {
            // moto's SendMessage slows down as its queue grows (real SQS does not), so the
            // queue is counted and emptied between rounds, outside the timed calls.
            queued += drain(&app).await;
        }
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
    queued += drain(&app).await;
    assert_eq!(queued, LOGINS, "every login queued its sync");
    (median(times.clone()), percentile(times, 0.99))
}

/// Receives and deletes every message on the app's sync queue; returns how many there were.
async fn drain(app: &TestApp) -> usize {
    use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
    let mut total = 0;
    loop {
        let out = app
            .aws
            .sqs
            .receive_message()
            .queue_url(&app.queue.queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive");
        let entries: Vec<DeleteMessageBatchRequestEntry> = out
            .messages()
            .iter()
            .enumerate()
            .map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .build()
                    .expect("entry")
            })
            .collect();
        if entries.is_empty() {
            return total;
        }
        total += entries.len();
        app.aws
            .sqs
            .delete_message_batch()
            .queue_url(&app.queue.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .expect("delete");
    }
}

const USAGE: &str = "\
bench: ratios measured in one run against the local stack (DynamoDB Local, moto, the Zuora
simulator at 50 ms per call). Run it through scripts/bench.sh, which starts the emulators.

usage: bench [sync | binaries | callouts [N] | logins | fullsync[-per-call|-bulk] [ACCOUNTS] |
              salesforce [ACCOUNTS] | all]

  sync                  one account's sync: a waiting caller, queued work, the public route
  binaries              each function binary: size, init time, memory after one invoke
  callouts [N]          callout -> mirror updated at threshold 1, p50 / p99 over N (default 500)
  logins                the post-login handler over 1,000 logins
  fullsync [ACCOUNTS]   a full sync of ACCOUNTS generated accounts (default 10000), per call
                        and then through a bulk export (fullsync-per-call / fullsync-bulk:
                        one of them, e.g. `fullsync-bulk 100000`)
  salesforce [ACCOUNTS] the Salesforce push: one account's push, the push latency after a
                        commit, and a full sync of ACCOUNTS accounts pushed (default 10000)
  all                   all of the above (the default)";

#[tokio::main]
async fn main() {
    let args = stack::cli::Args::parse(USAGE, &[], 2);
    match args.positional(0) {
        Some("sync") => account_sync().await,
        Some("binaries") => binaries::binary_figures(&app(true).await).await,
        Some("callouts") => match args.positional(1).map(str::parse) {
            None => callouts::callout_figures(500, LATENCY).await,
            Some(Ok(n)) if n > 0 => callouts::callout_figures(n, LATENCY).await,
            Some(_) => {
                eprintln!("error: CALLOUTS must be a positive number\n\n{USAGE}");
                std::process::exit(2);
            }
        },
        Some("logins") => login_figures().await,
        Some(mode @ ("fullsync" | "fullsync-per-call" | "fullsync-bulk")) => {
            let accounts = match args.positional(1).map(str::parse) {
                None => 10_000,
                Some(Ok(n)) => n,
                Some(Err(_)) => {
                    eprintln!("error: ACCOUNTS must be a number\n\n{USAGE}");
                    std::process::exit(2);
                }
            };
            match mode {
                "fullsync" => full_sync_both(accounts).await,
                "fullsync-bulk" => {
                    full_sync_figures(accounts, Reads::Bulk).await;
                }
                _ => {
                    full_sync_figures(accounts, Reads::PerCall).await;
                }
            }
        }
        Some("salesforce") => match args.positional(1).map(str::parse) {
            None => salesforce_figures(10_000).await,
            Some(Ok(n)) => salesforce_figures(n).await,
            Some(Err(_)) => {
                eprintln!("error: ACCOUNTS must be a number\n\n{USAGE}");
                std::process::exit(2);
            }
        },
        None | Some("all") => {
            account_sync().await;
            binaries::binary_figures(&app(true).await).await;
            callouts::callout_figures(500, LATENCY).await;
            login_figures().await;
            full_sync_both(10_000).await;
            salesforce_figures(10_000).await;
        }
        Some(other) => {
            eprintln!("error: unknown benchmark {other}\n\n{USAGE}");
            std::process::exit(2);
        }
    }
}

/// Concurrent worker invocations of the full sync benchmark (each syncs up to 5 messages at
/// once), like Lambda scaling out on the queue.
const POLLERS: usize = 6;
const SIM_CONCURRENCY: usize = 20;

/// `count` worker loops receiving from the app's queue, as Lambda's SQS poller would, each
/// message batch an invocation of `invocation`; they stop when the sender says so.
fn worker_loops(
    app: &TestApp,
    count: usize,
    invocation: Duration,
) -> (
    tokio::sync::watch::Sender<bool>,
    Vec<tokio::task::JoinHandle<()>>,
) {
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let loops = (0..count)
        .map(|_| {
            tokio::spawn(stack::local::poll_queue(
                app.worker.clone(),
                app.aws.sqs.clone(),
                app.queue.queue_url.clone(),
                invocation,
                stop_rx.clone(),
            ))
        })
        .collect();
    (stop, loops)
}

/// A full sync under way: generated accounts, the settings change that started it, and the
/// worker loops running the queue.
struct FullSyncRun {
    app: Arc<TestApp>,
    /// When the settings change was sent.
    started: Instant,
    session_id: String,
    /// The CPU time of each process when the full sync started.
    cpu: Vec<cpu::Watched>,
    stop: tokio::sync::watch::Sender<bool>,
    pollers: Vec<tokio::task::JoinHandle<()>>,
}

impl FullSyncRun {
    /// `accounts` generated accounts, then `settings` (which must start a full sync) and
    /// `POLLERS` worker loops.
    async fn start(accounts: usize, settings: serde_json::Value) -> Self {
        let app = Arc::new(
            spawn_app_with(AppOptions {
                zuora_timeout: Duration::from_secs(10),
                queue_visibility_secs: 300,
                isolated_sim: true,
                ..AppOptions::default()
            })
            .await,
        );
        app.sim
            .generate_accounts(accounts, "F")
            .expect("generate accounts");
        app.sim.set_latency(LATENCY);
        app.sim.set_concurrency_limit(SIM_CONCURRENCY);
        app.salesforce.set_latency(SF_LATENCY);
        let cpu = cpu::watch();
        app.dynamo_counter.reset();
        let started = Instant::now();
        let (status, body) = app
            .admin(
                "PATCH",
                "/plugins/zuora/entities/default/settings",
                Some(settings),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let session_id = body["full_sync_session"]
            .as_str()
            .expect("a full sync")
            .to_string();
        let (stop, pollers) = worker_loops(&app, POLLERS, Duration::from_secs(300));
        Self {
            app,
            started,
            session_id,
            cpu,
            stop,
            pollers,
        }
    }

    /// Waits until the session is done.
    async fn done(&self) -> zuora_sync::model::Session {
        let store = self.app.services.realtime.store().clone();
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let s = store
                .get_session(&self.app.entity, &self.session_id)
                .await
                .expect("read the session")
                .expect("the session exists");
            if s.status == zuora_sync::model::SessionStatus::Done {
                return s;
            }
        }
    }

    async fn stop(self) -> Arc<TestApp> {
        let _ = self.stop.send(true);
        for p in self.pollers {
            let _ = p.await;
        }
        self.app
    }
}

/// How a full sync reads Zuora.
#[derive(Clone, Copy, PartialEq)]
enum Reads {
    PerCall,
    Bulk,
}

/// The per-call and the bulk full sync of `accounts` accounts, one after the other.
async fn full_sync_both(accounts: usize) {
    let per_call = full_sync_figures(accounts, Reads::PerCall).await;
    let bulk = full_sync_figures(accounts, Reads::Bulk).await;
    println!(
        "bulk / per-call accounts per second, measured here: {:.2} (the local rate is bound by the emulators' CPU, see above)",
        bulk / per_call
    );
}

/// A full sync of `accounts` generated accounts through the local stack: the switch to real
/// time, then page jobs and one job per account (per call), or one export fanned out in jobs
/// of 50 accounts (bulk), until the session is done. Answers the accounts per second.
async fn full_sync_figures(accounts: usize, reads: Reads) -> f64 {
    let settings = serde_json::json!({"version": 0, "sync_mode": "realtime", "notification_level": "none", "bulk_export": reads == Reads::Bulk});
    let mut run = FullSyncRun::start(accounts, settings).await;
    let session = run.done().await;
    let wall = run.started.elapsed();
    let watched = std::mem::take(&mut run.cpu);
    let app = run.stop().await;
    let counts = app.dynamo_counter.snapshot();
    let writes = counts.writes();
    let requests: u64 = counts.requests.values().sum();
    let rate = session.total as f64 / wall.as_secs_f64();
    let stats = app.sim.stats();
    let total = session.total.max(1) as f64;
    let calls = stats.requests.values().sum::<u64>() as f64 / total;
    let objects = objects_per_account(&app).await;
    let how = match reads {
        Reads::PerCall => "per call",
        Reads::Bulk => "bulk export",
    };
    println!(
        "full sync ({how}) of {accounts} simulated accounts (simulator latency {} ms, concurrency limit {SIM_CONCURRENCY}; {POLLERS} worker invocations x 5)",
        LATENCY.as_millis()
    );
    println!(
        "  wall time                                   {:>8.1} s",
        wall.as_secs_f64()
    );
    println!(
        "  accounts synced / failed / skipped          {:>8} / {} / {}",
        session.succeeded, session.failed, session.skipped
    );
    println!("  accounts per second                         {rate:>8.1}");
    println!(
        "  objects per second                          {:>8.1}   ({objects:.1} Zuora objects per account: account, contacts, payment methods, subscriptions, rate plans, charges)",
        rate * objects
    );
    println!("  Zuora calls per account                     {calls:>8.4}");
    println!(
        "  DynamoDB write requests per account         {:>8.2}   (all requests, reads included: {:.2}; {:?})",
        writes as f64 / total,
        requests as f64 / total,
        counts.requests
    );
    println!(
        "  Zuora requests {} (429s: {}), most in flight at once {}: {:?}",
        stats.requests.values().sum::<u64>(),
        stats.responses_429,
        stats.max_in_flight,
        stats.requests
    );
    let product_secs = cpu::report(&watched, session.total, wall.as_secs_f64());
    match reads {
        Reads::PerCall => {
            // Each account sync makes its calls at once: they hold that many of the limit's slots.
            let ceiling = SIM_CONCURRENCY as f64 / LATENCY.as_secs_f64() / calls.max(1.0);
            println!(
                "  ratio to the simulator's ceiling ({SIM_CONCURRENCY} / {} ms / {calls:.2} calls) {:>6.2}",
                LATENCY.as_millis(),
                rate / ceiling
            );
            modeled_per_call_times(calls, objects);
        }
        Reads::Bulk => {
            let read = export_memory(&app).await;
            modeled_bulk_times(product_secs / total, requests as f64 / total, objects, read);
        }
    }
    rate
}

/// The heap one bulk export's download and assembly takes at its peak (a worker holds the
/// snapshots of every account of its part at once while it fans them out; the files stream
/// through), whole and as one part of four; answers what one record takes to download and
/// assemble, less the simulator's latency (one call a file), and the records an account.
async fn export_memory(app: &TestApp) -> ExportRead {
    use zuora_sync::model::{CallContext, ExportPart, ExportState};
    use zuora_sync::ports::ZuoraApi;
    let zuora = zuora_sync::adapters::zuora::ZuoraClient::new(app.config.entities[0].zuora.clone())
        .expect("a Zuora client");
    let ctx = CallContext::new("bench-export");
    let job = zuora.submit_export(&ctx).await.expect("submit");
    let files = loop {
        match zuora.export_state(&job, &ctx).await.expect("poll") {
            ExportState::Running => continue,
            ExportState::Ready(files) => break files,
            ExportState::Failed(reason) => panic!("the export failed: {reason}"),
        }
    };
    let records: u64 = files.iter().map(|f| f.records).sum();
    let latency = LATENCY.as_secs_f64() * files.len() as f64;
    let mut read = ExportRead::default();
    for part in [ExportPart::WHOLE, ExportPart { index: 0, of: 4 }] {
        let mark = heap::mark();
        let started = Instant::now();
        let snapshots = zuora
            .export_snapshots(&files, part, &ctx)
            .await
            .expect("download");
        let elapsed = started.elapsed().as_secs_f64();
        let peak = heap::peak_since(mark);
        let accounts = snapshots.len().max(1);
        drop(snapshots);
        let per_record = (elapsed - latency).max(0.0) / records.max(1) as f64;
        if part.is_whole() {
            read = ExportRead {
                secs_per_record: per_record,
                records_per_account: records as f64 / accounts as f64,
            };
        }
        println!(
            "  export download + assembly, part {part}, peak heap {:>8.1} MB   ({accounts} accounts, {:.1} KB per account, the simulator's file rendering included; {:.0} accounts a GB)",
            peak as f64 / 1e6,
            peak as f64 / 1e3 / accounts as f64,
            1e9 / (peak as f64 / accounts as f64)
        );
        println!(
            "    read in {elapsed:.2} s; less the simulator's {:.2} s latency (a call a file), {:.2} us a record of {records} ({:.1} records an account)",
            latency,
            per_record * 1e6,
            read.records_per_account
        );
    }
    read
}

/// What reading an export took (`export_memory`).
#[derive(Debug, Default, Clone, Copy)]
struct ExportRead {
    secs_per_record: f64,
    records_per_account: f64,
}

/// Zuora objects per account (account, bill-to and sold-to contacts, payment methods,
/// subscriptions, rate plans, charges), over a sample of the accounts as the per-call reads
/// answer them.
async fn objects_per_account(app: &TestApp) -> f64 {
    use zuora_sync::model::CallContext;
    use zuora_sync::ports::ZuoraApi;
    let zuora = zuora_sync::adapters::zuora::ZuoraClient::new(app.config.entities[0].zuora.clone())
        .expect("a Zuora client");
    let ctx = CallContext::new("bench-objects");
    let mut objects = 0;
    let sample = 50;
    for n in 1..=sample {
        let key = AccountKey::parse(&format!("F{n:08}")).expect("valid");
        let s = zuora
            .account_snapshot(&key, &ctx)
            .await
            .expect("an account");
        let contacts = match (&s.bill_to, &s.sold_to) {
            (Some(b), Some(t)) if b.id == t.id => 1,
            (b, t) => usize::from(b.is_some()) + usize::from(t.is_some()),
        };
        let plans: usize = s.subscriptions.iter().map(|x| x.rate_plans.len()).sum();
        let charges: usize = s
            .subscriptions
            .iter()
            .flat_map(|x| &x.rate_plans)
            .map(|p| p.charges.len())
            .sum();
        objects += 1 + contacts + s.payment_methods.len() + s.subscriptions.len() + plans + charges;
    }
    objects as f64 / sample as f64
}

/// Zuora's tenant limits: concurrent requests, and requests a minute.
const ZUORA_CONCURRENT: f64 = 40.0;
const ZUORA_PER_MINUTE: f64 = 50_000.0;
/// A realistic Zuora call (the simulator's 50 ms is a local choice).
const ZUORA_CALL_SECS: f64 = 0.3;
/// Zuora 360's Turbo Sync: about 1M objects in 2,783 s.
const TURBO_SYNC_OBJECTS_PER_SEC: f64 = 360.0;

/// The per-call full sync's time at Zuora's real limits, where Zuora and not this product
/// bounds it: each account's `calls` go out at once and hold that many of the slots.
fn modeled_per_call_times(calls: f64, objects: f64) {
    let by_concurrency = ZUORA_CONCURRENT / (calls * ZUORA_CALL_SECS);
    let by_rate = ZUORA_PER_MINUTE / 60.0 / calls;
    let rate = by_concurrency.min(by_rate);
    println!(
        "  modeled at Zuora's limits: accounts/s = min({ZUORA_CONCURRENT} / ({calls:.2} calls x {ZUORA_CALL_SECS} s), {ZUORA_PER_MINUTE} / 60 / {calls:.2}) = min({by_concurrency:.1}, {by_rate:.1}) = {rate:.1}"
    );
    print_modeled(rate, objects);
}

/// The deployed worker: instances (template.yaml's `WorkerMaxInstances` default), messages
/// each syncs at once, and DynamoDB requests of a bulk job at once (its stored copies are read
/// 16 at once; its locks are one read, its transactions go at once). Lambda gives 1 vCPU per
/// 1,769 MB (up to 6 at 10,240 MB, its largest).
const WORKER_INSTANCES: f64 = 4.0;
const WORKER_MESSAGES: f64 = 5.0;
const BULK_REQUESTS_AT_ONCE: f64 = 16.0;
const LAMBDA_MB_PER_VCPU: f64 = 1769.0;
/// An assumed DynamoDB round trip from Lambda in the same region.
const DYNAMODB_ROUND_TRIP_SECS: f64 = 0.008;

/// The workers' memory the model takes (`WorkerMemorySize`; 2.3 vCPU).
const MODELED_WORKER_MB: u64 = 4_096;

/// The bulk full sync's time in AWS: Zuora serves one export (a handful of calls whatever the
/// accounts: its limits no longer bound the sync), then each account is a commit, bound by the
/// worker's CPU or by its DynamoDB round trips, whichever is slower. The export is split into
/// the parts a worker's memory holds, fanned out at once (as many at a time as there are
/// workers), each reading every file: counted in full on top of the commits (they overlap in
/// fact).
fn modeled_bulk_times(cpu_per_account: f64, requests: f64, objects: f64, read: ExportRead) {
    use zuora_sync::core::realtime::bulk::{
        MAX_PARTS, READ_BUDGET_SECS, READ_MICROS_PER_RECORD, accounts_for_memory, parts_needed,
        readable_in_one_invocation,
    };
    let mb = MODELED_WORKER_MB;
    let vcpu = (mb as f64 / LAMBDA_MB_PER_VCPU).min(6.0);
    let by_cpu = WORKER_INSTANCES * vcpu / cpu_per_account.max(f64::EPSILON);
    let by_round_trips = WORKER_INSTANCES * WORKER_MESSAGES * BULK_REQUESTS_AT_ONCE
        / (requests * DYNAMODB_ROUND_TRIP_SECS);
    let rate = by_cpu.min(by_round_trips);
    println!(
        "  modeled in AWS: Zuora serves one export (its request limits no longer bound the sync); each account is a commit on a worker of {mb} MB"
    );
    println!(
        "    accounts/s = min({WORKER_INSTANCES} x {vcpu:.2} vCPU / {:.3} ms CPU, {WORKER_INSTANCES} x {WORKER_MESSAGES} x {BULK_REQUESTS_AT_ONCE} / ({requests:.2} requests x {} ms)) = min({by_cpu:.0}, {by_round_trips:.0}) = {rate:.0}; objects/s {:.0} = {:.1}x Turbo Sync",
        cpu_per_account * 1000.0,
        DYNAMODB_ROUND_TRIP_SECS * 1000.0,
        rate * objects,
        rate * objects / TURBO_SYNC_OBJECTS_PER_SEC,
    );
    for accounts in [100_000u64, 1_000_000] {
        let records = (accounts as f64 * read.records_per_account).ceil() as u64;
        if !readable_in_one_invocation(records) {
            println!(
                "    {accounts:>9} accounts: {records} records take {:.0} s to read at the budgeted {READ_MICROS_PER_RECORD} us a record (measured here: {:.2} us), more than the {READ_BUDGET_SECS} s a worker invocation gives a part: read per call (above)",
                records as f64 * READ_MICROS_PER_RECORD as f64 / 1e6,
                read.secs_per_record * 1e6
            );
            continue;
        }
        let parts = parts_needed(accounts, records, accounts_for_memory(mb));
        let commits = accounts as f64 / rate;
        let waves = (parts as f64 / WORKER_INSTANCES).ceil();
        let per_record = READ_MICROS_PER_RECORD as f64 / 1e6;
        let reads = waves * records as f64 * per_record;
        println!(
            "    {accounts:>9} accounts: {parts} part(s) of at most {MAX_PARTS}, read in {waves} wave(s) of {WORKER_INSTANCES} workers; {accounts} / {rate:.0} accounts/s + {waves} x {records} records x {READ_MICROS_PER_RECORD} us (budgeted) reading the files = {commits:.0} + {reads:.0} = {:.0} s ({:.2} h), plus the export's own run on Zuora (not published; at most 3 h a query); objects/s {:.0} = {:.1}x Turbo Sync",
            commits + reads,
            (commits + reads) / 3600.0,
            accounts as f64 * objects / (commits + reads),
            accounts as f64 * objects / (commits + reads) / TURBO_SYNC_OBJECTS_PER_SEC,
        );
    }
}

fn print_modeled(rate: f64, objects: f64) {
    println!(
        "    objects/s {:.0} = {:.1}x Turbo Sync's ~{TURBO_SYNC_OBJECTS_PER_SEC}",
        rate * objects,
        rate * objects / TURBO_SYNC_OBJECTS_PER_SEC
    );
    for accounts in [100_000.0, 1_000_000.0] {
        let secs = accounts / rate;
        println!(
            "    {:>9} accounts: {:>7.0} s ({:.2} h)",
            accounts as u64,
            secs,
            secs / 3600.0
        );
    }
}

async fn account_sync() {
    let oq = app(true).await;
    sync_once(&oq, false).await; // first sync: creates records and the number → id mapping

    let (mut queued, mut waiting, mut route) = (Vec::new(), Vec::new(), Vec::new());
    let (mut zuora, mut one_call, mut writes) = (Vec::new(), Vec::new(), Vec::new());
    // Interleaved, so machine noise hits every measurement alike.
    for n in 0..ROUNDS {
        queued.push(sync_once(&oq, false).await);
        tokio::time::sleep(AFTER_LAST_COMMIT).await;
        waiting.push(sync_once(&oq, true).await);
        tokio::time::sleep(AFTER_LAST_COMMIT).await;
        route.push(route_once(&oq).await);
        zuora.push(raw_zuora_calls(&oq).await);
        one_call.push(raw_zuora_call(&oq, &format!("/v1/subscriptions/{SUBSCRIPTION}")).await);
        writes.push(raw_dynamodb_write(&oq, n).await);
        tokio::time::sleep(AFTER_LAST_COMMIT).await;
    }
    let (queued, waiting, route) = (median(queued), median(waiting), median(route));
    let (call, one_call, write) = (median(zuora), median(one_call), median(writes));

    oq.sim.reset_stats();
    oq.dynamo_counter.reset();
    sync_once(&oq, false).await;
    let oq_calls = oq.sim.stats().requests.values().sum::<u64>();
    let counts = oq.dynamo_counter.snapshot();

    let v1 = app(false).await;
    sync_once(&v1, false).await;
    v1.sim.reset_stats();
    let v1_sync = sync_once(&v1, false).await;
    let v1_calls = v1.sim.stats().requests.values().sum::<u64>();

    println!(
        "zuora-sync benchmark ({ROUNDS} rounds, simulator latency {} ms per call)",
        LATENCY.as_millis()
    );
    println!(
        "  account sync for a waiting caller (median)      {:>8.1} ms   (the read while acquiring, then the commit)",
        ms(waiting)
    );
    println!(
        "  account sync as queued work (median)            {:>8.1} ms   (acquire, event running, read, commit)",
        ms(queued)
    );
    println!(
        "  its two Zuora calls at once (raw, median)       {:>8.1} ms",
        ms(call)
    );
    println!(
        "  one DynamoDB write round trip (median)           {:>8.1} ms",
        ms(write)
    );
    println!(
        "  ratio waiting caller / (Zuora calls + write)     {:>8.2}   (goal <= 1.1)",
        ms(waiting) / (ms(call) + ms(write))
    );
    println!(
        "  ratio queued work / (Zuora calls + write)        {:>8.2}",
        ms(queued) / (ms(call) + ms(write))
    );
    println!(
        "  public route, one subscription (median)         {:>8.1} ms   (its subscription read, then the account sync)",
        ms(route)
    );
    println!(
        "  ratio / (subscription read + calls + write)      {:>8.2}   (raw subscription read {:.1} ms)",
        ms(route) / (ms(one_call) + ms(call) + ms(write)),
        ms(one_call)
    );
    println!(
        "  Zuora calls per account sync, object query       {:>8}     (goal 2, concurrent: account, subscriptions)",
        oq_calls
    );
    println!(
        "  Zuora calls per account sync, v1 fallback        {:>8}     (goal <= 3; took {:.1} ms)",
        v1_calls,
        ms(v1_sync)
    );
    println!(
        "  DynamoDB write requests, unchanged re-sync       {:>8}     (lock acquire, the event marked running, 1 transaction)",
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
}

/// Medians of the raw round trips a login makes: DynamoDB GetItem, UpdateItem, the event's
/// PutItem (with its index keys: DynamoDB Local maintains indexes synchronously), and an SQS
/// SendMessage (moto), measured against the same emulators.
async fn raw_login_round_trips() -> [(&'static str, Duration); 4] {
    use aws_sdk_dynamodb::types::AttributeValue as Av;
    let app = spawn_app_with(AppOptions::default()).await;
    let (mut get, mut update, mut put, mut send) = (vec![], vec![], vec![], vec![]);
    for i in 0..200 {
        let t = Instant::now();
        app.aws
            .dynamodb
            .get_item()
            .table_name(&app.tables().mirror)
            .key("pk", Av::S(format!("raw#{i}")))
            .key("sk", Av::S("x".into()))
            .send()
            .await
            .expect("get");
        get.push(t.elapsed());
        let t = Instant::now();
        app.aws
            .dynamodb
            .update_item()
            .table_name(&app.tables().locks)
            .key("pk", Av::S(format!("raw#{i}")))
            .update_expression("SET m = :m")
            .expression_attribute_values(":m", Av::N("1".into()))
            .send()
            .await
            .expect("update");
        update.push(t.elapsed());
        let t = Instant::now();
        app.aws
            .dynamodb
            .put_item()
            .table_name(&app.tables().events)
            .item("pk", Av::S(format!("raw#{i}")))
            .send()
            .await
            .expect("put");
        put.push(t.elapsed());
        let t = Instant::now();
        app.aws
            .sqs
            .send_message()
            .queue_url(&app.queue.queue_url)
            .message_body("{}")
            .send()
            .await
            .expect("send");
        send.push(t.elapsed());
    }
    [
        ("DynamoDB GetItem", median(get)),
        ("DynamoDB UpdateItem", median(update)),
        ("DynamoDB PutItem (event)", median(put)),
        ("SQS SendMessage (moto)", median(send)),
    ]
}

async fn login_figures() {
    let raw = raw_login_round_trips().await;
    // A login for an account number: GetItem (number → id), UpdateItem (mark), then PutItem
    // (event) and SendMessage at once.
    let floor = raw[0].1 + raw[1].1 + raw[2].1.max(raw[3].1);
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
    for (what, d) in raw {
        println!("  raw round trip, {what:<24} median {:>6.2} ms", ms(d));
    }
    println!(
        "  ratio login median / its raw round trips ({:.2} ms)   {:>6.2}",
        ms(floor),
        ms(login_median) / ms(floor)
    );
}

/// The Salesforce simulator's latency per data call in the push benchmarks.
const SF_LATENCY: Duration = Duration::from_millis(50);
const PUSH_ROUNDS: usize = 50;

/// The demo tenant with pushes on from the first sync (set as `local-stack` does: no full
/// sync), Salesforce at `SF_LATENCY`.
async fn push_app() -> TestApp {
    let app = app(true).await;
    app.salesforce.set_latency(SF_LATENCY);
    let mut settings = zuora_sync::model::EntitySettings::default();
    settings.salesforce.enabled = true;
    settings.notification_level = zuora_sync::model::NotificationLevel::None;
    zuora_sync::ports::SettingsStore::put_settings(
        app.services.store.as_ref(),
        &app.entity,
        &settings,
        0,
        "bench",
        SystemClock.now(),
    )
    .await
    .expect("settings saved")
    .expect("version 0");
    app
}

/// Salesforce calls per account push, and the time from a commit to its push being done.
async fn salesforce_push_figures() {
    let app = push_app().await;
    // A first push of a whole account: one call per object type it has records of.
    let before = app.salesforce.stats().calls("upsert");
    let (status, body) = app.sync_subscription("A-S00000271").await;
    assert_eq!(status, 200, "{body}");
    app.run_queued_jobs().await;
    let first = app.salesforce.stats().calls("upsert") - before;
    let objects = zuora_sync::model::SfObject::ALL
        .iter()
        .filter(|o| !app.salesforce.records(o.api_name()).is_empty())
        .count();

    // Then one changed field at a time: the commit, then the queued push job.
    let mut latencies = Vec::new();
    let mut calls = Vec::new();
    for n in 0..PUSH_ROUNDS {
        let name = format!("Bench Customer {n}");
        app.sim
            .set_field("A00000001", "name", serde_json::json!(name));
        let (status, body) = app.sync_subscription("A-S00000271").await;
        assert_eq!(status, 200, "{body}");
        let committed = Instant::now();
        let before = app.salesforce.stats().calls("upsert");
        // One receive that finds the push job and runs it (not the empty receive after it,
        // which long-polls).
        while stack::local::poll_once(
            &app.worker,
            &app.aws.sqs,
            &app.queue.queue_url,
            Duration::from_secs(60),
        )
        .await
        .expect("poll the sync queue")
            == 0
        {}
        latencies.push(committed.elapsed());
        calls.push(app.salesforce.stats().calls("upsert") - before);
        let record = app
            .salesforce
            .find(
                "Zuora__CustomerAccount__c",
                "Zuora__External_Id__c",
                "8a90a1b27c1f4e2d017c2b3c4d5e0001",
            )
            .expect("pushed");
        assert_eq!(record.fields["Name"], name.as_str(), "the push landed");
    }
    let raw = raw_dynamodb_write(&app, 0).await;
    let (p50, p99) = (median(latencies.clone()), percentile(latencies, 0.99));
    println!(
        "Salesforce push (simulator latency {} ms per data call, {PUSH_ROUNDS} rounds)",
        SF_LATENCY.as_millis()
    );
    println!(
        "  calls for a first push of A00000001              {first:>8}     (object types with records: {objects}; goal: one call each)"
    );
    println!(
        "  calls per push of one changed field (max)        {:>8}     (goal 1)",
        calls.iter().max().copied().unwrap_or(0)
    );
    println!(
        "  commit -> pushed, p50 / p99                      {:>8.1} / {:.1} ms (SQS receive, lease, mirror read, 1 call, the end's transaction, delete)",
        ms(p50),
        ms(p99)
    );
    println!(
        "  ratio p50 / (one Salesforce call + 3 DynamoDB round trips)  {:>6.2}",
        ms(p50) / (ms(SF_LATENCY) + 3.0 * ms(raw))
    );
}

async fn salesforce_figures(accounts: usize) {
    salesforce_push_figures().await;
    salesforce_full_sync_figures(accounts).await;
}

/// A full sync of `accounts` generated accounts with pushes on: the sync, then the sweep's
/// drain of every account's push in jobs of 200 accounts.
async fn salesforce_full_sync_figures(accounts: usize) {
    let run = FullSyncRun::start(
        accounts,
        serde_json::json!({"version": 0, "sync_mode": "realtime", "notification_level": "none", "salesforce": {"enabled": true}}),
    )
    .await;
    run.done().await;
    let synced = run.started.elapsed();
    // The sweep, every 5 s, queues the marks older than 30 s; the pollers run the pushes.
    let app = run.app.clone();
    let push = app.services.push.clone().expect("a Salesforce connection");
    let pushing = Instant::now();
    loop {
        app.sweep("bench").await.expect("the sweep runs");
        tokio::time::sleep(Duration::from_secs(5)).await;
        let state = push.state(&app.entity).await.expect("push state");
        if state.pending == 0 {
            break;
        }
        eprintln!(
            "  … {:.0} s: {} accounts wait for their push, {} Salesforce calls so far",
            pushing.elapsed().as_secs_f64(),
            state.pending,
            app.salesforce.stats().api_usage
        );
    }
    let pushed = pushing.elapsed();
    run.stop().await;
    let stats = app.salesforce.stats();
    let per_call = &stats.records_per_call;
    let records: usize = per_call.iter().sum();
    let average = records as f64 / per_call.len().max(1) as f64;
    let held = app.salesforce.records("Zuora__CustomerAccount__c").len();
    println!(
        "full sync of {accounts} accounts pushed to Salesforce (Zuora at {} ms, Salesforce at {} ms per call)",
        LATENCY.as_millis(),
        SF_LATENCY.as_millis()
    );
    println!(
        "  full sync wall time                            {:>8.1} s",
        synced.as_secs_f64()
    );
    println!(
        "  push wall time after it (sweep every 5 s)      {:>8.1} s   ({:.0} accounts/s)",
        pushed.as_secs_f64(),
        accounts as f64 / pushed.as_secs_f64()
    );
    println!("  customer accounts in Salesforce               {held:>8}");
    println!(
        "  upsert calls / records                         {:>8} / {records}",
        per_call.len()
    );
    println!("  records per call (average)                     {average:>8.1}   (goal >= 150)");
    println!(
        "  Salesforce calls per account                   {:>8.3}",
        stats.api_usage as f64 / accounts.max(1) as f64
    );
}
