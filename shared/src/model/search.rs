//! An event log search and one page of its answer.

use crate::model::{EntityId, EpochMillis, EventStatus, SyncEvent, Trigger};

/// The most events one page answers.
pub const MAX_PAGE_SIZE: usize = 100;
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventQuery {
    pub entity: Option<EntityId>,
    /// Zuora account id (or the key given before it was known).
    pub account: Option<String>,
    pub subscription: Option<String>,
    pub customer: Option<String>,
    pub trigger: Option<Trigger>,
    pub status: Option<EventStatus>,
    /// Inclusive bounds on the creation time.
    pub from: Option<EpochMillis>,
    pub to: Option<EpochMillis>,
    pub limit: usize,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EventPage {
    pub events: Vec<SyncEvent>,
    /// Opaque; pass back as `cursor` for the next page. None on the last page.
    pub next_cursor: Option<String>,
}
