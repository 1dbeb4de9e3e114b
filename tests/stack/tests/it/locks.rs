//! Account locks against DynamoDB Local: one sync at a time, coalescing into exactly one
//! follow-up, lease takeover after a crash, and fencing of a holder that lost its lease.

use zuora_sync::adapters::clock::SystemClock;

use zuora_sync::adapters::memory::ManualClock;

use zuora_sync::model::EpochMillis;

use stack::app::{AppOptions, TestApp, spawn_app, spawn_app_with};
use std::sync::Arc;
use std::time::Duration;
use zuora_sync::core::sync::{AccountOutcome, OnBusy, PendingOutcome, SyncRequest};
use zuora_sync::model::AccountKey;
use zuora_sync::model::plan_writes;
use zuora_sync::model::{Acquire, HeldLock, LockKey};
use zuora_sync::model::{EventStatus, Trigger};
use zuora_sync::ports::Clock;
use zuora_sync::ports::{CommitRequest, EventStore, LockStore, MirrorStore, StoreError};

const ACCOUNT_ID: &str = "8a90a1b27c1f4e2d017c2b3c4d5e0001";

fn request(app: &TestApp, deadline: EpochMillis) -> SyncRequest {
    SyncRequest::new(
        app.entity.clone(),
        Trigger::OnDemand,
        uuid::Uuid::new_v4().to_string(),
        deadline,
    )
}

fn lock_key(app: &TestApp) -> LockKey {
    LockKey {
        entity: app.entity.clone(),
        account_id: ACCOUNT_ID.into(),
    }
}

/// An app on a hand-moved clock whose account lock another holder took with a `lease_ms` lease.
async fn locked_by_another(lease_ms: i64) -> (Arc<ManualClock>, TestApp, HeldLock) {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let app = spawn_app_with(AppOptions {
        clock: clock.clone(),
        ..AppOptions::default()
    })
    .await;
    let now = clock.now();
    let acquired = app
        .services
        .store
        .acquire(&lock_key(&app), "other", now.plus_ms(lease_ms), now)
        .await
        .unwrap();
    let Acquire::Acquired(lock) = acquired else {
        panic!("first acquire: {acquired:?}")
    };
    assert_eq!(lock.fence.0, 1);
    (clock, app, lock)
}

fn account() -> AccountKey {
    AccountKey::parse("A00000001").unwrap()
}

#[tokio::test]
async fn fifty_concurrent_syncs_run_one_at_a_time_and_coalesce_into_one_follow_up() {
    let app = spawn_app().await;
    let deadline = SystemClock.now().plus_ms(60_000);
    // A first sync stores the number → id mapping, so every contender goes for the lock first.
    app.services
        .sync
        .sync_account(&request(&app, deadline), &account(), OnBusy::Coalesce)
        .await
        .unwrap();
    app.sim.set_latency(Duration::from_millis(800));
    app.sim.reset_stats();

    let runs = (0..50).map(|_| {
        let sync = app.services.sync.clone();
        let req = request(&app, deadline);
        tokio::spawn(async move { sync.sync_account(&req, &account(), OnBusy::Coalesce).await })
    });
    let outcomes: Vec<AccountOutcome> = futures::future::join_all(runs)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();

    let synced: Vec<_> = outcomes
        .iter()
        .filter_map(|o| match o {
            AccountOutcome::Synced(r) => Some(r),
            _ => None,
        })
        .collect();
    let coalesced = outcomes
        .iter()
        .filter(|o| matches!(o, AccountOutcome::Coalesced { .. }))
        .count();
    assert_eq!(synced.len(), 1, "exactly one request ran the sync");
    assert_eq!(coalesced, 49);
    assert_eq!(synced[0].follow_ups, 1, "exactly one follow-up for all 49");
    let stats = app.sim.stats();
    assert_eq!(
        stats.requests("object_query_account"),
        2,
        "the sync and its one follow-up"
    );
    // One sync reads the account and its subscriptions at the same time; two syncs at once
    // would have four reads in flight.
    assert!(
        stats.max_in_flight <= 2,
        "never two syncs of the account at once: {} reads in flight",
        stats.max_in_flight
    );

    let events = app.events_for(ACCOUNT_ID).await;
    let count = |s: EventStatus| events.iter().filter(|e| e.status == s).count();
    assert_eq!(count(EventStatus::Coalesced), 49);
    assert_eq!(
        count(EventStatus::Succeeded),
        3,
        "the warm-up, the sync and the follow-up"
    );
    assert_eq!(events.iter().filter(|e| e.follow_up).count(), 1);
    let lock = app
        .services
        .store
        .peek(&lock_key(&app))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lock.pending, 0, "every wish was served");
    assert!(lock.lease_until < SystemClock.now(), "released");
}

#[tokio::test]
async fn a_lease_left_by_a_crashed_holder_is_taken_over_after_it_expires() {
    // The "crashed" holder: acquired with a 10 s lease and never came back.
    let (clock, app, _crashed) = locked_by_another(10_000).await;
    let key = lock_key(&app);
    let now = clock.now();
    let id = AccountKey::parse(ACCOUNT_ID).unwrap();

    let before = app
        .services
        .sync
        .sync_account(&request(&app, now.plus_ms(30_000)), &id, OnBusy::Coalesce)
        .await
        .unwrap();
    assert!(
        matches!(before, AccountOutcome::Coalesced { .. }),
        "the lease still runs"
    );

    clock.advance_ms(10_001);
    let after = app
        .services
        .sync
        .sync_account(
            &request(&app, clock.now().plus_ms(30_000)),
            &id,
            OnBusy::Coalesce,
        )
        .await
        .unwrap();
    let AccountOutcome::Synced(report) = after else {
        panic!("expected a takeover, got {after:?}")
    };
    assert!(report.written > 0);
    let lock = app.services.store.peek(&key).await.unwrap().unwrap();
    assert_eq!(lock.fence.0, 2, "the takeover bumped the fence");
}

#[tokio::test]
async fn a_holder_whose_lease_was_taken_over_cannot_write() {
    let (clock, app, stale) = locked_by_another(5_000).await;
    // The slow holder stalls past its lease; another sync takes over and writes.
    clock.advance_ms(6_000);
    let id = AccountKey::parse(ACCOUNT_ID).unwrap();
    let outcome = app
        .services
        .sync
        .sync_account(
            &request(&app, clock.now().plus_ms(30_000)),
            &id,
            OnBusy::Coalesce,
        )
        .await
        .unwrap();
    assert!(matches!(outcome, AccountOutcome::Synced(_)));
    let after_takeover = app.mirror_dump().await;

    // The stale holder wakes up with an older snapshot and tries to commit it.
    let (plan, event) = renamed_commit(&app, "Stale Name", clock.now()).await;

    let err = app
        .services
        .store
        .commit(&stale, commit_request(&plan, &event, clock.now()))
        .await
        .unwrap_err();

    assert!(
        matches!(
            err,
            StoreError::Fenced {
                held: 1,
                current: Some(2)
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        app.mirror_dump().await,
        after_takeover,
        "nothing of the stale holder was written"
    );
    assert!(
        app.services
            .store
            .release(&stale, clock.now())
            .await
            .is_err(),
        "nor may it release"
    );
}

/// What a holder outside the service would commit: the account read from Zuora now, renamed
/// (so the plan writes something), and its event.
async fn renamed_commit(
    app: &TestApp,
    name: &str,
    now: EpochMillis,
) -> (zuora_sync::model::WritePlan, zuora_sync::model::SyncEvent) {
    let id = AccountKey::parse(ACCOUNT_ID).unwrap();
    let ctx = zuora_sync::model::CallContext::new("outside");
    let zuora = zuora_sync::adapters::zuora::ZuoraClient::new(app.config.entities[0].zuora.clone())
        .unwrap();
    let mut snapshot = zuora_sync::ports::ZuoraApi::account_snapshot(&zuora, &id, &ctx)
        .await
        .unwrap();
    snapshot.account.name = name.into();
    let stored = app
        .services
        .store
        .load_account(&app.entity, ACCOUNT_ID)
        .await
        .unwrap();
    let plan = plan_writes(&snapshot, &stored);
    assert!(!plan.puts.is_empty());
    let event = zuora_sync::model::SyncEvent::new(
        uuid::Uuid::new_v4().to_string(),
        app.entity.clone(),
        Trigger::OnDemand,
        EventStatus::Succeeded,
        "outside".into(),
        now,
    );
    (plan, event)
}

fn commit_request<'a>(
    plan: &'a zuora_sync::model::WritePlan,
    event: &'a zuora_sync::model::SyncEvent,
    now: EpochMillis,
) -> CommitRequest<'a> {
    CommitRequest {
        plan,
        event,
        release: true,
        served: 0,
        read_from: now,
        now,
    }
}

/// The snapshot order (docs/ARCHITECTURE.md, The lock protocol): each commit records when its
/// reads began, the next holder's acquire returns it, and a commit whose reads began no later
/// is refused by the lock item's condition, with nothing written.
#[tokio::test]
async fn a_commit_whose_reads_began_before_the_last_commits_writes_nothing() {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let app = spawn_app_with(AppOptions {
        clock: clock.clone(),
        ..AppOptions::default()
    })
    .await;
    let id = AccountKey::parse(ACCOUNT_ID).unwrap();
    let synced_at = clock.now();
    app.services
        .sync
        .sync_account(
            &request(&app, synced_at.plus_ms(30_000)),
            &id,
            OnBusy::Coalesce,
        )
        .await
        .unwrap();
    let before = app.mirror_dump().await;
    clock.advance_ms(5_000);
    let key = lock_key(&app);
    let lease = clock.now().plus_ms(10_000);
    let Acquire::Acquired(lock) = app
        .services
        .store
        .acquire(&key, "late", lease, clock.now())
        .await
        .unwrap()
    else {
        panic!("the lock is free");
    };
    assert_eq!(
        lock.synced_from,
        Some(synced_at),
        "the acquire tells the last snapshot's time"
    );
    let (plan, event) = renamed_commit(&app, "Read Before", clock.now()).await;

    let older = CommitRequest {
        read_from: synced_at,
        ..commit_request(&plan, &event, clock.now())
    };
    let err = app.services.store.commit(&lock, older).await.unwrap_err();

    assert_eq!(
        err,
        StoreError::OlderSnapshot {
            committed: synced_at.0,
            ours: synced_at.0
        }
    );
    assert_eq!(
        app.mirror_dump().await,
        before,
        "nothing of the older snapshot was written"
    );
    let newer = CommitRequest {
        read_from: synced_at.plus_ms(1),
        ..commit_request(&plan, &event, clock.now())
    };
    app.services.store.commit(&lock, newer).await.unwrap();
    assert_ne!(app.mirror_dump().await, before, "a later start commits");
}

#[tokio::test]
async fn wishes_left_on_a_dead_holder_are_served_by_the_queued_check() {
    let (clock, app, _dead) = locked_by_another(5_000).await;
    let key = lock_key(&app);
    let now = clock.now();
    let id = AccountKey::parse(ACCOUNT_ID).unwrap();
    let req = request(&app, now.plus_ms(30_000));
    let outcome = app
        .services
        .sync
        .sync_account(&req, &id, OnBusy::Coalesce)
        .await
        .unwrap();
    assert!(matches!(outcome, AccountOutcome::Coalesced { .. }));
    assert_eq!(
        app.queue_counts(&app.queue.queue_url).await.delayed,
        1,
        "one delayed check"
    );

    // While the lease runs, the check only reschedules itself.
    let target = zuora_sync::model::JobTarget::Account {
        account: id.clone(),
    };
    let early = app
        .services
        .sync
        .sync_if_pending(&req, &target)
        .await
        .unwrap();
    assert_eq!(early, PendingOutcome::NothingPending);
    assert!(app.mirror_records(ACCOUNT_ID).await.is_empty());

    clock.advance_ms(6_000);
    let late = app
        .services
        .sync
        .sync_if_pending(&request(&app, clock.now().plus_ms(30_000)), &target)
        .await
        .unwrap();
    assert!(
        matches!(late, PendingOutcome::Ran(AccountOutcome::Synced(_))),
        "{late:?}"
    );
    assert!(!app.mirror_records(ACCOUNT_ID).await.is_empty());
    assert_eq!(
        app.services
            .store
            .peek(&key)
            .await
            .unwrap()
            .unwrap()
            .pending,
        0
    );

    // And once served, a further check does nothing.
    let again = app
        .services
        .sync
        .sync_if_pending(&request(&app, clock.now().plus_ms(30_000)), &target)
        .await
        .unwrap();
    assert_eq!(again, PendingOutcome::NothingPending);
}

#[tokio::test]
async fn a_sync_of_an_account_never_seen_uses_one_zuora_call() {
    let app = spawn_app().await;
    let outcome = app
        .services
        .sync
        .sync_account(
            &request(&app, SystemClock.now().plus_ms(30_000)),
            &account(),
            OnBusy::Coalesce,
        )
        .await
        .unwrap();
    assert!(matches!(outcome, AccountOutcome::Synced(_)));
    assert_eq!(app.sim.stats().requests("object_query_account"), 1);
}

fn free<'a>(
    key: &'a LockKey,
    seen: &'a zuora_sync::model::SeenLock,
    plan: &'a zuora_sync::model::WritePlan,
    event: &'a zuora_sync::model::SyncEvent,
    at: EpochMillis,
) -> zuora_sync::ports::FreeCommit<'a> {
    zuora_sync::ports::FreeCommit {
        key,
        seen,
        plan,
        event,
        read_from: at,
        now: at,
    }
}

async fn read_lock(app: &TestApp) -> zuora_sync::model::SeenLock {
    let mut seen = app
        .services
        .store
        .seen_locks(&[lock_key(app)])
        .await
        .unwrap();
    seen.remove(0)
}

/// One-write commits (docs/ARCHITECTURE.md, The lock protocol) on DynamoDB's own conditions:
/// the commit takes the lock and gives it back in its transaction, and only while the lock
/// item is as it was read before the stored copy, and free. Refused, it writes nothing.
#[tokio::test]
async fn a_one_write_commit_needs_the_lock_as_it_was_read_and_free() {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let app = spawn_app_with(AppOptions {
        clock: clock.clone(),
        ..AppOptions::default()
    })
    .await;
    let store = &app.services.store;
    let key = lock_key(&app);
    let never = read_lock(&app).await;
    assert_eq!(
        never,
        zuora_sync::model::SeenLock::default(),
        "no lock item"
    );

    let first = clock.now();
    let (plan, event) = renamed_commit(&app, "First", first).await;
    let results = store
        .commit_free(&[free(&key, &never, &plan, &event, first)])
        .await;
    assert_eq!(results, vec![Ok(())]);
    let after = read_lock(&app).await;
    assert_eq!(
        (
            after.fence.map(|f| f.0),
            after.lease_until,
            after.synced_from
        ),
        (Some(1), Some(EpochMillis(0)), Some(first)),
        "the commit moved the fence, left the lock free and recorded its snapshot's time"
    );
    assert_eq!(
        app.services
            .store
            .get_event(&app.entity, &event.id)
            .await
            .unwrap()
            .map(|e| e.status),
        Some(EventStatus::Succeeded)
    );

    // A commit on the read made before the first commit: refused, nothing written.
    clock.advance_ms(2_000);
    let second = clock.now();
    let before = app.mirror_dump().await;
    let (plan, event) = renamed_commit(&app, "Second", second).await;
    let results = store
        .commit_free(&[free(&key, &never, &plan, &event, second)])
        .await;
    assert!(
        matches!(results[..], [Err(StoreError::Fenced { .. })]),
        "{results:?}"
    );
    assert_eq!(app.mirror_dump().await, before, "nothing written");
    assert_eq!(
        app.services
            .store
            .get_event(&app.entity, &event.id)
            .await
            .unwrap(),
        None,
        "nor its event"
    );

    // Held by another since the read: refused too.
    let fresh = read_lock(&app).await;
    let acquired = store
        .acquire(&key, "other", second.plus_ms(60_000), second)
        .await
        .unwrap();
    assert!(matches!(acquired, Acquire::Acquired(_)));
    let results = store
        .commit_free(&[free(&key, &fresh, &plan, &event, second)])
        .await;
    assert!(matches!(results[..], [Err(StoreError::Fenced { .. })]));
    assert_eq!(app.mirror_dump().await, before, "nothing written");
}
