//! A Salesforce org in memory for the core's tests: collections upserts by external id with
//! nested parent references, deletes, lookups by key, an API usage counter, and injected
//! failures (per record, per call). The stack's tests use the HTTP simulator
//! (`tests/salesforce-sim`) instead.

use super::faults::{FaultPlan, SalesforceFault, die};
use crate::model::{ApiUsage, SfObject};
use crate::ports::{RecordError, RecordResult, SalesforceApi, SalesforceError};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
struct Org {
    /// Record id → (object, fields as last written).
    records: BTreeMap<String, (SfObject, Map<String, Value>)>,
    next_id: u64,
    used: u64,
    limit: u64,
    /// Per key value: errors to answer for its next upserts (front first).
    record_errors: BTreeMap<String, VecDeque<String>>,
    /// Errors to answer for the next calls, whole.
    call_errors: VecDeque<SalesforceError>,
    records_per_call: Vec<usize>,
    calls: u64,
    plan: Option<Arc<dyn FaultPlan>>,
}

/// The in-memory org. `Default` has a daily allocation of 100,000 calls.
#[derive(Debug)]
pub struct FakeSalesforce {
    org: Mutex<Org>,
}

impl Default for FakeSalesforce {
    fn default() -> Self {
        Self {
            org: Mutex::new(Org {
                limit: 100_000,
                ..Org::default()
            }),
        }
    }
}

impl FakeSalesforce {
    pub fn new() -> Self {
        Self::default()
    }

    fn org(&self) -> std::sync::MutexGuard<'_, Org> {
        self.org.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// From now on, every call asks `plan` what becomes of it (the simulation's faults).
    pub fn set_fault_plan(&self, plan: Arc<dyn FaultPlan>) {
        self.org().plan = Some(plan);
    }

    /// Runs one call under the fault plan: `call` is carried out on the org unless the plan
    /// fails it, or the caller dies before it (or after it, when applied). `locked` is the
    /// answer when every record is refused with a row lock (`None`: the call has no records).
    async fn call<T>(
        &self,
        method: &'static str,
        call: impl FnOnce(&mut Org) -> Result<T, SalesforceError>,
        locked: Option<T>,
    ) -> Result<T, SalesforceError> {
        let plan = self.org().plan.clone();
        let fault = plan.map_or(SalesforceFault::Pass, |p| p.salesforce_call(method));
        match (fault, locked) {
            (SalesforceFault::Pass, _) | (SalesforceFault::LockRows, None) => call(&mut self.org()),
            (SalesforceFault::Delay(wait), _) => {
                tokio::time::sleep(wait).await;
                call(&mut self.org())
            }
            (SalesforceFault::Fail(error), _) => Err(error),
            (SalesforceFault::LostAnswer, _) => {
                let _ = call(&mut self.org());
                Err(SalesforceError::NoAnswer("the answer was lost".into()))
            }
            (SalesforceFault::LockRows, Some(answer)) => {
                Self::count(&mut self.org())?;
                Ok(answer)
            }
            (SalesforceFault::Crash { applied }, _) => {
                if applied {
                    let _ = call(&mut self.org());
                }
                die().await
            }
        }
    }

    /// The records of one object, each as its fields (lookups resolved to record ids).
    pub fn records(&self, object: SfObject) -> Vec<Map<String, Value>> {
        self.org()
            .records
            .values()
            .filter(|(o, _)| *o == object)
            .map(|(_, f)| f.clone())
            .collect()
    }

    /// The record of `object` whose `field` is `value`.
    pub fn find(&self, object: SfObject, field: &str, value: &str) -> Option<Map<String, Value>> {
        self.records(object)
            .into_iter()
            .find(|f| f.get(field).and_then(Value::as_str) == Some(value))
    }

    /// The next upserts of the record keyed `key` fail with `code`, once per entry.
    pub fn fail_record(&self, key: &str, codes: &[&str]) {
        self.org()
            .record_errors
            .entry(key.to_string())
            .or_default()
            .extend(codes.iter().map(|c| c.to_string()));
    }

    /// The next call fails whole with `error`.
    pub fn fail_call(&self, error: SalesforceError) {
        self.org().call_errors.push_back(error);
    }

    pub fn set_usage(&self, used: u64, limit: u64) {
        let mut org = self.org();
        org.used = used;
        org.limit = limit;
    }

    pub fn calls(&self) -> u64 {
        self.org().calls
    }

    pub fn records_per_call(&self) -> Vec<usize> {
        self.org().records_per_call.clone()
    }

    /// Counts a call against the allocation; answers an injected or limit error.
    fn count(org: &mut Org) -> Result<(), SalesforceError> {
        if let Some(e) = org.call_errors.pop_front() {
            return Err(e);
        }
        if org.used >= org.limit {
            return Err(SalesforceError::LimitExceeded {
                daily: true,
                message: "TotalRequests Limit exceeded.".into(),
            });
        }
        org.used += 1;
        org.calls += 1;
        Ok(())
    }
}

fn failed(code: &str, message: String) -> RecordResult {
    RecordResult {
        success: false,
        id: None,
        created: false,
        errors: vec![RecordError {
            code: code.to_string(),
            message,
            fields: Vec::new(),
        }],
    }
}

impl Org {
    fn find_id(&self, object: SfObject, field: &str, value: &str) -> Option<String> {
        self.records
            .iter()
            .find(|(_, (o, f))| *o == object && f.get(field).and_then(Value::as_str) == Some(value))
            .map(|(id, _)| id.clone())
    }

    /// Nested `…__r` references become lookup ids, or the record fails as Salesforce's does.
    fn resolve(&self, fields: &mut Map<String, Value>) -> Result<(), RecordResult> {
        let nested: Vec<(String, Value)> = fields
            .iter()
            .filter(|(k, _)| k.ends_with("__r"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (rel, reference) in nested {
            fields.remove(&rel);
            let target = match rel.as_str() {
                "Zuora__CustomerAccount__r" | "Zuora__BillingAccount__r" => {
                    SfObject::CustomerAccount
                }
                "Zuora__Subscription__r" => SfObject::Subscription,
                _ => SfObject::SubscriptionRatePlan,
            };
            let Some((field, value)) = reference.as_object().and_then(|o| o.iter().next()) else {
                continue;
            };
            let value = value.as_str().unwrap_or_default();
            let Some(id) = self.find_id(target, field, value) else {
                return Err(failed(
                    "INVALID_FIELD",
                    format!(
                        "Foreign key external ID: {value} not found for field {field} in entity {}",
                        target.api_name()
                    ),
                ));
            };
            fields.insert(rel.replace("__r", "__c"), Value::String(id));
        }
        Ok(())
    }

    fn upsert_one(&mut self, object: SfObject, key_field: &str, record: &Value) -> RecordResult {
        let mut fields = record.as_object().cloned().unwrap_or_default();
        fields.remove("attributes");
        let key = fields
            .get(key_field)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if let Some(code) = self
            .record_errors
            .get_mut(&key)
            .and_then(VecDeque::pop_front)
        {
            return failed(&code, format!("{code} (injected) on {key}"));
        }
        if let Err(result) = self.resolve(&mut fields) {
            return result;
        }
        match self.find_id(object, key_field, &key) {
            Some(id) => {
                let entry = self.records.get_mut(&id).expect("found above");
                entry.1.extend(fields);
                RecordResult {
                    success: true,
                    id: Some(id),
                    created: false,
                    errors: vec![],
                }
            }
            None => {
                self.next_id += 1;
                let id = format!("a0{:016}", self.next_id);
                fields.insert("Id".into(), Value::String(id.clone()));
                self.records.insert(id.clone(), (object, fields));
                RecordResult {
                    success: true,
                    id: Some(id),
                    created: true,
                    errors: vec![],
                }
            }
        }
    }
}

fn locked(n: usize) -> Vec<RecordResult> {
    let result = failed(
        "UNABLE_TO_LOCK_ROW",
        "unable to obtain exclusive access to this record".into(),
    );
    vec![result; n]
}

#[async_trait::async_trait]
impl SalesforceApi for FakeSalesforce {
    async fn upsert(
        &self,
        object: SfObject,
        key_field: &str,
        records: &[Value],
    ) -> Result<Vec<RecordResult>, SalesforceError> {
        let upsert = |org: &mut Org| {
            Self::count(org)?;
            org.records_per_call.push(records.len());
            Ok(records
                .iter()
                .map(|r| org.upsert_one(object, key_field, r))
                .collect())
        };
        self.call("upsert", upsert, Some(locked(records.len())))
            .await
    }

    async fn delete(&self, ids: &[String]) -> Result<Vec<RecordResult>, SalesforceError> {
        let delete = |org: &mut Org| {
            Self::count(org)?;
            Ok(ids
                .iter()
                .map(|id| match org.records.remove(id) {
                    Some(_) => RecordResult {
                        success: true,
                        id: Some(id.clone()),
                        created: false,
                        errors: vec![],
                    },
                    None => failed("ENTITY_IS_DELETED", "entity is deleted".into()),
                })
                .collect())
        };
        self.call("delete", delete, Some(locked(ids.len()))).await
    }

    async fn find_ids(
        &self,
        object: SfObject,
        key_field: &str,
        keys: &[String],
    ) -> Result<Vec<(String, String)>, SalesforceError> {
        let find = |org: &mut Org| {
            Self::count(org)?;
            Ok(keys
                .iter()
                .filter_map(|k| org.find_id(object, key_field, k).map(|id| (k.clone(), id)))
                .collect())
        };
        self.call("find_ids", find, None).await
    }

    fn usage(&self) -> Option<ApiUsage> {
        let org = self.org();
        Some(ApiUsage {
            used: org.used,
            max: org.limit,
        })
    }
}
