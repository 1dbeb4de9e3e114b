//! The sync itself: Zuora snapshot → diff → one fenced write, under the account lock.
//!
//! Concurrency: the first request for an account takes its lock; requests that
//! arrive while it runs record a *wish* on the lock item and return. Before releasing, the
//! holder sees pending wishes (its release is conditioned on there being none), takes them and
//! runs exactly one follow-up sync, so a change that arrived meanwhile is never missed. The
//! first wisher also queues a delayed check, which syncs the account if the holder died before
//! serving the wishes.
//!
//! Three scopes share this machinery: an account (every trigger), an account with each
//! subscription read on its own (the manual customer sync) and the product catalog (stored
//! under a pseudo account, so it is locked and fenced the same way).
//!
//! The files, by job: `outcome.rs` (requests, settings, outcomes and errors), `entry.rs` (the
//! entry points every trigger calls), `locked.rs` (acquire or coalesce, the locked run and its
//! follow-ups), `fetch.rs` (Zuora reads and the write plan), `queueing.rs` (queued marks and
//! jobs), `lookup.rs` (hot sync Option B), `notify.rs` (the summary of an on-demand or manual
//! sync). The lock protocol they implement: docs/ARCHITECTURE.md, "The lock protocol".

mod entry;
mod exported;
mod fetch;
mod locked;
mod lookup;
mod notify;
mod outcome;
mod queueing;

pub use outcome::*;
pub use queueing::Enqueued;

use notify::{failures_summary, note_notification};

use crate::core::settings::SettingsCache;
use crate::core::tenants::ZuoraTenants;
use crate::model::{
    CallContext, EntityId, EntitySettings, EpochMillis, EventStatus, SyncEvent, new_event_id,
};
use crate::ports::{Clock, EventStore, JobQueue, LockStore, MirrorStore, ZuoraApi};
use std::sync::Arc;

/// The ports the sync runs on.
pub struct Ports {
    pub zuora: Arc<ZuoraTenants>,
    pub mirror: Arc<dyn MirrorStore>,
    pub locks: Arc<dyn LockStore>,
    pub events: Arc<dyn EventStore>,
    pub queue: Arc<dyn JobQueue>,
    pub settings: Arc<SettingsCache>,
    pub notifier: Arc<dyn crate::ports::Notifier>,
}

pub struct SyncService {
    zuora: Arc<ZuoraTenants>,
    mirror: Arc<dyn MirrorStore>,
    locks: Arc<dyn LockStore>,
    events: Arc<dyn EventStore>,
    queue: Arc<dyn JobQueue>,
    entity_settings: Arc<SettingsCache>,
    notifier: Arc<dyn crate::ports::Notifier>,
    clock: Arc<dyn Clock>,
    settings: SyncSettings,
}

/// What a run needs besides the request: the Zuora client and settings of its entity.
struct Run {
    zuora: Arc<dyn ZuoraApi>,
    settings: EntitySettings,
    call: CallContext,
    trigger: crate::model::Trigger,
}

impl SyncService {
    pub fn new(ports: Ports, clock: Arc<dyn Clock>, settings: SyncSettings) -> Self {
        Self {
            zuora: ports.zuora,
            mirror: ports.mirror,
            locks: ports.locks,
            events: ports.events,
            queue: ports.queue,
            entity_settings: ports.settings,
            notifier: ports.notifier,
            clock,
            settings,
        }
    }

    pub fn entity_settings(&self) -> &Arc<SettingsCache> {
        &self.entity_settings
    }

    pub fn mirror(&self) -> &Arc<dyn MirrorStore> {
        &self.mirror
    }

    pub fn events(&self) -> &Arc<dyn EventStore> {
        &self.events
    }

    pub fn is_configured(&self, entity: &EntityId) -> bool {
        self.zuora.contains(entity)
    }

    /// The configured entities, the default first.
    pub fn entities(&self) -> impl Iterator<Item = &EntityId> {
        self.zuora.entities()
    }

    /// The entity's Zuora client and settings (cached), for one run.
    async fn prepare(&self, req: &SyncRequest) -> Result<Run, SyncError> {
        let zuora = self
            .zuora
            .get(&req.entity)
            .cloned()
            .ok_or_else(|| SyncError::UnknownEntity(req.entity.clone()))?;
        let settings = self.entity_settings.get(&req.entity).await?.settings;
        let cutoff = crate::core::deadline::zuora_cutoff(self.effective_deadline(req));
        let zuora: Arc<dyn ZuoraApi> = Arc::new(crate::core::deadline::Bounded::new(
            zuora,
            cutoff,
            self.clock.clone(),
        ));
        Ok(Run {
            zuora,
            settings,
            call: CallContext::new(&req.correlation_id),
            trigger: req.trigger,
        })
    }

    pub fn settings(&self) -> &SyncSettings {
        &self.settings
    }

    pub fn now(&self) -> EpochMillis {
        self.clock.now()
    }
    fn new_event(&self, req: &SyncRequest, now: EpochMillis) -> SyncEvent {
        let id = req.event_id.clone().unwrap_or_else(new_event_id);
        let mut event = SyncEvent::new(
            id,
            req.entity.clone(),
            req.trigger,
            EventStatus::Running,
            req.correlation_id.clone(),
            now,
        );
        event.subscription = req.subscription.clone();
        event.subject = req.subject.clone();
        event
    }

    async fn record_failure(&self, mut event: SyncEvent, error: SyncError) -> Failure {
        let now = self.clock.now();
        event.status = EventStatus::Failed;
        event.code = Some(error.code().to_string());
        event.reason = Some(error.to_string());
        event.duration_ms = Some(now.0.saturating_sub(event.created_at.0).max(0) as u64);
        event.updated_at = now;
        if let Ok(v) = self.entity_settings.get(&event.entity).await {
            note_notification(&mut event, &v.settings, 1);
        }
        tracing::warn!(
            event_id = %event.id,
            account = event.account.as_deref().unwrap_or(""),
            code = error.code(),
            error = %error,
            "sync failed"
        );
        let recorded = self.events.put_event(&event).await;
        if let Err(e) = &recorded {
            tracing::error!(event_id = %event.id, error = %e, "could not record the failed sync event");
        }
        self.notify(&event).await;
        Failure {
            error,
            event_id: event.id,
            unrecorded: recorded.is_err(),
        }
    }
}
