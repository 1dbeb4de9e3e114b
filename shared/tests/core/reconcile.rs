//! Reconciliation (docs/ARCHITECTURE.md, "Reconciliation"): the sweep reads every change list
//! on from its mark, so a change whose callout was lost is still synced — whatever object it
//! touched, however many share one update time, and even when Zuora made it visible late —
//! and a deep look-back syncs every account now and then.

use crate::support::*;
use std::time::Duration;
use zuora_sync::adapters::memory::ACCOUNT_SNAPSHOT;
use zuora_sync::model::{ChangeList, EpochMillis, ReconcileMarks, SessionTrigger, SyncMode};
use zuora_sync::ports::RealtimeStore;

/// An invocation's deadline, well ahead.
fn deadline(env: &Env) -> EpochMillis {
    EpochMillis(env.now().0 + 300_000)
}

/// Starts tracking (the first reconciliation only sets the marks) and reads past the seeded
/// accounts' own update times, then lets time pass.
async fn tracking(env: &Env) -> ReconcileMarks {
    let mut marks = ReconcileMarks::default();
    let found = env
        .realtime
        .reconcile(&env.entity, &mut marks, "start", deadline(env))
        .await
        .unwrap();
    assert_eq!(found, 0);
    for _ in 0..10 {
        if reconcile(env, &mut marks).await == 0 {
            tokio::time::advance(Duration::from_secs(60)).await;
            return marks;
        }
    }
    panic!("the seeded accounts were never all read");
}

async fn reconcile(env: &Env, marks: &mut ReconcileMarks) -> u64 {
    env.realtime
        .reconcile(&env.entity, marks, "sweep", deadline(env))
        .await
        .unwrap()
}

/// Accounts counted as changed so far.
async fn changes(env: &Env) -> u64 {
    env.store.realtime_state(&env.entity).await.unwrap().seq
}

#[tokio::test(start_paused = true)]
async fn an_edit_of_any_object_is_found_once() {
    let env = Env::new();
    env.seed_accounts(4);
    let mut marks = tracking(&env).await;
    let before = changes(&env).await;
    let at = env.now().to_rfc3339();
    // One edit per list, each under another account; no account's own time moves but 1's.
    env.zuora.set_updated(&account_id(1), &at);
    env.zuora
        .touch(ChangeList::Subscriptions, &subscription(2).id, &at);
    env.zuora.touch(ChangeList::PaymentMethods, "pm-3", &at);
    env.zuora.touch(ChangeList::Contacts, "contact-4", &at);
    tokio::time::advance(Duration::from_secs(60)).await;

    assert_eq!(reconcile(&env, &mut marks).await, 4);
    let state = env.store.realtime_state(&env.entity).await.unwrap();
    let accounts: std::collections::BTreeSet<String> = env
        .store
        .changes(&env.entity, before, state.seq)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|(_, account)| account)
        .collect();
    assert_eq!(accounts.len(), 4, "{accounts:?}");
    // Read again in the look-back overlap, but counted once.
    tokio::time::advance(Duration::from_secs(60)).await;
    assert_eq!(reconcile(&env, &mut marks).await, 0);
    assert_eq!(changes(&env).await - before, 4);
}

#[tokio::test(start_paused = true)]
async fn a_crowd_of_equal_update_times_cannot_stall_the_scan() {
    let env = Env::new();
    env.seed_accounts(700);
    env.zuora.set_page_size(99);
    let mut marks = tracking(&env).await;
    let before = changes(&env).await;
    // A bulk amendment: 700 subscriptions stamped in the same second, more than one sweep
    // reads (5 queries of 99).
    let at = env.now().to_rfc3339();
    for n in 1..=700 {
        env.zuora
            .touch(ChangeList::Subscriptions, &subscription(n).id, &at);
    }
    let mut sweeps = 0;
    while changes(&env).await - before < 700 {
        sweeps += 1;
        assert!(
            sweeps <= 3,
            "stalled at {} of 700",
            changes(&env).await - before
        );
        reconcile(&env, &mut marks).await;
        tokio::time::advance(Duration::from_secs(60)).await;
    }
    assert_eq!(sweeps, 2, "495 in the first sweep, the rest in the second");
    assert_eq!(reconcile(&env, &mut marks).await, 0);
}

#[tokio::test(start_paused = true)]
async fn a_record_made_visible_late_is_found_by_the_look_back_overlap() {
    let env = Env::new();
    env.seed_accounts(2);
    let mut marks = tracking(&env).await;
    let now = env.now();
    env.zuora.touch(
        ChangeList::Subscriptions,
        &subscription(1).id,
        &now.to_rfc3339(),
    );
    assert_eq!(reconcile(&env, &mut marks).await, 1);
    // Stamped two minutes before the newest time already seen, visible only now.
    let earlier = EpochMillis(now.0 - 120_000).to_rfc3339();
    env.zuora
        .touch(ChangeList::Subscriptions, &subscription(2).id, &earlier);
    tokio::time::advance(Duration::from_secs(60)).await;
    assert_eq!(reconcile(&env, &mut marks).await, 1);
}

#[tokio::test(start_paused = true)]
async fn the_deep_look_back_syncs_every_account_every_n_days() {
    let env = Env::new();
    env.seed_accounts(3);
    env.configure(|s| {
        s.sync_mode = SyncMode::Scheduled;
        s.deep_reconcile_days = 1;
    })
    .await;
    let sweep = || async {
        env.realtime
            .sweep(&env.entity, "sweep", deadline(&env))
            .await
            .unwrap();
        // Runs what the sweep queued: the sessions it started, by trigger.
        let mut triggers = Vec::new();
        while let Some(job) = env.queue.receive() {
            if let Some(id) = job.job.session_id.as_deref() {
                let session = env
                    .store
                    .get_session(&env.entity, id)
                    .await
                    .unwrap()
                    .unwrap();
                triggers.push((session.trigger, id.to_string()));
            }
            env.work(&job).await;
        }
        triggers
    };
    let deep = |triggers: &[(SessionTrigger, String)]| {
        let ids: std::collections::BTreeSet<&String> = triggers
            .iter()
            .filter(|(t, _)| *t == SessionTrigger::Deep)
            .map(|(_, id)| id)
            .collect();
        ids.into_iter().cloned().collect::<Vec<_>>()
    };
    assert!(
        deep(&sweep().await).is_empty(),
        "the first sweep starts the clock"
    );
    let started = env.store.realtime_state(&env.entity).await.unwrap();
    assert!(started.reconcile.deep_started.is_some());
    tokio::time::advance(Duration::from_secs(23 * 3600)).await;
    assert!(deep(&sweep().await).is_empty(), "not before a day");

    tokio::time::advance(Duration::from_secs(3600)).await;
    let synced_before = env.zuora.calls_to(ACCOUNT_SNAPSHOT);
    let ran = deep(&sweep().await);
    assert_eq!(ran.len(), 1, "one deep look-back after a day");
    let session = env
        .store
        .get_session(&env.entity, &ran[0])
        .await
        .unwrap()
        .unwrap();
    // Enumerated as a full sync: every account was synced.
    assert_eq!((session.total, session.succeeded), (3, 3));
    assert_eq!(env.zuora.calls_to(ACCOUNT_SNAPSHOT) - synced_before, 3);

    tokio::time::advance(Duration::from_secs(3600)).await;
    assert!(
        deep(&sweep().await).is_empty(),
        "not again before another day"
    );
}
