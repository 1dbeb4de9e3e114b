//! What passes through the Zuora port besides billing data: account list pages, the call
//! context, and ZOQL literals.

/// An account as a list names it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountRef {
    pub id: String,
    pub account_number: String,
    #[serde(default)]
    pub updated_date: Option<String>,
}

/// One page of an account list and the cursor of the next.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountPage {
    pub accounts: Vec<AccountRef>,
    pub next: Option<String>,
}

/// The object lists reconciliation reads for changes whose callouts were lost: an edit of a
/// subscription, payment method or contact does not move its account's `updatedDate`, so each
/// is read on its own.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    strum::EnumIter,
    strum::IntoStaticStr,
    strum::Display,
)]
#[strum(serialize_all = "snake_case")]
pub enum ChangeList {
    Accounts,
    Subscriptions,
    PaymentMethods,
    Contacts,
}

/// One query of a change list, in (`updatedDate`, `id`) order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeQuery {
    /// Records updated exactly at `at` (UTC RFC 3339) with an id after `after_id`, by id: the
    /// ties at a mark, read in a stable order so a crowd of them cannot stall the scan.
    Ties {
        at: String,
        after_id: Option<String>,
    },
    /// Records updated after `at`, oldest update first.
    After { at: String },
}

/// A record of a change list: enough to name the account to sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedRecord {
    pub id: String,
    /// The account's id (its number for the accounts list, when given); `None` for a record
    /// that names none (it still moves the scan's position).
    pub account: Option<String>,
    /// `updatedDate` as Zuora wrote it.
    pub updated: Option<String>,
}

/// One page of a change list and the cursor of the next.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChangePage {
    pub records: Vec<ChangedRecord>,
    pub next: Option<String>,
}

/// Per-call context: the correlation id travels to Zuora as `Zuora-Track-Id`.
#[derive(Debug, Clone, Default)]
pub struct CallContext {
    pub correlation_id: String,
}

impl CallContext {
    pub fn new(correlation_id: impl Into<String>) -> Self {
        Self {
            correlation_id: correlation_id.into(),
        }
    }

    /// Zuora accepts at most 64 US-ASCII characters without `: ; " '`; anything else is dropped
    /// rather than sent.
    pub fn track_id(&self) -> Option<&str> {
        let id = self.correlation_id.as_str();
        let ok = !id.is_empty()
            && id.len() <= 64
            && id
                .chars()
                .all(|c| c.is_ascii_graphic() && !matches!(c, ':' | ';' | '"' | '\''));
        ok.then_some(id)
    }
}

/// A ZOQL string literal: single-quoted, with `\` and `'` escaped, so a value can never end
/// the literal and change the query.
pub fn zoql_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zoql_literals_cannot_escape_their_quotes() {
        assert_eq!(zoql_literal("abc"), "'abc'");
        assert_eq!(zoql_literal("' or 1=1"), r"'\' or 1=1'");
        assert_eq!(zoql_literal(r"a\'b"), r"'a\\\'b'");
    }

    #[test]
    fn the_parts_of_an_export_hold_each_account_once_and_about_evenly() {
        let ids: Vec<String> = (0..4_000).map(|i| format!("2c92c0f8{i:024x}")).collect();
        let mut sizes = Vec::new();
        for part in ExportPart::all(4) {
            sizes.push(ids.iter().filter(|id| part.holds(id)).count());
        }
        assert_eq!(sizes.iter().sum::<usize>(), ids.len(), "{sizes:?}");
        assert!(
            sizes.iter().all(|&n| (900..=1_100).contains(&n)),
            "{sizes:?}"
        );
        assert!(ids.iter().all(|id| ExportPart::WHOLE.holds(id)));
        assert_eq!(ExportPart { index: 2, of: 4 }.to_string(), "3/4");
    }

    #[test]
    fn track_id_is_only_sent_when_zuora_accepts_it() {
        assert_eq!(CallContext::new("abc-123").track_id(), Some("abc-123"));
        assert_eq!(CallContext::new("a:b").track_id(), None);
        assert_eq!(CallContext::new("x".repeat(65)).track_id(), None);
    }
}

/// Where a bulk export (AQuA job) is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportState {
    /// Submitted or executing: poll again later.
    Running,
    /// Every object's file.
    Ready(Vec<ExportFile>),
    /// Zuora ended the job without its files (an error, an aborted query, a cancellation).
    Failed(String),
}

/// A share of an export's accounts, when one process cannot hold them all: part `index` of
/// `of` holds the accounts whose id hashes to `index` (the same split wherever it is made).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExportPart {
    pub index: u32,
    pub of: u32,
}

impl ExportPart {
    /// Every account.
    pub const WHOLE: Self = Self { index: 0, of: 1 };

    pub fn is_whole(&self) -> bool {
        self.of <= 1
    }

    /// Whether this part holds the account. A stable hash (SHA-256), not std's, so every
    /// process and version splits an export the same way.
    pub fn holds(&self, account_id: &str) -> bool {
        use sha2::{Digest, Sha256};
        if self.is_whole() {
            return true;
        }
        let digest = Sha256::digest(account_id.as_bytes());
        let head = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
        head % self.of == self.index
    }

    /// Every part of a split into `of`.
    pub fn all(of: u32) -> impl Iterator<Item = Self> {
        (0..of.max(1)).map(move |index| Self {
            index,
            of: of.max(1),
        })
    }
}

impl std::fmt::Display for ExportPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index + 1, self.of)
    }
}

/// One object's file of a finished export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportFile {
    pub object: String,
    pub file_id: String,
    pub records: u64,
}
