//! The DynamoDB adapter for the mirror, the locks and the events.
//!
//! Locks follow docs/ARCHITECTURE.md, "The lock protocol": the conditional write is the lock; the lease end is epoch
//! milliseconds compared in the condition (never DynamoDB TTL, which lags); each acquisition
//! bumps a fencing number that every later write of the holder is conditioned on.

mod counter;
mod event_item;
mod events;
mod items;
mod locks;
mod mirror;
mod one_write;
mod push;
mod search;
mod session_item;
mod session_shards;
mod sessions;
mod settings;
mod stats;

use crate::model::*;
use crate::ports::{Cause, CommitRequest, StoreError};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{
    ConditionCheck, Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use items::*;
use locks::lock_state;

/// DynamoDB allows at most 100 actions in one transaction.
pub(super) const MAX_TRANSACTION_ITEMS: usize = 100;
/// Lock items linger this long after their lease for clean-up by TTL.
pub(super) const LOCK_TTL_AFTER_LEASE_SECS: i64 = 24 * 3600;
/// A commit's snapshot must be newer than the last one committed (docs/ARCHITECTURE.md, The
/// lock protocol: snapshot order).
const NEWER_SNAPSHOT: &str = "(attribute_not_exists(synced_from_ms) OR synced_from_ms < :from)";

#[derive(Debug, Clone)]
pub struct Tables {
    pub mirror: String,
    pub locks: String,
    pub events: String,
    /// Per-entity state: settings (and the real-time counters).
    pub state: String,
}

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    tables: Tables,
    event_retention_secs: i64,
}

pub(super) fn unavailable<E>(e: E) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
{
    // The whole chain (service error code and message; never credentials) for the event, and
    // the error itself as the source.
    let text = aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string();
    StoreError::Unavailable(Cause::with_source(text, e))
}

/// DynamoDB's refusal of a write for its size (`ValidationException`: an item over 400 KB, a
/// transaction over 4 MB), which no retry can change.
fn size_refusal(e: &SdkError<TransactWriteItemsError>) -> Option<String> {
    use aws_sdk_dynamodb::error::ProvideErrorMetadata;
    let service = e.as_service_error()?;
    let message = service.message().unwrap_or_default();
    let about_size = message.contains("size") || message.contains("4MB");
    (service.code() == Some("ValidationException") && about_size).then(|| message.to_string())
}

/// Whether a transaction was cancelled with this reason for one of its items.
pub(super) fn cancelled_for(e: &SdkError<TransactWriteItemsError>, code: &str) -> bool {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(c)) => c
            .cancellation_reasons()
            .iter()
            .any(|r| r.code() == Some(code)),
        _ => false,
    }
}

pub(super) fn build_err(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Unavailable(Cause::with_source("the request could not be built", e))
}

impl DynamoStore {
    /// The items of `table` under these partition keys that exist, in no order: BatchGetItem
    /// takes 100 keys a request, and the keys it leaves unprocessed are asked again.
    pub(super) async fn get_many(
        &self,
        table: &str,
        pks: &[String],
        consistent: bool,
    ) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::new();
        for chunk in pks.chunks(100) {
            let keys = chunk
                .iter()
                .map(|pk| Item::from([("pk".to_string(), s(pk))]))
                .collect();
            let mut request = Some(
                aws_sdk_dynamodb::types::KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(consistent)
                    .build()
                    .map_err(build_err)?,
            );
            while let Some(keys) = request.take() {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(table, keys)
                    .send()
                    .await
                    .map_err(unavailable)?;
                found.extend(
                    out.responses()
                        .and_then(|r| r.get(table))
                        .into_iter()
                        .flatten()
                        .cloned(),
                );
                request = out.unprocessed_keys().and_then(|u| u.get(table)).cloned();
            }
        }
        Ok(found)
    }
}

impl DynamoStore {
    pub fn new(client: Client, tables: Tables, event_retention_days: i64) -> Self {
        Self {
            client,
            tables,
            event_retention_secs: event_retention_days * 24 * 3600,
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    /// A cheap call that opens the connection (TLS included) during init, so the first
    /// request does not pay for it.
    pub async fn warm_up(&self) -> Result<(), StoreError> {
        // A read of a key that never exists: needs only the GetItem the roles already have.
        self.client
            .get_item()
            .table_name(&self.tables.locks)
            .key("pk", s("__warm_up__"))
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    /// An UpdateItem on one account's lock item.
    fn lock_update(&self, key: &LockKey) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.tables.locks)
            .key("pk", s(lock_pk(&key.entity, &key.account_id)))
    }

    /// The lock item's part of a commit's last transaction: requires the holder's fence and
    /// reads that began after the last commit's, and records this commit's start. With
    /// `release` it releases the lock (only if exactly the `served` wishes are pending); else it
    /// removes the `served` wishes and keeps it. With `complete` it also clears the torn mark.
    fn commit_lock_item(
        &self,
        lock: &HeldLock,
        commit: &CommitRequest<'_>,
        release: bool,
        complete: bool,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut set = vec!["synced_from_ms = :from"];
        let mut remove = Vec::new();
        let mut condition = format!("fence = :fence AND {NEWER_SNAPSHOT}");
        let mut update = Update::builder()
            .table_name(&self.tables.locks)
            .key("pk", s(lock_pk(&lock.key.entity, &lock.key.account_id)))
            .expression_attribute_values(":fence", n(lock.fence.0))
            .expression_attribute_values(":from", n(commit.read_from.0));
        if release {
            set.extend([
                "lease_until_ms = :zero",
                "released_at_ms = :now",
                "pending = :zero",
            ]);
            remove.push("holder");
            condition.push_str(" AND pending = :served");
            update = update
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":now", n(commit.now.0))
                .expression_attribute_values(":served", n(commit.served));
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !release && commit.served > 0 {
            expression.push_str(" ADD pending :taken");
            update = update.expression_attribute_values(":taken", n(-(commit.served as i64)));
        }
        if complete {
            remove.push("torn_at_ms");
        }
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let update = update
            .update_expression(expression)
            .condition_expression(condition)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The lock item's part of a commit's middle transaction: only the fence.
    fn fence_check_item(&self, lock: &HeldLock) -> Result<TransactWriteItem, StoreError> {
        let check = ConditionCheck::builder()
            .table_name(&self.tables.locks)
            .key("pk", s(lock_pk(&lock.key.entity, &lock.key.account_id)))
            .condition_expression("fence = :fence")
            .expression_attribute_values(":fence", n(lock.fence.0))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    /// The first transaction of a commit that takes several: marks the lock (fenced, and only
    /// for a snapshot newer than the last commit's) and lists the account under its entity's
    /// torn commits, both until the last transaction clears them, so a commit cut half-way is
    /// found by the sweep and completed by the next holder.
    fn torn_marks(
        &self,
        lock: &HeldLock,
        commit: &CommitRequest<'_>,
    ) -> Result<[TransactWriteItem; 2], StoreError> {
        let update = Update::builder()
            .table_name(&self.tables.locks)
            .key("pk", s(lock_pk(&lock.key.entity, &lock.key.account_id)))
            .update_expression("SET torn_at_ms = :now")
            .condition_expression(format!("fence = :fence AND {NEWER_SNAPSHOT}"))
            .expression_attribute_values(":fence", n(lock.fence.0))
            .expression_attribute_values(":from", n(commit.read_from.0))
            .expression_attribute_values(":now", n(commit.now.0))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build_err)?;
        Ok([
            TransactWriteItem::builder().update(update).build(),
            self.torn_list_item(lock, "ADD")?,
        ])
    }

    /// Adds the account to (`ADD`) or removes it from (`DELETE`) the entity's torn commits.
    fn torn_list_item(&self, lock: &HeldLock, op: &str) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.tables.state)
            .key("pk", s(torn_pk(&lock.key.entity)))
            .update_expression(format!("{op} accounts :account"))
            .expression_attribute_values(
                ":account",
                aws_sdk_dynamodb::types::AttributeValue::Ss(vec![lock.key.account_id.clone()]),
            )
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    fn data_items(
        &self,
        entity: &EntityId,
        plan: &WritePlan,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let pk = account_pk(entity, &plan.account_id);
        let mut out = Vec::new();
        let put = |item: Item, condition: Option<&str>| -> Result<TransactWriteItem, StoreError> {
            let put = Put::builder()
                .table_name(&self.tables.mirror)
                .set_item(Some(item))
                .set_condition_expression(condition.map(str::to_string))
                .build()
                .map_err(build_err)?;
            Ok(TransactWriteItem::builder().put(put).build())
        };
        for record in &plan.puts {
            out.push(put(record_item(&pk, record), None)?);
            if record.sk == crate::model::CUSTOMER_SK {
                let number = Item::from([
                    (
                        "pk".into(),
                        s(account_number_pk(entity, &plan.account_number)),
                    ),
                    ("sk".into(), s(ACCOUNT_NUMBER_SK)),
                    ("account_id".into(), s(&plan.account_id)),
                ]);
                out.push(put(number, None)?);
            }
        }
        for (sk, local_id, kind) in &plan.new_ids {
            // Ids are issued once: the condition turns a racing second issue into a failure
            // instead of a silently different id.
            let item = id_map_item(entity, &plan.account_id, &pk, sk, local_id, *kind);
            out.push(put(item, Some("attribute_not_exists(pk)"))?);
        }
        for sk in &plan.deletes {
            let delete = Delete::builder()
                .table_name(&self.tables.mirror)
                .key("pk", s(&pk))
                .key("sk", s(sk))
                .build()
                .map_err(build_err)?;
            out.push(TransactWriteItem::builder().delete(delete).build());
        }
        Ok(out)
    }

    fn event_put(&self, event: &SyncEvent) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.tables.events)
            .set_item(Some(event_item(event, self.event_expiry(event))))
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn event_expiry(&self, event: &SyncEvent) -> i64 {
        let retention = event
            .retention_days
            .map_or(self.event_retention_secs, |d| i64::from(d) * 24 * 3600);
        event.created_at.to_secs().0 + retention
    }

    /// Runs one transaction (idempotent: see [`request_token`]); a failed lock condition
    /// becomes `Fenced` or "wishes pending".
    async fn transact(
        &self,
        lock: &HeldLock,
        items: Vec<TransactWriteItem>,
    ) -> Result<Result<(), LockState>, StoreError> {
        let token = request_token();
        let result = self
            .client
            .transact_write_items()
            .client_request_token(token)
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Ok(())),
            Err(e) => self.lock_failure(lock, e).map(Err),
        }
    }

    /// Reads why a transaction was cancelled. The lock item is always the first action, and
    /// DynamoDB returns its old image there, so no second read is needed.
    fn lock_failure(
        &self,
        lock: &HeldLock,
        e: SdkError<TransactWriteItemsError>,
    ) -> Result<LockState, StoreError> {
        if let Some(too_large) = size_refusal(&e) {
            return Err(StoreError::TooLarge(too_large));
        }
        let Some(TransactWriteItemsError::TransactionCanceledException(cancel)) =
            e.as_service_error()
        else {
            return Err(unavailable(e));
        };
        let reasons = cancel.cancellation_reasons();
        let lock_reason = reasons.first();
        if lock_reason.and_then(|r| r.code()) != Some("ConditionalCheckFailed") {
            let codes: Vec<&str> = reasons.iter().map(|r| r.code().unwrap_or("None")).collect();
            let text = format!("transaction cancelled: {codes:?}");
            return Err(StoreError::Unavailable(Cause::with_source(text, e)));
        }
        let state = lock_reason
            .and_then(|r| r.item())
            .and_then(|item| lock_state(item).ok());
        match state {
            Some(state) if state.fence == lock.fence => Ok(state),
            other => Err(StoreError::Fenced {
                held: lock.fence.0,
                current: other.map(|s| s.fence.0),
            }),
        }
    }
}

/// The transaction's idempotency token (M8), one per transaction: the SDK's own retries of it
/// carry the same one. So when a commit was applied but its answer lost (a timeout, a 5xx),
/// DynamoDB answers the retry as done instead of failing its conditions against the commit's
/// own writes, which would report a sync that succeeded as failed.
fn request_token() -> String {
    uuid::Uuid::new_v4().to_string()
}
