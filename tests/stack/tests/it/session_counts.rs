//! Session bookkeeping under many workers, on DynamoDB's real transaction semantics: a
//! transaction that meets another one's item is cancelled (`TransactionConflict`), not queued.
//! DynamoDB Local serialises transactions instead, so the fault proxy emulates the conflicts.

use futures::future::join_all;
use stack::app::{AppOptions, spawn_app_with};
use stack::fault_proxy::FaultProxy;
use std::time::Duration;
use zuora_sync::model::{EndedJob, JobOutcome, Session, SessionStatus, SessionTrigger};

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

/// `n` account ids of count group `group`, starting the search at `from`.
fn ids_of_group(group: u8, n: usize, from: usize) -> Vec<String> {
    (from..)
        .map(|i| format!("ACC{i:06}"))
        .filter(|id| zuora_sync::model::count_group(id) == group)
        .take(n)
        .collect()
}

fn ended(accounts: &[String]) -> Vec<EndedJob> {
    accounts
        .iter()
        .map(|account| EndedJob {
            account: account.clone(),
            outcome: JobOutcome::Succeeded,
            written: 3,
            failure: None,
        })
        .collect()
}

/// A bulk job's accounts are of one count group, so they are counted in one transaction
/// instead of one each (with one session read instead of one each); a job that runs again
/// counts nothing twice, also when part of it was counted before; and seven jobs on four
/// shards finishing at once (conflicts emulated) all count, and the session completes once.
#[tokio::test]
async fn a_bulk_jobs_accounts_are_counted_in_one_write_and_once() {
    let proxy = FaultProxy::to_dynamodb().await;
    let app = spawn_app_with(AppOptions {
        dynamodb_url: Some(proxy.url()),
        ..AppOptions::default()
    })
    .await;
    let realtime = app.services.realtime.clone();
    let batches: Vec<Vec<String>> = (0..8u8)
        .map(|b| ids_of_group(b % 4, 25, usize::from(b) * 10_000))
        .collect();
    let total = 8 * 25;
    let session = Session::new(SessionTrigger::Full, app.services.sync.now(), (0, 0), total);
    realtime
        .store()
        .create_session(&app.entity, &session)
        .await
        .unwrap();
    let (entity, id) = (&app.entity, session.id.as_str());

    app.dynamo_counter.reset();
    realtime
        .jobs_ended(entity, id, ended(&batches[0]))
        .await
        .unwrap();
    let counts = app.dynamo_counter.snapshot();
    // One transaction, and one BatchGetItem (counted as "Other") to read the session.
    let requests: u64 = counts.requests.values().sum();
    assert_eq!((counts.writes(), requests), (1, 2), "{:?}", counts.requests);

    // Run again with 5 accounts more of its group: the shard's batch is refused whole (a
    // marker exists) and counted job by job, which counts only the 5.
    let mut again = batches[4][..5].to_vec();
    again.extend(batches[0].iter().cloned());
    realtime
        .jobs_ended(entity, id, ended(&again))
        .await
        .unwrap();
    let read = realtime
        .store()
        .get_session(entity, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((read.succeeded, read.written), (30, 90));

    // The other seven at once: two on each of three shards, and the one that was partly
    // counted (its batch refused, then one by one) alone on its shard.
    proxy.emulate_transaction_conflicts(Duration::from_millis(20));
    let results = join_all(batches[1..].iter().map(|batch| {
        let realtime = realtime.clone();
        async move { realtime.jobs_ended(entity, id, ended(batch)).await }
    }))
    .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let done = realtime
        .store()
        .get_session(entity, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (done.status, done.succeeded, done.written),
        (SessionStatus::Done, total, 3 * total)
    );
    println!(
        "7 bulk jobs at once: {} transaction conflicts absorbed",
        proxy.transaction_conflicts()
    );
}
