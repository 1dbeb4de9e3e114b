//! Wiring shared by the binaries, the local stack and the tests: one place builds the
//! clients and the services from a [`Config`].

use crate::adapters::clock::SystemClock;

use crate::adapters::dynamo::DynamoStore;
use crate::adapters::sqs::SqsQueue;
use crate::adapters::zuora::ZuoraClient;
use crate::config::Config;
use crate::core::settings::SettingsCache;
use crate::core::sync::{Ports, SyncService};
use crate::core::tenants::ZuoraTenants;
use crate::ports::Clock;
use crate::ports::ZuoraApi;
use std::sync::Arc;
use std::time::Duration;

/// How long a process trusts the settings it read.
const SETTINGS_TTL: Duration = Duration::from_secs(30);

/// The AWS SDK clients, built once per process.
#[derive(Clone)]
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub ses: aws_sdk_sesv2::Client,
}

impl AwsClients {
    /// From the environment (credentials, region, `AWS_ENDPOINT_URL_*` for local stand-ins).
    pub async fn from_env() -> Self {
        let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Self::from_shared(&shared)
    }

    /// As [`from_env`](Self::from_env), with every call (retries included) bounded by
    /// `operation`: for functions something waits on (the Cognito trigger).
    pub async fn from_env_with_timeout(operation: Duration) -> Self {
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .operation_timeout(operation)
            .connect_timeout(operation)
            .build();
        let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .timeout_config(timeouts)
            .load()
            .await;
        Self::from_shared(&shared)
    }

    pub fn from_shared(shared: &aws_config::SdkConfig) -> Self {
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(shared),
            sqs: aws_sdk_sqs::Client::new(shared),
            ses: aws_sdk_sesv2::Client::new(shared),
        }
    }
}

/// The sync service and the store behind it.
pub struct Services {
    pub sync: Arc<SyncService>,
    pub store: Arc<DynamoStore>,
    /// Each entity's Zuora client, by entity id.
    pub zuora: Vec<(crate::model::EntityId, Arc<ZuoraClient>)>,
    pub settings: Arc<SettingsCache>,
    pub queue: Arc<SqsQueue>,
    pub realtime: Arc<crate::core::realtime::Realtime>,
    pub notifier: Arc<dyn crate::ports::Notifier>,
}

impl Services {
    /// The SQS worker on these services.
    pub fn worker(&self, max_receives: u32) -> crate::handlers::sqs_worker::Worker {
        crate::handlers::sqs_worker::Worker {
            sync: self.sync.clone(),
            realtime: self.realtime.clone(),
            max_receives,
        }
    }
}

pub fn build(config: &Config, aws: &AwsClients) -> Result<Services, reqwest::Error> {
    build_with(config, aws, Arc::new(SystemClock))
}

/// As [`build`], with an injected clock.
pub fn build_with(
    config: &Config,
    aws: &AwsClients,
    clock: Arc<dyn Clock>,
) -> Result<Services, reqwest::Error> {
    let mut zuora = Vec::new();
    for entity in &config.entities {
        zuora.push((
            entity.id.clone(),
            Arc::new(ZuoraClient::new(entity.zuora.clone())?),
        ));
    }
    let tenants = ZuoraTenants::new(
        zuora
            .iter()
            .map(|(id, c)| (id.clone(), c.clone() as Arc<dyn ZuoraApi>)),
    );
    let store = Arc::new(DynamoStore::new(
        aws.dynamodb.clone(),
        config.tables.clone(),
        config.event_retention_days,
    ));
    let settings = Arc::new(SettingsCache::new(store.clone(), SETTINGS_TTL));
    let queue = Arc::new(SqsQueue::new(aws.sqs.clone(), config.queue_url.clone()));
    let notifier = Arc::new(crate::adapters::notify::ChannelNotifier::new(
        aws.ses.clone(),
        config
            .entities
            .iter()
            .filter_map(|e| e.webhook_secret.clone().map(|s| (e.id.clone(), s)))
            .collect(),
    ));
    let ports = Ports {
        zuora: Arc::new(tenants),
        mirror: store.clone(),
        locks: store.clone(),
        events: store.clone(),
        queue: queue.clone(),
        settings: settings.clone(),
        notifier: notifier.clone(),
    };
    let realtime = Arc::new(crate::core::realtime::Realtime::new(
        store.clone(),
        queue.clone(),
        settings.clone(),
        clock.clone(),
        ports.zuora.clone(),
        notifier.clone(),
    ));
    let sync = Arc::new(SyncService::new(ports, clock, config.sync.clone()));
    Ok(Services {
        sync,
        store,
        zuora,
        settings,
        queue,
        realtime,
        notifier,
    })
}
