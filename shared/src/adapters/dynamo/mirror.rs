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

    async fn commit_free(&self, commits: &[FreeCommit<'_>]) -> Vec<Result<(), StoreError>> {
        self.commit_free_all(commits).await
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
        commit: CommitRequest<'_>,
    ) -> Result<Commit, StoreError> {
        let (plan, event) = (commit.plan, commit.event);
        let entity = &lock.key.entity;
        let data = self.data_items(entity, plan)?;
        // Each chunk carries the fence check, so a holder that lost its lock cannot write any
        // part. Chunks beyond the first are only needed for accounts with ~100+ records.
        let mut chunks = chunked(data, event_bytes(event));
        let last = chunks.pop().unwrap_or_default();
        // Several transactions: the first marks the commit torn until the last completes it
        // (also a previous holder's torn commit, which this one completes whatever its size).
        let complete = !chunks.is_empty() || lock.torn;
        for (i, chunk) in chunks.into_iter().enumerate() {
            let mut items = if i == 0 {
                self.torn_marks(lock, &commit)?.to_vec()
            } else {
                vec![self.fence_check_item(lock)?]
            };
            items.extend(chunk);
            if let Err(state) = self.transact(lock, items).await? {
                return Err(refusal(lock, &commit, &state));
            }
        }
        let finish = |release: bool| -> Result<Vec<TransactWriteItem>, StoreError> {
            let mut items = vec![self.commit_lock_item(lock, &commit, release, complete)?];
            if complete {
                items.push(self.torn_list_item(lock, "DELETE")?);
            }
            items.extend(last.iter().cloned());
            if plan.push {
                items.push(self.pending_put(entity, &plan.account_id, commit.now)?);
            }
            items.push(self.event_put(event)?);
            Ok(items)
        };
        let release = commit.release;
        match self.transact(lock, finish(release)?).await? {
            Ok(()) if release => Ok(Commit::Released),
            Ok(()) => Ok(Commit::KeptForWishes),
            Err(state) if release && wishes_arrived(lock, &commit, &state) => {
                // Wishes arrived during the sync: write without releasing (still removing the
                // served ones); the caller runs the follow-up and releases after it.
                match self.transact(lock, finish(false)?).await? {
                    Ok(()) => Ok(Commit::KeptForWishes),
                    Err(state) => Err(refusal(lock, &commit, &state)),
                }
            }
            Err(state) => Err(refusal(lock, &commit, &state)),
        }
    }
}

/// The releasing commit failed only because more wishes than it serves are pending.
fn wishes_arrived(lock: &HeldLock, commit: &CommitRequest<'_>, state: &LockState) -> bool {
    state.fence == lock.fence
        && state.pending > commit.served
        && state.synced_from.is_none_or(|last| last < commit.read_from)
}

/// Why the lock item refused a commit: a newer snapshot is committed, or the fence moved.
fn refusal(lock: &HeldLock, commit: &CommitRequest<'_>, state: &LockState) -> StoreError {
    match state.synced_from {
        Some(last) if state.fence == lock.fence && last >= commit.read_from => {
            StoreError::OlderSnapshot {
                committed: last.0,
                ours: commit.read_from.0,
            }
        }
        _ => StoreError::Fenced {
            held: lock.fence.0,
            current: Some(state.fence.0),
        },
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

/// What one transaction may carry besides the lock item and the event: DynamoDB allows 100
/// actions and 4 MB, and its own accounting of a request is a little over ours, so the
/// budget keeps half a megabyte back.
pub(super) const TRANSACTION_BYTES: usize = 3_500_000;

/// The data writes in transaction-sized chunks, in order: at most 96 actions (the lock item,
/// the torn-commit list and, in the last chunk, the Salesforce waiting mark and the event make
/// 100) and [`TRANSACTION_BYTES`] each, the last chunk
/// leaving room for the event.
fn chunked(data: Vec<TransactWriteItem>, event: usize) -> Vec<Vec<TransactWriteItem>> {
    // Besides the data: the lock item, the torn-commit list item and (last) the Salesforce
    // waiting mark and the event.
    let per_chunk = MAX_TRANSACTION_ITEMS - 4;
    let mut chunks: Vec<Vec<TransactWriteItem>> = vec![Vec::new()];
    let mut bytes = 0;
    for item in data {
        let size = write_bytes(&item);
        let current = chunks.last_mut().expect("there is always a chunk");
        if !current.is_empty() && (current.len() == per_chunk || bytes + size > TRANSACTION_BYTES) {
            chunks.push(Vec::new());
            bytes = 0;
        }
        chunks.last_mut().expect("just pushed").push(item);
        bytes += size;
    }
    // The event rides in the last chunk: its last writes move to a chunk of their own (in
    // order) until it fits.
    let mut tail = Vec::new();
    let last = chunks.last_mut().expect("there is always a chunk");
    while bytes + event > TRANSACTION_BYTES && last.len() > 1 {
        let moved = last.pop().expect("checked");
        bytes -= write_bytes(&moved);
        tail.insert(0, moved);
    }
    if !tail.is_empty() {
        chunks.push(tail);
    }
    chunks
}

/// About what an item weighs in a request: attribute names and values.
fn value_bytes(v: &aws_sdk_dynamodb::types::AttributeValue) -> usize {
    use aws_sdk_dynamodb::types::AttributeValue as Av;
    match v {
        Av::S(s) | Av::N(s) => s.len(),
        Av::B(b) => b.as_ref().len(),
        Av::M(m) => {
            3 + m
                .iter()
                .map(|(k, v)| k.len() + value_bytes(v) + 1)
                .sum::<usize>()
        }
        Av::L(l) => 3 + l.iter().map(|v| value_bytes(v) + 1).sum::<usize>(),
        Av::Ss(items) | Av::Ns(items) => items.iter().map(String::len).sum(),
        _ => 1,
    }
}

fn item_bytes(
    item: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
) -> usize {
    item.iter().map(|(k, v)| k.len() + value_bytes(v)).sum()
}

/// A write's weight: a put's item, or a small fixed cost for a key and its expressions.
pub(super) fn write_bytes(write: &TransactWriteItem) -> usize {
    const KEY_AND_EXPRESSIONS: usize = 1024;
    KEY_AND_EXPRESSIONS + write.put().map_or(0, |p| item_bytes(p.item()))
}

fn event_bytes(event: &SyncEvent) -> usize {
    serde_json::to_string(event).map_or(64 * 1024, |s| 2 * s.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::{AttributeValue, Put};

    fn put(bytes: usize) -> TransactWriteItem {
        let put = Put::builder()
            .table_name("t")
            .item("pk", AttributeValue::S("x".repeat(bytes)))
            .build()
            .unwrap();
        TransactWriteItem::builder().put(put).build()
    }

    #[test]
    fn chunks_hold_at_most_96_writes_and_the_byte_budget() {
        let by_count = chunked((0..250).map(|_| put(10)).collect(), 100);
        assert_eq!(
            by_count.iter().map(Vec::len).collect::<Vec<_>>(),
            [96, 96, 58]
        );
        // 120 writes of 50 KB: about 6 MB, over 4 MB in 98 writes.
        let by_bytes = chunked((0..120).map(|_| put(50_000)).collect(), 100);
        assert!(by_bytes.len() >= 2);
        for chunk in &by_bytes {
            let bytes: usize = chunk.iter().map(write_bytes).sum();
            assert!(bytes <= TRANSACTION_BYTES, "{bytes}");
        }
        assert_eq!(
            by_bytes.iter().map(Vec::len).sum::<usize>(),
            120,
            "in order, none lost"
        );
        // A big event moves the last write out of the last chunk.
        let full = chunked((0..69).map(|_| put(50_000)).collect(), 200_000);
        let last: usize = full.last().unwrap().iter().map(write_bytes).sum();
        assert!(last + 200_000 <= TRANSACTION_BYTES);
    }
}
