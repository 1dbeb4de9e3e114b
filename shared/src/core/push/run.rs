//! One push of a set of accounts: leases, diffs, the deletes (children first), the upserts
//! (parents first, up to 200 records of many accounts per call), and one fenced write per
//! account with what each record became and the account's event.

use super::{PushError, PushService};
use crate::model::{
    EntityId, EpochMillis, EventStatus, PushCounts, PushFailure, PushPlan, Pushed, PushedRecords,
    SalesforceSettings, SfObject, SfRecord, SyncEvent, Trigger, desired_records, new_event_id,
    parse_state_key, plan_push, unreadable_record,
};
use crate::ports::{
    PushEnd, PushLease, PushStatusUpdate, RecordResult, SalesforceApi, SalesforceError, StoreError,
};
use futures::{StreamExt, stream};
use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Salesforce takes at most this many records (or ids) per collections call.
pub const MAX_PER_CALL: usize = 200;

/// Accounts whose lease, mirror read or final write run at once within one push.
const STORE_CONCURRENCY: usize = 16;

/// Kept after the last Salesforce call for the fenced writes that record the push: one per
/// account, `STORE_CONCURRENCY` at once, each request within the SDK's 2 s operation timeout.
pub const PUSH_STORE_RESERVE: Duration = Duration::from_secs(12);

/// What a push did.
#[derive(Debug, Default)]
pub struct PushReport {
    /// Per account pushed: its id, counts and whether it is now fully in line.
    pub accounts: Vec<(String, PushCounts, bool)>,
    /// Accounts whose lease another push held; their marks stay.
    pub busy: Vec<String>,
    /// Pushes for the entity are paused (the API budget or a limit error).
    pub paused: bool,
    /// Salesforce calls made.
    pub calls: u32,
    /// Records sent per upsert call.
    pub records_per_call: Vec<usize>,
    /// Set when Salesforce failed the push as a whole part-way (progress is recorded).
    pub error: Option<SalesforceError>,
}

/// One account's part of the push.
struct Work {
    lease: PushLease,
    account_number: Option<String>,
    plan: PushPlan,
    pushed: PushedRecords,
    /// Pushed-state keys Salesforce holds (a known record id): children may reference them.
    present: BTreeSet<String>,
    /// Keys left for a later push (transient errors).
    deferred: BTreeSet<String>,
    counts: PushCounts,
    failures: Vec<PushFailure>,
    resolved: Vec<String>,
    incomplete: bool,
}

/// A call about this record went without an answer (or was not made): Salesforce may hold
/// the fields sent, or not, or not the record at all. Its hash is forgotten, so whatever the
/// mirror says next is sent again — were it the very fields last recorded, "unchanged" would
/// leave Salesforce with what the unanswered call wrote.
fn unsure(pushed: &mut PushedRecords, key: &str) {
    if let Some(p) = pushed.get_mut(key) {
        p.hash.clear();
    }
}

/// New records one push creates per account, at most: their intents live in the account's
/// state item (about 90 bytes each), which DynamoDB caps at 400 KB. An account with more waits
/// for the next push for the rest (its mark stays).
const MAX_NEW_PER_PUSH: usize = 1_000;

/// Keeps the first [`MAX_NEW_PER_PUSH`] new records of an account's plan (in plan order,
/// parents first), deferring the others.
fn limit_new_records(w: &mut Work) {
    let mut new = 0;
    let mut deferred = 0;
    let pushed = &w.pushed;
    w.plan.upserts.retain(|r| {
        if pushed.contains_key(&r.state_key()) {
            return true;
        }
        new += 1;
        if new <= MAX_NEW_PER_PUSH {
            return true;
        }
        deferred += 1;
        false
    });
    if deferred > 0 {
        w.counts.deferred += deferred;
        w.incomplete = true;
    }
}

/// The push's state across its calls.
struct Push<'a> {
    service: &'a PushService,
    entity: &'a EntityId,
    sf: Arc<dyn SalesforceApi>,
    settings: SalesforceSettings,
    works: Vec<Work>,
    report: PushReport,
    /// Stop calling Salesforce (a limit, an outage): what is left waits for a later push.
    stopped: bool,
    /// Salesforce calls end by then, leaving time to record what they did.
    cutoff: EpochMillis,
    /// The push stopped at the cutoff (not a Salesforce failure: no pause).
    out_of_time: AtomicBool,
    /// A call went unanswered (dropped at the cutoff, or lost on the way): Salesforce may
    /// still carry it out, so the leases are held a while.
    lost_call: AtomicBool,
}

impl PushService {
    /// Pushes the accounts (Zuora account ids). With `retry_failed`, records refused before are
    /// sent again even if unchanged (an operator's retry).
    pub async fn push(
        &self,
        entity: &EntityId,
        accounts: &[String],
        retry_failed: bool,
        correlation_id: &str,
        deadline: EpochMillis,
    ) -> Result<PushReport, PushError> {
        let sf = self
            .salesforce
            .get(entity)
            .cloned()
            .ok_or_else(|| PushError::NotConnected(entity.clone()))?;
        let settings = self.settings.get(entity).await?.settings.salesforce;
        let mut report = PushReport::default();
        if !settings.enabled {
            return Ok(report);
        }
        let now = self.clock.now();
        if self.store.push_status(entity).await?.paused(now) {
            report.paused = true;
            return Ok(report);
        }
        let lease_until = deadline
            .max(now.plus_ms(60_000))
            .plus_ms(self.tuning.lease_margin.as_millis() as i64);
        let mut works = Vec::new();
        let unique: BTreeSet<&String> = accounts.iter().collect();
        // A job may hold hundreds of accounts: their leases are taken a few at a time
        // concurrently (each is its own item), in a stable order.
        // Owned values in each future: a future borrowing from the caller would make the
        // worker's future not `Send` for every lifetime (rustc's higher-ranked limitation).
        let leases: Vec<_> = stream::iter(unique.into_iter().cloned())
            .map(|account| {
                let (store, entity) = (Arc::clone(&self.store), entity.clone());
                async move {
                    let lease = store.begin_push(&entity, &account, lease_until, now).await;
                    (account, lease)
                }
            })
            .buffered(STORE_CONCURRENCY)
            .collect()
            .await;
        for (account, lease) in leases {
            match lease? {
                Some(lease) => works.push(lease),
                None => report.busy.push(account),
            }
        }
        let mut push = Push {
            service: self,
            entity,
            sf,
            settings,
            works: Vec::new(),
            report,
            stopped: false,
            cutoff: deadline.plus_ms(-(PUSH_STORE_RESERVE.as_millis() as i64)),
            out_of_time: AtomicBool::new(false),
            lost_call: AtomicBool::new(false),
        };
        let planned = push.plan(works, retry_failed).await;
        if let Err(e) = planned {
            push.stopped = true;
            for w in &mut push.works {
                w.incomplete = true;
            }
            push.finish(correlation_id, now).await?;
            return Err(e);
        }
        // Deletes first: an amendment's new version may carry a value the old version's
        // record holds in a unique field (the subscription number); Salesforce refuses the
        // new record as a duplicate while the old one exists.
        push.deletes().await;
        push.record_intents().await;
        push.upserts().await;
        push.finish(correlation_id, now).await?;
        // A Salesforce failure paused the entity's pushes (recorded by `finish`): the job is
        // done, and the waiting marks are queued again when the pause ends.
        Ok(push.report)
    }
}

impl Push<'_> {
    async fn plan(&mut self, leases: Vec<PushLease>, retry_failed: bool) -> Result<(), PushError> {
        let loaded: Vec<_> = stream::iter(leases)
            .map(|lease| {
                let (mirror, entity) = (Arc::clone(&self.service.mirror), self.entity.clone());
                async move {
                    let stored = mirror.load_account(&entity, &lease.account_id).await;
                    (lease, stored)
                }
            })
            .buffered(STORE_CONCURRENCY)
            .collect()
            .await;
        let mut first_error = None;
        for (mut lease, stored) in loaded {
            if lease.taken_over {
                // Its last push ended without recording what it did: any record may hold what
                // it sent, or be gone. Everything the mirror wants is sent again.
                for p in lease.pushed.values_mut() {
                    p.hash.clear();
                }
            }
            let work = |plan: PushPlan, number: Option<String>, lease: PushLease| Work {
                present: lease
                    .pushed
                    .iter()
                    .filter(|(_, p)| p.sf_id.is_some())
                    .map(|(k, _)| k.clone())
                    .collect(),
                pushed: lease.pushed.clone(),
                account_number: number,
                counts: PushCounts {
                    unchanged: plan.unchanged,
                    ..PushCounts::default()
                },
                plan,
                lease,
                deferred: BTreeSet::new(),
                failures: Vec::new(),
                resolved: Vec::new(),
                incomplete: false,
            };
            match stored {
                Ok(stored) if unreadable_record(&stored).is_some() => {
                    let sk = unreadable_record(&stored).unwrap_or_default();
                    tracing::error!(account = %lease.account_id, record = %sk, "a mirror record does not parse; the account's push waits");
                    let mut w = work(PushPlan::default(), None, lease);
                    w.incomplete = true;
                    self.works.push(w);
                }
                Ok(stored) => {
                    let number = stored
                        .records
                        .get(crate::model::CUSTOMER_SK)
                        .and_then(|c| c.attrs.get("account_number").cloned());
                    let desired = desired_records(&stored, &self.settings);
                    let plan = plan_push(desired, &lease.pushed, retry_failed);
                    self.works.push(work(plan, number, lease));
                }
                Err(e) => {
                    // Keep the lease in the list so its end releases it.
                    let mut w = work(PushPlan::default(), None, lease);
                    w.incomplete = true;
                    self.works.push(w);
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    /// Before Salesforce may create a record, the account's push state says so (one fenced
    /// write per account with new records): a push that dies after the create but before its
    /// end would otherwise leave a record no later push knows to delete. An account whose
    /// intents cannot be written sends nothing this time.
    async fn record_intents(&mut self) {
        for w in &mut self.works {
            limit_new_records(w);
        }
        let writes: Vec<(usize, PushLease, Vec<String>)> = self
            .works
            .iter()
            .enumerate()
            .filter_map(|(i, w)| {
                let new: Vec<String> = w
                    .plan
                    .upserts
                    .iter()
                    .map(SfRecord::state_key)
                    .filter(|key| !w.pushed.contains_key(key))
                    .collect();
                (!new.is_empty()).then(|| (i, w.lease.clone(), new))
            })
            .collect();
        let results: Vec<_> = stream::iter(writes)
            .map(|(i, lease, keys)| {
                let store = Arc::clone(&self.service.store);
                async move {
                    let result = store.record_intents(&lease, &keys).await;
                    (i, keys, result)
                }
            })
            .buffered(STORE_CONCURRENCY)
            .collect()
            .await;
        for (i, keys, result) in results {
            let w = &mut self.works[i];
            match result {
                Ok(()) => {
                    // Kept in what the push ends with unless the create's answer replaces
                    // them, so an unanswered create is still known after this push.
                    for key in keys {
                        w.pushed.insert(key, Pushed::intent());
                    }
                }
                Err(e) => {
                    tracing::warn!(account = %w.lease.account_id, error = %e, "could not record the push's intents; the account waits for a later push");
                    w.counts.deferred += w.plan.upserts.len() as u32;
                    w.plan = PushPlan::default();
                    w.incomplete = true;
                }
            }
        }
    }

    /// Upserts, one object type at a time, parents first, so a child's nested reference finds
    /// its parent; each call packs up to 200 records of any of the push's accounts.
    async fn upserts(&mut self) {
        for object in SfObject::ALL {
            let mut batch: Vec<(usize, SfRecord)> = Vec::new();
            for (i, w) in self.works.iter_mut().enumerate() {
                let records: Vec<SfRecord> = w
                    .plan
                    .upserts
                    .iter()
                    .filter(|r| r.object == object)
                    .cloned()
                    .collect();
                for record in records {
                    match &record.parent {
                        Some(parent) if !w.present.contains(parent) => {
                            // The parent is not in Salesforce: it failed now or before.
                            if w.deferred.contains(parent) {
                                w.deferred.insert(record.state_key());
                                w.counts.deferred += 1;
                                w.incomplete = true;
                            } else {
                                w.counts.blocked += 1;
                            }
                        }
                        _ => batch.push((i, record)),
                    }
                }
            }
            self.send_upserts(object, batch).await;
        }
    }

    async fn send_upserts(&mut self, object: SfObject, mut batch: Vec<(usize, SfRecord)>) {
        let tuning = self.service.tuning.clone();
        let mut wait = tuning.record_backoff;
        for attempt in 1..=tuning.record_attempts {
            if batch.is_empty() {
                return;
            }
            let mut again = Vec::new();
            for chunk in batch.chunks(MAX_PER_CALL) {
                if self.stopped {
                    self.defer_all(chunk);
                    continue;
                }
                let key_field = chunk[0].1.key_field;
                let wire: Vec<serde_json::Value> = chunk.iter().map(|(_, r)| r.wire()).collect();
                self.report.calls += 1;
                self.report.records_per_call.push(chunk.len());
                let answer = self.bounded(self.sf.upsert(object, key_field, &wire)).await;
                match self.service_call(answer) {
                    Some(results) if results.len() == chunk.len() => {
                        for ((i, record), result) in chunk.iter().zip(results) {
                            let last = attempt == tuning.record_attempts;
                            if let Some(retry) = self.upserted(*i, record, result, last) {
                                again.push(retry);
                            }
                        }
                    }
                    Some(results) => {
                        self.stop(SalesforceError::BadResponse(format!(
                            "{} results for {} records",
                            results.len(),
                            chunk.len()
                        )));
                        self.defer_all(chunk);
                    }
                    None => self.defer_all(chunk),
                }
            }
            batch = again;
            if !batch.is_empty() && attempt < tuning.record_attempts {
                self.back_off(wait).await;
                wait *= 2;
            }
        }
    }

    /// Records one upsert result; answers the record when it should be sent again.
    fn upserted(
        &mut self,
        i: usize,
        record: &SfRecord,
        result: RecordResult,
        last: bool,
    ) -> Option<(usize, SfRecord)> {
        let key = record.state_key();
        let w = &mut self.works[i];
        let before = w.pushed.get(&key).cloned();
        if result.success {
            if result.created {
                w.counts.created += 1;
            } else {
                w.counts.updated += 1;
            }
            if before.as_ref().is_some_and(|p| p.failed) {
                w.resolved
                    .push(PushFailure::id_for(&w.lease.account_id, &key));
            }
            let sf_id = result.id.or(before.and_then(|p| p.sf_id));
            w.pushed.insert(
                key.clone(),
                Pushed {
                    hash: record.hash.clone(),
                    sf_id,
                    failed: false,
                },
            );
            w.present.insert(key);
            return None;
        }
        if result.is_transient() {
            if !last {
                return Some((i, record.clone()));
            }
            w.deferred.insert(key);
            w.counts.deferred += 1;
            w.incomplete = true;
            return None;
        }
        let error = result.first_error();
        w.counts.failed += 1;
        w.failures.push(PushFailure {
            id: PushFailure::id_for(&w.lease.account_id, &key),
            account_id: w.lease.account_id.clone(),
            object: record.object,
            key_field: record.key_field.to_string(),
            key: record.key.clone(),
            code: error.code,
            message: error.message,
            fields: error.fields,
            operation: "upsert".into(),
            at: self.service.clock.now(),
        });
        w.pushed.insert(
            key,
            Pushed {
                hash: record.hash.clone(),
                sf_id: before.and_then(|p| p.sf_id),
                failed: true,
            },
        );
        None
    }

    fn defer_all(&mut self, chunk: &[(usize, SfRecord)]) {
        for (i, record) in chunk {
            let w = &mut self.works[*i];
            let key = record.state_key();
            unsure(&mut w.pushed, &key);
            w.deferred.insert(key);
            w.counts.deferred += 1;
            w.incomplete = true;
        }
    }

    /// Deletes what the mirror no longer has, children first (a parent's delete cascades to
    /// its children in Salesforce; deleting those first keeps each result meaningful).
    async fn deletes(&mut self) {
        let mut objects: Vec<SfObject> = SfObject::ALL.to_vec();
        objects.reverse();
        for object in objects {
            let mut batch: Vec<(usize, String, String)> = Vec::new();
            let mut unknown: Vec<(usize, String)> = Vec::new();
            for (i, w) in self.works.iter().enumerate() {
                for (key, sf_id) in &w.plan.deletes {
                    if parse_state_key(key).map(|(o, _, _)| o) != Some(object) {
                        continue;
                    }
                    match sf_id {
                        Some(id) => batch.push((i, key.clone(), id.clone())),
                        None => unknown.push((i, key.clone())),
                    }
                }
            }
            self.find_unknown(object, unknown, &mut batch).await;
            self.send_deletes(batch).await;
        }
    }

    /// Records pushed before their id was known (a lost answer): their ids by key; those
    /// Salesforce does not have are gone already.
    async fn find_unknown(
        &mut self,
        object: SfObject,
        mut unknown: Vec<(usize, String)>,
        batch: &mut Vec<(usize, String, String)>,
    ) {
        // One query per key field (subscriptions may be keyed both ways around a change of
        // the keying): a chunk holds keys of one field only.
        unknown.sort_by(|a, b| a.1.cmp(&b.1));
        let mut chunks: Vec<Vec<(usize, String)>> = Vec::new();
        for item in unknown {
            let field = parse_state_key(&item.1).map(|(_, f, _)| f.to_string());
            match chunks.last_mut() {
                Some(last)
                    if last.len() < MAX_PER_CALL
                        && parse_state_key(&last[0].1).map(|(_, f, _)| f.to_string()) == field =>
                {
                    last.push(item)
                }
                _ => chunks.push(vec![item]),
            }
        }
        for chunk in &chunks {
            if self.stopped {
                for (i, _) in chunk {
                    self.works[*i].incomplete = true;
                }
                continue;
            }
            let Some((_, key_field, _)) = parse_state_key(&chunk[0].1) else {
                continue;
            };
            let keys: Vec<String> = chunk
                .iter()
                .filter_map(|(_, k)| parse_state_key(k).map(|(_, _, key)| key.to_string()))
                .collect();
            self.report.calls += 1;
            let found = self
                .bounded(self.sf.find_ids(object, key_field, &keys))
                .await;
            let Some(found) = self.service_call(found) else {
                for (i, _) in chunk {
                    self.works[*i].incomplete = true;
                }
                continue;
            };
            for (i, key) in chunk {
                let (_, _, value) = parse_state_key(key).expect("parsed above");
                match found.iter().find(|(k, _)| k == value) {
                    Some((_, id)) => batch.push((*i, key.clone(), id.clone())),
                    None => {
                        let w = &mut self.works[*i];
                        if w.pushed.remove(key).is_some_and(|p| p.failed) {
                            w.resolved
                                .push(PushFailure::id_for(&w.lease.account_id, key));
                        }
                        w.counts.deleted += 1;
                    }
                }
            }
        }
    }

    async fn send_deletes(&mut self, mut batch: Vec<(usize, String, String)>) {
        let tuning = self.service.tuning.clone();
        let mut wait = tuning.record_backoff;
        for attempt in 1..=tuning.record_attempts {
            if batch.is_empty() {
                return;
            }
            let mut again = Vec::new();
            for chunk in batch.chunks(MAX_PER_CALL) {
                if self.stopped {
                    for (i, _, _) in chunk {
                        self.works[*i].incomplete = true;
                    }
                    continue;
                }
                let ids: Vec<String> = chunk.iter().map(|(_, _, id)| id.clone()).collect();
                self.report.calls += 1;
                let results = self.bounded(self.sf.delete(&ids)).await;
                let Some(results) = self.service_call(results) else {
                    for (i, key, _) in chunk {
                        let w = &mut self.works[*i];
                        unsure(&mut w.pushed, key);
                        w.incomplete = true;
                    }
                    continue;
                };
                for ((i, key, id), result) in chunk.iter().zip(results) {
                    let last = attempt == tuning.record_attempts;
                    if self.deleted(*i, key, result, last) {
                        again.push((*i, key.clone(), id.clone()));
                    }
                }
            }
            batch = again;
            if !batch.is_empty() && attempt < tuning.record_attempts {
                self.back_off(wait).await;
                wait *= 2;
            }
        }
    }

    /// Records one delete result; answers whether to send it again.
    fn deleted(&mut self, i: usize, key: &str, result: RecordResult, last: bool) -> bool {
        let w = &mut self.works[i];
        if result.success || result.already_gone() {
            if w.pushed.remove(key).is_some_and(|p| p.failed) {
                w.resolved
                    .push(PushFailure::id_for(&w.lease.account_id, key));
            }
            w.counts.deleted += 1;
            return false;
        }
        if result.is_transient() {
            if !last {
                return true;
            }
            w.counts.deferred += 1;
            w.incomplete = true;
            return false;
        }
        let error = result.first_error();
        let Some((object, key_field, value)) = parse_state_key(key) else {
            return false;
        };
        w.counts.failed += 1;
        w.failures.push(PushFailure {
            id: PushFailure::id_for(&w.lease.account_id, key),
            account_id: w.lease.account_id.clone(),
            object,
            key_field: key_field.to_string(),
            key: value.to_string(),
            code: error.code,
            message: error.message,
            fields: error.fields,
            operation: "delete".into(),
            at: self.service.clock.now(),
        });
        if let Some(p) = w.pushed.get_mut(key) {
            p.failed = true;
        }
        false
    }

    /// A Salesforce call that ends by the cutoff: one still running then is dropped and
    /// answers `Unavailable`, like a Salesforce that did not answer in time.
    async fn bounded<T>(
        &self,
        call: impl Future<Output = Result<T, SalesforceError>>,
    ) -> Result<T, SalesforceError> {
        let left = self.cutoff.0 - self.service.clock.now().0;
        if left <= 0 {
            self.out_of_time.store(true, Ordering::SeqCst);
            return Err(SalesforceError::Unavailable(
                "no time left in this invocation".into(),
            ));
        }
        let answer = tokio::time::timeout(Duration::from_millis(left as u64), call).await;
        match answer {
            Ok(Err(SalesforceError::NoAnswer(e))) => {
                // Timed out or cut off on the way: it may have reached Salesforce.
                self.lost_call.store(true, Ordering::SeqCst);
                Err(SalesforceError::NoAnswer(e))
            }
            Ok(answer) => answer,
            Err(_) => {
                self.out_of_time.store(true, Ordering::SeqCst);
                self.lost_call.store(true, Ordering::SeqCst);
                Err(SalesforceError::NoAnswer(
                    "no answer before this invocation's cutoff".into(),
                ))
            }
        }
    }

    /// Waits before resending refused records, unless the wait would pass the cutoff (then
    /// they wait for a later push).
    async fn back_off(&mut self, wait: Duration) {
        if self.service.clock.now().plus_ms(wait.as_millis() as i64) >= self.cutoff {
            self.out_of_time.store(true, Ordering::SeqCst);
            self.stop(SalesforceError::Unavailable(
                "no time left in this invocation to retry locked rows".into(),
            ));
            return;
        }
        tokio::time::sleep(wait).await;
    }

    /// A call's answer; on a call-level failure, stops the push (pausing the entity on a limit)
    /// and answers `None`. After every answer, the API share is checked.
    fn service_call<T>(&mut self, answer: Result<T, SalesforceError>) -> Option<T> {
        match answer {
            Ok(value) => {
                if let Some(usage) = self.sf.usage()
                    && usage.at_share(self.settings.max_api_share_percent)
                    && !self.stopped
                {
                    self.report.paused = true;
                    self.stopped = true;
                }
                Some(value)
            }
            Err(e) => {
                self.stop(e);
                None
            }
        }
    }

    /// Stops calling Salesforce. A failure of Salesforce (a limit, an outage, refused
    /// credentials, a garbled answer) pauses the entity's pushes — a circuit breaker: its jobs
    /// end instead of failing over and over, and the sweep resumes them — but running out of
    /// this invocation's time does not.
    fn stop(&mut self, error: SalesforceError) {
        if !self.out_of_time.load(Ordering::SeqCst) {
            self.report.paused = true;
        }
        tracing::warn!(entity = %self.entity, error = %error, "Salesforce push stopped");
        self.stopped = true;
        self.report.error.get_or_insert(error);
    }

    /// One fenced write per account: what each record became, its failures, the waiting mark
    /// (removed only when the account is in line), the event. Then the entity's status.
    async fn finish(
        &mut self,
        correlation_id: &str,
        started: EpochMillis,
    ) -> Result<(), PushError> {
        let now = self.service.clock.now();
        let works = std::mem::take(&mut self.works);
        let hold_until = self
            .lost_call
            .load(Ordering::SeqCst)
            .then(|| now.plus_ms(self.service.tuning.hold_after_lost_call.as_millis() as i64));
        let mut ends = Vec::with_capacity(works.len());
        for mut w in works {
            let complete = !w.incomplete;
            let event = self.event(&w, complete, correlation_id, started, now);
            self.report
                .accounts
                .push((w.lease.account_id.clone(), w.counts, complete));
            let end = PushEnd {
                pushed: std::mem::take(&mut w.pushed),
                complete,
                failures: std::mem::take(&mut w.failures),
                resolved: std::mem::take(&mut w.resolved),
                event: Some(event),
                hold_until,
            };
            ends.push((w.lease, end));
        }
        let results: Vec<_> = stream::iter(ends)
            .map(|(lease, end)| {
                let store = Arc::clone(&self.service.store);
                async move {
                    let result = store.end_push(&lease, &end).await;
                    (lease, result)
                }
            })
            .buffer_unordered(STORE_CONCURRENCY)
            .collect()
            .await;
        let mut first_error = None;
        for (lease, result) in results {
            match result {
                Ok(()) => {}
                Err(StoreError::Fenced { .. }) => {
                    // Our lease ran out and another push took over: it re-diffs from what
                    // was recorded, so at worst it sends some records again.
                    tracing::warn!(account = %lease.account_id, "push lease was taken over; its results are not recorded");
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        self.record_status(now).await?;
        match first_error {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    fn event(
        &self,
        w: &Work,
        complete: bool,
        correlation_id: &str,
        started: EpochMillis,
        now: EpochMillis,
    ) -> SyncEvent {
        let failed = w.counts.failed > 0 || !complete;
        let status = if failed {
            EventStatus::Failed
        } else {
            EventStatus::Succeeded
        };
        let mut event = SyncEvent::new(
            new_event_id(),
            self.entity.clone(),
            Trigger::SalesforcePush,
            status,
            correlation_id.to_string(),
            started,
        );
        event.account_id = Some(w.lease.account_id.clone());
        event.account = w.account_number.clone();
        event.written = w.counts.created + w.counts.updated;
        event.removed = w.counts.deleted;
        event.unchanged = w.counts.unchanged;
        event.salesforce = Some(w.counts);
        event.duration_ms = Some(now.0.saturating_sub(started.0).max(0) as u64);
        event.updated_at = now;
        if w.counts.failed > 0 {
            event.code = Some("salesforce_records_failed".into());
            let first = &w.failures.first();
            event.reason = Some(match first {
                Some(f) => format!(
                    "{} record(s) refused by Salesforce (see the failure list); first: {} {} {}: {}",
                    w.counts.failed,
                    f.object.api_name(),
                    f.key,
                    f.code,
                    f.message
                ),
                None => format!("{} record(s) refused by Salesforce", w.counts.failed),
            });
        } else if !complete {
            let why = self
                .report
                .error
                .as_ref()
                .map(|e| (e.code(), e.to_string()))
                .unwrap_or_else(|| {
                    if self.report.paused {
                        ("salesforce_paused", "the API share for pushes is used up; the push resumes by itself".into())
                    } else {
                        ("salesforce_deferred", "some records could not be written now (row locks); they are pushed again".into())
                    }
                });
            event.code = Some(why.0.into());
            event.reason = Some(why.1);
        }
        event
    }

    /// The entity's status after the push: its API usage, and a pause if one is due.
    async fn record_status(&mut self, now: EpochMillis) -> Result<(), PushError> {
        let incomplete = self
            .report
            .accounts
            .iter()
            .any(|(_, _, complete)| !complete);
        if self.report.calls == 0 && !self.report.paused && !incomplete {
            return Ok(());
        }
        let mut update = PushStatusUpdate {
            api_usage: self.sf.usage(),
            ..PushStatusUpdate::default()
        };
        if self.report.paused {
            let tuning = &self.service.tuning;
            let (pause, reason) = match &self.report.error {
                Some(SalesforceError::LimitExceeded {
                    daily: false,
                    message,
                }) => (tuning.pause_concurrent, message.clone()),
                Some(SalesforceError::LimitExceeded { message, .. }) => {
                    (tuning.pause_daily, message.clone())
                }
                Some(e) => (tuning.pause_outage, format!("{} ({})", e, e.code())),
                None => (
                    tuning.pause_daily,
                    format!(
                        "the pushes' share of the daily API allocation ({}%) is used",
                        self.settings.max_api_share_percent
                    ),
                ),
            };
            update.paused = Some((now.plus_ms(pause.as_millis() as i64), reason));
        }
        if incomplete {
            // The first sweep after this (and after any pause) queues every waiting account
            // again, not only those marked since its last run.
            update.drained_to = Some(EpochMillis(0));
        }
        self.service
            .store
            .update_push_status(self.entity, &update)
            .await?;
        Ok(())
    }
}
