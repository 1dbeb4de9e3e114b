//! The entity's change counter: numbering a change, and the two-write transactions the session
//! protocol uses (a marker or cut first, whose condition decides).

use super::items::{n, s};
use super::session_item::{change_pk, realtime_pk, state_of};
use super::{DynamoStore, unavailable};
use crate::model::{EntityId, EpochMillis, RealtimeState};
use crate::ports::StoreError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::TransactWriteItem;

/// Whether a transaction was cancelled because its first action's condition failed.
pub(super) fn first_condition_failed(
    e: &aws_sdk_dynamodb::error::SdkError<TransactWriteItemsError>,
) -> bool {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(c)) => c
            .cancellation_reasons()
            .first()
            .and_then(|r| r.code())
            .is_some_and(|code| code == "ConditionalCheckFailed"),
        _ => false,
    }
}

impl DynamoStore {
    /// Takes the next change number: the counter after it.
    pub(super) async fn take_number(
        &self,
        entity: &EntityId,
        now: EpochMillis,
    ) -> Result<RealtimeState, StoreError> {
        let out = self
            .client()
            .update_item()
            .table_name(&self.tables().state)
            .key("pk", s(realtime_pk(entity)))
            .update_expression(
                "ADD seq :one SET since = if_not_exists(since, :now), last_cut = if_not_exists(last_cut, :zero)",
            )
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":now", n(now.0))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await
            .map_err(unavailable)?;
        out.attributes()
            .map(state_of)
            .ok_or_else(|| StoreError::Corrupt("counter update returned nothing".into()))?
    }

    /// Writes the change under its number; `false` when a session sealed the number first.
    pub(super) async fn put_change(
        &self,
        entity: &EntityId,
        seq: u64,
        account: &str,
        ttl: i64,
    ) -> Result<bool, StoreError> {
        let put = self
            .client()
            .put_item()
            .table_name(&self.tables().state)
            .item("pk", s(change_pk(entity, seq)))
            .item("account", s(account))
            .item("expires_at", n(ttl))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|x| x.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// A duplicate delivery's number: it stays taken, counting no account.
    pub(super) async fn void_change(
        &self,
        entity: &EntityId,
        seq: u64,
        ttl: i64,
    ) -> Result<(), StoreError> {
        self.client()
            .put_item()
            .table_name(&self.tables().state)
            .item("pk", s(change_pk(entity, seq)))
            .item(
                "duplicate",
                aws_sdk_dynamodb::types::AttributeValue::Bool(true),
            )
            .item("expires_at", n(ttl))
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}

impl DynamoStore {
    /// Two writes as one transaction: `true` when written, `false` when the first one's
    /// condition failed (nothing written). A conflict with another transaction on one of the
    /// items (concurrent parts of a bulk export write their session's header) is retried.
    pub(super) async fn write_pair(
        &self,
        first: TransactWriteItem,
        second: TransactWriteItem,
    ) -> Result<bool, StoreError> {
        self.transact_retrying(vec![first, second], first_condition_failed)
            .await
    }
}
