//! Per-entity settings: sync mode, real-time thresholds, notifications, hot sync and its claim
//! configurations, the on-demand interval and event retention.

use crate::model::EpochMillis;
use crate::model::event::named;
use serde::{Deserialize, Serialize};

/// The thresholds the reference product offers; anything else is refused.
pub const EVENT_THRESHOLDS: [u32; 12] = [1, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500];
pub const MAX_MINUTES_BETWEEN_SYNCS: (u32, u32) = (1, 1440);
pub const MIN_ON_DEMAND_INTERVAL: (u32, u32) = (0, 1440);
pub const EVENT_RETENTION_DAYS: (u32, u32) = (1, 3650);
pub const DEEP_RECONCILE_DAYS: (u32, u32) = (0, 365);
/// At most this many claim configurations per entity.
pub const MAX_CLAIMS: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    None,
    Scheduled,
    Realtime,
}

/// `none`; `errors_only` (jobs with failures); `all_excluding_zero` (jobs with failures or with
/// records written/removed); `all_including_zero` (every job).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::EnumString,
    strum::IntoStaticStr,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum NotificationLevel {
    None,
    ErrorsOnly,
    AllExcludingZero,
    AllIncludingZero,
}

named!(NotificationLevel);

impl NotificationLevel {
    /// Whether a finished job with these results is reported.
    pub fn should_notify(self, failed: u32, written: u32) -> bool {
        match self {
            Self::None => false,
            Self::ErrorsOnly => failed > 0,
            Self::AllExcludingZero => failed > 0 || written > 0,
            Self::AllIncludingZero => true,
        }
    }
}

/// How a login claim leads to a Zuora account. Only configurations with `service`
/// and `issuer` both `zuora` apply; others are kept but ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClaimConfig {
    /// The claim's name in the identity (`custom:zuora_account`, `email`, `sub`…): 1 to 128
    /// printable ASCII characters without quotes or backslashes.
    #[schema(min_length = 1, max_length = 128, pattern = r"^[!#-&(-\[\]-~]+$")]
    pub claim: String,
    #[schema(min_length = 1, max_length = 64)]
    pub service: String,
    #[schema(min_length = 1, max_length = 64)]
    pub issuer: String,
    /// `account` (Option A: the claim holds account ids/numbers) or `lookup` (Option B: the
    /// claim is matched against `account_field` on the Zuora Account).
    #[serde(rename = "type")]
    pub kind: ClaimKind,
    /// A Zuora Account custom field name such as `LimioExternalId__c`. Required for `lookup`,
    /// refused for `account`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        max_length = 64,
        pattern = "^[A-Za-z][A-Za-z0-9_]*__c$",
        nullable = false
    )]
    pub account_field: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClaimKind {
    Account,
    Lookup,
}

impl ClaimConfig {
    /// Only configurations for Zuora apply; others are kept but ignored.
    pub fn applies_to_zuora(&self) -> bool {
        self.service == "zuora" && self.issuer == "zuora"
    }
}

/// An identity provider whose ID tokens the post-login hook accepts (RS256, keys from its JWKS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LoginHook {
    /// Exact `iss` of the IdP's ID tokens.
    #[schema(min_length = 1, max_length = 256)]
    pub issuer: String,
    /// The IdP's JWKS (https; http only for localhost). Keys are cached; RS256 is pinned.
    #[schema(format = "uri")]
    pub jwks_url: String,
    /// Expected `aud` (the application's client id at the IdP).
    #[schema(min_length = 1, max_length = 256)]
    pub audience: String,
}

/// Where a callout body names the account and the event (Zuora callouts have no fixed schema:
/// the names come from the entity's callout template or parameters). Unset names fall back to
/// the usual ones (`AccountNumber`, `AccountId`, `EventId`, …).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalloutFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 64)]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 64)]
    pub event_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 64)]
    pub event_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 64)]
    pub event_time: Option<String>,
}

/// An entity's settings; never-saved entities have the defaults. Settings saved by an older
/// version lack newer fields; those take their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct EntitySettings {
    pub sync_mode: SyncMode,
    /// Real-time threshold: data change events before a sync.
    #[schema(schema_with = event_thresholds)]
    pub max_events_before_sync: u32,
    #[schema(minimum = 1, maximum = 1440)]
    pub max_minutes_between_syncs: u32,
    pub notification_level: NotificationLevel,
    pub hot_sync_enabled: bool,
    #[schema(max_items = 20)]
    pub claims: Vec<ClaimConfig>,
    /// 0 turns the minimum interval between on-demand syncs of one account off.
    #[schema(minimum = 0, maximum = 1440)]
    pub min_on_demand_interval_minutes: u32,
    #[schema(minimum = 1, maximum = 3650)]
    pub event_retention_days: u32,
    /// Days between deep look-backs: a full sync of every account started by the sweep, for
    /// what changes in Zuora without moving any `updatedDate` (0 turns it off).
    #[schema(minimum = 0, maximum = 365)]
    pub deep_reconcile_days: u32,
    /// Full syncs (and deep look-backs) read every account through one bulk export (AQuA)
    /// instead of two calls per account. Needs AQuA on the tenant; a failed export falls back
    /// to the per-call reads.
    pub bulk_export: bool,
    /// IdPs allowed to call the post-login hook (issuer allow-list, audience, JWKS).
    #[schema(max_items = 10)]
    pub login_hooks: Vec<LoginHook>,
    /// Where summaries go when the notification level calls for one (none: only recorded).
    pub notification_channel: Option<crate::model::Channel>,
    /// The field names of this entity's callout bodies.
    pub callout_fields: CalloutFields,
    /// Pushing the mirror to Salesforce (Zuora 360's objects).
    pub salesforce: crate::model::SalesforceSettings,
}

/// The one integer setting whose values are a list, not a range: its schema lists them.
pub fn event_thresholds() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::Integer)
        .enum_values(Some(EVENT_THRESHOLDS))
        .description(Some(
            "Real-time threshold: data change events before a sync.",
        ))
        .build()
}

impl Default for EntitySettings {
    fn default() -> Self {
        Self {
            sync_mode: SyncMode::None,
            max_events_before_sync: 10,
            max_minutes_between_syncs: 120,
            notification_level: NotificationLevel::AllIncludingZero,
            hot_sync_enabled: false,
            claims: Vec::new(),
            min_on_demand_interval_minutes: 0,
            event_retention_days: 90,
            deep_reconcile_days: 7,
            bulk_export: false,
            login_hooks: Vec::new(),
            notification_channel: None,
            callout_fields: CalloutFields::default(),
            salesforce: crate::model::SalesforceSettings::default(),
        }
    }
}

/// Settings with their optimistic-concurrency version (0: never saved, defaults apply).
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned {
    pub settings: EntitySettings,
    pub version: u64,
    pub updated_at: Option<EpochMillis>,
    pub updated_by: Option<String>,
}

impl Versioned {
    pub fn defaults() -> Self {
        Self {
            settings: EntitySettings::default(),
            version: 0,
            updated_at: None,
            updated_by: None,
        }
    }
}
