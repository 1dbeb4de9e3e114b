//! Per-entity settings in the state table, with an optimistic version: an update names the
//! version it read and is a conditional write, so two admins cannot silently overwrite each
//! other.

use super::items::{n, opt_n, s, settings_pk};
use super::{DynamoStore, unavailable};
use crate::model::EntityId;
use crate::model::EpochMillis;
use crate::model::{EntitySettings, Versioned};
use crate::ports::{SettingsStore, StoreError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use serde::{Deserialize, Serialize};

/// The settings item: the settings as one JSON document (new fields take their defaults when
/// an older version wrote it), and the optimistic version.
#[derive(Serialize, Deserialize)]
struct SettingsItem {
    pk: String,
    entity: EntityId,
    settings: String,
    version: u64,
    updated_at: Option<EpochMillis>,
    updated_by: Option<String>,
}

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
        let stored: SettingsItem = serde_dynamo::from_item(item.clone())
            .map_err(|e| StoreError::Corrupt(format!("settings item of {entity}: {e}")))?;
        let settings: EntitySettings = serde_json::from_str(&stored.settings)
            .map_err(|e| StoreError::Corrupt(format!("settings of {entity}: {e}")))?;
        Ok(Versioned {
            settings,
            version: stored.version,
            updated_at: stored.updated_at,
            updated_by: stored.updated_by,
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
        let version = expected + 1;
        let item = SettingsItem {
            pk: settings_pk(entity),
            entity: entity.clone(),
            settings: serde_json::to_string(settings).expect("settings always serialise"),
            version,
            updated_at: Some(now),
            updated_by: Some(updated_by.to_string()),
        };
        let mut put = self
            .client()
            .put_item()
            .table_name(&self.tables().state)
            .set_item(Some(
                serde_dynamo::to_item(item).expect("settings always map to an item"),
            ))
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
