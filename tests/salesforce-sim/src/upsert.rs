//! sObject Collections upsert: `PATCH /services/data/vN/composite/sobjects/{object}/{extField}`
//! with `{"allOrNone": bool, "records": [...]}`. Records are processed in order against the
//! store as it is after the previous record, so a later record sees an earlier one.

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use crate::errors::{ApiError, ItemError, RECORD_LIMIT_MESSAGE};
use crate::faults::{RecordTarget, default_message};
use crate::schema::{ObjectSpec, Relationship};
use crate::state::SimState;
use crate::store::{SfRecord, Store, Tx, key_of};

/// The most records one collections request may carry.
pub const MAX_RECORDS: usize = 200;

const TYPE_MISMATCH: &str =
    "The list can contain objects only of the type indicated in the request URI";

pub struct UpsertBody {
    pub all_or_none: bool,
    pub records: Vec<Map<String, Value>>,
}

/// Parses and checks the body as a whole; anything wrong here fails the entire request (400).
pub fn parse_body(bytes: &[u8], object: &str) -> Result<UpsertBody, ApiError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|err| {
        ApiError::json_parser(format!(
            "{} at [line:{}, column:{}]",
            err,
            err.line(),
            err.column()
        ))
    })?;
    let Value::Object(mut body) = value else {
        return Err(ApiError::json_parser(
            "Cannot deserialize the request body: expected an object with allOrNone and records",
        ));
    };
    let all_or_none = match body.remove("allOrNone") {
        None => false,
        Some(Value::Bool(flag)) => flag,
        Some(_) => return Err(ApiError::json_parser("allOrNone must be a boolean")),
    };
    let records = match body.remove("records") {
        Some(Value::Array(records)) => records,
        _ => return Err(ApiError::json_parser("records must be an array of records")),
    };
    if let Some(unknown) = body.keys().next() {
        return Err(ApiError::json_parser(format!(
            "Unrecognized field \"{unknown}\""
        )));
    }
    if records.len() > MAX_RECORDS {
        return Err(ApiError::bad_request(
            "EXCEEDED_ID_LIMIT",
            RECORD_LIMIT_MESSAGE,
        ));
    }
    let records = records
        .into_iter()
        .map(|record| check_record(record, object))
        .collect::<Result<_, _>>()?;
    Ok(UpsertBody {
        all_or_none,
        records,
    })
}

/// A record must be an object whose `attributes.type` is the URI's object, and only
/// relationship (`…__r`) fields may hold objects.
fn check_record(record: Value, object: &str) -> Result<Map<String, Value>, ApiError> {
    let Value::Object(record) = record else {
        return Err(ApiError::json_parser("Each record must be a JSON object"));
    };
    match record.get("attributes").and_then(|a| a.get("type")) {
        Some(Value::String(kind)) if kind == object => {}
        Some(Value::String(_)) => {
            return Err(ApiError::bad_request("INVALID_TYPE", TYPE_MISMATCH));
        }
        _ => {
            return Err(ApiError::bad_request(
                "INVALID_TYPE",
                "Each record must specify attributes with a type",
            ));
        }
    }
    for (name, value) in &record {
        let structured = match value {
            Value::Array(_) => Some("START_ARRAY"),
            Value::Object(_) if name != "attributes" && !name.ends_with("__r") => {
                Some("START_OBJECT")
            }
            _ => None,
        };
        if let Some(token) = structured {
            return Err(ApiError::json_parser(format!(
                "Cannot deserialize instance of string from {token} value for field {name}"
            )));
        }
    }
    Ok(record)
}

/// One upsert request being processed.
struct Run<'a> {
    state: &'a SimState,
    spec: &'a ObjectSpec,
    ext_field: &'a str,
    /// The decoded request path, for path-matched record faults.
    target: &'a str,
}

/// Processes the records in order and returns their results (the 200 body).
pub fn upsert(
    state: &SimState,
    spec: &ObjectSpec,
    ext_field: &str,
    body: UpsertBody,
    target: &str,
) -> Vec<Value> {
    let run = Run {
        state,
        spec,
        ext_field,
        target,
    };
    let mut store = state.store();
    let mut tx = Tx::new(&mut store);
    let mut seen = HashSet::new();
    let outcomes: Vec<Result<(String, bool), ItemError>> = body
        .records
        .iter()
        .map(|record| upsert_one(&mut tx, &run, record, &mut seen))
        .collect();
    let failed = outcomes.iter().any(Result::is_err);
    if body.all_or_none && failed {
        tx.rollback();
        return outcomes.into_iter().map(rolled_back).collect();
    }
    outcomes.into_iter().map(result_json).collect()
}

fn result_json(outcome: Result<(String, bool), ItemError>) -> Value {
    match outcome {
        Ok((id, created)) => json!({"id": id, "success": true, "errors": [], "created": created}),
        Err(error) => error.into_result(),
    }
}

/// Under allOrNone, records that would have succeeded report the rollback instead.
fn rolled_back<T>(outcome: Result<T, ItemError>) -> Value {
    outcome
        .err()
        .unwrap_or_else(ItemError::rolled_back)
        .into_result()
}

fn upsert_one(
    tx: &mut Tx,
    run: &Run,
    record: &Map<String, Value>,
    seen: &mut HashSet<String>,
) -> Result<(String, bool), ItemError> {
    if record.contains_key("Id") {
        return Err(ItemError::invalid_field("Id not specified in an upsert call").on_field("Id"));
    }
    let key = record.get(run.ext_field).and_then(key_of).ok_or_else(|| {
        ItemError::new(
            "MISSING_ARGUMENT",
            format!("{} not specified", run.ext_field),
        )
        .on_field(run.ext_field)
    })?;
    if !seen.insert(key.clone()) {
        return Err(ItemError::new(
            "DUPLICATE_EXTERNAL_ID",
            format!("Duplicate external id specified: {key}"),
        ));
    }
    let fields = resolve_fields(tx.store(), run.spec, record)?;
    let existing = tx
        .store()
        .lookup(&run.spec.name, run.ext_field, &key)
        .map(str::to_string);
    check_unique(tx.store(), run, &fields, existing.as_deref())?;
    let id = existing
        .clone()
        .unwrap_or_else(|| tx.store().peek_id(run.spec));
    check_record_fault(run, &fields, &id)?;
    let created = existing.is_none();
    let stored = match existing.and_then(|id| tx.store().get(&id).cloned()) {
        Some(mut current) => {
            current.fields.extend(fields);
            current
        }
        None => SfRecord {
            id: tx.mint_id(run.spec),
            object: run.spec.name.clone(),
            fields,
        },
    };
    let id = stored.id.clone();
    tx.write(stored);
    Ok((id, created))
}

/// The record's fields as they will be stored: nested references replaced by the parent's id,
/// lookups checked and normalized to 18 characters, unknown fields refused.
fn resolve_fields(
    store: &Store,
    spec: &ObjectSpec,
    record: &Map<String, Value>,
) -> Result<Map<String, Value>, ItemError> {
    let mut fields = Map::new();
    for (name, value) in record.iter().filter(|(name, _)| *name != "attributes") {
        let (name, value) = resolve_field(store, spec, record, name, value)?;
        fields.insert(name, value);
    }
    Ok(fields)
}

fn resolve_field(
    store: &Store,
    spec: &ObjectSpec,
    record: &Map<String, Value>,
    name: &str,
    value: &Value,
) -> Result<(String, Value), ItemError> {
    if let Some(rel) = spec.relationship_named(name) {
        if record.contains_key(&rel.field) {
            return Err(ItemError::invalid_field(format!(
                "Cannot specify both an external ID reference {} and a salesforce id, {}",
                rel.name, rel.field
            )));
        }
        let parent = resolve_reference(store, rel, value)?;
        return Ok((rel.field.clone(), Value::String(parent)));
    }
    let value = if spec.is_account_lookup(name) {
        account_value(store, name, value)?
    } else if let Some(rel) = spec.relationship_field(name) {
        lookup_value(store, rel, value)?
    } else if name == "Name" || name.ends_with("__c") {
        value.clone()
    } else {
        return Err(ItemError::invalid_field(format!(
            "No such column '{name}' on sobject of type {}",
            spec.name
        )));
    };
    Ok((name.to_string(), value))
}

/// Resolves `"Rel__r": {"ExtField": value}` to the parent record's id.
fn resolve_reference(
    store: &Store,
    rel: &Relationship,
    value: &Value,
) -> Result<String, ItemError> {
    let target = &rel.target;
    let Value::Object(nested) = value else {
        return Err(ItemError::invalid_field(format!(
            "{} must be an external foreign key reference object",
            rel.name
        )));
    };
    let mut keys = nested.iter().filter(|(name, _)| *name != "attributes");
    let (Some((field, key)), None) = (keys.next(), keys.next()) else {
        return Err(ItemError::invalid_field(format!(
            "More than 1 field provided in an external foreign key reference in entity: {target}"
        )));
    };
    let is_external = store
        .object(target)
        .is_some_and(|parent| parent.is_external_id(field));
    if !is_external {
        return Err(ItemError::invalid_field(format!(
            "Field {field} is not an External ID field of entity {target}"
        )));
    }
    let text = key_of(key).unwrap_or_else(|| key.to_string());
    store
        .lookup(target, field, &text)
        .map(str::to_string)
        .ok_or_else(|| {
            ItemError::invalid_field(format!(
                "Foreign key external ID: {text} not found for field {field} in entity {target}"
            ))
        })
}

/// A lookup to the standard Account: null or empty clears it.
fn account_value(store: &Store, field: &str, value: &Value) -> Result<Value, ItemError> {
    match value {
        Value::Null => Ok(Value::Null),
        Value::String(text) if text.is_empty() => Ok(Value::Null),
        Value::String(text) => store.accounts.check(field, text).map(Value::String),
        other => store
            .accounts
            .check(field, &other.to_string())
            .map(Value::String),
    }
}

/// A lookup set by record id: it must be an id of the target object that exists.
fn lookup_value(store: &Store, rel: &Relationship, value: &Value) -> Result<Value, ItemError> {
    let text = match value {
        Value::Null => return Ok(Value::Null),
        Value::String(text) if text.is_empty() => return Ok(Value::Null),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let prefix = store
        .object(&rel.target)
        .map(|target| target.key_prefix.as_str())
        .unwrap_or_default();
    let Some(id) = crate::ids::normalize(&text).filter(|id| crate::ids::prefix(id) == prefix)
    else {
        return Err(ItemError::new(
            "MALFORMED_ID",
            format!("{}: id value of incorrect type: {text}", rel.field),
        )
        .on_field(&rel.field));
    };
    if store.get(&id).is_none() {
        return Err(ItemError::cross_reference_denied(&text));
    }
    Ok(Value::String(id))
}

/// Every External ID is unique: a value of another External ID field that already belongs to a
/// different record is a `DUPLICATE_VALUE`.
fn check_unique(
    store: &Store,
    run: &Run,
    fields: &Map<String, Value>,
    existing: Option<&str>,
) -> Result<(), ItemError> {
    for field in run.spec.external_ids.iter().filter(|f| *f != run.ext_field) {
        let Some(value) = fields.get(field).and_then(key_of) else {
            continue;
        };
        match store.lookup(&run.spec.name, field, &value) {
            Some(owner) if Some(owner) != existing => {
                return Err(ItemError::new(
                    "DUPLICATE_VALUE",
                    format!(
                        "duplicate value found: {field} duplicates value on record with id: {owner}"
                    ),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

fn check_record_fault(run: &Run, fields: &Map<String, Value>, id: &str) -> Result<(), ItemError> {
    let external_ids = run
        .spec
        .external_ids
        .iter()
        .filter_map(|field| fields.get(field).and_then(key_of))
        .collect();
    let record = RecordTarget {
        route: "upsert",
        object: &run.spec.name,
        external_ids,
    };
    match run.state.take_record_fault(&record, run.target) {
        Some((code, message)) => {
            let template = message.unwrap_or_else(|| default_message(&code, run.ext_field));
            Err(ItemError::new(code, template.replace("{id}", id)))
        }
        None => Ok(()),
    }
}
