//! Settings updates: parsed from JSON by hand, field by field, so a bad value is refused with
//! the field's name and the values it allows instead of a generic deserialisation error.
//!
//! Updates are parsed from JSON by hand, field by field, so a bad value is refused with the
//! field's name and the values it allows instead of a generic deserialisation error.

use crate::model::{
    CalloutFields, ClaimConfig, ClaimKind, EVENT_RETENTION_DAYS, EVENT_THRESHOLDS, EntitySettings,
    LoginHook, MAX_CLAIMS, MAX_MINUTES_BETWEEN_SYNCS, MIN_ON_DEMAND_INTERVAL,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A refused setting: which field, why, and what it allows.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidSetting {
    pub field: String,
    pub message: String,
    pub allowed: Value,
}

fn invalid(field: &str, message: impl Into<String>, allowed: Value) -> InvalidSetting {
    InvalidSetting {
        field: field.to_string(),
        message: message.into(),
        allowed,
    }
}

/// A partial update: the fields given replace the current ones; `version` must match.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingsUpdate {
    pub version: u64,
    pub fields: Map<String, Value>,
}

const FIELDS: [&str; 11] = [
    "login_hooks",
    "callout_fields",
    "notification_channel",
    "sync_mode",
    "max_events_before_sync",
    "max_minutes_between_syncs",
    "notification_level",
    "hot_sync_enabled",
    "claims",
    "min_on_demand_interval_minutes",
    "event_retention_days",
];

impl SettingsUpdate {
    /// Reads an update body: an object with `version` and any of the setting fields.
    pub fn parse(body: &Value) -> Result<Self, InvalidSetting> {
        let Some(obj) = body.as_object() else {
            return Err(invalid("body", "must be a JSON object", Value::Null));
        };
        let version = match obj.get("version") {
            Some(v) => v.as_u64().ok_or_else(|| {
                invalid(
                    "version",
                    "must be the non-negative integer version you read",
                    Value::Null,
                )
            })?,
            None => {
                return Err(invalid(
                    "version",
                    "is required: send the version you read, so concurrent updates are detected",
                    Value::Null,
                ));
            }
        };
        let mut fields = Map::new();
        for (name, value) in obj {
            if name == "version" {
                continue;
            }
            if !FIELDS.contains(&name.as_str()) {
                return Err(invalid(
                    name,
                    "is not a setting",
                    Value::from(FIELDS.to_vec()),
                ));
            }
            fields.insert(name.clone(), value.clone());
        }
        Ok(Self { version, fields })
    }

    /// The settings after this update, validated as a whole.
    pub fn apply(&self, current: &EntitySettings) -> Result<EntitySettings, InvalidSetting> {
        let mut s = current.clone();
        for (name, value) in &self.fields {
            match name.as_str() {
                "sync_mode" => s.sync_mode = enum_value(name, value)?,
                "notification_level" => s.notification_level = enum_value(name, value)?,
                "max_events_before_sync" => {
                    let n = int(name, value, Value::from(EVENT_THRESHOLDS.to_vec()))?;
                    if !EVENT_THRESHOLDS.contains(&n) {
                        return Err(invalid(
                            name,
                            format!("{n} is not an allowed threshold"),
                            Value::from(EVENT_THRESHOLDS.to_vec()),
                        ));
                    }
                    s.max_events_before_sync = n;
                }
                "max_minutes_between_syncs" => {
                    s.max_minutes_between_syncs = ranged(name, value, MAX_MINUTES_BETWEEN_SYNCS)?
                }
                "min_on_demand_interval_minutes" => {
                    s.min_on_demand_interval_minutes = ranged(name, value, MIN_ON_DEMAND_INTERVAL)?
                }
                "event_retention_days" => {
                    s.event_retention_days = ranged(name, value, EVENT_RETENTION_DAYS)?
                }
                "hot_sync_enabled" => {
                    s.hot_sync_enabled = value.as_bool().ok_or_else(|| {
                        invalid(
                            name,
                            "must be true or false",
                            Value::from(vec![true, false]),
                        )
                    })?
                }
                "claims" => s.claims = claims(value)?,
                "login_hooks" => s.login_hooks = login_hooks(value)?,
                "notification_channel" => s.notification_channel = channel(value)?,
                "callout_fields" => s.callout_fields = callout_fields(value)?,
                _ => unreachable!("parse admits only known fields"),
            }
        }
        Ok(s)
    }
}

fn enum_value<T: for<'de> Deserialize<'de> + Serialize>(
    field: &str,
    value: &Value,
) -> Result<T, InvalidSetting> {
    serde_json::from_value(value.clone()).map_err(|_| {
        let allowed = match field {
            "sync_mode" => vec!["none", "scheduled", "realtime"],
            _ => vec![
                "none",
                "errors_only",
                "all_excluding_zero",
                "all_including_zero",
            ],
        };
        invalid(
            field,
            format!("{value} is not an allowed value"),
            Value::from(allowed),
        )
    })
}

fn int(field: &str, value: &Value, allowed: Value) -> Result<u32, InvalidSetting> {
    value
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| invalid(field, format!("{value} is not a whole number"), allowed))
}

fn ranged(field: &str, value: &Value, (min, max): (u32, u32)) -> Result<u32, InvalidSetting> {
    let allowed = serde_json::json!({ "min": min, "max": max });
    let n = int(field, value, allowed.clone())?;
    if n < min || n > max {
        return Err(invalid(
            field,
            format!("{n} is outside {min}..={max}"),
            allowed,
        ));
    }
    Ok(n)
}

/// A claim name: what IdPs use (`custom:zuora_account`, `https://example.com/acct`).
fn valid_claim_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '"' | '\'' | '\\'))
}

/// A Zuora custom field name: the only thing of a claim config that reaches a Zuora query, so
/// it must be an identifier.
pub fn valid_account_field(name: &str) -> bool {
    name.len() <= 64
        && name.ends_with("__c")
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn claims(value: &Value) -> Result<Vec<ClaimConfig>, InvalidSetting> {
    let Some(list) = value.as_array() else {
        return Err(invalid(
            "claims",
            "must be an array of claim configurations",
            Value::Null,
        ));
    };
    if list.len() > MAX_CLAIMS {
        return Err(invalid(
            "claims",
            format!("at most {MAX_CLAIMS} claim configurations are allowed"),
            Value::Null,
        ));
    }
    list.iter().enumerate().map(|(i, v)| claim(i, v)).collect()
}

/// At most this many IdPs per entity.
pub const MAX_LOGIN_HOOKS: usize = 10;

fn login_hooks(value: &Value) -> Result<Vec<LoginHook>, InvalidSetting> {
    let list = value.as_array().ok_or_else(|| {
        invalid(
            "login_hooks",
            "must be an array of {issuer, jwks_url, audience}",
            Value::Null,
        )
    })?;
    if list.len() > MAX_LOGIN_HOOKS {
        return Err(invalid(
            "login_hooks",
            format!("at most {MAX_LOGIN_HOOKS} identity providers are allowed"),
            Value::Null,
        ));
    }
    let mut hooks = Vec::new();
    for (i, v) in list.iter().enumerate() {
        let hook: LoginHook = serde_json::from_value(v.clone()).map_err(|e| {
            invalid(
                &format!("login_hooks[{i}]"),
                format!("must be {{issuer, jwks_url, audience}} strings: {e}"),
                Value::Null,
            )
        })?;
        for (name, text) in [("issuer", &hook.issuer), ("audience", &hook.audience)] {
            if text.is_empty() || text.len() > 256 {
                return Err(invalid(
                    &format!("login_hooks[{i}].{name}"),
                    "must be 1 to 256 characters",
                    Value::Null,
                ));
            }
        }
        if !secure_url(&hook.jwks_url) {
            return Err(invalid(
                &format!("login_hooks[{i}].jwks_url"),
                "must be an https URL (http only for localhost)",
                Value::Null,
            ));
        }
        if hooks.iter().any(|h: &LoginHook| h.issuer == hook.issuer) {
            return Err(invalid(
                &format!("login_hooks[{i}].issuer"),
                "appears twice",
                Value::Null,
            ));
        }
        hooks.push(hook);
    }
    Ok(hooks)
}

fn callout_fields(value: &Value) -> Result<CalloutFields, InvalidSetting> {
    let names = Value::from(vec!["account", "event_id", "event_type", "event_time"]);
    let fields: CalloutFields = serde_json::from_value(value.clone()).map_err(|e| {
        invalid(
            "callout_fields",
            format!("must map these keys to field names: {e}"),
            names.clone(),
        )
    })?;
    for (key, name) in [
        ("account", &fields.account),
        ("event_id", &fields.event_id),
        ("event_type", &fields.event_type),
        ("event_time", &fields.event_time),
    ] {
        if let Some(n) = name
            && (n.is_empty() || n.len() > 64 || n.chars().any(char::is_control))
        {
            return Err(invalid(
                &format!("callout_fields.{key}"),
                "must be a field name of 1 to 64 characters",
                Value::Null,
            ));
        }
    }
    Ok(fields)
}

fn email_like(text: &str) -> bool {
    let mut parts = text.split('@');
    matches!((parts.next(), parts.next(), parts.next()), (Some(user), Some(domain), None)
        if !user.is_empty() && domain.contains('.') && text.len() <= 254
            && !text.chars().any(|c| c.is_whitespace() || c == '<' || c == '>'))
}

fn channel(value: &Value) -> Result<Option<crate::model::Channel>, InvalidSetting> {
    use crate::model::Channel;
    if value.is_null() {
        return Ok(None);
    }
    let kinds = Value::from(vec!["email", "webhook"]);
    let channel: Channel = serde_json::from_value(value.clone()).map_err(|e| {
        invalid(
            "notification_channel",
            format!("must be {{\"type\": \"email\", \"from\", \"to\": [..]}} or {{\"type\": \"webhook\", \"url\"}}: {e}"),
            kinds.clone(),
        )
    })?;
    match &channel {
        Channel::Email { from, to } => {
            if !email_like(from) {
                return Err(invalid(
                    "notification_channel.from",
                    "must be an email address",
                    Value::Null,
                ));
            }
            if to.is_empty() || to.len() > 10 || !to.iter().all(|t| email_like(t)) {
                return Err(invalid(
                    "notification_channel.to",
                    "must be 1 to 10 email addresses",
                    Value::Null,
                ));
            }
        }
        Channel::Webhook { url } => {
            if !secure_url(url) {
                return Err(invalid(
                    "notification_channel.url",
                    "must be an https URL (http only for localhost)",
                    Value::Null,
                ));
            }
        }
    }
    Ok(Some(channel))
}

/// Keys are fetched from here, so they must come over TLS (plain http only on this machine).
fn secure_url(raw: &str) -> bool {
    match url::Url::parse(raw) {
        Ok(u) if u.scheme() == "https" => u.host_str().is_some(),
        Ok(u) if u.scheme() == "http" => {
            matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
        }
        _ => false,
    }
}

fn claim(i: usize, value: &Value) -> Result<ClaimConfig, InvalidSetting> {
    let field = |name: &str| format!("claims[{i}].{name}");
    let text = |name: &str| -> Result<String, InvalidSetting> {
        value
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_string)
            .filter(|s| !s.is_empty() && s.len() <= 64)
            .ok_or_else(|| {
                invalid(
                    &field(name),
                    "is required: a string of 1 to 64 characters",
                    Value::Null,
                )
            })
    };
    let Some(obj) = value.as_object() else {
        return Err(invalid(
            &format!("claims[{i}]"),
            "must be an object",
            Value::Null,
        ));
    };
    let known = ["claim", "service", "issuer", "type", "account_field"];
    if let Some(unknown) = obj.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(invalid(
            &field(unknown),
            "is not a claim configuration field",
            Value::from(known.to_vec()),
        ));
    }
    let claim = value.get("claim").and_then(Value::as_str).unwrap_or("");
    if !valid_claim_name(claim) {
        return Err(invalid(
            &field("claim"),
            "must be a claim name of 1 to 128 printable characters without quotes or backslashes",
            Value::Null,
        ));
    }
    let kind: ClaimKind = match value.get("type") {
        Some(v) => serde_json::from_value(v.clone()).map_err(|_| {
            invalid(
                &field("type"),
                format!("{v} is not an allowed value"),
                Value::from(vec!["account", "lookup"]),
            )
        })?,
        None => {
            return Err(invalid(
                &field("type"),
                "is required",
                Value::from(vec!["account", "lookup"]),
            ));
        }
    };
    let account_field = value
        .get("account_field")
        .map(|v| v.as_str().unwrap_or("").to_string());
    match (&kind, &account_field) {
        (ClaimKind::Lookup, Some(f)) if valid_account_field(f) => {}
        (ClaimKind::Lookup, _) => {
            return Err(invalid(
                &field("account_field"),
                "is required for type lookup: a Zuora Account custom field name such as LimioExternalId__c",
                Value::Null,
            ));
        }
        (ClaimKind::Account, Some(_)) => {
            return Err(invalid(
                &field("account_field"),
                "applies only to type lookup",
                Value::Null,
            ));
        }
        (ClaimKind::Account, None) => {}
    }
    Ok(ClaimConfig {
        claim: claim.to_string(),
        service: text("service")?,
        issuer: text("issuer")?,
        kind,
        account_field,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn apply(body: Value) -> Result<EntitySettings, InvalidSetting> {
        SettingsUpdate::parse(&body)?.apply(&EntitySettings::default())
    }

    #[test]
    fn thresholds_outside_the_list_are_refused_with_the_list() {
        let err = apply(json!({"version": 0, "max_events_before_sync": 7})).unwrap_err();
        assert_eq!(err.field, "max_events_before_sync");
        assert_eq!(err.allowed, json!(EVENT_THRESHOLDS));
        let ok = apply(json!({"version": 0, "max_events_before_sync": 500})).unwrap();
        assert_eq!(ok.max_events_before_sync, 500);
    }

    #[test]
    fn names_unknown_fields_and_bad_enums() {
        let err = apply(json!({"version": 0, "colour": "red"})).unwrap_err();
        assert_eq!(err.field, "colour");
        let err = apply(json!({"version": 0, "sync_mode": "sometimes"})).unwrap_err();
        assert_eq!(err.allowed, json!(["none", "scheduled", "realtime"]));
        let err = apply(json!({"sync_mode": "none"})).unwrap_err();
        assert_eq!(err.field, "version");
    }

    #[test]
    fn claim_configs_are_checked_field_by_field() {
        let lookup_without_field = json!({"version": 1, "claims": [{"claim": "email", "service": "zuora", "issuer": "zuora", "type": "lookup"}]});
        assert_eq!(
            apply(lookup_without_field).unwrap_err().field,
            "claims[0].account_field"
        );
        let injected = json!({"version": 1, "claims": [{"claim": "email", "service": "zuora", "issuer": "zuora", "type": "lookup", "account_field": "X__c = '1' or Id"}]});
        assert_eq!(
            apply(injected).unwrap_err().field,
            "claims[0].account_field"
        );
        let ok = apply(json!({"version": 1, "claims": [
            {"claim": "custom:zuora_account", "service": "zuora", "issuer": "zuora", "type": "account"},
            {"claim": "email", "service": "zuora", "issuer": "zuora", "type": "lookup", "account_field": "LimioExternalId__c"}
        ]}))
        .unwrap();
        assert_eq!(ok.claims.len(), 2);
        assert_eq!(ok.claims[1].kind, ClaimKind::Lookup);
    }

    #[test]
    fn login_hooks_need_tls_and_distinct_issuers() {
        let hook = |url: &str| json!({"issuer": "https://idp", "jwks_url": url, "audience": "app"});
        assert!(apply(json!({"version": 0, "login_hooks": [hook("https://idp/jwks")]})).is_ok());
        assert!(
            apply(json!({"version": 0, "login_hooks": [hook("http://127.0.0.1:9/jwks")]})).is_ok()
        );
        let err =
            apply(json!({"version": 0, "login_hooks": [hook("http://idp/jwks")]})).unwrap_err();
        assert_eq!(err.field, "login_hooks[0].jwks_url");
        let twice =
            json!({"version": 0, "login_hooks": [hook("https://a/j"), hook("https://b/j")]});
        assert_eq!(apply(twice).unwrap_err().field, "login_hooks[1].issuer");
        let old: EntitySettings = serde_json::from_str(r#"{"sync_mode": "realtime"}"#).unwrap();
        assert_eq!(
            old.max_events_before_sync, 10,
            "missing fields take defaults"
        );
    }

    #[test]
    fn notification_levels_decide_as_designed() {
        use crate::model::NotificationLevel::*;
        let table = [
            // (level, failed, written, notify)
            (None, 1, 5, false),
            (ErrorsOnly, 0, 5, false),
            (ErrorsOnly, 1, 0, true),
            (AllExcludingZero, 0, 0, false),
            (AllExcludingZero, 0, 1, true),
            (AllExcludingZero, 1, 0, true),
            (AllIncludingZero, 0, 0, true),
        ];
        for (level, failed, written, expected) in table {
            assert_eq!(
                level.should_notify(failed, written),
                expected,
                "{level:?} {failed} {written}"
            );
        }
    }
}
