//! The SQS job contract: versioned JSON, parsed one message at a time, so one malformed message
//! fails alone (docs/ARCHITECTURE.md, "Queue").

use crate::model::{AccountKey, AccountSnapshot, EntityId, EpochMillis, ExportPart, Trigger};
use serde::{Deserialize, Serialize};

/// The message format version this code writes and reads.
pub const JOB_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobTarget {
    Account {
        account: AccountKey,
    },
    Catalog,
    /// Hot sync Option B: find the account whose custom `field` equals `value`, then sync it.
    Lookup {
        field: String,
        value: String,
    },
    /// One page of a full sync's account list (the job's `session_id` names the session).
    FullSyncPage {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cursor: Option<String>,
    },
    /// A bulk full sync's export (the job's `session_id` names the session): submitted when
    /// `export` is none, else polled, and once ready fanned out as `BulkAccounts` jobs.
    BulkExport {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        export: Option<ExportJob>,
        /// The first chunk still to fan out (a fan-out that ran short of time goes on here).
        #[serde(default, skip_serializing_if = "is_zero")]
        from: usize,
        /// The share of the export's accounts this step fans out, once the export is ready
        /// and split (none: not split yet, or small enough to go whole).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        part: Option<ExportPart>,
    },
    /// Accounts as a bulk export read them, each committed under its lock unless something
    /// newer than `read_from` (when the export was submitted) is already in the mirror.
    BulkAccounts {
        read_from: EpochMillis,
        snapshots: Vec<AccountSnapshot>,
    },
    /// Push these accounts (Zuora account ids) to Salesforce; with `retry_failed`, records
    /// Salesforce refused before are sent again even if unchanged.
    SalesforcePush {
        accounts: Vec<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        retry_failed: bool,
    },
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// A submitted bulk export: Zuora's job id, and when it was submitted (its snapshot is no
/// older than that).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportJob {
    pub id: String,
    pub submitted_at: EpochMillis,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncJob {
    pub v: u32,
    #[serde(flatten)]
    pub target: JobTarget,
    pub entity: EntityId,
    pub trigger: Trigger,
    pub correlation_id: String,
    /// RFC 3339.
    pub requested_at: String,
    /// The event the requester already recorded (status `queued`), updated by the worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// Set on the check a coalesced request leaves behind: sync only if wishes are still
    /// pending on the account lock (its holder may have died before serving them).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub only_if_pending: bool,
    /// The login's subject for hot syncs, carried into the worker's event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The real-time session this job belongs to; its end is counted there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum JobParseError {
    #[error("message body is not JSON: {0}")]
    NotJson(String),
    #[error("message has no numeric \"v\" (format version)")]
    NoVersion,
    #[error(
        "message format version {0} is not supported (this worker reads version {JOB_VERSION})"
    )]
    UnsupportedVersion(u64),
    #[error("message is not a valid sync job: {0}")]
    Invalid(String),
}

impl SyncJob {
    pub fn account(
        entity: EntityId,
        account: AccountKey,
        trigger: Trigger,
        correlation_id: String,
        now: EpochMillis,
    ) -> Self {
        Self::new(
            entity,
            JobTarget::Account { account },
            trigger,
            correlation_id,
            now,
        )
    }

    pub fn new(
        entity: EntityId,
        target: JobTarget,
        trigger: Trigger,
        correlation_id: String,
        now: EpochMillis,
    ) -> Self {
        Self {
            v: JOB_VERSION,
            target,
            entity,
            trigger,
            correlation_id,
            requested_at: now.to_rfc3339(),
            event_id: None,
            only_if_pending: false,
            subject: None,
            session_id: None,
        }
    }

    /// The account an account job names.
    pub fn account_key(&self) -> Option<&AccountKey> {
        match &self.target {
            JobTarget::Account { account } => Some(account),
            _ => None,
        }
    }

    /// Parses one message body; the version is checked before the shape so an old worker
    /// says clearly that it met a newer message.
    pub fn parse(body: &str) -> Result<Self, JobParseError> {
        let value: serde_json::Value =
            serde_json::from_str(body).map_err(|e| JobParseError::NotJson(e.to_string()))?;
        let version = value
            .get("v")
            .and_then(serde_json::Value::as_u64)
            .ok_or(JobParseError::NoVersion)?;
        if version != u64::from(JOB_VERSION) {
            return Err(JobParseError::UnsupportedVersion(version));
        }
        serde_json::from_value(value).map_err(|e| JobParseError::Invalid(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_version_1_account_job() {
        let job = SyncJob::parse(
            r#"{"v":1,"kind":"account","entity":"default","account":"A00000001","trigger":"on_demand","correlation_id":"c1","requested_at":"2026-11-23T10:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(
            job.target,
            JobTarget::Account {
                account: AccountKey::parse("A00000001").unwrap()
            }
        );
        assert!(!job.only_if_pending);
    }

    #[test]
    fn refuses_what_it_cannot_read_with_the_reason() {
        assert!(matches!(
            SyncJob::parse("{"),
            Err(JobParseError::NotJson(_))
        ));
        assert_eq!(
            SyncJob::parse(r#"{"kind":"account"}"#),
            Err(JobParseError::NoVersion)
        );
        assert_eq!(
            SyncJob::parse(r#"{"v":2}"#),
            Err(JobParseError::UnsupportedVersion(2))
        );
        let bad_account = r#"{"v":1,"kind":"account","entity":"default","account":"A/1","trigger":"api","correlation_id":"c","requested_at":"x"}"#;
        assert!(matches!(
            SyncJob::parse(bad_account),
            Err(JobParseError::Invalid(_))
        ));
    }

    #[test]
    fn catalog_jobs_name_no_account() {
        let job = SyncJob::parse(
            r#"{"v":1,"kind":"catalog","entity":"default","trigger":"on_demand","correlation_id":"c","requested_at":"2026-11-23T10:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(job.target, JobTarget::Catalog);
    }

    #[test]
    fn round_trips() {
        let job = SyncJob::account(
            EntityId::parse("default").unwrap(),
            AccountKey::parse("A1").unwrap(),
            Trigger::HotSync,
            "c".into(),
            EpochMillis(0),
        );
        let text = serde_json::to_string(&job).unwrap();
        assert_eq!(SyncJob::parse(&text).unwrap(), job);
        assert!(text.contains(r#""requested_at":"1970-01-01T00:00:00Z""#));
    }
}

/// Messages in the sync queue, approximately (as SQS counts them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct QueueDepth {
    /// Visible, waiting for a worker.
    pub waiting: u64,
    /// Received by a worker and not yet deleted.
    pub in_flight: u64,
    /// Sent with a delay that has not passed.
    pub delayed: u64,
    /// In the dead-letter queue (jobs that failed every try); null when its address is not
    /// configured.
    pub dead_letter: Option<u64>,
}
