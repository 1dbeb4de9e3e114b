//! Configuration from the environment, parsed once at start-up. A bad value stops the
//! function at init with a message naming the variable, instead of failing every request.

use crate::adapters::dynamo::Tables;
use crate::adapters::zuora::ZuoraConfig;
use crate::auth::{AccessClaims, CalloutAuth, KeySource};
use crate::core::sync::SyncSettings;
use crate::model::EntityId;
use crate::model::OutboundPolicy;
use crate::model::Secret;
use std::time::Duration;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {why}")]
    Invalid { name: &'static str, why: String },
}

/// Reads variables through a function, so tests need not touch the process environment.
pub struct Env<F: Fn(&str) -> Option<String>>(pub F);

impl Env<fn(&str) -> Option<String>> {
    pub fn process() -> Self {
        Env(|k| std::env::var(k).ok())
    }
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    fn optional(&self, name: &'static str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.optional(name).ok_or(ConfigError::Missing(name))
    }

    fn parsed<T: std::str::FromStr>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        match self.optional(name) {
            None => Ok(default),
            Some(raw) => raw.parse().map_err(|e: T::Err| ConfigError::Invalid {
                name,
                why: e.to_string(),
            }),
        }
    }

    fn millis(&self, name: &'static str, default_ms: u64) -> Result<Duration, ConfigError> {
        self.parsed(name, default_ms).map(Duration::from_millis)
    }
}

/// One Zuora entity (tenant) and how to reach it.
#[derive(Debug, Clone)]
pub struct EntityConfig {
    pub id: EntityId,
    pub zuora: ZuoraConfig,
    /// How this entity's Zuora callouts authenticate; none: callouts are refused.
    pub callout: Option<CalloutAuth>,
    /// Signs the entity's webhook notifications.
    pub webhook_secret: Option<Secret>,
    /// The entity's Salesforce org, when its records are pushed there.
    pub salesforce: Option<crate::adapters::salesforce::SalesforceConfig>,
}

/// Callout credentials from four optional values: Basic user and password, or a header name
/// and its secret (exactly one pair).
fn callout_auth(
    name: &'static str,
    basic_user: Option<String>,
    basic_password: Option<String>,
    header: Option<String>,
    secret: Option<String>,
) -> Result<Option<CalloutAuth>, ConfigError> {
    match (basic_user, basic_password, header, secret) {
        (None, None, None, None) => Ok(None),
        // As long as a header secret (L2): the callout route is on the internet.
        (Some(user), Some(password), None, None) if password.len() >= 16 => {
            Ok(Some(CalloutAuth::Basic {
                user,
                password: Secret::new(password),
            }))
        }
        (None, None, Some(name), Some(secret)) if secret.len() >= 16 => {
            Ok(Some(CalloutAuth::Header {
                name: name.to_ascii_lowercase(),
                secret: Secret::new(secret),
            }))
        }
        _ => Err(invalid(
            name,
            "callouts need either a Basic user and a password of at least 16 characters, or a header name and a secret of at least 16 characters",
        )),
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Every configured entity; the first is the default (routes without an entity use it).
    pub entities: Vec<EntityConfig>,
    pub tables: Tables,
    pub queue_url: String,
    /// The sync queue's dead-letter queue (`SYNC_DLQ_URL`), whose depth the status shows.
    pub dead_letter_url: Option<String>,
    /// Retention of events for entities whose settings do not say.
    pub event_retention_days: i64,
    pub sync: SyncSettings,
    /// The sync queue's `maxReceiveCount` (the template's redrive policy).
    pub max_receives: u32,
    /// Where settings may point outbound calls and email.
    pub outbound: OutboundPolicy,
    /// The function's memory in MB (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, which Lambda sets): a
    /// bulk export is split into parts that each fit in it.
    pub memory_mb: Option<u64>,
}

/// One entity in `ZUORA_ENTITIES`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EntityJson {
    base_url: String,
    client_id: String,
    client_secret: String,
    #[serde(default)]
    entity_header: Option<String>,
    #[serde(default)]
    use_object_query: Option<bool>,
    #[serde(default)]
    max_concurrency: Option<usize>,
    #[serde(default)]
    concurrency_budget: Option<usize>,
    #[serde(default)]
    object_query_page_size: Option<usize>,
    #[serde(default)]
    callout_basic_user: Option<String>,
    #[serde(default)]
    callout_basic_password: Option<String>,
    #[serde(default)]
    callout_header: Option<String>,
    #[serde(default)]
    callout_secret: Option<String>,
    #[serde(default)]
    webhook_secret: Option<String>,
    #[serde(default)]
    salesforce_url: Option<String>,
    #[serde(default)]
    salesforce_client_id: Option<String>,
    #[serde(default)]
    salesforce_client_secret: Option<String>,
    #[serde(default)]
    salesforce_jwt_key: Option<String>,
    #[serde(default)]
    salesforce_username: Option<String>,
    #[serde(default)]
    salesforce_audience: Option<String>,
    salesforce_package: Option<String>,
}

fn invalid(name: &'static str, why: impl ToString) -> ConfigError {
    ConfigError::Invalid {
        name,
        why: why.to_string(),
    }
}

impl Config {
    /// Each entity's callout credentials (entities without any refuse callouts).
    pub fn callouts(&self) -> std::collections::HashMap<EntityId, CalloutAuth> {
        self.entities
            .iter()
            .filter_map(|e| e.callout.clone().map(|auth| (e.id.clone(), auth)))
            .collect()
    }

    pub fn default_entity(&self) -> &EntityId {
        &self.entities[0].id
    }

    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let default_id = default_entity_id(env)?;
        let mut entities = match env.optional("ZUORA_ENTITIES") {
            Some(json) => entities_from_json(env, &json)?,
            None => vec![EntityConfig {
                id: default_id.clone(),
                zuora: single_entity(env)?,
                callout: callout_auth(
                    "CALLOUT_BASIC_USER/CALLOUT_HEADER",
                    env.optional("CALLOUT_BASIC_USER"),
                    env.optional("CALLOUT_BASIC_PASSWORD"),
                    env.optional("CALLOUT_HEADER"),
                    env.optional("CALLOUT_SECRET"),
                )?,
                webhook_secret: env.optional("WEBHOOK_SECRET").map(Secret::new),
                salesforce: salesforce(
                    env,
                    "SALESFORCE_URL",
                    SalesforceParts {
                        url: env.optional("SALESFORCE_URL"),
                        client_id: env.optional("SALESFORCE_CLIENT_ID"),
                        client_secret: env.optional("SALESFORCE_CLIENT_SECRET"),
                        jwt_key: env.optional("SALESFORCE_JWT_KEY"),
                        username: env.optional("SALESFORCE_USERNAME"),
                        audience: env.optional("SALESFORCE_AUDIENCE"),
                        package: env.optional("SALESFORCE_PACKAGE"),
                    },
                )?,
            }],
        };
        let Some(pos) = entities.iter().position(|e| e.id == default_id) else {
            return Err(invalid(
                "ZUORA_ENTITY_ID",
                format!("entity {default_id} is not among the configured entities"),
            ));
        };
        // The default entity goes first.
        entities.swap(0, pos);
        Ok(Self {
            entities,
            tables: tables(env)?,
            queue_url: env.required("SYNC_QUEUE_URL")?,
            dead_letter_url: env.optional("SYNC_DLQ_URL"),
            event_retention_days: env.parsed("EVENT_RETENTION_DAYS", 90i64)?,
            sync: sync_settings(env)?,
            max_receives: env.parsed("SYNC_MAX_RECEIVES", 5u32)?,
            outbound: outbound(env)?,
            memory_mb: match env.optional("AWS_LAMBDA_FUNCTION_MEMORY_SIZE") {
                None => None,
                Some(_) => Some(env.parsed("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", 0u64)?),
            },
        })
    }
}

/// `ZUORA_ENTITY_ID`, the entity of routes that name none (default `default`).
fn default_entity_id<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<EntityId, ConfigError> {
    let raw = env
        .optional("ZUORA_ENTITY_ID")
        .unwrap_or_else(|| "default".into());
    EntityId::parse(&raw).map_err(|e| invalid("ZUORA_ENTITY_ID", e))
}

fn tables<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Tables, ConfigError> {
    Ok(Tables {
        mirror: env.required("MIRROR_TABLE")?,
        locks: env.required("LOCKS_TABLE")?,
        events: env.required("EVENTS_TABLE")?,
        state: env.required("STATE_TABLE")?,
    })
}

fn sync_settings<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<SyncSettings, ConfigError> {
    Ok(SyncSettings {
        lease_margin: env.millis("LOCK_LEASE_MARGIN_MS", 5_000)?,
        lock_wait: env.millis("LOCK_WAIT_MS", 3_000)?,
        follow_up_min_time: env.millis("FOLLOW_UP_MIN_TIME_MS", 5_000)?,
    })
}

/// Settings every entity's client shares: timeouts and retries.
fn apply_common<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
    zuora: &mut ZuoraConfig,
) -> Result<(), ConfigError> {
    zuora.timeout = env.millis("ZUORA_TIMEOUT_MS", 10_000)?;
    zuora.retry.max_attempts = env.parsed("ZUORA_MAX_ATTEMPTS", 4u32)?;
    if zuora.max_concurrency == 0 || zuora.retry.max_attempts == 0 {
        return Err(invalid(
            "ZUORA_MAX_CONCURRENCY/ZUORA_MAX_ATTEMPTS",
            "must be at least 1",
        ));
    }
    if !(1..=99).contains(&zuora.object_query_page_size) {
        return Err(invalid(
            "ZUORA_OBJECT_QUERY_PAGE_SIZE/object_query_page_size",
            "must be 1 to 99",
        ));
    }
    Ok(())
}

/// One Zuora tenant's concurrency budget, held across every instance of every function: each
/// function owns a share of it (`ZUORA_BUDGET_SHARE_PERCENT`) and runs at most
/// `ZUORA_BUDGET_INSTANCES` instances at once (the template enforces that with reserved
/// concurrency or the SQS event source's maximum concurrency), so one process may have
/// `budget × share ÷ instances` requests in flight (docs/ARCHITECTURE.md, Zuora budget).
fn apply_budget<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
    budget: Option<usize>,
    zuora: &mut ZuoraConfig,
) -> Result<(), ConfigError> {
    let Some(budget) = budget else {
        return Ok(());
    };
    let share: usize = env.parsed("ZUORA_BUDGET_SHARE_PERCENT", 100usize)?;
    let instances: usize = env.parsed("ZUORA_BUDGET_INSTANCES", 1usize)?;
    if !(1..=100).contains(&share) || instances == 0 || budget == 0 {
        return Err(invalid(
            "ZUORA_CONCURRENCY_BUDGET/ZUORA_BUDGET_SHARE_PERCENT/ZUORA_BUDGET_INSTANCES",
            "the budget and instances must be at least 1, the share 1 to 100",
        ));
    }
    let cap = per_instance_cap(budget, share, instances);
    if cap == 0 {
        return Err(invalid(
            "ZUORA_CONCURRENCY_BUDGET",
            format!(
                "{share}% of {budget} requests is less than one per instance for {instances} instances"
            ),
        ));
    }
    zuora.max_concurrency = cap;
    Ok(())
}

/// Applies `ZUORA_CONCURRENCY_BUDGET` (with this function's share and instance cap) to a
/// connection configured otherwise, as [`Config::from_env`] does (the local stack's processes).
pub fn apply_env_budget<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
    zuora: &mut ZuoraConfig,
) -> Result<(), ConfigError> {
    apply_budget(env, env_budget(env)?, zuora)
}

/// `ZUORA_CONCURRENCY_BUDGET`, when set.
fn env_budget<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Option<usize>, ConfigError> {
    match env.optional("ZUORA_CONCURRENCY_BUDGET") {
        Some(_) => env.parsed("ZUORA_CONCURRENCY_BUDGET", 0usize).map(Some),
        None => Ok(None),
    }
}

/// Requests one instance may have in flight: its function's share of the budget, split
/// evenly over the instances that may run at once (rounded down, so the sum never exceeds it).
pub fn per_instance_cap(budget: usize, share_percent: usize, instances: usize) -> usize {
    budget * share_percent / 100 / instances
}

/// The one-entity form: `ZUORA_BASE_URL`, `ZUORA_CLIENT_ID`, `ZUORA_CLIENT_SECRET`.
fn single_entity<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<ZuoraConfig, ConfigError> {
    let base_url = env.required("ZUORA_BASE_URL")?;
    let base_url = url::Url::parse(&base_url).map_err(|e| invalid("ZUORA_BASE_URL", e))?;
    let mut zuora = ZuoraConfig::new(
        base_url,
        env.required("ZUORA_CLIENT_ID")?,
        Secret::new(env.required("ZUORA_CLIENT_SECRET")?),
    );
    zuora.entity_header = env.optional("ZUORA_ENTITY_HEADER");
    zuora.use_object_query = env.parsed("ZUORA_USE_OBJECT_QUERY", true)?;
    zuora.max_concurrency = env.parsed("ZUORA_MAX_CONCURRENCY", 20usize)?;
    zuora.object_query_page_size = env.parsed("ZUORA_OBJECT_QUERY_PAGE_SIZE", 99usize)?;
    apply_budget(env, env_budget(env)?, &mut zuora)?;
    apply_common(env, &mut zuora)?;
    Ok(zuora)
}

/// The several-entity form: `ZUORA_ENTITIES` is a JSON object from entity id to its
/// connection. Error messages name the entity and field, never a secret's value.
fn entities_from_json<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
    json: &str,
) -> Result<Vec<EntityConfig>, ConfigError> {
    let parsed: std::collections::BTreeMap<String, EntityJson> = serde_json::from_str(json)
        .map_err(|e| {
            invalid(
                "ZUORA_ENTITIES",
                format!(
                    "not a JSON object of entity connections (line {}, column {})",
                    e.line(),
                    e.column()
                ),
            )
        })?;
    if parsed.is_empty() {
        return Err(invalid("ZUORA_ENTITIES", "names no entity"));
    }
    parsed
        .into_iter()
        .map(|(id, e)| {
            let id = EntityId::parse(&id).map_err(|err| invalid("ZUORA_ENTITIES", err))?;
            let base_url = url::Url::parse(&e.base_url)
                .map_err(|err| invalid("ZUORA_ENTITIES", format!("{id}.base_url: {err}")))?;
            let mut zuora = ZuoraConfig::new(base_url, e.client_id, Secret::new(e.client_secret));
            zuora.entity_header = e.entity_header;
            zuora.use_object_query = e.use_object_query.unwrap_or(true);
            zuora.max_concurrency = e.max_concurrency.unwrap_or(20);
            zuora.object_query_page_size = e.object_query_page_size.unwrap_or(99);
            let budget = match e.concurrency_budget {
                Some(b) => Some(b),
                None => env_budget(env)?,
            };
            apply_budget(env, budget, &mut zuora)?;
            apply_common(env, &mut zuora)?;
            let callout = callout_auth(
                "ZUORA_ENTITIES",
                e.callout_basic_user,
                e.callout_basic_password,
                e.callout_header,
                e.callout_secret,
            )?;
            let salesforce = salesforce(
                env,
                "ZUORA_ENTITIES",
                SalesforceParts {
                    url: e.salesforce_url,
                    client_id: e.salesforce_client_id,
                    client_secret: e.salesforce_client_secret,
                    jwt_key: e.salesforce_jwt_key,
                    username: e.salesforce_username,
                    audience: e.salesforce_audience,
                    package: e.salesforce_package,
                },
            )?;
            Ok(EntityConfig {
                id,
                zuora,
                callout,
                webhook_secret: e.webhook_secret.map(Secret::new),
                salesforce,
            })
        })
        .collect()
}

/// The parts of one Salesforce connection, from the environment or `ZUORA_ENTITIES`.
struct SalesforceParts {
    url: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    jwt_key: Option<String>,
    username: Option<String>,
    audience: Option<String>,
    /// `zuora360` (the default) or `none`: custom objects without the package's namespace.
    package: Option<String>,
}

/// A Salesforce connection: the org's My Domain URL (https, or http only where loopback is
/// allowed), the client id, and either a client secret (client credentials) or an RS256 key
/// with the user to act as (JWT bearer). None when no URL is set.
fn salesforce<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
    name: &'static str,
    parts: SalesforceParts,
) -> Result<Option<crate::adapters::salesforce::SalesforceConfig>, ConfigError> {
    use crate::adapters::salesforce::{SalesforceAuth, SalesforceConfig};
    let Some(url) = parts.url else {
        return Ok(None);
    };
    let login_url = outbound(env)?
        .check_url(&url)
        .map_err(|e| invalid(name, format!("Salesforce URL: {e}")))?;
    let client_id = parts
        .client_id
        .ok_or_else(|| invalid(name, "a Salesforce URL needs a client id"))?;
    let auth = match (parts.client_secret, parts.jwt_key, parts.username) {
        (Some(secret), None, _) => SalesforceAuth::ClientCredentials {
            client_id,
            secret: Secret::new(secret),
        },
        (None, Some(key), Some(username)) => SalesforceAuth::JwtBearer {
            client_id,
            username,
            private_key_pem: Secret::new(key),
            audience: parts
                .audience
                .unwrap_or_else(|| "https://login.salesforce.com".into()),
        },
        _ => {
            return Err(invalid(
                name,
                "Salesforce needs either a client secret (client credentials) or a JWT key and a username (JWT bearer), not both",
            ));
        }
    };
    let zuora360_package = match parts.package.as_deref() {
        None | Some("zuora360") => true,
        Some("none") => false,
        Some(other) => {
            return Err(invalid(
                name,
                format!("Salesforce package {other:?}: zuora360 or none"),
            ));
        }
    };
    Ok(Some(SalesforceConfig {
        login_url,
        auth,
        zuora360_package,
        api_version: env
            .optional("SALESFORCE_API_VERSION")
            .unwrap_or_else(|| "62.0".into()),
        timeout: env.millis("SALESFORCE_TIMEOUT_MS", 30_000)?,
    }))
}

/// The post-login function's configuration. It never calls Zuora, so it holds no Zuora,
/// callout or webhook secret: only the ids of the entities it queues work for.
#[derive(Debug, Clone)]
pub struct LoginConfig {
    /// `ZUORA_ENTITY_IDS` (comma-separated), the default entity (`ZUORA_ENTITY_ID`) first.
    pub entities: Vec<EntityId>,
    pub tables: Tables,
    pub queue_url: String,
    /// Retention of events for entities whose settings do not say.
    pub event_retention_days: i64,
    pub sync: SyncSettings,
    /// Everything one login may take before the trigger returns (Cognito allows about 5 s).
    pub budget: Duration,
    /// The timeout of each DynamoDB / SQS call on the login path.
    pub call_timeout: Duration,
    /// The entity Cognito logins are for.
    pub cognito_entity: EntityId,
    /// A prefix the hook route also answers under (`API_BASE_PATH`, as sync-api's routes).
    pub base_path: String,
    /// Where login hooks' JWKS URLs may point.
    pub outbound: OutboundPolicy,
}

impl LoginConfig {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let default_id = default_entity_id(env)?;
        let mut entities = vec![default_id.clone()];
        for raw in env
            .optional("ZUORA_ENTITY_IDS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let id = EntityId::parse(raw).map_err(|e| invalid("ZUORA_ENTITY_IDS", e))?;
            if !entities.contains(&id) {
                entities.push(id);
            }
        }
        let cognito_entity = match env.optional("LOGIN_ENTITY") {
            Some(raw) => EntityId::parse(&raw).map_err(|e| invalid("LOGIN_ENTITY", e))?,
            None => default_id,
        };
        if !entities.contains(&cognito_entity) {
            return Err(invalid(
                "LOGIN_ENTITY",
                format!("entity {cognito_entity} is not in ZUORA_ENTITY_IDS"),
            ));
        }
        Ok(Self {
            entities,
            tables: tables(env)?,
            queue_url: env.required("SYNC_QUEUE_URL")?,
            event_retention_days: env.parsed("EVENT_RETENTION_DAYS", 90i64)?,
            sync: sync_settings(env)?,
            budget: env.millis("LOGIN_BUDGET_MS", 1_500)?,
            call_timeout: env.millis("LOGIN_CALL_TIMEOUT_MS", 500)?,
            cognito_entity,
            base_path: base_path(env)?,
            outbound: outbound(env)?,
        })
    }
}

/// `NOTIFICATION_EMAIL_DOMAIN` (the SES identity emails are sent from) and, for local
/// development only, `OUTBOUND_ALLOW_LOOPBACK=true` (webhooks and JWKS on this machine).
fn outbound<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<OutboundPolicy, ConfigError> {
    let email_domain = env
        .optional("NOTIFICATION_EMAIL_DOMAIN")
        .map(|d| d.to_ascii_lowercase());
    if let Some(domain) = &email_domain
        && (!domain.contains('.') || domain.contains(['@', '/', ' ']))
    {
        return Err(invalid(
            "NOTIFICATION_EMAIL_DOMAIN",
            "must be a domain name",
        ));
    }
    Ok(OutboundPolicy {
        allow_loopback: env.parsed("OUTBOUND_ALLOW_LOOPBACK", false)?,
        email_domain,
    })
}

/// `API_BASE_PATH`: a prefix every route also answers under (empty for none).
fn base_path<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<String, ConfigError> {
    let base_path = env.optional("API_BASE_PATH").unwrap_or_default();
    let base_path = base_path.trim_end_matches('/').to_string();
    if !base_path.is_empty() && !base_path.starts_with('/') {
        return Err(ConfigError::Invalid {
            name: "API_BASE_PATH",
            why: "must start with '/'".into(),
        });
    }
    Ok(base_path)
}

/// The sync API's own settings.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// A prefix the routes also answer under, such as `/api`.
    pub base_path: String,
    pub key_source: KeySource,
    pub issuer: String,
    pub audience: String,
    /// The token claims naming the caller's entities and roles.
    pub access: AccessClaims,
    /// `JWT_AUDIENCE_CLAIM=client_id`: Cognito access tokens (no `aud`; `client_id` and
    /// `token_use: access` are checked instead).
    pub audience_in_client_id: bool,
    /// Deadline used when a request carries no Lambda context (the local server).
    pub default_timeout: Duration,
    /// The operator console's sign-in (`CONSOLE_*`), when configured.
    pub console: Option<crate::handlers::http::ConsoleSignIn>,
}

impl ApiConfig {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let key_source = match (
            env.optional("JWT_JWKS_URL"),
            env.optional("JWT_HS256_SECRET"),
        ) {
            (Some(url), None) => {
                KeySource::Jwks(url::Url::parse(&url).map_err(|e| ConfigError::Invalid {
                    name: "JWT_JWKS_URL",
                    why: e.to_string(),
                })?)
            }
            (None, Some(secret)) if secret.len() >= 16 => KeySource::Hs256(Secret::new(secret)),
            (None, Some(_)) => {
                return Err(ConfigError::Invalid {
                    name: "JWT_HS256_SECRET",
                    why: "must be at least 16 characters".into(),
                });
            }
            (Some(_), Some(_)) => {
                return Err(ConfigError::Invalid {
                    name: "JWT_JWKS_URL/JWT_HS256_SECRET",
                    why: "set exactly one of them, so the token algorithm is pinned".into(),
                });
            }
            (None, None) => return Err(ConfigError::Missing("JWT_JWKS_URL or JWT_HS256_SECRET")),
        };
        Ok(Self {
            base_path: base_path(env)?,
            key_source,
            issuer: env.required("JWT_ISSUER")?,
            audience: env.required("JWT_AUDIENCE")?,
            access: AccessClaims {
                entities: env
                    .optional("JWT_ENTITIES_CLAIM")
                    .unwrap_or_else(|| AccessClaims::default().entities),
                roles: env
                    .optional("JWT_ROLES_CLAIM")
                    .unwrap_or_else(|| AccessClaims::default().roles),
                scope_prefix: env.optional("JWT_SCOPE_PREFIX"),
            },
            audience_in_client_id: match env.optional("JWT_AUDIENCE_CLAIM").as_deref() {
                None | Some("aud") => false,
                Some("client_id") => true,
                Some(_) => {
                    return Err(ConfigError::Invalid {
                        name: "JWT_AUDIENCE_CLAIM",
                        why: "must be aud or client_id (Cognito access tokens)".into(),
                    });
                }
            },
            default_timeout: env.millis("API_TIMEOUT_MS", 29_000)?,
            console: console_sign_in(env)?,
        })
    }
}

/// `CONSOLE_AUTHORIZE_URL`, `CONSOLE_TOKEN_URL` and `CONSOLE_CLIENT_ID` (all or none), and
/// `CONSOLE_SCOPE` (default `openid`).
fn console_sign_in<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
) -> Result<Option<crate::handlers::http::ConsoleSignIn>, ConfigError> {
    let parts = (
        env.optional("CONSOLE_AUTHORIZE_URL"),
        env.optional("CONSOLE_TOKEN_URL"),
        env.optional("CONSOLE_CLIENT_ID"),
    );
    match parts {
        (None, None, None) => Ok(None),
        (Some(authorize), Some(token), Some(client)) => {
            let scope = env
                .optional("CONSOLE_SCOPE")
                .unwrap_or_else(|| "openid".into());
            crate::handlers::http::ConsoleSignIn::new(&authorize, &token, &client, &scope)
                .map(Some)
                .map_err(|why| invalid("CONSOLE_*", why))
        }
        _ => Err(invalid(
            "CONSOLE_*",
            "set CONSOLE_AUTHORIZE_URL, CONSOLE_TOKEN_URL and CONSOLE_CLIENT_ID together",
        )),
    }
}

#[cfg(test)]
mod tests;
