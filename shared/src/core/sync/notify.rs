//! The summary of an on-demand or manual sync, when the entity's notification level asks.

use super::*;
use crate::model::{EntitySettings, EventStatus, SubscriptionFailure, SyncEvent, Trigger};

impl SyncService {
    /// Sends the summary of an on-demand or manual sync when its event says the entity's
    /// level calls for one.
    pub(super) async fn notify(&self, event: &SyncEvent) {
        if event.notify != Some(true) {
            return;
        }
        let channel = match self.entity_settings.get(&event.entity).await {
            Ok(v) => v.settings.notification_channel,
            Err(e) => {
                tracing::warn!(error = %e, "settings unreadable; notification not sent");
                return;
            }
        };
        let failed = event.status == EventStatus::Failed;
        let mut failures: Vec<String> = event
            .failures
            .iter()
            .map(|f| format!("{} ({}): {}", f.number, f.name, f.reason))
            .collect();
        if failed && failures.is_empty() {
            failures.push(format!(
                "{}: {}",
                event.account.as_deref().unwrap_or("account"),
                event.reason.as_deref().unwrap_or("failed")
            ));
        }
        let summary = crate::model::Summary {
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
        };
        let note = self
            .notifier
            .send(&event.entity, channel.as_ref(), &summary)
            .await;
        tracing::info!(event_id = %event.id, delivery = %note, "notification");
    }
}

/// Records the notification the entity's level calls for (on-demand and manual syncs; the
/// delivery itself arrives with real-time sync).
pub(super) fn note_notification(event: &mut SyncEvent, settings: &EntitySettings, failed: u32) {
    if !matches!(event.trigger, Trigger::OnDemand | Trigger::Manual) {
        return;
    }
    let level = settings.notification_level;
    event.notification_level = Some(level.as_str().to_string());
    event.notify = Some(level.should_notify(failed, event.written + event.removed));
}

pub(super) fn failures_summary(failures: &[SubscriptionFailure], total: usize) -> String {
    let names: Vec<String> = failures
        .iter()
        .map(|f| format!("{} ({}): {}", f.number, f.name, f.reason))
        .collect();
    format!(
        "{} of {total} subscriptions could not be synced and keep their stored copy: {}",
        failures.len(),
        names.join("; ")
    )
}
