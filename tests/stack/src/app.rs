//! `spawn_app`: a whole zuora-sync against DynamoDB Local, moto's SQS and the Zuora simulator,
//! with fresh tables and queues per call so tests never share state.

use crate::aws_ops::{AwsOpRecorder, as_function};
use crate::counter::DynamoCounter;
use crate::schema::{Provisioned, provision};
use crate::token::{DEV_AUDIENCE, DEV_ISSUER, DEV_SECRET, mint_hs256, mint_hs256_for};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;
use zuora_sim::{SimConfig, SimHandle};
use zuora_sync::adapters::clock::SystemClock;
use zuora_sync::adapters::dynamo::Tables;
use zuora_sync::adapters::zuora::ZuoraConfig;
use zuora_sync::app::{AwsClients, Services, build_with};
use zuora_sync::auth::{AccessClaims, JwtVerifier, KeySource};
use zuora_sync::config::{Config, EntityConfig};
use zuora_sync::core::sync::SyncSettings;
use zuora_sync::handlers::http::{Api, Mount, router};
use zuora_sync::handlers::sqs_worker::Worker;
use zuora_sync::model::EntityId;
use zuora_sync::model::Secret;
use zuora_sync::ports::Clock;

/// The AWS endpoints come from the environment `scripts/test.sh` sets up.
pub fn require_emulators() {
    for var in ["AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS"] {
        assert!(
            std::env::var(var).is_ok_and(|v| !v.is_empty()),
            "{var} is not set: run the tests with scripts/test.sh, which starts DynamoDB Local and the SQS emulator"
        );
    }
}

/// AWS clients for the emulators, with a request counter on DynamoDB.
pub async fn aws_clients() -> (AwsClients, DynamoCounter) {
    aws_clients_via(None).await
}

/// As [`aws_clients`], with DynamoDB reached through `dynamodb_url` (a fault proxy) if given.
pub async fn aws_clients_via(dynamodb_url: Option<&str>) -> (AwsClients, DynamoCounter) {
    require_emulators();
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(
            std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()),
        ))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_else(|_| "local".into()),
            std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|_| "local".into()),
            None,
            None,
            "local",
        ))
        .load()
        .await;
    let counter = DynamoCounter::default();
    let mut dynamo_config = aws_sdk_dynamodb::config::Builder::from(&shared)
        .interceptor(counter.clone())
        .interceptor(AwsOpRecorder);
    if let Some(url) = dynamodb_url {
        dynamo_config = dynamo_config.endpoint_url(url);
    }
    let dynamo_config = dynamo_config.build();
    let clients = AwsClients {
        dynamodb: aws_sdk_dynamodb::Client::from_conf(dynamo_config),
        sqs: aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(&shared)
                .interceptor(AwsOpRecorder)
                .build(),
        ),
        ses: aws_sdk_sesv2::Client::from_conf(
            aws_sdk_sesv2::config::Builder::from(&shared)
                .interceptor(AwsOpRecorder)
                .build(),
        ),
    };
    (clients, counter)
}

/// A Secrets Manager client on the emulator (moto), recording like the others.
pub async fn secrets_client() -> aws_sdk_secretsmanager::Client {
    require_emulators();
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "local", "local", None, None, "local",
        ))
        .load()
        .await;
    aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::config::Builder::from(&shared)
            .interceptor(AwsOpRecorder)
            .build(),
    )
}

/// The domain notification emails are sent from (the template's `NotificationEmailDomain`).
pub const TEST_EMAIL_DOMAIN: &str = "example.com";

/// Callout credentials of the test entities: Basic for `default`, a secret header for others.
pub const CALLOUT_USER: &str = "zuora-callouts";
pub const CALLOUT_PASSWORD: &str = "callout-password-for-tests";
pub const CALLOUT_HEADER: &str = "x-zuora-sync-secret";
pub const CALLOUT_SECRET: &str = "entity-callout-secret-0001";
/// Signs the default entity's webhook notifications.
pub const WEBHOOK_SECRET: &str = "webhook-signing-secret-for-tests";

pub struct AppOptions {
    pub sim: SimConfig,
    /// More entities, each with its own simulator (entity id, its data).
    pub other_entities: Vec<(&'static str, SimConfig)>,
    pub clock: Arc<dyn Clock>,
    pub use_object_query: bool,
    pub zuora_timeout: Duration,
    pub zuora_max_attempts: u32,
    pub sync: SyncSettings,
    pub base_path: String,
    pub queue_visibility_secs: u32,
    /// Point the default entity's Zuora client elsewhere (e.g. a closed port: Zuora down).
    pub zuora_base_url: Option<String>,
    /// Reach DynamoDB through this URL (a fault proxy) instead of the emulator directly.
    pub dynamodb_url: Option<String>,
    /// The Zuora requests this process may have in flight (the client's default otherwise).
    pub zuora_max_concurrency: Option<usize>,
    /// The Salesforce org has the Zuora 360 package (otherwise: the same objects as custom
    /// objects without its namespace).
    pub salesforce_package: bool,
    /// Run the Zuora simulator on its own threads (`zuora_sim::spawn_isolated`), so the
    /// benchmark can tell its CPU from the product's.
    pub isolated_sim: bool,
    /// The worker's memory in MB, as Lambda would say it (a bulk export is split to fit).
    pub worker_memory_mb: Option<u64>,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            sim: SimConfig::demo(),
            other_entities: Vec::new(),
            clock: Arc::new(SystemClock),
            use_object_query: true,
            zuora_timeout: Duration::from_secs(2),
            zuora_max_attempts: 3,
            sync: SyncSettings {
                lock_wait: Duration::from_millis(300),
                ..SyncSettings::default()
            },
            base_path: String::new(),
            queue_visibility_secs: 30,
            zuora_base_url: None,
            dynamodb_url: None,
            zuora_max_concurrency: None,
            salesforce_package: true,
            isolated_sim: false,
            worker_memory_mb: None,
        }
    }
}

/// The configuration of a local process (the dev stack, a worker process of the fault suite):
/// the `default` entity on the Zuora simulator at `zuora_url`, the given tables and queue.
pub fn local_config(
    zuora_url: &str,
    salesforce_url: Option<&str>,
    tables: Tables,
    queue_url: String,
) -> Result<Config, Box<dyn std::error::Error>> {
    let zuora = ZuoraConfig::new(
        url::Url::parse(zuora_url)?,
        "sim-client".into(),
        Secret::new("sim-secret"),
    );
    Ok(Config {
        entities: vec![EntityConfig {
            id: EntityId::parse("default")?,
            zuora,
            callout: Some(zuora_sync::auth::CalloutAuth::Basic {
                user: CALLOUT_USER.into(),
                password: Secret::new(CALLOUT_PASSWORD),
            }),
            webhook_secret: Some(Secret::new(WEBHOOK_SECRET)),
            salesforce: salesforce_url.map(local_salesforce).transpose()?,
        }],
        tables,
        queue_url,
        dead_letter_url: None,
        event_retention_days: 90,
        sync: Default::default(),
        max_receives: crate::schema::MAX_RECEIVE_COUNT,
        outbound: local_outbound(),
        memory_mb: None,
    })
}

/// The Salesforce simulator's org as a connection (client credentials), with the Zuora 360
/// package.
pub fn local_salesforce(
    url: &str,
) -> Result<zuora_sync::adapters::salesforce::SalesforceConfig, url::ParseError> {
    let sim = salesforce_sim::SimConfig::zuora360();
    Ok(zuora_sync::adapters::salesforce::SalesforceConfig {
        login_url: url::Url::parse(url)?,
        auth: zuora_sync::adapters::salesforce::SalesforceAuth::ClientCredentials {
            client_id: sim.client_id,
            secret: Secret::new(sim.client_secret),
        },
        zuora360_package: true,
        api_version: "62.0".into(),
        timeout: Duration::from_secs(10),
    })
}

/// The sync API with the local dev token settings (HS256, `DEV_SECRET`).
pub fn dev_api(services: &Services, config: &Config, base_path: &str) -> Api {
    Api {
        sync: services.sync.clone(),
        auth: JwtVerifier::new(
            KeySource::Hs256(Secret::new(DEV_SECRET)),
            DEV_ISSUER,
            DEV_AUDIENCE,
        ),
        access: AccessClaims::default(),
        default_entity: config.default_entity().clone(),
        base_path: base_path.to_string(),
        default_timeout: Duration::from_secs(29),
        realtime: services.realtime.clone(),
        callouts: config.callouts(),
        outbound: config.outbound.clone(),
        push: services.push.clone(),
        console: Some(dev_sign_in()),
    }
}

/// The local stack's console sign-in: the dev identity provider on the API's own origin
/// ([`crate::dev_idp`]).
pub fn dev_sign_in() -> zuora_sync::handlers::http::ConsoleSignIn {
    let mut sign_in = zuora_sync::handlers::http::ConsoleSignIn::new(
        crate::dev_idp::AUTHORIZE_PATH,
        crate::dev_idp::TOKEN_PATH,
        crate::dev_idp::CLIENT_ID,
        "openid",
    )
    .expect("the dev sign-in is valid");
    sign_in.dev = true;
    sign_in
}

/// sync-api's router on this API: every route but the post-login hook, as sync-api mounts them
/// (its AWS requests recorded as sync-api's).
pub fn api_router(api: Arc<Api>) -> axum::Router {
    crate::aws_ops::attributed(router(Mount {
        base_path: api.base_path.clone(),
        api: Some(api),
        ..Mount::default()
    }))
}

/// One request through a router, as Lambda or the local server hands it over.
pub async fn send(
    router: &axum::Router,
    req: http::Request<axum::body::Body>,
) -> http::Response<axum::body::Body> {
    match router.clone().oneshot(req).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// A response's body as JSON (`Null` when it is not JSON).
pub async fn json_of(response: http::Response<axum::body::Body>) -> serde_json::Value {
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("the body is readable");
    serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null)
}

pub struct TestApp {
    pub sim: SimHandle,
    /// The Salesforce simulator the default entity is connected to (pushes are off until the
    /// entity's `salesforce.enabled` setting turns them on).
    pub salesforce: salesforce_sim::SimHandle,
    /// The simulators of `AppOptions::other_entities`, in order.
    pub other_sims: Vec<(EntityId, SimHandle)>,
    pub aws: AwsClients,
    pub dynamo_counter: DynamoCounter,
    pub config: Config,
    pub services: Services,
    pub api: Arc<Api>,
    /// sync-api's router on `api`.
    pub router: axum::Router,
    pub worker: Arc<Worker>,
    /// The post-login handler (Cognito trigger and hook route), budget 1.5 s.
    pub login: Arc<zuora_sync::handlers::post_login::PostLogin>,
    pub queue: Provisioned,
    pub entity: EntityId,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(AppOptions::default()).await
}

pub async fn spawn_app_with(options: AppOptions) -> TestApp {
    let sim_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    let sim = if options.isolated_sim {
        zuora_sim::spawn_isolated(options.sim.clone(), sim_addr, 1)
    } else {
        zuora_sim::spawn(options.sim.clone(), sim_addr).await
    }
    .expect("the Zuora simulator starts");
    let mut other_sims = Vec::new();
    for (id, sim_config) in &options.other_entities {
        let handle = zuora_sim::spawn(sim_config.clone(), SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("the Zuora simulator starts");
        other_sims.push((EntityId::parse(id).expect("valid entity id"), handle));
    }
    let org = if options.salesforce_package {
        salesforce_sim::SimConfig::zuora360()
    } else {
        salesforce_sim::SimConfig::unpackaged()
    };
    let salesforce = salesforce_sim::spawn(org, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("the Salesforce simulator starts");
    let (aws, dynamo_counter) = aws_clients_via(options.dynamodb_url.as_deref()).await;
    let prefix = format!("t{}", uuid::Uuid::new_v4().simple());
    let queue = provision(
        &aws.dynamodb,
        &aws.sqs,
        &prefix,
        options.queue_visibility_secs,
    )
    .await
    .expect("tables and queues are created");
    let config = test_config(&sim, &salesforce, &other_sims, &queue, &options);
    let services = build_with(&config, &aws, options.clock.clone()).expect("services build");
    let api = Arc::new(dev_api(&services, &config, &options.base_path));
    let router = api_router(api.clone());
    let worker = Arc::new(services.worker(config.max_receives));
    let login = Arc::new(local_login(services.sync.clone(), &config));
    dynamo_counter.reset();
    TestApp {
        sim,
        salesforce,
        other_sims,
        aws,
        dynamo_counter,
        entity: config.default_entity().clone(),
        config,
        services,
        api,
        router,
        worker,
        login,
        queue,
    }
}

fn zuora_config(sim: &SimHandle, options: &AppOptions) -> ZuoraConfig {
    let mut zuora = ZuoraConfig::new(
        url::Url::parse(&sim.base_url).expect("simulator URL"),
        "sim-client".into(),
        Secret::new("sim-secret"),
    );
    zuora.use_object_query = options.use_object_query;
    zuora.timeout = options.zuora_timeout;
    zuora.retry.max_attempts = options.zuora_max_attempts;
    zuora.retry.base_delay = Duration::from_millis(20);
    zuora.retry.max_delay = Duration::from_millis(200);
    if let Some(n) = options.zuora_max_concurrency {
        zuora.max_concurrency = n;
    }
    zuora
}

fn test_config(
    sim: &SimHandle,
    salesforce: &salesforce_sim::SimHandle,
    others: &[(EntityId, SimHandle)],
    queue: &Provisioned,
    options: &AppOptions,
) -> Config {
    let mut zuora = zuora_config(sim, options);
    if let Some(url) = &options.zuora_base_url {
        zuora.base_url = url::Url::parse(url).expect("a Zuora base URL");
    }
    let mut entities = vec![EntityConfig {
        id: EntityId::parse("default").expect("valid"),
        zuora,
        callout: Some(zuora_sync::auth::CalloutAuth::Basic {
            user: CALLOUT_USER.into(),
            password: Secret::new(CALLOUT_PASSWORD),
        }),
        webhook_secret: Some(Secret::new(WEBHOOK_SECRET)),
        salesforce: Some(zuora_sync::adapters::salesforce::SalesforceConfig {
            zuora360_package: options.salesforce_package,
            ..local_salesforce(&salesforce.base_url).expect("simulator URL")
        }),
    }];
    for (id, other) in others {
        entities.push(EntityConfig {
            id: id.clone(),
            zuora: zuora_config(other, options),
            callout: Some(zuora_sync::auth::CalloutAuth::Header {
                name: CALLOUT_HEADER.into(),
                secret: Secret::new(CALLOUT_SECRET),
            }),
            webhook_secret: None,
            salesforce: None,
        });
    }
    Config {
        entities,
        tables: queue.tables.clone(),
        queue_url: queue.queue_url.clone(),
        dead_letter_url: Some(queue.dlq_url.clone()),
        event_retention_days: 90,
        sync: options.sync.clone(),
        max_receives: crate::schema::MAX_RECEIVE_COUNT,
        outbound: local_outbound(),
        memory_mb: options.worker_memory_mb,
    }
}

/// Local development's outbound rules: webhooks and IdPs on this machine are allowed (the
/// test receivers and IdPs listen on loopback); emails come from [`TEST_EMAIL_DOMAIN`].
pub fn local_outbound() -> zuora_sync::model::OutboundPolicy {
    zuora_sync::model::OutboundPolicy {
        allow_loopback: true,
        email_domain: Some(TEST_EMAIL_DOMAIN.into()),
    }
}

/// The post-login handler of the local stack (budget 1.5 s), fetching IdP keys like the
/// post-login function does.
pub fn local_login(
    sync: Arc<zuora_sync::core::sync::SyncService>,
    config: &Config,
) -> zuora_sync::handlers::post_login::PostLogin {
    zuora_sync::handlers::post_login::PostLogin::with_verifiers(
        Arc::new(zuora_sync::core::login::LoginService::new(
            sync,
            Duration::from_millis(1500),
        )),
        "",
        zuora_sync::auth::HookVerifiers::new(
            zuora_sync::adapters::outbound::client(&config.outbound),
            config.outbound.clone(),
        ),
    )
}

impl TestApp {
    /// The sweep function's run for the default entity, invoked now.
    pub async fn sweep(
        &self,
        correlation: &str,
    ) -> Result<Option<zuora_sync::model::Session>, zuora_sync::ports::StoreError> {
        let deadline = self.sweep_deadline();
        as_function(
            "sync-sweep",
            self.services
                .realtime
                .sweep(&self.entity, correlation, deadline),
        )
        .await
    }

    /// The post-login hook route, as the post-login function answers it.
    pub async fn login_hook(
        &self,
        request: aws_lambda_events::apigw::ApiGatewayV2httpRequest,
    ) -> aws_lambda_events::apigw::ApiGatewayV2httpResponse {
        as_function("post-login", self.login.hook(request)).await
    }

    /// The deadline of a sweep invoked now (the function's 60 s), on the app's clock.
    pub fn sweep_deadline(&self) -> zuora_sync::model::EpochMillis {
        self.services.sync.now().plus_ms(60_000)
    }

    pub fn tables(&self) -> &Tables {
        &self.config.tables
    }

    /// A token for every entity, with both roles.
    pub fn token(&self) -> String {
        mint_hs256(DEV_SECRET, DEV_ISSUER, DEV_AUDIENCE, "test-user", 300)
    }

    /// A token for some entities and roles only.
    pub fn token_for(&self, entities: &[&str], roles: &[&str]) -> String {
        mint_hs256_for(
            DEV_SECRET,
            DEV_ISSUER,
            DEV_AUDIENCE,
            "test-user",
            300,
            entities,
            roles,
        )
    }

    /// Sends one request through sync-api's router.
    pub async fn send(
        &self,
        req: http::Request<axum::body::Body>,
    ) -> http::Response<axum::body::Body> {
        send(&self.router, req).await
    }

    /// Calls sync-api's router directly with a request like API Gateway's.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        authorization: Option<&str>,
    ) -> (u16, serde_json::Value) {
        self.call_with_body(method, path, authorization, None).await
    }

    /// Changes some of the default entity's settings at their current version; the update
    /// must succeed. Answers the saved settings.
    pub async fn update_settings(&self, mut fields: serde_json::Value) -> serde_json::Value {
        let path = "/plugins/zuora/entities/default/settings";
        let (_, current) = self.admin("GET", path, None).await;
        fields["version"] = current["version"].clone();
        let (status, answer) = self.admin("PATCH", path, Some(fields)).await;
        assert_eq!(status, 200, "{answer}");
        answer
    }

    /// Calls a route as an admin of every entity.
    pub async fn admin(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let auth = format!("Bearer {}", self.token());
        self.call_with_body(method, path, Some(&auth), body).await
    }

    pub async fn call_with_body(
        &self,
        method: &str,
        path: &str,
        authorization: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut builder = http::Request::builder()
            .method(method)
            .uri(format!("https://api.example.com{path}"));
        if let Some(auth) = authorization {
            builder = builder.header("authorization", auth);
        }
        let body = match body {
            Some(b) => axum::body::Body::from(b.to_string()),
            None => axum::body::Body::empty(),
        };
        let req = builder.body(body).expect("request builds");
        let resp = self.send(req).await;
        let status = resp.status().as_u16();
        (status, json_of(resp).await)
    }

    /// Runs the worker on the sync queue until a receive finds nothing visible; returns how
    /// many messages it handled.
    pub async fn run_queued_jobs(&self) -> usize {
        let mut total = 0;
        loop {
            let n = crate::local::poll_once(
                &self.worker,
                &self.aws.sqs,
                &self.queue.queue_url,
                Duration::from_secs(60),
            )
            .await
            .expect("poll the sync queue");
            if n == 0 {
                return total;
            }
            total += n;
        }
    }

    pub async fn sync_subscription(&self, id: &str) -> (u16, serde_json::Value) {
        let auth = format!("Bearer {}", self.token());
        self.call(
            "POST",
            &format!("/plugins/zuora/sync/subscription/{id}"),
            Some(&auth),
        )
        .await
    }

    /// Every item in the mirror table, sorted by key, as plain JSON-ish strings for comparison.
    pub async fn mirror_dump(&self) -> Vec<std::collections::BTreeMap<String, String>> {
        let mut out: Vec<std::collections::BTreeMap<String, String>> = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .aws
                .dynamodb
                .scan()
                .table_name(&self.tables().mirror)
                .set_exclusive_start_key(start)
                .consistent_read(true)
                .send()
                .await
                .expect("scan mirror");
            for item in page.items() {
                out.push(
                    item.iter()
                        .map(|(k, v)| (k.clone(), canonical(v)))
                        .collect(),
                );
            }
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                break;
            }
        }
        out.sort_by_key(|i| (i.get("pk").cloned(), i.get("sk").cloned()));
        out
    }

    /// Mirror records (not id maps) under an account, keyed by sort key.
    pub async fn mirror_records(
        &self,
        account_id: &str,
    ) -> std::collections::BTreeMap<String, zuora_sync::model::MirrorRecord> {
        use zuora_sync::ports::MirrorStore;
        self.services
            .store
            .load_account(&self.entity, account_id)
            .await
            .expect("load account")
            .records
    }

    pub async fn events_for(&self, account: &str) -> Vec<zuora_sync::model::SyncEvent> {
        use zuora_sync::ports::EventStore;
        self.services
            .store
            .account_events(&self.entity, account, 500)
            .await
            .expect("query events")
    }

    /// Messages waiting on a queue (received and immediately made visible again).
    pub async fn queued_bodies(&self, queue_url: &str) -> Vec<String> {
        let out = self
            .aws
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        out.messages()
            .iter()
            .filter_map(|m| m.body().map(str::to_string))
            .collect()
    }

    pub async fn queue_counts(&self, queue_url: &str) -> QueueCounts {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let out = self
            .aws
            .sqs
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(A::All)
            .send()
            .await
            .expect("queue attributes");
        let get = |name: A| {
            out.attributes()
                .and_then(|a| a.get(&name))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        QueueCounts {
            visible: get(A::ApproximateNumberOfMessages),
            delayed: get(A::ApproximateNumberOfMessagesDelayed),
            in_flight: get(A::ApproximateNumberOfMessagesNotVisible),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueCounts {
    pub visible: u64,
    pub delayed: u64,
    pub in_flight: u64,
}

/// A stable text form of an attribute value (maps in key order), for comparing dumps.
fn canonical(v: &aws_sdk_dynamodb::types::AttributeValue) -> String {
    use aws_sdk_dynamodb::types::AttributeValue as Av;
    match v {
        Av::M(m) => {
            let sorted: std::collections::BTreeMap<_, _> =
                m.iter().map(|(k, v)| (k.clone(), canonical(v))).collect();
            format!("M{sorted:?}")
        }
        Av::L(l) => format!("L{:?}", l.iter().map(canonical).collect::<Vec<_>>()),
        other => format!("{other:?}"),
    }
}
