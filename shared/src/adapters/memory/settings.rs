//! Entity settings in memory with the optimistic version of `adapters/dynamo/settings.rs`:
//! defaults at version 0, and a save only when the stored version is still the one read.

use super::store::MemoryStore;
use crate::model::{EntityId, EntitySettings, EpochMillis, Versioned};
use crate::ports::{SettingsStore, StoreError};
use std::collections::HashMap;

#[derive(Debug, Default)]
pub(super) struct SettingsTable {
    saved: HashMap<EntityId, Versioned>,
}

impl SettingsTable {
    fn put(
        &mut self,
        entity: &EntityId,
        settings: &EntitySettings,
        expected: u64,
        updated_by: &str,
        now: EpochMillis,
    ) -> Result<Versioned, u64> {
        // `attribute_not_exists(pk)` for version 0, `version = :v` otherwise.
        let current = self.saved.get(entity).map(|v| v.version);
        let fits = match current {
            None => expected == 0,
            Some(version) => expected != 0 && version == expected,
        };
        if !fits {
            return Err(current.unwrap_or(0));
        }
        let saved = Versioned {
            settings: settings.clone(),
            version: expected + 1,
            updated_at: Some(now),
            updated_by: Some(updated_by.to_string()),
        };
        self.saved.insert(entity.clone(), saved.clone());
        Ok(saved)
    }
}

#[async_trait::async_trait]
impl SettingsStore for MemoryStore {
    async fn get_settings(&self, entity: &EntityId) -> Result<Versioned, StoreError> {
        self.call(|s| {
            Ok(s.settings
                .saved
                .get(entity)
                .cloned()
                .unwrap_or_else(Versioned::defaults))
        })
        .await
    }

    async fn put_settings(
        &self,
        entity: &EntityId,
        settings: &EntitySettings,
        expected: u64,
        updated_by: &str,
        now: EpochMillis,
    ) -> Result<Result<Versioned, u64>, StoreError> {
        self.call(|s| Ok(s.settings.put(entity, settings, expected, updated_by, now)))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_only_on_the_version_read() {
        let mut t = SettingsTable::default();
        let e = EntityId::parse("e").unwrap();
        let s = EntitySettings::default();
        assert_eq!(
            t.put(&e, &s, 1, "a", EpochMillis(0)),
            Err(0),
            "nothing saved yet"
        );
        assert_eq!(t.put(&e, &s, 0, "a", EpochMillis(0)).unwrap().version, 1);
        assert_eq!(t.put(&e, &s, 0, "b", EpochMillis(1)), Err(1));
        assert_eq!(t.put(&e, &s, 1, "b", EpochMillis(1)).unwrap().version, 2);
    }
}
