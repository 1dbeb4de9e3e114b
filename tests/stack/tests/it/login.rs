//! Hot sync at login: the Cognito trigger and the hook route, Options A and B, escaping,
//! the on/off toggle, outages on the login path, and repeated logins coalescing.

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use stack::app::{TestApp, spawn_app};
use stack::aws_ops::as_function;
use stack::idp::Idp;
use std::time::{Duration, Instant};
use zuora_sim::{Fault, FaultKind};
use zuora_sync::core::login::LoginService;
use zuora_sync::handlers::post_login::PostLogin;

const ISSUER: &str = "https://login.example-idp.com/";
const AUDIENCE: &str = "commerce-web";

fn sample() -> Value {
    serde_json::from_str(include_str!("../../../../events/post-login-cognito.json")).unwrap()
}

/// The sample Cognito event with these user attributes.
fn cognito_event(attrs: Value) -> Value {
    let mut event = sample();
    event["request"]["userAttributes"] = attrs;
    event
}

async fn enable(app: &TestApp, claims: Value, hooks: Value) {
    let (status, body) = app
        .admin(
            "PATCH",
            "/plugins/zuora/entities/default/settings",
            Some(json!({"version": 0, "hot_sync_enabled": true, "claims": claims, "login_hooks": hooks})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

fn option_a() -> Value {
    json!([{"claim": "custom:zuora_account", "service": "zuora", "issuer": "zuora", "type": "account"}])
}

fn option_b() -> Value {
    json!([{"claim": "custom:limio_id", "service": "zuora", "issuer": "zuora", "type": "lookup",
            "account_field": "LimioExternalId__c"}])
}

/// Runs the trigger like Lambda would and checks that Cognito gets its event back unchanged.
async fn login(login: &PostLogin, app: &TestApp, event: Value) {
    let invocation = LambdaEvent::new(event.clone(), Context::default());
    let answer = as_function("post-login", login.handle(invocation, &app.entity))
        .await
        .unwrap();
    assert_eq!(answer, event, "the trigger returns the event unchanged");
}

async fn hot_sync_events(app: &TestApp) -> Vec<Value> {
    let (status, body) = app
        .admin(
            "GET",
            "/plugins/zuora/entities/default/events?trigger=hot_sync&limit=100",
            None,
        )
        .await;
    assert_eq!(status, 200);
    body["events"].as_array().unwrap().clone()
}

#[tokio::test]
async fn option_a_queues_one_job_per_account_and_each_leaves_an_event() {
    let app = spawn_app().await;
    enable(&app, option_a(), json!([])).await;

    let one = cognito_event(json!({"sub": "user-1", "custom:zuora_account": "A00000001"}));
    login(&app.login, &app, one).await;
    assert_eq!(app.queue_counts(&app.queue.queue_url).await.visible, 1);

    let several =
        cognito_event(json!({"sub": "user-2", "custom:zuora_account": "A00000002, A00000003"}));
    login(&app.login, &app, several).await;
    assert_eq!(app.queue_counts(&app.queue.queue_url).await.visible, 3);

    assert_eq!(app.run_queued_jobs().await, 3);
    let events = hot_sync_events(&app).await;
    let mut seen: Vec<(String, String, String)> = events
        .iter()
        .map(|e| {
            (
                e["subject"].as_str().unwrap().to_string(),
                e["account"].as_str().unwrap().to_string(),
                e["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    seen.sort();
    let expected = [
        ("user-1", "A00000001"),
        ("user-2", "A00000002"),
        ("user-2", "A00000003"),
    ]
    .map(|(s, a)| (s.to_string(), a.to_string(), "succeeded".to_string()));
    assert_eq!(seen, expected);
    for e in &events {
        assert!(!e.to_string().contains("eyJ"), "no token in events: {e}");
    }
}

#[tokio::test]
async fn option_b_syncs_one_match_and_skips_none_or_several() {
    let app = spawn_app().await;
    enable(&app, option_b(), json!([])).await;
    for (user, value) in [
        ("one", "limio-cust-0001"),
        ("two", "limio-shared-42"),
        ("none", "nobody@example.com"),
    ] {
        let event = cognito_event(json!({"sub": user, "custom:limio_id": value}));
        login(&app.login, &app, event).await;
    }
    assert_eq!(
        app.sim.stats().requests.get("action_query"),
        None,
        "no lookup on the login path"
    );
    assert_eq!(app.run_queued_jobs().await, 3);

    let events = hot_sync_events(&app).await;
    let by_subject = |s: &str| events.iter().find(|e| e["subject"] == s).unwrap().clone();
    let one = by_subject("one");
    assert_eq!(one["status"], "succeeded", "{one}");
    assert_eq!(one["account"], "A00000001");
    let two = by_subject("two");
    assert_eq!(
        (two["status"].as_str(), two["code"].as_str()),
        (Some("skipped"), Some("ambiguous")),
        "{two}"
    );
    let reason = two["reason"].as_str().unwrap();
    assert!(
        reason.contains("A00000002") && reason.contains("A00000003"),
        "{reason}"
    );
    assert!(
        app.mirror_records("8a90a1b27c1f4e2d017c2b3c4d5e0002")
            .await
            .is_empty(),
        "no sync"
    );
    let none = by_subject("none");
    assert_eq!(
        (none["status"].as_str(), none["code"].as_str()),
        (Some("skipped"), Some("no_match")),
        "{none}"
    );
    assert!(
        !none.to_string().contains("nobody@example.com"),
        "the claim value is not echoed"
    );
}

#[tokio::test]
async fn claim_values_cannot_change_the_lookup_query() {
    let app = spawn_app().await;
    enable(&app, option_b(), json!([])).await;
    let attempts = [
        "' or 1=1",
        "x' or AccountNumber != '",
        r"\' or 1=1 --",
        "limio-shared-42' or '1'='1",
        "ünïcødé ✓ \u{202e}",
        &"a".repeat(10 * 1024),
    ];
    for (i, value) in attempts.iter().enumerate() {
        let event =
            cognito_event(json!({"sub": format!("attacker-{i}"), "custom:limio_id": value}));
        login(&app.login, &app, event).await;
    }
    // A value with a quote and a backslash that does exist matches exactly its account.
    let exact = cognito_event(json!({"sub": "obrien", "custom:limio_id": r"o'brien\7"}));
    login(&app.login, &app, exact).await;
    assert_eq!(app.run_queued_jobs().await, attempts.len() + 1);
    assert_eq!(
        app.sim.stats().requests["action_query"],
        attempts.len() as u64 + 1
    );

    let events = hot_sync_events(&app).await;
    for i in 0..attempts.len() {
        let e = events
            .iter()
            .find(|e| e["subject"] == format!("attacker-{i}"))
            .unwrap();
        assert_eq!(e["code"], "no_match", "attempt {i} matched something: {e}");
    }
    let e = events.iter().find(|e| e["subject"] == "obrien").unwrap();
    assert_eq!(e["account"], "A00000004", "{e}");
}

#[tokio::test]
async fn hot_sync_off_queues_and_looks_up_nothing() {
    let app = spawn_app().await;
    let event = cognito_event(json!({"sub": "u", "custom:zuora_account": "A00000001"}));
    app.dynamo_counter.reset();
    login(&app.login, &app, event).await;
    assert_eq!(app.queue_counts(&app.queue.queue_url).await.visible, 0);
    assert_eq!(app.dynamo_counter.snapshot().writes(), 0);
    assert!(app.sim.stats().requests.values().all(|n| *n == 0));
    assert!(hot_sync_events(&app).await.is_empty());
}

#[tokio::test]
async fn repeated_logins_coalesce_into_one_queued_sync() {
    let app = spawn_app().await;
    enable(&app, option_a(), json!([])).await;
    let event = cognito_event(json!({"sub": "busy-user", "custom:zuora_account": "A00000001"}));
    for _ in 0..5 {
        login(&app.login, &app, event.clone()).await;
    }
    assert_eq!(app.queue_counts(&app.queue.queue_url).await.visible, 1);
    let events = hot_sync_events(&app).await;
    let coalesced = events.iter().filter(|e| e["status"] == "coalesced").count();
    assert_eq!((events.len(), coalesced), (5, 4));
    assert_eq!(app.run_queued_jobs().await, 1);
}

#[tokio::test]
async fn zuora_down_does_not_touch_the_login_path() {
    let app = spawn_app().await;
    enable(&app, option_a(), json!([])).await;
    app.sim
        .add_fault(Fault::new("*", FaultKind::Status { status: 503 }));
    app.sim.reset_stats();
    let event = cognito_event(json!({"sub": "u", "custom:zuora_account": "A00000001"}));
    login(&app.login, &app, event).await;
    assert!(app.sim.stats().requests.values().all(|n| *n == 0));
    assert_eq!(
        app.queue_counts(&app.queue.queue_url).await.visible,
        1,
        "queued for later"
    );
}

#[tokio::test]
async fn dynamodb_unreachable_still_returns_the_event_within_the_budget() {
    let app = spawn_app().await;
    let unreachable = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url("http://127.0.0.1:9")
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "l", "l", None, None, "t",
        ))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_timeout(Duration::from_millis(300))
                .build(),
        )
        .load()
        .await;
    let aws = zuora_sync::app::AwsClients::from_shared(&unreachable);
    let services = zuora_sync::app::build(&app.config, &aws).unwrap();
    let budget = Duration::from_millis(800);
    let service = PostLogin::new(std::sync::Arc::new(LoginService::new(
        services.sync,
        budget,
    )));
    let event = cognito_event(json!({"sub": "u", "custom:zuora_account": "A00000001"}));
    let started = Instant::now();
    login(&service, &app, event).await;
    let took = started.elapsed();
    assert!(took < budget + Duration::from_millis(500), "took {took:?}");
}

fn hook_request(token: &str) -> ApiGatewayV2httpRequest {
    let mut event: Value =
        serde_json::from_str(include_str!("../../../../events/post-login-hook.json")).unwrap();
    event["body"] = json!(json!({"id_token": token}).to_string());
    serde_json::from_value(event).unwrap()
}

fn id_token_claims(exp_offset: i64, iss: &str, aud: &str) -> Value {
    let now = jsonwebtoken::get_current_timestamp() as i64;
    json!({"sub": "okta-user", "iss": iss, "aud": aud, "iat": now, "exp": now + exp_offset,
           "custom:zuora_account": "A00000001"})
}

#[tokio::test]
async fn the_hook_route_verifies_id_tokens_before_queueing() {
    let app = spawn_app().await;
    let idp = Idp::start().await;
    let hooks = json!([{"issuer": ISSUER, "jwks_url": idp.jwks_url, "audience": AUDIENCE}]);
    enable(&app, option_a(), hooks).await;
    let other = Idp::start().await;

    let cases = [
        (
            "expired",
            idp.sign(&id_token_claims(-600, ISSUER, AUDIENCE)),
        ),
        (
            "wrong issuer",
            idp.sign(&id_token_claims(300, "https://evil.example/", AUDIENCE)),
        ),
        (
            "wrong audience",
            idp.sign(&id_token_claims(300, ISSUER, "another-app")),
        ),
        (
            "other key",
            other.sign(&id_token_claims(300, ISSUER, AUDIENCE)),
        ),
        ("garbage", "not.a.jwt".to_string()),
    ];
    for (what, token) in cases {
        let answer = app.login_hook(hook_request(&token)).await;
        assert_eq!(answer.status_code, 401, "{what}");
        assert_eq!(
            app.queue_counts(&app.queue.queue_url).await.visible,
            0,
            "{what}"
        );
    }

    let valid = idp.sign(&id_token_claims(300, ISSUER, AUDIENCE));
    let answer = app.login_hook(hook_request(&valid)).await;
    assert_eq!(answer.status_code, 202);
    let body: Value = match answer.body {
        Some(aws_lambda_events::encodings::Body::Text(t)) => serde_json::from_str(&t).unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(body["hot_sync"]["queued"], 1, "{body}");
    assert_eq!(app.queue_counts(&app.queue.queue_url).await.visible, 1);
    app.run_queued_jobs().await;
    let events = hot_sync_events(&app).await;
    assert_eq!(events[0]["subject"], "okta-user");
    assert_eq!(events[0]["status"], "succeeded");

    // Through the Lambda entry point, as API Gateway would send it.
    let event = serde_json::to_value(hook_request(&valid)).unwrap();
    let answer = app
        .login
        .handle(LambdaEvent::new(event, Context::default()), &app.entity)
        .await
        .unwrap();
    assert_eq!(answer["statusCode"], 202, "{answer}");
    let mut bad_body = hook_request(&valid);
    bad_body.body = Some("{".into());
    assert_eq!(app.login_hook(bad_body).await.status_code, 400);
}

#[tokio::test]
async fn unsupported_events_are_an_error() {
    let app = spawn_app().await;
    let result = app
        .login
        .handle(
            LambdaEvent::new(json!({"hello": 1}), Context::default()),
            &app.entity,
        )
        .await;
    assert!(result.is_err());
}
