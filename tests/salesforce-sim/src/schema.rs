//! The simulated org's object model: which custom objects exist, their External ID fields,
//! their relationships, and the lookups to the standard Account object (which the simulator
//! does not store: any well-formed Account id exists unless it is denied).

use std::collections::{BTreeSet, HashSet};

use serde::{Deserialize, Serialize};

use crate::errors::ItemError;
use crate::ids;

/// One custom object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectSpec {
    /// API name, e.g. `Zuora__Subscription__c`.
    pub name: String,
    /// The 3-character key prefix of its record ids, e.g. `a0B`.
    pub key_prefix: String,
    /// Fields marked External ID (all unique): usable as upsert keys and in nested references.
    pub external_ids: Vec<String>,
    pub relationships: Vec<Relationship>,
    /// Lookup fields to the standard Account object (e.g. `Zuora__Account__c`).
    pub account_lookups: Vec<String>,
}

/// A lookup or master-detail field to another simulated object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relationship {
    /// Relationship name used for nested references, e.g. `Zuora__CustomerAccount__r`.
    pub name: String,
    /// The field that stores the parent's id, e.g. `Zuora__CustomerAccount__c`.
    pub field: String,
    /// The parent object's API name.
    pub target: String,
    /// Master-detail: deleting the parent deletes this record. Otherwise (lookup) deleting the
    /// parent clears the field.
    pub cascade_delete: bool,
}

impl ObjectSpec {
    pub fn new(name: impl Into<String>, key_prefix: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            key_prefix: key_prefix.into(),
            external_ids: Vec::new(),
            relationships: Vec::new(),
            account_lookups: Vec::new(),
        }
    }

    pub fn external_id(mut self, field: impl Into<String>) -> Self {
        self.external_ids.push(field.into());
        self
    }

    /// Adds a relationship `name` (`…__r`) stored in `field` (`…__c`) to `target`.
    pub fn relationship(
        mut self,
        name: impl Into<String>,
        field: impl Into<String>,
        target: impl Into<String>,
        cascade_delete: bool,
    ) -> Self {
        self.relationships.push(Relationship {
            name: name.into(),
            field: field.into(),
            target: target.into(),
            cascade_delete,
        });
        self
    }

    pub fn account_lookup(mut self, field: impl Into<String>) -> Self {
        self.account_lookups.push(field.into());
        self
    }

    pub fn is_external_id(&self, field: &str) -> bool {
        self.external_ids.iter().any(|ext| ext == field)
    }

    pub fn relationship_named(&self, name: &str) -> Option<&Relationship> {
        self.relationships.iter().find(|rel| rel.name == name)
    }

    pub fn relationship_field(&self, field: &str) -> Option<&Relationship> {
        self.relationships.iter().find(|rel| rel.field == field)
    }

    pub fn is_account_lookup(&self, field: &str) -> bool {
        self.account_lookups.iter().any(|lookup| lookup == field)
    }
}

const EXT: &str = "Zuora__External_Id__c";
const CUSTOMER_ACCOUNT: &str = "Zuora__CustomerAccount__c";
const SUBSCRIPTION: &str = "Zuora__Subscription__c";
const RATE_PLAN: &str = "Zuora__SubscriptionRatePlan__c";
const ACCOUNT_LOOKUP: &str = "Zuora__Account__c";

/// The Zuora 360 objects a sync sink writes (see the crate README for the sources).
pub fn zuora360_objects() -> Vec<ObjectSpec> {
    vec![
        ObjectSpec::new(CUSTOMER_ACCOUNT, "a0A")
            .external_id(EXT)
            .account_lookup(ACCOUNT_LOOKUP),
        ObjectSpec::new(SUBSCRIPTION, "a0B")
            .external_id(EXT)
            .external_id("Zuora__SubscriptionNumber__c")
            .relationship(
                "Zuora__CustomerAccount__r",
                CUSTOMER_ACCOUNT,
                CUSTOMER_ACCOUNT,
                true,
            )
            .account_lookup(ACCOUNT_LOOKUP),
        ObjectSpec::new(RATE_PLAN, "a0C")
            .external_id(EXT)
            .relationship("Zuora__Subscription__r", SUBSCRIPTION, SUBSCRIPTION, true),
        ObjectSpec::new("Zuora__SubscriptionProductCharge__c", "a0D")
            .external_id(EXT)
            .relationship("Zuora__Subscription__r", SUBSCRIPTION, SUBSCRIPTION, true)
            .relationship(
                "Zuora__SubscriptionRatePlan__r",
                RATE_PLAN,
                RATE_PLAN,
                false,
            )
            .account_lookup(ACCOUNT_LOOKUP),
        ObjectSpec::new("Zuora__PaymentMethod__c", "a0E")
            .external_id(EXT)
            .relationship(
                "Zuora__BillingAccount__r",
                "Zuora__BillingAccount__c",
                CUSTOMER_ACCOUNT,
                true,
            ),
    ]
}

/// Checks an object model: unique names and 3-character prefixes, relationships pointing at
/// configured objects, relationship names ending in `__r`.
pub fn validate(objects: &[ObjectSpec]) -> Result<(), String> {
    let mut names = HashSet::new();
    let mut prefixes = HashSet::from(["001", "00D", "005"]);
    for object in objects {
        if !names.insert(object.name.as_str()) {
            return Err(format!("object {} is configured twice", object.name));
        }
        let prefix_ok = object.key_prefix.len() == 3
            && object.key_prefix.bytes().all(|b| b.is_ascii_alphanumeric());
        if !prefix_ok || !prefixes.insert(object.key_prefix.as_str()) {
            return Err(format!(
                "{}: key prefix must be 3 distinct alphanumerics",
                object.name
            ));
        }
    }
    for object in objects {
        for rel in &object.relationships {
            if !names.contains(rel.target.as_str()) || !rel.name.ends_with("__r") {
                return Err(format!("{}: bad relationship {}", object.name, rel.name));
            }
        }
    }
    Ok(())
}

/// The standard Account records the org holds: every well-formed Account id (`001` + 12 or 15
/// alphanumerics) exists and is visible, except the denied ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountIds {
    /// 18-character forms of Account ids the integration user may not see.
    pub denied: BTreeSet<String>,
}

impl AccountIds {
    /// Denies an Account id (15 or 18 characters); ignored when it is not a well-formed id.
    pub fn deny(&mut self, id: &str) {
        if let Some(id) = ids::normalize(id) {
            self.denied.insert(id);
        }
    }

    /// The 18-character id to store in `field`, or the error Salesforce gives for `value`.
    pub fn check(&self, field: &str, value: &str) -> Result<String, ItemError> {
        let Some(id) = ids::normalize(value).filter(|id| ids::prefix(id) == "001") else {
            return Err(ItemError::new(
                "MALFORMED_ID",
                format!("Account ID: id value of incorrect type: {value}"),
            )
            .on_field(field));
        };
        if self.denied.contains(&id) {
            return Err(ItemError::cross_reference_denied(value));
        }
        Ok(id)
    }
}
