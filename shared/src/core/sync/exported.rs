//! The accounts of a bulk job: each one whose lock is free is committed by one write that
//! takes its lock and gives it back, several accounts to a transaction; the others go through
//! the ordinary locked run (docs/ARCHITECTURE.md, "The lock protocol": one-write commits).

use super::fetch::Fetched;
use super::locked::{finish_commit, sync_report};
use super::*;
use crate::model::{
    AccountKey, AccountSnapshot, LockKey, SeenLock, StoredAccount, Trigger, plan_writes_keeping,
    removes_most,
};
use crate::ports::{FreeCommit, StoreError};
use futures::StreamExt;
use std::collections::BTreeSet;

/// Stored copies read at once for one job's one-write commits.
const STORED_READS: usize = 16;
/// Accounts of one job synced at once under their locks (the contended ones).
const LOCKED_RUNS: usize = 8;

/// One account, planned for a one-write commit.
struct Planned {
    key: LockKey,
    seen: SeenLock,
    snapshot: AccountSnapshot,
    fetched: Fetched,
    event: SyncEvent,
}

/// Each account's outcome, by account id.
pub type ExportedOutcomes = Vec<(String, Result<AccountOutcome, Failure>)>;

impl SyncService {
    /// Syncs the accounts of a bulk export, their reads taken to begin at `read_from`. Those
    /// whose locks are free are committed by one write each; the others, and any whose
    /// one-write commit is refused, go through [`SyncService::sync_exported`].
    pub async fn sync_exported_all(
        &self,
        req: &SyncRequest,
        snapshots: Vec<AccountSnapshot>,
        read_from: EpochMillis,
    ) -> ExportedOutcomes {
        let (mut outcomes, rest) = self.commit_free_accounts(req, snapshots, read_from).await;
        // The futures are made first, each owning its snapshot: a closure returning an
        // async block would borrow across the stream and not be `Send` for every lifetime.
        let runs: Vec<_> = rest
            .into_iter()
            .map(|snapshot| {
                let id = snapshot.account.id.clone();
                let run = self.sync_exported(req, snapshot, read_from);
                async move { (id, run.await) }
            })
            .collect();
        let locked: ExportedOutcomes = futures::stream::iter(runs)
            .buffer_unordered(LOCKED_RUNS)
            .collect()
            .await;
        outcomes.extend(locked);
        outcomes
    }

    /// Commits the accounts whose locks are free, by one write each. Answers their
    /// outcomes, and the snapshots left for the locked run.
    async fn commit_free_accounts(
        &self,
        req: &SyncRequest,
        snapshots: Vec<AccountSnapshot>,
        read_from: EpochMillis,
    ) -> (ExportedOutcomes, Vec<AccountSnapshot>) {
        let Ok(run) = self.prepare(req).await else {
            // The locked runs record the failure, account by account.
            return (Vec::new(), snapshots);
        };
        let keys: Vec<LockKey> = snapshots
            .iter()
            .map(|s| LockKey {
                entity: req.entity.clone(),
                account_id: s.account.id.clone(),
            })
            .collect();
        let seen = match self.locks.seen_locks(&keys).await {
            Ok(seen) => seen,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the job's locks; syncing each under its lock");
                return (Vec::new(), snapshots);
            }
        };
        let now = self.clock.now();
        let mut rest = Vec::new();
        let mut free = Vec::new();
        for ((snapshot, key), seen) in snapshots.into_iter().zip(keys).zip(seen) {
            if AccountKey::parse(&key.account_id).is_ok() && seen.free_for(read_from, now) {
                free.push((snapshot, key, seen));
            } else {
                rest.push(snapshot);
            }
        }
        // Read after the locks: a commit in between moves the lock, which refuses ours.
        let loads: Vec<_> = free
            .iter()
            .map(|(_, key, _)| self.mirror.load_account(&key.entity, &key.account_id))
            .collect();
        let stored: Vec<Result<StoredAccount, StoreError>> = futures::stream::iter(loads)
            .buffered(STORED_READS)
            .collect()
            .await;
        let mut planned = Vec::with_capacity(free.len());
        for ((snapshot, key, seen), stored) in free.into_iter().zip(stored) {
            let planned_one = stored
                .ok()
                .and_then(|stored| self.plan_free(req, &run, &key, &snapshot, &stored, now));
            match planned_one {
                Some((fetched, event)) => planned.push(Planned {
                    key,
                    seen,
                    snapshot,
                    fetched,
                    event,
                }),
                None => rest.push(snapshot),
            }
        }
        let commits: Vec<FreeCommit<'_>> = planned
            .iter()
            .map(|p| FreeCommit {
                key: &p.key,
                seen: &p.seen,
                plan: &p.fetched.plan,
                event: &p.event,
                read_from,
                now,
            })
            .collect();
        let results = self.mirror.commit_free(&commits).await;
        let mut outcomes = Vec::with_capacity(planned.len());
        for (p, result) in planned.into_iter().zip(results) {
            if let Err(e) = result {
                tracing::debug!(account = %p.key.account_id, error = %e, "one-write commit refused; syncing under the lock");
                rest.push(p.snapshot);
                continue;
            }
            if p.fetched.plan.push && run.trigger != Trigger::Full {
                self.queue_push(&p.key, &run.call.correlation_id).await;
            }
            self.notify(&p.event).await;
            let report = sync_report(&p.event, p.fetched);
            outcomes.push((p.key.account_id, Ok(AccountOutcome::Synced(report))));
        }
        (outcomes, rest)
    }

    /// Plans one account's one-write commit and its event; `None` leaves the account to the
    /// locked run: a plan removing most of its subscriptions needs a second read that
    /// agrees, under the lock.
    fn plan_free(
        &self,
        req: &SyncRequest,
        run: &Run,
        key: &LockKey,
        snapshot: &AccountSnapshot,
        stored: &StoredAccount,
        now: EpochMillis,
    ) -> Option<(Fetched, SyncEvent)> {
        let plan = plan_writes_keeping(snapshot, stored, &BTreeSet::new());
        if removes_most(&plan, stored) {
            return None;
        }
        let mut fetched = Fetched::of(plan);
        let mut event = self.new_event(req, now);
        event.retention_days = Some(run.settings.event_retention_days);
        event.account_id = Some(key.account_id.clone());
        finish_commit(run, Scope::Account, &mut fetched, 0, &mut event, now);
        Some((fetched, event))
    }
}
