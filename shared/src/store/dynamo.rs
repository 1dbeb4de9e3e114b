//! The DynamoDB adapter for the mirror, the locks and the events.
//!
//! Locks follow design §2.2: the conditional write is the lock; the lease end is epoch
//! milliseconds compared in the condition (never DynamoDB TTL, which lags); each acquisition
//! bumps a fencing number that every later write of the holder is conditioned on.

use super::items::*;
use super::{
    Acquire, BusyLock, Commit, EventPage, EventQuery, EventStore, Fence, HeldLock, LockKey,
    LockState, LockStore, Mark, MirrorStore, StoreError, Wish,
};
use crate::clock::EpochMillis;
use crate::domain::EntityId;
use crate::events::SyncEvent;
use crate::mirror::{RecordKind, StoredAccount, WritePlan};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{
    ConditionCheck, Delete, Put, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};

/// DynamoDB allows at most 100 actions in one transaction.
const MAX_TRANSACTION_ITEMS: usize = 100;
/// Lock items linger this long after their lease for clean-up by TTL.
const LOCK_TTL_AFTER_LEASE_SECS: i64 = 24 * 3600;

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

pub(super) fn unavailable<E: std::fmt::Debug>(e: E) -> StoreError {
    // Debug of SdkError carries the service error code and message, no credentials.
    let text = format!("{e:?}");
    StoreError::Unavailable(text.chars().take(500).collect())
}

fn build_err(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Unavailable(format!("request could not be built: {e}"))
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

    fn lock_condition_item(
        &self,
        lock: &HeldLock,
        release: bool,
        now: EpochMillis,
    ) -> Result<TransactWriteItem, StoreError> {
        let key = lock_pk(&lock.key.entity, &lock.key.account_id);
        let item = if release {
            let update = Update::builder()
                .table_name(&self.tables.locks)
                .key("pk", s(key))
                .update_expression(
                    "SET lease_until_ms = :zero, released_at_ms = :now REMOVE holder",
                )
                .condition_expression("fence = :fence AND pending = :zero")
                .expression_attribute_values(":fence", n(lock.fence.0))
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":now", n(now.0))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build()
                .map_err(build_err)?;
            TransactWriteItem::builder().update(update).build()
        } else {
            let check = ConditionCheck::builder()
                .table_name(&self.tables.locks)
                .key("pk", s(key))
                .condition_expression("fence = :fence")
                .expression_attribute_values(":fence", n(lock.fence.0))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build()
                .map_err(build_err)?;
            TransactWriteItem::builder().condition_check(check).build()
        };
        Ok(item)
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
            if record.sk == crate::mirror::CUSTOMER_SK {
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

    /// Runs one transaction; a failed lock condition becomes `Fenced` or "wishes pending".
    async fn transact(
        &self,
        lock: &HeldLock,
        items: Vec<TransactWriteItem>,
    ) -> Result<Result<(), LockState>, StoreError> {
        let result = self
            .client
            .transact_write_items()
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
        let Some(TransactWriteItemsError::TransactionCanceledException(cancel)) =
            e.as_service_error()
        else {
            return Err(unavailable(e));
        };
        let reasons = cancel.cancellation_reasons();
        let lock_reason = reasons.first();
        if lock_reason.and_then(|r| r.code()) != Some("ConditionalCheckFailed") {
            return Err(StoreError::Unavailable(format!(
                "transaction cancelled: {:?}",
                reasons
                    .iter()
                    .map(|r| r.code().unwrap_or("None"))
                    .collect::<Vec<_>>()
            )));
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

fn lock_state(item: &Item) -> Result<LockState, StoreError> {
    Ok(LockState {
        fence: Fence(get_n(item, "fence")?),
        lease_until: EpochMillis(get_n(item, "lease_until_ms")?),
        pending: opt_n(item, "pending").unwrap_or(0),
    })
}

fn conditional_failure_item(e: &SdkError<UpdateItemError>) -> Option<Option<&Item>> {
    match e.as_service_error() {
        Some(UpdateItemError::ConditionalCheckFailedException(c)) => Some(c.item()),
        _ => None,
    }
}

#[async_trait::async_trait]
impl LockStore for DynamoStore {
    async fn acquire(
        &self,
        key: &LockKey,
        owner: &str,
        lease_until: EpochMillis,
        now: EpochMillis,
    ) -> Result<Acquire, StoreError> {
        let ttl = lease_until.to_secs().0 + LOCK_TTL_AFTER_LEASE_SECS;
        let result = self.lock_update(key)
            // Acquiring clears pending wishes and the queued-job mark: this holder's fetch
            // starts after the acquire, so it sees every change they were about.
            .update_expression(
                "SET lease_until_ms = :lease, holder = :owner, pending = :zero, acquired_at_ms = :now, expires_at = :ttl ADD fence :one REMOVE queued_event, queued_until",
            )
            // An item without a lease holds only a queued mark (never acquired).
            .condition_expression(
                "attribute_not_exists(pk) OR attribute_not_exists(lease_until_ms) OR lease_until_ms < :now",
            )
            .expression_attribute_values(":lease", n(lease_until.0))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(now.0))
            .expression_attribute_values(":ttl", n(ttl))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => {
                let item = out
                    .attributes()
                    .ok_or_else(|| StoreError::Corrupt("acquire returned no item".into()))?;
                Ok(Acquire::Acquired(HeldLock {
                    key: key.clone(),
                    fence: Fence(get_n(item, "fence")?),
                    lease_until,
                }))
            }
            Err(e) => match conditional_failure_item(&e) {
                Some(Some(old)) => {
                    let state = lock_state(old)?;
                    Ok(Acquire::Busy(BusyLock {
                        fence: state.fence,
                        lease_until: state.lease_until,
                        pending: state.pending,
                    }))
                }
                Some(None) => Err(StoreError::Corrupt("busy lock without an item".into())),
                None => Err(unavailable(e)),
            },
        }
    }

    async fn add_wish(
        &self,
        key: &LockKey,
        holder: Fence,
        now: EpochMillis,
    ) -> Result<Wish, StoreError> {
        let result = self
            .lock_update(key)
            .update_expression("ADD pending :one")
            // Only on the lease we saw: a wish on a released or expired lock would be served
            // by nobody.
            .condition_expression("fence = :fence AND lease_until_ms >= :now")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":fence", n(holder.0))
            .expression_attribute_values(":now", n(now.0))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match result {
            Ok(out) => {
                let pending: u64 = out
                    .attributes()
                    .map(|a| get_n(a, "pending"))
                    .transpose()?
                    .unwrap_or(1);
                Ok(Wish::Recorded {
                    first: pending == 1,
                })
            }
            Err(e) if conditional_failure_item(&e).is_some() => Ok(Wish::LockChanged),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn take_wishes(&self, lock: &HeldLock) -> Result<u64, StoreError> {
        let result = self
            .lock_update(&lock.key)
            .update_expression("SET pending = :zero")
            .condition_expression("fence = :fence")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":fence", n(lock.fence.0))
            .return_values(ReturnValue::UpdatedOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => Ok(out
                .attributes()
                .and_then(|a| opt_n(a, "pending"))
                .unwrap_or(0)),
            Err(e) => Err(fenced_or_unavailable(lock, e)),
        }
    }

    async fn release(&self, lock: &HeldLock, now: EpochMillis) -> Result<(), StoreError> {
        let result = self
            .lock_update(&lock.key)
            .update_expression("SET lease_until_ms = :zero, released_at_ms = :now REMOVE holder")
            .condition_expression("fence = :fence")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":now", n(now.0))
            .expression_attribute_values(":fence", n(lock.fence.0))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        result
            .map(|_| ())
            .map_err(|e| fenced_or_unavailable(lock, e))
    }

    async fn peek(&self, key: &LockKey) -> Result<Option<LockState>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.locks)
            .key("pk", s(lock_pk(&key.entity, &key.account_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        out.item().map(lock_state).transpose()
    }

    async fn mark_queued(
        &self,
        key: &LockKey,
        event_id: &str,
        now: EpochMillis,
        mark_until: EpochMillis,
        min_interval: Option<std::time::Duration>,
    ) -> Result<Mark, StoreError> {
        let interval_ms = min_interval.map(|d| d.as_millis() as i64);
        let mut condition = String::from(
            "(attribute_not_exists(lease_until_ms) OR lease_until_ms < :now) \
             AND (attribute_not_exists(queued_until) OR queued_until < :now)",
        );
        let mut update = String::from("SET queued_event = :event, queued_until = :until");
        let mut request = self
            .lock_update(key)
            .expression_attribute_values(":now", n(now.0))
            .expression_attribute_values(":event", s(event_id))
            .expression_attribute_values(":until", n(mark_until.0));
        if let Some(ms) = interval_ms {
            // On-demand requests also record when they were let through, for the interval.
            update.push_str(", last_on_demand_ms = :now");
            if ms > 0 {
                condition.push_str(
                    " AND (attribute_not_exists(last_on_demand_ms) OR last_on_demand_ms <= :since)",
                );
                request = request.expression_attribute_values(":since", n(now.0 - ms));
            }
        }
        // A never-acquired item still needs a clean-up time; a lock's own TTL is later.
        let ttl = mark_until
            .max(now.plus_ms(interval_ms.unwrap_or(0)))
            .to_secs()
            .0
            + LOCK_TTL_AFTER_LEASE_SECS;
        update.push_str(", expires_at = if_not_exists(expires_at, :ttl)");
        let result = request
            .update_expression(update)
            .condition_expression(condition)
            .expression_attribute_values(":ttl", n(ttl))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let old = match result {
            Ok(_) => return Ok(Mark::Marked),
            Err(e) => match conditional_failure_item(&e) {
                Some(Some(old)) => old.clone(),
                Some(None) => {
                    return Err(StoreError::Corrupt("refused mark without an item".into()));
                }
                None => return Err(unavailable(e)),
            },
        };
        // Which clause refused it, in the order a caller should hear about it.
        if let (Some(ms), Some(last)) = (interval_ms, opt_n::<i64>(&old, "last_on_demand_ms"))
            && ms > 0
            && last > now.0 - ms
        {
            return Ok(Mark::Throttled {
                retry_at: EpochMillis(last + ms),
            });
        }
        let lease_until = EpochMillis(opt_n(&old, "lease_until_ms").unwrap_or(0));
        if lease_until >= now {
            return Ok(Mark::Running(BusyLock {
                fence: Fence(opt_n(&old, "fence").unwrap_or(0)),
                lease_until,
                pending: opt_n(&old, "pending").unwrap_or(0),
            }));
        }
        match opt_s(&old, "queued_event") {
            Some(event_id) => Ok(Mark::Queued { event_id }),
            None => Err(StoreError::Corrupt(
                "queued mark refused, but the item shows no reason".into(),
            )),
        }
    }

    async fn clear_mark(
        &self,
        key: &LockKey,
        event_id: &str,
    ) -> Result<Option<EpochMillis>, StoreError> {
        let result = self
            .lock_update(key)
            .update_expression("REMOVE queued_event, queued_until")
            .condition_expression("queued_event = :event")
            .expression_attribute_values(":event", s(event_id))
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let last = |item: Option<&Item>| {
            item.and_then(|i| opt_n(i, "last_on_demand_ms"))
                .map(EpochMillis)
        };
        match result {
            Ok(out) => Ok(last(out.attributes())),
            // Someone else's mark now, or none: nothing of ours to clear.
            Err(e) => match conditional_failure_item(&e) {
                Some(old) => Ok(last(old)),
                None => Err(unavailable(e)),
            },
        }
    }

    async fn note_on_demand(&self, key: &LockKey, at: EpochMillis) -> Result<(), StoreError> {
        let ttl = at.to_secs().0 + LOCK_TTL_AFTER_LEASE_SECS;
        let result = self
            .lock_update(key)
            .update_expression(
                "SET last_on_demand_ms = :at, expires_at = if_not_exists(expires_at, :ttl)",
            )
            .condition_expression(
                "attribute_not_exists(last_on_demand_ms) OR last_on_demand_ms < :at",
            )
            .expression_attribute_values(":at", n(at.0))
            .expression_attribute_values(":ttl", n(ttl))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if conditional_failure_item(&e).is_some() => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }
}

fn fenced_or_unavailable(lock: &HeldLock, e: SdkError<UpdateItemError>) -> StoreError {
    match conditional_failure_item(&e) {
        Some(old) => StoreError::Fenced {
            held: lock.fence.0,
            current: old.and_then(|i| opt_n(i, "fence")),
        },
        None => unavailable(e),
    }
}

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
            let mut items = vec![self.lock_condition_item(lock, false, now)?];
            items.extend(chunk);
            if let Err(state) = self.transact(lock, items).await? {
                return Err(StoreError::Fenced {
                    held: lock.fence.0,
                    current: Some(state.fence.0),
                });
            }
        }
        let mut items = vec![self.lock_condition_item(lock, release, now)?];
        items.extend(last.iter().cloned());
        items.push(self.event_put(event)?);
        match self.transact(lock, items).await? {
            Ok(()) if release => Ok(Commit::Released),
            Ok(()) => Ok(Commit::KeptForWishes),
            Err(state) if release && state.pending > 0 => {
                // Wishes arrived during the sync: write without releasing; the caller runs the
                // follow-up and releases after it.
                let mut items = vec![self.lock_condition_item(lock, false, now)?];
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

#[async_trait::async_trait]
impl EventStore for DynamoStore {
    async fn put_event(&self, event: &SyncEvent) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.tables.events)
            .set_item(Some(event_item(event, self.event_expiry(event))))
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn create_event(&self, event: &SyncEvent) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.tables.events)
            .set_item(Some(event_item(event, self.event_expiry(event))))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn get_event(
        &self,
        entity: &EntityId,
        id: &str,
    ) -> Result<Option<SyncEvent>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.events)
            .key("pk", s(event_pk(entity, id)))
            .send()
            .await
            .map_err(unavailable)?;
        out.item().map(item_event).transpose()
    }

    async fn account_events(
        &self,
        entity: &EntityId,
        account: &str,
        limit: i32,
    ) -> Result<Vec<SyncEvent>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.tables.events)
            .index_name("by_account")
            .key_condition_expression("account_pk = :a")
            .expression_attribute_values(":a", s(event_account_pk(entity, account)))
            .scan_index_forward(false)
            .limit(limit)
            .send()
            .await
            .map_err(unavailable)?;
        out.items().iter().map(item_event).collect()
    }

    async fn search_events(&self, query: &EventQuery) -> Result<EventPage, StoreError> {
        self.search(query).await
    }
}
