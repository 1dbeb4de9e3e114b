//! Hot sync Option B in the worker: find the account whose custom field holds the login's
//! claim value, then sync it. The value only ever reaches Zuora as an escaped ZOQL literal.

use super::{Failure, LookupOutcome, OnBusy, SyncError, SyncRequest, SyncService};
use crate::core::settings::valid_account_field;
use crate::model::AccountKey;
use crate::model::zoql_literal;
use crate::model::{EventStatus, SyncEvent};

impl SyncService {
    pub async fn resolve_and_sync(
        &self,
        req: &SyncRequest,
        field: &str,
        value: &str,
    ) -> Result<LookupOutcome, Failure> {
        let event = self.new_event(req, self.clock.now());
        if !valid_account_field(field) {
            let error =
                SyncError::InvalidLookup(format!("{field:?} is not a Zuora custom field name"));
            return Err(self.record_failure(event, error).await);
        }
        let matches = match self.find_accounts(req, field, value).await {
            Ok(m) => m,
            Err(e) => return Err(self.record_failure(event, e).await),
        };
        match matches.as_slice() {
            [] => {
                let reason = format!("no Zuora account has {field} equal to the login's claim");
                self.skip(event, "no_match", reason).await
            }
            [(id, _)] => match AccountKey::parse(id) {
                Ok(key) => self
                    .sync_account(req, &key, OnBusy::Coalesce)
                    .await
                    .map(LookupOutcome::Ran),
                Err(e) => {
                    let error = SyncError::InvalidLookup(format!("Zuora returned account id {e}"));
                    Err(self.record_failure(event, error).await)
                }
            },
            several => {
                let numbers: Vec<&str> = several.iter().map(|(_, n)| n.as_str()).collect();
                let reason = format!(
                    "{} Zuora accounts have {field} equal to the login's claim ({}); none was synced",
                    several.len(),
                    numbers.join(", ")
                );
                tracing::warn!(field, accounts = ?numbers, "ambiguous hot sync lookup");
                self.skip(event, "ambiguous", reason).await
            }
        }
    }

    /// (id, number) of every account whose `field` equals `value`.
    async fn find_accounts(
        &self,
        req: &SyncRequest,
        field: &str,
        value: &str,
    ) -> Result<Vec<(String, String)>, SyncError> {
        let run = self.prepare(req).await?;
        let zoql = format!(
            "select Id, AccountNumber from Account where {field} = {}",
            zoql_literal(value)
        );
        let records = run.zuora.query(&zoql, &run.call).await?;
        let text = |r: &serde_json::Value, k: &str| {
            r.get(k)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        Ok(records
            .iter()
            .map(|r| (text(r, "Id"), text(r, "AccountNumber")))
            .collect())
    }

    async fn skip(
        &self,
        mut event: SyncEvent,
        code: &str,
        reason: String,
    ) -> Result<LookupOutcome, Failure> {
        let now = self.clock.now();
        event.status = EventStatus::Skipped;
        event.code = Some(code.to_string());
        event.reason = Some(reason.clone());
        event.duration_ms = Some(now.0.saturating_sub(event.created_at.0).max(0) as u64);
        event.updated_at = now;
        if let Err(e) = self.events.put_event(&event).await {
            return Err(Failure::new(e.into(), event.id));
        }
        Ok(LookupOutcome::Skipped {
            event_id: event.id,
            code: code.to_string(),
            reason,
        })
    }
}
