//! The billing data zuora-sync mirrors, independent of Zuora's wire shapes and of DynamoDB.

use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A customer's billing account with its contacts, payment methods and subscriptions, as read
/// from Zuora in one consistent fetch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountSnapshot {
    pub account: Account,
    pub bill_to: Option<Contact>,
    pub sold_to: Option<Contact>,
    pub payment_methods: Vec<PaymentMethod>,
    /// Latest version of every subscription Zuora returned, whatever its status.
    pub subscriptions: Vec<Subscription>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub id: String,
    pub account_number: String,
    pub name: String,
    pub status: String,
    pub currency: Option<String>,
    /// The Salesforce account id, when the Zuora account is linked to the CRM.
    pub crm_id: Option<String>,
    pub bill_cycle_day: Option<u32>,
    pub payment_term: Option<String>,
    pub default_payment_method_id: Option<String>,
    /// Zuora custom fields (`Name__c`), kept verbatim.
    pub custom_fields: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Contact {
    pub id: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub work_email: Option<String>,
    pub personal_email: Option<String>,
    pub work_phone: Option<String>,
    pub address1: Option<String>,
    pub address2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub county: Option<String>,
    pub zip_code: Option<String>,
    pub country: Option<String>,
}

/// A payment method. Only masked numbers ever reach this type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentMethod {
    pub id: String,
    pub method_type: String,
    pub is_default: bool,
    pub status: Option<String>,
    pub card_type: Option<String>,
    pub masked_number: Option<String>,
    pub expiration_month: Option<u32>,
    pub expiration_year: Option<u32>,
    pub bank_name: Option<String>,
    pub account_holder_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: String,
    pub number: String,
    pub account_id: Option<String>,
    pub account_number: Option<String>,
    pub status: SubscriptionStatus,
    pub version: Option<u32>,
    pub term_type: Option<String>,
    pub contract_effective_date: Option<String>,
    pub subscription_start_date: Option<String>,
    pub subscription_end_date: Option<String>,
    pub term_start_date: Option<String>,
    pub term_end_date: Option<String>,
    pub auto_renew: Option<bool>,
    pub currency: Option<String>,
    pub rate_plans: Vec<RatePlan>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RatePlan {
    pub id: String,
    pub name: Option<String>,
    pub product_id: Option<String>,
    pub product_name: Option<String>,
    pub product_sku: Option<String>,
    pub product_rate_plan_id: Option<String>,
    pub charges: Vec<RatePlanCharge>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RatePlanCharge {
    pub id: String,
    pub number: Option<String>,
    pub name: Option<String>,
    pub charge_type: Option<String>,
    pub model: Option<String>,
    pub price: Option<Amount>,
    pub quantity: Option<Amount>,
    pub currency: Option<String>,
    pub billing_period: Option<String>,
    pub effective_start_date: Option<String>,
    pub effective_end_date: Option<String>,
    pub charged_through_date: Option<String>,
    pub mrr: Option<Amount>,
    pub tcv: Option<Amount>,
}

/// A decimal amount kept exactly as Zuora wrote it (`8.333333`), never rounded through `f64`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Amount(pub String);

/// Zuora subscription statuses. The v1 API spells the pending states with a space; object
/// queries may not, so both spellings parse.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SubscriptionStatus {
    Draft,
    PendingActivation,
    PendingAcceptance,
    Active,
    Cancelled,
    Suspended,
    /// A superseded older version, not an ended subscription.
    Expired,
    Other(String),
}

impl SubscriptionStatus {
    pub fn parse(raw: &str) -> Self {
        let squashed: String = raw
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '_')
            .collect::<String>()
            .to_ascii_lowercase();
        match squashed.as_str() {
            "draft" => Self::Draft,
            "pendingactivation" => Self::PendingActivation,
            "pendingacceptance" => Self::PendingAcceptance,
            "active" => Self::Active,
            "cancelled" | "canceled" => Self::Cancelled,
            "suspended" => Self::Suspended,
            "expired" => Self::Expired,
            _ => Self::Other(raw.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Draft => "Draft",
            Self::PendingActivation => "Pending Activation",
            Self::PendingAcceptance => "Pending Acceptance",
            Self::Active => "Active",
            Self::Cancelled => "Cancelled",
            Self::Suspended => "Suspended",
            Self::Expired => "Expired",
            Self::Other(s) => s,
        }
    }

    /// Only Active, Pending and Cancelled subscriptions are mirrored.
    pub fn is_mirrored(&self) -> bool {
        matches!(
            self,
            Self::Active | Self::PendingActivation | Self::PendingAcceptance | Self::Cancelled
        )
    }
}

impl Serialize for SubscriptionStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SubscriptionStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::parse(&String::deserialize(d)?))
    }
}

impl fmt::Display for SubscriptionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Subscription {
    /// A human name for answers and notifications: its products (or rate plans), else the
    /// number.
    pub fn display_name(&self) -> String {
        let mut names: Vec<&str> = Vec::new();
        for rp in &self.rate_plans {
            if let Some(n) = rp.product_name.as_deref().or(rp.name.as_deref())
                && !names.contains(&n)
            {
                names.push(n);
            }
        }
        if names.is_empty() {
            self.number.clone()
        } else {
            names.join(", ")
        }
    }
}

impl AccountSnapshot {
    /// Subscriptions that belong in the mirror: the latest version of each number, and only the
    /// mirrored statuses.
    pub fn mirrored_subscriptions(&self) -> impl Iterator<Item = &Subscription> {
        self.subscriptions.iter().filter(|s| s.status.is_mirrored())
    }
}

/// Keeps only the highest version of each subscription number. Object queries can return every
/// version of a subscription; older ones carry status `Expired`.
pub fn latest_versions(subs: Vec<Subscription>) -> Vec<Subscription> {
    let mut latest: BTreeMap<String, Subscription> = BTreeMap::new();
    for sub in subs {
        match latest.get(&sub.number) {
            Some(seen) if seen.version.unwrap_or(0) >= sub.version.unwrap_or(0) => {}
            _ => {
                latest.insert(sub.number.clone(), sub);
            }
        }
    }
    latest.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_parses_both_spellings_and_filters() {
        assert_eq!(
            SubscriptionStatus::parse("Pending Activation"),
            SubscriptionStatus::PendingActivation
        );
        assert_eq!(
            SubscriptionStatus::parse("PendingAcceptance"),
            SubscriptionStatus::PendingAcceptance
        );
        assert!(SubscriptionStatus::parse("Cancelled").is_mirrored());
        assert!(!SubscriptionStatus::parse("Draft").is_mirrored());
        assert!(!SubscriptionStatus::parse("Expired").is_mirrored());
        assert!(!SubscriptionStatus::parse("Suspended").is_mirrored());
    }

    fn sub(number: &str, version: u32, status: &str) -> Subscription {
        Subscription {
            id: format!("{number}-v{version}"),
            number: number.into(),
            account_id: None,
            account_number: None,
            status: SubscriptionStatus::parse(status),
            version: Some(version),
            term_type: None,
            contract_effective_date: None,
            subscription_start_date: None,
            subscription_end_date: None,
            term_start_date: None,
            term_end_date: None,
            auto_renew: None,
            currency: None,
            rate_plans: vec![],
        }
    }

    #[test]
    fn latest_versions_drops_superseded_versions() {
        let subs = latest_versions(vec![
            sub("A-S1", 1, "Expired"),
            sub("A-S1", 2, "Active"),
            sub("A-S2", 1, "Draft"),
        ]);
        assert_eq!(subs.len(), 2);
        assert_eq!(subs[0].id, "A-S1-v2");
    }
}
