//! A bulk export's files → each account's snapshot, the same [`AccountSnapshot`] the per-call
//! reads build (so the mirror's content hashes agree whichever path read an account).
//!
//! Each object is one CSV file with `<Object>.<Field>` columns; children name their parent by
//! id (`Contact.AccountId`, `RatePlan.SubscriptionId`…). Subscriptions come in every version:
//! the latest of each number is the one kept, as the per-call reads list only the latest.

use super::client::ChunkSink;
use crate::model::{
    Account, AccountSnapshot, Amount, Contact, PaymentMethod, RatePlan, RatePlanCharge,
    Subscription, SubscriptionStatus,
};
use crate::model::{ExportFile, ExportPart};
use csv::StringRecord;
use std::collections::{BTreeMap, HashMap, HashSet};

/// One exported object: its name, the fields read, and the field naming its parent with the
/// parent's object (whose file comes before its children's in [`OBJECTS`]).
pub struct Object {
    pub name: &'static str,
    fields: &'static [&'static str],
    parent: Option<(&'static str, &'static str)>,
}

impl Object {
    /// The `zoqlexport` query; the account's custom fields are added to its own.
    pub fn query(&self, custom_fields: &[String]) -> String {
        let mut fields: Vec<&str> = self.fields.to_vec();
        if self.name == "Account" {
            fields.extend(custom_fields.iter().map(String::as_str));
        }
        format!("select {} from {}", fields.join(", "), self.name)
    }
}

/// What the export reads, one query per object.
pub const OBJECTS: [Object; 7] = [
    Object {
        name: "Account",
        parent: None,
        fields: &[
            "Id",
            "AccountNumber",
            "Name",
            "Status",
            "Currency",
            "CrmId",
            "BillCycleDay",
            "PaymentTerm",
            "DefaultPaymentMethodId",
            "BillToContactId",
            "SoldToContactId",
        ],
    },
    Object {
        name: "Contact",
        parent: Some(("AccountId", "Account")),
        fields: &[
            "Id",
            "AccountId",
            "FirstName",
            "LastName",
            "WorkEmail",
            "PersonalEmail",
            "WorkPhone",
            "Address1",
            "Address2",
            "City",
            "State",
            "County",
            "PostalCode",
            "Country",
        ],
    },
    Object {
        name: "PaymentMethod",
        parent: Some(("AccountId", "Account")),
        fields: &[
            "Id",
            "AccountId",
            "Type",
            "PaymentMethodStatus",
            "CreditCardType",
            "CreditCardMaskNumber",
            "CreditCardExpirationMonth",
            "CreditCardExpirationYear",
            "CreditCardHolderName",
            "AchAccountNumberMask",
            "AchBankName",
            "AchAccountName",
        ],
    },
    Object {
        name: "Subscription",
        parent: Some(("AccountId", "Account")),
        fields: &[
            "Id",
            "AccountId",
            "Name",
            "Status",
            "Version",
            "TermType",
            "ContractEffectiveDate",
            "SubscriptionStartDate",
            "SubscriptionEndDate",
            "TermStartDate",
            "TermEndDate",
            "AutoRenew",
            "Currency",
            "Account.Currency",
        ],
    },
    Object {
        name: "RatePlan",
        parent: Some(("SubscriptionId", "Subscription")),
        fields: &[
            "Id",
            "SubscriptionId",
            "Name",
            "ProductRatePlanId",
            "Product.Id",
            "Product.Name",
            "Product.SKU",
        ],
    },
    Object {
        name: "RatePlanCharge",
        parent: Some(("RatePlanId", "RatePlan")),
        fields: &[
            "Id",
            "RatePlanId",
            "ChargeNumber",
            "Name",
            "ChargeType",
            "ChargeModel",
            "Quantity",
            "BillingPeriod",
            "EffectiveStartDate",
            "EffectiveEndDate",
            "ChargedThroughDate",
            "MRR",
            "TCV",
        ],
    },
    Object {
        name: "RatePlanChargeTier",
        parent: Some(("RatePlanChargeId", "RatePlanCharge")),
        fields: &["Id", "RatePlanChargeId", "Tier", "Price", "Currency"],
    },
];

/// One file: its rows, and where each `<Object>.<Field>` column is.
struct Table {
    object: String,
    columns: HashMap<String, usize>,
    rows: Vec<StringRecord>,
}

impl Table {
    fn new(object: &str) -> Self {
        Self {
            object: object.to_string(),
            columns: HashMap::new(),
            rows: Vec::new(),
        }
    }

    /// Where each column is: by its full name (`Product.Name`), and the table's own fields
    /// also by their short one (`Id`), so a lookup builds no string.
    fn set_header(&mut self, header: &StringRecord) {
        let own = format!("{}.", self.object);
        for (i, name) in header.iter().enumerate() {
            self.columns.insert(name.to_string(), i);
            if let Some(field) = name.strip_prefix(&own) {
                self.columns.insert(field.to_string(), i);
            }
        }
    }

    /// A field of a row (`Id` is the table's own, `Product.Name` a joined one); an empty cell
    /// is "not set", as in Zuora's other answers.
    fn text<'r>(&self, row: &'r StringRecord, field: &str) -> Option<&'r str> {
        let i = *self.columns.get(field)?;
        row.get(i).filter(|v| !v.is_empty())
    }

    fn owned(&self, row: &StringRecord, field: &str) -> Option<String> {
        self.text(row, field).map(str::to_string)
    }

    fn required(&self, row: &StringRecord, field: &str) -> Result<String, String> {
        self.owned(row, field)
            .ok_or_else(|| format!("a {} row without {field}", self.object))
    }

    fn number<T: std::str::FromStr>(&self, row: &StringRecord, field: &str) -> Option<T> {
        // Whole numbers may be written as decimals (`15.0`).
        let text = self.text(row, field)?;
        text.parse()
            .ok()
            .or_else(|| text.strip_suffix(".0").and_then(|t| t.parse().ok()))
    }

    fn amount(&self, row: &StringRecord, field: &str) -> Option<Amount> {
        self.owned(row, field).map(Amount)
    }

    fn flag(&self, row: &StringRecord, field: &str) -> Option<bool> {
        match self.text(row, field)?.to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }
}

fn table<'a>(tables: &'a [Table], object: &str) -> Result<&'a Table, String> {
    tables
        .iter()
        .find(|t| t.object == object)
        .ok_or_else(|| format!("the export has no {object} file"))
}

/// An export's files, read one after another in [`OBJECTS`]' order (parents first), into
/// the snapshots of the accounts one part holds. Of a split export only that part's rows are
/// kept: an account's when the part holds it, a child's when its parent was kept.
pub struct Assembly {
    part: ExportPart,
    tables: Vec<Table>,
    /// The ids of each object's kept rows (only when split).
    kept: HashMap<&'static str, HashSet<String>>,
}

impl Assembly {
    pub fn new(part: ExportPart) -> Self {
        Self {
            part,
            tables: Vec::new(),
            kept: HashMap::new(),
        }
    }

    /// The files to read, in the order they must be read; an object the export does not
    /// read is left out.
    pub fn in_order(files: &[ExportFile]) -> Vec<&ExportFile> {
        let position = |f: &&ExportFile| OBJECTS.iter().position(|o| o.name == f.object);
        let mut ordered: Vec<&ExportFile> =
            files.iter().filter(|f| position(f).is_some()).collect();
        ordered.sort_by_key(position);
        ordered
    }

    /// A reader for one object's file, keeping this part's rows.
    pub fn reader(&self, object: &str) -> Result<FileReader<'_>, String> {
        let object = OBJECTS
            .iter()
            .find(|o| o.name == object)
            .ok_or_else(|| format!("the export read no {object}"))?;
        let parents = match object.parent {
            Some((_, parent)) if !self.part.is_whole() => {
                Some(self.kept.get(parent).ok_or_else(|| {
                    format!("the {} file came before its {parent} file", object.name)
                })?)
            }
            _ => None,
        };
        Ok(FileReader {
            object,
            part: self.part,
            parents,
            table: Table::new(object.name),
            ids: HashSet::new(),
            latest: HashMap::new(),
            pending: Vec::new(),
            scanned: 0,
            in_quotes: false,
        })
    }

    /// Adds a file read whole.
    pub fn add(&mut self, read: ReadFile) {
        if !self.part.is_whole() {
            self.kept.insert(read.object, read.ids);
        }
        self.tables.push(read.table);
    }

    /// Each kept account's snapshot, in account number order.
    pub fn finish(self) -> Result<Vec<AccountSnapshot>, String> {
        snapshots(&self.tables)
    }
}

/// One object's file as read: its kept rows, and their ids (when split).
pub struct ReadFile {
    object: &'static str,
    table: Table,
    ids: HashSet<String>,
}

/// Reads one CSV file as it streams in: chunks are cut at the last record boundary (a line
/// end outside quotes; a quote inside a quoted field is doubled, so counting quotes finds the
/// boundaries) and each complete run of records is parsed by the csv crate.
pub struct FileReader<'a> {
    object: &'static Object,
    part: ExportPart,
    /// The parent rows kept (a split export's child file); none: every row is kept.
    parents: Option<&'a HashSet<String>>,
    table: Table,
    ids: HashSet<String>,
    /// Of a split export's subscriptions: each number's latest version, and whether it is kept.
    latest: HashMap<String, (u32, bool)>,
    /// Bytes after the last record boundary, and how far they were scanned.
    pending: Vec<u8>,
    scanned: usize,
    in_quotes: bool,
}

impl FileReader<'_> {
    pub fn done(mut self) -> ReadFile {
        if !self.latest.is_empty() {
            let rows = std::mem::take(&mut self.table.rows);
            let (table, latest) = (&self.table, &self.latest);
            let held: Vec<StringRecord> = rows
                .into_iter()
                .filter(|row| {
                    table
                        .text(row, "Name")
                        .and_then(|number| latest.get(number))
                        .is_none_or(|(_, kept)| *kept)
                })
                .collect();
            self.table.rows = held;
        }
        ReadFile {
            object: self.object.name,
            table: self.table,
            ids: self.ids,
        }
    }

    fn records(&mut self, bytes: &[u8]) -> Result<(), String> {
        let name = self.object.name;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(bytes);
        for record in reader.records() {
            let record = record.map_err(|e| format!("the {name} export: {e}"))?;
            if self.table.columns.is_empty() {
                self.table.set_header(&record);
            } else if self.keeps(&record)? {
                self.table.rows.push(record);
            }
        }
        Ok(())
    }

    /// Whether the row is this part's; its id is noted for its children's files.
    fn keeps(&mut self, row: &StringRecord) -> Result<bool, String> {
        if self.part.is_whole() {
            return Ok(true);
        }
        let kept = match (self.object.parent, self.parents) {
            (Some((field, _)), Some(parents)) => {
                parents.contains(self.table.text(row, field).unwrap_or_default())
            }
            _ => self.part.holds(&self.table.required(row, "Id")?),
        };
        if let (true, Some(id)) = (kept, self.table.text(row, "Id")) {
            self.ids.insert(id.to_string());
        }
        if self.object.name == "Subscription" {
            self.note_version(row, kept);
        }
        Ok(kept)
    }

    /// A subscription's versions can name different accounts (an owner transfer): only the
    /// latest one's account holds the subscription, so each number's latest version is noted
    /// whichever part its account is in, and `done` drops a number whose latest is not kept.
    fn note_version(&mut self, row: &StringRecord, kept: bool) {
        let (Some(number), version) = (
            self.table.text(row, "Name"),
            self.table.number::<u32>(row, "Version").unwrap_or(0),
        ) else {
            return;
        };
        match self.latest.get_mut(number) {
            Some(latest) if latest.0 >= version => {}
            Some(latest) => *latest = (version, kept),
            None => {
                self.latest.insert(number.to_string(), (version, kept));
            }
        }
    }
}

impl ChunkSink for FileReader<'_> {
    fn restart(&mut self) {
        self.table = Table::new(self.object.name);
        self.ids.clear();
        self.latest.clear();
        self.pending.clear();
        self.scanned = 0;
        self.in_quotes = false;
    }

    fn take(&mut self, chunk: &[u8]) -> Result<(), String> {
        self.pending.extend_from_slice(chunk);
        let mut boundary = None;
        for (i, &byte) in self.pending.iter().enumerate().skip(self.scanned) {
            match byte {
                b'"' => self.in_quotes = !self.in_quotes,
                b'\n' if !self.in_quotes => boundary = Some(i + 1),
                _ => {}
            }
        }
        self.scanned = self.pending.len();
        if let Some(end) = boundary {
            let rest = self.pending.split_off(end);
            let complete = std::mem::replace(&mut self.pending, rest);
            self.scanned -= end;
            self.records(&complete)?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), String> {
        if self.in_quotes {
            return Err(format!(
                "the {} export ends inside a quoted field",
                self.object.name
            ));
        }
        let last = std::mem::take(&mut self.pending);
        self.records(&last)?;
        if self.table.columns.is_empty() {
            return Err(format!("the {} export has no header", self.object.name));
        }
        Ok(())
    }
}

/// Every account's snapshot from the tables, in account number order.
fn snapshots(tables: &[Table]) -> Result<Vec<AccountSnapshot>, String> {
    let contacts = contacts(table(tables, "Contact")?)?;
    let prices = prices(table(tables, "RatePlanChargeTier")?)?;
    let charges = charges(table(tables, "RatePlanCharge")?, &prices)?;
    let rate_plans = rate_plans(table(tables, "RatePlan")?, charges)?;
    let mut subscriptions = subscriptions(table(tables, "Subscription")?, rate_plans)?;
    let mut methods = payment_methods(table(tables, "PaymentMethod")?)?;
    let accounts = table(tables, "Account")?;
    let mut out = Vec::with_capacity(accounts.rows.len());
    for row in &accounts.rows {
        let account = account(accounts, row)?;
        let default_id = account.default_payment_method_id.clone();
        let contact = |field: &str| {
            accounts
                .text(row, field)
                .and_then(|id| contacts.get(id).cloned())
        };
        let mut payment_methods = methods.remove(&account.id).unwrap_or_default();
        for pm in &mut payment_methods {
            pm.is_default = default_id.as_deref() == Some(pm.id.as_str());
        }
        out.push(AccountSnapshot {
            bill_to: contact("BillToContactId"),
            sold_to: contact("SoldToContactId"),
            payment_methods,
            subscriptions: subscriptions.remove(&account.id).unwrap_or_default(),
            account,
        });
    }
    out.sort_by(|a, b| a.account.account_number.cmp(&b.account.account_number));
    Ok(out)
}

fn account(t: &Table, row: &StringRecord) -> Result<Account, String> {
    let custom_fields: BTreeMap<String, serde_json::Value> = t
        .columns
        .iter()
        .filter_map(|(column, &i)| {
            let field = column.strip_prefix("Account.")?;
            let value = row.get(i).filter(|v| !v.is_empty())?;
            field
                .ends_with("__c")
                .then(|| (field.to_string(), serde_json::Value::String(value.into())))
        })
        .collect();
    Ok(Account {
        id: t.required(row, "Id")?,
        account_number: t.required(row, "AccountNumber")?,
        name: t.owned(row, "Name").unwrap_or_default(),
        status: t.owned(row, "Status").unwrap_or_default(),
        currency: t.owned(row, "Currency"),
        crm_id: t.owned(row, "CrmId"),
        bill_cycle_day: t.number(row, "BillCycleDay"),
        payment_term: t.owned(row, "PaymentTerm"),
        default_payment_method_id: t.owned(row, "DefaultPaymentMethodId"),
        custom_fields,
    })
}

fn contacts(t: &Table) -> Result<HashMap<String, Contact>, String> {
    let mut out = HashMap::new();
    for row in &t.rows {
        let contact = Contact {
            id: t.required(row, "Id")?,
            first_name: t.owned(row, "FirstName"),
            last_name: t.owned(row, "LastName"),
            work_email: t.owned(row, "WorkEmail"),
            personal_email: t.owned(row, "PersonalEmail"),
            work_phone: t.owned(row, "WorkPhone"),
            address1: t.owned(row, "Address1"),
            address2: t.owned(row, "Address2"),
            city: t.owned(row, "City"),
            state: t.owned(row, "State"),
            county: t.owned(row, "County"),
            zip_code: t.owned(row, "PostalCode"),
            country: t.owned(row, "Country"),
        };
        out.insert(contact.id.clone(), contact);
    }
    Ok(out)
}

/// Payment methods by account id.
fn payment_methods(t: &Table) -> Result<HashMap<String, Vec<PaymentMethod>>, String> {
    let mut out: HashMap<String, Vec<PaymentMethod>> = HashMap::new();
    for row in &t.rows {
        let account = t.required(row, "AccountId")?;
        out.entry(account).or_default().push(PaymentMethod {
            id: t.required(row, "Id")?,
            method_type: t.owned(row, "Type").unwrap_or_default(),
            is_default: false,
            status: t.owned(row, "PaymentMethodStatus"),
            card_type: t.owned(row, "CreditCardType"),
            masked_number: t
                .owned(row, "CreditCardMaskNumber")
                .or_else(|| t.owned(row, "AchAccountNumberMask")),
            expiration_month: t.number(row, "CreditCardExpirationMonth"),
            expiration_year: t.number(row, "CreditCardExpirationYear"),
            bank_name: t.owned(row, "AchBankName"),
            account_holder_name: t
                .owned(row, "CreditCardHolderName")
                .or_else(|| t.owned(row, "AchAccountName")),
        });
    }
    Ok(out)
}

/// A charge's first tier: its price and currency are the charge's.
struct Tier {
    number: u32,
    price: Option<Amount>,
    currency: Option<String>,
}

/// Each charge's price and currency: its first tier's (a flat or per-unit charge has one).
fn prices(t: &Table) -> Result<HashMap<String, Tier>, String> {
    let mut out: HashMap<String, Tier> = HashMap::new();
    for row in &t.rows {
        let charge = t.required(row, "RatePlanChargeId")?;
        let tier = Tier {
            number: t.number(row, "Tier").unwrap_or(1),
            price: t.amount(row, "Price"),
            currency: t.owned(row, "Currency"),
        };
        if out
            .get(&charge)
            .is_none_or(|first| tier.number < first.number)
        {
            out.insert(charge, tier);
        }
    }
    Ok(out)
}

/// Charges by rate plan id.
fn charges(
    t: &Table,
    prices: &HashMap<String, Tier>,
) -> Result<HashMap<String, Vec<RatePlanCharge>>, String> {
    let mut out: HashMap<String, Vec<RatePlanCharge>> = HashMap::new();
    for row in &t.rows {
        let id = t.required(row, "Id")?;
        let (price, currency) = prices
            .get(&id)
            .map(|tier| (tier.price.clone(), tier.currency.clone()))
            .unwrap_or_default();
        out.entry(t.required(row, "RatePlanId")?)
            .or_default()
            .push(RatePlanCharge {
                number: t.owned(row, "ChargeNumber"),
                name: t.owned(row, "Name"),
                charge_type: t.owned(row, "ChargeType"),
                model: t.owned(row, "ChargeModel"),
                price,
                quantity: t.amount(row, "Quantity"),
                currency,
                billing_period: t.owned(row, "BillingPeriod"),
                effective_start_date: t.owned(row, "EffectiveStartDate"),
                effective_end_date: t.owned(row, "EffectiveEndDate"),
                charged_through_date: t.owned(row, "ChargedThroughDate"),
                mrr: t.amount(row, "MRR"),
                tcv: t.amount(row, "TCV"),
                id,
            });
    }
    Ok(out)
}

/// Rate plans by subscription id.
fn rate_plans(
    t: &Table,
    mut charges: HashMap<String, Vec<RatePlanCharge>>,
) -> Result<HashMap<String, Vec<RatePlan>>, String> {
    let mut out: HashMap<String, Vec<RatePlan>> = HashMap::new();
    for row in &t.rows {
        let id = t.required(row, "Id")?;
        out.entry(t.required(row, "SubscriptionId")?)
            .or_default()
            .push(RatePlan {
                name: t.owned(row, "Name"),
                product_id: t.owned(row, "Product.Id"),
                product_name: t.owned(row, "Product.Name"),
                product_sku: t.owned(row, "Product.SKU"),
                product_rate_plan_id: t.owned(row, "ProductRatePlanId"),
                charges: charges.remove(&id).unwrap_or_default(),
                id,
            });
    }
    Ok(out)
}

/// The latest version of each subscription, by account id.
fn subscriptions(
    t: &Table,
    mut rate_plans: HashMap<String, Vec<RatePlan>>,
) -> Result<HashMap<String, Vec<Subscription>>, String> {
    let mut latest: HashMap<String, (u32, &StringRecord)> = HashMap::new();
    for row in &t.rows {
        let number = t.required(row, "Name")?;
        let version = t.number(row, "Version").unwrap_or(0);
        if latest.get(&number).is_none_or(|(v, _)| *v < version) {
            latest.insert(number, (version, row));
        }
    }
    let mut out: HashMap<String, Vec<Subscription>> = HashMap::new();
    for (number, (_, row)) in latest {
        let id = t.required(row, "Id")?;
        let account_id = t.required(row, "AccountId")?;
        out.entry(account_id.clone())
            .or_default()
            .push(Subscription {
                status: SubscriptionStatus::parse(t.text(row, "Status").unwrap_or_default()),
                number,
                account_id: Some(account_id),
                account_number: None,
                version: t.number(row, "Version"),
                term_type: t.owned(row, "TermType"),
                contract_effective_date: t.owned(row, "ContractEffectiveDate"),
                subscription_start_date: t.owned(row, "SubscriptionStartDate"),
                subscription_end_date: t.owned(row, "SubscriptionEndDate"),
                term_start_date: t.owned(row, "TermStartDate"),
                term_end_date: t.owned(row, "TermEndDate"),
                auto_renew: t.flag(row, "AutoRenew"),
                // The subscription's own currency, else its account's (as the v1 read gives it).
                currency: t
                    .owned(row, "Currency")
                    .or_else(|| t.owned(row, "Account.Currency")),
                rate_plans: rate_plans.remove(&id).unwrap_or_default(),
                id,
            });
    }
    for subs in out.values_mut() {
        subs.sort_by(|a, b| a.number.cmp(&b.number));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(object: &str, csv: &str) -> (String, Vec<u8>) {
        (object.to_string(), csv.as_bytes().to_vec())
    }

    /// The files streamed in as the client does, `chunk` bytes at a time.
    fn assemble_in(
        files: &[(String, Vec<u8>)],
        part: ExportPart,
        chunk: usize,
    ) -> Result<Vec<AccountSnapshot>, String> {
        let listed: Vec<ExportFile> = files
            .iter()
            .map(|(object, _)| ExportFile {
                object: object.clone(),
                file_id: object.clone(),
                records: 0,
            })
            .collect();
        let mut assembly = Assembly::new(part);
        for listed in Assembly::in_order(&listed) {
            let (_, bytes) = files.iter().find(|(o, _)| *o == listed.object).unwrap();
            let mut reader = assembly.reader(&listed.object)?;
            reader.restart();
            for piece in bytes.chunks(chunk) {
                reader.take(piece)?;
            }
            reader.finish()?;
            let read = reader.done();
            assembly.add(read);
        }
        assembly.finish()
    }

    fn assemble(files: &[(String, Vec<u8>)]) -> Result<Vec<AccountSnapshot>, String> {
        assemble_in(files, ExportPart::WHOLE, usize::MAX)
    }

    /// `files()` with more accounts, each with a contact, a subscription, a rate plan, a
    /// charge and its tier, and a name that spans two lines.
    fn many_files(accounts: usize) -> Vec<(String, Vec<u8>)> {
        let mut out = files();
        let mut add = |object: &str, line: String| {
            out.iter_mut()
                .find(|(o, _)| o == object)
                .unwrap()
                .1
                .extend(line.into_bytes());
        };
        for i in 0..accounts {
            add(
                "Account",
                format!("x{i},X{i:04},\"Line one\nline {i}\",Active,,,k{i},k{i},\n"),
            );
            add("Contact", format!("k{i},x{i},First {i},City {i}\n"));
            add(
                "PaymentMethod",
                format!("m{i},x{i},CreditCard,****{i:04}\n"),
            );
            add("Subscription", format!("t{i},x{i},X-S{i},Active,1,true\n"));
            add("RatePlan", format!("r{i},t{i},Plan {i},Widget,SKU-{i}\n"));
            add("RatePlanCharge", format!("h{i},r{i},Charge {i},{i},1.5\n"));
            add("RatePlanChargeTier", format!("h{i},1,{i}.25,EUR\n"));
        }
        out
    }

    #[test]
    fn a_file_read_in_any_chunks_gives_the_same_snapshots() {
        let files = many_files(20);
        let whole = assemble(&files).unwrap();
        assert_eq!(whole.len(), 22);
        assert_eq!(whole[2].account.name, "Line one\nline 0");
        for chunk in [1, 2, 7, 64, 1_000] {
            assert_eq!(
                assemble_in(&files, ExportPart::WHOLE, chunk).unwrap(),
                whole,
                "{chunk}"
            );
        }
    }

    #[test]
    fn the_parts_of_an_export_hold_each_account_once_with_all_its_records() {
        let files = many_files(60);
        let whole = assemble(&files).unwrap();
        let mut joined = Vec::new();
        for part in ExportPart::all(3) {
            let held = assemble_in(&files, part, 5).unwrap();
            assert!(held.len() < whole.len(), "{part}: {}", held.len());
            assert!(held.iter().all(|s| part.holds(&s.account.id)), "{part}");
            joined.extend(held);
        }
        joined.sort_by(|a, b| a.account.account_number.cmp(&b.account.account_number));
        assert_eq!(joined, whole);
    }

    /// A subscription transferred from a1 to a2 (version 1 on a1, version 2 on a2), with a1
    /// and a2 in different parts: only a2's part holds it, at its latest version, as a read of
    /// the whole export does.
    #[test]
    fn a_transferred_subscription_is_held_by_its_latest_owners_part_only() {
        let mut files = files();
        files[3]
            .1
            .extend(b"t1v1,a1,T-S1,Active,1,true\nt1v2,a2,T-S1,Active,2,true\n");
        files[4]
            .1
            .extend(b"tp1,t1v1,Old plan,Widget,SKU-1\ntp2,t1v2,New plan,Widget,SKU-1\n");
        let part_of = |of: u32, id: &str| ExportPart::all(of).find(|p| p.holds(id));
        let of = (2..64)
            .find(|&of| part_of(of, "a1") != part_of(of, "a2"))
            .unwrap();
        let whole = assemble(&files).unwrap();
        let numbers = |snapshots: &[AccountSnapshot], id: &str| -> Vec<(String, String)> {
            snapshots
                .iter()
                .filter(|s| s.account.id == id)
                .flat_map(|s| {
                    s.subscriptions
                        .iter()
                        .map(|x| (x.number.clone(), x.id.clone()))
                })
                .collect()
        };
        assert_eq!(
            numbers(&whole, "a2"),
            vec![("T-S1".to_string(), "t1v2".to_string())]
        );
        assert!(!numbers(&whole, "a1").iter().any(|(n, _)| n == "T-S1"));
        for part in ExportPart::all(of) {
            let held = assemble_in(&files, part, 3).unwrap();
            for id in ["a1", "a2"].into_iter().filter(|id| part.holds(id)) {
                assert_eq!(
                    numbers(&held, id),
                    numbers(&whole, id),
                    "{id} in part {part}"
                );
            }
        }
    }

    #[test]
    fn a_file_cut_inside_a_quoted_field_is_refused() {
        let mut cut = files();
        cut[0] = file(
            "Account",
            "Account.Id,Account.AccountNumber,Account.Name\na1,A001,\"Acme\n",
        );
        let error = assemble_in(&cut, ExportPart::WHOLE, 4).unwrap_err();
        assert!(error.contains("inside a quoted field"), "{error}");
    }

    fn files() -> Vec<(String, Vec<u8>)> {
        vec![
            file(
                "Account",
                "Account.Id,Account.AccountNumber,Account.Name,Account.Status,Account.BillCycleDay,Account.DefaultPaymentMethodId,Account.BillToContactId,Account.SoldToContactId,Account.Login__c\n\
                 a1,A001,\"Acme, \"\"Inc\"\"\",Active,15.0,pm2,c1,c1,ada\n\
                 a2,A002,Empty,Active,,,,,\n",
            ),
            file(
                "Contact",
                "Contact.Id,Contact.AccountId,Contact.FirstName,Contact.City\nc1,a1,Ada,London\n",
            ),
            file(
                "PaymentMethod",
                "PaymentMethod.Id,PaymentMethod.AccountId,PaymentMethod.Type,PaymentMethod.CreditCardMaskNumber\npm1,a1,CreditCard,************1111\npm2,a1,ACH,\n",
            ),
            file(
                "Subscription",
                "Subscription.Id,Subscription.AccountId,Subscription.Name,Subscription.Status,Subscription.Version,Subscription.AutoRenew\n\
                 s1v1,a1,A-S1,Expired,1,false\ns1v2,a1,A-S1,Active,2,true\n",
            ),
            file(
                "RatePlan",
                "RatePlan.Id,RatePlan.SubscriptionId,RatePlan.Name,Product.Name,Product.SKU\nrp1,s1v2,Gold,Widget,SKU-1\nrp0,s1v1,Old,Widget,SKU-1\n",
            ),
            file(
                "RatePlanCharge",
                "RatePlanCharge.Id,RatePlanCharge.RatePlanId,RatePlanCharge.Name,RatePlanCharge.Quantity,RatePlanCharge.MRR\nch1,rp1,Monthly,1,8.333333\n",
            ),
            file(
                "RatePlanChargeTier",
                "RatePlanChargeTier.RatePlanChargeId,RatePlanChargeTier.Tier,RatePlanChargeTier.Price,RatePlanChargeTier.Currency\nch1,2,5,USD\nch1,1,100,USD\n",
            ),
        ]
    }

    #[test]
    fn each_account_gets_its_contacts_methods_and_latest_subscriptions() {
        let snapshots = assemble(&files()).unwrap();
        assert_eq!(snapshots.len(), 2);
        let acme = &snapshots[0];
        assert_eq!(acme.account.name, "Acme, \"Inc\"");
        assert_eq!(acme.account.bill_cycle_day, Some(15));
        assert_eq!(acme.account.custom_fields["Login__c"], "ada");
        assert_eq!(
            acme.bill_to.as_ref().unwrap().city.as_deref(),
            Some("London")
        );
        assert_eq!(acme.payment_methods.len(), 2);
        assert!(
            acme.payment_methods
                .iter()
                .any(|p| p.id == "pm2" && p.is_default)
        );
        assert!(
            acme.payment_methods
                .iter()
                .any(|p| p.id == "pm1" && !p.is_default)
        );
        // Only the latest version, with its own rate plans; the first tier's price.
        assert_eq!(acme.subscriptions.len(), 1);
        let sub = &acme.subscriptions[0];
        assert_eq!(
            (sub.id.as_str(), sub.status.clone()),
            ("s1v2", SubscriptionStatus::Active)
        );
        assert_eq!(sub.auto_renew, Some(true));
        assert_eq!(sub.rate_plans.len(), 1);
        assert_eq!(sub.rate_plans[0].product_sku.as_deref(), Some("SKU-1"));
        let charge = &sub.rate_plans[0].charges[0];
        assert_eq!(charge.price, Some(Amount("100".into())));
        assert_eq!(charge.currency.as_deref(), Some("USD"));
        assert_eq!(charge.mrr, Some(Amount("8.333333".into())));
        let empty = &snapshots[1];
        assert!(empty.bill_to.is_none() && empty.payment_methods.is_empty());
        assert!(empty.account.custom_fields.is_empty());
    }

    #[test]
    fn a_missing_file_or_a_row_without_its_id_is_refused() {
        let mut missing = files();
        missing.retain(|(o, _)| o != "RatePlanChargeTier");
        assert!(
            assemble(&missing)
                .unwrap_err()
                .contains("RatePlanChargeTier")
        );
        let mut broken = files();
        broken[1] = file("Contact", "Contact.Id,Contact.AccountId\n,a1\n");
        assert!(assemble(&broken).unwrap_err().contains("without Id"));
    }

    #[test]
    fn the_account_query_adds_its_custom_fields() {
        let query = OBJECTS[0].query(&["Login__c".into()]);
        assert!(query.starts_with("select Id, AccountNumber"), "{query}");
        assert!(query.ends_with(", Login__c from Account"), "{query}");
        assert!(!OBJECTS[1].query(&["Login__c".into()]).contains("Login__c"));
    }
}
