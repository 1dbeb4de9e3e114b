//! The mirror's records and the pure diff from a Zuora snapshot to the writes a sync makes.
//!
//! Every Zuora record becomes one mirror record under its account, carrying a local id that is
//! the product's own. Ids are stable: an existing record keeps its id, and the id map keeps it
//! even after a record leaves the mirror (a subscription that goes Draft and comes back).

use crate::model::event::named;
use crate::model::{Account, AccountSnapshot, Contact, Subscription};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

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
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum RecordKind {
    Customer,
    Subscription,
    PaymentMethod,
    Address,
    Product,
}

named!(RecordKind);

impl RecordKind {
    /// Prefix of local ids, so an id says what it names.
    fn id_prefix(self) -> &'static str {
        match self {
            Self::Customer => "cus",
            Self::Subscription => "sub",
            Self::PaymentMethod => "pm",
            Self::Address => "adr",
            Self::Product => "prd",
        }
    }
}

pub const CUSTOMER_SK: &str = "CUSTOMER";

/// The catalog is stored like an account under this pseudo account id, which no Zuora id or
/// number can equal (they never start with `_`), so it shares the locked, fenced commit.
pub const CATALOG_ACCOUNT: &str = "_catalog";

/// One mirrored Zuora record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MirrorRecord {
    /// Sort key under the account: `CUSTOMER`, `SUB#<number>`, `PM#<id>`, `ADDR#BILL_TO`.
    pub sk: String,
    pub kind: RecordKind,
    /// The local id.
    pub id: String,
    /// The local customer id that owns the record.
    pub owner: String,
    pub zuora_id: String,
    /// Small, queryable attributes (subscription number and status, default flag, CRM id).
    pub attrs: BTreeMap<String, String>,
    /// The full record as JSON.
    pub data: String,
    /// SHA-256 of everything above: equal hashes mean nothing to rewrite.
    pub hash: String,
}

/// What the store holds for one account.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoredAccount {
    pub records: BTreeMap<String, MirrorRecord>,
    /// Record sort key → local id, for every id ever issued under this account.
    pub id_map: BTreeMap<String, String>,
}

/// The writes that bring the mirror in line with a snapshot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WritePlan {
    pub account_id: String,
    pub account_number: String,
    pub customer_id: String,
    pub puts: Vec<MirrorRecord>,
    /// Sort keys of records to remove (left Zuora, or a status that is not mirrored).
    pub deletes: Vec<String>,
    /// Newly issued ids: (record sort key, local id, kind).
    pub new_ids: Vec<(String, String, RecordKind)>,
    pub unchanged: u32,
    /// Subscription number → local id for every mirrored subscription.
    pub subscription_ids: BTreeMap<String, String>,
    /// The commit also marks the account as waiting for a Salesforce push (the outbox of
    /// docs/ARCHITECTURE.md, "The Salesforce push").
    pub push: bool,
}

impl WritePlan {
    pub fn is_noop(&self) -> bool {
        self.puts.is_empty() && self.deletes.is_empty() && self.new_ids.is_empty()
    }
}

fn new_local_id(kind: RecordKind) -> String {
    format!("{}_{}", kind.id_prefix(), uuid::Uuid::now_v7().simple())
}

struct Planner<'a> {
    stored: &'a StoredAccount,
    plan: WritePlan,
    seen: BTreeSet<String>,
}

impl Planner<'_> {
    fn local_id(&mut self, sk: &str, kind: RecordKind) -> String {
        if let Some(existing) = self.stored.records.get(sk) {
            return existing.id.clone();
        }
        if let Some(id) = self.stored.id_map.get(sk) {
            return id.clone();
        }
        if let Some((_, id, _)) = self.plan.new_ids.iter().find(|(s, _, _)| s == sk) {
            return id.clone();
        }
        let id = new_local_id(kind);
        self.plan.new_ids.push((sk.to_string(), id.clone(), kind));
        id
    }

    fn add<T: Serialize>(
        &mut self,
        sk: String,
        kind: RecordKind,
        zuora_id: &str,
        attrs: BTreeMap<String, String>,
        data: &T,
    ) -> String {
        let id = self.local_id(&sk, kind);
        let owner = if kind == RecordKind::Customer {
            id.clone()
        } else {
            self.plan.customer_id.clone()
        };
        let data = serde_json::to_string(data).expect("domain types always serialise");
        let hash = content_hash(kind, &id, &owner, zuora_id, &attrs, &data);
        let unchanged = self.stored.records.get(&sk).is_some_and(|r| r.hash == hash);
        if unchanged {
            self.plan.unchanged += 1;
        } else {
            self.plan.puts.push(MirrorRecord {
                sk: sk.clone(),
                kind,
                id: id.clone(),
                owner,
                zuora_id: zuora_id.to_string(),
                attrs,
                data,
                hash,
            });
        }
        self.seen.insert(sk);
        id
    }

    /// The plan, with every stored record this sync did not see removed.
    fn finish(mut self) -> WritePlan {
        self.plan.deletes = self
            .stored
            .records
            .keys()
            .filter(|sk| !self.seen.contains(*sk))
            .cloned()
            .collect();
        self.plan
    }

    fn add_address(&mut self, role: &str, contact: &Contact) {
        let attrs = BTreeMap::from([("role".to_string(), role.to_string())]);
        self.add(
            format!("ADDR#{role}"),
            RecordKind::Address,
            &contact.id,
            attrs,
            contact,
        );
    }
}

fn content_hash(
    kind: RecordKind,
    id: &str,
    owner: &str,
    zuora_id: &str,
    attrs: &BTreeMap<String, String>,
    data: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [kind.as_str(), id, owner, zuora_id] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    for (k, v) in attrs {
        h.update(k.as_bytes());
        h.update([1]);
        h.update(v.as_bytes());
        h.update([0]);
    }
    h.update(data.as_bytes());
    hex::encode(h.finalize())
}

/// The writes that make `stored` mirror `snapshot`.
pub fn plan_writes(snapshot: &AccountSnapshot, stored: &StoredAccount) -> WritePlan {
    plan_writes_keeping(snapshot, stored, &BTreeSet::new())
}

/// As [`plan_writes`], but the subscriptions numbered in `keep` are left exactly as stored
/// (neither rewritten nor removed): a manual sync that could not read them keeps the last
/// good copy.
pub fn plan_writes_keeping(
    snapshot: &AccountSnapshot,
    stored: &StoredAccount,
    keep: &BTreeSet<String>,
) -> WritePlan {
    let account = &snapshot.account;
    let mut p = Planner {
        stored,
        plan: WritePlan {
            account_id: account.id.clone(),
            account_number: account.account_number.clone(),
            ..WritePlan::default()
        },
        seen: BTreeSet::new(),
    };
    p.plan.customer_id = p.local_id(CUSTOMER_SK, RecordKind::Customer);

    let mut attrs = BTreeMap::from([
        ("account_number".to_string(), account.account_number.clone()),
        ("name".to_string(), account.name.clone()),
    ]);
    if let Some(crm) = &account.crm_id {
        attrs.insert("crm_id".into(), crm.clone());
    }
    p.add(
        CUSTOMER_SK.into(),
        RecordKind::Customer,
        &account.id,
        attrs,
        account,
    );

    if let Some(c) = &snapshot.bill_to {
        p.add_address("BILL_TO", c);
    }
    if let Some(c) = &snapshot.sold_to {
        p.add_address("SOLD_TO", c);
    }
    for pm in &snapshot.payment_methods {
        let attrs = BTreeMap::from([("is_default".to_string(), pm.is_default.to_string())]);
        p.add(
            format!("PM#{}", pm.id),
            RecordKind::PaymentMethod,
            &pm.id,
            attrs,
            pm,
        );
    }
    for number in keep {
        let sk = format!("SUB#{number}");
        if let Some(existing) = stored.records.get(&sk) {
            p.plan
                .subscription_ids
                .insert(number.clone(), existing.id.clone());
        }
        p.seen.insert(sk);
    }
    for sub in snapshot
        .mirrored_subscriptions()
        .filter(|s| !keep.contains(&s.number))
    {
        let attrs = BTreeMap::from([
            ("number".to_string(), sub.number.clone()),
            ("status".to_string(), sub.status.to_string()),
        ]);
        let record = canonical_subscription(sub, account);
        let id = p.add(
            format!("SUB#{}", sub.number),
            RecordKind::Subscription,
            &sub.id,
            attrs,
            &record,
        );
        p.plan.subscription_ids.insert(sub.number.clone(), id);
    }

    p.finish()
}

/// The writes that remove an account Zuora deleted: every stored record goes; the id map
/// stays, so its local ids come back the same if the account ever does.
pub fn plan_removal(account_id: &str, stored: &StoredAccount) -> WritePlan {
    let customer = stored.records.get(CUSTOMER_SK);
    WritePlan {
        account_id: account_id.to_string(),
        account_number: customer
            .and_then(|c| c.attrs.get("account_number").cloned())
            .unwrap_or_default(),
        customer_id: customer
            .map(|c| c.id.clone())
            .or_else(|| stored.id_map.get(CUSTOMER_SK).cloned())
            .unwrap_or_default(),
        deletes: stored.records.keys().cloned().collect(),
        ..WritePlan::default()
    }
}

/// Whether a plan would remove most of an account's subscriptions, or most of the catalog's
/// products (at least two, and over half): a 200 answer missing children (a permission change,
/// a misrouted entity) must not empty the mirror, so such a plan is only carried out once a
/// second read agrees.
pub fn removes_most(plan: &WritePlan, stored: &StoredAccount) -> bool {
    ["SUB#", "PRODUCT#"].iter().any(|prefix| {
        let kept = stored
            .records
            .keys()
            .filter(|k| k.starts_with(prefix))
            .count();
        let removed = plan
            .deletes
            .iter()
            .filter(|k| k.starts_with(prefix))
            .count();
        removed >= 2 && removed * 2 > kept
    })
}

/// A subscription as stored, whichever read returned it: a subscription read on its own names
/// its account and one inside the account's answer may not, so the record always names the
/// account it is mirrored under (one form per record, or alternating paths rewrite it).
fn canonical_subscription(sub: &Subscription, account: &Account) -> Subscription {
    Subscription {
        account_id: Some(account.id.clone()),
        account_number: Some(account.account_number.clone()),
        ..sub.clone()
    }
}

/// The writes that make the stored catalog (the [`CATALOG_ACCOUNT`] records) equal `products`;
/// products no longer in Zuora are removed.
pub fn plan_catalog(products: &[crate::model::Product], stored: &StoredAccount) -> WritePlan {
    let mut p = Planner {
        stored,
        plan: WritePlan {
            account_id: CATALOG_ACCOUNT.into(),
            ..WritePlan::default()
        },
        seen: BTreeSet::new(),
    };
    for product in products {
        let mut attrs = BTreeMap::new();
        if let Some(sku) = &product.sku {
            attrs.insert("sku".to_string(), sku.clone());
        }
        if let Some(name) = &product.name {
            attrs.insert("name".to_string(), name.clone());
        }
        p.add(
            format!("PRODUCT#{}", product.id),
            RecordKind::Product,
            &product.id,
            attrs,
            product,
        );
    }
    p.finish()
}

#[cfg(test)]
mod tests;
