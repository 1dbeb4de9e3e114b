//! Retries: which failures are worth another attempt, how long to wait (exponential backoff
//! with full jitter, never shorter than the server asked), and Zuora's ways of saying "no" in
//! an HTTP 200.

use super::error_body::{ErrorBody, retryable_category};
use crate::ports::ZuoraError;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use serde::de::DeserializeOwned;
use std::time::Duration;

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

/// A failed attempt, and whether another may succeed.
pub(super) enum Attempt {
    Retry {
        error: ZuoraError,
        wait_hint: Option<Duration>,
    },
    Fail(ZuoraError),
    Unauthorized,
}

pub(super) fn split(a: Attempt) -> (ZuoraError, Option<Duration>) {
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
pub(super) fn parse_success<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Attempt> {
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

pub(super) fn classify_status(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Attempt {
    if status == StatusCode::UNAUTHORIZED {
        return Attempt::Unauthorized;
    }
    let parsed = ErrorBody::parse(body);
    classify_error_body(status, &parsed, Some(headers))
}

pub(super) fn classify_error_body(
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
pub(super) fn server_wait(headers: &HeaderMap) -> Option<Duration> {
    let secs = |name: &str| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    if let Some(s) = secs("retry-after") {
        return Some(Duration::from_secs(s));
    }
    // The other form Retry-After may take: an HTTP date (L9).
    if let Some(at) = headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v.trim()).ok())
    {
        return Some(
            at.duration_since(std::time::SystemTime::now())
                .unwrap_or_default(),
        );
    }
    if secs("ratelimit-remaining") == Some(0) {
        return secs("ratelimit-reset").map(Duration::from_secs);
    }
    None
}

/// Exponential backoff with full jitter, but never shorter than what the server asked for.
pub(super) fn backoff(policy: &RetryPolicy, attempt: u32, server_wait: Duration) -> Duration {
    backoff_with_jitter(policy, attempt, server_wait, rand::random::<f64>())
}

/// [`backoff`] with the jitter given (a fraction in `[0, 1)` of the exponential ceiling).
fn backoff_with_jitter(
    policy: &RetryPolicy,
    attempt: u32,
    server_wait: Duration,
    jitter: f64,
) -> Duration {
    let ceiling = policy
        .base_delay
        .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
        .min(policy.max_delay);
    ceiling.mul_f64(jitter.clamp(0.0, 1.0)).max(server_wait)
}

pub(super) fn transport_attempt(e: &reqwest::Error, attempts: u32) -> Attempt {
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

pub(super) fn with_attempts(error: ZuoraError, n: u32) -> ZuoraError {
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

pub(super) fn not_found_named(error: ZuoraError, what: &str) -> ZuoraError {
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
    fn backoff_doubles_until_the_cap_and_honours_the_server() {
        let policy = RetryPolicy::default(); // 100 ms base, 2 s cap
        let ceilings: Vec<u128> = (1..=7)
            .map(|a| backoff_with_jitter(&policy, a, Duration::ZERO, 1.0).as_millis())
            .collect();
        assert_eq!(ceilings, [100, 200, 400, 800, 1600, 2000, 2000]);
        // Full jitter: any fraction of the ceiling, never more.
        let half = backoff_with_jitter(&policy, 3, Duration::ZERO, 0.5);
        assert_eq!(half, Duration::from_millis(200));
        for attempt in 1..10 {
            let wait = backoff(&policy, attempt, Duration::ZERO);
            assert!(wait <= policy.max_delay, "{attempt}: {wait:?}");
        }
        // A server's Retry-After wins over a shorter backoff.
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

    /// L9: Retry-After as an HTTP date is honoured too.
    #[test]
    fn retry_after_may_be_an_http_date() {
        let at = std::time::SystemTime::now() + Duration::from_secs(90);
        let mut h = HeaderMap::new();
        h.insert(
            "retry-after",
            HeaderValue::from_str(&httpdate::fmt_http_date(at)).unwrap(),
        );
        let wait = server_wait(&h).unwrap();
        assert!(
            wait > Duration::from_secs(85) && wait <= Duration::from_secs(90),
            "{wait:?}"
        );
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
