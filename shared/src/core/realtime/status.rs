//! The status an admin sees: how many more data change events, or how many minutes at most,
//! until the next sync session (the reference product's message).

use super::Realtime;
use crate::model::EntityId;
use crate::model::EpochMillis;
use crate::model::Session;
use crate::model::SyncMode;
use crate::ports::StoreError;

/// How far the entity is from its next sync session (the status route answers this as is).
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Status {
    pub entity: String,
    pub mode: SyncMode,
    /// Data change events counted since the last session.
    pub changes: u64,
    pub max_events_before_sync: u32,
    pub max_minutes_between_syncs: u32,
    /// Real-time mode: events still needed for the threshold session.
    pub events_needed: Option<u64>,
    /// Scheduled and real-time modes: minutes at most until the max-time session.
    pub minutes_left: Option<u64>,
    pub last_session: Option<Session>,
    pub message: String,
    /// When the last session that ended without a failed account ended (epoch ms).
    #[schema(value_type = Option<i64>)]
    pub last_success_at: Option<EpochMillis>,
    /// Whether sessions keep the mirror current: `late` when none succeeded within the max
    /// time between syncs, `error` within twice that; `not_tracked` without sessions (sync
    /// mode `none`, or before the first sweep).
    pub freshness: Freshness,
    /// The sync queue; null when SQS could not be asked.
    pub queue: Option<crate::model::QueueDepth>,
    /// The Salesforce push, where a connection is configured: paused or not (and why), API
    /// usage, accounts waiting, failures listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub salesforce: Option<crate::core::push::SalesforceState>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Freshness {
    Fresh,
    Late,
    Error,
    NotTracked,
}

impl Freshness {
    /// From the last success (else when tracking began) and the max time between syncs.
    pub fn of(
        mode: SyncMode,
        basis: Option<EpochMillis>,
        max_minutes: u32,
        now: EpochMillis,
    ) -> Self {
        let Some(basis) = basis.filter(|_| mode != SyncMode::None) else {
            return Self::NotTracked;
        };
        let max_ms = i64::from(max_minutes) * 60_000;
        match now.0 - basis.0 {
            age if age <= max_ms => Self::Fresh,
            age if age <= 2 * max_ms => Self::Late,
            _ => Self::Error,
        }
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

impl Realtime {
    pub async fn status(&self, entity: &EntityId) -> Result<Status, StoreError> {
        let settings = self.settings.get(entity).await?.settings;
        let state = self.store.realtime_state(entity).await?;
        let last_session = match &state.last_session_id {
            Some(id) => self.store.get_session(entity, id).await?,
            None => None,
        };
        let now: EpochMillis = self.clock.now();
        let max_ms = i64::from(settings.max_minutes_between_syncs) * 60_000;
        let minutes_left = match state.last_session_at.or(state.since) {
            Some(last) => ((last.0 + max_ms - now.0).max(0) as u64).div_ceil(60_000),
            None => u64::from(settings.max_minutes_between_syncs),
        };
        let threshold = u64::from(settings.max_events_before_sync);
        let events_needed = threshold.saturating_sub(state.waiting()).max(1);
        let (events_needed, minutes_left, message) = match settings.sync_mode {
            SyncMode::Realtime => (
                Some(events_needed),
                Some(minutes_left),
                format!(
                    "{}, or at most {}, until the next sync",
                    plural(
                        events_needed,
                        "more data change event",
                        "more data change events"
                    ),
                    plural(minutes_left, "minute", "minutes")
                ),
            ),
            SyncMode::Scheduled => (
                None,
                Some(minutes_left),
                format!(
                    "At most {} until the next sync",
                    plural(minutes_left, "minute", "minutes")
                ),
            ),
            SyncMode::None => (
                None,
                None,
                "Real-time sync is off: accounts sync on demand, at login and through the API"
                    .to_string(),
            ),
        };
        let salesforce = match &self.push {
            Some(push) if push.is_connected(entity) => match push.state(entity).await {
                Ok(state) => Some(state),
                Err(crate::core::push::PushError::Store(e)) => return Err(e),
                Err(e) => {
                    return Err(StoreError::Unavailable(crate::ports::Cause::new(
                        e.to_string(),
                    )));
                }
            },
            _ => None,
        };
        let queue = match self.queue.depth().await {
            Ok(depth) => Some(depth),
            Err(e) => {
                tracing::warn!(entity = %entity, error = %e, "queue depth unavailable");
                None
            }
        };
        Ok(Status {
            freshness: Freshness::of(
                settings.sync_mode,
                state.last_success_at.or(state.since),
                settings.max_minutes_between_syncs,
                now,
            ),
            last_success_at: state.last_success_at,
            queue,
            salesforce,
            entity: entity.to_string(),
            mode: settings.sync_mode,
            changes: state.waiting(),
            max_events_before_sync: settings.max_events_before_sync,
            max_minutes_between_syncs: settings.max_minutes_between_syncs,
            events_needed,
            minutes_left,
            last_session,
            message,
        })
    }
}
