use serde::Deserialize;

/// What went wrong talking to Zuora. Messages carry Zuora's own reason text, never credentials.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum ZuoraError {
    #[error("Zuora has no {what}: {reason}")]
    NotFound { what: String, reason: String },
    #[error("Zuora rejected the request (HTTP {status}{}): {reason}", code_suffix(*.code))]
    Rejected {
        status: u16,
        code: Option<u64>,
        reason: String,
    },
    #[error("Zuora is unavailable (HTTP {status}) after {attempts} attempt(s): {reason}")]
    Unavailable {
        status: u16,
        reason: String,
        attempts: u32,
    },
    #[error("Zuora did not answer in time after {attempts} attempt(s)")]
    Timeout { attempts: u32 },
    #[error("Zuora sent an unusable response after {attempts} attempt(s): {detail}")]
    BadResponse { detail: String, attempts: u32 },
    #[error("Zuora refused the client credentials: {reason}")]
    Auth { reason: String },
    #[error("could not reach Zuora after {attempts} attempt(s): {detail}")]
    Transport { detail: String, attempts: u32 },
}

fn code_suffix(code: Option<u64>) -> String {
    code.map(|c| format!(", code {c}")).unwrap_or_default()
}

impl ZuoraError {
    /// A stable, machine-readable name for API answers and event records.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "zuora_not_found",
            Self::Rejected { .. } => "zuora_rejected",
            Self::Unavailable { .. } => "zuora_unavailable",
            Self::Timeout { .. } => "zuora_timeout",
            Self::BadResponse { .. } => "zuora_bad_response",
            Self::Auth { .. } => "zuora_auth_failed",
            Self::Transport { .. } => "zuora_unreachable",
        }
    }

    /// Whether trying the same sync later can succeed (a queued job is then retried).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Unavailable { .. }
                | Self::Timeout { .. }
                | Self::BadResponse { .. }
                | Self::Transport { .. }
        )
    }
}

/// Zuora's error body: `{"success": false, "reasons": [{"code": 50000040, "message": "..."}]}`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub reasons: Vec<Reason>,
    /// `message` on proxy errors (401), `error_description` on OAuth errors.
    #[serde(default, alias = "error_description")]
    pub message: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Reason {
    #[serde(default, deserialize_with = "lenient_code")]
    pub code: Option<u64>,
    #[serde(default)]
    pub message: String,
}

/// Codes come as numbers, but some endpoints send strings.
fn lenient_code<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(match v {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    })
}

impl ErrorBody {
    pub fn parse(bytes: &[u8]) -> Self {
        serde_json::from_slice(bytes).unwrap_or_default()
    }

    pub fn first_code(&self) -> Option<u64> {
        self.reasons.iter().find_map(|r| r.code)
    }

    /// The reason text, capped so a huge body cannot flood logs or API answers.
    pub fn reason_text(&self) -> String {
        let text = if self.reasons.is_empty() {
            self.message.clone().unwrap_or_default()
        } else {
            self.reasons
                .iter()
                .map(|r| r.message.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        };
        let text = if text.is_empty() {
            "no reason given".to_string()
        } else {
            text
        };
        text.chars().take(300).collect()
    }

    /// The last two digits of an 8-digit code are its category (40 = not found, ...).
    pub fn category(&self) -> Option<u64> {
        self.first_code().map(|c| c % 100)
    }
}

/// Categories Zuora documents as worth retrying: 50 locking contention, 61 temporary, 70 limit.
pub(crate) fn retryable_category(category: u64) -> bool {
    matches!(category, 50 | 61 | 70)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_zuora_error_body() {
        let body = br#"{"success":false,"processId":"X","reasons":[{"code":50000040,"message":"Cannot find entity by key: 'A-S0000XXXX'."}]}"#;
        let parsed = ErrorBody::parse(body);
        assert_eq!(parsed.first_code(), Some(50000040));
        assert_eq!(parsed.category(), Some(40));
        assert_eq!(
            parsed.reason_text(),
            "Cannot find entity by key: 'A-S0000XXXX'."
        );
    }

    #[test]
    fn garbage_body_gives_a_placeholder_reason() {
        assert_eq!(ErrorBody::parse(b"<html>").reason_text(), "no reason given");
    }
}
