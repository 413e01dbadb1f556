//! How values are written on a page: clinic-local times, the age of an alert, alert levels as a word
//! and an icon (never colour alone), JSON values as plain text, and links.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Unit};
use ketacare_app::App;
use serde_json::Value;

/// The clinic's time zone, for every time a page shows.
pub fn clinic_zone(app: &App) -> TimeZone {
    TimeZone::get(app.clinic_time_zone()).unwrap_or(TimeZone::UTC)
}

/// A time the app wrote (RFC 3339 with an offset or `Z`, or a clinic-local `YYYY-MM-DDTHH:MM`) as
/// `4 Dec 2026 18:47` in the clinic's zone; text that is not a time is shown as it is.
pub fn date_time(text: &str, zone: &TimeZone) -> String {
    match text.parse::<Timestamp>() {
        Ok(at) => at.to_zoned_datetime(zone.clone()).strftime("%-d %b %Y %H:%M").to_string(),
        Err(_) => match text.parse::<DateTime>() {
            Ok(at) => at.strftime("%-d %b %Y %H:%M").to_string(),
            Err(_) => text.to_owned(),
        },
    }
}

/// Only the clock time, `18:47`, for times of one day (a session, the day's worklist).
pub fn clock_time(text: &str, zone: &TimeZone) -> String {
    match text.parse::<Timestamp>() {
        Ok(at) => at.to_zoned_datetime(zone.clone()).strftime("%H:%M").to_string(),
        Err(_) => match text.parse::<DateTime>() {
            Ok(at) => at.strftime("%H:%M").to_string(),
            Err(_) => text.to_owned(),
        },
    }
}

/// The instant of a time the app wrote; a clinic-local time is read in the clinic's zone.
pub fn instant(text: &str, zone: &TimeZone) -> Option<Timestamp> {
    text.parse::<Timestamp>().ok().or_else(|| {
        text.parse::<DateTime>().ok().and_then(|at| at.to_zoned_datetime(zone.clone()).ok()).map(|at| at.timestamp())
    })
}

/// How long ago `text` was, as staff say it: `just now`, `4 min ago`, `2 h 5 min ago`, `3 days ago`.
pub fn age(text: &str, now: Timestamp, zone: &TimeZone) -> String {
    let Some(at) = instant(text, zone) else { return String::new() };
    let minutes = now.since(at).ok().and_then(|span| span.total(Unit::Minute).ok()).unwrap_or(0.0);
    // Whole minutes: truncation toward zero is what "4 min ago" means.
    #[allow(clippy::cast_possible_truncation)]
    let minutes = minutes.floor() as i64;
    match minutes {
        ..=0 => "just now".to_owned(),
        1..=59 => format!("{minutes} min ago"),
        60..=1439 => format!("{} h {} min ago", minutes / 60, minutes % 60),
        _ => format!("{} days ago", minutes / 1440),
    }
}

/// An alert level as the word staff read first (upper case, as UI.md's example).
pub fn level_word(level: &str) -> String {
    level.to_uppercase()
}

/// An alert level's icon, shown beside the word so the level never rests on colour alone.
pub fn level_icon(level: &str) -> &'static str {
    match level {
        "emergency" => "\u{2716}",
        "critical" => "\u{25B2}",
        "warning" => "\u{25C6}",
        _ => "\u{2139}",
    }
}

/// The CSS class of a level (colour is a third cue, after the word and the icon).
pub fn level_class(level: &str) -> &'static str {
    match level {
        "emergency" => "level-emergency",
        "critical" => "level-critical",
        "warning" => "level-warning",
        _ => "level-info",
    }
}

/// A JSON value as plain text: strings without quotes, `—` for nothing, lists joined with commas.
pub fn value_text(value: &Value) -> String {
    match value {
        Value::Null => "\u{2014}".to_owned(),
        Value::String(text) => text.clone(),
        Value::Bool(true) => "yes".to_owned(),
        Value::Bool(false) => "no".to_owned(),
        Value::Array(items) if items.is_empty() => "none".to_owned(),
        Value::Array(items) => items.iter().map(value_text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// Who did something, as a page shows it: `you`, or the start of another user's id (`user 3f2a9c1e`).
pub fn user_label(user_id: &str, viewer_user_id: &str) -> String {
    if user_id == viewer_user_id { "you".to_owned() } else { format!("user {}", user_id.get(..8).unwrap_or(user_id)) }
}

/// `snake_case` words of the engine (`not_met`, `in_progress`) as staff read them.
pub fn words(code: &str) -> String {
    code.replace('_', " ")
}

/// A path segment percent-encoded (alert ids hold `#`): letters, digits and `-._~` stay as they are.
pub fn path_segment(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// An HTML id made from any text (alert ids hold `#`).
pub fn html_id(prefix: &str, text: &str) -> String {
    let mut id = prefix.to_owned();
    id.extend(text.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }));
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_as_staff_say_them() {
        let now: Timestamp = "2026-12-04T19:00:00Z".parse().unwrap();
        let zone = TimeZone::UTC;
        for (at, expected) in [
            ("2026-12-04T19:00:30Z", "just now"),
            ("2026-12-04T18:56:00+00:00", "4 min ago"),
            ("2026-12-04T16:55", "2 h 5 min ago"),
            ("2026-12-01T18:00:00Z", "3 days ago"),
        ] {
            assert_eq!(age(at, now, &zone), expected, "{at}");
        }
    }

    #[test]
    fn alert_ids_are_encoded_for_paths_and_ids() {
        assert_eq!(path_segment("BP_HIGH#1"), "BP_HIGH%231");
        assert_eq!(html_id("alert-", "BP_HIGH#1"), "alert-bp-high-1");
        assert_eq!(value_text(&serde_json::json!(["a", "b"])), "a, b");
    }
}
