//! Syncs per hour by outcome, and their latency: what the console's chart shows.
//!
//! A closed hour (ended [`SETTLE_MS`] ago, so no sync created in it still runs) never changes:
//! its statistics are computed once from the events and saved. Each answer then reads only the
//! events of the hours not saved yet — usually the last one or two — so a console refreshing
//! every few seconds costs a small query, not a day of events.

use crate::model::{EntityId, EpochMillis, HOUR_MS, HourStats, SyncStats};
use crate::ports::{EventStore, StoreError};
use std::collections::HashMap;

/// After this long past its end an hour is closed: a sync runs within one Lambda invocation
/// (15 minutes at most), so every event created in the hour has ended.
pub const SETTLE_MS: i64 = 20 * 60 * 1000;
/// Events read for one answer at most (about 20 MB of index reads at DynamoDB's 1 MB pages
/// would be far more; the four attributes read are ~60 bytes each).
pub const MAX_EVENTS_READ: usize = 100_000;
/// The window the route accepts, in hours.
pub const MAX_HOURS: u32 = 168;

/// The statistics of the `hours` hours up to and including the current one.
pub async fn hourly(
    events: &dyn EventStore,
    entity: &EntityId,
    now: EpochMillis,
    hours: u32,
) -> Result<SyncStats, StoreError> {
    let hours = i64::from(hours.clamp(1, MAX_HOURS));
    let current = now.0.div_euclid(HOUR_MS) * HOUR_MS;
    let starts: Vec<i64> = (0..hours).rev().map(|i| current - i * HOUR_MS).collect();
    let closed: Vec<i64> = starts
        .iter()
        .copied()
        .filter(|s| s + HOUR_MS + SETTLE_MS <= now.0)
        .collect();
    let mut known: HashMap<i64, HourStats> = events
        .saved_hours(entity, &closed)
        .await?
        .into_iter()
        .map(|h| (h.start_ms, h))
        .collect();
    let mut complete = true;
    if let Some(&first_missing) = starts.iter().find(|s| !known.contains_key(s)) {
        let (outcomes, all) = events
            .event_outcomes(entity, EpochMillis(first_missing), now, MAX_EVENTS_READ)
            .await?;
        complete = all;
        let mut by_hour: HashMap<i64, Vec<_>> = HashMap::new();
        for o in &outcomes {
            by_hour
                .entry(o.created_at.0.div_euclid(HOUR_MS) * HOUR_MS)
                .or_default()
                .push(o);
        }
        for &start in starts.iter().filter(|s| **s >= first_missing) {
            if known.contains_key(&start) {
                continue;
            }
            let hour = HourStats::from_outcomes(start, by_hour.remove(&start).unwrap_or_default());
            // Only a closed hour read whole is final.
            if all && closed.contains(&start) {
                events.save_hour(entity, &hour).await?;
            }
            known.insert(start, hour);
        }
    }
    Ok(SyncStats {
        from: EpochMillis(starts[0]).to_rfc3339(),
        to: now.to_rfc3339(),
        complete,
        hours: starts
            .iter()
            .map(|s| known.remove(s).unwrap_or_default())
            .collect(),
    })
}
