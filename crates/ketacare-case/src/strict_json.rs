//! The one strict reader of JSON text (issue 10): every clinical document (case, chart record, session,
//! observation, plan) and every API body becomes a `serde_json::Value` here and nowhere else. It refuses
//! what `serde_json::from_str` lets through or leaves to chance: a key given twice in an object (the last
//! one used to win silently, so `"history"` given twice could drop a contraindication), bytes that are
//! not UTF-8 (named by their offset), and text after the value. Numbers keep their text (serde_json's
//! `arbitrary_precision`) and must be exact decimals ([`exact_decimal`]): a number with more digits
//! than a decimal keeps is refused by its path, never rounded into a threshold decision.

use std::fmt;
use std::fmt::Write as _;

use rust_decimal::Decimal;
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

/// A JSON number that no decimal holds exactly; the message names the number and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InexactNumber {
    #[error("must have at most {MAX_SIGNIFICANT_DIGITS} significant digits to be read exactly, got {text}")]
    TooManyDigits { text: String },
    #[error("must have at most {MAX_SIGNIFICANT_DIGITS} digits after the decimal point to be read exactly, got {text}")]
    TooSmall { text: String },
    #[error("must be less than 79228162514264337593543950336 in size to be read exactly, got {text}")]
    TooLarge { text: String },
    #[error("must be a JSON number, got {text}")]
    NotANumber { text: String },
}

/// The most significant digits a `rust_decimal::Decimal` keeps for any value (its 96-bit mantissa holds
/// every 28-digit integer, and some of 29 digits).
const MAX_SIGNIFICANT_DIGITS: usize = 28;

/// The exact decimal a JSON number's text stands for (`160.0000000000000001`, `1.6e2`, `-0.5`), with
/// trailing zeros dropped (`8.0` is `8`). A number needing more than 28 significant digits, more than 28
/// decimal places or more than 96 bits is refused rather than rounded.
pub fn exact_decimal(number: &Number) -> Result<Decimal, InexactNumber> {
    decimal_of_text(number.as_str())
}

fn decimal_of_text(text: &str) -> Result<Decimal, InexactNumber> {
    let not_a_number = || InexactNumber::NotANumber { text: text.to_owned() };
    let too_small = || InexactNumber::TooSmall { text: text.to_owned() };
    let too_large = || InexactNumber::TooLarge { text: text.to_owned() };
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, Some(exponent)),
        None => (unsigned, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) || mantissa.ends_with('.') {
        return Err(not_a_number());
    }
    // An exponent longer than any decimal could use is clamped: it only decides too large or too small.
    let exponent: i128 = match exponent {
        None => 0,
        Some(exponent) => {
            let negative_exponent = exponent.starts_with('-');
            let magnitude = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
            if magnitude.is_empty() || !all_digits(magnitude) {
                return Err(not_a_number());
            }
            let magnitude = magnitude.parse::<i128>().unwrap_or(i128::from(u32::MAX)).min(i128::from(u32::MAX));
            if negative_exponent { -magnitude } else { magnitude }
        }
    };
    let digits = format!("{whole}{fraction}");
    let significant = digits.trim_start_matches('0');
    if significant.is_empty() {
        return Ok(Decimal::ZERO);
    }
    let kept = significant.trim_end_matches('0');
    if kept.len() > MAX_SIGNIFICANT_DIGITS {
        return Err(InexactNumber::TooManyDigits { text: text.to_owned() });
    }
    // The value is `kept` x 10^-scale.
    let mut scale = fraction.len() as i128 - exponent - (significant.len() - kept.len()) as i128;
    if scale > MAX_SIGNIFICANT_DIGITS as i128 {
        return Err(too_small());
    }
    let mut mantissa: i128 = kept.parse().map_err(|_| not_a_number())?;
    while scale < 0 {
        mantissa = mantissa.checked_mul(10).filter(|value| *value < 1 << 96).ok_or_else(too_large)?;
        scale += 1;
    }
    if mantissa >= 1 << 96 {
        return Err(too_large());
    }
    if negative {
        mantissa = -mantissa;
    }
    Decimal::try_from_i128_with_scale(mantissa, scale as u32).map_err(|_| too_large())
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

/// Refuses a string holding a control character other than tab, line feed and carriage return: NUL and
/// its kind are never clinical text, PostgreSQL refuses NUL, and they hide text from a person reading it.
fn refuse_control_characters<E: de::Error>(state: &mut ReadState, text: &str) -> Result<(), E> {
    match first_control_character(text) {
        Some((character, position)) => Err(state.refuse(format!(
            "must not contain control characters, found U+{:04X} at character {position}",
            u32::from(character)
        ))),
        None => Ok(()),
    }
}

/// The first control character other than tab, line feed and carriage return, with its 1-based position.
fn first_control_character(text: &str) -> Option<(char, usize)> {
    text.chars()
        .enumerate()
        .find(|(_, character)| character.is_control() && !matches!(character, '\t' | '\n' | '\r'))
        .map(|(index, character)| (character, index + 1))
}

/// Refuses a key holding any control character, naming the object it is in (the key itself is not
/// repeated: an error message quotes keys, and one with `ESC` or `DEL` in it would reach a terminal or
/// a page as it is; found by the assess_batch fuzz target).
fn refuse_control_characters_in_key<E: de::Error>(state: &mut ReadState, key: &str) -> Result<(), E> {
    match key.chars().enumerate().find(|(_, character)| character.is_control()) {
        Some((index, character)) => {
            let problem = format!(
                "must not have a key with control characters, found U+{:04X} at character {} of a key",
                u32::from(character),
                index + 1
            );
            let error = E::custom(format!("{}: {problem}", state.path));
            let path = (!state.path.is_empty()).then(|| state.path.clone());
            state.failure = Some(InvalidJson { path, problem });
            Err(error)
        }
        None => Ok(()),
    }
}

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
        refuse_control_characters(self.state, text)?;
        Ok(Value::String(text.to_owned()))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Value, E> {
        refuse_control_characters(self.state, &text)?;
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
            let number = match text.parse::<Number>() {
                Ok(number) => number,
                Err(_) => return Err(self.state.refuse(format!("must be a JSON number, got {text}"))),
            };
            return match exact_decimal(&number) {
                Ok(_) => Ok(Value::Number(number)),
                Err(inexact) => Err(self.state.refuse(inexact.to_string())),
            };
        }
        while let Some(key) = next_key {
            refuse_control_characters_in_key(self.state, &key)?;
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
        // Control characters: tab, line feed and carriage return are text; NUL, ESC, DEL and C1 are not.
        check(br#"{"note":"line one\nline two\ttabbed\r"}"#, r#"{"note":"line one\nline two\ttabbed\r"}"#);
        check(br#"{"name":"A\u0000B"}"#, "name: must not contain control characters, found U+0000 at character 2");
        check(
            br#"{"x":[{"y":"\u001b[31m"}]}"#,
            "x[0].y: must not contain control characters, found U+001B at character 1",
        );
        check("{\"z\":\"a\u{7f}\"}".as_bytes(), "z: must not contain control characters, found U+007F at character 2");
        check("{\"z\":\"\u{85}\"}".as_bytes(), "z: must not contain control characters, found U+0085 at character 1");
        // Keys too, any control character, and the key is not echoed (fuzz input: `"failed\x7fcourses"`).
        check(
            b"{\"ect\":{\"failed\x7fcourses\":1}}",
            "ect: must not have a key with control characters, found U+007F at character 7 of a key",
        );
        check(
            br#"{"a\u001b[2J":1}"#,
            "(document): must not have a key with control characters, found U+001B at character 2 of a key",
        );
        check(
            br#"[{"x\ny":1}]"#,
            "[0]: must not have a key with control characters, found U+000A at character 2 of a key",
        );
        check(br#"{} {}"#, "(document): has text after the JSON value: trailing characters at line 1 column 4");
        check(br#"{"#, "(document): is not valid JSON: EOF while parsing an object at line 1 column 1");
        check(b"", "(document): is not valid JSON: EOF while parsing a value at line 1 column 0");
        check(b"\"caf\xc3\xa9\"", "\"caf\u{e9}\"");
        check(b"\"caf\xe9\"", "(document): is not UTF-8: byte 4 (0xe9) starts an invalid sequence");
        check(b"[\"\xff\"]", "(document): is not UTF-8: byte 2 (0xff) starts an invalid sequence");
        check(b"[\"\xe2\x82", "(document): is not UTF-8: byte 2 (0xe2) starts an invalid sequence");
        // Numbers keep their text, and must be exact decimals.
        check(b"[160.0000000000000001, 1.6e2, -0, 1E+2]", "[160.0000000000000001,1.6e+2,-0,1e+2]");
        check(
            b"{\"a\":[0.12345678901234567890123456789]}",
            "a[0]: must have at most 28 significant digits to be read exactly, got 0.12345678901234567890123456789",
        );
        check(
            b"{\"a\":1e400}",
            "a: must be less than 79228162514264337593543950336 in size to be read exactly, got 1e+400",
        );
        check(b"{\"a\":1e-29}", "a: must have at most 28 digits after the decimal point to be read exactly, got 1e-29");
    }

    fn decimal(text: &str) -> String {
        match decimal_of_text(text) {
            Ok(decimal) => decimal.to_string(),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn exact_decimals_from_number_text() {
        let cases = [
            ("0", "0"),
            ("-0", "0"),
            ("0.000", "0"),
            ("8.0", "8"),
            ("160.0000000000000001", "160.0000000000000001"),
            ("1.600000000000000001e2", "160.0000000000000001"),
            ("16000e-2", "160"),
            ("1.5E3", "1500"),
            ("1.5e+3", "1500"),
            ("-0.75", "-0.75"),
            ("25e-28", "0.0000000000000000000000000025"),
            ("25e-29", "must have at most 28 digits after the decimal point to be read exactly, got 25e-29"),
            ("1e-28", "0.0000000000000000000000000001"),
            ("1e-29", "must have at most 28 digits after the decimal point to be read exactly, got 1e-29"),
            ("1000000000000000000000000000000e-30", "1"),
            ("9999999999999999999999999999", "9999999999999999999999999999"),
            (
                "79228162514264337593543950335",
                "must have at most 28 significant digits to be read exactly, got 79228162514264337593543950335",
            ),
            ("7922816251426433759354395033e1", "79228162514264337593543950330"),
            (
                "7922816251426433759354395034e1",
                "must be less than 79228162514264337593543950336 in size to be read exactly, got 7922816251426433759354395034e1",
            ),
            (
                "1e99999999999999999999",
                "must be less than 79228162514264337593543950336 in size to be read exactly, got 1e99999999999999999999",
            ),
            (
                "1e-99999999999999999999",
                "must have at most 28 digits after the decimal point to be read exactly, got 1e-99999999999999999999",
            ),
            ("0e999999", "0"),
            ("1.", "must be a JSON number, got 1."),
            ("abc", "must be a JSON number, got abc"),
        ];
        for (text, expected) in cases {
            assert_eq!(decimal(text), expected, "{text}");
        }
    }
}
