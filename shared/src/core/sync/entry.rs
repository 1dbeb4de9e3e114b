//! The entry points every trigger calls: a subscription, an account, a customer (each
//! subscription on its own), the catalog, and the check a coalesced request leaves behind.

use super::locked::Prefetched;
use super::*;
use crate::model::{
    AccountKey, AccountSnapshot, CATALOG_ACCOUNT, EpochMillis, JobTarget, LockKey, SubscriptionKey,
};
use crate::ports::ZuoraError;

impl SyncService {
    /// Syncs the account that owns a subscription, synchronously, and answers with the
    /// subscription's and its customer's local ids.
    pub async fn sync_subscription(
        &self,
        req: &SyncRequest,
        key: &SubscriptionKey,
    ) -> Result<SubscriptionSynced, Failure> {
        let mut req = req.clone();
        req.subscription = Some(key.to_string());
        let sub = match self.read_subscription(&req, key).await {
            Ok(sub) => sub,
            Err(e) => {
                let event = self.new_event(&req, self.clock.now());
                return Err(self.record_failure(event, e).await);
            }
        };
        let owner_key = sub
            .account_id
            .as_deref()
            .or(sub.account_number.as_deref())
            .and_then(|k| AccountKey::parse(k).ok());
        let Some(account) = owner_key else {
            let event = self.new_event(&req, self.clock.now());
            let error = ZuoraError::BadResponse {
                detail: format!("subscription {key} names no valid account"),
                attempts: 1,
            };
            return Err(self.record_failure(event, error.into()).await);
        };
        req.subscription = Some(sub.number.clone());
        let wait = OnBusy::WaitThenCoalesce(self.settings.lock_wait);
        match self.sync_account(&req, &account, wait).await? {
            AccountOutcome::Synced(report) => match report.subscription_ids.get(&sub.number) {
                Some(id) => Ok(SubscriptionSynced {
                    id: id.clone(),
                    owner: report.customer_id,
                    event_id: report.event_id,
                }),
                None => Err(Failure::new(
                    SyncError::NotMirrored {
                        number: sub.number,
                        status: sub.status.to_string(),
                    },
                    report.event_id,
                )),
            },
            AccountOutcome::Coalesced { event_id } => Err(Failure::new(
                SyncError::Busy {
                    account: account.to_string(),
                },
                event_id,
            )),
        }
    }

    pub(super) async fn read_subscription(
        &self,
        req: &SyncRequest,
        key: &SubscriptionKey,
    ) -> Result<crate::model::Subscription, SyncError> {
        let run = self.prepare(req).await?;
        Ok(run.zuora.subscription(key, &run.call).await?)
    }

    /// Syncs one account and everything under it. Every outcome leaves an event.
    pub async fn sync_account(
        &self,
        req: &SyncRequest,
        key: &AccountKey,
        on_busy: OnBusy,
    ) -> Result<AccountOutcome, Failure> {
        self.sync_scoped(req, Some(key), Scope::Account, on_busy)
            .await
    }

    /// The manual customer sync: the account, then each subscription read on
    /// its own, answering with every subscription's outcome. A subscription Zuora cannot
    /// return keeps its stored copy; the others are written.
    pub async fn sync_customer(
        &self,
        req: &SyncRequest,
        key: &AccountKey,
    ) -> Result<AccountOutcome, Failure> {
        let wait = OnBusy::WaitThenCoalesce(self.settings.lock_wait);
        self.sync_scoped(req, Some(key), Scope::EachSubscription, wait)
            .await
    }

    /// The product catalog: every product with its rate plans and charges; products no
    /// longer in Zuora are removed.
    pub async fn sync_catalog(
        &self,
        req: &SyncRequest,
        on_busy: OnBusy,
    ) -> Result<AccountOutcome, Failure> {
        self.sync_scoped(req, None, Scope::Catalog, on_busy).await
    }

    /// An account as a bulk export read it, its reads taken to begin at `read_from` (when the
    /// export was submitted). It is committed under the account's lock only if nothing the
    /// lock records can be newer; otherwise Zuora is read again under the lock
    /// (docs/ARCHITECTURE.md, "Bulk full sync"). A held lock coalesces: its holder reads
    /// Zuora again for it.
    pub async fn sync_exported(
        &self,
        req: &SyncRequest,
        snapshot: AccountSnapshot,
        read_from: EpochMillis,
    ) -> Result<AccountOutcome, Failure> {
        let key = match AccountKey::parse(&snapshot.account.id) {
            Ok(key) => key,
            Err(e) => {
                let event = self.new_event(req, self.clock.now());
                let error = ZuoraError::BadResponse {
                    detail: format!("the export names an invalid account id: {e}"),
                    attempts: 1,
                };
                return Err(self.record_failure(event, error.into()).await);
            }
        };
        let given = Prefetched::new(Ok(snapshot), read_from);
        self.sync_given(
            req,
            Some(&key),
            Scope::Account,
            OnBusy::Coalesce,
            Some(given),
        )
        .await
    }

    pub(super) async fn sync_scoped(
        &self,
        req: &SyncRequest,
        key: Option<&AccountKey>,
        scope: Scope,
        on_busy: OnBusy,
    ) -> Result<AccountOutcome, Failure> {
        self.sync_given(req, key, scope, on_busy, None).await
    }

    async fn sync_given(
        &self,
        req: &SyncRequest,
        key: Option<&AccountKey>,
        scope: Scope,
        on_busy: OnBusy,
        given: Option<Prefetched>,
    ) -> Result<AccountOutcome, Failure> {
        let mut event = self.new_event(req, self.clock.now());
        event.account = key.map(ToString::to_string);
        match self.run(req, key, scope, on_busy, given, &mut event).await {
            Ok(outcome) => {
                if matches!(outcome, AccountOutcome::Synced(_)) {
                    self.notify(&event).await;
                }
                Ok(outcome)
            }
            Err(error) => Err(self.record_failure(event, error).await),
        }
    }

    /// Handles the check a coalesced request queued: syncs only if wishes are still pending
    /// on a lock nobody holds any more.
    pub async fn sync_if_pending(
        &self,
        req: &SyncRequest,
        target: &JobTarget,
    ) -> Result<PendingOutcome, Failure> {
        let (lock_id, key, scope) = match target {
            JobTarget::Account { account } => (account.to_string(), Some(account), Scope::Account),
            JobTarget::Catalog => (CATALOG_ACCOUNT.to_string(), None, Scope::Catalog),
            // Lookups and full sync pages never hold a lock, so no wish can wait on one.
            JobTarget::Lookup { .. }
            | JobTarget::FullSyncPage { .. }
            | JobTarget::BulkExport { .. }
            | JobTarget::BulkAccounts { .. }
            | JobTarget::SalesforcePush { .. } => {
                return Ok(PendingOutcome::NothingPending);
            }
        };
        let lock_key = LockKey {
            entity: req.entity.clone(),
            account_id: lock_id,
        };
        let failed = |error: SyncError| Failure::new(error, String::new());
        let state = self
            .locks
            .peek(&lock_key)
            .await
            .map_err(|e| failed(e.into()))?;
        let now = self.clock.now();
        match state {
            Some(s) if s.pending > 0 && s.lease_until >= now => {
                // Still held: its holder may yet serve the wishes; look again after its lease.
                self.queue_wish_check(req, &lock_key, s.fence, s.lease_until)
                    .await
                    .map_err(failed)?;
                Ok(PendingOutcome::NothingPending)
            }
            Some(s) if s.pending > 0 => {
                let mut req = req.clone();
                req.event_id = None;
                self.sync_scoped(&req, key, scope, OnBusy::Coalesce)
                    .await
                    .map(PendingOutcome::Ran)
            }
            _ => Ok(PendingOutcome::NothingPending),
        }
    }
}
