//! The convergence oracle, checked after a run quiesced: the mirror equals Zuora for every
//! account with stable local ids; no wish, queued mark or live lease is left; every
//! acknowledged request has a terminal event; every session is done and adds up; nothing is
//! waiting, queued, in flight or dead-lettered; no invocation outlived its deadline.

use super::actors::Sim;
use crate::support::*;
use serde_json::Value;
use std::collections::BTreeMap;
use zuora_sync::model::{EventStatus, SessionStatus, SfObject, desired_records, plan_writes};
use zuora_sync::ports::{EventStore, PushStore, RealtimeStore, SettingsStore};

pub async fn check(sim: &Sim) -> Vec<String> {
    let mut out = Vec::new();
    mirror_equals_zuora(sim, &mut out);
    if sim.salesforce {
        salesforce_equals_mirror(sim, &mut out).await;
    }
    nothing_left_on_locks(sim, &mut out);
    acknowledged_requests_served(sim, &mut out).await;
    sessions_done(sim, &mut out).await;
    let env = &sim.env;
    if !env.queue.is_empty() || env.queue.in_flight() > 0 {
        out.push(format!(
            "{} job(s) queued and {} in flight after quiescing",
            env.queue.len(),
            env.queue.in_flight()
        ));
    }
    if !env.queue.dead_letters().is_empty() {
        out.push(format!("{} dead letter(s)", env.queue.dead_letters().len()));
    }
    let log = sim.log();
    for what in &log.overruns {
        out.push(format!("{what} outlived its deadline"));
    }
    out
}

/// The product's own planner finds nothing to write, and the customer id never changed.
fn mirror_equals_zuora(sim: &Sim, out: &mut Vec<String>) {
    let env = &sim.env;
    for n in 1..=sim.accounts {
        let stored = env.store.stored_account(&env.entity, &account_id(n));
        let Some(snapshot) = env.zuora.account(&account_id(n)) else {
            // Deleted in Zuora: nothing of it may stay in the mirror.
            if !stored.records.is_empty() {
                out.push(format!(
                    "A{n}: deleted in Zuora, {} record(s) still mirrored",
                    stored.records.len()
                ));
                out.push(format!("  its events: {}", history(sim, n)));
            }
            continue;
        };
        let plan = plan_writes(&snapshot, &stored);
        if !plan.is_noop() {
            out.push(format!(
                "A{n}: the mirror differs from Zuora ({} record(s) to write, {} to remove: {:?})",
                plan.puts.len(),
                plan.deletes.len(),
                plan.puts.iter().map(|p| p.sk.as_str()).collect::<Vec<_>>()
            ));
            out.push(format!("  its events: {}", history(sim, n)));
        }
        for (account, id) in sim.log().customer_ids.iter().filter(|(a, _)| *a == n) {
            if *id != plan.customer_id {
                out.push(format!(
                    "A{account}: customer id {id} answered earlier, {} now",
                    plan.customer_id
                ));
            }
        }
    }
}

/// Salesforce holds exactly what the mirror says it should, field by field (a nested parent
/// reference: the parent's record id), nothing waits for a push and nothing was refused.
async fn salesforce_equals_mirror(sim: &Sim, out: &mut Vec<String>) {
    let env = &sim.env;
    let settings = env
        .store
        .get_settings(&env.entity)
        .await
        .unwrap()
        .settings
        .salesforce;
    let mut expected: BTreeMap<SfObject, usize> = BTreeMap::new();
    for n in 1..=sim.accounts {
        let stored = env.store.stored_account(&env.entity, &account_id(n));
        for record in desired_records(&stored, &settings) {
            *expected.entry(record.object).or_default() += 1;
            let Some(held) = env
                .salesforce
                .find(record.object, record.key_field, &record.key)
            else {
                out.push(format!("A{n}: Salesforce lacks {}", record.state_key()));
                out.push(format!("  its events: {}", history(sim, n)));
                continue;
            };
            for (field, value) in &record.fields {
                let (field, value) = match value {
                    Value::Object(reference) => {
                        let (key_field, key) = reference.iter().next().expect("one key");
                        let parent = parent_object(field);
                        let id = env
                            .salesforce
                            .find(parent, key_field, key.as_str().unwrap_or_default())
                            .and_then(|p| p.get("Id").cloned());
                        (field.replace("__r", "__c"), id.unwrap_or(Value::Null))
                    }
                    _ => (field.clone(), value.clone()),
                };
                let actual = held.get(&field).cloned().unwrap_or(Value::Null);
                if actual != value {
                    out.push(format!(
                        "A{n}: Salesforce's {} has {field} = {actual}, the mirror says {value}",
                        record.state_key()
                    ));
                    out.push(format!("  its events: {}", history(sim, n)));
                }
            }
        }
    }
    for object in SfObject::ALL {
        let held = env.salesforce.records(object).len();
        let want = expected.get(&object).copied().unwrap_or(0);
        if held != want {
            out.push(format!(
                "Salesforce holds {held} {} record(s), the mirror says {want}",
                object.api_name()
            ));
        }
    }
    let far = env.now().plus_ms(86_400_000);
    match env.store.pending_pushes(&env.entity, None, far, 100).await {
        Ok(p) if !p.is_empty() => out.push(format!("accounts still waiting for a push: {p:?}")),
        Ok(_) => {}
        Err(e) => out.push(format!("push marks unreadable: {e}")),
    }
    if let Ok((failures, _)) = env.push.failures(&env.entity, None, 100, None, None).await
        && !failures.is_empty()
    {
        out.push(format!(
            "{} record(s) on the failure list though no fault refuses records for good: {:?}",
            failures.len(),
            failures
                .iter()
                .map(|f| format!("{} {}", f.id, f.code))
                .collect::<Vec<_>>()
        ));
    }
}

/// The object a nested `…__r` reference points at.
fn parent_object(relationship: &str) -> SfObject {
    match relationship {
        "Zuora__Subscription__r" => SfObject::Subscription,
        "Zuora__SubscriptionRatePlan__r" => SfObject::SubscriptionRatePlan,
        _ => SfObject::CustomerAccount,
    }
}

/// An account's events, oldest first, for the report of a divergence.
fn history(sim: &Sim, n: u32) -> String {
    let env = &sim.env;
    let mut events: Vec<_> = env
        .store
        .events(&env.entity)
        .into_iter()
        .filter(|e| e.account_id.as_deref() == Some(account_id(n).as_str()))
        .collect();
    events.sort_by_key(|e| e.created_at);
    events
        .iter()
        .map(|e| {
            format!(
                "{}s {} {}{}{}",
                (e.created_at.0 - START.0) / 1000,
                e.trigger.as_str(),
                e.status.as_str(),
                if e.follow_up { " (follow-up)" } else { "" },
                e.code
                    .as_deref()
                    .map(|c| format!(" {c}"))
                    .unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn nothing_left_on_locks(sim: &Sim, out: &mut Vec<String>) {
    let env = &sim.env;
    let now = env.now().0;
    for (key, item) in env.store.lock_items(&env.entity) {
        let name = &key.account_id;
        if item.pending.unwrap_or(0) > 0 {
            out.push(format!(
                "{name}: {} wish(es) never served",
                item.pending.unwrap_or(0)
            ));
        }
        if let Some(event) = &item.queued_event
            && item.queued_until.is_some_and(|u| u > now)
        {
            out.push(format!("{name}: queued mark {event} left with no job"));
        }
        if item.lease_until.is_some_and(|l| l > now) {
            out.push(format!("{name}: a lease still live"));
        }
    }
}

async fn acknowledged_requests_served(sim: &Sim, out: &mut Vec<String>) {
    let env = &sim.env;
    let acks = sim.log().acks.clone();
    for ack in acks {
        let Some(id) = &ack.event_id else { continue };
        match env.store.get_event(&env.entity, id).await {
            Ok(Some(event)) => {
                if matches!(event.status, EventStatus::Queued | EventStatus::Running) {
                    out.push(format!(
                        "{} for A{}: its event {id} is still {}",
                        ack.what,
                        ack.account,
                        event.status.as_str()
                    ));
                }
            }
            Ok(None) => out.push(format!(
                "{} for A{}: its event {id} does not exist",
                ack.what, ack.account
            )),
            Err(e) => out.push(format!("event {id} unreadable: {e}")),
        }
    }
}

async fn sessions_done(sim: &Sim, out: &mut Vec<String>) {
    let env = &sim.env;
    for s in env.store.sessions(&env.entity) {
        let counted = s.succeeded + s.failed + s.skipped;
        if s.status != SessionStatus::Done || s.enumerating || counted != s.total {
            out.push(format!(
                "session {} ({}) is {}{}: {counted} of {} jobs counted",
                s.id,
                s.trigger.as_str(),
                s.status.as_str(),
                if s.enumerating { ", enumerating" } else { "" },
                s.total
            ));
            out.push(format!(
                "  counted: {:?}",
                env.store.counted_jobs(&env.entity, &s.id)
            ));
        }
    }
    match env.store.realtime_state(&env.entity).await {
        Ok(state) if state.last_cut != state.seq => out.push(format!(
            "changes {}..={} were never cut into a session",
            state.last_cut + 1,
            state.seq
        )),
        Ok(state) if !state.running.is_empty() => out.push(format!(
            "sessions {:?} are done but still listed as running",
            state.running
        )),
        Ok(_) => {}
        Err(e) => out.push(format!("realtime state unreadable: {e}")),
    }
}
