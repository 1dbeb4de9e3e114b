//! The SQS worker's decisions (handlers/sqs_worker.rs), driven with real SQS messages built
//! from what the core queued: what is retried (left for SQS, then the DLQ) and what is
//! acknowledged.

use crate::support::*;
use aws_lambda_events::sqs::SqsMessage;
use zuora_sync::adapters::memory::QueuedJob;
use zuora_sync::handlers::sqs_worker::{MessageResult, Worker};
use zuora_sync::model::{JobTarget, Trigger};
use zuora_sync::ports::ZuoraError;

fn worker(env: &Env) -> Worker {
    Worker {
        sync: env.sync.clone(),
        realtime: env.realtime.clone(),
        max_receives: 5,
        push: Some(env.push.clone()),
    }
}

fn message(job: &QueuedJob, receive_count: u32) -> SqsMessage {
    let mut m = SqsMessage::default();
    m.message_id = Some(format!("m-{receive_count}"));
    m.body = Some(job.body.clone());
    m.attributes
        .insert("ApproximateReceiveCount".into(), receive_count.to_string());
    m
}

/// An on-demand job for account 1, as the API queues it, received.
async fn queued_job(env: &Env) -> QueuedJob {
    enqueue(env).await;
    env.queue.receive().expect("the job")
}

async fn enqueue(env: &Env) {
    env.zuora.put_account(account(1));
    let target = JobTarget::Account {
        account: key(&account_id(1)),
    };
    env.sync
        .enqueue(&env.req(Trigger::OnDemand), &target, None)
        .await
        .unwrap();
}

/// H8: during a credential or permission incident queued work must wait (SQS retries it, then
/// the DLQ keeps it for a redrive), not be acknowledged and lost.
#[tokio::test(start_paused = true)]
async fn credential_and_permission_failures_leave_the_job_for_sqs_to_retry() {
    let refusals = [
        ZuoraError::Auth {
            reason: "invalid client credentials".into(),
        },
        ZuoraError::Rejected {
            status: 403,
            code: Some(90000011),
            reason: "this user has no permission for the API".into(),
        },
        ZuoraError::Rejected {
            status: 401,
            code: None,
            reason: "token revoked".into(),
        },
    ];
    for refusal in refusals {
        let env = Env::new();
        let job = queued_job(&env).await;
        env.zuora.fail_next(1, refusal.clone());
        let result = worker(&env)
            .handle_message(&message(&job, 1), env.now().plus_ms(DEADLINE_MS))
            .await;
        assert!(
            matches!(result, MessageResult::Retry(_)),
            "{refusal}: {result:?}"
        );
        // Once the incident is over, the redelivered job syncs the account.
        let again = worker(&env)
            .handle_message(&message(&job, 2), env.now().plus_ms(DEADLINE_MS))
            .await;
        assert_eq!(again, MessageResult::Done);
        let stored = env.store.stored_account(&env.entity, &account_id(1));
        assert!(
            !stored.records.is_empty(),
            "{refusal}: the account is in the mirror"
        );
    }
}

/// What retrying cannot fix is acknowledged, with its failed event on record.
#[tokio::test(start_paused = true)]
async fn an_account_zuora_does_not_know_is_acknowledged() {
    let env = Env::new();
    let job = queued_job(&env).await;
    env.zuora.fail_next(
        1,
        ZuoraError::NotFound {
            what: "account".into(),
            reason: "Cannot find entity by key".into(),
        },
    );
    let result = worker(&env)
        .handle_message(&message(&job, 1), env.now().plus_ms(DEADLINE_MS))
        .await;
    assert_eq!(result, MessageResult::Done);
}

/// H7: a message the worker has no time left to start goes back to the queue at once (not
/// after the visibility timeout, and not by timing out the whole batch); on its last receipt
/// it runs anyway, or handing back would dead-letter it unrun.
#[tokio::test(start_paused = true)]
async fn a_message_without_time_to_start_is_handed_back_unrun() {
    let env = Env::new();
    enqueue(&env).await;
    let visibility = std::time::Duration::from_secs(360);
    let batch = env.queue.receive_batch(10, visibility, 5);
    let mut m = message(&batch[0].message, 1);
    m.receipt_handle = Some(batch[0].receipt.to_string());
    let late = env.now().plus_ms(10_000);
    let result = worker(&env).handle_message(&m, late).await;
    assert!(matches!(result, MessageResult::Retry(_)), "{result:?}");
    assert_eq!(env.zuora.calls(), 0, "nothing started");
    let again = env.queue.receive_batch(10, visibility, 5);
    assert_eq!(again.len(), 1, "visible again at once");

    // A deadline already past is none at all (some local emulators send none): it runs.
    let mut past = message(&again[0].message, 2);
    past.receipt_handle = Some(again[0].receipt.to_string());
    let result = worker(&env)
        .handle_message(&past, env.now().plus_ms(-1))
        .await;
    assert_eq!(result, MessageResult::Done, "no real deadline: it runs");
    enqueue(&env).await;
    let again = env.queue.receive_batch(10, visibility, 5);

    let mut last = message(&again[0].message, 5);
    last.receipt_handle = Some(again[0].receipt.to_string());
    let result = worker(&env).handle_message(&last, late).await;
    assert_eq!(result, MessageResult::Done, "the last receipt runs");
}

/// H6: Zuora's concurrency 429 asks for 120 s. The job is handed back for that long (plus up
/// to a quarter, so the turned-away jobs do not return together), not failed, not retried at
/// once and not after the queue's fixed visibility timeout.
#[tokio::test(start_paused = true)]
async fn a_long_zuora_wait_hands_the_job_back_for_that_long() {
    let env = Env::new();
    enqueue(&env).await;
    let delivery = env
        .queue
        .receive_batch(1, std::time::Duration::from_secs(360), 5)
        .pop()
        .expect("the job");
    env.zuora.fail_next(
        1,
        ZuoraError::Busy {
            retry_after_secs: 120,
            reason: "HTTP 429: too many concurrent requests".into(),
        },
    );
    let mut m = message(&delivery.message, 1);
    m.receipt_handle = Some(delivery.receipt.to_string());
    let result = worker(&env)
        .handle_message(&m, env.now().plus_ms(DEADLINE_MS))
        .await;
    assert!(matches!(result, MessageResult::Retry(_)), "{result:?}");
    let back_at = env.queue.next_visible().expect("the job is still queued");
    let wait = back_at.0 - env.now().0;
    assert!(
        (120_000..=150_000).contains(&wait),
        "handed back for {wait} ms"
    );
}

/// On-demand jobs for accounts 1 and 2, received in one batch.
async fn two_jobs_received(env: &Env) -> Vec<zuora_sync::adapters::memory::Delivery> {
    enqueue(env).await;
    env.zuora.put_account(account(2));
    let target = JobTarget::Account {
        account: key(&account_id(2)),
    };
    env.sync
        .enqueue(&env.req(Trigger::OnDemand), &target, None)
        .await
        .unwrap();
    env.queue
        .receive_batch(10, std::time::Duration::from_secs(360), 5)
}

/// Observability: a batch counts its syncs by outcome, Zuora's long waits and the queue age
/// (what `Worker::handle` writes as EMF metrics and the template's alarms watch).
#[tokio::test(start_paused = true)]
async fn a_batch_counts_its_outcomes() {
    let env = Env::new();
    let deliveries = two_jobs_received(&env).await;
    assert_eq!(deliveries.len(), 2);
    // The first Zuora call answers the concurrency 429.
    env.zuora.fail_next(
        1,
        ZuoraError::Busy {
            retry_after_secs: 120,
            reason: "HTTP 429".into(),
        },
    );
    let mut event = aws_lambda_events::sqs::SqsEvent::default();
    event.records = deliveries
        .iter()
        .map(|d| {
            let mut m = message(&d.message, 1);
            m.receipt_handle = Some(d.receipt.to_string());
            m.attributes
                .insert("SentTimestamp".into(), (env.now().0 - 2_000).to_string());
            m
        })
        .collect();
    let (response, metrics) = worker(&env)
        .handle_counted(event, env.now().plus_ms(DEADLINE_MS))
        .await;
    assert_eq!(response.batch_item_failures.len(), 1);
    let line: serde_json::Value =
        serde_json::from_str(&metrics.lines("sync-worker", 0)[0]).unwrap();
    assert_eq!(line["SyncSucceeded"], 1.0, "{line}");
    assert_eq!(line["SyncRetried"], 1.0, "{line}");
    assert_eq!(line["ZuoraBusy"], 1.0, "{line}");
    assert_eq!(line["QueueAge"], 2_000.0, "{line}");
}

/// Panics in the first Zuora call it sees, then lets every call through.
#[derive(Debug, Default)]
struct PanicOnce(std::sync::atomic::AtomicBool);

impl zuora_sync::adapters::memory::FaultPlan for PanicOnce {
    fn store_call(&self, _: &'static str) -> zuora_sync::adapters::memory::Fault {
        zuora_sync::adapters::memory::Fault::Pass
    }
    fn queue_send(&self) -> zuora_sync::adapters::memory::Fault {
        zuora_sync::adapters::memory::Fault::Pass
    }
    fn zuora_call(&self, _: &'static str) -> zuora_sync::adapters::memory::ZuoraFault {
        if !self.0.swap(true, std::sync::atomic::Ordering::SeqCst) {
            panic!("a bug in one job");
        }
        zuora_sync::adapters::memory::ZuoraFault::Pass
    }
}

/// L4: a panic in one job fails that message alone; the rest of the batch completes.
#[tokio::test(start_paused = true)]
async fn a_panicking_job_fails_alone() {
    let env = Env::new();
    let deliveries = two_jobs_received(&env).await;
    env.zuora
        .set_fault_plan(std::sync::Arc::new(PanicOnce::default()));
    let mut event = aws_lambda_events::sqs::SqsEvent::default();
    event.records = deliveries
        .iter()
        .map(|d| {
            let mut m = message(&d.message, 1);
            m.message_id = Some(d.message.message_id.clone());
            m
        })
        .collect();
    let (response, metrics) = worker(&env)
        .handle_counted(event, env.now().plus_ms(DEADLINE_MS))
        .await;
    assert_eq!(
        response.batch_item_failures.len(),
        1,
        "only the panicking job"
    );
    let line: serde_json::Value =
        serde_json::from_str(&metrics.lines("sync-worker", 0)[0]).unwrap();
    assert_eq!(line["SyncSucceeded"], 1.0, "{line}");
}
