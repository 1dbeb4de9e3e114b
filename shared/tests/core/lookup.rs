//! Hot sync Option B in the worker: the account whose custom field holds the login's claim
//! value is found by an escaped ZOQL query, then synced; none or several are skipped.

use crate::support::*;
use zuora_sync::adapters::memory::{ACCOUNT_SNAPSHOT, QUERY};
use zuora_sync::core::sync::{AccountOutcome, LookupOutcome};
use zuora_sync::model::Trigger;

fn with_login(n: u32, login: &str) -> zuora_sync::model::AccountSnapshot {
    let mut a = account(n);
    a.account
        .custom_fields
        .insert("Login__c".into(), login.into());
    a
}

#[tokio::test(start_paused = true)]
async fn a_lookup_syncs_the_one_matching_account_and_skips_none_or_several() {
    let env = Env::new();
    // A value that would end an unescaped literal matches only itself.
    env.zuora.put_account(with_login(1, "o'brien\\x"));
    env.zuora.put_account(with_login(2, "shared"));
    env.zuora.put_account(with_login(3, "shared"));
    let req = env.req(Trigger::HotSync);

    let found = env
        .sync
        .resolve_and_sync(&req, "Login__c", "o'brien\\x")
        .await
        .unwrap();
    let LookupOutcome::Ran(AccountOutcome::Synced(report)) = found else {
        panic!("one match: {found:?}");
    };
    assert_eq!(report.account_id, account_id(1));

    let several = env.sync.resolve_and_sync(&req, "Login__c", "shared").await;
    assert!(
        matches!(several.unwrap(), LookupOutcome::Skipped { ref code, .. } if code == "ambiguous")
    );
    let none = env.sync.resolve_and_sync(&req, "Login__c", "o'brien").await;
    assert!(matches!(none.unwrap(), LookupOutcome::Skipped { ref code, .. } if code == "no_match"));
    assert_eq!(env.zuora.calls_to(QUERY), 3);
    assert_eq!(
        env.zuora.calls_to(ACCOUNT_SNAPSHOT),
        1,
        "only the match is read"
    );

    // A field that is not a custom field name never reaches Zuora.
    let refused = env
        .sync
        .resolve_and_sync(&req, "Name or 1=1", "x")
        .await
        .unwrap_err();
    assert_eq!(refused.error.code(), "invalid_lookup");
    assert_eq!(env.zuora.calls_to(QUERY), 3);
}
