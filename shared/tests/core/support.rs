//! The test bench: the services on the memory adapters, a few accounts, and the worker's
//! dispatch on the core's entry points.

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use std::sync::Arc;
use std::time::Duration;
use zuora_sync::adapters::memory::{
    Delivery, FakeSalesforce, FakeZuora, Fault, FaultPlan, MemoryQueue, MemoryStore, QueuedJob,
    RecordingNotifier, TokioClock, ZuoraFault,
};
use zuora_sync::core::push::{PushError, PushPorts, PushReport, PushService, PushSettings};
use zuora_sync::core::realtime::Realtime;
use zuora_sync::core::settings::SettingsCache;
use zuora_sync::core::sync::{
    AccountOutcome, Failure, LookupOutcome, OnBusy, PendingOutcome, Ports, SyncReport, SyncRequest,
    SyncService, SyncSettings,
};
use zuora_sync::core::tenants::ZuoraTenants;
use zuora_sync::handlers::sqs_worker::Worker;
use zuora_sync::model::{
    Account, AccountKey, AccountSnapshot, Contact, EntityId, EntitySettings, EpochMillis,
    JobOutcome, JobTarget, LockKey, PaymentMethod, Subscription, SubscriptionStatus, Trigger,
};
use zuora_sync::ports::{Clock, JobQueue, Notifier, SalesforceApi, SettingsStore, ZuoraApi};

/// 2026-01-01T00:00:00Z.
pub const START: EpochMillis = EpochMillis(1_767_225_600_000);
/// Invocation deadlines are this far from the request.
pub const DEADLINE_MS: i64 = 60_000;

/// The services and every adapter behind them, for one entity.
pub struct Env {
    pub entity: EntityId,
    pub clock: Arc<TokioClock>,
    pub store: Arc<MemoryStore>,
    pub queue: Arc<MemoryQueue>,
    pub zuora: Arc<FakeZuora>,
    pub notifier: Arc<RecordingNotifier>,
    pub settings: Arc<SettingsCache>,
    pub sync: Arc<SyncService>,
    pub realtime: Arc<Realtime>,
    pub salesforce: Arc<FakeSalesforce>,
    pub push: Arc<PushService>,
}

/// The services as `app::build_with` wires them, on the memory adapters. The settings cache
/// keeps nothing (TTL 0): a test's settings change applies to the next call.
pub fn services(
    entity: &EntityId,
    store: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
    zuora: Arc<FakeZuora>,
    notifier: Arc<RecordingNotifier>,
    clock: Arc<TokioClock>,
) -> Services {
    let tenants = Arc::new(ZuoraTenants::new([(
        entity.clone(),
        zuora as Arc<dyn ZuoraApi>,
    )]));
    let settings = Arc::new(SettingsCache::new(store.clone(), Duration::ZERO));
    let notifier: Arc<dyn Notifier> = notifier;
    let queue: Arc<dyn JobQueue> = queue;
    let clock: Arc<dyn Clock> = clock;
    let ports = Ports {
        zuora: tenants.clone(),
        mirror: store.clone(),
        locks: store.clone(),
        events: store.clone(),
        queue: queue.clone(),
        settings: settings.clone(),
        notifier: notifier.clone(),
    };
    let salesforce = Arc::new(FakeSalesforce::new());
    let push = Arc::new(PushService::new(
        PushPorts {
            salesforce: [(entity.clone(), salesforce.clone() as Arc<dyn SalesforceApi>)].into(),
            store: store.clone(),
            mirror: store.clone(),
            queue: queue.clone(),
            settings: settings.clone(),
        },
        clock.clone(),
        PushSettings::default(),
    ));
    let realtime = Arc::new(
        Realtime::new(
            store,
            queue,
            settings.clone(),
            clock.clone(),
            tenants,
            notifier,
        )
        .with_push(push.clone()),
    );
    let sync = Arc::new(SyncService::new(ports, clock, SyncSettings::default()));
    Services {
        sync,
        realtime,
        settings,
        salesforce,
        push,
    }
}

/// What [`services`] wires.
pub struct Services {
    pub sync: Arc<SyncService>,
    pub realtime: Arc<Realtime>,
    pub settings: Arc<SettingsCache>,
    pub salesforce: Arc<FakeSalesforce>,
    pub push: Arc<PushService>,
}

/// What a job run did, whichever entry point ran it (as the worker sees it).
#[derive(Debug, PartialEq)]
pub enum Ran {
    Account(AccountOutcome),
    NothingPending,
    Skipped { code: String },
}

impl Env {
    /// Must be called inside the (paused) runtime: the clock starts at [`START`] now.
    pub fn new() -> Self {
        let entity = EntityId::parse("acme").expect("a valid entity id");
        let clock = Arc::new(TokioClock::new(START));
        let store = Arc::new(MemoryStore::new());
        let queue = Arc::new(MemoryQueue::new(clock.clone()));
        let zuora = Arc::new(FakeZuora::new());
        let notifier = Arc::new(RecordingNotifier::new());
        let Services {
            sync,
            realtime,
            settings,
            salesforce,
            push,
        } = services(
            &entity,
            store.clone(),
            queue.clone(),
            zuora.clone(),
            notifier.clone(),
            clock.clone(),
        );
        Self {
            entity,
            clock,
            store,
            queue,
            zuora,
            notifier,
            settings,
            sync,
            realtime,
            salesforce,
            push,
        }
    }

    pub fn now(&self) -> EpochMillis {
        self.clock.now()
    }

    /// A request from an invocation that has [`DEADLINE_MS`] left.
    pub fn req(&self, trigger: Trigger) -> SyncRequest {
        SyncRequest::new(
            self.entity.clone(),
            trigger,
            "corr-test",
            self.now().plus_ms(DEADLINE_MS),
        )
    }

    pub fn lock_key(&self, account_id: &str) -> LockKey {
        LockKey {
            entity: self.entity.clone(),
            account_id: account_id.to_string(),
        }
    }

    /// The entity's settings now.
    pub async fn settings(&self) -> EntitySettings {
        self.store
            .get_settings(&self.entity)
            .await
            .unwrap()
            .settings
    }

    /// Saves a change to the entity's settings (as an admin update would).
    pub async fn configure(&self, change: impl FnOnce(&mut EntitySettings)) {
        let current = self.store.get_settings(&self.entity).await.unwrap();
        let mut next = current.settings.clone();
        change(&mut next);
        self.store
            .put_settings(&self.entity, &next, current.version, "test", self.now())
            .await
            .unwrap()
            .expect("the version just read");
    }

    /// Accounts `1..=n` in Zuora, listed in that order (each updated a second after the last).
    pub fn seed_accounts(&self, n: u32) {
        for i in 1..=n {
            self.zuora.put_account(account(i));
            self.zuora.set_updated(
                &account_id(i),
                &START.plus_ms(i64::from(i) * 1000).to_rfc3339(),
            );
        }
    }

    /// Syncs an account directly (an API request) and answers its report.
    pub async fn sync_now(&self, key: &AccountKey) -> SyncReport {
        match self
            .sync
            .sync_account(&self.req(Trigger::Api), key, OnBusy::Coalesce)
            .await
        {
            Ok(AccountOutcome::Synced(report)) => report,
            other => panic!("expected a sync, got {other:?}"),
        }
    }

    /// What the worker (handlers/sqs_worker.rs) does with an account, catalog, lookup or
    /// check job, on the core's entry points: run it, clear its queued mark, and count it in
    /// its session once it ended (a transient failure has not: SQS would retry it).
    pub async fn run(&self, queued: &QueuedJob) -> Result<Ran, Failure> {
        let job = &queued.job;
        let mut req = SyncRequest::new(
            job.entity.clone(),
            job.trigger,
            job.correlation_id.clone(),
            self.now().plus_ms(DEADLINE_MS),
        );
        req.event_id = job.event_id.clone();
        req.subject = job.subject.clone();
        let result: Result<Ran, Failure> = match &job.target {
            _ if job.only_if_pending => {
                self.sync
                    .sync_if_pending(&req, &job.target)
                    .await
                    .map(|p| match p {
                        PendingOutcome::NothingPending => Ran::NothingPending,
                        PendingOutcome::Ran(a) => Ran::Account(a),
                    })
            }
            JobTarget::Account { account } => self
                .sync
                .sync_account(&req, account, OnBusy::Coalesce)
                .await
                .map(Ran::Account),
            JobTarget::Catalog => self
                .sync
                .sync_catalog(&req, OnBusy::Coalesce)
                .await
                .map(Ran::Account),
            JobTarget::Lookup { field, value } => self
                .sync
                .resolve_and_sync(&req, field, value)
                .await
                .map(|l| match l {
                    LookupOutcome::Ran(a) => Ran::Account(a),
                    LookupOutcome::Skipped { code, .. } => Ran::Skipped { code },
                }),
            JobTarget::FullSyncPage { .. } => panic!("page jobs go to Env::page"),
            JobTarget::BulkExport { .. } | JobTarget::BulkAccounts { .. } => {
                panic!("bulk full sync jobs go through the worker: Env::drain")
            }
            JobTarget::SalesforcePush { .. } => panic!("push jobs go to Env::push_job"),
        };
        let account_id = match &result {
            Ok(Ran::Account(AccountOutcome::Synced(r))) => Some(r.account_id.as_str()),
            _ => None,
        };
        self.sync.job_done(&req, &job.target, account_id).await;
        if let (Some(session), Some(account)) = (&job.session_id, job.account_key()) {
            let ended = match &result {
                Ok(Ran::Account(AccountOutcome::Synced(r))) => {
                    Some((JobOutcome::Succeeded, r.written + r.removed, None))
                }
                Ok(_) => Some((JobOutcome::Skipped, 0, None)),
                Err(f) if !f.error.is_transient() && !f.unrecorded => {
                    Some((JobOutcome::Failed, 0, Some(f.error.to_string())))
                }
                Err(_) => None,
            };
            if let Some((outcome, written, reason)) = ended {
                self.realtime
                    .job_ended(
                        &job.entity,
                        session,
                        account.as_str(),
                        outcome,
                        written,
                        reason.as_deref(),
                    )
                    .await
                    .expect("the job is counted in its session");
            }
        }
        result
    }

    /// One full sync page job, through the core's page handling.
    pub async fn page(&self, queued: &QueuedJob) {
        let job = &queued.job;
        let JobTarget::FullSyncPage { cursor } = &job.target else {
            panic!("not a page job: {job:?}");
        };
        let session = job
            .session_id
            .as_deref()
            .expect("a page job names its session");
        self.realtime
            .full_sync_page(
                &job.entity,
                session,
                cursor.as_deref(),
                &job.correlation_id,
                self.now().plus_ms(DEADLINE_MS),
            )
            .await
            .expect("the page is read and queued");
    }

    /// One Salesforce push job, as the worker runs it; answers what it did (an error: SQS
    /// would retry the job).
    pub async fn push_job(&self, queued: &QueuedJob) -> Result<PushReport, PushError> {
        let job = &queued.job;
        let JobTarget::SalesforcePush {
            accounts,
            retry_failed,
        } = &job.target
        else {
            panic!("not a push job: {job:?}");
        };
        self.push
            .push(
                &job.entity,
                accounts,
                *retry_failed,
                &job.correlation_id,
                self.now().plus_ms(DEADLINE_MS),
            )
            .await
    }

    /// Runs any job.
    pub async fn work(&self, queued: &QueuedJob) {
        if matches!(queued.job.target, JobTarget::FullSyncPage { .. }) {
            self.page(queued).await;
        } else if matches!(queued.job.target, JobTarget::SalesforcePush { .. }) {
            let _ = self.push_job(queued).await;
        } else {
            let _ = self.run(queued).await;
        }
    }

    /// The SQS worker over these services.
    pub fn worker(&self) -> Worker {
        Worker {
            sync: self.sync.clone(),
            realtime: self.realtime.clone(),
            max_receives: 5,
            push: Some(self.push.clone()),
        }
    }

    /// Feeds every queued message to the real worker in batches of 10, as SQS's event source
    /// does (a message it answers as failed comes back after its visibility timeout), waiting
    /// on the paused clock for delayed ones, until the queue is empty.
    pub async fn drain(&self) {
        self.drain_until(|_| false).await;
    }

    /// [`drain`](Self::drain), stopping once a queued job matches `stop`; answers how many
    /// do then (0 if the queue emptied first).
    pub async fn drain_until(&self, stop: impl Fn(&JobTarget) -> bool) -> usize {
        let worker = self.worker();
        loop {
            let queued = self.queue.queued();
            let matching = queued.iter().filter(|j| stop(&j.job.target)).count();
            if matching > 0 {
                return matching;
            }
            let batch = self.queue.receive_batch(10, Duration::from_secs(360), 5);
            if batch.is_empty() {
                let Some(at) = self.queue.next_visible() else {
                    return 0;
                };
                let wait = (at.0 - self.now().0).max(1) as u64;
                tokio::time::sleep(Duration::from_millis(wait)).await;
                continue;
            }
            let deadline = self.now().plus_ms(DEADLINE_MS);
            let response = worker.handle(sqs_event(&batch), deadline).await;
            let failed: Vec<String> = response
                .batch_item_failures
                .into_iter()
                .map(|f| f.item_identifier)
                .collect();
            for d in &batch {
                if !failed.contains(&d.receipt.to_string()) {
                    self.queue.delete(d.receipt);
                }
            }
        }
    }

    /// Runs jobs until none is visible; answers how many ran.
    pub async fn work_all(&self) -> usize {
        let mut ran = 0;
        while let Some(job) = self.queue.receive() {
            self.work(&job).await;
            ran += 1;
        }
        ran
    }
}

/// The Lambda event of received messages, as SQS's event source builds it (the receipt
/// doubles as the message id).
pub fn sqs_event(batch: &[Delivery]) -> SqsEvent {
    let mut event = SqsEvent::default();
    for d in batch {
        let mut m = SqsMessage::default();
        m.message_id = Some(d.receipt.to_string());
        m.receipt_handle = Some(d.receipt.to_string());
        m.body = Some(d.message.body.clone());
        m.attributes.insert(
            "ApproximateReceiveCount".into(),
            d.message.receive_count.to_string(),
        );
        event.records.push(m);
    }
    event
}

/// A session as stored (it must exist).
pub async fn stored_session(env: &Env, id: &str) -> zuora_sync::model::Session {
    use zuora_sync::ports::RealtimeStore;
    env.store
        .get_session(&env.entity, id)
        .await
        .unwrap()
        .expect("the session exists")
}

pub fn account_id(n: u32) -> String {
    format!("{n:032x}")
}

pub fn account_number(n: u32) -> String {
    format!("A{n:08}")
}

pub fn subscription_number(n: u32) -> String {
    format!("A-S{n:08}")
}

pub fn key(raw: &str) -> AccountKey {
    AccountKey::parse(raw).expect("a valid account key")
}

pub fn subscription(n: u32) -> Subscription {
    Subscription {
        id: format!("{:032x}", 0x5000_0000u64 + u64::from(n)),
        number: subscription_number(n),
        account_id: None,
        account_number: None,
        status: SubscriptionStatus::Active,
        version: Some(1),
        term_type: Some("TERMED".into()),
        contract_effective_date: Some("2025-01-01".into()),
        subscription_start_date: Some("2025-01-01".into()),
        subscription_end_date: None,
        term_start_date: Some("2025-01-01".into()),
        term_end_date: Some("2026-01-01".into()),
        auto_renew: Some(true),
        currency: Some("USD".into()),
        rate_plans: vec![],
    }
}

/// Account `n`: a customer, a bill-to address, a payment method and an active subscription
/// (four mirror records).
/// Account `n`'s CRM account (a well-formed Salesforce Account id).
pub fn crm_id(n: u32) -> String {
    format!("001{n:015}")
}

pub fn account(n: u32) -> AccountSnapshot {
    AccountSnapshot {
        account: Account {
            id: account_id(n),
            account_number: account_number(n),
            name: format!("Customer {n}"),
            status: "Active".into(),
            currency: Some("USD".into()),
            crm_id: None,
            bill_cycle_day: Some(1),
            payment_term: Some("Net 30".into()),
            default_payment_method_id: Some(format!("pm-{n}")),
            custom_fields: Default::default(),
        },
        bill_to: Some(Contact {
            id: format!("contact-{n}"),
            first_name: Some("Ada".into()),
            last_name: Some("Lovelace".into()),
            work_email: Some(format!("billing{n}@example.com")),
            country: Some("GB".into()),
            ..Default::default()
        }),
        sold_to: None,
        payment_methods: vec![PaymentMethod {
            id: format!("pm-{n}"),
            method_type: "CreditCard".into(),
            is_default: true,
            status: Some("Active".into()),
            card_type: Some("Visa".into()),
            masked_number: Some("************1111".into()),
            expiration_month: Some(12),
            expiration_year: Some(2030),
            bank_name: None,
            account_holder_name: Some("Ada Lovelace".into()),
        }],
        subscriptions: vec![subscription(n)],
    }
}

/// Records of [`account`] in the mirror.
pub const RECORDS_PER_ACCOUNT: usize = 4;

/// A fault plan that stalls one store call: the `n`-th (from 1) of those named `op` (any, with
/// `None`) lands `stall` late; every other call passes.
#[derive(Debug)]
pub struct StallCall {
    pub op: Option<&'static str>,
    pub n: u64,
    pub stall: Duration,
    seen: std::sync::atomic::AtomicU64,
}

impl StallCall {
    pub fn new(op: Option<&'static str>, n: u64, stall: Duration) -> Arc<Self> {
        Arc::new(Self {
            op,
            n,
            stall,
            seen: Default::default(),
        })
    }
}

impl FaultPlan for StallCall {
    fn store_call(&self, op: &'static str) -> Fault {
        if self.op.is_some_and(|o| o != op) {
            return Fault::Pass;
        }
        let seen = self.seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        if seen == self.n {
            Fault::Delay(self.stall)
        } else {
            Fault::Pass
        }
    }
    fn queue_send(&self) -> Fault {
        Fault::Pass
    }
    fn zuora_call(&self, _: &'static str) -> ZuoraFault {
        ZuoraFault::Pass
    }
}

/// A fault plan that fails `n` store calls named `op`, after letting `skip` of them pass;
/// every other call passes.
#[derive(Debug)]
pub struct FailCalls {
    pub op: &'static str,
    skip: std::sync::atomic::AtomicU64,
    left: std::sync::atomic::AtomicU64,
}

impl FailCalls {
    pub fn new(op: &'static str, n: u64) -> Arc<Self> {
        Self::after(op, 0, n)
    }

    pub fn after(op: &'static str, skip: u64, n: u64) -> Arc<Self> {
        Arc::new(Self {
            op,
            skip: skip.into(),
            left: n.into(),
        })
    }
}

impl FaultPlan for FailCalls {
    fn store_call(&self, op: &'static str) -> Fault {
        use std::sync::atomic::Ordering::SeqCst;
        let take = |n: u64| n.checked_sub(1);
        if op != self.op || self.skip.fetch_update(SeqCst, SeqCst, take).is_ok() {
            return Fault::Pass;
        }
        if self.left.fetch_update(SeqCst, SeqCst, take).is_ok() {
            Fault::Fail
        } else {
            Fault::Pass
        }
    }
    fn queue_send(&self) -> Fault {
        Fault::Pass
    }
    fn zuora_call(&self, _: &'static str) -> ZuoraFault {
        ZuoraFault::Pass
    }
}

/// Several fault plans at once: each is asked about every call (so counting plans count), and
/// the first fault any of them answers is the call's.
#[derive(Debug)]
pub struct Plans(Vec<Arc<dyn FaultPlan>>);

impl Plans {
    pub fn of(plans: Vec<Arc<dyn FaultPlan>>) -> Arc<Self> {
        Arc::new(Self(plans))
    }
}

impl FaultPlan for Plans {
    fn store_call(&self, op: &'static str) -> Fault {
        let faults: Vec<Fault> = self.0.iter().map(|p| p.store_call(op)).collect();
        faults
            .into_iter()
            .find(|f| *f != Fault::Pass)
            .unwrap_or(Fault::Pass)
    }
    fn queue_send(&self) -> Fault {
        let faults: Vec<Fault> = self.0.iter().map(|p| p.queue_send()).collect();
        faults
            .into_iter()
            .find(|f| *f != Fault::Pass)
            .unwrap_or(Fault::Pass)
    }
    fn zuora_call(&self, method: &'static str) -> ZuoraFault {
        let faults: Vec<ZuoraFault> = self.0.iter().map(|p| p.zuora_call(method)).collect();
        faults
            .into_iter()
            .find(|f| !matches!(f, ZuoraFault::Pass))
            .unwrap_or(ZuoraFault::Pass)
    }
}
