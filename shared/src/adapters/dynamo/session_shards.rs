//! A session's job counts, spread over shard items.
//!
//! Every job of a session counts its outcome once, by a transaction with its marker. On
//! DynamoDB a transaction that meets an item another transaction is writing is cancelled
//! (`TransactionConflict`) rather than queued, so jobs finishing at once must not all write one
//! item: each counts on one of [`SESSION_SHARDS`] shard items (`<session>#SHARD#<k>`, chosen
//! by its account), and a transaction cancelled by a conflict is tried again after a short,
//! random wait. The session item keeps what is written once (total, status, failures); a read
//! of the session adds its shards' counts in.

use super::DynamoStore;
use super::items::{Item, get_s, n};
use super::session_item::{item_session, session_pk};
use crate::model::{EntityId, Session};
use crate::ports::StoreError;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::Duration;

/// Shards per session: at 16, two of a few dozen workers meet on one item rarely, and a
/// session read stays one BatchGetItem (17 keys).
pub(super) const SESSION_SHARDS: u8 = 16;
/// Tries of a count cancelled by conflicts before the job fails (and its message comes back).
pub(super) const CONFLICT_ATTEMPTS: u32 = 8;

/// The shard an account's count goes to: always the same one, so its marker and its count
/// meet in one transaction however often the job runs.
pub(super) fn shard_pk(entity: &EntityId, session_id: &str, account: &str) -> String {
    let shard = Sha256::digest(account.as_bytes())[0] % SESSION_SHARDS;
    shard_key(entity, session_id, shard)
}

fn shard_key(entity: &EntityId, session_id: &str, shard: u8) -> String {
    format!("{}#SHARD#{shard}", session_pk(entity, session_id))
}

/// Whether a transaction was cancelled because another one held one of its items.
pub(super) fn is_conflict(e: &SdkError<TransactWriteItemsError>) -> bool {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(c)) => c
            .cancellation_reasons()
            .iter()
            .any(|r| r.code() == Some("TransactionConflict")),
        _ => false,
    }
}

/// A random wait before the next try, growing with the tries made: transactions that met
/// spread out instead of meeting again.
pub(super) fn conflict_backoff(attempt: u32) -> Duration {
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
