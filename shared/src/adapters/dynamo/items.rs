//! DynamoDB item layout: keys and conversions. Entity and account ids are validated to contain
//! no `#`, so the `#`-joined keys below cannot collide.

use crate::model::EntityId;
use crate::model::EpochMillis;
use crate::model::{MirrorRecord, RecordKind};
use crate::ports::StoreError;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::{BTreeMap, HashMap};

pub use super::event_item::{event_item, item_event};

pub type Item = HashMap<String, AttributeValue>;

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v),
        _ => Err(StoreError::Corrupt(format!(
            "missing string attribute {name}"
        ))),
    }
}

pub fn opt_s(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    }
}

pub fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Result<T, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("attribute {name} is not a number: {v}"))),
        _ => Err(StoreError::Corrupt(format!(
            "missing number attribute {name}"
        ))),
    }
}

pub fn opt_n<T: std::str::FromStr>(item: &Item, name: &str) -> Option<T> {
    get_n(item, name).ok()
}

pub fn account_pk(entity: &EntityId, account_id: &str) -> String {
    format!("{entity}#ACCT#{account_id}")
}

pub fn account_number_pk(entity: &EntityId, number: &str) -> String {
    format!("{entity}#ACCTNUM#{number}")
}

pub const ACCOUNT_NUMBER_SK: &str = "ACCTNUM";
pub const MAP_PREFIX: &str = "MAP#";

pub fn lock_pk(entity: &EntityId, account_id: &str) -> String {
    format!("{entity}#{account_id}")
}

pub fn event_pk(entity: &EntityId, id: &str) -> String {
    format!("{entity}#{id}")
}

pub fn event_account_pk(entity: &EntityId, account: &str) -> String {
    format!("{entity}#{account}")
}

/// The partition key of an event index: entity, what the index is about, the value. Values
/// are caller text here, so they are length-prefixed: no value can forge another's key.
pub fn event_index_pk(entity: &EntityId, index: &str, value: &str) -> String {
    format!("{entity}#{index}#{}#{value}", value.len())
}

/// The state item listing an entity's accounts whose commit was cut between transactions.
pub fn torn_pk(entity: &EntityId) -> String {
    format!("{entity}#torn")
}

pub fn settings_pk(entity: &EntityId) -> String {
    format!("{entity}#settings")
}

/// Sort key of events in every index: creation time, then id, so pages are stable.
pub fn created_sk(created_at: EpochMillis, id: &str) -> String {
    format!("{:013}#{id}", created_at.0.max(0))
}

/// A record's JSON longer than this is stored gzip-compressed (`data_gz`), so a subscription
/// with a thousand charges fits DynamoDB's 400 KB item (its JSON compresses about tenfold).
pub const COMPRESS_ABOVE: usize = 32 * 1024;

pub fn gzip(text: &str) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder
        .write_all(text.as_bytes())
        .and_then(|()| encoder.finish())
        .expect("compressing into memory cannot fail")
}

pub fn gunzip(bytes: &[u8]) -> Result<String, StoreError> {
    use std::io::Read;
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .map_err(|e| StoreError::Corrupt(format!("compressed record data: {e}")))?;
    Ok(text)
}

pub fn record_item(pk: &str, r: &MirrorRecord) -> Item {
    let data = if r.data.len() > COMPRESS_ABOVE {
        (
            "data_gz".to_string(),
            AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(gzip(&r.data))),
        )
    } else {
        ("data".to_string(), s(&r.data))
    };
    let mut item = Item::from([
        ("pk".into(), s(pk)),
        ("sk".into(), s(&r.sk)),
        ("kind".into(), s(r.kind.as_str())),
        ("id".into(), s(&r.id)),
        ("owner".into(), s(&r.owner)),
        ("zuora_id".into(), s(&r.zuora_id)),
        data,
        ("hash".into(), s(&r.hash)),
    ]);
    if !r.attrs.is_empty() {
        let attrs = r.attrs.iter().map(|(k, v)| (k.clone(), s(v))).collect();
        item.insert("attrs".into(), AttributeValue::M(attrs));
    }
    item
}

pub fn item_record(item: &Item) -> Result<MirrorRecord, StoreError> {
    let kind = get_s(item, "kind")?;
    let attrs = match item.get("attrs") {
        Some(AttributeValue::M(m)) => m
            .iter()
            .filter_map(|(k, v)| v.as_s().ok().map(|v| (k.clone(), v.clone())))
            .collect(),
        _ => BTreeMap::new(),
    };
    Ok(MirrorRecord {
        sk: get_s(item, "sk")?.into(),
        kind: RecordKind::parse(kind)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown record kind {kind}")))?,
        id: get_s(item, "id")?.into(),
        owner: get_s(item, "owner")?.into(),
        zuora_id: get_s(item, "zuora_id")?.into(),
        attrs,
        data: match item.get("data_gz") {
            Some(AttributeValue::B(blob)) => gunzip(blob.as_ref())?,
            _ => get_s(item, "data")?.into(),
        },
        hash: get_s(item, "hash")?.into(),
    })
}

/// An id-map item: kept for good, so a local id survives its record leaving the mirror. Its
/// `local_id` feeds the `by_local_id` index (local id → Zuora record).
pub fn id_map_item(
    entity: &EntityId,
    account_id: &str,
    pk: &str,
    sk: &str,
    local_id: &str,
    kind: RecordKind,
) -> Item {
    Item::from([
        ("pk".into(), s(pk)),
        ("sk".into(), s(format!("{MAP_PREFIX}{sk}"))),
        ("kind".into(), s("id_map")),
        ("record_kind".into(), s(kind.as_str())),
        ("local_id".into(), s(local_id)),
        ("entity".into(), s(entity.as_str())),
        ("account_id".into(), s(account_id)),
        ("target_sk".into(), s(sk)),
    ])
}
