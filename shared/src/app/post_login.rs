//! The post-login function: the Cognito PostAuthentication trigger and the post-login hook
//! route → queued hot syncs. It never calls Zuora or sends a notification, so it builds no Zuora
//! client and no SES client, and its configuration holds no Zuora, callout or webhook secret.

use super::{AwsClients, SETTINGS_TTL};
use crate::adapters::clock::SystemClock;
use crate::adapters::dynamo::DynamoStore;
use crate::adapters::notify::NoNotifier;
use crate::adapters::sqs::SqsQueue;
use crate::auth::HookVerifiers;
use crate::config::{Env, LoginConfig};
use crate::core::login::LoginService;
use crate::core::settings::SettingsCache;
use crate::core::sync::{Ports, SyncService};
use crate::core::tenants::ZuoraTenants;
use crate::handlers::post_login::PostLogin;
use crate::model::EntityId;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use std::sync::Arc;

pub struct PostLoginFunction {
    pub handler: PostLogin,
    pub cognito_entity: EntityId,
}

pub async fn from_env() -> Result<PostLoginFunction, Error> {
    let config = LoginConfig::from_env(&Env::process())?;
    // Every AWS call is bounded, so a slow DynamoDB or SQS cannot hold a sign-in.
    let aws = AwsClients::from_shared(&super::aws_config(config.call_timeout).await);
    Ok(assemble(config, &aws).await)
}

/// The function from its configuration and AWS clients (only DynamoDB's and SQS's are used).
pub async fn assemble(config: LoginConfig, aws: &AwsClients) -> PostLoginFunction {
    let store = Arc::new(DynamoStore::new(
        aws.dynamodb.clone(),
        config.tables.clone(),
        config.event_retention_days,
    ));
    let queue = Arc::new(SqsQueue::new(aws.sqs.clone(), config.queue_url.clone()));
    // Open both connections (TLS included) now, not on the first login.
    let (warm_store, warm_queue) = tokio::join!(store.warm_up(), queue.warm_up());
    if let Err(e) = warm_store {
        tracing::warn!(error = %e, "DynamoDB warm-up failed; the first login will retry");
    }
    if let Err(e) = warm_queue {
        tracing::warn!(error = %e, "SQS warm-up failed; the first login will retry");
    }
    let ports = Ports {
        zuora: Arc::new(ZuoraTenants::without_clients(config.entities.clone())),
        mirror: store.clone(),
        locks: store.clone(),
        events: store.clone(),
        queue,
        settings: Arc::new(SettingsCache::new(store, SETTINGS_TTL)),
        notifier: Arc::new(NoNotifier),
    };
    let sync = Arc::new(SyncService::new(ports, Arc::new(SystemClock), config.sync));
    PostLoginFunction {
        handler: PostLogin::with_verifiers(
            Arc::new(LoginService::new(sync, config.budget)),
            &config.base_path,
            HookVerifiers::new(
                crate::adapters::outbound::client(&config.outbound),
                config.outbound.clone(),
            ),
        ),
        cognito_entity: config.cognito_entity,
    }
}

pub async fn run(function: PostLoginFunction) -> Result<(), Error> {
    let (handler, entity) = (&function.handler, &function.cognito_entity);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handler.handle(event, entity).await
    }))
    .await
}
