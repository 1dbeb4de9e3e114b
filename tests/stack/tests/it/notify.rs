//! Notification delivery: a signed webhook (received here) and email through SES (moto), for
//! sessions and for manual syncs, by the entity's notification level.

use base64::Engine;
use serde_json::{Value, json};
use stack::app::{
    AppOptions, CALLOUT_PASSWORD, CALLOUT_USER, TestApp, WEBHOOK_SECRET, spawn_app, spawn_app_with,
};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use zuora_sync::adapters::memory::ManualClock;
use zuora_sync::model::EpochMillis;
use zuora_sync::model::SessionStatus;

/// A webhook receiver: every POST's headers and body.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(http::HeaderMap, String)>>>,
}

impl Receiver {
    async fn start() -> (Self, String) {
        let receiver = Self::default();
        let got = receiver.got.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: http::HeaderMap, body: String| {
                let got = got.clone();
                async move {
                    got.lock().unwrap().push((headers, body));
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (receiver, format!("http://{addr}/hook"))
    }

    /// The summaries received, each checked as a receiver would: HMAC-SHA256 over
    /// `<timestamp>.<body>` with the shared secret, computed here with the hmac crate (not the
    /// product's own `signature()`), and a wrong secret does not verify.
    fn verified(&self) -> Vec<Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(headers, body)| {
                let ts: i64 = headers["x-zuora-sync-timestamp"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                let sig = headers["x-zuora-sync-signature"].to_str().unwrap();
                assert_eq!(sig, receiver_signature(WEBHOOK_SECRET, ts, body), "signed");
                assert_ne!(sig, receiver_signature("another-secret", ts, body));
                serde_json::from_str(body).unwrap()
            })
            .collect()
    }
}

/// What a webhook receiver computes to check a delivery.
fn receiver_signature(secret: &str, timestamp: i64, body: &str) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.{body}").as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn settings(app: &TestApp, body: Value) -> Value {
    app.update_settings(body).await
}

#[tokio::test]
async fn a_manual_sync_sends_a_signed_webhook_summary() {
    let app = spawn_app().await;
    let (receiver, url) = Receiver::start().await;
    settings(
        &app,
        json!({"notification_channel": {"type": "webhook", "url": url}}),
    )
    .await;
    let (status, body) = app
        .admin(
            "POST",
            "/plugins/zuora/entities/default/sync/customers/A00000001",
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let got = receiver.verified();
    assert_eq!(
        got.len(),
        1,
        "all_including_zero notifies every manual sync"
    );
    assert_eq!(got[0]["kind"], "manual");
    assert_eq!(got[0]["id"], body["event_id"]);
    assert_eq!(got[0]["failed"], 0);
}

#[tokio::test]
async fn errors_only_reports_a_failed_session_with_the_account_and_reason() {
    let app = spawn_app().await;
    let (receiver, url) = Receiver::start().await;
    let answer = settings(
        &app,
        json!({"notification_channel": {"type": "webhook", "url": url},
               "notification_level": "errors_only", "sync_mode": "realtime",
               "max_events_before_sync": 1}),
    )
    .await;
    app.run_queued_jobs().await; // the full sync of switching to real time
    assert!(answer["full_sync_session"].is_string());
    assert!(
        receiver.verified().is_empty(),
        "the full sync had no errors"
    );

    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{CALLOUT_USER}:{CALLOUT_PASSWORD}"))
    );
    let (status, callout) = app
        .call_with_body(
            "POST",
            "/plugins/zuora/entities/default/callouts",
            Some(&basic),
            Some(json!({"AccountNumber": "A99999999", "EventId": "gone-1"})),
        )
        .await;
    assert_eq!(status, 200, "{callout}");
    app.run_queued_jobs().await;
    let got = receiver.verified();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        (got[0]["kind"].as_str(), got[0]["failed"].as_u64()),
        (Some("session"), Some(1))
    );
    let failure = got[0]["failures"][0].as_str().unwrap();
    assert!(
        failure.starts_with("A99999999: ") && failure.contains("Zuora has no account"),
        "{failure}"
    );
    let id = callout["session_id"].as_str().unwrap();
    let session = app
        .services
        .realtime
        .store()
        .get_session(&app.entity, id)
        .await
        .unwrap()
        .unwrap();
    assert!(session.delivery.unwrap().starts_with("sent to the webhook"));
}

#[tokio::test]
async fn an_empty_max_time_session_is_emailed_through_ses() {
    let clock = Arc::new(ManualClock::new(EpochMillis(1_790_000_000_000)));
    let app = spawn_app_with(AppOptions {
        clock: clock.clone(),
        ..AppOptions::default()
    })
    .await;
    // SES (moto) sends only from a verified identity.
    app.aws
        .ses
        .create_email_identity()
        .email_identity("sync@example.com")
        .send()
        .await
        .unwrap();
    settings(
        &app,
        json!({"sync_mode": "scheduled", "max_minutes_between_syncs": 5,
               "notification_channel": {"type": "email", "from": "sync@example.com", "to": ["billing@example.com"]}}),
    )
    .await;
    app.sweep("e1").await.unwrap();
    clock.advance_ms(5 * 60_000);
    let session = app.sweep("e2").await.unwrap().expect("due");
    let stored = app
        .services
        .realtime
        .store()
        .get_session(&app.entity, &session.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, SessionStatus::Done);
    let delivery = stored.delivery.unwrap();
    assert!(delivery.starts_with("sent by email"), "{delivery}");
}

#[tokio::test]
async fn channels_are_validated() {
    let app = spawn_app().await;
    for (channel, field) in [
        (
            json!({"type": "webhook", "url": "http://example.com/hook"}),
            "notification_channel.url",
        ),
        (
            json!({"type": "email", "from": "nobody", "to": ["a@example.com"]}),
            "notification_channel.from",
        ),
        (
            json!({"type": "email", "from": "a@example.com", "to": []}),
            "notification_channel.to",
        ),
        (json!({"type": "pigeon"}), "notification_channel"),
    ] {
        let (status, body) = app
            .admin(
                "PATCH",
                "/plugins/zuora/entities/default/settings",
                Some(json!({"version": 0, "notification_channel": channel})),
            )
            .await;
        assert_eq!(
            (status, body["field"].as_str()),
            (400, Some(field)),
            "{body}"
        );
    }
}

/// sync-api (a manual sync) and sync-worker (a queued on-demand sync) email their summaries
/// themselves, from the configured domain.
#[tokio::test]
async fn manual_and_on_demand_summaries_are_emailed_by_the_api_and_the_worker() {
    let app = spawn_app().await;
    app.aws
        .ses
        .create_email_identity()
        .email_identity(stack::app::TEST_EMAIL_DOMAIN)
        .send()
        .await
        .unwrap();
    let from = format!("sync@{}", stack::app::TEST_EMAIL_DOMAIN);
    settings(
        &app,
        json!({"notification_channel": {"type": "email", "from": from, "to": ["billing@example.com"]}}),
    )
    .await;
    let (status, body) = app
        .admin(
            "POST",
            "/plugins/zuora/entities/default/sync/customers/A00000001",
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .admin(
            "POST",
            "/plugins/zuora/entities/default/sync/accounts",
            Some(json!({"accounts": ["A00000002"]})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(app.run_queued_jobs().await, 1);
    let sent: Vec<String> = stack::aws_ops::recorded()
        .into_iter()
        .filter(|(_, p)| p.action == "ses:SendEmail")
        .map(|(function, p)| format!("{function} {}", p.resource))
        .collect();
    let identity = format!("identity/{}", stack::app::TEST_EMAIL_DOMAIN);
    assert_eq!(
        sent,
        vec![
            format!("sync-api {identity}"),
            format!("sync-worker {identity}")
        ]
    );
}

/// H10: what a failed delivery answered is not shown back through the API (the status route
/// would otherwise tell an admin what listens where).
#[tokio::test]
async fn a_failed_webhook_delivery_is_recorded_without_the_remote_answer() {
    let clock = Arc::new(ManualClock::new(EpochMillis(1_790_000_000_000)));
    let app = spawn_app_with(AppOptions {
        clock: clock.clone(),
        ..AppOptions::default()
    })
    .await;
    let (_receiver, url) = Receiver::start().await;
    let missing = url.replace("/hook", "/no-such-path");
    settings(
        &app,
        json!({"sync_mode": "scheduled", "max_minutes_between_syncs": 5,
               "notification_channel": {"type": "webhook", "url": missing}}),
    )
    .await;
    app.sweep("f1").await.unwrap();
    clock.advance_ms(5 * 60_000);
    app.sweep("f2").await.unwrap().expect("due");
    let (status, body) = app
        .admin("GET", "/plugins/zuora/entities/default/status", None)
        .await;
    assert_eq!(status, 200, "{body}");
    let delivery = body["last_session"]["delivery"].as_str().unwrap();
    assert!(delivery.starts_with("failed"), "{delivery}");
    assert!(!delivery.contains("404"), "{delivery}");
}
