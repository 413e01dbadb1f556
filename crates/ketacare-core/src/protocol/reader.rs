//! Reading one section of the site protocol TOML: every value is `{ value = …, source = "…" }`,
//! every key must be known, and every error names the dotted path of the offending key.

use std::str::FromStr;

use rust_decimal::Decimal;
use toml::{Table, Value};

use super::InvalidProtocol;

/// One `[section]` of the protocol file, consumed key by key.
///
/// Each `take_*` removes the key, so [`SectionReader::finish`] can reject whatever is left:
/// a misspelt threshold must never be silently replaced by a default.
#[derive(Debug)]
pub struct SectionReader {
    section_name: String,
    remaining: Table,
}

impl SectionReader {
    /// Takes the table `name` out of the document root.
    pub fn take_section(root: &mut Table, name: &str) -> Result<Self, InvalidProtocol> {
        match root.remove(name) {
            Some(Value::Table(table)) => Ok(SectionReader { section_name: name.to_owned(), remaining: table }),
            Some(_) => Err(InvalidProtocol::new(name, "must be a table")),
            None => Err(InvalidProtocol::new(name, "section is missing")),
        }
    }

    /// Reads a sub-table such as `[eligibility.rule_class]` as a section of its own.
    pub fn take_subsection(&mut self, name: &str) -> Result<SectionReader, InvalidProtocol> {
        let path = self.path(name);
        match self.remaining.remove(name) {
            Some(Value::Table(table)) => Ok(SectionReader { section_name: path, remaining: table }),
            Some(_) => Err(InvalidProtocol::new(&path, "must be a table")),
            None => Err(InvalidProtocol::new(&path, "section is missing")),
        }
    }

    fn path(&self, key: &str) -> String {
        format!("{}.{}", self.section_name, key)
    }

    /// Removes `key` and returns its `value` and `source`.
    fn take_entry(&mut self, key: &str) -> Result<(Value, String, String), InvalidProtocol> {
        let path = self.path(key);
        let entry = self.remaining.remove(key).ok_or_else(|| InvalidProtocol::new(&path, "is missing"))?;
        let Value::Table(mut entry) = entry else {
            return Err(InvalidProtocol::new(&path, "must be an inline table { value = …, source = \"…\" }"));
        };
        let value = entry.remove("value").ok_or_else(|| InvalidProtocol::new(&path, "has no `value`"))?;
        let source = match entry.remove("source") {
            Some(Value::String(source)) if !source.trim().is_empty() => source,
            Some(_) => return Err(InvalidProtocol::new(&path, "`source` must be a non-empty string")),
            None => {
                return Err(InvalidProtocol::new(&path, "has no `source`: every value must say where it comes from"));
            }
        };
        if let Some(extra) = entry.keys().next() {
            return Err(InvalidProtocol::new(&path, format!("unknown key `{extra}` (expected value, source)")));
        }
        Ok((value, source, path))
    }

    /// A number (integer or decimal), kept exact.
    pub fn take_decimal(&mut self, key: &str) -> Result<Setting<Decimal>, InvalidProtocol> {
        let (value, source, path) = self.take_entry(key)?;
        let decimal = match &value {
            Value::Integer(integer) => Decimal::from(*integer),
            Value::Float(float) => Decimal::from_str(&float.to_string())
                .map_err(|_| InvalidProtocol::new(&path, format!("must be a finite number, got {float}")))?,
            other => return Err(InvalidProtocol::new(&path, format!("must be a number, got {other}"))),
        };
        Ok(Setting { value: decimal, source })
    }

    /// A number that must lie in `min..=max`.
    pub fn take_decimal_in(
        &mut self,
        key: &str,
        min: Decimal,
        max: Decimal,
    ) -> Result<Setting<Decimal>, InvalidProtocol> {
        let setting = self.take_decimal(key)?;
        if setting.value < min || setting.value > max {
            return Err(InvalidProtocol::new(
                &self.path(key),
                format!("must be between {min} and {max}, got {}", setting.value),
            ));
        }
        Ok(setting)
    }

    /// A whole number that must lie in `min..=max`.
    pub fn take_integer_in(&mut self, key: &str, min: i64, max: i64) -> Result<Setting<i64>, InvalidProtocol> {
        let (value, source, path) = self.take_entry(key)?;
        let Value::Integer(integer) = value else {
            return Err(InvalidProtocol::new(&path, format!("must be a whole number, got {value}")));
        };
        if integer < min || integer > max {
            return Err(InvalidProtocol::new(&path, format!("must be between {min} and {max}, got {integer}")));
        }
        Ok(Setting { value: integer, source })
    }

    /// A boolean.
    pub fn take_bool(&mut self, key: &str) -> Result<Setting<bool>, InvalidProtocol> {
        let (value, source, path) = self.take_entry(key)?;
        let Value::Boolean(boolean) = value else {
            return Err(InvalidProtocol::new(&path, format!("must be true or false, got {value}")));
        };
        Ok(Setting { value: boolean, source })
    }

    /// One of a closed set of words, parsed by `T::from_str`; the error lists the accepted words.
    pub fn take_choice<T: FromStr>(&mut self, key: &str, accepted: &[&str]) -> Result<Setting<T>, InvalidProtocol> {
        let (value, source, path) = self.take_entry(key)?;
        let Value::String(word) = value else {
            return Err(InvalidProtocol::new(&path, format!("must be one of {}, got {value}", accepted.join(", "))));
        };
        let parsed = T::from_str(&word).map_err(|_| {
            InvalidProtocol::new(&path, format!("must be one of {}, got \"{word}\"", accepted.join(", ")))
        })?;
        Ok(Setting { value: parsed, source })
    }

    /// A non-empty text of at most `max_chars` characters (a message shown to people, e.g. a crisis line).
    pub fn take_text(&mut self, key: &str, max_chars: usize) -> Result<Setting<String>, InvalidProtocol> {
        let (value, source, path) = self.take_entry(key)?;
        let Value::String(text) = value else {
            return Err(InvalidProtocol::new(&path, format!("must be a text, got {value}")));
        };
        if text.trim().is_empty() || text.chars().count() > max_chars {
            return Err(InvalidProtocol::new(
                &path,
                format!("must be a non-empty text of at most {max_chars} characters"),
            ));
        }
        Ok(Setting { value: text, source })
    }

    /// A list of distinct words, each one of `accepted` (an empty list is allowed); the error names the
    /// item and lists the accepted words.
    pub fn take_word_list(&mut self, key: &str, accepted: &[&str]) -> Result<Setting<Vec<String>>, InvalidProtocol> {
        let (value, source, path) = self.take_entry(key)?;
        let Value::Array(items) = value else {
            return Err(InvalidProtocol::new(
                &path,
                format!("must be a list of words from {}, got {value}", accepted.join(", ")),
            ));
        };
        let mut words: Vec<String> = Vec::new();
        for (index, item) in items.iter().enumerate() {
            match item {
                Value::String(word) if accepted.contains(&word.as_str()) => {
                    if words.contains(word) {
                        return Err(InvalidProtocol::new(
                            &format!("{path}[{index}]"),
                            format!("\"{word}\" is listed twice"),
                        ));
                    }
                    words.push(word.clone());
                }
                other => {
                    return Err(InvalidProtocol::new(
                        &format!("{path}[{index}]"),
                        format!("must be one of {}, got {other}", accepted.join(", ")),
                    ));
                }
            }
        }
        Ok(Setting { value: words, source })
    }

    /// Rejects any key that no reader asked for.
    pub fn finish(self) -> Result<(), InvalidProtocol> {
        match self.remaining.keys().next() {
            Some(key) => Err(InvalidProtocol::new(&self.path(key), "is not a known protocol setting")),
            None => Ok(()),
        }
    }
}

/// A protocol value together with the source the file gives for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting<T> {
    pub value: T,
    pub source: String,
}
