//! Account locks: acquire, wishes, release and the queued mark, each one conditional write.

use super::items::*;
use super::{DynamoStore, LOCK_TTL_AFTER_LEASE_SECS, unavailable};
use crate::model::*;
use crate::ports::*;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};

pub(super) fn lock_state(item: &Item) -> Result<LockState, StoreError> {
    Ok(LockState {
        fence: Fence(get_n(item, "fence")?),
        lease_until: EpochMillis(get_n(item, "lease_until_ms")?),
        pending: opt_n(item, "pending").unwrap_or(0),
        synced_from: opt_n(item, "synced_from_ms").map(EpochMillis),
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
            // Acquiring clears the queued-job mark and keeps the wishes: this holder's fetch
            // starts after the acquire, so its commit serves them (and only then removes them).
            .update_expression(
                "SET lease_until_ms = :lease, holder = :owner, pending = if_not_exists(pending, :zero), acquired_at_ms = :now, expires_at = :ttl ADD fence :one REMOVE queued_event, queued_until, queued_confirmed",
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
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => {
                // The old image (none for a new item): what this acquire took over.
                let old = out.attributes();
                let old_n = |name: &str| old.and_then(|item| opt_n::<u64>(item, name));
                let had = |name: &str| old.is_some_and(|item| item.contains_key(name));
                Ok(Acquire::Acquired(HeldLock {
                    key: key.clone(),
                    fence: Fence(old_n("fence").unwrap_or(0) + 1),
                    lease_until,
                    wishes: old_n("pending").unwrap_or(0),
                    torn: had("torn_at_ms"),
                    // A lock released before commits recorded their snapshot's time: its
                    // release is a bound no earlier than the last commit's reads.
                    synced_from: old
                        .and_then(|item| {
                            opt_n(item, "synced_from_ms").or_else(|| opt_n(item, "released_at_ms"))
                        })
                        .map(EpochMillis),
                    cleared_mark: had("queued_event"),
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
            // The wisher whose write first finds no check claimed for this lease claims it.
            .update_expression("ADD pending :one SET check_for_ms = lease_until_ms")
            // Only on the lease we saw: a wish on a released or expired lock would be served
            // by nobody.
            .condition_expression("fence = :fence AND lease_until_ms >= :now")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":fence", n(holder.0))
            .expression_attribute_values(":now", n(now.0))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => {
                let old = out.attributes();
                let lease = old.and_then(|a| opt_n::<i64>(a, "lease_until_ms"));
                let claimed = old.and_then(|a| opt_n::<i64>(a, "check_for_ms"));
                Ok(Wish::Recorded {
                    check_needed: claimed != lease,
                })
            }
            Err(e) if conditional_failure_item(&e).is_some() => Ok(Wish::LockChanged),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn unclaim_check(
        &self,
        key: &LockKey,
        holder: Fence,
        lease_until: EpochMillis,
    ) -> Result<(), StoreError> {
        let result = self
            .lock_update(key)
            .update_expression("REMOVE check_for_ms")
            .condition_expression("fence = :fence AND check_for_ms = :lease")
            .expression_attribute_values(":lease", n(lease_until.0))
            .expression_attribute_values(":fence", n(holder.0))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Another holder now: its own wishers see to its checks.
            Err(e) if conditional_failure_item(&e).is_some() => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn pending_wishes(&self, lock: &HeldLock) -> Result<u64, StoreError> {
        let state = self.peek(&lock.key).await?;
        match state {
            Some(s) if s.fence == lock.fence => Ok(s.pending),
            other => Err(StoreError::Fenced {
                held: lock.fence.0,
                current: other.map(|s| s.fence.0),
            }),
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

    async fn seen_locks(&self, keys: &[LockKey]) -> Result<Vec<SeenLock>, StoreError> {
        self.seen_lock_items(keys).await
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
        // Unconfirmed until its job is sent (`confirm_mark`).
        let mut update = String::from(
            "SET queued_event = :event, queued_until = :until, queued_confirmed = :unsent",
        );
        let mut request = self
            .lock_update(key)
            .expression_attribute_values(":now", n(now.0))
            .expression_attribute_values(":event", s(event_id))
            .expression_attribute_values(":until", n(mark_until.0))
            .expression_attribute_values(":unsent", AttributeValue::Bool(false));
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
            Some(event_id) => Ok(Mark::Queued {
                event_id,
                // Marks written before confirmation existed were written after their send.
                confirmed: !matches!(
                    old.get("queued_confirmed"),
                    Some(AttributeValue::Bool(false))
                ),
            }),
            None => Err(StoreError::Corrupt(
                "queued mark refused, but the item shows no reason".into(),
            )),
        }
    }

    async fn confirm_mark(
        &self,
        key: &LockKey,
        event_id: &str,
        until: EpochMillis,
    ) -> Result<(), StoreError> {
        let result = self
            .lock_update(key)
            .update_expression("SET queued_until = :until, queued_confirmed = :sent")
            .condition_expression("queued_event = :event")
            .expression_attribute_values(":event", s(event_id))
            .expression_attribute_values(":until", n(until.0))
            .expression_attribute_values(":sent", AttributeValue::Bool(true))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // The worker already started the job (acquiring cleared the mark).
            Err(e) if conditional_failure_item(&e).is_some() => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn clear_mark(
        &self,
        key: &LockKey,
        event_id: &str,
    ) -> Result<Option<EpochMillis>, StoreError> {
        let result = self
            .lock_update(key)
            .update_expression("REMOVE queued_event, queued_until, queued_confirmed")
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
