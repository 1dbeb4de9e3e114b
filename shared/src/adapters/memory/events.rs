//! The event log in memory: put, create-if-absent, get, an account's events and the search of
//! `adapters/dynamo/search.rs` (every filter, newest first, cursor paging).
//!
//! The search picks the same "index" as DynamoDB would (the most selective filter) and its
//! cursor names it and the index key, so a cursor from another search is refused just as
//! there; the filtering itself is a plain scan, which is fine at test sizes.

use super::store::MemoryStore;
use crate::model::{
    EntityId, EpochMillis, EventOutcome, EventPage, EventQuery, EventStatus, HourStats,
    MAX_PAGE_SIZE, SyncEvent,
};
use crate::ports::{EventStore, StoreError};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::collections::HashMap;

/// Sort key of an event in every index: creation time, then id (as DynamoDB's `created_sk`).
fn created_sk(created_at: EpochMillis, id: &str) -> String {
    format!("{:013}#{id}", created_at.0.max(0))
}

/// The key events of an account are found by: the Zuora id, or the key given before it.
fn account_key(e: &SyncEvent) -> Option<&str> {
    e.account_id.as_deref().or(e.account.as_deref())
}

#[derive(Debug, Default)]
pub(super) struct EventTable {
    events: HashMap<(EntityId, String), SyncEvent>,
    /// Saved hourly statistics, by entity and hour start.
    hours: HashMap<(EntityId, i64), crate::model::HourStats>,
}

impl EventTable {
    pub(super) fn put(&mut self, event: &SyncEvent) {
        // Retention is a write-time setting, never read back (as from DynamoDB).
        let mut stored = event.clone();
        stored.retention_days = None;
        self.events
            .insert((event.entity.clone(), event.id.clone()), stored);
    }

    /// One entity's events, newest first.
    fn newest_first(&self, entity: &EntityId) -> Vec<&SyncEvent> {
        let mut out: Vec<&SyncEvent> = self
            .events
            .values()
            .filter(|e| &e.entity == entity)
            .collect();
        out.sort_by_key(|e| std::cmp::Reverse(created_sk(e.created_at, &e.id)));
        out
    }

    fn search(&self, q: &EventQuery) -> Result<EventPage, StoreError> {
        let entity = q
            .entity
            .as_ref()
            .ok_or_else(|| StoreError::Corrupt("event query without an entity".into()))?;
        let (index, hash) = index_of(q);
        let after = q
            .cursor
            .as_deref()
            .map(|c| decode_cursor(c, index, &hash))
            .transpose()?;
        let limit = q.limit.clamp(1, MAX_PAGE_SIZE);
        let mut matches = self
            .newest_first(entity)
            .into_iter()
            .filter(|e| matches(q, e))
            .filter(|e| {
                after
                    .as_ref()
                    .is_none_or(|a| created_sk(e.created_at, &e.id) < *a)
            });
        let events: Vec<SyncEvent> = matches.by_ref().take(limit).cloned().collect();
        let next_cursor = match (matches.next(), events.last()) {
            (Some(_), Some(last)) => Some(encode_cursor(
                index,
                &hash,
                &created_sk(last.created_at, &last.id),
            )),
            _ => None,
        };
        Ok(EventPage {
            events,
            next_cursor,
        })
    }
}

/// Every filter of the query, the time bounds inclusive.
fn matches(q: &EventQuery, e: &SyncEvent) -> bool {
    q.account
        .as_deref()
        .is_none_or(|a| account_key(e) == Some(a))
        && q.subscription
            .as_deref()
            .is_none_or(|s| e.subscription.as_deref() == Some(s))
        && q.customer
            .as_deref()
            .is_none_or(|c| e.customer_id.as_deref() == Some(c))
        && q.trigger.is_none_or(|t| e.trigger == t)
        && q.status.is_none_or(|s| e.status == s)
        && q.from.is_none_or(|f| e.created_at.0.max(0) >= f.0.max(0))
        && q.to.is_none_or(|t| e.created_at.0.max(0) <= t.0.max(0))
}

/// The index DynamoDB would read and its key value, in the same order of preference.
fn index_of(q: &EventQuery) -> (&'static str, String) {
    if let Some(a) = &q.account {
        ("by_account", a.clone())
    } else if let Some(s) = &q.subscription {
        ("by_subscription", s.clone())
    } else if let Some(c) = &q.customer {
        ("by_customer", c.clone())
    } else if let Some(s) = q.status {
        ("by_status", s.as_str().to_string())
    } else if let Some(t) = q.trigger {
        ("by_trigger", t.as_str().to_string())
    } else {
        ("by_entity", String::new())
    }
}

fn encode_cursor(index: &str, hash: &str, sk: &str) -> String {
    let json = serde_json::json!({ "i": index, "h": hash, "k": sk });
    URL_SAFE_NO_PAD.encode(json.to_string())
}

/// The position a cursor names, if this search issued it.
fn decode_cursor(raw: &str, index: &str, hash: &str) -> Result<String, StoreError> {
    let bad = |why: &str| StoreError::InvalidCursor(why.to_string());
    let json: serde_json::Value = URL_SAFE_NO_PAD
        .decode(raw)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| bad("it is not a cursor this API issued"))?;
    if json["i"] != index || json["h"] != hash {
        return Err(bad("it belongs to a search with other filters"));
    }
    json["k"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| bad("its position is incomplete"))
}

impl MemoryStore {
    /// Every event of the entity, newest first.
    pub fn events(&self, entity: &EntityId) -> Vec<SyncEvent> {
        let state = self.with_state();
        state
            .events
            .newest_first(entity)
            .into_iter()
            .cloned()
            .collect()
    }
}

#[async_trait::async_trait]
impl EventStore for MemoryStore {
    async fn put_event(&self, event: &SyncEvent) -> Result<(), StoreError> {
        self.call(|s| {
            s.events.put(event);
            Ok(())
        })
        .await
    }

    async fn create_event(&self, event: &SyncEvent) -> Result<(), StoreError> {
        self.call(|s| {
            let key = (event.entity.clone(), event.id.clone());
            if !s.events.events.contains_key(&key) {
                s.events.put(event);
            }
            Ok(())
        })
        .await
    }

    async fn start_event(&self, event: &SyncEvent) -> Result<(), StoreError> {
        self.call(|s| {
            let key = (event.entity.clone(), event.id.clone());
            let open = s
                .events
                .events
                .get(&key)
                .is_none_or(|e| matches!(e.status, EventStatus::Queued | EventStatus::Running));
            if open {
                s.events.put(event);
            }
            Ok(())
        })
        .await
    }

    async fn get_event(
        &self,
        entity: &EntityId,
        id: &str,
    ) -> Result<Option<SyncEvent>, StoreError> {
        let key = (entity.clone(), id.to_string());
        self.call(|s| Ok(s.events.events.get(&key).cloned())).await
    }

    async fn account_events(
        &self,
        entity: &EntityId,
        account: &str,
        limit: i32,
    ) -> Result<Vec<SyncEvent>, StoreError> {
        self.call(|s| {
            if limit < 1 {
                // DynamoDB refuses a `Limit` below 1.
                return Err(StoreError::Unavailable(
                    "ValidationException: Limit must be at least 1".into(),
                ));
            }
            Ok(s.events
                .newest_first(entity)
                .into_iter()
                .filter(|e| account_key(e) == Some(account))
                .take(limit as usize)
                .cloned()
                .collect())
        })
        .await
    }

    async fn search_events(&self, query: &EventQuery) -> Result<EventPage, StoreError> {
        self.call(|s| s.events.search(query)).await
    }

    async fn event_outcomes(
        &self,
        entity: &EntityId,
        from: EpochMillis,
        to: EpochMillis,
        max: usize,
    ) -> Result<(Vec<EventOutcome>, bool), StoreError> {
        self.call(|s| {
            let mut found: Vec<EventOutcome> = s
                .events
                .newest_first(entity)
                .into_iter()
                .rev()
                .filter(|e| e.created_at >= from && e.created_at <= to)
                .map(|e| EventOutcome {
                    created_at: e.created_at,
                    trigger: e.trigger,
                    status: e.status,
                    duration_ms: e.duration_ms,
                })
                .collect();
            let all = found.len() <= max;
            found.truncate(max);
            Ok((found, all))
        })
        .await
    }

    async fn saved_hours(
        &self,
        entity: &EntityId,
        starts: &[i64],
    ) -> Result<Vec<HourStats>, StoreError> {
        self.call(|s| {
            Ok(starts
                .iter()
                .filter_map(|start| s.events.hours.get(&(entity.clone(), *start)).cloned())
                .collect())
        })
        .await
    }

    async fn save_hour(&self, entity: &EntityId, hour: &HourStats) -> Result<(), StoreError> {
        self.call(|s| {
            s.events
                .hours
                .insert((entity.clone(), hour.start_ms), hour.clone());
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests;
