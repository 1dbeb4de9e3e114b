//! Export ZOQL for AQuA: runs `select <fields> from <Object> [where …]` on the six objects a full
//! sync reads (Account, Contact, PaymentMethod, Subscription, RatePlan, RatePlanCharge) and
//! writes the result as CSV. Records come from the same canonical data, rendered the same way,
//! as the object-query routes, so a value in a file equals the one the REST routes show.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::query::matches;
use crate::render::{oq_account_fields, oq_children};
use crate::store::{array_field, drop_nulls};
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

/// The export objects and their standard fields.
const OBJECTS: [(&str, &[&str]); 6] = [
    ("Account", ACCOUNT),
    ("Contact", CONTACT),
    ("PaymentMethod", PAYMENT_METHOD),
    ("Subscription", SUBSCRIPTION),
    ("RatePlan", RATE_PLAN),
    ("RatePlanCharge", RATE_PLAN_CHARGE),
];

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
/// the id of the account it belongs to, for `Account.<Field>` columns.
struct Record {
    fields: Map<String, Value>,
    account_id: Option<String>,
}

/// A selected field: the account's or the record's own, in Zuora's spelling.
struct Column {
    on_account: bool,
    name: String,
    header: String,
}

/// Runs one export query over the accounts. `Err` holds Zuora's message for an unknown object
/// or field (the batch is then aborted).
pub fn run(query: &Query, accounts: &[Value], options: &Options) -> Result<ExportFile, String> {
    let (object, standard) = OBJECTS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(&query.object))
        .ok_or_else(|| format!("invalid type for query: {}", query.object))?;
    let records = records_of(object, accounts);
    let parents = if *object == "Account" {
        Vec::new()
    } else {
        records_of("Account", accounts)
    };
    let account_records = if *object == "Account" {
        &records
    } else {
        &parents
    };
    let resolve = |written: &str| {
        let (on_account, field) = split_owner(written, object)?;
        let (owner, standard, known) = if on_account {
            ("Account", ACCOUNT, account_records)
        } else {
            (*object, *standard, &records)
        };
        let name =
            field_name(field, standard, known).ok_or_else(|| invalid_field(object, written))?;
        let header = if options.query_labels {
            written.to_string()
        } else if options.qualified || on_account {
            format!("{owner}.{name}")
        } else {
            name.clone()
        };
        Ok(Column {
            on_account,
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
    let account_index: HashMap<&str, &Record> = account_records
        .iter()
        .filter_map(|record| Some((record.fields.get("id")?.as_str()?, record)))
        .collect();
    let value_of = |record: &'_ Record, column: &Column| -> Option<Value> {
        let source = if column.on_account {
            account_index.get(record.account_id.as_deref()?)?
        } else {
            record
        };
        field(&source.fields, &column.name).cloned()
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

/// Splits `Field`, `<Object>.Field` or (on child objects) `Account.Field` into whether the
/// field is the parent account's, and the field.
fn split_owner<'a>(written: &'a str, object: &str) -> Result<(bool, &'a str), String> {
    match written.split_once('.') {
        None => Ok((false, written)),
        Some((owner, field)) if owner.eq_ignore_ascii_case(object) => Ok((false, field)),
        Some((owner, field)) if owner.eq_ignore_ascii_case("Account") => Ok((true, field)),
        Some(_) => Err(invalid_field(object, written)),
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
/// `mrr` on accounts, `mRR` on charges), so the match ignores case.
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

/// The records of one export object, in store order.
fn records_of(object: &str, accounts: &[Value]) -> Vec<Record> {
    match object {
        "Account" => accounts.iter().map(account_record).collect(),
        "Contact" => child_records(accounts, "contacts"),
        "PaymentMethod" => child_records(accounts, "payment-methods"),
        "Subscription" => child_records(accounts, "subscriptions"),
        "RatePlan" | "RatePlanCharge" => plan_records(accounts, object == "RatePlanCharge"),
        _ => Vec::new(),
    }
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
    let account_id = fields.get("id").and_then(Value::as_str).map(str::to_string);
    Record { fields, account_id }
}

/// Contacts, payment methods and subscriptions (every version) as the object-query lists
/// render them, each with its `accountId`.
fn child_records(accounts: &[Value], list: &str) -> Vec<Record> {
    oq_children(accounts, list)
        .unwrap_or_default()
        .into_iter()
        .map(|record| {
            let fields = record.as_object().cloned().unwrap_or_default();
            let account_id = fields
                .get("accountId")
                .and_then(Value::as_str)
                .map(str::to_string);
            Record { fields, account_id }
        })
        .collect()
}

/// Rate plans of every subscription version with their `subscriptionId`, or their charges
/// with their `ratePlanId`.
fn plan_records(accounts: &[Value], charges: bool) -> Vec<Record> {
    let mut out = Vec::new();
    for account in accounts {
        let account_id = account
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_string);
        for subscription in array_field(account, "subscriptions") {
            for plan in array_field(subscription, "ratePlans") {
                let (parent_key, parent, children) = if charges {
                    ("ratePlanId", plan, array_field(plan, "ratePlanCharges"))
                } else {
                    ("subscriptionId", subscription, std::slice::from_ref(plan))
                };
                for child in children {
                    let mut fields = child.as_object().cloned().unwrap_or_default();
                    fields.remove("ratePlanCharges");
                    let parent_id = parent.get("id").cloned().unwrap_or(Value::Null);
                    fields.insert(parent_key.into(), parent_id);
                    drop_nulls(&mut fields);
                    out.push(Record {
                        fields,
                        account_id: account_id.clone(),
                    });
                }
            }
        }
    }
    out
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

    fn accounts() -> Vec<Value> {
        let fixtures: Value = serde_json::from_str(include_str!("../fixtures/demo.json")).unwrap();
        fixtures["accounts"].as_array().unwrap().clone()
    }

    fn export(text: &str, options: &Options) -> Result<ExportFile, String> {
        run(&parse_export(text).unwrap(), &accounts(), options)
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
}
