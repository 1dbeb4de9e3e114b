//! Real-time state in memory, mirroring `adapters/dynamo/sessions.rs` (docs/ARCHITECTURE.md,
//! "The session protocol"): callout markers, the change counter, the changes under their
//! numbers, sessions cut by a compare-and-set on `last_cut`, and the once-only markers of
//! pages and finished jobs.

use super::store::MemoryStore;
use crate::model::{
    EntityId, EpochMillis, JobOutcome, PageRecord, RealtimeState, ReconcileMarks, Session,
    SessionStatus,
};
use crate::ports::{RealtimeStore, StoreError};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// The counter item of one entity; `None` attributes were never written (the conditions tell
/// them apart from 0).
#[derive(Debug, Clone, Default)]
struct Counter {
    seq: Option<u64>,
    last_cut: Option<u64>,
    since: Option<EpochMillis>,
    last_session_at: Option<EpochMillis>,
    last_session_id: Option<String>,
    last_success_at: Option<EpochMillis>,
    reconcile: ReconcileMarks,
    /// A string set in DynamoDB.
    unqueued: BTreeSet<String>,
    running: BTreeSet<String>,
}

impl Counter {
    fn state(&self) -> RealtimeState {
        RealtimeState {
            seq: self.seq.unwrap_or(0),
            last_cut: self.last_cut.unwrap_or(0),
            since: self.since,
            last_session_at: self.last_session_at,
            last_session_id: self.last_session_id.clone(),
            last_success_at: self.last_success_at,
            reconcile: self.reconcile.clone(),
            unqueued: self.unqueued.iter().cloned().collect(),
            running: self.running.iter().cloned().collect(),
        }
    }
}

/// `Failures` is a DynamoDB string set: one copy of each text, in no promised order, and at
/// most [`MAX_FAILURES_LISTED`] of them.
fn add_failure(session: &mut Session, failure: &str) {
    let mut set: BTreeSet<String> = session.failures.drain(..).collect();
    if set.len() < crate::model::MAX_FAILURES_LISTED {
        set.insert(failure.to_string());
    }
    session.failures = set.into_iter().collect();
}

/// Numbers a change may take before its callout is answered 503 (each lost one was skipped by
/// a session that could not wait longer).
const NUMBER_ATTEMPTS: usize = 3;

fn cancelled(why: &str) -> StoreError {
    StoreError::Unavailable(format!("transaction cancelled: {why}").into())
}

#[derive(Debug, Default)]
pub(super) struct RealtimeTable {
    counters: HashMap<EntityId, Counter>,
    callouts: HashSet<(EntityId, String)>,
    /// `None`: a skipped number, or a duplicate delivery's.
    changes: BTreeMap<(EntityId, u64), Option<String>>,
    sessions: HashMap<(EntityId, String), Session>,
    /// Every page added, by (entity, session, page key).
    pages: HashMap<(EntityId, String, String), PageRecord>,
    /// The parts of a session's bulk export fanned out whole.
    parts_done: HashMap<(EntityId, String), std::collections::BTreeSet<u32>>,
    /// (entity, session, account) of every job counted.
    finished: HashMap<(EntityId, String, String), JobOutcome>,
}

impl RealtimeTable {
    /// The callout's marker: `false` for a delivery seen before.
    fn claim_callout(&mut self, entity: &EntityId, dedupe_id: &str) -> bool {
        self.callouts
            .insert((entity.clone(), dedupe_id.to_string()))
    }

    /// The next sequence number, and the counter after taking it.
    fn take_number(&mut self, entity: &EntityId, now: EpochMillis) -> RealtimeState {
        let counter = self.counters.entry(entity.clone()).or_default();
        counter.seq = Some(counter.seq.unwrap_or(0) + 1);
        counter.since.get_or_insert(now);
        counter.last_cut.get_or_insert(0);
        counter.state()
    }

    /// `attribute_not_exists(pk)`: `false` when a cutter skipped the number first.
    fn put_change(&mut self, entity: &EntityId, seq: u64, account: &str) -> bool {
        match self.changes.entry((entity.clone(), seq)) {
            std::collections::btree_map::Entry::Occupied(_) => false,
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(Some(account.to_string()));
                true
            }
        }
    }

    /// A duplicate delivery's change counts no account.
    fn void_change(&mut self, entity: &EntityId, seq: u64) {
        self.changes.insert((entity.clone(), seq), None);
    }

    fn skip_missing(&mut self, entity: &EntityId, seqs: &[u64]) -> Vec<u64> {
        let mut landed = Vec::new();
        for seq in seqs {
            match self.changes.entry((entity.clone(), *seq)) {
                std::collections::btree_map::Entry::Occupied(_) => landed.push(*seq),
                std::collections::btree_map::Entry::Vacant(v) => {
                    v.insert(None);
                }
            }
        }
        landed
    }

    fn start_session(
        &mut self,
        entity: &EntityId,
        from: u64,
        session: &Session,
        due: Option<EpochMillis>,
    ) -> bool {
        let counter = self.counters.entry(entity.clone()).or_default();
        // `(attribute_not_exists(last_cut) AND :from = 0) OR last_cut = :from`: exactly one
        // cutter wins each range.
        let from_matches = match counter.last_cut {
            None => from == 0,
            Some(cut) => cut == from,
        };
        // Overlapping sweeps: only one may start the session that is due.
        let due_matches = due.is_none_or(|d| counter.last_session_at.is_none_or(|at| at <= d));
        if !(from_matches && due_matches) {
            return false;
        }
        counter.last_cut = Some(session.to_seq);
        counter.last_session_at = Some(session.started_at);
        counter.last_session_id = Some(session.id.clone());
        counter.unqueued.insert(session.id.clone());
        counter.running.insert(session.id.clone());
        self.sessions
            .insert((entity.clone(), session.id.clone()), session.clone());
        true
    }

    fn create_session(&mut self, entity: &EntityId, session: &Session) -> Result<(), StoreError> {
        let key = (entity.clone(), session.id.clone());
        if self.sessions.contains_key(&key) {
            return Err(cancelled(
                "[ConditionalCheckFailed, None] (the session exists)",
            ));
        }
        self.sessions.insert(key, session.clone());
        let counter = self.counters.entry(entity.clone()).or_default();
        counter.last_session_at = Some(session.started_at);
        counter.last_session_id = Some(session.id.clone());
        counter.unqueued.insert(session.id.clone());
        counter.running.insert(session.id.clone());
        Ok(())
    }

    fn add_page(
        &mut self,
        entity: &EntityId,
        session_id: &str,
        page_key: &str,
        page: &PageRecord,
    ) -> Result<PageRecord, StoreError> {
        let marker = (entity.clone(), session_id.to_string(), page_key.to_string());
        if let Some(recorded) = self.pages.get(&marker) {
            return Ok(recorded.clone());
        }
        let Some(session) = self
            .sessions
            .get_mut(&(entity.clone(), session_id.to_string()))
        else {
            return Err(cancelled(
                "[None, ConditionalCheckFailed] (no such session)",
            ));
        };
        session.total += page.accounts.len() as u64;
        session.enumerating = page.next.is_some();
        self.pages.insert(marker, page.clone());
        Ok(page.clone())
    }

    fn finish_job(
        &mut self,
        entity: &EntityId,
        session_id: &str,
        account: &str,
        outcome: JobOutcome,
        written: u32,
        failure: Option<&str>,
    ) -> Result<Session, StoreError> {
        let key = (entity.clone(), session_id.to_string());
        let marker = (entity.clone(), session_id.to_string(), account.to_string());
        // The marker makes counting idempotent: a job retried after its count was written
        // is not counted twice; the session is read either way. Only a real outcome replaces
        // a `skipped` one (a duplicate delivery that coalesced must not hide it).
        let previous = self.finished.get(&marker).copied();
        let upgrade = previous == Some(JobOutcome::Skipped) && outcome != JobOutcome::Skipped;
        if previous.is_none() || upgrade {
            let Some(session) = self.sessions.get_mut(&key) else {
                return Err(cancelled(
                    "[None, ConditionalCheckFailed] (no such session)",
                ));
            };
            if upgrade {
                session.skipped -= 1;
            }
            match outcome {
                JobOutcome::Succeeded => session.succeeded += 1,
                JobOutcome::Failed => session.failed += 1,
                JobOutcome::Skipped => session.skipped += 1,
            }
            session.written += u64::from(written);
            if let Some(f) = failure {
                add_failure(session, f);
            }
            self.finished.insert(marker, outcome);
        }
        self.sessions
            .get(&key)
            .cloned()
            .ok_or_else(|| StoreError::Corrupt(format!("session {session_id} is gone")))
    }

    fn complete_session(
        &mut self,
        entity: &EntityId,
        id: &str,
        notify: bool,
        level: &str,
        now: EpochMillis,
    ) -> bool {
        match self.sessions.get_mut(&(entity.clone(), id.to_string())) {
            Some(s) if s.status == SessionStatus::Running => {
                s.status = SessionStatus::Done;
                s.finished_at = Some(now);
                s.notify = Some(notify);
                s.notification_level = Some(level.to_string());
                true
            }
            _ => false,
        }
    }
}

impl MemoryStore {
    /// The accounts whose job a session counted, in order.
    pub fn counted_jobs(&self, entity: &EntityId, session_id: &str) -> Vec<String> {
        let state = self.with_state();
        let mut out: Vec<String> = state
            .realtime
            .finished
            .keys()
            .filter(|(e, s, _)| e == entity && s == session_id)
            .map(|(_, _, account)| account.clone())
            .collect();
        out.sort();
        out
    }

    /// Every session of the entity, oldest first.
    pub fn sessions(&self, entity: &EntityId) -> Vec<Session> {
        let state = self.with_state();
        let mut out: Vec<Session> = state
            .realtime
            .sessions
            .iter()
            .filter(|((e, _), _)| e == entity)
            .map(|(_, s)| s.clone())
            .collect();
        out.sort_by(|a, b| (a.started_at, &a.id).cmp(&(b.started_at, &b.id)));
        out
    }
}

#[async_trait::async_trait]
impl RealtimeStore for MemoryStore {
    /// The memory store commits an account in one step: nothing is ever torn.
    async fn torn_commits(
        &self,
        _entity: &EntityId,
    ) -> Result<Vec<crate::model::TornCommit>, StoreError> {
        Ok(Vec::new())
    }

    async fn record_change(
        &self,
        entity: &EntityId,
        dedupe_id: &str,
        account: &str,
        now: EpochMillis,
    ) -> Result<Option<RealtimeState>, StoreError> {
        // As in DynamoDB, one request per step: a retry seen before takes no number; then the
        // number, the change under it (a number a cutter skipped meanwhile is given up for
        // the next), and the marker last.
        let key = (entity.clone(), dedupe_id.to_string());
        if self
            .call(|s| Ok(s.realtime.callouts.contains(&key)))
            .await?
        {
            return Ok(None);
        }
        for _ in 0..NUMBER_ATTEMPTS {
            let state = self
                .call(|s| Ok(s.realtime.take_number(entity, now)))
                .await?;
            let seq = state.seq;
            if !self
                .call(|s| Ok(s.realtime.put_change(entity, seq, account)))
                .await?
            {
                continue;
            }
            if self
                .call(|s| Ok(s.realtime.claim_callout(entity, dedupe_id)))
                .await?
            {
                return Ok(Some(state));
            }
            self.call(|s| {
                s.realtime.void_change(entity, seq);
                Ok(())
            })
            .await?;
            return Ok(None);
        }
        Err(StoreError::Unavailable(
            "every change number taken was skipped by a session; retry".into(),
        ))
    }

    async fn touch(&self, entity: &EntityId, now: EpochMillis) -> Result<(), StoreError> {
        self.call(|s| {
            let counter = s.realtime.counters.entry(entity.clone()).or_default();
            counter.since.get_or_insert(now);
            Ok(())
        })
        .await
    }

    async fn realtime_state(&self, entity: &EntityId) -> Result<RealtimeState, StoreError> {
        self.call(|s| {
            Ok(s.realtime
                .counters
                .get(entity)
                .map(Counter::state)
                .unwrap_or_default())
        })
        .await
    }

    async fn start_session(
        &self,
        entity: &EntityId,
        from: u64,
        session: &Session,
        due: Option<EpochMillis>,
    ) -> Result<bool, StoreError> {
        self.call(|s| Ok(s.realtime.start_session(entity, from, session, due)))
            .await
    }

    async fn changes(
        &self,
        entity: &EntityId,
        after: u64,
        upto: u64,
    ) -> Result<Vec<(u64, Option<String>)>, StoreError> {
        self.call(|s| {
            if upto <= after {
                return Ok(Vec::new());
            }
            let range = (entity.clone(), after + 1)..=(entity.clone(), upto);
            Ok(s.realtime
                .changes
                .range(range)
                .map(|((_, seq), account)| (*seq, account.clone()))
                .collect())
        })
        .await
    }

    async fn skip_missing(&self, entity: &EntityId, seqs: &[u64]) -> Result<Vec<u64>, StoreError> {
        self.call(|s| Ok(s.realtime.skip_missing(entity, seqs)))
            .await
    }

    async fn session_ended(
        &self,
        entity: &EntityId,
        id: &str,
        succeeded_at: Option<EpochMillis>,
    ) -> Result<(), StoreError> {
        self.call(|s| {
            let counter = s.realtime.counters.entry(entity.clone()).or_default();
            counter.running.remove(id);
            if succeeded_at.is_some() {
                counter.last_success_at = succeeded_at.max(counter.last_success_at);
            }
            Ok(())
        })
        .await
    }

    async fn expire_session(
        &self,
        entity: &EntityId,
        id: &str,
        now: EpochMillis,
    ) -> Result<bool, StoreError> {
        self.call(|s| {
            Ok(
                match s
                    .realtime
                    .sessions
                    .get_mut(&(entity.clone(), id.to_string()))
                {
                    Some(session) if session.status == SessionStatus::Running => {
                        session.status = SessionStatus::Expired;
                        session.finished_at = Some(now);
                        true
                    }
                    _ => false,
                },
            )
        })
        .await
    }

    async fn session_queued(&self, entity: &EntityId, id: &str) -> Result<(), StoreError> {
        self.call(|s| {
            if let Some(counter) = s.realtime.counters.get_mut(entity) {
                counter.unqueued.remove(id);
            }
            Ok(())
        })
        .await
    }

    async fn set_reconcile_marks(
        &self,
        entity: &EntityId,
        marks: &ReconcileMarks,
    ) -> Result<(), StoreError> {
        self.call(|s| {
            let counter = s.realtime.counters.entry(entity.clone()).or_default();
            counter.reconcile = marks.clone();
            Ok(())
        })
        .await
    }

    async fn create_session(&self, entity: &EntityId, session: &Session) -> Result<(), StoreError> {
        self.call(|s| s.realtime.create_session(entity, session))
            .await
    }

    async fn part_fanned_out(
        &self,
        entity: &EntityId,
        session_id: &str,
        part: u32,
    ) -> Result<u32, StoreError> {
        self.call(|s| {
            let parts = s
                .realtime
                .parts_done
                .entry((entity.clone(), session_id.to_string()))
                .or_default();
            parts.insert(part);
            Ok(parts.len() as u32)
        })
        .await
    }

    async fn part_ended(
        &self,
        entity: &EntityId,
        session_id: &str,
        part: u32,
    ) -> Result<bool, StoreError> {
        let key = (entity.clone(), session_id.to_string());
        self.call(|s| {
            Ok(s.realtime
                .parts_done
                .get(&key)
                .is_some_and(|parts| parts.contains(&part)))
        })
        .await
    }

    async fn add_page(
        &self,
        entity: &EntityId,
        session_id: &str,
        page_key: &str,
        page: &PageRecord,
    ) -> Result<PageRecord, StoreError> {
        self.call(|s| s.realtime.add_page(entity, session_id, page_key, page))
            .await
    }

    async fn get_session(
        &self,
        entity: &EntityId,
        id: &str,
    ) -> Result<Option<Session>, StoreError> {
        let key = (entity.clone(), id.to_string());
        self.call(|s| Ok(s.realtime.sessions.get(&key).cloned()))
            .await
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
        self.call(|s| {
            s.realtime
                .finish_job(entity, session_id, account, outcome, written, failure)
        })
        .await
    }

    async fn set_delivery(
        &self,
        entity: &EntityId,
        id: &str,
        note: &str,
    ) -> Result<(), StoreError> {
        self.call(|s| {
            // DynamoDB's unconditioned update would leave a stray item for an unknown id;
            // there is nothing to attach it to here.
            if let Some(session) = s
                .realtime
                .sessions
                .get_mut(&(entity.clone(), id.to_string()))
            {
                session.delivery = Some(note.to_string());
            }
            Ok(())
        })
        .await
    }

    async fn complete_session(
        &self,
        entity: &EntityId,
        id: &str,
        notify: bool,
        level: &str,
        now: EpochMillis,
    ) -> Result<bool, StoreError> {
        self.call(|s| Ok(s.realtime.complete_session(entity, id, notify, level, now)))
            .await
    }
}

#[cfg(test)]
mod tests;
