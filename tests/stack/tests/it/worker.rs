//! The SQS worker: per-message isolation, partial batch failures, end to end through moto's
//! SQS, and dead-lettering of a message that keeps failing.

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use stack::app::{AppOptions, spawn_app, spawn_app_with};
use stack::aws_ops::as_function;
use stack::local::poll_once;
use std::time::Duration;
use zuora_sim::{Fault, FaultKind};
use zuora_sync::adapters::clock::SystemClock;
use zuora_sync::model::EventStatus;
use zuora_sync::ports::Clock;

const ACCOUNT_ID: &str = "8a90a1b27c1f4e2d017c2b3c4d5e0001";

fn job(account: &str) -> String {
    format!(
        r#"{{"v":1,"kind":"account","entity":"default","account":"{account}","trigger":"on_demand","correlation_id":"{}","requested_at":"2026-11-23T10:00:00Z"}}"#,
        uuid::Uuid::new_v4()
    )
}

fn message(id: &str, body: &str) -> SqsMessage {
    let mut m = SqsMessage::default();
    m.message_id = Some(id.into());
    m.body = Some(body.into());
    m
}

fn event(messages: Vec<SqsMessage>) -> SqsEvent {
    let mut e = SqsEvent::default();
    e.records = messages;
    e
}

fn deadline() -> zuora_sync::model::EpochMillis {
    SystemClock.now().plus_ms(60_000)
}

fn failed_ids(r: &aws_lambda_events::sqs::SqsBatchResponse) -> Vec<String> {
    let mut ids: Vec<String> = r
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn a_malformed_message_fails_alone() {
    let app = spawn_app().await;
    let batch = event(vec![
        message("good-1", &job("A00000001")),
        message("not-json", "{\"v\":1, oops"),
        message("future-version", r#"{"v":2,"kind":"account"}"#),
        message("bad-account", &job("A/../1")),
        message("good-2", &job("A00000002")),
    ]);

    let response = as_function("sync-worker", app.worker.handle(batch, deadline())).await;

    assert_eq!(
        failed_ids(&response),
        ["bad-account", "future-version", "not-json"]
    );
    assert!(
        !app.mirror_records(ACCOUNT_ID).await.is_empty(),
        "good-1 synced"
    );
    assert!(
        !app.mirror_records("8a90a1b27c1f4e2d017c2b3c4d5e0002")
            .await
            .is_empty(),
        "good-2 synced"
    );
}

#[tokio::test]
async fn transient_failures_are_retried_and_permanent_ones_recorded() {
    let app = spawn_app().await;
    app.sim.add_fault(Fault::new(
        "object_query_account",
        FaultKind::Status { status: 503 },
    ));
    let response = app
        .worker
        .handle(event(vec![message("m1", &job("A00000001"))]), deadline())
        .await;
    assert_eq!(failed_ids(&response), ["m1"], "Zuora down: SQS retries it");

    app.sim.clear_faults();
    let response = app
        .worker
        .handle(event(vec![message("m2", &job("A09999999"))]), deadline())
        .await;
    assert!(
        response.batch_item_failures.is_empty(),
        "unknown account: retrying cannot help"
    );
    let events = app.events_for("A09999999").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].status, EventStatus::Failed);
    assert_eq!(events[0].code.as_deref(), Some("zuora_not_found"));
}

#[tokio::test]
async fn a_queued_job_is_synced_through_sqs_and_deleted() {
    let app = spawn_app().await;
    app.aws
        .sqs
        .send_message()
        .queue_url(&app.queue.queue_url)
        .message_body(job("A00000001"))
        .send()
        .await
        .unwrap();

    let received = poll_once(
        &app.worker,
        &app.aws.sqs,
        &app.queue.queue_url,
        Duration::from_secs(60),
    )
    .await
    .unwrap();

    assert_eq!(received, 1);
    assert!(
        app.mirror_records(ACCOUNT_ID)
            .await
            .contains_key("SUB#A-S00000271")
    );
    let counts = app.queue_counts(&app.queue.queue_url).await;
    assert_eq!(
        (counts.visible, counts.in_flight),
        (0, 0),
        "deleted after success"
    );
    let events = app.events_for(ACCOUNT_ID).await;
    assert_eq!(events[0].status, EventStatus::Succeeded);
}

#[tokio::test]
async fn a_message_that_keeps_failing_ends_in_the_dead_letter_queue() {
    let app = spawn_app_with(AppOptions {
        queue_visibility_secs: 1,
        ..AppOptions::default()
    })
    .await;
    app.aws
        .sqs
        .send_message()
        .queue_url(&app.queue.queue_url)
        .message_body("not a job")
        .send()
        .await
        .unwrap();

    let mut receipts = 0;
    for _ in 0..30 {
        receipts += poll_once(
            &app.worker,
            &app.aws.sqs,
            &app.queue.queue_url,
            Duration::from_secs(60),
        )
        .await
        .unwrap();
        if app.queue_counts(&app.queue.dlq_url).await.visible == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(600)).await;
    }

    assert_eq!(
        app.queue_counts(&app.queue.dlq_url).await.visible,
        1,
        "moved to the DLQ"
    );
    assert_eq!(
        receipts,
        stack::schema::MAX_RECEIVE_COUNT as usize,
        "received maxReceiveCount times first"
    );
    let dead = app.queued_bodies(&app.queue.dlq_url).await;
    assert_eq!(dead, ["not a job"], "kept as sent, for inspection");
}
