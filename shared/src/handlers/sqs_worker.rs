//! The SQS worker: each message is parsed and synced on its own, and only the messages that
//! failed (and may succeed later) are reported back, so SQS retries them alone and moves them
//! to the dead-letter queue after `maxReceiveCount` receipts.

use crate::core::realtime::{FullSyncError, Realtime};
use crate::core::sync::{
    AccountOutcome, Failure, LookupOutcome, OnBusy, PendingOutcome, SyncRequest, SyncService,
};
use crate::handlers::metrics::Metrics;
use crate::model::EpochMillis;
use crate::model::{EndedJob, JobOutcome};
use crate::model::{JobTarget, SyncJob};
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;

/// Messages of one batch synced at once; the Zuora client's own cap still bounds requests.
const BATCH_CONCURRENCY: usize = 5;

/// A message is started only with this much of the invocation left (docs/ARCHITECTURE.md,
/// "Deadlines"); later ones are handed back to run again at once, in another invocation,
/// instead of timing out the whole batch (which SQS would redeliver whole).
pub const MIN_TIME_TO_START: Duration = Duration::from_secs(15);

/// SQS's longest visibility timeout.
const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 3600);

pub struct Worker {
    pub sync: Arc<SyncService>,
    pub realtime: Arc<Realtime>,
    /// The queue's `maxReceiveCount`: a job failing on its last receipt goes to the DLQ, so
    /// its session counts it as failed then.
    pub max_receives: u32,
    /// The Salesforce push, where the function has connections.
    pub push: Option<Arc<crate::core::push::PushService>>,
}

/// What one job did, whichever entry point ran it.
#[derive(Debug)]
enum JobResult {
    Ran(AccountOutcome),
    /// A pending-wish check found nothing left to serve.
    NothingPending,
    /// A lookup found no account, or several.
    Skipped {
        event_id: String,
        code: String,
    },
}

impl From<AccountOutcome> for JobResult {
    fn from(outcome: AccountOutcome) -> Self {
        Self::Ran(outcome)
    }
}

impl From<PendingOutcome> for JobResult {
    fn from(outcome: PendingOutcome) -> Self {
        match outcome {
            PendingOutcome::NothingPending => Self::NothingPending,
            PendingOutcome::Ran(ran) => Self::Ran(ran),
        }
    }
}

impl From<LookupOutcome> for JobResult {
    fn from(outcome: LookupOutcome) -> Self {
        match outcome {
            LookupOutcome::Ran(ran) => Self::Ran(ran),
            LookupOutcome::Skipped { event_id, code, .. } => Self::Skipped { event_id, code },
        }
    }
}

/// How a session job ended, if it ended (a transient failure with receipts left has not).
fn session_outcome(
    result: &Result<JobResult, Failure>,
    last_receipt: bool,
) -> Option<(JobOutcome, u32, Option<String>)> {
    match result {
        Ok(JobResult::Ran(AccountOutcome::Synced(r))) => {
            Some((JobOutcome::Succeeded, r.written + r.removed, None))
        }
        Ok(_) => Some((JobOutcome::Skipped, 0, None)),
        Err(f) if (!f.error.is_transient() && !f.unrecorded) || last_receipt => {
            Some((JobOutcome::Failed, 0, Some(f.error.to_string())))
        }
        Err(_) => None,
    }
}

/// What happened to one message.
#[derive(Debug, PartialEq)]
pub enum MessageResult {
    Done,
    /// Leave the message on the queue: it is retried, then dead-lettered.
    Retry(String),
}

impl Worker {
    /// Runs a batch and writes its metrics (EMF) to the log.
    pub async fn handle(&self, event: SqsEvent, deadline: EpochMillis) -> SqsBatchResponse {
        let (response, metrics) = self.handle_counted(event, deadline).await;
        if !metrics.is_empty() {
            metrics.emit("sync-worker");
        }
        response
    }

    /// Runs a batch: the failed messages SQS must retry, and what happened, counted.
    pub async fn handle_counted(
        &self,
        event: SqsEvent,
        deadline: EpochMillis,
    ) -> (SqsBatchResponse, Metrics) {
        let counted = std::sync::Mutex::new(Metrics::default());
        let metrics = &counted;
        let results: Vec<(Option<String>, MessageResult)> = futures::stream::iter(event.records)
            .map(|message| async move {
                let id = message.message_id.clone();
                // A panic in one job fails that message alone (SQS retries it, then the DLQ
                // keeps it), not the batch (L4).
                let run = std::panic::AssertUnwindSafe(self.observed(&message, deadline, metrics));
                let result = futures::FutureExt::catch_unwind(run)
                    .await
                    .unwrap_or_else(|_| {
                        tracing::error!(message_id = ?id, "the job panicked");
                        MessageResult::Retry("the job panicked".into())
                    });
                (id, result)
            })
            .buffer_unordered(BATCH_CONCURRENCY)
            .collect()
            .await;
        let metrics = counted
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut response = SqsBatchResponse::default();
        for (id, result) in results {
            if let MessageResult::Retry(_) = result {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id.unwrap_or_default();
                response.batch_item_failures.push(failure);
            }
        }
        (response, metrics)
    }

    pub async fn handle_message(
        &self,
        message: &SqsMessage,
        deadline: EpochMillis,
    ) -> MessageResult {
        self.observed(message, deadline, &std::sync::Mutex::default())
            .await
    }

    /// [`handle_message`](Self::handle_message), counting what happened into `metrics`:
    /// syncs by outcome (`SyncSucceeded`, `SyncCoalesced` — the account's lock was held —,
    /// `SyncSkipped`, `SyncFailed`, `SyncRetried`), `ZuoraBusy`, and the queue age.
    async fn observed(
        &self,
        message: &SqsMessage,
        deadline: EpochMillis,
        metrics: &std::sync::Mutex<Metrics>,
    ) -> MessageResult {
        let message_id = message.message_id.as_deref().unwrap_or("");
        if let Some(handed_back) = self.hand_back_if_late(message, deadline).await {
            return handed_back;
        }
        let job = match SyncJob::parse(message.body.as_deref().unwrap_or("")) {
            Ok(job) => job,
            Err(e) => {
                // Never retried into success, but not dropped either: it ends in the DLQ
                // where it can be inspected.
                tracing::error!(message_id, error = %e, "unreadable sync job");
                return MessageResult::Retry(e.to_string());
            }
        };
        if let Some(sent) = message
            .attributes
            .get("SentTimestamp")
            .and_then(|v| v.parse::<i64>().ok())
        {
            let age = self.sync.now().0 - sent;
            lock(metrics).duration_ms(job.entity.as_str(), "QueueAge", age);
        }
        let mut req = SyncRequest::new(
            job.entity.clone(),
            job.trigger,
            job.correlation_id.clone(),
            deadline,
        );
        req.event_id = job.event_id.clone();
        req.subject = job.subject.clone();
        let result: Result<JobResult, Failure> = match &job.target {
            // Page jobs enumerate a full sync; they hold no lock and have no session job end.
            JobTarget::FullSyncPage { cursor } => {
                return self
                    .full_sync_page(message_id, &job, cursor.as_deref(), deadline)
                    .await;
            }
            JobTarget::BulkExport { export, from, part } => {
                let step = self.realtime.bulk_export_step(
                    &job.entity,
                    job.session_id.as_deref().unwrap_or_default(),
                    export.as_ref(),
                    *part,
                    *from,
                    &job.correlation_id,
                    deadline,
                );
                return self.step_result(message_id, &job, step).await;
            }
            JobTarget::BulkAccounts {
                read_from,
                snapshots,
            } => {
                return self
                    .bulk_accounts(message, &job, *read_from, snapshots, deadline, metrics)
                    .await;
            }
            JobTarget::SalesforcePush {
                accounts,
                retry_failed,
            } => {
                return self
                    .salesforce_push(&job, accounts, *retry_failed, deadline, metrics)
                    .await;
            }
            _ if job.only_if_pending => self
                .sync
                .sync_if_pending(&req, &job.target)
                .await
                .map(Into::into),
            JobTarget::Account { account } => self
                .sync
                .sync_account(&req, account, OnBusy::Coalesce)
                .await
                .map(Into::into),
            JobTarget::Catalog => self
                .sync
                .sync_catalog(&req, OnBusy::Coalesce)
                .await
                .map(Into::into),
            JobTarget::Lookup { field, value } => self
                .sync
                .resolve_and_sync(&req, field, value)
                .await
                .map(Into::into),
        };
        let account_id = match &result {
            Ok(JobResult::Ran(AccountOutcome::Synced(r))) => Some(r.account_id.as_str()),
            _ => None,
        };
        self.sync.job_done(&req, &job.target, account_id).await;
        if let (Some(session), Some(account)) = (&job.session_id, job.account_key()) {
            let receipts = self.receipts(message);
            if let Some((outcome, written, reason)) =
                session_outcome(&result, receipts >= self.max_receives)
            {
                let counted = self
                    .realtime
                    .job_ended(
                        &job.entity,
                        session,
                        account.as_str(),
                        outcome,
                        written,
                        reason.as_deref(),
                    )
                    .await;
                if let Err(e) = counted {
                    // Counting is idempotent, so the whole job may run again.
                    tracing::warn!(message_id, session = %session, error = %e, "could not count the job in its session; SQS will retry it");
                    return MessageResult::Retry(e.to_string());
                }
            }
        }
        let entity = job.entity.as_str();
        // A session job's lag: from the cut that queued it (its requested time) to now.
        if job.session_id.is_some()
            && let Ok(cut) = time::OffsetDateTime::parse(
                &job.requested_at,
                &time::format_description::well_known::Rfc3339,
            )
        {
            let cut_ms = (cut.unix_timestamp_nanos() / 1_000_000) as i64;
            lock(metrics).duration_ms(entity, "SessionLag", self.sync.now().0 - cut_ms);
        }
        match result {
            Ok(outcome) => {
                log_outcome(message_id, &job, &outcome);
                let name = match outcome {
                    JobResult::Ran(AccountOutcome::Synced(_)) => "SyncSucceeded",
                    JobResult::Ran(AccountOutcome::Coalesced { .. }) => "SyncCoalesced",
                    _ => "SyncSkipped",
                };
                lock(metrics).count(entity, name, 1);
                MessageResult::Done
            }
            Err(f) if f.error.is_transient() || f.unrecorded => {
                lock(metrics).count(entity, "SyncRetried", 1);
                if let Some(wait) = f.error.retry_after() {
                    lock(metrics).count(entity, "ZuoraBusy", 1);
                    self.defer(message, wait).await;
                }
                tracing::warn!(message_id, correlation_id = %job.correlation_id, error = %f.error, "sync failed; SQS will retry it");
                MessageResult::Retry(f.error.to_string())
            }
            Err(f) => {
                // Retrying cannot help (e.g. Zuora does not know the account); the failure
                // is on record as an event.
                tracing::warn!(message_id, correlation_id = %job.correlation_id, event_id = %f.event_id, error = %f.error, "sync failed permanently");
                lock(metrics).count(entity, "SyncFailed", 1);
                MessageResult::Done
            }
        }
    }
}

impl Worker {
    /// Zuora asked for a long wait (its concurrency 429 says 120 s): the message comes back
    /// after that, plus up to a quarter more so the messages it turned away do not all return
    /// at once, instead of after the queue's fixed visibility timeout.
    async fn defer(&self, message: &SqsMessage, wait: Duration) {
        let spread = wait.mul_f64(spread_of(message) / 4.0);
        let after = (wait + spread).min(MAX_VISIBILITY);
        let receipt = message.receipt_handle.as_deref().unwrap_or("");
        if let Err(e) = self.sync.hand_back_after(receipt, after).await {
            tracing::warn!(message_id = ?message.message_id, error = %e, "could not defer the message; it returns after the visibility timeout");
        }
    }

    fn receipts(&self, message: &SqsMessage) -> u32 {
        message
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1)
    }

    /// Hands the message back when too little of the invocation is left to start it — except
    /// on its last receipt, where handing back would dead-letter it unrun; it runs then, its
    /// Zuora calls cut short by the deadline if need be.
    async fn hand_back_if_late(
        &self,
        message: &SqsMessage,
        deadline: EpochMillis,
    ) -> Option<MessageResult> {
        let left = deadline.0 - self.sync.now().0;
        // A deadline already past is no real one (some local emulators send none): the sync
        // then runs on its own fallback deadline.
        if left <= 0
            || left >= MIN_TIME_TO_START.as_millis() as i64
            || self.receipts(message) >= self.max_receives
        {
            return None;
        }
        let receipt = message.receipt_handle.as_deref().unwrap_or("");
        if let Err(e) = self.sync.hand_back(receipt).await {
            // It still comes back, after its visibility timeout.
            tracing::warn!(message_id = ?message.message_id, left_ms = left, error = %e, "could not hand the message back");
        }
        Some(MessageResult::Retry(format!(
            "handed back unstarted with {left} ms of the invocation left"
        )))
    }

    async fn full_sync_page(
        &self,
        message_id: &str,
        job: &SyncJob,
        cursor: Option<&str>,
        deadline: EpochMillis,
    ) -> MessageResult {
        let session = job.session_id.as_deref().unwrap_or_default();
        let page = self.realtime.full_sync_page(
            &job.entity,
            session,
            cursor,
            &job.correlation_id,
            deadline,
        );
        self.step_result(message_id, job, page).await
    }

    /// Runs one step of a full sync (a page, or a bulk export's submit, poll or fan-out):
    /// a transient failure is retried by SQS, a permanent one logged and dropped.
    async fn step_result(
        &self,
        message_id: &str,
        job: &SyncJob,
        step: impl Future<Output = Result<(), FullSyncError>>,
    ) -> MessageResult {
        let Some(session) = &job.session_id else {
            tracing::error!(message_id, "a full sync job names no session");
            return MessageResult::Retry("a full sync job names no session".into());
        };
        match step.await {
            Ok(()) => MessageResult::Done,
            Err(e) if e.is_transient() => {
                tracing::warn!(message_id, session = %session, error = %e, "full sync step failed; SQS will retry it");
                MessageResult::Retry(e.to_string())
            }
            Err(e) => {
                tracing::error!(message_id, session = %session, error = %e, "full sync step failed permanently");
                MessageResult::Done
            }
        }
    }

    /// A bulk export's accounts, each committed under its own lock and counted in the
    /// session. One that fails and may succeed later is queued as a per-call account job of
    /// the session (which then counts it), so the others are not synced again.
    async fn bulk_accounts(
        &self,
        message: &SqsMessage,
        job: &SyncJob,
        read_from: EpochMillis,
        snapshots: &[crate::model::AccountSnapshot],
        deadline: EpochMillis,
        metrics: &std::sync::Mutex<Metrics>,
    ) -> MessageResult {
        let message_id = message.message_id.as_deref().unwrap_or("");
        let Some(session) = &job.session_id else {
            tracing::error!(message_id, "a bulk accounts job names no session");
            return MessageResult::Retry("a bulk accounts job names no session".into());
        };
        let req = SyncRequest::new(
            job.entity.clone(),
            job.trigger,
            job.correlation_id.clone(),
            deadline,
        );
        let req = &req;
        let results: Vec<(String, Result<JobResult, Failure>)> = self
            .sync
            .sync_exported_all(req, snapshots.to_vec(), read_from)
            .await
            .into_iter()
            .map(|(id, result)| (id, result.map(JobResult::from)))
            .collect();
        let last_receipt = self.receipts(message) >= self.max_receives;
        let entity = job.entity.as_str();
        let mut again = Vec::new();
        let mut ended = Vec::new();
        for (account, result) in &results {
            let name = match result {
                Ok(JobResult::Ran(AccountOutcome::Synced(_))) => "SyncSucceeded",
                Ok(JobResult::Ran(AccountOutcome::Coalesced { .. })) => "SyncCoalesced",
                Ok(_) => "SyncSkipped",
                Err(f) if f.error.is_transient() || f.unrecorded => "SyncRetried",
                Err(_) => "SyncFailed",
            };
            lock(metrics).count(entity, name, 1);
            let Some((outcome, written, failure)) = session_outcome(result, last_receipt) else {
                again.push(account.clone());
                continue;
            };
            ended.push(EndedJob {
                account: account.clone(),
                outcome,
                written,
                failure,
            });
        }
        // The job's accounts are of one count group (the fan-out makes them so): one write.
        let counted = self.realtime.jobs_ended(&job.entity, session, ended).await;
        if let Err(e) = counted {
            // Counting is idempotent, and a commit made is not made twice (the snapshot
            // order refuses it), so the whole job may run again.
            tracing::warn!(message_id, session = %session, error = %e, "could not count the bulk accounts in their session; SQS will retry the job");
            return MessageResult::Retry(e.to_string());
        }
        if !again.is_empty() {
            tracing::info!(message_id, session = %session, accounts = again.len(), "bulk accounts that failed are queued to sync one by one");
            let queued = self
                .realtime
                .sync_one_by_one(&job.entity, session, &again, &job.correlation_id)
                .await;
            if let Err(e) = queued {
                return MessageResult::Retry(e.to_string());
            }
        }
        MessageResult::Done
    }
}

/// A fraction in [0, 1) drawn from the message's receipt: SQS's receipts are random, so the
/// messages turned away together spread out, and a simulation's run replays the same.
fn spread_of(message: &SqsMessage) -> f64 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut hasher = DefaultHasher::new();
    message.receipt_handle.hash(&mut hasher);
    message.message_id.hash(&mut hasher);
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// The batch's counts (still usable after a job panicked holding them).
fn lock(metrics: &std::sync::Mutex<Metrics>) -> std::sync::MutexGuard<'_, Metrics> {
    metrics
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn log_outcome(message_id: &str, job: &SyncJob, outcome: &JobResult) {
    match outcome {
        JobResult::Ran(AccountOutcome::Synced(r)) => tracing::info!(
            message_id, correlation_id = %job.correlation_id, account = %r.account_id,
            written = r.written, unchanged = r.unchanged, removed = r.removed,
            follow_ups = r.follow_ups, event_id = %r.event_id, "account synced"
        ),
        JobResult::Ran(AccountOutcome::Coalesced { event_id }) => tracing::info!(
            message_id, correlation_id = %job.correlation_id, event_id = %event_id,
            "account busy; coalesced into its running sync"
        ),
        JobResult::NothingPending => tracing::info!(
            message_id, correlation_id = %job.correlation_id, "no coalesced sync left to run"
        ),
        JobResult::Skipped { event_id, code } => tracing::info!(
            message_id, correlation_id = %job.correlation_id, event_id = %event_id, code = %code,
            "nothing to sync"
        ),
    }
}

fn count_push(m: &mut Metrics, entity: &str, report: &crate::core::push::PushReport) {
    m.count(entity, "SalesforceCalls", u64::from(report.calls));
    for (_, counts, _) in &report.accounts {
        let written = counts.created + counts.updated + counts.deleted;
        m.count(entity, "SalesforceRecordsWritten", u64::from(written));
        m.count(entity, "SalesforceRecordsFailed", u64::from(counts.failed));
    }
    if report.paused {
        m.count(entity, "SalesforcePaused", 1);
    }
}

impl Worker {
    /// A Salesforce push job. Its accounts' waiting marks stay until their push completes, so
    /// a job that ends without pushing (no connection, a pause, a lease held by another push)
    /// loses nothing: the sweep queues them again.
    async fn salesforce_push(
        &self,
        job: &SyncJob,
        accounts: &[String],
        retry_failed: bool,
        deadline: EpochMillis,
        metrics: &std::sync::Mutex<Metrics>,
    ) -> MessageResult {
        let entity = job.entity.as_str();
        let Some(push) = &self.push else {
            tracing::warn!(
                entity,
                "a Salesforce push job, but this function has no Salesforce connection"
            );
            return MessageResult::Done;
        };
        let report = push
            .push(
                &job.entity,
                accounts,
                retry_failed,
                &job.correlation_id,
                deadline,
            )
            .await;
        match report {
            Ok(report) => {
                count_push(&mut lock(metrics), entity, &report);
                if !report.busy.is_empty() {
                    // Another push holds these accounts: look again shortly (it may have read
                    // the mirror before the commit that queued this job).
                    let retry = push
                        .queue_after(
                            &job.entity,
                            report.busy,
                            retry_failed,
                            &job.correlation_id,
                            Duration::from_secs(10),
                        )
                        .await;
                    if let Err(e) = retry {
                        tracing::warn!(entity, error = %e, "could not queue the push of busy accounts; the sweep will");
                    }
                }
                MessageResult::Done
            }
            Err(e) if e.is_transient() => {
                tracing::warn!(entity, error = %e, "Salesforce push failed; SQS will retry it");
                MessageResult::Retry(e.to_string())
            }
            Err(e) => {
                tracing::warn!(entity, code = e.code(), error = %e, "Salesforce push failed; its accounts wait for the sweep");
                MessageResult::Done
            }
        }
    }
}
