//! Settings updates: parsed from JSON by hand, field by field, so a bad value is refused with
//! the field's name and the values it allows instead of a generic deserialisation error.

use super::fields::{callout_fields, channel, claims, login_hooks, salesforce};
use crate::model::{
    DEEP_RECONCILE_DAYS, EVENT_RETENTION_DAYS, EVENT_THRESHOLDS, EntitySettings,
    MAX_MINUTES_BETWEEN_SYNCS, MIN_ON_DEMAND_INTERVAL, OutboundPolicy,
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

pub(super) fn invalid(field: &str, message: impl Into<String>, allowed: Value) -> InvalidSetting {
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

const FIELDS: [&str; 14] = [
    "salesforce",
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
    "deep_reconcile_days",
    "bulk_export",
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

    /// The settings after this update, validated as a whole; URLs and senders by `outbound`.
    pub fn apply(
        &self,
        current: &EntitySettings,
        outbound: &OutboundPolicy,
    ) -> Result<EntitySettings, InvalidSetting> {
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
                "deep_reconcile_days" => {
                    s.deep_reconcile_days = ranged(name, value, DEEP_RECONCILE_DAYS)?
                }
                "hot_sync_enabled" => s.hot_sync_enabled = boolean(name, value)?,
                "bulk_export" => s.bulk_export = boolean(name, value)?,
                "claims" => s.claims = claims(value)?,
                "login_hooks" => s.login_hooks = login_hooks(value, outbound)?,
                "notification_channel" => s.notification_channel = channel(value, outbound)?,
                "callout_fields" => s.callout_fields = callout_fields(value)?,
                "salesforce" => s.salesforce = salesforce(&s.salesforce, value)?,
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

fn boolean(field: &str, value: &Value) -> Result<bool, InvalidSetting> {
    value.as_bool().ok_or_else(|| {
        invalid(
            field,
            "must be true or false",
            Value::from(vec![true, false]),
        )
    })
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

#[cfg(test)]
mod tests;
