//! Salesforce as a sync target: the Zuora 360 objects, how mirror records map onto them, what
//! was last pushed per record, and the diff from the mirror to the pushes that bring
//! Salesforce in line (docs/ARCHITECTURE.md, "The Salesforce push"). Pure data: the port and
//! the push service do the I/O.

use crate::model::{
    Account, Amount, Contact, EpochMillis, PaymentMethod, RatePlan, RatePlanCharge, RecordKind,
    StoredAccount, Subscription,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// The Zuora 360 objects this product writes, parents first: the order of upserts (and,
/// reversed, of deletes), so a child's nested reference always finds its parent.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::EnumString,
    strum::IntoStaticStr,
    utoipa::ToSchema,
)]
pub enum SfObject {
    #[serde(rename = "Zuora__CustomerAccount__c")]
    #[strum(serialize = "Zuora__CustomerAccount__c")]
    CustomerAccount,
    #[serde(rename = "Zuora__Subscription__c")]
    #[strum(serialize = "Zuora__Subscription__c")]
    Subscription,
    #[serde(rename = "Zuora__SubscriptionRatePlan__c")]
    #[strum(serialize = "Zuora__SubscriptionRatePlan__c")]
    SubscriptionRatePlan,
    #[serde(rename = "Zuora__SubscriptionProductCharge__c")]
    #[strum(serialize = "Zuora__SubscriptionProductCharge__c")]
    SubscriptionProductCharge,
    #[serde(rename = "Zuora__PaymentMethod__c")]
    #[strum(serialize = "Zuora__PaymentMethod__c")]
    PaymentMethod,
}

/// The external-id field every Zuora 360 object is upserted by (unless keyed otherwise).
pub const EXTERNAL_ID: &str = "Zuora__External_Id__c";
/// The subscription's key field when subscriptions are keyed by number.
pub const SUBSCRIPTION_NUMBER: &str = "Zuora__SubscriptionNumber__c";

impl SfObject {
    pub const ALL: [SfObject; 5] = [
        Self::CustomerAccount,
        Self::Subscription,
        Self::SubscriptionRatePlan,
        Self::SubscriptionProductCharge,
        Self::PaymentMethod,
    ];

    pub fn api_name(self) -> &'static str {
        self.into()
    }

    pub fn parse(raw: &str) -> Option<Self> {
        raw.parse().ok()
    }

    /// The object a record of this one references, which must be enabled too.
    pub fn parent(self) -> Option<Self> {
        match self {
            Self::CustomerAccount => None,
            Self::Subscription | Self::PaymentMethod => Some(Self::CustomerAccount),
            Self::SubscriptionRatePlan | Self::SubscriptionProductCharge => {
                Some(Self::Subscription)
            }
        }
    }
}

/// How subscriptions are keyed in Salesforce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionKeying {
    /// By subscription version id (Zuora 360's default): an amendment makes a new version, so
    /// a new record replaces the old one.
    #[default]
    VersionId,
    /// By subscription number: one record per subscription, updated in place.
    Number,
}

/// Per-entity Salesforce settings (the connection itself is configuration and secrets).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct SalesforceSettings {
    /// Push the mirror to Salesforce (needs a configured connection).
    pub enabled: bool,
    /// The objects written; a child needs its parent (subscriptions and payment methods need
    /// customer accounts, rate plans and charges need subscriptions).
    pub objects: Vec<SfObject>,
    pub subscription_key: SubscriptionKeying,
    /// The share of the org's daily API allocation (`Sforce-Limit-Info`) pushes may use; at it,
    /// pushes pause until usage falls below it.
    #[schema(minimum = 1, maximum = 100)]
    pub max_api_share_percent: u32,
}

pub const MAX_API_SHARE_PERCENT: (u32, u32) = (1, 100);

impl Default for SalesforceSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            objects: SfObject::ALL.to_vec(),
            subscription_key: SubscriptionKeying::VersionId,
            max_api_share_percent: 50,
        }
    }
}

impl SalesforceSettings {
    /// Whether Salesforce must hear about every account again after a change from `before`:
    /// pushes were turned on, or what they write changed (the objects, the subscription
    /// keying) — accounts no commit touches would otherwise never be pushed.
    pub fn needs_full_push(&self, before: &SalesforceSettings) -> bool {
        self.enabled
            && (!before.enabled
                || before.objects != self.objects
                || before.subscription_key != self.subscription_key)
    }

    /// The first enabled object whose parent is not enabled, if any.
    pub fn orphan(&self) -> Option<SfObject> {
        self.objects
            .iter()
            .copied()
            .find(|o| o.parent().is_some_and(|p| !self.objects.contains(&p)))
    }

    fn writes(&self, object: SfObject) -> bool {
        self.objects.contains(&object)
    }
}

/// One record as Salesforce should hold it.
#[derive(Debug, Clone, PartialEq)]
pub struct SfRecord {
    pub object: SfObject,
    /// The external-id field it is upserted by, and its value.
    pub key_field: &'static str,
    pub key: String,
    /// The fields sent (`attributes` is added on the wire), parents as nested `…__r` keys.
    pub fields: Map<String, Value>,
    /// The pushed-state key of the parent record, if it has one.
    pub parent: Option<String>,
    /// Hash of `fields`: equal to what was pushed means nothing to send.
    pub hash: String,
}

impl SfRecord {
    fn new(
        object: SfObject,
        key_field: &'static str,
        key: &str,
        fields: Map<String, Value>,
        parent: Option<String>,
    ) -> Self {
        let text = serde_json::to_string(&fields).expect("JSON values always serialise");
        let hash = hex::encode(&Sha256::digest(text.as_bytes())[..8]);
        Self {
            object,
            key_field,
            key: key.to_string(),
            fields,
            parent,
            hash,
        }
    }

    /// Where this record's pushed state is kept: object, key field and key, so a record keyed
    /// another way (a keying change) is a different record.
    pub fn state_key(&self) -> String {
        state_key(self.object, self.key_field, &self.key)
    }

    /// The record as the collections upsert takes it.
    pub fn wire(&self) -> Value {
        let mut body = Map::new();
        body.insert(
            "attributes".into(),
            json!({ "type": self.object.api_name() }),
        );
        body.extend(self.fields.clone());
        Value::Object(body)
    }
}

pub fn state_key(object: SfObject, key_field: &str, key: &str) -> String {
    format!("{}/{key_field}/{key}", object.api_name())
}

/// The parts of a pushed-state key, if it is one.
pub fn parse_state_key(text: &str) -> Option<(SfObject, &str, &str)> {
    let mut parts = text.splitn(3, '/');
    let object = SfObject::parse(parts.next()?)?;
    Some((object, parts.next()?, parts.next()?))
}

/// What Salesforce was last told about one record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pushed {
    /// The hash of the fields last sent.
    #[serde(rename = "h")]
    pub hash: String,
    /// The Salesforce record id, once known (needed to delete it).
    #[serde(rename = "i", default, skip_serializing_if = "Option::is_none")]
    pub sf_id: Option<String>,
    /// Salesforce refused these fields for good: not sent again until they change or an
    /// operator retries (the failure list has why).
    #[serde(rename = "f", default, skip_serializing_if = "std::ops::Not::not")]
    pub failed: bool,
}

impl Pushed {
    /// A record a push was about to create when it recorded its intent: it may exist in
    /// Salesforce (its id unknown), and matches no fields, so a later push sends it again or,
    /// if the mirror no longer has it, looks it up and deletes it.
    pub fn intent() -> Self {
        Self {
            hash: String::new(),
            sf_id: None,
            failed: false,
        }
    }
}

/// The pushed state of one account: pushed-state key → what was pushed.
pub type PushedRecords = BTreeMap<String, Pushed>;

/// The records the mirror says Salesforce should hold for one account. Zuora 360's rule: an
/// account without a CRM account id is not synced (so its records, if pushed before, go).
pub fn desired_records(stored: &StoredAccount, settings: &SalesforceSettings) -> Vec<SfRecord> {
    let Some(account) = read::<Account>(stored, "CUSTOMER") else {
        return Vec::new();
    };
    let Some(crm_id) = account.crm_id.clone().filter(|c| !c.trim().is_empty()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let account_ref = json!({ EXTERNAL_ID: account.id });
    let account_key = state_key(SfObject::CustomerAccount, EXTERNAL_ID, &account.id);
    let methods: Vec<PaymentMethod> = records_of(stored, RecordKind::PaymentMethod);
    if settings.writes(SfObject::CustomerAccount) {
        let bill_to = read::<Contact>(stored, "ADDR#BILL_TO");
        let sold_to = read::<Contact>(stored, "ADDR#SOLD_TO");
        let default_pm = methods.iter().find(|m| m.is_default);
        let fields = customer_account(&account, &crm_id, bill_to, sold_to, default_pm);
        out.push(SfRecord::new(
            SfObject::CustomerAccount,
            EXTERNAL_ID,
            &account.id,
            fields,
            None,
        ));
    }
    let subs: Vec<Subscription> = records_of(stored, RecordKind::Subscription);
    for sub in &subs {
        subscription_records(sub, &account_ref, &account_key, &crm_id, settings, &mut out);
    }
    if settings.writes(SfObject::PaymentMethod) {
        for pm in &methods {
            let mut fields = payment_method(pm);
            fields.insert("Zuora__BillingAccount__r".into(), account_ref.clone());
            out.push(SfRecord::new(
                SfObject::PaymentMethod,
                EXTERNAL_ID,
                &pm.id,
                fields,
                Some(account_key.clone()),
            ));
        }
    }
    out
}

fn subscription_records(
    sub: &Subscription,
    account_ref: &Value,
    account_key: &str,
    crm_id: &str,
    settings: &SalesforceSettings,
    out: &mut Vec<SfRecord>,
) {
    if !settings.writes(SfObject::Subscription) {
        return;
    }
    let (key_field, key) = match settings.subscription_key {
        SubscriptionKeying::VersionId => (EXTERNAL_ID, sub.id.as_str()),
        SubscriptionKeying::Number => (SUBSCRIPTION_NUMBER, sub.number.as_str()),
    };
    let sub_ref = json!({ key_field: key });
    let sub_key = state_key(SfObject::Subscription, key_field, key);
    let mut fields = subscription(sub, crm_id);
    fields.insert("Zuora__CustomerAccount__r".into(), account_ref.clone());
    out.push(SfRecord::new(
        SfObject::Subscription,
        key_field,
        key,
        fields,
        Some(account_key.to_string()),
    ));
    for rp in &sub.rate_plans {
        if settings.writes(SfObject::SubscriptionRatePlan) {
            let mut fields = rate_plan(rp);
            fields.insert("Zuora__Subscription__r".into(), sub_ref.clone());
            out.push(SfRecord::new(
                SfObject::SubscriptionRatePlan,
                EXTERNAL_ID,
                &rp.id,
                fields,
                Some(sub_key.clone()),
            ));
        }
        if settings.writes(SfObject::SubscriptionProductCharge) {
            // A charge names its rate plan too, when rate plans are written: that is then the
            // parent it waits for (the rate plan waits for the subscription).
            let with_rate_plan = settings.writes(SfObject::SubscriptionRatePlan);
            let parent = if with_rate_plan {
                state_key(SfObject::SubscriptionRatePlan, EXTERNAL_ID, &rp.id)
            } else {
                sub_key.clone()
            };
            for charge in &rp.charges {
                let mut fields = product_charge(charge, rp, crm_id);
                fields.insert("Zuora__Subscription__r".into(), sub_ref.clone());
                if with_rate_plan {
                    fields.insert(
                        "Zuora__SubscriptionRatePlan__r".into(),
                        json!({ EXTERNAL_ID: rp.id }),
                    );
                }
                out.push(SfRecord::new(
                    SfObject::SubscriptionProductCharge,
                    EXTERNAL_ID,
                    &charge.id,
                    fields,
                    Some(parent.clone()),
                ));
            }
        }
    }
}

/// The key of a mirror record [`desired_records`] reads but cannot parse (written by another
/// version, say), if any: a push must not take such a record for absent — it would delete what
/// Salesforce holds of it — so the account waits instead.
pub fn unreadable_record(stored: &StoredAccount) -> Option<String> {
    let parses = |kind: RecordKind, data: &str| match kind {
        RecordKind::Customer => serde_json::from_str::<Account>(data).is_ok(),
        RecordKind::Subscription => serde_json::from_str::<Subscription>(data).is_ok(),
        RecordKind::PaymentMethod => serde_json::from_str::<PaymentMethod>(data).is_ok(),
        RecordKind::Address => serde_json::from_str::<Contact>(data).is_ok(),
        RecordKind::Product => true,
    };
    stored
        .records
        .iter()
        .find(|(_, record)| !parses(record.kind, &record.data))
        .map(|(sk, _)| sk.clone())
}

fn read<T: for<'de> Deserialize<'de>>(stored: &StoredAccount, sk: &str) -> Option<T> {
    let record = stored.records.get(sk)?;
    serde_json::from_str(&record.data).ok()
}

fn records_of<T: for<'de> Deserialize<'de>>(stored: &StoredAccount, kind: RecordKind) -> Vec<T> {
    stored
        .records
        .values()
        .filter(|r| r.kind == kind)
        .filter_map(|r| serde_json::from_str(&r.data).ok())
        .collect()
}

/// Sets `field` when the value is present (Salesforce keeps what an upsert leaves out, so a
/// value Zuora cleared is sent as `null`).
fn put(fields: &mut Map<String, Value>, field: &str, value: impl Into<Value>) {
    fields.insert(field.to_string(), value.into());
}

fn text(value: &Option<String>) -> Value {
    value.clone().map_or(Value::Null, Value::String)
}

/// Amounts go as JSON numbers (Salesforce's number and currency fields); Zuora's decimal text
/// parses exactly for the 18 digits those fields hold.
fn amount(value: &Option<Amount>) -> Value {
    value
        .as_ref()
        .and_then(|a| a.0.parse::<f64>().ok())
        .and_then(serde_json::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

fn customer_account(
    account: &Account,
    crm_id: &str,
    bill_to: Option<Contact>,
    sold_to: Option<Contact>,
    default_pm: Option<&PaymentMethod>,
) -> Map<String, Value> {
    let mut f = Map::new();
    put(&mut f, EXTERNAL_ID, account.id.clone());
    put(&mut f, "Zuora__Zuora_Id__c", account.id.clone());
    put(&mut f, "Name", account.name.clone());
    put(
        &mut f,
        "Zuora__AccountNumber__c",
        account.account_number.clone(),
    );
    put(&mut f, "Zuora__Status__c", account.status.clone());
    put(&mut f, "Zuora__Currency__c", text(&account.currency));
    put(
        &mut f,
        "Zuora__BillCycleDay__c",
        account
            .bill_cycle_day
            .map_or(Value::Null, |d| d.to_string().into()),
    );
    put(&mut f, "Zuora__PaymentTerm__c", text(&account.payment_term));
    put(&mut f, "Zuora__Account__c", crm_id.to_string());
    contact_fields(&mut f, "BillTo", bill_to.as_ref());
    contact_fields(&mut f, "SoldTo", sold_to.as_ref());
    put(
        &mut f,
        "Zuora__PaymentMethod_Type__c",
        default_pm.map_or(Value::Null, |m| m.method_type.clone().into()),
    );
    put(
        &mut f,
        "Zuora__CreditCardType__c",
        text(&default_pm.and_then(|m| m.card_type.clone())),
    );
    put(
        &mut f,
        "Zuora__CreditCard_Number__c",
        text(&default_pm.and_then(|m| m.masked_number.clone())),
    );
    put(
        &mut f,
        "Zuora__CreditCard_Expiration__c",
        text(&default_pm.and_then(expiration)),
    );
    f
}

fn expiration(pm: &PaymentMethod) -> Option<String> {
    Some(format!(
        "{:02}/{}",
        pm.expiration_month?, pm.expiration_year?
    ))
}

/// `Zuora__BillTo…__c` / `Zuora__SoldTo…__c`; every field is sent, `null` when the contact
/// has none (or there is no contact), so a cleared value is cleared in Salesforce too.
fn contact_fields(f: &mut Map<String, Value>, role: &str, contact: Option<&Contact>) {
    let c = contact.cloned().unwrap_or_default();
    let name = [c.first_name.as_deref(), c.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let fields: [(&str, Value); 10] = [
        ("Id", contact.map_or(Value::Null, |c| c.id.clone().into())),
        (
            "Name",
            if name.is_empty() {
                Value::Null
            } else {
                name.into()
            },
        ),
        ("WorkEmail", text(&c.work_email)),
        ("WorkPhone", text(&c.work_phone)),
        ("Address1", text(&c.address1)),
        ("Address2", text(&c.address2)),
        ("City", text(&c.city)),
        ("State", text(&c.state)),
        ("PostalCode", text(&c.zip_code)),
        ("Country", text(&c.country)),
    ];
    for (suffix, value) in fields {
        put(f, &format!("Zuora__{role}{suffix}__c"), value);
    }
}

fn subscription(sub: &Subscription, crm_id: &str) -> Map<String, Value> {
    let mut f = Map::new();
    put(&mut f, EXTERNAL_ID, sub.id.clone());
    put(&mut f, "Zuora__Zuora_Id__c", sub.id.clone());
    put(&mut f, "Name", sub.number.clone());
    put(&mut f, SUBSCRIPTION_NUMBER, sub.number.clone());
    put(&mut f, "Zuora__Status__c", sub.status.as_str().to_string());
    put(
        &mut f,
        "Zuora__Version__c",
        sub.version.map_or(Value::Null, Value::from),
    );
    put(
        &mut f,
        "Zuora__AutoRenew__c",
        sub.auto_renew.map_or(Value::Null, Value::from),
    );
    put(&mut f, "Zuora__TermSettingType__c", text(&sub.term_type));
    put(
        &mut f,
        "Zuora__ContractEffectiveDate__c",
        text(&sub.contract_effective_date),
    );
    put(
        &mut f,
        "Zuora__SubscriptionStartDate__c",
        text(&sub.subscription_start_date),
    );
    put(
        &mut f,
        "Zuora__SubscriptionEndDate__c",
        text(&sub.subscription_end_date),
    );
    put(
        &mut f,
        "Zuora__TermStartDate__c",
        text(&sub.term_start_date),
    );
    put(&mut f, "Zuora__TermEndDate__c", text(&sub.term_end_date));
    put(&mut f, "Zuora__Account__c", crm_id.to_string());
    f
}

fn rate_plan(rp: &RatePlan) -> Map<String, Value> {
    let mut f = Map::new();
    put(&mut f, EXTERNAL_ID, rp.id.clone());
    put(&mut f, "Name", text(&rp.name));
    put(
        &mut f,
        "Zuora__ProductRatePlanId__c",
        text(&rp.product_rate_plan_id),
    );
    put(&mut f, "Zuora__ProductName__c", text(&rp.product_name));
    put(&mut f, "Zuora__ProductSKU__c", text(&rp.product_sku));
    f
}

fn product_charge(charge: &RatePlanCharge, rp: &RatePlan, crm_id: &str) -> Map<String, Value> {
    let mut f = Map::new();
    put(&mut f, EXTERNAL_ID, charge.id.clone());
    put(&mut f, "Zuora__Zuora_Id__c", charge.id.clone());
    put(&mut f, "Name", text(&charge.name));
    put(&mut f, "Zuora__ChargeNumber__c", text(&charge.number));
    put(&mut f, "Zuora__Type__c", text(&charge.charge_type));
    put(&mut f, "Zuora__Model__c", text(&charge.model));
    put(&mut f, "Zuora__Price__c", amount(&charge.price));
    put(&mut f, "Zuora__Quantity__c", amount(&charge.quantity));
    put(
        &mut f,
        "Zuora__BillingPeriod__c",
        text(&charge.billing_period),
    );
    put(
        &mut f,
        "Zuora__EffectiveStartDate__c",
        text(&charge.effective_start_date),
    );
    put(
        &mut f,
        "Zuora__EffectiveEndDate__c",
        text(&charge.effective_end_date),
    );
    put(
        &mut f,
        "Zuora__ChargedThroughDate__c",
        text(&charge.charged_through_date),
    );
    put(
        &mut f,
        "Zuora__MonthlyRecurringRevenue__c",
        amount(&charge.mrr),
    );
    put(&mut f, "Zuora__TotalContractValue__c", amount(&charge.tcv));
    put(&mut f, "Zuora__ProductName__c", text(&rp.product_name));
    put(&mut f, "Zuora__ProductSKU__c", text(&rp.product_sku));
    put(&mut f, "Zuora__RatePlanId__c", rp.id.clone());
    put(&mut f, "Zuora__RatePlanName__c", text(&rp.name));
    put(&mut f, "Zuora__Account__c", crm_id.to_string());
    f
}

fn payment_method(pm: &PaymentMethod) -> Map<String, Value> {
    let mut f = Map::new();
    put(&mut f, EXTERNAL_ID, pm.id.clone());
    put(&mut f, "Name", pm.id.clone());
    put(&mut f, "Zuora__Type__c", pm.method_type.clone());
    put(&mut f, "Zuora__DefaultPaymentMethod__c", pm.is_default);
    put(&mut f, "Zuora__PaymentMethodStatus__c", text(&pm.status));
    put(&mut f, "Zuora__CreditCardType__c", text(&pm.card_type));
    put(
        &mut f,
        "Zuora__CreditCardMaskNumber__c",
        text(&pm.masked_number),
    );
    put(
        &mut f,
        "Zuora__CreditCardExpirationMonth__c",
        pm.expiration_month.map_or(Value::Null, Value::from),
    );
    put(
        &mut f,
        "Zuora__CreditCardExpirationYear__c",
        pm.expiration_year.map_or(Value::Null, Value::from),
    );
    put(&mut f, "Zuora__BankName__c", text(&pm.bank_name));
    put(
        &mut f,
        "Zuora__AccountHolderName__c",
        text(&pm.account_holder_name),
    );
    f
}

/// What one account's push sends: records to upsert (parents first) and pushed records the
/// mirror no longer has, to delete (children first).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PushPlan {
    pub upserts: Vec<SfRecord>,
    /// (pushed-state key, Salesforce id if known).
    pub deletes: Vec<(String, Option<String>)>,
    pub unchanged: u32,
}

/// The difference between what the mirror says and what Salesforce was told. A record that
/// failed for good with these very fields waits for a change or an operator's retry
/// (`retry_failed`), so a refused record does not cost a call on every push.
pub fn plan_push(desired: Vec<SfRecord>, pushed: &PushedRecords, retry_failed: bool) -> PushPlan {
    let mut plan = PushPlan::default();
    let mut wanted = BTreeSet::new();
    for record in desired {
        let key = record.state_key();
        wanted.insert(key.clone());
        match pushed.get(&key) {
            Some(p) if p.hash == record.hash && (!p.failed || !retry_failed) => plan.unchanged += 1,
            _ => plan.upserts.push(record),
        }
    }
    plan.upserts.sort_by_key(|r| r.object);
    let mut deletes: Vec<(SfObject, String, Option<String>)> = pushed
        .iter()
        .filter(|(key, _)| !wanted.contains(*key))
        .filter_map(|(key, p)| {
            let (object, _, _) = parse_state_key(key)?;
            Some((object, key.clone(), p.sf_id.clone()))
        })
        .collect();
    deletes.sort_by_key(|d| std::cmp::Reverse(d.0));
    plan.deletes = deletes.into_iter().map(|(_, k, id)| (k, id)).collect();
    plan
}

/// A record Salesforce refused for good, in the entity's failure list until an operator
/// retries or dismisses it (or a later push of changed fields succeeds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PushFailure {
    /// `<account id>/<object>/<key field>/<key>`: the failure's id in the API.
    pub id: String,
    pub account_id: String,
    pub object: SfObject,
    pub key_field: String,
    pub key: String,
    /// Salesforce's status code (`DUPLICATE_VALUE`, `INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY`…).
    pub code: String,
    pub message: String,
    /// The fields Salesforce named.
    pub fields: Vec<String>,
    /// `upsert` or `delete`.
    pub operation: String,
    #[schema(value_type = i64)]
    pub at: EpochMillis,
}

impl PushFailure {
    pub fn id_for(account_id: &str, state_key: &str) -> String {
        format!("{account_id}/{state_key}")
    }
}

/// What one account's push did, for its event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PushCounts {
    pub created: u32,
    pub updated: u32,
    pub deleted: u32,
    pub failed: u32,
    pub unchanged: u32,
    /// Records not sent because their parent is not in Salesforce (it failed).
    pub blocked: u32,
    /// Records left for a later push (transient errors).
    pub deferred: u32,
}

/// Salesforce's `Sforce-Limit-Info: api-usage=N/M`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiUsage {
    pub used: u64,
    pub max: u64,
}

impl ApiUsage {
    /// Reads the header; other parts (`api-bursts=…`, `per-app-api-usage=…`) are ignored.
    pub fn parse(header: &str) -> Option<Self> {
        header.split(';').find_map(|part| {
            let (name, value) = part.trim().split_once('=')?;
            if name.trim() != "api-usage" {
                return None;
            }
            let (used, max) = value.trim().split_once('/')?;
            Some(Self {
                used: used.trim().parse().ok()?,
                max: max.trim().parse().ok()?,
            })
        })
    }

    /// Whether the share of the allocation used is at or over `percent`.
    pub fn at_share(self, percent: u32) -> bool {
        self.max > 0 && self.used.saturating_mul(100) >= self.max.saturating_mul(percent.into())
    }
}

/// Where an entity's pushes stand: paused (the API budget, a limit error) or not, the last
/// known API usage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PushStatus {
    /// Pushes wait until then (epoch ms); none when not paused.
    #[schema(value_type = Option<i64>)]
    pub paused_until: Option<EpochMillis>,
    pub pause_reason: Option<String>,
    pub api_usage: Option<ApiUsage>,
    /// The last time the sweep queued waiting pushes (epoch ms): pending accounts marked
    /// before it were queued then.
    #[schema(value_type = Option<i64>)]
    pub drained_to: Option<EpochMillis>,
    /// The last time the sweep queued again the marks that waited too long (epoch ms).
    #[schema(value_type = Option<i64>)]
    pub requeued_at: Option<EpochMillis>,
}

impl PushStatus {
    pub fn paused(&self, now: EpochMillis) -> bool {
        self.paused_until.is_some_and(|until| until > now)
    }
}

#[cfg(test)]
mod tests;
