//! The Salesforce port: the sObject Collections calls a push makes, and the push state the
//! store keeps (what was pushed per record, the accounts waiting for a push, the failure list,
//! the entity's pause).

use super::{Cause, StoreError};
use crate::model::{
    ApiUsage, EntityId, EpochMillis, PushFailure, PushStatus, PushedRecords, SfObject, SyncEvent,
};
use serde_json::Value;

/// One record's result in a collections call, in the order the records were sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordResult {
    pub success: bool,
    pub id: Option<String>,
    /// Upserts: inserted (not updated).
    pub created: bool,
    pub errors: Vec<RecordError>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    pub code: String,
    pub message: String,
    pub fields: Vec<String>,
}

impl RecordResult {
    /// Salesforce codes worth sending again as they are: a row lock held by another
    /// transaction, or a platform hiccup. Everything else is the data or the org's
    /// configuration, which another attempt cannot change.
    pub fn is_transient(&self) -> bool {
        self.errors.iter().any(|e| {
            matches!(
                e.code.as_str(),
                "UNABLE_TO_LOCK_ROW"
                    | "ALL_OR_NONE_OPERATION_ROLLED_BACK"
                    | "SERVER_UNAVAILABLE"
                    | "REQUEST_RUNNING_TOO_LONG"
                    | "TXN_SECURITY_METERING_ERROR"
            )
        })
    }

    /// A delete of a record Salesforce no longer has is done.
    pub fn already_gone(&self) -> bool {
        self.errors.iter().any(|e| {
            matches!(
                e.code.as_str(),
                "ENTITY_IS_DELETED" | "INVALID_CROSS_REFERENCE_KEY"
            )
        })
    }

    pub fn first_error(&self) -> RecordError {
        self.errors.first().cloned().unwrap_or(RecordError {
            code: "UNKNOWN".into(),
            message: "Salesforce reported a failure without an error".into(),
            fields: Vec::new(),
        })
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum SalesforceError {
    /// The org's daily allocation (`TotalRequests`) or its concurrent long-request limit
    /// (`ConcurrentPerOrgLongTxn`) was hit: `403 REQUEST_LIMIT_EXCEEDED`.
    #[error("Salesforce API limit: {message}")]
    LimitExceeded { daily: bool, message: String },
    /// The token endpoint refused the credentials, or a fresh token was refused too.
    #[error("Salesforce refused the credentials: {0}")]
    AuthFailed(String),
    /// A request-level refusal (400, 404…): the request, not the moment, is wrong.
    #[error("Salesforce refused the request ({status} {code}): {message}")]
    Rejected {
        status: u16,
        code: String,
        message: String,
    },
    /// 5xx, or nothing to reach: try again later.
    #[error("Salesforce is unavailable: {0}")]
    Unavailable(#[source] Cause),
    /// The request got no answer (timed out, connection lost on the way): Salesforce may have
    /// carried it out, or may still.
    #[error("Salesforce did not answer: {0}")]
    NoAnswer(#[source] Cause),
    #[error("Salesforce's answer was not usable: {0}")]
    BadResponse(String),
}

impl SalesforceError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::LimitExceeded { .. } => "salesforce_limit",
            Self::AuthFailed(_) => "salesforce_auth_failed",
            Self::Rejected { .. } => "salesforce_rejected",
            Self::Unavailable(_) => "salesforce_unavailable",
            Self::NoAnswer(_) => "salesforce_no_answer",
            Self::BadResponse(_) => "salesforce_bad_response",
        }
    }
}

/// What a push needs from Salesforce. Every call answers the org's API usage as last reported.
#[async_trait::async_trait]
pub trait SalesforceApi: Send + Sync {
    /// `PATCH …/composite/sobjects/{object}/{key_field}` with `allOrNone: false`: at most 200
    /// records of one object, results in order.
    async fn upsert(
        &self,
        object: SfObject,
        key_field: &str,
        records: &[Value],
    ) -> Result<Vec<RecordResult>, SalesforceError>;

    /// `DELETE …/composite/sobjects?ids=…`: at most 200 record ids, results in order.
    async fn delete(&self, ids: &[String]) -> Result<Vec<RecordResult>, SalesforceError>;

    /// The record ids of `keys` (values of `key_field`) that exist, by key.
    async fn find_ids(
        &self,
        object: SfObject,
        key_field: &str,
        keys: &[String],
    ) -> Result<Vec<(String, String)>, SalesforceError>;

    /// The API usage from the last answer's `Sforce-Limit-Info`, if any came.
    fn usage(&self) -> Option<ApiUsage>;
}

/// A won push lease on one account: its fence and what was pushed before.
#[derive(Debug, Clone, PartialEq)]
pub struct PushLease {
    pub entity: EntityId,
    pub account_id: String,
    pub fence: u64,
    pub pushed: PushedRecords,
    /// The account's waiting mark as read when the lease was won (its time), if any: the end
    /// removes it only if no commit marked it again since.
    pub pending_at: Option<EpochMillis>,
    /// The lease was not released by its last holder (it died, or held it after a call went
    /// unanswered): what it sent may have landed without being recorded.
    pub taken_over: bool,
}

/// What a push ends with, written in one transaction under the lease's fence.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PushEnd {
    pub pushed: PushedRecords,
    /// Whether every record is where it should be (no transient leftovers): the waiting mark
    /// goes.
    pub complete: bool,
    pub failures: Vec<PushFailure>,
    /// Failure ids resolved by this push.
    pub resolved: Vec<String>,
    pub event: Option<SyncEvent>,
    /// Keep the lease until then instead of releasing it (a call went unanswered).
    pub hold_until: Option<EpochMillis>,
}

#[async_trait::async_trait]
pub trait PushStore: Send + Sync {
    /// Takes the account's push lease (one conditional write; `None` when another push holds
    /// it) and answers what was pushed before.
    async fn begin_push(
        &self,
        entity: &EntityId,
        account_id: &str,
        lease_until: EpochMillis,
        now: EpochMillis,
    ) -> Result<Option<PushLease>, StoreError>;

    /// Records, under the lease's fence, that records with these pushed-state keys are about to
    /// be created: a push that dies after Salesforce created them leaves them known, so a later
    /// push finds and deletes them if the mirror dropped them meanwhile. The next lease's
    /// `pushed` holds them as [`crate::model::Pushed::intent`]; `end_push` clears them.
    async fn record_intents(&self, lease: &PushLease, keys: &[String]) -> Result<(), StoreError>;

    /// Records what this push did and releases the lease, if the lease is still this one's
    /// (`Fenced` otherwise: nothing is written).
    async fn end_push(&self, lease: &PushLease, end: &PushEnd) -> Result<(), StoreError>;

    /// Marks accounts as waiting for a push (an operator's retry; a full push).
    async fn mark_pending(
        &self,
        entity: &EntityId,
        accounts: &[String],
        now: EpochMillis,
    ) -> Result<(), StoreError>;

    /// Accounts waiting for a push marked after `after` (if given) and at or before `upto`,
    /// oldest mark first, at most `limit`.
    async fn pending_pushes(
        &self,
        entity: &EntityId,
        after: Option<EpochMillis>,
        upto: EpochMillis,
        limit: usize,
    ) -> Result<Vec<(String, EpochMillis)>, StoreError>;

    /// The failure list, by id, one page at a time (`after` is the last id of the page before).
    async fn failures(
        &self,
        entity: &EntityId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<PushFailure>, StoreError>;

    /// Removes failures from the list (an operator dismissed them, or queued their retry).
    async fn remove_failures(&self, entity: &EntityId, ids: &[String]) -> Result<(), StoreError>;

    async fn push_status(&self, entity: &EntityId) -> Result<PushStatus, StoreError>;

    /// Sets the parts of the entity's push status that `update` carries, leaving the others
    /// (the sweep and pushes write different parts at once).
    async fn update_push_status(
        &self,
        entity: &EntityId,
        update: &PushStatusUpdate,
    ) -> Result<(), StoreError>;
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PushStatusUpdate {
    pub api_usage: Option<ApiUsage>,
    /// Pause until, and why.
    pub paused: Option<(EpochMillis, String)>,
    pub drained_to: Option<EpochMillis>,
    pub requeued_at: Option<EpochMillis>,
}
