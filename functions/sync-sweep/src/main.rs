//! sync-sweep: an EventBridge schedule (every minute) → for each entity in `scheduled` or
//! `realtime` mode, a sync session once the maximum time between syncs has passed.
// The sweep's future (reconcile → session → notification through SES) is deep.
#![recursion_limit = "256"]

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;
use zuora_sync::app::{AwsClients, build};
use zuora_sync::config::{Config, Env};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    zuora_sync::telemetry::init();
    let config = Config::from_env(&Env::process())?;
    let aws = AwsClients::from_env().await;
    let services = build(&config, &aws)?;
    let entities: Vec<_> = config.entities.iter().map(|e| e.id.clone()).collect();
    let (realtime, entities) = (&services.realtime, &entities);
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(
            zuora_sync::handlers::sweep::sweep_event(realtime, entities, &event.payload).await,
        )
    }))
    .await
}
