//! What the operator console reads beyond the event log: the hourly sync statistics (closed
//! hours computed once and kept), the status's freshness (the last successful session against
//! the max time between syncs) and queue depth, and the guarded full re-sync.

use crate::support::*;
use std::time::Duration;
use tokio::time::sleep;
use zuora_sync::core::realtime::Freshness;
use zuora_sync::core::stats::{SETTLE_MS, hourly};
use zuora_sync::model::{EpochMillis, EventStatus, HOUR_MS, SyncEvent, SyncMode, Trigger};

/// The start of the hour `at` falls in.
fn hour_of(at: EpochMillis) -> i64 {
    at.0.div_euclid(HOUR_MS) * HOUR_MS
}

#[tokio::test(start_paused = true)]
async fn each_hour_counts_its_syncs_and_a_closed_hour_is_computed_once() {
    let env = Env::new();
    env.seed_accounts(4);
    let first_hour = hour_of(env.now());
    for n in 1..=3 {
        env.sync_now(&key(&account_number(n))).await;
    }
    // Into the next hour, then past the first hour's settling time.
    let into_next = (first_hour + HOUR_MS - env.now().0) as u64 + 1_000;
    sleep(Duration::from_millis(into_next)).await;
    env.sync_now(&key(&account_number(4))).await;
    sleep(Duration::from_millis(SETTLE_MS as u64)).await;

    let events = env.sync.events().clone();
    let stats = hourly(events.as_ref(), &env.entity, env.now(), 3)
        .await
        .unwrap();
    assert!(stats.complete);
    assert_eq!(stats.hours.len(), 3);
    let by_start = |start: i64| stats.hours.iter().find(|h| h.start_ms == start).unwrap();
    assert_eq!(by_start(first_hour).succeeded, 3);
    assert!(by_start(first_hour).p50_ms.is_some());
    assert_eq!(by_start(first_hour + HOUR_MS).succeeded, 1);
    assert_eq!(stats.hours.last().unwrap().start_ms, first_hour + HOUR_MS);

    // An event written into the closed hour afterwards (it cannot happen: nothing runs that
    // long) shows that the hour is no longer read; the open hour still is.
    let late = |id: &str, at: i64| SyncEvent {
        duration_ms: Some(10),
        ..SyncEvent::new(
            id.into(),
            env.entity.clone(),
            Trigger::OnDemand,
            EventStatus::Failed,
            "c".into(),
            EpochMillis(at),
        )
    };
    events
        .put_event(&late("e-closed", first_hour + 5))
        .await
        .unwrap();
    events
        .put_event(&late("e-open", first_hour + HOUR_MS + 5))
        .await
        .unwrap();
    let again = hourly(events.as_ref(), &env.entity, env.now(), 3)
        .await
        .unwrap();
    let by_start = |start: i64| again.hours.iter().find(|h| h.start_ms == start).unwrap();
    assert_eq!(by_start(first_hour).failed, 0, "the saved hour answers");
    assert_eq!(
        by_start(first_hour + HOUR_MS).failed,
        1,
        "the open hour is read"
    );
}

#[tokio::test(start_paused = true)]
async fn freshness_is_late_after_the_max_time_and_an_error_after_twice_that() {
    let env = Env::new();
    env.configure(|s| {
        s.sync_mode = SyncMode::Realtime;
        s.max_minutes_between_syncs = 10;
    })
    .await;
    let status = env.realtime.status(&env.entity).await.unwrap();
    assert_eq!(
        status.freshness,
        Freshness::NotTracked,
        "before the first sweep"
    );
    let sweep = || {
        env.realtime
            .sweep(&env.entity, "sweep", env.now().plus_ms(DEADLINE_MS))
    };
    sweep().await.unwrap();
    assert_eq!(
        env.realtime.status(&env.entity).await.unwrap().freshness,
        Freshness::Fresh
    );

    // Ten minutes on, the sweep's session (nothing changed: it ends at once) succeeds.
    sleep(Duration::from_secs(600)).await;
    sweep().await.unwrap().expect("a max-time session");
    let status = env.realtime.status(&env.entity).await.unwrap();
    assert_eq!(status.last_success_at, Some(env.now()));
    assert_eq!(status.freshness, Freshness::Fresh);

    // No sweep for 11, then 21 minutes.
    sleep(Duration::from_secs(11 * 60)).await;
    assert_eq!(
        env.realtime.status(&env.entity).await.unwrap().freshness,
        Freshness::Late
    );
    sleep(Duration::from_secs(10 * 60)).await;
    assert_eq!(
        env.realtime.status(&env.entity).await.unwrap().freshness,
        Freshness::Error
    );

    // A session with a failed account does not count as a success.
    env.seed_accounts(1);
    env.realtime
        .callout(
            &env.entity,
            "evt-1",
            &key(&account_number(1)),
            "c",
            env.now().plus_ms(DEADLINE_MS),
        )
        .await
        .unwrap();
    let before = env
        .realtime
        .status(&env.entity)
        .await
        .unwrap()
        .last_success_at;
    env.zuora.fail_next(
        100,
        zuora_sync::ports::ZuoraError::Rejected {
            status: 400,
            code: None,
            reason: "refused".into(),
        },
    );
    sweep().await.unwrap().expect("due");
    env.work_all().await;
    let status = env.realtime.status(&env.entity).await.unwrap();
    assert_eq!(status.last_session.as_ref().map(|s| s.failed), Some(1));
    assert_eq!(status.last_success_at, before);
    assert_eq!(status.freshness, Freshness::Error);
    assert_eq!(status.queue.map(|q| q.waiting + q.in_flight), Some(0));
}

#[tokio::test(start_paused = true)]
async fn a_full_resync_is_refused_while_one_runs() {
    let env = Env::new();
    env.seed_accounts(3);
    let started = env
        .realtime
        .resync_all(&env.entity, "c")
        .await
        .unwrap()
        .expect("nothing runs yet");
    let refused = env.realtime.resync_all(&env.entity, "c").await.unwrap();
    assert_eq!(refused.err().map(|s| s.id), Some(started.id.clone()));
    assert_eq!(
        env.realtime
            .status(&env.entity)
            .await
            .unwrap()
            .queue
            .map(|q| q.waiting),
        Some(1),
        "the first page job waits"
    );
    env.work_all().await;
    let status = env.realtime.status(&env.entity).await.unwrap();
    let session = status.last_session.expect("the full sync");
    assert_eq!((session.id, session.succeeded), (started.id, 3));
    assert!(
        env.realtime
            .resync_all(&env.entity, "c")
            .await
            .unwrap()
            .is_ok()
    );
}
