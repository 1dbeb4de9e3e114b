//! The summary of an on-demand or manual sync, when the entity's notification level asks.

use super::*;
use crate::model::{EntitySettings, SubscriptionFailure, SyncEvent, Trigger};

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
        let summary = crate::core::notify::event_summary(event);
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
        .map(crate::core::notify::describe_failure)
        .collect();
    format!(
        "{} of {total} subscriptions could not be synced and keep their stored copy: {}",
        failures.len(),
        names.join("; ")
    )
}
