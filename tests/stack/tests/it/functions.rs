//! Each function assembled from its environment by its own composition root (as its Lambda
//! binary does) handles its `events/` sample, with its AWS requests recorded under its name:
//! what each function does at init (warm-up reads) and on its own code path is part of the
//! permission check (`check-permissions`, see `stack::aws_ops`).

use serde_json::{Value, json};
use stack::app::{TestApp, spawn_app};
use stack::aws_ops::as_function;
use stack::token::{DEV_AUDIENCE, DEV_ISSUER, DEV_SECRET};
use std::collections::HashMap;
use zuora_sync::app;
use zuora_sync::config::{ApiConfig, Config, Env, LoginConfig};
use zuora_sync::model::EpochMillis;

/// The variables template.yaml gives the functions, pointed at this app's tables, queue and
/// simulator.
fn environment(app: &TestApp) -> HashMap<&'static str, String> {
    let tables = app.tables();
    HashMap::from([
        ("ZUORA_ENTITY_ID", "default".to_string()),
        ("ZUORA_ENTITY_IDS", "default".to_string()),
        ("MIRROR_TABLE", tables.mirror.clone()),
        ("LOCKS_TABLE", tables.locks.clone()),
        ("EVENTS_TABLE", tables.events.clone()),
        ("STATE_TABLE", tables.state.clone()),
        ("SYNC_QUEUE_URL", app.queue.queue_url.clone()),
        ("ZUORA_BASE_URL", app.sim.base_url.clone()),
        ("ZUORA_CLIENT_ID", "sim-client".to_string()),
        ("ZUORA_CLIENT_SECRET", "sim-secret".to_string()),
        ("JWT_HS256_SECRET", DEV_SECRET.to_string()),
        ("JWT_ISSUER", DEV_ISSUER.to_string()),
        ("JWT_AUDIENCE", DEV_AUDIENCE.to_string()),
    ])
}

fn env_of<'a>(
    vars: &'a HashMap<&'static str, String>,
) -> Env<impl Fn(&str) -> Option<String> + 'a> {
    Env(move |k: &str| vars.get(k).cloned())
}

fn sample(name: &str) -> Value {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn context(ms: i64) -> lambda_runtime::Context {
    let mut context = lambda_runtime::Context::default();
    context.deadline =
        (zuora_sync::ports::Clock::now(&zuora_sync::adapters::clock::SystemClock).0 + ms) as u64;
    context
}

#[tokio::test]
async fn sync_api_from_its_environment_syncs_a_subscription() {
    let app = spawn_app().await;
    let vars = environment(&app);
    let env = env_of(&vars);
    let config = Config::from_env(&env).unwrap();
    let api = as_function(
        "sync-api",
        app::sync_api::assemble(&config, ApiConfig::from_env(&env).unwrap(), &app.aws),
    )
    .await
    .unwrap();
    let router = stack::app::api_router(std::sync::Arc::new(api));
    let request =
        http::Request::post("https://api.example.com/plugins/zuora/sync/subscription/A-S00000271")
            .header("authorization", format!("Bearer {}", app.token()))
            .body(axum::body::Body::empty())
            .unwrap();
    let response = stack::app::send(&router, request).await;
    let status = response.status();
    let body = stack::app::json_of(response).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
}

#[tokio::test]
async fn sync_worker_from_its_environment_handles_its_sample_batch() {
    let app = spawn_app().await;
    let vars = environment(&app);
    let config = Config::from_env(&env_of(&vars)).unwrap();
    let worker = as_function("sync-worker", app::sync_worker::assemble(&config, &app.aws))
        .await
        .unwrap();
    let batch = serde_json::from_value(sample("sync-worker-sqs.json")).unwrap();
    let deadline = EpochMillis(context(60_000).deadline as i64);
    let answer = as_function("sync-worker", worker.handle(batch, deadline)).await;
    assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
    let (status, event) = app
        .admin(
            "GET",
            "/plugins/zuora/entities/default/events/01a207d9-2100-7c3e-9a61-5d8b2e4f7a10",
            None,
        )
        .await;
    assert_eq!(status, 200, "{event}");
    assert_eq!(event["status"], "succeeded", "{event}");
}

#[tokio::test]
async fn post_login_from_its_environment_queues_the_cognito_users_account() {
    let app = spawn_app().await;
    app.update_settings(json!({"hot_sync_enabled": true, "claims": [{
        "claim": "custom:zuora_account", "service": "zuora", "issuer": "zuora", "type": "account"
    }]}))
    .await;
    let vars = environment(&app);
    let config = LoginConfig::from_env(&env_of(&vars)).unwrap();
    let function = as_function("post-login", app::post_login::assemble(config, &app.aws)).await;
    let event = sample("post-login-cognito.json");
    let invocation = lambda_runtime::LambdaEvent::new(event.clone(), context(5_000));
    let answer = as_function(
        "post-login",
        function
            .handler
            .handle(invocation, &function.cognito_entity),
    )
    .await
    .unwrap();
    assert_eq!(answer, event, "Cognito gets its event back");
    let queued = app.queued_bodies(&app.queue.queue_url).await;
    assert!(
        queued.iter().any(|b| b.contains("A00000001")),
        "a hot sync of the user's account is queued: {queued:?}"
    );
}

#[tokio::test]
async fn sync_sweep_from_its_environment_sweeps_every_entity() {
    let app = spawn_app().await;
    app.update_settings(json!({"sync_mode": "scheduled", "max_minutes_between_syncs": 5}))
        .await;
    let vars = environment(&app);
    let config = Config::from_env(&env_of(&vars)).unwrap();
    let sweep = app::sync_sweep::assemble(&config, &app.aws).unwrap();
    let deadline = EpochMillis(context(60_000).deadline as i64);
    let report = as_function(
        "sync-sweep",
        zuora_sync::handlers::sweep::sweep_event(
            &sweep.realtime,
            &sweep.entities,
            &sample("sync-sweep-schedule.json"),
            deadline,
        ),
    )
    .await
    .unwrap();
    assert_eq!(report["entities"][0]["entity"], "default", "{report}");
}
