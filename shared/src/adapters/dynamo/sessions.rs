//! Real-time state in the state table (docs/ARCHITECTURE.md, "The session protocol"): per entity, a counter item, one item per
//! data change, callout de-duplication markers, and sync sessions.
//!
//! Every counted change (a callout not seen before: its marker is written first) takes the
//! next sequence number `seq` from the counter and is stored as `change#<seq>` with its
//! account. `last_cut` is where the last session ended, so the
//! changes waiting are exactly `(last_cut, seq]`. A session is *cut* by one conditional write
//! that moves `last_cut` forward from the value its cutter read: of any number of concurrent
//! cutters exactly one wins each range, so every threshold crossing (`last_cut + threshold`)
//! starts exactly one session, and changes after its range count toward the next.

use super::items::{get_s, n, opt_s, s};
use super::session_item::*;
use super::session_shards::{shard_expiry, shard_pk};
use super::{DynamoStore, build_err, unavailable};
use crate::model::EntityId;
use crate::model::EpochMillis;
use crate::model::{
    EndedJob, JobOutcome, MAX_FAILURES_LISTED, PageRecord, RealtimeState, ReconcileMarks, Session,
    SessionStatus,
};
use crate::ports::{RealtimeStore, StoreError};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use sha2::{Digest, Sha256};

/// Numbers a change may take before its callout is answered 503 (each lost one was sealed by
/// a session that could not wait longer).
const NUMBER_ATTEMPTS: usize = 3;

#[async_trait::async_trait]
impl RealtimeStore for DynamoStore {
    async fn torn_commits(
        &self,
        entity: &EntityId,
    ) -> Result<Vec<crate::model::TornCommit>, StoreError> {
        let list = self
            .client
            .get_item()
            .table_name(&self.tables.state)
            .key("pk", s(super::items::torn_pk(entity)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        let accounts = match list.item().and_then(|i| i.get("accounts")) {
            Some(AttributeValue::Ss(accounts)) => accounts.clone(),
            _ => return Ok(Vec::new()),
        };
        let mut out = Vec::new();
        for account_id in accounts {
            let lock = self
                .client
                .get_item()
                .table_name(&self.tables.locks)
                .key("pk", s(super::items::lock_pk(entity, &account_id)))
                .consistent_read(true)
                .send()
                .await
                .map_err(unavailable)?;
            match lock.item().filter(|i| i.contains_key("torn_at_ms")) {
                Some(item) => out.push(crate::model::TornCommit {
                    lease_until: EpochMillis(
                        super::items::opt_n(item, "lease_until_ms").unwrap_or(0),
                    ),
                    account_id,
                }),
                None => self.drop_torn_entry(entity, &account_id).await?,
            }
        }
        Ok(out)
    }

    async fn record_change(
        &self,
        entity: &EntityId,
        dedupe_id: &str,
        account: &str,
        now: EpochMillis,
    ) -> Result<Option<RealtimeState>, StoreError> {
        let ttl = now.to_secs().0 + CALLOUT_MARKER_SECS;
        let change_ttl = now.to_secs().0 + CHANGE_SECS;
        // 1. A retry seen before stops here, taking no number. 2. A number and 3. the change
        //    under it: a number a cutter sealed meanwhile is given up for the next. 4. Only then
        //    the marker, so a caller that dies before it leaves none and Zuora's retry is
        //    counted (twice at worst, never lost); a concurrent duplicate voids its number.
        let seen = self
            .client()
            .get_item()
            .table_name(&self.tables().state)
            .key("pk", s(callout_pk(entity, dedupe_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        if seen.item().is_some() {
            return Ok(None);
        }
        for _ in 0..NUMBER_ATTEMPTS {
            let state = self.take_number(entity, now).await?;
            if !self
                .put_change(entity, state.seq, account, change_ttl)
                .await?
            {
                continue;
            }
            let claimed = self
                .client()
                .put_item()
                .table_name(&self.tables().state)
                .item("pk", s(callout_pk(entity, dedupe_id)))
                .item("account", s(account))
                .item("expires_at", n(ttl))
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await;
            return match claimed {
                Ok(_) => Ok(Some(state)),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|x| x.is_conditional_check_failed_exception()) =>
                {
                    // A delivery counted before: its number counts no account.
                    self.void_change(entity, state.seq, ttl).await?;
                    Ok(None)
                }
                Err(e) => Err(unavailable(e)),
            };
        }
        Err(StoreError::Unavailable(
            "every change number taken was skipped by a session; retry".into(),
        ))
    }

    async fn touch(&self, entity: &EntityId, now: EpochMillis) -> Result<(), StoreError> {
        self.client()
            .update_item()
            .table_name(&self.tables().state)
            .key("pk", s(realtime_pk(entity)))
            .update_expression("SET since = if_not_exists(since, :now)")
            .expression_attribute_values(":now", n(now.0))
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
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
        out.item()
            .map(state_of)
            .transpose()
            .map(Option::unwrap_or_default)
    }

    async fn start_session(
        &self,
        entity: &EntityId,
        from: u64,
        session: &Session,
        due: Option<EpochMillis>,
    ) -> Result<bool, StoreError> {
        let mut condition =
            String::from("(attribute_not_exists(last_cut) AND :from = :zero) OR last_cut = :from");
        let mut cut = Update::builder()
            .table_name(&self.tables().state)
            .key("pk", s(realtime_pk(entity)))
            .expression_attribute_values(":from", n(from))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":to", n(session.to_seq))
            .expression_attribute_values(":now", n(session.started_at.0))
            .expression_attribute_values(":sid", s(&session.id));
        if let Some(due) = due {
            // Overlapping sweeps: only one may start the session that is due.
            condition = format!(
                "({condition}) AND (attribute_not_exists(last_session_at) OR last_session_at <= :due)"
            );
            cut = cut.expression_attribute_values(":due", n(due.0));
        }
        let cut = cut
            .update_expression(
                "SET last_cut = :to, last_session_at = :now, last_session_id = :sid ADD unqueued :sids, running :sids",
            )
            .expression_attribute_values(":sids", AttributeValue::Ss(vec![session.id.clone()]))
            .condition_expression(condition)
            .build()
            .map_err(build_err)?;
        let record = Put::builder()
            .table_name(&self.tables().state)
            .set_item(Some(session_item(entity, session)))
            .build()
            .map_err(build_err)?;
        self.write_pair(
            TransactWriteItem::builder().update(cut).build(),
            TransactWriteItem::builder().put(record).build(),
        )
        .await
    }

    async fn changes(
        &self,
        entity: &EntityId,
        after: u64,
        upto: u64,
    ) -> Result<Vec<(u64, Option<String>)>, StoreError> {
        let pks: Vec<String> = (after + 1..=upto)
            .map(|seq| change_pk(entity, seq))
            .collect();
        let mut found = Vec::new();
        for item in self.get_many(&self.tables().state, &pks, true).await? {
            let pk = get_s(&item, "pk")?;
            let seq = pk
                .rsplit('#')
                .next()
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| StoreError::Corrupt(format!("change key {pk}")))?;
            found.push((seq, opt_s(&item, "account")));
        }
        found.sort();
        Ok(found)
    }

    async fn set_delivery(
        &self,
        entity: &EntityId,
        id: &str,
        note: &str,
    ) -> Result<(), StoreError> {
        self.client()
            .update_item()
            .table_name(&self.tables().state)
            .key("pk", s(session_pk(entity, id)))
            .update_expression("SET delivery = :note")
            .expression_attribute_values(":note", s(note))
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn create_session(&self, entity: &EntityId, session: &Session) -> Result<(), StoreError> {
        let record = Put::builder()
            .table_name(&self.tables().state)
            .set_item(Some(session_item(entity, session)))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_err)?;
        let latest = Update::builder()
            .table_name(&self.tables().state)
            .key("pk", s(realtime_pk(entity)))
            .update_expression(
                "SET last_session_at = :now, last_session_id = :sid ADD unqueued :sids, running :sids",
            )
            .expression_attribute_values(":now", n(session.started_at.0))
            .expression_attribute_values(":sid", s(&session.id))
            .expression_attribute_values(":sids", AttributeValue::Ss(vec![session.id.clone()]))
            .build()
            .map_err(build_err)?;
        self.client()
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(record).build())
            .transact_items(TransactWriteItem::builder().update(latest).build())
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn part_fanned_out(
        &self,
        entity: &EntityId,
        session_id: &str,
        part: u32,
    ) -> Result<u32, StoreError> {
        let now = crate::adapters::clock::SystemClock.now_secs();
        let header = session_pk(entity, session_id);
        // The part's marker makes the count idempotent: a part fanned out again adds nothing.
        let marker = Put::builder()
            .table_name(&self.tables().state)
            .item("pk", s(part_marker_pk(&header, part)))
            .item("expires_at", n(now + CHANGE_SECS))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_err)?;
        let add = Update::builder()
            .table_name(&self.tables().state)
            .key("pk", s(&header))
            .update_expression("ADD parts_done :one")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":one", n(1))
            .build()
            .map_err(build_err)?;
        self.write_pair(
            TransactWriteItem::builder().put(marker).build(),
            TransactWriteItem::builder().update(add).build(),
        )
        .await?;
        let out = self
            .client()
            .get_item()
            .table_name(&self.tables().state)
            .key("pk", s(&header))
            .consistent_read(true)
            .projection_expression("parts_done")
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out
            .item()
            .and_then(|item| super::items::opt_n::<u32>(item, "parts_done"))
            .unwrap_or(0))
    }

    async fn part_ended(
        &self,
        entity: &EntityId,
        session_id: &str,
        part: u32,
    ) -> Result<bool, StoreError> {
        let header = session_pk(entity, session_id);
        let out = self
            .client()
            .get_item()
            .table_name(&self.tables().state)
            .key("pk", s(part_marker_pk(&header, part)))
            .consistent_read(true)
            .projection_expression("pk")
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item().is_some())
    }

    async fn add_page(
        &self,
        entity: &EntityId,
        session_id: &str,
        page_key: &str,
        page: &PageRecord,
    ) -> Result<PageRecord, StoreError> {
        let digest = hex::encode(Sha256::digest(page_key.as_bytes()));
        let now = crate::adapters::clock::SystemClock.now_secs();
        let marker_pk = format!("{}#page#{digest}", session_pk(entity, session_id));
        let mut marker = Put::builder()
            .table_name(&self.tables().state)
            .item("pk", s(&marker_pk))
            .item(
                "accounts",
                AttributeValue::L(page.accounts.iter().map(s).collect()),
            )
            .item("expires_at", n(now + CHANGE_SECS))
            .condition_expression("attribute_not_exists(pk)");
        let grow = Update::builder()
            .table_name(&self.tables().state)
            .key("pk", s(session_pk(entity, session_id)))
            .update_expression("ADD #total :n SET enumerating = :still")
            .condition_expression("attribute_exists(pk)")
            // `total` is a DynamoDB reserved word.
            .expression_attribute_names("#total", "total")
            .expression_attribute_values(":n", n(page.accounts.len()))
            .expression_attribute_values(":still", AttributeValue::Bool(page.next.is_some()))
            .build()
            .map_err(build_err)?;
        if let Some(next) = &page.next {
            marker = marker.item("next", s(next));
        }
        let marker = marker.build().map_err(build_err)?;
        let added = self
            .write_pair(
                TransactWriteItem::builder().put(marker).build(),
                TransactWriteItem::builder().update(grow).build(),
            )
            .await?;
        if added {
            return Ok(page.clone());
        }
        // Added before (the job is being retried): the page as first recorded.
        let out = self
            .client()
            .get_item()
            .table_name(&self.tables().state)
            .key("pk", s(&marker_pk))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        let item = out
            .item()
            .ok_or_else(|| StoreError::Corrupt(format!("page marker {marker_pk} is gone")))?;
        let accounts = match item.get("accounts") {
            Some(AttributeValue::L(list)) => {
                list.iter().filter_map(|v| v.as_s().ok().cloned()).collect()
            }
            _ => Vec::new(),
        };
        Ok(PageRecord {
            accounts,
            next: opt_s(item, "next"),
        })
    }

    async fn skip_missing(&self, entity: &EntityId, seqs: &[u64]) -> Result<Vec<u64>, StoreError> {
        let ttl = crate::adapters::clock::SystemClock.now_secs() + CHANGE_SECS;
        let mut landed = Vec::new();
        for seq in seqs {
            let sealed = self
                .client()
                .put_item()
                .table_name(&self.tables().state)
                .item("pk", s(change_pk(entity, *seq)))
                .item("skipped", AttributeValue::Bool(true))
                .item("expires_at", n(ttl))
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await;
            match sealed {
                Ok(_) => {}
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|x| x.is_conditional_check_failed_exception()) =>
                {
                    landed.push(*seq);
                }
                Err(e) => return Err(unavailable(e)),
            }
        }
        Ok(landed)
    }

    async fn session_ended(
        &self,
        entity: &EntityId,
        id: &str,
        succeeded_at: Option<EpochMillis>,
    ) -> Result<(), StoreError> {
        let Some(at) = succeeded_at else {
            return self.leave_set(entity, "running", id).await;
        };
        // Sessions end in about the order they finish; a slower writer of an earlier end
        // must not move the time back.
        let moved = self
            .client()
            .update_item()
            .table_name(&self.tables().state)
            .key("pk", s(realtime_pk(entity)))
            .update_expression("DELETE running :sid SET last_success_at = :at")
            .condition_expression("attribute_not_exists(last_success_at) OR last_success_at < :at")
            .expression_attribute_values(":sid", AttributeValue::Ss(vec![id.to_string()]))
            .expression_attribute_values(":at", n(at.0))
            .send()
            .await;
        match applied(moved)? {
            true => Ok(()),
            false => self.leave_set(entity, "running", id).await,
        }
    }

    async fn expire_session(
        &self,
        entity: &EntityId,
        id: &str,
        now: EpochMillis,
    ) -> Result<bool, StoreError> {
        let result = self
            .client()
            .update_item()
            .table_name(&self.tables().state)
            .key("pk", s(session_pk(entity, id)))
            .update_expression("SET #status = :expired, finished_at = :now")
            .condition_expression("#status = :running")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":expired", s(SessionStatus::Expired.as_str()))
            .expression_attribute_values(":running", s(SessionStatus::Running.as_str()))
            .expression_attribute_values(":now", n(now.0))
            .send()
            .await;
        applied(result)
    }

    async fn session_queued(&self, entity: &EntityId, id: &str) -> Result<(), StoreError> {
        self.leave_set(entity, "unqueued", id).await
    }

    async fn set_reconcile_marks(
        &self,
        entity: &EntityId,
        marks: &ReconcileMarks,
    ) -> Result<(), StoreError> {
        let marks = serde_dynamo::to_attribute_value(marks)
            .map_err(|e| StoreError::Corrupt(format!("reconciliation marks: {e}")))?;
        self.client()
            .update_item()
            .table_name(&self.tables().state)
            .key("pk", s(realtime_pk(entity)))
            .update_expression("SET reconcile = :r REMOVE watermark")
            .expression_attribute_values(":r", marks)
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
        self.read_session(entity, id).await
    }

    async fn finish_job(
        &self,
        entity: &EntityId,
        session_id: &str,
        account: &str,
        outcome: JobOutcome,
        written: u32,
        failure: Option<&str>,
    ) -> Result<Session, StoreError> {
        let job = EndedJob {
            account: account.to_string(),
            outcome,
            written,
            failure: failure.map(str::to_string),
        };
        self.count_one(entity, session_id, &job).await?;
        self.session_after(entity, session_id).await
    }

    async fn finish_jobs(
        &self,
        entity: &EntityId,
        session_id: &str,
        jobs: &[EndedJob],
    ) -> Result<Session, StoreError> {
        self.count_together(entity, session_id, jobs).await?;
        self.session_after(entity, session_id).await
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
        applied(result)
    }
}

/// A conditional update's answer: `true` if it applied, `false` if its condition failed.
fn applied<T>(result: Result<T, SdkError<UpdateItemError>>) -> Result<bool, StoreError> {
    match result {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(UpdateItemError::is_conditional_check_failed_exception) =>
        {
            Ok(false)
        }
        Err(e) => Err(unavailable(e)),
    }
}

/// What one finished job adds to its session.
#[derive(Clone, Copy)]
struct JobCount<'a> {
    /// The session attribute it counts in (`succeeded`, `failed`, `skipped`).
    counter: &'a str,
    written: u32,
}

impl DynamoStore {
    /// Counts one ended job, and lists its failure once counted.
    pub(super) async fn count_one(
        &self,
        entity: &EntityId,
        session_id: &str,
        job: &EndedJob,
    ) -> Result<(), StoreError> {
        // The marker makes counting idempotent: a job retried after its count was written
        // (the message came back) is not counted twice. Only a real outcome replaces a
        // `skipped` one (a duplicate delivery that coalesced must not hide it).
        let count = JobCount {
            counter: job.outcome.counter(),
            written: job.written,
        };
        let account = job.account.as_str();
        let mut counted = self
            .count_job(entity, session_id, account, &count, false)
            .await?;
        if !counted && job.outcome != JobOutcome::Skipped {
            counted = self
                .count_job(entity, session_id, account, &count, true)
                .await?;
        }
        if counted && let Some(failure) = &job.failure {
            self.list_failure_or_warn(entity, session_id, failure).await;
        }
        Ok(())
    }

    /// Lists a counted job's failure; the count landed, and the text is only a summary's
    /// detail (the job's event has it), so a failure to list it is logged, not returned.
    pub(super) async fn list_failure_or_warn(
        &self,
        entity: &EntityId,
        session_id: &str,
        failure: &str,
    ) {
        if let Err(e) = self.list_failure(entity, session_id, failure).await {
            tracing::warn!(session = session_id, error = %e, "could not list a session failure");
        }
    }

    async fn session_after(
        &self,
        entity: &EntityId,
        session_id: &str,
    ) -> Result<Session, StoreError> {
        self.get_session(entity, session_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("session {session_id} is gone")))
    }

    /// Adds a failure text to the session's set while it holds fewer than
    /// [`MAX_FAILURES_LISTED`] (M5: the item must stay under DynamoDB's 400 KB whatever the
    /// session's size). Apart from the count, which must always land: a crash between the two
    /// loses one text, never a count.
    async fn list_failure(
        &self,
        entity: &EntityId,
        session_id: &str,
        failure: &str,
    ) -> Result<(), StoreError> {
        let result = self
            .client()
            .update_item()
            .table_name(&self.tables().state)
            .key("pk", s(session_pk(entity, session_id)))
            .update_expression("ADD failures :f")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(failures) OR size(failures) < :max)",
            )
            .expression_attribute_values(":f", AttributeValue::Ss(vec![failure.to_string()]))
            .expression_attribute_values(":max", n(MAX_FAILURES_LISTED))
            .send()
            .await;
        applied(result).map(|_| ())
    }

    /// Takes a session id out of one of the counter's sets (`unqueued`, `running`).
    async fn leave_set(&self, entity: &EntityId, set: &str, id: &str) -> Result<(), StoreError> {
        self.client()
            .update_item()
            .table_name(&self.tables().state)
            .key("pk", s(realtime_pk(entity)))
            .update_expression(format!("DELETE {set} :sid"))
            .expression_attribute_values(":sid", AttributeValue::Ss(vec![id.to_string()]))
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    /// One job's count on its session's shard, with its marker, as one transaction: a first
    /// count (the marker must not exist), or with `over_skipped` the replacement of a `skipped`
    /// count (the marker must say `skipped`). `false` when the marker's condition failed. A
    /// transaction cancelled by another's conflict is tried again (`session_shards`).
    async fn count_job(
        &self,
        entity: &EntityId,
        session_id: &str,
        account: &str,
        count: &JobCount<'_>,
        over_skipped: bool,
    ) -> Result<bool, StoreError> {
        let JobCount { counter, written } = *count;
        let now = crate::adapters::clock::SystemClock.now_secs();
        let mut marker = self.job_marker(entity, session_id, account, counter, now);
        marker = if over_skipped {
            marker
                .condition_expression("outcome = :skipped")
                .expression_attribute_values(":skipped", s("skipped"))
        } else {
            marker.condition_expression("attribute_not_exists(pk)")
        };
        let marker = marker.build().map_err(build_err)?;
        let mut adds = format!("{counter} :one, written :written");
        if over_skipped {
            adds.push_str(", skipped :minus");
        }
        let mut count = Update::builder()
            .table_name(&self.tables().state)
            .key("pk", s(shard_pk(entity, session_id, account)))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":written", n(written))
            .expression_attribute_values(":expires", shard_expiry(now));
        if over_skipped {
            count = count.expression_attribute_values(":minus", n(-1));
        }
        let count = count
            .update_expression(format!(
                "ADD {adds} SET expires_at = if_not_exists(expires_at, :expires)"
            ))
            .build()
            .map_err(build_err)?;
        self.transact_counting(vec![
            TransactWriteItem::builder().put(marker).build(),
            TransactWriteItem::builder().update(count).build(),
        ])
        .await
    }
}

impl DynamoStore {
    /// Removes a listed account whose lock no longer marks a torn commit (its lock item
    /// expired), only while that still holds: a commit that marks it again meanwhile keeps it.
    async fn drop_torn_entry(&self, entity: &EntityId, account_id: &str) -> Result<(), StoreError> {
        let check = aws_sdk_dynamodb::types::ConditionCheck::builder()
            .table_name(&self.tables.locks)
            .key("pk", s(super::items::lock_pk(entity, account_id)))
            .condition_expression("attribute_not_exists(torn_at_ms)")
            .build()
            .map_err(build_err)?;
        let remove = Update::builder()
            .table_name(&self.tables.state)
            .key("pk", s(super::items::torn_pk(entity)))
            .update_expression("DELETE accounts :account")
            .expression_attribute_values(
                ":account",
                AttributeValue::Ss(vec![account_id.to_string()]),
            )
            .build()
            .map_err(build_err)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().condition_check(check).build())
            .transact_items(TransactWriteItem::builder().update(remove).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Marked again meanwhile: it stays listed.
            Err(e) if matches!(
                e.as_service_error(),
                Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(_))
            ) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }
}

/// The marker of a split bulk export's part that was fanned out whole.
fn part_marker_pk(session_pk: &str, part: u32) -> String {
    format!("{session_pk}#part#{part}")
}
