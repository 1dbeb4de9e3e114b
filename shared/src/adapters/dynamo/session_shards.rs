//! A session's job counts, spread over shard items.
//!
//! Every job of a session counts its outcome once, by a transaction with its marker. On
//! DynamoDB a transaction that meets an item another transaction is writing is cancelled
//! (`TransactionConflict`) rather than queued, so jobs finishing at once must not all write one
//! item: each counts on one of [`SESSION_SHARDS`] shard items (`<session>#SHARD#<k>`, chosen
//! by its account), and a transaction cancelled by a conflict is tried again after a short,
//! random wait. The session item keeps what is written once (total, status, failures); a read
//! of the session adds its shards' counts in.

use super::items::{Item, get_s, n, s};
use super::session_item::{item_session, session_pk};
use super::{DynamoStore, cancelled_for};
use crate::model::{EndedJob, EntityId, Session};
use crate::ports::StoreError;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::builders::PutBuilder;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// Shards per session, one per count group: at 16, two of a few dozen workers meet on one
/// item rarely, and a session read stays one BatchGetItem (17 keys).
pub(super) const SESSION_SHARDS: u8 = crate::model::SESSION_COUNT_GROUPS;
/// Tries of a count cancelled by conflicts before the job fails (and its message comes back).
const CONFLICT_ATTEMPTS: u32 = 8;

/// The shard an account's count goes to: always the same one, so its marker and its count
/// meet in one transaction however often the job runs.
pub(super) fn shard_pk(entity: &EntityId, session_id: &str, account: &str) -> String {
    shard_key(entity, session_id, crate::model::count_group(account))
}

fn shard_key(entity: &EntityId, session_id: &str, shard: u8) -> String {
    format!("{}#SHARD#{shard}", session_pk(entity, session_id))
}

/// Whether a transaction was cancelled because another one held one of its items.
fn is_conflict(e: &SdkError<TransactWriteItemsError>) -> bool {
    cancelled_for(e, "TransactionConflict")
}

/// A random wait before the next try, growing with the tries made: transactions that met
/// spread out instead of meeting again.
fn conflict_backoff(attempt: u32) -> Duration {
    // From about one transaction's time (25 ms) up to 400 ms: 8 tries wait 1.5 s at most.
    let ceiling_ms = (25u64 << attempt.min(4)).min(400);
    Duration::from_millis(rand::random_range(1..=ceiling_ms))
}

/// Adds a shard's counts to the session.
fn add_shard(session: &mut Session, shard: &Item) {
    let count = |name: &str| super::items::opt_n::<u64>(shard, name).unwrap_or(0);
    session.succeeded += count("succeeded");
    session.failed += count("failed");
    // A replaced `skipped` count subtracts from the shard it was counted on.
    session.skipped = session
        .skipped
        .saturating_add_signed(super::items::opt_n::<i64>(shard, "skipped").unwrap_or(0));
    session.written += count("written");
}

impl DynamoStore {
    /// The session with its shards' counts (one strongly consistent BatchGetItem).
    pub(super) async fn read_session(
        &self,
        entity: &EntityId,
        id: &str,
    ) -> Result<Option<Session>, StoreError> {
        let header = session_pk(entity, id);
        let mut pks: Vec<String> = (0..SESSION_SHARDS)
            .map(|k| shard_key(entity, id, k))
            .collect();
        pks.push(header.clone());
        let mut items: HashMap<String, Item> = HashMap::new();
        for item in self.get_many(&self.tables.state, &pks, true).await? {
            items.insert(get_s(&item, "pk")?.to_string(), item);
        }
        let Some(head) = items.remove(&header) else {
            return Ok(None);
        };
        let mut session = item_session(&head)?;
        for shard in items.values() {
            add_shard(&mut session, shard);
        }
        Ok(Some(session))
    }
}

/// The shard's time to live, as the markers': it outlives any session.
pub(super) fn shard_expiry(now_secs: i64) -> aws_sdk_dynamodb::types::AttributeValue {
    n(now_secs + super::session_item::CHANGE_SECS)
}

/// Items a counting transaction holds at most: DynamoDB takes 100, one is the shard.
const MARKERS_A_TRANSACTION: usize = 99;

impl DynamoStore {
    /// A job's marker (`<session>#<account>`), which makes its count idempotent.
    pub(super) fn job_marker(
        &self,
        entity: &EntityId,
        session_id: &str,
        account: &str,
        counter: &str,
        now_secs: i64,
    ) -> PutBuilder {
        Put::builder()
            .table_name(&self.tables.state)
            .item(
                "pk",
                s(format!("{}#{account}", session_pk(entity, session_id))),
            )
            .item("outcome", s(counter))
            .item("expires_at", n(now_secs + super::session_item::CHANGE_SECS))
    }

    /// Counts ended jobs, those of one shard together: their markers and the shard's sums in
    /// one transaction (a bulk job's accounts share a shard, so 50 accounts are one write
    /// instead of 50). A batch holding a job counted before (its bulk job runs again) is
    /// counted job by job instead, which tells a first count from a repeat.
    pub(super) async fn count_together(
        &self,
        entity: &EntityId,
        session_id: &str,
        jobs: &[EndedJob],
    ) -> Result<(), StoreError> {
        let mut shards: BTreeMap<String, Vec<&EndedJob>> = BTreeMap::new();
        for job in jobs {
            let shard = shard_pk(entity, session_id, &job.account);
            shards.entry(shard).or_default().push(job);
        }
        for (shard, jobs) in &shards {
            for batch in jobs.chunks(MARKERS_A_TRANSACTION) {
                if self.count_batch(entity, session_id, shard, batch).await? {
                    for failure in batch.iter().filter_map(|j| j.failure.as_deref()) {
                        self.list_failure_or_warn(entity, session_id, failure).await;
                    }
                    continue;
                }
                for job in batch {
                    self.count_one(entity, session_id, job).await?;
                }
            }
        }
        Ok(())
    }

    /// One shard's jobs as one transaction: `false` (nothing counted) if a marker existed.
    async fn count_batch(
        &self,
        entity: &EntityId,
        session_id: &str,
        shard: &str,
        batch: &[&EndedJob],
    ) -> Result<bool, StoreError> {
        let now = crate::adapters::clock::SystemClock.now_secs();
        let mut items = Vec::with_capacity(batch.len() + 1);
        let mut sums: BTreeMap<&str, u64> = BTreeMap::from([("written", 0)]);
        for job in batch {
            let counter = job.outcome.counter();
            let marker = self
                .job_marker(entity, session_id, &job.account, counter, now)
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(super::build_err)?;
            items.push(TransactWriteItem::builder().put(marker).build());
            *sums.entry(counter).or_default() += 1;
            *sums.entry("written").or_default() += u64::from(job.written);
        }
        let adds: Vec<String> = sums.keys().map(|name| format!("{name} :{name}")).collect();
        let mut update = Update::builder()
            .table_name(&self.tables.state)
            .key("pk", s(shard))
            .update_expression(format!(
                "ADD {} SET expires_at = if_not_exists(expires_at, :expires)",
                adds.join(", ")
            ))
            .expression_attribute_values(":expires", shard_expiry(now));
        for (name, sum) in &sums {
            update = update.expression_attribute_values(format!(":{name}"), n(*sum));
        }
        let update = update.build().map_err(super::build_err)?;
        items.push(TransactWriteItem::builder().update(update).build());
        self.transact_counting(items).await
    }

    /// A counting transaction: `false` if a condition failed. One cancelled by another's
    /// conflict is tried again after a random wait.
    pub(super) async fn transact_counting(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<bool, StoreError> {
        self.transact_retrying(items, any_condition_failed).await
    }

    /// A transaction on items other transactions may write at the same moment (a session's
    /// header, its shards): `false` if `refused` says a condition failed; one cancelled by
    /// another's conflict is tried again after a random wait.
    pub(super) async fn transact_retrying(
        &self,
        items: Vec<TransactWriteItem>,
        refused: fn(&SdkError<TransactWriteItemsError>) -> bool,
    ) -> Result<bool, StoreError> {
        let mut attempt = 0;
        loop {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(true),
                Err(e) if refused(&e) => return Ok(false),
                Err(e) if is_conflict(&e) && attempt + 1 < CONFLICT_ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(conflict_backoff(attempt)).await;
                }
                Err(e) => return Err(super::unavailable(e)),
            }
        }
    }
}

/// Whether a transaction was cancelled because one of its conditions failed.
fn any_condition_failed(e: &SdkError<TransactWriteItemsError>) -> bool {
    cancelled_for(e, "ConditionalCheckFailed")
}
