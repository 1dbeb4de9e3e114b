//! Hourly sync statistics: how many syncs ended how, and how long they took.

use super::{EpochMillis, EventStatus, Trigger};

pub const HOUR_MS: i64 = 3_600_000;

/// One event as the statistics read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventOutcome {
    pub created_at: EpochMillis,
    pub trigger: Trigger,
    pub status: EventStatus,
    pub duration_ms: Option<u64>,
}

/// The syncs created in one hour, by status, and the latency of those that ended.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct HourStats {
    /// The hour's start, RFC 3339.
    #[schema(format = DateTime)]
    pub start: String,
    /// The hour's start, epoch milliseconds.
    pub start_ms: i64,
    pub succeeded: u64,
    pub failed: u64,
    pub skipped: u64,
    pub coalesced: u64,
    pub running: u64,
    pub queued: u64,
    /// Median duration of the syncs that succeeded or failed; null when none did.
    pub p50_ms: Option<u64>,
    /// 95th percentile duration (nearest rank); null when none ended.
    pub p95_ms: Option<u64>,
}

impl HourStats {
    /// The hour starting at `start_ms` from its events (any order); Salesforce pushes are not
    /// syncs and are left out.
    pub fn from_outcomes<'a>(
        start_ms: i64,
        outcomes: impl IntoIterator<Item = &'a EventOutcome>,
    ) -> Self {
        let mut hour = Self {
            start: EpochMillis(start_ms).to_rfc3339(),
            start_ms,
            ..Self::default()
        };
        let mut durations = Vec::new();
        for o in outcomes {
            if o.trigger == Trigger::SalesforcePush {
                continue;
            }
            let counter = match o.status {
                EventStatus::Succeeded => &mut hour.succeeded,
                EventStatus::Failed => &mut hour.failed,
                EventStatus::Skipped => &mut hour.skipped,
                EventStatus::Coalesced => &mut hour.coalesced,
                EventStatus::Running => &mut hour.running,
                EventStatus::Queued => &mut hour.queued,
            };
            *counter += 1;
            if matches!(o.status, EventStatus::Succeeded | EventStatus::Failed)
                && let Some(d) = o.duration_ms
            {
                durations.push(d);
            }
        }
        durations.sort_unstable();
        hour.p50_ms = nearest_rank(&durations, 50);
        hour.p95_ms = nearest_rank(&durations, 95);
        hour
    }
}

/// The `pct`th percentile of sorted values by the nearest-rank method.
fn nearest_rank(sorted: &[u64], pct: usize) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (pct * sorted.len()).div_ceil(100).max(1);
    Some(sorted[rank - 1])
}

/// Syncs per hour over a window, oldest hour first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct SyncStats {
    #[schema(format = DateTime)]
    pub from: String,
    #[schema(format = DateTime)]
    pub to: String,
    /// False when an hour held more events than one answer reads: its counts are a lower
    /// bound.
    pub complete: bool,
    pub hours: Vec<HourStats>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(status: EventStatus, ms: u64) -> EventOutcome {
        EventOutcome {
            created_at: EpochMillis(0),
            trigger: Trigger::OnDemand,
            status,
            duration_ms: Some(ms),
        }
    }

    #[test]
    fn an_hour_counts_each_status_and_the_latency_of_syncs_that_ended() {
        let mut events: Vec<EventOutcome> = (1..=20)
            .map(|i| ended(EventStatus::Succeeded, i * 10))
            .collect();
        events.push(ended(EventStatus::Failed, 1_000));
        events.push(ended(EventStatus::Skipped, 5));
        events.push(EventOutcome {
            duration_ms: None,
            ..ended(EventStatus::Running, 0)
        });
        events.push(EventOutcome {
            trigger: Trigger::SalesforcePush,
            ..ended(EventStatus::Failed, 9_999)
        });
        let hour = HourStats::from_outcomes(HOUR_MS, &events);
        assert_eq!(
            (hour.succeeded, hour.failed, hour.skipped, hour.running),
            (20, 1, 1, 1)
        );
        // 21 durations: 10..=200 and 1000; rank 11 is 110, rank 20 is 200.
        assert_eq!(hour.p50_ms, Some(110));
        assert_eq!(hour.p95_ms, Some(200));
        assert_eq!(hour.start, "1970-01-01T01:00:00Z");
    }

    #[test]
    fn an_hour_without_ended_syncs_has_no_latency() {
        let hour = HourStats::from_outcomes(0, &[]);
        assert_eq!((hour.p50_ms, hour.p95_ms, hour.succeeded), (None, None, 0));
    }
}
