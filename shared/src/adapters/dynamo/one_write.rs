//! One-write commits (docs/ARCHITECTURE.md, "The lock protocol"): the lock items of many
//! accounts read at once, then each account committed by a transaction whose lock action
//! takes the lock and gives it back, conditioned on the item being as it was read. Several
//! accounts share a transaction when they fit.

use super::items::*;
use super::mirror::{TRANSACTION_BYTES, write_bytes};
use super::{
    DynamoStore, LOCK_TTL_AFTER_LEASE_SECS, MAX_TRANSACTION_ITEMS, build_err, cancelled_for,
    request_token, unavailable,
};
use crate::model::*;
use crate::ports::*;
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use std::collections::{HashMap, HashSet};

/// What a lock item holds, as the one-write commit's condition needs it.
fn seen_lock(item: &Item) -> SeenLock {
    SeenLock {
        fence: opt_n(item, "fence").map(Fence),
        lease_until: opt_n(item, "lease_until_ms").map(EpochMillis),
        pending: opt_n(item, "pending").unwrap_or(0),
        synced_from: opt_n(item, "synced_from_ms").map(EpochMillis),
        released_at: opt_n(item, "released_at_ms").map(EpochMillis),
        torn: item.contains_key("torn_at_ms"),
        queued: item.contains_key("queued_event"),
    }
}

/// The accounts of one transaction.
#[derive(Default)]
struct Group {
    members: Vec<usize>,
    items: Vec<TransactWriteItem>,
    bytes: usize,
    numbers: HashSet<String>,
}

impl Group {
    fn fits(&self, actions: &Actions) -> bool {
        self.items.len() + actions.items.len() <= MAX_TRANSACTION_ITEMS
            && self.bytes + actions.bytes <= TRANSACTION_BYTES
            && actions
                .number
                .as_ref()
                .is_none_or(|number| !self.numbers.contains(number))
    }

    fn add(&mut self, member: usize, actions: Actions) {
        self.members.push(member);
        self.items.extend(actions.items);
        self.bytes += actions.bytes;
        self.numbers.extend(actions.number);
    }
}

/// One account's writes, ready to share a transaction.
struct Actions {
    items: Vec<TransactWriteItem>,
    bytes: usize,
    /// The account-number item a first commit writes: two in one transaction would be two
    /// actions on one item, which DynamoDB refuses.
    number: Option<String>,
}

impl DynamoStore {
    /// The lock items of `keys` (one entity), in their order; a missing item reads as
    /// `SeenLock::default()`.
    pub(super) async fn seen_lock_items(
        &self,
        keys: &[LockKey],
    ) -> Result<Vec<SeenLock>, StoreError> {
        let pks: Vec<String> = keys
            .iter()
            .map(|k| lock_pk(&k.entity, &k.account_id))
            .collect();
        let items = self.get_many(&self.tables.locks, &pks, true).await?;
        let mut by_pk: HashMap<String, SeenLock> = HashMap::with_capacity(items.len());
        for item in &items {
            by_pk.insert(get_s(item, "pk")?.to_string(), seen_lock(item));
        }
        Ok(pks
            .iter()
            .map(|pk| by_pk.remove(pk).unwrap_or_default())
            .collect())
    }

    /// Commits each account in the same write as its lock's take and release, packing as
    /// many accounts into a transaction as DynamoDB allows. An account that needs more than
    /// one transaction is refused (`TooLarge`): under the lock its commit can be torn and
    /// completed.
    pub(super) async fn commit_free_all(
        &self,
        commits: &[FreeCommit<'_>],
    ) -> Vec<Result<(), StoreError>> {
        let mut results: Vec<Result<(), StoreError>> = vec![Ok(()); commits.len()];
        let mut groups: Vec<Group> = Vec::new();
        for (i, commit) in commits.iter().enumerate() {
            let actions = match self.free_actions(commit) {
                Ok(actions) => actions,
                Err(e) => {
                    results[i] = Err(e);
                    continue;
                }
            };
            if !Group::default().fits(&actions) {
                results[i] = Err(StoreError::TooLarge(format!(
                    "{} writes need more than one transaction",
                    actions.items.len()
                )));
                continue;
            }
            match groups.last_mut() {
                Some(group) if group.fits(&actions) => group.add(i, actions),
                _ => {
                    let mut group = Group::default();
                    group.add(i, actions);
                    groups.push(group);
                }
            }
        }
        // The groups touch disjoint items: they run at once.
        let sent = groups
            .into_iter()
            .map(|group| async move { (group.members, self.transact_free(group.items).await) });
        for (members, result) in futures::future::join_all(sent).await {
            if let Err(e) = result {
                for i in members {
                    results[i] = Err(e.clone());
                }
            }
        }
        results
    }

    fn free_actions(&self, commit: &FreeCommit<'_>) -> Result<Actions, StoreError> {
        let mut items = vec![self.free_lock_item(commit)?];
        items.extend(self.data_items(&commit.key.entity, commit.plan)?);
        if commit.plan.push {
            items.push(self.pending_put(
                &commit.key.entity,
                &commit.plan.account_id,
                commit.now,
            )?);
        }
        items.push(self.event_put(commit.event)?);
        let bytes = items.iter().map(write_bytes).sum();
        let number = commit
            .plan
            .puts
            .iter()
            .any(|r| r.sk == CUSTOMER_SK)
            .then(|| commit.plan.account_number.clone());
        Ok(Actions {
            items,
            bytes,
            number,
        })
    }

    /// The lock's take and release in one update: the item must be as it was seen (the
    /// fence and the last commit's snapshot time unchanged), free, with no wishes, no queued
    /// mark and no torn commit; the snapshot must be newer than the last commit's. It moves the
    /// fence (a holder that acquired before cannot write after) and records the snapshot time.
    fn free_lock_item(&self, commit: &FreeCommit<'_>) -> Result<TransactWriteItem, StoreError> {
        let seen = commit.seen;
        let mut condition = vec![
            "(attribute_not_exists(lease_until_ms) OR lease_until_ms < :now)",
            "(attribute_not_exists(pending) OR pending = :zero)",
            "attribute_not_exists(torn_at_ms)",
            "attribute_not_exists(queued_event)",
        ];
        let ttl = commit.now.to_secs().0 + LOCK_TTL_AFTER_LEASE_SECS;
        let mut update = Update::builder()
            .table_name(&self.tables.locks)
            .key("pk", s(lock_pk(&commit.key.entity, &commit.key.account_id)))
            .update_expression(
                "SET synced_from_ms = :from, lease_until_ms = :zero, released_at_ms = :now, pending = :zero, expires_at = :ttl ADD fence :one REMOVE holder",
            )
            .expression_attribute_values(":from", n(commit.read_from.0))
            .expression_attribute_values(":now", n(commit.now.0))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":ttl", n(ttl));
        match seen.fence {
            Some(fence) => {
                condition.push("fence = :fence");
                update = update.expression_attribute_values(":fence", n(fence.0));
            }
            None => condition.push("attribute_not_exists(fence)"),
        }
        match seen.synced_from {
            Some(last) => {
                condition.push("synced_from_ms = :seen");
                update = update.expression_attribute_values(":seen", n(last.0));
            }
            None => condition.push("attribute_not_exists(synced_from_ms)"),
        }
        let update = update
            .condition_expression(condition.join(" AND "))
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// One transaction of one-write commits. A cancelled one wrote nothing: a lock that
    /// changed is `Fenced` (the caller syncs its accounts under the lock), anything else
    /// `Unavailable`.
    async fn transact_free(&self, items: Vec<TransactWriteItem>) -> Result<(), StoreError> {
        let result = self
            .client
            .transact_write_items()
            .client_request_token(request_token())
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if cancelled_for(&e, "ConditionalCheckFailed") => Err(StoreError::Fenced {
                held: 0,
                current: None,
            }),
            Err(e) => Err(unavailable(e)),
        }
    }
}
