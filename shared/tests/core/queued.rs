//! The queued mark (docs/ARCHITECTURE.md, "The lock protocol", 4): a burst of on-demand
//! requests queues one job, a request during a running sync folds into its follow-up, and
//! the entity's minimum interval throttles on-demand syncs of one account.

use crate::support::*;
use std::time::Duration;
use tokio::time::sleep;
use zuora_sync::core::sync::{AccountOutcome, Enqueued, OnBusy};
use zuora_sync::model::{EventStatus, JobTarget, Trigger};
use zuora_sync::ports::{EventStore, LockStore};

fn on_demand_by_id(n: u32) -> JobTarget {
    JobTarget::Account {
        account: key(&account_id(n)),
    }
}

fn on_demand(n: u32) -> JobTarget {
    JobTarget::Account {
        account: key(&account_number(n)),
    }
}

#[tokio::test(start_paused = true)]
async fn a_second_request_folds_into_the_queued_job() {
    let env = Env::new();
    env.zuora.put_account(account(1));
    let req = env.req(Trigger::OnDemand);
    let interval = Some(Duration::ZERO);

    let first = env
        .sync
        .enqueue(&req, &on_demand(1), interval)
        .await
        .unwrap();
    let Enqueued::Queued { event_id: queued } = first else {
        panic!("the first request queues: {first:?}");
    };
    let second = env
        .sync
        .enqueue(&req, &on_demand(1), interval)
        .await
        .unwrap();
    let Enqueued::CoalescedIntoQueued {
        event_id,
        queued: into,
    } = second
    else {
        panic!("the second request folds in: {second:?}");
    };
    assert_eq!(into, queued);
    let folded = env.store.get_event(&env.entity, &event_id).await.unwrap();
    assert_eq!(folded.unwrap().status, EventStatus::Coalesced);
    assert_eq!(env.queue.len(), 1, "one job for both");

    // The worker runs the job (updating the queued event) and clears the mark.
    let job = env.queue.receive().unwrap();
    assert_eq!(job.job.event_id.as_deref(), Some(queued.as_str()));
    assert!(matches!(
        env.run(&job).await.unwrap(),
        Ran::Account(AccountOutcome::Synced(_))
    ));
    let ran = env.store.get_event(&env.entity, &queued).await.unwrap();
    assert_eq!(ran.unwrap().status, EventStatus::Succeeded);
    let number_key = env.lock_key(&account_number(1));
    assert_eq!(env.store.lock_item(&number_key).unwrap().queued_event, None);

    // So the next request queues again, now under the account id.
    let third = env
        .sync
        .enqueue(&req, &on_demand(1), interval)
        .await
        .unwrap();
    assert!(matches!(third, Enqueued::Queued { .. }), "{third:?}");
    let next = env.queue.drain();
    assert_eq!(next.len(), 1);
    assert_eq!(
        next[0].job.target,
        JobTarget::Account {
            account: key(&account_id(1))
        }
    );
}

#[tokio::test(start_paused = true)]
async fn acquiring_the_lock_clears_the_mark() {
    let env = Env::new();
    env.zuora.put_account(account(1));
    let target = JobTarget::Account {
        account: key(&account_id(1)),
    };
    let req = env.req(Trigger::OnDemand);
    env.sync.enqueue(&req, &target, None).await.unwrap();
    let lock_key = env.lock_key(&account_id(1));
    assert!(
        env.store
            .lock_item(&lock_key)
            .unwrap()
            .queued_event
            .is_some()
    );

    // The sync itself (before any clean-up of the job) takes the mark away.
    env.sync_now(&key(&account_id(1))).await;
    assert_eq!(env.store.lock_item(&lock_key).unwrap().queued_event, None);
    let again = env.sync.enqueue(&req, &target, None).await.unwrap();
    assert!(matches!(again, Enqueued::Queued { .. }), "{again:?}");
}

#[tokio::test(start_paused = true)]
async fn a_request_during_a_running_sync_folds_into_its_follow_up() {
    let env = Env::new();
    env.zuora.put_account(account(1));
    env.zuora.set_delay(Duration::from_secs(1));
    let target = JobTarget::Account {
        account: key(&account_id(1)),
    };
    // A worker's job is running (it runs its follow-ups itself).
    let (api, on_demand, id) = (
        env.req(Trigger::Realtime),
        env.req(Trigger::OnDemand),
        key(&account_id(1)),
    );
    let running = env.sync.sync_account(&api, &id, OnBusy::Coalesce);
    let request = env.sync.enqueue(&on_demand, &target, None);
    let (ran, requested) = tokio::join!(running, request);

    assert!(matches!(
        requested.unwrap(),
        Enqueued::CoalescedIntoRunning { .. }
    ));
    let AccountOutcome::Synced(report) = ran.unwrap() else {
        panic!("the running sync completes");
    };
    assert_eq!(
        report.follow_ups, 1,
        "the request is served by the follow-up"
    );
    // No account job was queued for it, only the holder-died check.
    let jobs = env.queue.queued();
    assert_eq!(jobs.len(), 1);
    assert!(jobs[0].job.only_if_pending);
}

#[tokio::test(start_paused = true)]
async fn on_demand_syncs_of_an_account_are_throttled_by_the_minimum_interval() {
    let env = Env::new();
    env.zuora.put_account(account(1));
    env.configure(|s| s.min_on_demand_interval_minutes = 10)
        .await;
    let interval = Some(Duration::from_secs(10 * 60));
    let req = env.req(Trigger::OnDemand);

    let first = env
        .sync
        .enqueue(&req, &on_demand(1), interval)
        .await
        .unwrap();
    assert!(matches!(first, Enqueued::Queued { .. }), "{first:?}");
    let job = env.queue.receive().unwrap();
    env.run(&job).await.unwrap();

    // Keyed by number before the first sync, by id after it: the interval holds across.
    sleep(Duration::from_secs(60)).await;
    let early = env
        .sync
        .enqueue(&req, &on_demand(1), interval)
        .await
        .unwrap();
    assert_eq!(
        early,
        Enqueued::Throttled {
            retry_after: Duration::from_secs(9 * 60)
        }
    );
    sleep(Duration::from_secs(9 * 60 - 1)).await;
    let still = env
        .sync
        .enqueue(&req, &on_demand(1), interval)
        .await
        .unwrap();
    assert_eq!(
        still,
        Enqueued::Throttled {
            retry_after: Duration::from_secs(1)
        }
    );
    assert!(env.queue.is_empty(), "throttled requests queue nothing");

    sleep(Duration::from_secs(1)).await;
    let later = env
        .sync
        .enqueue(&req, &on_demand(1), interval)
        .await
        .unwrap();
    assert!(matches!(later, Enqueued::Queued { .. }), "{later:?}");
    assert_eq!(env.queue.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_job_that_cannot_be_queued_gives_its_mark_back() {
    let env = Env::new();
    env.zuora.put_account(account(1));
    let req = env.req(Trigger::OnDemand);
    env.queue.fail_next(1);

    let failure = env
        .sync
        .enqueue(&req, &on_demand(1), None)
        .await
        .unwrap_err();
    assert_eq!(failure.error.code(), "queue_unavailable");
    let event = env.store.get_event(&env.entity, &failure.event_id).await;
    assert_eq!(event.unwrap().unwrap().status, EventStatus::Failed);
    let mark = env
        .store
        .lock_item(&env.lock_key(&account_number(1)))
        .unwrap();
    assert_eq!(mark.queued_event, None);

    // Nothing is stuck behind a mark whose job never existed.
    let retried = env.sync.enqueue(&req, &on_demand(1), None).await.unwrap();
    assert!(matches!(retried, Enqueued::Queued { .. }), "{retried:?}");
    // The lock was never taken.
    let peek = env.store.peek(&env.lock_key(&account_id(1))).await.unwrap();
    assert_eq!(peek, None);
}

/// M2: a request that marked the account queued and died before sending its job (a crash, or
/// a login's budget running out) must not strand later requests: they fold only into a mark
/// whose job is confirmed sent, and otherwise queue a job of their own.
#[tokio::test(start_paused = true)]
async fn a_mark_whose_job_was_never_sent_strands_no_request() {
    let env = Env::new();
    env.zuora.put_account(account(1));
    let lock_key = env.lock_key(&account_id(1));
    let until = env.now().plus_ms(10_000);
    // The dead marker's mark: written, never confirmed.
    env.store
        .mark_queued(&lock_key, "dead-marker", env.now(), until, None)
        .await
        .unwrap();
    let target = JobTarget::Account {
        account: key(&account_id(1)),
    };
    let answer = env
        .sync
        .enqueue(&env.req(Trigger::OnDemand), &target, None)
        .await
        .unwrap();
    let Enqueued::Queued { event_id } = answer else {
        panic!("expected a job of its own, got {answer:?}");
    };
    let job = env.queue.receive().expect("its job");
    assert_eq!(job.job.event_id.as_deref(), Some(event_id.as_str()));
    env.run(&job).await.unwrap();
    let event = env.store.get_event(&env.entity, &event_id).await.unwrap();
    assert_eq!(event.unwrap().status, EventStatus::Succeeded);
}

/// Seeds 558 and 1565 of the simulation: a request folds into a running manual sync as a wish,
/// but its check job cannot be sent (its caller is answered an error); the manual sync then
/// fails on a Zuora timeout and releases with the wish still recorded. Nothing came back for it.
/// Now the failed synchronous run queues a follow-up that serves it.
#[tokio::test(start_paused = true)]
async fn a_wish_left_on_a_failed_synchronous_sync_is_served_by_a_queued_follow_up() {
    let env = Env::new();
    env.seed_accounts(1);
    env.sync_now(&key(&account_number(1))).await;
    // The manual sync's read is answered a timeout, 5 s later.
    env.zuora.set_delay(Duration::from_secs(5));
    env.zuora
        .fail_next(1, zuora_sync::ports::ZuoraError::Timeout { attempts: 1 });
    let manual = {
        let sync = env.sync.clone();
        let req = env.req(Trigger::Manual);
        tokio::spawn(async move { sync.sync_customer(&req, &key(&account_number(1))).await })
    };
    sleep(Duration::from_secs(1)).await;
    // The wish is recorded, then its check job fails to send.
    env.queue.fail_next(1);
    let folded = env
        .sync
        .enqueue(&env.req(Trigger::OnDemand), &on_demand(1), None)
        .await;
    assert!(folded.is_err(), "{folded:?}");
    let lock = env.lock_key(&account_id(1));
    assert_eq!(env.store.lock_item(&lock).unwrap().pending, Some(1));
    // The running sync times out.
    env.zuora
        .fail_next(1, zuora_sync::ports::ZuoraError::Timeout { attempts: 1 });
    assert!(manual.await.unwrap().is_err());

    let queued = env.queue.queued();
    assert_eq!(queued.len(), 1, "one follow-up job");
    assert_eq!(queued[0].job.target, on_demand_by_id(1));
    env.work_all().await;
    assert_eq!(
        env.store.lock_item(&lock).unwrap().pending,
        Some(0),
        "the wish was served"
    );
}
