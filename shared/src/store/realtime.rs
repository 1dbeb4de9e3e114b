//! Real-time state in the state table (design §1.5): one counter item per entity with the data
//! change count and the set of changed accounts, callout de-duplication markers, and sync
//! sessions.
//!
//! A session is *cut* from the counter in one transaction conditioned on the counter's epoch:
//! exactly one of any number of concurrent cutters wins, the changes it read leave the counter
//! (count subtracted, accounts deleted from the set), and changes that arrived meanwhile stay
//! for the next session.

use super::dynamo::{DynamoStore, unavailable};
use super::items::{Item, get_n, get_s, n, opt_n, opt_s, s};
use super::{RealtimeStore, StoreError};
use crate::clock::EpochMillis;
use crate::domain::EntityId;
use crate::realtime::{JobOutcome, RealtimeState, Session, SessionStatus, SessionTrigger};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use sha2::{Digest, Sha256};

/// Callout markers are kept this long: Zuora retries for at most a few hours.
const CALLOUT_MARKER_SECS: i64 = 7 * 24 * 3600;

fn realtime_pk(entity: &EntityId) -> String {
    format!("{entity}#realtime")
}

fn callout_pk(entity: &EntityId, dedupe_id: &str) -> String {
    let digest = hex::encode(Sha256::digest(dedupe_id.as_bytes()));
    format!("{entity}#callout#{digest}")
}

fn session_pk(entity: &EntityId, id: &str) -> String {
    format!("{entity}#session#{id}")
}

fn build_err(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Unavailable(format!("request could not be built: {e}"))
}

/// Whether a transaction was cancelled because its first action's condition failed.
fn first_condition_failed(e: &aws_sdk_dynamodb::error::SdkError<TransactWriteItemsError>) -> bool {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(c)) => c
            .cancellation_reasons()
            .first()
            .and_then(|r| r.code())
            .is_some_and(|code| code == "ConditionalCheckFailed"),
        _ => false,
    }
}

fn session_item(entity: &EntityId, session: &Session) -> Item {
    let mut item = Item::from([
        ("pk".into(), s(session_pk(entity, &session.id))),
        ("id".into(), s(&session.id)),
        ("entity".into(), s(entity.as_str())),
        ("trigger".into(), s(session.trigger.as_str())),
        ("status".into(), s(session.status.as_str())),
        ("started_at".into(), n(session.started_at.0)),
        ("total".into(), n(session.total)),
        ("succeeded".into(), n(session.succeeded)),
        ("failed".into(), n(session.failed)),
        ("skipped".into(), n(session.skipped)),
        ("written".into(), n(session.written)),
        ("changes".into(), n(session.changes)),
    ]);
    if let Some(at) = session.finished_at {
        item.insert("finished_at".into(), n(at.0));
    }
    item
}

fn item_session(item: &Item) -> Result<Session, StoreError> {
    let trigger = get_s(item, "trigger")?;
    let status = get_s(item, "status")?;
    Ok(Session {
        id: get_s(item, "id")?.to_string(),
        trigger: SessionTrigger::parse(trigger)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown session trigger {trigger}")))?,
        status: SessionStatus::parse(status)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown session status {status}")))?,
        started_at: EpochMillis(get_n(item, "started_at")?),
        finished_at: opt_n(item, "finished_at").map(EpochMillis),
        total: get_n(item, "total")?,
        succeeded: get_n(item, "succeeded")?,
        failed: get_n(item, "failed")?,
        skipped: get_n(item, "skipped")?,
        written: get_n(item, "written")?,
        changes: opt_n(item, "changes").unwrap_or(0),
        notify: match item.get("notify") {
            Some(AttributeValue::Bool(b)) => Some(*b),
            _ => None,
        },
        notification_level: opt_s(item, "notification_level"),
    })
}

#[async_trait::async_trait]
impl RealtimeStore for DynamoStore {
    async fn record_change(
        &self,
        entity: &EntityId,
        dedupe_id: &str,
        account: &str,
        now: EpochMillis,
    ) -> Result<bool, StoreError> {
        let marker = Put::builder()
            .table_name(&self.tables().state)
            .item("pk", s(callout_pk(entity, dedupe_id)))
            .item("account", s(account))
            .item("received_at", n(now.0))
            .item("expires_at", n(now.to_secs().0 + CALLOUT_MARKER_SECS))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_err)?;
        let count = Update::builder()
            .table_name(&self.tables().state)
            .key("pk", s(realtime_pk(entity)))
            .update_expression(
                "ADD changes :one, changed :account SET since = if_not_exists(since, :now)",
            )
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":account", AttributeValue::Ss(vec![account.into()]))
            .expression_attribute_values(":now", n(now.0))
            .build()
            .map_err(build_err)?;
        // One transaction: a change is counted exactly when its marker is written, so a
        // retried delivery never counts twice and a failed one is never marked as seen.
        let result = self
            .client()
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(marker).build())
            .transact_items(TransactWriteItem::builder().update(count).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if first_condition_failed(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn mark_changed(
        &self,
        entity: &EntityId,
        accounts: &[String],
        now: EpochMillis,
    ) -> Result<(), StoreError> {
        // With no accounts this only starts the clock of the max-time rule.
        let mut update = self
            .client()
            .update_item()
            .table_name(&self.tables().state)
            .key("pk", s(realtime_pk(entity)))
            .expression_attribute_values(":now", n(now.0));
        update = if accounts.is_empty() {
            update.update_expression("SET since = if_not_exists(since, :now)")
        } else {
            update
                .update_expression("ADD changed :accounts SET since = if_not_exists(since, :now)")
                .expression_attribute_values(":accounts", AttributeValue::Ss(accounts.to_vec()))
        };
        update.send().await.map(|_| ()).map_err(unavailable)
    }

    async fn realtime_state(&self, entity: &EntityId) -> Result<RealtimeState, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(&self.tables().state)
            .key("pk", s(realtime_pk(entity)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        let Some(item) = out.item() else {
            return Ok(RealtimeState::default());
        };
        let mut changed = match item.get("changed") {
            Some(AttributeValue::Ss(set)) => set.clone(),
            _ => Vec::new(),
        };
        changed.sort();
        Ok(RealtimeState {
            changes: opt_n(item, "changes").unwrap_or(0),
            changed,
            epoch: opt_n(item, "epoch").unwrap_or(0),
            since: opt_n(item, "since").map(EpochMillis),
            last_session_at: opt_n(item, "last_session_at").map(EpochMillis),
            last_session_id: opt_s(item, "last_session_id"),
            watermark: opt_s(item, "watermark"),
        })
    }

    async fn start_session(
        &self,
        entity: &EntityId,
        state: &RealtimeState,
        session: &Session,
        due: Option<EpochMillis>,
    ) -> Result<bool, StoreError> {
        let mut condition = String::from("(attribute_not_exists(epoch) OR epoch = :epoch)");
        let mut update = String::from(
            "SET epoch = if_not_exists(epoch, :zero) + :one, \
             changes = if_not_exists(changes, :zero) - :taken, \
             last_session_at = :now, last_session_id = :sid",
        );
        let mut cut = Update::builder()
            .table_name(&self.tables().state)
            .key("pk", s(realtime_pk(entity)))
            .expression_attribute_values(":epoch", n(state.epoch))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":taken", n(state.changes))
            .expression_attribute_values(":now", n(session.started_at.0))
            .expression_attribute_values(":sid", s(&session.id));
        if let Some(due) = due {
            // Overlapping sweeps: only one may start the session that is due.
            condition.push_str(
                " AND (attribute_not_exists(last_session_at) OR last_session_at <= :due)",
            );
            cut = cut.expression_attribute_values(":due", n(due.0));
        }
        if !state.changed.is_empty() {
            update.push_str(" DELETE changed :taken_accounts");
            cut = cut.expression_attribute_values(
                ":taken_accounts",
                AttributeValue::Ss(state.changed.clone()),
            );
        }
        let cut = cut
            .update_expression(update)
            .condition_expression(condition)
            .build()
            .map_err(build_err)?;
        let record = Put::builder()
            .table_name(&self.tables().state)
            .set_item(Some(session_item(entity, session)))
            .build()
            .map_err(build_err)?;
        let result = self
            .client()
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(cut).build())
            .transact_items(TransactWriteItem::builder().put(record).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if first_condition_failed(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn set_watermark(&self, entity: &EntityId, watermark: &str) -> Result<(), StoreError> {
        self.client()
            .update_item()
            .table_name(&self.tables().state)
            .key("pk", s(realtime_pk(entity)))
            .update_expression("SET watermark = :w")
            .expression_attribute_values(":w", s(watermark))
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn get_session(
        &self,
        entity: &EntityId,
        id: &str,
    ) -> Result<Option<Session>, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(&self.tables().state)
            .key("pk", s(session_pk(entity, id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        out.item().map(item_session).transpose()
    }

    async fn finish_job(
        &self,
        entity: &EntityId,
        session_id: &str,
        account: &str,
        outcome: JobOutcome,
        written: u32,
    ) -> Result<Session, StoreError> {
        let counter = match outcome {
            JobOutcome::Succeeded => "succeeded",
            JobOutcome::Failed => "failed",
            JobOutcome::Skipped => "skipped",
        };
        let now = crate::clock::SystemClock.now_secs();
        // The marker makes counting idempotent: a job retried after its count was written
        // (the message came back) is not counted twice.
        let marker = Put::builder()
            .table_name(&self.tables().state)
            .item(
                "pk",
                s(format!("{}#{account}", session_pk(entity, session_id))),
            )
            .item("outcome", s(counter))
            .item("expires_at", n(now + CALLOUT_MARKER_SECS))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_err)?;
        let count = Update::builder()
            .table_name(&self.tables().state)
            .key("pk", s(session_pk(entity, session_id)))
            .update_expression(format!("ADD {counter} :one, written :written"))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":written", n(written))
            .build()
            .map_err(build_err)?;
        let result = self
            .client()
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(marker).build())
            .transact_items(TransactWriteItem::builder().update(count).build())
            .send()
            .await;
        match result {
            Ok(_) => {}
            Err(e) if first_condition_failed(&e) => {}
            Err(e) => return Err(unavailable(e)),
        }
        self.get_session(entity, session_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("session {session_id} is gone")))
    }

    async fn complete_session(
        &self,
        entity: &EntityId,
        id: &str,
        notify: bool,
        level: &str,
        now: EpochMillis,
    ) -> Result<bool, StoreError> {
        let result = self
            .client()
            .update_item()
            .table_name(&self.tables().state)
            .key("pk", s(session_pk(entity, id)))
            .update_expression(
                "SET #status = :done, finished_at = :now, notify = :notify, notification_level = :level",
            )
            .condition_expression("#status = :running")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":done", s(SessionStatus::Done.as_str()))
            .expression_attribute_values(":running", s(SessionStatus::Running.as_str()))
            .expression_attribute_values(":now", n(now.0))
            .expression_attribute_values(":notify", AttributeValue::Bool(notify))
            .expression_attribute_values(":level", s(level))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(unavailable(e)),
        }
    }
}
