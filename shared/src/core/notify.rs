//! The one place that says what a notification summary contains: for a finished sync session,
//! and for an on-demand or manual sync's event. The delivery is the `Notifier` port's.

use crate::model::{
    EntityId, EpochMillis, EventStatus, Session, SubscriptionFailure, Summary, SyncEvent,
};

/// "A-S00000273 (Gold plan): Zuora did not answer in time".
pub fn describe_failure(f: &SubscriptionFailure) -> String {
    format!("{} ({}): {}", f.number, f.name, f.reason)
}

/// The summary of a finished session: its counts and each failed account with its reason.
pub fn session_summary(entity: &EntityId, session: &Session, finished_at: EpochMillis) -> Summary {
    Summary {
        entity: entity.to_string(),
        kind: "session".into(),
        id: session.id.clone(),
        trigger: session.trigger.as_str().into(),
        succeeded: session.succeeded,
        failed: session.failed,
        skipped: session.skipped,
        written: session.written,
        failures: session.failures.clone(),
        finished_at: finished_at.to_rfc3339(),
    }
}

/// The summary of one sync's event: one job, succeeded or failed, naming each subscription
/// that failed (or, when the whole sync failed, the account and why).
pub fn event_summary(event: &SyncEvent) -> Summary {
    let failed = event.status == EventStatus::Failed;
    let mut failures: Vec<String> = event.failures.iter().map(describe_failure).collect();
    if failed && failures.is_empty() {
        failures.push(format!(
            "{}: {}",
            event.account.as_deref().unwrap_or("account"),
            event.reason.as_deref().unwrap_or("failed")
        ));
    }
    Summary {
        entity: event.entity.to_string(),
        kind: event.trigger.as_str().to_string(),
        id: event.id.clone(),
        trigger: event.trigger.as_str().to_string(),
        succeeded: u64::from(!failed),
        failed: u64::from(failed),
        skipped: 0,
        written: u64::from(event.written + event.removed),
        failures,
        finished_at: event.updated_at.to_rfc3339(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Trigger;

    #[test]
    fn a_failed_sync_names_the_account_and_why_when_no_subscription_did() {
        let mut event = SyncEvent::new(
            "e1".into(),
            EntityId::parse("eu").unwrap(),
            Trigger::OnDemand,
            EventStatus::Failed,
            "c".into(),
            EpochMillis(0),
        );
        event.account = Some("A00000001".into());
        event.reason = Some("Zuora is unavailable".into());
        let summary = event_summary(&event);
        assert_eq!((summary.succeeded, summary.failed), (0, 1));
        assert_eq!(summary.failures, ["A00000001: Zuora is unavailable"]);
        event.failures = vec![SubscriptionFailure {
            number: "A-S1".into(),
            name: "Gold".into(),
            code: "zuora_timeout".into(),
            reason: "slow".into(),
        }];
        assert_eq!(event_summary(&event).failures, ["A-S1 (Gold): slow"]);
    }
}
