//! The one strict reader of JSON text (issue 10): every clinical document (case, chart record, session,
//! observation, plan) and every API body becomes a `serde_json::Value` here and nowhere else. It refuses
//! what `serde_json::from_str` lets through or leaves to chance: a key given twice in an object (the last
//! one used to win silently, so `"history"` given twice could drop a contraindication), bytes that are
//! not UTF-8 (named by their offset), and text after the value.

use std::fmt;
use std::fmt::Write as _;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::parse::InvalidCase;

/// A document that is not one strict JSON value: the field it is about (`trials[2].drug`), or `None`
/// for the document as a whole, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {problem}", path.as_deref().unwrap_or("(document)"))]
pub struct InvalidJson {
    pub path: Option<String>,
    pub problem: String,
}

impl InvalidJson {
    fn whole(problem: String) -> InvalidJson {
        InvalidJson { path: None, problem }
    }

    /// The same problem as a malformed document that is called `document` as a whole (`(case)`,
    /// `(file)`, `(body)`): a problem of one field keeps that field's path.
    pub fn into_invalid_case(self, document: &str) -> InvalidCase {
        InvalidCase { path: self.path.unwrap_or_else(|| document.to_owned()), problem: self.problem }
    }
}

/// Reads one JSON document strictly: UTF-8, exactly one value (white space around it only), every
/// key at most once in its object at any depth. The error names the path of a repeated key
/// (`history`, `trials[2].drug`), or the byte offset of the first byte that is not UTF-8.
pub fn read_json_document(bytes: &[u8]) -> Result<Value, InvalidJson> {
    let text = read_utf8_text(bytes)?;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let mut state = ReadState { path: String::new(), failure: None };
    let read = ValueSeed { state: &mut state }.deserialize(&mut deserializer);
    let value = match read {
        Ok(value) => value,
        Err(error) => {
            return Err(state
                .failure
                .take()
                .unwrap_or_else(|| InvalidJson::whole(format!("is not valid JSON: {error}"))));
        }
    };
    deserializer.end().map_err(|error| InvalidJson::whole(format!("has text after the JSON value: {error}")))?;
    Ok(value)
}

/// The UTF-8 check of [`read_json_document`] alone, for a body passed on as text: the error names the
/// offset of the first byte that does not start a valid UTF-8 sequence.
pub fn read_utf8_text(bytes: &[u8]) -> Result<&str, InvalidJson> {
    std::str::from_utf8(bytes).map_err(|error| {
        let offset = error.valid_up_to();
        InvalidJson::whole(format!("is not UTF-8: byte {offset} (0x{:02x}) starts an invalid sequence", bytes[offset]))
    })
}

/// Where the reader is (`trials[2].drug`) and the first refusal, which the serde error cannot carry.
struct ReadState {
    path: String,
    failure: Option<InvalidJson>,
}

impl ReadState {
    /// Records a refusal at the current path and returns the error that stops the deserializer.
    fn refuse<E: de::Error>(&mut self, problem: impl Into<String>) -> E {
        let problem = problem.into();
        let error = E::custom(format!("{}: {problem}", self.path));
        self.failure = Some(InvalidJson { path: Some(self.path.clone()), problem });
        error
    }

    fn enter_key(&mut self, key: &str) -> usize {
        let length = self.path.len();
        if length > 0 {
            self.path.push('.');
        }
        self.path.push_str(key);
        length
    }

    fn enter_index(&mut self, index: usize) -> usize {
        let length = self.path.len();
        let _ = write!(self.path, "[{index}]");
        length
    }
}

/// serde_json's `arbitrary_precision` hands a number over as a one-entry map under this key, with the
/// number's text as the value (rust_decimal reads it the same way).
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

struct ValueSeed<'s> {
    state: &'s mut ReadState,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(ValueVisitor { state: self.state })
    }
}

struct ValueVisitor<'s> {
    state: &'s mut ReadState,
}

impl<'de> Visitor<'de> for ValueVisitor<'_> {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, flag: bool) -> Result<Value, E> {
        Ok(Value::Bool(flag))
    }

    fn visit_i64<E: de::Error>(self, number: i64) -> Result<Value, E> {
        Ok(Value::Number(number.into()))
    }

    fn visit_u64<E: de::Error>(self, number: u64) -> Result<Value, E> {
        Ok(Value::Number(number.into()))
    }

    fn visit_f64<E: de::Error>(self, number: f64) -> Result<Value, E> {
        match Number::from_f64(number) {
            Some(number) => Ok(Value::Number(number)),
            None => Err(self.state.refuse(format!("must be a finite number, got {number}"))),
        }
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Value, E> {
        Ok(Value::String(text.to_owned()))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Value, E> {
        Ok(Value::String(text))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        ValueSeed { state: self.state }.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut sequence: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let length = self.state.enter_index(items.len());
            let item = sequence.next_element_seed(ValueSeed { state: &mut *self.state })?;
            self.state.path.truncate(length);
            match item {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        let mut next_key = map.next_key::<String>()?;
        if next_key.as_deref() == Some(NUMBER_TOKEN) {
            let text: String = map.next_value()?;
            return match text.parse::<Number>() {
                Ok(number) => Ok(Value::Number(number)),
                Err(_) => Err(self.state.refuse(format!("must be a JSON number, got {text}"))),
            };
        }
        while let Some(key) = next_key {
            let length = self.state.enter_key(&key);
            if object.contains_key(&key) {
                return Err(self.state.refuse("is given more than once; a key may appear only once in an object"));
            }
            let value = map.next_value_seed(ValueSeed { state: &mut *self.state })?;
            self.state.path.truncate(length);
            object.insert(key, value);
            next_key = map.next_key::<String>()?;
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `document` read strictly: the value written back compactly, or the error.
    fn check(document: &[u8], expected: &str) {
        let got = match read_json_document(document) {
            Ok(value) => value.to_string(),
            Err(error) => error.to_string(),
        };
        assert_eq!(got, expected, "{}", String::from_utf8_lossy(document));
    }

    #[test]
    fn strict_reading() {
        check(br#" {"a": [1, {"b": null}], "c": "d"} "#, r#"{"a":[1,{"b":null}],"c":"d"}"#);
        check(br#"{"a":1,"a":1}"#, "a: is given more than once; a key may appear only once in an object");
        check(
            br#"{"a":[{"b":{}},{"b":{"c":true,"c":false}}]}"#,
            "a[1].b.c: is given more than once; a key may appear only once in an object",
        );
        check(br#"[{"x":1},{"x":2,"x":3}]"#, "[1].x: is given more than once; a key may appear only once in an object");
        check(br#"{"a":{},"a":{}}"#, "a: is given more than once; a key may appear only once in an object");
        check(br#"{"a":1,"b":{"a":1}}"#, r#"{"a":1,"b":{"a":1}}"#);
        check(br#"{} {}"#, "(document): has text after the JSON value: trailing characters at line 1 column 4");
        check(br#"{"#, "(document): is not valid JSON: EOF while parsing an object at line 1 column 1");
        check(b"", "(document): is not valid JSON: EOF while parsing a value at line 1 column 0");
        check(b"\"caf\xc3\xa9\"", "\"caf\u{e9}\"");
        check(b"\"caf\xe9\"", "(document): is not UTF-8: byte 4 (0xe9) starts an invalid sequence");
        check(b"[\"\xff\"]", "(document): is not UTF-8: byte 2 (0xff) starts an invalid sequence");
        check(b"[\"\xe2\x82", "(document): is not UTF-8: byte 2 (0xe2) starts an invalid sequence");
    }
}
