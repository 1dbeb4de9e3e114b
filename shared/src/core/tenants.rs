//! Each configured entity's Zuora connection.

use crate::model::EntityId;
use crate::ports::ZuoraApi;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The entities a function serves and, where it calls Zuora, each one's connection. Each
/// entity has its own client, so its token and its cap on concurrent requests are its own.
#[derive(Clone, Default)]
pub struct ZuoraTenants {
    entities: BTreeSet<EntityId>,
    clients: BTreeMap<EntityId, Arc<dyn ZuoraApi>>,
}

impl ZuoraTenants {
    pub fn new(clients: impl IntoIterator<Item = (EntityId, Arc<dyn ZuoraApi>)>) -> Self {
        let clients: BTreeMap<_, _> = clients.into_iter().collect();
        Self {
            entities: clients.keys().cloned().collect(),
            clients,
        }
    }

    /// Entities served by a function that never calls Zuora (post-login only queues work): it
    /// knows which entities exist, but holds no client and no credentials.
    pub fn without_clients(entities: impl IntoIterator<Item = EntityId>) -> Self {
        Self {
            entities: entities.into_iter().collect(),
            clients: BTreeMap::new(),
        }
    }

    /// The entity's Zuora client; `None` for an unknown entity or in a function without clients.
    pub fn get(&self, entity: &EntityId) -> Option<&Arc<dyn ZuoraApi>> {
        self.clients.get(entity)
    }

    pub fn contains(&self, entity: &EntityId) -> bool {
        self.entities.contains(entity)
    }

    pub fn entities(&self) -> impl Iterator<Item = &EntityId> {
        self.entities.iter()
    }
}
