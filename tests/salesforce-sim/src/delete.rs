//! sObject Collections delete: `DELETE /services/data/vN/composite/sobjects?ids=a,b&allOrNone=`.
//! Deleting a parent deletes its master-detail children and clears lookups that pointed at it.

use serde_json::{Value, json};

use crate::errors::{ApiError, ItemError, RECORD_LIMIT_MESSAGE};
use crate::faults::{RecordTarget, default_message};
use crate::ids;
use crate::state::SimState;
use crate::store::{SfRecord, Tx};
use crate::upsert::MAX_RECORDS;

pub struct DeleteRequest {
    pub ids: Vec<String>,
    pub all_or_none: bool,
}

/// Reads `ids` (comma-separated, at most 200) and `allOrNone` from the query string.
pub fn parse_query(raw: Option<&str>) -> Result<DeleteRequest, ApiError> {
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let value = |name: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let ids: Vec<String> = value("ids")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .collect();
    if ids.is_empty() {
        return Err(ApiError::bad_request(
            "MISSING_ARGUMENT",
            "ids: no record ids specified",
        ));
    }
    if ids.len() > MAX_RECORDS {
        return Err(ApiError::bad_request(
            "EXCEEDED_ID_LIMIT",
            RECORD_LIMIT_MESSAGE,
        ));
    }
    let all_or_none = value("allOrNone").is_some_and(|flag| flag.eq_ignore_ascii_case("true"));
    Ok(DeleteRequest { ids, all_or_none })
}

/// Deletes in order and returns the per-id results (the 200 body).
pub fn delete(state: &SimState, request: &DeleteRequest, target: &str) -> Vec<Value> {
    let mut store = state.store();
    let mut tx = Tx::new(&mut store);
    let outcomes: Vec<Result<String, ItemError>> = request
        .ids
        .iter()
        .map(|id| delete_one(&mut tx, state, id, target))
        .collect();
    let failed = outcomes.iter().any(Result::is_err);
    if request.all_or_none && failed {
        tx.rollback();
        return outcomes
            .into_iter()
            .map(|outcome| {
                outcome
                    .err()
                    .unwrap_or_else(ItemError::rolled_back)
                    .into_result()
            })
            .collect();
    }
    outcomes
        .into_iter()
        .map(|outcome| match outcome {
            Ok(id) => json!({"id": id, "success": true, "errors": []}),
            Err(error) => error.into_result(),
        })
        .collect()
}

fn delete_one(tx: &mut Tx, state: &SimState, raw: &str, target: &str) -> Result<String, ItemError> {
    let Some(id) = ids::normalize(raw) else {
        return Err(ItemError::new(
            "MALFORMED_ID",
            format!("malformed id {raw}"),
        ));
    };
    let Some(record) = tx.store().get(&id).cloned() else {
        return Err(if tx.store().was_deleted(&id) {
            ItemError::new("ENTITY_IS_DELETED", "entity is deleted")
        } else {
            ItemError::new("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        });
    };
    check_record_fault(tx, state, &record, target)?;
    delete_tree(tx, &id);
    Ok(id)
}

/// Deletes a record, then its master-detail children (recursively); lookups to a deleted
/// record are cleared, as Salesforce's default "clear the value of this field" option does.
fn delete_tree(tx: &mut Tx, root: &str) {
    let mut pending = vec![root.to_string()];
    while let Some(id) = pending.pop() {
        let Some(record) = tx.delete(&id) else {
            continue;
        };
        for (child, field, cascade) in tx.store().children(&record) {
            if cascade {
                pending.push(child);
            } else if let Some(mut orphan) = tx.store().get(&child).cloned() {
                orphan.fields.insert(field, Value::Null);
                tx.write(orphan);
            }
        }
    }
}

fn check_record_fault(
    tx: &Tx,
    state: &SimState,
    record: &SfRecord,
    target: &str,
) -> Result<(), ItemError> {
    let spec = tx.store().object(&record.object).cloned();
    let ext_fields = spec.map(|spec| spec.external_ids).unwrap_or_default();
    let external_ids = ext_fields
        .iter()
        .filter_map(|field| record.key(field))
        .collect();
    let matched = RecordTarget {
        route: "delete",
        object: &record.object,
        external_ids,
    };
    match state.take_record_fault(&matched, target) {
        Some((code, message)) => {
            let first_ext = ext_fields.first().map(String::as_str).unwrap_or("Id");
            let template = message.unwrap_or_else(|| default_message(&code, first_ext));
            Err(ItemError::new(code, template.replace("{id}", &record.id)))
        }
        None => Ok(()),
    }
}
