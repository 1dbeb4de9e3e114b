//! The Salesforce half of the convergence oracle: the Salesforce simulator holds exactly the
//! records the mirror says it should (`model::desired_records`), field by field, with each
//! nested parent reference resolved to the parent's record id.

use crate::app::TestApp;
use serde_json::Value;
use std::collections::BTreeMap;
use zuora_sync::model::{SalesforceSettings, SfObject, desired_records};

/// What differs between Salesforce and the mirror for `accounts` (Zuora account ids), and,
/// with `whole_org`, any record of the org that no account of `accounts` explains. Empty when
/// they agree.
pub async fn differences(
    app: &TestApp,
    settings: &SalesforceSettings,
    accounts: &[&str],
    whole_org: bool,
) -> Vec<String> {
    let mirror = app.services.sync.mirror();
    let mut out = Vec::new();
    let mut expected: BTreeMap<SfObject, usize> = BTreeMap::new();
    for account in accounts {
        let stored = mirror
            .load_account(&app.entity, account)
            .await
            .expect("the mirror answers the oracle");
        for record in desired_records(&stored, settings) {
            *expected.entry(record.object).or_default() += 1;
            let object = record.object.api_name();
            let Some(held) = app.salesforce.find(object, record.key_field, &record.key) else {
                out.push(format!(
                    "{account}: Salesforce lacks {}",
                    record.state_key()
                ));
                continue;
            };
            for (field, want) in &record.fields {
                let (field, want) = resolve(app, field, want);
                let have = held.fields.get(&field).cloned().unwrap_or(Value::Null);
                if !same(&field, &have, &want) {
                    out.push(format!(
                        "{account}: {} has {field} = {have}, the mirror says {want}",
                        record.state_key()
                    ));
                }
            }
        }
    }
    if whole_org {
        for object in SfObject::ALL {
            let held = app.salesforce.records(object.api_name()).len();
            let want = expected.get(&object).copied().unwrap_or(0);
            if held != want {
                out.push(format!(
                    "Salesforce holds {held} {} record(s), the mirror says {want}",
                    object.api_name()
                ));
            }
        }
    }
    out
}

/// A nested `…__r` reference as the lookup field Salesforce stores: the parent's record id.
fn resolve(app: &TestApp, field: &str, value: &Value) -> (String, Value) {
    let Value::Object(reference) = value else {
        return (field.to_string(), value.clone());
    };
    let parent = match field {
        "Zuora__Subscription__r" => SfObject::Subscription,
        "Zuora__SubscriptionRatePlan__r" => SfObject::SubscriptionRatePlan,
        _ => SfObject::CustomerAccount,
    };
    let id = reference.iter().next().and_then(|(key_field, key)| {
        app.salesforce
            .find(
                parent.api_name(),
                key_field,
                key.as_str().unwrap_or_default(),
            )
            .map(|p| Value::String(p.id))
    });
    (field.replace("__r", "__c"), id.unwrap_or(Value::Null))
}

/// Equal as Salesforce keeps them: numbers by value (`12` and `12.0` are one number), and the
/// CRM account lookup as a record id (Salesforce stores the 18-character form of the
/// 15 case-sensitive characters it was given).
fn same(field: &str, have: &Value, want: &Value) -> bool {
    if field == "Zuora__Account__c"
        && let (Some(a), Some(b)) = (have.as_str(), want.as_str())
    {
        return a.get(..15).is_some() && a.get(..15) == b.get(..15);
    }
    match (have.as_f64(), want.as_f64()) {
        (Some(a), Some(b)) => a == b,
        _ => have == want,
    }
}
