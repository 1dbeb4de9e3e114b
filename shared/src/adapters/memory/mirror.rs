//! The mirror in memory: account-number lookups, the local-id index and the fenced commit of
//! `adapters/dynamo/mirror.rs`, applied all or nothing.

use super::store::{MemoryStore, State};
use crate::model::{CUSTOMER_SK, Commit, EntityId, HeldLock, RecordKind, StoredAccount, WritePlan};
use crate::ports::{CommitRequest, FreeCommit, MirrorStore, StoreError};
use std::collections::HashMap;

/// One record write a commit made, in commit order: what a test asserts "was written".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorWrite {
    pub entity: EntityId,
    pub account_id: String,
    pub sk: String,
    /// `true` for a removed record, `false` for a put.
    pub removed: bool,
}

#[derive(Debug, Default)]
pub(super) struct MirrorTable {
    accounts: HashMap<(EntityId, String), StoredAccount>,
    /// Account number → account id (the `ACCTNUM` items).
    numbers: HashMap<(EntityId, String), String>,
    /// Local id → (account id, kind) (the `by_local_id` index of the id-map items).
    local_ids: HashMap<(EntityId, String), (String, RecordKind)>,
    log: Vec<MirrorWrite>,
}

impl MirrorTable {
    fn load(&self, entity: &EntityId, account_id: &str) -> StoredAccount {
        self.accounts
            .get(&(entity.clone(), account_id.to_string()))
            .cloned()
            .unwrap_or_default()
    }

    /// Whether every id-map put of the plan meets its `attribute_not_exists(pk)`: ids are
    /// issued once, a racing second issue fails instead of silently changing an id.
    fn ids_unissued(&self, entity: &EntityId, plan: &WritePlan) -> bool {
        let stored = self
            .accounts
            .get(&(entity.clone(), plan.account_id.clone()));
        plan.new_ids
            .iter()
            .all(|(sk, _, _)| stored.is_none_or(|a| !a.id_map.contains_key(sk)))
    }

    fn apply(&mut self, entity: &EntityId, plan: &WritePlan) {
        let key = (entity.clone(), plan.account_id.clone());
        let account = self.accounts.entry(key).or_default();
        let log = |sk: &str, removed: bool| MirrorWrite {
            entity: entity.clone(),
            account_id: plan.account_id.clone(),
            sk: sk.to_string(),
            removed,
        };
        let mut written = Vec::new();
        for record in &plan.puts {
            account.records.insert(record.sk.clone(), record.clone());
            written.push(log(&record.sk, false));
            if record.sk == CUSTOMER_SK {
                self.numbers.insert(
                    (entity.clone(), plan.account_number.clone()),
                    plan.account_id.clone(),
                );
            }
        }
        for (sk, local_id, kind) in &plan.new_ids {
            account.id_map.insert(sk.clone(), local_id.clone());
            self.local_ids.insert(
                (entity.clone(), local_id.clone()),
                (plan.account_id.clone(), *kind),
            );
        }
        for sk in &plan.deletes {
            account.records.remove(sk);
            written.push(log(sk, true));
        }
        self.log.extend(written);
    }
}

impl State {
    /// The commit transaction: the lock condition first (as the first action of the
    /// DynamoDB transaction), then the id-map conditions, then every write at once.
    fn commit(&mut self, lock: &HeldLock, commit: CommitRequest<'_>) -> Result<Commit, StoreError> {
        let CommitRequest {
            plan,
            event,
            release,
            served,
            read_from,
            now,
        } = commit;
        let entity = &lock.key.entity;
        let item = self.locks.check_commit(lock, read_from)?;
        // The releasing update is conditioned on `pending = served`; when more wishes are
        // pending the DynamoDB adapter writes again without releasing, which is what happens
        // here. Either way the served wishes are removed with the write.
        let pending = item.pending.unwrap_or(0);
        let releases = release && pending == served;
        if !self.mirror.ids_unissued(entity, plan) {
            return Err(StoreError::Unavailable(
                "transaction cancelled: [None, ConditionalCheckFailed] (a local id was issued twice)"
                    .into(),
            ));
        }
        self.mirror.apply(entity, plan);
        if plan.push {
            self.push.mark(entity, &plan.account_id, now);
        }
        self.events.put(event);
        self.locks.remove_wishes(&lock.key, served);
        self.locks.note_synced(&lock.key, read_from);
        if releases {
            self.locks.release_unchecked(&lock.key, now);
            Ok(Commit::Released)
        } else {
            Ok(Commit::KeptForWishes)
        }
    }
}

impl State {
    /// One account's one-write commit: the lock's condition and update, the id-map
    /// conditions, then every write, all or nothing (as one account of a DynamoDB transaction).
    fn commit_free(&mut self, commit: &FreeCommit<'_>) -> Result<(), StoreError> {
        let entity = &commit.key.entity;
        if !self.mirror.ids_unissued(entity, commit.plan) {
            return Err(StoreError::Unavailable(
                "transaction cancelled: a local id was issued twice".into(),
            ));
        }
        self.locks
            .take_and_release(commit.key, commit.seen, commit.read_from, commit.now)?;
        self.mirror.apply(entity, commit.plan);
        if commit.plan.push {
            self.push.mark(entity, &commit.plan.account_id, commit.now);
        }
        self.events.put(commit.event);
        Ok(())
    }
}

impl MemoryStore {
    /// Every record write committed so far, in order.
    pub fn mirror_writes(&self) -> Vec<MirrorWrite> {
        self.with_state().mirror.log.clone()
    }

    /// What the mirror holds for one account (as `load_account` answers it).
    pub fn stored_account(&self, entity: &EntityId, account_id: &str) -> StoredAccount {
        self.with_state().mirror.load(entity, account_id)
    }
}

#[async_trait::async_trait]
impl MirrorStore for MemoryStore {
    async fn resolve_account(
        &self,
        entity: &EntityId,
        account_number: &str,
    ) -> Result<Option<String>, StoreError> {
        let key = (entity.clone(), account_number.to_string());
        self.call(|s| Ok(s.mirror.numbers.get(&key).cloned())).await
    }

    async fn load_account(
        &self,
        entity: &EntityId,
        account_id: &str,
    ) -> Result<StoredAccount, StoreError> {
        self.call(|s| Ok(s.mirror.load(entity, account_id))).await
    }

    async fn commit(
        &self,
        lock: &HeldLock,
        commit: CommitRequest<'_>,
    ) -> Result<Commit, StoreError> {
        self.call(|s| s.commit(lock, commit)).await
    }

    async fn commit_free(&self, commits: &[FreeCommit<'_>]) -> Vec<Result<(), StoreError>> {
        // Each account on its own: a valid packing (DynamoDB's packs several in a
        // transaction), and one that lets other tasks run between them.
        let mut results = Vec::with_capacity(commits.len());
        for commit in commits {
            results.push(self.call(|s| s.commit_free(commit)).await);
        }
        results
    }

    async fn find_local_id(
        &self,
        entity: &EntityId,
        local_id: &str,
    ) -> Result<Option<(String, RecordKind)>, StoreError> {
        let key = (entity.clone(), local_id.to_string());
        self.call(|s| Ok(s.mirror.local_ids.get(&key).cloned()))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        Acquire, EpochMillis, EventStatus, Fence, LockKey, MirrorRecord, SyncEvent, Trigger, Wish,
    };
    use crate::ports::LockStore;

    fn entity() -> EntityId {
        EntityId::parse("e").unwrap()
    }

    fn request<'a>(
        plan: &'a WritePlan,
        event: &'a SyncEvent,
        release: bool,
        served: u64,
        now: i64,
    ) -> CommitRequest<'a> {
        CommitRequest {
            plan,
            event,
            release,
            served,
            read_from: EpochMillis(now),
            now: EpochMillis(now),
        }
    }

    fn plan(name: &str) -> WritePlan {
        let record = MirrorRecord {
            sk: CUSTOMER_SK.into(),
            kind: RecordKind::Customer,
            id: "cus_1".into(),
            owner: "cus_1".into(),
            zuora_id: "acc".into(),
            attrs: Default::default(),
            data: name.into(),
            hash: name.into(),
        };
        WritePlan {
            account_id: "acc".into(),
            account_number: "A1".into(),
            customer_id: "cus_1".into(),
            puts: vec![record],
            new_ids: vec![(CUSTOMER_SK.into(), "cus_1".into(), RecordKind::Customer)],
            ..WritePlan::default()
        }
    }

    fn event(id: &str) -> SyncEvent {
        let status = EventStatus::Succeeded;
        SyncEvent::new(
            id.into(),
            entity(),
            Trigger::Api,
            status,
            "c".into(),
            EpochMillis(0),
        )
    }

    async fn acquire(store: &MemoryStore, now: i64) -> HeldLock {
        let key = LockKey {
            entity: entity(),
            account_id: "acc".into(),
        };
        let lease = EpochMillis(now + 100);
        match store
            .acquire(&key, "me", lease, EpochMillis(now))
            .await
            .unwrap()
        {
            Acquire::Acquired(lock) => lock,
            busy => panic!("{busy:?}"),
        }
    }

    #[tokio::test]
    async fn a_commit_releases_unless_wishes_wait() {
        let store = MemoryStore::new();
        let lock = acquire(&store, 0).await;
        let wish = store.add_wish(&lock.key, lock.fence, EpochMillis(1)).await;
        assert_eq!(wish.unwrap(), Wish::Recorded { check_needed: true });
        let commit = store
            .commit(&lock, request(&plan("v1"), &event("e1"), true, 0, 2))
            .await;
        assert_eq!(commit.unwrap(), Commit::KeptForWishes);
        assert_eq!(store.lock_item(&lock.key).unwrap().lease_until, Some(100));
        // The follow-up serves the one wish: its commit removes it and releases.
        assert_eq!(store.pending_wishes(&lock).await.unwrap(), 1);
        let mut again = plan("v2");
        again.new_ids.clear();
        let commit = store
            .commit(&lock, request(&again, &event("e2"), true, 1, 3))
            .await;
        assert_eq!(commit.unwrap(), Commit::Released);
        let item = store.lock_item(&lock.key).unwrap();
        assert_eq!((item.lease_until, item.pending), (Some(0), Some(0)));
        let stored = store.stored_account(&entity(), "acc");
        assert_eq!(stored.records[CUSTOMER_SK].data, "v2");
        assert_eq!(
            store
                .resolve_account(&entity(), "A1")
                .await
                .unwrap()
                .as_deref(),
            Some("acc")
        );
        let owner = store.find_local_id(&entity(), "cus_1").await.unwrap();
        assert_eq!(owner, Some(("acc".to_string(), RecordKind::Customer)));
    }

    #[tokio::test]
    async fn a_fenced_or_conflicting_commit_writes_nothing() {
        let store = MemoryStore::new();
        let old = acquire(&store, 0).await;
        let current = acquire(&store, 200).await;
        let fenced = store
            .commit(&old, request(&plan("old"), &event("e1"), true, 0, 201))
            .await;
        assert_eq!(
            fenced,
            Err(StoreError::Fenced {
                held: 1,
                current: Some(2)
            })
        );
        assert!(store.mirror_writes().is_empty());
        assert!(store.events(&entity()).is_empty());

        store
            .commit(&current, request(&plan("v1"), &event("e2"), false, 0, 202))
            .await
            .unwrap();
        // The same local id issued again: refused as a whole, the event included.
        let twice = store
            .commit(&current, request(&plan("v2"), &event("e3"), true, 0, 203))
            .await;
        assert!(matches!(twice, Err(StoreError::Unavailable(_))));
        assert_eq!(store.mirror_writes().len(), 1);
        assert_eq!(store.events(&entity()).len(), 1);
        assert_eq!(
            store.lock_item(&current.key).unwrap().fence,
            Some(Fence(2).0)
        );
    }

    #[tokio::test]
    async fn a_commit_whose_reads_began_before_the_last_commits_writes_nothing() {
        let store = MemoryStore::new();
        let first = acquire(&store, 0).await;
        store
            .commit(&first, request(&plan("v2"), &event("e1"), true, 0, 50))
            .await
            .unwrap();
        // The next holder learns the last snapshot's time from its acquire.
        let next = acquire(&store, 60).await;
        assert_eq!(next.synced_from, Some(EpochMillis(50)));
        let mut older = plan("v1");
        older.new_ids.clear();
        let e2 = event("e2");
        let older_start = CommitRequest {
            read_from: EpochMillis(50),
            ..request(&older, &e2, true, 0, 70)
        };
        assert_eq!(
            store.commit(&next, older_start).await,
            Err(StoreError::OlderSnapshot {
                committed: 50,
                ours: 50
            })
        );
        let stored = store.stored_account(&entity(), "acc");
        assert_eq!(stored.records[CUSTOMER_SK].data, "v2");
        assert_eq!(store.events(&entity()).len(), 1);
        // A later start commits, and becomes the one to beat.
        let e3 = event("e3");
        let later_start = CommitRequest {
            read_from: EpochMillis(51),
            ..request(&older, &e3, true, 0, 70)
        };
        store.commit(&next, later_start).await.unwrap();
        assert_eq!(store.lock_item(&next.key).unwrap().synced_from, Some(51));
    }
}
