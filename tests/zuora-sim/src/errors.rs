//! Zuora's error bodies. Each family of endpoints has its own: the v1/object-query envelope with
//! 8-digit `reasons[].code`, the API gateway's 401, the rate limiter's 429, the SOAP-style
//! faults of `/v1/action/*`, and RFC 6749 errors on `/oauth/token`. See SHAPES.md (g).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

tokio::task_local! {
    /// The `Zuora-Request-Id` of the request being served, so error bodies can repeat it.
    pub static REQUEST_ID: String;
}

/// The gateway's `WWW-Authenticate` value on a 401 (SPLIT `ProxyUnauthorizedResponse`).
pub const WWW_AUTHENTICATE: &str =
    "Basic realm=Zuora API, ZSession realm=Zuora API, Bearer realm=Zuora API";

pub const CONCURRENCY_MESSAGE: &str = "The total number of concurrent requests has exceeded the limit allowed by the system. Please resubmit your request later.";

/// Resource code used in 8-digit error codes for requests that have no specific object.
const UNKNOWN_OBJECT: u32 = 500_000;

#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// `{"success":false,"processId":…,"reasons":[{"code":…,"message":…}],"requestId":…}`.
    Zuora {
        status: StatusCode,
        code: u32,
        message: String,
    },
    /// The API gateway rejected the bearer token.
    Unauthorized,
    /// Too many requests in the rate-limit window.
    RateLimited { reset_secs: u64 },
    /// Too many requests in flight (`Retry-After: 120`).
    ConcurrencyLimited,
    /// A fault of the Actions (`/v1/action/*`) endpoints, e.g. `fns:MALFORMED_QUERY`.
    ActionFault { code: &'static str, message: String },
    /// An OAuth 2.0 token endpoint error.
    OAuth {
        status: StatusCode,
        error: &'static str,
        description: String,
    },
}

impl ApiError {
    /// Category 40: "Cannot find entity by key: 'X'." — the status is chosen by the caller because
    /// older API versions answer HTTP 200 here.
    pub fn not_found(key: &str, status: StatusCode) -> Self {
        Self::Zuora {
            status,
            code: UNKNOWN_OBJECT * 100 + 40,
            message: format!("Cannot find entity by key: '{key}'."),
        }
    }

    /// An error of one category (the last two digits of the 8-digit code).
    pub fn zuora(status: StatusCode, category: u32, message: impl Into<String>) -> Self {
        Self::Zuora {
            status,
            code: UNKNOWN_OBJECT * 100 + category,
            message: message.into(),
        }
    }

    /// Category 27: invalid query parameter.
    pub fn bad_parameter(message: impl Into<String>) -> Self {
        Self::Zuora {
            status: StatusCode::BAD_REQUEST,
            code: UNKNOWN_OBJECT * 100 + 27,
            message: message.into(),
        }
    }

    /// An error with the category that best matches an HTTP status (used by `status` faults).
    pub fn from_status(status: StatusCode) -> Self {
        let (category, message) = match status.as_u16() {
            400 => (20, "Invalid value."),
            401 => return Self::Unauthorized,
            403 => (10, "You do not have permission to perform this operation."),
            404 => (40, "The requested resource was not found."),
            409 => (
                50,
                "Operation failed due to a lock competition, please retry later.",
            ),
            429 => return Self::ConcurrencyLimited,
            503 => (
                61,
                "Service temporarily unavailable. Please try again later.",
            ),
            code if code >= 500 => (60, "An internal error occurred. Please try again later."),
            _ => (90, "Malformed request."),
        };
        Self::Zuora {
            status,
            code: UNKNOWN_OBJECT * 100 + category,
            message: message.to_string(),
        }
    }

    pub fn malformed_query(message: impl Into<String>) -> Self {
        Self::ActionFault {
            code: "MALFORMED_QUERY",
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Zuora { status, .. } | Self::OAuth { status, .. } => *status,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::RateLimited { .. } | Self::ConcurrencyLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::ActionFault { .. } => StatusCode::BAD_REQUEST,
        }
    }

    fn body(&self) -> Value {
        match self {
            Self::Zuora { code, message, .. } => envelope(*code, message),
            Self::Unauthorized => json!({"message": "Authentication error"}),
            Self::RateLimited { reset_secs } => json!({"reasons": [{
                "code": 70,
                "message": format!(
                    "API Rate limit exceeded for the minute, retry after {reset_secs} seconds"
                ),
            }]}),
            Self::ConcurrencyLimited => envelope(UNKNOWN_OBJECT * 100 + 70, CONCURRENCY_MESSAGE),
            Self::ActionFault { code, message } => json!({
                "faultcode": format!("fns:{code}"),
                "faultstring": message,
                "detail": {"MalformedQueryFault": {"FaultCode": code, "FaultMessage": message}},
            }),
            Self::OAuth {
                error, description, ..
            } => json!({"error": error, "error_description": description}),
        }
    }
}

/// The v1 error envelope with a fresh `processId` and the current request id.
fn envelope(code: u32, message: &str) -> Value {
    let process_id = uuid::Uuid::new_v4().simple().to_string()[..16].to_uppercase();
    let request_id = REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| uuid::Uuid::new_v4().to_string());
    json!({
        "success": false,
        "processId": process_id,
        "reasons": [{"code": code, "message": message}],
        "requestId": request_id,
    })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), Json(self.body())).into_response();
        let headers = response.headers_mut();
        match self {
            Self::Unauthorized => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(WWW_AUTHENTICATE),
                );
            }
            Self::ConcurrencyLimited => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("120"));
                headers.insert("Concurrency-Limit-Remaining", HeaderValue::from_static("0"));
            }
            Self::RateLimited { reset_secs } => {
                headers.insert("RateLimit-Remaining", HeaderValue::from_static("0"));
                headers.insert("RateLimit-Reset", HeaderValue::from(reset_secs));
            }
            _ => {}
        }
        response
    }
}
