//! sync-api: API Gateway HTTP API → the sync API handler.

use lambda_http::{Body, Error, Request, Response, run, service_fn};
use zuora_sync::app::{AwsClients, build};
use zuora_sync::auth::JwtVerifier;
use zuora_sync::config::{ApiConfig, Config, Env};
use zuora_sync::handlers::http::Api;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    zuora_sync::telemetry::init();
    let env = Env::process();
    let config = Config::from_env(&env)?;
    let api_config = ApiConfig::from_env(&env)?;
    // Clients are built once per execution environment and reused by every request.
    let aws = AwsClients::from_env().await;
    let services = build(&config, &aws)?;
    if let Err(e) = services.store.warm_up().await {
        tracing::warn!(error = %e, "DynamoDB warm-up failed; the first request will retry");
    }
    let api = Api {
        sync: services.sync,
        auth: JwtVerifier::new(
            api_config.key_source,
            &api_config.issuer,
            &api_config.audience,
        ),
        access: api_config.access,
        default_entity: config.default_entity().clone(),
        base_path: api_config.base_path,
        default_timeout: api_config.default_timeout,
        realtime: services.realtime.clone(),
        callouts: config.callouts(),
    };
    let api = &api;
    run(service_fn(move |req: Request| async move {
        Ok::<Response<Body>, Error>(api.handle(req).await)
    }))
    .await
}
