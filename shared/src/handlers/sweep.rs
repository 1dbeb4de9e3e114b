//! The EventBridge schedule (every minute) → one sweep per configured entity.

use crate::core::realtime::Realtime;
use crate::model::{EntityId, EpochMillis};

/// Some entities' sweeps failed (the others ran). The function returns it as its error, so the
/// platform counts a failed invocation (the `Errors` metric and its alarm) instead of a normal
/// return that hides a sweep failing every minute.
#[derive(Debug, thiserror::Error)]
#[error("the sweep failed for {}: {}", .failed.join(", "), .report)]
pub struct SweepFailed {
    pub failed: Vec<String>,
    /// One line per entity, as on success.
    pub report: serde_json::Value,
}

/// Sweeps every entity, each even if another failed; answers one line per entity for the
/// invocation's log, or the same report as an error when any entity's sweep failed.
pub async fn sweep_event(
    realtime: &Realtime,
    entities: &[EntityId],
    event: &serde_json::Value,
    deadline: EpochMillis,
) -> Result<serde_json::Value, SweepFailed> {
    let correlation = event
        .get("id")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("sweep")
        .to_string();
    let mut report = Vec::new();
    let mut failed = Vec::new();
    let mut metrics = crate::handlers::metrics::Metrics::default();
    for entity in entities {
        let outcome = match realtime.sweep(entity, &correlation, deadline).await {
            Ok(Some(session)) => {
                metrics.count(entity.as_str(), "SessionsStarted", 1);
                metrics.count(entity.as_str(), "SessionAccounts", session.total);
                serde_json::json!({"entity": entity, "session": session.id, "accounts": session.total})
            }
            Ok(None) => serde_json::json!({"entity": entity, "session": null}),
            Err(e) => {
                tracing::error!(entity = %entity, error = %e, "sweep failed for this entity");
                failed.push(entity.to_string());
                metrics.count(entity.as_str(), "SweepFailed", 1);
                serde_json::json!({"entity": entity, "error": e.to_string()})
            }
        };
        report.push(outcome);
    }
    if !metrics.is_empty() {
        metrics.emit("sync-sweep");
    }
    let report = serde_json::json!({ "entities": report });
    if failed.is_empty() {
        Ok(report)
    } else {
        Err(SweepFailed { failed, report })
    }
}
