//! Timestamps in the API's format (RFC 3339, UTC, second precision) and ages.

use jiff::{Timestamp, Unit};

/// Now, as the API writes timestamps: `2026-01-01T00:00:00Z`.
pub fn now_rfc3339() -> String {
    format_ts(Timestamp::now())
}

/// Formats a timestamp at second precision.
pub fn format_ts(ts: Timestamp) -> String {
    let secs = ts.as_second();
    Timestamp::from_second(secs)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// Parses an RFC 3339 timestamp.
pub fn parse(s: &str) -> Option<Timestamp> {
    s.parse::<Timestamp>().ok()
}

/// Seconds elapsed since an RFC 3339 timestamp (negative for the future).
pub fn seconds_since(s: &str) -> Option<i64> {
    let ts = parse(s)?;
    Some(Timestamp::now().since(ts).ok()?.total(Unit::Second).ok()? as i64)
}

/// The kubectl-style age of an RFC 3339 timestamp.
pub fn age_of(s: &str) -> Option<String> {
    seconds_since(s).map(capi_shared::duration::human_seconds)
}

/// Milliseconds since the Unix epoch.
pub fn unix_millis() -> u64 {
    Timestamp::now().as_millisecond().max(0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_ages() {
        let now = now_rfc3339();
        assert_eq!(now.len(), 20, "{now}");
        assert!(now.ends_with('Z'));
        assert_eq!(age_of(&now).as_deref(), Some("0s"));
        assert_eq!(
            age_of("2000-01-01T00:00:00Z").map(|s| s.ends_with('y')),
            Some(true)
        );
        assert!(age_of("not a time").is_none());
    }
}
