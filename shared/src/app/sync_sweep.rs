//! The sync-sweep function: the EventBridge schedule → reconciliation and max-time sessions.
//! It needs no sync service: only the real-time core, Zuora's account list, DynamoDB, SQS and
//! the notifier.

use super::{AwsClients, SETTINGS_TTL, dynamo_store, notifier, tenants, zuora_clients};
use crate::adapters::clock::SystemClock;
use crate::adapters::sqs::SqsQueue;
use crate::config::Config;
use crate::core::realtime::Realtime;
use crate::core::settings::SettingsCache;
use crate::handlers::sweep::sweep_event;
use crate::model::{EntityId, EpochMillis};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use std::sync::Arc;

pub struct Sweep {
    pub realtime: Realtime,
    pub entities: Vec<EntityId>,
}

pub async fn from_env() -> Result<Sweep, Error> {
    let (shared, env) = super::environment().await?;
    let config = Config::from_env(&env)?;
    assemble(&config, &AwsClients::from_shared(&shared))
}

/// The sweep from its configuration and AWS clients.
pub fn assemble(config: &Config, aws: &AwsClients) -> Result<Sweep, Error> {
    let store = dynamo_store(&aws.dynamodb, &config.tables, config.event_retention_days);
    let queue = Arc::new(SqsQueue::new(aws.sqs.clone(), config.queue_url.clone()));
    let settings = Arc::new(SettingsCache::new(store.clone(), SETTINGS_TTL));
    let clock = Arc::new(SystemClock);
    let http = super::HttpClients::new(config)?;
    let push = super::push_service(
        config,
        &http,
        &store,
        queue.clone(),
        settings.clone(),
        clock.clone(),
    );
    let mut realtime = Realtime::new(
        store.clone(),
        queue,
        settings,
        clock,
        Arc::new(tenants(&zuora_clients(config, &http))),
        notifier(config, &aws.ses, &http),
    );
    if let Some(push) = push {
        // The sweep only queues pushes (it never calls Salesforce).
        realtime = realtime.with_push(push);
    }
    let entities = config.entities.iter().map(|e| e.id.clone()).collect();
    Ok(Sweep { realtime, entities })
}

pub async fn run(sweep: Sweep) -> Result<(), Error> {
    let sweep = &sweep;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = EpochMillis(event.context.deadline as i64);
        // A failed entity fails the invocation, so the platform counts it (Errors metric).
        let report = sweep_event(&sweep.realtime, &sweep.entities, &event.payload, deadline).await;
        super::emit_zuora_metrics("sync-sweep");
        report.map_err(Error::from)
    }))
    .await
}
