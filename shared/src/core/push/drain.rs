//! Queueing pushes: after a commit, from the sweep (what waited too long, what a pause held
//! back), and an operator's retry; dismissing failures; the status.

use super::{PushError, PushService};
use crate::model::{EntityId, JobTarget, PushFailure, PushStatus, SyncJob, Trigger};
use crate::ports::PushStatusUpdate;
use std::collections::BTreeSet;

/// Where an entity's Salesforce push stands (the status route's answer).
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct SalesforceState {
    /// A connection is configured for the entity.
    pub connected: bool,
    /// The entity's `salesforce.enabled` setting.
    pub enabled: bool,
    /// Pushes are paused now (see `status.pause_reason`).
    pub paused: bool,
    pub status: PushStatus,
    /// Accounts waiting for a push (counted up to 1,000).
    pub pending: usize,
    /// Records in the failure list (counted up to 1,000).
    pub failures: usize,
}

/// The most a status answer counts.
const COUNT_CAP: usize = 1_000;

impl PushService {
    /// Queues one push job for the accounts of a commit (best effort: the commit's waiting
    /// mark stays until a push completes, and the sweep queues it if this job never runs).
    pub async fn queue(
        &self,
        entity: &EntityId,
        accounts: Vec<String>,
        trigger: Trigger,
        retry_failed: bool,
        correlation_id: &str,
    ) -> Result<(), PushError> {
        self.send(
            entity,
            accounts,
            trigger,
            retry_failed,
            correlation_id,
            None,
        )
        .await
    }

    /// Queues a push of accounts another push held, to run after `delay`.
    pub async fn queue_after(
        &self,
        entity: &EntityId,
        accounts: Vec<String>,
        retry_failed: bool,
        correlation_id: &str,
        delay: std::time::Duration,
    ) -> Result<(), PushError> {
        let trigger = Trigger::SalesforcePush;
        self.send(
            entity,
            accounts,
            trigger,
            retry_failed,
            correlation_id,
            Some(delay),
        )
        .await
    }

    async fn send(
        &self,
        entity: &EntityId,
        accounts: Vec<String>,
        trigger: Trigger,
        retry_failed: bool,
        correlation_id: &str,
        delay: Option<std::time::Duration>,
    ) -> Result<(), PushError> {
        let job = SyncJob::new(
            entity.clone(),
            JobTarget::SalesforcePush {
                accounts,
                retry_failed,
            },
            trigger,
            correlation_id.to_string(),
            self.clock.now(),
        );
        self.queue.send(&job, delay).await?;
        Ok(())
    }

    /// The sweep's part: queues, in jobs of many accounts, the accounts that waited longer
    /// than a commit's own job should take, once, and again if they still wait much later.
    /// Nothing while the entity is paused: its marks wait, and the first sweep after the
    /// pause queues them (pushes resume by themselves). Answers how many were queued.
    pub async fn drain(&self, entity: &EntityId, correlation_id: &str) -> Result<usize, PushError> {
        if !self.is_connected(entity)
            || !self.settings.get(entity).await?.settings.salesforce.enabled
        {
            return Ok(0);
        }
        let now = self.clock.now();
        let status = self.store.push_status(entity).await?;
        if status.paused(now) {
            return Ok(0);
        }
        let upto = now.plus_ms(-(self.tuning.drain_after.as_millis() as i64));
        let limit = self.tuning.drain_limit;
        // Marks since the last drain, oldest first; cut at the limit, the next sweep goes on
        // from the last one queued (its millisecond again, as marks may share it).
        let fresh = self
            .store
            .pending_pushes(entity, status.drained_to, upto, limit)
            .await?;
        let drained_to = match fresh.last() {
            Some((_, last)) if fresh.len() >= limit => last.plus_ms(-1),
            _ => upto,
        };
        // Marks that waited too long are queued again, once per `requeue_after` (not by every
        // sweep: a backlog must not become a flood of duplicate jobs).
        let requeue = status
            .requeued_at
            .is_none_or(|r| now.0 - r.0 >= self.tuning.requeue_after.as_millis() as i64);
        let stale = now.plus_ms(-(self.tuning.requeue_after.as_millis() as i64));
        let old = match (requeue, status.drained_to) {
            (true, Some(_)) => {
                self.store
                    .pending_pushes(entity, None, stale, limit)
                    .await?
            }
            _ => Vec::new(),
        };
        let due: BTreeSet<String> = fresh
            .into_iter()
            .chain(old)
            .map(|(account, _)| account)
            .collect();
        let due: Vec<String> = due.into_iter().collect();
        for accounts in due.chunks(self.tuning.accounts_per_job) {
            self.queue(
                entity,
                accounts.to_vec(),
                Trigger::Sweep,
                false,
                correlation_id,
            )
            .await?;
        }
        let update = PushStatusUpdate {
            drained_to: Some(drained_to),
            requeued_at: requeue.then_some(now),
            ..PushStatusUpdate::default()
        };
        self.store.update_push_status(entity, &update).await?;
        Ok(due.len())
    }

    /// An operator's retry of failures (`None`: every one; ids not on the list are ignored):
    /// their accounts are pushed again with refused records resent. A failure stays on the list
    /// until the push that resends it succeeds (its end takes it off) — so a retry that could
    /// not run (pushes paused, the job lost) leaves it listed, never silently gone. Answers how
    /// many failures were retried.
    pub async fn retry(
        &self,
        entity: &EntityId,
        ids: Option<Vec<String>>,
        correlation_id: &str,
    ) -> Result<usize, PushError> {
        if !self.is_connected(entity) {
            return Err(PushError::NotConnected(entity.clone()));
        }
        let ids = self.on_the_list(entity, ids).await?;
        let accounts: BTreeSet<String> = ids
            .iter()
            .filter_map(|id| id.split_once('/').map(|(account, _)| account.to_string()))
            .collect();
        let accounts: Vec<String> = accounts.into_iter().collect();
        for chunk in accounts.chunks(self.tuning.accounts_per_job) {
            self.queue(
                entity,
                chunk.to_vec(),
                Trigger::Manual,
                true,
                correlation_id,
            )
            .await?;
        }
        Ok(ids.len())
    }

    /// Takes failures off the list without sending anything; answers how many were on it.
    pub async fn dismiss(&self, entity: &EntityId, ids: Vec<String>) -> Result<usize, PushError> {
        if !self.is_connected(entity) {
            return Err(PushError::NotConnected(entity.clone()));
        }
        let ids = self.on_the_list(entity, Some(ids)).await?;
        self.store.remove_failures(entity, &ids).await?;
        Ok(ids.len())
    }

    /// The ids among `ids` (every one with `None`) that are on the failure list: an id that
    /// is not (mistyped, dismissed meanwhile) is ignored rather than acted on.
    async fn on_the_list(
        &self,
        entity: &EntityId,
        ids: Option<Vec<String>>,
    ) -> Result<Vec<String>, PushError> {
        let listed: BTreeSet<String> = self
            .all_failures(entity)
            .await?
            .into_iter()
            .map(|f| f.id)
            .collect();
        Ok(match ids {
            None => listed.into_iter().collect(),
            Some(ids) => {
                let wanted: BTreeSet<String> = ids.into_iter().collect();
                wanted.intersection(&listed).cloned().collect()
            }
        })
    }

    /// One page of the failure list, filtered by account and code.
    pub async fn failures(
        &self,
        entity: &EntityId,
        after: Option<&str>,
        limit: usize,
        account: Option<&str>,
        code: Option<&str>,
    ) -> Result<(Vec<PushFailure>, Option<String>), PushError> {
        let mut out = Vec::new();
        let mut cursor = after.map(str::to_string);
        // Filters are applied to pages of the list; a few pages fill one answer.
        for _ in 0..20 {
            let page = self
                .store
                .failures(entity, cursor.as_deref(), limit)
                .await?;
            let full = page.len() == limit;
            cursor = page.last().map(|f| f.id.clone());
            out.extend(page.into_iter().filter(|f| {
                account.is_none_or(|a| f.account_id == a) && code.is_none_or(|c| f.code == c)
            }));
            if !full || out.len() >= limit {
                break;
            }
        }
        out.truncate(limit);
        let next = (out.len() == limit)
            .then(|| out.last().map(|f| f.id.clone()))
            .flatten();
        Ok((out, next))
    }

    async fn all_failures(&self, entity: &EntityId) -> Result<Vec<PushFailure>, PushError> {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.store.failures(entity, after.as_deref(), 500).await?;
            let done = page.len() < 500;
            after = page.last().map(|f| f.id.clone());
            all.extend(page);
            if done || all.len() >= 10_000 {
                return Ok(all);
            }
        }
    }

    pub async fn state(&self, entity: &EntityId) -> Result<SalesforceState, PushError> {
        let settings = self.settings.get(entity).await?.settings.salesforce;
        let status = self.store.push_status(entity).await?;
        let now = self.clock.now();
        let pending = self
            .store
            .pending_pushes(entity, None, now.plus_ms(1), COUNT_CAP)
            .await?
            .len();
        let failures = self.store.failures(entity, None, COUNT_CAP).await?.len();
        Ok(SalesforceState {
            connected: self.is_connected(entity),
            enabled: settings.enabled,
            paused: status.paused(now),
            status,
            pending,
            failures,
        })
    }
}
