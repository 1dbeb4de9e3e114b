//! Account locks in memory, with exactly the conditions of `adapters/dynamo/locks.rs`
//! (docs/ARCHITECTURE.md, "The lock protocol"). Each method is one atomic step on one lock
//! item, as each of those is one conditional `UpdateItem`.

use super::store::MemoryStore;
use crate::model::{
    Acquire, BusyLock, EpochMillis, Fence, HeldLock, LockKey, LockState, Mark, Wish,
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
    pub last_on_demand: Option<i64>,
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
        })
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
        // Acquiring clears the wishes and the queued mark: this holder's fetch starts now,
        // so it sees every change they were about.
        let fence = item.fence.unwrap_or(0) + 1;
        item.fence = Some(fence);
        item.lease_until = Some(lease_until.0);
        item.holder = Some(owner.to_string());
        item.pending = Some(0);
        item.acquired_at = Some(now.0);
        item.queued_event = None;
        item.queued_until = None;
        Ok(Acquire::Acquired(HeldLock {
            key: key.clone(),
            fence: Fence(fence),
            lease_until,
        }))
    }

    fn add_wish(&mut self, key: &LockKey, holder: Fence, now: EpochMillis) -> Wish {
        // `fence = :fence AND lease_until_ms >= :now`: a wish on a released or expired lock
        // would be served by nobody.
        match self.items.get_mut(key) {
            Some(item)
                if item.fence == Some(holder.0) && item.lease_until.is_some_and(|l| l >= now.0) =>
            {
                let pending = item.pending.unwrap_or(0) + 1;
                item.pending = Some(pending);
                Wish::Recorded {
                    first: pending == 1,
                }
            }
            _ => Wish::LockChanged,
        }
    }

    fn take_wishes(&mut self, lock: &HeldLock) -> Result<u64, StoreError> {
        self.check_fence(lock)?;
        let item = self.items.get_mut(&lock.key).expect("checked above");
        Ok(item.pending.replace(0).unwrap_or(0))
    }

    fn release(&mut self, lock: &HeldLock, now: EpochMillis) -> Result<(), StoreError> {
        // Only the fence: wishes stay recorded for the pending check to find.
        self.check_fence(lock)?;
        self.release_unchecked(&lock.key, now);
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
        }
        item.last_on_demand.map(EpochMillis)
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

    async fn take_wishes(&self, lock: &HeldLock) -> Result<u64, StoreError> {
        self.call(|s| s.locks.take_wishes(lock)).await
    }

    async fn release(&self, lock: &HeldLock, now: EpochMillis) -> Result<(), StoreError> {
        self.call(|s| s.locks.release(lock, now)).await
    }

    async fn peek(&self, key: &LockKey) -> Result<Option<LockState>, StoreError> {
        self.call(|s| s.locks.peek(key)).await
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
mod tests {
    use super::*;
    use crate::model::EntityId;
    use std::time::Duration;

    fn key() -> LockKey {
        LockKey {
            entity: EntityId::parse("e").unwrap(),
            account_id: "acc".into(),
        }
    }

    fn held(t: &mut LockTable, lease: i64, now: i64) -> HeldLock {
        match t
            .acquire(&key(), "me", EpochMillis(lease), EpochMillis(now))
            .unwrap()
        {
            Acquire::Acquired(lock) => lock,
            busy => panic!("{busy:?}"),
        }
    }

    #[test]
    fn acquire_needs_a_free_or_ended_lease_and_bumps_the_fence() {
        let mut t = LockTable::default();
        let first = held(&mut t, 100, 0);
        assert_eq!(first.fence, Fence(1));
        let busy = t.acquire(&key(), "you", EpochMillis(200), EpochMillis(100));
        assert_eq!(
            busy.unwrap(),
            Acquire::Busy(BusyLock {
                fence: Fence(1),
                lease_until: EpochMillis(100),
                pending: 0
            })
        );
        assert_eq!(held(&mut t, 300, 101).fence, Fence(2), "the lease ended");
        let lock = HeldLock {
            fence: Fence(2),
            ..first
        };
        t.release(&lock, EpochMillis(150)).unwrap();
        assert_eq!(held(&mut t, 400, 151).fence, Fence(3), "released");
    }

    #[test]
    fn wishes_need_the_holders_fence_and_a_live_lease() {
        let mut t = LockTable::default();
        assert_eq!(
            t.add_wish(&key(), Fence(1), EpochMillis(0)),
            Wish::LockChanged
        );
        let lock = held(&mut t, 100, 0);
        let now = EpochMillis(50);
        assert_eq!(
            t.add_wish(&key(), Fence(1), now),
            Wish::Recorded { first: true }
        );
        assert_eq!(
            t.add_wish(&key(), Fence(1), now),
            Wish::Recorded { first: false }
        );
        assert_eq!(t.add_wish(&key(), Fence(2), now), Wish::LockChanged);
        assert_eq!(
            t.add_wish(&key(), Fence(1), EpochMillis(101)),
            Wish::LockChanged
        );
        assert_eq!(t.take_wishes(&lock).unwrap(), 2);
        assert_eq!(t.take_wishes(&lock).unwrap(), 0);
        t.add_wish(&key(), Fence(1), now);
        // Releasing keeps wishes for the pending check; a released lock takes no new ones.
        t.release(&lock, now).unwrap();
        assert_eq!(t.peek(&key()).unwrap().unwrap().pending, 1);
        assert_eq!(t.add_wish(&key(), Fence(1), now), Wish::LockChanged);
        // The next holder starts with none.
        held(&mut t, 200, 60);
        assert_eq!(t.peek(&key()).unwrap().unwrap().pending, 0);
    }

    #[test]
    fn a_taken_over_holder_is_fenced() {
        let mut t = LockTable::default();
        let old = held(&mut t, 100, 0);
        held(&mut t, 300, 101);
        let fenced = StoreError::Fenced {
            held: 1,
            current: Some(2),
        };
        assert_eq!(t.take_wishes(&old), Err(fenced.clone()));
        assert_eq!(t.release(&old, EpochMillis(102)), Err(fenced));
        assert_eq!(
            t.peek(&key()).unwrap().unwrap().lease_until,
            EpochMillis(300)
        );
    }

    #[test]
    fn the_queued_mark_coalesces_and_throttles_in_order() {
        let mut t = LockTable::default();
        let min = Some(Duration::from_millis(1_000));
        let mark = |t: &mut LockTable, id: &str, now: i64| {
            t.mark_queued(&key(), id, EpochMillis(now), EpochMillis(now + 500), min)
                .unwrap()
        };
        assert_eq!(mark(&mut t, "e1", 0), Mark::Marked);
        // A mark-only item has no lock state to read, as in DynamoDB.
        assert!(matches!(t.peek(&key()), Err(StoreError::Corrupt(_))));
        assert_eq!(
            mark(&mut t, "e2", 100),
            Mark::Throttled {
                retry_at: EpochMillis(1_000)
            },
            "the interval is reported first"
        );
        let no_interval = t.mark_queued(&key(), "e3", EpochMillis(100), EpochMillis(600), None);
        assert_eq!(
            no_interval.unwrap(),
            Mark::Queued {
                event_id: "e1".into()
            }
        );
        // Only its own mark is cleared; the on-demand time is answered either way.
        assert_eq!(t.clear_mark(&key(), "e3"), Some(EpochMillis(0)));
        assert_eq!(t.get(&key()).unwrap().queued_event.as_deref(), Some("e1"));
        assert_eq!(t.clear_mark(&key(), "e1"), Some(EpochMillis(0)));
        assert_eq!(t.get(&key()).unwrap().queued_event, None);
        // A running sync is reported as such; acquiring cleared nothing it needed.
        let lock = held(&mut t, 5_000, 200);
        t.add_wish(&key(), lock.fence, EpochMillis(200));
        assert_eq!(
            mark(&mut t, "e4", 1_200),
            Mark::Running(BusyLock {
                fence: Fence(1),
                lease_until: EpochMillis(5_000),
                pending: 1
            })
        );
        assert_eq!(mark(&mut t, "e5", 5_001), Mark::Marked);
        // The mark expires on its own.
        assert_eq!(mark(&mut t, "e6", 6_002), Mark::Marked);
    }

    #[test]
    fn on_demand_times_only_move_forward() {
        let mut t = LockTable::default();
        t.note_on_demand(&key(), EpochMillis(50));
        t.note_on_demand(&key(), EpochMillis(20));
        assert_eq!(t.get(&key()).unwrap().last_on_demand, Some(50));
        assert_eq!(t.clear_mark(&key(), "none"), Some(EpochMillis(50)));
    }
}
