//! Event log search: every filter, time ranges, and cursor pagination across pages, all on
//! DynamoDB Local's indexes.

use serde_json::Value;
use stack::app::{TestApp, spawn_app};
use zuora_sync::model::EpochMillis;
use zuora_sync::model::{EventStatus, SyncEvent, Trigger};
use zuora_sync::ports::EventStore;

const EVENTS: &str = "/plugins/zuora/entities/default/events";
const T0: i64 = 1_790_000_000_000;

async fn search(app: &TestApp, query: &str) -> (u16, Value) {
    app.admin("GET", &format!("{EVENTS}?{query}"), None).await
}

fn ids(body: &Value) -> Vec<String> {
    body["events"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

/// 30 events a minute apart: triggers and statuses rotate, accounts alternate.
async fn seed(app: &TestApp) -> Vec<SyncEvent> {
    let triggers = [Trigger::Api, Trigger::OnDemand, Trigger::Manual];
    let statuses = [EventStatus::Succeeded, EventStatus::Failed];
    let mut out = Vec::new();
    for i in 0..30i64 {
        let mut e = SyncEvent::new(
            format!("evt-{i:03}"),
            app.entity.clone(),
            triggers[i as usize % 3],
            statuses[i as usize % 2],
            "seed".into(),
            EpochMillis(T0 + i * 60_000),
        );
        e.account_id = Some(if i % 2 == 0 { "acct-even" } else { "acct-odd" }.into());
        e.subscription = (i % 5 == 0).then(|| "A-S00000999".to_string());
        e.customer_id = (i % 3 == 0).then(|| "cus_seed".to_string());
        app.services.store.put_event(&e).await.unwrap();
        out.push(e);
    }
    out
}

/// What a filter should return, newest first.
fn expected(events: &[SyncEvent], keep: impl Fn(&SyncEvent) -> bool) -> Vec<String> {
    let mut ids: Vec<(i64, String)> = events
        .iter()
        .filter(|e| keep(e))
        .map(|e| (e.created_at.0, e.id.clone()))
        .collect();
    ids.sort();
    ids.reverse();
    ids.into_iter().map(|(_, id)| id).collect()
}

#[tokio::test]
async fn every_filter_returns_exactly_its_events_newest_first() {
    let app = spawn_app().await;
    let events = seed(&app).await;
    let at = |i: i64| EpochMillis(T0 + i * 60_000).to_rfc3339();
    let cases: Vec<(String, Vec<String>)> = vec![
        (
            "account=acct-even".into(),
            expected(&events, |e| e.account_id.as_deref() == Some("acct-even")),
        ),
        (
            "subscription=A-S00000999".into(),
            expected(&events, |e| e.subscription.is_some()),
        ),
        (
            "customer=cus_seed".into(),
            expected(&events, |e| e.customer_id.is_some()),
        ),
        (
            "trigger=manual".into(),
            expected(&events, |e| e.trigger == Trigger::Manual),
        ),
        (
            "status=failed".into(),
            expected(&events, |e| e.status == EventStatus::Failed),
        ),
        (
            format!("from={}&to={}", at(10), at(14)),
            expected(&events, |e| {
                (10..=14).contains(&((e.created_at.0 - T0) / 60_000))
            }),
        ),
        (
            format!("account=acct-odd&status=failed&trigger=api&from={}", at(3)),
            expected(&events, |e| {
                e.account_id.as_deref() == Some("acct-odd")
                    && e.status == EventStatus::Failed
                    && e.trigger == Trigger::Api
                    && e.created_at.0 >= T0 + 3 * 60_000
            }),
        ),
        ("".into(), expected(&events, |_| true)),
    ];
    for (query, want) in cases {
        let (status, body) = search(&app, &format!("{query}&limit=100")).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert!(!want.is_empty(), "{query} matches something");
        assert_eq!(ids(&body), want, "{query}");
        assert!(body["next_cursor"].is_null(), "{query}");
    }
}

#[tokio::test]
async fn cursors_page_through_without_gaps_or_repeats() {
    let app = spawn_app().await;
    let events = seed(&app).await;
    for (query, want) in [
        ("limit=7", expected(&events, |_| true)),
        // A filter the index does not cover: pages are filled across index reads.
        (
            "account=acct-even&trigger=api&limit=2",
            expected(&events, |e| {
                e.account_id.as_deref() == Some("acct-even") && e.trigger == Trigger::Api
            }),
        ),
    ] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..20 {
            let q = match &cursor {
                Some(c) => format!("{query}&cursor={c}"),
                None => query.to_string(),
            };
            let (status, body) = search(&app, &q).await;
            assert_eq!(status, 200, "{body}");
            let page = ids(&body);
            assert!(page.len() <= 7);
            seen.extend(page);
            cursor = body["next_cursor"].as_str().map(str::to_string);
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(seen, want, "{query}");
    }
}

#[tokio::test]
async fn bad_parameters_and_foreign_cursors_are_400() {
    let app = spawn_app().await;
    seed(&app).await;
    let (_, first) = search(&app, "account=acct-even&limit=2").await;
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    for (query, field) in [
        ("trigger=sometimes", "trigger"),
        ("status=done", "status"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("from=yesterday", "from"),
        ("colour=red", "colour"),
        ("account=a%27b", "account"),
        ("cursor=not-a-cursor", "cursor"),
    ] {
        let (status, body) = search(&app, query).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["field"], field, "{query}");
    }
    let (status, body) = search(&app, "trigger=bogus").await;
    assert_eq!(status, 400);
    assert!(
        body["allowed"]
            .as_array()
            .unwrap()
            .contains(&"hot_sync".into())
    );
    // A cursor is only good for the search that issued it.
    let (status, body) = search(&app, &format!("account=acct-odd&cursor={cursor}")).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("cursor")),
        "{body}"
    );
}

#[tokio::test]
async fn real_syncs_are_found_by_account_number_subscription_and_customer() {
    let app = spawn_app().await;
    let (status, synced) = app.sync_subscription("A-S00000271").await;
    assert_eq!(status, 200);
    let customer = synced["owner"].as_str().unwrap();
    for query in [
        "account=A00000001".to_string(),
        "subscription=A-S00000271".to_string(),
        format!("customer={customer}"),
        "trigger=api&status=succeeded".to_string(),
    ] {
        let (status, body) = search(&app, &query).await;
        assert_eq!(status, 200, "{body}");
        let events = body["events"].as_array().unwrap();
        assert_eq!(events.len(), 1, "{query}: {body}");
        assert_eq!(events[0]["subscription"], "A-S00000271");
        assert!(events[0]["created"].as_str().unwrap().ends_with('Z'));
    }
    let (status, body) = app
        .admin("GET", &format!("{EVENTS}/no-such-event"), None)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("event_not_found"))
    );
}
