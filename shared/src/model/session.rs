//! Real-time sync's values: the change counter, sessions and how their jobs ended.

use crate::model::event::named;
use crate::model::{EpochMillis, Trigger};

/// The counter of one entity, as read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RealtimeState {
    /// The number of the latest counted change.
    pub seq: u64,
    /// Where the last session ended: changes `(last_cut, seq]` wait for the next one.
    pub last_cut: u64,
    /// When tracking began (first change, or first sweep): the max-time clock before any
    /// session.
    pub since: Option<EpochMillis>,
    pub last_session_at: Option<EpochMillis>,
    pub last_session_id: Option<String>,
    /// When the last session that ended without a failed account ended.
    pub last_success_at: Option<EpochMillis>,
    /// Where reconciliation stands (M1 in `docs/ARCHITECTURE.md`, "Reconciliation").
    pub reconcile: ReconcileMarks,
    /// Sessions started whose jobs are not all queued yet (the outbox): a session enters it in
    /// the write that starts it and leaves once its jobs are sent, so a crash or an SQS
    /// failure in between leaves it here for the sweep to queue again.
    pub unqueued: Vec<String>,
    /// Sessions started and not yet done: the sweep reaps those past [`SESSION_EXPIRY_MS`].
    pub running: Vec<String>,
}

/// Where reconciliation's scan of each change list stands, and when its last deep look-back
/// began.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReconcileMarks {
    /// By change list (`accounts`, `subscriptions`, `payment_methods`, `contacts`).
    #[serde(default)]
    pub lists: std::collections::BTreeMap<String, ScanMark>,
    /// When the sweep last started a deep look-back (a full sync of every account, for what
    /// changes in Zuora without moving any `updatedDate`).
    #[serde(default)]
    pub deep_started: Option<EpochMillis>,
}

/// A position in a change list's (`updatedDate`, `id`) order: every record updated before `at`
/// was seen, and with `after_id` also those updated at `at` with an id up to it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ScanMark {
    /// UTC RFC 3339.
    pub at: String,
    #[serde(default)]
    pub after_id: Option<String>,
    /// The last scan reached the list's end at `at` (the newest update it saw): the next one
    /// starts a look-back overlap earlier, for records Zuora made visible late.
    #[serde(default)]
    pub caught_up: bool,
}

/// One page of a full sync as first recorded: the account keys it queued and the cursor of the
/// next page (`None`: the last page). A retried page job queues exactly these, whatever Zuora's
/// list says by then, so the session's total and its jobs always agree.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PageRecord {
    pub accounts: Vec<String>,
    pub next: Option<String>,
}

impl RealtimeState {
    /// Changes counted since the last session.
    pub fn waiting(&self) -> u64 {
        self.seq.saturating_sub(self.last_cut)
    }
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::Display,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum SessionTrigger {
    /// The data change count reached the threshold.
    Threshold,
    /// The maximum time between syncs passed (the sweep).
    MaxTime,
    /// A full sync of every account (switching to real-time mode).
    Full,
    /// The periodic deep look-back: a full sync of every account, started by the sweep.
    Deep,
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::Display,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum SessionStatus {
    Running,
    Done,
    /// Reaped by the sweep: a job never ended within [`SESSION_EXPIRY_MS`] (its message was
    /// lost or left the DLQ unredriven), so the counts do not add up.
    Expired,
}

/// A session still running this long after it started never will finish: past the DLQ's 14
/// days, a job that has not ended has no message left to end it.
pub const SESSION_EXPIRY_MS: i64 = 15 * 24 * 3600 * 1000;

named!(SessionTrigger);
named!(SessionStatus);

impl SessionTrigger {
    /// The trigger its account syncs carry in their events.
    pub fn event_trigger(self) -> Trigger {
        match self {
            Self::Threshold => Trigger::Realtime,
            Self::MaxTime => Trigger::Sweep,
            Self::Full | Self::Deep => Trigger::Full,
        }
    }

    /// Whether the session enumerates every account (page jobs) rather than a change range.
    pub fn is_full(self) -> bool {
        matches!(self, Self::Full | Self::Deep)
    }
}

/// A real-time sync session (also part of the status answer: the wire shape).
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Session {
    pub id: String,
    /// `threshold`, `max_time`, `full` or `deep`.
    #[schema(value_type = String)]
    pub trigger: SessionTrigger,
    /// `running` or `done`.
    #[schema(value_type = String)]
    pub status: SessionStatus,
    /// Epoch milliseconds.
    #[schema(value_type = i64)]
    pub started_at: EpochMillis,
    #[schema(value_type = Option<i64>)]
    pub finished_at: Option<EpochMillis>,
    /// Account jobs in the session.
    pub total: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub skipped: u64,
    /// Mirror records written (or removed) by its jobs.
    pub written: u64,
    /// Data change events the session took from the counter.
    pub changes: u64,
    /// The changes it covers: `(from_seq, to_seq]`.
    pub from_seq: u64,
    pub to_seq: u64,
    /// A full sync still reading Zuora's account list (its total still grows).
    pub enumerating: bool,
    /// A full sync that reads Zuora through one bulk export (AQuA) instead of a call per
    /// account; it falls back to the per-call reads if the export fails.
    #[serde(default)]
    pub bulk: bool,
    /// Failed accounts, each with its reason.
    pub failures: Vec<String>,
    /// What became of the notification, when one was due.
    pub delivery: Option<String>,
    pub notify: Option<bool>,
    pub notification_level: Option<String>,
}

impl Session {
    pub fn new(trigger: SessionTrigger, now: EpochMillis, range: (u64, u64), total: u64) -> Self {
        Self {
            id: crate::model::new_event_id(),
            trigger,
            status: SessionStatus::Running,
            started_at: now,
            finished_at: None,
            total,
            succeeded: 0,
            failed: 0,
            skipped: 0,
            written: 0,
            changes: range.1 - range.0,
            from_seq: range.0,
            to_seq: range.1,
            enumerating: false,
            bulk: false,
            failures: Vec::new(),
            delivery: None,
            notify: None,
            notification_level: None,
        }
    }

    pub fn finished_jobs(&self) -> u64 {
        self.succeeded + self.failed + self.skipped
    }

    /// Every job ended and no more will come.
    pub fn is_finished(&self) -> bool {
        !self.enumerating && self.finished_jobs() >= self.total
    }
}

/// Failure texts a session keeps at most (each up to 300 characters): its item must stay well
/// under DynamoDB's 400 KB. The failed count stays exact; each job's event keeps its reason.
pub const MAX_FAILURES_LISTED: usize = 100;

/// How one job of a session ended, for its counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOutcome {
    Succeeded,
    Failed,
    Skipped,
}

impl JobOutcome {
    /// The counter it adds to.
    pub fn counter(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }
}

/// One ended job of a session, to be counted (the account it synced, and the reason it failed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedJob {
    pub account: String,
    pub outcome: JobOutcome,
    pub written: u32,
    pub failure: Option<String>,
}

/// The groups a session's job counts are spread over: a store keeps each group's count apart,
/// so jobs ending at once rarely write the same item, and counts the jobs of one group
/// together. A bulk full sync puts each job's accounts in one group.
pub const SESSION_COUNT_GROUPS: u8 = 16;

/// An account's count group: always the same (a stable hash), so a job that runs again counts
/// where it counted before.
pub fn count_group(account: &str) -> u8 {
    use sha2::{Digest, Sha256};
    Sha256::digest(account.as_bytes())[0] % SESSION_COUNT_GROUPS
}
