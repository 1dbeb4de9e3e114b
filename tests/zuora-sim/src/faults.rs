//! Injected faults. A fault targets one route name (or `"*"` for every Zuora route except
//! `oauth_token`), optionally only requests whose path contains some text, may be limited to
//! `times` uses, and faults apply in the order they were added.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One fault, as accepted by [`crate::SimHandle::add_fault`] and `POST /__sim/faults`, e.g.
/// `{"route":"object_query_account","kind":"status","status":500,"times":2}` or
/// `{"route":"v1_subscription","path_contains":"A-S00000273","kind":"status","status":500}`.
/// The kind's fields may also be nested: `"kind":{"kind":"status","status":500}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "FaultForm")]
pub struct Fault {
    /// A route name (see [`crate::ROUTE_NAMES`]) or `"*"`.
    pub route: String,
    /// When set, the fault only matches requests whose URL path (percent-decoded, without the
    /// query string) contains this text, e.g. a subscription number or an account key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_contains: Option<String>,
    #[serde(flatten)]
    pub kind: FaultKind,
    /// How many requests the fault affects before it is used up; `None` = unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
}

fn any_route() -> String {
    "*".to_string()
}

/// The accepted JSON: the kind either flattened into the fault (the documented form) or as a
/// nested object under `"kind"`.
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

fn one_second() -> u64 {
    1
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with this HTTP status and a Zuora error body of the matching category.
    Status { status: u16 },
    /// Answer with this HTTP status and a Zuora error body carrying `message` (Zuora's own
    /// validation text, which may hold anything the tenant's data holds).
    Refuse { status: u16, message: String },
    /// HTTP 429 from the rate limiter, `RateLimit-Remaining: 0`, `RateLimit-Reset: reset_secs`.
    RateLimit {
        #[serde(default = "one_second")]
        reset_secs: u64,
    },
    /// HTTP 429 from the concurrency limiter (`Retry-After: 120`, code 50000070).
    ConcurrencyLimit,
    /// Sleep `ms` before answering normally (for client timeouts).
    Timeout { ms: u64 },
    /// Add `ms` of latency, then answer normally.
    Latency { ms: u64 },
    /// HTTP 200 with the real body cut in half.
    Malformed,
    /// Send the headers, then abort the connection mid-body.
    DropConnection,
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

    /// Limits the fault to requests whose URL path (percent-decoded) contains `path_contains`,
    /// e.g. `Fault::new("v1_subscription", kind).matching("A-S00000273")`.
    pub fn matching(mut self, path_contains: impl Into<String>) -> Self {
        self.path_contains = Some(path_contains.into());
        self
    }

    /// Limits the fault to the next `times` matching requests.
    pub fn times(mut self, times: u32) -> Self {
        self.times = Some(times);
        self
    }

    fn applies_to(&self, route: &str, path: &str) -> bool {
        let route_matches = self.route == route || (self.route == "*" && route != "oauth_token");
        route_matches
            && self
                .path_contains
                .as_deref()
                .is_none_or(|needle| path.contains(needle))
    }
}

/// Takes the first fault that applies to `route` and the (decoded) request `path`, consuming
/// one of its uses. Faults that do not match are left untouched.
pub fn take_fault(faults: &mut Vec<Fault>, route: &str, path: &str) -> Option<FaultKind> {
    let index = faults
        .iter()
        .position(|fault| fault.applies_to(route, path))?;
    let fault = &mut faults[index];
    let kind = fault.kind.clone();
    match fault.times {
        Some(left) if left <= 1 => {
            faults.remove(index);
        }
        Some(left) => fault.times = Some(left - 1),
        None => {}
    }
    Some(kind)
}

/// Percent-decodes a URL path (`%20` → space; `+` stays a plus, as in paths). Invalid escapes
/// are kept as they are; invalid UTF-8 is replaced.
pub fn decode_path(path: &str) -> String {
    percent_encoding::percent_decode_str(path)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_form() {
        let fault: Fault = serde_json::from_str(
            r#"{"route":"object_query_account","kind":"status","status":500,"times":2}"#,
        )
        .unwrap();
        assert_eq!(
            fault,
            Fault::new("object_query_account", FaultKind::Status { status: 500 }).times(2)
        );
        let fault: Fault = serde_json::from_str(r#"{"kind":"rate_limit"}"#).unwrap();
        assert_eq!(fault.route, "*");
        assert_eq!(fault.kind, FaultKind::RateLimit { reset_secs: 1 });
        assert!(serde_json::from_str::<Fault>(r#"{"kind":"nope"}"#).is_err());
        assert!(serde_json::from_str::<Fault>(r#"{"route":"v1_account"}"#).is_err());
    }

    #[test]
    fn json_form_with_path_and_nested_kind() {
        let expected = Fault::new("v1_subscription", FaultKind::Status { status: 500 })
            .matching("A-S00000273")
            .times(1);
        for text in [
            r#"{"route":"v1_subscription","path_contains":"A-S00000273","kind":"status","status":500,"times":1}"#,
            r#"{"route":"v1_subscription","path_contains":"A-S00000273","kind":{"kind":"status","status":500},"times":1}"#,
        ] {
            assert_eq!(serde_json::from_str::<Fault>(text).unwrap(), expected);
        }
        let round_trip = serde_json::to_value(&expected).unwrap();
        assert_eq!(round_trip["path_contains"], "A-S00000273");
        assert_eq!(round_trip["kind"], "status");
        assert_eq!(
            serde_json::from_value::<Fault>(round_trip).unwrap(),
            expected
        );
        let plain = serde_json::to_value(Fault::new("*", FaultKind::Malformed)).unwrap();
        assert!(plain.get("path_contains").is_none());
    }

    #[test]
    fn path_matched_faults_count_only_matching_requests() {
        let mut faults = vec![
            Fault::new("v1_subscription", FaultKind::Malformed)
                .matching("A-S00000273")
                .times(2),
            Fault::new("*", FaultKind::ConcurrencyLimit).matching("nope"),
        ];
        let other = "/v1/subscriptions/A-S00000271";
        let target = "/v1/subscriptions/A-S00000273";
        assert_eq!(take_fault(&mut faults, "v1_subscription", other), None);
        assert_eq!(take_fault(&mut faults, "v1_account", target), None);
        assert_eq!(
            take_fault(&mut faults, "v1_subscription", target),
            Some(FaultKind::Malformed)
        );
        assert_eq!(take_fault(&mut faults, "v1_subscription", other), None);
        assert_eq!(
            take_fault(&mut faults, "v1_subscription", target),
            Some(FaultKind::Malformed)
        );
        assert_eq!(take_fault(&mut faults, "v1_subscription", target), None);
        assert_eq!(faults.len(), 1);
    }

    #[test]
    fn paths_are_percent_decoded() {
        assert_eq!(
            decode_path("/v1/accounts/o%27brien%5C7"),
            "/v1/accounts/o'brien\\7"
        );
        assert_eq!(decode_path("/a%20b+c"), "/a b+c");
        assert_eq!(decode_path("/caf%C3%A9"), "/café");
        assert_eq!(decode_path("/bad%zz%4"), "/bad%zz%4");
    }

    #[test]
    fn uses_are_counted_and_order_is_kept() {
        let mut faults = vec![
            Fault::new("*", FaultKind::Malformed).times(1),
            Fault::new("v1_account", FaultKind::ConcurrencyLimit),
        ];
        assert_eq!(take_fault(&mut faults, "oauth_token", "/oauth/token"), None);
        assert_eq!(
            take_fault(&mut faults, "v1_account", "/v1/accounts/A1"),
            Some(FaultKind::Malformed)
        );
        assert_eq!(
            take_fault(&mut faults, "v1_account", "/v1/accounts/A1"),
            Some(FaultKind::ConcurrencyLimit)
        );
        assert_eq!(
            take_fault(&mut faults, "catalog_products", "/v1/catalog/products"),
            None
        );
    }
}
