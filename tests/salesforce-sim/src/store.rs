//! The records of the simulated org, an index of their External ID values, the ids that were
//! deleted (so a second delete says "entity is deleted"), and a transaction log so that
//! `allOrNone` requests can be undone.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ids;
use crate::schema::{AccountIds, ObjectSpec};

/// One stored record. `fields` holds what was written (lookups as 18-character ids, nested
/// `…__r` references already resolved); the id is not repeated in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SfRecord {
    pub id: String,
    pub object: String,
    pub fields: Map<String, Value>,
}

impl SfRecord {
    /// A field's value as an External ID key (see [`key_of`]).
    pub fn key(&self, field: &str) -> Option<String> {
        self.fields.get(field).and_then(key_of)
    }
}

/// The text an External ID value is matched by: strings (non-empty) as they are, numbers in
/// their JSON form. Salesforce treats an empty string as null.
pub fn key_of(value: &Value) -> Option<String> {
    match value {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

#[derive(Debug, Clone)]
struct Stored {
    /// Creation order, so listings come back in the order records were inserted.
    order: u64,
    record: SfRecord,
}

/// (object, field, value) of an External ID.
type IndexKey = (String, String, String);

pub struct Store {
    objects: Vec<ObjectSpec>,
    pub accounts: AccountIds,
    records: HashMap<String, Stored>,
    index: HashMap<IndexKey, String>,
    deleted: HashSet<String>,
    next_sequence: u64,
    next_order: u64,
}

impl Store {
    pub fn new(objects: Vec<ObjectSpec>, accounts: AccountIds) -> Self {
        Self {
            objects,
            accounts,
            records: HashMap::new(),
            index: HashMap::new(),
            deleted: HashSet::new(),
            next_sequence: 1,
            next_order: 0,
        }
    }

    pub fn object(&self, name: &str) -> Option<&ObjectSpec> {
        self.objects.iter().find(|object| object.name == name)
    }

    /// SOQL names objects case-insensitively.
    pub fn object_ignoring_case(&self, name: &str) -> Option<&ObjectSpec> {
        self.objects
            .iter()
            .find(|object| object.name.eq_ignore_ascii_case(name))
    }

    pub fn get(&self, id: &str) -> Option<&SfRecord> {
        self.records.get(id).map(|stored| &stored.record)
    }

    pub fn was_deleted(&self, id: &str) -> bool {
        self.deleted.contains(id)
    }

    /// The id of the `object` record whose External ID `field` is `value`.
    pub fn lookup(&self, object: &str, field: &str, value: &str) -> Option<&str> {
        let key = (object.to_string(), field.to_string(), value.to_string());
        self.index.get(&key).map(String::as_str)
    }

    /// The records of one object in creation order.
    pub fn records(&self, object: &str) -> Vec<SfRecord> {
        let mut stored: Vec<&Stored> = self
            .records
            .values()
            .filter(|stored| stored.record.object == object)
            .collect();
        stored.sort_by_key(|stored| stored.order);
        stored.into_iter().map(|s| s.record.clone()).collect()
    }

    /// The ids of records that point at `parent` through one of their relationships, with the
    /// relationship's field and whether it cascades deletes.
    pub fn children(&self, parent: &SfRecord) -> Vec<(String, String, bool)> {
        let mut children = Vec::new();
        for object in &self.objects {
            for rel in object
                .relationships
                .iter()
                .filter(|r| r.target == parent.object)
            {
                for stored in self.records.values() {
                    let record = &stored.record;
                    let points_here = record.object == object.name
                        && record.fields.get(&rel.field).and_then(Value::as_str)
                            == Some(parent.id.as_str());
                    if points_here {
                        children.push((record.id.clone(), rel.field.clone(), rel.cascade_delete));
                    }
                }
            }
        }
        children
    }

    /// The id the next inserted record of `object` will get.
    pub fn peek_id(&self, object: &ObjectSpec) -> String {
        ids::mint(&object.key_prefix, self.next_sequence)
    }

    pub fn mint_id(&mut self, object: &ObjectSpec) -> String {
        let id = self.peek_id(object);
        self.next_sequence += 1;
        id
    }

    /// Inserts or replaces a record (keeping its creation order) and re-indexes it.
    fn put(&mut self, stored: Stored) {
        let id = stored.record.id.clone();
        self.unindex(&id);
        self.deleted.remove(&id);
        self.index_record(&stored.record);
        self.records.insert(id, stored);
    }

    fn take(&mut self, id: &str) -> Option<Stored> {
        self.unindex(id);
        self.records.remove(id)
    }

    fn index_record(&mut self, record: &SfRecord) {
        let Some(object) = self.object(&record.object) else {
            return;
        };
        let keys: Vec<IndexKey> = object
            .external_ids
            .iter()
            .filter_map(|field| {
                let value = record.key(field)?;
                Some((record.object.clone(), field.clone(), value))
            })
            .collect();
        for key in keys {
            self.index.insert(key, record.id.clone());
        }
    }

    fn unindex(&mut self, id: &str) {
        let Some(stored) = self.records.get(id) else {
            return;
        };
        let record = stored.record.clone();
        let Some(object) = self.object(&record.object) else {
            return;
        };
        let keys: Vec<IndexKey> = object
            .external_ids
            .iter()
            .filter_map(|field| Some((record.object.clone(), field.clone(), record.key(field)?)))
            .collect();
        for key in keys {
            if self.index.get(&key).map(String::as_str) == Some(id) {
                self.index.remove(&key);
            }
        }
    }

    /// Forgets every record and deleted id (the id counter keeps going, so ids stay unique).
    pub fn clear(&mut self, accounts: AccountIds) {
        self.records.clear();
        self.index.clear();
        self.deleted.clear();
        self.accounts = accounts;
    }
}

/// Writes to the store that can be undone as a whole (`allOrNone`). Every change records the
/// record as it was before.
pub struct Tx<'a> {
    store: &'a mut Store,
    undo: Vec<(String, Option<Stored>)>,
}

impl<'a> Tx<'a> {
    pub fn new(store: &'a mut Store) -> Self {
        Self {
            store,
            undo: Vec::new(),
        }
    }

    pub fn store(&self) -> &Store {
        self.store
    }

    pub fn mint_id(&mut self, object: &ObjectSpec) -> String {
        self.store.mint_id(object)
    }

    /// Inserts `record`, or replaces the stored record with the same id.
    pub fn write(&mut self, record: SfRecord) {
        let before = self.store.records.get(&record.id).cloned();
        let order = match &before {
            Some(stored) => stored.order,
            None => {
                self.store.next_order += 1;
                self.store.next_order
            }
        };
        self.undo.push((record.id.clone(), before));
        self.store.put(Stored { order, record });
    }

    /// Deletes a record, remembering its id as deleted.
    pub fn delete(&mut self, id: &str) -> Option<SfRecord> {
        let before = self.store.take(id)?;
        self.store.deleted.insert(id.to_string());
        let record = before.record.clone();
        self.undo.push((id.to_string(), Some(before)));
        Some(record)
    }

    /// Undoes every change, newest first.
    pub fn rollback(self) {
        for (id, before) in self.undo.into_iter().rev() {
            match before {
                Some(stored) => self.store.put(stored),
                None => {
                    self.store.take(&id);
                }
            }
        }
    }
}
