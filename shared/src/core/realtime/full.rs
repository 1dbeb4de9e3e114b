//! Full sync (switching an entity to real-time mode) and reconciliation (the sweep's safety
//! net for lost callouts). Both read Zuora's account list a page at a time.

use super::Realtime;
use crate::core::deadline::{Bounded, zuora_cutoff};
use crate::model::EpochMillis;
use crate::model::{AccountKey, EntityId, EntitySettings, SyncMode};
use crate::model::{AccountRef, CallContext, PageRecord};
use crate::model::{ChangeList, ChangeQuery, ChangedRecord, ReconcileMarks, ScanMark};
use crate::model::{JobTarget, SyncJob};
use crate::model::{Session, SessionTrigger};
use crate::ports::StoreError;
use crate::ports::ZuoraApi;
use crate::ports::ZuoraError;
use std::sync::Arc;
use strum::IntoEnumIterator;

/// Queries one sweep makes of each change list at most (99 records each); the rest waits for
/// the next sweep, a minute later, from the saved mark.
const RECONCILE_PAGES: usize = 5;
/// A first mark looks back this far, so a change made just before tracking began is seen.
const FIRST_LOOK_BACK_MS: i64 = 60_000;
/// How far before the newest update it saw a caught-up list is read again.
const LOOK_BACK_OVERLAP_MS: i64 = 5 * 60_000;
const DAY_MS: i64 = 24 * 3600 * 1000;
/// Reconciliation stops reading with this much of the sweep's time left: what follows it (the
/// marks, the deep look-back, cuts) must still fit (docs/ARCHITECTURE.md, "Deadlines").
const RECONCILE_RESERVE_MS: i64 = 20_000;

#[derive(Debug, thiserror::Error)]
pub enum FullSyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Zuora(#[from] ZuoraError),
    #[error("could not queue: {0}")]
    Queue(String),
    #[error("entity {0} is not configured")]
    UnknownEntity(EntityId),
    /// Another invocation runs this step now; the job comes back later.
    #[error("{0}")]
    Busy(String),
}

impl FullSyncError {
    /// Whether the page job should be retried.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Zuora(e) => e.is_transient(),
            Self::UnknownEntity(_) => false,
            Self::Store(_) | Self::Queue(_) | Self::Busy(_) => true,
        }
    }
}

/// An account as a job names it: its number when the list gives one, else its id.
fn job_key(a: &AccountRef) -> Option<AccountKey> {
    AccountKey::parse(&a.account_number)
        .or_else(|_| AccountKey::parse(&a.id))
        .ok()
}

/// Zuora writes times with offsets (`2025-03-21T03:24:15-07:00`); watermarks are kept in UTC
/// so they compare as times.
fn utc(raw: &str) -> Option<String> {
    use time::format_description::well_known::Rfc3339;
    let t = time::OffsetDateTime::parse(raw, &Rfc3339).ok()?;
    t.to_offset(time::UtcOffset::UTC).format(&Rfc3339).ok()
}

/// Whether RFC 3339 time `a` is after `b`, as times: `…:23.456Z` is after `…:23Z`, though as
/// text it sorts before it (M1). An unreadable `b` (never written by us) is passed.
fn later(a: &str, b: &str) -> bool {
    use time::format_description::well_known::Rfc3339;
    match (
        time::OffsetDateTime::parse(a, &Rfc3339),
        time::OffsetDateTime::parse(b, &Rfc3339),
    ) {
        (Ok(a), Ok(b)) => a > b,
        (Ok(_), Err(_)) => true,
        _ => false,
    }
}

impl Realtime {
    /// The entity's Zuora connection, its calls ending in time for an invocation that must be
    /// done by `deadline` (`core::deadline`).
    pub(super) fn bounded_zuora(
        &self,
        entity: &EntityId,
        deadline: EpochMillis,
    ) -> Result<Arc<dyn ZuoraApi>, FullSyncError> {
        let zuora = self
            .zuora
            .get(entity)
            .cloned()
            .ok_or_else(|| FullSyncError::UnknownEntity(entity.clone()))?;
        Ok(Arc::new(Bounded::new(
            zuora,
            zuora_cutoff(deadline),
            self.clock.clone(),
        )))
    }

    /// What an admin's settings change starts: switching to real time syncs every account
    /// first, and so does a change of what Salesforce receives (a full sync's commits queue
    /// every account's push, changed or not).
    pub async fn after_settings_change(
        &self,
        entity: &EntityId,
        before: &EntitySettings,
        after: &EntitySettings,
        correlation_id: &str,
    ) -> Result<Option<Session>, FullSyncError> {
        let to_realtime =
            before.sync_mode != SyncMode::Realtime && after.sync_mode == SyncMode::Realtime;
        if !to_realtime && !after.salesforce.needs_full_push(&before.salesforce) {
            return Ok(None);
        }
        self.start_full_sync(entity, correlation_id).await.map(Some)
    }

    /// Starts a full sync: a session whose accounts the worker enumerates from Zuora, one
    /// page job after another.
    pub async fn start_full_sync(
        &self,
        entity: &EntityId,
        correlation_id: &str,
    ) -> Result<Session, FullSyncError> {
        self.start_enumeration(entity, SessionTrigger::Full, correlation_id)
            .await
    }

    /// An operator's full re-sync: started unless a full sync (or deep look-back) of the
    /// entity still runs, whose session then answers (`Err`).
    pub async fn resync_all(
        &self,
        entity: &EntityId,
        correlation_id: &str,
    ) -> Result<Result<Session, Session>, FullSyncError> {
        let state = self.store.realtime_state(entity).await?;
        for id in state.unqueued.iter().chain(&state.running) {
            if let Some(s) = self.store.get_session(entity, id).await?
                && s.status == crate::model::SessionStatus::Running
                && matches!(s.trigger, SessionTrigger::Full | SessionTrigger::Deep)
            {
                return Ok(Err(s));
            }
        }
        self.start_full_sync(entity, correlation_id).await.map(Ok)
    }

    async fn start_enumeration(
        &self,
        entity: &EntityId,
        trigger: SessionTrigger,
        correlation_id: &str,
    ) -> Result<Session, FullSyncError> {
        let session = self.create_enumeration(entity, trigger).await?;
        self.queue_first_page(entity, &session, correlation_id)
            .await?;
        Ok(session)
    }

    /// Records a full sync session, in the outbox until its first page job is sent.
    async fn create_enumeration(
        &self,
        entity: &EntityId,
        trigger: SessionTrigger,
    ) -> Result<Session, FullSyncError> {
        let mut session = Session::new(trigger, self.clock.now(), (0, 0), 0);
        session.enumerating = true;
        // Decided once, with the session: a session re-queued from the outbox takes the same
        // path, so its accounts are never enumerated twice.
        session.bulk = self.settings.get(entity).await?.settings.bulk_export;
        self.store.create_session(entity, &session).await?;
        tracing::info!(entity = %entity, session = %session.id, %trigger, bulk = session.bulk, "full sync started");
        Ok(session)
    }

    /// Queues a full sync's first job (its first page, or its bulk export's submit), then
    /// takes the session out of the outbox (until then the sweep queues it again; a page is
    /// counted once however often it runs, and a session records one export).
    pub(super) async fn queue_first_page(
        &self,
        entity: &EntityId,
        session: &Session,
        correlation_id: &str,
    ) -> Result<(), FullSyncError> {
        if session.bulk {
            self.bulk_step(entity, &session.id, None, None, 0, correlation_id)
                .send(self)
                .await?;
        } else {
            self.queue_per_call(entity, &session.id, correlation_id)
                .await?;
        }
        self.store.session_queued(entity, &session.id).await?;
        Ok(())
    }

    pub(super) fn page_job(
        &self,
        entity: &EntityId,
        session_id: &str,
        cursor: Option<String>,
        correlation_id: &str,
    ) -> SyncJob {
        let target = JobTarget::FullSyncPage { cursor };
        self.session_job(entity, session_id, target, correlation_id)
    }

    /// One page of a full sync (a worker job). Safe to run again: the page is added to the
    /// session's total once, and re-queued account jobs are counted once.
    pub async fn full_sync_page(
        &self,
        entity: &EntityId,
        session_id: &str,
        cursor: Option<&str>,
        correlation_id: &str,
        deadline: EpochMillis,
    ) -> Result<(), FullSyncError> {
        let zuora = self.bounded_zuora(entity, deadline)?;
        let ctx = CallContext::new(correlation_id);
        // By id, never by the mutable update time: see `ZuoraApi::accounts_by_id`.
        let page = zuora.accounts_by_id(cursor, &ctx).await?;
        let keys: Vec<String> = page
            .accounts
            .iter()
            .filter_map(job_key)
            .map(|k| k.to_string())
            .collect();
        let page_key = cursor.unwrap_or("first");
        // A retried page queues what it recorded the first time (Zuora's list may have moved).
        let page = self
            .store
            .add_page(
                entity,
                session_id,
                page_key,
                &PageRecord {
                    accounts: keys,
                    next: page.next,
                },
            )
            .await?;
        let jobs: Vec<SyncJob> = page
            .accounts
            .iter()
            .filter_map(|a| self.account_job(entity, session_id, a, correlation_id))
            .collect();
        let failed = self.queue.send_many(&jobs).await;
        if !failed.is_empty() {
            // The page job is retried: jobs already sent are counted once by their markers.
            return Err(FullSyncError::Queue(format!(
                "{} account jobs of a full sync page could not be queued",
                failed.len()
            )));
        }
        match page.next {
            Some(next) => {
                let job = self.page_job(entity, session_id, Some(next), correlation_id);
                self.queue
                    .send(&job, None)
                    .await
                    .map_err(|e| FullSyncError::Queue(e.to_string()))?;
            }
            None => self.complete_if_done(entity, session_id).await?,
        }
        Ok(())
    }

    /// Completes the session if every job already ended (possible once enumeration ends).
    pub(super) async fn complete_if_done(
        &self,
        entity: &EntityId,
        session_id: &str,
    ) -> Result<(), StoreError> {
        let Some(session) = self.store.get_session(entity, session_id).await? else {
            return Ok(());
        };
        if session.is_finished() {
            let settings = self.settings.get(entity).await?.settings;
            self.complete(entity, &session, &settings).await?;
        }
        Ok(())
    }

    /// The sweep's reconciliation: records Zuora updated since each change list's mark are
    /// counted as changes of their accounts (once per record and update time), so a change
    /// whose callout was lost is still synced — an account's own edits, and its subscriptions',
    /// payment methods' and contacts', which do not move the account's `updatedDate`. Saves
    /// how far each list got, even when a call fails midway. Answers how many were found.
    pub async fn reconcile(
        &self,
        entity: &EntityId,
        marks: &mut ReconcileMarks,
        correlation_id: &str,
        deadline: EpochMillis,
    ) -> Result<u64, FullSyncError> {
        let now = self.clock.now();
        let before = marks.clone();
        let zuora = self.bounded_zuora(entity, deadline)?;
        let ctx = CallContext::new(correlation_id);
        let mut found = 0;
        let mut failed = None;
        for list in ChangeList::iter() {
            let Some(mark) = marks.lists.get(&list.to_string()).cloned() else {
                // Tracking begins: a change made just before it is still seen.
                let start = ScanMark {
                    at: EpochMillis(now.0 - FIRST_LOOK_BACK_MS).to_rfc3339(),
                    after_id: None,
                    caught_up: false,
                };
                marks.lists.insert(list.to_string(), start);
                continue;
            };
            let scan = self
                .scan_list(entity, zuora.as_ref(), list, mark, deadline, &ctx)
                .await;
            found += scan.found;
            marks.lists.insert(list.to_string(), scan.mark);
            // One list failing (a permission on one object, say) must not stop the others.
            if let Some(e) = scan.error {
                tracing::warn!(entity = %entity, %list, error = %e, "a change list could not be read");
                failed = failed.or(Some(e));
            }
        }
        if *marks != before {
            self.store.set_reconcile_marks(entity, marks).await?;
        }
        if found > 0 {
            tracing::info!(entity = %entity, found, "reconciliation found changes without callouts");
        }
        failed.map_or(Ok(found), Err)
    }

    /// Reads one change list on from its mark, at most [`RECONCILE_PAGES`] queries, each a
    /// keyset query (never Zuora's cursor, whose offsets shift as records are edited): the ties
    /// at the mark by id, then what was updated after it, oldest first. Every query moves the
    /// mark forward in (`updatedDate`, `id`) order, so no crowd of equal times can stall it.
    async fn scan_list(
        &self,
        entity: &EntityId,
        zuora: &dyn ZuoraApi,
        list: ChangeList,
        mark: ScanMark,
        deadline: EpochMillis,
        ctx: &CallContext,
    ) -> Scan {
        // Stops between records too: the mark moves only past whole pages, so what was not
        // counted is read again by the next sweep.
        let out_of_time = || deadline.0 - self.clock.now().0 < RECONCILE_RESERVE_MS;
        // A list that was caught up is read again from an overlap earlier (a record can become
        // visible after later ones: Zuora stamps the time when its transaction begins); the
        // newest time seen is kept when the overlap is read to the end. A re-read that runs out
        // of queries goes on from where it got to next time (only re-reading, never skipping).
        let mut newest = mark.caught_up.then(|| mark.at.clone());
        let mut position = if mark.caught_up {
            ScanMark {
                at: minus_ms(&mark.at, LOOK_BACK_OVERLAP_MS),
                after_id: None,
                caught_up: false,
            }
        } else {
            mark
        };
        let mut scan = Scan::default();
        let mut ties = true;
        for _ in 0..RECONCILE_PAGES {
            if out_of_time() {
                break;
            }
            let query = if ties {
                ChangeQuery::Ties {
                    at: position.at.clone(),
                    after_id: position.after_id.clone(),
                }
            } else {
                ChangeQuery::After {
                    at: position.at.clone(),
                }
            };
            let page = match zuora.changes_page(list, &query, None, ctx).await {
                Ok(page) => page,
                Err(e) => return scan.stop(position, e.into()),
            };
            for record in &page.records {
                if out_of_time() {
                    scan.mark = position;
                    return scan;
                }
                match self.record_reconciled(entity, list, record).await {
                    Ok(counted) => scan.found += u64::from(counted),
                    Err(e) => return scan.stop(position, e.into()),
                }
            }
            // The position comes from every row listed, whether or not it could be counted.
            let last = if ties {
                page.records
                    .last()
                    .map(|r| (r.id.clone(), position.at.clone()))
            } else {
                page.records
                    .iter()
                    .rev()
                    .find_map(|r| Some((r.id.clone(), r.updated.as_deref().and_then(utc)?)))
            };
            match (ties, last) {
                // More ties than a page: go on after the last one.
                (true, Some((id, _))) if page.next.is_some() => position.after_id = Some(id),
                (true, last) => {
                    if let Some((id, _)) = last {
                        position.after_id = Some(id);
                    }
                    ties = false;
                }
                (false, Some((_, at))) if page.next.is_some() => {
                    // The ties at the page's last time may straddle pages: read them by id.
                    position = ScanMark {
                        at,
                        after_id: None,
                        caught_up: false,
                    };
                    ties = true;
                }
                (false, last) => {
                    let reached = last.map_or(position.at.clone(), |(_, at)| at);
                    let newest = match newest.take() {
                        Some(n) if later(&n, &reached) => n,
                        _ => reached,
                    };
                    scan.mark = ScanMark {
                        at: newest,
                        after_id: None,
                        caught_up: true,
                    };
                    return scan;
                }
            }
        }
        // Out of queries for this sweep: the next one goes on from here.
        scan.mark = position;
        scan
    }

    /// Counts a listed record's account as changed, once per record and update time. Answers
    /// whether it was new.
    async fn record_reconciled(
        &self,
        entity: &EntityId,
        list: ChangeList,
        record: &ChangedRecord,
    ) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let (Some(Ok(account)), Some(updated)) = (
            record.account.as_deref().map(AccountKey::parse),
            record.updated.as_deref().and_then(utc),
        ) else {
            return Ok(false);
        };
        let dedupe = format!("reconcile:{list}:{}:{updated}", record.id);
        let counted = self
            .store
            .record_change(entity, &dedupe, account.as_str(), now)
            .await?;
        Ok(counted.is_some())
    }

    /// The deep look-back: every `deep_reconcile_days` the sweep starts a full sync of every
    /// account, for what changes in Zuora without moving any `updatedDate` (e.g. a charge's
    /// charged-through date). The first sweep only starts the clock.
    pub async fn deep_look_back(
        &self,
        entity: &EntityId,
        marks: &mut ReconcileMarks,
        days: u32,
        correlation_id: &str,
    ) -> Result<Option<Session>, FullSyncError> {
        if days == 0 {
            return Ok(None);
        }
        let now = self.clock.now();
        let Some(started) = marks.deep_started else {
            marks.deep_started = Some(now);
            self.store.set_reconcile_marks(entity, marks).await?;
            return Ok(None);
        };
        if now.0 - started.0 < i64::from(days) * DAY_MS {
            return Ok(None);
        }
        // Created, then recorded, then queued: a crash between the first two starts a second
        // one (harmless) rather than none; a queue failure leaves the session in the outbox
        // (the sweep queues it again) and must not start another each minute.
        let session = self
            .create_enumeration(entity, SessionTrigger::Deep)
            .await?;
        marks.deep_started = Some(now);
        self.store.set_reconcile_marks(entity, marks).await?;
        tracing::info!(entity = %entity, session = %session.id, days, "deep look-back started");
        self.queue_first_page(entity, &session, correlation_id)
            .await?;
        Ok(Some(session))
    }
}

/// How one change list's scan ended.
#[derive(Default)]
struct Scan {
    mark: ScanMark,
    found: u64,
    error: Option<FullSyncError>,
}

impl Scan {
    /// A failed call: the mark stays where the last complete query left it.
    fn stop(mut self, position: ScanMark, error: FullSyncError) -> Self {
        self.mark = position;
        self.error = Some(error);
        self
    }
}

/// RFC 3339 time `at` moved `ms` earlier (unchanged if unreadable; never written by us).
fn minus_ms(at: &str, ms: i64) -> String {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::parse(at, &Rfc3339)
        .ok()
        .and_then(|t| (t - time::Duration::milliseconds(ms)).format(&Rfc3339).ok())
        .unwrap_or_else(|| at.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermarks_compare_as_times_not_text() {
        // As text, "…23Z" sorts after "…23.456Z": the newer account would never move it.
        assert!(later("2026-01-01T00:00:23.456Z", "2026-01-01T00:00:23Z"));
        assert!(!later("2026-01-01T00:00:23Z", "2026-01-01T00:00:23.456Z"));
        assert!(later("2026-01-01T00:00:24Z", "2026-01-01T00:00:23.999Z"));
        assert!(!later("2026-01-01T00:00:23Z", "2026-01-01T00:00:23Z"));
    }
}
