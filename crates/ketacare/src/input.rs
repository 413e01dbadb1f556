//! Reading the CLI's JSON input files by hand into core types: every key is known or rejected, and every
//! error names the dotted path of the offending field. The core never sees JSON.

use std::str::FromStr;

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use rust_decimal::Decimal;
use serde_json::{Map, Value};

/// Input that cannot be used; the message starts with the field's dotted path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadInput(pub String);

impl BadInput {
    pub fn new(path: &str, problem: impl std::fmt::Display) -> Self {
        BadInput(format!("{path}: {problem}"))
    }
}

impl std::fmt::Display for BadInput {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// Parses the whole file text as one JSON object.
pub fn parse_document(text: &str) -> Result<Object, BadInput> {
    let value: Value = serde_json::from_str(text).map_err(|error| BadInput::new("(file)", error))?;
    Object::new(String::new(), value)
}

/// A JSON object consumed key by key; [`Object::finish`] rejects keys nobody read.
#[derive(Debug)]
pub struct Object {
    path: String,
    map: Map<String, Value>,
}

impl Object {
    pub fn new(path: String, value: Value) -> Result<Object, BadInput> {
        match value {
            Value::Object(map) => Ok(Object { path, map }),
            other => Err(BadInput::new(
                if path.is_empty() { "(file)" } else { &path },
                format!("must be an object, got {other}"),
            )),
        }
    }

    pub fn path(&self, key: &str) -> String {
        if self.path.is_empty() { key.to_owned() } else { format!("{}.{key}", self.path) }
    }

    /// Removes `key`; JSON `null` counts as absent.
    pub fn take(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key).filter(|value| !value.is_null())
    }

    pub fn object(&mut self, key: &str) -> Result<Option<Object>, BadInput> {
        let path = self.path(key);
        self.take(key).map(|value| Object::new(path, value)).transpose()
    }

    pub fn string(&mut self, key: &str) -> Result<Option<String>, BadInput> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(text)) if !text.trim().is_empty() => Ok(Some(text)),
            Some(other) => Err(BadInput::new(&self.path(key), format!("must be a non-empty string, got {other}"))),
        }
    }

    pub fn required_string(&mut self, key: &str) -> Result<String, BadInput> {
        self.string(key)?.ok_or_else(|| BadInput::new(&self.path(key), "is required"))
    }

    pub fn integer(&mut self, key: &str) -> Result<Option<i64>, BadInput> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Number(number)) if number.is_i64() => Ok(number.as_i64()),
            Some(other) => Err(BadInput::new(&self.path(key), format!("must be a whole number, got {other}"))),
        }
    }

    pub fn decimal(&mut self, key: &str) -> Result<Option<Decimal>, BadInput> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Number(number)) => Decimal::from_str(&number.to_string())
                .map(Some)
                .map_err(|_| BadInput::new(&self.path(key), format!("must be a number, got {number}"))),
            Some(other) => Err(BadInput::new(&self.path(key), format!("must be a number, got {other}"))),
        }
    }

    pub fn boolean(&mut self, key: &str) -> Result<Option<bool>, BadInput> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Bool(flag)) => Ok(Some(flag)),
            Some(other) => Err(BadInput::new(&self.path(key), format!("must be true or false, got {other}"))),
        }
    }

    pub fn array(&mut self, key: &str) -> Result<Vec<Value>, BadInput> {
        match self.take(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items),
            Some(other) => Err(BadInput::new(&self.path(key), format!("must be an array, got {other}"))),
        }
    }

    /// One of a closed set of words.
    pub fn choice<T>(&mut self, key: &str, accepted: &[(&str, T)]) -> Result<Option<T>, BadInput>
    where
        T: Copy,
    {
        let Some(word) = self.string(key)? else { return Ok(None) };
        accepted.iter().find(|(name, _)| *name == word).map(|(_, value)| Some(*value)).ok_or_else(|| {
            let names: Vec<&str> = accepted.iter().map(|(name, _)| *name).collect();
            BadInput::new(&self.path(key), format!("must be one of {}, got \"{word}\"", names.join(", ")))
        })
    }

    pub fn date(&mut self, key: &str) -> Result<Option<Date>, BadInput> {
        let path = self.path(key);
        self.string(key)?
            .map(|text| {
                text.parse::<Date>()
                    .map_err(|_| BadInput::new(&path, format!("must be a date YYYY-MM-DD, got \"{text}\"")))
            })
            .transpose()
    }

    pub fn local_datetime(&mut self, key: &str) -> Result<Option<DateTime>, BadInput> {
        let path = self.path(key);
        self.string(key)?.map(|text| parse_local(&path, &text)).transpose()
    }

    /// A clinic-local date and time, placed in `zone`; a time that does not exist or is ambiguous on a
    /// daylight-saving day is rejected rather than guessed.
    pub fn instant(&mut self, key: &str, zone: &TimeZone) -> Result<Option<Timestamp>, BadInput> {
        let path = self.path(key);
        self.local_datetime(key)?.map(|local| place(&path, local, zone)).transpose()
    }

    pub fn finish(self) -> Result<(), BadInput> {
        match self.map.keys().next() {
            Some(key) => Err(BadInput::new(&self.path(key), "is not a known field")),
            None => Ok(()),
        }
    }
}

pub fn parse_local(path: &str, text: &str) -> Result<DateTime, BadInput> {
    text.parse::<DateTime>().map_err(|_| {
        BadInput::new(path, format!("must be a clinic-local date and time YYYY-MM-DDTHH:MM, got \"{text}\""))
    })
}

pub fn place(path: &str, local: DateTime, zone: &TimeZone) -> Result<Timestamp, BadInput> {
    zone.to_ambiguous_timestamp(local)
        .unambiguous()
        .map_err(|_| BadInput::new(path, format!("{local} does not exist or is ambiguous in the clinic's time zone")))
}

/// Looks the clinic's time zone up in the system tz database (/usr/share/zoneinfo).
pub fn time_zone(object: &mut Object) -> Result<TimeZone, BadInput> {
    let name = object.required_string("time_zone")?;
    TimeZone::get(&name).map_err(|_| BadInput::new(&object.path("time_zone"), format!("unknown time zone \"{name}\"")))
}

/// Reads each element of an array as an object at `path[index]`.
pub fn objects(path: &str, items: Vec<Value>) -> Result<Vec<Object>, BadInput> {
    items.into_iter().enumerate().map(|(index, item)| Object::new(format!("{path}[{index}]"), item)).collect()
}

/// Converts a core validation error into a [`BadInput`] at `path`.
pub fn at<T, E: std::fmt::Display>(path: &str, result: Result<T, E>) -> Result<T, BadInput> {
    result.map_err(|error| BadInput::new(path, error))
}
