//! Real-time sync (docs/ARCHITECTURE.md, "The session protocol"): Zuora data change callouts are counted per entity, each change
//! under the next sequence number. Every `threshold` changes make one *session* (the changes
//! `(last_cut, last_cut + threshold]`), and the sweep starts one with whatever waits once the
//! maximum time between syncs has passed. A session queues each changed account once, knows
//! when all its jobs finished, and then applies the entity's notification level.

pub mod bulk;
pub mod callout;
mod full;
mod status;

pub use full::FullSyncError;
pub use status::{Freshness, Status};

use crate::model::EpochMillis;

use crate::core::settings::SettingsCache;
use crate::core::tenants::ZuoraTenants;
use crate::model::SyncJob;
use crate::model::{
    AccountKey, EndedJob, EntityId, JobOutcome, RealtimeState, SESSION_EXPIRY_MS, Session,
    SessionStatus, SessionTrigger,
};
use crate::model::{EntitySettings, SyncMode};
use crate::ports::Clock;
use crate::ports::JobQueue;
use crate::ports::{RealtimeStore, StoreError};
use std::collections::HashSet;
use std::sync::Arc;

/// What a callout did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CalloutOutcome {
    /// Counted as a data change (false: the entity's mode is `none`, or a duplicate).
    pub counted: bool,
    /// The same callout was counted before (Zuora retries deliveries).
    pub duplicate: bool,
    /// The session this callout's count started, if it reached the threshold.
    pub session_id: Option<String>,
}

pub struct Realtime {
    store: Arc<dyn RealtimeStore>,
    queue: Arc<dyn JobQueue>,
    settings: Arc<SettingsCache>,
    clock: Arc<dyn Clock>,
    zuora: Arc<ZuoraTenants>,
    notifier: Arc<dyn crate::ports::Notifier>,
    /// The Salesforce push, whose waiting accounts each sweep queues (where configured).
    push: Option<Arc<crate::core::push::PushService>>,
    /// The most accounts of a bulk export this process holds while it fans them out (a
    /// larger export is split into parts).
    bulk_limit: u64,
    /// One fan-out at a time in this process: each may take the memory `bulk_limit` allows,
    /// and one invocation can receive several parts' steps at once.
    fan_outs: tokio::sync::Semaphore,
}

/// Changes one session takes at most: reading them, sealing missing numbers and queueing their
/// accounts must fit one sweep. A larger backlog (scheduled mode after a burst, or after an
/// outage) is cut into several sessions, one after another (M5).
pub const MAX_SESSION_CHANGES: u64 = 1_000;
/// Cut attempts per caller; each lost attempt means another caller cut that range.
const CUT_ATTEMPTS: usize = 50;
/// How long a session waits for changes whose number is taken but not yet written (their
/// callouts are in flight); a number still empty after it is skipped (its callout failed).
const MISSING_CHANGE_WAIT: std::time::Duration = std::time::Duration::from_secs(3);
/// A cut is started only with this much of the caller's invocation left (docs/ARCHITECTURE.md,
/// "Deadlines").
const CUT_MIN_TIME: std::time::Duration = std::time::Duration::from_secs(8);
/// A session still in the outbox this long after it started lost its starter.
const REQUEUE_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// Each account once, in change order (skipped numbers and duplicates count none).
fn distinct_accounts(changes: Vec<(u64, Option<String>)>) -> Vec<String> {
    let mut seen = HashSet::new();
    changes
        .into_iter()
        .filter_map(|(_, account)| account)
        .filter(|a| seen.insert(a.clone()))
        .collect()
}

impl Realtime {
    pub fn new(
        store: Arc<dyn RealtimeStore>,
        queue: Arc<dyn JobQueue>,
        settings: Arc<SettingsCache>,
        clock: Arc<dyn Clock>,
        zuora: Arc<ZuoraTenants>,
        notifier: Arc<dyn crate::ports::Notifier>,
    ) -> Self {
        Self {
            store,
            queue,
            settings,
            clock,
            zuora,
            notifier,
            push: None,
            bulk_limit: u64::MAX,
            fan_outs: tokio::sync::Semaphore::new(1),
        }
    }

    pub fn store(&self) -> &Arc<dyn RealtimeStore> {
        &self.store
    }

    /// One accepted callout: counts the change once per `dedupe_id` and, in real-time mode,
    /// starts the session of every threshold crossing not yet started.
    pub async fn callout(
        &self,
        entity: &EntityId,
        dedupe_id: &str,
        account: &AccountKey,
        correlation_id: &str,
        deadline: EpochMillis,
    ) -> Result<CalloutOutcome, StoreError> {
        let settings = self.settings.get(entity).await?.settings;
        if settings.sync_mode == SyncMode::None {
            return Ok(CalloutOutcome {
                counted: false,
                duplicate: false,
                session_id: None,
            });
        }
        let now = self.clock.now();
        let Some(state) = self
            .store
            .record_change(entity, dedupe_id, account.as_str(), now)
            .await?
        else {
            return Ok(CalloutOutcome {
                counted: false,
                duplicate: true,
                session_id: None,
            });
        };
        let mut session_id = None;
        if settings.sync_mode == SyncMode::Realtime {
            session_id = self
                .cut_crossings(entity, state, &settings, correlation_id, deadline)
                .await?
                .map(|s| s.id);
        }
        Ok(CalloutOutcome {
            counted: true,
            duplicate: false,
            session_id,
        })
    }

    /// Starts the session of each crossing `last_cut + threshold <= seq`. Ranges are exact,
    /// so whoever wins a cut starts exactly that crossing's session; a loser reads again and
    /// helps with the next crossing, if any. Answers the first session this caller started.
    /// Stops in time for the caller's deadline: crossings left are cut by the next callout or
    /// the sweep.
    async fn cut_crossings(
        &self,
        entity: &EntityId,
        state: RealtimeState,
        settings: &EntitySettings,
        correlation_id: &str,
        deadline: EpochMillis,
    ) -> Result<Option<Session>, StoreError> {
        let threshold = u64::from(settings.max_events_before_sync);
        let cut = (threshold, SessionTrigger::Threshold);
        self.cut_whole_sessions(entity, state, cut, settings, correlation_id, deadline)
            .await
    }

    /// Cuts sessions of [`MAX_SESSION_CHANGES`] while at least that many wait (M5): a backlog
    /// that large does not wait for the maximum time between syncs. Answers the first started.
    async fn cut_backlog(
        &self,
        entity: &EntityId,
        state: RealtimeState,
        settings: &EntitySettings,
        correlation_id: &str,
        deadline: EpochMillis,
    ) -> Result<Option<Session>, StoreError> {
        let cut = (MAX_SESSION_CHANGES, SessionTrigger::MaxTime);
        self.cut_whole_sessions(entity, state, cut, settings, correlation_id, deadline)
            .await
    }

    /// Cuts sessions of exactly `size` changes, as `trigger`, while that many wait and the
    /// deadline allows. Answers the first session this caller started.
    async fn cut_whole_sessions(
        &self,
        entity: &EntityId,
        mut state: RealtimeState,
        (size, trigger): (u64, SessionTrigger),
        settings: &EntitySettings,
        correlation_id: &str,
        deadline: EpochMillis,
    ) -> Result<Option<Session>, StoreError> {
        let mut first = None;
        for _ in 0..CUT_ATTEMPTS {
            if state.waiting() < size || !self.time_for_a_cut(deadline) {
                break;
            }
            let range = (state.last_cut, state.last_cut + size);
            let started = self
                .start(entity, range, trigger, None, settings, correlation_id)
                .await?;
            first = first.or(started);
            state = self.store.realtime_state(entity).await?;
        }
        Ok(first)
    }

    /// Whether a cut (a short wait for changes in flight, then a few writes) still fits.
    fn time_for_a_cut(&self, deadline: EpochMillis) -> bool {
        deadline.0 - self.clock.now().0 >= CUT_MIN_TIME.as_millis() as i64
    }

    /// The accounts of changes `(from, to]`, each once, in change order. Waits briefly for
    /// numbers whose change is still being written, then seals those still missing (H2: a
    /// change that lands later takes another number, for a later session), so the range read
    /// here is exactly the range cut.
    async fn accounts_in(
        &self,
        entity: &EntityId,
        (from, to): (u64, u64),
    ) -> Result<Vec<String>, StoreError> {
        let wanted = (to - from) as usize;
        let give_up = tokio::time::Instant::now() + MISSING_CHANGE_WAIT;
        let mut found = loop {
            let found = self.store.changes(entity, from, to).await?;
            if found.len() >= wanted || tokio::time::Instant::now() >= give_up {
                break found;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        };
        if found.len() < wanted {
            let present: HashSet<u64> = found.iter().map(|(seq, _)| *seq).collect();
            let missing: Vec<u64> = (from + 1..=to).filter(|s| !present.contains(s)).collect();
            let landed = self.store.skip_missing(entity, &missing).await?;
            tracing::warn!(entity = %entity, from, to, skipped = missing.len() - landed.len(), "change numbers without a change (their callouts failed or are slow) were sealed");
            if !landed.is_empty() {
                found = self.store.changes(entity, from, to).await?;
            }
        }
        Ok(distinct_accounts(found))
    }

    /// Cuts the changes `range` into a new session and queues each of their accounts once.
    /// `None` when another cutter won the range.
    async fn start(
        &self,
        entity: &EntityId,
        range: (u64, u64),
        trigger: SessionTrigger,
        due: Option<EpochMillis>,
        settings: &EntitySettings,
        correlation_id: &str,
    ) -> Result<Option<Session>, StoreError> {
        // Read before the cut, so the session is written with its size in the same step.
        let accounts = self.accounts_in(entity, range).await?;
        let session = Session::new(trigger, self.clock.now(), range, accounts.len() as u64);
        if !self
            .store
            .start_session(entity, range.0, &session, due)
            .await?
        {
            return Ok(None);
        }
        tracing::info!(entity = %entity, session = %session.id, trigger = trigger.as_str(), accounts = session.total, changes = session.changes, "sync session started");
        self.queue_session(entity, &session, &accounts, settings, correlation_id)
            .await?;
        Ok(Some(session))
    }

    /// Queues each account of a started session once (or completes a session with none), then
    /// takes it out of the outbox. Anything short of that leaves it there for the sweep, and
    /// queueing twice is harmless: each job is counted once in its session.
    async fn queue_session(
        &self,
        entity: &EntityId,
        session: &Session,
        accounts: &[String],
        settings: &EntitySettings,
        correlation_id: &str,
    ) -> Result<(), StoreError> {
        if accounts.is_empty() {
            // A session with nothing to sync still completes (and may notify).
            self.complete(entity, session, settings).await?;
        } else if !self
            .queue_accounts(entity, session, accounts, correlation_id)
            .await
        {
            return Ok(());
        }
        self.store.session_queued(entity, &session.id).await
    }

    /// Sends a job per account; `false` if any could not be sent.
    async fn queue_accounts(
        &self,
        entity: &EntityId,
        session: &Session,
        accounts: &[String],
        correlation_id: &str,
    ) -> bool {
        let now = self.clock.now();
        let jobs: Vec<SyncJob> = accounts
            .iter()
            .filter_map(|a| AccountKey::parse(a).ok())
            .map(|account| {
                let mut job = SyncJob::account(
                    entity.clone(),
                    account,
                    session.trigger.event_trigger(),
                    correlation_id.to_string(),
                    now,
                );
                job.session_id = Some(session.id.clone());
                job
            })
            .collect();
        let failed = self.queue.send_many(&jobs).await;
        if !failed.is_empty() {
            tracing::error!(entity = %entity, session = %session.id, failed = failed.len(), "some session jobs could not be queued; the sweep queues the session again");
        }
        failed.is_empty()
    }

    /// The outbox: queues again every session started more than [`REQUEUE_AFTER`] ago whose
    /// jobs were not all sent (its starter died, or SQS failed). A session's accounts are read
    /// again from its sealed range, so they are the ones it was cut with.
    async fn requeue_sessions(
        &self,
        entity: &EntityId,
        state: &RealtimeState,
        settings: &EntitySettings,
        correlation_id: &str,
        deadline: EpochMillis,
    ) -> Result<(), StoreError> {
        for id in &state.unqueued {
            if !self.time_for_a_cut(deadline) {
                break;
            }
            let Some(session) = self.store.get_session(entity, id).await? else {
                self.store.session_queued(entity, id).await?;
                continue;
            };
            let age = self.clock.now().0 - session.started_at.0;
            if age < REQUEUE_AFTER.as_millis() as i64 {
                continue;
            }
            tracing::warn!(entity = %entity, session = %id, "queueing a session's jobs again");
            if session.trigger.is_full() {
                self.queue_first_page(entity, &session, correlation_id)
                    .await
                    .map_err(|e| StoreError::Unavailable(e.to_string().into()))?;
                continue;
            }
            let changes = self
                .store
                .changes(entity, session.from_seq, session.to_seq)
                .await?;
            let accounts = distinct_accounts(changes);
            self.queue_session(entity, &session, &accounts, settings, correlation_id)
                .await?;
        }
        Ok(())
    }

    /// M5: a session whose jobs cannot all end any more (past [`SESSION_EXPIRY_MS`]) is marked
    /// expired rather than left running for ever; one already done (its completer died before
    /// taking it out of the set) just leaves it.
    async fn reap_sessions(
        &self,
        entity: &EntityId,
        state: &RealtimeState,
        deadline: EpochMillis,
    ) -> Result<(), StoreError> {
        for id in &state.running {
            if !self.time_for_a_cut(deadline) {
                break;
            }
            let now = self.clock.now();
            let session = self.store.get_session(entity, id).await?;
            let expired = match &session {
                Some(s) if s.status == SessionStatus::Running => {
                    if now.0 - s.started_at.0 < SESSION_EXPIRY_MS {
                        continue;
                    }
                    self.store.expire_session(entity, id, now).await?
                }
                _ => false,
            };
            if expired {
                let s = session.as_ref().expect("a running session");
                tracing::warn!(
                    entity = %entity, session = %id, total = s.total,
                    ended = s.finished_jobs(), "sync session expired with jobs that never ended"
                );
            }
            self.store.session_ended(entity, id, None).await?;
        }
        Ok(())
    }

    /// Counts one finished job; the job that finishes the session completes it.
    pub async fn job_finished(
        &self,
        entity: &EntityId,
        session_id: &str,
        account: &str,
        outcome: JobOutcome,
        written: u32,
    ) -> Result<(), StoreError> {
        self.job_ended(entity, session_id, account, outcome, written, None)
            .await
    }

    /// As [`job_finished`](Self::job_finished), with why a failed job failed.
    pub async fn job_ended(
        &self,
        entity: &EntityId,
        session_id: &str,
        account: &str,
        outcome: JobOutcome,
        written: u32,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        let failure = reason.map(|r| failure_text(account, r));
        let session = self
            .store
            .finish_job(
                entity,
                session_id,
                account,
                outcome,
                written,
                failure.as_deref(),
            )
            .await?;
        self.complete_if_finished(entity, &session).await
    }

    /// Counts many ended jobs of a session at once (a bulk job's accounts: one count group,
    /// so one write on DynamoDB), and completes the session if they were its last.
    pub async fn jobs_ended(
        &self,
        entity: &EntityId,
        session_id: &str,
        mut jobs: Vec<EndedJob>,
    ) -> Result<(), StoreError> {
        if jobs.is_empty() {
            return Ok(());
        }
        for job in &mut jobs {
            job.failure = job.failure.take().map(|r| failure_text(&job.account, &r));
        }
        let session = self.store.finish_jobs(entity, session_id, &jobs).await?;
        self.complete_if_finished(entity, &session).await
    }

    async fn complete_if_finished(
        &self,
        entity: &EntityId,
        session: &Session,
    ) -> Result<(), StoreError> {
        if session.is_finished() && session.status == SessionStatus::Running {
            let settings = self.settings.get(entity).await?.settings;
            self.complete(entity, session, &settings).await?;
        }
        Ok(())
    }

    /// Marks the session done and records whether the notification level calls for a
    /// summary. Exactly one caller completes it (a conditional write).
    async fn complete(
        &self,
        entity: &EntityId,
        session: &Session,
        settings: &EntitySettings,
    ) -> Result<(), StoreError> {
        let level = settings.notification_level;
        let notify = level.should_notify(session.failed as u32, session.written as u32);
        let done = self
            .store
            .complete_session(
                entity,
                &session.id,
                notify,
                level.as_str(),
                self.clock.now(),
            )
            .await?;
        if done {
            let succeeded = (session.failed == 0).then(|| self.clock.now());
            self.store
                .session_ended(entity, &session.id, succeeded)
                .await?;
            tracing::info!(
                entity = %entity, session = %session.id, succeeded = session.succeeded,
                failed = session.failed, skipped = session.skipped, written = session.written,
                notify, level = level.as_str(), "sync session finished"
            );
            if notify {
                let summary =
                    crate::core::notify::session_summary(entity, session, self.clock.now());
                let note = self
                    .notifier
                    .send(entity, settings.notification_channel.as_ref(), &summary)
                    .await;
                self.store.set_delivery(entity, &session.id, &note).await?;
            }
        }
        Ok(())
    }

    /// Queues a sync of each account whose commit stopped between its transactions and whose
    /// lock is free: that sync's commit completes the account and clears the mark (a live
    /// holder is left to finish). A queueing failure is retried by the next sweep.
    async fn repair_torn(&self, entity: &EntityId, correlation_id: &str) -> Result<(), StoreError> {
        let now = self.clock.now();
        for torn in self.store.torn_commits(entity).await? {
            if torn.lease_until > now {
                continue;
            }
            let Ok(account) = crate::model::AccountKey::parse(&torn.account_id) else {
                continue;
            };
            let job = SyncJob::account(
                entity.clone(),
                account,
                crate::model::Trigger::Sweep,
                correlation_id.to_string(),
                now,
            );
            match self.queue.send(&job, None).await {
                Ok(()) => {
                    tracing::warn!(entity = %entity, account = %torn.account_id, "a commit was cut between its transactions; its account is synced again")
                }
                Err(e) => {
                    tracing::warn!(entity = %entity, account = %torn.account_id, error = %e, "could not queue the repair of a cut commit; the next sweep tries again")
                }
            }
        }
        Ok(())
    }

    /// The sweep for one entity: starts a session with whatever waits when the maximum time
    /// between syncs has passed (even with no changes), in `scheduled` and `realtime` modes.
    /// Sweeps also queue the Salesforce pushes left waiting.
    pub fn with_push(mut self, push: Arc<crate::core::push::PushService>) -> Self {
        self.push = Some(push);
        self
    }

    /// Sets the most accounts a bulk export may have for this process to fan it out
    /// ([`bulk::accounts_for_memory`] of the function's memory).
    pub fn limit_bulk_accounts(&mut self, accounts: u64) {
        self.bulk_limit = accounts;
    }

    /// A failure fails the entity's sweep (so it is counted and alarmed on); the marks stay,
    /// and the next sweep tries again.
    async fn drain_pushes(
        &self,
        entity: &EntityId,
        correlation_id: &str,
    ) -> Result<(), StoreError> {
        let Some(push) = &self.push else {
            return Ok(());
        };
        match push.drain(entity, correlation_id).await {
            Ok(0) => Ok(()),
            Ok(n) => {
                tracing::info!(entity = %entity, accounts = n, "queued Salesforce pushes left waiting");
                Ok(())
            }
            Err(crate::core::push::PushError::Store(e)) => Err(e),
            Err(e) => Err(StoreError::Unavailable(crate::ports::Cause::new(format!(
                "queueing the waiting Salesforce pushes: {e}"
            )))),
        }
    }

    pub async fn sweep(
        &self,
        entity: &EntityId,
        correlation_id: &str,
        deadline: EpochMillis,
    ) -> Result<Option<Session>, StoreError> {
        // Whatever the mode: an account left half-written is synced again, and accounts waiting
        // for a Salesforce push (a lost job, a pause that ended) are queued.
        self.repair_torn(entity, correlation_id).await?;
        self.drain_pushes(entity, correlation_id).await?;
        let settings = self.settings.get(entity).await?.settings;
        if settings.sync_mode == SyncMode::None {
            return Ok(None);
        }
        let mut state = self.store.realtime_state(entity).await?;
        // Sessions whose starter died before queueing their jobs.
        self.requeue_sessions(entity, &state, &settings, correlation_id, deadline)
            .await?;
        // Sessions that can no longer finish.
        self.reap_sessions(entity, &state, deadline).await?;
        // Lost callouts, so their changes join whatever session starts now. Zuora being down
        // only delays that: the max-time session still starts.
        let mut marks = state.reconcile.clone();
        match self
            .reconcile(entity, &mut marks, correlation_id, deadline)
            .await
        {
            Ok(0) => {}
            Ok(_) => state = self.store.realtime_state(entity).await?,
            Err(e) => {
                tracing::warn!(entity = %entity, error = %e, "reconciliation failed; the next sweep tries again")
            }
        }
        let started = self
            .cut_what_waits(entity, state, &settings, correlation_id, deadline)
            .await?;
        // What changes without moving any updatedDate: every account, now and then. After the
        // cuts: its session moves the entity's latest-session time, which they go by.
        if self.time_for_a_cut(deadline)
            && let Err(e) = self
                .deep_look_back(
                    entity,
                    &mut marks,
                    settings.deep_reconcile_days,
                    correlation_id,
                )
                .await
        {
            tracing::warn!(entity = %entity, error = %e, "could not start the deep look-back; the next sweep tries again");
        }
        Ok(started)
    }

    /// The sweep's cuts: crossings no callout cut, a backlog, and whatever waits once the
    /// maximum time between syncs passed. Answers the first session started.
    async fn cut_what_waits(
        &self,
        entity: &EntityId,
        mut state: RealtimeState,
        settings: &EntitySettings,
        correlation_id: &str,
        deadline: EpochMillis,
    ) -> Result<Option<Session>, StoreError> {
        // Crossings no callout cut (its caller ran out of time or died after counting).
        if settings.sync_mode == SyncMode::Realtime
            && let Some(session) = self
                .cut_crossings(entity, state.clone(), settings, correlation_id, deadline)
                .await?
        {
            return Ok(Some(session));
        }
        let now = self.clock.now();
        let Some(last) = state.last_session_at.or(state.since) else {
            // Nothing tracked yet: the max-time clock starts now.
            self.store.touch(entity, now).await?;
            return Ok(None);
        };
        let max_ms = i64::from(settings.max_minutes_between_syncs) * 60_000;
        if now.0 < last.0 + max_ms {
            // Not due, but a backlog larger than one session is cut now, a session at a time.
            return self
                .cut_backlog(entity, state, settings, correlation_id, deadline)
                .await;
        }
        if !self.time_for_a_cut(deadline) {
            return Ok(None);
        }
        // Everything waiting when it became due is cut, a bounded session at a time (what
        // arrives meanwhile waits for the next: cutting it now would only make tiny sessions
        // of numbers still being written). Only the first cut needs the guard (no session
        // started since it became due); the next ones follow it in this sweep, and each cut
        // still requires the last cut it read.
        let end = state.seq;
        let mut guard = state.last_session_at.or(Some(EpochMillis(0)));
        let mut first = None;
        for _ in 0..CUT_ATTEMPTS {
            let range = (
                state.last_cut,
                end.min(state.last_cut + MAX_SESSION_CHANGES),
            );
            let Some(started) = self
                .start(
                    entity,
                    range,
                    SessionTrigger::MaxTime,
                    guard.take(),
                    settings,
                    correlation_id,
                )
                .await?
            else {
                break; // Another sweep cut it.
            };
            first = first.or(Some(started));
            state = self.store.realtime_state(entity).await?;
            if state.last_cut >= end || !self.time_for_a_cut(deadline) {
                break;
            }
        }
        Ok(first)
    }
}

/// A failed job's line in its session's summary: the account and why, at most 300 characters.
fn failure_text(account: &str, reason: &str) -> String {
    format!("{account}: {reason}").chars().take(300).collect()
}
