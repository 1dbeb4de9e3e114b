//! The job queue port.

use super::Cause;
use crate::model::{QueueDepth, SyncJob};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
#[error("could not queue the sync job: {0}")]
pub struct QueueError(#[source] pub Cause);

#[async_trait::async_trait]
pub trait JobQueue: Send + Sync {
    async fn send(&self, job: &SyncJob, delay: Option<Duration>) -> Result<(), QueueError>;

    /// Makes a received message (its receipt handle) visible again after `after`: the worker
    /// hands back work it has no time left to start, so it runs again at once instead of after
    /// the whole visibility timeout.
    async fn hand_back(&self, receipt: &str, after: Duration) -> Result<(), QueueError>;

    /// How many messages wait, run and sit in the dead-letter queue.
    async fn depth(&self) -> Result<QueueDepth, QueueError>;

    /// Sends many jobs; answers the indexes of those that could not be sent.
    async fn send_many(&self, jobs: &[SyncJob]) -> Vec<usize> {
        let mut failed = Vec::new();
        for (i, job) in jobs.iter().enumerate() {
            if self.send(job, None).await.is_err() {
                failed.push(i);
            }
        }
        failed
    }
}
