//! Validation of the structured settings: claim configurations, login hooks, the notification
//! channel and callout field names. Each refusal names the field (with its index) and what it
//! allows.

use super::validate::{InvalidSetting, invalid};
use crate::model::{
    CalloutFields, Channel, ClaimConfig, ClaimKind, LoginHook, MAX_API_SHARE_PERCENT, MAX_CLAIMS,
    OutboundPolicy, SalesforceSettings, SfObject,
};
use serde_json::Value;

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

pub(super) fn claims(value: &Value) -> Result<Vec<ClaimConfig>, InvalidSetting> {
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

pub(super) fn login_hooks(
    value: &Value,
    outbound: &OutboundPolicy,
) -> Result<Vec<LoginHook>, InvalidSetting> {
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
        if let Err(why) = outbound.check_url(&hook.jwks_url) {
            return Err(invalid(
                &format!("login_hooks[{i}].jwks_url"),
                why,
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

pub(super) fn callout_fields(value: &Value) -> Result<CalloutFields, InvalidSetting> {
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

pub(super) fn channel(
    value: &Value,
    outbound: &OutboundPolicy,
) -> Result<Option<Channel>, InvalidSetting> {
    use Channel;
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
            if let Err(why) = outbound.check_sender(from) {
                return Err(invalid("notification_channel.from", why, Value::Null));
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
            if let Err(why) = outbound.check_url(url) {
                return Err(invalid("notification_channel.url", why, Value::Null));
            }
        }
    }
    Ok(Some(channel))
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

/// The Salesforce settings: a partial object (the fields given replace the current ones), each
/// field checked on its own, then the objects as a whole (a child needs its parent).
pub(super) fn salesforce(
    current: &SalesforceSettings,
    value: &Value,
) -> Result<SalesforceSettings, InvalidSetting> {
    let Some(fields) = value.as_object() else {
        return Err(invalid(
            "salesforce",
            "must be an object of {enabled, objects, subscription_key, max_api_share_percent}",
            Value::Null,
        ));
    };
    let mut out = current.clone();
    for (name, v) in fields {
        let field = format!("salesforce.{name}");
        match name.as_str() {
            "enabled" => {
                out.enabled = v.as_bool().ok_or_else(|| {
                    invalid(
                        &field,
                        "must be true or false",
                        Value::from(vec![true, false]),
                    )
                })?
            }
            "objects" => out.objects = sf_objects(&field, v)?,
            "subscription_key" => {
                out.subscription_key = serde_json::from_value(v.clone()).map_err(|_| {
                    invalid(
                        &field,
                        format!("{v} is not an allowed value"),
                        Value::from(vec!["version_id", "number"]),
                    )
                })?
            }
            "max_api_share_percent" => {
                let (min, max) = MAX_API_SHARE_PERCENT;
                let allowed = serde_json::json!({ "min": min, "max": max });
                let n = v
                    .as_u64()
                    .filter(|n| (u64::from(min)..=u64::from(max)).contains(n))
                    .ok_or_else(|| {
                        invalid(&field, format!("{v} is outside {min}..={max}"), allowed)
                    })?;
                out.max_api_share_percent = n as u32;
            }
            _ => {
                return Err(invalid(
                    &field,
                    "is not a Salesforce setting",
                    Value::from(vec![
                        "enabled",
                        "objects",
                        "subscription_key",
                        "max_api_share_percent",
                    ]),
                ));
            }
        }
    }
    if let Some(orphan) = out.orphan() {
        return Err(invalid(
            "salesforce.objects",
            format!(
                "{} needs {}",
                orphan.api_name(),
                orphan.parent().map(SfObject::api_name).unwrap_or_default()
            ),
            all_objects(),
        ));
    }
    Ok(out)
}

fn all_objects() -> Value {
    Value::from(
        SfObject::ALL
            .iter()
            .map(|o| o.api_name())
            .collect::<Vec<_>>(),
    )
}

fn sf_objects(field: &str, value: &Value) -> Result<Vec<SfObject>, InvalidSetting> {
    let list = value
        .as_array()
        .ok_or_else(|| invalid(field, "must be an array of object names", all_objects()))?;
    let mut out = Vec::new();
    for (i, v) in list.iter().enumerate() {
        let object = v.as_str().and_then(SfObject::parse).ok_or_else(|| {
            invalid(
                &format!("{field}[{i}]"),
                format!("{v} is not an object this product writes"),
                all_objects(),
            )
        })?;
        if !out.contains(&object) {
            out.push(object);
        }
    }
    out.sort();
    Ok(out)
}
