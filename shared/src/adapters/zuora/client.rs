//! The reqwest-based Zuora transport: the OAuth token cache, a per-entity concurrency cap, and
//! one logical request with bounded retries (`retry.rs`). The calls themselves are in
//! `endpoints.rs`.

use super::error_body::ErrorBody;
use super::retry::{
    Attempt, RetryPolicy, backoff, classify_status, not_found_named, parse_success, split,
    transport_attempt, with_attempts,
};
use crate::model::{CallContext, Secret};
use crate::ports::ZuoraError;
use reqwest::Method;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{Mutex, Semaphore};
use tokio::time::Instant;
use url::Url;

/// Object queries return at most 99 expanded children; ask for all of them.
pub(super) const OQ_PAGE_SIZE: usize = 99;
/// The page size Zuora's own SDK allows: used once Zuora refuses a larger one.
const OQ_FALLBACK_PAGE_SIZE: usize = 50;
/// The v1 subscriptions-by-account page size limit.
pub(super) const V1_SUBSCRIPTION_PAGE_SIZE: usize = 40;
/// The v1 catalog allows up to 40 products per page.
pub(super) const CATALOG_PAGE_SIZE: usize = 40;
/// Refresh the token this long before Zuora says it expires.
const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// The account's own children. Subscriptions are not expanded here: an object query gives their
/// charges without price, currency or product name and SKU, so they come from the v1 list, in
/// the same form every other path stores (one canonical record, whatever path fetched it).
pub(super) const ACCOUNT_EXPANDS: [&str; 4] =
    ["billto", "soldto", "defaultpaymentmethod", "paymentmethods"];

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
    /// Object-query `pageSize` (1–99): also where expanded children are cut off. Zuora's
    /// reference says 99, its SDK refuses more than 50; a 400 naming `pageSize` drops it to 50
    /// for the rest of the process (`ZuoraClient::object_query_page_size`).
    pub object_query_page_size: usize,
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
            object_query_page_size: OQ_PAGE_SIZE,
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
/// The largest Zuora answer read (L9): an account with thousands of charges is a few MB; a
/// body past this is refused rather than held in a 256 MB function's memory.
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
/// The body, refused (as a bad response, retried) once it passes `max` bytes.
async fn read_capped(mut response: reqwest::Response, max: usize) -> Result<Vec<u8>, Attempt> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_attempt(&e, 1))?
    {
        if body.len() + chunk.len() > max {
            return Err(Attempt::Retry {
                error: ZuoraError::BadResponse {
                    detail: format!("the answer is larger than {max} bytes"),
                    attempts: 1,
                },
                wait_hint: None,
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[derive(Debug, Default)]
pub struct ClientStats {
    pub requests: AtomicU64,
    pub token_fetches: AtomicU64,
    pub retries: AtomicU64,
    /// Answers with HTTP 429 (rate or concurrency limit).
    pub throttled: AtomicU64,
}

/// One request as [`ZuoraClient::send`] makes it.
struct Exchange<'a> {
    method: Method,
    url: Url,
    body: Option<&'a serde_json::Value>,
    answer: Answer<'a>,
}

/// How a successful answer's body is read.
enum Answer<'a> {
    /// Whole, refused once it passes this many bytes.
    Whole(usize),
    /// Chunk by chunk into a sink as it arrives: a bulk export's file, which can be larger
    /// than the process's memory. No cap; each chunk must come within the call timeout.
    Streamed(&'a mut (dyn ChunkSink + Send)),
}

/// What a streamed answer's chunks go to. A failed attempt's chunks are dropped: the sink
/// starts over with the next attempt.
pub(super) trait ChunkSink {
    fn restart(&mut self);
    fn take(&mut self, chunk: &[u8]) -> Result<(), String>;
    fn finish(&mut self) -> Result<(), String>;
}

pub struct ZuoraClient {
    http: reqwest::Client,
    pub(super) config: ZuoraConfig,
    token: Mutex<Option<Token>>,
    /// Shared by every call this client makes, so all in-flight syncs of the process together
    /// stay under the cap.
    permits: Arc<Semaphore>,
    /// The object-query page size in use: the configured one, or 50 once Zuora refused it.
    oq_page_size: AtomicUsize,
    pub stats: ClientStats,
}

/// The HTTP client for Zuora, shared by every entity's [`ZuoraClient`] in a process (one set of
/// root certificates, one connection pool); each request carries its entity's timeout.
pub fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    crate::adapters::tls::shared(reqwest::Client::builder())
        .connect_timeout(Duration::from_secs(5))
        // nextPage links are followed explicitly and checked; never follow a redirect with the
        // bearer token attached.
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

impl ZuoraClient {
    /// A client with an HTTP client of its own.
    pub fn new(config: ZuoraConfig) -> Result<Self, reqwest::Error> {
        Ok(Self::with_http(config, http_client()?))
    }

    /// A client over the process's shared Zuora HTTP client ([`http_client`]).
    pub fn with_http(config: ZuoraConfig, http: reqwest::Client) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(config.max_concurrency.max(1))),
            oq_page_size: AtomicUsize::new(config.object_query_page_size.clamp(1, OQ_PAGE_SIZE)),
            http,
            config,
            token: Mutex::new(None),
            stats: ClientStats::default(),
        }
    }

    /// The object-query page size in use.
    pub(super) fn object_query_page_size(&self) -> usize {
        self.oq_page_size.load(Ordering::Relaxed)
    }

    /// After a failed object query: if Zuora refused the page size (a 400 naming `pageSize`)
    /// and it was above 50, uses 50 from now on and answers `true` (retry once).
    pub(super) fn lower_page_size_after(&self, error: &ZuoraError) -> bool {
        let refused = matches!(error, ZuoraError::Rejected { status: 400, reason, .. }
            if reason.to_ascii_lowercase().contains("pagesize"));
        if !refused {
            return false;
        }
        let lowered = self
            .oq_page_size
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n > OQ_FALLBACK_PAGE_SIZE).then_some(OQ_FALLBACK_PAGE_SIZE)
            })
            .is_ok();
        if lowered {
            tracing::warn!("Zuora refused the object-query page size; using 50 from now on");
        }
        lowered
    }

    pub(super) fn url(&self, path: &str) -> Url {
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

    /// Drops the cached token if it is still `rejected`: of several requests refused with one
    /// revoked token, only the first makes the next caller fetch a new one.
    async fn forget_token(&self, rejected: &str) {
        let mut slot = self.token.lock().await;
        if slot.as_ref().is_some_and(|t| t.value == rejected) {
            *slot = None;
        }
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
            .timeout(self.config.timeout)
            .form(&form)
            .send()
            .await
            .map_err(|e| transport_attempt(&e, 0))?;
        let status = response.status();
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            self.stats.throttled.fetch_add(1, Ordering::Relaxed);
        }
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
    pub(super) async fn get_json<T: DeserializeOwned>(
        &self,
        url: Url,
        what: &str,
        ctx: &CallContext,
    ) -> Result<T, ZuoraError> {
        self.send_json(Method::GET, url, None, what, ctx).await
    }

    pub(super) async fn send_json<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
        what: &str,
        ctx: &CallContext,
    ) -> Result<T, ZuoraError> {
        let request = Exchange {
            method,
            url,
            body,
            answer: Answer::Whole(MAX_BODY_BYTES),
        };
        self.send(request, what, ctx, parse_success::<T>).await
    }

    /// An answer's raw bytes (not JSON), with the same retries as any call.
    pub(super) async fn get_raw(
        &self,
        url: Url,
        what: &str,
        ctx: &CallContext,
    ) -> Result<Vec<u8>, ZuoraError> {
        let request = Exchange {
            method: Method::GET,
            url,
            body: None,
            answer: Answer::Whole(MAX_BODY_BYTES),
        };
        self.send(request, what, ctx, |bytes| Ok(bytes.to_vec()))
            .await
    }

    /// A file (a bulk export's CSV) streamed into `sink`, with the same retries as any call.
    pub(super) async fn stream_file(
        &self,
        url: Url,
        what: &str,
        ctx: &CallContext,
        sink: &mut (dyn ChunkSink + Send),
    ) -> Result<(), ZuoraError> {
        let request = Exchange {
            method: Method::GET,
            url,
            body: None,
            answer: Answer::Streamed(sink),
        };
        self.send(request, what, ctx, |_| Ok(())).await
    }

    /// One logical request with retries; `parse` reads a successful answer.
    async fn send<T>(
        &self,
        request: Exchange<'_>,
        what: &str,
        ctx: &CallContext,
        parse: impl Fn(&[u8]) -> Result<T, Attempt>,
    ) -> Result<T, ZuoraError> {
        let Exchange {
            method,
            url,
            body,
            mut answer,
        } = request;
        let policy = &self.config.retry;
        let mut refreshed_token = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = self.attempt(&method, &url, body, &mut answer, ctx).await;
            let (error, wait_hint) = match outcome {
                Ok(bytes) => match parse(&bytes) {
                    Ok(value) => return Ok(value),
                    Err(a) => split(a),
                },
                Err(Attempt::Unauthorized) if !refreshed_token => {
                    // Tokens can be revoked early: one retry with a new token.
                    refreshed_token = true;
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
            if wait_hint > policy.max_server_wait {
                // Waiting that long would outlive the caller: it hands the work back instead.
                return Err(ZuoraError::Busy {
                    retry_after_secs: wait_hint.as_secs_f64().ceil() as u64,
                    reason: error.to_string(),
                });
            }
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
        answer: &mut Answer<'_>,
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
            .bearer_auth(&token)
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
        if let Answer::Whole(_) = answer {
            request = request.timeout(self.config.timeout);
        }
        let response = self.within_timeout(request.send()).await?;
        let status = response.status();
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            self.stats.throttled.fetch_add(1, Ordering::Relaxed);
        }
        if status.is_success() {
            return match answer {
                Answer::Whole(max) => read_capped(response, *max).await,
                Answer::Streamed(sink) => {
                    self.stream_into(response, &mut **sink).await?;
                    Ok(Vec::new())
                }
            };
        }
        let headers = response.headers().clone();
        let bytes = read_capped(response, MAX_BODY_BYTES).await?;
        let attempt = classify_status(status, &headers, &bytes);
        if matches!(attempt, Attempt::Unauthorized) {
            self.forget_token(&token).await;
        }
        Err(attempt)
    }

    /// A streamed answer's body into its sink, each chunk within the call timeout (the
    /// whole file may take longer).
    async fn stream_into(
        &self,
        mut response: reqwest::Response,
        sink: &mut (dyn ChunkSink + Send),
    ) -> Result<(), Attempt> {
        let refused = |detail: String| {
            Attempt::Fail(ZuoraError::BadResponse {
                detail,
                attempts: 1,
            })
        };
        sink.restart();
        while let Some(chunk) = self.within_timeout(response.chunk()).await? {
            sink.take(&chunk).map_err(refused)?;
        }
        sink.finish().map_err(refused)
    }

    /// A step of an exchange, timed out after the call timeout.
    async fn within_timeout<T>(
        &self,
        step: impl Future<Output = reqwest::Result<T>>,
    ) -> Result<T, Attempt> {
        match tokio::time::timeout(self.config.timeout, step).await {
            Ok(result) => result.map_err(|e| transport_attempt(&e, 1)),
            Err(_) => Err(Attempt::Retry {
                error: ZuoraError::Timeout { attempts: 1 },
                wait_hint: None,
            }),
        }
    }
}
