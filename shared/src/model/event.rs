//! Event records: every sync, whatever triggered it, leaves one.

use crate::model::EntityId;
use crate::model::EpochMillis;
use serde::{Deserialize, Serialize};

/// What started a sync: `api` the public subscription route, `on_demand` the account and
/// catalog routes, `manual` the customer route; `hot_sync`, `realtime`, `sweep`, `full` other
/// triggers.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::Display,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Trigger {
    Api,
    OnDemand,
    Manual,
    HotSync,
    Realtime,
    Sweep,
    Full,
    /// A push of the mirror to Salesforce (its event carries `salesforce` counts).
    SalesforcePush,
}

impl Trigger {
    /// Triggers whose caller waits for the sync's answer (the sync API's routes).
    pub fn is_synchronous(self) -> bool {
        matches!(self, Self::Api | Self::Manual)
    }
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::Display,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum EventStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Skipped,
    Coalesced,
}

/// Stored and answered names (`on_demand`…): strum gives the string forms, serde the JSON ones;
/// both are snake case, so they agree.
macro_rules! named {
    ($ty:ty) => {
        impl $ty {
            pub fn as_str(&self) -> &'static str {
                self.into()
            }
            pub fn parse(raw: &str) -> Option<Self> {
                raw.parse().ok()
            }
        }
    };
}
pub(crate) use named;

named!(Trigger);
named!(EventStatus);

/// A new, time-ordered event id (UUIDv7), so ids sort like their creation times.
pub fn new_event_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The record every sync leaves. Also the event routes' answer (their wire shape).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SyncEvent {
    /// Event id, a time-ordered UUIDv7.
    pub id: String,
    #[schema(value_type = String)]
    pub entity: EntityId,
    pub trigger: Trigger,
    pub status: EventStatus,
    /// The caller's `X-Correlation-Id`, else the request id.
    pub correlation_id: String,
    /// Zuora account id, once known.
    pub account_id: Option<String>,
    /// Zuora account number, or the key the caller gave before it was resolved.
    pub account: Option<String>,
    pub subscription: Option<String>,
    /// Local customer id.
    pub customer_id: Option<String>,
    /// The login's subject, for hot syncs (never the token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub written: u32,
    pub unchanged: u32,
    pub removed: u32,
    /// A follow-up run for requests coalesced into an earlier sync.
    pub follow_up: bool,
    pub duration_ms: Option<u64>,
    /// Failure code (e.g. `zuora_unavailable`, `subscriptions_failed`).
    pub code: Option<String>,
    pub reason: Option<String>,
    /// Subscriptions a manual sync could not read, each with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<SubscriptionFailure>,
    /// The entity's notification level when the job ended, and whether it calls for a
    /// notification (delivery arrives with real-time sync).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<bool>,
    /// A Salesforce push's counts (trigger `salesforce_push`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salesforce: Option<crate::model::PushCounts>,
    /// Creation time, epoch milliseconds.
    #[schema(value_type = i64)]
    pub created_at: EpochMillis,
    /// Last update, epoch milliseconds.
    #[schema(value_type = i64)]
    pub updated_at: EpochMillis,
    /// How long the entity keeps events; the store's default when not set.
    #[serde(skip)]
    pub retention_days: Option<u32>,
}

/// A subscription a manual sync could not read from Zuora; it keeps its stored copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubscriptionFailure {
    pub number: String,
    pub name: String,
    pub code: String,
    pub reason: String,
}

impl SyncEvent {
    pub fn new(
        id: String,
        entity: EntityId,
        trigger: Trigger,
        status: EventStatus,
        correlation_id: String,
        now: EpochMillis,
    ) -> Self {
        Self {
            id,
            entity,
            trigger,
            status,
            correlation_id,
            account_id: None,
            account: None,
            subscription: None,
            customer_id: None,
            subject: None,
            written: 0,
            unchanged: 0,
            removed: 0,
            follow_up: false,
            duration_ms: None,
            code: None,
            reason: None,
            failures: Vec::new(),
            notification_level: None,
            notify: None,
            salesforce: None,
            created_at: now,
            updated_at: now,
            retention_days: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in [
            Trigger::Api,
            Trigger::HotSync,
            Trigger::OnDemand,
            Trigger::Full,
        ] {
            assert_eq!(Trigger::parse(t.as_str()), Some(t));
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
        assert_eq!(
            EventStatus::parse("coalesced"),
            Some(EventStatus::Coalesced)
        );
        assert_eq!(EventStatus::parse("nope"), None);
    }

    #[test]
    fn event_ids_sort_by_creation() {
        let a = new_event_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_event_id();
        assert!(a < b);
    }
}
