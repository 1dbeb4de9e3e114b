//! What a notification says and where it goes.

use serde::{Deserialize, Serialize};

/// Where an entity's notifications go (a setting).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Channel {
    Email {
        /// A verified SES identity.
        #[schema(format = Email)]
        from: String,
        #[schema(min_items = 1, max_items = 10, inline)]
        to: Vec<String>,
    },
    Webhook {
        /// https (http only for localhost). Bodies are signed: `X-Zuora-Sync-Signature:
        /// sha256=HMAC-SHA256(secret, "<X-Zuora-Sync-Timestamp>.<body>")`.
        #[schema(format = "uri")]
        url: String,
    },
}

/// What a notification says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub entity: String,
    /// `session`, `on_demand` or `manual`.
    pub kind: String,
    pub id: String,
    pub trigger: String,
    pub succeeded: u64,
    pub failed: u64,
    pub skipped: u64,
    pub written: u64,
    /// Failed accounts or subscriptions, each with its reason.
    pub failures: Vec<String>,
    pub finished_at: String,
}

impl Summary {
    pub fn subject(&self) -> String {
        let outcome = if self.failed > 0 {
            format!("{} failed", self.failed)
        } else {
            "all succeeded".to_string()
        };
        format!(
            "zuora-sync {} {} on {}: {outcome}, {} records written",
            self.kind, self.trigger, self.entity, self.written
        )
    }

    pub fn text(&self) -> String {
        let mut lines = vec![
            self.subject(),
            String::new(),
            format!("id: {}", self.id),
            format!("finished: {}", self.finished_at),
            format!(
                "succeeded {}, failed {}, skipped {}, records written {}",
                self.succeeded, self.failed, self.skipped, self.written
            ),
        ];
        if !self.failures.is_empty() {
            lines.push(String::new());
            lines.push("failed:".into());
            lines.extend(self.failures.iter().map(|f| format!("  - {f}")));
        }
        lines.join("\n")
    }
}
