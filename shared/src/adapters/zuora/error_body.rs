//! Zuora's error bodies, read into the reason text [`ZuoraError`](crate::ports::ZuoraError) carries.

use serde::Deserialize;

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
