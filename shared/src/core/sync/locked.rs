//! Acquire or coalesce, then the locked run: fetch, plan, one fenced commit, and one follow-up
//! per round of wishes (docs/ARCHITECTURE.md, "The lock protocol").

use super::fetch::Fetched;
use super::*;
use crate::model::{
    AccountKey, AccountSnapshot, Acquire, CATALOG_ACCOUNT, Commit, EntityId, EpochMillis,
    EventStatus, HeldLock, JobTarget, LockKey, StoredAccount, SyncEvent, SyncJob, Trigger, Wish,
};
use crate::ports::{CommitRequest, StoreError, ZuoraError};
use futures::future::{MaybeDone, maybe_done};
use std::pin::Pin;
use std::time::Duration;

/// A snapshot read before the lock was won (or the read's failure), and when it began.
pub(super) struct Prefetched {
    snapshot: Result<AccountSnapshot, ZuoraError>,
    started: EpochMillis,
}

impl Prefetched {
    pub(super) fn new(snapshot: Result<AccountSnapshot, ZuoraError>, started: EpochMillis) -> Self {
        Self { snapshot, started }
    }
}

/// Runs the acquire and the read together, until the acquire ends; the read may still be
/// running then. Dropping it (the lock was not won) cancels it: nobody would use it.
async fn acquire_while_reading<A, R>(acquire: A, read: R) -> (A::Output, Pin<Box<MaybeDone<R>>>)
where
    A: Future,
    R: Future,
{
    let mut read = Box::pin(maybe_done(read));
    tokio::pin!(acquire);
    loop {
        // Biased: the same order every time, so a seeded simulation replays exactly.
        tokio::select! {
            biased;
            () = read.as_mut(), if matches!(&*read, MaybeDone::Future(_)) => {}
            out = &mut acquire => return (out, read),
        }
    }
}

impl SyncService {
    pub(super) async fn run(
        &self,
        req: &SyncRequest,
        key: Option<&AccountKey>,
        scope: Scope,
        on_busy: OnBusy,
        given: Option<Prefetched>,
        event: &mut SyncEvent,
    ) -> Result<AccountOutcome, SyncError> {
        let run = self.prepare(req).await?;
        event.retention_days = Some(run.settings.event_retention_days);
        let exported = given.is_some();
        let (lock_id, prefetched) = match (key, given) {
            (None, _) => (CATALOG_ACCOUNT.to_string(), None),
            // A snapshot read beforehand (a bulk export's) is keyed by the account id.
            (Some(key), Some(given)) => (key.to_string(), Some(given)),
            (Some(key), None) => match self.known_account_id(&req.entity, key).await? {
                Some(id) => (id, None),
                None => {
                    // Never synced before: the snapshot names the account id the lock needs.
                    let started = self.clock.now();
                    let snapshot = run.zuora.account_snapshot(key, &run.call).await?;
                    let id = snapshot.account.id.clone();
                    let snapshot = Ok(snapshot);
                    (id, Some(Prefetched { snapshot, started }))
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
        // A caller waiting for the answer gets the Zuora reads started with the acquire
        // instead of after it. Queued work does not: nobody waits, the acquire of a marked job
        // clears the mark (so reads started before it are dropped), and a run that coalesces
        // would have spent a Zuora call for nothing.
        let overlap = key.is_some() && prefetched.is_none() && on_busy.caller_waits();
        let reading = overlap || prefetched.is_some();
        let read = async {
            match prefetched {
                Some(done) => Some(done),
                None if overlap => self.prefetch(&run, &lock_key).await,
                None => None,
            }
        };
        let acquire = self.acquire_or_coalesce(req, &lock_key, on_busy);
        let (lock, mut read) = acquire_while_reading(acquire, read).await;
        let Some(mut lock) = lock? else {
            event.status = EventStatus::Coalesced;
            event.updated_at = self.clock.now();
            self.events.put_event(event).await?;
            return Ok(AccountOutcome::Coalesced {
                event_id: event.id.clone(),
            });
        };
        // Won: the event is marked running and the stored copy read (under the lock) while
        // the Zuora read finishes.
        let stored = async {
            if reading {
                self.load(&lock).await.ok()
            } else {
                None
            }
        };
        // A snapshot read beforehand (a bulk export's) is committed within milliseconds: its
        // event is written once, by the commit or the failure, not marked running first (one
        // write less for each account of a bulk full sync).
        let running = async {
            if !exported {
                self.record_running(event).await;
            }
        };
        let ((), (), stored) = tokio::join!(running, read.as_mut(), stored);
        let prefetched = read.as_mut().take_output().flatten();
        // A snapshot read before the lock was won is committed only if nothing the lock
        // records can be newer (docs/ARCHITECTURE.md, The lock protocol: snapshot order). A
        // failed read writes nothing: it is the answer whatever the order (reading again
        // would only make the caller wait through Zuora's failure twice).
        let prefetched = prefetched.zip(stored).filter(|(p, _)| {
            let usable = p.snapshot.is_err() || lock.takes_prefetch(p.started);
            if !usable {
                tracing::debug!(account = %lock.key.account_id, "reading Zuora again under the lock: the snapshot read before it may be older than the last commit");
            }
            usable
        });
        self.run_locked(req, &run, scope, &mut lock, prefetched, event)
            .await
    }

    /// The account's snapshot, read while its lock is acquired. A failed read is kept too:
    /// if the lock accepts the read, its failure is the sync's, as it would be under the lock.
    async fn prefetch(&self, run: &Run, key: &LockKey) -> Option<Prefetched> {
        let account = AccountKey::parse(&key.account_id).ok()?;
        let started = self.clock.now();
        let snapshot = run.zuora.account_snapshot(&account, &run.call).await;
        Some(Prefetched { snapshot, started })
    }

    /// The invocation deadline, or a fallback when the caller's is already past (local
    /// emulators do not always send a real one): a lease that ends before it starts would let
    /// every contender take the lock.
    pub(super) fn effective_deadline(&self, req: &SyncRequest) -> EpochMillis {
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

    pub(super) async fn known_account_id(
        &self,
        entity: &EntityId,
        key: &AccountKey,
    ) -> Result<Option<String>, SyncError> {
        if key.is_zuora_id() {
            return Ok(Some(key.to_string()));
        }
        Ok(self.mirror.resolve_account(entity, key.as_str()).await?)
    }

    pub(super) async fn acquire_or_coalesce(
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
                Wish::Recorded { check_needed } => {
                    if check_needed {
                        self.queue_wish_check(req, key, busy.fence, busy.lease_until)
                            .await?;
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

    pub(super) async fn run_locked(
        &self,
        req: &SyncRequest,
        run: &Run,
        scope: Scope,
        lock: &mut HeldLock,
        mut prefetched: Option<(Prefetched, StoredAccount)>,
        event: &mut SyncEvent,
    ) -> Result<AccountOutcome, SyncError> {
        // The first round's fetch starts after the acquire: it serves the wishes found then.
        let wishes = lock.wishes;
        let first = self
            .sync_once(run, scope, lock, prefetched.take(), wishes, event)
            .await;
        let (mut report, mut commit) = match first {
            Ok(done) => done,
            Err(e) => {
                self.release_after_failure(lock, &e).await;
                self.follow_up_after_failure(req, lock, &e).await;
                return Err(e);
            }
        };
        // Each round serves the wishes recorded during the previous one. They are read here,
        // before the round's fetch, and removed only by its commit: a holder that dies on the
        // way leaves them for the wisher's check.
        while commit == Commit::KeptForWishes {
            let wishes = self.locks.pending_wishes(lock).await?;
            tracing::info!(account = %lock.key.account_id, wishes, "running a follow-up sync for coalesced requests");
            let time_left = self.effective_deadline(req).0 - self.clock.now().0;
            // A caller waiting for its answer never runs other callers' follow-ups (H4); nor
            // does a run without the time for one. Both hand them to the worker.
            if req.trigger.is_synchronous()
                || time_left < self.settings.follow_up_min_time.as_millis() as i64
            {
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
            self.record_running(&mut follow_up).await;
            match self
                .sync_once(run, scope.follow_up(), lock, None, wishes, &mut follow_up)
                .await
            {
                Ok((_, next)) => {
                    report.follow_ups += 1;
                    commit = next;
                }
                Err(e) => {
                    // The wishes are still recorded; a queued follow-up serves them sooner
                    // than the wisher's check.
                    self.release_after_failure(lock, &e).await;
                    self.record_failure(follow_up, e).await;
                    self.queue_follow_up(req, lock).await;
                    break;
                }
            }
        }
        Ok(AccountOutcome::Synced(report))
    }

    /// The event shows `running` from the moment the lock is won. Only the log says so when
    /// that write fails: the sync itself goes on, and its end is recorded either way.
    async fn record_running(&self, event: &mut SyncEvent) {
        event.status = EventStatus::Running;
        event.updated_at = self.clock.now();
        if let Err(e) = self.events.start_event(event).await {
            tracing::warn!(event_id = %event.id, error = %e, "could not record the sync as running");
        }
    }

    /// A synchronous caller's run failed with wishes recorded on its lock: a queued follow-up
    /// serves them once the trouble passes. Their wisher's check may never have been queued (it
    /// failed to send, and its own caller was answered an error), and nothing else would come
    /// back for them. A queued job needs none: SQS retries it, and its retry serves them.
    async fn follow_up_after_failure(&self, req: &SyncRequest, lock: &HeldLock, error: &SyncError) {
        if !req.trigger.is_synchronous() || !error.is_transient() {
            return;
        }
        match self.locks.peek(&lock.key).await {
            Ok(Some(s)) if s.pending > 0 && s.fence == lock.fence => {
                self.queue_follow_up(req, lock).await;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(account = %lock.key.account_id, error = %e, "could not read the wishes left on a failed sync's lock");
            }
        }
    }

    pub(super) async fn release_after_failure(&self, lock: &HeldLock, error: &SyncError) {
        if matches!(error, SyncError::Store(StoreError::Fenced { .. })) {
            return; // Not ours any more.
        }
        if let Err(e) = self.locks.release(lock, self.clock.now()).await {
            // The lease still ends on its own; only the next sync's wait is longer.
            tracing::warn!(account = %lock.key.account_id, error = %e, "could not release the account lock");
        }
    }

    /// One fetch-diff-commit round under the lock. The commit records when its reads began,
    /// and the lock remembers it for the next round.
    pub(super) async fn sync_once(
        &self,
        run: &Run,
        scope: Scope,
        lock: &mut HeldLock,
        prefetched: Option<(Prefetched, StoredAccount)>,
        served: u64,
        event: &mut SyncEvent,
    ) -> Result<(SyncReport, Commit), SyncError> {
        let read_from = match &prefetched {
            Some((p, _)) => p.started,
            None => lock.read_start(self.clock.now()),
        };
        let read = prefetched.map(|(p, stored)| (p.snapshot, stored));
        let mut fetched = self.fetch_and_plan(run, scope, lock, read).await?;
        let now = self.clock.now();
        finish_commit(run, scope, &mut fetched, served, event, now);
        let request = CommitRequest {
            plan: &fetched.plan,
            event,
            release: true,
            served,
            read_from,
            now,
        };
        let commit = self.mirror.commit(lock, request).await?;
        lock.synced_from = Some(read_from);
        if fetched.plan.push && run.trigger != Trigger::Full {
            self.queue_push(&lock.key, &run.call.correlation_id).await;
        }
        let report = sync_report(event, fetched);
        Ok((report, commit))
    }
}

/// Decides whether the commit marks the account for a Salesforce push, and writes the sync's
/// outcome into its event, as the commit will record it.
pub(super) fn finish_commit(
    run: &Run,
    scope: Scope,
    fetched: &mut Fetched,
    served: u64,
    event: &mut SyncEvent,
    now: EpochMillis,
) {
    // A full sync pushes every account, changed or not (Salesforce may never have had it);
    // so does a commit that serves coalesced requests, which may be a full sync's job that
    // found the account's lock held (its own commit never comes).
    fetched.plan.push = run.settings.salesforce.enabled
        && scope != Scope::Catalog
        && (!fetched.plan.is_noop() || run.trigger == Trigger::Full || served > 0);
    let plan = &fetched.plan;
    event.status = EventStatus::Succeeded;
    if scope != Scope::Catalog {
        event.account = Some(plan.account_number.clone());
        event.customer_id = Some(plan.customer_id.clone());
    }
    event.written = plan.puts.len() as u32;
    event.removed = plan.deletes.len() as u32;
    event.unchanged = plan.unchanged;
    event.failures = fetched.failures.clone();
    if fetched.deleted {
        event.reason = Some("the account was deleted in Zuora; its records were removed".into());
    }
    if !fetched.failures.is_empty() {
        event.status = EventStatus::Failed;
        event.code = Some("subscriptions_failed".into());
        event.reason = Some(failures_summary(&fetched.failures, fetched.results.len()));
    }
    event.duration_ms = Some(now.0.saturating_sub(event.created_at.0).max(0) as u64);
    event.updated_at = now;
    note_notification(event, &run.settings, fetched.failures.len() as u32);
}

/// What a committed sync answers its caller.
pub(super) fn sync_report(event: &SyncEvent, fetched: Fetched) -> SyncReport {
    SyncReport {
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
    }
}

impl SyncService {
    /// Queues the push of a commit that marked its account as waiting for one. Best effort:
    /// the mark stays until a push completes, and the sweep queues marks left waiting (a full
    /// sync's are packed by it into jobs of many accounts, so this is not called for them).
    pub(super) async fn queue_push(&self, key: &LockKey, correlation_id: &str) {
        let job = SyncJob::new(
            key.entity.clone(),
            JobTarget::SalesforcePush {
                accounts: vec![key.account_id.clone()],
                retry_failed: false,
            },
            Trigger::SalesforcePush,
            correlation_id.to_string(),
            self.clock.now(),
        );
        if let Err(e) = self.queue.send(&job, None).await {
            tracing::warn!(account = %key.account_id, error = %e, "could not queue the Salesforce push; the sweep will");
        }
    }
}
