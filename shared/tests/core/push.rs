//! The Salesforce push (docs/ARCHITECTURE.md, "The Salesforce push"): a commit that changed an
//! account marks it and queues its push; the push sends only the difference, parents first;
//! refused records go to the failure list; limits pause pushes and the sweep resumes them.

use crate::support::*;
use zuora_sync::adapters::memory::QueuedJob;
use zuora_sync::model::{EventQuery, JobTarget, RatePlan, SfObject, SyncMode, Trigger};
use zuora_sync::ports::{EventStore, PushStore, SalesforceError};

const SUB: SfObject = SfObject::Subscription;
const ACCOUNT: SfObject = SfObject::CustomerAccount;

/// Account `n` linked to a CRM account, with a rate plan of one charge.
fn linked(n: u32) -> zuora_sync::model::AccountSnapshot {
    let mut a = account(n);
    a.account.crm_id = Some(crm_id(n));
    a.subscriptions[0].rate_plans = vec![RatePlan {
        id: format!("rp-{n}"),
        name: Some("Gold".into()),
        product_id: None,
        product_name: Some("Gold".into()),
        product_sku: None,
        product_rate_plan_id: None,
        charges: vec![],
    }];
    a
}

async fn enable(env: &Env) {
    env.configure(|s| s.salesforce.enabled = true).await;
}

fn push_jobs(env: &Env) -> Vec<QueuedJob> {
    env.queue
        .receive_all()
        .into_iter()
        .filter(|j| matches!(j.job.target, JobTarget::SalesforcePush { .. }))
        .collect()
}

/// A push of `accounts` run now (as a job would, outside the worker).
async fn push_now(
    env: &Env,
    accounts: &[String],
) -> Result<zuora_sync::core::push::PushReport, zuora_sync::core::push::PushError> {
    env.push
        .push(&env.entity, accounts, false, "c", env.now().plus_ms(60_000))
        .await
}

/// Runs every queued job (pushes included) until none is visible.
async fn settle(env: &Env) {
    env.work_all().await;
}

async fn pending(env: &Env) -> usize {
    env.store
        .pending_pushes(&env.entity, None, env.now().plus_ms(1), 10_000)
        .await
        .unwrap()
        .len()
}

#[tokio::test(start_paused = true)]
async fn a_changed_account_is_pushed_once_parents_first_and_an_unchanged_one_costs_no_call() {
    let env = Env::new();
    enable(&env).await;
    env.zuora.put_account(linked(1));
    env.sync_now(&key(&account_number(1))).await;
    let jobs = push_jobs(&env);
    assert_eq!(jobs.len(), 1, "the commit queued one push");
    assert_eq!(pending(&env).await, 1, "the commit marked the account");
    let report = env.push_job(&jobs[0]).await.unwrap();
    assert_eq!(report.accounts[0].1.created, 4, "{report:?}");
    assert_eq!(report.calls, 4, "one call per object type with records");
    assert_eq!(pending(&env).await, 0);
    let account = env
        .salesforce
        .find(ACCOUNT, "Zuora__External_Id__c", &account_id(1))
        .unwrap();
    assert_eq!(account["Zuora__Account__c"], crm_id(1).as_str());
    let sub = env
        .salesforce
        .find(SUB, "Zuora__SubscriptionNumber__c", &subscription_number(1))
        .unwrap();
    assert_eq!(
        sub["Zuora__CustomerAccount__c"], account["Id"],
        "the nested reference resolved"
    );

    // The same data again: the sync writes nothing, so nothing is queued; a push anyway
    // (a duplicate job) makes no call.
    env.sync_now(&key(&account_number(1))).await;
    assert!(push_jobs(&env).is_empty());
    let calls = env.salesforce.calls();
    let again = push_now(&env, &[account_id(1)]).await.unwrap();
    assert_eq!(env.salesforce.calls(), calls);
    assert_eq!(again.accounts[0].1.unchanged, 4);

    // A change: one update. A payment method removed: one delete.
    let mut changed = linked(1);
    changed.account.name = "Renamed".into();
    changed.payment_methods.clear();
    changed.account.default_payment_method_id = None;
    env.zuora.put_account(changed);
    env.sync_now(&key(&account_number(1))).await;
    let report = env.push_job(&push_jobs(&env)[0]).await.unwrap();
    let counts = report.accounts[0].1;
    assert_eq!(
        (counts.updated, counts.deleted, counts.unchanged),
        (1, 1, 2),
        "{counts:?}"
    );
    assert!(env.salesforce.records(SfObject::PaymentMethod).is_empty());
    let events = env
        .store
        .search_events(&EventQuery {
            entity: Some(env.entity.clone()),
            trigger: Some(Trigger::SalesforcePush),
            limit: 50,
            ..EventQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(events.events.len(), 3, "every push leaves an event");
    assert_eq!(events.events[0].salesforce.unwrap().deleted, 1);
}

#[tokio::test(start_paused = true)]
async fn an_account_without_a_crm_id_is_not_pushed_and_one_that_loses_it_is_removed() {
    let env = Env::new();
    enable(&env).await;
    env.zuora.put_account(account(1));
    env.sync_now(&key(&account_number(1))).await;
    settle(&env).await;
    assert!(env.salesforce.records(ACCOUNT).is_empty());
    env.zuora.put_account(linked(1));
    env.sync_now(&key(&account_number(1))).await;
    settle(&env).await;
    assert_eq!(env.salesforce.records(ACCOUNT).len(), 1);
    env.zuora.put_account(account(1));
    env.sync_now(&key(&account_number(1))).await;
    settle(&env).await;
    assert!(env.salesforce.records(ACCOUNT).is_empty());
    assert!(env.salesforce.records(SUB).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_refused_account_lands_in_the_failure_list_blocks_its_children_and_not_its_neighbours() {
    let env = Env::new();
    enable(&env).await;
    for n in 1..=3 {
        env.zuora.put_account(linked(n));
    }
    env.salesforce.fail_record(
        &account_id(2),
        &["INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY"],
    );
    let accounts: Vec<String> = (1..=3).map(account_id).collect();
    for n in 1..=3 {
        env.sync_now(&key(&account_number(n))).await;
    }
    push_jobs(&env);
    let report = push_now(&env, &accounts).await.unwrap();
    assert_eq!(report.records_per_call[0], 3, "three accounts in one call");
    assert_eq!(env.salesforce.records(ACCOUNT).len(), 2);
    assert_eq!(
        env.salesforce.records(SUB).len(),
        2,
        "account 2's subscription is blocked"
    );
    let (failures, _) = env
        .push
        .failures(&env.entity, None, 50, None, None)
        .await
        .unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!(
        failures[0].code,
        "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY"
    );
    assert_eq!(failures[0].account_id, account_id(2));
    assert_eq!(
        pending(&env).await,
        0,
        "a refusal is on the list, not waiting"
    );

    // Unchanged, a refused record is not sent again by later pushes.
    let calls = env.salesforce.calls();
    push_now(&env, &accounts).await.unwrap();
    assert_eq!(env.salesforce.calls(), calls);

    // The operator's retry (the CRM side fixed): the account and its children go in.
    assert_eq!(env.push.retry(&env.entity, None, "op").await.unwrap(), 1);
    settle(&env).await;
    assert_eq!(env.salesforce.records(ACCOUNT).len(), 3);
    assert_eq!(env.salesforce.records(SUB).len(), 3);
    let (failures, _) = env
        .push
        .failures(&env.entity, None, 50, None, None)
        .await
        .unwrap();
    assert!(failures.is_empty());
}

#[tokio::test(start_paused = true)]
async fn row_locks_are_retried_within_the_push() {
    let env = Env::new();
    enable(&env).await;
    env.zuora.put_account(linked(1));
    env.salesforce.fail_record(
        &account_id(1),
        &["UNABLE_TO_LOCK_ROW", "UNABLE_TO_LOCK_ROW"],
    );
    env.sync_now(&key(&account_number(1))).await;
    let report = env.push_job(&push_jobs(&env)[0]).await.unwrap();
    assert_eq!(report.accounts[0].1.created, 4, "{report:?}");
    assert!(report.accounts[0].2, "in line");
    assert_eq!(pending(&env).await, 0);
}

#[tokio::test(start_paused = true)]
async fn an_outage_or_a_limit_only_delays_the_push_and_the_sweep_resumes_it() {
    let env = Env::new();
    enable(&env).await;
    env.configure(|s| s.sync_mode = SyncMode::Scheduled).await;
    env.zuora.put_account(linked(1));
    env.zuora.put_account(linked(2));

    // An outage: pushes pause a minute (the job ends, no SQS retry storm), the mark stays,
    // and the first sweep after the pause queues it.
    env.salesforce
        .fail_call(SalesforceError::Unavailable("down".into()));
    env.sync_now(&key(&account_number(1))).await;
    let job = push_jobs(&env).remove(0);
    let report = env.push_job(&job).await.unwrap();
    assert!(report.paused);
    assert_eq!(pending(&env).await, 1);
    let state = env.push.state(&env.entity).await.unwrap();
    assert!(
        state
            .status
            .pause_reason
            .unwrap()
            .contains("salesforce_unavailable"),
        "the status says why"
    );
    env.realtime
        .sweep(&env.entity, "sweep", env.now().plus_ms(60_000))
        .await
        .unwrap();
    assert!(push_jobs(&env).is_empty(), "nothing while paused");
    tokio::time::advance(std::time::Duration::from_secs(61)).await;
    env.realtime
        .sweep(&env.entity, "sweep", env.now().plus_ms(60_000))
        .await
        .unwrap();
    let jobs = push_jobs(&env);
    assert_eq!(
        jobs.len(),
        1,
        "the pause over, the sweep queues the waiting account"
    );
    env.push_job(&jobs[0]).await.unwrap();
    assert_eq!(pending(&env).await, 0);

    // The daily limit mid-push: pushes pause; the job ends; the mark waits.
    env.salesforce.fail_call(SalesforceError::LimitExceeded {
        daily: true,
        message: "TotalRequests Limit exceeded.".into(),
    });
    env.sync_now(&key(&account_number(2))).await;
    let report = env.push_job(&push_jobs(&env)[0]).await.unwrap();
    assert!(report.paused);
    let state = env.push.state(&env.entity).await.unwrap();
    assert!(state.paused);
    assert_eq!(state.pending, 1);
    assert!(state.status.pause_reason.unwrap().contains("TotalRequests"));
    // While paused, the sweep queues nothing and a push sends nothing.
    env.realtime
        .sweep(&env.entity, "sweep", env.now().plus_ms(60_000))
        .await
        .unwrap();
    assert!(push_jobs(&env).is_empty());

    // After the pause the sweep queues it, and Salesforce catches up.
    tokio::time::advance(std::time::Duration::from_secs(16 * 60)).await;
    env.realtime
        .sweep(&env.entity, "sweep", env.now().plus_ms(60_000))
        .await
        .unwrap();
    let jobs = push_jobs(&env);
    assert_eq!(jobs.len(), 1);
    env.push_job(&jobs[0]).await.unwrap();
    assert_eq!(env.salesforce.records(ACCOUNT).len(), 2);
    assert_eq!(pending(&env).await, 0);
}

#[tokio::test(start_paused = true)]
async fn pushes_pause_at_their_share_of_the_daily_allocation() {
    let env = Env::new();
    env.configure(|s| {
        s.salesforce.enabled = true;
        s.salesforce.max_api_share_percent = 10;
    })
    .await;
    env.salesforce.set_usage(9_999, 100_000);
    env.zuora.put_account(linked(1));
    env.sync_now(&key(&account_number(1))).await;
    let report = env.push_job(&push_jobs(&env)[0]).await.unwrap();
    assert!(report.paused);
    assert_eq!(
        report.calls, 1,
        "it stopped after the call that reached the share"
    );
    let state = env.push.state(&env.entity).await.unwrap();
    assert!(state.paused);
    assert_eq!(state.status.api_usage.unwrap().used, 10_000);
    assert_eq!(state.pending, 1);
}

#[tokio::test(start_paused = true)]
async fn an_amendment_replaces_the_subscription_record_when_keyed_by_version() {
    let env = Env::new();
    enable(&env).await;
    env.zuora.put_account(linked(1));
    env.sync_now(&key(&account_number(1))).await;
    settle(&env).await;
    let v1 = env
        .salesforce
        .find(SUB, "Zuora__SubscriptionNumber__c", &subscription_number(1))
        .unwrap();
    let mut amended = linked(1);
    amended.subscriptions[0].id = format!("{:032x}", 0x9999u64);
    amended.subscriptions[0].version = Some(2);
    amended.subscriptions[0].rate_plans[0].id = "rp-1-v2".into();
    env.zuora.put_account(amended);
    env.sync_now(&key(&account_number(1))).await;
    settle(&env).await;
    let subs = env.salesforce.records(SUB);
    assert_eq!(subs.len(), 1, "the old version was deleted");
    assert_ne!(subs[0]["Id"], v1["Id"], "a new record replaced it");
    assert_eq!(subs[0]["Zuora__Version__c"], 2);
    assert_eq!(
        env.salesforce.records(SfObject::SubscriptionRatePlan).len(),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn a_full_sync_pushes_every_account_packed_into_full_calls() {
    let env = Env::new();
    for n in 1..=400 {
        env.zuora.put_account(linked(n));
    }
    env.configure(|s| {
        s.salesforce.enabled = true;
        s.sync_mode = SyncMode::Realtime;
    })
    .await;
    env.realtime
        .start_full_sync(&env.entity, "switch")
        .await
        .unwrap();
    // Pages and account jobs: no push per account.
    settle(&env).await;
    assert_eq!(pending(&env).await, 400);
    tokio::time::advance(std::time::Duration::from_secs(60)).await;
    env.realtime
        .sweep(&env.entity, "sweep", env.now().plus_ms(60_000))
        .await
        .unwrap();
    let jobs = push_jobs(&env);
    assert_eq!(jobs.len(), 2, "400 accounts in jobs of 200");
    for job in &jobs {
        env.push_job(job).await.unwrap();
    }
    assert_eq!(pending(&env).await, 0);
    assert_eq!(env.salesforce.records(ACCOUNT).len(), 400);
    let per_call = env.salesforce.records_per_call();
    let average = per_call.iter().sum::<usize>() as f64 / per_call.len() as f64;
    assert!(average >= 150.0, "{per_call:?}");
}

/// A mark whose push keeps not happening (its jobs lost, say) is queued again once per
/// `requeue_after`, not by every sweep: a backlog of old marks must not flood the queue with
/// duplicate jobs each minute.
#[tokio::test(start_paused = true)]
async fn a_mark_that_keeps_waiting_is_queued_again_once_per_interval() {
    let env = Env::new();
    enable(&env).await;
    env.zuora.put_account(linked(1));
    env.sync_now(&key(&account_number(1))).await;
    assert_eq!(push_jobs(&env).len(), 1, "its own job (then lost)");
    let sweep = |env: &Env| {
        let deadline = env.now().plus_ms(60_000);
        let realtime = env.realtime.clone();
        let entity = env.entity.clone();
        async move { realtime.sweep(&entity, "sweep", deadline).await.unwrap() }
    };
    tokio::time::advance(std::time::Duration::from_secs(31)).await;
    sweep(&env).await;
    assert_eq!(push_jobs(&env).len(), 1, "the drain queues it once");
    for _ in 0..9 {
        tokio::time::advance(std::time::Duration::from_secs(60)).await;
        sweep(&env).await;
        assert!(push_jobs(&env).is_empty(), "not again before 10 minutes");
    }
    let mut requeued = 0;
    for _ in 0..10 {
        tokio::time::advance(std::time::Duration::from_secs(60)).await;
        sweep(&env).await;
        requeued += push_jobs(&env).len();
    }
    assert_eq!(requeued, 1, "once in the next 10 minutes, not every sweep");
    assert_eq!(pending(&env).await, 1);
}

/// More marks than one sweep queues (5,000): the next sweep queues the rest, instead of
/// leaving them until they are stale.
#[tokio::test(start_paused = true)]
async fn marks_beyond_one_sweeps_limit_are_queued_by_the_next_sweep() {
    let env = Env::new();
    enable(&env).await;
    let accounts: Vec<String> = (0..5_100).map(|n| format!("acct-{n:05}")).collect();
    for (i, chunk) in accounts.chunks(100).enumerate() {
        env.store
            .mark_pending(&env.entity, chunk, env.now().plus_ms(i as i64))
            .await
            .unwrap();
    }
    let queued = |jobs: Vec<QueuedJob>| -> usize {
        jobs.iter()
            .map(|j| match &j.job.target {
                JobTarget::SalesforcePush { accounts, .. } => accounts.len(),
                _ => 0,
            })
            .sum()
    };
    tokio::time::advance(std::time::Duration::from_secs(31)).await;
    env.realtime
        .sweep(&env.entity, "sweep", env.now().plus_ms(60_000))
        .await
        .unwrap();
    assert_eq!(queued(push_jobs(&env)), 5_000, "one sweep's limit");
    tokio::time::advance(std::time::Duration::from_secs(60)).await;
    env.realtime
        .sweep(&env.entity, "sweep", env.now().plus_ms(60_000))
        .await
        .unwrap();
    let next = queued(push_jobs(&env));
    assert!(
        (100..=200).contains(&next),
        "the rest (and at most the last millisecond's again): {next}"
    );
}

/// An operator's retry that cannot run now (pushes paused) leaves the failure listed: it is
/// taken off only by the push that gets the record in.
#[tokio::test(start_paused = true)]
async fn a_retry_that_cannot_run_leaves_the_failure_listed() {
    let env = Env::new();
    enable(&env).await;
    env.zuora.put_account(linked(1));
    env.salesforce.fail_record(
        &account_id(1),
        &["INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY"],
    );
    env.sync_now(&key(&account_number(1))).await;
    env.push_job(&push_jobs(&env)[0]).await.unwrap();
    let listed = || async {
        env.push
            .failures(&env.entity, None, 50, None, None)
            .await
            .unwrap()
            .0
            .len()
    };
    assert_eq!(listed().await, 1);
    env.salesforce.fail_call(SalesforceError::LimitExceeded {
        daily: true,
        message: "TotalRequests Limit exceeded.".into(),
    });
    assert_eq!(env.push.retry(&env.entity, None, "op").await.unwrap(), 1);
    let report = env.push_job(&push_jobs(&env)[0]).await.unwrap();
    assert!(report.paused);
    assert_eq!(listed().await, 1, "still listed: nothing was resent");
    // Retried once pushes resume: in, and off the list.
    tokio::time::advance(std::time::Duration::from_secs(16 * 60)).await;
    env.push.retry(&env.entity, None, "op").await.unwrap();
    env.push_job(&push_jobs(&env)[0]).await.unwrap();
    assert_eq!(listed().await, 0);
    assert_eq!(env.salesforce.records(ACCOUNT).len(), 1);
}

/// An account with more new records than one push creates (1,000: their intents must fit the
/// state item) goes in over several pushes, its mark kept until the last.
#[tokio::test(start_paused = true)]
async fn a_huge_account_goes_in_over_several_pushes() {
    let env = Env::new();
    enable(&env).await;
    let mut a = linked(1);
    let template = a.payment_methods[0].clone();
    a.payment_methods = (0..1_200)
        .map(|n| zuora_sync::model::PaymentMethod {
            id: format!("pm-{n:04}"),
            is_default: n == 0,
            ..template.clone()
        })
        .collect();
    env.zuora.put_account(a);
    env.sync_now(&key(&account_number(1))).await;
    let report = env.push_job(&push_jobs(&env)[0]).await.unwrap();
    let counts = report.accounts[0].1;
    assert_eq!(counts.created, 1_000, "{counts:?}");
    assert!(!report.accounts[0].2, "not complete yet");
    assert_eq!(pending(&env).await, 1);
    let again = push_now(&env, &[account_id(1)]).await.unwrap();
    assert!(again.accounts[0].2, "{:?}", again.accounts[0]);
    assert_eq!(env.salesforce.records(SfObject::PaymentMethod).len(), 1_200);
    assert_eq!(pending(&env).await, 0);
}

/// A call whose answer is lost may still be carried out by Salesforce: the account's lease is
/// held two minutes, so a later push cannot write the record first and be overwritten by it.
#[tokio::test(start_paused = true)]
async fn after_a_lost_answer_the_accounts_lease_is_held_a_while() {
    let env = Env::new();
    enable(&env).await;
    env.zuora.put_account(linked(1));
    env.salesforce
        .fail_call(SalesforceError::NoAnswer("connection reset".into()));
    env.sync_now(&key(&account_number(1))).await;
    let report = env.push_job(&push_jobs(&env)[0]).await.unwrap();
    assert!(!report.accounts[0].2, "incomplete");
    let accounts = [account_id(1)];
    tokio::time::advance(std::time::Duration::from_secs(61)).await;
    let early = push_now(&env, &accounts).await.unwrap();
    assert_eq!(early.busy, vec![account_id(1)], "held: {early:?}");
    tokio::time::advance(std::time::Duration::from_secs(60)).await;
    let late = push_now(&env, &accounts).await.unwrap();
    assert!(late.accounts[0].2, "{late:?}");
    assert_eq!(env.salesforce.records(ACCOUNT).len(), 1);
}
