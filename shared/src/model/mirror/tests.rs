use super::*;
use crate::model::*;

fn snapshot() -> AccountSnapshot {
    let sub = |n: &str, status: &str| Subscription {
        id: format!("id-{n}"),
        number: n.into(),
        account_id: None,
        account_number: None,
        status: SubscriptionStatus::parse(status),
        version: Some(1),
        term_type: None,
        contract_effective_date: None,
        subscription_start_date: None,
        subscription_end_date: None,
        term_start_date: None,
        term_end_date: None,
        auto_renew: None,
        currency: None,
        rate_plans: vec![],
    };
    AccountSnapshot {
        account: Account {
            id: "acc1".into(),
            account_number: "A1".into(),
            name: "Acme".into(),
            status: "Active".into(),
            currency: Some("USD".into()),
            crm_id: Some("001".into()),
            bill_cycle_day: Some(1),
            payment_term: None,
            default_payment_method_id: Some("pm1".into()),
            custom_fields: Default::default(),
        },
        bill_to: Some(Contact {
            id: "c1".into(),
            ..Default::default()
        }),
        sold_to: None,
        payment_methods: vec![],
        subscriptions: vec![sub("S1", "Active"), sub("S2", "Draft")],
    }
}

/// What the store would hold after applying a plan.
fn apply(stored: &mut StoredAccount, plan: &WritePlan) {
    for (sk, id, _) in &plan.new_ids {
        stored.id_map.insert(sk.clone(), id.clone());
    }
    for r in &plan.puts {
        stored.records.insert(r.sk.clone(), r.clone());
    }
    for sk in &plan.deletes {
        stored.records.remove(sk);
    }
}

#[test]
fn first_sync_creates_records_and_skips_drafts() {
    let plan = plan_writes(&snapshot(), &StoredAccount::default());
    let sks: Vec<&str> = plan.puts.iter().map(|r| r.sk.as_str()).collect();
    assert_eq!(sks, ["CUSTOMER", "ADDR#BILL_TO", "SUB#S1"]);
    assert_eq!(plan.new_ids.len(), 3);
    assert!(plan.customer_id.starts_with("cus_"));
    assert!(plan.subscription_ids["S1"].starts_with("sub_"));
    assert!(!plan.subscription_ids.contains_key("S2"));
}

#[test]
fn resync_of_unchanged_account_is_a_noop_with_same_ids() {
    let mut stored = StoredAccount::default();
    let first = plan_writes(&snapshot(), &stored);
    apply(&mut stored, &first);
    let second = plan_writes(&snapshot(), &stored);
    assert!(second.is_noop(), "{second:?}");
    assert_eq!(second.unchanged, 3);
    assert_eq!(second.customer_id, first.customer_id);
    assert_eq!(second.subscription_ids, first.subscription_ids);
}

#[test]
fn a_subscription_that_turns_draft_leaves_and_returns_with_its_id() {
    let mut stored = StoredAccount::default();
    let first = plan_writes(&snapshot(), &stored);
    apply(&mut stored, &first);

    let mut drafted = snapshot();
    drafted.subscriptions[0].status = SubscriptionStatus::Draft;
    let removal = plan_writes(&drafted, &stored);
    assert_eq!(removal.deletes, ["SUB#S1"]);
    assert!(removal.puts.is_empty());
    apply(&mut stored, &removal);

    let back = plan_writes(&snapshot(), &stored);
    assert_eq!(back.subscription_ids["S1"], first.subscription_ids["S1"]);
    assert!(back.new_ids.is_empty());
}

#[test]
fn a_changed_field_rewrites_only_that_record() {
    let mut stored = StoredAccount::default();
    let first = plan_writes(&snapshot(), &stored);
    apply(&mut stored, &first);
    let mut changed = snapshot();
    changed.account.crm_id = Some("002".into());
    let plan = plan_writes(&changed, &stored);
    assert_eq!(plan.puts.len(), 1);
    assert_eq!(plan.puts[0].attrs["crm_id"], "002");
    assert_eq!(plan.unchanged, 2);
}
