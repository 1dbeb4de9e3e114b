//! Per-entity settings in the state table, with an optimistic version: an update names the
//! version it read and is a conditional write, so two admins cannot silently overwrite each
//! other.

use super::items::{get_n, get_s, n, opt_n, opt_s, s, settings_pk};
use super::{DynamoStore, unavailable};
use crate::model::EntityId;
use crate::model::EpochMillis;
use crate::model::{EntitySettings, Versioned};
use crate::ports::{SettingsStore, StoreError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;

#[async_trait::async_trait]
impl SettingsStore for DynamoStore {
    async fn get_settings(&self, entity: &EntityId) -> Result<Versioned, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(&self.tables().state)
            .key("pk", s(settings_pk(entity)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        let Some(item) = out.item() else {
            return Ok(Versioned::defaults());
        };
        let settings: EntitySettings = serde_json::from_str(get_s(item, "settings")?)
            .map_err(|e| StoreError::Corrupt(format!("settings of {entity}: {e}")))?;
        Ok(Versioned {
            settings,
            version: get_n(item, "version")?,
            updated_at: opt_n(item, "updated_at").map(EpochMillis),
            updated_by: opt_s(item, "updated_by"),
        })
    }

    async fn put_settings(
        &self,
        entity: &EntityId,
        settings: &EntitySettings,
        expected: u64,
        updated_by: &str,
        now: EpochMillis,
    ) -> Result<Result<Versioned, u64>, StoreError> {
        let doc = serde_json::to_string(settings).expect("settings always serialise");
        let version = expected + 1;
        let mut put = self
            .client()
            .put_item()
            .table_name(&self.tables().state)
            .item("pk", s(settings_pk(entity)))
            .item("entity", s(entity.as_str()))
            .item("settings", s(doc))
            .item("version", n(version))
            .item("updated_at", n(now.0))
            .item("updated_by", s(updated_by))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        put = if expected == 0 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("version = :v")
                .expression_attribute_values(":v", n(expected))
        };
        match put.send().await {
            Ok(_) => Ok(Ok(Versioned {
                settings: settings.clone(),
                version,
                updated_at: Some(now),
                updated_by: Some(updated_by.to_string()),
            })),
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(c)) => {
                    let current = c.item().and_then(|i| opt_n(i, "version")).unwrap_or(0);
                    Ok(Err(current))
                }
                _ => Err(unavailable(e)),
            },
        }
    }
}
