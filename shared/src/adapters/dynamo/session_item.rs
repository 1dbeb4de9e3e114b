//! Real-time items in the state table — the entity's counter, changes, callout markers and
//! sessions — their keys, and their mapping (serde_dynamo). Attribute names are the stored
//! format.

use super::items::Item;
use crate::model::{
    EntityId, EpochMillis, RealtimeState, ReconcileMarks, Session, SessionStatus, SessionTrigger,
};
use crate::ports::StoreError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Callout markers are kept this long: Zuora retries for at most a few hours.
pub(super) const CALLOUT_MARKER_SECS: i64 = 7 * 24 * 3600;
/// What a session relies on — changes, sealed numbers, recorded full-sync pages, job count
/// markers — is kept this long, past a session's 15-day expiry (M5): a change expired before its
/// cut would be sealed as skipped, a page read again could disagree with its recorded total, and
/// a job redriven from the DLQ after its marker expired would be counted twice.
pub(super) const CHANGE_SECS: i64 = 30 * 24 * 3600;

pub(super) fn realtime_pk(entity: &EntityId) -> String {
    format!("{entity}#realtime")
}

pub(super) fn callout_pk(entity: &EntityId, dedupe_id: &str) -> String {
    let digest = hex::encode(Sha256::digest(dedupe_id.as_bytes()));
    format!("{entity}#callout#{digest}")
}

pub(super) fn session_pk(entity: &EntityId, id: &str) -> String {
    format!("{entity}#session#{id}")
}

pub(super) fn change_pk(entity: &EntityId, seq: u64) -> String {
    format!("{entity}#change#{seq:012}")
}

/// The entity's counter item, as stored (other attributes of the item are ignored).
#[derive(Deserialize)]
struct StateItem {
    #[serde(default)]
    seq: u64,
    #[serde(default)]
    last_cut: u64,
    since: Option<EpochMillis>,
    last_session_at: Option<EpochMillis>,
    last_session_id: Option<String>,
    last_success_at: Option<EpochMillis>,
    /// Before reconciliation read every change list, one mark (a time) for accounts only.
    watermark: Option<String>,
    reconcile: Option<ReconcileMarks>,
    /// A string set.
    #[serde(default)]
    unqueued: Vec<String>,
    /// A string set.
    #[serde(default)]
    running: Vec<String>,
}

/// An older version's one watermark: every list starts from it.
fn legacy_marks(at: String) -> ReconcileMarks {
    use strum::IntoEnumIterator;
    let lists = crate::model::ChangeList::iter()
        .map(|list| {
            let mark = crate::model::ScanMark {
                at: at.clone(),
                after_id: None,
                caught_up: false,
            };
            (list.to_string(), mark)
        })
        .collect();
    ReconcileMarks {
        lists,
        deep_started: None,
    }
}

pub(super) fn state_of(item: &Item) -> Result<RealtimeState, StoreError> {
    let stored: StateItem = serde_dynamo::from_item(item.clone())
        .map_err(|e| StoreError::Corrupt(format!("real-time state item: {e}")))?;
    Ok(RealtimeState {
        seq: stored.seq,
        last_cut: stored.last_cut,
        since: stored.since,
        last_session_at: stored.last_session_at,
        last_session_id: stored.last_session_id,
        last_success_at: stored.last_success_at,
        reconcile: stored
            .reconcile
            .or_else(|| stored.watermark.map(legacy_marks))
            .unwrap_or_default(),
        unqueued: stored.unqueued,
        running: stored.running,
    })
}

#[derive(Serialize, Deserialize)]
struct SessionItem {
    pk: String,
    id: String,
    entity: EntityId,
    trigger: SessionTrigger,
    status: SessionStatus,
    started_at: EpochMillis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    finished_at: Option<EpochMillis>,
    total: u64,
    succeeded: u64,
    failed: u64,
    skipped: u64,
    written: u64,
    #[serde(default)]
    changes: u64,
    #[serde(default)]
    from_seq: u64,
    #[serde(default)]
    to_seq: u64,
    #[serde(default)]
    enumerating: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    bulk: bool,
    // Written by the updates that count jobs and deliver notifications, never by a put.
    /// A string set: each failed account with its reason.
    #[serde(default, skip_serializing)]
    failures: Vec<String>,
    #[serde(default, skip_serializing)]
    delivery: Option<String>,
    #[serde(default, skip_serializing)]
    notify: Option<bool>,
    #[serde(default, skip_serializing)]
    notification_level: Option<String>,
}

pub(super) fn session_item(entity: &EntityId, session: &Session) -> Item {
    let item = SessionItem {
        pk: session_pk(entity, &session.id),
        id: session.id.clone(),
        entity: entity.clone(),
        trigger: session.trigger,
        status: session.status,
        started_at: session.started_at,
        finished_at: session.finished_at,
        total: session.total,
        succeeded: session.succeeded,
        failed: session.failed,
        skipped: session.skipped,
        written: session.written,
        changes: session.changes,
        from_seq: session.from_seq,
        to_seq: session.to_seq,
        enumerating: session.enumerating,
        bulk: session.bulk,
        failures: Vec::new(),
        delivery: None,
        notify: None,
        notification_level: None,
    };
    serde_dynamo::to_item(item).expect("a session always maps to an item")
}

pub(super) fn item_session(item: &Item) -> Result<Session, StoreError> {
    let stored: SessionItem = serde_dynamo::from_item(item.clone())
        .map_err(|e| StoreError::Corrupt(format!("session item: {e}")))?;
    Ok(Session {
        id: stored.id,
        trigger: stored.trigger,
        status: stored.status,
        started_at: stored.started_at,
        finished_at: stored.finished_at,
        total: stored.total,
        succeeded: stored.succeeded,
        failed: stored.failed,
        skipped: stored.skipped,
        written: stored.written,
        changes: stored.changes,
        from_seq: stored.from_seq,
        to_seq: stored.to_seq,
        enumerating: stored.enumerating,
        bulk: stored.bulk,
        failures: stored.failures,
        delivery: stored.delivery,
        notify: stored.notify,
        notification_level: stored.notification_level,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;

    #[test]
    fn a_session_round_trips_and_reads_its_failure_set() {
        let mut session = Session::new(SessionTrigger::MaxTime, EpochMillis(5), (3, 9), 4);
        session.enumerating = true;
        let entity = EntityId::parse("eu").unwrap();
        let mut item = session_item(&entity, &session);
        assert_eq!(
            item.get("trigger"),
            Some(&AttributeValue::S("max_time".into()))
        );
        assert_eq!(item.get("enumerating"), Some(&AttributeValue::Bool(true)));
        assert!(!item.contains_key("failures") && !item.contains_key("finished_at"));
        assert_eq!(item_session(&item).unwrap(), session);
        // Counting adds failures as a string set.
        item.insert(
            "failures".into(),
            AttributeValue::Ss(vec!["A1: gone".into()]),
        );
        assert_eq!(item_session(&item).unwrap().failures, ["A1: gone"]);
    }

    #[test]
    fn reconciliation_marks_round_trip_and_an_older_watermark_starts_every_list() {
        let mut marks = ReconcileMarks::default();
        marks.lists.insert(
            "contacts".into(),
            crate::model::ScanMark {
                at: "2026-01-01T00:00:00Z".into(),
                after_id: Some("c9".into()),
                caught_up: false,
            },
        );
        marks.deep_started = Some(EpochMillis(7));
        let mut item = Item::new();
        item.insert(
            "reconcile".into(),
            serde_dynamo::to_attribute_value(&marks).unwrap(),
        );
        assert_eq!(state_of(&item).unwrap().reconcile, marks);

        let mut older = Item::new();
        older.insert(
            "watermark".into(),
            AttributeValue::S("2025-05-05T00:00:00Z".into()),
        );
        let upgraded = state_of(&older).unwrap().reconcile;
        assert_eq!(upgraded.lists.len(), 4);
        assert!(
            upgraded
                .lists
                .values()
                .all(|m| m.at == "2025-05-05T00:00:00Z")
        );
    }
}
