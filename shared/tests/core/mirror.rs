//! The diff decides what a sync writes: an unchanged account writes only its event, a changed
//! field rewrites exactly its record, a subscription that stops being mirrored is removed.

use crate::support::*;
use zuora_sync::adapters::memory::MirrorWrite;
use zuora_sync::core::sync::AccountOutcome;
use zuora_sync::model::{EventStatus, SubscriptionStatus, Trigger};
use zuora_sync::ports::MirrorStore;

#[tokio::test(start_paused = true)]
async fn an_unchanged_resync_writes_no_record_only_its_event() {
    let env = Env::new();
    env.zuora.put_account(account(1));
    let key = key(&account_id(1));

    let first = env.sync_now(&key).await;
    assert_eq!(first.written as usize, RECORDS_PER_ACCOUNT);
    let after_first = env.store.mirror_writes();
    assert_eq!(after_first.len(), RECORDS_PER_ACCOUNT);

    let second = env.sync_now(&key).await;
    assert_eq!((second.written, second.removed), (0, 0));
    assert_eq!(second.unchanged as usize, RECORDS_PER_ACCOUNT);
    assert_eq!(second.customer_id, first.customer_id, "ids are stable");
    assert_eq!(second.subscription_ids, first.subscription_ids);
    assert_eq!(
        env.store.mirror_writes(),
        after_first,
        "no record rewritten"
    );

    let events = env.store.events(&env.entity);
    assert_eq!(events.len(), 2);
    let latest = &events[0];
    assert_eq!(latest.id, second.event_id);
    assert_eq!(latest.status, EventStatus::Succeeded);
    assert_eq!(
        (latest.written, latest.unchanged as usize),
        (0, RECORDS_PER_ACCOUNT)
    );
}

#[tokio::test(start_paused = true)]
async fn a_changed_field_rewrites_exactly_that_record() {
    let env = Env::new();
    env.zuora.put_account(account(1));
    let key = key(&account_id(1));
    env.sync_now(&key).await;
    let before = env.store.mirror_writes().len();

    env.zuora.update_account(&account_id(1), |a| {
        a.payment_methods[0].expiration_year = Some(2031);
    });
    let report = env.sync_now(&key).await;

    assert_eq!(report.written, 1);
    assert_eq!(report.unchanged as usize, RECORDS_PER_ACCOUNT - 1);
    let writes = env.store.mirror_writes();
    assert_eq!(
        writes[before..],
        [MirrorWrite {
            entity: env.entity.clone(),
            account_id: account_id(1),
            sk: "PM#pm-1".into(),
            removed: false,
        }]
    );
    let stored = env
        .store
        .load_account(&env.entity, &account_id(1))
        .await
        .unwrap();
    assert!(stored.records["PM#pm-1"].data.contains("2031"));
}

#[tokio::test(start_paused = true)]
async fn a_subscription_turning_draft_is_removed_alone_and_keeps_its_id() {
    let env = Env::new();
    env.zuora.put_account(account(1));
    let key = key(&account_id(1));
    let first = env.sync_now(&key).await;
    let number = subscription_number(1);
    let local_id = first.subscription_ids[&number].clone();
    let before = env.store.mirror_writes().len();

    env.zuora.update_account(&account_id(1), |a| {
        a.subscriptions[0].status = SubscriptionStatus::Draft;
    });
    let removal = env.sync_now(&key).await;
    assert_eq!((removal.written, removal.removed), (0, 1));
    assert_eq!(
        env.store.mirror_writes()[before..],
        [MirrorWrite {
            entity: env.entity.clone(),
            account_id: account_id(1),
            sk: format!("SUB#{number}"),
            removed: true,
        }]
    );
    // The local id still leads to the account, and comes back with the subscription.
    let found = env
        .store
        .find_local_id(&env.entity, &local_id)
        .await
        .unwrap();
    assert_eq!(found.map(|(a, _)| a), Some(account_id(1)));
    env.zuora.update_account(&account_id(1), |a| {
        a.subscriptions[0].status = SubscriptionStatus::Active;
    });
    let back = env.sync_now(&key).await;
    assert_eq!(back.subscription_ids[&number], local_id);
}

#[tokio::test(start_paused = true)]
async fn an_account_number_resolves_once_synced() {
    let env = Env::new();
    env.zuora.put_account(account(7));
    let number = account_number(7);
    assert_eq!(
        env.store
            .resolve_account(&env.entity, &number)
            .await
            .unwrap(),
        None
    );

    let report = env.sync_now(&key(&number)).await;
    assert_eq!(report.account_id, account_id(7));
    assert_eq!(
        env.store
            .resolve_account(&env.entity, &number)
            .await
            .unwrap(),
        Some(account_id(7))
    );
    // The next sync by number needs no Zuora read to find the lock.
    let calls = env.zuora.calls();
    env.sync_now(&key(&number)).await;
    assert_eq!(env.zuora.calls(), calls + 1);
}

#[tokio::test(start_paused = true)]
async fn the_catalog_mirrors_products_and_removes_those_gone() {
    use zuora_sync::core::sync::{AccountOutcome, OnBusy};
    use zuora_sync::model::{CATALOG_ACCOUNT, Product, Trigger};

    let env = Env::new();
    let product = |id: &str, name: &str| Product {
        id: id.into(),
        sku: Some(format!("SKU-{id}")),
        name: Some(name.into()),
        description: None,
        category: None,
        effective_start_date: None,
        effective_end_date: None,
        product_rate_plans: vec![],
    };
    env.zuora
        .set_catalog(vec![product("p1", "Basic"), product("p2", "Pro")]);
    let req = env.req(Trigger::OnDemand);
    let first = env.sync.sync_catalog(&req, OnBusy::Coalesce).await.unwrap();
    assert!(matches!(first, AccountOutcome::Synced(ref r) if r.written == 2));

    env.zuora.set_catalog(vec![product("p2", "Pro")]);
    let AccountOutcome::Synced(second) =
        env.sync.sync_catalog(&req, OnBusy::Coalesce).await.unwrap()
    else {
        panic!("synced");
    };
    assert_eq!(
        (second.written, second.removed, second.unchanged),
        (0, 1, 1)
    );
    let stored = env.store.stored_account(&env.entity, CATALOG_ACCOUNT);
    let products: Vec<&String> = stored.records.keys().collect();
    assert_eq!(products, ["PRODUCT#p2"]);
}

/// One canonical record whatever path fetched it: the account sync (subscriptions inside the
/// account's answer) and the manual sync (each subscription read on its own, which names its
/// account) store the same bytes, so alternating them rewrites nothing.
#[tokio::test(start_paused = true)]
async fn every_sync_path_stores_the_same_records() {
    let env = Env::new();
    env.zuora.put_account(account(1));
    let by_account = env.sync_now(&key(&account_id(1))).await;
    assert_eq!(by_account.written as usize, RECORDS_PER_ACCOUNT);
    let stored = env.store.mirror_writes();

    let manual = env
        .sync
        .sync_customer(&env.req(Trigger::Manual), &key(&account_number(1)))
        .await
        .expect("the manual sync runs");
    let AccountOutcome::Synced(manual) = manual else {
        panic!("expected a sync, got {manual:?}");
    };
    assert_eq!(
        (manual.written, manual.removed),
        (0, 0),
        "nothing rewritten"
    );
    assert_eq!(env.store.mirror_writes(), stored);

    let again = env.sync_now(&key(&account_id(1))).await;
    assert_eq!((again.written, again.removed), (0, 0));
}

/// The event lifecycle is true: a queued sync's event goes queued → running (from the moment
/// its lock is won) → succeeded, so `status=running` finds the syncs in progress.
#[tokio::test(start_paused = true)]
async fn an_event_reads_running_while_its_sync_runs() {
    use std::time::Duration;
    use zuora_sync::model::JobTarget;
    use zuora_sync::ports::EventStore;
    let env = Env::new();
    env.zuora.put_account(account(1));
    env.zuora.set_delay(Duration::from_secs(5));
    let target = JobTarget::Account {
        account: key(&account_id(1)),
    };
    env.sync
        .enqueue(&env.req(Trigger::OnDemand), &target, None)
        .await
        .unwrap();
    let job = env.queue.receive().expect("the job");
    let event_id = job
        .job
        .event_id
        .clone()
        .expect("a queued job names its event");
    let status = || async {
        let event = env.store.get_event(&env.entity, &event_id).await.unwrap();
        event.expect("the event").status
    };
    assert_eq!(status().await, EventStatus::Queued);
    let run = env.run(&job);
    let watch = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        status().await
    };
    let (ran, during) = tokio::join!(run, watch);
    ran.unwrap();
    assert_eq!(during, EventStatus::Running);
    assert_eq!(status().await, EventStatus::Succeeded);
}

/// Account 1 with a second subscription: five records.
fn account_with_two_subscriptions() -> zuora_sync::model::AccountSnapshot {
    let mut a = account(1);
    let mut second = subscription(1);
    second.id = format!("{:032x}", 0x6000_0001u64);
    second.number = "A-S90000001".into();
    a.subscriptions.push(second);
    a
}

/// M9: a `200` answer missing the account's subscriptions (a permission change, a misrouted
/// entity) must not empty the mirror: removing most of them takes a second read that agrees.
#[tokio::test(start_paused = true)]
async fn a_partial_answer_never_empties_the_mirror() {
    let env = Env::new();
    env.zuora.put_account(account_with_two_subscriptions());
    let key = key(&account_id(1));
    env.sync_now(&key).await;
    let reads = env
        .zuora
        .calls_to(zuora_sync::adapters::memory::ACCOUNT_SNAPSHOT);

    env.zuora.answer_without_subscriptions(1);
    let report = env.sync_now(&key).await;
    assert_eq!((report.written, report.removed), (0, 0), "nothing removed");
    assert_eq!(
        env.zuora
            .calls_to(zuora_sync::adapters::memory::ACCOUNT_SNAPSHOT),
        reads + 2,
        "read again before removing"
    );

    // When Zuora really dropped them, the second read agrees and they go.
    env.zuora
        .update_account(&account_id(1), |a| a.subscriptions.clear());
    let report = env.sync_now(&key).await;
    assert_eq!(report.removed, 2);
}

/// M9: an account Zuora deleted leaves the mirror (confirmed by a second read), instead of
/// failing every sync and staying stale forever; its local ids are kept for its return.
#[tokio::test(start_paused = true)]
async fn an_account_deleted_in_zuora_leaves_the_mirror() {
    use zuora_sync::ports::EventStore;
    let env = Env::new();
    env.zuora.put_account(account(1));
    let key = key(&account_id(1));
    let first = env.sync_now(&key).await;
    env.zuora.remove_account(&account_id(1));

    let gone = env.sync_now(&key).await;
    assert_eq!(gone.removed as usize, RECORDS_PER_ACCOUNT);
    let stored = env.store.stored_account(&env.entity, &account_id(1));
    assert!(stored.records.is_empty());
    let event = env.store.get_event(&env.entity, &gone.event_id).await;
    let event = event.unwrap().unwrap();
    assert_eq!(event.status, EventStatus::Succeeded);
    assert!(event.reason.unwrap().contains("deleted in Zuora"));

    env.zuora.put_account(account(1));
    let back = env.sync_now(&key).await;
    assert_eq!(
        back.customer_id, first.customer_id,
        "the same ids when it returns"
    );
}
