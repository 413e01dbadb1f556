//! Walking a `serde_json::Value` object key by key, with the dotted path of every value at hand,
//! so that every error names its field and every unknown key is rejected.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::{AmbiguousOffset, TimeZone};
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::parse::InvalidCase;
use crate::strict_json::exact_decimal;

/// One JSON object being read; [`ObjectReader::finish`] rejects keys nobody asked for.
#[derive(Debug)]
pub(crate) struct ObjectReader<'a> {
    path: String,
    object: &'a Map<String, Value>,
    read_keys: Vec<&'static str>,
}

impl<'a> ObjectReader<'a> {
    pub(crate) fn new(path: String, value: &'a Value) -> Result<Self, InvalidCase> {
        match value {
            Value::Object(object) => Ok(ObjectReader { path, object, read_keys: Vec::new() }),
            other => Err(InvalidCase::new(&display_path(&path), format!("must be an object, got {}", describe(other)))),
        }
    }

    pub(crate) fn path_of(&self, key: &str) -> String {
        if self.path.is_empty() { key.to_owned() } else { format!("{}.{key}", self.path) }
    }

    /// The value at `key`; `null` counts as absent.
    pub(crate) fn get(&mut self, key: &'static str) -> Option<&'a Value> {
        self.read_keys.push(key);
        match self.object.get(key) {
            None | Some(Value::Null) => None,
            Some(value) => Some(value),
        }
    }

    pub(crate) fn error(&self, key: &str, problem: impl std::fmt::Display) -> InvalidCase {
        InvalidCase::new(&self.path_of(key), problem)
    }

    /// An error about the object as a whole (`bp[0]: …`), or `(record)` at the top of a section.
    pub(crate) fn whole_error(&self, problem: impl std::fmt::Display) -> InvalidCase {
        InvalidCase::new(if self.path.is_empty() { "(record)" } else { &self.path }, problem)
    }

    pub(crate) fn string(&mut self, key: &'static str) -> Result<Option<&'a str>, InvalidCase> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.as_str())),
            Some(other) => Err(self.error(key, format!("must be a string, got {}", describe(other)))),
        }
    }

    pub(crate) fn non_empty_string(&mut self, key: &'static str) -> Result<Option<&'a str>, InvalidCase> {
        match self.string(key)? {
            Some(text) if text.trim().is_empty() => Err(self.error(key, "must not be empty")),
            other => Ok(other),
        }
    }

    pub(crate) fn bool(&mut self, key: &'static str) -> Result<Option<bool>, InvalidCase> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(flag)) => Ok(Some(*flag)),
            Some(other) => Err(self.error(key, format!("must be true, false or null, got {}", describe(other)))),
        }
    }

    pub(crate) fn decimal(&mut self, key: &'static str) -> Result<Option<Decimal>, InvalidCase> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(number)) => exact_decimal(number).map(Some).map_err(|inexact| self.error(key, inexact)),
            Some(other) => Err(self.error(key, format!("must be a number, got {}", describe(other)))),
        }
    }

    pub(crate) fn integer(&mut self, key: &'static str) -> Result<Option<i64>, InvalidCase> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(number)) => number
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.error(key, format!("must be a whole number, got {number}"))),
            Some(other) => Err(self.error(key, format!("must be a whole number, got {}", describe(other)))),
        }
    }

    pub(crate) fn date(&mut self, key: &'static str) -> Result<Option<Date>, InvalidCase> {
        match self.string(key)? {
            None => Ok(None),
            Some(text) => parse_date(text)
                .map(Some)
                .ok_or_else(|| self.error(key, format!("must be a date written YYYY-MM-DD, got \"{text}\""))),
        }
    }

    /// A word from a closed vocabulary.
    pub(crate) fn choice<T>(&mut self, key: &'static str, vocabulary: &[(&str, T)]) -> Result<Option<T>, InvalidCase>
    where
        T: Copy,
    {
        match self.string(key)? {
            None => Ok(None),
            Some(word) => {
                vocabulary.iter().find(|(name, _)| *name == word).map(|(_, value)| Some(*value)).ok_or_else(|| {
                    let names: Vec<&str> = vocabulary.iter().map(|(name, _)| *name).collect();
                    self.error(key, format!("must be one of {}, got \"{word}\"", names.join(", ")))
                })
            }
        }
    }

    pub(crate) fn array(&mut self, key: &'static str) -> Result<Option<&'a Vec<Value>>, InvalidCase> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(other) => Err(self.error(key, format!("must be a list, got {}", describe(other)))),
        }
    }

    pub(crate) fn object(&mut self, key: &'static str) -> Result<Option<ObjectReader<'a>>, InvalidCase> {
        let path = self.path_of(key);
        match self.get(key) {
            None => Ok(None),
            Some(value) => ObjectReader::new(path, value).map(Some),
        }
    }

    /// A non-empty string that must be there.
    pub(crate) fn required_string(&mut self, key: &'static str) -> Result<&'a str, InvalidCase> {
        self.non_empty_string(key)?.ok_or_else(|| self.error(key, "is required"))
    }

    /// A clinic-local date and time written `YYYY-MM-DDTHH:MM`.
    pub(crate) fn local_datetime(&mut self, key: &'static str) -> Result<Option<DateTime>, InvalidCase> {
        let path = self.path_of(key);
        self.non_empty_string(key)?.map(|text| parse_local(&path, text)).transpose()
    }

    /// A clinic-local date and time, placed in `zone`; a time that does not exist or is ambiguous on a
    /// daylight-saving day is rejected rather than guessed.
    pub(crate) fn instant(&mut self, key: &'static str, zone: &TimeZone) -> Result<Option<Timestamp>, InvalidCase> {
        let path = self.path_of(key);
        self.local_datetime(key)?.map(|local| place(&path, local, zone)).transpose()
    }

    /// The clinic's IANA time zone at `time_zone`, looked up in the tz database bundled into the binary
    /// (jiff's `tzdb-bundle-always`; the host's tzdata is never read).
    pub(crate) fn time_zone(&mut self) -> Result<TimeZone, InvalidCase> {
        let name = self.required_string("time_zone")?;
        TimeZone::get(name).map_err(|_| self.error("time_zone", format!("unknown time zone \"{name}\"")))
    }

    /// Rejects any key that was not read: a misspelt field must never be silently ignored (reading 13).
    pub(crate) fn finish(self) -> Result<(), InvalidCase> {
        for key in self.object.keys() {
            if !self.read_keys.contains(&key.as_str()) {
                return Err(InvalidCase::new(&self.path_of(key), "is not a known field"));
            }
        }
        Ok(())
    }
}

fn display_path(path: &str) -> String {
    if path.is_empty() { "(case)".to_owned() } else { path.to_owned() }
}

pub(crate) fn parse_date(text: &str) -> Option<Date> {
    read_calendar_date(text)
}

/// The years a clinical date may fall in: a birth date, an onset, a visit or a plan (a year 0001 or 9999
/// is a typing error, not a date).
pub const PLAUSIBLE_YEARS: std::ops::RangeInclusive<i16> = 1900..=2199;

/// The one reading of a calendar date for every document and API field: exactly `YYYY-MM-DD` (not the
/// ISO basic `19800101`, not a date-time), a real date, in [`PLAUSIBLE_YEARS`].
pub fn read_calendar_date(text: &str) -> Option<Date> {
    let bytes = text.as_bytes();
    let shaped = bytes.len() == 10
        && bytes
            .iter()
            .enumerate()
            .all(|(index, byte)| if index == 4 || index == 7 { *byte == b'-' } else { byte.is_ascii_digit() });
    let date = text.parse::<Date>().ok().filter(|_| shaped)?;
    PLAUSIBLE_YEARS.contains(&date.year()).then_some(date)
}

/// The one reading of a clinic-local date and time: exactly `YYYY-MM-DDTHH:MM` (no seconds, no offset
/// and no `Z`: the clinic's zone places it), in [`PLAUSIBLE_YEARS`].
pub fn read_local_date_time(text: &str) -> Option<DateTime> {
    let bytes = text.as_bytes();
    let shaped =
        bytes.len() == 16 && bytes[10] == b'T' && bytes[13] == b':' && read_calendar_date(&text[..10]).is_some();
    let digits =
        |range: std::ops::Range<usize>| bytes.get(range).is_some_and(|part| part.iter().all(u8::is_ascii_digit));
    if !shaped || !digits(11..13) || !digits(14..16) {
        return None;
    }
    text.parse::<DateTime>().ok()
}

/// A short description of a JSON value for error messages (never the whole value: no patient data).
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number.to_string(),
        Value::String(text) if text.chars().count() <= 40 => format!("\"{text}\""),
        Value::String(_) => "a long string".to_owned(),
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

/// A clinic-local date and time `YYYY-MM-DDTHH:MM` at `path`.
pub(crate) fn parse_local(path: &str, text: &str) -> Result<DateTime, InvalidCase> {
    read_local_date_time(text).ok_or_else(|| {
        InvalidCase::new(
            path,
            format!("must be a clinic-local date and time YYYY-MM-DDTHH:MM (no offset), got \"{text}\""),
        )
    })
}

/// Places a clinic-local time in `zone`, refusing a time in a daylight-saving gap or fold, or one outside
/// the instants jiff holds (years -9999 to 9999; the last ones late on 9999-12-30 UTC).
pub(crate) fn place(path: &str, local: DateTime, zone: &TimeZone) -> Result<Timestamp, InvalidCase> {
    let ambiguous = zone.to_ambiguous_timestamp(local);
    let gap_or_fold = !matches!(ambiguous.offset(), AmbiguousOffset::Unambiguous { .. });
    ambiguous.unambiguous().map_err(|_| {
        if gap_or_fold {
            InvalidCase::new(path, format!("{local} does not exist or is ambiguous in the clinic's time zone"))
        } else {
            InvalidCase::new(path, format!("{local} is outside the supported dates (years -9999 to 9999)"))
        }
    })
}

/// Reads each element of a list as an object at `path[index]`.
pub(crate) fn objects<'a>(path: &str, items: &'a [Value]) -> Result<Vec<ObjectReader<'a>>, InvalidCase> {
    items.iter().enumerate().map(|(index, item)| ObjectReader::new(format!("{path}[{index}]"), item)).collect()
}

/// Turns a core validation error into an [`InvalidCase`] at `path`.
pub(crate) fn at<T, E: std::fmt::Display>(path: &str, result: Result<T, E>) -> Result<T, InvalidCase> {
    result.map_err(|error| InvalidCase::new(path, error))
}
