//! Times in logs: `--since`/`:since` windows and how timestamps are printed.

/// "10m" → now − 10 minutes; RFC 3339 → that instant; as unix seconds.
pub fn parse_since(text: &str, now: jiff::Timestamp) -> Result<i64, String> {
    if let Ok(ts) = text.parse::<jiff::Timestamp>() {
        return Ok(ts.as_second());
    }
    let d = humantime::parse_duration(text).map_err(|e| {
        format!("--since {text:?}: {e} (use e.g. 10m, 2h, or 2026-01-02T03:04:05Z)")
    })?;
    let secs =
        i64::try_from(d.as_secs()).map_err(|_| format!("--since {text:?} is too far back"))?;
    Ok(now.as_second() - secs)
}

/// RFC 3339 with milliseconds, UTC.
pub fn format_ts(nanos: i128) -> String {
    jiff::Timestamp::from_nanosecond(nanos)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

/// RFC 3339 with Docker's full nanoseconds, UTC: machine-readable output must
/// keep lines of the same millisecond apart and in order.
pub fn format_ts_nanos(nanos: i128) -> String {
    jiff::Timestamp::from_nanosecond(nanos)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.9fZ").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_durations_and_timestamps() {
        let now: jiff::Timestamp = "2026-11-25T12:00:00Z".parse().expect("ts");
        assert_eq!(parse_since("10m", now), Ok(now.as_second() - 600));
        assert_eq!(parse_since("2h", now), Ok(now.as_second() - 7200));
        assert_eq!(
            parse_since("2026-11-25T11:00:00Z", now),
            Ok(now.as_second() - 3600)
        );
        assert!(
            parse_since("yesterday-ish", now)
                .expect_err("bad")
                .contains("--since")
        );
    }

    #[test]
    fn timestamps_print_in_utc_at_two_precisions() {
        let nanos = 1_764_000_000_123_456_789_i128;
        assert_eq!(format_ts(nanos), "2025-11-24T16:00:00.123Z");
        assert_eq!(format_ts_nanos(nanos), "2025-11-24T16:00:00.123456789Z");
    }
}
