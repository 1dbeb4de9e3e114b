//! The snapshot order (docs/ARCHITECTURE.md, The lock protocol): a caller waiting for its
//! answer reads Zuora while it acquires the lock, and that read is committed only when no
//! commit under the lock can be newer; every commit records when its reads began, and a later
//! commit needs a later start.

use crate::support::*;
use std::time::Duration;
use tokio::time::{Instant, sleep};
use zuora_sync::adapters::memory::{ACCOUNT_SNAPSHOT, Fault, FaultPlan, ZuoraFault};
use zuora_sync::core::sync::{AccountOutcome, Enqueued, OnBusy};
use zuora_sync::model::{JobTarget, Trigger};

const ZUORA: Duration = Duration::from_secs(1);
const STORE: Duration = Duration::from_millis(100);
const WAIT: OnBusy = OnBusy::WaitThenCoalesce(Duration::from_secs(3));

/// Every store call takes [`STORE`]: the order of the calls shows in the time a sync takes.
#[derive(Debug)]
struct SlowStore;

impl FaultPlan for SlowStore {
    fn store_call(&self, _: &'static str) -> Fault {
        Fault::Delay(STORE)
    }
    fn queue_send(&self) -> Fault {
        Fault::Pass
    }
    fn zuora_call(&self, _: &'static str) -> ZuoraFault {
        ZuoraFault::Pass
    }
}

fn customer_name(env: &Env) -> String {
    let stored = env.store.stored_account(&env.entity, &account_id(1));
    let customer = &stored.records["CUSTOMER"];
    let data: serde_json::Value = serde_json::from_str(&customer.data).unwrap();
    data["name"].as_str().unwrap_or_default().to_string()
}

fn rename(env: &Env, name: &str) {
    env.zuora
        .update_account(&account_id(1), |a| a.account.name = name.into());
}

async fn timed_sync(env: &Env, on_busy: OnBusy) -> Duration {
    let started = Instant::now();
    let outcome = env
        .sync
        .sync_account(&env.req(Trigger::Api), &key(&account_id(1)), on_busy)
        .await
        .unwrap();
    assert!(matches!(outcome, AccountOutcome::Synced(_)));
    started.elapsed()
}

#[tokio::test(start_paused = true)]
async fn a_waiting_callers_zuora_read_runs_while_it_acquires() {
    let env = Env::new();
    env.zuora.put_account(account(1));
    env.sync_now(&key(&account_id(1))).await;
    env.zuora.set_delay(ZUORA);
    env.store.set_fault_plan(std::sync::Arc::new(SlowStore));
    sleep(Duration::from_secs(5)).await;

    // Each sync first reads the entity's settings (the cache's time ran out during the
    // sleep). Queued work reads Zuora after the acquire: acquire, event running, the read
    // (with the stored copy), commit.
    rename(&env, "Queued Read");
    let calls = env.zuora.calls_to(ACCOUNT_SNAPSHOT);
    let after = timed_sync(&env, OnBusy::Coalesce).await;
    assert_eq!(after, STORE + 2 * STORE + ZUORA + STORE);
    assert_eq!(customer_name(&env), "Queued Read");
    sleep(Duration::from_secs(5)).await;

    // A waiting caller: the acquire, the event and the stored copy happen during the read.
    rename(&env, "Read While Acquiring");
    let during = timed_sync(&env, WAIT).await;
    assert_eq!(
        during,
        STORE + ZUORA + STORE,
        "settings, the Zuora read, the commit"
    );
    assert_eq!(customer_name(&env), "Read While Acquiring");
    assert_eq!(
        env.zuora.calls_to(ACCOUNT_SNAPSHOT),
        calls + 2,
        "one read each"
    );
}

/// The race the order guards: a waiting caller's read starts while another holder runs; that
/// holder's follow-up reads newer data and commits it; then the caller wins the lock holding
/// its older read. Committing it would put the older data back, and the edit after it came
/// with no callout, so no later sync would repair it.
#[tokio::test(start_paused = true)]
async fn a_read_made_while_acquiring_is_dropped_when_a_newer_commit_came_first() {
    let env = Env::new();
    env.zuora.put_account(account(1));
    env.sync_now(&key(&account_id(1))).await;
    sleep(Duration::from_secs(5)).await;
    env.zuora.set_delay(ZUORA);
    let account = key(&account_id(1));
    let calls = env.zuora.calls_to(ACCOUNT_SNAPSHOT);

    // t = 0: a worker job holds the lock and reads Zuora until t = 1.
    let job = env.req(Trigger::Realtime);
    let holder = env.sync.sync_account(&job, &account, OnBusy::Coalesce);
    // t = 0.1: the waiting caller starts its read (the data of t = 0.1) and waits for the lock.
    let caller = async {
        sleep(Duration::from_millis(100)).await;
        env.sync
            .sync_account(&env.req(Trigger::Api), &account, WAIT)
            .await
    };
    // t = 0.2: an edit and its callout's job, which coalesces into the holder's follow-up
    // (it reads from t = 1 and commits at t = 2). t = 1.5: an edit whose callout was lost.
    let edits = async {
        sleep(Duration::from_millis(200)).await;
        rename(&env, "Second");
        let wish = env
            .sync
            .sync_account(&env.req(Trigger::Realtime), &account, OnBusy::Coalesce)
            .await;
        assert!(matches!(wish.unwrap(), AccountOutcome::Coalesced { .. }));
        sleep(Duration::from_millis(1_300)).await;
        rename(&env, "Third");
    };
    let (held, waited, ()) = tokio::join!(holder, caller, edits);

    let AccountOutcome::Synced(report) = held.unwrap() else {
        panic!("the first job holds the lock");
    };
    assert_eq!(report.follow_ups, 1);
    assert!(
        matches!(waited.unwrap(), AccountOutcome::Synced(_)),
        "the caller got the lock after the holder released it"
    );
    // Its read of t = 0.1 was dropped and Zuora read again under the lock.
    assert_eq!(customer_name(&env), "Third");
    assert_eq!(env.zuora.calls_to(ACCOUNT_SNAPSHOT), calls + 4);
}

/// A queued mark cleared by the acquire: requests folded into it trust a read that starts
/// after the acquire, so the read made during it is dropped.
#[tokio::test(start_paused = true)]
async fn a_read_made_while_acquiring_is_dropped_when_the_acquire_clears_a_queued_mark() {
    let env = Env::new();
    env.zuora.put_account(account(1));
    env.sync_now(&key(&account_id(1))).await;
    sleep(Duration::from_secs(5)).await;
    let target = JobTarget::Account {
        account: key(&account_id(1)),
    };
    let queued = env
        .sync
        .enqueue(&env.req(Trigger::OnDemand), &target, None)
        .await
        .unwrap();
    assert!(matches!(queued, Enqueued::Queued { .. }), "{queued:?}");
    rename(&env, "After The Mark");
    let calls = env.zuora.calls_to(ACCOUNT_SNAPSHOT);

    timed_sync(&env, WAIT).await;

    assert_eq!(env.zuora.calls_to(ACCOUNT_SNAPSHOT), calls + 2);
    assert_eq!(customer_name(&env), "After The Mark");
    let lock = env.store.lock_item(&env.lock_key(&account_id(1))).unwrap();
    assert_eq!(lock.queued_event, None, "the acquire cleared the mark");
}
