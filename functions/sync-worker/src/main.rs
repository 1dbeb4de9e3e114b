//! sync-worker: SQS → account syncs, with partial batch failure responses.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use zuora_sync::app::{AwsClients, build};
use zuora_sync::config::{Config, Env};
use zuora_sync::model::EpochMillis;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    zuora_sync::telemetry::init();
    let config = Config::from_env(&Env::process())?;
    let aws = AwsClients::from_env().await;
    let services = build(&config, &aws)?;
    if let Err(e) = services.store.warm_up().await {
        tracing::warn!(error = %e, "DynamoDB warm-up failed; the first batch will retry");
    }
    let worker = services.worker(config.max_receives);
    let worker = &worker;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = EpochMillis(event.context.deadline as i64);
        Ok::<SqsBatchResponse, Error>(worker.handle(event.payload, deadline).await)
    }))
    .await
}
