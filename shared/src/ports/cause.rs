//! The underlying failure of an adapter call, kept whole: its text (with the service's own
//! code and message, never a credential) for events and answers, and the error itself as the
//! `source()` of the port's error, so logs can walk the chain.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

#[derive(Clone)]
pub struct Cause {
    message: String,
    source: Option<Arc<dyn Error + Send + Sync>>,
}

impl Cause {
    /// A cause known only by its description (an in-memory adapter's simulated outage).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// A cause with the error behind it; `message` is what to show (at most 500 characters).
    pub fn with_source(
        message: impl Into<String>,
        source: impl Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            message: message.into().chars().take(500).collect(),
            source: Some(Arc::new(source)),
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cause")
            .field("message", &self.message)
            .field("source", &self.source)
            .finish()
    }
}

impl Error for Cause {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

/// Two causes are the same failure when they say the same thing.
impl PartialEq for Cause {
    fn eq(&self, other: &Self) -> bool {
        self.message == other.message
    }
}

impl From<String> for Cause {
    fn from(message: String) -> Self {
        Self::new(message)
    }
}

impl From<&str> for Cause {
    fn from(message: &str) -> Self {
        Self::new(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_is_kept_for_the_chain() {
        let io = std::io::Error::other("connection reset");
        let cause = Cause::with_source("DynamoDB: connection reset", io);
        assert_eq!(cause.to_string(), "DynamoDB: connection reset");
        assert_eq!(cause.source().unwrap().to_string(), "connection reset");
        assert!(Cause::new("x").source().is_none());
    }
}
