//! The Salesforce push state (docs/ARCHITECTURE.md, "The Salesforce push"), in the mirror table
//! beside the accounts, under keys no account key can take (entity ids have no `#`):
//!
//! - `<entity>#SFPUSH#<account id>` / `STATE`: the push lease (`fence`, `lease_until`) and what
//!   was pushed per record (`pushed`, JSON; gzip `pushed_gz` above 32 KB).
//! - `<entity>#SFPENDING` / `<account id>`: the account waits for a push since `at` (written by
//!   the mirror's commit, in its transaction).
//! - `<entity>#SFFAIL` / `<failure id>`: the failure list (`data`, JSON).
//!
//! The entity's status (pause, API usage, the sweep's drain point) is the state table's
//! `<entity>#salesforce` item.

use super::counter::first_condition_failed;
use super::items::{COMPRESS_ABOVE, gunzip, gzip, n, opt_n, opt_s, s};
use super::{DynamoStore, MAX_TRANSACTION_ITEMS, build_err, unavailable};
use crate::model::{
    ApiUsage, EntityId, EpochMillis, PushFailure, PushStatus, Pushed, PushedRecords,
};
use crate::ports::{PushEnd, PushLease, PushStatusUpdate, PushStore, StoreError};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, PutRequest, ReturnValue, TransactWriteItem,
    WriteRequest,
};
use std::collections::HashMap;

type Item = HashMap<String, AttributeValue>;

const STATE_SK: &str = "STATE";

fn push_pk(entity: &EntityId, account: &str) -> String {
    format!("{entity}#SFPUSH#{account}")
}

pub(super) fn pending_pk(entity: &EntityId) -> String {
    format!("{entity}#SFPENDING")
}

fn failures_pk(entity: &EntityId) -> String {
    format!("{entity}#SFFAIL")
}

fn status_pk(entity: &EntityId) -> String {
    format!("{entity}#salesforce")
}

fn pushed_of(item: &Item) -> Result<PushedRecords, StoreError> {
    let text = match (item.get("pushed_gz"), item.get("pushed")) {
        (Some(AttributeValue::B(blob)), _) => gunzip(blob.as_ref())?,
        (_, Some(AttributeValue::S(text))) => text.clone(),
        _ => return Ok(PushedRecords::new()),
    };
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("pushed records: {e}")))
}

fn pushed_attr(pushed: &PushedRecords) -> (String, AttributeValue) {
    let text = serde_json::to_string(pushed).expect("pushed records serialise");
    if text.len() > COMPRESS_ABOVE {
        let blob = aws_sdk_dynamodb::primitives::Blob::new(gzip(&text));
        ("pushed_gz".into(), AttributeValue::B(blob))
    } else {
        ("pushed".into(), s(text))
    }
}

impl DynamoStore {
    /// The put of a waiting mark: the mirror's commit adds it to its last transaction.
    pub(super) fn pending_put(
        &self,
        entity: &EntityId,
        account: &str,
        now: EpochMillis,
    ) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.tables().mirror)
            .set_item(Some(pending_item(entity, account, now)))
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    async fn pending_at(
        &self,
        entity: &EntityId,
        account: &str,
    ) -> Result<Option<EpochMillis>, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(&self.tables().mirror)
            .key("pk", s(pending_pk(entity)))
            .key("sk", s(account))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out
            .item()
            .and_then(|i| opt_n::<i64>(i, "at"))
            .map(EpochMillis))
    }

    /// Removes the waiting mark if no commit marked the account again since `at`.
    async fn clear_pending(
        &self,
        entity: &EntityId,
        account: &str,
        at: EpochMillis,
    ) -> Result<(), StoreError> {
        let result = self
            .client()
            .delete_item()
            .table_name(&self.tables().mirror)
            .key("pk", s(pending_pk(entity)))
            .key("sk", s(account))
            .condition_expression("#at = :at")
            .expression_attribute_names("#at", "at")
            .expression_attribute_values(":at", n(at.0))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error().is_some_and(|e| {
                    matches!(
                        e,
                        aws_sdk_dynamodb::operation::delete_item::DeleteItemError::ConditionalCheckFailedException(_)
                    )
                }) =>
            {
                Ok(()) // Marked again: a later push takes it.
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    fn fence_check(&self, lease: &PushLease) -> Result<TransactWriteItem, StoreError> {
        let check = ConditionCheck::builder()
            .table_name(&self.tables().mirror)
            .key("pk", s(push_pk(&lease.entity, &lease.account_id)))
            .key("sk", s(STATE_SK))
            .condition_expression("fence = :fence")
            .expression_attribute_values(":fence", n(lease.fence))
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    fn failure_writes(
        &self,
        lease: &PushLease,
        end: &PushEnd,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let pk = failures_pk(&lease.entity);
        let mut out = Vec::new();
        for id in &end.resolved {
            let delete = Delete::builder()
                .table_name(&self.tables().mirror)
                .key("pk", s(&pk))
                .key("sk", s(id))
                .build()
                .map_err(build_err)?;
            out.push(TransactWriteItem::builder().delete(delete).build());
        }
        for f in &end.failures {
            let data = serde_json::to_string(f).expect("failures serialise");
            let item = Item::from([
                ("pk".into(), s(&pk)),
                ("sk".into(), s(&f.id)),
                ("data".into(), s(data)),
            ]);
            let put = Put::builder()
                .table_name(&self.tables().mirror)
                .set_item(Some(item))
                .build()
                .map_err(build_err)?;
            out.push(TransactWriteItem::builder().put(put).build());
        }
        Ok(out)
    }

    async fn transact_fenced(
        &self,
        lease: &PushLease,
        items: Vec<TransactWriteItem>,
    ) -> Result<(), StoreError> {
        let result = self
            .client()
            .transact_write_items()
            .client_request_token(uuid::Uuid::new_v4().to_string())
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if first_condition_failed(&e) => Err(StoreError::Fenced {
                held: lease.fence,
                current: None,
            }),
            Err(e) => Err(unavailable(e)),
        }
    }
}

fn pending_item(entity: &EntityId, account: &str, now: EpochMillis) -> Item {
    Item::from([
        ("pk".into(), s(pending_pk(entity))),
        ("sk".into(), s(account)),
        ("at".into(), n(now.0)),
    ])
}

#[async_trait::async_trait]
impl PushStore for DynamoStore {
    async fn begin_push(
        &self,
        entity: &EntityId,
        account_id: &str,
        lease_until: EpochMillis,
        now: EpochMillis,
    ) -> Result<Option<PushLease>, StoreError> {
        // The mark is read first: a commit after this read marks it again with a later time,
        // which the end's conditional delete then keeps.
        let pending_at = self.pending_at(entity, account_id).await?;
        let result = self
            .client()
            .update_item()
            .table_name(&self.tables().mirror)
            .key("pk", s(push_pk(entity, account_id)))
            .key("sk", s(STATE_SK))
            .update_expression("SET lease_until = :until ADD fence :one")
            .condition_expression("attribute_not_exists(lease_until) OR lease_until <= :now")
            .expression_attribute_values(":until", n(lease_until.0))
            .expression_attribute_values(":now", n(now.0))
            .expression_attribute_values(":one", n(1))
            // The item as it was: whether its last holder released it, what was pushed.
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(unavailable(e)),
        };
        let item = out.attributes().cloned().unwrap_or_default();
        let mut pushed = pushed_of(&item)?;
        // Intents of a push that died: records it may have created.
        if let Some(AttributeValue::Ss(keys)) = item.get("intents") {
            for key in keys {
                pushed.entry(key.clone()).or_insert_with(Pushed::intent);
            }
        }
        Ok(Some(PushLease {
            entity: entity.clone(),
            account_id: account_id.to_string(),
            fence: opt_n::<u64>(&item, "fence").unwrap_or(0) + 1,
            pushed,
            pending_at,
            taken_over: item.contains_key("lease_until"),
        }))
    }

    async fn record_intents(&self, lease: &PushLease, keys: &[String]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let result = self
            .client()
            .update_item()
            .table_name(&self.tables().mirror)
            .key("pk", s(push_pk(&lease.entity, &lease.account_id)))
            .key("sk", s(STATE_SK))
            .update_expression("ADD intents :keys")
            .condition_expression("fence = :fence")
            .expression_attribute_values(":keys", AttributeValue::Ss(keys.to_vec()))
            .expression_attribute_values(":fence", n(lease.fence))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Err(StoreError::Fenced {
                    held: lease.fence,
                    current: None,
                })
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn end_push(&self, lease: &PushLease, end: &PushEnd) -> Result<(), StoreError> {
        let (name, value) = pushed_attr(&end.pushed);
        let mut state = Item::from([
            ("pk".into(), s(push_pk(&lease.entity, &lease.account_id))),
            ("sk".into(), s(STATE_SK)),
            ("fence".into(), n(lease.fence)),
            (name, value),
        ]);
        if let Some(until) = end.hold_until {
            state.insert("lease_until".into(), n(until.0));
        }
        // The put releases the lease (no `lease_until`, unless held) and is the fence's
        // condition.
        let put = Put::builder()
            .table_name(&self.tables().mirror)
            .set_item(Some(state))
            .condition_expression("fence = :fence")
            .expression_attribute_values(":fence", n(lease.fence))
            .build()
            .map_err(build_err)?;
        let mut first = vec![TransactWriteItem::builder().put(put).build()];
        if let Some(event) = &end.event {
            first.push(self.event_put(event)?);
        }
        let mut rest = self.failure_writes(lease, end)?;
        let room = MAX_TRANSACTION_ITEMS - first.len();
        let tail = rest.split_off(rest.len().min(room));
        first.extend(rest);
        // Failure writes beyond the first transaction (a push with many refused records) go in
        // more, each still conditioned on the fence.
        let mut later = Vec::new();
        for chunk in tail.chunks(MAX_TRANSACTION_ITEMS - 1) {
            let mut items = vec![self.fence_check(lease)?];
            items.extend(chunk.iter().cloned());
            later.push(items);
        }
        self.transact_fenced(lease, first).await?;
        for items in later {
            self.transact_fenced(lease, items).await?;
        }
        if end.complete
            && let Some(at) = lease.pending_at
        {
            self.clear_pending(&lease.entity, &lease.account_id, at)
                .await?;
        }
        Ok(())
    }

    async fn mark_pending(
        &self,
        entity: &EntityId,
        accounts: &[String],
        now: EpochMillis,
    ) -> Result<(), StoreError> {
        // 25 puts per request (BatchWriteItem's limit); what DynamoDB leaves unprocessed is
        // sent again.
        for chunk in accounts.chunks(25) {
            let mut writes: Vec<WriteRequest> = chunk
                .iter()
                .map(|account| {
                    let put = PutRequest::builder()
                        .set_item(Some(pending_item(entity, account, now)))
                        .build()
                        .map_err(build_err)?;
                    Ok(WriteRequest::builder().put_request(put).build())
                })
                .collect::<Result<_, StoreError>>()?;
            for attempt in 0..8u32 {
                if writes.is_empty() {
                    break;
                }
                if attempt > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
                }
                let out = self
                    .client()
                    .batch_write_item()
                    .request_items(&self.tables().mirror, writes)
                    .send()
                    .await
                    .map_err(unavailable)?;
                writes = out
                    .unprocessed_items()
                    .and_then(|u| u.get(&self.tables().mirror))
                    .cloned()
                    .unwrap_or_default();
            }
            if !writes.is_empty() {
                return Err(StoreError::Unavailable(
                    "DynamoDB left waiting marks unprocessed".into(),
                ));
            }
        }
        Ok(())
    }

    async fn pending_pushes(
        &self,
        entity: &EntityId,
        after: Option<EpochMillis>,
        upto: EpochMillis,
        limit: usize,
    ) -> Result<Vec<(String, EpochMillis)>, StoreError> {
        let after = after.unwrap_or(EpochMillis(i64::MIN));
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client()
                .query()
                .table_name(&self.tables().mirror)
                .key_condition_expression("pk = :pk")
                .filter_expression("#at > :after AND #at <= :upto")
                .expression_attribute_names("#at", "at")
                .expression_attribute_values(":pk", s(pending_pk(entity)))
                .expression_attribute_values(":after", n(after.0))
                .expression_attribute_values(":upto", n(upto.0))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            for item in page.items() {
                if let (Some(account), Some(at)) = (opt_s(item, "sk"), opt_n::<i64>(item, "at")) {
                    out.push((account, EpochMillis(at)));
                }
            }
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                break;
            }
        }
        out.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        out.truncate(limit);
        Ok(out)
    }

    async fn failures(
        &self,
        entity: &EntityId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<PushFailure>, StoreError> {
        // Query pages end at 1 MB: read on until `limit` items, so that a short answer means
        // the end of the list.
        let mut out = Vec::new();
        let mut start: Option<String> = after.map(str::to_string);
        while out.len() < limit {
            let mut query = self
                .client()
                .query()
                .table_name(&self.tables().mirror)
                .consistent_read(true)
                .expression_attribute_values(":pk", s(failures_pk(entity)))
                .limit((limit - out.len()).min(1000) as i32);
            query = match &start {
                Some(after) => query
                    .key_condition_expression("pk = :pk AND sk > :after")
                    .expression_attribute_values(":after", s(after)),
                None => query.key_condition_expression("pk = :pk"),
            };
            let page = query.send().await.map_err(unavailable)?;
            for item in page.items() {
                let data = opt_s(item, "data").unwrap_or_default();
                let failure: PushFailure = serde_json::from_str(&data)
                    .map_err(|e| StoreError::Corrupt(format!("failure item: {e}")))?;
                start = Some(failure.id.clone());
                out.push(failure);
            }
            if page.last_evaluated_key().is_none() {
                break;
            }
            if let Some(key) = page.last_evaluated_key().and_then(|k| opt_s(k, "sk")) {
                start = Some(key);
            }
        }
        Ok(out)
    }

    async fn remove_failures(&self, entity: &EntityId, ids: &[String]) -> Result<(), StoreError> {
        for id in ids {
            self.client()
                .delete_item()
                .table_name(&self.tables().mirror)
                .key("pk", s(failures_pk(entity)))
                .key("sk", s(id))
                .send()
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    async fn push_status(&self, entity: &EntityId) -> Result<PushStatus, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(&self.tables().state)
            .key("pk", s(status_pk(entity)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        let Some(item) = out.item() else {
            return Ok(PushStatus::default());
        };
        let api_usage = match (opt_n(item, "api_used"), opt_n(item, "api_max")) {
            (Some(used), Some(max)) => Some(ApiUsage { used, max }),
            _ => None,
        };
        Ok(PushStatus {
            paused_until: opt_n::<i64>(item, "paused_until").map(EpochMillis),
            pause_reason: opt_s(item, "pause_reason"),
            api_usage,
            drained_to: opt_n::<i64>(item, "drained_to").map(EpochMillis),
            requeued_at: opt_n::<i64>(item, "requeued_at").map(EpochMillis),
        })
    }

    async fn update_push_status(
        &self,
        entity: &EntityId,
        update: &PushStatusUpdate,
    ) -> Result<(), StoreError> {
        let mut sets = Vec::new();
        let mut values = HashMap::new();
        if let Some(usage) = update.api_usage {
            sets.push("api_used = :used, api_max = :max");
            values.insert(":used".to_string(), n(usage.used));
            values.insert(":max".to_string(), n(usage.max));
        }
        if let Some((until, reason)) = &update.paused {
            sets.push("paused_until = :until, pause_reason = :reason");
            values.insert(":until".to_string(), n(until.0));
            values.insert(":reason".to_string(), s(reason));
        }
        if let Some(d) = update.drained_to {
            sets.push("drained_to = :drained");
            values.insert(":drained".to_string(), n(d.0));
        }
        if let Some(r) = update.requeued_at {
            sets.push("requeued_at = :requeued");
            values.insert(":requeued".to_string(), n(r.0));
        }
        if sets.is_empty() {
            return Ok(());
        }
        self.client()
            .update_item()
            .table_name(&self.tables().state)
            .key("pk", s(status_pk(entity)))
            .update_expression(format!("SET {}", sets.join(", ")))
            .set_expression_attribute_values(Some(values))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
