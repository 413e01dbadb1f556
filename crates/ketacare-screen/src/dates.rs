//! Calendar dates as day numbers (days since 1970-01-01), the only date arithmetic the screen needs.
//!
//! Contract reading 15: dates are taken as written, the first 10 characters of a `dateTime`, with no
//! time-zone conversion; so a plain proleptic-Gregorian day count is exact and much cheaper than a
//! full date-time library on the hot path.

/// A calendar date as the number of days since 1970-01-01.
pub type DayNumber = i32;

/// Parses the `YYYY-MM-DD` prefix of a FHIR `date` or `dateTime`; `None` when it is not a valid date.
/// A year-only or year-month value (`2020`, `2020-05`) is taken as its first day, as FHIR allows partial dates.
pub fn parse_date_prefix(text: &str) -> Option<DayNumber> {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i32> {
        let slice = bytes.get(range)?;
        let mut value = 0i32;
        for &byte in slice {
            if !byte.is_ascii_digit() {
                return None;
            }
            value = value * 10 + i32::from(byte - b'0');
        }
        Some(value)
    };
    let year = digits(0..4)?;
    let (month, day) = match bytes.len() {
        4 => (1, 1),
        7 if bytes[4] == b'-' => (digits(5..7)?, 1),
        length if length >= 10 && bytes[4] == b'-' && bytes[7] == b'-' => (digits(5..7)?, digits(8..10)?),
        _ => return None,
    };
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day))
}

fn is_leap_year(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: i32) -> i32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Howard Hinnant's `days_from_civil`: the day number of a proleptic-Gregorian date.
pub fn days_from_civil(year: i32, month: i32, day: i32) -> DayNumber {
    let year = if month <= 2 { year - 1 } else { year };
    let era = if year >= 0 { year } else { year - 399 } / 400;
    let year_of_era = year - era * 400;
    let month_index = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Howard Hinnant's `civil_from_days`: the (year, month, day) of a day number.
pub fn civil_from_days(day_number: DayNumber) -> (i32, i32, i32) {
    let shifted = day_number + 719_468;
    let era = if shifted >= 0 { shifted } else { shifted - 146_096 } / 146_097;
    let day_of_era = shifted - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i32::from(month <= 2);
    (year, month, day)
}

/// Formats a day number as `YYYY-MM-DD`.
pub fn format_date(day_number: DayNumber) -> String {
    let (year, month, day) = civil_from_days(day_number);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Whole years from `birth` to `on` (the age on that day).
pub fn age_in_years(birth: DayNumber, on: DayNumber) -> i32 {
    let (birth_year, birth_month, birth_day) = civil_from_days(birth);
    let (year, month, day) = civil_from_days(on);
    let mut age = year - birth_year;
    if (month, day) < (birth_month, birth_day) {
        age -= 1;
    }
    age
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Option<&str>) {
        assert_eq!(parse_date_prefix(text).map(format_date).as_deref(), expected, "{text}");
    }

    #[test]
    fn dates_parse_as_written() {
        check("2024-02-29", Some("2024-02-29"));
        check("2024-02-29T23:30:00-05:00", Some("2024-02-29"));
        check("2023-02-29", None);
        check("2020", Some("2020-01-01"));
        check("2020-07", Some("2020-07-01"));
        check("1969-12-31", Some("1969-12-31"));
        check("20x0-01-01", None);
        check("", None);
        assert_eq!(parse_date_prefix("1970-01-01"), Some(0));
    }

    #[test]
    fn ages_count_whole_years() {
        let birth = parse_date_prefix("2000-06-15").unwrap();
        assert_eq!(age_in_years(birth, parse_date_prefix("2018-06-14").unwrap()), 17);
        assert_eq!(age_in_years(birth, parse_date_prefix("2018-06-15").unwrap()), 18);
    }
}
