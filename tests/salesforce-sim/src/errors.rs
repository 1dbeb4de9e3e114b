//! Salesforce's error bodies: request-level errors are a JSON array
//! `[{"message":…,"errorCode":…}]`, per-record errors are `{"statusCode","message","fields"}`
//! inside a result, and the OAuth endpoint answers `{"error","error_description"}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

pub const NOT_FOUND_MESSAGE: &str = "The requested resource does not exist";
pub const TOTAL_REQUESTS_MESSAGE: &str = "TotalRequests Limit exceeded.";
pub const LONG_TXN_MESSAGE: &str = "ConcurrentPerOrgLongTxn Limit exceeded.";
pub const ROLLED_BACK_MESSAGE: &str = "Record rolled back because not all records were valid and the request was using AllOrNone header";
pub const RECORD_LIMIT_MESSAGE: &str =
    "record limit reached. cannot submit more than 200 records into this call";

/// A request-level error: an HTTP status and Salesforce's one-element error array.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 401: an unknown, expired or missing bearer token.
    pub fn invalid_session() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_SESSION_ID",
            "Session expired or invalid",
        )
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", NOT_FOUND_MESSAGE)
    }

    /// 403 for the daily allocation (`long: false`) or the concurrent long-request limit.
    pub fn request_limit(long: bool) -> Self {
        let message = if long {
            LONG_TXN_MESSAGE
        } else {
            TOTAL_REQUESTS_MESSAGE
        };
        Self::new(StatusCode::FORBIDDEN, "REQUEST_LIMIT_EXCEEDED", message)
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn json_parser(message: impl Into<String>) -> Self {
        Self::bad_request("JSON_PARSER_ERROR", message)
    }

    pub fn malformed_query(message: impl Into<String>) -> Self {
        Self::bad_request("MALFORMED_QUERY", message)
    }

    /// An injected HTTP status: 500 is Salesforce's `UNKNOWN_EXCEPTION`, 502–504 are
    /// `SERVER_UNAVAILABLE`; anything else carries the status's reason as its code.
    pub fn injected(status: u16) -> Self {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        match status.as_u16() {
            500 => Self::new(
                status,
                "UNKNOWN_EXCEPTION",
                "An unexpected error occurred. Please include this ErrorId if you contact support: 1234567890-12345 (-1234567890)",
            ),
            502..=504 => Self::new(
                status,
                "SERVER_UNAVAILABLE",
                "The server is temporarily unable to handle the request. Please try again later.",
            ),
            401 => Self::invalid_session(),
            404 => Self::not_found(),
            _ => Self::new(status, "UNKNOWN_EXCEPTION", "Injected failure"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!([{"message": self.message, "errorCode": self.code}]);
        (self.status, Json(body)).into_response()
    }
}

/// An OAuth token endpoint error (always HTTP 400 in Salesforce).
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthError {
    pub error: &'static str,
    pub description: &'static str,
}

impl OAuthError {
    pub const fn new(error: &'static str, description: &'static str) -> Self {
        Self { error, description }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.error, "error_description": self.description});
        (StatusCode::BAD_REQUEST, Json(body)).into_response()
    }
}

/// One per-record error inside an upsert or delete result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemError {
    #[serde(rename = "statusCode")]
    pub status_code: String,
    pub message: String,
    pub fields: Vec<String>,
}

impl ItemError {
    pub fn new(status_code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status_code: status_code.into(),
            message: message.into(),
            fields: Vec::new(),
        }
    }

    pub fn on_field(mut self, field: &str) -> Self {
        self.fields.push(field.to_string());
        self
    }

    pub fn invalid_field(message: impl Into<String>) -> Self {
        Self::new("INVALID_FIELD", message)
    }

    pub fn rolled_back() -> Self {
        Self::new("ALL_OR_NONE_OPERATION_ROLLED_BACK", ROLLED_BACK_MESSAGE)
    }

    pub fn cross_reference_denied(id: &str) -> Self {
        Self::new(
            "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY",
            format!("insufficient access rights on cross-reference id: {id}"),
        )
    }

    /// A failed result: Salesforce leaves `id` (and `created`) out when a record fails.
    pub fn into_result(self) -> Value {
        json!({"success": false, "errors": [self]})
    }
}
