//! What a Zuora callout body says: the account it is about, and what identifies the event
//! across Zuora's retries. Callouts have no fixed schema (the names come from the entity's
//! callout template), so each is looked up under the entity's configured name, then the usual
//! spellings.

use crate::model::CalloutFields;
use serde_json::Value;

/// Field names the receiver reads, in order of preference (callout templates and merge-field
/// parameters spell them differently).
const ACCOUNT_FIELDS: [&str; 6] = [
    "AccountNumber",
    "AccountId",
    "accountNumber",
    "accountId",
    "Account.Number",
    "Account.Id",
];
const EVENT_ID_FIELDS: [&str; 3] = ["EventId", "eventId", "Event.Id"];
const EVENT_TIME_FIELDS: [&str; 3] = ["EventTime", "eventTime", "UpdatedDate"];
const EVENT_TYPE_FIELDS: [&str; 3] = ["EventType", "eventType", "EventCategory"];

fn first_text<'a>(body: &'a Value, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|n| body.get(*n).and_then(Value::as_str))
        .filter(|v| !v.is_empty())
}

/// The entity's configured name first, then the usual ones.
fn names<'a>(configured: &'a Option<String>, usual: &[&'a str]) -> Vec<&'a str> {
    configured
        .as_deref()
        .into_iter()
        .chain(usual.iter().copied())
        .collect()
}

/// The account a callout names: the first of the entity's configured field and the usual ones
/// that holds text; otherwise the names looked at, for the answer.
pub fn account<'a>(body: &'a Value, fields: &'a CalloutFields) -> Result<&'a str, Vec<&'a str>> {
    let names = names(&fields.account, &ACCOUNT_FIELDS);
    first_text(body, &names).ok_or(names)
}

/// What identifies one change across Zuora's retries — only a field unique to the event: its
/// id, else its time (with its type and the account). `Zuora-Request-Id` is new on every retry,
/// so it is never used. Without either, the delivery is a change of its own (`None`): counting
/// one twice costs a sync, taking two changes for one loses a change.
pub fn event_identity(body: &Value, account: &str, fields: &CalloutFields) -> Option<String> {
    if let Some(id) = first_text(body, &names(&fields.event_id, &EVENT_ID_FIELDS)) {
        return Some(format!("id:{id}"));
    }
    let time = first_text(body, &names(&fields.event_time, &EVENT_TIME_FIELDS))?;
    let kind = first_text(body, &names(&fields.event_type, &EVENT_TYPE_FIELDS)).unwrap_or("");
    Some(format!("event:{account}|{kind}|{time}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn identity_ignores_the_request_id_and_prefers_the_event_id() {
        let a = json!({"AccountNumber": "A1", "EventId": "e-1", "Zuora-Request-Id": "r1"});
        let b = json!({"AccountNumber": "A1", "EventId": "e-1", "Zuora-Request-Id": "r2"});
        let usual = CalloutFields::default();
        assert_eq!(
            event_identity(&a, "A1", &usual),
            event_identity(&b, "A1", &usual)
        );
        let typed = json!({"AccountNumber": "A1", "EventType": "AccountUpdate", "EventTime": "t1"});
        assert_eq!(
            event_identity(&typed, "A1", &usual).as_deref(),
            Some("event:A1|AccountUpdate|t1")
        );
        // No per-event field: no identity, so never a duplicate of another delivery.
        let untimed = json!({"AccountNumber": "A1", "EventType": "AccountUpdate"});
        assert_eq!(event_identity(&untimed, "A1", &usual), None);
        assert_eq!(
            event_identity(&json!({"AccountNumber": "A1"}), "A1", &usual),
            None
        );
        let custom = CalloutFields {
            event_id: Some("NotificationId".into()),
            ..CalloutFields::default()
        };
        let with_custom = json!({"AccountNumber": "A1", "NotificationId": "n-9"});
        assert_eq!(
            event_identity(&with_custom, "A1", &custom).as_deref(),
            Some("id:n-9")
        );
    }
}
