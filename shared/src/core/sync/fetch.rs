//! Reading Zuora and the stored mirror for one locked run, and planning the writes.

use super::{Run, Scope, SubscriptionResult, SyncError, SyncService};
use crate::model::HeldLock;
use crate::model::SubscriptionFailure;
use crate::model::{AccountKey, AccountSnapshot, Subscription, SubscriptionKey};
use crate::model::{
    StoredAccount, WritePlan, plan_catalog, plan_removal, plan_writes_keeping, removes_most,
};
use crate::ports::ZuoraError;
use futures::StreamExt;
use std::collections::BTreeSet;

/// Subscriptions of one account read at once in a manual sync; the client's per-entity cap
/// still bounds the requests.
const SUBSCRIPTION_READS: usize = 8;

pub(super) struct Fetched {
    pub plan: WritePlan,
    pub failures: Vec<SubscriptionFailure>,
    pub results: Vec<SubscriptionResult>,
    /// Zuora deleted the account: the plan removes it from the mirror.
    pub deleted: bool,
}

impl Fetched {
    pub(super) fn of(plan: WritePlan) -> Self {
        Self {
            plan,
            failures: Vec::new(),
            results: Vec::new(),
            deleted: false,
        }
    }
}

impl SyncService {
    pub(super) async fn fetch_and_plan(
        &self,
        run: &Run,
        scope: Scope,
        lock: &HeldLock,
        prefetched: Option<(Result<AccountSnapshot, ZuoraError>, StoredAccount)>,
    ) -> Result<Fetched, SyncError> {
        if scope == Scope::Catalog {
            let stored = self.load(lock);
            let products = async { Ok(run.zuora.catalog(&run.call).await?) };
            let (mut products, stored) = tokio::try_join!(products, stored)?;
            if removes_most(&plan_catalog(&products, &stored), &stored) {
                tracing::warn!(
                    "Zuora's catalog answer drops most products; reading it again before removing them"
                );
                products = run.zuora.catalog(&run.call).await?;
            }
            return Ok(Fetched::of(plan_catalog(&products, &stored)));
        }
        let (mut snapshot, stored) = match self.snapshot_and_stored(run, lock, prefetched).await {
            Ok(read) => read,
            Err(e @ SyncError::Zuora(ZuoraError::NotFound { .. })) => {
                return self.removal_if_deleted(run, lock, e).await;
            }
            Err(e) => return Err(e),
        };
        if removes_most(
            &plan_writes_keeping(&snapshot, &stored, &BTreeSet::new()),
            &stored,
        ) {
            // Only a second read that agrees may remove them (M9).
            tracing::warn!(account = %lock.key.account_id, "Zuora's answer drops most of the account's subscriptions; reading it again before removing them");
            (snapshot, _) = self.snapshot_and_stored(run, lock, None).await?;
        }
        if snapshot.account.id != lock.key.account_id {
            return Err(SyncError::WrongAccount {
                asked: lock.key.account_id.clone(),
                got: snapshot.account.id,
            });
        }
        if scope == Scope::Account {
            return Ok(Fetched::of(plan_writes_keeping(
                &snapshot,
                &stored,
                &BTreeSet::new(),
            )));
        }
        let failures = self.read_each_subscription(run, &mut snapshot).await;
        let keep: BTreeSet<String> = failures.iter().map(|f| f.number.clone()).collect();
        let plan = plan_writes_keeping(&snapshot, &stored, &keep);
        let results = subscription_results(&snapshot, &stored, &plan, &failures);
        Ok(Fetched {
            plan,
            failures,
            results,
            deleted: false,
        })
    }

    /// Zuora answered that an account the mirror holds (or held: its ids are kept) does not
    /// exist. Confirmed by a second read, the account was deleted: its records are removed
    /// (tombstoned, not kept stale), and the commit serves the requests waiting on it like any
    /// other. An account never mirrored keeps the error.
    async fn removal_if_deleted(
        &self,
        run: &Run,
        lock: &HeldLock,
        not_found: SyncError,
    ) -> Result<Fetched, SyncError> {
        let stored = self.load(lock).await?;
        if stored.records.is_empty() && stored.id_map.is_empty() {
            return Err(not_found);
        }
        match self.snapshot_and_stored(run, lock, None).await {
            Err(SyncError::Zuora(ZuoraError::NotFound { .. })) => {}
            Err(e) => return Err(e),
            // Back already (an eventually consistent read): sync it as usual next time.
            Ok(_) => return Err(not_found),
        }
        tracing::warn!(account = %lock.key.account_id, records = stored.records.len(), "Zuora deleted the account; removing it from the mirror");
        Ok(Fetched {
            deleted: true,
            ..Fetched::of(plan_removal(&lock.key.account_id, &stored))
        })
    }

    pub(super) async fn load(&self, lock: &HeldLock) -> Result<StoredAccount, SyncError> {
        Ok(self
            .mirror
            .load_account(&lock.key.entity, &lock.key.account_id)
            .await?)
    }

    /// The Zuora snapshot and the stored mirror, read concurrently (or both read already,
    /// the snapshot while the lock was acquired and the stored copy under it).
    async fn snapshot_and_stored(
        &self,
        run: &Run,
        lock: &HeldLock,
        prefetched: Option<(Result<AccountSnapshot, ZuoraError>, StoredAccount)>,
    ) -> Result<(AccountSnapshot, StoredAccount), SyncError> {
        match prefetched {
            Some((snapshot, stored)) => Ok((snapshot?, stored)),
            None => {
                let stored = self.load(lock);
                let key = AccountKey::parse(&lock.key.account_id).map_err(|e| {
                    SyncError::Zuora(ZuoraError::BadResponse {
                        detail: e.to_string(),
                        attempts: 1,
                    })
                })?;
                let snapshot = async { Ok(run.zuora.account_snapshot(&key, &run.call).await?) };
                tokio::try_join!(snapshot, stored)
            }
        }
    }

    /// Replaces each mirrored subscription of the snapshot with its own read (`GET
    /// /v1/subscriptions/{number}`, the fullest form, with charge prices). A subscription
    /// that cannot be read is taken out of the snapshot and reported.
    async fn read_each_subscription(
        &self,
        run: &Run,
        snapshot: &mut AccountSnapshot,
    ) -> Vec<SubscriptionFailure> {
        let wanted: Vec<Subscription> = snapshot.mirrored_subscriptions().cloned().collect();
        let reads: Vec<(Subscription, Result<Subscription, ZuoraError>)> =
            futures::stream::iter(wanted.into_iter().map(|listed| read_one(run, listed)))
                .buffer_unordered(SUBSCRIPTION_READS)
                .collect()
                .await;
        let mut failures = Vec::new();
        for (listed, read) in reads {
            match read {
                Ok(fresh) => {
                    if let Some(slot) = snapshot
                        .subscriptions
                        .iter_mut()
                        .find(|s| s.number == listed.number)
                    {
                        *slot = fresh;
                    }
                }
                Err(e) => failures.push(SubscriptionFailure {
                    number: listed.number.clone(),
                    name: listed.display_name(),
                    code: e.code().to_string(),
                    reason: e.to_string(),
                }),
            }
        }
        failures.sort_by(|a, b| a.number.cmp(&b.number));
        failures
    }
}

async fn read_one(
    run: &Run,
    listed: Subscription,
) -> (Subscription, Result<Subscription, ZuoraError>) {
    let read = match SubscriptionKey::parse(&listed.number) {
        Ok(key) => run.zuora.subscription(&key, &run.call).await,
        Err(e) => Err(ZuoraError::BadResponse {
            detail: e.to_string(),
            attempts: 1,
        }),
    };
    (listed, read)
}

/// Every subscription's outcome: those Zuora returned, and those that left the mirror.
fn subscription_results(
    snapshot: &AccountSnapshot,
    stored: &StoredAccount,
    plan: &WritePlan,
    failures: &[SubscriptionFailure],
) -> Vec<SubscriptionResult> {
    let mut out = Vec::new();
    for sub in &snapshot.subscriptions {
        let failure = failures.iter().find(|f| f.number == sub.number);
        let id = plan.subscription_ids.get(&sub.number).cloned();
        let (outcome, code, reason) = match failure {
            Some(f) => ("failed", Some(f.code.clone()), Some(f.reason.clone())),
            None if sub.status.is_mirrored() => ("synced", None, None),
            None => (
                if stored.records.contains_key(&format!("SUB#{}", sub.number)) {
                    "removed"
                } else {
                    "not_synced"
                },
                Some("subscription_not_mirrored".to_string()),
                Some(format!("status {} is not synced", sub.status)),
            ),
        };
        out.push(SubscriptionResult {
            number: sub.number.clone(),
            name: sub.display_name(),
            id: if outcome == "removed" { None } else { id },
            outcome,
            code,
            reason,
        });
    }
    for sk in &plan.deletes {
        let Some(number) = sk.strip_prefix("SUB#") else {
            continue;
        };
        if snapshot.subscriptions.iter().any(|s| s.number == number) {
            continue;
        }
        out.push(SubscriptionResult {
            number: number.to_string(),
            name: number.to_string(),
            id: None,
            outcome: "removed",
            code: Some("zuora_not_found".into()),
            reason: Some("no longer returned by Zuora".into()),
        });
    }
    out.sort_by(|a, b| a.number.cmp(&b.number));
    out
}
