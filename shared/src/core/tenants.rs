//! Each configured entity's Zuora connection.

use crate::model::EntityId;
use crate::ports::ZuoraApi;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The Zuora connection of every configured entity. Each entity has its own client, so its
/// token, and its cap on concurrent requests, are its own (design §2.4, per entity).
#[derive(Clone, Default)]
pub struct ZuoraTenants {
    clients: BTreeMap<EntityId, Arc<dyn ZuoraApi>>,
}

impl ZuoraTenants {
    pub fn new(clients: impl IntoIterator<Item = (EntityId, Arc<dyn ZuoraApi>)>) -> Self {
        Self {
            clients: clients.into_iter().collect(),
        }
    }

    pub fn get(&self, entity: &EntityId) -> Option<&Arc<dyn ZuoraApi>> {
        self.clients.get(entity)
    }

    pub fn contains(&self, entity: &EntityId) -> bool {
        self.clients.contains_key(entity)
    }

    pub fn entities(&self) -> impl Iterator<Item = &EntityId> {
        self.clients.keys()
    }
}
