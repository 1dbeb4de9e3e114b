//! Export ZOQL for AQuA: runs `select <fields> from <Object> [where …]` on the objects a full
//! sync reads (Account, Contact, PaymentMethod, Subscription, RatePlan, RatePlanCharge,
//! RatePlanChargeTier), with joined parent and catalog fields (`Account.Name`,
//! `Subscription.Name`, `Product.SKU`, …), and writes the result as CSV. Records come from the same canonical data, rendered the same way,
//! as the object-query routes, so a value in a file equals the one the REST routes show.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value};

use crate::generate::fnv1a;
use crate::query::matches;
use crate::render::{oq_account_fields, oq_children};
use crate::store::{Store, array_field, drop_nulls, str_field};
use crate::time::{iso_from_secs, parse_instant};
use crate::zoql::Query;

/// Standard fields of each export object, in Zuora's spelling. Custom fields (`X__c`) present
/// in the data are accepted as well.
const ACCOUNT: &[&str] = &[
    "Id",
    "AccountNumber",
    "Name",
    "Status",
    "Currency",
    "Balance",
    "BillCycleDay",
    "BcdSettingOption",
    "Batch",
    "CrmId",
    "AutoPay",
    "PaymentTerm",
    "PaymentGateway",
    "DefaultPaymentMethodId",
    "BillToContactId",
    "SoldToContactId",
    "InvoiceDeliveryPrefsEmail",
    "InvoiceDeliveryPrefsPrint",
    "AdditionalEmailAddresses",
    "CreditBalance",
    "TotalInvoiceBalance",
    "TotalDebitMemoBalance",
    "UnappliedBalance",
    "UnappliedCreditMemoAmount",
    "MRR",
    "Notes",
    "ParentId",
    "PartnerAccount",
    "SalesRepName",
    "PurchaseOrderNumber",
    "CommunicationProfileId",
    "InvoiceTemplateId",
    "TaxExemptStatus",
    "AllowInvoiceEdit",
    "LastInvoiceDate",
    "CreatedById",
    "CreatedDate",
    "UpdatedById",
    "UpdatedDate",
];

const CONTACT: &[&str] = &[
    "Id",
    "AccountId",
    "FirstName",
    "LastName",
    "NickName",
    "WorkEmail",
    "PersonalEmail",
    "WorkPhone",
    "HomePhone",
    "MobilePhone",
    "OtherPhone",
    "OtherPhoneType",
    "Fax",
    "Address1",
    "Address2",
    "City",
    "County",
    "State",
    "PostalCode",
    "Country",
    "TaxRegion",
    "Description",
    "CreatedById",
    "CreatedDate",
    "UpdatedById",
    "UpdatedDate",
];

const PAYMENT_METHOD: &[&str] = &[
    "Id",
    "AccountId",
    "Type",
    "PaymentMethodStatus",
    "CreditCardMaskNumber",
    "CreditCardType",
    "CreditCardExpirationMonth",
    "CreditCardExpirationYear",
    "CreditCardHolderName",
    "CreditCardAddress1",
    "CreditCardAddress2",
    "CreditCardCity",
    "CreditCardState",
    "CreditCardPostalCode",
    "CreditCardCountry",
    "AchAbaCode",
    "AchAccountName",
    "AchAccountNumberMask",
    "AchAccountType",
    "AchBankName",
    "AchAddress1",
    "AchAddress2",
    "AchCity",
    "AchState",
    "AchPostalCode",
    "AchCountry",
    "BankIdentificationNumber",
    "Email",
    "Phone",
    "LastTransactionStatus",
    "LastTransactionDateTime",
    "LastFailedSaleTransactionDate",
    "NumConsecutiveFailures",
    "MaxConsecutivePaymentFailures",
    "PaymentRetryWindow",
    "UseDefaultRetryRule",
    "TotalNumberOfProcessedPayments",
    "TotalNumberOfErrorPayments",
    "IPAddress",
    "DeviceSessionId",
    "ExistingMandate",
    "CreatedById",
    "CreatedDate",
    "UpdatedById",
    "UpdatedDate",
];

const SUBSCRIPTION: &[&str] = &[
    "Id",
    "AccountId",
    "InvoiceOwnerId",
    "Name",
    "Version",
    "Revision",
    "Status",
    "OriginalId",
    "PreviousSubscriptionId",
    "TermType",
    "AutoRenew",
    "ContractEffectiveDate",
    "ServiceActivationDate",
    "ContractAcceptanceDate",
    "SubscriptionStartDate",
    "SubscriptionEndDate",
    "TermStartDate",
    "TermEndDate",
    "InitialTerm",
    "InitialTermPeriodType",
    "CurrentTerm",
    "CurrentTermPeriodType",
    "RenewalSetting",
    "RenewalTerm",
    "RenewalTermPeriodType",
    "Currency",
    "CMRR",
    "Notes",
    "CancelReason",
    "PaymentTerm",
    "LastBookingDate",
    "CancelledDate",
    "IsInvoiceSeparate",
    "CreatedById",
    "CreatedDate",
    "UpdatedById",
    "UpdatedDate",
];

const RATE_PLAN: &[&str] = &[
    "Id",
    "SubscriptionId",
    "Name",
    "ProductRatePlanId",
    "AmendmentId",
    "AmendmentType",
    "ExternallyManagedPlanId",
    "CreatedById",
    "CreatedDate",
    "UpdatedById",
    "UpdatedDate",
];

const RATE_PLAN_CHARGE: &[&str] = &[
    "Id",
    "RatePlanId",
    "OriginalId",
    "ProductRatePlanChargeId",
    "ChargeNumber",
    "Name",
    "ChargeType",
    "ChargeModel",
    "UOM",
    "Version",
    "Segment",
    "IsLastSegment",
    "Quantity",
    "BillCycleType",
    "BillingPeriod",
    "BillingTiming",
    "BillingPeriodAlignment",
    "EffectiveStartDate",
    "EffectiveEndDate",
    "ProcessedThroughDate",
    "ChargedThroughDate",
    "TriggerEvent",
    "TriggerDate",
    "EndDateCondition",
    "MRR",
    "DMRC",
    "TCV",
    "DTCV",
    "Description",
    "CreatedById",
    "CreatedDate",
    "UpdatedById",
    "UpdatedDate",
];

const RATE_PLAN_CHARGE_TIER: &[&str] = &[
    "Id",
    "RatePlanChargeId",
    "Tier",
    "Price",
    "Currency",
    "StartingUnit",
    "EndingUnit",
    "PriceFormat",
    "CreatedDate",
    "UpdatedDate",
];

/// Catalog objects: only joined (`Product.Name` on a rate plan), not exported on their own.
const PRODUCT: &[&str] = &[
    "Id",
    "Name",
    "SKU",
    "Description",
    "Category",
    "EffectiveStartDate",
    "EffectiveEndDate",
];

const PRODUCT_RATE_PLAN: &[&str] = &[
    "Id",
    "Name",
    "Description",
    "EffectiveStartDate",
    "EffectiveEndDate",
];

/// The export objects and their standard fields.
const OBJECTS: [(&str, &[&str]); 7] = [
    ("Account", ACCOUNT),
    ("Contact", CONTACT),
    ("PaymentMethod", PAYMENT_METHOD),
    ("Subscription", SUBSCRIPTION),
    ("RatePlan", RATE_PLAN),
    ("RatePlanCharge", RATE_PLAN_CHARGE),
    ("RatePlanChargeTier", RATE_PLAN_CHARGE_TIER),
];

/// The objects only reachable as joins.
const JOINED_ONLY: [(&str, &[&str]); 2] =
    [("Product", PRODUCT), ("ProductRatePlan", PRODUCT_RATE_PLAN)];

/// The objects a record of `object` may join (`<Owner>.<Field>`): its ancestors and, from the
/// rate plan down, the catalog product and product rate plan.
fn joins_of(object: &str) -> &'static [&'static str] {
    match object {
        "Contact" | "PaymentMethod" | "Subscription" => &["Account"],
        "RatePlan" => &["Account", "Subscription", "Product", "ProductRatePlan"],
        "RatePlanCharge" => &[
            "Account",
            "Subscription",
            "RatePlan",
            "Product",
            "ProductRatePlan",
        ],
        "RatePlanChargeTier" => &[
            "Account",
            "Subscription",
            "RatePlan",
            "RatePlanCharge",
            "Product",
            "ProductRatePlan",
        ],
        _ => &[],
    }
}

fn standard_fields(object: &str) -> &'static [&'static str] {
    OBJECTS
        .iter()
        .chain(JOINED_ONLY.iter())
        .find(|(name, _)| *name == object)
        .map_or(&[], |(_, fields)| *fields)
}

/// What `GET /v1/describe/{object}` lists for an export (or joined) object.
pub struct Described {
    /// The object's name as Zuora spells it.
    pub name: &'static str,
    pub standard: &'static [&'static str],
    /// The custom fields present on any of its records, sorted: the same ones an export of it
    /// accepts.
    pub custom: Vec<String>,
}

/// The fields of an object the export knows (any case), or `None`.
pub fn describe(object: &str, store: &Store) -> Option<Described> {
    let (name, standard) = OBJECTS
        .iter()
        .chain(JOINED_ONLY.iter())
        .find(|(name, _)| name.eq_ignore_ascii_case(object))?;
    let custom: BTreeSet<String> = records_of(name, store)
        .into_iter()
        .flat_map(|record| record.fields.into_iter().map(|(key, _)| key))
        .filter(|key| is_custom_field(key))
        .collect();
    Some(Described {
        name,
        standard,
        custom: custom.into_iter().collect(),
    })
}

/// How an export writes its file (from the job's settings).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `zoqlexport` names columns `<Object>.<Field>`; `zoql` just `<Field>`.
    pub qualified: bool,
    /// Name the columns as the query writes them.
    pub query_labels: bool,
    /// Write datetimes in UTC instead of the tenant's offset.
    pub utc: bool,
    /// Written for missing values (Zuora's `nullReplacement`; empty by default).
    pub null_replacement: String,
}

/// A finished export: the CSV text and how many records it holds.
#[derive(Debug, Clone)]
pub struct ExportFile {
    pub csv: String,
    pub record_count: usize,
}

/// One record of an export object: its fields (canonical keys, derived references added) and
/// the ids of the records it joins (`("Account", id)`, `("Subscription", id)`, …).
struct Record {
    fields: Map<String, Value>,
    refs: Vec<(&'static str, String)>,
}

impl Record {
    fn reference(&self, owner: &str) -> Option<&str> {
        self.refs
            .iter()
            .find(|(name, _)| *name == owner)
            .map(|(_, id)| id.as_str())
    }
}

/// A selected field: the record's own (`owner: None`) or a joined object's, in Zuora's spelling.
struct Column {
    owner: Option<&'static str>,
    name: String,
    header: String,
}

/// Runs one export query over the store. `Err` holds Zuora's message for an unknown object
/// or field (the batch is then aborted).
pub fn run(query: &Query, store: &Store, options: &Options) -> Result<ExportFile, String> {
    let (object, standard) = OBJECTS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(&query.object))
        .ok_or_else(|| format!("invalid type for query: {}", query.object))?;
    let records = records_of(object, store);
    let written: Vec<&str> = query
        .fields
        .iter()
        .map(String::as_str)
        .chain(
            query
                .filter
                .iter()
                .flatten()
                .map(|condition| condition.field.as_str()),
        )
        .collect();
    let mut tables: HashMap<&'static str, Vec<Record>> = HashMap::new();
    for field in &written {
        if let (Some(owner), _) = split_owner(field, object)? {
            tables
                .entry(owner)
                .or_insert_with(|| records_of(owner, store));
        }
    }
    let resolve = |written: &str| {
        let (owner, field) = split_owner(written, object)?;
        let (owner_name, standard, known) = match owner {
            Some(owner) => (owner, standard_fields(owner), &tables[owner]),
            None => (*object, *standard, &records),
        };
        let name =
            field_name(field, standard, known).ok_or_else(|| invalid_field(object, written))?;
        let header = if options.query_labels {
            written.to_string()
        } else if options.qualified || owner.is_some() {
            format!("{owner_name}.{name}")
        } else {
            name.clone()
        };
        Ok(Column {
            owner,
            name,
            header,
        })
    };
    let columns = query
        .fields
        .iter()
        .map(|field| resolve(field))
        .collect::<Result<Vec<_>, String>>()?;
    let mut filter = Vec::new();
    for all in &query.filter {
        let resolved = all
            .iter()
            .map(|condition| Ok((resolve(&condition.field)?, condition)))
            .collect::<Result<Vec<_>, String>>()?;
        filter.push(resolved);
    }
    let indexes: HashMap<&str, HashMap<&str, &Record>> = tables
        .iter()
        .map(|(owner, table)| {
            let index = table
                .iter()
                .filter_map(|record| Some((record.fields.get("id")?.as_str()?, record)))
                .collect();
            (*owner, index)
        })
        .collect();
    let value_of = |record: &'_ Record, column: &Column| -> Option<Value> {
        let Some(owner) = column.owner else {
            return field(&record.fields, &column.name).cloned();
        };
        let id = record.reference(owner)?;
        if column.name == "Id" {
            // The reference itself, as the REST routes show it (`productId`, `accountId`, …).
            return Some(Value::String(id.to_string()));
        }
        field(&indexes.get(owner)?.get(id)?.fields, &column.name).cloned()
    };
    let headers: Vec<String> = columns.iter().map(|column| column.header.clone()).collect();
    let mut csv = csv_line(&headers);
    let mut record_count = 0;
    for record in &records {
        let selected = filter.is_empty()
            || filter.iter().any(|all| {
                all.iter().all(|(column, condition)| {
                    let value = value_of(record, column);
                    matches(value.as_ref(), condition.op, &condition.literal)
                })
            });
        if !selected {
            continue;
        }
        let cells: Vec<String> = columns
            .iter()
            .map(|column| cell(value_of(record, column), options))
            .collect();
        csv.push_str(&csv_line(&cells));
        record_count += 1;
    }
    Ok(ExportFile { csv, record_count })
}

fn invalid_field(object: &str, written: &str) -> String {
    format!(
        "invalid field for query: {object}.{}",
        written.to_ascii_lowercase()
    )
}

/// Splits `Field`, `<Object>.Field` or `<Joined>.Field` (see [`joins_of`]) into the joined
/// object (`None` for the record's own field) and the field.
fn split_owner<'a>(
    written: &'a str,
    object: &str,
) -> Result<(Option<&'static str>, &'a str), String> {
    match written.split_once('.') {
        None => Ok((None, written)),
        Some((owner, field)) if owner.eq_ignore_ascii_case(object) => Ok((None, field)),
        Some((owner, field)) => joins_of(object)
            .iter()
            .find(|joined| joined.eq_ignore_ascii_case(owner))
            .map(|joined| (Some(*joined), field))
            .ok_or_else(|| invalid_field(object, written)),
    }
}

/// A standard field in Zuora's spelling, or a custom field as the data spells it.
fn field_name(field: &str, standard: &[&str], known: &[Record]) -> Option<String> {
    let custom = || {
        known
            .iter()
            .flat_map(|record| record.fields.keys())
            .find(|key| is_custom_field(key) && key.eq_ignore_ascii_case(field))
            .cloned()
    };
    standard
        .iter()
        .find(|name| name.eq_ignore_ascii_case(field))
        .map(|name| name.to_string())
        .or_else(custom)
}

fn is_custom_field(key: &str) -> bool {
    key.ends_with("__c") || key.ends_with("__NS") || key.ends_with("__QT")
}

/// A field by its export name; canonical keys are the same words in lowerCamelCase (`MRR` is
/// `mrr` on accounts, `mRR` on charges, `SKU` is `sku`), so the match ignores case.
fn field<'a>(fields: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    fields
        .get(name)
        .or_else(|| {
            fields
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| value)
        })
        .filter(|value| !value.is_null())
}

/// The records of one export (or joined) object, in store order.
fn records_of(object: &str, store: &Store) -> Vec<Record> {
    let accounts = store.accounts();
    match object {
        "Account" => accounts.iter().map(account_record).collect(),
        "Contact" => child_records(accounts, "contacts"),
        "PaymentMethod" => child_records(accounts, "payment-methods"),
        "Subscription" => child_records(accounts, "subscriptions"),
        "RatePlan" | "RatePlanCharge" | "RatePlanChargeTier" => plan_records(accounts, object),
        "Product" | "ProductRatePlan" => catalog_records(store.products(), object),
        _ => Vec::new(),
    }
}

fn id_of(value: &Value) -> Option<String> {
    value.get("id").and_then(Value::as_str).map(str::to_string)
}

fn account_record(account: &Value) -> Record {
    let mut fields = oq_account_fields(account);
    for (export, derived) in [
        ("billToContactId", "billToId"),
        ("soldToContactId", "soldToId"),
    ] {
        if let Some(id) = fields.get(derived).cloned() {
            fields.insert(export.into(), id);
        }
    }
    Record {
        fields,
        refs: Vec::new(),
    }
}

/// Contacts, payment methods and subscriptions (every version) as the object-query lists
/// render them, each with its `accountId`.
fn child_records(accounts: &[Value], list: &str) -> Vec<Record> {
    oq_children(accounts, list)
        .unwrap_or_default()
        .into_iter()
        .map(|record| {
            let fields = record.as_object().cloned().unwrap_or_default();
            let refs = fields
                .get("accountId")
                .and_then(Value::as_str)
                .map(|id| ("Account", id.to_string()))
                .into_iter()
                .collect();
            Record { fields, refs }
        })
        .collect()
}

/// Rate plans of every subscription version with their `subscriptionId`, their charges with
/// their `ratePlanId`, or the charges' tiers.
fn plan_records(accounts: &[Value], object: &str) -> Vec<Record> {
    let mut out = Vec::new();
    for account in accounts {
        let account_ref = id_of(account).map(|id| ("Account", id));
        for subscription in array_field(account, "subscriptions") {
            // The currency the v1 subscription route gives each charge.
            let currency = subscription
                .get("currency")
                .or_else(|| account.get("currency"));
            for plan in array_field(subscription, "ratePlans") {
                let mut refs: Vec<(&'static str, String)> = account_ref.iter().cloned().collect();
                refs.extend(id_of(subscription).map(|id| ("Subscription", id)));
                for (owner, key) in [
                    ("Product", "productId"),
                    ("ProductRatePlan", "productRatePlanId"),
                ] {
                    refs.extend(str_field(plan, key).map(|id| (owner, id.to_string())));
                }
                if object == "RatePlan" {
                    let parent = ("subscriptionId", subscription);
                    out.push(child_record(plan, parent, refs));
                    continue;
                }
                refs.extend(id_of(plan).map(|id| ("RatePlan", id)));
                for charge in array_field(plan, "ratePlanCharges") {
                    if object == "RatePlanCharge" {
                        out.push(child_record(charge, ("ratePlanId", plan), refs.clone()));
                        continue;
                    }
                    let mut refs = refs.clone();
                    refs.extend(id_of(charge).map(|id| ("RatePlanCharge", id)));
                    out.extend(
                        tier_records(charge, currency)
                            .into_iter()
                            .map(|fields| Record {
                                fields,
                                refs: refs.clone(),
                            }),
                    );
                }
            }
        }
    }
    out
}

/// A rate plan or charge with its parent's id (`subscriptionId`, `ratePlanId`), nulls omitted.
fn child_record(
    child: &Value,
    (parent_key, parent): (&str, &Value),
    refs: Vec<(&'static str, String)>,
) -> Record {
    let mut fields = child.as_object().cloned().unwrap_or_default();
    fields.remove("ratePlanCharges");
    fields.remove("tiers");
    let parent_id = parent.get("id").cloned().unwrap_or(Value::Null);
    fields.insert(parent_key.into(), parent_id);
    drop_nulls(&mut fields);
    Record { fields, refs }
}

/// The tiers of a charge: one per element of its `tiers`, or, when it has none, one (tier 1)
/// carrying the charge's `price`. Prices and units are the data's JSON values, and the currency
/// is the one the v1 subscription route shows for the charge.
fn tier_records(charge: &Value, currency: Option<&Value>) -> Vec<Map<String, Value>> {
    let charge_id = str_field(charge, "id").unwrap_or_default();
    let base = |tier: &Value| {
        let mut fields = Map::new();
        let number = tier.as_u64().unwrap_or(1);
        fields.insert("id".into(), Value::String(tier_id(charge_id, number)));
        fields.insert("ratePlanChargeId".into(), Value::String(charge_id.into()));
        fields.insert("tier".into(), tier.clone());
        fields.insert("currency".into(), currency.cloned().unwrap_or(Value::Null));
        for key in ["createdDate", "updatedDate"] {
            fields.insert(key.into(), charge.get(key).cloned().unwrap_or(Value::Null));
        }
        fields
    };
    let tiers = array_field(charge, "tiers");
    let mut out: Vec<Map<String, Value>> = if tiers.is_empty() {
        let mut fields = base(&Value::from(1));
        fields.insert(
            "price".into(),
            charge.get("price").cloned().unwrap_or(Value::Null),
        );
        let format = match str_field(charge, "chargeModel") {
            Some("FlatFee") => Value::from("Flat Fee"),
            Some("PerUnit") => Value::from("Per Unit"),
            _ => Value::Null,
        };
        fields.insert("priceFormat".into(), format);
        vec![fields]
    } else {
        tiers
            .iter()
            .enumerate()
            .map(|(index, tier)| {
                let number = tier
                    .get("tier")
                    .filter(|number| number.is_u64())
                    .cloned()
                    .unwrap_or_else(|| Value::from(index + 1));
                let mut fields = base(&number);
                for key in ["id", "price", "startingUnit", "endingUnit", "priceFormat"] {
                    if let Some(value) = tier.get(key).filter(|value| !value.is_null()) {
                        fields.insert(key.into(), value.clone());
                    }
                }
                fields
            })
            .collect()
    };
    out.iter_mut().for_each(drop_nulls);
    out
}

/// A stable 32-hex-digit id for tier `number` of a charge (tiers in the data may carry their own).
fn tier_id(charge_id: &str, number: u64) -> String {
    format!(
        "{:016x}{number:016x}",
        fnv1a(&format!("zuora-sim:tier:{charge_id}"))
    )
}

/// Catalog products (without their rate plans) or product rate plans (with their `productId`,
/// without their charges), nulls omitted.
fn catalog_records(products: &[Value], object: &str) -> Vec<Record> {
    let record = |value: &Value, remove: &str, add: Option<(&str, &Value)>| {
        let mut fields = value.as_object().cloned().unwrap_or_default();
        fields.remove(remove);
        if let Some((key, value)) = add {
            fields.insert(key.into(), value.clone());
        }
        drop_nulls(&mut fields);
        Record {
            fields,
            refs: Vec::new(),
        }
    };
    if object == "Product" {
        return products
            .iter()
            .map(|product| record(product, "productRatePlans", None))
            .collect();
    }
    products
        .iter()
        .flat_map(|product| {
            let product_id = product.get("id").unwrap_or(&Value::Null);
            array_field(product, "productRatePlans")
                .iter()
                .map(move |plan| {
                    record(
                        plan,
                        "productRatePlanCharges",
                        Some(("productId", product_id)),
                    )
                })
        })
        .collect()
}

/// One CSV cell: strings as they are, numbers and booleans as JSON writes them.
fn cell(value: Option<Value>, options: &Options) -> String {
    match value {
        None | Some(Value::Null) => options.null_replacement.clone(),
        Some(Value::String(text)) if options.utc && is_datetime(&text) => {
            parse_instant(&text).map_or(text, |ms| iso_from_secs(ms.div_euclid(1000)))
        }
        Some(Value::String(text)) => text,
        Some(other) => other.to_string(),
    }
}

/// `2025-03-21T03:24:15-07:00`, not a plain date.
fn is_datetime(text: &str) -> bool {
    text.len() > 10 && text.as_bytes()[10] == b'T' && parse_instant(text).is_some()
}

/// One CSV line (RFC 4180): cells holding a comma, a quote or a line break are quoted, quotes
/// doubled.
fn csv_line(cells: &[String]) -> String {
    let mut line = cells
        .iter()
        .map(|cell| {
            if cell.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", cell.replace('"', "\"\""))
            } else {
                cell.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(",");
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zoql::parse_export;

    fn store() -> Store {
        let fixtures: Value = serde_json::from_str(include_str!("../fixtures/demo.json")).unwrap();
        Store::from_fixtures(&fixtures).unwrap()
    }

    fn export(text: &str, options: &Options) -> Result<ExportFile, String> {
        run(&parse_export(text).unwrap(), &store(), options)
    }

    fn qualified() -> Options {
        Options {
            qualified: true,
            ..Options::default()
        }
    }

    #[test]
    fn quoting() {
        let cells = ["a,b", "say \"hi\"", "two\nlines", "plain"].map(String::from);
        assert_eq!(
            csv_line(&cells),
            "\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",plain\n"
        );
    }

    #[test]
    fn columns_are_qualified_or_labelled() {
        let text = "select Id, Account.AccountNumber from Subscription where Name = 'A-S00000274'";
        let file = export(text, &qualified()).unwrap();
        let header = file.csv.lines().next().unwrap();
        assert_eq!(header, "Subscription.Id,Account.AccountNumber");
        assert_eq!(file.record_count, 1);
        let labels = Options {
            query_labels: true,
            ..qualified()
        };
        let file = export(text, &labels).unwrap();
        assert!(file.csv.starts_with("Id,Account.AccountNumber\n"));
        assert!(file.csv.ends_with(",A00000001\n"));
    }

    #[test]
    fn utc_datetimes_and_null_replacement() {
        let options = Options {
            utc: true,
            null_replacement: "NULL".into(),
            ..qualified()
        };
        let text = "select UpdatedDate, LastInvoiceDate, CrmId from Account where AccountNumber = 'A00000001'";
        let file = export(text, &options).unwrap();
        assert_eq!(
            file.csv.lines().nth(1),
            Some("2025-03-21T10:24:15+00:00,2025-03-01,0015g00000XyZabAAB")
        );
        let text = "select CrmId from Account where AccountNumber = 'A00000003'";
        assert_eq!(
            export(text, &options).unwrap().csv.lines().nth(1),
            Some("NULL")
        );
    }

    #[test]
    fn unknown_objects_and_fields_name_themselves() {
        let err = export("select Id, Nope from Account", &qualified()).unwrap_err();
        assert_eq!(err, "invalid field for query: Account.nope");
        let err = export("select Contact.Id from Subscription", &qualified()).unwrap_err();
        assert!(err.contains("contact.id"), "{err}");
        let err = export("select Id from Invoice", &qualified()).unwrap_err();
        assert_eq!(err, "invalid type for query: Invoice");
    }

    #[test]
    fn rate_plans_join_the_catalog_and_charges_have_one_tier() {
        let text = "select Id, Product.Id, Product.SKU, ProductRatePlan.Name, Subscription.Name from RatePlan where Subscription.Name = 'A-S00000271'";
        let file = export(text, &qualified()).unwrap();
        // Both versions of the subscription: one plan, then two.
        assert_eq!(file.record_count, 3, "{}", file.csv);
        assert!(
            file.csv.contains(
                ",8a90a1b27c1f4e2d017c2b3c4d5ec001,SKU-00000001,Pro Annual,A-S00000271\n"
            ),
            "{}",
            file.csv
        );
        let text = "select Tier, Price, Currency, PriceFormat, RatePlanCharge.ChargeNumber, Subscription.Name from RatePlanChargeTier where RatePlanCharge.ChargeNumber = 'C-00000502'";
        let file = export(text, &qualified()).unwrap();
        let rows: Vec<&str> = file.csv.lines().skip(1).collect();
        assert!(
            rows.contains(&"1,5.0,USD,Per Unit,C-00000502,A-S00000271"),
            "{rows:?}"
        );
        let err = export("select Product.Nope from RatePlanCharge", &qualified()).unwrap_err();
        assert_eq!(err, "invalid field for query: RatePlanCharge.product.nope");
    }
}
