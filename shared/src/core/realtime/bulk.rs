//! The bulk full sync (docs/ARCHITECTURE.md, "Bulk full sync"): one AQuA export read on one
//! Zuora snapshot instead of two calls per account. The session's first job submits the
//! export, later ones poll it, and once it is ready its accounts are fanned out in jobs of
//! many snapshots each, every account committed under its own lock by the snapshot order.

use super::Realtime;
use super::full::FullSyncError;
use crate::model::{
    AccountKey, AccountSnapshot, CallContext, EntityId, EpochMillis, ExportJob, ExportPart,
    ExportState, JobTarget, PageRecord, SyncJob, Trigger, count_group,
};
use crate::ports::{ZuoraApi, ZuoraError};
use std::time::Duration;

/// Accounts one `BulkAccounts` job carries at most.
pub const BULK_ACCOUNTS_PER_JOB: usize = 50;
/// Serialized snapshots one job carries at most: SQS takes 256 KiB a message, and the rest of
/// the job's JSON needs room. A larger account goes alone, as a per-call account job.
pub const BULK_JOB_BYTES: usize = 200 * 1024;
/// The page that records a session's export: the first writer wins, so a retried submit
/// polls the export recorded first and the session reads exactly one snapshot.
const EXPORT_PAGE: &str = "bulk-export";
/// The page that claims a part's fan-out for one invocation (`bulk-fanout:<part>`).
const FAN_OUT_PAGE: &str = "bulk-fanout";
/// The page that records into how many parts the export is split: the first writer wins, so
/// every step splits it the same way even if the workers' memory changed in between.
const PARTS_PAGE: &str = "bulk-parts";
/// The most parts an export is split into; each part reads every file again, so a larger
/// export is read account by account instead (or the worker given more memory).
pub const MAX_PARTS: u64 = 32;
/// Recorded instead of an export when the session reads account by account.
const PER_CALL: &str = "per-call";
/// Polls wait this long at first, then a quarter of the export's age, up to the maximum.
const FIRST_POLL: Duration = Duration::from_secs(5);
const MAX_POLL: Duration = Duration::from_secs(60);
/// How long a fan-out waits for another one of the same process to end before it goes back
/// to the queue, and how long it is held there.
const FAN_OUT_WAIT: Duration = Duration::from_secs(5);
const FAN_OUT_AGAIN: Duration = Duration::from_secs(20);
/// The fan-out stops with this much of the invocation left and goes on in another job.
const FAN_OUT_RESERVE_MS: i64 = 15_000;
/// Heap one account of an export takes while it is downloaded and assembled (measured by
/// `scripts/bench.sh -- fullsync-bulk`: 12.3 KB with the files; rounded up).
pub const BULK_BYTES_PER_ACCOUNT: u64 = 16_000;
/// Heap one exported record takes (the same run: 12.0 KB for about 7 records an account).
pub const BULK_BYTES_PER_RECORD: u64 = 2_500;

/// The most accounts of an export a process with `memory_mb` holds while it fans them out,
/// with half of the memory left for everything else.
pub fn accounts_for_memory(memory_mb: u64) -> u64 {
    memory_mb * 1_000_000 / 2 / BULK_BYTES_PER_ACCOUNT
}

/// The time one exported record takes to download and assemble, budgeted at twice what
/// `scripts/bench.sh -- fullsync-bulk` measures with the simulator's file service on the same
/// machine (its latency taken out), for the transfer from Zuora; and the time a part's read may
/// take: the worker's invocation (60 s) less the fan-out's reserve and its first chunks. Every
/// part reads every file, within one invocation.
pub const READ_MICROS_PER_RECORD: u64 = 5;
pub const READ_BUDGET_SECS: u64 = 40;

/// Whether a part of an export with `records` records (every file's) can be read within one
/// worker invocation; a larger export is read account by account.
pub fn readable_in_one_invocation(records: u64) -> bool {
    records.saturating_mul(READ_MICROS_PER_RECORD) <= READ_BUDGET_SECS * 1_000_000
}

/// Into how many parts an export of `accounts` accounts and `records` records (every file's)
/// must be split for a part to fit a process that holds `limit` accounts: the accounts at
/// the measured bytes per account, the records (an account with many subscriptions weighs
/// more) at the bytes per record, against the room less a fifth for the parts' unevenness.
pub fn parts_needed(accounts: u64, records: u64, limit: u64) -> u64 {
    let room = (limit.saturating_mul(BULK_BYTES_PER_ACCOUNT) / 5 * 4).max(1);
    let needed = (accounts * BULK_BYTES_PER_ACCOUNT).max(records * BULK_BYTES_PER_RECORD);
    needed.div_ceil(room).max(1)
}

/// One fan-out job's accounts: their snapshots, or one account too large for a message.
#[derive(Debug)]
enum Chunk {
    Snapshots(Vec<AccountSnapshot>),
    Oversize(Box<AccountSnapshot>),
}

impl Chunk {
    fn account_ids(&self) -> Vec<String> {
        match self {
            Self::Snapshots(list) => list.iter().map(|s| s.account.id.clone()).collect(),
            Self::Oversize(s) => vec![s.account.id.clone()],
        }
    }
}

/// Splits snapshots into jobs of at most [`BULK_ACCOUNTS_PER_JOB`] accounts and
/// [`BULK_JOB_BYTES`], each of one count group ([`count_group`]: the job's accounts are then
/// counted in one write). In the order of group and account number, so a retry splits them
/// the same way.
fn chunks(snapshots: Vec<AccountSnapshot>) -> Vec<Chunk> {
    // Each account's group hashed once.
    let mut grouped: Vec<(u8, AccountSnapshot)> = snapshots
        .into_iter()
        .map(|s| (count_group(&s.account.id), s))
        .collect();
    grouped.sort_by(|(a, x), (b, y)| {
        (a, &x.account.account_number).cmp(&(b, &y.account.account_number))
    });
    let mut out = Vec::new();
    let mut current: Vec<AccountSnapshot> = Vec::new();
    let mut current_group = None;
    let mut bytes = 0;
    for (group, snapshot) in grouped {
        let size = serde_json::to_vec(&snapshot).map_or(usize::MAX, |v| v.len());
        if size > BULK_JOB_BYTES {
            out.push(Chunk::Oversize(Box::new(snapshot)));
            continue;
        }
        let other_group = !current.is_empty() && current_group != Some(group);
        if current.len() == BULK_ACCOUNTS_PER_JOB || bytes + size > BULK_JOB_BYTES || other_group {
            out.push(Chunk::Snapshots(std::mem::take(&mut current)));
            bytes = 0;
        }
        current_group = Some(group);
        bytes += size;
        current.push(snapshot);
    }
    if !current.is_empty() {
        out.push(Chunk::Snapshots(current));
    }
    out
}

/// How an export is recorded on its session (a page's `next`): `<job id>@<submitted at>`.
fn encode(export: &ExportJob) -> String {
    format!("{}@{}", export.id, export.submitted_at.0)
}

fn decode(recorded: &str) -> Option<ExportJob> {
    let (id, at) = recorded.split_once('@')?;
    Some(ExportJob {
        id: id.to_string(),
        submitted_at: EpochMillis(at.parse().ok()?),
    })
}

/// How long until the next poll of an export submitted `age_ms` ago.
fn poll_delay(age_ms: i64) -> Duration {
    let quarter = Duration::from_millis((age_ms / 4).max(0) as u64);
    quarter.clamp(FIRST_POLL, MAX_POLL)
}

impl Realtime {
    /// One step of a bulk full sync (a worker job): submits the export (`export` none), or
    /// polls it and, once ready, fans the accounts of `part` out from chunk `from` (no part
    /// yet: the export is split first, and this step fans out its first part). Safe to run
    /// again.
    #[allow(clippy::too_many_arguments)]
    pub async fn bulk_export_step(
        &self,
        entity: &EntityId,
        session_id: &str,
        export: Option<&ExportJob>,
        part: Option<ExportPart>,
        from: usize,
        correlation_id: &str,
        deadline: EpochMillis,
    ) -> Result<(), FullSyncError> {
        let zuora = self.bounded_zuora(entity, deadline)?;
        let ctx = CallContext::new(correlation_id);
        let Some(export) = export else {
            return self
                .submit_export(entity, session_id, zuora.as_ref(), correlation_id, &ctx)
                .await;
        };
        // A copy of a step that runs after the fan-out ended (SQS delivers at least once; a
        // submit that ran twice polls twice) stops here rather than fanning out again, which
        // would read every account again (its export's commit is not newer than itself). It
        // completes the session if every job ended: the step that ended the enumeration may
        // have died before it could.
        let Some(session) = self.store.get_session(entity, session_id).await? else {
            return Ok(());
        };
        if !session.enumerating {
            tracing::info!(entity = %entity, session = %session_id, "the export was fanned out already; this step ends");
            return Ok(self.complete_if_done(entity, session_id).await?);
        }
        // Falling back to the per-call reads is safe only before any chunk joined the total:
        // after, the accounts would be enumerated twice and the session never add up.
        let fall_back = |why: String, split: bool| async move {
            // Of a split export, other parts may be recording pages while this one fails (the
            // total read above is stale): the per-call reads would enumerate them again.
            if session.total > 0 || split {
                return Err(FullSyncError::Busy(format!(
                    "{why}, after the export was split or part of it fanned out; the step is retried"
                )));
            }
            tracing::warn!(entity = %entity, session = %session_id, job = %export.id, reason = %why, "reading account by account instead of the bulk export");
            self.queue_per_call(entity, session_id, correlation_id)
                .await
        };
        let files = match zuora.export_state(&export.id, &ctx).await? {
            ExportState::Running => {
                let age = self.clock.now().0 - export.submitted_at.0;
                return self
                    .bulk_step(entity, session_id, Some(export), None, 0, correlation_id)
                    .delay(poll_delay(age))
                    .send(self)
                    .await;
            }
            ExportState::Failed(reason) => {
                return fall_back(format!("the bulk export failed: {reason}"), false).await;
            }
            ExportState::Ready(files) => files,
        };
        let part = match part {
            Some(part) => part,
            None => match self.parts_for(&files) {
                Ok(parts) => match self
                    .split(entity, session_id, export, parts, correlation_id)
                    .await?
                {
                    Some(whole) => whole,
                    // Each part goes as a step of its own: this one's work is done.
                    None => return Ok(()),
                },
                Err(why) => return fall_back(why, false).await,
            },
        };
        let fan_out = FanOut {
            entity,
            session_id,
            export,
            part,
            correlation_id,
            deadline,
        };
        // A copy of a part's step that comes after the part ended (a duplicate delivery, a
        // splitting step run again, a retry of a step that died after recording the end)
        // does not fan it out again, which would read its accounts again; it ends the
        // enumeration if every part ended, as the step that died might not have.
        if from == 0
            && self
                .store
                .part_ended(entity, session_id, part.index)
                .await?
        {
            tracing::info!(entity = %entity, session = %session_id, %part, "this part was fanned out already; this step ends");
            return self.part_ended(&fan_out).await;
        }
        // Held until the fan-out ends: its snapshots are this process's memory budget. A
        // short wait lets a small fan-out in the same batch finish; past it the step is sent
        // again, delayed, as a new message: being turned away is no failure, and must not use
        // up the message's receives (the DLQ would take a part whose turn had not come).
        let Ok(Ok(_memory)) = tokio::time::timeout(FAN_OUT_WAIT, self.fan_outs.acquire()).await
        else {
            tracing::info!(entity = %entity, session = %session_id, %part, "this process is fanning out another export; the step goes back to the queue");
            return self
                .next_step(&fan_out, part, from)
                .delay(FAN_OUT_AGAIN)
                .send(self)
                .await;
        };
        if from == 0 && !self.claim_fan_out(&fan_out).await? {
            return Err(FullSyncError::Busy(format!(
                "another invocation is fanning part {part} of this export out; this copy of the step waits"
            )));
        }
        let snapshots = match zuora.export_snapshots(&files, part, &ctx).await {
            Ok(snapshots) => snapshots,
            // Zuora's files cannot be read into snapshots (gone, unreadable, over the cap):
            // reading them again would fail the same way.
            Err(e @ (ZuoraError::NotFound { .. } | ZuoraError::BadResponse { .. })) => {
                let why = format!("the export's files could not be read: {e}");
                return fall_back(why, !part.is_whole()).await;
            }
            Err(e) => return Err(e.into()),
        };
        tracing::info!(entity = %entity, session = %session_id, job = %export.id, %part, accounts = snapshots.len(), "bulk export ready");
        self.fan_out(&fan_out, snapshots, from).await
    }

    /// Into how many parts the export must be split for one part to fit this process's
    /// memory ([`Self::limit_bulk_accounts`]); refused beyond [`MAX_PARTS`].
    fn parts_for(&self, files: &[crate::model::ExportFile]) -> Result<u32, String> {
        let accounts: u64 = files
            .iter()
            .filter(|f| f.object == "Account")
            .map(|f| f.records)
            .sum();
        let records: u64 = files.iter().map(|f| f.records).sum();
        if !readable_in_one_invocation(records) {
            return Err(format!(
                "the bulk export ({accounts} accounts, {records} records) takes longer to read than a worker invocation gives ({READ_BUDGET_SECS} s at {READ_MICROS_PER_RECORD} us a record)"
            ));
        }
        let parts = parts_needed(accounts, records, self.bulk_limit);
        if parts > MAX_PARTS {
            return Err(format!(
                "the bulk export ({accounts} accounts, {records} records) would need {parts} parts to fit this worker's memory (room for {} accounts a part, {MAX_PARTS} parts at most)",
                self.bulk_limit
            ));
        }
        Ok(parts as u32)
    }

    /// Records the split (the first writer's stands) and queues a step for each part, to be
    /// fanned out at once by as many workers; answers the whole export when it is one part,
    /// to be fanned out by this step. A step of its own for every part, the first one too, so
    /// a part that fails is retried alone, never by splitting (and queueing every part) again.
    async fn split(
        &self,
        entity: &EntityId,
        session_id: &str,
        export: &ExportJob,
        parts: u32,
        correlation_id: &str,
    ) -> Result<Option<ExportPart>, FullSyncError> {
        let page = PageRecord {
            accounts: Vec::new(),
            next: Some(parts.to_string()),
        };
        let recorded = self
            .store
            .add_page(entity, session_id, PARTS_PAGE, &page)
            .await?;
        let of = recorded.next.and_then(|n| n.parse().ok()).unwrap_or(parts);
        if of <= 1 {
            return Ok(Some(ExportPart::WHOLE));
        }
        tracing::info!(entity = %entity, session = %session_id, parts = of, "the bulk export is fanned out in parts");
        let steps: Vec<SyncJob> = ExportPart::all(of)
            .map(|part| {
                let step = self.bulk_step(
                    entity,
                    session_id,
                    Some(export),
                    Some(part),
                    0,
                    correlation_id,
                );
                step.job
            })
            .collect();
        let failed = self.queue.send_many(&steps).await;
        if !failed.is_empty() {
            return Err(FullSyncError::Queue(format!(
                "{} parts' steps of a bulk export could not be queued",
                failed.len()
            )));
        }
        Ok(None)
    }

    /// Submits the export and records it on the session, unless an export (or the per-call
    /// path) was recorded first; then polls whichever was. A tenant that refuses the export
    /// (no AQuA, no permission) is read account by account.
    async fn submit_export(
        &self,
        entity: &EntityId,
        session_id: &str,
        zuora: &dyn ZuoraApi,
        correlation_id: &str,
        ctx: &CallContext,
    ) -> Result<(), FullSyncError> {
        // Taken before the submit: Zuora's snapshot is no older than this.
        let submitted_at = self.clock.now();
        let choice = match zuora.submit_export(ctx).await {
            Ok(id) => encode(&ExportJob { id, submitted_at }),
            // Zuora's own refusal of the export (AQuA not enabled, the user lacks its
            // permission, a field the tenant lacks): the per-call reads may still work.
            Err(e @ (ZuoraError::Rejected { .. } | ZuoraError::NotFound { .. })) => {
                tracing::warn!(entity = %entity, session = %session_id, error = %e, "Zuora refused the bulk export; reading account by account");
                PER_CALL.to_string()
            }
            Err(e) => return Err(e.into()),
        };
        let page = PageRecord {
            accounts: Vec::new(),
            next: Some(choice),
        };
        let recorded = self
            .store
            .add_page(entity, session_id, EXPORT_PAGE, &page)
            .await?;
        match recorded.next.as_deref().and_then(decode) {
            Some(export) => {
                self.bulk_step(entity, session_id, Some(&export), None, 0, correlation_id)
                    .delay(FIRST_POLL)
                    .send(self)
                    .await
            }
            None => {
                self.queue_per_call(entity, session_id, correlation_id)
                    .await
            }
        }
    }

    /// The per-call full sync's first page (for a session whose export failed, too).
    pub(super) async fn queue_per_call(
        &self,
        entity: &EntityId,
        session_id: &str,
        correlation_id: &str,
    ) -> Result<(), FullSyncError> {
        let job = self.page_job(entity, session_id, None, correlation_id);
        self.queue
            .send(&job, None)
            .await
            .map_err(|e| FullSyncError::Queue(e.to_string()))
    }

    /// Records each chunk as a page of the session (its accounts join the total once) and
    /// queues its job; a last, empty page ends the enumeration. Chunks before `from` were queued by an
    /// earlier invocation; one short of time queues the rest as another step.
    async fn fan_out(
        &self,
        run: &FanOut<'_>,
        snapshots: Vec<AccountSnapshot>,
        from: usize,
    ) -> Result<(), FullSyncError> {
        // An id that is no account key could never be committed or counted: it is left out
        // before anything is recorded (never expected of ids Zuora issues).
        let (snapshots, invalid): (Vec<_>, Vec<_>) = snapshots
            .into_iter()
            .partition(|s| AccountKey::parse(&s.account.id).is_ok());
        if !invalid.is_empty() {
            tracing::error!(session = %run.session_id, count = invalid.len(), "the export named accounts by invalid ids; they are left out");
        }
        let chunks = chunks(snapshots);
        for (n, chunk) in chunks.into_iter().enumerate().skip(from) {
            // At least one chunk an invocation, so a continuation always makes progress.
            if n > from && run.deadline.0 - self.clock.now().0 < FAN_OUT_RESERVE_MS {
                tracing::info!(session = %run.session_id, part = %run.part, chunk = n, "fanning the export out goes on in another job");
                return self.next_step(run, run.part, n).send(self).await;
            }
            let key = format!("bulk:{}:{n}", run.part.index);
            let page = PageRecord {
                accounts: chunk.account_ids(),
                next: Some(key.clone()),
            };
            let recorded = self
                .store
                .add_page(run.entity, run.session_id, &key, &page)
                .await?;
            let jobs = self.chunk_jobs(run, chunk, &recorded.accounts);
            let failed = self.queue.send_many(&jobs).await;
            if !failed.is_empty() {
                return Err(FullSyncError::Queue(format!(
                    "{} jobs of a bulk export's chunk {n} could not be queued",
                    failed.len()
                )));
            }
        }
        self.part_ended(run).await
    }

    /// Records that the part was fanned out whole, and ends the enumeration if every part
    /// was. It ends only once every chunk's jobs of every part were sent: a fan-out that
    /// failed half-way is run again whole (its sent jobs are counted once), never cut short by
    /// the check that stops copies of a finished one. Of parts ending at once, each records its
    /// end before it reads how many have: the last sees all. Safe to run again.
    async fn part_ended(&self, run: &FanOut<'_>) -> Result<(), FullSyncError> {
        let ended = self
            .store
            .part_fanned_out(run.entity, run.session_id, run.part.index)
            .await?;
        if ended < run.part.of {
            return Ok(());
        }
        self.store
            .add_page(
                run.entity,
                run.session_id,
                "bulk:end",
                &PageRecord::default(),
            )
            .await?;
        Ok(self.complete_if_done(run.entity, run.session_id).await?)
    }

    /// Claims the fan-out for this invocation until its deadline (the session's page
    /// `bulk-fanout`, first writer wins): a copy of the step running at the same time (SQS
    /// delivers at least once) is turned away and comes back once the fan-out ended, when it
    /// stops. A claim whose invocation is over (it died) no longer turns anyone away.
    async fn claim_fan_out(&self, run: &FanOut<'_>) -> Result<bool, FullSyncError> {
        let key = format!("{FAN_OUT_PAGE}:{}", run.part.index);
        let ours = format!("{}:{}", run.deadline.0, crate::model::new_event_id());
        let page = PageRecord {
            accounts: Vec::new(),
            next: Some(ours.clone()),
        };
        let recorded = self
            .store
            .add_page(run.entity, run.session_id, &key, &page)
            .await?;
        let claim = recorded.next.unwrap_or_default();
        let until: i64 = claim
            .split_once(':')
            .and_then(|(at, _)| at.parse().ok())
            .unwrap_or(0);
        Ok(claim == ours || until < self.clock.now().0)
    }

    /// The jobs of one recorded chunk: its snapshots in one job, an account too large for a
    /// message as a per-call job, and any account the page recorded that the chunk lacks
    /// (never expected: the export's files do not change) as a per-call job too.
    fn chunk_jobs(&self, run: &FanOut<'_>, chunk: Chunk, recorded: &[String]) -> Vec<SyncJob> {
        let mut jobs = Vec::new();
        let mut per_call: Vec<String> = Vec::new();
        match chunk {
            Chunk::Snapshots(list) => {
                let (kept, _): (Vec<_>, Vec<_>) = list
                    .into_iter()
                    .partition(|s| recorded.contains(&s.account.id));
                per_call.extend(
                    recorded
                        .iter()
                        .filter(|id| !kept.iter().any(|s| &s.account.id == *id))
                        .cloned(),
                );
                if !kept.is_empty() {
                    let target = JobTarget::BulkAccounts {
                        read_from: run.export.submitted_at,
                        snapshots: kept,
                    };
                    jobs.push(self.session_job(
                        run.entity,
                        run.session_id,
                        target,
                        run.correlation_id,
                    ));
                }
            }
            Chunk::Oversize(_) => per_call.extend(recorded.iter().cloned()),
        }
        jobs.extend(
            per_call.iter().filter_map(|id| {
                self.account_job(run.entity, run.session_id, id, run.correlation_id)
            }),
        );
        jobs
    }

    /// Queues per-call account jobs of the session for bulk accounts that failed and may
    /// succeed later (each is counted when its job ends).
    pub async fn sync_one_by_one(
        &self,
        entity: &EntityId,
        session_id: &str,
        account_ids: &[String],
        correlation_id: &str,
    ) -> Result<(), FullSyncError> {
        let jobs: Vec<SyncJob> = account_ids
            .iter()
            .filter_map(|id| self.account_job(entity, session_id, id, correlation_id))
            .collect();
        let failed = self.queue.send_many(&jobs).await;
        if failed.is_empty() {
            Ok(())
        } else {
            Err(FullSyncError::Queue(format!(
                "{} bulk accounts could not be queued to sync one by one",
                failed.len()
            )))
        }
    }

    /// A session's per-call account job (an account a bulk job could not carry or commit);
    /// `None` for an id that is no account key (the fan-out leaves those out).
    pub(super) fn account_job(
        &self,
        entity: &EntityId,
        session_id: &str,
        account_id: &str,
        correlation_id: &str,
    ) -> Option<SyncJob> {
        let account = AccountKey::parse(account_id).ok()?;
        let target = JobTarget::Account { account };
        Some(self.session_job(entity, session_id, target, correlation_id))
    }

    pub(super) fn session_job(
        &self,
        entity: &EntityId,
        session_id: &str,
        target: JobTarget,
        correlation_id: &str,
    ) -> SyncJob {
        let mut job = SyncJob::new(
            entity.clone(),
            target,
            Trigger::Full,
            correlation_id.to_string(),
            self.clock.now(),
        );
        job.session_id = Some(session_id.to_string());
        job
    }

    /// The fan-out's next step: its part from chunk `from`.
    fn next_step(&self, run: &FanOut<'_>, part: ExportPart, from: usize) -> Step {
        self.bulk_step(
            run.entity,
            run.session_id,
            Some(run.export),
            Some(part),
            from,
            run.correlation_id,
        )
    }

    /// The next step of a bulk full sync, to be sent.
    pub(super) fn bulk_step(
        &self,
        entity: &EntityId,
        session_id: &str,
        export: Option<&ExportJob>,
        part: Option<ExportPart>,
        from: usize,
        correlation_id: &str,
    ) -> Step {
        let target = JobTarget::BulkExport {
            export: export.cloned(),
            from,
            part,
        };
        Step {
            job: self.session_job(entity, session_id, target, correlation_id),
            delay: None,
        }
    }
}

/// The fan-out's context.
struct FanOut<'a> {
    entity: &'a EntityId,
    session_id: &'a str,
    export: &'a ExportJob,
    part: ExportPart,
    correlation_id: &'a str,
    deadline: EpochMillis,
}

/// A bulk step job and how long SQS holds it back.
pub(super) struct Step {
    job: SyncJob,
    delay: Option<Duration>,
}

impl Step {
    fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    pub(super) async fn send(self, realtime: &Realtime) -> Result<(), FullSyncError> {
        realtime
            .queue
            .send(&self.job, self.delay)
            .await
            .map_err(|e| FullSyncError::Queue(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Account, AccountSnapshot};

    fn snapshot(id: &str, name_len: usize) -> AccountSnapshot {
        AccountSnapshot {
            account: Account {
                id: id.into(),
                account_number: format!("N-{id}"),
                name: "x".repeat(name_len),
                status: "Active".into(),
                currency: None,
                crm_id: None,
                bill_cycle_day: None,
                payment_term: None,
                default_payment_method_id: None,
                custom_fields: Default::default(),
            },
            bill_to: None,
            sold_to: None,
            payment_methods: Vec::new(),
            subscriptions: Vec::new(),
        }
    }

    /// `n` account ids of count group 0.
    fn ids_of_one_group(n: usize) -> Vec<String> {
        (0..)
            .map(|i| format!("{i:04}"))
            .filter(|id| count_group(id) == 0)
            .take(n)
            .collect()
    }

    #[test]
    fn chunks_hold_at_most_fifty_accounts_of_one_count_group_and_the_byte_budget() {
        let one_group: Vec<_> = ids_of_one_group(120)
            .iter()
            .map(|id| snapshot(id, 10))
            .collect();
        let sizes: Vec<usize> = chunks(one_group)
            .iter()
            .map(|c| c.account_ids().len())
            .collect();
        assert_eq!(sizes, vec![50, 50, 20]);
        // Of many groups: every account once, each chunk of one group.
        let mixed: Vec<_> = (0..400).map(|i| snapshot(&format!("m{i}"), 10)).collect();
        let split = chunks(mixed);
        let mut ids: Vec<String> = split.iter().flat_map(Chunk::account_ids).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 400);
        for chunk in &split {
            let groups: std::collections::BTreeSet<u8> = chunk
                .account_ids()
                .iter()
                .map(|id| count_group(id))
                .collect();
            assert_eq!(groups.len(), 1, "{:?}", chunk.account_ids());
        }
        assert!(
            split.len() >= 16 && split.len() <= 24,
            "{} chunks",
            split.len()
        );
        // 60 KB each: three fit in 200 KB; a 300 KB account (the last by number) goes alone,
        // per call.
        let ids = ids_of_one_group(5);
        let mut big: Vec<_> = ids[..4].iter().map(|id| snapshot(id, 60_000)).collect();
        big.insert(2, snapshot(&ids[4], 300_000));
        let shape: Vec<(bool, usize)> = chunks(big)
            .iter()
            .map(|c| (matches!(c, Chunk::Oversize(_)), c.account_ids().len()))
            .collect();
        assert_eq!(shape, vec![(false, 3), (true, 1), (false, 1)]);
    }

    #[test]
    fn an_export_is_recorded_with_its_submit_time_and_polls_back_off() {
        let export = ExportJob {
            id: "2c92c0f8".into(),
            submitted_at: EpochMillis(1_700_000_000_123),
        };
        assert_eq!(decode(&encode(&export)), Some(export));
        assert_eq!(decode(PER_CALL), None);
        assert_eq!(poll_delay(0), FIRST_POLL);
        assert_eq!(poll_delay(80_000), Duration::from_secs(20));
        assert_eq!(poll_delay(3_600_000), MAX_POLL);
    }

    #[test]
    fn a_worker_fans_out_what_half_its_memory_holds() {
        assert_eq!(accounts_for_memory(256), 8_000);
        assert_eq!(accounts_for_memory(2_048), 64_000);
        // A fifth kept for unevenness: 6,400 accounts a part of a 256 MB worker.
        assert_eq!(parts_needed(6_400, 0, 8_000), 1);
        assert_eq!(parts_needed(6_401, 0, 8_000), 2);
        assert_eq!(parts_needed(1_000_000, 7_000_000, 128_000), 11);
    }
}
