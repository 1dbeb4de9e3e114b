//! The simulator's data: accounts in ONE canonical form (see the crate `README.md`) and the
//! product catalog. Both API shapes are rendered from this form by `render`, so they can never
//! disagree.

use serde_json::{Map, Value};

use crate::time::now_iso;

#[derive(Debug, Clone, Default)]
pub struct Store {
    accounts: Vec<Value>,
    products: Vec<Value>,
}

/// Borrowed view of one subscription version together with its account.
pub struct SubscriptionRef<'a> {
    pub account: &'a Value,
    pub subscription: &'a Value,
}

pub fn str_field<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

pub fn array_field<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn version_of(subscription: &Value) -> i64 {
    subscription
        .get("version")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

impl Store {
    /// Builds the store from a fixture document `{"accounts": [...], "products": [...]}`.
    pub fn from_fixtures(fixtures: &Value) -> Result<Self, String> {
        let mut store = Store::default();
        for account in array_field(fixtures, "accounts") {
            store.upsert_account(account.clone())?;
        }
        store.products = array_field(fixtures, "products").to_vec();
        for product in &store.products {
            str_field(product, "id").ok_or("every product needs a string \"id\"")?;
        }
        Ok(store)
    }

    pub fn accounts(&self) -> &[Value] {
        &self.accounts
    }

    pub fn products(&self) -> &[Value] {
        &self.products
    }

    /// Finds an account by Zuora id or account number (Zuora accepts either as `{key}`).
    pub fn account(&self, key: &str) -> Option<&Value> {
        self.accounts
            .iter()
            .find(|account| matches_key(account, key))
    }

    fn account_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.accounts
            .iter_mut()
            .find(|account| matches_key(account, key))
    }

    /// Inserts a canonical account document, replacing the one with the same id.
    pub fn upsert_account(&mut self, document: Value) -> Result<(), String> {
        let document = normalize_account(document)?;
        let id = str_field(&document, "id").unwrap_or_default().to_string();
        match self
            .accounts
            .iter_mut()
            .find(|account| str_field(account, "id") == Some(id.as_str()))
        {
            Some(existing) => *existing = document,
            None => self.accounts.push(document),
        }
        Ok(())
    }

    /// Sets one top-level field of an account (a custom field, `status`, `name`, …) and bumps
    /// `updatedDate` the way Zuora does on any edit.
    pub fn set_field(&mut self, key: &str, field: &str, value: Value) -> bool {
        let Some(Value::Object(account)) = self.account_mut(key) else {
            return false;
        };
        account.insert(field.to_string(), value);
        if field != "updatedDate" {
            account.insert("updatedDate".into(), Value::String(now_iso()));
        }
        true
    }

    /// A subscription by number (its latest version) or by the id of any version.
    pub fn subscription(&self, key: &str) -> Option<SubscriptionRef<'_>> {
        self.accounts.iter().find_map(|account| {
            let versions = array_field(account, "subscriptions");
            let by_id = versions
                .iter()
                .find(|sub| str_field(sub, "id") == Some(key));
            let by_number = || {
                versions
                    .iter()
                    .filter(|sub| str_field(sub, "name") == Some(key))
                    .max_by_key(|sub| version_of(sub))
            };
            by_id
                .or_else(by_number)
                .map(|subscription| SubscriptionRef {
                    account,
                    subscription,
                })
        })
    }

    /// Sets the status of the latest version of a subscription and bumps its `updatedDate`.
    pub fn set_subscription_status(&mut self, number: &str, status: &str) -> bool {
        for account in &mut self.accounts {
            let Some(Value::Array(versions)) = account.get_mut("subscriptions") else {
                continue;
            };
            let latest = versions
                .iter_mut()
                .filter(|sub| str_field(sub, "name") == Some(number))
                .max_by_key(|sub| version_of(sub));
            if let Some(Value::Object(subscription)) = latest {
                subscription.insert("status".into(), Value::String(status.to_string()));
                subscription.insert("updatedDate".into(), Value::String(now_iso()));
                return true;
            }
        }
        false
    }

    /// Deletes every version of a subscription: Zuora simply stops returning it.
    pub fn remove_subscription(&mut self, number: &str) -> bool {
        let mut removed = false;
        for account in &mut self.accounts {
            if let Some(Value::Array(versions)) = account.get_mut("subscriptions") {
                let before = versions.len();
                versions.retain(|sub| str_field(sub, "name") != Some(number));
                removed |= versions.len() != before;
            }
        }
        removed
    }

    pub fn product(&self, id: &str) -> Option<&Value> {
        self.products
            .iter()
            .find(|product| str_field(product, "id") == Some(id))
    }
}

/// Whether a subscription version is the highest version of its number within the account.
pub fn is_latest_version(account: &Value, subscription: &Value) -> bool {
    let name = str_field(subscription, "name");
    let version = version_of(subscription);
    array_field(account, "subscriptions")
        .iter()
        .filter(|other| str_field(other, "name") == name)
        .all(|other| version_of(other) <= version)
}

/// The latest version of each subscription of an account, most recently updated first (the
/// order of `GET /v1/subscriptions/accounts/{key}`).
pub fn latest_versions(account: &Value) -> Vec<&Value> {
    let mut latest: Vec<&Value> = array_field(account, "subscriptions")
        .iter()
        .filter(|sub| is_latest_version(account, sub))
        .collect();
    latest.sort_by_key(|sub| {
        std::cmp::Reverse(
            str_field(sub, "updatedDate")
                .and_then(crate::time::parse_instant)
                .unwrap_or(i64::MIN),
        )
    });
    latest
}

fn matches_key(account: &Value, key: &str) -> bool {
    str_field(account, "id") == Some(key) || str_field(account, "accountNumber") == Some(key)
}

/// Checks the fields the simulator relies on and fills in empty child lists.
fn normalize_account(document: Value) -> Result<Value, String> {
    let Value::Object(mut account) = document else {
        return Err("an account must be a JSON object".into());
    };
    for key in ["id", "accountNumber"] {
        if !account.get(key).is_some_and(Value::is_string) {
            return Err(format!("an account needs a string \"{key}\""));
        }
    }
    for key in ["subscriptions", "paymentMethods"] {
        let list = account
            .entry(key)
            .or_insert_with(|| Value::Array(Vec::new()));
        if !list.is_array() {
            return Err(format!("\"{key}\" must be an array"));
        }
    }
    if let Some(Value::Array(subscriptions)) = account.get("subscriptions") {
        subscriptions.iter().try_for_each(check_subscription)?;
    }
    Ok(Value::Object(account))
}

fn check_subscription(subscription: &Value) -> Result<(), String> {
    let ok = str_field(subscription, "id").is_some()
        && str_field(subscription, "name").is_some()
        && subscription.get("version").is_some_and(Value::is_i64);
    if ok {
        Ok(())
    } else {
        Err(
            "a subscription needs a string \"id\", a string \"name\" and an integer \"version\""
                .into(),
        )
    }
}

/// Removes the keys of `map` whose value is `null` (object queries omit null fields).
pub fn drop_nulls(map: &mut Map<String, Value>) {
    map.retain(|_, value| !value.is_null());
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn demo() -> Store {
        let fixtures: Value = serde_json::from_str(include_str!("../fixtures/demo.json")).unwrap();
        Store::from_fixtures(&fixtures).unwrap()
    }

    #[test]
    fn subscription_keys_resolve_to_latest_or_exact_version() {
        let store = demo();
        let latest = store.subscription("A-S00000271").unwrap();
        assert_eq!(latest.subscription["version"], 2);
        let old = store
            .subscription("8a90a1b27c1f4e2d017c2b3c4d5e9001")
            .unwrap();
        assert_eq!(old.subscription["status"], "Expired");
        assert!(!is_latest_version(old.account, old.subscription));
    }

    #[test]
    fn latest_versions_skip_superseded_ones() {
        let store = demo();
        let account = store.account("A00000001").unwrap();
        let names: Vec<_> = latest_versions(account)
            .iter()
            .map(|sub| sub["name"].as_str().unwrap())
            .collect();
        assert_eq!(names.len(), 4);
        assert_eq!(names.iter().filter(|n| **n == "A-S00000271").count(), 1);
    }

    #[test]
    fn mutations() {
        let mut store = demo();
        assert!(store.set_subscription_status("A-S00000272", "Active"));
        assert_eq!(
            store.subscription("A-S00000272").unwrap().subscription["status"],
            "Active"
        );
        assert!(store.remove_subscription("A-S00000271"));
        assert!(store.subscription("A-S00000271").is_none());
        assert!(store.set_field("A00000002", "LimioExternalId__c", json!("new")));
        assert_eq!(
            store.account("A00000002").unwrap()["LimioExternalId__c"],
            "new"
        );
        assert!(store.upsert_account(json!({"accountNumber": "X"})).is_err());
        store
            .upsert_account(json!({"id": "abc", "accountNumber": "A00000099"}))
            .unwrap();
        assert_eq!(store.account("abc").unwrap()["subscriptions"], json!([]));
    }
}
