//! Just enough date/time handling for the simulator: parsing the ISO-8601 forms Zuora uses (so
//! filters can compare instants written with different offsets) and the few output formats.

use std::time::{SystemTime, UNIX_EPOCH};

/// Parses `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM]` or `YYYY-MM-DD HH:MM:SS` into
/// milliseconds since the Unix epoch. A value without an offset is taken as UTC.
pub fn parse_instant(text: &str) -> Option<i64> {
    let text = text.trim();
    let date = text.get(..10)?;
    let rest = &text[10..];
    let days = parse_date(date)?;
    if rest.is_empty() {
        return Some(days * 86_400_000);
    }
    let rest = rest.strip_prefix(['T', ' '])?;
    let (clock, offset_ms) = split_offset(rest)?;
    let clock_ms = parse_clock(clock)?;
    Some(days * 86_400_000 + clock_ms - offset_ms)
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date.
fn parse_date(date: &str) -> Option<i64> {
    let bytes = date.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let year: i64 = date[0..4].parse().ok()?;
    let month: i64 = date[5..7].parse().ok()?;
    let day: i64 = date[8..10].parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    Some(days_from_civil(year, month, day))
}

/// Splits `HH:MM:SS[.fff]` from a trailing `Z` or `±HH:MM`, returning the offset in ms.
fn split_offset(rest: &str) -> Option<(&str, i64)> {
    if let Some(clock) = rest.strip_suffix('Z') {
        return Some((clock, 0));
    }
    match rest.rfind(['+', '-']) {
        Some(pos) if pos >= 8 => {
            let (clock, offset) = rest.split_at(pos);
            let sign = if offset.starts_with('-') { -1 } else { 1 };
            let (hours, minutes) = offset[1..].split_once(':')?;
            let minutes = hours.parse::<i64>().ok()? * 60 + minutes.parse::<i64>().ok()?;
            Some((clock, sign * minutes * 60_000))
        }
        _ => Some((rest, 0)),
    }
}

fn parse_clock(clock: &str) -> Option<i64> {
    let (whole, fraction) = clock.split_once('.').unwrap_or((clock, ""));
    let mut parts = whole.split(':');
    let hours: i64 = parts.next()?.parse().ok()?;
    let minutes: i64 = parts.next()?.parse().ok()?;
    let seconds: i64 = parts.next().unwrap_or("0").parse().ok()?;
    if parts.next().is_some() || hours > 23 || minutes > 59 || seconds > 60 {
        return None;
    }
    let millis = if fraction.is_empty() {
        0
    } else {
        let digits: String = fraction.chars().chain("000".chars()).take(3).collect();
        digits.parse().ok()?
    };
    Some(((hours * 60 + minutes) * 60 + seconds) * 1000 + millis)
}

/// Howard Hinnant's days_from_civil.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The current time as Zuora writes object timestamps, e.g. `2025-03-21T10:15:00+00:00`.
pub fn now_iso() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .unwrap_or_default();
    iso_from_secs(secs)
}

/// Seconds since the Unix epoch as `2025-03-21T10:15:00+00:00`.
pub fn iso_from_secs(secs: i64) -> String {
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let of_day = secs.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}+00:00",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// v1 payment-method timestamps read `2021-11-15 18:59:08` (tenant-local wall clock, no offset).
pub fn to_v1_datetime(iso: &str) -> String {
    match iso.get(0..19) {
        Some(wall) if iso.as_bytes().get(10) == Some(&b'T') => wall.replacen('T', " ", 1),
        _ => iso.to_string(),
    }
}

/// ZOQL writes datetimes with milliseconds: `2016-10-20T05:46:14.000+02:00`.
pub fn to_zoql_datetime(iso: &str) -> String {
    if iso.len() < 19 || iso.as_bytes()[10] != b'T' {
        return iso.to_string();
    }
    let (wall, zone) = iso.split_at(19);
    let zone = if zone == "Z" { "+00:00" } else { zone };
    if zone.starts_with('.') {
        iso.to_string()
    } else {
        format!("{wall}.000{zone}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_with_different_offsets_compare_as_instants() {
        let pacific = parse_instant("2024-11-10T17:35:45-08:00").unwrap();
        let utc = parse_instant("2024-11-11T01:35:45Z").unwrap();
        assert_eq!(pacific, utc);
        assert_eq!(parse_instant("1970-01-02").unwrap(), 86_400_000);
        assert_eq!(parse_instant("1970-01-01 00:00:01").unwrap(), 1000);
        assert_eq!(
            parse_instant("2016-10-20T05:46:14.250+02:00").unwrap() % 1000,
            250
        );
        assert!(parse_instant("limio-cust-0001").is_none());
        assert!(parse_instant("2024-13-01").is_none());
    }

    #[test]
    fn civil_round_trip() {
        for days in [-1000, 0, 59, 60, 11_016, 20_000, 30_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn output_formats() {
        assert_eq!(
            to_v1_datetime("2021-11-15T18:59:08-08:00"),
            "2021-11-15 18:59:08"
        );
        assert_eq!(
            to_zoql_datetime("2016-10-20T05:46:14+02:00"),
            "2016-10-20T05:46:14.000+02:00"
        );
        assert_eq!(to_zoql_datetime("2025-01-01"), "2025-01-01");
        assert!(parse_instant(&now_iso()).is_some());
    }
}
