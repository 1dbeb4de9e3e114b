//! An event as a DynamoDB item, mapped by serde_dynamo. The attribute names and types are the
//! stored format (and the events table's index keys): change them only with a migration.

use super::items::{Item, created_sk, event_account_pk, event_index_pk, event_pk};
use crate::model::{EntityId, EpochMillis, EventStatus, SubscriptionFailure, SyncEvent, Trigger};
use crate::ports::StoreError;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct EventItem {
    pk: String,
    id: String,
    entity: EntityId,
    trigger: Trigger,
    status: EventStatus,
    correlation_id: String,
    written: u32,
    unchanged: u32,
    removed: u32,
    #[serde(default)]
    follow_up: bool,
    created_at: EpochMillis,
    updated_at: EpochMillis,
    created_sk: String,
    expires_at: i64,
    // Index keys: entity, trigger and status always; the others when the event has them.
    entity_pk: String,
    trigger_pk: String,
    status_pk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    subscription_pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    customer_pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    account_pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    subscription: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    customer_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    duration_ms: Option<u64>,
    /// JSON text: a list of {number, name, code, reason}.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    failures: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    notification_level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    notify: Option<bool>,
    /// A Salesforce push's counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    salesforce: Option<crate::model::PushCounts>,
}

/// An event keeps its first failures only, each reason cut short: the event rides in the
/// sync's commit, and an item over 400 KB would fail the whole commit (L7).
pub const MAX_FAILURES_STORED: usize = 100;
const MAX_REASON_CHARS: usize = 1_000;

fn cut(text: &str) -> String {
    text.chars().take(MAX_REASON_CHARS).collect()
}

fn stored_failures(e: &SyncEvent) -> Option<String> {
    if e.failures.is_empty() {
        return None;
    }
    let kept: Vec<_> = e
        .failures
        .iter()
        .take(MAX_FAILURES_STORED)
        .map(|f| {
            let mut f = f.clone();
            f.reason = cut(&f.reason);
            f
        })
        .collect();
    Some(serde_json::to_string(&kept).expect("failures always serialise"))
}

pub fn event_item(e: &SyncEvent, expires_at_secs: i64) -> Item {
    // The Zuora id is canonical; before it is known, the key the caller gave.
    let account_key = e.account_id.as_ref().or(e.account.as_ref());
    let index = |name, value: &str| event_index_pk(&e.entity, name, value);
    let item = EventItem {
        pk: event_pk(&e.entity, &e.id),
        id: e.id.clone(),
        entity: e.entity.clone(),
        trigger: e.trigger,
        status: e.status,
        correlation_id: e.correlation_id.clone(),
        written: e.written,
        unchanged: e.unchanged,
        removed: e.removed,
        follow_up: e.follow_up,
        created_at: e.created_at,
        updated_at: e.updated_at,
        created_sk: created_sk(e.created_at, &e.id),
        expires_at: expires_at_secs,
        entity_pk: e.entity.to_string(),
        trigger_pk: index("trigger", e.trigger.as_str()),
        status_pk: index("status", e.status.as_str()),
        subscription_pk: e.subscription.as_deref().map(|s| index("subscription", s)),
        customer_pk: e.customer_id.as_deref().map(|c| index("customer", c)),
        account_pk: account_key.map(|a| event_account_pk(&e.entity, a)),
        account_id: e.account_id.clone(),
        account: e.account.clone(),
        subscription: e.subscription.clone(),
        customer_id: e.customer_id.clone(),
        subject: e.subject.clone(),
        code: e.code.clone(),
        reason: e.reason.as_deref().map(cut),
        duration_ms: e.duration_ms,
        failures: stored_failures(e),
        notification_level: e.notification_level.clone(),
        notify: e.notify,
        salesforce: e.salesforce,
    };
    serde_dynamo::to_item(item).expect("an event always maps to an item")
}

pub fn item_event(item: &Item) -> Result<SyncEvent, StoreError> {
    let stored: EventItem = serde_dynamo::from_item(item.clone())
        .map_err(|e| StoreError::Corrupt(format!("event item: {e}")))?;
    let failures: Vec<SubscriptionFailure> = stored
        .failures
        .map(|f| serde_json::from_str(&f))
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("event failures: {e}")))?
        .unwrap_or_default();
    Ok(SyncEvent {
        id: stored.id,
        entity: stored.entity,
        trigger: stored.trigger,
        status: stored.status,
        correlation_id: stored.correlation_id,
        account_id: stored.account_id,
        account: stored.account,
        subscription: stored.subscription,
        customer_id: stored.customer_id,
        subject: stored.subject,
        written: stored.written,
        unchanged: stored.unchanged,
        removed: stored.removed,
        follow_up: stored.follow_up,
        duration_ms: stored.duration_ms,
        code: stored.code,
        reason: stored.reason,
        failures,
        notification_level: stored.notification_level,
        notify: stored.notify,
        salesforce: stored.salesforce,
        retention_days: None,
        created_at: stored.created_at,
        updated_at: stored.updated_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;

    fn event() -> SyncEvent {
        let mut e = SyncEvent::new(
            "01ev".into(),
            EntityId::parse("eu").unwrap(),
            Trigger::OnDemand,
            EventStatus::Failed,
            "corr".into(),
            EpochMillis(1_700_000_000_000),
        );
        e.account_id = Some("8a80".into());
        e.subscription = Some("A-S1".into());
        e.failures = vec![SubscriptionFailure {
            number: "A-S1".into(),
            name: "Gold".into(),
            code: "zuora_timeout".into(),
            reason: "slow".into(),
        }];
        e.notify = Some(true);
        e
    }

    #[test]
    fn an_event_round_trips_through_its_item() {
        let e = event();
        assert_eq!(item_event(&event_item(&e, 42)).unwrap(), e);
    }

    /// The stored format: what the indexes and older items rely on.
    #[test]
    fn the_item_keeps_the_stored_attribute_names_and_types() {
        let item = event_item(&event(), 42);
        let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
        assert_eq!(text("pk").as_deref(), Some("eu#01ev"));
        assert_eq!(text("trigger").as_deref(), Some("on_demand"));
        assert_eq!(text("status_pk").as_deref(), Some("eu#status#6#failed"));
        assert_eq!(text("account_pk").as_deref(), Some("eu#8a80"));
        assert!(text("failures").unwrap().starts_with("[{"));
        assert_eq!(
            item.get("created_at"),
            Some(&AttributeValue::N("1700000000000".into()))
        );
        assert_eq!(item.get("follow_up"), Some(&AttributeValue::Bool(false)));
        assert_eq!(
            item.get("expires_at"),
            Some(&AttributeValue::N("42".into()))
        );
        assert!(
            !item.contains_key("customer_pk"),
            "absent, not null: sparse index"
        );
        assert!(!item.contains_key("code"));
    }

    /// L7: however many subscriptions failed, the event item stays far under 400 KB.
    #[test]
    fn an_event_with_thousands_of_failures_stays_small() {
        let mut e = event();
        e.reason = Some("r".repeat(50_000));
        e.failures = (0..5_000)
            .map(|n| crate::model::SubscriptionFailure {
                number: format!("A-S{n:08}"),
                name: "Plan".into(),
                code: "zuora_rejected".into(),
                reason: "x".repeat(10_000),
            })
            .collect();
        let item = event_item(&e, 0);
        let bytes: usize = format!("{item:?}").len();
        assert!(bytes < 200_000, "{bytes} bytes");
        let back = item_event(&item).unwrap();
        assert_eq!(back.failures.len(), MAX_FAILURES_STORED);
        assert_eq!(back.failures[0].number, "A-S00000000");
    }
}
