//! The mirror: account-number lookups, loading an account's records, the fenced commit.

use super::items::*;
use super::{DynamoStore, MAX_TRANSACTION_ITEMS, unavailable};
use crate::model::*;
use crate::ports::*;
use aws_sdk_dynamodb::types::TransactWriteItem;

#[async_trait::async_trait]
impl MirrorStore for DynamoStore {
    async fn resolve_account(
        &self,
        entity: &EntityId,
        account_number: &str,
    ) -> Result<Option<String>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.mirror)
            .key("pk", s(account_number_pk(entity, account_number)))
            .key("sk", s(ACCOUNT_NUMBER_SK))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item().and_then(|i| opt_s(i, "account_id")))
    }

    async fn load_account(
        &self,
        entity: &EntityId,
        account_id: &str,
    ) -> Result<StoredAccount, StoreError> {
        let mut stored = StoredAccount::default();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.tables.mirror)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(account_pk(entity, account_id)))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            for item in out.items() {
                let sk = get_s(item, "sk")?;
                if let Some(target) = sk.strip_prefix(MAP_PREFIX) {
                    stored
                        .id_map
                        .insert(target.to_string(), get_s(item, "local_id")?.to_string());
                } else {
                    stored.records.insert(sk.to_string(), item_record(item)?);
                }
            }
            start = out.last_evaluated_key().cloned();
            if start.is_none() {
                return Ok(stored);
            }
        }
    }

    async fn find_local_id(
        &self,
        entity: &EntityId,
        local_id: &str,
    ) -> Result<Option<(String, RecordKind)>, StoreError> {
        self.local_id_owner(entity, local_id).await
    }

    async fn commit(
        &self,
        lock: &HeldLock,
        plan: &WritePlan,
        event: &SyncEvent,
        release: bool,
        served: u64,
        now: EpochMillis,
    ) -> Result<Commit, StoreError> {
        let entity = &lock.key.entity;
        let data = self.data_items(entity, plan)?;
        // Each chunk carries the fence check, so a holder that lost its lock cannot write any
        // part. Chunks beyond the first are only needed for accounts with ~100+ records.
        let per_chunk = MAX_TRANSACTION_ITEMS - 2;
        let mut chunks: Vec<Vec<TransactWriteItem>> = data
            .chunks(per_chunk)
            .map(<[TransactWriteItem]>::to_vec)
            .collect();
        let last = chunks.pop().unwrap_or_default();
        for chunk in chunks {
            let mut items = vec![self.lock_condition_item(lock, false, 0, now)?];
            items.extend(chunk);
            if let Err(state) = self.transact(lock, items).await? {
                return Err(StoreError::Fenced {
                    held: lock.fence.0,
                    current: Some(state.fence.0),
                });
            }
        }
        let mut items = vec![self.lock_condition_item(lock, release, served, now)?];
        items.extend(last.iter().cloned());
        items.push(self.event_put(event)?);
        match self.transact(lock, items).await? {
            Ok(()) if release => Ok(Commit::Released),
            Ok(()) => Ok(Commit::KeptForWishes),
            Err(state) if release && state.fence == lock.fence && state.pending > served => {
                // Wishes arrived during the sync: write without releasing (still removing the
                // served ones); the caller runs the follow-up and releases after it.
                let mut items = vec![self.lock_condition_item(lock, false, served, now)?];
                items.extend(last);
                items.push(self.event_put(event)?);
                match self.transact(lock, items).await? {
                    Ok(()) => Ok(Commit::KeptForWishes),
                    Err(state) => Err(StoreError::Fenced {
                        held: lock.fence.0,
                        current: Some(state.fence.0),
                    }),
                }
            }
            Err(state) => Err(StoreError::Fenced {
                held: lock.fence.0,
                current: Some(state.fence.0),
            }),
        }
    }
}

impl DynamoStore {
    async fn local_id_owner(
        &self,
        entity: &EntityId,
        local_id: &str,
    ) -> Result<Option<(String, RecordKind)>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.tables.mirror)
            .index_name("by_local_id")
            .key_condition_expression("local_id = :id")
            .expression_attribute_values(":id", s(local_id))
            .limit(5)
            .send()
            .await
            .map_err(unavailable)?;
        // The index spans entities; ids are unique, but only this entity's may answer.
        let found = out
            .items()
            .iter()
            .find(|i| opt_s(i, "entity").as_deref() == Some(entity.as_str()));
        let Some(item) = found else {
            return Ok(None);
        };
        let kind = get_s(item, "record_kind")?;
        let kind = RecordKind::parse(kind)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown record kind {kind}")))?;
        Ok(Some((get_s(item, "account_id")?.to_string(), kind)))
    }
}
