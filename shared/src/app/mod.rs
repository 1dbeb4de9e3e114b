//! The composition root: the only place (with [`config`](crate::config)) that knows adapters.
//! Each function has its own module that builds only the ports that function uses and runs
//! it; [`build`] wires everything at once for the local stack and the emulator tests, where one
//! process plays every function.

pub mod post_login;
pub mod secrets;
pub mod sync_api;
pub mod sync_sweep;
pub mod sync_worker;

use crate::adapters::clock::SystemClock;
use crate::adapters::dynamo::DynamoStore;
use crate::adapters::notify::ChannelNotifier;
use crate::adapters::sqs::SqsQueue;
use crate::adapters::zuora::ZuoraClient;
use crate::config::Config;
use crate::core::settings::SettingsCache;
use crate::core::sync::{Ports, SyncService};
use crate::core::tenants::ZuoraTenants;
use crate::model::EntityId;
use crate::ports::{Clock, ZuoraApi};
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

/// Every AWS request (its retries included) ends within this, so an invocation can budget the
/// writes it still has to make after its last Zuora call (`core::deadline::STORE_RESERVE`).
pub const AWS_OPERATION_TIMEOUT: Duration = Duration::from_secs(2);

/// The SDK configuration from the environment (credentials, region, `AWS_ENDPOINT_URL_*` for
/// local stand-ins), with every request bounded by `timeout`.
pub async fn aws_config(timeout: Duration) -> aws_config::SdkConfig {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .operation_timeout(timeout)
        .connect_timeout(timeout)
        .build();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(timeouts)
        .load()
        .await
}

/// The SDK configuration (each request bounded by [`AWS_OPERATION_TIMEOUT`]) and the process
/// environment with the function's secrets (`SECRETS_ARNS`), read once at init.
pub async fn environment() -> Result<
    (
        aws_config::SdkConfig,
        crate::config::Env<impl Fn(&str) -> Option<String> + use<>>,
    ),
    secrets::SecretsError,
> {
    let shared = aws_config(AWS_OPERATION_TIMEOUT).await;
    let env = secrets::process_env(&aws_sdk_secretsmanager::Client::new(&shared)).await?;
    Ok((shared, env))
}

impl AwsClients {
    /// From the environment, each request bounded by [`AWS_OPERATION_TIMEOUT`].
    pub async fn from_env() -> Self {
        Self::from_shared(&aws_config(AWS_OPERATION_TIMEOUT).await)
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
    pub notifier: Arc<ChannelNotifier>,
    /// The Salesforce push, when any entity has a connection.
    pub push: Option<Arc<crate::core::push::PushService>>,
}

impl Services {
    /// The SQS worker on these services.
    pub fn worker(&self, max_receives: u32) -> crate::handlers::sqs_worker::Worker {
        crate::handlers::sqs_worker::Worker {
            sync: self.sync.clone(),
            realtime: self.realtime.clone(),
            max_receives,
            push: self.push.clone(),
        }
    }
}

/// The process's HTTP clients, each built once (each loads the root certificates and keeps
/// its own connection pool): Zuora's, shared by every entity, and the one for URLs an admin
/// configured (webhooks, Salesforce), which refuses inward addresses. Every request sets its
/// own timeout.
#[derive(Clone)]
pub struct HttpClients {
    pub zuora: reqwest::Client,
    pub outbound: reqwest::Client,
}

impl HttpClients {
    pub fn new(config: &Config) -> Result<Self, reqwest::Error> {
        Ok(Self {
            zuora: crate::adapters::zuora::http_client()?,
            outbound: crate::adapters::outbound::client(&config.outbound),
        })
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
    let http = HttpClients::new(config)?;
    let zuora = zuora_clients(config, &http);
    let tenants = tenants(&zuora);
    let store = dynamo_store(&aws.dynamodb, &config.tables, config.event_retention_days);
    let settings = Arc::new(SettingsCache::new(store.clone(), SETTINGS_TTL));
    let queue = Arc::new(
        SqsQueue::new(aws.sqs.clone(), config.queue_url.clone())
            .with_dead_letter(config.dead_letter_url.clone()),
    );
    let notifier = notifier(config, &aws.ses, &http);
    let ports = Ports {
        zuora: Arc::new(tenants),
        mirror: store.clone(),
        locks: store.clone(),
        events: store.clone(),
        queue: queue.clone(),
        settings: settings.clone(),
        notifier: notifier.clone(),
    };
    let push = push_service(
        config,
        &http,
        &store,
        queue.clone(),
        settings.clone(),
        clock.clone(),
    );
    let mut realtime = crate::core::realtime::Realtime::new(
        store.clone(),
        queue.clone(),
        settings.clone(),
        clock.clone(),
        ports.zuora.clone(),
        notifier.clone(),
    );
    if let Some(push) = &push {
        realtime = realtime.with_push(push.clone());
    }
    // Lambda says how much memory the function has; a bulk export's part must fit in it.
    if let Some(mb) = config.memory_mb {
        realtime.limit_bulk_accounts(crate::core::realtime::bulk::accounts_for_memory(mb));
    }
    let realtime = Arc::new(realtime);
    let sync = Arc::new(SyncService::new(ports, clock, config.sync.clone()));
    Ok(Services {
        sync,
        store,
        zuora,
        settings,
        queue,
        realtime,
        notifier,
        push,
    })
}

/// The Salesforce push over each entity's connection; `None` when no entity has one.
pub fn push_service(
    config: &Config,
    http: &HttpClients,
    store: &Arc<DynamoStore>,
    queue: Arc<SqsQueue>,
    settings: Arc<SettingsCache>,
    clock: Arc<dyn Clock>,
) -> Option<Arc<crate::core::push::PushService>> {
    use crate::adapters::salesforce::SalesforceClient;
    use crate::core::push::{PushPorts, PushService, PushSettings, SalesforceTenants};
    let salesforce: SalesforceTenants = config
        .entities
        .iter()
        .filter_map(|e| {
            let sf = e.salesforce.clone()?;
            let client: Arc<dyn crate::ports::SalesforceApi> = Arc::new(SalesforceClient::new(
                sf,
                config.outbound.clone(),
                http.outbound.clone(),
            ));
            Some((e.id.clone(), client))
        })
        .collect();
    if salesforce.is_empty() {
        return None;
    }
    let ports = PushPorts {
        salesforce,
        store: store.clone(),
        mirror: store.clone(),
        queue,
        settings,
    };
    Some(Arc::new(PushService::new(
        ports,
        clock,
        PushSettings::default(),
    )))
}

/// One Zuora client per configured entity (its own token and concurrency cap, over the shared
/// HTTP client). The process's first set is also the one its invocations report metrics for
/// ([`emit_zuora_metrics`]).
fn zuora_clients(config: &Config, http: &HttpClients) -> Vec<(EntityId, Arc<ZuoraClient>)> {
    let clients: Vec<(EntityId, Arc<ZuoraClient>)> = config
        .entities
        .iter()
        .map(|e| {
            let client = ZuoraClient::with_http(e.zuora.clone(), http.zuora.clone());
            (e.id.clone(), Arc::new(client))
        })
        .collect();
    let _ = METERED.set(ZuoraMeter {
        clients: clients.clone(),
        reported: std::sync::Mutex::default(),
    });
    clients
}

/// The Zuora clients whose requests and 429s each invocation reports.
static METERED: std::sync::OnceLock<ZuoraMeter> = std::sync::OnceLock::new();

struct ZuoraMeter {
    clients: Vec<(EntityId, Arc<ZuoraClient>)>,
    /// (requests, 429s) already reported, per entity.
    reported: std::sync::Mutex<std::collections::HashMap<EntityId, (u64, u64)>>,
}

/// Reports the Zuora requests and 429 answers since the last report as EMF metrics
/// (`ZuoraRequests`, `ZuoraThrottled`); each function's run loop calls it after every
/// invocation.
pub fn emit_zuora_metrics(function: &str) {
    use std::sync::atomic::Ordering;
    let Some(meter) = METERED.get() else {
        return;
    };
    let mut metrics = crate::handlers::metrics::Metrics::default();
    let mut reported = meter.reported.lock().expect("meter lock");
    for (entity, client) in &meter.clients {
        let now = (
            client.stats.requests.load(Ordering::Relaxed),
            client.stats.throttled.load(Ordering::Relaxed),
        );
        let before = reported.insert(entity.clone(), now).unwrap_or((0, 0));
        if now.0 > before.0 {
            metrics.count(entity.as_str(), "ZuoraRequests", now.0 - before.0);
        }
        if now.1 > before.1 {
            metrics.count(entity.as_str(), "ZuoraThrottled", now.1 - before.1);
        }
    }
    if !metrics.is_empty() {
        metrics.emit(function);
    }
}

fn tenants(clients: &[(EntityId, Arc<ZuoraClient>)]) -> ZuoraTenants {
    ZuoraTenants::new(
        clients
            .iter()
            .map(|(id, c)| (id.clone(), c.clone() as Arc<dyn ZuoraApi>)),
    )
}

fn dynamo_store(
    client: &aws_sdk_dynamodb::Client,
    tables: &crate::adapters::dynamo::Tables,
    event_retention_days: i64,
) -> Arc<DynamoStore> {
    Arc::new(DynamoStore::new(
        client.clone(),
        tables.clone(),
        event_retention_days,
    ))
}

fn notifier(
    config: &Config,
    ses: &aws_sdk_sesv2::Client,
    http: &HttpClients,
) -> Arc<ChannelNotifier> {
    Arc::new(ChannelNotifier::new(
        ses.clone(),
        config
            .entities
            .iter()
            .filter_map(|e| e.webhook_secret.clone().map(|s| (e.id.clone(), s)))
            .collect(),
        config.outbound.clone(),
        http.outbound.clone(),
    ))
}

/// Opens the connection (TLS included) during init, not on the first request.
async fn warm_up(store: &DynamoStore) {
    if let Err(e) = store.warm_up().await {
        tracing::warn!(error = %e, "DynamoDB warm-up failed; the first request will retry");
    }
}
