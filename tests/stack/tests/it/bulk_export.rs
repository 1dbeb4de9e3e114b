//! The bulk export (AQuA) against the Zuora simulator: one job, polled until its files are
//! ready, assembles for every account the snapshot the per-call reads give — the mirror's
//! records planned from one equal those planned from the other.

use stack::app::{TestApp, spawn_app};
use std::collections::BTreeMap;
use zuora_sync::adapters::zuora::ZuoraClient;
use zuora_sync::model::{
    AccountKey, AccountSnapshot, CallContext, ExportFile, ExportPart, ExportState, StoredAccount,
    WritePlan, plan_writes,
};
use zuora_sync::ports::{MirrorStore, ZuoraApi};

fn client(app: &TestApp) -> ZuoraClient {
    ZuoraClient::new(app.config.entities[0].zuora.clone()).unwrap()
}

async fn export(zuora: &ZuoraClient) -> Vec<AccountSnapshot> {
    let files = ready_files(zuora).await;
    let ctx = CallContext::new("bulk-test");
    zuora
        .export_snapshots(&files, ExportPart::WHOLE, &ctx)
        .await
        .unwrap()
}

/// A submitted export's files, once ready.
async fn ready_files(zuora: &ZuoraClient) -> Vec<ExportFile> {
    let ctx = CallContext::new("bulk-test");
    // The account's custom fields come from Describe: the per-call reads return them all, so
    // one missed would show as a difference below.
    let job = zuora.submit_export(&ctx).await.unwrap();
    let mut polls = 0;
    let files: Vec<ExportFile> = loop {
        polls += 1;
        assert!(polls < 20, "the export job never completed");
        match zuora.export_state(&job, &ctx).await.unwrap() {
            ExportState::Running => continue,
            ExportState::Ready(files) => break files,
            ExportState::Failed(reason) => panic!("the export failed: {reason}"),
        }
    };
    assert!(polls > 1, "the job was polled while it ran");
    files
}

/// The export's files streamed in part by part: each part holds its accounts with all their
/// records, and together they hold every account once.
#[tokio::test]
async fn the_parts_of_an_export_hold_every_account_once() {
    let app = spawn_app().await;
    app.sim.generate_accounts(60, "P").unwrap();
    let zuora = client(&app);
    let ctx = CallContext::new("bulk-test");
    let files = ready_files(&zuora).await;
    let whole = zuora
        .export_snapshots(&files, ExportPart::WHOLE, &ctx)
        .await
        .unwrap();
    assert_eq!(whole.len(), 64, "60 generated and the 4 demo accounts");
    let mut joined = Vec::new();
    for part in ExportPart::all(3) {
        let held = zuora.export_snapshots(&files, part, &ctx).await.unwrap();
        assert!(
            !held.is_empty() && held.len() < whole.len(),
            "{part}: {}",
            held.len()
        );
        assert!(held.iter().all(|s| part.holds(&s.account.id)), "{part}");
        joined.extend(held);
    }
    joined.sort_by(|a, b| a.account.account_number.cmp(&b.account.account_number));
    assert_eq!(joined, whole);
}

/// What the mirror would hold for `snapshot` (a first sync's writes).
fn mirrored(plan: &WritePlan) -> StoredAccount {
    StoredAccount {
        records: plan
            .puts
            .iter()
            .map(|r| (r.sk.clone(), r.clone()))
            .collect(),
        id_map: plan
            .new_ids
            .iter()
            .map(|(sk, id, _)| (sk.clone(), id.clone()))
            .collect(),
    }
}

#[tokio::test]
async fn the_bulk_export_assembles_the_snapshots_the_per_call_reads_give() {
    let app = spawn_app().await;
    // The demo accounts (cards, ACH, every subscription status, versions) and generated ones.
    app.sim.generate_accounts(25, "B").unwrap();
    let zuora = client(&app);
    let ctx = CallContext::new("bulk-test");

    let snapshots = export(&zuora).await;

    let mut accounts = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = zuora.accounts_by_id(after.as_deref(), &ctx).await.unwrap();
        accounts.extend(page.accounts);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert!(accounts.len() > 25, "the demo and the generated accounts");
    assert_eq!(snapshots.len(), accounts.len(), "every account exported");
    let mut differences = BTreeMap::new();
    for bulk in &snapshots {
        let key = AccountKey::parse(&bulk.account.id).unwrap();
        let per_call = zuora.account_snapshot(&key, &ctx).await.unwrap();
        let stored = mirrored(&plan_writes(&per_call, &StoredAccount::default()));
        let plan = plan_writes(bulk, &stored);
        if !plan.is_noop() {
            let changed: Vec<String> = plan
                .puts
                .iter()
                .map(|r| {
                    let before = stored.records.get(&r.sk).map(|s| s.data.as_str());
                    format!("{}: per call {before:?}, bulk {:?}", r.sk, r.data)
                })
                .chain(plan.deletes.iter().map(|sk| format!("{sk}: only per call")))
                .collect();
            differences.insert(bulk.account.account_number.clone(), changed);
        }
    }
    assert!(
        differences.is_empty(),
        "accounts whose bulk snapshot differs: {differences:#?}"
    );
}

/// Every account Zuora has, by the account list (id order).
async fn all_accounts(zuora: &ZuoraClient) -> Vec<String> {
    let ctx = CallContext::new("bulk-test");
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = zuora.accounts_by_id(after.as_deref(), &ctx).await.unwrap();
        ids.extend(page.accounts.into_iter().map(|a| a.id));
        match page.next {
            Some(next) => after = Some(next),
            None => return ids,
        }
    }
}

/// The accounts whose mirror differs from what Zuora answers now (the product's own planner
/// finds something to write), by account number.
async fn drifted(app: &TestApp, zuora: &ZuoraClient) -> Vec<String> {
    use zuora_sync::ports::MirrorStore;
    let ctx = CallContext::new("bulk-oracle");
    let mut out = Vec::new();
    for id in all_accounts(zuora).await {
        let key = AccountKey::parse(&id).unwrap();
        let snapshot = zuora.account_snapshot(&key, &ctx).await.unwrap();
        let stored = app
            .services
            .store
            .load_account(&app.entity, &id)
            .await
            .unwrap();
        if !plan_writes(&snapshot, &stored).is_noop() {
            out.push(snapshot.account.account_number);
        }
    }
    out
}

/// Switches the entity to real time with bulk full syncs; answers the full sync's session.
async fn start_bulk_full_sync(app: &TestApp) -> String {
    let answer = app
        .update_settings(serde_json::json!({"sync_mode": "realtime", "bulk_export": true}))
        .await;
    answer["full_sync_session"].as_str().unwrap().to_string()
}

async fn stored_session(app: &TestApp, id: &str) -> zuora_sync::model::Session {
    app.services
        .realtime
        .store()
        .get_session(&app.entity, id)
        .await
        .unwrap()
        .unwrap()
}

/// Runs worker batches until `done` holds, each receive waiting for the next message (the
/// export's polls are delayed); gives up after `limit` empty receives in a row.
async fn run_until(app: &TestApp, limit: u32, done: impl AsyncFn() -> bool) {
    let mut idle = 0;
    while !done().await {
        if app.run_queued_jobs().await == 0 {
            idle += 1;
            assert!(idle < limit, "the bulk full sync made no progress");
        } else {
            idle = 0;
        }
    }
}

/// The bulk full sync end to end (DynamoDB Local, SQS on moto, the simulator's AQuA): every
/// account is mirrored from one export, and the snapshot order holds — an account another
/// trigger synced after the export's snapshot was taken keeps that newer copy, an account
/// edited after it (its callout still to come) holds the export's, until its change syncs it.
#[tokio::test]
async fn a_bulk_full_sync_mirrors_every_account_by_the_snapshot_order() {
    use zuora_sync::core::sync::{OnBusy, SyncRequest};
    use zuora_sync::model::{EpochMillis, SessionStatus, Trigger};
    let app = spawn_app().await;
    app.sim.generate_accounts(116, "K").unwrap();
    let zuora = client(&app);
    let accounts = all_accounts(&zuora).await.len() as u64;
    assert_eq!(accounts, 120, "116 generated and the 4 demo accounts");
    app.sim.reset_stats();
    let session_id = start_bulk_full_sync(&app).await;
    let session = || stored_session(&app, &session_id);
    // The submit, then the first poll: the job starts executing and takes its snapshot.
    run_until(&app, 30, || async {
        app.sim.stats().requests("aqua_job") >= 1
    })
    .await;
    let sync_now = |number: &'static str| {
        let app = &app;
        async move {
            let deadline = EpochMillis(app.services.sync.now().0 + 60_000);
            let req = SyncRequest::new(
                app.entity.clone(),
                Trigger::OnDemand,
                "t".to_string(),
                deadline,
            );
            let key = AccountKey::parse(number).unwrap();
            app.services
                .sync
                .sync_account(&req, &key, OnBusy::Coalesce)
                .await
                .unwrap();
        }
    };
    assert!(
        app.sim
            .set_field("K00000007", "name", "Synced while exporting".into())
    );
    sync_now("K00000007").await;
    assert!(
        app.sim
            .set_field("K00000008", "name", "Callout pending".into())
    );

    run_until(&app, 30, || async {
        session().await.status == SessionStatus::Done
    })
    .await;

    let s = session().await;
    assert_eq!((s.total, s.succeeded, s.failed), (accounts, accounts, 0));
    assert!(s.bulk);
    let stats = app.sim.stats();
    assert_eq!(stats.requests("aqua_submit"), 1);
    assert_eq!(stats.requests("v1_describe"), 1);
    // One read per account would be 120: only the account synced on demand (then read again
    // under its lock, its export copy being older) was read one by one.
    let per_account = stats.requests("v1_account") + stats.requests("object_query_account");
    assert_eq!(per_account, 2, "per-account reads: {:?}", stats.requests);
    assert_eq!(drifted(&app, &zuora).await, vec!["K00000008".to_string()]);
    sync_now("K00000008").await;
    assert_eq!(drifted(&app, &zuora).await, Vec::<String>::new());
}

/// An export larger than a worker's memory is fanned out in parts, one after another, each
/// reading the files again and keeping its own accounts: every account is still mirrored from
/// the one export, none read one by one, and the session adds up.
#[tokio::test]
async fn a_bulk_export_larger_than_the_workers_memory_is_fanned_out_in_parts() {
    use stack::app::{AppOptions, spawn_app_with};
    use zuora_sync::model::SessionStatus;
    let app = spawn_app_with(AppOptions {
        worker_memory_mb: Some(1),
        ..AppOptions::default()
    })
    .await;
    app.sim.generate_accounts(60, "Q").unwrap();
    let zuora = client(&app);
    app.sim.reset_stats();
    let session_id = start_bulk_full_sync(&app).await;
    let session = || stored_session(&app, &session_id);
    run_until(&app, 30, || async {
        session().await.status == SessionStatus::Done
    })
    .await;

    let s = session().await;
    assert_eq!((s.total, s.succeeded, s.failed), (64, 64, 0));
    let stats = app.sim.stats();
    assert_eq!(stats.requests("aqua_submit"), 1);
    // Seven files an export; each part reads them all.
    let files = stats.requests("aqua_file");
    assert!(files > 7 && files % 7 == 0, "file downloads: {files}");
    let per_account = stats.requests("v1_account") + stats.requests("object_query_account");
    assert_eq!(per_account, 0, "per-account reads: {:?}", stats.requests);
    assert_eq!(drifted(&app, &zuora).await, Vec::<String>::new());
}

/// A bulk job's accounts, their locks free, are committed several to a transaction, each
/// taking and giving back its lock in it: no acquire, and far fewer write requests than
/// accounts.
#[tokio::test]
async fn a_bulk_jobs_accounts_are_committed_several_to_a_transaction() {
    let app = spawn_app().await;
    app.sim.generate_accounts(46, "W").unwrap();
    let zuora = client(&app);
    let read_from = app.services.sync.now();
    let snapshots = export(&zuora).await;
    assert_eq!(snapshots.len(), 50);
    let req = zuora_sync::core::sync::SyncRequest::new(
        app.entity.clone(),
        zuora_sync::model::Trigger::Full,
        "one-write",
        read_from.plus_ms(60_000),
    );
    app.dynamo_counter.reset();
    let outcomes = app
        .services
        .sync
        .sync_exported_all(&req, snapshots.clone(), read_from)
        .await;

    assert_eq!(outcomes.len(), 50);
    for (account, outcome) in &outcomes {
        assert!(
            matches!(
                outcome,
                Ok(zuora_sync::core::sync::AccountOutcome::Synced(_))
            ),
            "{account}: {outcome:?}"
        );
    }
    let counts = app.dynamo_counter.snapshot();
    let transactions = counts
        .requests
        .get("TransactWriteItems")
        .copied()
        .unwrap_or(0);
    println!("50 accounts: {:?}", counts.requests);
    assert_eq!(counts.requests.get("UpdateItem"), None, "no lock acquired");
    assert!(
        transactions * 4 <= 50,
        "{transactions} transactions for 50 accounts"
    );
    for snapshot in &snapshots {
        let stored = app
            .services
            .store
            .load_account(&app.entity, &snapshot.account.id)
            .await
            .unwrap();
        assert!(
            plan_writes(snapshot, &stored).is_noop(),
            "{} is mirrored",
            snapshot.account.account_number
        );
    }
}
