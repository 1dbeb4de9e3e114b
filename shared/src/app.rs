//! Wiring shared by the binaries, the local stack and the tests: one place builds the
//! clients and the services from a [`Config`].

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::queue::SqsQueue;
use crate::store::DynamoStore;
use crate::sync::SyncService;
use crate::zuora::{ZuoraApi, ZuoraClient};
use std::sync::Arc;

/// The AWS SDK clients, built once per process.
#[derive(Clone)]
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
}

impl AwsClients {
    /// From the environment (credentials, region, `AWS_ENDPOINT_URL_*` for local stand-ins).
    pub async fn from_env() -> Self {
        let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(&shared),
            sqs: aws_sdk_sqs::Client::new(&shared),
        }
    }
}

/// The sync service and the store behind it.
pub struct Services {
    pub sync: Arc<SyncService>,
    pub store: Arc<DynamoStore>,
    pub zuora: Arc<ZuoraClient>,
}

pub fn build(config: &Config, aws: &AwsClients) -> Result<Services, reqwest::Error> {
    build_with(config, aws, Arc::new(SystemClock), None)
}

/// As [`build`], with an injected clock and optionally another Zuora implementation.
pub fn build_with(
    config: &Config,
    aws: &AwsClients,
    clock: Arc<dyn Clock>,
    zuora_override: Option<Arc<dyn ZuoraApi>>,
) -> Result<Services, reqwest::Error> {
    let zuora = Arc::new(ZuoraClient::new(config.zuora.clone())?);
    let store = Arc::new(DynamoStore::new(
        aws.dynamodb.clone(),
        config.tables.clone(),
        config.event_retention_days,
    ));
    let queue = Arc::new(SqsQueue::new(aws.sqs.clone(), config.queue_url.clone()));
    let zuora_api: Arc<dyn ZuoraApi> = zuora_override.unwrap_or_else(|| zuora.clone());
    let sync = Arc::new(SyncService::new(
        zuora_api,
        store.clone(),
        store.clone(),
        store.clone(),
        queue,
        clock,
        config.sync.clone(),
    ));
    Ok(Services { sync, store, zuora })
}
