//! UTC dates as SOPS writes them (`sops.lastmodified`, RFC 3339) and as people type them
//! (`2026-01-01`), to and from [`SystemTime`] (pure; whole seconds).

use std::time::SystemTime;

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

/// `YYYY-MM-DD` as the midnight (UTC) it starts with.
pub fn parse_date(text: &str) -> Option<SystemTime> {
    let date = Date::parse(text, format_description!("[year]-[month]-[day]")).ok()?;
    Some(date.midnight().assume_utc().into())
}

/// An RFC 3339 time (`2026-05-22T20:16:23Z`; fractions dropped, `±hh:mm` offsets read).
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let time = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    Some(time.replace_nanosecond(0).ok()?.into())
}

/// `2026-05-22T20:16:23Z`.
pub fn format_rfc3339(time: SystemTime) -> String {
    OffsetDateTime::from(time)
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn dates_round_trip() {
        for text in [
            "1970-01-01T00:00:00Z",
            "2024-02-29T23:59:59Z",
            "2026-05-22T20:16:23Z",
            "2100-03-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
        ] {
            assert_eq!(format_rfc3339(parse_rfc3339(text).unwrap()), text);
        }
        assert_eq!(
            parse_rfc3339("2024-11-12T13:33:42Z").unwrap(),
            UNIX_EPOCH + Duration::from_secs(1_731_418_422)
        );
    }

    #[test]
    fn fractions_and_offsets() {
        let utc = parse_rfc3339("2026-01-01T10:00:00Z").unwrap();
        assert_eq!(parse_rfc3339("2026-01-01T10:00:00.123456Z"), Some(utc));
        assert_eq!(parse_rfc3339("2026-01-01T12:00:00+02:00"), Some(utc));
        assert_eq!(parse_rfc3339("2026-01-01T09:30:00-00:30"), Some(utc));
        assert_eq!(
            parse_date("2026-01-01"),
            parse_rfc3339("2026-01-01T00:00:00Z")
        );
    }

    #[test]
    fn malformed_dates_are_refused() {
        for bad in [
            "",
            "2026-1-01",
            "2026-13-01",
            "2026-01-01x",
            "yesterday",
            "2026-01-01-01",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
        for bad in [
            "2026-01-01",
            "2026-01-01T25:00:00Z",
            "2026-01-01T10:00Z",
            "2026-01-01T10:00:00",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
