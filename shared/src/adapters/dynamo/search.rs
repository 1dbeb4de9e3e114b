//! Event search: always a DynamoDB `Query` on one of the events table's
//! indexes, never a scan. The most selective filter picks the index; the others become a
//! filter expression. Every index sorts by `created_sk` (creation time, then id), so "newest
//! first" is a backwards query and a time range is a key condition.

use super::items::{Item, created_sk, event_account_pk, event_index_pk, item_event, s};
use super::{DynamoStore, unavailable};
use crate::model::EntityId;
use crate::model::SyncEvent;
use crate::model::{EventPage, EventQuery, MAX_PAGE_SIZE};
use crate::ports::StoreError;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::collections::HashMap;

/// Index pages read for one answer at most, so a rare filter cannot make one request read the
/// whole table; the answer then carries a cursor to go on.
const MAX_READS_PER_PAGE: usize = 10;

/// The index a query reads and the key it reads it by.
struct Plan {
    index: &'static str,
    hash_attr: &'static str,
    hash_value: String,
}

impl EventQuery {
    fn entity(&self) -> Result<&EntityId, StoreError> {
        self.entity
            .as_ref()
            .ok_or_else(|| StoreError::Corrupt("event query without an entity".into()))
    }

    fn plan(&self) -> Result<Plan, StoreError> {
        let entity = self.entity()?;
        let plan = |index, hash_attr, hash_value| Plan {
            index,
            hash_attr,
            hash_value,
        };
        Ok(if let Some(a) = &self.account {
            plan("by_account", "account_pk", event_account_pk(entity, a))
        } else if let Some(sub) = &self.subscription {
            let v = event_index_pk(entity, "subscription", sub);
            plan("by_subscription", "subscription_pk", v)
        } else if let Some(c) = &self.customer {
            let v = event_index_pk(entity, "customer", c);
            plan("by_customer", "customer_pk", v)
        } else if let Some(st) = self.status {
            let v = event_index_pk(entity, "status", st.as_str());
            plan("by_status", "status_pk", v)
        } else if let Some(t) = self.trigger {
            let v = event_index_pk(entity, "trigger", t.as_str());
            plan("by_trigger", "trigger_pk", v)
        } else {
            plan("by_entity", "entity_pk", entity.to_string())
        })
    }

    /// Filters the chosen index does not already apply, as (attribute, value).
    fn residual_filters(&self, index: &str) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if index != "by_subscription"
            && let Some(v) = &self.subscription
        {
            out.push(("subscription", v.clone()));
        }
        if index != "by_customer"
            && let Some(v) = &self.customer
        {
            out.push(("customer_id", v.clone()));
        }
        if index != "by_status"
            && let Some(v) = self.status
        {
            out.push(("status", v.as_str().to_string()));
        }
        if index != "by_trigger"
            && let Some(v) = self.trigger
        {
            out.push(("trigger", v.as_str().to_string()));
        }
        out
    }
}

/// The cursor: the index and the last key returned, base64url JSON. It is checked against the
/// query on the way back in, so it cannot page through another partition.
fn encode_cursor(index: &str, key: &Item) -> String {
    let key: HashMap<&str, &str> = key
        .iter()
        .filter_map(|(k, v)| v.as_s().ok().map(|v| (k.as_str(), v.as_str())))
        .collect();
    let json = serde_json::json!({ "i": index, "k": key });
    URL_SAFE_NO_PAD.encode(json.to_string())
}

fn decode_cursor(raw: &str, plan: &Plan) -> Result<Item, StoreError> {
    let bad = |why: &str| StoreError::InvalidCursor(why.to_string());
    let bytes = URL_SAFE_NO_PAD
        .decode(raw)
        .map_err(|_| bad("it is not a cursor this API issued"))?;
    let json: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|_| bad("it is not a cursor this API issued"))?;
    if json["i"] != plan.index {
        return Err(bad("it belongs to a search with other filters"));
    }
    let key = json["k"]
        .as_object()
        .ok_or_else(|| bad("it has no position"))?;
    let expected = ["pk", plan.hash_attr, "created_sk"];
    if key.len() != expected.len() || expected.iter().any(|k| !key[*k].is_string()) {
        return Err(bad("its position is incomplete"));
    }
    if key[plan.hash_attr] != plan.hash_value.as_str() {
        return Err(bad("it belongs to a search with other filters"));
    }
    Ok(expected
        .iter()
        .map(|k| (k.to_string(), s(key[*k].as_str().unwrap_or_default())))
        .collect())
}

impl DynamoStore {
    pub(super) async fn search(&self, q: &EventQuery) -> Result<EventPage, StoreError> {
        let plan = q.plan()?;
        let limit = q.limit.clamp(1, MAX_PAGE_SIZE);
        let mut start = q
            .cursor
            .as_deref()
            .map(|c| decode_cursor(c, &plan))
            .transpose()?;
        let mut condition = format!("{} = :h", plan.hash_attr);
        let mut values: HashMap<String, AttributeValue> =
            HashMap::from([(":h".to_string(), s(&plan.hash_value))]);
        let low = q.from.map(|t| created_sk(t, ""));
        // `~` sorts after every id character, so the upper bound includes its whole millisecond.
        let high = q.to.map(|t| format!("{}~", created_sk(t, "")));
        match (low, high) {
            (Some(l), Some(h)) => {
                condition.push_str(" AND created_sk BETWEEN :lo AND :hi");
                values.insert(":lo".into(), s(l));
                values.insert(":hi".into(), s(h));
            }
            (Some(l), None) => {
                condition.push_str(" AND created_sk >= :lo");
                values.insert(":lo".into(), s(l));
            }
            (None, Some(h)) => {
                condition.push_str(" AND created_sk <= :hi");
                values.insert(":hi".into(), s(h));
            }
            (None, None) => {}
        }
        let mut names = HashMap::new();
        let mut filters = Vec::new();
        for (i, (attr, value)) in q.residual_filters(plan.index).into_iter().enumerate() {
            names.insert(format!("#f{i}"), attr.to_string());
            values.insert(format!(":f{i}"), s(value));
            filters.push(format!("#f{i} = :f{i}"));
        }
        let filter = (!filters.is_empty()).then(|| filters.join(" AND "));

        let mut events: Vec<(SyncEvent, Item)> = Vec::new();
        for _ in 0..MAX_READS_PER_PAGE {
            let out = self
                .client()
                .query()
                .table_name(&self.tables().events)
                .index_name(plan.index)
                .key_condition_expression(&condition)
                .set_filter_expression(filter.clone())
                .set_expression_attribute_names((!names.is_empty()).then(|| names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(false)
                .limit((limit - events.len()) as i32 + 1)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            for item in out.items() {
                events.push((item_event(item)?, position(item, plan.hash_attr)));
            }
            start = out.last_evaluated_key().cloned();
            if events.len() > limit || start.is_none() {
                break;
            }
        }
        // More matches than asked for: the page ends at the last one returned, and the cursor
        // points there (not at DynamoDB's last evaluated key, which would skip the rest).
        let next_cursor = if events.len() > limit {
            events.truncate(limit);
            events.last().map(|(_, key)| encode_cursor(plan.index, key))
        } else {
            start.map(|key| encode_cursor(plan.index, &key))
        };
        Ok(EventPage {
            events: events.into_iter().map(|(e, _)| e).collect(),
            next_cursor,
        })
    }
}

/// An item's position in an index: its table key and the index key.
fn position(item: &Item, hash_attr: &str) -> Item {
    ["pk", hash_attr, "created_sk"]
        .into_iter()
        .filter_map(|k| item.get(k).map(|v| (k.to_string(), v.clone())))
        .collect()
}
