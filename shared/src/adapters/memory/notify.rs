//! A notifier that delivers nothing and remembers everything: tests read what was sent, to
//! whom, and the core gets a delivery note back as from a real channel.

use crate::model::{Channel, EntityId, Summary};
use crate::ports::Notifier;
use std::sync::Mutex;

/// One summary handed to the notifier.
#[derive(Debug, Clone, PartialEq)]
pub struct SentSummary {
    pub entity: EntityId,
    pub channel: Option<Channel>,
    pub summary: Summary,
}

/// Implements `Notifier`: records each summary and answers a fixed note.
#[derive(Debug)]
pub struct RecordingNotifier {
    note: String,
    sent: Mutex<Vec<SentSummary>>,
}

impl Default for RecordingNotifier {
    fn default() -> Self {
        Self::new()
    }
}

impl RecordingNotifier {
    /// Answers `recorded` for every summary.
    pub fn new() -> Self {
        Self::with_note("recorded")
    }

    /// Answers `note` for every summary (e.g. a delivery failure text).
    pub fn with_note(note: impl Into<String>) -> Self {
        Self {
            note: note.into(),
            sent: Mutex::new(Vec::new()),
        }
    }

    /// Every summary so far, in order.
    pub fn sent(&self) -> Vec<SentSummary> {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn count(&self) -> usize {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[async_trait::async_trait]
impl Notifier for RecordingNotifier {
    async fn send(
        &self,
        entity: &EntityId,
        channel: Option<&Channel>,
        summary: &Summary,
    ) -> String {
        self.sent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(SentSummary {
                entity: entity.clone(),
                channel: channel.cloned(),
                summary: summary.clone(),
            });
        self.note.clone()
    }
}
