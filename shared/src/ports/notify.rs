//! The notification port: delivering a summary to an entity's channel.

use crate::model::{Channel, EntityId, Summary};

#[async_trait::async_trait]
pub trait Notifier: Send + Sync {
    /// Sends the summary; answers a short delivery note for the record (`sent …` or why not).
    /// Delivery is best effort: a failure is a note, never an error that fails a sync.
    async fn send(&self, entity: &EntityId, channel: Option<&Channel>, summary: &Summary)
    -> String;
}
