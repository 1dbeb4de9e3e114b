use super::*;
use crate::model::*;

fn charge(id: &str) -> RatePlanCharge {
    RatePlanCharge {
        id: id.into(),
        number: Some(format!("C-{id}")),
        name: Some("Monthly".into()),
        charge_type: Some("Recurring".into()),
        model: Some("FlatFee".into()),
        price: Some(Amount("8.333333".into())),
        quantity: None,
        currency: Some("USD".into()),
        billing_period: Some("Month".into()),
        effective_start_date: Some("2026-01-01".into()),
        effective_end_date: None,
        charged_through_date: None,
        mrr: Some(Amount("8.333333".into())),
        tcv: None,
    }
}

fn subscription(id: &str, number: &str, version: u32) -> Subscription {
    Subscription {
        id: id.into(),
        number: number.into(),
        account_id: None,
        account_number: None,
        status: SubscriptionStatus::Active,
        version: Some(version),
        term_type: Some("TERMED".into()),
        contract_effective_date: None,
        subscription_start_date: Some("2026-01-01".into()),
        subscription_end_date: None,
        term_start_date: None,
        term_end_date: None,
        auto_renew: Some(true),
        currency: None,
        rate_plans: vec![RatePlan {
            id: format!("rp-{id}"),
            name: Some("Gold".into()),
            product_id: None,
            product_name: Some("Gold plan".into()),
            product_sku: Some("SKU-1".into()),
            product_rate_plan_id: Some("prp1".into()),
            charges: vec![charge(&format!("ch-{id}"))],
        }],
    }
}

fn snapshot(crm_id: Option<&str>, subs: Vec<Subscription>) -> AccountSnapshot {
    AccountSnapshot {
        account: Account {
            id: "acc1".into(),
            account_number: "A1".into(),
            name: "Acme".into(),
            status: "Active".into(),
            currency: Some("USD".into()),
            crm_id: crm_id.map(str::to_string),
            bill_cycle_day: Some(1),
            payment_term: None,
            default_payment_method_id: Some("pm1".into()),
            custom_fields: Default::default(),
        },
        bill_to: Some(Contact {
            id: "c1".into(),
            first_name: Some("Ada".into()),
            last_name: Some("Lovelace".into()),
            ..Default::default()
        }),
        sold_to: None,
        payment_methods: vec![PaymentMethod {
            id: "pm1".into(),
            method_type: "CreditCard".into(),
            is_default: true,
            status: Some("Active".into()),
            card_type: Some("Visa".into()),
            masked_number: Some("************1111".into()),
            expiration_month: Some(3),
            expiration_year: Some(2030),
            bank_name: None,
            account_holder_name: Some("Ada".into()),
        }],
        subscriptions: subs,
    }
}

fn stored(snapshot: &AccountSnapshot) -> StoredAccount {
    let plan = plan_writes(snapshot, &StoredAccount::default());
    StoredAccount {
        records: plan.puts.into_iter().map(|r| (r.sk.clone(), r)).collect(),
        id_map: Default::default(),
    }
}

fn pushed_all(records: &[SfRecord]) -> PushedRecords {
    records
        .iter()
        .map(|r| {
            let p = Pushed {
                hash: r.hash.clone(),
                sf_id: Some(format!("sf-{}", r.key)),
                failed: false,
            };
            (r.state_key(), p)
        })
        .collect()
}

#[test]
fn an_account_maps_to_every_zuora_360_object_parents_first() {
    let snap = snapshot(
        Some("0015g00000XyZabAAB"),
        vec![subscription("s1", "A-S1", 1)],
    );
    let records = desired_records(&stored(&snap), &SalesforceSettings::default());
    let objects: Vec<SfObject> = records.iter().map(|r| r.object).collect();
    assert_eq!(
        objects,
        [
            SfObject::CustomerAccount,
            SfObject::Subscription,
            SfObject::SubscriptionRatePlan,
            SfObject::SubscriptionProductCharge,
            SfObject::PaymentMethod
        ]
    );
    let account = &records[0].fields;
    assert_eq!(account["Zuora__External_Id__c"], "acc1");
    assert_eq!(account["Zuora__Account__c"], "0015g00000XyZabAAB");
    assert_eq!(account["Zuora__BillToName__c"], "Ada Lovelace");
    assert_eq!(account["Zuora__SoldToName__c"], Value::Null);
    assert_eq!(account["Zuora__CreditCard_Expiration__c"], "03/2030");
    let sub = &records[1].fields;
    assert_eq!(
        sub["Zuora__CustomerAccount__r"],
        json!({"Zuora__External_Id__c": "acc1"})
    );
    assert_eq!(sub["Zuora__SubscriptionNumber__c"], "A-S1");
    let charge = &records[3];
    assert_eq!(charge.fields["Zuora__Price__c"], json!(8.333333));
    assert_eq!(
        charge.fields["Zuora__SubscriptionRatePlan__r"],
        json!({"Zuora__External_Id__c": "rp-s1"})
    );
    assert_eq!(
        charge.parent.as_deref(),
        Some("Zuora__SubscriptionRatePlan__c/Zuora__External_Id__c/rp-s1"),
        "a charge waits for its rate plan"
    );
    let wire = records[4].wire();
    assert_eq!(wire["attributes"]["type"], "Zuora__PaymentMethod__c");
    assert_eq!(
        wire["Zuora__BillingAccount__r"]["Zuora__External_Id__c"],
        "acc1"
    );
}

#[test]
fn an_account_without_a_crm_id_is_not_pushed() {
    let snap = snapshot(None, vec![subscription("s1", "A-S1", 1)]);
    assert!(desired_records(&stored(&snap), &SalesforceSettings::default()).is_empty());
}

#[test]
fn an_amendment_replaces_the_record_by_version_and_updates_it_by_number() {
    let crm = Some("0015g00000XyZabAAB");
    let by_version = SalesforceSettings::default();
    let by_number = SalesforceSettings {
        subscription_key: SubscriptionKeying::Number,
        ..SalesforceSettings::default()
    };
    for (settings, deleted) in [(by_version, 3), (by_number, 2)] {
        let v1 = desired_records(
            &stored(&snapshot(crm, vec![subscription("s1", "A-S1", 1)])),
            &settings,
        );
        let pushed = pushed_all(&v1);
        let v2 = desired_records(
            &stored(&snapshot(crm, vec![subscription("s2", "A-S1", 2)])),
            &settings,
        );
        let plan = plan_push(v2, &pushed, false);
        // By version: a new subscription, rate plan and charge; the old three go, children
        // first. By number: the subscription is updated in place; its new rate plan and charge
        // replace the old ones.
        assert_eq!(plan.upserts.len(), 3, "{settings:?}");
        assert_eq!(plan.deletes.len(), deleted, "{settings:?}");
        let first_deleted = parse_state_key(&plan.deletes[0].0).unwrap().0;
        assert_eq!(first_deleted, SfObject::SubscriptionProductCharge);
        assert!(plan.deletes.iter().all(|(_, id)| id.is_some()));
    }
}

#[test]
fn unchanged_records_are_not_sent_and_refused_ones_wait_for_a_change_or_a_retry() {
    let snap = snapshot(
        Some("0015g00000XyZabAAB"),
        vec![subscription("s1", "A-S1", 1)],
    );
    let records = desired_records(&stored(&snap), &SalesforceSettings::default());
    let mut pushed = pushed_all(&records);
    let plan = plan_push(records.clone(), &pushed, false);
    assert!(plan.upserts.is_empty() && plan.deletes.is_empty());
    assert_eq!(plan.unchanged, 5);

    pushed.get_mut(&records[0].state_key()).unwrap().failed = true;
    assert!(
        plan_push(records.clone(), &pushed, false)
            .upserts
            .is_empty()
    );
    assert_eq!(plan_push(records.clone(), &pushed, true).upserts.len(), 1);
    pushed.get_mut(&records[0].state_key()).unwrap().hash = "other".into();
    assert_eq!(plan_push(records, &pushed, false).upserts.len(), 1);
}

#[test]
fn a_child_object_needs_its_parent() {
    let settings = SalesforceSettings {
        objects: vec![
            SfObject::Subscription,
            SfObject::CustomerAccount,
            SfObject::SubscriptionProductCharge,
        ],
        ..SalesforceSettings::default()
    };
    assert_eq!(settings.orphan(), None);
    let settings = SalesforceSettings {
        objects: vec![SfObject::SubscriptionRatePlan, SfObject::CustomerAccount],
        ..SalesforceSettings::default()
    };
    assert_eq!(settings.orphan(), Some(SfObject::SubscriptionRatePlan));
}

#[test]
fn the_limit_header_is_read_and_compared_with_the_share() {
    let usage = ApiUsage::parse("api-usage=50018/100000; api-bursts=1/750").unwrap();
    assert_eq!(
        usage,
        ApiUsage {
            used: 50018,
            max: 100000
        }
    );
    assert!(usage.at_share(50));
    assert!(!usage.at_share(51));
    assert_eq!(ApiUsage::parse("per-app-api-usage=17/250(appName=x)"), None);
    assert_eq!(ApiUsage::parse("api-usage=x/1"), None);
}

#[test]
fn a_charge_waits_for_its_rate_plan_when_rate_plans_are_written() {
    let snap = snapshot(Some("001000000000001"), vec![subscription("s1", "S-1", 1)]);
    let records = desired_records(&stored(&snap), &SalesforceSettings::default());
    let charge = records
        .iter()
        .find(|r| r.object == SfObject::SubscriptionProductCharge)
        .unwrap();
    assert_eq!(
        charge.parent.as_deref(),
        Some("Zuora__SubscriptionRatePlan__c/Zuora__External_Id__c/rp-s1")
    );
    // Without rate plans, the subscription.
    let settings = SalesforceSettings {
        objects: vec![
            SfObject::CustomerAccount,
            SfObject::Subscription,
            SfObject::SubscriptionProductCharge,
        ],
        ..SalesforceSettings::default()
    };
    let records = desired_records(&stored(&snap), &settings);
    let charge = records
        .iter()
        .find(|r| r.object == SfObject::SubscriptionProductCharge)
        .unwrap();
    assert_eq!(
        charge.parent.as_deref(),
        Some("Zuora__Subscription__c/Zuora__External_Id__c/s1")
    );
}

#[test]
fn a_mirror_record_that_does_not_parse_is_named() {
    let snap = snapshot(Some("001000000000001"), vec![subscription("s1", "S-1", 1)]);
    let mut account = stored(&snap);
    assert_eq!(unreadable_record(&account), None);
    let sk = account
        .records
        .iter()
        .find(|(_, r)| r.kind == RecordKind::Subscription)
        .map(|(sk, _)| sk.clone())
        .unwrap();
    account.records.get_mut(&sk).unwrap().data = r#"{"id": 7}"#.into();
    assert_eq!(unreadable_record(&account), Some(sk));
}
