//! The Salesforce push (docs/ARCHITECTURE.md, "The Salesforce push") end to end: DynamoDB
//! Local, moto, the Zuora simulator and the Salesforce simulator, through sync-api's routes,
//! the worker and the sweep. Each test ends with the Salesforce half of the convergence
//! oracle (`stack::salesforce::differences`).

use serde_json::{Value, json};
use stack::app::{AppOptions, TestApp, spawn_app_with};
use std::sync::Arc;
use zuora_sync::adapters::memory::ManualClock;
use zuora_sync::model::SalesforceSettings;
use zuora_sync::ports::Clock;

/// The demo tenant's accounts with a CRM account id (number, Zuora id, CRM id).
const LINKED: [(&str, &str, &str); 2] = [
    (
        "A00000001",
        "8a90a1b27c1f4e2d017c2b3c4d5e0001",
        "0015g00000XyZabAAB",
    ),
    (
        "A00000002",
        "8a90a1b27c1f4e2d017c2b3c4d5e0002",
        "0015g00000BetaBAAR",
    ),
];
const A2_SUBSCRIPTION: &str = "A-S00000301";
const ACCOUNT: &str = "Zuora__CustomerAccount__c";
const SUBSCRIPTION: &str = "Zuora__Subscription__c";
const FAILURES: &str = "/plugins/zuora/entities/default/salesforce/failures";
const STATUS: &str = "/plugins/zuora/entities/default/status";

struct Connected {
    app: TestApp,
    clock: Arc<ManualClock>,
}

/// The demo tenant with pushes turned on (plus `settings`) on a clock the test moves: the
/// settings change starts a full sync, whose commits mark every account, and the sweep
/// queues their pushes.
async fn connected(settings: Value) -> Connected {
    let now = zuora_sync::adapters::clock::SystemClock.now();
    let clock = Arc::new(ManualClock::new(now));
    let app = spawn_app_with(AppOptions {
        clock: clock.clone(),
        ..AppOptions::default()
    })
    .await;
    let org = Connected { app, clock };
    org.enable(settings).await;
    org
}

impl Connected {
    async fn enable(&self, settings: Value) {
        let mut salesforce = json!({"enabled": true});
        if let Value::Object(extra) = settings {
            salesforce.as_object_mut().unwrap().extend(extra);
        }
        let answer = self
            .app
            .update_settings(json!({ "salesforce": salesforce }))
            .await;
        assert!(
            answer["full_sync_session"].is_string(),
            "turning pushes on syncs every account: {answer}"
        );
        self.app.run_queued_jobs().await;
        self.drain().await;
    }

    /// Past the sweep's wait for a push's own job: the sweep queues what waits, and the
    /// worker runs it.
    async fn drain(&self) {
        self.clock.advance_ms(31_000);
        self.app.sweep("drain").await.expect("the sweep runs");
        self.app.run_queued_jobs().await;
    }

    async fn settings(&self) -> SalesforceSettings {
        let cache = self.app.services.sync.entity_settings();
        cache
            .get_fresh(&self.app.entity)
            .await
            .expect("settings")
            .settings
            .salesforce
    }

    /// Salesforce equals the mirror for every linked account, and holds nothing else.
    async fn assert_converged(&self) {
        let settings = self.settings().await;
        let ids: Vec<&str> = LINKED.iter().map(|(_, id, _)| *id).collect();
        let diff = stack::salesforce::differences(&self.app, &settings, &ids, true).await;
        assert!(
            diff.is_empty(),
            "Salesforce differs from the mirror: {diff:#?}"
        );
    }

    fn upserts(&self) -> u64 {
        self.app.salesforce.stats().calls("upsert")
    }

    fn account_record(&self, n: usize) -> Option<salesforce_sim::SfRecord> {
        self.app
            .salesforce
            .find(ACCOUNT, "Zuora__External_Id__c", LINKED[n].1)
    }

    async fn failures(&self) -> Vec<Value> {
        let (status, page) = self.app.admin("GET", FAILURES, None).await;
        assert_eq!(status, 200, "{page}");
        page["failures"].as_array().cloned().unwrap_or_default()
    }

    async fn salesforce_status(&self) -> Value {
        let (status, answer) = self.app.admin("GET", STATUS, None).await;
        assert_eq!(status, 200, "{answer}");
        answer["salesforce"].clone()
    }
}

#[tokio::test]
async fn turning_pushes_on_pushes_every_linked_account_then_only_what_changes() {
    let org = connected(json!({})).await;
    org.assert_converged().await;
    let account = org.account_record(0).expect("A00000001 is in Salesforce");
    assert_eq!(
        account.fields["Zuora__Account__c"].as_str().unwrap()[..15],
        LINKED[0].2[..15],
        "crmId"
    );
    assert_eq!(
        org.app.salesforce.records(ACCOUNT).len(),
        2,
        "accounts without a CRM id are not pushed"
    );

    // A change of one field: one call, for the one object type that changed.
    assert!(
        org.app
            .sim
            .set_field("A00000002", "name", json!("Beta Renamed"))
    );
    let record_id = org.account_record(1).unwrap().id;
    let before = org.upserts();
    let (status, answer) = org.app.sync_subscription(A2_SUBSCRIPTION).await;
    assert_eq!(status, 200, "{answer}");
    org.app.run_queued_jobs().await;
    assert_eq!(org.upserts() - before, 1);
    assert_eq!(
        org.account_record(1).unwrap().fields["Name"],
        "Beta Renamed"
    );
    assert_eq!(
        org.account_record(1).unwrap().id,
        record_id,
        "updated in place"
    );

    // The same data again: nothing is written, nothing queued, no call.
    let before = org.upserts();
    org.app.sync_subscription(A2_SUBSCRIPTION).await;
    assert_eq!(org.app.run_queued_jobs().await, 0, "no push was queued");
    assert_eq!(org.upserts(), before);

    // A subscription removed from Zuora: deleted in Salesforce.
    let deletes = org.app.salesforce.stats().calls("delete");
    assert!(org.app.sim.remove_subscription(A2_SUBSCRIPTION));
    let (status, answer) = org
        .app
        .admin(
            "POST",
            "/plugins/zuora/entities/default/sync/customers/A00000002",
            None,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    org.app.run_queued_jobs().await;
    assert!(org.app.salesforce.stats().calls("delete") > deletes);
    org.assert_converged().await;
    let events = org.app.events_for(LINKED[1].1).await;
    let push = events
        .iter()
        .find(|e| e.trigger.as_str() == "salesforce_push")
        .expect("every push leaves an event");
    assert!(push.salesforce.unwrap().deleted >= 1, "{push:?}");
}

/// An amendment makes a new subscription version: keyed by version id (Zuora 360's default)
/// a new record replaces the old one; keyed by number the one record is updated.
async fn amend(org: &Connected) {
    let mut account = org.app.sim.account("A00000002").expect("demo account");
    let sub = &mut account["subscriptions"][0];
    sub["id"] = json!("8a90a1b27c1f4e2d017c2b3c4d5e9106");
    sub["version"] = json!(2);
    sub["termEndDate"] = json!("2027-12-31");
    org.app.sim.upsert_account(account).expect("amended");
    let (status, answer) = org.app.sync_subscription(A2_SUBSCRIPTION).await;
    assert_eq!(status, 200, "{answer}");
    org.app.run_queued_jobs().await;
}

fn subscription_of(org: &Connected) -> Vec<salesforce_sim::SfRecord> {
    org.app
        .salesforce
        .records(SUBSCRIPTION)
        .into_iter()
        .filter(|r| r.fields["Zuora__SubscriptionNumber__c"] == A2_SUBSCRIPTION)
        .collect()
}

#[tokio::test]
async fn an_amendment_replaces_the_record_when_keyed_by_version() {
    let org = connected(json!({})).await;
    let v1 = subscription_of(&org);
    assert_eq!(v1.len(), 1);
    amend(&org).await;
    let v2 = subscription_of(&org);
    assert_eq!(v2.len(), 1, "the old version's record was deleted");
    assert_ne!(v2[0].id, v1[0].id, "a new record");
    assert_eq!(v2[0].fields["Zuora__Version__c"], 2);
    assert!(org.failures().await.is_empty(), "no duplicate number");
    org.assert_converged().await;
}

#[tokio::test]
async fn an_amendment_updates_the_one_record_when_keyed_by_number() {
    let org = connected(json!({"subscription_key": "number"})).await;
    let v1 = subscription_of(&org);
    assert_eq!(v1.len(), 1);
    amend(&org).await;
    let v2 = subscription_of(&org);
    assert_eq!(v2.len(), 1);
    assert_eq!(v2[0].id, v1[0].id, "the same record");
    assert_eq!(v2[0].fields["Zuora__Version__c"], 2);
    assert_eq!(v2[0].fields["Zuora__TermEndDate__c"], "2027-12-31");
    org.assert_converged().await;
}

#[tokio::test]
async fn a_bad_crm_id_lands_in_the_failure_list_and_the_rest_of_the_batch_goes_in() {
    let now = zuora_sync::adapters::clock::SystemClock.now();
    let clock = Arc::new(ManualClock::new(now));
    let app = spawn_app_with(AppOptions {
        clock: clock.clone(),
        ..AppOptions::default()
    })
    .await;
    app.salesforce.deny_account(LINKED[1].2);
    let org = Connected { app, clock };
    org.enable(json!({})).await;

    assert!(org.account_record(0).is_some(), "A00000001 went in");
    assert!(org.account_record(1).is_none(), "A00000002 was refused");
    assert!(
        subscription_of(&org).is_empty(),
        "its children wait for their parent"
    );
    let failures = org.failures().await;
    assert_eq!(failures.len(), 1, "{failures:#?}");
    let failure = &failures[0];
    assert_eq!(
        failure["code"],
        "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY"
    );
    assert_eq!(failure["account_id"], LINKED[1].1);
    assert_eq!(failure["object"], ACCOUNT);
    assert!(
        failure["message"]
            .as_str()
            .unwrap()
            .contains("insufficient access"),
        "{failure}"
    );
    // Searchable by account and by code.
    let (_, page) = org
        .app
        .admin("GET", &format!("{FAILURES}?account={}", LINKED[0].1), None)
        .await;
    assert_eq!(page["failures"].as_array().unwrap().len(), 0);
    let (_, page) = org
        .app
        .admin(
            "GET",
            &format!("{FAILURES}?code=INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY"),
            None,
        )
        .await;
    assert_eq!(page["failures"].as_array().unwrap().len(), 1);
    assert_eq!(org.salesforce_status().await["failures"], 1);

    // A retry sends it again (still refused: the CRM id is still wrong).
    let before = org.upserts();
    let (status, answer) = org
        .app
        .admin(
            "POST",
            &format!("{FAILURES}/retry"),
            Some(json!({"all": true})),
        )
        .await;
    assert_eq!(
        (status, answer["count"].clone()),
        (202, json!(1)),
        "{answer}"
    );
    org.app.run_queued_jobs().await;
    assert!(org.upserts() > before, "the retry called Salesforce");
    assert_eq!(org.failures().await.len(), 1);

    // An id not on the list is ignored.
    let (status, answer) = org
        .app
        .admin(
            "POST",
            &format!("{FAILURES}/retry"),
            Some(json!({"ids": ["nobody/Zuora__CustomerAccount__c/Zuora__External_Id__c/x"]})),
        )
        .await;
    assert_eq!(
        (status, answer["count"].clone()),
        (202, json!(0)),
        "{answer}"
    );

    // Dismissed: off the list.
    let id = org.failures().await[0]["id"].clone();
    let (status, answer) = org
        .app
        .admin(
            "POST",
            &format!("{FAILURES}/dismiss"),
            Some(json!({"ids": [id]})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert!(org.failures().await.is_empty());
}

#[tokio::test]
async fn row_locks_are_retried_and_an_expired_session_is_renewed_mid_push() {
    let org = connected(json!({})).await;
    org.app.salesforce.add_fault(
        salesforce_sim::Fault::new(
            "upsert",
            salesforce_sim::FaultKind::RecordError {
                object: ACCOUNT.into(),
                external_id: Some(LINKED[0].1.into()),
                code: "UNABLE_TO_LOCK_ROW".into(),
                message: None,
            },
        )
        .times(2),
    );
    org.app.salesforce.add_fault(
        salesforce_sim::Fault::new("upsert", salesforce_sim::FaultKind::SessionExpired).times(1),
    );
    let tokens = org.app.salesforce.stats().tokens_issued;
    assert!(
        org.app
            .sim
            .set_field("A00000001", "name", json!("Locked Co"))
    );
    let (status, answer) = org.app.sync_subscription("A-S00000271").await;
    assert_eq!(status, 200, "{answer}");
    org.app.run_queued_jobs().await;
    assert_eq!(org.account_record(0).unwrap().fields["Name"], "Locked Co");
    assert_eq!(
        org.app.salesforce.stats().tokens_issued,
        tokens + 1,
        "one re-authentication"
    );
    assert!(org.failures().await.is_empty());
    org.assert_converged().await;
}

#[tokio::test]
async fn the_daily_limit_mid_push_pauses_pushes_and_the_sweep_resumes_them() {
    let org = connected(json!({})).await;
    // The account call goes through; the subscription call hits the limit.
    org.app.salesforce.add_fault(
        salesforce_sim::Fault::new(
            "upsert",
            salesforce_sim::FaultKind::RequestLimit { long: false },
        )
        .matching(SUBSCRIPTION)
        .times(1),
    );
    assert!(
        org.app
            .sim
            .set_field("A00000002", "name", json!("Beta Limited"))
    );
    let mut account = org.app.sim.account("A00000002").unwrap();
    account["subscriptions"][0]["termEndDate"] = json!("2028-01-31");
    org.app.sim.upsert_account(account).unwrap();
    org.app.sync_subscription(A2_SUBSCRIPTION).await;
    org.app.run_queued_jobs().await;
    assert_eq!(
        org.account_record(1).unwrap().fields["Name"],
        "Beta Limited"
    );
    assert_ne!(
        subscription_of(&org)[0].fields["Zuora__TermEndDate__c"],
        "2028-01-31",
        "the call after the limit was not made"
    );
    let status = org.salesforce_status().await;
    assert_eq!(status["paused"], true, "{status}");
    assert!(
        status["status"]["pause_reason"]
            .as_str()
            .unwrap()
            .contains("TotalRequests"),
        "{status}"
    );
    assert_eq!(status["pending"], 1);

    // While paused the sweep queues nothing.
    let before = org.upserts();
    org.drain().await;
    assert_eq!(org.upserts(), before);
    // After the pause, it does, and Salesforce catches up.
    org.clock.advance_ms(16 * 60_000);
    org.drain().await;
    let status = org.salesforce_status().await;
    assert_eq!(status["paused"], false, "{status}");
    assert_eq!(status["pending"], 0);
    org.assert_converged().await;
}

/// Salesforce is down while a real-time session syncs changes: the pushes fail and wait; once
/// it is back the sweep pushes them, and Salesforce equals the mirror for every account.
#[tokio::test]
async fn a_salesforce_outage_during_a_realtime_session_only_delays_the_push() {
    let org = connected(json!({})).await;
    org.app
        .update_settings(json!({"sync_mode": "realtime", "max_events_before_sync": 1}))
        .await;
    org.app.run_queued_jobs().await;
    org.app.salesforce.add_fault(salesforce_sim::Fault::new(
        "*",
        salesforce_sim::FaultKind::Status { status: 503 },
    ));
    for (n, (number, _, _)) in LINKED.iter().enumerate() {
        assert!(
            org.app
                .sim
                .set_field(number, "name", json!(format!("Outage {n}")))
        );
        let (status, answer) = callout(&org.app, number, &format!("evt-outage-{n}")).await;
        assert_eq!(status, 200, "{answer}");
    }
    org.app.run_queued_jobs().await;
    let status = org.salesforce_status().await;
    // Both wait (and the two accounts without a CRM id the full sync marked, which the sweep
    // has not queued yet).
    assert_eq!(status["pending"], 4, "{status}");
    assert_ne!(org.account_record(0).unwrap().fields["Name"], "Outage 0");

    assert_eq!(
        status["paused"], true,
        "an outage pauses pushes a minute: {status}"
    );
    assert!(
        status["status"]["pause_reason"]
            .as_str()
            .unwrap()
            .contains("salesforce_unavailable"),
        "{status}"
    );

    org.app.salesforce.clear_faults();
    // The pause over, the sweep queues every waiting account.
    org.clock.advance_ms(61_000);
    org.drain().await;
    org.assert_converged().await;
    assert_eq!(org.account_record(0).unwrap().fields["Name"], "Outage 0");
    assert_eq!(org.salesforce_status().await["pending"], 0);
}

async fn callout(app: &TestApp, account: &str, event_id: &str) -> (u16, Value) {
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        stack::app::CALLOUT_USER,
        stack::app::CALLOUT_PASSWORD
    ));
    app.call_with_body(
        "POST",
        "/plugins/zuora/entities/default/callouts",
        Some(&format!("Basic {basic}")),
        Some(json!({"AccountNumber": account, "EventId": event_id})),
    )
    .await
}

/// An org without the Zuora 360 package holds the same objects as custom objects without its
/// namespace (`SALESFORCE_PACKAGE=none`): every object, field and reference is renamed.
#[tokio::test]
async fn an_org_without_the_package_gets_the_same_records_without_its_namespace() {
    let now = zuora_sync::adapters::clock::SystemClock.now();
    let clock = Arc::new(ManualClock::new(now));
    let app = spawn_app_with(AppOptions {
        clock: clock.clone(),
        salesforce_package: false,
        ..AppOptions::default()
    })
    .await;
    let org = Connected { app, clock };
    org.enable(json!({})).await;
    let sf = &org.app.salesforce;
    assert!(sf.records(ACCOUNT).is_empty());
    let account = sf
        .find("CustomerAccount__c", "External_Id__c", LINKED[0].1)
        .expect("the account, under the custom object's name");
    assert_eq!(account.fields["Name"], "Acme Robotics Ltd", "{account:?}");
    assert_eq!(
        account.fields["Account__c"].as_str().unwrap()[..15],
        LINKED[0].2[..15]
    );
    let sub = sf
        .find(
            "Subscription__c",
            "External_Id__c",
            "8a90a1b27c1f4e2d017c2b3c4d5e9006",
        )
        .expect("A00000002's subscription");
    let parent = sf
        .find("CustomerAccount__c", "External_Id__c", LINKED[1].1)
        .unwrap();
    assert_eq!(sub.fields["CustomerAccount__c"], parent.id.as_str());
    assert!(!sf.records("SubscriptionProductCharge__c").is_empty());
    assert!(org.failures().await.is_empty());
}

#[tokio::test]
async fn the_failure_routes_answer_404_without_a_connection_and_400_for_bad_bodies() {
    let app = spawn_app_with(AppOptions {
        other_entities: vec![("eu", zuora_sim::SimConfig::demo())],
        ..AppOptions::default()
    })
    .await;
    let (status, answer) = app
        .admin(
            "GET",
            "/plugins/zuora/entities/eu/salesforce/failures",
            None,
        )
        .await;
    assert_eq!(status, 404, "{answer}");
    assert_eq!(answer["code"], "salesforce_not_connected", "{answer}");
    let (status, answer) = app
        .admin(
            "POST",
            &format!("{FAILURES}/retry"),
            Some(json!({"ids": "x"})),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = app
        .admin("POST", &format!("{FAILURES}/retry"), Some(json!({})))
        .await;
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = app.admin("GET", &format!("{FAILURES}?limit=0"), None).await;
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = app
        .admin(
            "POST",
            &format!("{FAILURES}/retry"),
            Some(json!({"all": false})),
        )
        .await;
    assert_eq!(
        (status, answer["field"].clone()),
        (400, json!("all")),
        "{answer}"
    );
    // Empty filters are no filters.
    let (status, answer) = app
        .admin("GET", &format!("{FAILURES}?account=&code=&cursor="), None)
        .await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = app
        .admin(
            "POST",
            &format!("{FAILURES}/dismiss"),
            Some(json!({"ids": []})),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
}

/// The product's client signs in with the JWT bearer flow (an RS256 assertion for the
/// integration user), writes through the token's instance URL and is refused with a key the
/// connected app does not know.
#[tokio::test]
async fn the_jwt_bearer_flow_signs_in_and_a_foreign_key_is_refused() {
    use zuora_sync::adapters::salesforce::{SalesforceAuth, SalesforceClient, SalesforceConfig};
    use zuora_sync::model::SfObject;
    use zuora_sync::ports::{SalesforceApi, SalesforceError};
    let keys = concat!(env!("CARGO_MANIFEST_DIR"), "/../salesforce-sim/tests/keys");
    let read = |name: &str| std::fs::read_to_string(format!("{keys}/{name}")).expect("test key");
    let mut org = salesforce_sim::SimConfig::zuora360();
    org.jwt_public_key_pem = Some(read("public.pem"));
    let sim = salesforce_sim::spawn(org.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .expect("the simulator starts");
    let client = |key: &str| {
        SalesforceClient::new(
            SalesforceConfig {
                login_url: url::Url::parse(&sim.base_url).unwrap(),
                auth: SalesforceAuth::JwtBearer {
                    client_id: org.client_id.clone(),
                    username: org.username.clone(),
                    private_key_pem: zuora_sync::model::Secret::new(read(key)),
                    audience: "https://login.salesforce.com".into(),
                },
                zuora360_package: true,
                api_version: "62.0".into(),
                timeout: std::time::Duration::from_secs(5),
            },
            stack::app::local_outbound(),
            zuora_sync::adapters::outbound::client(&stack::app::local_outbound()),
        )
    };
    let record = json!({
        "attributes": {"type": ACCOUNT},
        "Zuora__External_Id__c": "jwt-1",
        "Name": "Signed In",
    });
    let results = client("private.pem")
        .upsert(
            SfObject::CustomerAccount,
            "Zuora__External_Id__c",
            std::slice::from_ref(&record),
        )
        .await
        .expect("signed in with the app's key");
    assert!(results[0].success && results[0].created, "{results:?}");
    assert_eq!(sim.stats().tokens_issued, 1);
    let refused = client("other-private.pem")
        .upsert(
            SfObject::CustomerAccount,
            "Zuora__External_Id__c",
            &[record],
        )
        .await
        .expect_err("a key the app does not know");
    assert!(
        matches!(refused, SalesforceError::AuthFailed(ref m) if m.contains("invalid_grant")),
        "{refused:?}"
    );
}
