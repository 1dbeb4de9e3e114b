//! Hot sync at login: the Cognito PostAuthentication trigger and a post-login
//! hook route for other IdPs read the user's claims, find their Zuora account(s) through the
//! entity's claim configurations, and queue syncs. Nothing here calls Zuora: Option B lookups
//! are queued as "resolve and sync" jobs for the worker. Everything a login does is bounded by
//! one time budget, and the trigger returns the event unchanged whatever happened, so a login
//! is never delayed past the budget or failed by a sync problem.

use crate::core::sync::{Enqueued, SyncRequest, SyncService};
use crate::model::EpochMillis;
use crate::model::JobTarget;
use crate::model::Trigger;
use crate::model::{AccountKey, EntityId};
use crate::model::{ClaimConfig, ClaimKind};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// Longer claim values are not looked up (no Zuora field holds more; it bounds the query).
pub const MAX_LOOKUP_VALUE_BYTES: usize = 16 * 1024;

/// At most this many syncs are queued per login, as many as one on-demand request may ask
/// for: a claim listing hundreds of accounts cannot turn every login into a sync storm.
pub const MAX_TARGETS_PER_LOGIN: usize = 10;

/// An account claim longer than this is not read at all (ten account numbers fit many times).
pub const MAX_ACCOUNT_CLAIM_BYTES: usize = 2 * 1024;

/// One login: who, where, and the identity's claims (Cognito user attributes or ID token
/// claims).
#[derive(Debug, Clone)]
pub struct Login {
    pub entity: EntityId,
    pub subject: String,
    pub claims: Map<String, Value>,
    pub correlation_id: String,
}

/// What a login led to, for the log line (and the hook's answer).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct LoginReport {
    /// Hot sync is off for the entity: nothing was looked at.
    pub disabled: bool,
    pub queued: usize,
    pub coalesced: usize,
    /// Claim values that name nothing syncable (and why).
    pub skipped: Vec<String>,
    pub errors: Vec<String>,
    /// The budget ran out; what was done by then stays done.
    pub timed_out: bool,
}

pub struct LoginService {
    pub sync: Arc<SyncService>,
    /// Everything one login may take.
    pub budget: Duration,
    /// Deadline given to queued work's events (the login itself never holds a lock).
    pub deadline_margin: Duration,
}

impl LoginService {
    pub fn new(sync: Arc<SyncService>, budget: Duration) -> Self {
        Self {
            sync,
            budget,
            deadline_margin: Duration::from_secs(30),
        }
    }

    /// Queues the login's hot syncs within the time budget. Never fails: problems are in the
    /// report, the log and (where the store answers) the event log.
    pub async fn hot_sync(&self, login: &Login) -> LoginReport {
        let report = match tokio::time::timeout(self.budget, self.queue_syncs(login)).await {
            Ok(report) => report,
            Err(_) => LoginReport {
                timed_out: true,
                ..LoginReport::default()
            },
        };
        if report.timed_out || !report.errors.is_empty() {
            tracing::warn!(entity = %login.entity, subject = %login.subject, report = ?report, "hot sync at login did not complete");
        } else {
            tracing::info!(entity = %login.entity, subject = %login.subject, report = ?report, "hot sync at login");
        }
        report
    }

    async fn queue_syncs(&self, login: &Login) -> LoginReport {
        let mut report = LoginReport::default();
        let settings = match self.sync.entity_settings().get(&login.entity).await {
            Ok(v) => v.settings,
            Err(e) => {
                report
                    .errors
                    .push(format!("settings could not be read: {e}"));
                return report;
            }
        };
        if !settings.hot_sync_enabled {
            report.disabled = true;
            return report;
        }
        let (targets, skipped) = targets(&settings.claims, &login.claims);
        report.skipped = skipped;
        let req = self.request(login);
        let outcomes = futures::future::join_all(
            targets
                .iter()
                .map(|target| self.sync.enqueue(&req, target, None)),
        )
        .await;
        for outcome in outcomes {
            match outcome {
                Ok(Enqueued::Queued { .. }) => report.queued += 1,
                Ok(
                    Enqueued::CoalescedIntoQueued { .. } | Enqueued::CoalescedIntoRunning { .. },
                ) => report.coalesced += 1,
                Ok(Enqueued::Throttled { .. }) => {}
                Err(f) => report.errors.push(f.error.to_string()),
            }
        }
        report
    }

    fn request(&self, login: &Login) -> SyncRequest {
        let deadline: EpochMillis = self
            .sync
            .now()
            .plus_ms(self.deadline_margin.as_millis() as i64);
        let mut req = SyncRequest::new(
            login.entity.clone(),
            Trigger::HotSync,
            login.correlation_id.clone(),
            deadline,
        );
        req.subject = Some(login.subject.clone());
        req
    }
}

/// A claim's values: a JSON array of strings, or one string holding one or several values
/// separated by commas or white space.
fn claim_values(value: Option<&Value>) -> Vec<String> {
    let split = |s: &str| -> Vec<String> {
        s.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect()
    };
    match value {
        Some(Value::String(s)) => split(s),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .flat_map(split)
            .collect(),
        Some(Value::Number(n)) => vec![n.to_string()],
        _ => Vec::new(),
    }
}

/// The jobs a login's claims call for under the entity's claim configurations, and the
/// values that were skipped. Configurations for other services or issuers are ignored.
pub fn targets(
    configs: &[ClaimConfig],
    claims: &Map<String, Value>,
) -> (Vec<JobTarget>, Vec<String>) {
    let mut out: Vec<JobTarget> = Vec::new();
    let mut skipped = Vec::new();
    for config in configs.iter().filter(|c| c.applies_to_zuora()) {
        let raw = claims.get(&config.claim);
        match (&config.kind, &config.account_field) {
            (ClaimKind::Account, _) if claim_bytes(raw) > MAX_ACCOUNT_CLAIM_BYTES => {
                skipped.push(format!(
                    "claim {}: longer than {MAX_ACCOUNT_CLAIM_BYTES} bytes, not read",
                    config.claim
                ));
            }
            (ClaimKind::Account, _) => {
                for value in claim_values(raw) {
                    match AccountKey::parse(&value) {
                        Ok(account) => out.push(JobTarget::Account { account }),
                        Err(e) => skipped.push(format!("claim {}: {e}", config.claim)),
                    }
                }
            }
            (ClaimKind::Lookup, Some(_)) if config.claim == "email" && !email_verified(claims) => {
                skipped.push("claim email: not verified (email_verified is not true)".into());
            }
            (ClaimKind::Lookup, Some(field)) => {
                // The whole value is one external id (an email may not be split).
                let value = match raw {
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(Value::Number(n)) => Some(n.to_string()),
                    _ => None,
                };
                match value {
                    Some(v) if v.is_empty() => {}
                    // Never sent into a ZOQL literal (L11).
                    Some(v) if v.chars().any(char::is_control) => skipped.push(format!(
                        "claim {}: contains control characters, not looked up",
                        config.claim
                    )),
                    Some(v) if v.len() > MAX_LOOKUP_VALUE_BYTES => skipped.push(format!(
                        "claim {}: longer than {MAX_LOOKUP_VALUE_BYTES} bytes, not looked up",
                        config.claim
                    )),
                    Some(value) => out.push(JobTarget::Lookup {
                        field: field.clone(),
                        value,
                    }),
                    None => {}
                }
            }
            (ClaimKind::Lookup, None) => {}
        }
    }
    // First occurrence kept, in claim order; a set keeps this linear in the claim's size.
    let mut seen = std::collections::HashSet::new();
    let mut unique: Vec<JobTarget> = Vec::new();
    let mut over = 0;
    for t in out {
        if !seen.insert(serde_json::to_string(&t).unwrap_or_default()) {
            continue;
        }
        if unique.len() < MAX_TARGETS_PER_LOGIN {
            unique.push(t);
        } else {
            over += 1;
        }
    }
    if over > 0 {
        skipped.push(format!(
            "{over} more account(s) not queued: at most {MAX_TARGETS_PER_LOGIN} per login"
        ));
    }
    (unique, skipped)
}

fn claim_bytes(value: Option<&Value>) -> usize {
    match value {
        Some(Value::String(s)) => s.len(),
        Some(other) => other.to_string().len(),
        None => 0,
    }
}

/// Option B by email trusts the address only once the IdP verified it (Cognito and OIDC send
/// `email_verified` as `true` or `"true"`).
fn email_verified(claims: &Map<String, Value>) -> bool {
    matches!(claims.get("email_verified"), Some(Value::Bool(true)))
        || matches!(claims.get("email_verified"), Some(Value::String(s)) if s == "true")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(claim: &str, kind: ClaimKind, field: Option<&str>, service: &str) -> ClaimConfig {
        ClaimConfig {
            claim: claim.into(),
            service: service.into(),
            issuer: "zuora".into(),
            kind,
            account_field: field.map(str::to_string),
        }
    }

    #[test]
    fn option_a_reads_several_values_and_ignores_other_services() {
        let configs = [
            config("custom:zuora_account", ClaimKind::Account, None, "zuora"),
            config("custom:other", ClaimKind::Account, None, "salesforce"),
        ];
        let claims = json!({
            "custom:zuora_account": "A00000001, A00000002 A00000001",
            "custom:other": "A00000009",
        });
        let (found, skipped) = targets(&configs, claims.as_object().unwrap());
        let accounts: Vec<String> = found
            .iter()
            .map(|t| match t {
                JobTarget::Account { account } => account.to_string(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(accounts, ["A00000001", "A00000002"]);
        assert!(skipped.is_empty());
    }

    #[test]
    fn option_b_keeps_the_value_whole_and_refuses_huge_ones() {
        let configs = [config(
            "email",
            ClaimKind::Lookup,
            Some("LimioExternalId__c"),
            "zuora",
        )];
        let claims = json!({"email": "o'brien, jr@example.com", "email_verified": true});
        let (found, _) = targets(&configs, claims.as_object().unwrap());
        assert_eq!(
            found,
            [JobTarget::Lookup {
                field: "LimioExternalId__c".into(),
                value: "o'brien, jr@example.com".into()
            }]
        );
        let huge = json!({"email": "x".repeat(MAX_LOOKUP_VALUE_BYTES + 1), "email_verified": true});
        let (found, skipped) = targets(&configs, huge.as_object().unwrap());
        assert!(found.is_empty());
        assert_eq!(skipped.len(), 1);
    }

    /// M3: a login queues at most MAX_TARGETS_PER_LOGIN syncs, reads no huge account claim and
    /// looks up no unverified email.
    #[test]
    fn a_login_cannot_amplify() {
        let configs = [config(
            "custom:zuora_account",
            ClaimKind::Account,
            None,
            "zuora",
        )];
        let many: Vec<String> = (1..=200).map(|i| format!("A{i:08}")).collect();
        let claims = json!({"custom:zuora_account": many.join(",")});
        let (found, skipped) = targets(&configs, claims.as_object().unwrap());
        assert_eq!(found.len(), MAX_TARGETS_PER_LOGIN);
        assert_eq!(
            skipped,
            ["190 more account(s) not queued: at most 10 per login"]
        );

        let huge = json!({"custom:zuora_account": "A00000001,".repeat(400)});
        let (found, skipped) = targets(&configs, huge.as_object().unwrap());
        assert!(found.is_empty());
        assert_eq!(skipped.len(), 1, "{skipped:?}");

        let by_email = [config(
            "email",
            ClaimKind::Lookup,
            Some("Email__c"),
            "zuora",
        )];
        for (verified, expected) in [(json!(false), 0), (json!("true"), 1), (json!(true), 1)] {
            let claims = json!({"email": "jane@example.com", "email_verified": verified});
            let (found, _) = targets(&by_email, claims.as_object().unwrap());
            assert_eq!(found.len(), expected, "email_verified {verified}");
        }
        let unverified = json!({"email": "jane@example.com"});
        assert!(
            targets(&by_email, unverified.as_object().unwrap())
                .0
                .is_empty()
        );
    }
}
