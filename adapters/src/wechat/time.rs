//! Beijing time (UTC+8) in WeChat's two text forms: `yyyyMMddHHmmss` (`time_start`,
//! `time_expire`, `time_end`) and `yyyy-MM-dd HH:mm:ss` (refund `success_time`, bills).
//! Pure arithmetic on Unix seconds: nothing here reads a clock.

const BEIJING_OFFSET_S: i64 = 8 * 3600;

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
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
    (year, month as u32, day as u32)
}

/// (year, month, day) → days since 1970-01-01.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = year - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The Beijing calendar fields of a Unix time.
fn beijing_fields(unix_s: i64) -> (i64, u32, u32, u32, u32, u32) {
    let local_s = unix_s + BEIJING_OFFSET_S;
    let (year, month, day) = civil_from_days(local_s.div_euclid(86_400));
    let second_of_day = local_s.rem_euclid(86_400);
    (
        year,
        month,
        day,
        (second_of_day / 3600) as u32,
        (second_of_day % 3600 / 60) as u32,
        (second_of_day % 60) as u32,
    )
}

/// Formats a Unix time as Beijing `yyyyMMddHHmmss`.
///
/// ```
/// use cashier_adapters::wechat::time::format_compact;
/// assert_eq!(format_compact(1_490_840_662), "20170330102422");
/// ```
pub fn format_compact(unix_s: i64) -> String {
    let (year, month, day, hour, minute, second) = beijing_fields(unix_s);
    format!("{year:04}{month:02}{day:02}{hour:02}{minute:02}{second:02}")
}

/// Formats a Unix time as Beijing `yyyy-MM-dd HH:mm:ss`.
pub fn format_dashed(unix_s: i64) -> String {
    let (year, month, day, hour, minute, second) = beijing_fields(unix_s);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}")
}

/// Formats the Beijing date of a Unix time as `yyyyMMdd` (bill dates).
pub fn format_date(unix_s: i64) -> String {
    let (year, month, day, ..) = beijing_fields(unix_s);
    format!("{year:04}{month:02}{day:02}")
}

fn parse_digits(text: &str) -> Option<u32> {
    if text.bytes().all(|byte| byte.is_ascii_digit()) {
        text.parse().ok()
    } else {
        None
    }
}

fn to_unix(year: u32, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> Option<i64> {
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => return None,
    };
    if day == 0 || day > days_in_month || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day);
    Some(days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - BEIJING_OFFSET_S)
}

/// Parses Beijing `yyyyMMddHHmmss` into a Unix time.
pub fn parse_compact(text: &str) -> Option<i64> {
    if text.len() != 14 {
        return None;
    }
    let part = |range: std::ops::Range<usize>| text.get(range).and_then(parse_digits);
    to_unix(
        part(0..4)?,
        part(4..6)?,
        part(6..8)?,
        part(8..10)?,
        part(10..12)?,
        part(12..14)?,
    )
}

/// Parses Beijing `yyyy-MM-dd HH:mm:ss` into a Unix time.
pub fn parse_dashed(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if text.len() != 19
        || bytes.get(4) != Some(&b'-')
        || bytes.get(7) != Some(&b'-')
        || bytes.get(10) != Some(&b' ')
        || bytes.get(13) != Some(&b':')
        || bytes.get(16) != Some(&b':')
    {
        return None;
    }
    let part = |range: std::ops::Range<usize>| text.get(range).and_then(parse_digits);
    to_unix(
        part(0..4)?,
        part(5..7)?,
        part(8..10)?,
        part(11..13)?,
        part(14..16)?,
        part(17..19)?,
    )
}

/// Parses a Beijing `yyyyMMdd` date into the Unix time of its midnight.
pub fn parse_date(text: &str) -> Option<i64> {
    if text.len() != 8 {
        return None;
    }
    let part = |range: std::ops::Range<usize>| text.get(range).and_then(parse_digits);
    to_unix(part(0..4)?, part(4..6)?, part(6..8)?, 0, 0, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beijing_time_is_utc_plus_eight() {
        assert_eq!(format_compact(0), "19700101080000");
        assert_eq!(format_dashed(1_578_134_064), "2020-01-04 18:34:24");
        assert_eq!(parse_dashed("2020-01-04 18:34:24"), Some(1_578_134_064));
        assert_eq!(parse_compact("20170330102422"), Some(1_490_840_662));
        assert_eq!(parse_date("20200229"), Some(1_582_905_600));
        assert_eq!(parse_compact("20190229000000"), None);
        assert_eq!(parse_compact("2017033010242x"), None);
    }

    #[test]
    fn formatting_and_parsing_round_trip_across_centuries() {
        for unix_s in [
            -86_400 * 365 * 60,
            0,
            951_782_400,
            4_102_444_799,
            7_258_118_400,
        ] {
            assert_eq!(parse_compact(&format_compact(unix_s)), Some(unix_s));
            assert_eq!(parse_dashed(&format_dashed(unix_s)), Some(unix_s));
        }
    }
}
