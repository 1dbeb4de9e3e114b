//! The whole product on this machine: tables and queues in the emulators, the Zuora simulator
//! with demo data, the sync API on localhost and the worker polling the queue. Runs until
//! Ctrl-C. Started by `scripts/dev.sh`, which starts the emulators first.

use stack::app::{aws_clients, dev_api};
use stack::local::{poll_queue, serve_api};
use stack::schema::provision;
use stack::token::{DEV_AUDIENCE, DEV_ISSUER, DEV_SECRET, mint_hs256};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use zuora_sync::app::build;

fn port(var: &str, default: u16) -> u16 {
    std::env::var(var)
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(default)
}

const USAGE: &str = "\
local-stack: the whole product on this machine (tables and queues, the Zuora simulator with demo
data, the sync API with the post-login hook route, the worker and the sweep) until Ctrl-C.
Started by scripts/dev.sh, which starts DynamoDB Local and moto first.

usage: local-stack

environment: API_PORT (3000), ZUORA_SIM_PORT (8081), SALESFORCE_SIM_PORT (8082), API_BASE_PATH, AWS_ENDPOINT_URL_DYNAMODB,
AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL_SES";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    stack::cli::Args::parse(USAGE, &[], 0);
    zuora_sync::telemetry::init();
    let api_port = port("API_PORT", 3000);
    let sim_port = port("ZUORA_SIM_PORT", 8081);
    let sim = zuora_sim::spawn(
        zuora_sim::SimConfig::demo(),
        SocketAddr::from(([127, 0, 0, 1], sim_port)),
    )
    .await?;
    let salesforce = salesforce_sim::spawn(
        salesforce_sim::SimConfig::zuora360(),
        SocketAddr::from(([127, 0, 0, 1], port("SALESFORCE_SIM_PORT", 8082))),
    )
    .await?;
    let (aws, _) = aws_clients().await;
    let prefix = format!("local-{}", std::process::id());
    let p = provision(&aws.dynamodb, &aws.sqs, &prefix, 60).await?;

    let mut config = stack::app::local_config(
        &sim.base_url,
        Some(&salesforce.base_url),
        p.tables.clone(),
        p.queue_url.clone(),
    )?;
    config.dead_letter_url = Some(p.dlq_url.clone());
    let services = build(&config, &aws)?;
    // The default entity pushes to the Salesforce simulator from the first sync on.
    let mut settings = zuora_sync::model::EntitySettings::default();
    settings.salesforce.enabled = true;
    zuora_sync::ports::SettingsStore::put_settings(
        services.store.as_ref(),
        config.default_entity(),
        &settings,
        0,
        "local-stack",
        zuora_sync::ports::Clock::now(&zuora_sync::adapters::clock::SystemClock),
    )
    .await?
    .map_err(|v| format!("settings already at version {v}"))?;
    let api = Arc::new(dev_api(
        &services,
        &config,
        &std::env::var("API_BASE_PATH").unwrap_or_default(),
    ));
    let worker = Arc::new(services.worker(config.max_receives));
    let login = Arc::new(stack::app::local_login(services.sync.clone(), &config));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let addr = serve_api(
        api,
        Some(login),
        SocketAddr::from(([127, 0, 0, 1], api_port)),
        stop_rx.clone(),
    )
    .await?;
    // The EventBridge schedule's stand-in: the sweep every minute.
    let realtime = services.realtime.clone();
    let entities: Vec<_> = config.entities.iter().map(|e| e.id.clone()).collect();
    let mut sweep_stop = stop_rx.clone();
    let sweeper = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = sweep_stop.changed() => break,
                _ = tick.tick() => {
                    let event = serde_json::json!({"id": format!("local-sweep-{}", uuid::Uuid::new_v4())});
                    // The sweep function's 60 s timeout.
                    let deadline = zuora_sync::ports::Clock::now(&zuora_sync::adapters::clock::SystemClock).plus_ms(60_000);
                    let sweep = zuora_sync::handlers::sweep::sweep_event(&realtime, &entities, &event, deadline);
                    if let Err(e) = stack::aws_ops::as_function("sync-sweep", sweep).await {
                        eprintln!("{e}");
                    }
                }
            }
        }
    });
    let poller = tokio::spawn(poll_queue(
        worker,
        aws.sqs.clone(),
        p.queue_url.clone(),
        Duration::from_secs(60),
        stop_rx,
    ));

    let token = mint_hs256(DEV_SECRET, DEV_ISSUER, DEV_AUDIENCE, "local-dev", 24 * 3600);
    println!(
        r#"
zuora-sync is running locally.
  console         http://{addr}/console  (dev sign-in: pick roles and entities)
  sync API        http://{addr}
  Zuora simulator {sim}  (demo account A00000001, subscriptions A-S00000271..274)
  Salesforce sim  {sf}  (the default entity pushes here; see its records below)
  tables          {m} / {l} / {e} / {s}
  queue           {q}

A dev token (HS256, valid 24 h; mint more with: cargo run -q -p stack --bin mint-token):
  export TOKEN={token}

Every route (curl examples for each in README.md, "Sync API"):
  API=http://{addr}
  curl -s -X POST -H "Authorization: Bearer $TOKEN" $API/plugins/zuora/sync/subscription/A-S00000271
  curl -s -X POST -H "Authorization: Bearer $TOKEN" -d '{{"accounts":["A00000001","A00000002"]}}' $API/plugins/zuora/entities/default/sync/accounts
  curl -s -X POST -H "Authorization: Bearer $TOKEN" $API/plugins/zuora/entities/default/sync/customers/A00000001
  curl -s -X POST -H "Authorization: Bearer $TOKEN" $API/plugins/zuora/entities/default/sync/catalog
  curl -s -H "Authorization: Bearer $TOKEN" "$API/plugins/zuora/entities/default/events?account=A00000001&limit=10"
  curl -s -H "Authorization: Bearer $TOKEN" $API/plugins/zuora/entities/default/settings
  curl -s $API/plugins/zuora/openapi.json
  curl -s -H "Authorization: Bearer $TOKEN" $API/plugins/zuora/entities/default/status
  curl -s -u zuora-callouts:callout-password-for-tests -d '{{"AccountNumber":"A00000001","EventId":"evt-1"}}' $API/plugins/zuora/entities/default/callouts
  curl -s -H "Authorization: Bearer $TOKEN" $API/plugins/zuora/entities/default/salesforce/failures

What the first sync pushed to Salesforce (the simulator's records, no token needed):
  curl -s {sf}/__sim__/records/Zuora__CustomerAccount__c
  curl -s {sf}/__sim__/records/Zuora__Subscription__c

The worker polls the queue, so queued syncs (accounts, catalog) run within a second or two;
the sweep runs every minute; the post-login hook is served at /plugins/zuora/entities/default/hooks/post-login.

Press Ctrl-C to stop."#,
        sim = sim.base_url,
        sf = salesforce.base_url,
        m = p.tables.mirror,
        l = p.tables.locks,
        e = p.tables.events,
        s = p.tables.state,
        q = p.queue_url,
    );
    tokio::signal::ctrl_c().await?;
    println!("stopping...");
    let _ = stop_tx.send(true);
    let _ = poller.await;
    let _ = sweeper.await;
    Ok(())
}
