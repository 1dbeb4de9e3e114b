//! Session bookkeeping under many workers, on DynamoDB's real transaction semantics: a
//! transaction that meets another one's item is cancelled (`TransactionConflict`), not queued.
//! DynamoDB Local serialises transactions instead, so the fault proxy emulates the conflicts.

use futures::future::join_all;
use stack::app::{AppOptions, spawn_app_with};
use stack::fault_proxy::FaultProxy;
use std::time::Duration;
use zuora_sync::model::{JobOutcome, Session, SessionStatus, SessionTrigger};

/// Jobs of one session finishing at the same moment, as many workers would.
const JOBS: u64 = 48;

/// Before, every job counted itself by a transaction on the session item: at 48 at once 47
/// were cancelled and failed (their messages would come back, again and again). Retrying
/// alone does not cure it: on one item, about 10 of 48 still failed after 8 tries, with some
/// 245 conflicts. Counted on 16 shards of the session and retried, every job counts (about
/// 55 conflicts absorbed) and the session completes exactly once.
#[tokio::test]
async fn many_jobs_finishing_at_once_all_count_and_the_session_completes_once() {
    let proxy = FaultProxy::to_dynamodb().await;
    let app = spawn_app_with(AppOptions {
        dynamodb_url: Some(proxy.url()),
        ..AppOptions::default()
    })
    .await;
    let realtime = app.services.realtime.clone();
    let now = app.services.sync.now();
    let session = Session::new(SessionTrigger::MaxTime, now, (0, JOBS), JOBS);
    realtime
        .store()
        .create_session(&app.entity, &session)
        .await
        .unwrap();
    // DynamoDB's transactions take milliseconds; 20 ms each makes overlaps certain.
    proxy.emulate_transaction_conflicts(Duration::from_millis(20));

    let finished = join_all((0..JOBS).map(|i| {
        let realtime = realtime.clone();
        let (entity, id) = (app.entity.clone(), session.id.clone());
        async move {
            realtime
                .job_finished(
                    &entity,
                    &id,
                    &format!("ACC{i:04}"),
                    JobOutcome::Succeeded,
                    2,
                )
                .await
        }
    }))
    .await;
    let conflicts = proxy.transaction_conflicts();
    let failed: Vec<String> = finished
        .iter()
        .filter_map(|r| r.as_ref().err().map(ToString::to_string))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {JOBS} jobs failed to count ({conflicts} conflicts), e.g. {}",
        failed.len(),
        failed[0]
    );
    let done = realtime
        .store()
        .get_session(&app.entity, &session.id)
        .await
        .unwrap()
        .expect("the session");
    assert_eq!(
        (done.status, done.succeeded, done.written),
        (SessionStatus::Done, JOBS, 2 * JOBS)
    );
    println!("{JOBS} jobs at once: {conflicts} transaction conflicts absorbed");
    assert!(
        conflicts < 2 * JOBS,
        "{conflicts} conflicts for {JOBS} jobs: the counting still meets on one item"
    );
}
