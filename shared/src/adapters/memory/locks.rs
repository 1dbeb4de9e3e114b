//! Account locks in memory, with exactly the conditions of `adapters/dynamo/locks.rs`
//! (docs/ARCHITECTURE.md, "The lock protocol"). Each method is one atomic step on one lock
//! item, as each of those is one conditional `UpdateItem`.

use super::store::MemoryStore;
use crate::model::{
    Acquire, BusyLock, EntityId, EpochMillis, Fence, HeldLock, LockKey, LockState, Mark, SeenLock,
    Wish,
};
use crate::ports::{LockStore, StoreError};
use std::collections::HashMap;

/// One lock item as DynamoDB would hold it: an attribute that was never written is `None`,
/// because the conditions tell "absent" apart from any value (a queued mark alone makes an
/// item with no fence and no lease).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockItem {
    pub fence: Option<u64>,
    /// Epoch ms; 0 once released.
    pub lease_until: Option<i64>,
    pub holder: Option<String>,
    pub pending: Option<u64>,
    pub acquired_at: Option<i64>,
    pub released_at: Option<i64>,
    pub queued_event: Option<String>,
    pub queued_until: Option<i64>,
    /// The mark's job was sent (requests may fold into it).
    pub queued_confirmed: Option<bool>,
    pub last_on_demand: Option<i64>,
    /// The lease a queued check covers.
    pub check_for: Option<i64>,
    /// When the reads behind the last commit began.
    pub synced_from: Option<i64>,
}

impl LockItem {
    /// What DynamoDB's `lock_state` reads: fence and lease are required attributes there.
    fn state(&self) -> Result<LockState, StoreError> {
        let (Some(fence), Some(lease)) = (self.fence, self.lease_until) else {
            return Err(StoreError::Corrupt(
                "missing number attribute fence or lease_until_ms".into(),
            ));
        };
        Ok(LockState {
            fence: Fence(fence),
            lease_until: EpochMillis(lease),
            pending: self.pending.unwrap_or(0),
            synced_from: self.synced_from.map(EpochMillis),
        })
    }

    /// What a one-write commit reads (the memory store never tears a commit).
    fn seen(&self) -> SeenLock {
        SeenLock {
            fence: self.fence.map(Fence),
            lease_until: self.lease_until.map(EpochMillis),
            pending: self.pending.unwrap_or(0),
            synced_from: self.synced_from.map(EpochMillis),
            released_at: self.released_at.map(EpochMillis),
            torn: false,
            queued: self.queued_event.is_some(),
        }
    }

    /// `attribute_not_exists(lease_until_ms) OR lease_until_ms < :now`.
    fn lease_ended(&self, now: EpochMillis) -> bool {
        self.lease_until.is_none_or(|l| l < now.0)
    }
}

#[derive(Debug, Default)]
pub(super) struct LockTable {
    items: HashMap<LockKey, LockItem>,
}

fn fenced(lock: &HeldLock, item: Option<&LockItem>) -> StoreError {
    StoreError::Fenced {
        held: lock.fence.0,
        current: item.and_then(|i| i.fence),
    }
}

impl LockTable {
    pub(super) fn get(&self, key: &LockKey) -> Option<&LockItem> {
        self.items.get(key)
    }

    /// `fence = :fence` on the holder's item: the condition of every write a holder makes.
    pub(super) fn check_fence(&self, lock: &HeldLock) -> Result<&LockItem, StoreError> {
        match self.items.get(&lock.key) {
            Some(item) if item.fence == Some(lock.fence.0) => Ok(item),
            other => Err(fenced(lock, other)),
        }
    }

    /// A commit's lock condition: the fence, and reads that began after the last commit's
    /// (`attribute_not_exists(synced_from_ms) OR synced_from_ms < :from`).
    pub(super) fn check_commit(
        &self,
        lock: &HeldLock,
        read_from: EpochMillis,
    ) -> Result<&LockItem, StoreError> {
        let item = self.check_fence(lock)?;
        match item.synced_from {
            Some(last) if last >= read_from.0 => Err(StoreError::OlderSnapshot {
                committed: last,
                ours: read_from.0,
            }),
            _ => Ok(item),
        }
    }

    /// The commit records its snapshot's time (its condition checked by the caller).
    pub(super) fn note_synced(&mut self, key: &LockKey, read_from: EpochMillis) {
        if let Some(item) = self.items.get_mut(key) {
            item.synced_from = Some(read_from.0);
        }
    }

    /// A commit's `ADD pending -served` (its fence checked by the caller).
    pub(super) fn remove_wishes(&mut self, key: &LockKey, served: u64) {
        if let Some(item) = self.items.get_mut(key) {
            item.pending = Some(item.pending.unwrap_or(0).saturating_sub(served));
        }
    }

    /// The releasing update of a commit (its condition checked by the caller).
    pub(super) fn release_unchecked(&mut self, key: &LockKey, now: EpochMillis) {
        if let Some(item) = self.items.get_mut(key) {
            item.lease_until = Some(0);
            item.released_at = Some(now.0);
            item.holder = None;
        }
    }

    fn acquire(
        &mut self,
        key: &LockKey,
        owner: &str,
        lease_until: EpochMillis,
        now: EpochMillis,
    ) -> Result<Acquire, StoreError> {
        let item = self.items.entry(key.clone()).or_default();
        if !item.lease_ended(now) {
            let state = item.state()?;
            return Ok(Acquire::Busy(BusyLock {
                fence: state.fence,
                lease_until: state.lease_until,
                pending: state.pending,
            }));
        }
        // Acquiring clears the queued mark and keeps the wishes: this holder's fetch starts
        // now, so its commit serves (and only then removes) them.
        let fence = item.fence.unwrap_or(0) + 1;
        item.fence = Some(fence);
        item.lease_until = Some(lease_until.0);
        item.holder = Some(owner.to_string());
        let wishes = *item.pending.get_or_insert(0);
        item.acquired_at = Some(now.0);
        let cleared_mark = item.queued_event.is_some();
        item.queued_event = None;
        item.queued_until = None;
        item.queued_confirmed = None;
        Ok(Acquire::Acquired(HeldLock {
            key: key.clone(),
            fence: Fence(fence),
            lease_until,
            wishes,
            torn: false,
            // As the DynamoDB adapter: a release without a recorded snapshot time bounds it.
            synced_from: item.synced_from.or(item.released_at).map(EpochMillis),
            cleared_mark,
        }))
    }

    fn add_wish(&mut self, key: &LockKey, holder: Fence, now: EpochMillis) -> Wish {
        // `fence = :fence AND lease_until_ms >= :now`: a wish on a released or expired lock
        // would be served by nobody.
        match self.items.get_mut(key) {
            Some(item)
                if item.fence == Some(holder.0) && item.lease_until.is_some_and(|l| l >= now.0) =>
            {
                item.pending = Some(item.pending.unwrap_or(0) + 1);
                let claimed = item.check_for.replace(item.lease_until.unwrap_or(0));
                Wish::Recorded {
                    check_needed: claimed != item.lease_until,
                }
            }
            _ => Wish::LockChanged,
        }
    }

    fn unclaim_check(&mut self, key: &LockKey, holder: Fence, lease_until: EpochMillis) {
        if let Some(item) = self.items.get_mut(key)
            && item.fence == Some(holder.0)
            && item.check_for == Some(lease_until.0)
        {
            item.check_for = None;
        }
    }

    fn pending_wishes(&mut self, lock: &HeldLock) -> Result<u64, StoreError> {
        Ok(self.check_fence(lock)?.pending.unwrap_or(0))
    }

    fn release(&mut self, lock: &HeldLock, now: EpochMillis) -> Result<(), StoreError> {
        // Only the fence: wishes stay recorded for the pending check to find.
        self.check_fence(lock)?;
        self.release_unchecked(&lock.key, now);
        Ok(())
    }

    fn seen(&self, key: &LockKey) -> SeenLock {
        self.items.get(key).map(LockItem::seen).unwrap_or_default()
    }

    /// A one-write commit's lock update: its condition (the item as seen, free, with no
    /// wishes or queued mark, and an older snapshot committed last), then the take and
    /// release in one step, which moves the fence.
    pub(super) fn take_and_release(
        &mut self,
        key: &LockKey,
        seen: &SeenLock,
        read_from: EpochMillis,
        now: EpochMillis,
    ) -> Result<(), StoreError> {
        let current = self.seen(key);
        let unchanged = current.fence == seen.fence && current.synced_from == seen.synced_from;
        let free = current.lease_until.is_none_or(|l| l.0 < now.0)
            && current.pending == 0
            && !current.queued;
        if !unchanged || !free {
            return Err(StoreError::Fenced {
                held: seen.fence.map_or(0, |f| f.0),
                current: current.fence.map(|f| f.0),
            });
        }
        let item = self.items.entry(key.clone()).or_default();
        item.fence = Some(item.fence.unwrap_or(0) + 1);
        item.synced_from = Some(read_from.0);
        item.lease_until = Some(0);
        item.released_at = Some(now.0);
        item.pending = Some(0);
        item.holder = None;
        Ok(())
    }

    fn peek(&self, key: &LockKey) -> Result<Option<LockState>, StoreError> {
        // As DynamoDB's: an item that holds only a queued mark or an on-demand time (never
        // acquired, so no fence) does not read as a lock state.
        self.items.get(key).map(LockItem::state).transpose()
    }

    fn mark_queued(
        &mut self,
        key: &LockKey,
        event_id: &str,
        now: EpochMillis,
        mark_until: EpochMillis,
        min_interval: Option<std::time::Duration>,
    ) -> Result<Mark, StoreError> {
        let interval_ms = min_interval.map(|d| d.as_millis() as i64);
        let existing = self.items.get(key);
        let free = existing.is_none_or(|i| i.lease_ended(now));
        let unmarked = existing.is_none_or(|i| i.queued_until.is_none_or(|q| q < now.0));
        let interval_passed = match interval_ms {
            Some(ms) if ms > 0 => {
                existing.is_none_or(|i| i.last_on_demand.is_none_or(|l| l <= now.0 - ms))
            }
            _ => true,
        };
        if free && unmarked && interval_passed {
            let item = self.items.entry(key.clone()).or_default();
            item.queued_event = Some(event_id.to_string());
            item.queued_until = Some(mark_until.0);
            item.queued_confirmed = Some(false);
            if interval_ms.is_some() {
                // On-demand requests record when they were let through, for the interval.
                item.last_on_demand = Some(now.0);
            }
            return Ok(Mark::Marked);
        }
        let old = existing.expect("an absent item meets every clause");
        // Which clause refused it, in the order a caller should hear about it.
        if let (Some(ms), Some(last)) = (interval_ms, old.last_on_demand)
            && ms > 0
            && last > now.0 - ms
        {
            return Ok(Mark::Throttled {
                retry_at: EpochMillis(last + ms),
            });
        }
        let lease_until = old.lease_until.unwrap_or(0);
        if lease_until >= now.0 {
            return Ok(Mark::Running(BusyLock {
                fence: Fence(old.fence.unwrap_or(0)),
                lease_until: EpochMillis(lease_until),
                pending: old.pending.unwrap_or(0),
            }));
        }
        match &old.queued_event {
            Some(event_id) => Ok(Mark::Queued {
                event_id: event_id.clone(),
                confirmed: old.queued_confirmed.unwrap_or(true),
            }),
            None => Err(StoreError::Corrupt(
                "queued mark refused, but the item shows no reason".into(),
            )),
        }
    }

    fn clear_mark(&mut self, key: &LockKey, event_id: &str) -> Option<EpochMillis> {
        // Someone else's mark, or none: nothing of ours to clear; the time is answered anyway.
        let item = self.items.get_mut(key)?;
        if item.queued_event.as_deref() == Some(event_id) {
            item.queued_event = None;
            item.queued_until = None;
            item.queued_confirmed = None;
        }
        item.last_on_demand.map(EpochMillis)
    }

    fn confirm_mark(&mut self, key: &LockKey, event_id: &str, until: EpochMillis) {
        if let Some(item) = self.items.get_mut(key)
            && item.queued_event.as_deref() == Some(event_id)
        {
            item.queued_until = Some(until.0);
            item.queued_confirmed = Some(true);
        }
    }

    fn note_on_demand(&mut self, key: &LockKey, at: EpochMillis) {
        let item = self.items.entry(key.clone()).or_default();
        if item.last_on_demand.is_none_or(|l| l < at.0) {
            item.last_on_demand = Some(at.0);
        }
    }
}

impl MemoryStore {
    /// The lock item under `key` as stored (`None`: never written).
    pub fn lock_item(&self, key: &LockKey) -> Option<LockItem> {
        self.with_state().locks.get(key).cloned()
    }

    /// Every lock item of the entity (locks, queued marks, lookup marks), by key.
    pub fn lock_items(&self, entity: &EntityId) -> Vec<(LockKey, LockItem)> {
        let state = self.with_state();
        let mut items: Vec<(LockKey, LockItem)> = state
            .locks
            .items
            .iter()
            .filter(|(k, _)| &k.entity == entity)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        items.sort_by(|a, b| a.0.account_id.cmp(&b.0.account_id));
        items
    }
}

#[async_trait::async_trait]
impl LockStore for MemoryStore {
    async fn acquire(
        &self,
        key: &LockKey,
        owner: &str,
        lease_until: EpochMillis,
        now: EpochMillis,
    ) -> Result<Acquire, StoreError> {
        self.call(|s| s.locks.acquire(key, owner, lease_until, now))
            .await
    }

    async fn add_wish(
        &self,
        key: &LockKey,
        holder: Fence,
        now: EpochMillis,
    ) -> Result<Wish, StoreError> {
        self.call(|s| Ok(s.locks.add_wish(key, holder, now))).await
    }

    async fn unclaim_check(
        &self,
        key: &LockKey,
        holder: Fence,
        lease_until: EpochMillis,
    ) -> Result<(), StoreError> {
        self.call(|s| {
            s.locks.unclaim_check(key, holder, lease_until);
            Ok(())
        })
        .await
    }

    async fn pending_wishes(&self, lock: &HeldLock) -> Result<u64, StoreError> {
        self.call(|s| s.locks.pending_wishes(lock)).await
    }

    async fn release(&self, lock: &HeldLock, now: EpochMillis) -> Result<(), StoreError> {
        self.call(|s| s.locks.release(lock, now)).await
    }

    async fn peek(&self, key: &LockKey) -> Result<Option<LockState>, StoreError> {
        self.call(|s| s.locks.peek(key)).await
    }

    async fn seen_locks(&self, keys: &[LockKey]) -> Result<Vec<SeenLock>, StoreError> {
        self.call(|s| Ok(keys.iter().map(|k| s.locks.seen(k)).collect()))
            .await
    }

    async fn mark_queued(
        &self,
        key: &LockKey,
        event_id: &str,
        now: EpochMillis,
        mark_until: EpochMillis,
        min_interval: Option<std::time::Duration>,
    ) -> Result<Mark, StoreError> {
        self.call(|s| {
            s.locks
                .mark_queued(key, event_id, now, mark_until, min_interval)
        })
        .await
    }

    async fn confirm_mark(
        &self,
        key: &LockKey,
        event_id: &str,
        until: EpochMillis,
    ) -> Result<(), StoreError> {
        self.call(|s| {
            s.locks.confirm_mark(key, event_id, until);
            Ok(())
        })
        .await
    }

    async fn clear_mark(
        &self,
        key: &LockKey,
        event_id: &str,
    ) -> Result<Option<EpochMillis>, StoreError> {
        self.call(|s| Ok(s.locks.clear_mark(key, event_id))).await
    }

    async fn note_on_demand(&self, key: &LockKey, at: EpochMillis) -> Result<(), StoreError> {
        self.call(|s| {
            s.locks.note_on_demand(key, at);
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests;
