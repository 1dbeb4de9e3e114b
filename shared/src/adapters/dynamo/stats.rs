//! Hourly sync statistics: the outcomes of an entity's events in a time range (a `Query` on
//! the `by_entity` index reading four attributes), and closed hours' statistics saved in the
//! events table under their own keys (`<entity>#STATS#<hour>`), which no index holds.

use super::items::{Item, created_sk, get_s, n, s};
use super::{DynamoStore, unavailable};
use crate::model::{EntityId, EpochMillis, EventOutcome, EventStatus, HourStats, Trigger};
use crate::ports::StoreError;
use aws_sdk_dynamodb::types::AttributeValue;
use std::str::FromStr;

/// A saved hour is kept this long: the console's chart covers a day, a week at most.
const SAVED_HOUR_SECS: i64 = 8 * 24 * 3600;

fn hour_pk(entity: &EntityId, start_ms: i64) -> String {
    format!("{entity}#STATS#{start_ms}")
}

fn outcome(item: &Item) -> Result<EventOutcome, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("event {what}"));
    let created_at = get_s(item, "created_sk")?
        .split('#')
        .next()
        .and_then(|ms| ms.parse().ok())
        .map(EpochMillis)
        .ok_or_else(|| corrupt("creation key"))?;
    Ok(EventOutcome {
        created_at,
        trigger: Trigger::from_str(get_s(item, "trigger")?).map_err(|_| corrupt("trigger"))?,
        status: EventStatus::from_str(get_s(item, "status")?).map_err(|_| corrupt("status"))?,
        duration_ms: super::items::opt_n(item, "duration_ms"),
    })
}

impl DynamoStore {
    pub(super) async fn outcomes(
        &self,
        entity: &EntityId,
        from: EpochMillis,
        to: EpochMillis,
        max: usize,
    ) -> Result<(Vec<EventOutcome>, bool), StoreError> {
        let mut found = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.tables.events)
                .index_name("by_entity")
                .key_condition_expression("entity_pk = :e AND created_sk BETWEEN :lo AND :hi")
                .expression_attribute_values(":e", s(entity.to_string()))
                .expression_attribute_values(":lo", s(created_sk(from, "")))
                // `~` sorts after every id character: the whole last millisecond is in.
                .expression_attribute_values(":hi", s(format!("{}~", created_sk(to, ""))))
                .projection_expression("created_sk, #trigger, #status, duration_ms")
                .expression_attribute_names("#trigger", "trigger")
                .expression_attribute_names("#status", "status")
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            for item in out.items() {
                if found.len() == max {
                    return Ok((found, false));
                }
                found.push(outcome(item)?);
            }
            match out.last_evaluated_key() {
                Some(key) => start = Some(key.clone()),
                None => return Ok((found, true)),
            }
        }
    }

    pub(super) async fn read_saved_hours(
        &self,
        entity: &EntityId,
        starts: &[i64],
    ) -> Result<Vec<HourStats>, StoreError> {
        let pks: Vec<String> = starts.iter().map(|s| hour_pk(entity, *s)).collect();
        self.get_many(&self.tables.events, &pks, false)
            .await?
            .iter()
            .map(|item| {
                serde_json::from_str(get_s(item, "hour")?)
                    .map_err(|e| StoreError::Corrupt(format!("saved hour: {e}")))
            })
            .collect()
    }

    pub(super) async fn write_hour(
        &self,
        entity: &EntityId,
        hour: &HourStats,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(hour).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let expires = hour.start_ms / 1000 + SAVED_HOUR_SECS;
        self.client
            .put_item()
            .table_name(&self.tables.events)
            .item("pk", s(hour_pk(entity, hour.start_ms)))
            .item("hour", AttributeValue::S(json))
            .item("expires_at", n(expires))
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}
