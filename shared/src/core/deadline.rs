//! Deadline budgets (docs/ARCHITECTURE.md, "Deadlines"): every invocation must finish, record
//! its event and answer before the platform kills it. Zuora is the only dependency that can
//! take tens of seconds (retries, backoff, a server that hangs), so each run's Zuora calls end
//! by a cutoff that leaves [`STORE_RESERVE`] for the writes that follow them.

use crate::model::{
    AccountKey, AccountPage, AccountSnapshot, CallContext, ChangeList, ChangePage, ChangeQuery,
    EpochMillis, ExportFile, ExportPart, ExportState, Product, Subscription, SubscriptionKey,
};
use crate::ports::{Clock, ZuoraApi, ZuoraError};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Kept after the last Zuora call for what follows it: the commit (or the failure's event),
/// and releasing the lock. Each DynamoDB request ends within the SDK's operation timeout
/// (2 s, `app::AWS_OPERATION_TIMEOUT`), and at most three follow a Zuora call.
pub const STORE_RESERVE: Duration = Duration::from_secs(7);

/// The Zuora cutoff of an invocation that must be done by `deadline`.
pub fn zuora_cutoff(deadline: EpochMillis) -> EpochMillis {
    deadline.plus_ms(-(STORE_RESERVE.as_millis() as i64))
}

/// A Zuora connection whose every call ends by `cutoff`: a call still running then is dropped
/// and answers [`ZuoraError::Timeout`], like a Zuora that did not answer in time.
pub struct Bounded {
    inner: Arc<dyn ZuoraApi>,
    cutoff: EpochMillis,
    clock: Arc<dyn Clock>,
}

impl Bounded {
    pub fn new(inner: Arc<dyn ZuoraApi>, cutoff: EpochMillis, clock: Arc<dyn Clock>) -> Self {
        Self {
            inner,
            cutoff,
            clock,
        }
    }

    async fn bounded<T>(
        &self,
        call: impl Future<Output = Result<T, ZuoraError>>,
    ) -> Result<T, ZuoraError> {
        let left = self.cutoff.0 - self.clock.now().0;
        if left <= 0 {
            return Err(ZuoraError::Timeout { attempts: 0 });
        }
        tokio::time::timeout(Duration::from_millis(left as u64), call)
            .await
            .unwrap_or(Err(ZuoraError::Timeout { attempts: 1 }))
    }
}

#[async_trait::async_trait]
impl ZuoraApi for Bounded {
    async fn account_snapshot(
        &self,
        key: &AccountKey,
        ctx: &CallContext,
    ) -> Result<AccountSnapshot, ZuoraError> {
        self.bounded(self.inner.account_snapshot(key, ctx)).await
    }

    async fn subscription(
        &self,
        key: &SubscriptionKey,
        ctx: &CallContext,
    ) -> Result<Subscription, ZuoraError> {
        self.bounded(self.inner.subscription(key, ctx)).await
    }

    async fn changes_page(
        &self,
        list: ChangeList,
        query: &ChangeQuery,
        cursor: Option<&str>,
        ctx: &CallContext,
    ) -> Result<ChangePage, ZuoraError> {
        self.bounded(self.inner.changes_page(list, query, cursor, ctx))
            .await
    }

    async fn accounts_by_id(
        &self,
        after: Option<&str>,
        ctx: &CallContext,
    ) -> Result<AccountPage, ZuoraError> {
        self.bounded(self.inner.accounts_by_id(after, ctx)).await
    }

    async fn catalog(&self, ctx: &CallContext) -> Result<Vec<Product>, ZuoraError> {
        self.bounded(self.inner.catalog(ctx)).await
    }

    async fn query(
        &self,
        zoql: &str,
        ctx: &CallContext,
    ) -> Result<Vec<serde_json::Value>, ZuoraError> {
        self.bounded(self.inner.query(zoql, ctx)).await
    }

    async fn submit_export(&self, ctx: &CallContext) -> Result<String, ZuoraError> {
        self.bounded(self.inner.submit_export(ctx)).await
    }

    async fn export_state(&self, job: &str, ctx: &CallContext) -> Result<ExportState, ZuoraError> {
        self.bounded(self.inner.export_state(job, ctx)).await
    }

    async fn export_snapshots(
        &self,
        files: &[ExportFile],
        part: ExportPart,
        ctx: &CallContext,
    ) -> Result<Vec<AccountSnapshot>, ZuoraError> {
        self.bounded(self.inner.export_snapshots(files, part, ctx))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stands still: only tokio's (paused) clock moves.
    struct Fixed;

    impl Clock for Fixed {
        fn now(&self) -> EpochMillis {
            EpochMillis(1_000_000)
        }
    }

    struct Hangs;

    #[async_trait::async_trait]
    impl ZuoraApi for Hangs {
        async fn account_snapshot(
            &self,
            _: &AccountKey,
            _: &CallContext,
        ) -> Result<AccountSnapshot, ZuoraError> {
            std::future::pending().await
        }
        async fn subscription(
            &self,
            _: &SubscriptionKey,
            _: &CallContext,
        ) -> Result<Subscription, ZuoraError> {
            std::future::pending().await
        }
        async fn changes_page(
            &self,
            _: ChangeList,
            _: &ChangeQuery,
            _: Option<&str>,
            _: &CallContext,
        ) -> Result<ChangePage, ZuoraError> {
            std::future::pending().await
        }
        async fn accounts_by_id(
            &self,
            _: Option<&str>,
            _: &CallContext,
        ) -> Result<AccountPage, ZuoraError> {
            std::future::pending().await
        }
        async fn catalog(&self, _: &CallContext) -> Result<Vec<Product>, ZuoraError> {
            std::future::pending().await
        }
        async fn query(
            &self,
            _: &str,
            _: &CallContext,
        ) -> Result<Vec<serde_json::Value>, ZuoraError> {
            std::future::pending().await
        }
        async fn submit_export(&self, _: &CallContext) -> Result<String, ZuoraError> {
            std::future::pending().await
        }
        async fn export_state(&self, _: &str, _: &CallContext) -> Result<ExportState, ZuoraError> {
            std::future::pending().await
        }
        async fn export_snapshots(
            &self,
            _: &[ExportFile],
            _: ExportPart,
            _: &CallContext,
        ) -> Result<Vec<AccountSnapshot>, ZuoraError> {
            std::future::pending().await
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_call_ends_at_the_cutoff_and_a_late_one_does_not_start() {
        let clock: Arc<dyn Clock> = Arc::new(Fixed);
        let started = tokio::time::Instant::now();
        let bounded = Bounded::new(Arc::new(Hangs), clock.now().plus_ms(5_000), clock.clone());
        let ctx = CallContext::new("t");
        assert_eq!(
            bounded.catalog(&ctx).await,
            Err(ZuoraError::Timeout { attempts: 1 })
        );
        assert!(started.elapsed() >= Duration::from_secs(5));
        let late = Bounded::new(Arc::new(Hangs), clock.now().plus_ms(-1), clock);
        assert_eq!(
            late.catalog(&ctx).await,
            Err(ZuoraError::Timeout { attempts: 0 })
        );
    }
}
