//! Real-time sync: callouts (auth, de-duplication), threshold sessions under concurrency, the
//! max-time sweep on a controlled clock, session completion and its notification decision, and
//! the status message.

use base64::Engine;
use serde_json::{Value, json};
use stack::app::{
    AppOptions, CALLOUT_HEADER, CALLOUT_PASSWORD, CALLOUT_SECRET, CALLOUT_USER, TestApp, spawn_app,
    spawn_app_with,
};
use stack::aws_ops::as_function;
use std::collections::BTreeSet;
use std::sync::Arc;
use zuora_sim::SimConfig;
use zuora_sync::adapters::memory::ManualClock;
use zuora_sync::model::EpochMillis;
use zuora_sync::model::SessionStatus;

const CALLOUTS: &str = "/plugins/zuora/entities/default/callouts";
const ACCOUNT_1: &str = "8a90a1b27c1f4e2d017c2b3c4d5e0001";

fn basic() -> String {
    let pair = format!("{CALLOUT_USER}:{CALLOUT_PASSWORD}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

async fn settings(app: &TestApp, body: Value) {
    let answer = app.update_settings(body).await;
    if answer["full_sync_session"].is_string() {
        // Switching to real time first syncs every account: let it run, so each test starts
        // from an empty queue.
        app.run_queued_jobs().await;
    }
}

async fn callout(app: &TestApp, account: &str, event_id: &str) -> (u16, Value) {
    app.call_with_body(
        "POST",
        CALLOUTS,
        Some(&basic()),
        Some(json!({"AccountNumber": account, "EventId": event_id, "EventType": "AccountUpdate"})),
    )
    .await
}

async fn status(app: &TestApp) -> Value {
    let (code, body) = app
        .admin("GET", "/plugins/zuora/entities/default/status", None)
        .await;
    assert_eq!(code, 200, "{body}");
    body
}

/// The account jobs queued so far as (session id, account), each received and deleted.
async fn queued_sessions(app: &TestApp) -> Vec<(String, String)> {
    drain_jobs(app, false).await
}

/// Receives every message and deletes it; account jobs are collected as (session, account).
/// With `run_pages`, full sync page jobs are first run through the worker (which queues more).
async fn drain_jobs(app: &TestApp, run_pages: bool) -> Vec<(String, String)> {
    use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
    let mut accounts = Vec::new();
    loop {
        let got = app
            .aws
            .sqs
            .receive_message()
            .queue_url(&app.queue.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        if got.messages().is_empty() {
            return accounts;
        }
        for m in got.messages() {
            let body = m.body().unwrap();
            let job: Value = serde_json::from_str(body).unwrap();
            if job["kind"] == "full_sync_page" {
                assert!(run_pages, "unexpected page job: {body}");
                let mut message = SqsMessage::default();
                message.message_id = m.message_id().map(str::to_string);
                message.body = Some(body.to_string());
                let mut event = SqsEvent::default();
                event.records = vec![message];
                let deadline = EpochMillis(i64::MAX / 2);
                let answer = as_function("sync-worker", app.worker.handle(event, deadline)).await;
                assert!(answer.batch_item_failures.is_empty(), "page failed: {body}");
            } else {
                accounts.push((
                    job["session_id"].as_str().unwrap_or("").to_string(),
                    job["account"].as_str().unwrap().to_string(),
                ));
            }
            app.aws
                .sqs
                .delete_message()
                .queue_url(&app.queue.queue_url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

#[tokio::test]
async fn basic_auth_is_challenged_and_wrong_credentials_count_nothing() {
    let app = spawn_app().await;
    settings(&app, json!({"sync_mode": "realtime"})).await;
    let body = json!({"AccountNumber": "A00000001", "EventId": "e1"});
    let (code, answer) = app
        .call_with_body("POST", CALLOUTS, None, Some(body.clone()))
        .await;
    assert_eq!(code, 401, "{answer}");
    let wrong = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CALLOUT_USER}:nope"))
    );
    let (code, _) = app
        .call_with_body("POST", CALLOUTS, Some(&wrong), Some(body.clone()))
        .await;
    assert_eq!(code, 401);
    assert_eq!(status(&app).await["changes"], 0, "nothing counted");
    let (code, answer) = app
        .call_with_body("POST", CALLOUTS, Some(&basic()), Some(body))
        .await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["counted"], true);
    assert_eq!(status(&app).await["changes"], 1);

    let (code, answer) = app
        .call_with_body(
            "POST",
            CALLOUTS,
            Some(&basic()),
            Some(json!({"EventId": "x"})),
        )
        .await;
    assert_eq!(
        (code, answer["field"].as_str()),
        (400, Some("AccountNumber"))
    );
}

#[tokio::test]
async fn the_challenge_header_goes_with_basic_and_a_secret_header_works_for_others() {
    let app = spawn_app_with(AppOptions {
        other_entities: vec![("eu", SimConfig::demo())],
        ..AppOptions::default()
    })
    .await;
    let req = http::Request::builder()
        .method("POST")
        .uri(format!("https://api.example.com{CALLOUTS}"))
        .body(axum::body::Body::from(r#"{"AccountNumber":"A00000001"}"#))
        .unwrap();
    let answer = app.send(req).await;
    assert_eq!(answer.status(), 401);
    let challenge = answer.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Basic realm="), "{challenge}");

    let eu = "/plugins/zuora/entities/eu/callouts";
    let with_secret = |secret: &str| {
        http::Request::builder()
            .method("POST")
            .uri(format!("https://api.example.com{eu}"))
            .header(CALLOUT_HEADER, secret)
            .body(axum::body::Body::from(
                r#"{"AccountNumber":"A00000001","EventId":"eu-1"}"#,
            ))
            .unwrap()
    };
    assert_eq!(
        app.send(with_secret("wrong-secret-value")).await.status(),
        401
    );
    assert_eq!(app.send(with_secret(CALLOUT_SECRET)).await.status(), 200);
}

#[tokio::test]
async fn duplicate_deliveries_count_once() {
    let app = spawn_app().await;
    settings(
        &app,
        json!({"sync_mode": "realtime", "max_events_before_sync": 5}),
    )
    .await;
    for _ in 0..3 {
        let (code, answer) = callout(&app, "A00000001", "evt-42").await;
        assert_eq!(code, 200, "{answer}");
    }
    let (_, answer) = callout(&app, "A00000001", "evt-42").await;
    assert_eq!(answer["duplicate"], true);
    let s = status(&app).await;
    assert_eq!(s["changes"], 1);
    assert_eq!(s["events_needed"], 4);
}

/// H3: only a per-event unique field (the event's id, or its time) can make a delivery a
/// duplicate. Callouts whose template sends neither are distinct changes: counting one twice
/// costs a sync, dropping one loses a change.
#[tokio::test]
async fn callouts_without_an_event_id_or_time_are_never_duplicates() {
    let app = spawn_app().await;
    settings(
        &app,
        json!({"sync_mode": "realtime", "max_events_before_sync": 5}),
    )
    .await;
    let bodies = [
        json!({"AccountNumber": "A00000001", "EventType": "AccountUpdate"}),
        json!({"AccountNumber": "A00000001", "EventType": "AccountUpdate"}),
        json!({"AccountNumber": "A00000001"}),
        json!({"AccountNumber": "A00000001"}),
    ];
    for body in bodies {
        let (code, answer) = app
            .call_with_body("POST", CALLOUTS, Some(&basic()), Some(body))
            .await;
        assert_eq!(code, 200, "{answer}");
        assert_eq!(
            (answer["counted"].as_bool(), answer["duplicate"].as_bool()),
            (Some(true), Some(false)),
            "{answer}"
        );
    }
    assert_eq!(status(&app).await["changes"], 4);
    // With its time, a retried delivery of one event is still recognised.
    let timed = json!({"AccountNumber": "A00000001", "EventType": "AccountUpdate",
                       "EventTime": "2026-12-01T10:00:00Z"});
    let (_, first) = app
        .call_with_body("POST", CALLOUTS, Some(&basic()), Some(timed.clone()))
        .await;
    let (_, again) = app
        .call_with_body("POST", CALLOUTS, Some(&basic()), Some(timed))
        .await;
    assert_eq!(
        (first["duplicate"].as_bool(), again["duplicate"].as_bool()),
        (Some(false), Some(true))
    );
}

#[tokio::test]
async fn threshold_one_and_ten_start_sessions_with_exactly_the_changed_accounts() {
    let app = spawn_app().await;
    settings(
        &app,
        json!({"sync_mode": "realtime", "max_events_before_sync": 1}),
    )
    .await;
    let (_, answer) = callout(&app, "A00000002", "t1-a").await;
    let session = answer["session_id"]
        .as_str()
        .expect("a session at 1")
        .to_string();
    assert_eq!(
        queued_sessions(&app).await,
        [(session, "A00000002".to_string())]
    );

    settings(&app, json!({"max_events_before_sync": 10})).await;
    let mut started = None;
    for i in 0..10 {
        // Ten events over three accounts.
        let account = ["A00000001", "A00000002", "A00000003"][i % 3];
        let (_, answer) = callout(&app, account, &format!("t10-{i}")).await;
        if i < 9 {
            assert!(
                answer["session_id"].is_null(),
                "no session before 10: {answer}"
            );
        } else {
            started = answer["session_id"].as_str().map(str::to_string);
        }
    }
    let session = started.expect("the tenth event starts a session");
    let mut queued = queued_sessions(&app).await;
    queued.sort();
    let expected: Vec<(String, String)> = ["A00000001", "A00000002", "A00000003"]
        .iter()
        .map(|a| (session.clone(), a.to_string()))
        .collect();
    assert_eq!(queued, expected, "each changed account once");
    let s = status(&app).await;
    assert_eq!(s["changes"], 0);
    assert_eq!(s["last_session"]["changes"], 10);
}

#[tokio::test]
async fn two_hundred_concurrent_callouts_start_exactly_one_session_per_crossing() {
    let app = spawn_app().await;
    settings(
        &app,
        json!({"sync_mode": "realtime", "max_events_before_sync": 10}),
    )
    .await;
    let app = Arc::new(app);
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(
                async move { callout(&app, &format!("C{i:08}"), &format!("burst-{i}")).await },
            )
        })
        .collect();
    let mut sessions = BTreeSet::new();
    for t in tasks {
        let (code, answer) = t.await.unwrap();
        assert_eq!(code, 200, "{answer}");
        if let Some(s) = answer["session_id"].as_str() {
            assert!(sessions.insert(s.to_string()), "a session reported twice");
        }
    }
    // A callout cuts only while its 20 s budget allows: on a loaded machine the last ones
    // leave crossings to the sweep, which runs every minute.
    app.sweep("after-burst").await.unwrap();
    // 200 changes at 10 each: exactly 20 crossings, so exactly 20 sessions. (A callout
    // answers with the first session it started; it may help start more.)
    let queued = queued_sessions(&app).await;
    let accounts: BTreeSet<&String> = queued.iter().map(|(_, a)| a).collect();
    let state = app
        .services
        .realtime
        .store()
        .realtime_state(&app.entity)
        .await
        .unwrap();
    assert_eq!(
        (queued.len(), accounts.len()),
        (200, 200),
        "every account once; {state:?}"
    );
    let all: BTreeSet<String> = queued.iter().map(|(s, _)| s.clone()).collect();
    assert_eq!(all.len(), 20, "one session per crossing");
    assert!(sessions.is_subset(&all));
    let mut ranges = Vec::new();
    for id in &all {
        let session = app
            .services
            .realtime
            .store()
            .get_session(&app.entity, id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((session.changes, session.total), (10, 10), "{session:?}");
        ranges.push((session.from_seq, session.to_seq));
    }
    ranges.sort();
    let expected: Vec<(u64, u64)> = (0..20).map(|k| (k * 10, k * 10 + 10)).collect();
    assert_eq!(
        ranges, expected,
        "the crossings, each once, none overlapping"
    );
    assert_eq!(status(&app).await["changes"], 0);
}

#[tokio::test]
async fn a_session_completes_when_its_jobs_finish_and_decides_the_notification() {
    let app = spawn_app().await;
    settings(
        &app,
        json!({"sync_mode": "realtime", "max_events_before_sync": 1, "notification_level": "errors_only"}),
    )
    .await;
    // The full sync mirrored everything; this change is what the session writes.
    assert!(
        app.sim
            .set_field("A00000001", "name", json!("Acme After Callout"))
    );
    let (_, answer) = callout(&app, "A00000001", "done-1").await;
    let id = answer["session_id"].as_str().unwrap().to_string();
    let store = app.services.realtime.store().clone();
    let running = store.get_session(&app.entity, &id).await.unwrap().unwrap();
    assert_eq!(running.status, SessionStatus::Running);
    assert_eq!(app.run_queued_jobs().await, 1);
    let done = store.get_session(&app.entity, &id).await.unwrap().unwrap();
    assert_eq!(done.status, SessionStatus::Done);
    assert_eq!((done.succeeded, done.failed), (1, 0));
    assert!(done.written > 0);
    assert_eq!(done.notify, Some(false), "errors_only and no error");

    // An account Zuora does not know fails its job: errors_only now notifies.
    let (_, answer) = callout(&app, "A99999999", "done-2").await;
    let id = answer["session_id"].as_str().unwrap().to_string();
    app.run_queued_jobs().await;
    let failed = store.get_session(&app.entity, &id).await.unwrap().unwrap();
    assert_eq!((failed.status, failed.failed), (SessionStatus::Done, 1));
    assert_eq!(failed.notify, Some(true));
    assert_eq!(status(&app).await["last_session"]["id"], id.as_str());
}

#[tokio::test]
async fn the_sweep_starts_a_max_time_session_even_with_no_changes() {
    let clock = Arc::new(ManualClock::new(EpochMillis(1_790_000_000_000)));
    let app = spawn_app_with(AppOptions {
        clock: clock.clone(),
        ..AppOptions::default()
    })
    .await;
    settings(
        &app,
        json!({"sync_mode": "scheduled", "max_minutes_between_syncs": 120}),
    )
    .await;
    assert!(app.sweep("s1").await.unwrap().is_none(), "starts the clock");
    assert_eq!(
        status(&app).await["message"],
        "At most 120 minutes until the next sync"
    );

    clock.advance_ms(119 * 60_000);
    assert!(app.sweep("s2").await.unwrap().is_none());
    assert_eq!(status(&app).await["minutes_left"], 1);

    clock.advance_ms(60_000);
    // Two overlapping sweeps: exactly one session.
    let (a, b) = tokio::join!(app.sweep("s3"), app.sweep("s4"));
    let started: Vec<_> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
    assert_eq!(started.len(), 1);
    let session = app
        .services
        .realtime
        .store()
        .get_session(&app.entity, &started[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((session.total, session.status), (0, SessionStatus::Done));
    assert_eq!(
        session.notify,
        Some(true),
        "all_including_zero reports empty sessions"
    );
    assert_eq!(status(&app).await["minutes_left"], 120);
    assert!(app.sweep("s5").await.unwrap().is_none());
}

#[tokio::test]
async fn status_messages_follow_the_mode() {
    let clock = Arc::new(ManualClock::new(EpochMillis(1_790_000_000_000)));
    let app = spawn_app_with(AppOptions {
        clock: clock.clone(),
        ..AppOptions::default()
    })
    .await;
    let off = status(&app).await;
    assert!(
        off["message"]
            .as_str()
            .unwrap()
            .starts_with("Real-time sync is off")
    );
    settings(&app, json!({"sync_mode": "realtime", "max_events_before_sync": 10, "max_minutes_between_syncs": 60})).await;
    for i in 0..3 {
        callout(&app, "A00000001", &format!("m{i}")).await;
    }
    clock.advance_ms(17 * 60_000);
    let s = status(&app).await;
    assert_eq!(s["events_needed"], 7);
    assert_eq!(s["minutes_left"], 43);
    assert_eq!(
        s["message"],
        "7 more data change events, or at most 43 minutes, until the next sync"
    );
}

#[tokio::test]
async fn switching_to_realtime_enumerates_every_account_once() {
    let app = spawn_app().await;
    app.sim.generate_accounts(1000, "F").unwrap();
    let (code, answer) = app
        .admin(
            "PATCH",
            "/plugins/zuora/entities/default/settings",
            Some(json!({"version": 0, "sync_mode": "realtime"})),
        )
        .await;
    assert_eq!(code, 200, "{answer}");
    let session_id = answer["full_sync_session"].as_str().unwrap().to_string();
    let queued = drain_jobs(&app, true).await;
    let accounts: BTreeSet<&String> = queued.iter().map(|(_, a)| a).collect();
    assert_eq!(queued.len(), 1004, "1000 generated + 4 demo accounts");
    assert_eq!(accounts.len(), 1004, "each once");
    assert!(queued.iter().all(|(s, _)| *s == session_id));
    assert!(accounts.contains(&"F00000999".to_string()));
    let session = app
        .services
        .realtime
        .store()
        .get_session(&app.entity, &session_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((session.total, session.enumerating), (1004, false));
    assert_eq!(
        session.status,
        SessionStatus::Running,
        "its jobs have not run"
    );
    let s = status(&app).await;
    assert_eq!(s["last_session"]["id"], session_id.as_str());
    assert_eq!(s["last_session"]["trigger"], "full");
}

#[tokio::test]
async fn a_full_sync_completes_when_its_accounts_are_synced() {
    let app = spawn_app().await;
    let (_, answer) = app
        .admin(
            "PATCH",
            "/plugins/zuora/entities/default/settings",
            Some(json!({"version": 0, "sync_mode": "realtime"})),
        )
        .await;
    let id = answer["full_sync_session"].as_str().unwrap().to_string();
    assert_eq!(app.run_queued_jobs().await, 5, "one page and four accounts");
    let session = app
        .services
        .realtime
        .store()
        .get_session(&app.entity, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.status, SessionStatus::Done);
    assert_eq!((session.total, session.succeeded), (4, 4));
    assert!(
        app.mirror_records("8a90a1b27c1f4e2d017c2b3c4d5e0003")
            .await
            .contains_key("CUSTOMER")
    );
}

#[tokio::test]
async fn reconciliation_syncs_a_change_whose_callout_was_lost() {
    let app = spawn_app().await;
    settings(
        &app,
        json!({"sync_mode": "realtime", "max_events_before_sync": 1}),
    )
    .await;
    app.sweep("r1").await.unwrap();
    // A change in Zuora, and no callout for it.
    assert!(
        app.sim
            .set_field("A00000002", "name", json!("Renamed Without Callout"))
    );
    let session = app
        .sweep("r2")
        .await
        .unwrap()
        .expect("the reconciled change crosses the threshold");
    assert_eq!(session.total, 1);
    assert_eq!(app.run_queued_jobs().await, 1);
    let records = app.mirror_records("8a90a1b27c1f4e2d017c2b3c4d5e0002").await;
    assert_eq!(records["CUSTOMER"].attrs["name"], "Renamed Without Callout");
    // Seen once: the next sweep finds nothing new.
    assert!(app.sweep("r3").await.unwrap().is_none());
    assert_eq!(status(&app).await["changes"], 0);
}

/// M1: a subscription edit does not move its account's `updatedDate`, so reconciliation reads
/// the subscription list too (before, only the account list: this change was never synced).
#[tokio::test]
async fn reconciliation_finds_a_subscription_change_whose_account_did_not_move() {
    let app = spawn_app().await;
    settings(
        &app,
        json!({"sync_mode": "realtime", "max_events_before_sync": 1}),
    )
    .await;
    let (status_code, body) = app.sync_subscription("A-S00000271").await;
    assert_eq!(status_code, 200, "{body}");
    app.sweep("r1").await.unwrap();
    let account_before = app.sim.account("A00000001").unwrap()["updatedDate"].clone();
    assert!(app.sim.set_subscription_status("A-S00000271", "Cancelled"));
    assert_eq!(
        app.sim.account("A00000001").unwrap()["updatedDate"],
        account_before,
        "as in Zuora, the account's own time did not move"
    );
    let session = app
        .sweep("r2")
        .await
        .unwrap()
        .expect("the subscription's change crosses the threshold");
    assert_eq!(session.total, 1);
    assert_eq!(app.run_queued_jobs().await, 1);
    let records = app.mirror_records(ACCOUNT_1).await;
    assert_eq!(records["SUB#A-S00000271"].attrs["status"], "Cancelled");
    // Seen once, although the next sweep reads it again in its look-back overlap.
    assert!(app.sweep("r3").await.unwrap().is_none());
    assert_eq!(status(&app).await["changes"], 0);
}

#[tokio::test]
async fn callout_field_names_are_configured_per_entity() {
    let app = spawn_app().await;
    settings(
        &app,
        json!({"sync_mode": "scheduled",
               "callout_fields": {"account": "acct", "event_id": "notificationId"}}),
    )
    .await;
    let send = |body: Value| {
        let app = &app;
        async move {
            app.call_with_body("POST", CALLOUTS, Some(&basic()), Some(body))
                .await
        }
    };
    let (code, answer) = send(json!({"acct": "A00000003", "notificationId": "n-1"})).await;
    assert_eq!(
        (code, answer["counted"].as_bool()),
        (200, Some(true)),
        "{answer}"
    );
    let (_, again) = send(json!({"acct": "A00000003", "notificationId": "n-1", "retry": 2})).await;
    assert_eq!(
        again["duplicate"], true,
        "the configured event id de-duplicates"
    );
    let (code, answer) = send(json!({"something": "A00000003"})).await;
    assert_eq!(
        (code, answer["field"].as_str()),
        (400, Some("acct")),
        "{answer}"
    );
    let (code, answer) = app
        .admin(
            "PATCH",
            "/plugins/zuora/entities/default/settings",
            Some(json!({"version": 1, "callout_fields": {"acount": "x"}})),
        )
        .await;
    assert_eq!(
        (code, answer["field"].as_str()),
        (400, Some("callout_fields")),
        "{answer}"
    );
}

/// M5 on DynamoDB: a job counted `skipped` (a duplicate delivery that coalesced) is recounted
/// with its real outcome once, and a real outcome is never replaced.
#[tokio::test]
async fn a_real_outcome_replaces_a_skipped_count_once() {
    use zuora_sync::model::JobOutcome;
    let app = spawn_app().await;
    settings(
        &app,
        json!({"sync_mode": "realtime", "max_events_before_sync": 1}),
    )
    .await;
    let (_, answer) = callout(&app, "A00000001", "m5-1").await;
    let session_id = answer["session_id"]
        .as_str()
        .expect("a session")
        .to_string();
    queued_sessions(&app).await;
    let store = app.services.realtime.store();
    let count = |outcome, written| {
        store.finish_job(
            &app.entity,
            &session_id,
            "A00000001",
            outcome,
            written,
            None,
        )
    };
    count(JobOutcome::Skipped, 0).await.unwrap();
    count(JobOutcome::Succeeded, 3).await.unwrap();
    let session = count(JobOutcome::Failed, 0).await.unwrap();
    assert_eq!(
        (
            session.succeeded,
            session.failed,
            session.skipped,
            session.written
        ),
        (1, 0, 0, 3)
    );
}

/// M5: a session's failure texts are a DynamoDB string set on its item. A full sync's thousands
/// of failures used to grow it past DynamoDB's 400 KB item limit, after which every count of the
/// session failed and it could never complete. Now the count always lands and at most
/// `MAX_FAILURES_LISTED` texts are kept (the failed count stays exact; each job's event keeps its
/// own reason).
#[tokio::test]
async fn thousands_of_failures_cannot_stop_a_session_from_counting() {
    use zuora_sync::model::{JobOutcome, Session, SessionTrigger};
    let app = spawn_app().await;
    let store = app.services.realtime.store();
    let jobs = 1_500u64;
    let session = Session::new(SessionTrigger::Full, EpochMillis(0), (0, 0), jobs);
    store.create_session(&app.entity, &session).await.unwrap();
    let reason = "x".repeat(290);
    let mut last = None;
    for i in 0..jobs {
        let account = format!("A{i:08}");
        let counted = store
            .finish_job(
                &app.entity,
                &session.id,
                &account,
                JobOutcome::Failed,
                0,
                Some(&format!("{account}: {reason}")),
            )
            .await
            .unwrap_or_else(|e| panic!("count {i} failed: {e}"));
        last = Some(counted);
    }
    let last = last.unwrap();
    assert_eq!(last.failed, jobs);
    assert!(last.is_finished());
    let max = zuora_sync::model::MAX_FAILURES_LISTED;
    assert!(
        !last.failures.is_empty() && last.failures.len() <= max,
        "{} failure texts kept",
        last.failures.len()
    );
}

/// M5: what a session relies on outlives the session's 15-day expiry: a change kept only 7
/// days and not cut by then (a sweep outage) was sealed as skipped and its account never
/// synced; a job count marker gone before a DLQ redrive counted the job twice.
#[tokio::test]
async fn a_change_outlives_a_session_expiry() {
    let app = spawn_app().await;
    settings(&app, json!({"sync_mode": "scheduled"})).await;
    let (code, body) = app
        .call_with_body(
            "POST",
            CALLOUTS,
            Some(&basic()),
            Some(json!({"AccountNumber": "A00000001", "EventId": "ttl-1"})),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let item = app
        .aws
        .dynamodb
        .get_item()
        .table_name(&app.tables().state)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("{}#change#{:012}", app.entity, 1)),
        )
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    let item = item.item().expect("the change is stored");
    let expires: i64 = item["expires_at"].as_n().unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let days = (expires - now) / 86_400;
    assert!(days >= 29, "kept {days} days");
}
