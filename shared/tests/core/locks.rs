//! The lock protocol (docs/ARCHITECTURE.md): one holder per account, later requests coalesce
//! into one follow-up, an ended lease can be taken over and fences the old holder, and the
//! synchronous route waits `lock_wait` before answering busy.

use crate::support::*;
use std::time::Duration;
use tokio::time::{Instant, sleep};
use zuora_sync::adapters::memory::ACCOUNT_SNAPSHOT;
use zuora_sync::core::sync::{AccountOutcome, OnBusy, SyncError};
use zuora_sync::model::{Acquire, EventStatus, JobTarget, SubscriptionKey, Trigger};
use zuora_sync::ports::{EventStore, LockStore, StoreError};

#[tokio::test(start_paused = true)]
async fn of_two_concurrent_syncs_one_runs_and_the_other_coalesces() {
    // Two worker jobs: the holder serves the other's wish with its own follow-up.
    let env = Env::new();
    env.zuora.put_account(account(1));
    env.zuora.set_delay(Duration::from_secs(1));
    let key = key(&account_id(1));
    let req = env.req(Trigger::Realtime);

    let (first, second) = tokio::join!(
        env.sync.sync_account(&req, &key, OnBusy::Coalesce),
        env.sync.sync_account(&req, &key, OnBusy::Coalesce),
    );

    let AccountOutcome::Synced(report) = first.unwrap() else {
        panic!("the first request holds the lock and syncs");
    };
    assert_eq!(
        report.follow_ups, 1,
        "the coalesced request gets one follow-up"
    );
    let AccountOutcome::Coalesced { event_id } = second.unwrap() else {
        panic!("the second request finds the lock held");
    };
    let coalesced = env.store.get_event(&env.entity, &event_id).await.unwrap();
    assert_eq!(coalesced.unwrap().status, EventStatus::Coalesced);
    // The sync and its follow-up: two reads of Zuora, no more.
    assert_eq!(env.zuora.calls_to(ACCOUNT_SNAPSHOT), 2);
    let events = env.store.events(&env.entity);
    assert_eq!(events.len(), 3, "{events:#?}");
    assert_eq!(events.iter().filter(|e| e.follow_up).count(), 1);

    // The lock is free again, its wish served.
    let lock = env.store.lock_item(&env.lock_key(&account_id(1))).unwrap();
    assert_eq!(
        (lock.fence, lock.lease_until, lock.pending),
        (Some(1), Some(0), Some(0))
    );

    // The wisher left one delayed check (after the holder's lease, plus a second); served
    // already, it finds nothing to do.
    let jobs = env.queue.queued();
    assert_eq!(jobs.len(), 1);
    assert!(jobs[0].job.only_if_pending);
    assert_eq!(
        jobs[0].delay,
        Some(Duration::from_millis((DEADLINE_MS + 5_000 + 1_000) as u64))
    );
    assert!(
        env.queue.receive().is_none(),
        "not visible before the lease ends"
    );
    sleep(Duration::from_secs(70)).await;
    let check = env.queue.receive().expect("visible after the lease");
    assert_eq!(env.run(&check).await.unwrap(), Ran::NothingPending);
    assert_eq!(env.zuora.calls_to(ACCOUNT_SNAPSHOT), 2);
}

#[tokio::test(start_paused = true)]
async fn many_wishes_are_served_by_one_follow_up() {
    let env = Env::new();
    env.zuora.put_account(account(1));
    env.zuora.set_delay(Duration::from_secs(1));
    let key = key(&account_id(1));
    let req = env.req(Trigger::Realtime);

    let holder = env.sync.sync_account(&req, &key, OnBusy::Coalesce);
    let wishers = futures::future::join_all(
        (0..5).map(|_| env.sync.sync_account(&req, &key, OnBusy::Coalesce)),
    );
    let (held, wished) = tokio::join!(holder, wishers);

    let AccountOutcome::Synced(report) = held.unwrap() else {
        panic!("the holder syncs");
    };
    assert_eq!(report.follow_ups, 1);
    for outcome in wished {
        assert!(matches!(outcome.unwrap(), AccountOutcome::Coalesced { .. }));
    }
    assert_eq!(env.zuora.calls_to(ACCOUNT_SNAPSHOT), 2);
    // Only the first wish (pending 0 → 1) queues a check.
    let checks = env.queue.queued();
    assert_eq!(checks.len(), 1, "{checks:#?}");
    assert!(checks[0].job.only_if_pending);
    let lock = env.store.lock_item(&env.lock_key(&account_id(1))).unwrap();
    assert_eq!(lock.pending, Some(0));
}

#[tokio::test(start_paused = true)]
async fn a_wish_during_the_follow_up_gets_another_follow_up() {
    let env = Env::new();
    env.zuora.put_account(account(1));
    env.zuora.set_delay(Duration::from_secs(1));
    let key = key(&account_id(1));
    let req = env.req(Trigger::Realtime);

    let holder = env.sync.sync_account(&req, &key, OnBusy::Coalesce);
    let early = env.sync.sync_account(&req, &key, OnBusy::Coalesce);
    // The first round ends at 1 s; the follow-up reads Zuora until 2 s.
    let late = async {
        sleep(Duration::from_millis(1_500)).await;
        env.sync.sync_account(&req, &key, OnBusy::Coalesce).await
    };
    let (held, early, late) = tokio::join!(holder, early, late);

    let AccountOutcome::Synced(report) = held.unwrap() else {
        panic!("the holder syncs");
    };
    assert_eq!(report.follow_ups, 2);
    assert!(matches!(early.unwrap(), AccountOutcome::Coalesced { .. }));
    assert!(matches!(late.unwrap(), AccountOutcome::Coalesced { .. }));
    assert_eq!(env.zuora.calls_to(ACCOUNT_SNAPSHOT), 3);
}

#[tokio::test(start_paused = true)]
async fn an_ended_lease_is_taken_over_and_the_old_holder_writes_nothing() {
    let env = Env::new();
    env.zuora.put_account(account(1));
    env.zuora.set_delay(Duration::from_secs(10));
    // The first commit stalls for 20 s (a frozen process): it lands at 30 s, after the lease
    // it was made under (17 s deadline + the 5 s margin) ended.
    env.store
        .set_fault_plan(StallCall::new(Some("commit"), 1, Duration::from_secs(20)));
    let key = key(&account_id(1));
    let mut short = env.req(Trigger::Api);
    short.deadline = env.now().plus_ms(17_000);

    let old = env.sync.sync_account(&short, &key, OnBusy::Coalesce);
    let new = async {
        sleep(Duration::from_secs(23)).await;
        env.zuora
            .update_account(&account_id(1), |a| a.account.name = "Renamed".into());
        env.sync
            .sync_account(&env.req(Trigger::Api), &key, OnBusy::Coalesce)
            .await
    };
    let (old, new) = tokio::join!(old, new);

    let failure = old.unwrap_err();
    assert!(
        matches!(
            failure.error,
            SyncError::Store(StoreError::Fenced {
                held: 1,
                current: Some(2)
            })
        ),
        "{:?}",
        failure.error
    );
    assert_eq!(failure.error.code(), "lock_lost");
    let recorded = env.store.get_event(&env.entity, &failure.event_id).await;
    assert_eq!(recorded.unwrap().unwrap().status, EventStatus::Failed);

    let AccountOutcome::Synced(report) = new.unwrap() else {
        panic!("the new holder syncs");
    };
    assert_eq!(report.written as usize, RECORDS_PER_ACCOUNT);
    // One commit's records only: the fenced holder wrote none of its (older) data.
    assert_eq!(env.store.mirror_writes().len(), RECORDS_PER_ACCOUNT);
    let stored = env.store.stored_account(&env.entity, &account_id(1));
    assert!(stored.records["CUSTOMER"].data.contains("Renamed"));
    let lock = env.store.lock_item(&env.lock_key(&account_id(1))).unwrap();
    assert_eq!((lock.fence, lock.lease_until), (Some(2), Some(0)));
}

#[tokio::test(start_paused = true)]
async fn the_subscription_route_waits_lock_wait_then_answers_busy() {
    let env = Env::new();
    env.zuora.put_account(account(1));
    // Another invocation holds the account for a minute.
    let lock_key = env.lock_key(&account_id(1));
    let lease = env.now().plus_ms(60_000);
    let taken = env
        .store
        .acquire(&lock_key, "other", lease, env.now())
        .await;
    assert!(matches!(taken.unwrap(), Acquire::Acquired(_)));

    let started = Instant::now();
    let sub = SubscriptionKey::parse(&subscription_number(1)).unwrap();
    let failure = env
        .sync
        .sync_subscription(&env.req(Trigger::Api), &sub)
        .await
        .unwrap_err();

    assert_eq!(started.elapsed(), Duration::from_secs(3), "LOCK_WAIT_MS");
    assert!(
        matches!(&failure.error, SyncError::Busy { account } if *account == account_id(1)),
        "{:?}",
        failure.error
    );
    assert_eq!(failure.error.code(), "account_busy");
    // Not lost: folded into the holder's follow-up, with a check in case the holder dies.
    let event = env.store.get_event(&env.entity, &failure.event_id).await;
    assert_eq!(event.unwrap().unwrap().status, EventStatus::Coalesced);
    assert_eq!(env.store.lock_item(&lock_key).unwrap().pending, Some(1));
    let checks = env.queue.queued();
    assert_eq!(checks.len(), 1);
    assert!(checks[0].job.only_if_pending);
    assert_eq!(checks[0].delay, Some(Duration::from_secs(60 - 3 + 1)));
    assert!(env.store.mirror_writes().is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_subscription_route_syncs_once_the_lease_ends_within_the_wait() {
    let env = Env::new();
    env.zuora.put_account(account(1));
    let lock_key = env.lock_key(&account_id(1));
    let lease = env.now().plus_ms(1_000);
    env.store
        .acquire(&lock_key, "other", lease, env.now())
        .await
        .unwrap();

    let started = Instant::now();
    let sub = SubscriptionKey::parse(&subscription_number(1)).unwrap();
    let synced = env
        .sync
        .sync_subscription(&env.req(Trigger::Api), &sub)
        .await
        .unwrap();

    let waited = started.elapsed();
    assert!(
        waited > Duration::from_secs(1) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    assert!(synced.id.starts_with("sub_") && synced.owner.starts_with("cus_"));
    let lock = env.store.lock_item(&lock_key).unwrap();
    assert_eq!((lock.fence, lock.lease_until), (Some(2), Some(0)));
}

#[tokio::test(start_paused = true)]
async fn the_check_serves_the_wishes_of_a_holder_that_died() {
    let env = Env::new();
    env.zuora.put_account(account(1));
    let lock_key = env.lock_key(&account_id(1));
    let lease = env.now().plus_ms(10_000);
    env.store
        .acquire(&lock_key, "dies", lease, env.now())
        .await
        .unwrap();
    let coalesced = env
        .sync
        .sync_account(
            &env.req(Trigger::Api),
            &key(&account_id(1)),
            OnBusy::Coalesce,
        )
        .await
        .unwrap();
    assert!(matches!(coalesced, AccountOutcome::Coalesced { .. }));
    assert!(
        env.queue.receive().is_none(),
        "the check waits for the lease"
    );

    // The holder never comes back; after its lease the check finds the wish pending.
    sleep(Duration::from_secs(11)).await;
    let check = env.queue.receive().expect("the check is due");
    assert_eq!(
        check.job.target,
        JobTarget::Account {
            account: key(&account_id(1))
        }
    );
    let Ran::Account(AccountOutcome::Synced(report)) = env.run(&check).await.unwrap() else {
        panic!("the check syncs the account");
    };
    assert_eq!(report.written as usize, RECORDS_PER_ACCOUNT);
    let lock = env.store.lock_item(&lock_key).unwrap();
    assert_eq!(
        (lock.fence, lock.pending, lock.lease_until),
        (Some(2), Some(0), Some(0))
    );
}

#[tokio::test(start_paused = true)]
async fn a_check_while_the_holder_still_runs_looks_again_later() {
    let env = Env::new();
    env.zuora.put_account(account(1));
    let lock_key = env.lock_key(&account_id(1));
    let lease = env.now().plus_ms(30_000);
    let held = env.store.acquire(&lock_key, "slow", lease, env.now()).await;
    assert!(matches!(held.unwrap(), Acquire::Acquired(_)));
    env.sync
        .sync_account(
            &env.req(Trigger::Api),
            &key(&account_id(1)),
            OnBusy::Coalesce,
        )
        .await
        .unwrap();
    let first_check = env.queue.drain().pop().expect("a check");

    // Run early (as if SQS delivered it before the lease ended): nothing synced, a new check.
    let outcome = env.run(&first_check).await.unwrap();
    assert_eq!(outcome, Ran::NothingPending);
    assert_eq!(env.zuora.calls_to(ACCOUNT_SNAPSHOT), 0);
    let again = env.queue.queued();
    assert_eq!(again.len(), 1);
    assert!(again[0].job.only_if_pending);
    assert_eq!(again[0].delay, Some(Duration::from_secs(31)));
}

/// H4: the holder took the wish and died during the follow-up (a killed invocation). The
/// wish must survive it, so the check the wisher left serves it once the lease ends, and the
/// mirror converges to what Zuora says now.
#[tokio::test(start_paused = true)]
async fn a_holder_that_dies_during_its_follow_up_leaves_the_wish_to_the_check() {
    let env = Env::new();
    env.zuora.put_account(account(1));
    env.zuora.set_delay(Duration::from_secs(1));
    let key = key(&account_id(1));
    // A worker's job: it runs the follow-up itself.
    let holder_req = env.req(Trigger::Realtime);
    let holder = env.sync.sync_account(&holder_req, &key, OnBusy::Coalesce);
    let wisher = async {
        // After the holder's read: a change in Zuora, then a request that must see it.
        sleep(Duration::from_millis(500)).await;
        env.zuora
            .update_account(&account_id(1), |a| a.account.name = "Renamed Ltd".into());
        env.sync
            .sync_account(&env.req(Trigger::OnDemand), &key, OnBusy::Coalesce)
            .await
    };
    // The holder's first round ends at 1 s; it dies at 1.5 s, inside the follow-up's read.
    let (died, wished) = tokio::join!(
        tokio::time::timeout(Duration::from_millis(1_500), holder),
        wisher
    );
    assert!(died.is_err(), "the holder was cut off in its follow-up");
    assert!(matches!(wished.unwrap(), AccountOutcome::Coalesced { .. }));

    assert_converges_to_the_rename(&env).await;
}

/// H4: the first wisher could not queue its check (SQS failed; its request failed), and the
/// holder then died. A later wisher must make sure a check exists, or every wish is lost.
#[tokio::test(start_paused = true)]
async fn a_later_wisher_queues_the_check_the_first_one_could_not() {
    let env = Env::new();
    env.zuora.put_account(account(1));
    env.zuora.set_delay(Duration::from_secs(1));
    let key = key(&account_id(1));
    // A worker's job: it runs the follow-up itself.
    let holder_req = env.req(Trigger::Realtime);
    let holder = env.sync.sync_account(&holder_req, &key, OnBusy::Coalesce);
    let wishers = async {
        sleep(Duration::from_millis(200)).await;
        env.queue.fail_next(1);
        let first = env
            .sync
            .sync_account(&env.req(Trigger::OnDemand), &key, OnBusy::Coalesce)
            .await;
        sleep(Duration::from_millis(200)).await;
        env.zuora
            .update_account(&account_id(1), |a| a.account.name = "Renamed Ltd".into());
        let second = env
            .sync
            .sync_account(&env.req(Trigger::OnDemand), &key, OnBusy::Coalesce)
            .await;
        (first, second)
    };
    // The holder dies at 0.9 s, before its first commit.
    let (died, (first, second)) = tokio::join!(
        tokio::time::timeout(Duration::from_millis(900), holder),
        wishers
    );
    assert!(died.is_err());
    assert!(
        first.is_err(),
        "the first wisher's check could not be queued"
    );
    assert!(matches!(second.unwrap(), AccountOutcome::Coalesced { .. }));

    assert_converges_to_the_rename(&env).await;
}

/// The oracle of the two tests above: once past the holder's lease every queued job has run,
/// the mirror's customer carries the name Zuora has now.
async fn assert_converges_to_the_rename(env: &Env) {
    sleep(Duration::from_secs(70)).await;
    while let Some(job) = env.queue.receive() {
        env.run(&job).await.unwrap();
    }
    let stored = env.store.stored_account(&env.entity, &account_id(1));
    let customer = stored.records.values().find(|r| r.sk == "CUSTOMER");
    assert!(
        customer.is_some_and(|c| c.data.contains("Renamed Ltd")),
        "a coalesced request was never served: {customer:?}"
    );
}

/// H4: the public route answers its own caller only: a wish recorded while it holds the lock
/// is handed to the worker (queued before the lock is released), never served inside the
/// route's request, whose caller is waiting and whose deadline is short.
#[tokio::test(start_paused = true)]
async fn the_public_route_hands_other_callers_follow_ups_to_the_worker() {
    let env = Env::new();
    env.zuora.put_account(account(1));
    env.zuora.set_delay(Duration::from_secs(1));
    let key = key(&account_id(1));
    let (api, worker) = (env.req(Trigger::Api), env.req(Trigger::OnDemand));
    let (mine, other) = tokio::join!(
        env.sync.sync_account(&api, &key, OnBusy::Coalesce),
        env.sync.sync_account(&worker, &key, OnBusy::Coalesce),
    );
    let AccountOutcome::Synced(report) = mine.unwrap() else {
        panic!("the route's request syncs");
    };
    assert_eq!(report.follow_ups, 0, "no follow-up inside the route");
    assert!(matches!(other.unwrap(), AccountOutcome::Coalesced { .. }));
    assert_eq!(env.zuora.calls_to(ACCOUNT_SNAPSHOT), 1);
    let lock = env.store.lock_item(&env.lock_key(&account_id(1))).unwrap();
    assert_eq!(lock.lease_until, Some(0), "released");

    let follow_up = env
        .queue
        .queued()
        .into_iter()
        .find(|j| !j.job.only_if_pending)
        .expect("the follow-up is queued for the worker");
    env.run(&follow_up).await.unwrap();
    assert_eq!(env.zuora.calls_to(ACCOUNT_SNAPSHOT), 2);
    let lock = env.store.lock_item(&env.lock_key(&account_id(1))).unwrap();
    assert_eq!(lock.pending.unwrap_or(0), 0, "the wish is served");
}
