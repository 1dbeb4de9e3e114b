//! Who acts in a simulated run: Zuora (edits, and callouts it delivers with its own retries),
//! callers of the API, logins, the SQS event source feeding the worker, and the sweep's
//! schedule. Each Lambda invocation runs as its own task under its deadline; one that outlives
//! it without a crash fault is an overrun (the platform would kill it).

use super::plan::{INVOCATION, Rates, SalesforceRates, SeededPlan};
use crate::support::*;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use std::collections::BTreeSet;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use zuora_sync::adapters::memory::Delivery;
use zuora_sync::core::realtime::callout;
use zuora_sync::core::sync::{AccountOutcome, Enqueued, SyncError};
use zuora_sync::handlers::sqs_worker::Worker;
use zuora_sync::model::{
    AccountKey, CalloutFields, ChangeList, JobTarget, SubscriptionKey, SubscriptionStatus,
    SyncMode, Trigger,
};
use zuora_sync::ports::PushStore;

/// The functions' timeouts and the queue's settings, as in template.yaml.
pub const API_TIMEOUT: Duration = Duration::from_secs(29);
pub const WORKER_TIMEOUT: Duration = Duration::from_secs(60);
pub const SWEEP_TIMEOUT: Duration = Duration::from_secs(60);
pub const VISIBILITY: Duration = Duration::from_secs(360);
pub const MAX_RECEIVES: u32 = 5;
const BATCH_SIZE: usize = 10;
/// Worker invocations running at once.
const WORKER_CONCURRENCY: usize = 3;
/// Zuora waits this long for a callout's answer, and retries a failed one 3 times in all,
/// about 30 minutes apart.
const CALLOUT_WAIT: Duration = Duration::from_secs(25);
const CALLOUT_ATTEMPTS: u32 = 3;

/// A request the product answered as accepted: it must be served.
#[derive(Debug, Clone)]
pub struct Ack {
    pub what: String,
    pub account: u32,
    /// The event the answer named, if any.
    pub event_id: Option<String>,
}

#[derive(Debug, Default)]
pub struct Log {
    pub trace: Vec<String>,
    pub acks: Vec<Ack>,
    /// Invocations killed by their deadline, not by a crash fault.
    pub overruns: Vec<String>,
    /// Changes without a callout, or whose callout Zuora gave up on (never answered 2xx):
    /// reconciliation must find them.
    pub lost_callouts: Vec<u32>,
    /// Customer ids answered, per account: they must never change.
    pub customer_ids: Vec<(u32, String)>,
    pub redriven: usize,
}

pub struct Sim {
    pub env: Env,
    pub plan: Arc<SeededPlan>,
    pub accounts: u32,
    pub mode: SyncMode,
    /// The entity pushes to Salesforce.
    pub salesforce: bool,
    /// Full syncs read through a bulk export.
    pub bulk: bool,
    worker: Worker,
    rng: Mutex<Xoshiro256PlusPlus>,
    log: Mutex<Log>,
    next_invocation: AtomicU64,
    /// Callouts Zuora is still delivering (or retrying).
    pending_callouts: AtomicU64,
}

impl Sim {
    pub fn new(seed: u64) -> Self {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut env = Env::new();
        let accounts = rng.random_range(3..=7);
        env.seed_accounts(accounts);
        let mut rates = Rates::draw(&mut rng);
        // Three runs in four push to Salesforce (their own generator: the other draws stay
        // as they were).
        let salesforce = !seed.is_multiple_of(4);
        if salesforce {
            rates.salesforce = SalesforceRates::draw(seed);
            for n in 1..=accounts {
                env.zuora.update_account(&account_id(n), |a| {
                    a.account.crm_id = Some(crm_id(n));
                });
            }
        }
        // One run in three reads its full syncs through a bulk export, ready after 1 to 3
        // polls (decided by the seed alone: the other draws stay as they were).
        let bulk = seed.is_multiple_of(3);
        env.zuora.set_export_polls(1 + (seed / 3 % 3) as u32);
        // Half of those split the export into parts: room for 3 accounts a worker makes 2 or
        // 3 parts of 3 to 7 accounts.
        let parts = bulk && seed / 9 % 2 == 1;
        if parts {
            Arc::get_mut(&mut env.realtime)
                .expect("nothing else holds the service yet")
                .limit_bulk_accounts(3);
        }
        let plan = Arc::new(SeededPlan::new(seed, rates.clone()));
        env.store.set_fault_plan(plan.clone());
        env.queue.set_fault_plan(plan.clone());
        env.zuora.set_fault_plan(plan.clone());
        env.salesforce.set_fault_plan(plan.clone());
        let mode = if rng.random_bool(0.8) {
            SyncMode::Realtime
        } else {
            SyncMode::Scheduled
        };
        let worker = Worker {
            sync: env.sync.clone(),
            realtime: env.realtime.clone(),
            max_receives: MAX_RECEIVES,
            push: Some(env.push.clone()),
        };
        let sim = Self {
            env,
            plan,
            accounts,
            mode,
            salesforce,
            bulk,
            worker,
            rng: Mutex::new(rng),
            log: Mutex::new(Log::default()),
            next_invocation: AtomicU64::new(0),
            pending_callouts: AtomicU64::new(0),
        };
        sim.note(format!(
            "seed {seed}: {accounts} accounts, {mode:?}, salesforce {salesforce}, bulk {bulk}, parts {parts}, rates {rates:?}"
        ));
        sim
    }

    fn rng<T>(&self, f: impl FnOnce(&mut Xoshiro256PlusPlus) -> T) -> T {
        f(&mut self.rng.lock().unwrap())
    }

    pub fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn trace(&self) -> Vec<String> {
        self.log().trace.clone()
    }

    fn note(&self, line: String) {
        let t = (self.env.now().0 - START.0) / 1000;
        self.log().trace.push(format!("{t:>6}s {line}"));
    }

    fn ack(&self, what: &str, account: u32, event_id: Option<String>) {
        // (Event ids are random: the trace leaves them out so that it replays exactly.)
        self.note(format!("ack {what} A{account}"));
        self.log().acks.push(Ack {
            what: what.to_string(),
            account,
            event_id,
        });
    }

    fn spawn(self: &Arc<Self>, f: impl Future<Output = ()> + Send + 'static) {
        tokio::spawn(f);
    }

    /// Runs `f` as one invocation with `timeout`: `None` when it died (a crash fault, or an
    /// overrun, which is logged).
    async fn invoke<T>(
        &self,
        what: &str,
        timeout: Duration,
        f: impl Future<Output = T>,
    ) -> Option<T> {
        let id = self.next_invocation.fetch_add(1, Ordering::SeqCst);
        match INVOCATION.scope(id, tokio::time::timeout(timeout, f)).await {
            Ok(out) => Some(out),
            Err(_) if self.plan.crashed(id) => {
                self.note(format!("{what} crashed"));
                None
            }
            Err(_) => {
                self.note(format!("{what} OVERRAN its {timeout:?}"));
                self.log().overruns.push(what.to_string());
                None
            }
        }
    }

    /// The load: random actions for a few simulated minutes, with the worker and the sweep
    /// running all along.
    pub async fn load(self: Arc<Self>) {
        let sim = self.clone();
        self.spawn(async move { sim.worker_source().await });
        let sim = self.clone();
        self.spawn(async move { sim.sweep_schedule().await });
        // Every account mirrored once before the load, as after an entity's first full sync.
        for n in 1..=self.accounts {
            self.env.sync_now(&key(&account_id(n))).await;
        }
        let (mode, salesforce, bulk) = (self.mode, self.salesforce, self.bulk);
        if bulk {
            // Past the clock skew the snapshot order allows for: the export's copies can be
            // committed, not only read again (docs/ARCHITECTURE.md, "Bulk full sync").
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        let before = self.env.settings().await;
        self.env
            .configure(|s| {
                s.sync_mode = mode;
                s.max_events_before_sync = 3;
                s.max_minutes_between_syncs = 5;
                s.salesforce.enabled = salesforce;
                s.bulk_export = bulk;
            })
            .await;
        // What the settings route does next (a full sync when switching to real time or
        // turning pushes on).
        let after = self.env.settings().await;
        let started = self
            .env
            .realtime
            .after_settings_change(&self.env.entity, &before, &after, "sim-settings")
            .await
            .expect("no faults before the load");
        if started.is_some() {
            self.note("settings change started a full sync".into());
        }
        let steps = self.rng(|r| r.random_range(20..60));
        for _ in 0..steps {
            let pause = self.rng(|r| r.random_range(0..15_000));
            tokio::time::sleep(Duration::from_millis(pause)).await;
            let account = self.rng(|r| r.random_range(1..=self.accounts));
            let action = self.rng(|r| r.random_range(0..100));
            let sim = self.clone();
            match action {
                0..=1 => self.delete_account(account),
                2..=44 => self.edit(account),
                45..=59 => self.spawn(async move { sim.api_subscription(account).await }),
                60..=69 => self.spawn(async move { sim.api_customer(account).await }),
                70..=84 => self.spawn(async move { sim.enqueue(account, Trigger::OnDemand).await }),
                85..=97 => self.spawn(async move { sim.enqueue(account, Trigger::HotSync).await }),
                _ => self.spawn(async move { sim.full_sync().await }),
            }
        }
    }

    /// Quiesces: no more load or faults; waits until nothing runs, nothing is queued or in
    /// flight and every lease has passed (redriving the DLQ once, as the runbook says).
    pub async fn quiesce(&self) {
        self.note(format!("quiesce after {} faults", self.plan.faults()));
        self.plan.stop();
        let give_up = tokio::time::Instant::now() + Duration::from_secs(8 * 3600);
        let mut idle_since = None;
        while tokio::time::Instant::now() < give_up {
            tokio::time::sleep(Duration::from_secs(30)).await;
            let idle = self.env.queue.is_empty()
                && self.env.queue.in_flight() == 0
                && self.deliveries_done()
                && self.pushes_done().await;
            if !idle {
                idle_since = None;
                continue;
            }
            let dead = self.env.queue.dead_letters();
            if !dead.is_empty() {
                self.note(format!("redrive {} dead letters", dead.len()));
                self.log().redriven += dead.len();
                self.env.queue.redrive();
                continue;
            }
            let since = *idle_since.get_or_insert(tokio::time::Instant::now());
            // Past every lease and the max time between syncs, twice.
            if since.elapsed() > Duration::from_secs(15 * 60) {
                self.note("quiet".into());
                return;
            }
        }
        self.note("never quiesced".into());
        self.log()
            .overruns
            .push("the run never quiesced".to_string());
    }

    fn deliveries_done(&self) -> bool {
        self.pending_callouts.load(Ordering::SeqCst) == 0
    }

    /// No account waits for a Salesforce push (one may wait out a pause first).
    async fn pushes_done(&self) -> bool {
        let env = &self.env;
        env.store
            .pending_pushes(&env.entity, None, env.now().plus_ms(1), 1)
            .await
            .is_ok_and(|p| p.is_empty())
    }
}

// The actors.
impl Sim {
    /// Zuora: one edit of an account or something under it, then its callout.
    fn edit(self: &Arc<Self>, account: u32) {
        let id = account_id(account);
        let kind = self.rng(|r| r.random_range(0..5));
        let stamp = self.rng(|r| r.random_range(0..1_000_000));
        let now = self.env.now();
        let edited = self.env.zuora.update_account(&id, |a| match kind {
            0 => a.account.name = format!("Customer {account} v{stamp}"),
            1 => {
                let sub = &mut a.subscriptions[0];
                sub.term_end_date = Some(format!("2027-01-{:02}", stamp % 28 + 1));
            }
            2 => {
                let sub = &mut a.subscriptions[0];
                sub.status = if sub.status == SubscriptionStatus::Active {
                    SubscriptionStatus::Suspended
                } else {
                    SubscriptionStatus::Active
                };
            }
            3 => a.payment_methods[0].expiration_year = Some(2030 + (stamp % 10) as u32),
            _ => {
                if let Some(c) = a.bill_to.as_mut() {
                    c.work_email = Some(format!("billing{stamp}@example.com"));
                }
            }
        });
        if !edited {
            return; // Deleted in Zuora: nothing to edit.
        }
        // Only the account's own fields move its updatedDate; a child's edit moves the child's.
        let stamp_at = now.to_rfc3339();
        match kind {
            0 => {
                self.env.zuora.set_updated(&id, &stamp_at);
            }
            1 | 2 => self.env.zuora.touch(
                ChangeList::Subscriptions,
                &subscription(account).id,
                &stamp_at,
            ),
            3 => self.env.zuora.touch(
                ChangeList::PaymentMethods,
                &format!("pm-{account}"),
                &stamp_at,
            ),
            _ => self.env.zuora.touch(
                ChangeList::Contacts,
                &format!("contact-{account}"),
                &stamp_at,
            ),
        }
        // Not every change has a callout (its event type may have none configured): only
        // reconciliation can find those.
        if self.rng(|r| r.random_bool(0.2)) {
            self.note(format!("zuora edit {kind} of A{account}, no callout"));
            self.log().lost_callouts.push(account);
            return;
        }
        self.note(format!("zuora edit {kind} of A{account}"));
        let event_id = format!("evt-{stamp}-{}", self.env.now().0);
        self.pending_callouts.fetch_add(1, Ordering::SeqCst);
        let sim = self.clone();
        self.spawn(async move { sim.deliver_callout(account, event_id).await });
    }

    /// Zuora: an account is deleted (its subscriptions with it), then its callout.
    fn delete_account(self: &Arc<Self>, account: u32) {
        if self
            .env
            .zuora
            .remove_account(&account_id(account))
            .is_none()
        {
            return;
        }
        self.note(format!("zuora deletes A{account}"));
        let event_id = format!("evt-delete-{account}");
        self.pending_callouts.fetch_add(1, Ordering::SeqCst);
        let sim = self.clone();
        self.spawn(async move { sim.deliver_callout(account, event_id).await });
    }

    /// Zuora's delivery of one callout, with its retries.
    async fn deliver_callout(self: Arc<Self>, account: u32, event_id: String) {
        let body =
            serde_json::json!({"EventId": event_id, "AccountNumber": account_number(account)});
        for attempt in 1..=CALLOUT_ATTEMPTS {
            let answer = self
                .invoke("callout", CALLOUT_WAIT, self.callout(&body))
                .await;
            match answer {
                Some(Ok(())) => {
                    self.ack("callout", account, None);
                    self.pending_callouts.fetch_sub(1, Ordering::SeqCst);
                    return;
                }
                Some(Err(e)) => self.note(format!("callout attempt {attempt} for A{account}: {e}")),
                None => {}
            }
            let wait = self.rng(|r| r.random_range(25..35)) * 60;
            tokio::time::sleep(Duration::from_secs(wait)).await;
        }
        self.note(format!("callout for A{account} given up by Zuora"));
        self.log().lost_callouts.push(account);
        self.pending_callouts.fetch_sub(1, Ordering::SeqCst);
    }

    /// What the callout route does with a body (handlers/http/realtime_routes.rs).
    async fn callout(&self, body: &serde_json::Value) -> Result<(), String> {
        let fields = CalloutFields::default();
        let account = callout::account(body, &fields).map_err(|n| format!("no account {n:?}"))?;
        let account = AccountKey::parse(account).map_err(|e| e.to_string())?;
        let dedupe =
            callout::event_identity(body, account.as_str(), &fields).ok_or("no event identity")?;
        self.env
            .realtime
            .callout(
                &self.env.entity,
                &dedupe,
                &account,
                "sim-callout",
                self.env.now().plus_ms(20_000),
            )
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn api_req(&self, trigger: Trigger) -> zuora_sync::core::sync::SyncRequest {
        zuora_sync::core::sync::SyncRequest::new(
            self.env.entity.clone(),
            trigger,
            "sim",
            self.env.now().plus_ms(API_TIMEOUT.as_millis() as i64),
        )
    }

    /// The public route: sync one subscription.
    async fn api_subscription(self: Arc<Self>, account: u32) {
        let key = SubscriptionKey::parse(&subscription_number(account)).unwrap();
        let req = self.api_req(Trigger::Api);
        let answer = self
            .invoke(
                "api subscription",
                API_TIMEOUT,
                self.env.sync.sync_subscription(&req, &key),
            )
            .await;
        match answer {
            Some(Ok(synced)) => {
                self.log()
                    .customer_ids
                    .push((account, synced.owner.clone()));
                self.ack("api 200", account, Some(synced.event_id));
            }
            Some(Err(f)) if matches!(f.error, SyncError::Busy { .. }) => {
                self.ack("api 502 account_busy", account, Some(f.event_id));
            }
            Some(Err(f)) => self.note(format!("api subscription A{account}: {}", f.error)),
            None => {}
        }
    }

    /// Manual sync of a customer (each subscription read on its own).
    async fn api_customer(self: Arc<Self>, account: u32) {
        let key = AccountKey::parse(&account_number(account)).unwrap();
        let req = self.api_req(Trigger::Manual);
        let answer = self
            .invoke(
                "api customer",
                API_TIMEOUT,
                self.env.sync.sync_customer(&req, &key),
            )
            .await;
        match answer {
            Some(Ok(AccountOutcome::Synced(r))) => {
                self.log()
                    .customer_ids
                    .push((account, r.customer_id.clone()));
                self.ack("customer 200", account, Some(r.event_id));
            }
            Some(Ok(AccountOutcome::Coalesced { event_id })) => {
                self.ack("customer coalesced", account, Some(event_id))
            }
            Some(Err(f)) if matches!(f.error, SyncError::Busy { .. }) => {
                self.ack("customer 502 account_busy", account, Some(f.event_id));
            }
            Some(Err(f)) => self.note(format!("api customer A{account}: {}", f.error)),
            None => {}
        }
    }

    /// An on-demand request or a login's hot sync: queued for the worker.
    async fn enqueue(self: Arc<Self>, account: u32, trigger: Trigger) {
        let key = AccountKey::parse(&account_number(account)).unwrap();
        let req = self.api_req(trigger);
        let target = JobTarget::Account { account: key };
        let answer = self
            .invoke(
                "enqueue",
                API_TIMEOUT,
                self.env.sync.enqueue(&req, &target, None),
            )
            .await;
        match answer {
            Some(Ok(Enqueued::CoalescedIntoQueued { event_id, queued })) => {
                // Served by the queued job: its event must end too.
                let what = format!("{} 202 into queued", trigger.as_str());
                self.ack(&what, account, Some(queued));
                self.ack(&what, account, Some(event_id));
            }
            Some(Ok(
                Enqueued::Queued { event_id } | Enqueued::CoalescedIntoRunning { event_id },
            )) => self.ack(
                &format!("{} 202", trigger.as_str()),
                account,
                Some(event_id),
            ),
            Some(Ok(Enqueued::Throttled { .. })) => {}
            Some(Err(f)) => self.note(format!("enqueue A{account}: {}", f.error)),
            None => {}
        }
    }

    async fn full_sync(self: Arc<Self>) {
        let answer = self
            .invoke(
                "full sync",
                API_TIMEOUT,
                self.env
                    .realtime
                    .start_full_sync(&self.env.entity, "sim-full"),
            )
            .await;
        match answer {
            Some(Ok(_)) => self.note("full sync started".into()),
            Some(Err(e)) => self.note(format!("full sync not started: {e}")),
            None => {}
        }
    }

    /// The SQS event source: polls, and runs batches on up to `WORKER_CONCURRENCY`
    /// invocations; deletes what each answered as done.
    async fn worker_source(self: Arc<Self>) {
        let running = Arc::new(AtomicU64::new(0));
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if running.load(Ordering::SeqCst) as usize >= WORKER_CONCURRENCY {
                continue;
            }
            let batch = self
                .env
                .queue
                .receive_batch(BATCH_SIZE, VISIBILITY, MAX_RECEIVES);
            if batch.is_empty() {
                continue;
            }
            running.fetch_add(1, Ordering::SeqCst);
            let sim = self.clone();
            let running = running.clone();
            tokio::spawn(async move {
                sim.run_batch(batch).await;
                running.fetch_sub(1, Ordering::SeqCst);
            });
        }
    }

    async fn run_batch(&self, batch: Vec<Delivery>) {
        let event = sqs_event(&batch);
        let deadline = self.env.now().plus_ms(WORKER_TIMEOUT.as_millis() as i64);
        let what = format!("worker batch of {}", batch.len());
        let Some(response) = self
            .invoke(&what, WORKER_TIMEOUT, self.worker.handle(event, deadline))
            .await
        else {
            return; // Died: the whole batch comes back after its visibility timeout.
        };
        let failed: BTreeSet<String> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        for d in &batch {
            if !failed.contains(&d.receipt.to_string()) {
                self.env.queue.delete(d.receipt);
            }
        }
        self.note(format!("{what}: {} to retry", failed.len()));
    }

    /// EventBridge's schedule: one sweep a minute.
    async fn sweep_schedule(self: Arc<Self>) {
        loop {
            tokio::time::sleep(Duration::from_secs(60)).await;
            let entities = [self.env.entity.clone()];
            let event = serde_json::json!({"id": "sim-sweep"});
            let out = self
                .invoke(
                    "sweep",
                    SWEEP_TIMEOUT,
                    zuora_sync::handlers::sweep::sweep_event(
                        &self.env.realtime,
                        &entities,
                        &event,
                        self.env.now().plus_ms(SWEEP_TIMEOUT.as_millis() as i64),
                    ),
                )
                .await;
            if let Some(Err(failed)) = out {
                self.note(format!("sweep: {failed}"));
            }
        }
    }
}
