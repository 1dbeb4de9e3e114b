//! The bulk export (AQuA) against the Zuora simulator: one job, polled until its files are
//! ready, assembles for every account the snapshot the per-call reads give — the mirror's
//! records planned from one equal those planned from the other.

use stack::app::{TestApp, spawn_app};
use std::collections::BTreeMap;
use zuora_sync::adapters::zuora::ZuoraClient;
use zuora_sync::model::{
    AccountKey, AccountSnapshot, CallContext, ExportFile, ExportState, StoredAccount, WritePlan,
    plan_writes,
};
use zuora_sync::ports::ZuoraApi;

fn client(app: &TestApp) -> ZuoraClient {
    ZuoraClient::new(app.config.entities[0].zuora.clone()).unwrap()
}

async fn export(zuora: &ZuoraClient) -> Vec<AccountSnapshot> {
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
    zuora.export_snapshots(&files, &ctx).await.unwrap()
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
