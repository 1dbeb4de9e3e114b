//! One worker process for the fault-injection suite: polls the sync queue and runs the real
//! worker on it, as a Lambda instance behind the SQS event source would, until killed.

use stack::app::{aws_clients, local_config};
use stack::local::poll_queue;
use std::sync::Arc;
use std::time::Duration;
use zuora_sync::adapters::dynamo::Tables;
use zuora_sync::app::build;

const USAGE: &str = "\
queue-worker: one worker process of the fault-injection suite; polls the sync queue until killed.

usage: queue-worker

environment: ZS_TABLE_PREFIX, ZS_QUEUE_URL, ZS_ZUORA_URL, ZS_SALESFORCE_URL (none: no pushes),
ZS_INVOCATION_MS (60000),
ZUORA_CONCURRENCY_BUDGET + ZUORA_BUDGET_SHARE_PERCENT + ZUORA_BUDGET_INSTANCES (the worker's
share of the Zuora budget), AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_SQS";

fn var(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set\n\n{USAGE}"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    stack::cli::Args::parse(USAGE, &[], 0);
    zuora_sync::telemetry::init();
    let prefix = var("ZS_TABLE_PREFIX")?;
    let tables = Tables {
        mirror: format!("{prefix}-mirror"),
        locks: format!("{prefix}-locks"),
        events: format!("{prefix}-events"),
        state: format!("{prefix}-state"),
    };
    let salesforce = std::env::var("ZS_SALESFORCE_URL").ok();
    let mut config = local_config(
        &var("ZS_ZUORA_URL")?,
        salesforce.as_deref(),
        tables,
        var("ZS_QUEUE_URL")?,
    )?;
    // ZUORA_CONCURRENCY_BUDGET, ZUORA_BUDGET_SHARE_PERCENT, ZUORA_BUDGET_INSTANCES: this
    // process's share of the tenant budget, as sync-worker's configuration reads them.
    for entity in &mut config.entities {
        zuora_sync::config::apply_env_budget(
            &zuora_sync::config::Env::process(),
            &mut entity.zuora,
        )?;
    }
    let invocation = std::env::var("ZS_INVOCATION_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60_000);
    let (aws, _) = aws_clients().await;
    let services = build(&config, &aws)?;
    let worker = Arc::new(services.worker(config.max_receives));
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    poll_queue(
        worker,
        aws.sqs.clone(),
        config.queue_url.clone(),
        Duration::from_millis(invocation),
        stop_rx,
    )
    .await;
    Ok(())
}
