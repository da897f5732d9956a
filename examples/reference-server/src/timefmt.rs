//! Wall-clock time as Jellyfin clients read and write it, through the `time` crate.
//!
//! The stores keep milliseconds since the Unix epoch; Jellyfin's JSON carries ISO 8601 UTC
//! strings with seven fractional digits (`2024-05-01T12:00:00.0000000Z`, .NET's round-trip
//! format), and clients send dates back (`DatePlayed`) as RFC 3339 with any UTC offset. Parsing
//! is the `time` crate's RFC 3339 parser, so offsets and seconds are honoured
//! (`14:00:30+02:00` is `12:00:30Z`) and impossible dates (31 February, hour 24) are refused;
//! a date-time without an offset is taken as UTC, as .NET does for `DateTime` parameters.

use std::time::{SystemTime, UNIX_EPOCH};

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `ms` since the epoch as `YYYY-MM-DDTHH:MM:SS.fffffffZ` (past year 9999: the largest date
/// .NET can read).
pub fn iso8601(ms: u64) -> String {
    let max = OffsetDateTime::new_utc(
        time::Date::MAX
            .replace_year(9999)
            .unwrap_or(time::Date::MAX),
        time::Time::MIDNIGHT,
    );
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .filter(|at| *at <= max)
        .unwrap_or(max);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.nanosecond() / 100
    )
}

/// Parses an RFC 3339 date-time (any offset; none means UTC) into milliseconds since the epoch.
/// `None` when the text is not one, names an impossible date, or lies before 1970.
pub fn parse_iso8601(s: &str) -> Option<u64> {
    let s = s.trim();
    let at = OffsetDateTime::parse(s, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(&format!("{s}Z"), &Rfc3339))
        .ok()?;
    u64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_dotnet_round_trip() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.0000000Z");
        assert_eq!(iso8601(951_827_696_789), "2000-02-29T12:34:56.7890000Z");
        assert_eq!(iso8601(1_714_564_800_000), "2024-05-01T12:00:00.0000000Z");
        assert!(iso8601(u64::MAX).starts_with("9999-"));
    }

    #[test]
    fn parses_back() {
        for ms in [0, 951_827_696_789, 1_714_564_800_000, 4_102_444_799_999] {
            assert_eq!(parse_iso8601(&iso8601(ms)), Some(ms));
        }
        assert_eq!(
            parse_iso8601("2024-05-01T12:00:00Z"),
            Some(1_714_564_800_000)
        );
        assert_eq!(
            parse_iso8601("2024-05-01T12:00:00"),
            Some(1_714_564_800_000),
            "no offset: UTC"
        );
    }

    #[test]
    fn honours_offsets_and_seconds() {
        // 14:00:30 at +02:00 is 12:00:30 UTC: neither the offset nor the seconds are dropped.
        assert_eq!(
            parse_iso8601("2024-05-01T14:00:30+02:00"),
            Some(1_714_564_830_000)
        );
        assert_eq!(
            parse_iso8601("2024-05-01T07:00:30.250-05:00"),
            Some(1_714_564_830_250)
        );
    }

    #[test]
    fn refuses_impossible_and_malformed_dates() {
        for bad in [
            "2024-02-31T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-05-01T24:00:00Z",
            "2024-05-01T12:00Z",
            "1969-12-31T23:59:59Z",
            "yesterday",
            "",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{bad}");
        }
    }
}
