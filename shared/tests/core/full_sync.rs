//! Full sync (docs/ARCHITECTURE.md, "The session protocol", 5): the worker reads Zuora's
//! account list a page at a time; every account is queued once, and the session completes
//! only when enumeration ended and every job finished.

use crate::support::*;
use std::collections::BTreeSet;
use zuora_sync::adapters::memory::{ACCOUNT_SNAPSHOT, ACCOUNTS_BY_ID, QueuedJob};
use zuora_sync::model::{JobTarget, SessionStatus, SessionTrigger, SyncMode, Trigger};
use zuora_sync::ports::RealtimeStore;

fn is_page(job: &QueuedJob) -> bool {
    matches!(job.job.target, JobTarget::FullSyncPage { .. })
}

/// Takes the queued jobs, split into (account jobs, page jobs).
fn take_jobs(env: &Env) -> (Vec<QueuedJob>, Vec<QueuedJob>) {
    env.queue
        .receive_all()
        .into_iter()
        .partition(|j| !is_page(j))
}

#[tokio::test(start_paused = true)]
async fn a_full_sync_completes_only_after_enumeration_and_every_job() {
    let env = Env::new();
    env.seed_accounts(250);
    env.configure(|s| s.sync_mode = SyncMode::Realtime).await;
    let started = env
        .realtime
        .start_full_sync(&env.entity, "switch")
        .await
        .unwrap();
    assert_eq!(started.trigger, SessionTrigger::Full);
    assert!(started.enumerating);
    let id = started.id.clone();
    let state = env.store.realtime_state(&env.entity).await.unwrap();
    assert_eq!(state.last_session_id.as_deref(), Some(id.as_str()));

    let mut accounts_queued: Vec<String> = Vec::new();
    let record = |jobs: &[QueuedJob], into: &mut Vec<String>| {
        for j in jobs {
            assert_eq!(j.job.session_id.as_deref(), Some(id.as_str()));
            assert_eq!(j.job.trigger, Trigger::Full);
            into.push(j.job.account_key().unwrap().to_string());
        }
    };

    // Page 1, then all of its jobs: every job so far finished, but enumeration goes on.
    let (none, pages) = take_jobs(&env);
    assert!(none.is_empty());
    assert_eq!(pages.len(), 1);
    env.page(&pages[0]).await;
    let (first, next) = take_jobs(&env);
    assert_eq!((first.len(), next.len()), (100, 1));
    record(&first, &mut accounts_queued);
    for job in &first {
        env.run(job).await.unwrap();
    }
    let s = stored_session(&env, &id).await;
    assert_eq!((s.total, s.succeeded, s.enumerating), (100, 100, true));
    assert_eq!(
        s.status,
        SessionStatus::Running,
        "the list is not read to its end yet"
    );

    // Pages 2 and 3 (the last): enumeration ends with jobs still to run.
    env.page(&next[0]).await;
    let (second, last_page) = take_jobs(&env);
    assert_eq!((second.len(), last_page.len()), (100, 1));
    env.page(&last_page[0]).await;
    let (third, more) = take_jobs(&env);
    assert_eq!((third.len(), more.len()), (50, 0));
    record(&second, &mut accounts_queued);
    record(&third, &mut accounts_queued);
    let s = stored_session(&env, &id).await;
    assert_eq!(
        (s.total, s.enumerating, s.status),
        (250, false, SessionStatus::Running)
    );

    let remaining: Vec<&QueuedJob> = second.iter().chain(&third).collect();
    let (last, before) = remaining.split_last().unwrap();
    for job in before {
        env.run(job).await.unwrap();
    }
    let s = stored_session(&env, &id).await;
    assert_eq!((s.succeeded, s.status), (249, SessionStatus::Running));
    assert_eq!(env.notifier.count(), 0);

    env.run(last).await.unwrap();
    let s = stored_session(&env, &id).await;
    assert_eq!(s.status, SessionStatus::Done);
    assert_eq!(
        (s.total, s.succeeded, s.failed, s.skipped),
        (250, 250, 0, 0)
    );
    assert_eq!(s.written as usize, 250 * RECORDS_PER_ACCOUNT);
    assert_eq!(s.notify, Some(true), "all_including_zero by default");

    // Every account queued exactly once.
    let distinct: BTreeSet<&String> = accounts_queued.iter().collect();
    assert_eq!((accounts_queued.len(), distinct.len()), (250, 250));
    assert_eq!(env.zuora.calls_to(ACCOUNTS_BY_ID), 3);
    assert_eq!(env.zuora.calls_to(ACCOUNT_SNAPSHOT), 250);
    let sent = env.notifier.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].summary.kind, "session");
    assert_eq!(sent[0].summary.trigger, "full");
    assert_eq!(sent[0].summary.succeeded, 250);
    assert!(env.queue.is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_empty_last_page_completes_a_session_whose_jobs_all_finished() {
    let env = Env::new();
    env.seed_accounts(150);
    let id = env
        .realtime
        .start_full_sync(&env.entity, "switch")
        .await
        .unwrap()
        .id;
    let (_, first_page) = take_jobs(&env);
    env.page(&first_page[0]).await;
    let (jobs, last_page) = take_jobs(&env);
    for job in &jobs {
        env.run(job).await.unwrap();
    }
    assert_eq!(
        stored_session(&env, &id).await.status,
        SessionStatus::Running
    );
    // The rest of the list is gone by the time its page is read: no job will end the
    // session, the page itself must.
    for i in 101..=150 {
        env.zuora.remove_account(&account_id(i));
    }
    env.page(&last_page[0]).await;
    assert!(env.queue.is_empty());
    let s = stored_session(&env, &id).await;
    assert_eq!(
        (s.total, s.succeeded, s.status),
        (100, 100, SessionStatus::Done)
    );
    assert_eq!(env.notifier.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_empty_account_list_completes_the_full_sync_at_its_only_page() {
    let env = Env::new();
    let id = env
        .realtime
        .start_full_sync(&env.entity, "switch")
        .await
        .unwrap()
        .id;
    assert_eq!(env.work_all().await, 1);
    let s = stored_session(&env, &id).await;
    assert_eq!(
        (s.total, s.enumerating, s.status),
        (0, false, SessionStatus::Done)
    );
}

#[tokio::test(start_paused = true)]
async fn redelivered_pages_and_jobs_are_counted_once() {
    let env = Env::new();
    env.seed_accounts(250);
    let id = env
        .realtime
        .start_full_sync(&env.entity, "switch")
        .await
        .unwrap()
        .id;
    // Every job is delivered twice (SQS is at-least-once).
    while let Some(job) = env.queue.receive() {
        env.work(&job).await;
        env.work(&job).await;
    }
    let s = stored_session(&env, &id).await;
    assert_eq!(s.status, SessionStatus::Done);
    assert_eq!((s.total, s.succeeded), (250, 250));
    assert_eq!(env.notifier.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_account_updated_during_enumeration_still_lets_the_full_sync_complete() {
    let env = Env::new();
    env.seed_accounts(250);
    let id = env
        .realtime
        .start_full_sync(&env.entity, "switch")
        .await
        .unwrap()
        .id;
    let (_, first_page) = take_jobs(&env);
    env.page(&first_page[0]).await;
    // H9: account 1 (read on page 1) is updated now. A list by update time would show it again
    // at its end (counted twice, finished once: the session never completes); a list by id
    // does not move it.
    env.zuora
        .set_updated(&account_id(1), &env.now().plus_ms(3_600_000).to_rfc3339());
    env.work_all().await;

    let s = stored_session(&env, &id).await;
    assert!(!s.enumerating);
    assert_eq!(
        s.status,
        SessionStatus::Done,
        "total {} but {} jobs finished",
        s.total,
        s.finished_jobs()
    );
}
