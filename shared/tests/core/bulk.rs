//! The bulk full sync (docs/ARCHITECTURE.md, "Bulk full sync"), through the real SQS worker:
//! one export instead of a call per account, every account committed by the snapshot order,
//! and the per-call reads as the fallback.

use crate::support::*;
use zuora_sync::adapters::memory::{
    ACCOUNT_SNAPSHOT, ACCOUNTS_BY_ID, EXPORT_SNAPSHOTS, EXPORT_STATE, SUBMIT_EXPORT,
};
use zuora_sync::core::sync::OnBusy;
use zuora_sync::handlers::sqs_worker::MessageResult;
use zuora_sync::model::{JobTarget, SessionStatus, SyncMode, Trigger, plan_writes};
use zuora_sync::ports::Clock;
use zuora_sync::ports::JobQueue;

async fn bulk_env(accounts: u32) -> Env {
    let env = Env::new();
    env.seed_accounts(accounts);
    env.configure(|s| {
        s.sync_mode = SyncMode::Realtime;
        s.bulk_export = true;
    })
    .await;
    env
}

/// [`bulk_env`] whose worker holds `limit` accounts of an export: a larger one is split.
async fn split_env(accounts: u32, limit: u64) -> Env {
    let mut env = bulk_env(accounts).await;
    std::sync::Arc::get_mut(&mut env.realtime)
        .expect("only the test holds the service")
        .limit_bulk_accounts(limit);
    env
}

/// A queued job's body as SQS hands it to the worker, on its `receive`th delivery.
fn delivery(id: &str, body: &str, receive: u32) -> aws_lambda_events::sqs::SqsMessage {
    let mut message = aws_lambda_events::sqs::SqsMessage::default();
    message.message_id = Some(id.to_string());
    message.body = Some(body.to_string());
    message
        .attributes
        .insert("ApproximateReceiveCount".into(), receive.to_string());
    message
}

async fn start(env: &Env) -> String {
    let session = env
        .realtime
        .start_full_sync(&env.entity, "switch")
        .await
        .unwrap();
    assert!(session.bulk, "the session records that it reads in bulk");
    session.id
}

/// Accounts whose mirror differs from Zuora (the product's own planner finds writes).
fn drifted(env: &Env, accounts: u32) -> Vec<u32> {
    (1..=accounts)
        .filter(|&n| {
            let snapshot = env.zuora.account(&account_id(n)).expect("in Zuora");
            let stored = env.store.stored_account(&env.entity, &account_id(n));
            !plan_writes(&snapshot, &stored).is_noop()
        })
        .collect()
}

fn rename(env: &Env, n: u32, name: &str) {
    assert!(
        env.zuora
            .update_account(&account_id(n), |a| a.account.name = name.into())
    );
}

#[tokio::test(start_paused = true)]
async fn a_bulk_full_sync_reads_every_account_through_one_export() {
    let env = bulk_env(120).await;
    let id = start(&env).await;
    env.drain().await;

    assert_eq!(drifted(&env, 120), Vec::<u32>::new());
    let s = stored_session(&env, &id).await;
    assert_eq!(s.status, SessionStatus::Done);
    assert_eq!(
        (s.total, s.succeeded, s.failed, s.skipped),
        (120, 120, 0, 0)
    );
    assert!(!s.enumerating);
    // One export (submit, two polls, the files), and no call per account.
    assert_eq!(env.zuora.calls_to(SUBMIT_EXPORT), 1);
    assert_eq!(env.zuora.calls_to(EXPORT_STATE), 2);
    assert_eq!(env.zuora.calls_to(EXPORT_SNAPSHOTS), 1);
    assert_eq!(env.zuora.calls_to(ACCOUNT_SNAPSHOT), 0);
    assert_eq!(env.zuora.calls_to(ACCOUNTS_BY_ID), 0);
}

/// The snapshot order: an account synced by another trigger after the export was submitted
/// may hold newer data than the export's snapshot, so the export's copy is not committed over
/// it; the account is read again under its lock. An edit made before the export's snapshot
/// was taken is in the export.
#[tokio::test(start_paused = true)]
async fn an_account_synced_while_the_export_ran_is_not_overwritten_with_the_export() {
    let env = bulk_env(3).await;
    env.zuora.set_export_polls(3);
    let id = start(&env).await;
    // The submit, then the first poll, which takes the export's snapshot.
    env.drain_until(|_| env.zuora.calls_to(EXPORT_STATE) == 1)
        .await;
    assert_eq!(env.zuora.calls_to(EXPORT_STATE), 1, "the snapshot is taken");
    // After the snapshot: account 1 is renamed and synced on demand; account 2 is renamed
    // and not synced (its callout is still to come).
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    rename(&env, 1, "Renamed after the export's snapshot");
    env.sync
        .sync_account(
            &env.req(Trigger::OnDemand),
            &key(&account_id(1)),
            OnBusy::Coalesce,
        )
        .await
        .unwrap();
    rename(&env, 2, "Renamed, callout pending");
    let reads_before = env.zuora.calls_to(ACCOUNT_SNAPSHOT);
    env.drain().await;

    let stored = env.store.stored_account(&env.entity, &account_id(1));
    let snapshot = env.zuora.account(&account_id(1)).unwrap();
    assert!(
        plan_writes(&snapshot, &stored).is_noop(),
        "account 1 keeps what its on-demand sync read"
    );
    assert_eq!(
        env.zuora.calls_to(ACCOUNT_SNAPSHOT) - reads_before,
        1,
        "only account 1 was read again, under its lock"
    );
    // Account 2 holds the export's (consistent, older) copy until its change syncs it.
    assert_eq!(drifted(&env, 3), vec![2]);
    let s = stored_session(&env, &id).await;
    assert_eq!(
        (s.status, s.total, s.succeeded),
        (SessionStatus::Done, 3, 3)
    );
    env.sync
        .sync_account(
            &env.req(Trigger::Realtime),
            &key(&account_id(2)),
            OnBusy::Coalesce,
        )
        .await
        .unwrap();
    assert_eq!(drifted(&env, 3), Vec::<u32>::new());
}

#[tokio::test(start_paused = true)]
async fn a_tenant_without_aqua_is_read_account_by_account() {
    let env = bulk_env(7).await;
    env.zuora.disable_aqua();
    let id = start(&env).await;
    env.drain().await;
    assert_eq!(drifted(&env, 7), Vec::<u32>::new());
    let s = stored_session(&env, &id).await;
    assert_eq!(
        (s.status, s.total, s.succeeded),
        (SessionStatus::Done, 7, 7)
    );
    assert_eq!(env.zuora.calls_to(SUBMIT_EXPORT), 1);
    assert_eq!(env.zuora.calls_to(ACCOUNT_SNAPSHOT), 7);
}

#[tokio::test(start_paused = true)]
async fn a_failed_export_falls_back_to_the_per_call_reads() {
    let env = bulk_env(7).await;
    env.zuora
        .fail_exports(Some("the Subscription query: There is an internal error"));
    let id = start(&env).await;
    env.drain().await;
    assert_eq!(drifted(&env, 7), Vec::<u32>::new());
    let s = stored_session(&env, &id).await;
    assert_eq!(
        (s.status, s.total, s.succeeded),
        (SessionStatus::Done, 7, 7)
    );
    assert_eq!(env.zuora.calls_to(EXPORT_SNAPSHOTS), 0);
    assert_eq!(env.zuora.calls_to(ACCOUNT_SNAPSHOT), 7);
}

/// A submit job that runs twice (SQS delivers at least once) submits two exports, but the
/// session records one: the accounts are counted once and the session completes.
#[tokio::test(start_paused = true)]
async fn a_submit_that_runs_twice_reads_the_export_recorded_first() {
    let env = bulk_env(60).await;
    let id = start(&env).await;
    let submit = env.queue.receive().expect("the submit job");
    assert!(matches!(
        submit.job.target,
        JobTarget::BulkExport { export: None, .. }
    ));
    for _ in 0..2 {
        env.queue.send(&submit.job, None).await.unwrap();
    }
    env.drain().await;

    assert_eq!(env.zuora.calls_to(SUBMIT_EXPORT), 2);
    assert_eq!(drifted(&env, 60), Vec::<u32>::new());
    assert_eq!(
        env.zuora.calls_to(EXPORT_SNAPSHOTS),
        1,
        "the second poll chain stops at the fan-out the first one ended"
    );
    assert_eq!(env.zuora.calls_to(ACCOUNT_SNAPSHOT), 0);
    let s = stored_session(&env, &id).await;
    assert_eq!(
        (s.status, s.total, s.succeeded, s.skipped),
        (SessionStatus::Done, 60, 60, 0)
    );
}

/// A bulk job whose commits fail for a while: each failed account is queued on its own (the
/// others are not synced again), and every account is counted once.
#[tokio::test(start_paused = true)]
async fn bulk_accounts_that_fail_are_synced_one_by_one() {
    let env = bulk_env(20).await;
    let id = start(&env).await;
    // Up to the fan-out: the submit and two polls.
    let jobs = env
        .drain_until(|t| matches!(t, JobTarget::BulkAccounts { .. }))
        .await;
    let groups: std::collections::BTreeSet<u8> = (1..=20)
        .map(|n| zuora_sync::model::count_group(&account_id(n)))
        .collect();
    assert_eq!(
        jobs,
        groups.len(),
        "a bulk job per count group of the 20 accounts"
    );
    // Every one-write commit fails, so every account is synced under its lock, and three of
    // those commits fail too.
    env.store.set_fault_plan(Plans::of(vec![
        FailCalls::new("commit_free", u64::MAX),
        FailCalls::new("commit", 3),
    ]));
    env.drain().await;
    assert_eq!(drifted(&env, 20), Vec::<u32>::new());
    let s = stored_session(&env, &id).await;
    assert_eq!(
        (s.status, s.total, s.succeeded, s.failed),
        (SessionStatus::Done, 20, 20, 0)
    );
    assert_eq!(
        env.zuora.calls_to(ACCOUNT_SNAPSHOT),
        3,
        "the three accounts whose commit failed were read again, one by one"
    );
}

/// A one-write commit that fails leaves its account to the locked run, in the same job: its
/// exported snapshot is committed under the lock, without reading Zuora again.
#[tokio::test(start_paused = true)]
async fn accounts_whose_one_write_commit_fails_are_committed_under_their_locks() {
    let env = bulk_env(20).await;
    let id = start(&env).await;
    env.drain_until(|t| matches!(t, JobTarget::BulkAccounts { .. }))
        .await;
    let calls = std::sync::Arc::new(CountCalls::default());
    env.store.set_fault_plan(Plans::of(vec![
        FailCalls::new("commit_free", 3),
        calls.clone(),
    ]));
    env.drain().await;

    assert_eq!(drifted(&env, 20), Vec::<u32>::new());
    let s = stored_session(&env, &id).await;
    assert_eq!(
        (s.status, s.total, s.succeeded, s.failed),
        (SessionStatus::Done, 20, 20, 0)
    );
    assert_eq!(calls.of("commit"), 3, "three commits under a held lock");
    assert_eq!(
        env.zuora.calls_to(ACCOUNT_SNAPSHOT),
        0,
        "no account read again"
    );
}

/// A worker holds the accounts of the part of an export it fans out: an export larger than
/// its memory is split into parts, fanned out one after another, each keeping its own accounts.
#[tokio::test(start_paused = true)]
async fn an_export_larger_than_the_workers_memory_is_fanned_out_in_parts() {
    let env = split_env(120, 29).await;
    let id = start(&env).await;
    env.drain().await;
    assert_eq!(drifted(&env, 120), Vec::<u32>::new());
    let s = stored_session(&env, &id).await;
    assert_eq!(
        (s.status, s.total, s.succeeded, s.failed),
        (SessionStatus::Done, 120, 120, 0)
    );
    // 120 accounts where 29 fit, less a fifth for the parts' unevenness: 6 parts, each
    // reading the export's files once.
    assert_eq!(env.zuora.calls_to(EXPORT_SNAPSHOTS), 6);
    assert_eq!(env.zuora.calls_to(ACCOUNT_SNAPSHOT), 0);
}

/// The parts of a split export are fanned out at once, by as many invocations: the step that
/// splits it queues a step for every part; the enumeration ends when the last part ends,
/// whichever that is; a copy of a part's step delivered after its part ended stops.
#[tokio::test(start_paused = true)]
async fn the_parts_of_an_export_are_fanned_out_at_once_and_the_last_to_end_ends_it() {
    let env = split_env(120, 29).await;
    let id = start(&env).await;
    let is_part_step = |t: &JobTarget| matches!(t, JobTarget::BulkExport { part: Some(_), .. });
    let steps = env.drain_until(is_part_step).await;
    assert_eq!(steps, 6, "a step for each of the 6 parts");
    let mut parts = env.queue.drain();
    assert!(parts.iter().all(|q| is_part_step(&q.job.target)));
    let worker = env.worker();
    let deliver = |queued: &zuora_sync::adapters::memory::QueuedJob, receive: u32| {
        let message = delivery(&uuid::Uuid::new_v4().to_string(), &queued.body, receive);
        let worker = &worker;
        let deadline = env.now().plus_ms(DEADLINE_MS);
        async move { worker.handle_message(&message, deadline).await }
    };
    let first = parts.remove(0);
    assert_eq!(deliver(&first, 1).await, MessageResult::Done);
    let chunks = env.queue.drain();
    assert!(!chunks.is_empty(), "part 1's accounts were queued");
    // Its step delivered again after its claim expired: the part ended, so the copy stops
    // instead of downloading and fanning it out again.
    tokio::time::sleep(std::time::Duration::from_millis(DEADLINE_MS as u64 + 1_000)).await;
    assert_eq!(deliver(&first, 2).await, MessageResult::Done);
    assert_eq!(
        env.zuora.calls_to(EXPORT_SNAPSHOTS),
        1,
        "part 1 was not read again"
    );
    assert!(env.queue.drain().is_empty());
    parts.reverse();
    for (n, queued) in parts.iter().enumerate() {
        let s = stored_session(&env, &id).await;
        assert!(
            s.enumerating,
            "the enumeration goes on before the {n}th of the last five parts"
        );
        assert_eq!(deliver(queued, 1).await, MessageResult::Done);
    }
    assert!(
        !stored_session(&env, &id).await.enumerating,
        "the last part ended it"
    );
    for queued in &chunks {
        env.queue.send(&queued.job, None).await.unwrap();
    }
    env.drain().await;
    assert_eq!(drifted(&env, 120), Vec::<u32>::new());
    let s = stored_session(&env, &id).await;
    assert_eq!(
        (s.status, s.total, s.succeeded),
        (SessionStatus::Done, 120, 120)
    );
    assert_eq!(env.zuora.calls_to(EXPORT_SNAPSHOTS), 6);
    assert_eq!(env.zuora.calls_to(ACCOUNT_SNAPSHOT), 0);
}

/// Two parts' steps in one invocation (a batch of messages): one fans out and the other,
/// after a short wait, goes back to the queue as a new delayed message (a receive of its own
/// would bring it closer to the DLQ), so a process never holds two parts' accounts at once
/// (each may take its memory budget); back later, it fans out its part. Copies of steps whose
/// part ended stop: every part is downloaded once.
#[tokio::test(start_paused = true)]
async fn a_process_fans_out_one_part_at_a_time() {
    let env = split_env(120, 29).await;
    let id = start(&env).await;
    let is_part_step =
        |t: &JobTarget| matches!(t, JobTarget::BulkExport { part: Some(p), .. } if p.index > 0);
    env.drain_until(is_part_step).await;
    let (parts, others): (Vec<_>, Vec<_>) = env
        .queue
        .drain()
        .into_iter()
        .partition(|q| is_part_step(&q.job.target));
    // Longer than a fan-out waits for the process's other one.
    env.zuora.set_delay(std::time::Duration::from_secs(6));
    let message = |n: usize| delivery(&format!("part-{n}"), &parts[n].body, 1);
    let (first, second) = (message(0), message(1));
    let worker = env.worker();
    let deadline = env.now().plus_ms(DEADLINE_MS);
    let (a, b) = tokio::join!(
        worker.handle_message(&first, deadline),
        worker.handle_message(&second, deadline)
    );
    assert_eq!((&a, &b), (&MessageResult::Done, &MessageResult::Done));
    let again: Vec<_> = env
        .queue
        .queued()
        .into_iter()
        .filter(|q| matches!(q.job.target, JobTarget::BulkExport { .. }))
        .collect();
    assert_eq!(again.len(), 1, "the step turned away is queued again");
    assert_eq!(again[0].delay, Some(std::time::Duration::from_secs(20)));
    env.zuora.set_delay(std::time::Duration::ZERO);
    // Every part's step again, as duplicate deliveries would bring them.
    for queued in parts.iter().chain(&others) {
        env.queue.send(&queued.job, None).await.unwrap();
    }
    env.drain().await;
    assert_eq!(drifted(&env, 120), Vec::<u32>::new());
    let s = stored_session(&env, &id).await;
    assert_eq!(
        (s.status, s.total, s.succeeded),
        (SessionStatus::Done, 120, 120)
    );
    assert_eq!(
        env.zuora.calls_to(EXPORT_SNAPSHOTS),
        6,
        "each part downloaded once"
    );
    assert_eq!(env.zuora.calls_to(ACCOUNT_SNAPSHOT), 0);
}

/// An export that would need more than `MAX_PARTS` parts (each reads every file again) is
/// read account by account instead of failing the fan-out again and again.
#[tokio::test(start_paused = true)]
async fn an_export_too_large_even_in_parts_is_read_account_by_account() {
    let env = split_env(50, 1).await;
    let id = start(&env).await;
    env.drain().await;
    assert_eq!(drifted(&env, 50), Vec::<u32>::new());
    let s = stored_session(&env, &id).await;
    assert_eq!(
        (s.status, s.total, s.succeeded),
        (SessionStatus::Done, 50, 50)
    );
    assert_eq!(
        env.zuora.calls_to(EXPORT_SNAPSHOTS),
        0,
        "the files are never downloaded"
    );
    assert_eq!(env.zuora.calls_to(ACCOUNT_SNAPSHOT), 50);
}

/// Two copies of the step that finds the export ready, at once (SQS delivers at least once):
/// one fans it out, the other is turned away and, back later, finds it done. Without the
/// claim both would fan out, and every account would be read again one by one.
#[tokio::test(start_paused = true)]
async fn two_copies_of_the_ready_step_fan_the_export_out_once() {
    let env = bulk_env(60).await;
    env.zuora.set_export_polls(1);
    let id = start(&env).await;
    env.drain_until(|t| {
        matches!(
            t,
            JobTarget::BulkExport {
                export: Some(_),
                ..
            }
        )
    })
    .await;
    let poll = env.queue.drain().pop().expect("the poll job");
    // Zuora answers slowly: both copies are under way before either has fanned out.
    env.zuora.set_delay(std::time::Duration::from_millis(200));
    let message = |n: u32| delivery(&format!("copy-{n}"), &poll.body, 1);
    let (first, second) = (message(1), message(2));
    let worker = env.worker();
    let deadline = env.now().plus_ms(DEADLINE_MS);
    let (a, b) = tokio::join!(
        worker.handle_message(&first, deadline),
        worker.handle_message(&second, deadline)
    );
    let turned_away = [&a, &b]
        .iter()
        .filter(|r| matches!(r, MessageResult::Retry(_)))
        .count();
    assert_eq!(turned_away, 1, "{a:?} {b:?}");
    env.drain().await;
    // The copy turned away comes back (SQS), and stops: the fan-out ended.
    let late = worker
        .handle_message(&second, env.now().plus_ms(DEADLINE_MS))
        .await;
    assert_eq!(late, MessageResult::Done);
    assert_eq!(env.zuora.calls_to(EXPORT_SNAPSHOTS), 1);
    assert_eq!(env.zuora.calls_to(ACCOUNT_SNAPSHOT), 0);
    assert_eq!(drifted(&env, 60), Vec::<u32>::new());
    let s = stored_session(&env, &id).await;
    assert_eq!(
        (s.status, s.total, s.succeeded),
        (SessionStatus::Done, 60, 60)
    );
}

/// The step that ends an empty export's enumeration fails before it completes the session
/// (its read of the session, here): its retry finds the enumeration ended and completes it,
/// instead of stopping and leaving the session running until it expires.
#[tokio::test(start_paused = true)]
async fn a_retried_step_completes_a_session_whose_enumeration_ended() {
    let env = bulk_env(0).await;
    env.zuora.set_export_polls(1);
    let id = start(&env).await;
    // The session is read by the poll's check, then by the completion after `bulk:end`.
    env.store
        .set_fault_plan(FailCalls::after("get_session", 1, 1));
    env.drain().await;
    let s = stored_session(&env, &id).await;
    assert_eq!(
        (s.status, s.total, s.enumerating),
        (SessionStatus::Done, 0, false)
    );
}

/// Export files Zuora cannot hand over or that cannot be read (gone, malformed, over the
/// cap) would fail the same way on every retry: the session is read account by account.
#[tokio::test(start_paused = true)]
async fn export_files_that_cannot_be_read_fall_back_to_the_per_call_reads() {
    let env = bulk_env(9).await;
    env.zuora
        .set_fault_plan(std::sync::Arc::new(UnreadableFiles));
    let id = start(&env).await;
    env.drain().await;
    assert_eq!(drifted(&env, 9), Vec::<u32>::new());
    let s = stored_session(&env, &id).await;
    assert_eq!(
        (s.status, s.total, s.succeeded),
        (SessionStatus::Done, 9, 9)
    );
    assert_eq!(env.zuora.calls_to(EXPORT_SNAPSHOTS), 1);
    assert_eq!(env.zuora.calls_to(ACCOUNT_SNAPSHOT), 9);
}

/// Of a split export, other parts may be recording their pages while one fails to read the
/// files: falling back to the per-call reads would enumerate their accounts twice, and the
/// session would never add up. Its steps are retried instead (the DLQ keeps them, and the
/// alarm on its depth tells the operator).
#[tokio::test(start_paused = true)]
async fn a_split_export_never_falls_back_to_the_per_call_reads() {
    let env = split_env(120, 29).await;
    env.zuora
        .set_fault_plan(std::sync::Arc::new(UnreadableFiles));
    let id = start(&env).await;
    env.drain().await;
    assert_eq!(env.zuora.calls_to(ACCOUNT_SNAPSHOT), 0);
    assert_eq!(
        env.zuora.calls_to(ACCOUNTS_BY_ID),
        0,
        "no per-call enumeration"
    );
    let s = stored_session(&env, &id).await;
    assert_eq!(
        (s.status, s.total, s.enumerating),
        (SessionStatus::Running, 0, true)
    );
    assert_eq!(
        env.queue.dead_letters().len(),
        6,
        "every part's step, in the DLQ"
    );
}

#[derive(Debug)]
struct UnreadableFiles;

impl zuora_sync::adapters::memory::FaultPlan for UnreadableFiles {
    fn store_call(&self, _: &'static str) -> zuora_sync::adapters::memory::Fault {
        zuora_sync::adapters::memory::Fault::Pass
    }
    fn queue_send(&self) -> zuora_sync::adapters::memory::Fault {
        zuora_sync::adapters::memory::Fault::Pass
    }
    fn zuora_call(&self, method: &'static str) -> zuora_sync::adapters::memory::ZuoraFault {
        use zuora_sync::adapters::memory::ZuoraFault;
        if method == EXPORT_SNAPSHOTS {
            ZuoraFault::Fail(zuora_sync::ports::ZuoraError::BadResponse {
                detail: "the Subscription file has no Subscription.Id column".into(),
                attempts: 1,
            })
        } else {
            ZuoraFault::Pass
        }
    }
}

/// A fault plan that lets every call pass and counts the store calls by name.
#[derive(Debug, Default)]
struct CountCalls(std::sync::Mutex<std::collections::BTreeMap<&'static str, u32>>);

impl CountCalls {
    fn of(&self, op: &str) -> u32 {
        self.0.lock().unwrap().get(op).copied().unwrap_or(0)
    }
}

impl zuora_sync::adapters::memory::FaultPlan for CountCalls {
    fn store_call(&self, op: &'static str) -> zuora_sync::adapters::memory::Fault {
        *self.0.lock().unwrap().entry(op).or_default() += 1;
        zuora_sync::adapters::memory::Fault::Pass
    }
    fn queue_send(&self) -> zuora_sync::adapters::memory::Fault {
        zuora_sync::adapters::memory::Fault::Pass
    }
    fn zuora_call(&self, _: &'static str) -> zuora_sync::adapters::memory::ZuoraFault {
        zuora_sync::adapters::memory::ZuoraFault::Pass
    }
}

#[tokio::test(start_paused = true)]
async fn a_bulk_jobs_accounts_with_free_locks_are_committed_by_one_write_each() {
    let env = bulk_env(120).await;
    let calls = std::sync::Arc::new(CountCalls::default());
    env.store.set_fault_plan(calls.clone());
    let id = start(&env).await;
    env.drain().await;

    assert_eq!(drifted(&env, 120), Vec::<u32>::new());
    let s = stored_session(&env, &id).await;
    assert_eq!(
        (s.status, s.total, s.succeeded),
        (SessionStatus::Done, 120, 120)
    );
    // No account's lock was acquired (and then released by its commit): each account's
    // lock was read with the job's others, and taken and given back by its commit.
    assert_eq!(calls.of("acquire"), 0, "no lock acquired");
    assert_eq!(calls.of("commit"), 0, "no commit under a held lock");
    assert_eq!(calls.of("commit_free"), 120, "one write an account");
    let groups: std::collections::BTreeSet<u8> = (1..=120)
        .map(|n| zuora_sync::model::count_group(&account_id(n)))
        .collect();
    assert_eq!(
        calls.of("seen_locks") as usize,
        groups.len(),
        "one read of the locks a job (a job per count group)"
    );
    for n in [1, 60, 120] {
        let item = env
            .store
            .lock_item(&env.lock_key(&account_id(n)))
            .expect("the commit wrote the lock item");
        assert_eq!(item.fence, Some(1), "the commit moved the fence");
        assert_eq!(item.lease_until, Some(0), "and left the lock free");
        assert!(item.synced_from.is_some(), "with its snapshot's time");
    }
}

#[tokio::test(start_paused = true)]
async fn a_lock_taken_between_the_read_and_the_one_write_commit_refuses_that_commit() {
    let env = Env::new();
    env.seed_accounts(3);
    for n in 1..=3 {
        env.sync_now(&key(&account_id(n))).await;
    }
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    // The export reads account 1 renamed once; a second rename follows it.
    rename(&env, 1, "Renamed before the export");
    let read_from = env.clock.now();
    let snapshots: Vec<_> = (1..=3)
        .map(|n| env.zuora.account(&account_id(n)).expect("in Zuora"))
        .collect();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    rename(&env, 1, "Renamed after the export");
    // Account 1's one-write commit lands 5 s after its lock was read; meanwhile an on-demand
    // sync commits the second rename under the lock.
    env.store.set_fault_plan(StallCall::new(
        Some("commit_free"),
        1,
        std::time::Duration::from_secs(5),
    ));
    let req = env.req(Trigger::Full);
    let bulk = env.sync.sync_exported_all(&req, snapshots, read_from);
    let on_demand = async {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        env.sync
            .sync_account(
                &env.req(Trigger::OnDemand),
                &key(&account_id(1)),
                OnBusy::Coalesce,
            )
            .await
            .unwrap()
    };
    let reads_before = env.zuora.calls_to(ACCOUNT_SNAPSHOT);
    let (outcomes, _) = tokio::join!(bulk, on_demand);

    assert_eq!(outcomes.len(), 3);
    assert!(outcomes.iter().all(|(_, o)| o.is_ok()), "{outcomes:?}");
    // Refused, account 1 went through the locked run, which found the newer commit and
    // read Zuora again instead of writing the export's older copy.
    assert_eq!(drifted(&env, 3), Vec::<u32>::new());
    assert_eq!(
        env.zuora.calls_to(ACCOUNT_SNAPSHOT) - reads_before,
        2,
        "the on-demand read and account 1's read under its lock"
    );
}
