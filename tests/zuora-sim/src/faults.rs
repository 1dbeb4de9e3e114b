//! Injected faults. A fault targets one route name (or `"*"` for every Zuora route except
//! `oauth_token`), may be limited to `times` uses, and faults apply in the order they were added.

use serde::{Deserialize, Serialize};

/// One fault, as accepted by [`crate::SimHandle::add_fault`] and `POST /__sim/faults`, e.g.
/// `{"route":"object_query_account","kind":"status","status":500,"times":2}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// A route name (see [`crate::ROUTE_NAMES`]) or `"*"`.
    #[serde(default = "any_route")]
    pub route: String,
    #[serde(flatten)]
    pub kind: FaultKind,
    /// How many requests the fault affects before it is used up; `None` = unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
}

fn any_route() -> String {
    "*".to_string()
}

fn one_second() -> u64 {
    1
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with this HTTP status and a Zuora error body of the matching category.
    Status { status: u16 },
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
            kind,
            times: None,
        }
    }

    /// Limits the fault to the next `times` matching requests.
    pub fn times(mut self, times: u32) -> Self {
        self.times = Some(times);
        self
    }

    fn applies_to(&self, route: &str) -> bool {
        self.route == route || (self.route == "*" && route != "oauth_token")
    }
}

/// Takes the first fault that applies to `route`, consuming one of its uses.
pub fn take_fault(faults: &mut Vec<Fault>, route: &str) -> Option<FaultKind> {
    let index = faults.iter().position(|fault| fault.applies_to(route))?;
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
    }

    #[test]
    fn uses_are_counted_and_order_is_kept() {
        let mut faults = vec![
            Fault::new("*", FaultKind::Malformed).times(1),
            Fault::new("v1_account", FaultKind::ConcurrencyLimit),
        ];
        assert_eq!(take_fault(&mut faults, "oauth_token"), None);
        assert_eq!(
            take_fault(&mut faults, "v1_account"),
            Some(FaultKind::Malformed)
        );
        assert_eq!(
            take_fault(&mut faults, "v1_account"),
            Some(FaultKind::ConcurrencyLimit)
        );
        assert_eq!(take_fault(&mut faults, "catalog_products"), None);
    }
}
