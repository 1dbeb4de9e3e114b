//! The storage ports: the mirror, account locks, the event log, real-time sessions and settings.
//! DynamoDB implements them in production, memory in the core's tests; both honour the same
//! conditions.

use super::Cause;
use crate::model::{
    Acquire, Commit, EndedJob, EntityId, EntitySettings, EpochMillis, EventOutcome, EventPage,
    EventQuery, Fence, HeldLock, HourStats, JobOutcome, LockKey, LockState, Mark, PageRecord,
    RealtimeState, ReconcileMarks, RecordKind, SeenLock, Session, StoredAccount, SyncEvent,
    TornCommit, Versioned, Wish, WritePlan,
};

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum StoreError {
    /// The lock was taken over (its lease expired): this holder must not write.
    #[error("the account lock was taken over (held fence {held}, current fence {current:?})")]
    Fenced { held: u64, current: Option<u64> },
    /// A commit under the lock started its reads earlier than the last commit did: its
    /// snapshot may be older than what is stored, so it must not be written.
    #[error(
        "a newer snapshot is already committed (its reads began at {committed} ms, this one's at {ours} ms)"
    )]
    OlderSnapshot { committed: i64, ours: i64 },
    #[error("DynamoDB request failed: {0}")]
    Unavailable(#[source] Cause),
    #[error("stored item is malformed: {0}")]
    Corrupt(String),
    /// DynamoDB refused the write for its size (an item over 400 KB after compression):
    /// retrying cannot help.
    #[error("too large for DynamoDB: {0}")]
    TooLarge(String),
    /// A pagination cursor that this store did not issue for this query.
    #[error("the cursor is not valid for this query: {0}")]
    InvalidCursor(String),
}

#[async_trait::async_trait]
pub trait LockStore: Send + Sync {
    /// One conditional write: succeeds when there is no lock or its lease has ended.
    async fn acquire(
        &self,
        key: &LockKey,
        owner: &str,
        lease_until: EpochMillis,
        now: EpochMillis,
    ) -> Result<Acquire, StoreError>;

    /// Records a wish for one follow-up sync on a lock someone else holds.
    async fn add_wish(
        &self,
        key: &LockKey,
        holder: Fence,
        now: EpochMillis,
    ) -> Result<Wish, StoreError>;

    /// Gives back the check claimed for the holder's lease `lease_until` (its queueing failed),
    /// so the next wisher on that lease claims and queues it; no-op when the lock changed hands.
    async fn unclaim_check(
        &self,
        key: &LockKey,
        holder: Fence,
        lease_until: EpochMillis,
    ) -> Result<(), StoreError>;

    /// How many wishes are pending on this held lock (`Fenced` if it changed hands). Reading
    /// leaves them recorded: only the commit that serves them removes them, so a holder that
    /// dies before that commit leaves them for the pending check.
    async fn pending_wishes(&self, lock: &HeldLock) -> Result<u64, StoreError>;

    /// Releases whatever is pending; wishes stay recorded for a later check.
    async fn release(&self, lock: &HeldLock, now: EpochMillis) -> Result<(), StoreError>;

    async fn peek(&self, key: &LockKey) -> Result<Option<LockState>, StoreError>;

    /// The lock items of `keys` (strongly consistent, in their order), as a one-write commit
    /// ([`MirrorStore::commit_free`]) is conditioned on them; a missing item is the default.
    async fn seen_locks(&self, keys: &[LockKey]) -> Result<Vec<SeenLock>, StoreError>;

    /// One conditional write: marks a job for the account as queued (until `mark_until`)
    /// unless one is queued or running, or (with `min_interval`, on-demand requests only) an
    /// on-demand sync was queued less than that long ago.
    async fn mark_queued(
        &self,
        key: &LockKey,
        event_id: &str,
        now: EpochMillis,
        mark_until: EpochMillis,
        min_interval: Option<std::time::Duration>,
    ) -> Result<Mark, StoreError>;

    /// The job of this mark is sent: later requests may fold into it until `until`. No-op when
    /// the mark is no longer this job's (the worker already started it).
    async fn confirm_mark(
        &self,
        key: &LockKey,
        event_id: &str,
        until: EpochMillis,
    ) -> Result<(), StoreError>;

    /// Removes the queued mark if it is still this job's (acquiring the lock also clears it).
    /// Answers when an on-demand request was last let through under this key, if ever.
    async fn clear_mark(
        &self,
        key: &LockKey,
        event_id: &str,
    ) -> Result<Option<EpochMillis>, StoreError>;

    /// Records an on-demand request time on another key (a number's mark moving to the
    /// account id once it is known), keeping the later time.
    async fn note_on_demand(&self, key: &LockKey, at: EpochMillis) -> Result<(), StoreError>;
}

/// One commit of a locked run (see [`MirrorStore::commit`]).
#[derive(Debug, Clone, Copy)]
pub struct CommitRequest<'a> {
    pub plan: &'a WritePlan,
    pub event: &'a SyncEvent,
    /// Release the lock too, unless more wishes than `served` are pending.
    pub release: bool,
    /// Wishes recorded before this round's reads began: the commit removes them.
    pub served: u64,
    /// When this plan's Zuora reads began (its snapshot's time).
    pub read_from: EpochMillis,
    pub now: EpochMillis,
}

/// One account's one-write commit (see [`MirrorStore::commit_free`]).
#[derive(Debug, Clone, Copy)]
pub struct FreeCommit<'a> {
    pub key: &'a LockKey,
    /// The lock item as read before the stored copy was: the commit requires it unchanged.
    pub seen: &'a SeenLock,
    pub plan: &'a WritePlan,
    pub event: &'a SyncEvent,
    /// When the plan's Zuora reads began.
    pub read_from: EpochMillis,
    pub now: EpochMillis,
}

#[async_trait::async_trait]
pub trait MirrorStore: Send + Sync {
    /// Zuora account id for an account number this entity has synced before.
    async fn resolve_account(
        &self,
        entity: &EntityId,
        account_number: &str,
    ) -> Result<Option<String>, StoreError>;

    async fn load_account(
        &self,
        entity: &EntityId,
        account_id: &str,
    ) -> Result<StoredAccount, StoreError>;

    /// Writes the plan and the event under the lock's fence, and removes the `served` wishes
    /// (those recorded before this round's fetch started) in the same transaction. With
    /// `release`, the lock is released too unless more wishes than `served` are pending.
    /// `read_from` is when the plan's Zuora reads began: the commit requires it to be later
    /// than the last commit's and records it ([`StoreError::OlderSnapshot`] otherwise).
    async fn commit(
        &self,
        lock: &HeldLock,
        commit: CommitRequest<'_>,
    ) -> Result<Commit, StoreError>;

    /// Commits accounts whose locks were seen free, each by one write that takes its lock
    /// and gives it back (docs/ARCHITECTURE.md, "The lock protocol": one-write commits): its
    /// records, its event and its lock's update, conditioned on the lock item being as
    /// `seen` and free. The store may put several accounts in one transaction. One result
    /// per commit, in order; an account with an error may not have been written (its lock
    /// changed, the store failed, or it needs more than one transaction), and the caller
    /// syncs it under its lock instead.
    async fn commit_free(&self, commits: &[FreeCommit<'_>]) -> Vec<Result<(), StoreError>>;

    /// The Zuora account and record kind behind a local id (`cus_…`, `sub_…`).
    async fn find_local_id(
        &self,
        entity: &EntityId,
        local_id: &str,
    ) -> Result<Option<(String, RecordKind)>, StoreError>;
}

/// Real-time sync state (docs/ARCHITECTURE.md, "The session protocol"): the change counter, callout markers and sessions.
#[async_trait::async_trait]
pub trait RealtimeStore: Send + Sync {
    /// Counts one data change for `account` under the next sequence number and answers the
    /// counter after it; `None` when a callout with `dedupe_id` was counted before. The change
    /// is written before the callout's marker, so a caller that dies half-way leaves no marker
    /// and Zuora's retry is counted (at worst twice, never not at all); a number a session
    /// skipped meanwhile is not reused: the change takes another.
    async fn record_change(
        &self,
        entity: &EntityId,
        dedupe_id: &str,
        account: &str,
        now: EpochMillis,
    ) -> Result<Option<RealtimeState>, StoreError>;

    /// Starts the max-time clock if it has not started.
    async fn touch(&self, entity: &EntityId, now: EpochMillis) -> Result<(), StoreError>;

    async fn realtime_state(&self, entity: &EntityId) -> Result<RealtimeState, StoreError>;

    /// Accounts whose commit stopped between its transactions (a holder died mid-way), each
    /// with its lock's lease now. Entries whose lock no longer says so are dropped on the way.
    async fn torn_commits(&self, entity: &EntityId) -> Result<Vec<TornCommit>, StoreError>;

    /// Cuts the changes `(from, session.to_seq]` into `session`, if the last cut is still
    /// `from` (and, with `due`, no session started after `due`), and enters it in
    /// [`RealtimeState::unqueued`]. `false` when another cutter won.
    async fn start_session(
        &self,
        entity: &EntityId,
        from: u64,
        session: &Session,
        due: Option<EpochMillis>,
    ) -> Result<bool, StoreError>;

    /// The changes numbered `(after, upto]` that are written: (number, account; `None` for a
    /// duplicate delivery or a skipped number).
    async fn changes(
        &self,
        entity: &EntityId,
        after: u64,
        upto: u64,
    ) -> Result<Vec<(u64, Option<String>)>, StoreError>;

    /// Seals numbers taken whose change was never written (its writer died or is slow): each
    /// becomes a skipped number unless its change landed first. Answers the numbers whose
    /// change did land. A writer that finds its number skipped takes another.
    async fn skip_missing(&self, entity: &EntityId, seqs: &[u64]) -> Result<Vec<u64>, StoreError>;

    /// The session's jobs are all queued: it leaves [`RealtimeState::unqueued`].
    async fn session_queued(&self, entity: &EntityId, id: &str) -> Result<(), StoreError>;

    /// Saves where reconciliation stands (the sweep is its only writer).
    async fn set_reconcile_marks(
        &self,
        entity: &EntityId,
        marks: &ReconcileMarks,
    ) -> Result<(), StoreError>;

    /// Records a session that takes no changes (a full sync) as the entity's latest, in
    /// [`RealtimeState::unqueued`] until its first page job is sent.
    async fn create_session(&self, entity: &EntityId, session: &Session) -> Result<(), StoreError>;

    /// Records that part `part` of a session's split bulk export was fanned out whole (once,
    /// however often it is recorded); answers how many of its parts have been.
    async fn part_fanned_out(
        &self,
        entity: &EntityId,
        session_id: &str,
        part: u32,
    ) -> Result<u32, StoreError>;

    /// Whether part `part` of a session's split bulk export was recorded fanned out.
    async fn part_ended(
        &self,
        entity: &EntityId,
        session_id: &str,
        part: u32,
    ) -> Result<bool, StoreError>;

    /// Records a full sync page and adds its accounts to the session total, once per page (its
    /// last page ends the enumeration). Answers the page as first recorded: a retried page job
    /// gets the accounts and cursor it recorded before.
    async fn add_page(
        &self,
        entity: &EntityId,
        session_id: &str,
        page_key: &str,
        page: &PageRecord,
    ) -> Result<PageRecord, StoreError>;

    async fn get_session(&self, entity: &EntityId, id: &str)
    -> Result<Option<Session>, StoreError>;

    /// Counts one finished job of a session; answers the session after it.
    async fn finish_job(
        &self,
        entity: &EntityId,
        session_id: &str,
        account: &str,
        outcome: JobOutcome,
        written: u32,
        failure: Option<&str>,
    ) -> Result<Session, StoreError>;

    /// Counts many finished jobs of a session (a bulk job's accounts), each as
    /// [`Self::finish_job`] would; answers the session after them. A store may count the jobs
    /// of one count group ([`crate::model::count_group`]) in one write.
    async fn finish_jobs(
        &self,
        entity: &EntityId,
        session_id: &str,
        jobs: &[EndedJob],
    ) -> Result<Session, StoreError> {
        for job in jobs {
            self.finish_job(
                entity,
                session_id,
                &job.account,
                job.outcome,
                job.written,
                job.failure.as_deref(),
            )
            .await?;
        }
        self.get_session(entity, session_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("session {session_id} is gone")))
    }

    /// Records what became of a session's notification.
    async fn set_delivery(&self, entity: &EntityId, id: &str, note: &str)
    -> Result<(), StoreError>;

    /// The session ended (done or expired): it leaves [`RealtimeState::running`]. A session
    /// that succeeded (no account failed) also moves [`RealtimeState::last_success_at`].
    async fn session_ended(
        &self,
        entity: &EntityId,
        id: &str,
        succeeded_at: Option<EpochMillis>,
    ) -> Result<(), StoreError>;

    /// Marks a still-running session expired (M5); `false` if it was not running.
    async fn expire_session(
        &self,
        entity: &EntityId,
        id: &str,
        now: EpochMillis,
    ) -> Result<bool, StoreError>;

    /// Marks a session done with its notification decision; `false` if it already was.
    async fn complete_session(
        &self,
        entity: &EntityId,
        id: &str,
        notify: bool,
        level: &str,
        now: EpochMillis,
    ) -> Result<bool, StoreError>;
}

#[async_trait::async_trait]
pub trait SettingsStore: Send + Sync {
    /// The entity's settings, or the defaults (version 0) when none were saved.
    async fn get_settings(&self, entity: &EntityId) -> Result<Versioned, StoreError>;

    /// Saves `settings` if the stored version is still `expected`; otherwise answers the
    /// current version (`Err`) and writes nothing.
    async fn put_settings(
        &self,
        entity: &EntityId,
        settings: &EntitySettings,
        expected: u64,
        updated_by: &str,
        now: EpochMillis,
    ) -> Result<Result<Versioned, u64>, StoreError>;
}

#[async_trait::async_trait]
pub trait EventStore: Send + Sync {
    async fn put_event(&self, event: &SyncEvent) -> Result<(), StoreError>;
    /// Writes the event only if no event with its id exists yet.
    async fn create_event(&self, event: &SyncEvent) -> Result<(), StoreError>;
    /// Records a sync as running (its lock is won, its fetch starts) unless its event already
    /// ended: a slow write can never turn a finished event back to running.
    async fn start_event(&self, event: &SyncEvent) -> Result<(), StoreError>;
    async fn get_event(&self, entity: &EntityId, id: &str)
    -> Result<Option<SyncEvent>, StoreError>;
    /// Newest first.
    async fn account_events(
        &self,
        entity: &EntityId,
        account: &str,
        limit: i32,
    ) -> Result<Vec<SyncEvent>, StoreError>;

    /// Events matching every filter of the query, newest first, one page at a time.
    async fn search_events(&self, query: &EventQuery) -> Result<EventPage, StoreError>;

    /// What the entity's events created in `[from, to]` came to, at most `max` of them; the
    /// flag says whether that was all.
    async fn event_outcomes(
        &self,
        entity: &EntityId,
        from: EpochMillis,
        to: EpochMillis,
        max: usize,
    ) -> Result<(Vec<EventOutcome>, bool), StoreError>;

    /// The statistics saved for those of the hours starting at `starts` that were saved.
    async fn saved_hours(
        &self,
        entity: &EntityId,
        starts: &[i64],
    ) -> Result<Vec<HourStats>, StoreError>;

    /// Saves a closed hour's statistics (they no longer change), kept about a week.
    async fn save_hour(&self, entity: &EntityId, hour: &HourStats) -> Result<(), StoreError>;
}
