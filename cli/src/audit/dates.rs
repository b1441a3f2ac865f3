//! UTC dates as SOPS writes them (`sops.lastmodified`, RFC 3339) and as people type them
//! (`2026-01-01`), to and from [`SystemTime`] (pure; proleptic Gregorian calendar, seconds).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Days since 1970-01-01 of a calendar date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The calendar date of a day number (`civil_from_days`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn from_seconds(seconds: i64) -> SystemTime {
    if seconds >= 0 {
        UNIX_EPOCH + Duration::from_secs(seconds.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_secs(seconds.unsigned_abs())
    }
}

fn number(text: &str, digits: usize) -> Option<i64> {
    (text.len() == digits && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// `YYYY-MM-DD` as the midnight (UTC) it starts with.
pub fn parse_date(text: &str) -> Option<SystemTime> {
    let mut parts = text.split('-');
    let (y, m, d) = (
        number(parts.next()?, 4)?,
        number(parts.next()?, 2)?,
        number(parts.next()?, 2)?,
    );
    if parts.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Some(from_seconds(days_from_civil(y, m, d) * 86_400))
}

/// An RFC 3339 time (`2026-05-22T20:16:23Z`, fractions and `±hh:mm` offsets read).
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let (date, time) = text.split_once(['T', 't'])?;
    let midnight = parse_date(date)?;
    let (clock, offset) = if let Some(clock) = time.strip_suffix(['Z', 'z']) {
        (clock, 0)
    } else {
        let at = time.rfind(['+', '-'])?;
        let (clock, zone) = time.split_at(at);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let (h, m) = zone[1..].split_once(':')?;
        (clock, sign * (number(h, 2)? * 3600 + number(m, 2)? * 60))
    };
    let clock = clock.split('.').next()?;
    let mut hms = clock.split(':');
    let (h, m, s) = (
        number(hms.next()?, 2)?,
        number(hms.next()?, 2)?,
        number(hms.next()?, 2)?,
    );
    if hms.next().is_some() || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let base = match midnight.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    };
    Some(from_seconds(base + h * 3600 + m * 60 + s - offset))
}

/// `2026-05-22T20:16:23Z`.
pub fn format_rfc3339(time: SystemTime) -> String {
    let seconds = match time.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs_f64().ceil() as i64),
    };
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
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
