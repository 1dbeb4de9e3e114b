//! Real-time sync (design §1.5): Zuora data change callouts are counted per entity, each change
//! under the next sequence number. Every `threshold` changes make one *session* (the changes
//! `(last_cut, last_cut + threshold]`), and the sweep starts one with whatever waits once the
//! maximum time between syncs has passed. A session queues each changed account once, knows
//! when all its jobs finished, and then applies the entity's notification level.

mod full;
mod status;

pub use full::FullSyncError;
pub use status::Status;

use crate::clock::{Clock, EpochMillis};
use crate::domain::{AccountKey, EntityId};
use crate::events::Trigger;
use crate::queue::{JobQueue, SyncJob};
use crate::settings::{EntitySettings, SettingsCache, SyncMode};
use crate::store::{RealtimeStore, StoreError};
use crate::zuora::ZuoraTenants;
use std::sync::Arc;

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
    /// Reconciliation: the newest `updatedDate` already looked at.
    pub watermark: Option<String>,
}

impl RealtimeState {
    /// Changes counted since the last session.
    pub fn waiting(&self) -> u64 {
        self.seq.saturating_sub(self.last_cut)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionTrigger {
    /// The data change count reached the threshold.
    Threshold,
    /// The maximum time between syncs passed (the sweep).
    MaxTime,
    /// A full sync of every account (switching to real-time mode).
    Full,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStatus {
    Running,
    Done,
}

macro_rules! names {
    ($ty:ty { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $ty {
            pub fn as_str(&self) -> &'static str {
                match self { $(Self::$variant => $name),* }
            }
            pub fn parse(raw: &str) -> Option<Self> {
                match raw { $($name => Some(Self::$variant),)* _ => None }
            }
        }
    };
}

names!(SessionTrigger { Threshold => "threshold", MaxTime => "max_time", Full => "full" });
names!(SessionStatus { Running => "running", Done => "done" });

impl SessionTrigger {
    /// The trigger its account syncs carry in their events.
    pub fn event_trigger(self) -> Trigger {
        match self {
            Self::Threshold => Trigger::Realtime,
            Self::MaxTime => Trigger::Sweep,
            Self::Full => Trigger::Full,
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Session {
    pub id: String,
    #[serde(serialize_with = "as_str_trigger")]
    pub trigger: SessionTrigger,
    #[serde(serialize_with = "as_str_status")]
    pub status: SessionStatus,
    pub started_at: EpochMillis,
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
    /// Failed accounts, each with its reason.
    pub failures: Vec<String>,
    /// What became of the notification, when one was due.
    pub delivery: Option<String>,
    pub notify: Option<bool>,
    pub notification_level: Option<String>,
}

fn as_str_trigger<S: serde::Serializer>(t: &SessionTrigger, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(t.as_str())
}

fn as_str_status<S: serde::Serializer>(t: &SessionStatus, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(t.as_str())
}

impl Session {
    fn new(trigger: SessionTrigger, now: EpochMillis, range: (u64, u64), total: u64) -> Self {
        Self {
            id: crate::events::new_event_id(),
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

/// How one job of a session ended, for its counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOutcome {
    Succeeded,
    Failed,
    Skipped,
}

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
    notifier: Arc<crate::notify::Notifier>,
}

/// Cut attempts per caller; each lost attempt means another caller cut that range.
const CUT_ATTEMPTS: usize = 50;
/// How long a session waits for changes whose number is taken but not yet written (their
/// callouts are in flight); a number still empty after it is skipped (its callout failed).
const MISSING_CHANGE_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

impl Realtime {
    pub fn new(
        store: Arc<dyn RealtimeStore>,
        queue: Arc<dyn JobQueue>,
        settings: Arc<SettingsCache>,
        clock: Arc<dyn Clock>,
        zuora: Arc<ZuoraTenants>,
        notifier: Arc<crate::notify::Notifier>,
    ) -> Self {
        Self {
            store,
            queue,
            settings,
            clock,
            zuora,
            notifier,
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
                .cut_crossings(entity, state, &settings, correlation_id)
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
    async fn cut_crossings(
        &self,
        entity: &EntityId,
        mut state: RealtimeState,
        settings: &EntitySettings,
        correlation_id: &str,
    ) -> Result<Option<Session>, StoreError> {
        let threshold = u64::from(settings.max_events_before_sync);
        let mut first = None;
        for _ in 0..CUT_ATTEMPTS {
            if state.waiting() < threshold {
                break;
            }
            let range = (state.last_cut, state.last_cut + threshold);
            let started = self
                .start(
                    entity,
                    range,
                    SessionTrigger::Threshold,
                    None,
                    settings,
                    correlation_id,
                )
                .await?;
            if first.is_none() {
                first = started;
            }
            state = self.store.realtime_state(entity).await?;
        }
        Ok(first)
    }

    /// The accounts of changes `(from, to]`, each once, in change order. Waits briefly for
    /// numbers whose change is still being written.
    async fn accounts_in(
        &self,
        entity: &EntityId,
        (from, to): (u64, u64),
    ) -> Result<Vec<String>, StoreError> {
        let wanted = (to - from) as usize;
        let give_up = tokio::time::Instant::now() + MISSING_CHANGE_WAIT;
        let found = loop {
            let found = self.store.changes(entity, from, to).await?;
            if found.len() >= wanted || tokio::time::Instant::now() >= give_up {
                break found;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        };
        if found.len() < wanted {
            tracing::warn!(entity = %entity, from, to, found = found.len(), "some change numbers have no change (their callouts failed); skipped");
        }
        let mut accounts: Vec<String> = Vec::new();
        for (_, account) in found {
            if let Some(a) = account
                && !accounts.contains(&a)
            {
                accounts.push(a);
            }
        }
        Ok(accounts)
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
        if session.total == 0 {
            // A session with nothing to sync still completes (and may notify).
            self.complete(entity, &session, settings).await?;
            return Ok(Some(session));
        }
        self.queue_accounts(entity, &session, &accounts, correlation_id)
            .await?;
        Ok(Some(session))
    }

    async fn queue_accounts(
        &self,
        entity: &EntityId,
        session: &Session,
        accounts: &[String],
        correlation_id: &str,
    ) -> Result<(), StoreError> {
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
        for job in failed.iter().filter_map(|i| jobs.get(*i)) {
            let Some(account) = job.account_key() else {
                continue;
            };
            // Not lost: counted again as a change for the next session, and as failed here
            // so this session still completes.
            tracing::error!(entity = %entity, session = %session.id, account = %account, "could not queue a session job; it waits for the next session");
            let again = format!("requeue:{}:{account}", session.id);
            self.store
                .record_change(entity, &again, account.as_str(), now)
                .await?;
            self.job_finished(entity, &session.id, account.as_str(), JobOutcome::Failed, 0)
                .await?;
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
        let failure = reason.map(|r| {
            let text = format!("{account}: {r}");
            text.chars().take(300).collect::<String>()
        });
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
        if session.is_finished() && session.status == SessionStatus::Running {
            let settings = self.settings.get(entity).await?.settings;
            self.complete(entity, &session, &settings).await?;
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
            tracing::info!(
                entity = %entity, session = %session.id, succeeded = session.succeeded,
                failed = session.failed, skipped = session.skipped, written = session.written,
                notify, level = level.as_str(), "sync session finished"
            );
            if notify {
                let summary = crate::notify::Summary {
                    entity: entity.to_string(),
                    kind: "session".into(),
                    id: session.id.clone(),
                    trigger: session.trigger.as_str().into(),
                    succeeded: session.succeeded,
                    failed: session.failed,
                    skipped: session.skipped,
                    written: session.written,
                    failures: session.failures.clone(),
                    finished_at: self.clock.now().to_rfc3339(),
                };
                let note = self
                    .notifier
                    .send(entity, settings.notification_channel.as_ref(), &summary)
                    .await;
                self.store.set_delivery(entity, &session.id, &note).await?;
            }
        }
        Ok(())
    }

    /// The scheduled sweep over every configured entity. The EventBridge event's id is the
    /// correlation id; a failing entity does not stop the others.
    pub async fn sweep_event(
        &self,
        entities: &[EntityId],
        event: &serde_json::Value,
    ) -> serde_json::Value {
        let correlation = event
            .get("id")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("sweep")
            .to_string();
        let mut report = Vec::new();
        for entity in entities {
            let outcome = match self.sweep(entity, &correlation).await {
                Ok(Some(session)) => {
                    serde_json::json!({"entity": entity, "session": session.id, "accounts": session.total})
                }
                Ok(None) => serde_json::json!({"entity": entity, "session": null}),
                Err(e) => {
                    tracing::error!(entity = %entity, error = %e, "sweep failed for this entity");
                    serde_json::json!({"entity": entity, "error": e.to_string()})
                }
            };
            report.push(outcome);
        }
        serde_json::json!({ "entities": report })
    }

    /// The sweep for one entity: starts a session with whatever waits when the maximum time
    /// between syncs has passed (even with no changes), in `scheduled` and `realtime` modes.
    pub async fn sweep(
        &self,
        entity: &EntityId,
        correlation_id: &str,
    ) -> Result<Option<Session>, StoreError> {
        let settings = self.settings.get(entity).await?.settings;
        if settings.sync_mode == SyncMode::None {
            return Ok(None);
        }
        let now = self.clock.now();
        let mut state = self.store.realtime_state(entity).await?;
        // Lost callouts first, so their changes join whatever session starts now. Zuora being
        // down only delays that: the max-time session still starts.
        match self
            .reconcile(entity, state.watermark.as_deref(), correlation_id)
            .await
        {
            Ok(0) => {}
            Ok(_) => {
                state = self.store.realtime_state(entity).await?;
                if settings.sync_mode == SyncMode::Realtime
                    && let Some(session) = self
                        .cut_crossings(entity, state.clone(), &settings, correlation_id)
                        .await?
                {
                    return Ok(Some(session));
                }
            }
            Err(e) => {
                tracing::warn!(entity = %entity, error = %e, "reconciliation failed; the next sweep tries again")
            }
        }
        let Some(last) = state.last_session_at.or(state.since) else {
            // Nothing tracked yet: the max-time clock starts now.
            self.store.touch(entity, now).await?;
            return Ok(None);
        };
        let max_ms = i64::from(settings.max_minutes_between_syncs) * 60_000;
        if now.0 < last.0 + max_ms {
            return Ok(None);
        }
        let due = state.last_session_at.unwrap_or(EpochMillis(0));
        let range = (state.last_cut, state.seq);
        self.start(
            entity,
            range,
            SessionTrigger::MaxTime,
            Some(due),
            &settings,
            correlation_id,
        )
        .await
    }
}
