//! The HTTP API's own wire shapes: what the handlers answer (and the request bodies they read),
//! typed so that the OpenAPI document is generated from the same structs that are serialised.
//! Model and core types that are already the wire shape (events, settings, the status) derive
//! their schemas where they are defined.

use crate::core::login::LoginReport;
use crate::core::sync::SubscriptionResult;
use crate::model::{EntitySettings, SubscriptionFailure, SyncEvent};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// Every error answer: a human-readable `message` and a stable, machine-readable `code`. Some
/// answers add fields (see the operation).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub message: String,
    pub code: String,
}

/// A 400. For `invalid_request` caused by one field, `field` names it (`accounts`,
/// `accounts[2]`, `limit`, `claims[0].account_field`, `body`, …) and `message` starts with it;
/// `allowed` is present when the field has a list of allowed values (an array) or a range
/// (`{"min", "max"}`). `invalid_json`: the body is not JSON. `invalid_request` without `field`:
/// no body was sent where one is required. `invalid_entity`: the entity id is not valid.
#[derive(Debug, Serialize, ToSchema)]
pub struct BadRequest {
    pub message: String,
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The values the field allows: a list, or a range `{"min", "max"}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Value)]
    pub allowed: Option<Value>,
}

/// A failed sync. `event_id` names the event that records the failure; it is absent when the
/// request failed before a sync started.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncFailure {
    /// Why. For DynamoDB and queue failures a generic text (`the sync could not be stored; it
    /// was not applied`); details are in the logs and the event.
    pub message: String,
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
}

/// `version_conflict`: the settings changed since they were read.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionConflict {
    pub message: String,
    pub code: String,
    /// The version now stored; read the settings again and reapply the change.
    pub current_version: u64,
}

/// The public route's success.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionSynced {
    /// Always true.
    pub success: bool,
    /// The subscription's local id (stable across re-syncs).
    pub id: String,
    /// The local id of the customer (account) that owns the subscription.
    pub owner: String,
}

/// On-demand sync of named accounts. Read field by field by the handler (so that each error
/// names its field); this is its schema (serde's `deny_unknown_fields` is how the schema says
/// that other fields are refused).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"accounts": ["A00000001", "8a8082c45aa81b51015ad68743ec0fdb"]}))]
pub struct AccountsRequest {
    /// Zuora account numbers or ids. Duplicates are removed; 1 to 10 distinct accounts are
    /// accepted (at most 100 entries before de-duplication).
    #[schema(min_items = 1, max_items = 10)]
    pub accounts: Vec<AccountKey>,
}

/// A Zuora account number or id in a request (a pattern the derive cannot put on a newtype).
#[derive(Debug, Deserialize)]
pub struct AccountKey(pub String);

impl utoipa::PartialSchema for AccountKey {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .pattern(Some("^[A-Za-z0-9_-]{1,64}$"))
            .description(Some(
                "A Zuora account number (`A00000001`) or account id (32 hex digits): 1 to 64 letters, digits, `-` or `_`.",
            ))
            .into()
    }
}

impl ToSchema for AccountKey {}

/// How a coalesced request is served.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CoalescedInto {
    /// A sync is running; this request is served by the one follow-up sync that runs after it.
    Running,
    /// A sync is queued and has not started; it serves this request too.
    Queued,
}

/// What a request for queued work did (one account, or the catalog).
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// The job is queued; `event_id` is its event (status `queued`).
    Queued { event_id: String },
    /// Folded into a sync that is queued or running; `event_id` is this request's event
    /// (status `coalesced`), `queued_event_id` the queued sync's (only with `into: queued`).
    Coalesced {
        into: CoalescedInto,
        event_id: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        queued_event_id: Option<String>,
        message: String,
    },
    /// An on-demand sync of the account ran within the entity's minimum interval; nothing
    /// queued. `retry_after_seconds` is rounded up.
    Throttled {
        retry_after_seconds: u64,
        message: String,
    },
    /// Not queued; `event_id` is the event that records the failure.
    Failed {
        code: String,
        message: String,
        event_id: String,
    },
}

/// What the request did for one account (the account key as given, after de-duplication).
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountResult {
    pub account: String,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// At least one account was queued or coalesced; every account's outcome.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountsAccepted {
    pub accounts: Vec<AccountResult>,
}

/// `throttled` (429) or `not_queued` (502): an error with every account's outcome.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountsRefused {
    pub message: String,
    pub code: String,
    /// With `throttled`: the smallest of the accounts' waits; also sent as `Retry-After`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
    /// Every account's outcome (absent on a 502 `auth_keys_unavailable`, which comes before
    /// any account is looked at).
    #[schema(required = false)]
    pub accounts: Vec<AccountResult>,
}

/// A manual customer sync, subscription by subscription.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerSyncReport {
    /// False when some subscriptions could not be synced (then `message` and `code` are
    /// present).
    pub success: bool,
    /// The local customer id.
    pub customer: String,
    /// The Zuora account number.
    pub account: String,
    /// The Zuora account id.
    pub account_id: String,
    pub event_id: String,
    /// Mirror records written.
    pub written: u32,
    /// Mirror records already up to date.
    pub unchanged: u32,
    /// Mirror records removed.
    pub removed: u32,
    pub subscriptions: Vec<SubscriptionResult>,
    pub failed: Vec<SubscriptionFailure>,
    /// Only when `success` is false: which subscriptions failed and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `subscriptions_failed`, only when `success` is false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// The account is being synced; this request is served by the follow-up sync after it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerCoalesced {
    /// Always `coalesced`.
    pub status: String,
    /// This request's event (status `coalesced`).
    pub event_id: String,
    pub message: String,
}

/// An event as the event routes answer it: the stored record with its times in RFC 3339 too.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    #[serde(flatten)]
    pub event: SyncEvent,
    /// `created_at` as RFC 3339.
    #[schema(format = DateTime)]
    pub created: String,
    /// `updated_at` as RFC 3339.
    #[schema(format = DateTime)]
    pub updated: String,
}

/// A page of events, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    /// A page may hold fewer than `limit` events and still have a `next_cursor`.
    pub events: Vec<EventView>,
    /// Opaque; pass back as `cursor` (with the same filters) for the next page. Null on the
    /// last page.
    pub next_cursor: Option<String>,
}

/// An entity's settings with their optimistic-concurrency version.
#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsDocument {
    pub entity: String,
    /// 0: never saved (defaults apply). Send it back with an update.
    pub version: u64,
    /// RFC 3339; null when never saved.
    #[schema(format = DateTime)]
    pub updated_at: Option<String>,
    /// The updating token's `sub` (`unknown` without one); null when never saved.
    pub updated_by: Option<String>,
    pub settings: EntitySettings,
    /// An update that switched to `realtime` started this full sync session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_sync_session: Option<String>,
    /// An update that switched to `realtime` could not start the full sync (the settings are
    /// saved).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_sync_error: Option<String>,
}

/// A partial update: `version` (the version read) and any setting fields; fields given replace
/// the current ones, the result is validated as a whole. Unknown fields are refused. Read by the
/// core's validation (each error names its field); this is its schema.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"version": 3, "sync_mode": "realtime", "max_events_before_sync": 50,
    "claims": [{"claim": "email", "service": "zuora", "issuer": "zuora", "type": "lookup",
                "account_field": "LimioExternalId__c"}]}))]
pub struct SettingsPatch {
    /// The version you read; a different current version is a 409.
    pub version: u64,
    #[schema(required = false)]
    pub sync_mode: crate::model::SyncMode,
    #[schema(required = false, schema_with = crate::model::event_thresholds)]
    pub max_events_before_sync: u32,
    #[schema(required = false, minimum = 1, maximum = 1440)]
    pub max_minutes_between_syncs: u32,
    #[schema(required = false)]
    pub notification_level: crate::model::NotificationLevel,
    #[schema(required = false)]
    pub hot_sync_enabled: bool,
    #[schema(required = false, max_items = 20)]
    pub claims: Vec<crate::model::ClaimConfig>,
    /// Minimum interval between on-demand syncs of one account; 0 turns it off.
    #[schema(required = false, minimum = 0, maximum = 1440)]
    pub min_on_demand_interval_minutes: u32,
    #[schema(required = false, minimum = 1, maximum = 3650)]
    pub event_retention_days: u32,
    /// Days between deep look-backs (a full sync of every account); 0 turns them off.
    #[schema(required = false, minimum = 0, maximum = 365)]
    pub deep_reconcile_days: u32,
    /// Full syncs read every account through one bulk export (AQuA); needs AQuA on the tenant.
    #[schema(required = false)]
    pub bulk_export: bool,
    #[schema(required = false, max_items = 10)]
    pub login_hooks: Vec<crate::model::LoginHook>,
    /// Where summaries go when the notification level calls for one (null: only recorded).
    #[schema(required = false)]
    pub notification_channel: Option<crate::model::Channel>,
    #[schema(required = false)]
    pub callout_fields: crate::model::CalloutFields,
}

/// A callout was recorded (or was a duplicate of a recorded one).
#[derive(Debug, Serialize, ToSchema)]
pub struct CalloutAccepted {
    /// Always true.
    pub success: bool,
    /// Counted as a data change (false: the entity's mode is `none`, or a duplicate).
    pub counted: bool,
    /// The same callout was counted before (Zuora retries deliveries).
    pub duplicate: bool,
    /// The session this callout's count started, if it reached the threshold.
    pub session_id: Option<String>,
}

/// A callout that could not be recorded; Zuora retries it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalloutNotRecorded {
    /// Always false.
    pub success: bool,
    pub code: String,
    pub message: String,
}

/// A Zuora callout body: callout parameters or a callout template body. The account is read
/// from `AccountNumber`, `AccountId`, `accountNumber`, `accountId`, `Account.Number` or
/// `Account.Id` (or the entity's `callout_fields.account`); the event from `EventId` /
/// `EventType` / `EventTime`.
#[derive(Debug, ToSchema)]
#[schema(value_type = Object, example = json!({"AccountNumber": "A00000001",
    "EventType": "AccountUpdate", "EventId": "2c92c0f8-1"}))]
pub struct CalloutBody(pub Value);

/// The post-login hook's request.
#[derive(Debug, ToSchema)]
pub struct HookRequest {
    /// The user's OIDC ID token (JWT).
    #[schema(min_length = 1)]
    pub id_token: String,
}

/// The hook queued what the user's claims call for.
#[derive(Debug, Serialize, ToSchema)]
pub struct HookAccepted {
    /// Always `accepted`.
    pub status: String,
    pub hot_sync: LoginReport,
}
