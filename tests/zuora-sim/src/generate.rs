//! Generated data for bulk tests: catalog products and valid accounts, deterministic (the same
//! arguments always give the same documents, so generating twice replaces instead of adding).

use serde_json::{Value, json};

use crate::store::{array_field, str_field};
use crate::time::iso_from_secs;

/// 2025-01-01T00:00:00Z: generated accounts are created and updated from here on.
const BASE_SECS: i64 = 1_735_689_600;

/// Kinds of generated ids (the two hex digits after the namespace).
const PRODUCT: u8 = 0x01;
const PRODUCT_RATE_PLAN: u8 = 0x02;
const PRODUCT_RATE_PLAN_CHARGE: u8 = 0x03;
const ACCOUNT: u8 = 0x10;
const CONTACT: u8 = 0x11;
const PAYMENT_METHOD: u8 = 0x12;
const SUBSCRIPTION: u8 = 0x13;
const RATE_PLAN: u8 = 0x14;
const CHARGE: u8 = 0x15;

/// 64-bit FNV-1a, to give every account prefix its own id namespace.
pub(crate) fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A 32-hex-digit Zuora-style id: 16 digits of namespace, 2 of kind, 14 of index.
fn hex_id(namespace: u64, kind: u8, index: usize) -> String {
    format!("{namespace:016x}{kind:02x}{index:014x}")
}

fn product_namespace() -> u64 {
    fnv1a("zuora-sim:product")
}

fn account_namespace(prefix: &str) -> u64 {
    fnv1a(&format!("zuora-sim:account:{prefix}"))
}

/// The id [`account`] gives account `index` of `prefix`.
pub fn account_id(prefix: &str, index: usize) -> String {
    hex_id(account_namespace(prefix), ACCOUNT, index)
}

pub fn account_number(prefix: &str, index: usize) -> String {
    format!("{prefix}{index:08}")
}

pub fn subscription_number(prefix: &str, index: usize) -> String {
    format!("{prefix}-S{index:08}")
}

/// Catalog product number `index` in the v1 catalog shape: SKU `SIM-SKU-{index:06}`, one
/// Active monthly rate plan with one flat-fee recurring charge priced in USD and EUR.
pub fn product(index: usize) -> Value {
    let namespace = product_namespace();
    let price = (10 + index % 90) as f64;
    let pricing = |currency: &str| {
        json!({
            "currency": currency,
            "price": price,
            "tiers": null,
            "includedUnits": null,
            "overagePrice": null,
            "discountPercentage": null,
            "discountAmount": null,
        })
    };
    json!({
        "id": hex_id(namespace, PRODUCT, index),
        "sku": format!("SIM-SKU-{index:06}"),
        "name": format!("Generated Product {index:06}"),
        "description": format!("Generated catalog product {index}"),
        "category": "Base Products",
        "productNumber": format!("PC-G{index:07}"),
        "effectiveStartDate": "2020-01-01",
        "effectiveEndDate": "2099-12-31",
        "productRatePlans": [{
            "id": hex_id(namespace, PRODUCT_RATE_PLAN, index),
            "name": format!("Generated Monthly {index:06}"),
            "description": "Billed monthly",
            "status": "Active",
            "productRatePlanNumber": format!("PRP-G{index:07}"),
            "effectiveStartDate": "2020-01-01",
            "effectiveEndDate": "2099-12-31",
            "productRatePlanCharges": [{
                "id": hex_id(namespace, PRODUCT_RATE_PLAN_CHARGE, index),
                "name": format!("Generated Monthly Fee {index:06}"),
                "type": "Recurring",
                "model": "FlatFee",
                "uom": null,
                "productRatePlanChargeNumber": format!("PRPC-G{index:07}"),
                "pricingSummary": [format!("USD{price}"), format!("EUR{price}")],
                "pricing": [pricing("USD"), pricing("EUR")],
                "defaultQuantity": 1,
                "billingDay": "DefaultFromCustomer",
                "billingPeriod": "Month",
                "billingTiming": "IN_ADVANCE",
                "triggerEvent": "ContractEffective",
                "endDateCondition": "SubscriptionEnd",
                "taxable": false,
            }],
        }],
    })
}

/// The catalog entry generated subscriptions are built on.
pub struct CatalogCharge {
    product_id: Value,
    rate_plan_id: Value,
    rate_plan_name: Value,
    charge_id: Value,
    charge_name: Value,
    charge_type: String,
    charge_model: Value,
    billing_period: Value,
    uom: Value,
    price: f64,
}

impl CatalogCharge {
    /// The first charge of `product`'s first Active rate plan that has a USD price.
    pub fn from_product(product: &Value) -> Option<Self> {
        array_field(product, "productRatePlans")
            .iter()
            .filter(|plan| str_field(plan, "status").is_none_or(|status| status == "Active"))
            .find_map(|plan| {
                array_field(plan, "productRatePlanCharges")
                    .iter()
                    .find_map(|charge| {
                        let price = array_field(charge, "pricing")
                            .iter()
                            .find(|pricing| str_field(pricing, "currency") == Some("USD"))?
                            .get("price")?
                            .as_f64()?;
                        let field =
                            |value: &Value, key| value.get(key).cloned().unwrap_or_default();
                        Some(Self {
                            product_id: field(product, "id"),
                            rate_plan_id: field(plan, "id"),
                            rate_plan_name: field(plan, "name"),
                            charge_id: field(charge, "id"),
                            charge_name: field(charge, "name"),
                            charge_type: str_field(charge, "type").unwrap_or("Recurring").into(),
                            charge_model: field(charge, "model"),
                            billing_period: field(charge, "billingPeriod"),
                            uom: field(charge, "uom"),
                            price,
                        })
                    })
            })
    }

    /// Monthly recurring revenue of one unit.
    fn mrr(&self) -> f64 {
        if self.charge_type != "Recurring" {
            return 0.0;
        }
        let months = match self.billing_period.as_str() {
            Some("Annual") => 12.0,
            Some("Semi_Annual" | "Semi-Annual") => 6.0,
            Some("Quarter") => 3.0,
            Some("Week") => 12.0 / 52.0,
            _ => 1.0,
        };
        self.price / months
    }
}

/// Account `index` of `prefix` in canonical form: Active, USD, one bill-to/sold-to contact, one
/// Visa card set as default, and one Active 12-month subscription `{prefix}-S{index:08}` with
/// one rate plan and one charge from `catalog`. `updatedDate` rises with `index` (one minute
/// apart from 2025-01-01T00:00:00Z).
pub fn account(prefix: &str, index: usize, catalog: &CatalogCharge) -> Value {
    let namespace = account_namespace(prefix);
    let id = |kind| hex_id(namespace, kind, index);
    let account_id = id(ACCOUNT);
    let number = account_number(prefix, index);
    let subscription_id = id(SUBSCRIPTION);
    let charge_id = id(CHARGE);
    let email = format!("{}@generated.example", number.to_ascii_lowercase());
    let created = iso_from_secs(BASE_SECS - 86_400);
    let updated = iso_from_secs(BASE_SECS + 60 * index as i64);
    let mrr = catalog.mrr();
    let tcv = if catalog.charge_type == "Recurring" {
        mrr * 12.0
    } else {
        catalog.price
    };
    let contact = json!({
        "id": id(CONTACT),
        "firstName": "Test",
        "lastName": format!("Customer {index}"),
        "workEmail": email,
        "address1": format!("{index} Generated St"),
        "city": "San Francisco",
        "state": "CA",
        "postalCode": "94105",
        "country": "United States",
        "createdDate": created,
        "updatedDate": created,
    });
    let payment_method = json!({
        "id": id(PAYMENT_METHOD),
        "type": "CreditCard",
        "paymentMethodStatus": "Active",
        "creditCardMaskNumber": "************4242",
        "creditCardType": "Visa",
        "creditCardExpirationMonth": 1 + index % 12,
        "creditCardExpirationYear": 2030,
        "creditCardHolderName": format!("Test Customer {index}"),
        "creditCardAddress1": format!("{index} Generated St"),
        "creditCardCity": "San Francisco",
        "creditCardState": "CA",
        "creditCardPostalCode": "94105",
        "creditCardCountry": "United States",
        "email": email,
        "bankIdentificationNumber": "424242",
        "numConsecutiveFailures": 0,
        "useDefaultRetryRule": true,
        "totalNumberOfProcessedPayments": 0,
        "totalNumberOfErrorPayments": 0,
        "createdDate": created,
        "updatedDate": created,
    });
    let charge = json!({
        "id": charge_id,
        "originalId": charge_id,
        "productRatePlanChargeId": catalog.charge_id,
        "chargeNumber": format!("{prefix}-C{index:08}"),
        "name": catalog.charge_name,
        "chargeType": catalog.charge_type,
        "chargeModel": catalog.charge_model,
        "uOM": catalog.uom,
        "price": catalog.price,
        "quantity": 1,
        "billingPeriod": catalog.billing_period,
        "billingTiming": "IN_ADVANCE",
        "triggerEvent": "ContractEffective",
        "endDateCondition": "Subscription_End",
        "effectiveStartDate": "2025-01-01",
        "effectiveEndDate": "2026-01-01",
        "version": 1,
        "segment": 1,
        "isLastSegment": true,
        "mRR": mrr,
        "tCV": tcv,
        "createdDate": created,
        "updatedDate": updated,
    });
    let mut rate_plan = json!({
        "id": id(RATE_PLAN),
        "name": catalog.rate_plan_name,
        "productId": catalog.product_id,
        "productRatePlanId": catalog.rate_plan_id,
        "amendmentType": "NewProduct",
        "lastChangeType": "Add",
        "createdDate": created,
        "updatedDate": updated,
    });
    rate_plan["ratePlanCharges"] = Value::Array(vec![charge]);
    let mut subscription = json!({
        "id": subscription_id,
        "name": subscription_number(prefix, index),
        "version": 1,
        "revision": "1.0",
        "status": "Active",
        "originalId": subscription_id,
        "termType": "TERMED",
        "autoRenew": true,
        "contractEffectiveDate": "2025-01-01",
        "serviceActivationDate": "2025-01-01",
        "contractAcceptanceDate": "2025-01-01",
        "subscriptionStartDate": "2025-01-01",
        "subscriptionEndDate": "2026-01-01",
        "termStartDate": "2025-01-01",
        "termEndDate": "2026-01-01",
        "initialTerm": 12,
        "initialTermPeriodType": "Month",
        "currentTerm": 12,
        "currentTermPeriodType": "Month",
        "renewalSetting": "RENEW_WITH_SPECIFIC_TERM",
        "renewalTerm": 12,
        "renewalTermPeriodType": "Month",
        "currency": "USD",
        "cMRR": mrr,
        "createdDate": created,
        "updatedDate": updated,
    });
    subscription["ratePlans"] = Value::Array(vec![rate_plan]);
    let mut account = json!({
        "id": account_id,
        "accountNumber": number,
        "name": format!("Generated Customer {number}"),
        "status": "Active",
        "currency": "USD",
        // A well-formed Salesforce Account id (15 characters, key prefix 001), so a push of
        // generated accounts lands in the Salesforce simulator.
        "crmId": format!("0015g{index:010}"),
        "batch": "Batch1",
        "billCycleDay": 1 + index % 28,
        "paymentTerm": "Due Upon Receipt",
        "paymentGateway": "Stripe Gateway",
        "autoPay": true,
        "invoiceDeliveryPrefsEmail": true,
        "invoiceDeliveryPrefsPrint": false,
        "balance": 0.0,
        "totalInvoiceBalance": 0.0,
        "creditBalance": 0.0,
        "mrr": mrr,
        "partnerAccount": false,
        "createdDate": created,
        "updatedDate": updated,
        "LimioExternalId__c": format!("limio-{number}"),
        "defaultPaymentMethodId": id(PAYMENT_METHOD),
    });
    // Children are moved in (the json! macro would copy them).
    account["billTo"] = contact.clone();
    account["soldTo"] = contact;
    account["paymentMethods"] = Value::Array(vec![payment_method]);
    account["subscriptions"] = Value::Array(vec![subscription]);
    account
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_32_hex_and_distinct() {
        let ids = [
            account_id("GEN", 1),
            account_id("GEN", 2),
            account_id("BULK", 1),
            hex_id(product_namespace(), PRODUCT, 1),
        ];
        for id in &ids {
            assert_eq!(id.len(), 32);
            assert!(id.bytes().all(|byte| byte.is_ascii_hexdigit()));
        }
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
    }

    #[test]
    fn generated_account_uses_the_catalog_charge() {
        let catalog = CatalogCharge::from_product(&product(7)).unwrap();
        let account = account("GEN", 3, &catalog);
        assert_eq!(account["accountNumber"], "GEN00000003");
        assert_eq!(account["id"], account_id("GEN", 3));
        let charge = &account["subscriptions"][0]["ratePlans"][0]["ratePlanCharges"][0];
        assert_eq!(charge["price"], 17.0);
        assert_eq!(charge["mRR"], 17.0);
        assert_eq!(charge["tCV"], 204.0);
        assert_eq!(
            account["subscriptions"][0]["ratePlans"][0]["productId"],
            product(7)["id"]
        );
        assert_eq!(
            account["defaultPaymentMethodId"],
            account["paymentMethods"][0]["id"]
        );
    }
}
