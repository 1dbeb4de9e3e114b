//! The settings cache every service reads through.

use crate::model::{EntityId, Versioned};
use crate::ports::{SettingsStore, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Settings read through a short-lived per-process cache: syncs consult them on every run,
/// and a few seconds of staleness after an update is acceptable (the updating process itself
/// sees its write at once).
pub struct SettingsCache {
    store: Arc<dyn SettingsStore>,
    ttl: Duration,
    entries: Mutex<HashMap<EntityId, (Instant, Versioned)>>,
}

impl SettingsCache {
    pub fn new(store: Arc<dyn SettingsStore>, ttl: Duration) -> Self {
        Self {
            store,
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub async fn get(&self, entity: &EntityId) -> Result<Versioned, StoreError> {
        let cached = self
            .entries
            .lock()
            .expect("settings cache lock")
            .get(entity)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone());
        if let Some(v) = cached {
            return Ok(v);
        }
        let fresh = self.store.get_settings(entity).await?;
        self.remember(entity, fresh.clone());
        Ok(fresh)
    }

    /// Reads past the cache (an admin about to update needs the current version).
    pub async fn get_fresh(&self, entity: &EntityId) -> Result<Versioned, StoreError> {
        let fresh = self.store.get_settings(entity).await?;
        self.remember(entity, fresh.clone());
        Ok(fresh)
    }

    pub fn remember(&self, entity: &EntityId, value: Versioned) {
        self.entries
            .lock()
            .expect("settings cache lock")
            .insert(entity.clone(), (Instant::now(), value));
    }

    pub fn store(&self) -> &Arc<dyn SettingsStore> {
        &self.store
    }
}
