//! The sync-worker function: SQS batches → syncs, with partial batch failures.

use super::{AwsClients, build, warm_up};
use crate::config::Config;
use crate::handlers::sqs_worker::Worker;
use crate::model::EpochMillis;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};

pub async fn from_env() -> Result<Worker, Error> {
    let (shared, env) = super::environment().await?;
    let config = Config::from_env(&env)?;
    assemble(&config, &AwsClients::from_shared(&shared)).await
}

/// The worker from its configuration and AWS clients.
pub async fn assemble(config: &Config, aws: &AwsClients) -> Result<Worker, Error> {
    let services = build(config, aws)?;
    warm_up(&services.store).await;
    Ok(services.worker(config.max_receives))
}

pub async fn run(worker: Worker) -> Result<(), Error> {
    let worker = &worker;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = EpochMillis(event.context.deadline as i64);
        let response = worker.handle(event.payload, deadline).await;
        super::emit_zuora_metrics("sync-worker");
        Ok::<SqsBatchResponse, Error>(response)
    }))
    .await
}
