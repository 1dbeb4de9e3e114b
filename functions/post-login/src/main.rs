//! post-login: the Cognito PostAuthentication trigger and the post-login hook route → queued
//! hot syncs. Cognito waits on this function, so it only queues work, within a short budget.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;
use std::sync::Arc;
use zuora_sync::app::{AwsClients, build};
use zuora_sync::config::{Config, Env, LoginConfig};
use zuora_sync::core::login::LoginService;
use zuora_sync::handlers::post_login::PostLogin;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    zuora_sync::telemetry::init();
    let env = Env::process();
    let config = Config::from_env(&env)?;
    let login_config = LoginConfig::from_env(&env, &config)?;
    // Every AWS call is bounded, so a slow DynamoDB or SQS cannot hold a sign-in.
    let aws = AwsClients::from_env_with_timeout(login_config.call_timeout).await;
    let services = build(&config, &aws)?;
    // Open both connections (TLS included) now, not on the first login.
    let (store, queue) = tokio::join!(services.store.warm_up(), services.queue.warm_up());
    if let Err(e) = store {
        tracing::warn!(error = %e, "DynamoDB warm-up failed; the first login will retry");
    }
    if let Err(e) = queue {
        tracing::warn!(error = %e, "SQS warm-up failed; the first login will retry");
    }
    let login = PostLogin::new(Arc::new(LoginService::new(
        services.sync,
        login_config.budget,
    )));
    let (login, entity) = (&login, &login_config.cognito_entity);
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        login.handle(event, entity).await
    }))
    .await
}
