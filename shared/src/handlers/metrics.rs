//! Metrics in CloudWatch's Embedded Metric Format: one JSON line per entity on stdout, which
//! Lambda's log pipeline turns into metrics in the `ZuoraSync` namespace, by `Function` and
//! `Entity` and by `Function` alone (no agent, no API call, nothing to grant). The template's alarms watch them.

use std::collections::BTreeMap;

pub const NAMESPACE: &str = "ZuoraSync";

/// Every metric the product writes (the template's alarms may watch only these).
pub const NAMES: [&str; 17] = [
    "SyncSucceeded",
    "SyncCoalesced",
    "SyncSkipped",
    "SyncFailed",
    "SyncRetried",
    "ZuoraBusy",
    "QueueAge",
    "SessionLag",
    "ZuoraRequests",
    "ZuoraThrottled",
    "SessionsStarted",
    "SessionAccounts",
    "SweepFailed",
    "SalesforceCalls",
    "SalesforceRecordsWritten",
    "SalesforceRecordsFailed",
    "SalesforcePaused",
];

/// Counted events (`Count`) and durations (`Milliseconds`, the largest seen) of one
/// invocation, per entity.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Metrics {
    counts: BTreeMap<(String, &'static str), f64>,
    durations: BTreeMap<(String, &'static str), f64>,
}

impl Metrics {
    pub fn count(&mut self, entity: &str, name: &'static str, n: u64) {
        debug_assert!(NAMES.contains(&name), "{name} is not in NAMES");
        *self.counts.entry((entity.to_string(), name)).or_default() += n as f64;
    }

    /// Keeps the largest duration seen under `name` (queue age, session lag).
    pub fn duration_ms(&mut self, entity: &str, name: &'static str, ms: i64) {
        debug_assert!(NAMES.contains(&name), "{name} is not in NAMES");
        let slot = self
            .durations
            .entry((entity.to_string(), name))
            .or_default();
        *slot = slot.max(ms.max(0) as f64);
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty() && self.durations.is_empty()
    }

    /// The EMF lines, one per entity.
    pub fn lines(&self, function: &str, timestamp_ms: i64) -> Vec<String> {
        let mut by_entity: BTreeMap<&str, Vec<(&str, &str, f64)>> = BTreeMap::new();
        for ((entity, name), v) in &self.counts {
            by_entity
                .entry(entity)
                .or_default()
                .push((name, "Count", *v));
        }
        for ((entity, name), v) in &self.durations {
            by_entity
                .entry(entity)
                .or_default()
                .push((name, "Milliseconds", *v));
        }
        by_entity
            .into_iter()
            .map(|(entity, metrics)| {
                let definitions: Vec<serde_json::Value> = metrics
                    .iter()
                    .map(|(name, unit, _)| serde_json::json!({"Name": name, "Unit": unit}))
                    .collect();
                let mut line = serde_json::json!({
                    "_aws": {
                        "Timestamp": timestamp_ms,
                        "CloudWatchMetrics": [{
                            "Namespace": NAMESPACE,
                            // Per entity, and per function across entities (what alarms watch).
                            "Dimensions": [["Function", "Entity"], ["Function"]],
                            "Metrics": definitions,
                        }],
                    },
                    "Function": function,
                    "Entity": entity,
                });
                for (name, _, value) in metrics {
                    line[name] = serde_json::json!(value);
                }
                line.to_string()
            })
            .collect()
    }

    /// Writes the lines to stdout, where Lambda's log pipeline reads them, stamped now (the
    /// wall clock: CloudWatch files metrics by real time).
    /// Only inside Lambda (or with `ZS_EMF=1`): elsewhere nothing reads the lines, and a local
    /// stack or benchmark would only print them between its own output.
    pub fn emit(&self, function: &str) {
        use std::io::Write;
        static IN_LAMBDA: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        let enabled = *IN_LAMBDA.get_or_init(|| {
            std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some()
                || std::env::var("ZS_EMF").is_ok_and(|v| v == "1")
        });
        if !enabled {
            return;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let mut out = std::io::stdout().lock();
        for line in self.lines(function, now) {
            // A metric that cannot be written is not worth failing the invocation for.
            let _ = writeln!(out, "{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_emf_line_per_entity_with_every_metric_declared() {
        let mut m = Metrics::default();
        m.count("eu", "SyncSucceeded", 2);
        m.count("eu", "SyncSucceeded", 1);
        m.count("us", "SyncFailed", 1);
        m.duration_ms("eu", "QueueAge", 1_500);
        m.duration_ms("eu", "QueueAge", 700);
        let lines = m.lines("sync-worker", 1_790_000_000_000);
        assert_eq!(lines.len(), 2);
        let eu: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(eu["Entity"], "eu");
        assert_eq!(eu["Function"], "sync-worker");
        assert_eq!(eu["SyncSucceeded"], 3.0);
        assert_eq!(eu["QueueAge"], 1_500.0, "the largest age");
        let spec = &eu["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(spec["Namespace"], NAMESPACE);
        assert_eq!(
            spec["Dimensions"],
            serde_json::json!([["Function", "Entity"], ["Function"]])
        );
        let names: Vec<&str> = spec["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["SyncSucceeded", "QueueAge"]);
        assert_eq!(eu["_aws"]["Timestamp"], 1_790_000_000_000i64);
    }
}
