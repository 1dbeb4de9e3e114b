//! The event log: put, create-if-absent, get, and search (in `search.rs`).

use super::items::*;
use super::{DynamoStore, unavailable};
use crate::model::*;
use crate::ports::*;

#[async_trait::async_trait]
impl EventStore for DynamoStore {
    async fn put_event(&self, event: &SyncEvent) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.tables.events)
            .set_item(Some(event_item(event, self.event_expiry(event))))
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn create_event(&self, event: &SyncEvent) -> Result<(), StoreError> {
        self.put_event_if(event, "attribute_not_exists(pk)", &[])
            .await
    }

    async fn start_event(&self, event: &SyncEvent) -> Result<(), StoreError> {
        let open = [
            (":queued", EventStatus::Queued.as_str()),
            (":running", EventStatus::Running.as_str()),
        ];
        self.put_event_if(
            event,
            "attribute_not_exists(pk) OR #status IN (:queued, :running)",
            &open,
        )
        .await
    }

    async fn get_event(
        &self,
        entity: &EntityId,
        id: &str,
    ) -> Result<Option<SyncEvent>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.events)
            .key("pk", s(event_pk(entity, id)))
            .send()
            .await
            .map_err(unavailable)?;
        out.item().map(item_event).transpose()
    }

    async fn account_events(
        &self,
        entity: &EntityId,
        account: &str,
        limit: i32,
    ) -> Result<Vec<SyncEvent>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.tables.events)
            .index_name("by_account")
            .key_condition_expression("account_pk = :a")
            .expression_attribute_values(":a", s(event_account_pk(entity, account)))
            .scan_index_forward(false)
            .limit(limit)
            .send()
            .await
            .map_err(unavailable)?;
        out.items().iter().map(item_event).collect()
    }

    async fn search_events(&self, query: &EventQuery) -> Result<EventPage, StoreError> {
        self.search(query).await
    }

    async fn event_outcomes(
        &self,
        entity: &EntityId,
        from: EpochMillis,
        to: EpochMillis,
        max: usize,
    ) -> Result<(Vec<EventOutcome>, bool), StoreError> {
        self.outcomes(entity, from, to, max).await
    }

    async fn saved_hours(
        &self,
        entity: &EntityId,
        starts: &[i64],
    ) -> Result<Vec<HourStats>, StoreError> {
        self.read_saved_hours(entity, starts).await
    }

    async fn save_hour(&self, entity: &EntityId, hour: &HourStats) -> Result<(), StoreError> {
        self.write_hour(entity, hour).await
    }
}

impl DynamoStore {
    /// Writes the event if `condition` holds; a failed condition is no error (the event is
    /// already there, or already ended).
    async fn put_event_if(
        &self,
        event: &SyncEvent,
        condition: &str,
        values: &[(&str, &str)],
    ) -> Result<(), StoreError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.tables.events)
            .set_item(Some(event_item(event, self.event_expiry(event))))
            .condition_expression(condition);
        if !values.is_empty() {
            // Conditions on values name the event's status (a reserved word).
            put = put.expression_attribute_names("#status", "status");
        }
        for (name, value) in values {
            put = put.expression_attribute_values(*name, s(*value));
        }
        match put.send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|x| x.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(unavailable(e)),
        }
    }
}
