//! The simulator's data: accounts in ONE canonical form (see the crate `README.md`) and the
//! product catalog. Both API shapes are rendered from this form by `render`, so they can never
//! disagree.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::generate::{self, CatalogCharge};
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
        for product in array_field(fixtures, "products") {
            store.upsert_product(product.clone())?;
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

    /// Inserts a product in the v1 catalog shape at the end of the catalog, or replaces the one
    /// with the same `id` in place.
    pub fn upsert_product(&mut self, document: Value) -> Result<(), String> {
        let document = normalize_product(document)?;
        let id = str_field(&document, "id").unwrap_or_default().to_string();
        match self
            .products
            .iter_mut()
            .find(|product| str_field(product, "id") == Some(id.as_str()))
        {
            Some(existing) => *existing = document,
            None => self.products.push(document),
        }
        Ok(())
    }

    /// Deletes a product from the catalog; false when no product has that id.
    pub fn remove_product(&mut self, id: &str) -> bool {
        let before = self.products.len();
        self.products
            .retain(|product| str_field(product, "id") != Some(id));
        self.products.len() != before
    }

    /// Upserts the generated products `1..=count` (see [`generate::product`]); returns their ids.
    pub fn generate_products(&mut self, count: usize) -> Vec<String> {
        let generated: Vec<Value> = (1..=count).map(generate::product).collect();
        let ids = generated
            .iter()
            .filter_map(|product| str_field(product, "id").map(str::to_string))
            .collect();
        let mut positions: HashMap<String, usize> = self
            .products
            .iter()
            .enumerate()
            .filter_map(|(index, product)| Some((str_field(product, "id")?.to_string(), index)))
            .collect();
        for product in generated {
            let id = str_field(&product, "id").unwrap_or_default().to_string();
            match positions.get(&id) {
                Some(&index) => self.products[index] = product,
                None => {
                    positions.insert(id, self.products.len());
                    self.products.push(product);
                }
            }
        }
        ids
    }

    /// Upserts the generated accounts `1..=count` of `prefix` (see [`generate::account`]) and
    /// returns their ids. Their subscriptions use the first catalog product that has an Active
    /// rate plan with a USD-priced charge; if there is none, generated product 1 is added.
    /// Fails, changing nothing, if a generated account number or subscription number already
    /// belongs to another account.
    pub fn generate_accounts(&mut self, count: usize, prefix: &str) -> Result<Vec<String>, String> {
        let catalog = match self.products.iter().find_map(CatalogCharge::from_product) {
            Some(catalog) => catalog,
            None => {
                let product = generate::product(1);
                let catalog = CatalogCharge::from_product(&product)
                    .ok_or("the generated product has no usable charge")?;
                self.upsert_product(product)?;
                catalog
            }
        };
        let mut owner_of_number: HashMap<&str, &str> = HashMap::new();
        let mut owner_of_subscription: HashMap<&str, &str> = HashMap::new();
        for account in &self.accounts {
            let id = str_field(account, "id").unwrap_or_default();
            if let Some(number) = str_field(account, "accountNumber") {
                owner_of_number.entry(number).or_insert(id);
            }
            for subscription in array_field(account, "subscriptions") {
                if let Some(name) = str_field(subscription, "name") {
                    owner_of_subscription.entry(name).or_insert(id);
                }
            }
        }
        let taken = |owners: &HashMap<&str, &str>, key: &str, id: &str| {
            owners.get(key).is_some_and(|owner| *owner != id)
        };
        for index in 1..=count {
            let id = generate::account_id(prefix, index);
            let number = generate::account_number(prefix, index);
            if taken(&owner_of_number, &number, &id) {
                return Err(format!(
                    "account number {number} already belongs to another account"
                ));
            }
            let subscription = generate::subscription_number(prefix, index);
            if taken(&owner_of_subscription, &subscription, &id) {
                return Err(format!(
                    "subscription {subscription} already belongs to another account"
                ));
            }
        }
        let mut positions: HashMap<String, usize> = self
            .accounts
            .iter()
            .enumerate()
            .filter_map(|(index, account)| Some((str_field(account, "id")?.to_string(), index)))
            .collect();
        let mut ids = Vec::with_capacity(count);
        for index in 1..=count {
            let account = generate::account(prefix, index, &catalog);
            let id = generate::account_id(prefix, index);
            match positions.get(&id) {
                Some(&position) => self.accounts[position] = account,
                None => {
                    positions.insert(id.clone(), self.accounts.len());
                    self.accounts.push(account);
                }
            }
            ids.push(id);
        }
        Ok(ids)
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

/// Checks the parts of a catalog product the simulator relies on (a string `id`, rate plans and
/// charges as arrays of objects) and fills in empty rate plan / charge lists.
fn normalize_product(document: Value) -> Result<Value, String> {
    let Value::Object(mut product) = document else {
        return Err("a product must be a JSON object".into());
    };
    if !product.get("id").is_some_and(Value::is_string) {
        return Err("a product needs a string \"id\"".into());
    }
    let plans = product
        .entry("productRatePlans")
        .or_insert_with(|| Value::Array(Vec::new()));
    let Value::Array(plans) = plans else {
        return Err("\"productRatePlans\" must be an array".into());
    };
    for plan in plans {
        let Value::Object(plan) = plan else {
            return Err("a product rate plan must be a JSON object".into());
        };
        let charges = plan
            .entry("productRatePlanCharges")
            .or_insert_with(|| Value::Array(Vec::new()));
        if !charges
            .as_array()
            .is_some_and(|list| list.iter().all(Value::is_object))
        {
            return Err("\"productRatePlanCharges\" must be an array of objects".into());
        }
    }
    Ok(Value::Object(product))
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

    #[test]
    fn product_edits_keep_catalog_order() {
        let mut store = demo();
        let ids = |store: &Store| -> Vec<String> {
            store
                .products()
                .iter()
                .map(|product| str_field(product, "id").unwrap().to_string())
                .collect()
        };
        let before = ids(&store);
        let mut first = store.products()[0].clone();
        first["name"] = json!("Renamed");
        store.upsert_product(first).unwrap();
        assert_eq!(ids(&store), before);
        assert_eq!(store.products()[0]["name"], "Renamed");
        store.upsert_product(json!({"id": "new"})).unwrap();
        assert_eq!(store.product("new").unwrap()["productRatePlans"], json!([]));
        assert!(store.remove_product(&before[1]));
        assert!(!store.remove_product(&before[1]));
        assert_eq!(ids(&store), [&before[0], &before[2], "new"]);
        assert!(store.upsert_product(json!({"id": 7})).is_err());
        assert!(
            store
                .upsert_product(json!({"id": "x", "productRatePlans": [1]}))
                .is_err()
        );
        let generated = store.generate_products(2);
        assert_eq!(store.generate_products(2), generated);
        assert_eq!(store.products().len(), 5);
    }

    #[test]
    fn generated_numbers_must_be_free() {
        let mut store = demo();
        store
            .upsert_account(
                json!({"id": "abc", "accountNumber": "ZZZ", "subscriptions": [
                    {"id": "s1", "name": "Q-S00000002", "version": 1}
                ]}),
            )
            .unwrap();
        let error = store.generate_accounts(3, "Q").unwrap_err();
        assert!(error.contains("Q-S00000002"), "{error}");
        assert!(store.account("Q00000001").is_none());
        let ids = store.generate_accounts(1, "Q").unwrap();
        assert_eq!(store.account("Q00000001").unwrap()["id"], ids[0].as_str());
    }
}
