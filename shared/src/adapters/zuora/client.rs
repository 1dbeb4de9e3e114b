//! The reqwest-based Zuora client: OAuth token cache, a per-entity concurrency cap, bounded
//! retries with backoff and jitter, and the calls an account sync needs.

use super::error_body::{ErrorBody, retryable_category};
use super::wire::{
    OqAccount, V1Account, V1PaymentMethods, V1SubscriptionPage, WireSubscription, v1_snapshot,
};
use crate::model::{AccountKey, AccountSnapshot, Subscription, SubscriptionKey};
use crate::model::{AccountPage, AccountRef, CallContext, Secret};
use crate::ports::ZuoraApi;
use crate::ports::ZuoraError;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Mutex, Semaphore};
use tokio::time::Instant;
use url::Url;

/// Object queries return at most 99 expanded children; ask for all of them.
const OQ_PAGE_SIZE: usize = 99;
/// The v1 subscriptions-by-account page size limit.
const V1_SUBSCRIPTION_PAGE_SIZE: usize = 40;
/// The v1 catalog allows up to 40 products per page.
const CATALOG_PAGE_SIZE: usize = 40;
/// Refresh the token this long before Zuora says it expires.
const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(60);

const ACCOUNT_EXPANDS: [&str; 7] = [
    "billto",
    "soldto",
    "defaultpaymentmethod",
    "paymentmethods",
    "subscriptions",
    "subscriptions.rateplans",
    "subscriptions.rateplans.rateplancharges",
];

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in total, the first included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// The longest server-requested wait (`Retry-After`, `RateLimit-Reset`) honoured before
    /// giving up; Zuora's concurrency 429 asks for 120 s, longer than a sync can wait.
    pub max_server_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            max_server_wait: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ZuoraConfig {
    pub base_url: Url,
    pub client_id: String,
    pub client_secret: Secret,
    /// Sent as `Zuora-Entity-Ids` when set (multi-entity tenants).
    pub entity_header: Option<String>,
    /// Use the one-call object query; `false` falls back to the v1 calls.
    pub use_object_query: bool,
    /// Cap on concurrent requests to this entity from this process.
    pub max_concurrency: usize,
    /// Per-request timeout.
    pub timeout: Duration,
    pub retry: RetryPolicy,
}

impl ZuoraConfig {
    pub fn new(base_url: Url, client_id: String, client_secret: Secret) -> Self {
        Self {
            base_url,
            client_id,
            client_secret,
            entity_header: None,
            use_object_query: true,
            max_concurrency: 20,
            timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
        }
    }
}

#[derive(Clone)]
struct Token {
    value: String,
    refresh_at: Instant,
}

/// Counts of what this client sent, for benchmarks and logs.
#[derive(Debug, Default)]
pub struct ClientStats {
    pub requests: AtomicU64,
    pub token_fetches: AtomicU64,
    pub retries: AtomicU64,
}

pub struct ZuoraClient {
    http: reqwest::Client,
    config: ZuoraConfig,
    token: Mutex<Option<Token>>,
    /// Shared by every call this client makes, so all in-flight syncs of the process together
    /// stay under the cap.
    permits: Arc<Semaphore>,
    pub stats: ClientStats,
}

/// A failed attempt, and whether another may succeed.
enum Attempt {
    Retry {
        error: ZuoraError,
        wait_hint: Option<Duration>,
    },
    Fail(ZuoraError),
    Unauthorized,
}

impl ZuoraClient {
    pub fn new(config: ZuoraConfig) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(5))
            // nextPage links are followed explicitly and checked; never follow a redirect
            // with the bearer token attached.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            permits: Arc::new(Semaphore::new(config.max_concurrency.max(1))),
            http,
            config,
            token: Mutex::new(None),
            stats: ClientStats::default(),
        })
    }

    fn url(&self, path: &str) -> Url {
        let mut url = self.config.base_url.clone();
        let base = url.path().trim_end_matches('/').to_string();
        url.set_path(&format!("{base}{path}"));
        url
    }

    /// A cached token, fetched again shortly before it expires. The mutex makes concurrent
    /// callers wait for one fetch instead of each minting a token (Zuora rate-limits that).
    async fn token(&self) -> Result<String, Attempt> {
        let mut slot = self.token.lock().await;
        if let Some(t) = slot.as_ref().filter(|t| Instant::now() < t.refresh_at) {
            return Ok(t.value.clone());
        }
        let token = self.fetch_token().await?;
        let value = token.value.clone();
        *slot = Some(token);
        Ok(value)
    }

    async fn forget_token(&self) {
        *self.token.lock().await = None;
    }

    async fn fetch_token(&self) -> Result<Token, Attempt> {
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            access_token: String,
            expires_in: u64,
        }
        self.stats.token_fetches.fetch_add(1, Ordering::Relaxed);
        let form = [
            ("client_id", self.config.client_id.as_str()),
            ("client_secret", self.config.client_secret.expose()),
            ("grant_type", "client_credentials"),
        ];
        let response = self
            .http
            .post(self.url("/oauth/token"))
            .form(&form)
            .send()
            .await
            .map_err(|e| transport_attempt(&e, 0))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| transport_attempt(&e, 0))?;
        if status.is_success() {
            let answer: TokenAnswer =
                serde_json::from_slice(&body).map_err(|e| Attempt::Retry {
                    error: ZuoraError::BadResponse {
                        detail: format!("token answer: {e}"),
                        attempts: 0,
                    },
                    wait_hint: None,
                })?;
            let lifetime = Duration::from_secs(answer.expires_in);
            return Ok(Token {
                value: answer.access_token,
                refresh_at: Instant::now() + lifetime.saturating_sub(TOKEN_REFRESH_MARGIN),
            });
        }
        // Credentials Zuora refuses are not retried: they will not get better.
        match classify_status(status, &headers, &body) {
            Attempt::Fail(ZuoraError::Rejected { .. }) | Attempt::Unauthorized => {
                Err(Attempt::Fail(ZuoraError::Auth {
                    reason: ErrorBody::parse(&body).reason_text(),
                }))
            }
            other => Err(other),
        }
    }

    /// Sends one logical request with retries; `what` names the object for not-found errors.
    async fn get_json<T: DeserializeOwned>(
        &self,
        url: Url,
        what: &str,
        ctx: &CallContext,
    ) -> Result<T, ZuoraError> {
        self.send_json(Method::GET, url, None, what, ctx).await
    }

    async fn send_json<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
        what: &str,
        ctx: &CallContext,
    ) -> Result<T, ZuoraError> {
        let policy = &self.config.retry;
        let mut refreshed_token = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = self.attempt(&method, &url, body, ctx).await;
            let (error, wait_hint) = match outcome {
                Ok(bytes) => match parse_success::<T>(&bytes) {
                    Ok(value) => return Ok(value),
                    Err(a) => split(a),
                },
                Err(Attempt::Unauthorized) if !refreshed_token => {
                    // Tokens can be revoked early: one retry with a new token (design §2.4).
                    refreshed_token = true;
                    self.forget_token().await;
                    attempt -= 1;
                    continue;
                }
                Err(Attempt::Unauthorized) => {
                    return Err(ZuoraError::Auth {
                        reason: "Zuora refused a freshly issued token".into(),
                    });
                }
                Err(a) => split(a),
            };
            let Some(wait_hint) = wait_hint else {
                return Err(not_found_named(error, what));
            };
            if attempt >= policy.max_attempts {
                return Err(with_attempts(error, attempt));
            }
            let wait = backoff(policy, attempt, wait_hint);
            if wait > policy.max_server_wait {
                // Waiting longer would outlive the caller; surface it now.
                return Err(with_attempts(error, attempt));
            }
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                attempt,
                wait_ms = wait.as_millis() as u64,
                error = %error,
                path = url.path(),
                "retrying Zuora request"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// One HTTP exchange, holding a concurrency permit only while the request is in flight.
    async fn attempt(
        &self,
        method: &Method,
        url: &Url,
        body: Option<&serde_json::Value>,
        ctx: &CallContext,
    ) -> Result<Vec<u8>, Attempt> {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let token = self.token().await?;
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let mut request = self
            .http
            .request(method.clone(), url.clone())
            .bearer_auth(token)
            .header("Accept", "application/json");
        if let Some(track) = ctx.track_id() {
            request = request.header("Zuora-Track-Id", track);
        }
        if let Some(entity) = &self.config.entity_header {
            request = request.header("Zuora-Entity-Ids", entity);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| transport_attempt(&e, 1))?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| transport_attempt(&e, 1))?;
        if status.is_success() {
            Ok(bytes.to_vec())
        } else {
            Err(classify_status(status, &headers, &bytes))
        }
    }

    /// The account via object query (one call), or the v1 fallback; v1 also fills in children
    /// an object query truncated at its page size.
    async fn snapshot_by_object_query(
        &self,
        key: &AccountKey,
        ctx: &CallContext,
    ) -> Result<AccountSnapshot, ZuoraError> {
        let mut url = self.url(&format!("/object-query/accounts/{}", key.as_str()));
        {
            let mut q = url.query_pairs_mut();
            for expand in ACCOUNT_EXPANDS {
                q.append_pair("expand[]", expand);
            }
            q.append_pair("pageSize", &OQ_PAGE_SIZE.to_string());
        }
        let account: OqAccount = self.get_json(url, &format!("account {key}"), ctx).await?;
        let truncated = account.truncated(OQ_PAGE_SIZE);
        let mut snapshot = account.into_snapshot();
        let id = AccountKey::parse(&snapshot.account.id).map_err(bad_id)?;
        if truncated.subscriptions {
            tracing::info!(account = %key, "object query truncated subscriptions; reading them via v1");
            snapshot.subscriptions = crate::model::latest_versions(
                self.all_subscriptions(&id, ctx)
                    .await?
                    .into_iter()
                    .map(Into::into)
                    .collect(),
            );
        }
        if truncated.payment_methods {
            snapshot.payment_methods = self.payment_methods(&id, ctx).await?;
        }
        Ok(snapshot)
    }

    /// Three concurrent v1 calls: account, subscriptions (paginated), payment methods.
    async fn snapshot_by_v1(
        &self,
        key: &AccountKey,
        ctx: &CallContext,
    ) -> Result<AccountSnapshot, ZuoraError> {
        let account_url = self.url(&format!("/v1/accounts/{}", key.as_str()));
        let what = format!("account {key}");
        let (account, subscriptions, payment_methods) = tokio::try_join!(
            self.get_json::<V1Account>(account_url, &what, ctx),
            self.all_subscriptions(key, ctx),
            self.payment_methods(key, ctx),
        )?;
        Ok(v1_snapshot(account, subscriptions, payment_methods))
    }

    async fn all_subscriptions(
        &self,
        key: &AccountKey,
        ctx: &CallContext,
    ) -> Result<Vec<WireSubscription>, ZuoraError> {
        let mut url = self.url(&format!("/v1/subscriptions/accounts/{}", key.as_str()));
        url.query_pairs_mut()
            .append_pair("page", "1")
            .append_pair("pageSize", &V1_SUBSCRIPTION_PAGE_SIZE.to_string());
        self.follow_pages(
            url,
            &format!("account {key}"),
            ctx,
            |p: V1SubscriptionPage| (p.subscriptions, p.next_page),
        )
        .await
    }

    /// Reads every page of a v1 list, following `nextPage`. Bounded so a server that keeps
    /// answering with a nextPage cannot loop us forever.
    async fn follow_pages<P: DeserializeOwned, T>(
        &self,
        mut url: Url,
        what: &str,
        ctx: &CallContext,
        split_page: impl Fn(P) -> (Vec<T>, Option<String>),
    ) -> Result<Vec<T>, ZuoraError> {
        let mut all = Vec::new();
        for _ in 0..1000 {
            let (items, next) = split_page(self.get_json(url.clone(), what, ctx).await?);
            all.extend(items);
            match next {
                Some(next) => url = self.same_origin(&next)?,
                None => return Ok(all),
            }
        }
        Err(ZuoraError::BadResponse {
            detail: format!("pagination of {what} did not end after 1000 pages"),
            attempts: 1,
        })
    }

    /// `nextPage` is a full URL: only follow it to the configured Zuora host, so a bad answer
    /// can never send our bearer token elsewhere.
    fn same_origin(&self, next: &str) -> Result<Url, ZuoraError> {
        let url = self
            .config
            .base_url
            .join(next)
            .map_err(|e| ZuoraError::BadResponse {
                detail: format!("nextPage is not a URL: {e}"),
                attempts: 1,
            })?;
        if url.origin() != self.config.base_url.origin() {
            return Err(ZuoraError::BadResponse {
                detail: format!(
                    "nextPage points to another host: {}",
                    url.origin().ascii_serialization()
                ),
                attempts: 1,
            });
        }
        Ok(url)
    }

    async fn payment_methods(
        &self,
        key: &AccountKey,
        ctx: &CallContext,
    ) -> Result<Vec<crate::model::PaymentMethod>, ZuoraError> {
        let url = self.url(&format!("/v1/accounts/{}/payment-methods", key.as_str()));
        let groups: V1PaymentMethods = self.get_json(url, &format!("account {key}"), ctx).await?;
        groups.into_domain().map_err(|e| ZuoraError::BadResponse {
            detail: format!("payment method: {e}"),
            attempts: 1,
        })
    }
}

#[async_trait::async_trait]
impl ZuoraApi for ZuoraClient {
    async fn account_snapshot(
        &self,
        key: &AccountKey,
        ctx: &CallContext,
    ) -> Result<AccountSnapshot, ZuoraError> {
        if self.config.use_object_query {
            self.snapshot_by_object_query(key, ctx).await
        } else {
            self.snapshot_by_v1(key, ctx).await
        }
    }

    async fn subscription(
        &self,
        key: &SubscriptionKey,
        ctx: &CallContext,
    ) -> Result<Subscription, ZuoraError> {
        let url = self.url(&format!("/v1/subscriptions/{}", key.as_str()));
        let sub: WireSubscription = self
            .get_json(url, &format!("subscription {key}"), ctx)
            .await?;
        Ok(sub.into())
    }

    async fn accounts_page(
        &self,
        updated_after: Option<&str>,
        cursor: Option<&str>,
        ctx: &CallContext,
    ) -> Result<AccountPage, ZuoraError> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Page {
            #[serde(default)]
            data: Vec<AccountRef>,
            next_page: Option<String>,
        }
        let mut url = self.url("/object-query/accounts");
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("pageSize", &OQ_PAGE_SIZE.to_string());
            q.append_pair("sort[]", "updatedDate.ASC");
            if let Some(after) = updated_after {
                // The query pairs are URL-encoded: a time cannot add another filter.
                q.append_pair("filter[]", &format!("updatedDate.GT:{after}"));
            }
            if let Some(cursor) = cursor {
                q.append_pair("cursor", cursor);
            }
        }
        let page: Page = self.get_json(url, "account list", ctx).await?;
        Ok(AccountPage {
            accounts: page.data,
            next: page.next_page.filter(|c| !c.is_empty()),
        })
    }

    async fn catalog(&self, ctx: &CallContext) -> Result<Vec<crate::model::Product>, ZuoraError> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Page {
            #[serde(default)]
            products: Vec<crate::model::Product>,
            next_page: Option<String>,
        }
        // No Zuora-Version header is sent, so rate plans come inline rather than as a URL.
        let mut url = self.url("/v1/catalog/products");
        url.query_pairs_mut()
            .append_pair("page", "1")
            .append_pair("pageSize", &CATALOG_PAGE_SIZE.to_string());
        self.follow_pages(url, "product catalog", ctx, |p: Page| {
            (p.products, p.next_page)
        })
        .await
    }

    async fn query(
        &self,
        zoql: &str,
        ctx: &CallContext,
    ) -> Result<Vec<serde_json::Value>, ZuoraError> {
        #[derive(serde::Deserialize)]
        struct Answer {
            #[serde(default)]
            records: Vec<serde_json::Value>,
        }
        let body = serde_json::json!({ "queryString": zoql });
        let answer: Answer = self
            .send_json(
                Method::POST,
                self.url("/v1/action/query"),
                Some(&body),
                "query result",
                ctx,
            )
            .await?;
        Ok(answer.records)
    }
}

fn bad_id(e: crate::model::InvalidId) -> ZuoraError {
    ZuoraError::BadResponse {
        detail: e.to_string(),
        attempts: 1,
    }
}

fn split(a: Attempt) -> (ZuoraError, Option<Duration>) {
    match a {
        Attempt::Retry { error, wait_hint } => (error, Some(wait_hint.unwrap_or_default())),
        Attempt::Fail(error) => (error, None),
        Attempt::Unauthorized => (
            ZuoraError::Auth {
                reason: "unauthorized".into(),
            },
            None,
        ),
    }
}

/// A 200 body is data only if it parses and is not `"success": false` (design: Zuora reports
/// many business errors, not-found among them, as HTTP 200).
fn parse_success<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Attempt> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| Attempt::Retry {
        // A cut-off body is usually a transport hiccup: worth another attempt.
        error: ZuoraError::BadResponse {
            detail: format!("invalid JSON: {e}"),
            attempts: 1,
        },
        wait_hint: None,
    })?;
    if value.get("success") == Some(&serde_json::Value::Bool(false)) {
        let body = ErrorBody::parse(bytes);
        return Err(classify_error_body(StatusCode::OK, &body, None));
    }
    serde_json::from_value(value).map_err(|e| {
        Attempt::Fail(ZuoraError::BadResponse {
            detail: format!("unexpected shape: {e}"),
            attempts: 1,
        })
    })
}

fn classify_status(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Attempt {
    if status == StatusCode::UNAUTHORIZED {
        return Attempt::Unauthorized;
    }
    let parsed = ErrorBody::parse(body);
    classify_error_body(status, &parsed, Some(headers))
}

fn classify_error_body(
    status: StatusCode,
    body: &ErrorBody,
    headers: Option<&HeaderMap>,
) -> Attempt {
    let reason = body.reason_text();
    let category = body.category();
    if status == StatusCode::NOT_FOUND || category == Some(40) {
        return Attempt::Fail(ZuoraError::NotFound {
            what: String::new(),
            reason,
        });
    }
    let transient = status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
        || category.is_some_and(retryable_category);
    if transient {
        return Attempt::Retry {
            error: ZuoraError::Unavailable {
                status: status.as_u16(),
                reason,
                attempts: 1,
            },
            wait_hint: headers.and_then(server_wait),
        };
    }
    if category == Some(11)
        || body
            .first_code()
            .is_some_and(|c| c.to_string().starts_with('9'))
    {
        return Attempt::Fail(ZuoraError::Auth { reason });
    }
    Attempt::Fail(ZuoraError::Rejected {
        status: status.as_u16(),
        code: body.first_code(),
        reason,
    })
}

/// How long the server asked us to wait: `Retry-After` or, when the budget is spent,
/// `RateLimit-Reset` (both in seconds).
fn server_wait(headers: &HeaderMap) -> Option<Duration> {
    let secs = |name: &str| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    if let Some(s) = secs("retry-after") {
        return Some(Duration::from_secs(s));
    }
    if secs("ratelimit-remaining") == Some(0) {
        return secs("ratelimit-reset").map(Duration::from_secs);
    }
    None
}

/// Exponential backoff with full jitter, but never shorter than what the server asked for.
fn backoff(policy: &RetryPolicy, attempt: u32, server_wait: Duration) -> Duration {
    let exp = policy
        .base_delay
        .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
        .min(policy.max_delay);
    let jittered = exp.mul_f64(rand::random::<f64>());
    jittered.max(server_wait)
}

fn transport_attempt(e: &reqwest::Error, attempts: u32) -> Attempt {
    let error = if e.is_timeout() {
        ZuoraError::Timeout { attempts }
    } else {
        ZuoraError::Transport {
            // Without the URL: it can carry query values.
            detail: e.without_url_string(),
            attempts,
        }
    };
    Attempt::Retry {
        error,
        wait_hint: None,
    }
}

trait WithoutUrl {
    fn without_url_string(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    fn without_url_string(&self) -> String {
        let mut text = self.to_string();
        if let Some(url) = self.url() {
            text = text.replace(url.as_str(), "<zuora>");
        }
        text
    }
}

fn with_attempts(error: ZuoraError, n: u32) -> ZuoraError {
    match error {
        ZuoraError::Unavailable { status, reason, .. } => ZuoraError::Unavailable {
            status,
            reason,
            attempts: n,
        },
        ZuoraError::Timeout { .. } => ZuoraError::Timeout { attempts: n },
        ZuoraError::BadResponse { detail, .. } => ZuoraError::BadResponse {
            detail,
            attempts: n,
        },
        ZuoraError::Transport { detail, .. } => ZuoraError::Transport {
            detail,
            attempts: n,
        },
        other => other,
    }
}

fn not_found_named(error: ZuoraError, what: &str) -> ZuoraError {
    match error {
        ZuoraError::NotFound { reason, .. } => ZuoraError::NotFound {
            what: what.to_string(),
            reason,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_honours_the_server() {
        let policy = RetryPolicy::default();
        for attempt in 1..10 {
            let wait = backoff(&policy, attempt, Duration::ZERO);
            assert!(wait <= policy.max_delay, "{attempt}: {wait:?}");
        }
        assert_eq!(
            backoff(&policy, 1, Duration::from_secs(3)),
            Duration::from_secs(3)
        );
    }

    #[test]
    fn rate_limit_headers_give_the_wait() {
        let mut h = HeaderMap::new();
        h.insert("ratelimit-remaining", HeaderValue::from_static("0"));
        h.insert("ratelimit-reset", HeaderValue::from_static("2"));
        assert_eq!(server_wait(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after", HeaderValue::from_static("120"));
        assert_eq!(server_wait(&h), Some(Duration::from_secs(120)));
    }

    #[test]
    fn http_200_with_success_false_is_an_error() {
        let body = br#"{"success":false,"reasons":[{"code":50000040,"message":"Cannot find entity by key: 'X'."}]}"#;
        match parse_success::<serde_json::Value>(body) {
            Err(Attempt::Fail(ZuoraError::NotFound { reason, .. })) => {
                assert!(reason.contains("Cannot find entity"))
            }
            _ => panic!("expected not found"),
        }
    }

    #[test]
    fn category_70_is_retried_and_20_is_not() {
        let limit = ErrorBody::parse(br#"{"reasons":[{"code":50000070,"message":"limit"}]}"#);
        assert!(matches!(
            classify_error_body(StatusCode::BAD_REQUEST, &limit, None),
            Attempt::Retry { .. }
        ));
        let invalid = ErrorBody::parse(br#"{"reasons":[{"code":53100320,"message":"bad"}]}"#);
        assert!(matches!(
            classify_error_body(StatusCode::BAD_REQUEST, &invalid, None),
            Attempt::Fail(ZuoraError::Rejected { .. })
        ));
    }
}
