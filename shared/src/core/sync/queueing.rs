//! Queued work: on-demand requests, the check a coalesced request leaves behind, and follow-ups
//! that could not run in the holder's invocation.
//!
//! An on-demand request marks the account "sync queued" on its lock item in one conditional
//! write, then queues the job. A request that finds the mark folds into that queued job; one
//! that finds the lock held records a wish, so the holder runs exactly one follow-up. Acquiring
//! the lock clears the mark, because the holder's fetch starts after it and so covers every
//! request folded into the mark.

use super::{Failure, SyncError, SyncRequest, SyncService};
use crate::model::{
    AccountKey, CATALOG_ACCOUNT, EpochMillis, EventStatus, Fence, HeldLock, JobTarget, LockKey,
    Mark, SyncEvent, SyncJob, Wish,
};
use crate::ports::QueueError;
use std::time::Duration;

/// A queued mark older than this no longer coalesces requests (the job may have been
/// retried into the DLQ); SQS normally starts a job within seconds.
const MARK_TTL: Duration = Duration::from_secs(15 * 60);
/// A mark whose job is not confirmed sent yet: if its marker died between the two, the mark
/// is gone this soon (and meanwhile requests queue their own jobs rather than fold into it).
const UNSENT_MARK_TTL: Duration = Duration::from_secs(10);

/// What an on-demand request for one account led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    /// A job was queued; `event_id` is its event (status `queued`).
    Queued { event_id: String },
    /// The account's sync is running: this request is served by its one follow-up.
    CoalescedIntoRunning { event_id: String },
    /// A job for the account is queued and has not started: it serves this request too.
    CoalescedIntoQueued { event_id: String, queued: String },
    /// Inside the entity's minimum interval between on-demand syncs; nothing queued.
    Throttled { retry_after: Duration },
}

/// The coordination key of a lookup: a hash, so any claim value makes a valid, bounded key,
/// and repeated logins with the same value share one queued mark.
pub(crate) fn lookup_key(field: &str, value: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(field.as_bytes());
    h.update([0]);
    h.update(value.as_bytes());
    format!("lookup-{}", &hex::encode(h.finalize())[..40])
}

fn job_target(lock_id: &str) -> Result<JobTarget, QueueError> {
    if lock_id == CATALOG_ACCOUNT {
        return Ok(JobTarget::Catalog);
    }
    let account = AccountKey::parse(lock_id).map_err(|e| QueueError(e.to_string().into()))?;
    Ok(JobTarget::Account { account })
}

impl SyncService {
    /// Queues a sync of `target` for the worker, coalescing with a queued or running one.
    /// `min_interval` applies the on-demand interval (on-demand requests only).
    pub async fn enqueue(
        &self,
        req: &SyncRequest,
        target: &JobTarget,
        min_interval: Option<Duration>,
    ) -> Result<Enqueued, Failure> {
        let mut event = self.new_event(req, self.clock.now());
        event.status = EventStatus::Queued;
        let lock_id = match target {
            JobTarget::Catalog => CATALOG_ACCOUNT.to_string(),
            JobTarget::Lookup { field, value } => lookup_key(field, value),
            JobTarget::FullSyncPage { .. }
            | JobTarget::BulkExport { .. }
            | JobTarget::BulkAccounts { .. }
            | JobTarget::SalesforcePush { .. } => {
                let error = QueueError(
                    "full sync pages, bulk exports and pushes are queued by their own services only"
                        .into(),
                );
                return Err(self.record_failure(event, error.into()).await);
            }
            JobTarget::Account { account } => {
                event.account = Some(account.to_string());
                match self.known_account_id(&req.entity, account).await {
                    Ok(Some(id)) => {
                        event.account_id = Some(id.clone());
                        id
                    }
                    Ok(None) => account.to_string(),
                    Err(e) => return Err(self.record_failure(event, e).await),
                }
            }
        };
        let key = LockKey {
            entity: req.entity.clone(),
            account_id: lock_id,
        };
        match self
            .mark_and_queue(req, &key, target, min_interval, &mut event)
            .await
        {
            Ok(outcome) => Ok(outcome),
            Err(e) => Err(self.record_failure(event, e).await),
        }
    }

    async fn mark_and_queue(
        &self,
        req: &SyncRequest,
        key: &LockKey,
        target: &JobTarget,
        min_interval: Option<Duration>,
        event: &mut SyncEvent,
    ) -> Result<Enqueued, SyncError> {
        if let Ok(settings) = self.entity_settings.get(&req.entity).await {
            event.retention_days = Some(settings.settings.event_retention_days);
        }
        // A wish can meet a lock released that instant; a few rounds settle it.
        for _ in 0..5 {
            let now = self.clock.now();
            let until = now.plus_ms(UNSENT_MARK_TTL.as_millis() as i64);
            let mark = self
                .locks
                .mark_queued(key, &event.id, now, until, min_interval)
                .await?;
            match mark {
                Mark::Marked => return self.queue_marked(req, key, target, event).await,
                Mark::Queued {
                    confirmed: false, ..
                } => {
                    // Its marker may have died before sending: nothing proves a job exists
                    // to fold into, so this request sends its own (M2).
                    return self.queue_job(req, key, target, event).await;
                }
                Mark::Throttled { retry_at } => {
                    let left = (retry_at.0 - now.0).max(0) as u64;
                    return Ok(Enqueued::Throttled {
                        retry_after: Duration::from_millis(left),
                    });
                }
                Mark::Queued { event_id, .. } => {
                    self.record_coalesced(
                        event,
                        &format!("folded into the queued sync {event_id}"),
                    )
                    .await?;
                    return Ok(Enqueued::CoalescedIntoQueued {
                        event_id: event.id.clone(),
                        queued: event_id,
                    });
                }
                Mark::Running(busy) => match self.locks.add_wish(key, busy.fence, now).await? {
                    Wish::Recorded { check_needed } => {
                        if check_needed {
                            self.queue_wish_check(req, key, busy.fence, busy.lease_until)
                                .await?;
                        }
                        self.record_coalesced(
                            event,
                            "folded into the follow-up of the running sync",
                        )
                        .await?;
                        return Ok(Enqueued::CoalescedIntoRunning {
                            event_id: event.id.clone(),
                        });
                    }
                    Wish::LockChanged => continue,
                },
            }
        }
        Err(SyncError::Busy {
            account: key.account_id.clone(),
        })
    }

    /// The queued event and the job are written at once (a login waits on this). The event
    /// is only created if absent, so a worker that already started the job is never set back
    /// to `queued`. A job that cannot be queued gives its mark back and fails the request
    /// (nothing is silently dropped).
    async fn queue_marked(
        &self,
        req: &SyncRequest,
        key: &LockKey,
        target: &JobTarget,
        event: &mut SyncEvent,
    ) -> Result<Enqueued, SyncError> {
        match self.queue_job(req, key, target, event).await {
            Ok(queued) => {
                // Sent: later requests may fold into it now.
                let until = self.clock.now().plus_ms(MARK_TTL.as_millis() as i64);
                if let Err(e) = self.locks.confirm_mark(key, &event.id, until).await {
                    tracing::warn!(error = %e, "could not confirm the queued mark; requests queue their own jobs until it expires");
                }
                Ok(queued)
            }
            Err(e) => {
                if let Err(clear) = self.locks.clear_mark(key, &event.id).await {
                    tracing::warn!(error = %clear, "could not clear the queued mark; it expires on its own");
                }
                Err(e)
            }
        }
    }

    /// Records the queued event and sends the job.
    async fn queue_job(
        &self,
        req: &SyncRequest,
        key: &LockKey,
        target: &JobTarget,
        event: &mut SyncEvent,
    ) -> Result<Enqueued, SyncError> {
        event.updated_at = self.clock.now();
        // The job names the account id when the mirror knows it, so the mark and the lock
        // the worker takes are the same item.
        let target = match target {
            JobTarget::Account { .. } => job_target(&key.account_id)?,
            other => other.clone(),
        };
        let mut job = SyncJob::new(
            req.entity.clone(),
            target,
            req.trigger,
            req.correlation_id.clone(),
            self.clock.now(),
        );
        job.event_id = Some(event.id.clone());
        job.subject = req.subject.clone();
        let (recorded, sent) =
            tokio::join!(self.events.create_event(event), self.queue.send(&job, None));
        sent?;
        if let Err(e) = recorded {
            // The job is queued and the worker records the event when it runs.
            tracing::warn!(event_id = %event.id, error = %e, "could not record the queued event");
        }
        Ok(Enqueued::Queued {
            event_id: event.id.clone(),
        })
    }

    async fn record_coalesced(&self, event: &mut SyncEvent, why: &str) -> Result<(), SyncError> {
        event.status = EventStatus::Coalesced;
        event.reason = Some(why.to_string());
        event.updated_at = self.clock.now();
        Ok(self.events.put_event(event).await?)
    }

    /// Queues a check that runs after the holder's lease: if the wishes are still pending
    /// then, the holder died without serving them and the check syncs the account. When it
    /// cannot be queued, the claim on it is given back (and the wisher's request fails), so the
    /// next wisher on that lease queues it.
    pub(super) async fn queue_wish_check(
        &self,
        req: &SyncRequest,
        key: &LockKey,
        holder: Fence,
        lease_until: EpochMillis,
    ) -> Result<(), SyncError> {
        let now = self.clock.now();
        let mut job = SyncJob::new(
            key.entity.clone(),
            job_target(&key.account_id)?,
            req.trigger,
            req.correlation_id.clone(),
            now,
        );
        job.only_if_pending = true;
        let delay_ms = (lease_until.0 - now.0).max(0) as u64 + 1000;
        let sent = self
            .queue
            .send(&job, Some(Duration::from_millis(delay_ms)))
            .await;
        if let Err(e) = sent {
            if let Err(unclaim) = self.locks.unclaim_check(key, holder, lease_until).await {
                tracing::error!(account = %key.account_id, error = %unclaim, "could not give back the claim on a check that was not queued");
            }
            return Err(e.into());
        }
        Ok(())
    }

    pub(super) async fn queue_follow_up(&self, req: &SyncRequest, lock: &HeldLock) {
        let Ok(target) = job_target(&lock.key.account_id) else {
            return;
        };
        let job = SyncJob::new(
            lock.key.entity.clone(),
            target,
            req.trigger,
            req.correlation_id.clone(),
            self.clock.now(),
        );
        if let Err(e) = self.queue.send(&job, None).await {
            tracing::error!(account = %lock.key.account_id, error = %e, "could not queue the follow-up sync; coalesced requests may wait for the next trigger");
        }
    }

    /// Makes a received message visible again at once: the worker had no time left to start
    /// it, so another invocation runs it now rather than after the visibility timeout.
    pub async fn hand_back(&self, receipt: &str) -> Result<(), QueueError> {
        self.queue.hand_back(receipt, Duration::ZERO).await
    }

    /// Hands a received message back to come again after `after` (Zuora asked to wait).
    pub async fn hand_back_after(&self, receipt: &str, after: Duration) -> Result<(), QueueError> {
        self.queue.hand_back(receipt, after).await
    }

    /// After a queued job ran: removes its mark if the lock acquisition did not (a job keyed
    /// by an account number the mirror did not know yet marks under that number), and moves
    /// the on-demand time to the account id, so the minimum interval holds across the switch.
    pub async fn job_done(&self, req: &SyncRequest, target: &JobTarget, account_id: Option<&str>) {
        let Some(event_id) = &req.event_id else {
            return;
        };
        let mark_id = match target {
            JobTarget::Account { account } if !account.is_zuora_id() => account.to_string(),
            // A lookup's mark is never a lock, so nothing else clears it.
            JobTarget::Lookup { field, value } => lookup_key(field, value),
            _ => return,
        };
        let key = LockKey {
            entity: req.entity.clone(),
            account_id: mark_id,
        };
        let last = match self.locks.clear_mark(&key, event_id).await {
            Ok(last) => last,
            Err(e) => {
                tracing::warn!(error = %e, "could not clear the queued mark; it expires on its own");
                return;
            }
        };
        if let (Some(at), Some(id)) = (last, account_id) {
            let id_key = LockKey {
                entity: req.entity.clone(),
                account_id: id.to_string(),
            };
            if let Err(e) = self.locks.note_on_demand(&id_key, at).await {
                tracing::warn!(error = %e, "could not carry the on-demand time over to the account id");
            }
        }
    }
}
