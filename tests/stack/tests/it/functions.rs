//! Each function assembled from its environment by its own composition root (as its Lambda
//! binary does) handles its `events/` sample, with its AWS requests recorded under its name:
//! what each function does at init (warm-up reads) and on its own code path is part of the
//! permission check (`check-permissions`, see `stack::aws_ops`).

use serde_json::{Value, json};
use stack::app::{CALLOUT_PASSWORD, CALLOUT_USER, TestApp, WEBHOOK_SECRET, spawn_app};
use stack::aws_ops::as_function;
use stack::token::{DEV_AUDIENCE, DEV_ISSUER, DEV_SECRET};
use std::collections::HashMap;
use zuora_sync::app;
use zuora_sync::config::{ApiConfig, Config, Env, LoginConfig};
use zuora_sync::model::EpochMillis;

/// The variables template.yaml gives the functions, pointed at this app's tables, queue and
/// simulator; no secret among them (see [`with_secrets`]).
fn environment(app: &TestApp) -> HashMap<String, String> {
    let tables = app.tables();
    let vars = HashMap::from([
        ("ZUORA_ENTITY_ID", "default".to_string()),
        ("ZUORA_ENTITY_IDS", "default".to_string()),
        ("MIRROR_TABLE", tables.mirror.clone()),
        ("LOCKS_TABLE", tables.locks.clone()),
        ("EVENTS_TABLE", tables.events.clone()),
        ("STATE_TABLE", tables.state.clone()),
        ("SYNC_QUEUE_URL", app.queue.queue_url.clone()),
        ("ZUORA_BASE_URL", app.sim.base_url.clone()),
        ("ZUORA_CLIENT_ID", "sim-client".to_string()),
        // Local only (in AWS the API verifies with its IdP's JWKS).
        ("JWT_HS256_SECRET", DEV_SECRET.to_string()),
        ("JWT_ISSUER", DEV_ISSUER.to_string()),
        ("JWT_AUDIENCE", DEV_AUDIENCE.to_string()),
    ]);
    vars.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// The function's secrets as in AWS: Secrets Manager secrets (here moto's) named by
/// `SECRETS_ARNS`, read by the function at init (`app::secrets`). `callouts`: sync-api's
/// callout secret too.
async fn with_secrets(
    function: &'static str,
    app: &TestApp,
    mut vars: HashMap<String, String>,
    callouts: bool,
) -> HashMap<String, String> {
    let client = stack::app::secrets_client().await;
    let prefix = app.tables().mirror.trim_end_matches("-mirror").to_string();
    let mut secrets = vec![(
        stack::aws_ops::ZUORA_SECRET_SUFFIX,
        json!({"ZUORA_CLIENT_SECRET": "sim-secret", "WEBHOOK_SECRET": WEBHOOK_SECRET}),
    )];
    if callouts {
        vars.insert("CALLOUT_BASIC_USER".into(), CALLOUT_USER.into());
        secrets.push((
            stack::aws_ops::CALLOUT_SECRET_SUFFIX,
            json!({"CALLOUT_BASIC_PASSWORD": CALLOUT_PASSWORD}),
        ));
    }
    let mut arns = Vec::new();
    for (suffix, value) in secrets {
        let created = client
            .create_secret()
            .name(format!("{prefix}{suffix}"))
            .secret_string(value.to_string())
            .send()
            .await
            .expect("the secret is created");
        arns.push(created.arn().unwrap().to_string());
    }
    vars.insert("SECRETS_ARNS".into(), arns.join(","));
    let read = as_function(
        function,
        app::secrets::read(&client, &|k: &str| vars.get(k).cloned()),
    )
    .await
    .expect("the secrets are read");
    assert!(read.contains_key("ZUORA_CLIENT_SECRET"));
    vars.extend(read);
    vars
}

fn env_of(vars: &HashMap<String, String>) -> Env<impl Fn(&str) -> Option<String> + '_> {
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
    let vars = with_secrets("sync-api", &app, environment(&app), true).await;
    let env = env_of(&vars);
    let config = Config::from_env(&env).unwrap();
    assert!(
        config.entities[0].callout.is_some() && config.entities[0].webhook_secret.is_some(),
        "the callout and webhook secrets came from Secrets Manager"
    );
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
    let vars = with_secrets("sync-worker", &app, environment(&app), false).await;
    let config = Config::from_env(&env_of(&vars)).unwrap();
    let worker = as_function("sync-worker", app::sync_worker::assemble(&config, &app.aws))
        .await
        .unwrap();
    let batch = serde_json::from_value(sample("sync-worker-sqs.json")).unwrap();
    let deadline = EpochMillis(context(60_000).deadline as i64);
    let answer = as_function("sync-worker", worker.handle(batch, deadline)).await;
    assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
    // Both messages are for one account: one syncs it, the other (run at the same time)
    // folds into it or syncs again.
    let mut statuses = Vec::new();
    for id in [
        "01a207d9-2100-7c3e-9a61-5d8b2e4f7a10",
        "01a207d9-225e-7d21-b4f2-8e6c1a9d3b57",
    ] {
        let path = format!("/plugins/zuora/entities/default/events/{id}");
        let (status, event) = app.admin("GET", &path, None).await;
        assert_eq!(status, 200, "{event}");
        statuses.push(event["status"].as_str().unwrap_or("").to_string());
    }
    assert!(
        statuses.iter().any(|s| s == "succeeded")
            && statuses
                .iter()
                .all(|s| s == "succeeded" || s == "coalesced"),
        "{statuses:?}"
    );
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
    let vars = with_secrets("sync-sweep", &app, environment(&app), false).await;
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
