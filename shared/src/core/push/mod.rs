//! The Salesforce push: Salesforce converges to the mirror (docs/ARCHITECTURE.md, "The
//! Salesforce push").
//!
//! A commit that changed an account's records marks the account as waiting for a push in the
//! same transaction (the outbox), then queues a push job. A push takes each account's push
//! lease, diffs the mirror with what Salesforce was last told, sends the difference — parents
//! first, one object type per call, up to 200 records of many accounts per call — and records
//! what each record became under the lease's fence, removing the waiting mark only if no
//! commit marked it again meanwhile. So an outage, a limit or a crash only delays a push, and
//! a repeated push sends nothing. The sweep queues what waits too long (`drain`).
//!
//! Files: `run.rs` (one push of a set of accounts), `drain.rs` (the sweep's queueing, the
//! operator's retry and dismiss, the status).

mod drain;
mod run;

pub use drain::SalesforceState;
pub use run::PushReport;

use crate::core::settings::SettingsCache;
use crate::model::EntityId;
use crate::ports::{Clock, JobQueue, MirrorStore, PushStore, SalesforceApi};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Tuning of the push; the defaults are production's.
#[derive(Debug, Clone)]
pub struct PushSettings {
    /// Added to the invocation deadline to make the push lease: a holder cannot outlive it,
    /// and a call it had in flight when it died has had time to end at Salesforce (which
    /// goes on with a request whose caller is gone).
    pub lease_margin: Duration,
    /// How long an account's lease is kept after a push whose call went unanswered (timed
    /// out, connection lost): Salesforce may still carry that call out, and a later push must
    /// not write the record first and be overwritten by it.
    pub hold_after_lost_call: Duration,
    /// Attempts per record for transient record errors (`UNABLE_TO_LOCK_ROW`), within a push.
    pub record_attempts: u32,
    /// The first wait before resending them; doubled each time.
    pub record_backoff: Duration,
    /// How long pushes pause at the API share, or on the daily limit's 403.
    pub pause_daily: Duration,
    /// How long pushes pause on the concurrent long-request limit's 403.
    pub pause_concurrent: Duration,
    /// How long pushes pause when Salesforce fails otherwise (down, refusing the credentials,
    /// answering garbage).
    pub pause_outage: Duration,
    /// Accounts per queued push job (the sweep's, the full sync's): enough records to fill
    /// 200-record calls — an account has one record of each object type or more.
    pub accounts_per_job: usize,
    /// A waiting mark older than this is queued by the sweep (its own job should have run).
    pub drain_after: Duration,
    /// A mark the sweep queued before and that still waits this long is queued again.
    pub requeue_after: Duration,
    /// At most this many accounts queued per sweep and entity.
    pub drain_limit: usize,
}

impl Default for PushSettings {
    fn default() -> Self {
        Self {
            lease_margin: Duration::from_secs(60),
            hold_after_lost_call: Duration::from_secs(120),
            record_attempts: 4,
            record_backoff: Duration::from_millis(250),
            pause_daily: Duration::from_secs(15 * 60),
            pause_concurrent: Duration::from_secs(60),
            pause_outage: Duration::from_secs(60),
            accounts_per_job: 200,
            drain_after: Duration::from_secs(30),
            requeue_after: Duration::from_secs(10 * 60),
            drain_limit: 5_000,
        }
    }
}

/// Each entity's Salesforce connection, where one is configured.
pub type SalesforceTenants = BTreeMap<EntityId, Arc<dyn SalesforceApi>>;

pub struct PushService {
    salesforce: SalesforceTenants,
    store: Arc<dyn PushStore>,
    mirror: Arc<dyn MirrorStore>,
    queue: Arc<dyn JobQueue>,
    settings: Arc<SettingsCache>,
    clock: Arc<dyn Clock>,
    tuning: PushSettings,
}

/// The ports a push runs on.
pub struct PushPorts {
    pub salesforce: SalesforceTenants,
    pub store: Arc<dyn PushStore>,
    pub mirror: Arc<dyn MirrorStore>,
    pub queue: Arc<dyn JobQueue>,
    pub settings: Arc<SettingsCache>,
}

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Store(#[from] crate::ports::StoreError),
    #[error(transparent)]
    Salesforce(#[from] crate::ports::SalesforceError),
    #[error(transparent)]
    Queue(#[from] crate::ports::QueueError),
    #[error("entity {0} has no Salesforce connection configured")]
    NotConnected(EntityId),
}

impl PushError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Store(_) => "store_unavailable",
            Self::Salesforce(e) => e.code(),
            Self::Queue(_) => "queue_unavailable",
            Self::NotConnected(_) => "salesforce_not_connected",
        }
    }

    /// Whether the job should run again: the accounts' waiting marks stay either way, so
    /// nothing is lost when it does not.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Store(_)
                | Self::Queue(_)
                | Self::Salesforce(crate::ports::SalesforceError::Unavailable(_))
                | Self::Salesforce(crate::ports::SalesforceError::NoAnswer(_))
                | Self::Salesforce(crate::ports::SalesforceError::BadResponse(_))
        )
    }
}

impl PushService {
    pub fn new(ports: PushPorts, clock: Arc<dyn Clock>, tuning: PushSettings) -> Self {
        Self {
            salesforce: ports.salesforce,
            store: ports.store,
            mirror: ports.mirror,
            queue: ports.queue,
            settings: ports.settings,
            clock,
            tuning,
        }
    }

    pub fn is_connected(&self, entity: &EntityId) -> bool {
        self.salesforce.contains_key(entity)
    }

    pub fn tuning(&self) -> &PushSettings {
        &self.tuning
    }
}
