//! Real-time sync (design §1.5): Zuora data change callouts are counted per entity; when the
//! count reaches the entity's threshold, or the maximum time between syncs has passed (the
//! sweep), a *session* starts: every changed account is queued once. A session knows when all
//! its jobs finished and then applies the entity's notification level.

mod status;

pub use status::Status;

use crate::clock::{Clock, EpochMillis};
use crate::domain::{AccountKey, EntityId};
use crate::events::Trigger;
use crate::queue::{JobQueue, SyncJob};
use crate::settings::{EntitySettings, SettingsCache, SyncMode};
use crate::store::{RealtimeStore, StoreError};
use std::sync::Arc;

/// The counter of one entity, as read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RealtimeState {
    /// Data change events counted since the last session.
    pub changes: u64,
    /// Accounts changed since the last session (sorted).
    pub changed: Vec<String>,
    /// Bumped by every session cut; the cut's condition.
    pub epoch: u64,
    /// When tracking began (first change, or first sweep): the max-time clock before any
    /// session.
    pub since: Option<EpochMillis>,
    pub last_session_at: Option<EpochMillis>,
    pub last_session_id: Option<String>,
    /// Reconciliation: the newest `updatedDate` already looked at.
    pub watermark: Option<String>,
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
    fn new(trigger: SessionTrigger, now: EpochMillis, total: u64, changes: u64) -> Self {
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
            changes,
            notify: None,
            notification_level: None,
        }
    }

    pub fn finished_jobs(&self) -> u64 {
        self.succeeded + self.failed + self.skipped
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
}

/// Rounds of "read the counter, try to cut" before giving up to a concurrent cutter.
const CUT_ATTEMPTS: usize = 5;

impl Realtime {
    pub fn new(
        store: Arc<dyn RealtimeStore>,
        queue: Arc<dyn JobQueue>,
        settings: Arc<SettingsCache>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            queue,
            settings,
            clock,
        }
    }

    pub fn store(&self) -> &Arc<dyn RealtimeStore> {
        &self.store
    }

    /// One accepted callout: counts the change once per `dedupe_id` and starts a session when
    /// the entity's threshold is reached (real-time mode).
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
        let counted = self
            .store
            .record_change(entity, dedupe_id, account.as_str(), now)
            .await?;
        let mut session_id = None;
        if counted && settings.sync_mode == SyncMode::Realtime {
            let threshold = u64::from(settings.max_events_before_sync);
            session_id = self
                .start_at_threshold(entity, threshold, &settings, correlation_id)
                .await?
                .map(|s| s.id);
        }
        Ok(CalloutOutcome {
            counted,
            duplicate: !counted,
            session_id,
        })
    }

    /// Starts a session if the count reached `threshold`. Concurrent callers race on the
    /// counter's epoch: for one crossing exactly one wins; the losers read again and find the
    /// count back under the threshold (or a new crossing, which is theirs to cut).
    async fn start_at_threshold(
        &self,
        entity: &EntityId,
        threshold: u64,
        settings: &EntitySettings,
        correlation_id: &str,
    ) -> Result<Option<Session>, StoreError> {
        for _ in 0..CUT_ATTEMPTS {
            let state = self.store.realtime_state(entity).await?;
            if state.changes < threshold {
                return Ok(None);
            }
            let started = self
                .start(
                    entity,
                    &state,
                    SessionTrigger::Threshold,
                    settings,
                    correlation_id,
                )
                .await?;
            if started.is_some() {
                return Ok(started);
            }
        }
        Ok(None)
    }

    /// Cuts `state` into a new session and queues each changed account once. `None` when
    /// another cutter won the race.
    async fn start(
        &self,
        entity: &EntityId,
        state: &RealtimeState,
        trigger: SessionTrigger,
        settings: &EntitySettings,
        correlation_id: &str,
    ) -> Result<Option<Session>, StoreError> {
        let now = self.clock.now();
        let session = Session::new(trigger, now, state.changed.len() as u64, state.changes);
        let due = (trigger == SessionTrigger::MaxTime)
            .then(|| state.last_session_at.unwrap_or(EpochMillis(0)));
        if !self
            .store
            .start_session(entity, state, &session, due)
            .await?
        {
            return Ok(None);
        }
        tracing::info!(entity = %entity, session = %session.id, trigger = trigger.as_str(), accounts = session.total, changes = state.changes, "sync session started");
        if session.total == 0 {
            // A session with nothing to sync still completes (and may notify).
            self.complete(entity, &session, settings).await?;
            return Ok(Some(session));
        }
        self.queue_accounts(entity, &session, &state.changed, correlation_id)
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
        if failed.is_empty() {
            return Ok(());
        }
        // Not lost: back into the changed set for the next session, and counted as failed
        // here so this session still completes.
        let again: Vec<String> = failed
            .iter()
            .filter_map(|i| jobs.get(*i))
            .filter_map(|j| j.account_key().map(ToString::to_string))
            .collect();
        tracing::error!(entity = %entity, session = %session.id, accounts = ?again, "could not queue some session jobs; they wait for the next session");
        self.store.mark_changed(entity, &again, now).await?;
        for account in &again {
            self.job_finished(entity, &session.id, account, JobOutcome::Failed, 0)
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
        let session = self
            .store
            .finish_job(entity, session_id, account, outcome, written)
            .await?;
        if session.finished_jobs() >= session.total && session.status == SessionStatus::Running {
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

    /// The sweep for one entity: starts a session when the maximum time between syncs has
    /// passed (even with no changes), in `scheduled` and `realtime` modes.
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
        let state = self.store.realtime_state(entity).await?;
        let Some(last) = state.last_session_at.or(state.since) else {
            // Nothing tracked yet: the max-time clock starts now.
            self.store.mark_changed(entity, &[], now).await?;
            return Ok(None);
        };
        let max_ms = i64::from(settings.max_minutes_between_syncs) * 60_000;
        if now.0 < last.0 + max_ms {
            return Ok(None);
        }
        self.start(
            entity,
            &state,
            SessionTrigger::MaxTime,
            &settings,
            correlation_id,
        )
        .await
    }
}
