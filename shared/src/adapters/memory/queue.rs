//! The job queue in memory: sent jobs wait with their delay until tests receive them, and a
//! failure switch simulates SQS refusing sends.

use crate::model::{EpochMillis, SyncJob};
use crate::ports::{Clock, JobQueue, QueueError};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// SQS refuses longer delays; the SQS adapter caps them, so this queue does too.
const MAX_DELAY: Duration = Duration::from_secs(15 * 60);

/// A job as queued: the parsed job, its JSON body, and when it becomes visible.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedJob {
    /// The job as a worker reads it back from the body.
    pub job: SyncJob,
    /// The message body (the versioned JSON contract).
    pub body: String,
    /// The delay the sender asked for.
    pub delay: Option<Duration>,
    pub sent_at: EpochMillis,
    /// `sent_at` plus the delay in whole seconds, capped at 15 minutes (as SQS takes it).
    pub visible_at: EpochMillis,
}

#[derive(Debug, Default)]
struct QueueState {
    messages: VecDeque<QueuedJob>,
    sent: u64,
    failures: u32,
}

/// Implements `JobQueue`. Every job goes through its JSON body and back, so a job the worker
/// could not parse fails here as it would in production.
pub struct MemoryQueue {
    clock: Arc<dyn Clock>,
    state: Mutex<QueueState>,
}

impl MemoryQueue {
    /// Visibility times come from `clock` (a `TokioClock` keeps them on paused time).
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            state: Mutex::new(QueueState::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next `n` sends fail (each job of `send_many` is one send), as SQS errors would.
    pub fn fail_next(&self, n: u32) {
        self.state().failures = n;
    }

    /// Takes the oldest job that is visible now.
    pub fn receive(&self) -> Option<QueuedJob> {
        let now = self.clock.now();
        let mut state = self.state();
        let at = state.messages.iter().position(|m| m.visible_at <= now)?;
        state.messages.remove(at)
    }

    /// Takes every job that is visible now, oldest first.
    pub fn receive_all(&self) -> Vec<QueuedJob> {
        std::iter::from_fn(|| self.receive()).collect()
    }

    /// Takes every job, delayed or not, oldest first.
    pub fn drain(&self) -> Vec<QueuedJob> {
        self.state().messages.drain(..).collect()
    }

    /// Copies of the jobs still queued, oldest first.
    pub fn queued(&self) -> Vec<QueuedJob> {
        self.state().messages.iter().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.state().messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many sends succeeded since the queue was made.
    pub fn sent(&self) -> u64 {
        self.state().sent
    }
}

#[async_trait::async_trait]
impl JobQueue for MemoryQueue {
    async fn send(&self, job: &SyncJob, delay: Option<Duration>) -> Result<(), QueueError> {
        let body = serde_json::to_string(job).map_err(|e| QueueError(e.to_string().into()))?;
        let parsed = SyncJob::parse(&body)
            .map_err(|e| QueueError(format!("the job does not read back: {e}").into()))?;
        let now = self.clock.now();
        let seconds = delay.map_or(0, |d| d.min(MAX_DELAY).as_secs());
        let mut state = self.state();
        if state.failures > 0 {
            state.failures -= 1;
            return Err(QueueError("simulated SQS failure".into()));
        }
        state.sent += 1;
        state.messages.push_back(QueuedJob {
            job: parsed,
            body,
            delay,
            sent_at: now,
            visible_at: now.plus_ms(seconds as i64 * 1000),
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::ManualClock;
    use super::*;
    use crate::model::{AccountKey, EntityId, Trigger};

    fn job() -> SyncJob {
        let entity = EntityId::parse("e").unwrap();
        let account = AccountKey::parse("A1").unwrap();
        SyncJob::account(entity, account, Trigger::Api, "c".into(), EpochMillis(0))
    }

    #[tokio::test]
    async fn delayed_jobs_wait_and_failures_queue_nothing() {
        let clock = Arc::new(ManualClock::new(EpochMillis(0)));
        let queue = MemoryQueue::new(clock.clone());
        queue
            .send(&job(), Some(Duration::from_millis(2_500)))
            .await
            .unwrap();
        queue
            .send(&job(), Some(Duration::from_secs(3_600)))
            .await
            .unwrap();
        queue.fail_next(1);
        assert!(queue.send(&job(), None).await.is_err());
        assert_eq!((queue.len(), queue.sent()), (2, 2));
        assert!(queue.receive().is_none());
        clock.advance_ms(2_000);
        let first = queue.receive().expect("whole seconds, as SQS takes them");
        assert_eq!((first.job, first.visible_at), (job(), EpochMillis(2_000)));
        assert_eq!(
            queue.queued()[0].visible_at,
            EpochMillis(900_000),
            "capped at 15 min"
        );
    }
}
