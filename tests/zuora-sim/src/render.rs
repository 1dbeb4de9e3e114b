//! Renders canonical account documents into the two API shapes: object query (lowerCamelCase
//! object fields, nulls omitted, children only when expanded) and v1 (`basicInfo`/… envelopes,
//! renamed fields, nulls kept). The canonical form uses the object-query field names, so the
//! object-query renderer mostly adds derived reference fields; the v1 renderer maps names.

use serde_json::{Map, Value, json};

use crate::store::{Store, array_field, drop_nulls, is_latest_version, latest_versions, str_field};
use crate::time::to_v1_datetime;

/// Keys of the canonical account that hold children rather than fields.
const ACCOUNT_CHILDREN: [&str; 5] = [
    "billTo",
    "soldTo",
    "shipTo",
    "paymentMethods",
    "subscriptions",
];

/// Canonical keys that exist only for the v1 rendering (object queries do not have them).
const V1_ONLY_RATE_PLAN: [&str; 1] = ["lastChangeType"];
const V1_ONLY_CHARGE: [&str; 2] = ["price", "tiers"];

/// Which children an object query expands (`expand[]`, case-insensitive).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expand {
    pub bill_to: bool,
    pub sold_to: bool,
    pub ship_to: bool,
    pub default_payment_method: bool,
    pub payment_methods: bool,
    pub subscriptions: bool,
    pub rate_plans: bool,
    pub rate_plan_charges: bool,
}

impl Expand {
    /// Parses `expand[]` values; a nested path implies its parents. Unknown values are errors.
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut expand = Expand::default();
        for value in values {
            for item in value
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
            {
                expand.add(item)?;
            }
        }
        Ok(expand)
    }

    fn add(&mut self, item: &str) -> Result<(), String> {
        match item.to_ascii_lowercase().as_str() {
            "billto" => self.bill_to = true,
            "soldto" => self.sold_to = true,
            "shipto" => self.ship_to = true,
            "defaultpaymentmethod" => self.default_payment_method = true,
            "paymentmethods" => self.payment_methods = true,
            "subscriptions" => self.subscriptions = true,
            "subscriptions.rateplans" => {
                self.subscriptions = true;
                self.rate_plans = true;
            }
            "subscriptions.rateplans.rateplancharges" => {
                self.subscriptions = true;
                self.rate_plans = true;
                self.rate_plan_charges = true;
            }
            _ => return Err(format!("invalid expand value: {item}")),
        }
        Ok(())
    }
}

fn object(value: &Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

fn without(mut map: Map<String, Value>, keys: &[&str]) -> Map<String, Value> {
    for key in keys {
        map.remove(*key);
    }
    map
}

fn is_custom_field(key: &str) -> bool {
    key.ends_with("__c") || key.ends_with("__NS") || key.ends_with("__QT")
}

/// Copies the custom fields (`X__c`, …) of a canonical object into `target`.
fn copy_custom_fields(source: &Value, target: &mut Map<String, Value>) {
    if let Some(map) = source.as_object() {
        for (key, value) in map.iter().filter(|(key, _)| is_custom_field(key)) {
            target.insert(key.clone(), value.clone());
        }
    }
}

/// Builds an object from `(output name, canonical name)` pairs; missing values become `null`.
fn pick(source: &Value, fields: &[(&str, &str)]) -> Map<String, Value> {
    fields
        .iter()
        .map(|(to, from)| {
            let value = source.get(*from).cloned().unwrap_or(Value::Null);
            (to.to_string(), value)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Object query
// ---------------------------------------------------------------------------------------------

/// The account's own fields as an object query returns them (no children), nulls omitted.
pub fn oq_account_fields(account: &Value) -> Map<String, Value> {
    // Copy only the fields (not the children) — this runs for every account on list queries.
    let mut fields: Map<String, Value> = account
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(key, value)| !ACCOUNT_CHILDREN.contains(&key.as_str()) && !value.is_null())
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    for (reference, child) in [
        ("billToId", "billTo"),
        ("soldToId", "soldTo"),
        ("shipToId", "shipTo"),
    ] {
        if let Some(id) = account.get(child).and_then(|contact| contact.get("id")) {
            fields.insert(reference.into(), id.clone());
        }
    }
    drop_nulls(&mut fields);
    fields
}

/// One field of [`oq_account_fields`], read in place without copying the account (list
/// queries and ZOQL filter every account of the store on each request).
pub fn oq_account_field<'a>(account: &'a Value, field: &str) -> Option<&'a Value> {
    let child = match field {
        "billToId" => Some("billTo"),
        "soldToId" => Some("soldTo"),
        "shipToId" => Some("shipTo"),
        _ if ACCOUNT_CHILDREN.contains(&field) => return None,
        _ => None,
    };
    child
        .and_then(|child| account.get(child)?.get("id"))
        .filter(|id| !id.is_null())
        .or_else(|| account.get(field))
        .filter(|value| !value.is_null())
}

/// The names of the (non-null) fields of [`oq_account_fields`], except the derived contact ids.
pub fn oq_account_field_names(account: &Value) -> impl Iterator<Item = &str> {
    account
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(key, value)| !ACCOUNT_CHILDREN.contains(&key.as_str()) && !value.is_null())
        .map(|(key, _)| key.as_str())
}

/// `GET /object-query/accounts/{key}` (and each element of the list's `data`).
pub fn oq_account(account: &Value, expand: Expand, page_size: usize) -> Value {
    let mut out = oq_account_fields(account);
    let account_id = account.get("id").cloned().unwrap_or(Value::Null);
    let contacts = [
        (expand.bill_to, "billTo"),
        (expand.sold_to, "soldTo"),
        (expand.ship_to, "shipTo"),
    ];
    for (wanted, key) in contacts {
        if let Some(contact) = account.get(key).filter(|_| wanted) {
            out.insert(
                key.into(),
                oq_child(contact, &[], &[("accountId", &account_id)]),
            );
        }
    }
    let payment_methods = array_field(account, "paymentMethods");
    let pm = |method: &Value| oq_child(method, &[], &[("accountId", &account_id)]);
    if expand.default_payment_method {
        let default_id = account.get("defaultPaymentMethodId");
        if let Some(method) = payment_methods.iter().find(|m| m.get("id") == default_id) {
            out.insert("defaultPaymentMethod".into(), pm(method));
        }
    }
    if expand.payment_methods {
        let list = payment_methods.iter().take(page_size).map(pm).collect();
        out.insert("paymentMethods".into(), Value::Array(list));
    }
    if expand.subscriptions {
        let list = array_field(account, "subscriptions")
            .iter()
            .take(page_size)
            .map(|sub| oq_subscription(account, sub, expand, page_size))
            .collect();
        out.insert("subscriptions".into(), Value::Array(list));
    }
    Value::Object(out)
}

/// Every record of an object-query list of account children (`subscriptions` — every
/// version —, `payment-methods`, `contacts`), as that list renders them, each with its
/// `accountId`. `None` for another list name.
pub fn oq_children(accounts: &[Value], list: &str) -> Option<Vec<Value>> {
    let mut out = Vec::new();
    for account in accounts {
        let account_id = account.get("id").cloned().unwrap_or(Value::Null);
        let reference = [("accountId", &account_id)];
        match list {
            "subscriptions" => out.extend(
                array_field(account, "subscriptions")
                    .iter()
                    .map(|sub| oq_subscription(account, sub, Expand::default(), 0)),
            ),
            "payment-methods" => out.extend(
                array_field(account, "paymentMethods")
                    .iter()
                    .map(|method| oq_child(method, &[], &reference)),
            ),
            "contacts" => {
                let mut seen = Vec::new();
                for key in ["billTo", "soldTo", "shipTo"] {
                    let Some(contact) = account.get(key).filter(|c| c.is_object()) else {
                        continue;
                    };
                    let id = contact.get("id").cloned();
                    if !seen.contains(&id) {
                        seen.push(id);
                        out.push(oq_child(contact, &[], &reference));
                    }
                }
            }
            _ => return None,
        }
    }
    Some(out)
}

/// A child object with some keys removed and reference fields added, nulls omitted.
fn oq_child(source: &Value, remove: &[&str], add: &[(&str, &Value)]) -> Value {
    let mut map = without(object(source), remove);
    for (key, value) in add {
        map.entry(key.to_string())
            .or_insert_with(|| (*value).clone());
    }
    drop_nulls(&mut map);
    Value::Object(map)
}

fn oq_subscription(account: &Value, sub: &Value, expand: Expand, page_size: usize) -> Value {
    let account_id = account.get("id").cloned().unwrap_or(Value::Null);
    let latest = Value::Bool(is_latest_version(account, sub));
    let mut out = oq_child(
        sub,
        &["ratePlans"],
        &[
            ("accountId", &account_id),
            ("invoiceOwnerId", &account_id),
            ("isLatestVersion", &latest),
        ],
    );
    if expand.rate_plans {
        let sub_id = sub.get("id").cloned().unwrap_or(Value::Null);
        let owners = [
            ("subscriptionId", &sub_id),
            ("subscriptionOwnerId", &account_id),
            ("invoiceOwnerId", &account_id),
        ];
        let plans = array_field(sub, "ratePlans")
            .iter()
            .take(page_size)
            .map(|plan| oq_rate_plan(plan, &owners, expand, page_size))
            .collect();
        out["ratePlans"] = Value::Array(plans);
    }
    out
}

fn oq_rate_plan(
    plan: &Value,
    owners: &[(&str, &Value)],
    expand: Expand,
    page_size: usize,
) -> Value {
    let mut remove = vec!["ratePlanCharges"];
    remove.extend(V1_ONLY_RATE_PLAN);
    let mut out = oq_child(plan, &remove, owners);
    if expand.rate_plan_charges {
        let plan_id = plan.get("id").cloned().unwrap_or(Value::Null);
        let mut refs = owners.to_vec();
        refs.push(("ratePlanId", &plan_id));
        let charges = array_field(plan, "ratePlanCharges")
            .iter()
            .take(page_size)
            .map(|charge| oq_child(charge, &V1_ONLY_CHARGE, &refs))
            .collect();
        out["ratePlanCharges"] = Value::Array(charges);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// v1
// ---------------------------------------------------------------------------------------------

const BASIC_INFO: [(&str, &str); 16] = [
    ("id", "id"),
    ("name", "name"),
    ("accountNumber", "accountNumber"),
    ("notes", "notes"),
    ("status", "status"),
    ("crmId", "crmId"),
    ("batch", "batch"),
    ("invoiceTemplateId", "invoiceTemplateId"),
    ("communicationProfileId", "communicationProfileId"),
    ("profileNumber", "profileNumber"),
    ("salesRep", "salesRepName"),
    ("sequenceSetId", "sequenceSetId"),
    ("partnerAccount", "partnerAccount"),
    ("parentId", "parentId"),
    ("purchaseOrderNumber", "purchaseOrderNumber"),
    ("lastMetricsUpdate", "lastMetricsUpdate"),
];

const BILLING_AND_PAYMENT: [(&str, &str); 8] = [
    ("billCycleDay", "billCycleDay"),
    ("currency", "currency"),
    ("paymentTerm", "paymentTerm"),
    ("paymentGateway", "paymentGateway"),
    ("defaultPaymentMethodId", "defaultPaymentMethodId"),
    ("autoPay", "autoPay"),
    ("invoiceDeliveryPrefsPrint", "invoiceDeliveryPrefsPrint"),
    ("invoiceDeliveryPrefsEmail", "invoiceDeliveryPrefsEmail"),
];

const METRICS: [(&str, &str); 8] = [
    ("balance", "balance"),
    ("totalInvoiceBalance", "totalInvoiceBalance"),
    ("creditBalance", "creditBalance"),
    ("contractedMrr", "mrr"),
    ("totalDebitMemoBalance", "totalDebitMemoBalance"),
    ("unappliedPaymentAmount", "unappliedBalance"),
    ("unappliedCreditMemoAmount", "unappliedCreditMemoAmount"),
    ("reservedPaymentAmount", "reservedPaymentAmount"),
];

const TAX_INFO: [(&str, &str); 4] = [
    ("VATId", "VATId"),
    ("companyCode", "taxCompanyCode"),
    ("exemptCertificateId", "taxExemptCertificateID"),
    ("exemptStatus", "taxExemptStatus"),
];

const CONTACT: [(&str, &str); 19] = [
    ("id", "id"),
    ("firstName", "firstName"),
    ("lastName", "lastName"),
    ("nickname", "nickName"),
    ("address1", "address1"),
    ("address2", "address2"),
    ("city", "city"),
    ("county", "county"),
    ("state", "state"),
    ("zipCode", "postalCode"),
    ("country", "country"),
    ("taxRegion", "taxRegion"),
    ("workEmail", "workEmail"),
    ("personalEmail", "personalEmail"),
    ("workPhone", "workPhone"),
    ("homePhone", "homePhone"),
    ("mobilePhone", "mobilePhone"),
    ("otherPhone", "otherPhone"),
    ("fax", "fax"),
];

/// `GET /v1/accounts/{key}`.
pub fn v1_account(account: &Value) -> Value {
    let mut basic_info = pick(account, &BASIC_INFO);
    copy_custom_fields(account, &mut basic_info);
    let mut billing = pick(account, &BILLING_AND_PAYMENT);
    billing.insert(
        "additionalEmailAddresses".into(),
        email_list(account.get("additionalEmailAddresses")),
    );
    let metrics = pick(account, &METRICS);
    let mut metrics_data = metrics.clone();
    metrics_data.insert(
        "currency".into(),
        account.get("currency").cloned().unwrap_or(Value::Null),
    );
    json!({
        "basicInfo": basic_info,
        "billingAndPayment": billing,
        "metrics": metrics,
        "metricsData": [metrics_data],
        "billToContact": v1_contact(account.get("billTo")),
        "soldToContact": v1_contact(account.get("soldTo")),
        "taxInfo": pick(account, &TAX_INFO),
        "success": true,
    })
}

/// Object queries keep additional e-mail addresses as one comma-separated string; v1 splits it.
fn email_list(value: Option<&Value>) -> Value {
    let addresses = value
        .and_then(Value::as_str)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|address| !address.is_empty())
        .map(|address| Value::String(address.to_string()))
        .collect();
    Value::Array(addresses)
}

fn v1_contact(contact: Option<&Value>) -> Value {
    let Some(contact) = contact else {
        return Value::Null;
    };
    let mut out = pick(contact, &CONTACT);
    out.insert(
        "otherPhoneType".into(),
        contact
            .get("otherPhoneType")
            .cloned()
            .unwrap_or(Value::Null),
    );
    copy_custom_fields(contact, &mut out);
    Value::Object(out)
}

const SUBSCRIPTION: [(&str, &str); 27] = [
    ("id", "id"),
    ("subscriptionNumber", "name"),
    ("version", "version"),
    ("revision", "revision"),
    ("status", "status"),
    ("termType", "termType"),
    ("contractEffectiveDate", "contractEffectiveDate"),
    ("serviceActivationDate", "serviceActivationDate"),
    ("customerAcceptanceDate", "contractAcceptanceDate"),
    ("subscriptionStartDate", "subscriptionStartDate"),
    ("subscriptionEndDate", "subscriptionEndDate"),
    ("termStartDate", "termStartDate"),
    ("termEndDate", "termEndDate"),
    ("lastBookingDate", "lastBookingDate"),
    ("initialTerm", "initialTerm"),
    ("initialTermPeriodType", "initialTermPeriodType"),
    ("currentTerm", "currentTerm"),
    ("currentTermPeriodType", "currentTermPeriodType"),
    ("autoRenew", "autoRenew"),
    ("renewalSetting", "renewalSetting"),
    ("renewalTerm", "renewalTerm"),
    ("renewalTermPeriodType", "renewalTermPeriodType"),
    ("currency", "currency"),
    ("contractedMrr", "cMRR"),
    ("notes", "notes"),
    ("cancelReason", "cancelReason"),
    ("paymentTerm", "paymentTerm"),
];

const CHARGE: [(&str, &str); 26] = [
    ("id", "id"),
    ("originalChargeId", "originalId"),
    ("productRatePlanChargeId", "productRatePlanChargeId"),
    ("number", "chargeNumber"),
    ("name", "name"),
    ("type", "chargeType"),
    ("model", "chargeModel"),
    ("uom", "uOM"),
    ("version", "version"),
    ("segment", "segment"),
    ("price", "price"),
    ("quantity", "quantity"),
    ("billingDay", "billCycleType"),
    ("billingPeriod", "billingPeriod"),
    ("billingTiming", "billingTiming"),
    ("billingPeriodAlignment", "billingPeriodAlignment"),
    ("effectiveStartDate", "effectiveStartDate"),
    ("effectiveEndDate", "effectiveEndDate"),
    ("processedThroughDate", "processedThroughDate"),
    ("chargedThroughDate", "chargedThroughDate"),
    ("triggerEvent", "triggerEvent"),
    ("endDateCondition", "endDateCondition"),
    ("mrr", "mRR"),
    ("dmrc", "dMRC"),
    ("tcv", "tCV"),
    ("dtcv", "dTCV"),
];

/// One subscription version in the v1 shape (`GET /v1/subscriptions/…`).
pub fn v1_subscription(store: &Store, account: &Value, sub: &Value) -> Value {
    let mut out = pick(sub, &SUBSCRIPTION);
    let account_refs = [
        ("accountId", "id"),
        ("accountNumber", "accountNumber"),
        ("accountName", "name"),
        ("invoiceOwnerAccountId", "id"),
        ("invoiceOwnerAccountNumber", "accountNumber"),
        ("invoiceOwnerAccountName", "name"),
    ];
    out.extend(pick(account, &account_refs));
    out.insert(
        "isLatestVersion".into(),
        Value::Bool(is_latest_version(account, sub)),
    );
    out.insert(
        "invoiceSeparately".into(),
        Value::Bool(sub.get("isInvoiceSeparate") == Some(&Value::Bool(true))),
    );
    let plans = array_field(sub, "ratePlans");
    out.insert(
        "totalContractedValue".into(),
        json!(total_contracted_value(plans)),
    );
    copy_custom_fields(sub, &mut out);
    let currency = sub.get("currency").or_else(|| account.get("currency"));
    let plans = plans
        .iter()
        .map(|plan| v1_rate_plan(store, plan, currency))
        .collect();
    out.insert("ratePlans".into(), Value::Array(plans));
    Value::Object(out)
}

fn total_contracted_value(plans: &[Value]) -> f64 {
    plans
        .iter()
        .flat_map(|plan| array_field(plan, "ratePlanCharges"))
        .filter_map(|charge| charge.get("tCV").and_then(Value::as_f64))
        .sum()
}

fn v1_rate_plan(store: &Store, plan: &Value, currency: Option<&Value>) -> Value {
    let mut out = pick(
        plan,
        &[
            ("id", "id"),
            ("productId", "productId"),
            ("productRatePlanId", "productRatePlanId"),
            ("ratePlanName", "name"),
            ("lastChangeType", "lastChangeType"),
            ("externallyManagedPlanId", "externallyManagedPlanId"),
        ],
    );
    // The v1 API joins product name and SKU in from the catalog.
    let product = str_field(plan, "productId").and_then(|id| store.product(id));
    let from_product = |key| {
        product
            .and_then(|product| product.get(key))
            .cloned()
            .unwrap_or(Value::Null)
    };
    out.insert("productName".into(), from_product("name"));
    out.insert("productSku".into(), from_product("sku"));
    out.insert("subscriptionProductFeatures".into(), json!([]));
    copy_custom_fields(plan, &mut out);
    let charges = array_field(plan, "ratePlanCharges")
        .iter()
        .map(|charge| v1_charge(charge, currency))
        .collect();
    out.insert("ratePlanCharges".into(), Value::Array(charges));
    Value::Object(out)
}

fn v1_charge(charge: &Value, currency: Option<&Value>) -> Value {
    let mut out = pick(charge, &CHARGE);
    let currency = currency.cloned().unwrap_or(Value::Null);
    out.insert(
        "pricingSummary".into(),
        pricing_summary(charge, currency.as_str()),
    );
    out.insert("currency".into(), currency);
    // Tiers only when the charge's data holds them (tiered / volume charges).
    let tiers = charge.get("tiers").filter(|tiers| tiers.is_array());
    out.insert("tiers".into(), tiers.cloned().unwrap_or(Value::Null));
    copy_custom_fields(charge, &mut out);
    Value::Object(out)
}

/// `USD100` for flat fees, `USD5/Seat` per unit, like Zuora's summary text.
fn pricing_summary(charge: &Value, currency: Option<&str>) -> Value {
    let (Some(price), Some(currency)) = (charge.get("price").and_then(Value::as_f64), currency)
    else {
        return Value::Null;
    };
    match str_field(charge, "uOM") {
        Some(unit) => Value::String(format!("{currency}{price}/{unit}")),
        None => Value::String(format!("{currency}{price}")),
    }
}

/// `GET /v1/subscriptions/accounts/{key}`: the latest version of each subscription.
pub fn v1_subscriptions_of(store: &Store, account: &Value) -> Vec<Value> {
    latest_versions(account)
        .into_iter()
        .map(|sub| v1_subscription(store, account, sub))
        .collect()
}

const PAYMENT_METHOD: [(&str, &str); 15] = [
    ("id", "id"),
    ("type", "type"),
    ("status", "paymentMethodStatus"),
    ("lastTransaction", "lastTransactionStatus"),
    ("useDefaultRetryRule", "useDefaultRetryRule"),
    ("bankIdentificationNumber", "bankIdentificationNumber"),
    ("deviceSessionId", "deviceSessionId"),
    ("existingMandate", "existingMandate"),
    ("ipAddress", "iPAddress"),
    (
        "maxConsecutivePaymentFailures",
        "maxConsecutivePaymentFailures",
    ),
    ("numConsecutiveFailures", "numConsecutiveFailures"),
    ("paymentRetryWindow", "paymentRetryWindow"),
    (
        "totalNumberOfProcessedPayments",
        "totalNumberOfProcessedPayments",
    ),
    ("totalNumberOfErrorPayments", "totalNumberOfErrorPayments"),
    ("createdBy", "createdById"),
];

const CARD: [(&str, &str); 4] = [
    ("cardNumber", "creditCardMaskNumber"),
    ("expirationMonth", "creditCardExpirationMonth"),
    ("expirationYear", "creditCardExpirationYear"),
    ("creditCardType", "creditCardType"),
];

const ACH: [(&str, &str); 5] = [
    ("bankABACode", "achAbaCode"),
    ("bankAccountNumber", "achAccountNumberMask"),
    ("bankAccountType", "achAccountType"),
    ("bankName", "achBankName"),
    ("bankAccountName", "achAccountName"),
];

/// `GET /v1/accounts/{key}/payment-methods`: one array per lower-cased type name.
pub fn v1_payment_methods(account: &Value) -> Value {
    let mut out = Map::new();
    out.insert(
        "defaultPaymentMethodId".into(),
        account
            .get("defaultPaymentMethodId")
            .cloned()
            .unwrap_or(Value::Null),
    );
    out.insert(
        "paymentGateway".into(),
        account
            .get("paymentGateway")
            .cloned()
            .unwrap_or(Value::Null),
    );
    for method in array_field(account, "paymentMethods") {
        let group = str_field(method, "type")
            .unwrap_or("other")
            .to_ascii_lowercase();
        let list = out.entry(group).or_insert_with(|| json!([]));
        if let Value::Array(list) = list {
            list.push(v1_payment_method(account, method));
        }
    }
    out.insert("success".into(), Value::Bool(true));
    Value::Object(out)
}

fn v1_payment_method(account: &Value, method: &Value) -> Value {
    let mut out = pick(method, &PAYMENT_METHOD);
    let is_default = account.get("defaultPaymentMethodId").is_some()
        && account.get("defaultPaymentMethodId") == method.get("id");
    out.insert("isDefault".into(), Value::Bool(is_default));
    out.insert(
        "accountKey".into(),
        account.get("id").cloned().unwrap_or(Value::Null),
    );
    for key in [
        "lastTransactionDateTime",
        "createdDate",
        "updatedDate",
        "lastFailedSaleTransactionDate",
    ] {
        let value = str_field(method, key).map(|iso| Value::String(to_v1_datetime(iso)));
        out.insert(key.into(), value.unwrap_or(Value::Null));
    }
    let is_ach = str_field(method, "type") == Some("ACH");
    out.insert(
        "accountHolderInfo".into(),
        account_holder_info(method, is_ach),
    );
    let specific: &[(&str, &str)] = if is_ach { &ACH } else { &CARD };
    out.extend(pick(method, specific));
    copy_custom_fields(method, &mut out);
    Value::Object(out)
}

/// v1 gathers the holder's name and address, which object queries keep per method type.
fn account_holder_info(method: &Value, is_ach: bool) -> Value {
    let prefix = if is_ach { "ach" } else { "creditCard" };
    let typed = |suffix: &str, generic: &str| {
        method
            .get(format!("{prefix}{suffix}").as_str())
            .or_else(|| method.get(generic))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let holder = if is_ach {
        typed("AccountName", "name")
    } else {
        typed("HolderName", "name")
    };
    json!({
        "accountHolderName": holder,
        "phone": method.get("phone").cloned().unwrap_or(Value::Null),
        "email": method.get("email").cloned().unwrap_or(Value::Null),
        "addressLine1": typed("Address1", "address1"),
        "addressLine2": typed("Address2", "address2"),
        "zipCode": typed("PostalCode", "postalCode"),
        "city": typed("City", "city"),
        "country": typed("Country", "country"),
        "state": typed("State", "state"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> Store {
        let fixtures: Value = serde_json::from_str(include_str!("../fixtures/demo.json")).unwrap();
        Store::from_fixtures(&fixtures).unwrap()
    }

    #[test]
    fn expand_parsing() {
        let expand = Expand::parse(["BillTo", "subscriptions.rateplans.rateplancharges"]).unwrap();
        assert!(expand.bill_to && expand.subscriptions && expand.rate_plan_charges);
        assert!(!expand.sold_to);
        assert!(Expand::parse(["invoices"]).is_err());
    }

    #[test]
    fn object_query_and_v1_agree() {
        let store = demo();
        let account = store.account("A00000001").unwrap();
        let all = Expand::parse([
            "billto",
            "soldto",
            "defaultpaymentmethod",
            "paymentmethods",
            "subscriptions.rateplans.rateplancharges",
        ])
        .unwrap();
        let oq = oq_account(account, all, 10);
        let v1 = v1_account(account);
        assert_eq!(oq["name"], v1["basicInfo"]["name"]);
        assert_eq!(
            oq["LimioExternalId__c"],
            v1["basicInfo"]["LimioExternalId__c"]
        );
        assert_eq!(oq["billTo"]["postalCode"], v1["billToContact"]["zipCode"]);
        assert_eq!(oq["billToId"], v1["billToContact"]["id"]);
        assert_eq!(oq["subscriptions"].as_array().unwrap().len(), 5);
        let charge = &oq["subscriptions"][1]["ratePlans"][0]["ratePlanCharges"][0];
        assert!(charge.get("price").is_none());
        assert_eq!(
            charge["ratePlanId"],
            oq["subscriptions"][1]["ratePlans"][0]["id"]
        );
        assert_eq!(oq["defaultPaymentMethod"]["creditCardType"], "Visa");
        assert!(oq.get("paymentMethods").is_some());
    }

    #[test]
    fn field_reads_in_place_agree_with_the_copied_fields() {
        let store = demo();
        for account in store.accounts() {
            let fields = oq_account_fields(account);
            for key in fields.keys().map(String::as_str).chain(ACCOUNT_CHILDREN) {
                assert_eq!(oq_account_field(account, key), fields.get(key), "{key}");
            }
            for name in oq_account_field_names(account) {
                assert!(fields.contains_key(name), "{name}");
            }
        }
    }

    #[test]
    fn object_query_truncates_expanded_children() {
        let store = demo();
        let account = store.account("A00000001").unwrap();
        let expand =
            Expand::parse(["subscriptions.rateplans.rateplancharges", "paymentmethods"]).unwrap();
        let oq = oq_account(account, expand, 1);
        assert_eq!(oq["subscriptions"].as_array().unwrap().len(), 1);
        assert_eq!(oq["paymentMethods"].as_array().unwrap().len(), 1);
        assert!(oq.get("billTo").is_none());
    }

    #[test]
    fn v1_payment_methods_group_by_type() {
        let store = demo();
        let methods = v1_payment_methods(store.account("A00000001").unwrap());
        let card = &methods["creditcard"][0];
        assert_eq!(card["isDefault"], true);
        assert_eq!(card["cardNumber"], "************1111");
        assert_eq!(card["createdDate"], "2024-11-10 17:40:02");
        assert_eq!(methods["ach"][0]["bankABACode"], "110000000");
        assert_eq!(methods["ach"][0]["isDefault"], false);
    }

    #[test]
    fn v1_subscription_joins_the_catalog() {
        let store = demo();
        let found = store.subscription("A-S00000271").unwrap();
        let sub = v1_subscription(&store, found.account, found.subscription);
        assert_eq!(sub["subscriptionNumber"], "A-S00000271");
        assert_eq!(sub["ratePlans"][0]["productName"], "Acme Cloud");
        assert_eq!(
            sub["ratePlans"][0]["ratePlanCharges"][1]["pricingSummary"],
            "USD5/Seat"
        );
        assert_eq!(sub["totalContractedValue"], 13287.5);
    }
}
