//! The Zuora port: what the sync needs from Zuora, and what can go wrong.

use crate::model::{
    AccountKey, AccountPage, AccountSnapshot, CallContext, ChangeList, ChangePage, ChangeQuery,
    ExportFile, ExportPart, ExportState, Product, Subscription, SubscriptionKey,
};

/// What the sync needs from Zuora.
#[async_trait::async_trait]
pub trait ZuoraApi: Send + Sync {
    /// The account with contacts, payment methods and subscriptions (rate plans and charges).
    async fn account_snapshot(
        &self,
        key: &AccountKey,
        ctx: &CallContext,
    ) -> Result<AccountSnapshot, ZuoraError>;

    /// One subscription by number or id (its latest version for a number).
    async fn subscription(
        &self,
        key: &SubscriptionKey,
        ctx: &CallContext,
    ) -> Result<Subscription, ZuoraError>;

    /// One page of a change list (`GET /object-query/<list>`, filtered and sorted as `query`
    /// says); `cursor` is Zuora's, from the page before.
    async fn changes_page(
        &self,
        list: ChangeList,
        query: &ChangeQuery,
        cursor: Option<&str>,
        ctx: &CallContext,
    ) -> Result<ChangePage, ZuoraError>;

    /// Every account in id order: the page after account id `after` (the first page without
    /// it). A keyset on a key that never changes, so an account edited while a full sync
    /// enumerates is neither seen twice nor skipped. `next` is the page's last id while more
    /// follow.
    async fn accounts_by_id(
        &self,
        after: Option<&str>,
        ctx: &CallContext,
    ) -> Result<AccountPage, ZuoraError>;

    /// The whole product catalog, every page (`GET /v1/catalog/products`).
    async fn catalog(&self, ctx: &CallContext) -> Result<Vec<Product>, ZuoraError>;

    /// Submits a bulk export (AQuA) of every account with its contacts, payment methods,
    /// subscriptions, rate plans and charges, read on one snapshot taken after this call
    /// begins; answers the export's job id.
    async fn submit_export(&self, ctx: &CallContext) -> Result<String, ZuoraError>;

    /// Where an export is: running, ready with its files, or failed.
    async fn export_state(&self, job: &str, ctx: &CallContext) -> Result<ExportState, ZuoraError>;

    /// A ready export's files, assembled into the snapshot of every account `part` holds, in
    /// an order the same files always give. Only that part's accounts are held in memory.
    async fn export_snapshots(
        &self,
        files: &[ExportFile],
        part: ExportPart,
        ctx: &CallContext,
    ) -> Result<Vec<AccountSnapshot>, ZuoraError>;

    /// A ZOQL query (`POST /v1/action/query`). Callers must escape literals with
    /// [`zoql_literal`].
    async fn query(
        &self,
        zoql: &str,
        ctx: &CallContext,
    ) -> Result<Vec<serde_json::Value>, ZuoraError>;
}

/// What went wrong talking to Zuora. Messages carry Zuora's own reason text, never credentials.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum ZuoraError {
    #[error("Zuora has no {what}: {reason}")]
    NotFound { what: String, reason: String },
    #[error("Zuora rejected the request (HTTP {status}{}): {reason}", code_suffix(*.code))]
    Rejected {
        status: u16,
        code: Option<u64>,
        reason: String,
    },
    #[error("Zuora is unavailable (HTTP {status}) after {attempts} attempt(s): {reason}")]
    Unavailable {
        status: u16,
        reason: String,
        attempts: u32,
    },
    #[error("Zuora did not answer in time after {attempts} attempt(s)")]
    Timeout { attempts: u32 },
    #[error("Zuora sent an unusable response after {attempts} attempt(s): {detail}")]
    BadResponse { detail: String, attempts: u32 },
    #[error("Zuora refused the client credentials: {reason}")]
    Auth { reason: String },
    #[error("could not reach Zuora after {attempts} attempt(s): {detail}")]
    Transport { detail: String, attempts: u32 },
    /// Zuora asked for a longer wait than a call may take (its concurrency limit's 429 asks
    /// for 120 s): the work is handed back for that long instead of failing at once.
    #[error("Zuora asked to wait {retry_after_secs} s before the next request ({reason})")]
    Busy {
        retry_after_secs: u64,
        reason: String,
    },
}

fn code_suffix(code: Option<u64>) -> String {
    code.map(|c| format!(", code {c}")).unwrap_or_default()
}

impl ZuoraError {
    /// A stable, machine-readable name for API answers and event records.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "zuora_not_found",
            Self::Rejected { .. } => "zuora_rejected",
            Self::Unavailable { .. } => "zuora_unavailable",
            Self::Timeout { .. } => "zuora_timeout",
            Self::BadResponse { .. } => "zuora_bad_response",
            Self::Auth { .. } => "zuora_auth_failed",
            Self::Transport { .. } => "zuora_unreachable",
            Self::Busy { .. } => "zuora_busy",
        }
    }

    /// Whether trying the same sync later can succeed, so a queued job is retried (SQS
    /// redelivers it, then the DLQ keeps it for a redrive) rather than acknowledged. Besides
    /// Zuora being unavailable, slow or garbled, that includes refused credentials and
    /// permissions: an incident an operator fixes, after which the work must still run.
    /// How long Zuora asked the caller to wait, when that is why it failed.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Self::Busy {
                retry_after_secs, ..
            } => Some(std::time::Duration::from_secs(*retry_after_secs)),
            _ => None,
        }
    }

    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Busy { .. }
                | Self::Unavailable { .. }
                | Self::Timeout { .. }
                | Self::BadResponse { .. }
                | Self::Transport { .. }
                | Self::Auth { .. }
                | Self::Rejected {
                    status: 401 | 403,
                    ..
                }
        )
    }
}
