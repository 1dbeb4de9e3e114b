//! Identifiers that come from callers and reach Zuora URLs, ZOQL and DynamoDB keys: parsed once,
//! so nothing else ever has to check them again.

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// Why a caller-supplied identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {value:?} is not valid: {rule}")]
pub struct InvalidId {
    pub what: &'static str,
    pub value: String,
    pub rule: &'static str,
}

/// Characters Zuora uses in account/subscription numbers and ids. Anything else never reaches a
/// Zuora URL or a DynamoDB key.
fn check_key(what: &'static str, raw: &str, max: usize) -> Result<String, InvalidId> {
    let invalid = |rule| InvalidId {
        what,
        value: raw.chars().take(80).collect(),
        rule,
    };
    if raw.is_empty() {
        return Err(invalid("it is empty"));
    }
    if raw.len() > max {
        return Err(invalid("it is longer than 64 characters"));
    }
    if !raw
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
    {
        return Err(invalid("only letters, digits, '-' and '_' are allowed"));
    }
    // The product's own keys (the catalog's `_catalog`, lookup marks' `lookup-…`) must not be
    // reachable as an account or subscription (L5).
    if raw.starts_with('_') || raw.to_ascii_lowercase().starts_with("lookup-") {
        return Err(invalid("it may not start with '_' or 'lookup-' (reserved)"));
    }
    Ok(raw.to_string())
}

macro_rules! key_newtype {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, InvalidId> {
                check_key($what, raw, 64).map(Self)
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
            /// A Zuora object id is 32 lower-case hex digits; anything else is a number.
            pub fn is_zuora_id(&self) -> bool {
                self.0.len() == 32
                    && self
                        .0
                        .chars()
                        .all(|c| c.is_ascii_digit() || matches!(c, 'a'..='f'))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

key_newtype!(
    /// A Zuora subscription number (`A-S00000271`) or subscription id.
    SubscriptionKey,
    "subscription id"
);
key_newtype!(
    /// A Zuora account number (`A00000001`) or account id.
    AccountKey,
    "account id"
);
key_newtype!(
    /// A Zuora entity (tenant) this deployment syncs; scopes every stored item.
    EntityId,
    "entity id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_accept_zuora_numbers_and_ids() {
        assert!(SubscriptionKey::parse("A-S00000271").is_ok());
        let id = SubscriptionKey::parse("8a8082c45aa81b51015ad68743ec0fdb").unwrap();
        assert!(id.is_zuora_id());
        assert!(!SubscriptionKey::parse("A-S00000271").unwrap().is_zuora_id());
    }

    #[test]
    fn keys_reject_what_could_alter_a_url_or_query() {
        for bad in [
            "",
            "a/b",
            "a b",
            "x'or'1",
            "%2e%2e",
            "..",
            "a.b",
            "ü",
            &"a".repeat(65),
        ] {
            let err = SubscriptionKey::parse(bad).unwrap_err();
            assert_eq!(err.what, "subscription id", "{bad}");
        }
    }

    /// L5, L6: reserved keys are refused, and only lower-case hex is an id (an upper-case one
    /// is resolved as a number, as Zuora would).
    #[test]
    fn reserved_keys_are_refused_and_ids_are_lower_case() {
        for reserved in ["_catalog", "lookup-3f2a", "LOOKUP-x"] {
            assert!(AccountKey::parse(reserved).is_err(), "{reserved}");
        }
        assert!(AccountKey::parse("A00000001").is_ok());
        let upper = AccountKey::parse("8A90A1B27C1F4E2D017C2B3C4D5E0001").unwrap();
        assert!(!upper.is_zuora_id());
        let lower = AccountKey::parse("8a90a1b27c1f4e2d017c2b3c4d5e0001").unwrap();
        assert!(lower.is_zuora_id());
    }
}
