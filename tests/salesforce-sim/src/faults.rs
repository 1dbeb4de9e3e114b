//! Injected faults. A fault targets one route name (or `"*"` for every data route, not
//! `oauth_token`), optionally only requests whose decoded path and query contain some text, may
//! be limited to `times` uses, and faults apply in the order they were added.
//!
//! Request faults (`session_expired`, `request_limit`, `status`, `latency`) act on the whole
//! request. `record_error` faults act on single records of an upsert or delete: the record fails
//! with the given error and nothing is written for it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One fault, as accepted by [`crate::SimHandle::add_fault`] and `POST /__sim__/faults`, e.g.
/// `{"route":"upsert","kind":"status","status":503,"times":1}` or
/// `{"kind":"record_error","object":"Zuora__Subscription__c","external_id":"8a80…",
/// "code":"UNABLE_TO_LOCK_ROW","times":2}`. The kind's fields may also be nested:
/// `"kind":{"kind":"status","status":503}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "FaultForm")]
pub struct Fault {
    /// `oauth_token`, `upsert`, `delete`, `query`, `limits`, or `"*"` (every data route; for
    /// `record_error`, upserts and deletes).
    pub route: String,
    /// When set, only requests whose percent-decoded path and query contain this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_contains: Option<String>,
    #[serde(flatten)]
    pub kind: FaultKind,
    /// How many requests (records, for `record_error`) the fault affects; `None` = unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// 401 `INVALID_SESSION_ID` even for a valid token; every issued token stops working.
    SessionExpired,
    /// 403 `REQUEST_LIMIT_EXCEEDED`: `TotalRequests Limit exceeded.`, or with `long: true`
    /// `ConcurrentPerOrgLongTxn Limit exceeded.`
    RequestLimit {
        #[serde(default)]
        long: bool,
    },
    /// This HTTP status with a Salesforce error array (500 `UNKNOWN_EXCEPTION`, 502–504
    /// `SERVER_UNAVAILABLE`).
    Status { status: u16 },
    /// Adds `ms` of latency, then answers normally (counts toward the long-request limit).
    Latency { ms: u64 },
    /// Fails the records of `object` (whose External ID value is `external_id`, when set) with
    /// `{"statusCode": code, "message": message, "fields": []}`. Without `message`, the usual
    /// Salesforce wording for `code` is used; `{id}` in it becomes the record's id.
    RecordError {
        object: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        external_id: Option<String>,
        code: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
}

fn any_route() -> String {
    "*".into()
}

/// The wire form: the kind's fields either flattened into the fault (the documented form) or as
/// a nested object under `"kind"`.
#[derive(Deserialize)]
struct FaultForm {
    #[serde(default = "any_route")]
    route: String,
    #[serde(default)]
    path_contains: Option<String>,
    #[serde(default)]
    times: Option<u32>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

impl TryFrom<FaultForm> for Fault {
    type Error = serde_json::Error;

    fn try_from(form: FaultForm) -> Result<Self, Self::Error> {
        let kind = match form.rest.get("kind") {
            Some(nested @ Value::Object(_)) => FaultKind::deserialize(nested)?,
            _ => FaultKind::deserialize(Value::Object(form.rest))?,
        };
        Ok(Self {
            route: form.route,
            path_contains: form.path_contains,
            kind,
            times: form.times,
        })
    }
}

/// What a `record_error` fault is matched against.
pub struct RecordTarget<'a> {
    /// `upsert` or `delete`.
    pub route: &'a str,
    pub object: &'a str,
    /// The record's External ID values (for an upsert: the key it is upserted by).
    pub external_ids: Vec<String>,
}

impl Fault {
    pub fn new(route: impl Into<String>, kind: FaultKind) -> Self {
        Self {
            route: route.into(),
            path_contains: None,
            kind,
            times: None,
        }
    }

    /// A `record_error` fault on every upsert and delete of `object` (of the record whose
    /// External ID is `external_id`, when given), with Salesforce's usual message for `code`.
    pub fn record(object: &str, external_id: Option<&str>, code: &str) -> Self {
        let kind = FaultKind::RecordError {
            object: object.into(),
            external_id: external_id.map(str::to_string),
            code: code.into(),
            message: None,
        };
        Self::new("*", kind)
    }

    /// Limits the fault to requests whose decoded path and query contain `text`.
    pub fn matching(mut self, text: impl Into<String>) -> Self {
        self.path_contains = Some(text.into());
        self
    }

    /// Limits the fault to the next `times` matching requests (or records).
    pub fn times(mut self, times: u32) -> Self {
        self.times = Some(times);
        self
    }

    fn route_matches(&self, route: &str) -> bool {
        self.route == route || (self.route == "*" && route != "oauth_token")
    }

    fn applies_to_request(&self, route: &str, target: &str) -> bool {
        !matches!(self.kind, FaultKind::RecordError { .. })
            && self.route_matches(route)
            && self.path_matches(target)
    }

    fn path_matches(&self, target: &str) -> bool {
        self.path_contains
            .as_deref()
            .is_none_or(|needle| target.contains(needle))
    }

    fn applies_to_record(&self, record: &RecordTarget, target: &str) -> bool {
        let FaultKind::RecordError {
            object,
            external_id,
            ..
        } = &self.kind
        else {
            return false;
        };
        self.route_matches(record.route)
            && self.path_matches(target)
            && object == record.object
            && external_id
                .as_ref()
                .is_none_or(|wanted| record.external_ids.contains(wanted))
    }
}

/// Takes the first request fault for `route` and the decoded `target` (path and query), using
/// up one of its uses.
pub fn take_request_fault(faults: &mut Vec<Fault>, route: &str, target: &str) -> Option<FaultKind> {
    let index = faults
        .iter()
        .position(|fault| fault.applies_to_request(route, target))?;
    Some(use_once(faults, index))
}

/// Takes the first `record_error` fault for one record: `(code, message template)`.
pub fn take_record_fault(
    faults: &mut Vec<Fault>,
    record: &RecordTarget,
    target: &str,
) -> Option<(String, Option<String>)> {
    let index = faults
        .iter()
        .position(|fault| fault.applies_to_record(record, target))?;
    match use_once(faults, index) {
        FaultKind::RecordError { code, message, .. } => Some((code, message)),
        _ => None,
    }
}

fn use_once(faults: &mut Vec<Fault>, index: usize) -> FaultKind {
    let fault = &mut faults[index];
    let kind = fault.kind.clone();
    match fault.times {
        Some(left) if left <= 1 => {
            faults.remove(index);
        }
        Some(left) => fault.times = Some(left - 1),
        None => {}
    }
    kind
}

/// Salesforce's usual message for a per-record error code (`{id}` is filled in later).
pub fn default_message(code: &str, ext_field: &str) -> String {
    match code {
        "UNABLE_TO_LOCK_ROW" => {
            "unable to obtain exclusive access to this record or 1 records: {id}".into()
        }
        "DUPLICATE_VALUE" => {
            format!("duplicate value found: {ext_field} duplicates value on record with id: {{id}}")
        }
        "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY" => {
            "insufficient access rights on cross-reference id: {id}".into()
        }
        "ENTITY_IS_DELETED" => "entity is deleted".into(),
        other => other.to_string(),
    }
}

/// Percent-decodes a path and query (`+` stays a plus). Invalid escapes are kept; invalid
/// UTF-8 is replaced.
pub fn decode_target(path_and_query: &str) -> String {
    percent_encoding::percent_decode_str(path_and_query)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_forms() {
        let fault: Fault =
            serde_json::from_str(r#"{"route":"upsert","kind":"status","status":503,"times":2}"#)
                .unwrap();
        assert_eq!(
            fault,
            Fault::new("upsert", FaultKind::Status { status: 503 }).times(2)
        );
        let fault: Fault = serde_json::from_str(r#"{"kind":"request_limit"}"#).unwrap();
        assert_eq!(fault.route, "*");
        assert_eq!(fault.kind, FaultKind::RequestLimit { long: false });
        let nested: Fault =
            serde_json::from_str(r#"{"kind":{"kind":"session_expired"},"times":1}"#).unwrap();
        assert_eq!(nested, Fault::new("*", FaultKind::SessionExpired).times(1));
        let record = Fault::record("Zuora__Subscription__c", Some("S1"), "UNABLE_TO_LOCK_ROW");
        let text = serde_json::to_string(&record).unwrap();
        assert_eq!(serde_json::from_str::<Fault>(&text).unwrap(), record);
        assert!(serde_json::from_str::<Fault>(r#"{"kind":"nope"}"#).is_err());
        assert!(serde_json::from_str::<Fault>(r#"{"route":"upsert"}"#).is_err());
    }

    #[test]
    fn request_and_record_faults_are_taken_separately() {
        let mut faults = vec![
            Fault::record("Obj__c", Some("X"), "UNABLE_TO_LOCK_ROW").times(1),
            Fault::new("upsert", FaultKind::Latency { ms: 5 }).matching("Obj__c"),
        ];
        assert_eq!(take_request_fault(&mut faults, "query", "/q"), None);
        assert_eq!(
            take_request_fault(&mut faults, "upsert", "/sobjects/Obj__c/Ext__c"),
            Some(FaultKind::Latency { ms: 5 })
        );
        let other = RecordTarget {
            route: "upsert",
            object: "Obj__c",
            external_ids: vec!["Y".into()],
        };
        assert_eq!(take_record_fault(&mut faults, &other, ""), None);
        let target = RecordTarget {
            external_ids: vec!["X".into()],
            ..other
        };
        assert!(take_record_fault(&mut faults, &target, "").is_some());
        assert!(take_record_fault(&mut faults, &target, "").is_none());
        assert_eq!(faults.len(), 1);
    }
}
