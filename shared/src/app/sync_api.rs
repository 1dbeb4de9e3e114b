//! The sync-api function: API Gateway HTTP API → the sync API's routes (all but the post-login
//! hook, which API Gateway sends to the post-login function).

use super::{AwsClients, build, warm_up};
use crate::auth::JwtVerifier;
use crate::config::{ApiConfig, Config};
use crate::handlers::http::{Api, Mount, router};
use lambda_http::Error;
use std::sync::Arc;

/// The API with every port it uses (Zuora, DynamoDB, SQS, SES), connections opened.
pub async fn from_env() -> Result<Api, Error> {
    let (shared, env) = super::environment().await?;
    let config = Config::from_env(&env)?;
    let api_config = ApiConfig::from_env(&env)?;
    assemble(&config, api_config, &AwsClients::from_shared(&shared)).await
}

/// The API from its configuration and AWS clients.
pub async fn assemble(
    config: &Config,
    api_config: ApiConfig,
    aws: &AwsClients,
) -> Result<Api, Error> {
    let services = build(config, aws)?;
    warm_up(&services.store).await;
    let mut auth = JwtVerifier::new(
        api_config.key_source,
        &api_config.issuer,
        &api_config.audience,
    );
    if api_config.audience_in_client_id {
        auth = auth.audience_in_client_id();
    }
    Ok(Api {
        sync: services.sync,
        auth,
        access: api_config.access,
        default_entity: config.default_entity().clone(),
        base_path: api_config.base_path,
        default_timeout: api_config.default_timeout,
        realtime: services.realtime,
        callouts: config.callouts(),
        outbound: config.outbound.clone(),
        push: services.push,
        console: api_config.console,
    })
}

pub async fn run(api: Api) -> Result<(), Error> {
    let base_path = api.base_path.clone();
    let router = router(Mount {
        api: Some(Arc::new(api)),
        base_path,
        ..Mount::default()
    })
    .layer(axum::middleware::from_fn(
        |request: axum::extract::Request, next: axum::middleware::Next| async move {
            let response = next.run(request).await;
            super::emit_zuora_metrics("sync-api");
            response
        },
    ));
    lambda_http::run(router).await
}
