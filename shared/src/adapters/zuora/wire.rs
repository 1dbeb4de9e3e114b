//! Zuora's JSON shapes (v1 and Object Query) and their conversion into the domain types.
//!
//! Deserialisation is lenient where Zuora is inconsistent (numbers sent as strings, fields that
//! are null or missing), and strict where it matters (ids, subscription numbers).

use crate::model::{
    Account, AccountSnapshot, Amount, Contact, PaymentMethod, RatePlan, RatePlanCharge,
    Subscription, SubscriptionStatus,
};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

fn opt_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

fn opt_amount<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Amount>, D::Error> {
    // serde_json prints an f64 in its shortest round-trip form, so Zuora's decimals (at most 15
    // significant digits) come back with exactly the digits Zuora sent.
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => Some(Amount(n.to_string())),
        Some(Value::String(s)) if !s.trim().is_empty() => Some(Amount(s)),
        _ => None,
    })
}

fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Bool(b)) => Some(b),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    })
}

/// Empty strings mean "not set" in Zuora answers.
fn opt_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

fn custom_fields(extra: &Map<String, Value>) -> BTreeMap<String, Value> {
    extra
        .iter()
        .filter(|(k, _)| k.ends_with("__c"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireContact {
    id: String,
    #[serde(default, deserialize_with = "opt_text")]
    first_name: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    last_name: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    work_email: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    personal_email: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    work_phone: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    address1: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    address2: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    city: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    state: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    county: Option<String>,
    #[serde(default, deserialize_with = "opt_text", alias = "postalCode")]
    zip_code: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    country: Option<String>,
}

impl From<WireContact> for Contact {
    fn from(c: WireContact) -> Self {
        Contact {
            id: c.id,
            first_name: c.first_name,
            last_name: c.last_name,
            work_email: c.work_email,
            personal_email: c.personal_email,
            work_phone: c.work_phone,
            address1: c.address1,
            address2: c.address2,
            city: c.city,
            state: c.state,
            county: c.county,
            zip_code: c.zip_code,
            country: c.country,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireHolder {
    #[serde(default, deserialize_with = "opt_text")]
    account_holder_name: Option<String>,
}

/// One payment method, in the v1 or the object-query spelling.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WirePaymentMethod {
    id: String,
    #[serde(default, alias = "paymentMethodType")]
    r#type: Option<String>,
    #[serde(default, deserialize_with = "opt_bool")]
    is_default: Option<bool>,
    #[serde(default, deserialize_with = "opt_text", alias = "paymentMethodStatus")]
    status: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    credit_card_type: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_text",
        alias = "creditCardMaskNumber",
        alias = "bankAccountNumber",
        alias = "achAccountNumberMask"
    )]
    card_number: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_u32",
        alias = "creditCardExpirationMonth"
    )]
    expiration_month: Option<u32>,
    #[serde(
        default,
        deserialize_with = "opt_u32",
        alias = "creditCardExpirationYear"
    )]
    expiration_year: Option<u32>,
    #[serde(default, deserialize_with = "opt_text", alias = "achBankName")]
    bank_name: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_text",
        alias = "creditCardHolderName",
        alias = "achAccountName"
    )]
    account_holder_name: Option<String>,
    #[serde(default)]
    account_holder_info: Option<WireHolder>,
}

impl WirePaymentMethod {
    pub(crate) fn into_domain(self, default_id: Option<&str>) -> PaymentMethod {
        let is_default = self.is_default.unwrap_or(false) || default_id == Some(self.id.as_str());
        PaymentMethod {
            method_type: self.r#type.unwrap_or_else(|| "Unknown".into()),
            is_default,
            status: self.status,
            card_type: self.credit_card_type,
            masked_number: self.card_number.map(|n| mask(&n)),
            expiration_month: self.expiration_month,
            expiration_year: self.expiration_year,
            bank_name: self.bank_name,
            account_holder_name: self
                .account_holder_name
                .or(self.account_holder_info.and_then(|h| h.account_holder_name)),
            id: self.id,
        }
    }
}

/// Zuora already masks numbers; mask again anyway so a full number can never be stored.
fn mask(number: &str) -> String {
    let digits: Vec<char> = number.chars().collect();
    let keep = digits.len().min(4);
    let hidden = digits.len() - keep;
    "*".repeat(hidden) + &digits[hidden..].iter().collect::<String>()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireCharge {
    id: String,
    #[serde(default, deserialize_with = "opt_text", alias = "chargeNumber")]
    number: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    name: Option<String>,
    #[serde(default, deserialize_with = "opt_text", alias = "chargeType")]
    r#type: Option<String>,
    #[serde(default, deserialize_with = "opt_text", alias = "chargeModel")]
    model: Option<String>,
    #[serde(default, deserialize_with = "opt_amount")]
    price: Option<Amount>,
    #[serde(default, deserialize_with = "opt_amount")]
    quantity: Option<Amount>,
    #[serde(default, deserialize_with = "opt_text")]
    currency: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    billing_period: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    effective_start_date: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    effective_end_date: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    charged_through_date: Option<String>,
    #[serde(default, deserialize_with = "opt_amount", alias = "mRR")]
    mrr: Option<Amount>,
    #[serde(default, deserialize_with = "opt_amount", alias = "tCV")]
    tcv: Option<Amount>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireRatePlan {
    id: String,
    #[serde(default, deserialize_with = "opt_text", alias = "name")]
    rate_plan_name: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    product_id: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    product_name: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    product_sku: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    product_rate_plan_id: Option<String>,
    #[serde(default)]
    rate_plan_charges: Vec<WireCharge>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireSubscription {
    id: String,
    #[serde(alias = "name")]
    subscription_number: String,
    #[serde(default, deserialize_with = "opt_text")]
    account_id: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    account_number: Option<String>,
    status: String,
    #[serde(default, deserialize_with = "opt_u32")]
    version: Option<u32>,
    #[serde(default, deserialize_with = "opt_text")]
    term_type: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    contract_effective_date: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    subscription_start_date: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    subscription_end_date: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    term_start_date: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    term_end_date: Option<String>,
    #[serde(default, deserialize_with = "opt_bool")]
    auto_renew: Option<bool>,
    #[serde(default, deserialize_with = "opt_text")]
    currency: Option<String>,
    #[serde(default)]
    rate_plans: Vec<WireRatePlan>,
}

impl From<WireSubscription> for Subscription {
    fn from(s: WireSubscription) -> Self {
        Subscription {
            status: SubscriptionStatus::parse(&s.status),
            id: s.id,
            number: s.subscription_number,
            account_id: s.account_id,
            account_number: s.account_number,
            version: s.version,
            term_type: s.term_type,
            contract_effective_date: s.contract_effective_date,
            subscription_start_date: s.subscription_start_date,
            subscription_end_date: s.subscription_end_date,
            term_start_date: s.term_start_date,
            term_end_date: s.term_end_date,
            auto_renew: s.auto_renew,
            currency: s.currency,
            rate_plans: s.rate_plans.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<WireRatePlan> for RatePlan {
    fn from(p: WireRatePlan) -> Self {
        RatePlan {
            id: p.id,
            name: p.rate_plan_name,
            product_id: p.product_id,
            product_name: p.product_name,
            product_sku: p.product_sku,
            product_rate_plan_id: p.product_rate_plan_id,
            charges: p.rate_plan_charges.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<WireCharge> for RatePlanCharge {
    fn from(c: WireCharge) -> Self {
        RatePlanCharge {
            id: c.id,
            number: c.number,
            name: c.name,
            charge_type: c.r#type,
            model: c.model,
            price: c.price,
            quantity: c.quantity,
            currency: c.currency,
            billing_period: c.billing_period,
            effective_start_date: c.effective_start_date,
            effective_end_date: c.effective_end_date,
            charged_through_date: c.charged_through_date,
            mrr: c.mrr,
            tcv: c.tcv,
        }
    }
}

/// `GET /object-query/accounts/{key}` with every expand.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OqAccount {
    id: String,
    account_number: String,
    #[serde(default, deserialize_with = "opt_text")]
    name: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    status: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    currency: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    crm_id: Option<String>,
    #[serde(default, deserialize_with = "opt_u32")]
    bill_cycle_day: Option<u32>,
    #[serde(default, deserialize_with = "opt_text")]
    payment_term: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    default_payment_method_id: Option<String>,
    #[serde(default)]
    bill_to: Option<WireContact>,
    #[serde(default)]
    sold_to: Option<WireContact>,
    #[serde(default)]
    payment_methods: Option<Vec<WirePaymentMethod>>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

impl OqAccount {
    /// Whether the expanded payment methods may have been cut at the object query's page size.
    pub(crate) fn payment_methods_truncated(&self, page_size: usize) -> bool {
        self.payment_methods
            .as_ref()
            .is_some_and(|pms| pms.len() >= page_size)
    }

    /// The account with its contacts and payment methods, and `subscriptions` (read apart).
    pub(crate) fn into_snapshot(self, subscriptions: Vec<WireSubscription>) -> AccountSnapshot {
        let default_id = self.default_payment_method_id.clone();
        let account = Account {
            custom_fields: custom_fields(&self.extra),
            id: self.id,
            name: self.name.unwrap_or_default(),
            account_number: self.account_number,
            status: self.status.unwrap_or_default(),
            currency: self.currency,
            crm_id: self.crm_id,
            bill_cycle_day: self.bill_cycle_day,
            payment_term: self.payment_term,
            default_payment_method_id: self.default_payment_method_id,
        };
        AccountSnapshot {
            account,
            bill_to: self.bill_to.map(Into::into),
            sold_to: self.sold_to.map(Into::into),
            payment_methods: self
                .payment_methods
                .unwrap_or_default()
                .into_iter()
                .map(|pm| pm.into_domain(default_id.as_deref()))
                .collect(),
            subscriptions: crate::model::latest_versions(
                subscriptions.into_iter().map(Into::into).collect(),
            ),
        }
    }
}

/// `GET /v1/accounts/{key}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct V1Account {
    basic_info: V1BasicInfo,
    #[serde(default)]
    billing_and_payment: Option<V1Billing>,
    #[serde(default)]
    bill_to_contact: Option<WireContact>,
    #[serde(default)]
    sold_to_contact: Option<WireContact>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1BasicInfo {
    id: String,
    account_number: String,
    #[serde(default, deserialize_with = "opt_text")]
    name: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    status: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    crm_id: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    currency: Option<String>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1Billing {
    #[serde(default, deserialize_with = "opt_u32")]
    bill_cycle_day: Option<u32>,
    #[serde(default, deserialize_with = "opt_text")]
    currency: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    payment_term: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    default_payment_method_id: Option<String>,
}

/// `GET /v1/subscriptions/accounts/{key}` page.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct V1SubscriptionPage {
    #[serde(default)]
    pub subscriptions: Vec<WireSubscription>,
    #[serde(default)]
    pub next_page: Option<String>,
}

/// `GET /v1/accounts/{key}/payment-methods`: one array per payment-method type.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct V1PaymentMethods {
    #[serde(default, deserialize_with = "opt_text")]
    default_payment_method_id: Option<String>,
    #[serde(flatten)]
    groups: Map<String, Value>,
}

impl V1PaymentMethods {
    /// Every array-valued key is a type group, including types Zuora adds later.
    pub(crate) fn into_domain(self) -> Result<Vec<PaymentMethod>, serde_json::Error> {
        let default_id = self.default_payment_method_id;
        let mut out = Vec::new();
        for (_, group) in self.groups {
            let Value::Array(items) = group else { continue };
            for item in items {
                let pm: WirePaymentMethod = serde_json::from_value(item)?;
                out.push(pm.into_domain(default_id.as_deref()));
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }
}

/// Assembles a snapshot from the three v1 calls.
pub(crate) fn v1_snapshot(
    account: V1Account,
    subscriptions: Vec<WireSubscription>,
    payment_methods: Vec<PaymentMethod>,
) -> AccountSnapshot {
    let billing = account.billing_and_payment.unwrap_or_default();
    let info = account.basic_info;
    AccountSnapshot {
        account: Account {
            custom_fields: custom_fields(&info.extra),
            id: info.id,
            account_number: info.account_number,
            name: info.name.unwrap_or_default(),
            status: info.status.unwrap_or_default(),
            currency: info.currency.or(billing.currency),
            crm_id: info.crm_id,
            bill_cycle_day: billing.bill_cycle_day,
            payment_term: billing.payment_term,
            default_payment_method_id: billing.default_payment_method_id,
        },
        bill_to: account.bill_to_contact.map(Into::into),
        sold_to: account.sold_to_contact.map(Into::into),
        payment_methods,
        subscriptions: crate::model::latest_versions(
            subscriptions.into_iter().map(Into::into).collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_payment_methods_read_every_type_group_and_mark_default() {
        let body = r#"{"defaultPaymentMethodId":"pm1","paymentGateway":null,"success":true,
          "creditcard":[{"id":"pm1","type":"CreditCard","isDefault":true,"status":"Active",
            "cardNumber":"************1111","expirationMonth":11,"expirationYear":2027,"creditCardType":"Visa",
            "accountHolderInfo":{"accountHolderName":"John Smith"}}],
          "paypalnew":[{"id":"pm3","type":"PayPalNativeEC","isDefault":false,"status":"Active"}],
          "ach":[{"id":"pm2","type":"ACH","isDefault":false,"status":"Active","bankAccountNumber":"********6789","bankName":"Chase"}]}"#;
        let pms: V1PaymentMethods = serde_json::from_str(body).unwrap();
        let pms = pms.into_domain().unwrap();
        assert_eq!(pms.len(), 3);
        let card = &pms[0];
        assert!(card.is_default);
        assert_eq!(card.masked_number.as_deref(), Some("************1111"));
        assert_eq!(card.account_holder_name.as_deref(), Some("John Smith"));
        assert_eq!(pms[1].bank_name.as_deref(), Some("Chase"));
        assert!(!pms[1].is_default && !pms[2].is_default);
    }

    #[test]
    fn amounts_keep_zuora_digits() {
        let charge: WireCharge = serde_json::from_str(
            r#"{"id":"c","price":100,"mrr":8.333333,"tcv":"100.10","quantity":null}"#,
        )
        .unwrap();
        assert_eq!(charge.price, Some(Amount("100".into())));
        assert_eq!(charge.mrr, Some(Amount("8.333333".into())));
        assert_eq!(charge.tcv, Some(Amount("100.10".into())));
        assert_eq!(charge.quantity, None);
    }

    #[test]
    fn full_numbers_are_masked_before_storage() {
        assert_eq!(mask("4111111111111111"), "************1111");
        assert_eq!(mask("12"), "12");
    }
}
