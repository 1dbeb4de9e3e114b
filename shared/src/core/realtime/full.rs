//! Full sync (switching an entity to real-time mode) and reconciliation (the sweep's safety
//! net for lost callouts). Both read Zuora's account list a page at a time.

use super::Realtime;
use crate::core::deadline::{Bounded, zuora_cutoff};
use crate::model::EpochMillis;
use crate::model::{AccountKey, EntityId};
use crate::model::{AccountRef, CallContext, PageRecord};
use crate::model::{JobTarget, SyncJob};
use crate::model::{Session, SessionTrigger};
use crate::ports::StoreError;
use crate::ports::ZuoraApi;
use crate::ports::ZuoraError;
use std::sync::Arc;

/// Pages one sweep reads for reconciliation at most (99 accounts each); the rest waits for the
/// next sweep, a minute later, from the advanced watermark.
const RECONCILE_PAGES: usize = 5;
/// A first watermark looks back this far, so a change made just before tracking began is seen.
const FIRST_LOOK_BACK_MS: i64 = 60_000;

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
}

impl FullSyncError {
    /// Whether the page job should be retried.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Zuora(e) => e.is_transient(),
            Self::UnknownEntity(_) => false,
            Self::Store(_) | Self::Queue(_) => true,
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
    fn bounded_zuora(
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

    /// Starts a full sync: a session whose accounts the worker enumerates from Zuora, one
    /// page job after another.
    pub async fn start_full_sync(
        &self,
        entity: &EntityId,
        correlation_id: &str,
    ) -> Result<Session, FullSyncError> {
        let mut session = Session::new(SessionTrigger::Full, self.clock.now(), (0, 0), 0);
        session.enumerating = true;
        self.store.create_session(entity, &session).await?;
        tracing::info!(entity = %entity, session = %session.id, "full sync started");
        self.queue_first_page(entity, &session, correlation_id)
            .await?;
        Ok(session)
    }

    /// Queues a full sync's first page job, then takes the session out of the outbox (until
    /// then the sweep queues it again; a page is counted once however often it runs).
    pub(super) async fn queue_first_page(
        &self,
        entity: &EntityId,
        session: &Session,
        correlation_id: &str,
    ) -> Result<(), FullSyncError> {
        let job = self.page_job(entity, &session.id, None, correlation_id);
        self.queue
            .send(&job, None)
            .await
            .map_err(|e| FullSyncError::Queue(e.to_string()))?;
        self.store.session_queued(entity, &session.id).await?;
        Ok(())
    }

    fn page_job(
        &self,
        entity: &EntityId,
        session_id: &str,
        cursor: Option<String>,
        correlation_id: &str,
    ) -> SyncJob {
        let mut job = SyncJob::new(
            entity.clone(),
            JobTarget::FullSyncPage { cursor },
            crate::model::Trigger::Full,
            correlation_id.to_string(),
            self.clock.now(),
        );
        job.session_id = Some(session_id.to_string());
        job
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
        let now = self.clock.now();
        let jobs: Vec<SyncJob> = page
            .accounts
            .iter()
            .filter_map(|a| AccountKey::parse(a).ok())
            .map(|account| {
                let mut job = SyncJob::account(
                    entity.clone(),
                    account,
                    crate::model::Trigger::Full,
                    correlation_id.to_string(),
                    now,
                );
                job.session_id = Some(session_id.to_string());
                job
            })
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
    async fn complete_if_done(
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

    /// The sweep's reconciliation: accounts Zuora updated since the watermark are counted as
    /// changes (once per account and update time), so a change whose callout was lost is still
    /// synced. Answers how many were found.
    pub async fn reconcile(
        &self,
        entity: &EntityId,
        watermark: Option<&str>,
        correlation_id: &str,
        deadline: EpochMillis,
    ) -> Result<u64, FullSyncError> {
        let now = self.clock.now();
        let Some(watermark) = watermark else {
            let start = EpochMillis(now.0 - FIRST_LOOK_BACK_MS).to_rfc3339();
            self.store.set_watermark(entity, &start).await?;
            return Ok(0);
        };
        let zuora = self.bounded_zuora(entity, deadline)?;
        let ctx = CallContext::new(correlation_id);
        let mut newest = watermark.to_string();
        let mut cursor: Option<String> = None;
        let mut found = 0;
        for _ in 0..RECONCILE_PAGES {
            let page = zuora
                .accounts_page(Some(watermark), cursor.as_deref(), &ctx)
                .await?;
            for account in &page.accounts {
                let (Some(key), Some(updated)) = (
                    job_key(account),
                    account.updated_date.as_deref().and_then(utc),
                ) else {
                    continue;
                };
                let dedupe = format!("reconcile:{}:{updated}", account.id);
                if self
                    .store
                    .record_change(entity, &dedupe, key.as_str(), now)
                    .await?
                    .is_some()
                {
                    found += 1;
                }
                if later(&updated, &newest) {
                    newest = updated;
                }
            }
            cursor = page.next;
            if cursor.is_none() {
                break;
            }
        }
        if newest != watermark {
            self.store.set_watermark(entity, &newest).await?;
        }
        if found > 0 {
            tracing::info!(entity = %entity, found, "reconciliation found changes without callouts");
        }
        Ok(found)
    }
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
