//! The sync itself: Zuora snapshot → diff → one fenced write, under the account lock.
//!
//! Concurrency (design §2.2): the first request for an account takes its lock; requests that
//! arrive while it runs record a *wish* on the lock item and return. Before releasing, the
//! holder sees pending wishes (its release is conditioned on there being none), takes them and
//! runs exactly one follow-up sync, so a change that arrived meanwhile is never missed. The
//! first wisher also queues a delayed check, which syncs the account if the holder died before
//! serving the wishes.
//!
//! Three scopes share this machinery: an account (every trigger), an account with each
//! subscription read on its own (the manual customer sync) and the product catalog (stored
//! under a pseudo account, so it is locked and fenced the same way).

mod fetch;
mod lookup;
mod queueing;

pub use queueing::Enqueued;

use crate::model::EpochMillis;

use crate::core::settings::SettingsCache;
use crate::core::tenants::ZuoraTenants;
use crate::model::CATALOG_ACCOUNT;
use crate::model::CallContext;
use crate::model::EntitySettings;
use crate::model::JobTarget;
use crate::model::{AccountKey, AccountSnapshot, EntityId, SubscriptionKey};
use crate::model::{Acquire, Commit, Fence, HeldLock, LockKey, Wish};
use crate::model::{EventStatus, SubscriptionFailure, SyncEvent, Trigger, new_event_id};
use crate::ports::Clock;
use crate::ports::{EventStore, LockStore, MirrorStore, StoreError};
use crate::ports::{JobQueue, QueueError};
use crate::ports::{ZuoraApi, ZuoraError};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// Added to the invocation deadline to make the lease: a holder can never outlive it.
    pub lease_margin: Duration,
    /// How long a synchronous request waits for a busy account before answering "busy".
    pub lock_wait: Duration,
    /// A follow-up sync starts in this invocation only with at least this much time left;
    /// otherwise it is queued.
    pub follow_up_min_time: Duration,
}

impl Default for SyncSettings {
    fn default() -> Self {
        Self {
            lease_margin: Duration::from_secs(5),
            lock_wait: Duration::from_secs(3),
            follow_up_min_time: Duration::from_secs(5),
        }
    }
}

/// Who asked for a sync, and until when it may run.
#[derive(Debug, Clone)]
pub struct SyncRequest {
    pub entity: EntityId,
    pub trigger: Trigger,
    pub correlation_id: String,
    /// The invocation deadline (Lambda `Context::deadline`).
    pub deadline: EpochMillis,
    /// An event already recorded for this request (a queued job's), to update in place.
    pub event_id: Option<String>,
    pub subscription: Option<String>,
    /// The user whose login triggered the sync (hot sync): their subject, never their token.
    pub subject: Option<String>,
}

impl SyncRequest {
    pub fn new(
        entity: EntityId,
        trigger: Trigger,
        correlation_id: impl Into<String>,
        deadline: EpochMillis,
    ) -> Self {
        Self {
            entity,
            trigger,
            correlation_id: correlation_id.into(),
            deadline,
            event_id: None,
            subscription: None,
            subject: None,
        }
    }
}

/// What to do when the account lock is held by someone else.
#[derive(Debug, Clone, Copy)]
pub enum OnBusy {
    /// Record a wish for a follow-up and return at once (queued work).
    Coalesce,
    /// Retry for this long, then coalesce (synchronous API calls).
    WaitThenCoalesce(Duration),
}

/// What one locked run reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The account snapshot (one Zuora call with object queries).
    Account,
    /// The account, then each subscription read on its own so each has its own outcome; a
    /// subscription that cannot be read keeps its stored copy (manual customer sync).
    EachSubscription,
    /// The product catalog.
    Catalog,
}

impl Scope {
    /// Coalesced requests are served by a plain run of the same kind.
    fn follow_up(self) -> Self {
        match self {
            Self::EachSubscription => Self::Account,
            other => other,
        }
    }
}

/// One subscription's outcome in a manual customer sync (the customer route answers it as is).
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct SubscriptionResult {
    /// Subscription number.
    pub number: String,
    /// Its product (or rate plan) names, else the number.
    pub name: String,
    /// The local id, when the subscription is in the mirror.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `synced`, `removed` (left Zuora or turned Draft), `not_synced` (a status that is not
    /// mirrored) or `failed`.
    #[schema(value_type = String)]
    pub outcome: &'static str,
    /// For `removed`/`not_synced`: `subscription_not_mirrored` or `zuora_not_found`; for
    /// `failed`: the Zuora error code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SyncReport {
    pub event_id: String,
    pub account_id: String,
    pub account_number: String,
    pub customer_id: String,
    pub subscription_ids: BTreeMap<String, String>,
    pub written: u32,
    pub unchanged: u32,
    pub removed: u32,
    pub follow_ups: u32,
    /// Per-subscription outcomes (manual customer sync only).
    pub subscriptions: Vec<SubscriptionResult>,
    pub failures: Vec<SubscriptionFailure>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AccountOutcome {
    Synced(SyncReport),
    /// Folded into the sync that holds the lock; it runs one follow-up for this request.
    Coalesced {
        event_id: String,
    },
    /// A pending-wish check found nothing left to do.
    NothingPending,
    /// Nothing to sync (a hot sync lookup found no account, or several).
    Skipped {
        event_id: String,
        code: String,
        reason: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Zuora(#[from] ZuoraError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(
        "account {account} is being synced by another request; this request was folded into the follow-up sync that runs after it"
    )]
    Busy { account: String },
    #[error(
        "subscription {number} has status {status} in Zuora; only Active, Pending and Cancelled subscriptions are synced"
    )]
    NotMirrored { number: String, status: String },
    #[error("Zuora answered with account {got} when asked for {asked}")]
    WrongAccount { asked: String, got: String },
    #[error("entity {0} is not configured in this deployment")]
    UnknownEntity(EntityId),
    #[error("the account lookup cannot run: {0}")]
    InvalidLookup(String),
}

impl SyncError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Zuora(e) => e.code(),
            Self::Store(StoreError::Fenced { .. }) => "lock_lost",
            Self::Store(_) => "store_unavailable",
            Self::Queue(_) => "queue_unavailable",
            Self::Busy { .. } => "account_busy",
            Self::NotMirrored { .. } => "subscription_not_mirrored",
            Self::WrongAccount { .. } => "zuora_bad_response",
            Self::UnknownEntity(_) => "unknown_entity",
            Self::InvalidLookup(_) => "invalid_lookup",
        }
    }

    /// Whether running the same job again later can succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Zuora(e) => e.is_transient(),
            Self::Store(_) | Self::Queue(_) | Self::Busy { .. } => true,
            Self::NotMirrored { .. }
            | Self::WrongAccount { .. }
            | Self::UnknownEntity(_)
            | Self::InvalidLookup(_) => false,
        }
    }
}

/// A failed sync and the event that records it.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct Failure {
    pub error: SyncError,
    pub event_id: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionSynced {
    pub id: String,
    pub owner: String,
    pub event_id: String,
}

/// The ports the sync runs on (design §2.1).
pub struct Ports {
    pub zuora: Arc<ZuoraTenants>,
    pub mirror: Arc<dyn MirrorStore>,
    pub locks: Arc<dyn LockStore>,
    pub events: Arc<dyn EventStore>,
    pub queue: Arc<dyn JobQueue>,
    pub settings: Arc<SettingsCache>,
    pub notifier: Arc<dyn crate::ports::Notifier>,
}

pub struct SyncService {
    zuora: Arc<ZuoraTenants>,
    mirror: Arc<dyn MirrorStore>,
    locks: Arc<dyn LockStore>,
    events: Arc<dyn EventStore>,
    queue: Arc<dyn JobQueue>,
    entity_settings: Arc<SettingsCache>,
    notifier: Arc<dyn crate::ports::Notifier>,
    clock: Arc<dyn Clock>,
    settings: SyncSettings,
}

/// What a run needs besides the request: the Zuora client and settings of its entity.
struct Run {
    zuora: Arc<dyn ZuoraApi>,
    settings: EntitySettings,
    call: CallContext,
}

impl SyncService {
    pub fn new(ports: Ports, clock: Arc<dyn Clock>, settings: SyncSettings) -> Self {
        Self {
            zuora: ports.zuora,
            mirror: ports.mirror,
            locks: ports.locks,
            events: ports.events,
            queue: ports.queue,
            entity_settings: ports.settings,
            notifier: ports.notifier,
            clock,
            settings,
        }
    }

    pub fn entity_settings(&self) -> &Arc<SettingsCache> {
        &self.entity_settings
    }

    pub fn mirror(&self) -> &Arc<dyn MirrorStore> {
        &self.mirror
    }

    pub fn events(&self) -> &Arc<dyn EventStore> {
        &self.events
    }

    pub fn is_configured(&self, entity: &EntityId) -> bool {
        self.zuora.contains(entity)
    }

    /// The entity's Zuora client and settings (cached), for one run.
    async fn prepare(&self, req: &SyncRequest) -> Result<Run, SyncError> {
        let zuora = self
            .zuora
            .get(&req.entity)
            .cloned()
            .ok_or_else(|| SyncError::UnknownEntity(req.entity.clone()))?;
        let settings = self.entity_settings.get(&req.entity).await?.settings;
        Ok(Run {
            zuora,
            settings,
            call: CallContext::new(&req.correlation_id),
        })
    }

    pub fn settings(&self) -> &SyncSettings {
        &self.settings
    }

    pub fn now(&self) -> EpochMillis {
        self.clock.now()
    }

    /// Syncs the account that owns a subscription, synchronously, and answers with the
    /// subscription's and its customer's local ids.
    pub async fn sync_subscription(
        &self,
        req: &SyncRequest,
        key: &SubscriptionKey,
    ) -> Result<SubscriptionSynced, Failure> {
        let mut req = req.clone();
        req.subscription = Some(key.to_string());
        let sub = match self.read_subscription(&req, key).await {
            Ok(sub) => sub,
            Err(e) => {
                let event = self.new_event(&req, self.clock.now());
                return Err(self.record_failure(event, e).await);
            }
        };
        let owner_key = sub
            .account_id
            .as_deref()
            .or(sub.account_number.as_deref())
            .and_then(|k| AccountKey::parse(k).ok());
        let Some(account) = owner_key else {
            let event = self.new_event(&req, self.clock.now());
            let error = ZuoraError::BadResponse {
                detail: format!("subscription {key} names no valid account"),
                attempts: 1,
            };
            return Err(self.record_failure(event, error.into()).await);
        };
        req.subscription = Some(sub.number.clone());
        let wait = OnBusy::WaitThenCoalesce(self.settings.lock_wait);
        match self.sync_account(&req, &account, wait).await? {
            AccountOutcome::Synced(report) => match report.subscription_ids.get(&sub.number) {
                Some(id) => Ok(SubscriptionSynced {
                    id: id.clone(),
                    owner: report.customer_id,
                    event_id: report.event_id,
                }),
                None => Err(Failure {
                    error: SyncError::NotMirrored {
                        number: sub.number,
                        status: sub.status.to_string(),
                    },
                    event_id: report.event_id,
                }),
            },
            AccountOutcome::Coalesced { event_id } => Err(Failure {
                error: SyncError::Busy {
                    account: account.to_string(),
                },
                event_id,
            }),
            AccountOutcome::NothingPending | AccountOutcome::Skipped { .. } => {
                unreachable!("only pending-wish checks and lookups report this")
            }
        }
    }

    async fn read_subscription(
        &self,
        req: &SyncRequest,
        key: &SubscriptionKey,
    ) -> Result<crate::model::Subscription, SyncError> {
        let run = self.prepare(req).await?;
        Ok(run.zuora.subscription(key, &run.call).await?)
    }

    /// Syncs one account and everything under it. Every outcome leaves an event.
    pub async fn sync_account(
        &self,
        req: &SyncRequest,
        key: &AccountKey,
        on_busy: OnBusy,
    ) -> Result<AccountOutcome, Failure> {
        self.sync_scoped(req, Some(key), Scope::Account, on_busy)
            .await
    }

    /// The manual customer sync (design §1.3): the account, then each subscription read on
    /// its own, answering with every subscription's outcome. A subscription Zuora cannot
    /// return keeps its stored copy; the others are written.
    pub async fn sync_customer(
        &self,
        req: &SyncRequest,
        key: &AccountKey,
    ) -> Result<AccountOutcome, Failure> {
        let wait = OnBusy::WaitThenCoalesce(self.settings.lock_wait);
        self.sync_scoped(req, Some(key), Scope::EachSubscription, wait)
            .await
    }

    /// The product catalog: every product with its rate plans and charges; products no
    /// longer in Zuora are removed.
    pub async fn sync_catalog(
        &self,
        req: &SyncRequest,
        on_busy: OnBusy,
    ) -> Result<AccountOutcome, Failure> {
        self.sync_scoped(req, None, Scope::Catalog, on_busy).await
    }

    async fn sync_scoped(
        &self,
        req: &SyncRequest,
        key: Option<&AccountKey>,
        scope: Scope,
        on_busy: OnBusy,
    ) -> Result<AccountOutcome, Failure> {
        let mut event = self.new_event(req, self.clock.now());
        event.account = key.map(ToString::to_string);
        match self.run(req, key, scope, on_busy, &mut event).await {
            Ok(outcome) => {
                if matches!(outcome, AccountOutcome::Synced(_)) {
                    self.notify(&event).await;
                }
                Ok(outcome)
            }
            Err(error) => Err(self.record_failure(event, error).await),
        }
    }

    /// Handles the check a coalesced request queued: syncs only if wishes are still pending
    /// on a lock nobody holds any more.
    pub async fn sync_if_pending(
        &self,
        req: &SyncRequest,
        target: &JobTarget,
    ) -> Result<AccountOutcome, Failure> {
        let (lock_id, key, scope) = match target {
            JobTarget::Account { account } => (account.to_string(), Some(account), Scope::Account),
            JobTarget::Catalog => (CATALOG_ACCOUNT.to_string(), None, Scope::Catalog),
            // Lookups and full sync pages never hold a lock, so no wish can wait on one.
            JobTarget::Lookup { .. } | JobTarget::FullSyncPage { .. } => {
                return Ok(AccountOutcome::NothingPending);
            }
        };
        let lock_key = LockKey {
            entity: req.entity.clone(),
            account_id: lock_id,
        };
        let failed = |error: SyncError| Failure {
            error,
            event_id: String::new(),
        };
        let state = self
            .locks
            .peek(&lock_key)
            .await
            .map_err(|e| failed(e.into()))?;
        let now = self.clock.now();
        match state {
            Some(s) if s.pending > 0 && s.lease_until >= now => {
                // Still held: its holder may yet serve the wishes; look again after its lease.
                self.queue_wish_check(req, &lock_key, s.lease_until)
                    .await
                    .map_err(|e| failed(e.into()))?;
                Ok(AccountOutcome::NothingPending)
            }
            Some(s) if s.pending > 0 => {
                let mut req = req.clone();
                req.event_id = None;
                self.sync_scoped(&req, key, scope, OnBusy::Coalesce).await
            }
            _ => Ok(AccountOutcome::NothingPending),
        }
    }

    fn new_event(&self, req: &SyncRequest, now: EpochMillis) -> SyncEvent {
        let id = req.event_id.clone().unwrap_or_else(new_event_id);
        let mut event = SyncEvent::new(
            id,
            req.entity.clone(),
            req.trigger,
            EventStatus::Running,
            req.correlation_id.clone(),
            now,
        );
        event.subscription = req.subscription.clone();
        event.subject = req.subject.clone();
        event
    }

    async fn record_failure(&self, mut event: SyncEvent, error: SyncError) -> Failure {
        let now = self.clock.now();
        event.status = EventStatus::Failed;
        event.code = Some(error.code().to_string());
        event.reason = Some(error.to_string());
        event.duration_ms = Some(now.0.saturating_sub(event.created_at.0).max(0) as u64);
        event.updated_at = now;
        if let Ok(v) = self.entity_settings.get(&event.entity).await {
            note_notification(&mut event, &v.settings, 1);
        }
        tracing::warn!(
            event_id = %event.id,
            account = event.account.as_deref().unwrap_or(""),
            code = error.code(),
            error = %error,
            "sync failed"
        );
        if let Err(e) = self.events.put_event(&event).await {
            tracing::error!(event_id = %event.id, error = %e, "could not record the failed sync event");
        }
        self.notify(&event).await;
        Failure {
            error,
            event_id: event.id,
        }
    }

    async fn run(
        &self,
        req: &SyncRequest,
        key: Option<&AccountKey>,
        scope: Scope,
        on_busy: OnBusy,
        event: &mut SyncEvent,
    ) -> Result<AccountOutcome, SyncError> {
        let run = self.prepare(req).await?;
        event.retention_days = Some(run.settings.event_retention_days);
        let (lock_id, prefetched) = match key {
            None => (CATALOG_ACCOUNT.to_string(), None),
            Some(key) => match self.known_account_id(&req.entity, key).await? {
                Some(id) => (id, None),
                None => {
                    // Never synced before: the snapshot names the account id the lock needs.
                    let snapshot = run.zuora.account_snapshot(key, &run.call).await?;
                    (snapshot.account.id.clone(), Some(snapshot))
                }
            },
        };
        if key.is_some() {
            event.account_id = Some(lock_id.clone());
        }
        let lock_key = LockKey {
            entity: req.entity.clone(),
            account_id: lock_id,
        };
        let Some(lock) = self.acquire_or_coalesce(req, &lock_key, on_busy).await? else {
            event.status = EventStatus::Coalesced;
            event.updated_at = self.clock.now();
            self.events.put_event(event).await?;
            return Ok(AccountOutcome::Coalesced {
                event_id: event.id.clone(),
            });
        };
        // A snapshot read before the lock is safe only if no one ever held this lock: an
        // earlier holder may have written data newer than ours.
        let prefetched = prefetched.filter(|_| lock.fence == Fence(1));
        self.run_locked(req, &run, scope, &lock, prefetched, event)
            .await
    }

    /// The invocation deadline, or a fallback when the caller's is already past (local
    /// emulators do not always send a real one): a lease that ends before it starts would let
    /// every contender take the lock.
    fn effective_deadline(&self, req: &SyncRequest) -> EpochMillis {
        let now = self.clock.now();
        if req.deadline > now {
            req.deadline
        } else {
            tracing::warn!(
                deadline = req.deadline.0,
                now = now.0,
                "invocation deadline is in the past; using a 60 s fallback"
            );
            now.plus_ms(60_000)
        }
    }

    async fn known_account_id(
        &self,
        entity: &EntityId,
        key: &AccountKey,
    ) -> Result<Option<String>, SyncError> {
        if key.is_zuora_id() {
            return Ok(Some(key.to_string()));
        }
        Ok(self.mirror.resolve_account(entity, key.as_str()).await?)
    }

    async fn acquire_or_coalesce(
        &self,
        req: &SyncRequest,
        key: &LockKey,
        on_busy: OnBusy,
    ) -> Result<Option<HeldLock>, SyncError> {
        let lease_until = self
            .effective_deadline(req)
            .plus_ms(self.settings.lease_margin.as_millis() as i64);
        // Real time, not the injected clock: this is how long the caller actually waits.
        let wait_until = match on_busy {
            OnBusy::Coalesce => tokio::time::Instant::now(),
            OnBusy::WaitThenCoalesce(d) => tokio::time::Instant::now() + d,
        };
        let mut poll = Duration::from_millis(50);
        // A wish can miss a lock that is released at that moment; a few rounds settle it.
        for _ in 0..20 {
            let now = self.clock.now();
            let busy = match self
                .locks
                .acquire(key, &req.correlation_id, lease_until, now)
                .await?
            {
                Acquire::Acquired(lock) => return Ok(Some(lock)),
                Acquire::Busy(busy) => busy,
            };
            if tokio::time::Instant::now() < wait_until {
                tokio::time::sleep_until((tokio::time::Instant::now() + poll).min(wait_until))
                    .await;
                poll = (poll * 2).min(Duration::from_millis(500));
                continue;
            }
            match self.locks.add_wish(key, busy.fence, now).await? {
                Wish::Recorded { first } => {
                    if first {
                        self.queue_wish_check(req, key, busy.lease_until).await?;
                    }
                    return Ok(None);
                }
                Wish::LockChanged => continue,
            }
        }
        Err(SyncError::Busy {
            account: key.account_id.clone(),
        })
    }

    async fn run_locked(
        &self,
        req: &SyncRequest,
        run: &Run,
        scope: Scope,
        lock: &HeldLock,
        mut prefetched: Option<AccountSnapshot>,
        event: &mut SyncEvent,
    ) -> Result<AccountOutcome, SyncError> {
        let first = self
            .sync_once(run, scope, lock, prefetched.take(), event)
            .await;
        let (mut report, mut commit) = match first {
            Ok(done) => done,
            Err(e) => {
                self.release_after_failure(lock, &e).await;
                return Err(e);
            }
        };
        // Each round serves the wishes recorded during the previous one.
        while commit == Commit::KeptForWishes {
            let wishes = self.locks.take_wishes(lock).await?;
            tracing::info!(account = %lock.key.account_id, wishes, "running a follow-up sync for coalesced requests");
            let time_left = self.effective_deadline(req).0 - self.clock.now().0;
            if time_left < self.settings.follow_up_min_time.as_millis() as i64 {
                self.queue_follow_up(req, lock).await;
                self.locks.release(lock, self.clock.now()).await?;
                break;
            }
            let mut follow_up = self.new_event(
                &SyncRequest {
                    event_id: None,
                    subscription: None,
                    ..req.clone()
                },
                self.clock.now(),
            );
            follow_up.follow_up = true;
            follow_up.retention_days = event.retention_days;
            follow_up.account_id = event.account_id.clone();
            follow_up.account = event.account.clone();
            match self
                .sync_once(run, scope.follow_up(), lock, None, &mut follow_up)
                .await
            {
                Ok((_, next)) => {
                    report.follow_ups += 1;
                    commit = next;
                }
                Err(e) => {
                    // The wishes were taken: queue them again rather than lose them.
                    self.release_after_failure(lock, &e).await;
                    self.record_failure(follow_up, e).await;
                    self.queue_follow_up(req, lock).await;
                    break;
                }
            }
        }
        Ok(AccountOutcome::Synced(report))
    }

    async fn release_after_failure(&self, lock: &HeldLock, error: &SyncError) {
        if matches!(error, SyncError::Store(StoreError::Fenced { .. })) {
            return; // Not ours any more.
        }
        if let Err(e) = self.locks.release(lock, self.clock.now()).await {
            // The lease still ends on its own; only the next sync's wait is longer.
            tracing::warn!(account = %lock.key.account_id, error = %e, "could not release the account lock");
        }
    }

    /// One fetch-diff-commit round under the lock.
    async fn sync_once(
        &self,
        run: &Run,
        scope: Scope,
        lock: &HeldLock,
        prefetched: Option<AccountSnapshot>,
        event: &mut SyncEvent,
    ) -> Result<(SyncReport, Commit), SyncError> {
        let fetched = self.fetch_and_plan(run, scope, lock, prefetched).await?;
        let plan = &fetched.plan;
        let now = self.clock.now();
        event.status = EventStatus::Succeeded;
        if scope != Scope::Catalog {
            event.account = Some(plan.account_number.clone());
            event.customer_id = Some(plan.customer_id.clone());
        }
        event.written = plan.puts.len() as u32;
        event.removed = plan.deletes.len() as u32;
        event.unchanged = plan.unchanged;
        event.failures = fetched.failures.clone();
        if !fetched.failures.is_empty() {
            event.status = EventStatus::Failed;
            event.code = Some("subscriptions_failed".into());
            event.reason = Some(failures_summary(&fetched.failures, fetched.results.len()));
        }
        event.duration_ms = Some(now.0.saturating_sub(event.created_at.0).max(0) as u64);
        event.updated_at = now;
        note_notification(event, &run.settings, fetched.failures.len() as u32);
        let commit = self.mirror.commit(lock, plan, event, true, now).await?;
        let report = SyncReport {
            event_id: event.id.clone(),
            account_id: fetched.plan.account_id,
            account_number: fetched.plan.account_number,
            customer_id: fetched.plan.customer_id,
            subscription_ids: fetched.plan.subscription_ids,
            written: event.written,
            unchanged: event.unchanged,
            removed: event.removed,
            follow_ups: 0,
            subscriptions: fetched.results,
            failures: fetched.failures,
        };
        Ok((report, commit))
    }
}

impl SyncService {
    /// Sends the summary of an on-demand or manual sync when its event says the entity's
    /// level calls for one.
    async fn notify(&self, event: &SyncEvent) {
        if event.notify != Some(true) {
            return;
        }
        let channel = match self.entity_settings.get(&event.entity).await {
            Ok(v) => v.settings.notification_channel,
            Err(e) => {
                tracing::warn!(error = %e, "settings unreadable; notification not sent");
                return;
            }
        };
        let failed = event.status == EventStatus::Failed;
        let mut failures: Vec<String> = event
            .failures
            .iter()
            .map(|f| format!("{} ({}): {}", f.number, f.name, f.reason))
            .collect();
        if failed && failures.is_empty() {
            failures.push(format!(
                "{}: {}",
                event.account.as_deref().unwrap_or("account"),
                event.reason.as_deref().unwrap_or("failed")
            ));
        }
        let summary = crate::model::Summary {
            entity: event.entity.to_string(),
            kind: event.trigger.as_str().to_string(),
            id: event.id.clone(),
            trigger: event.trigger.as_str().to_string(),
            succeeded: u64::from(!failed),
            failed: u64::from(failed),
            skipped: 0,
            written: u64::from(event.written + event.removed),
            failures,
            finished_at: event.updated_at.to_rfc3339(),
        };
        let note = self
            .notifier
            .send(&event.entity, channel.as_ref(), &summary)
            .await;
        tracing::info!(event_id = %event.id, delivery = %note, "notification");
    }
}

/// Records the notification the entity's level calls for (on-demand and manual syncs; the
/// delivery itself arrives with real-time sync).
fn note_notification(event: &mut SyncEvent, settings: &EntitySettings, failed: u32) {
    if !matches!(event.trigger, Trigger::OnDemand | Trigger::Manual) {
        return;
    }
    let level = settings.notification_level;
    event.notification_level = Some(level.as_str().to_string());
    event.notify = Some(level.should_notify(failed, event.written + event.removed));
}

fn failures_summary(failures: &[SubscriptionFailure], total: usize) -> String {
    let names: Vec<String> = failures
        .iter()
        .map(|f| format!("{} ({}): {}", f.number, f.name, f.reason))
        .collect();
    format!(
        "{} of {total} subscriptions could not be synced and keep their stored copy: {}",
        failures.len(),
        names.join("; ")
    )
}
