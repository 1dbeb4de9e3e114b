//! The Salesforce push state in memory: push leases, pushed records, waiting marks (written by
//! the mirror's commit), the failure list and each entity's status, with the conditions of
//! `adapters/dynamo/push.rs`.

use super::store::{MemoryStore, State};
use crate::model::{EntityId, EpochMillis, PushFailure, PushStatus, Pushed, PushedRecords};
use crate::ports::{PushEnd, PushLease, PushStatusUpdate, PushStore, StoreError};
use std::collections::{BTreeMap, BTreeSet, HashMap};

#[derive(Debug, Default, Clone)]
struct PushItem {
    fence: u64,
    lease_until: Option<EpochMillis>,
    pushed: PushedRecords,
    intents: BTreeSet<String>,
}

#[derive(Debug, Default)]
pub(super) struct PushTable {
    items: HashMap<(EntityId, String), PushItem>,
    /// Waiting marks per entity: account → mark time.
    pending: HashMap<EntityId, BTreeMap<String, EpochMillis>>,
    failures: HashMap<EntityId, BTreeMap<String, PushFailure>>,
    status: HashMap<EntityId, PushStatus>,
}

impl PushTable {
    /// The commit's mark (a put: a later commit's time replaces an earlier one's).
    pub(super) fn mark(&mut self, entity: &EntityId, account: &str, now: EpochMillis) {
        self.pending
            .entry(entity.clone())
            .or_default()
            .insert(account.to_string(), now);
    }

    fn begin(
        &mut self,
        entity: &EntityId,
        account: &str,
        lease_until: EpochMillis,
        now: EpochMillis,
    ) -> Option<PushLease> {
        let item = self
            .items
            .entry((entity.clone(), account.to_string()))
            .or_default();
        if item.lease_until.is_some_and(|until| until > now) {
            return None;
        }
        let taken_over = item.lease_until.is_some();
        item.fence += 1;
        item.lease_until = Some(lease_until);
        let pending_at = self
            .pending
            .get(entity)
            .and_then(|p| p.get(account))
            .copied();
        let mut pushed = item.pushed.clone();
        for key in &item.intents {
            pushed.entry(key.clone()).or_insert_with(Pushed::intent);
        }
        Some(PushLease {
            entity: entity.clone(),
            account_id: account.to_string(),
            fence: item.fence,
            pushed,
            pending_at,
            taken_over,
        })
    }

    fn fenced(&mut self, lease: &PushLease) -> Result<&mut PushItem, StoreError> {
        let key = (lease.entity.clone(), lease.account_id.clone());
        let current = self.items.get(&key).map(|i| i.fence);
        match self.items.get_mut(&key) {
            Some(item) if item.fence == lease.fence => Ok(item),
            _ => Err(StoreError::Fenced {
                held: lease.fence,
                current,
            }),
        }
    }

    fn end(&mut self, lease: &PushLease, end: &PushEnd) -> Result<(), StoreError> {
        let item = self.fenced(lease)?;
        item.pushed = end.pushed.clone();
        item.intents.clear();
        item.lease_until = end.hold_until;
        let pending = self.pending.entry(lease.entity.clone()).or_default();
        if end.complete && pending.get(&lease.account_id) == lease.pending_at.as_ref() {
            pending.remove(&lease.account_id);
        }
        let failures = self.failures.entry(lease.entity.clone()).or_default();
        for id in &end.resolved {
            failures.remove(id);
        }
        for f in &end.failures {
            failures.insert(f.id.clone(), f.clone());
        }
        Ok(())
    }
}

impl MemoryStore {
    /// What the store says was pushed for one account.
    pub fn pushed_records(&self, entity: &EntityId, account: &str) -> PushedRecords {
        self.with_state()
            .push
            .items
            .get(&(entity.clone(), account.to_string()))
            .map(|i| i.pushed.clone())
            .unwrap_or_default()
    }
}

#[async_trait::async_trait]
impl PushStore for MemoryStore {
    async fn begin_push(
        &self,
        entity: &EntityId,
        account_id: &str,
        lease_until: EpochMillis,
        now: EpochMillis,
    ) -> Result<Option<PushLease>, StoreError> {
        self.call(|s| Ok(s.push.begin(entity, account_id, lease_until, now)))
            .await
    }

    async fn record_intents(&self, lease: &PushLease, keys: &[String]) -> Result<(), StoreError> {
        self.call(|s| {
            let item = s.push.fenced(lease)?;
            item.intents.extend(keys.iter().cloned());
            Ok(())
        })
        .await
    }

    async fn end_push(&self, lease: &PushLease, end: &PushEnd) -> Result<(), StoreError> {
        self.call(|s: &mut State| {
            s.push.end(lease, end)?;
            if let Some(event) = &end.event {
                s.events.put(event);
            }
            Ok(())
        })
        .await
    }

    async fn mark_pending(
        &self,
        entity: &EntityId,
        accounts: &[String],
        now: EpochMillis,
    ) -> Result<(), StoreError> {
        self.call(|s| {
            for a in accounts {
                s.push.mark(entity, a, now);
            }
            Ok(())
        })
        .await
    }

    async fn pending_pushes(
        &self,
        entity: &EntityId,
        after: Option<EpochMillis>,
        upto: EpochMillis,
        limit: usize,
    ) -> Result<Vec<(String, EpochMillis)>, StoreError> {
        self.call(|s| {
            let mut out: Vec<(String, EpochMillis)> = s
                .push
                .pending
                .get(entity)
                .map(|p| {
                    p.iter()
                        .filter(|(_, at)| after.is_none_or(|a| **at > a) && **at <= upto)
                        .map(|(a, at)| (a.clone(), *at))
                        .collect()
                })
                .unwrap_or_default();
            out.sort_by_key(|(a, at)| (*at, a.clone()));
            out.truncate(limit);
            Ok(out)
        })
        .await
    }

    async fn failures(
        &self,
        entity: &EntityId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<PushFailure>, StoreError> {
        self.call(|s| {
            Ok(s.push
                .failures
                .get(entity)
                .map(|f| {
                    f.values()
                        .filter(|f| after.is_none_or(|a| f.id.as_str() > a))
                        .take(limit)
                        .cloned()
                        .collect()
                })
                .unwrap_or_default())
        })
        .await
    }

    async fn remove_failures(&self, entity: &EntityId, ids: &[String]) -> Result<(), StoreError> {
        self.call(|s| {
            if let Some(f) = s.push.failures.get_mut(entity) {
                for id in ids {
                    f.remove(id);
                }
            }
            Ok(())
        })
        .await
    }

    async fn push_status(&self, entity: &EntityId) -> Result<PushStatus, StoreError> {
        self.call(|s| Ok(s.push.status.get(entity).cloned().unwrap_or_default()))
            .await
    }

    async fn update_push_status(
        &self,
        entity: &EntityId,
        update: &PushStatusUpdate,
    ) -> Result<(), StoreError> {
        self.call(|s| {
            let status = s.push.status.entry(entity.clone()).or_default();
            if let Some(usage) = update.api_usage {
                status.api_usage = Some(usage);
            }
            if let Some((until, reason)) = &update.paused {
                status.paused_until = Some(*until);
                status.pause_reason = Some(reason.clone());
            }
            if let Some(d) = update.drained_to {
                status.drained_to = Some(d);
            }
            if let Some(r) = update.requeued_at {
                status.requeued_at = Some(r);
            }
            Ok(())
        })
        .await
    }
}
