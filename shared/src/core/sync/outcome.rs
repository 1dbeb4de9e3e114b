//! What a sync is asked, how it may wait, and what it answers: one outcome type per entry
//! point, so no caller has to handle a case its entry point cannot produce.

use crate::model::{EntityId, EpochMillis, SubscriptionFailure, Trigger};
use crate::ports::{QueueError, StoreError, ZuoraError};
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// Added to the invocation deadline to make the lease: a holder can never outlive it.
    pub lease_margin: Duration,
    /// How long a synchronous request waits for a busy account before answering "busy".
    pub lock_wait: Duration,
    /// A follow-up sync starts in this invocation only with at least this much time left;
    /// otherwise it is queued.
    pub follow_up_min_time: Duration,
}

impl Default for SyncSettings {
    fn default() -> Self {
        Self {
            lease_margin: Duration::from_secs(5),
            lock_wait: Duration::from_secs(3),
            follow_up_min_time: Duration::from_secs(5),
        }
    }
}

/// Who asked for a sync, and until when it may run.
#[derive(Debug, Clone)]
pub struct SyncRequest {
    pub entity: EntityId,
    pub trigger: Trigger,
    pub correlation_id: String,
    /// The invocation deadline (Lambda `Context::deadline`).
    pub deadline: EpochMillis,
    /// An event already recorded for this request (a queued job's), to update in place.
    pub event_id: Option<String>,
    pub subscription: Option<String>,
    /// The user whose login triggered the sync (hot sync): their subject, never their token.
    pub subject: Option<String>,
}

impl SyncRequest {
    pub fn new(
        entity: EntityId,
        trigger: Trigger,
        correlation_id: impl Into<String>,
        deadline: EpochMillis,
    ) -> Self {
        Self {
            entity,
            trigger,
            correlation_id: correlation_id.into(),
            deadline,
            event_id: None,
            subscription: None,
            subject: None,
        }
    }
}

/// What to do when the account lock is held by someone else.
#[derive(Debug, Clone, Copy)]
pub enum OnBusy {
    /// Record a wish for a follow-up and return at once (queued work).
    Coalesce,
    /// Retry for this long, then coalesce (synchronous API calls).
    WaitThenCoalesce(Duration),
}

impl OnBusy {
    /// A caller waits for this run's answer (the sync routes): its Zuora reads start with
    /// the acquire rather than after it.
    pub fn caller_waits(self) -> bool {
        matches!(self, Self::WaitThenCoalesce(_))
    }
}

/// What one locked run reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The account snapshot (one Zuora call with object queries).
    Account,
    /// The account, then each subscription read on its own so each has its own outcome; a
    /// subscription that cannot be read keeps its stored copy (manual customer sync).
    EachSubscription,
    /// The product catalog.
    Catalog,
}

impl Scope {
    /// Coalesced requests are served by a plain run of the same kind.
    pub(super) fn follow_up(self) -> Self {
        match self {
            Self::EachSubscription => Self::Account,
            other => other,
        }
    }
}

/// One subscription's outcome in a manual customer sync (the customer route answers it as is).
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct SubscriptionResult {
    /// Subscription number.
    pub number: String,
    /// Its product (or rate plan) names, else the number.
    pub name: String,
    /// The local id, when the subscription is in the mirror.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `synced`, `removed` (left Zuora or turned Draft), `not_synced` (a status that is not
    /// mirrored) or `failed`.
    #[schema(value_type = String)]
    pub outcome: &'static str,
    /// For `removed`/`not_synced`: `subscription_not_mirrored` or `zuora_not_found`; for
    /// `failed`: the Zuora error code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SyncReport {
    pub event_id: String,
    pub account_id: String,
    pub account_number: String,
    pub customer_id: String,
    pub subscription_ids: BTreeMap<String, String>,
    pub written: u32,
    pub unchanged: u32,
    pub removed: u32,
    pub follow_ups: u32,
    /// Per-subscription outcomes (manual customer sync only).
    pub subscriptions: Vec<SubscriptionResult>,
    pub failures: Vec<SubscriptionFailure>,
}

/// What a sync of an account, a customer or the catalog did.
#[derive(Debug, Clone, PartialEq)]
pub enum AccountOutcome {
    Synced(SyncReport),
    /// Folded into the sync that holds the lock; it runs one follow-up for this request.
    Coalesced {
        event_id: String,
    },
}

/// What the check a coalesced request left behind did (`sync_if_pending`).
#[derive(Debug, Clone, PartialEq)]
pub enum PendingOutcome {
    /// No wish is left to serve (or its holder may still serve it; checked again later).
    NothingPending,
    /// Wishes were left on a free lock: the account was synced for them.
    Ran(AccountOutcome),
}

/// What a hot sync lookup (Option B) did.
#[derive(Debug, Clone, PartialEq)]
pub enum LookupOutcome {
    /// Exactly one account matched; it was synced.
    Ran(AccountOutcome),
    /// Nothing to sync: no account matched, or several did.
    Skipped {
        event_id: String,
        code: String,
        reason: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Zuora(#[from] ZuoraError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(
        "account {account} is being synced by another request; this request was folded into the follow-up sync that runs after it"
    )]
    Busy { account: String },
    #[error(
        "subscription {number} has status {status} in Zuora; only Active, Pending and Cancelled subscriptions are synced"
    )]
    NotMirrored { number: String, status: String },
    #[error("Zuora answered with account {got} when asked for {asked}")]
    WrongAccount { asked: String, got: String },
    #[error("entity {0} is not configured in this deployment")]
    UnknownEntity(EntityId),
    #[error("the account lookup cannot run: {0}")]
    InvalidLookup(String),
}

impl SyncError {
    /// How long Zuora asked to be left alone, when that is why the sync failed.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Self::Zuora(e) => e.retry_after(),
            _ => None,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Zuora(e) => e.code(),
            Self::Store(StoreError::Fenced { .. }) => "lock_lost",
            Self::Store(StoreError::OlderSnapshot { .. }) => "snapshot_outdated",
            Self::Store(StoreError::TooLarge(_)) => "item_too_large",
            Self::Store(_) => "store_unavailable",
            Self::Queue(_) => "queue_unavailable",
            Self::Busy { .. } => "account_busy",
            Self::NotMirrored { .. } => "subscription_not_mirrored",
            Self::WrongAccount { .. } => "zuora_bad_response",
            Self::UnknownEntity(_) => "unknown_entity",
            Self::InvalidLookup(_) => "invalid_lookup",
        }
    }

    /// Whether running the same job again later can succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Zuora(e) => e.is_transient(),
            Self::Store(StoreError::TooLarge(_)) => false,
            Self::Store(_) | Self::Queue(_) | Self::Busy { .. } => true,
            Self::NotMirrored { .. }
            | Self::WrongAccount { .. }
            | Self::UnknownEntity(_)
            | Self::InvalidLookup(_) => false,
        }
    }
}

/// A failed sync and the event that records it.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct Failure {
    pub error: SyncError,
    pub event_id: String,
    /// The failed event could not be written: queued work must run again rather than be
    /// acknowledged, or its event would never end.
    pub unrecorded: bool,
}

impl Failure {
    pub fn new(error: SyncError, event_id: String) -> Self {
        Self {
            error,
            event_id,
            unrecorded: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionSynced {
    pub id: String,
    pub owner: String,
    pub event_id: String,
}
