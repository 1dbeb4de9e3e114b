//! The job queue in memory: sent jobs wait with their delay until tests receive them, and a
//! failure switch simulates SQS refusing sends. For the simulation it also consumes as SQS
//! does for a Lambda event source: a received message is in flight until deleted, comes back
//! when its visibility timeout passes, and moves to the dead-letter queue on the receive
//! after its `maxReceiveCount`-th.

use super::faults::{Fault, FaultPlan, die};
use crate::model::{EpochMillis, SyncJob};
use crate::ports::{Clock, JobQueue, QueueError};
use std::collections::{BTreeMap, VecDeque};
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
    /// SQS's message id.
    pub message_id: String,
    /// Receives so far (`ApproximateReceiveCount` once received).
    pub receive_count: u32,
}

/// One received message: its receipt handle deletes it or changes its visibility.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub receipt: u64,
    pub message: QueuedJob,
}

#[derive(Debug, Default)]
struct QueueState {
    messages: VecDeque<QueuedJob>,
    /// Received and not deleted, by receipt: each comes back at its `visible_at`.
    in_flight: BTreeMap<u64, QueuedJob>,
    dead: Vec<QueuedJob>,
    next_id: u64,
    sent: u64,
    failures: u32,
    plan: Option<Arc<dyn FaultPlan>>,
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

    /// Every later send first asks `plan` what becomes of it.
    pub fn set_fault_plan(&self, plan: Arc<dyn FaultPlan>) {
        self.state().plan = Some(plan);
    }

    /// Receives up to `max` visible messages, as a Lambda event source does: each stays in
    /// flight for `visibility`, and one received more than `max_receives` times moves to the
    /// dead-letter queue instead.
    pub fn receive_batch(
        &self,
        max: usize,
        visibility: Duration,
        max_receives: u32,
    ) -> Vec<Delivery> {
        let now = self.clock.now();
        let mut state = self.state();
        state.return_expired(now);
        let mut batch = Vec::new();
        while batch.len() < max {
            let Some(at) = state.messages.iter().position(|m| m.visible_at <= now) else {
                break;
            };
            let Some(mut message) = state.messages.remove(at) else {
                break;
            };
            if message.receive_count >= max_receives {
                state.dead.push(message);
                continue;
            }
            message.receive_count += 1;
            message.visible_at = now.plus_ms(visibility.as_millis() as i64);
            state.next_id += 1;
            let receipt = state.next_id;
            state.in_flight.insert(receipt, message.clone());
            batch.push(Delivery { receipt, message });
        }
        batch
    }

    /// Deletes a received message (the function succeeded with it); `false` when its receipt
    /// is stale (it came back and was received again).
    pub fn delete(&self, receipt: u64) -> bool {
        self.state().in_flight.remove(&receipt).is_some()
    }

    /// Makes a received message visible again after `visibility` (0: at once).
    pub fn change_visibility(&self, receipt: u64, visibility: Duration) -> bool {
        let now = self.clock.now();
        match self.state().in_flight.get_mut(&receipt) {
            Some(m) => {
                m.visible_at = now.plus_ms(visibility.as_millis() as i64);
                true
            }
            None => false,
        }
    }

    /// Received messages not yet deleted.
    pub fn in_flight(&self) -> usize {
        self.state().in_flight.len()
    }

    /// The dead-letter queue's messages, oldest first.
    pub fn dead_letters(&self) -> Vec<QueuedJob> {
        self.state().dead.clone()
    }

    /// Moves every dead letter back to the queue (SQS's DLQ redrive), receive counts reset.
    pub fn redrive(&self) {
        let mut state = self.state();
        let dead: Vec<QueuedJob> = state.dead.drain(..).collect();
        for mut message in dead {
            message.receive_count = 0;
            state.messages.push_back(message);
        }
    }

    /// When the next message becomes visible, queued or in flight.
    pub fn next_visible(&self) -> Option<EpochMillis> {
        let state = self.state();
        state
            .messages
            .iter()
            .chain(state.in_flight.values())
            .map(|m| m.visible_at)
            .min()
    }

    /// Takes the oldest job that is visible now.
    pub fn receive(&self) -> Option<QueuedJob> {
        let now = self.clock.now();
        let mut state = self.state();
        state.return_expired(now);
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

impl QueueState {
    /// In-flight messages whose visibility timeout passed are visible again.
    fn return_expired(&mut self, now: EpochMillis) {
        let expired: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, m)| m.visible_at <= now)
            .map(|(r, _)| *r)
            .collect();
        for receipt in expired {
            if let Some(m) = self.in_flight.remove(&receipt) {
                self.messages.push_back(m);
            }
        }
    }
}

#[async_trait::async_trait]
impl JobQueue for MemoryQueue {
    async fn depth(&self) -> Result<crate::model::QueueDepth, QueueError> {
        let now = self.clock.now();
        let s = self.state();
        let delayed = s.messages.iter().filter(|m| m.visible_at > now).count() as u64;
        Ok(crate::model::QueueDepth {
            waiting: s.messages.len() as u64 - delayed,
            in_flight: s.in_flight.len() as u64,
            delayed,
            dead_letter: Some(s.dead.len() as u64),
        })
    }

    /// Receipts are [`Delivery::receipt`] numbers.
    async fn hand_back(&self, receipt: &str, after: Duration) -> Result<(), QueueError> {
        let receipt: u64 = receipt
            .parse()
            .map_err(|_| QueueError(format!("no such receipt {receipt}").into()))?;
        if self.change_visibility(receipt, after) {
            Ok(())
        } else {
            Err(QueueError(
                "ReceiptHandleIsInvalid: the message is no longer in flight".into(),
            ))
        }
    }

    async fn send(&self, job: &SyncJob, delay: Option<Duration>) -> Result<(), QueueError> {
        let body = serde_json::to_string(job).map_err(|e| QueueError(e.to_string().into()))?;
        let parsed = SyncJob::parse(&body)
            .map_err(|e| QueueError(format!("the job does not read back: {e}").into()))?;
        let plan = self.state().plan.clone();
        // (sent, then the sender dies)
        let (mut applied, mut crash) = (true, false);
        match plan.map_or(Fault::Pass, |p| p.queue_send()) {
            Fault::Pass => {}
            Fault::Delay(d) => tokio::time::sleep(d).await,
            Fault::Fail => return Err(QueueError("simulated SQS error (fault plan)".into())),
            Fault::Crash { applied: a } => (applied, crash) = (a, true),
        }
        if applied {
            self.push(parsed, body, delay)?;
        }
        if crash {
            die().await
        }
        Ok(())
    }
}

impl MemoryQueue {
    fn push(&self, job: SyncJob, body: String, delay: Option<Duration>) -> Result<(), QueueError> {
        let now = self.clock.now();
        let seconds = delay.map_or(0, |d| d.min(MAX_DELAY).as_secs());
        let mut state = self.state();
        if state.failures > 0 {
            state.failures -= 1;
            return Err(QueueError("simulated SQS failure".into()));
        }
        {
            state.sent += 1;
            state.next_id += 1;
            let message_id = format!("msg-{}", state.next_id);
            state.messages.push_back(QueuedJob {
                job,
                body,
                delay,
                sent_at: now,
                visible_at: now.plus_ms(seconds as i64 * 1000),
                message_id,
                receive_count: 0,
            });
        }
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
