//! Points in time as the product stores them: epoch milliseconds for leases and event times,
//! epoch seconds only for DynamoDB TTL attributes (which clean up but never decide correctness).

/// Milliseconds since the Unix epoch (lease ends, event times).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EpochMillis(pub i64);

/// Seconds since the Unix epoch: only for DynamoDB TTL attributes, which clean up but never
/// decide correctness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EpochSecs(pub i64);

impl EpochMillis {
    pub fn plus_ms(self, ms: i64) -> Self {
        Self(self.0.saturating_add(ms))
    }
    pub fn to_secs(self) -> EpochSecs {
        EpochSecs(self.0.div_euclid(1000))
    }
    /// RFC 3339 in UTC with milliseconds, for humans and JSON answers.
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default()
    }
}

impl serde::Serialize for EpochMillis {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for EpochMillis {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <i64 as serde::Deserialize>::deserialize(d).map(EpochMillis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_and_secs_do_not_mix() {
        let t = EpochMillis(1_700_000_123_456);
        assert_eq!(t.to_secs(), EpochSecs(1_700_000_123));
        assert_eq!(t.to_rfc3339(), "2023-11-14T22:15:23.456Z");
    }
}
