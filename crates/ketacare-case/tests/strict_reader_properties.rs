//! Properties of the strict reader (issue 10): every shipped document (the vignette cases, the session
//! and plan examples) with one key given twice in any one object is refused, naming exactly that key's
//! path; and decimal number text with up to 28 significant digits, written with or without an exponent,
//! reads back as exactly the decimal it stands for.

use std::path::Path;

use ketacare_case::{InvalidJson, exact_decimal, read_json_document};
use proptest::prelude::*;
use proptest::sample::Index;
use rust_decimal::Decimal;
use serde_json::Value;

/// The vignette cases and the example session and plan documents, as text.
fn shipped_documents() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut documents = Vec::new();
    for (folder, suffix) in [("vignettes", ".case.json"), ("docs/examples", ".json")] {
        for entry in std::fs::read_dir(root.join(folder)).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(suffix) {
                documents.push((name, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    documents.sort();
    assert!(documents.len() >= 17, "{} documents", documents.len());
    documents
}

/// The reader's path of every non-empty object in `value` (`""` for the top, `trials[2]`, `dose`), with
/// its keys.
fn objects_with_keys(value: &Value, path: String, out: &mut Vec<(String, Vec<String>)>) {
    match value {
        Value::Object(object) => {
            if !object.is_empty() {
                out.push((path.clone(), object.keys().cloned().collect()));
            }
            for (key, child) in object {
                let child_path = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                objects_with_keys(child, child_path, out);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                objects_with_keys(item, format!("{path}[{index}]"), out);
            }
        }
        _ => {}
    }
}

/// Writes `value` as JSON text, giving `key` of the object at `target` a second time: right after its
/// first place moved `later` keys on, with `second_value`.
fn write_with_duplicate(
    value: &Value,
    path: &str,
    target: &str,
    key: &str,
    later: usize,
    second_value: &Value,
    out: &mut String,
) {
    match value {
        Value::Object(object) => {
            let entries: Vec<(&String, &Value)> = object.iter().collect();
            let mut written: Vec<String> = Vec::new();
            for (entry_key, child) in &entries {
                let child_path = if path.is_empty() { (*entry_key).clone() } else { format!("{path}.{entry_key}") };
                let mut text = serde_json::to_string(entry_key).unwrap();
                text.push(':');
                write_with_duplicate(child, &child_path, target, key, later, second_value, &mut text);
                written.push(text);
            }
            if path == target {
                let first = entries.iter().position(|(entry_key, _)| entry_key.as_str() == key).unwrap();
                let second = format!("{}:{}", serde_json::to_string(key).unwrap(), second_value);
                let place = (first + 1 + later).min(written.len());
                written.insert(place, second);
            }
            out.push('{');
            out.push_str(&written.join(","));
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_with_duplicate(item, &format!("{path}[{index}]"), target, key, later, second_value, out);
            }
            out.push(']');
        }
        leaf => out.push_str(&serde_json::to_string(leaf).unwrap()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_key_given_twice_in_any_object_of_a_shipped_document_is_refused_naming_its_path(
        document in any::<Index>(),
        object in any::<Index>(),
        key in any::<Index>(),
        later in 0usize..4,
        second_value in prop_oneof![
            Just(None),
            Just(Some(Value::Null)),
            Just(Some(serde_json::json!([]))),
            Just(Some(serde_json::json!({}))),
            Just(Some(serde_json::json!("x"))),
        ],
    ) {
        let documents = shipped_documents();
        let (name, text) = document.get(&documents);
        let value = read_json_document(text.as_bytes()).unwrap();
        let mut objects = Vec::new();
        objects_with_keys(&value, String::new(), &mut objects);
        let (object_path, keys) = object.get(&objects);
        let key = key.get(keys);
        let first_value = &value.pointer(&pointer_of(object_path)).unwrap()[key];
        let second_value = second_value.unwrap_or_else(|| first_value.clone());
        let mut doubled = String::new();
        write_with_duplicate(&value, "", object_path, key, later, &second_value, &mut doubled);
        let expected_path = if object_path.is_empty() { key.clone() } else { format!("{object_path}.{key}") };
        prop_assert_eq!(
            read_json_document(doubled.as_bytes()),
            Err(InvalidJson {
                path: Some(expected_path),
                problem: "is given more than once; a key may appear only once in an object".to_owned(),
            }),
            "{} {}", name, doubled
        );
        // Written the same way without the duplicate, the document reads back as it was.
        let mut single = String::new();
        write_with_duplicate(&value, "", "(nowhere)", key, later, &second_value, &mut single);
        prop_assert_eq!(read_json_document(single.as_bytes()).unwrap(), value);
    }

    #[test]
    fn decimal_text_with_up_to_28_significant_digits_reads_exactly(
        digits in "[1-9][0-9]{0,27}",
        scale in 0u32..=28,
        exponent in -12i64..=12,
        negative in any::<bool>(),
        capital_e in any::<bool>(),
        plus_sign in any::<bool>(),
    ) {
        // The decimal: `digits` x 10^-scale. Its text: the same digits with the point moved by
        // `exponent`, and the exponent written after them.
        let mantissa: i128 = digits.parse().unwrap();
        let expected = Decimal::from_i128_with_scale(if negative { -mantissa } else { mantissa }, scale);
        let fraction_length = i64::from(scale) + exponent;
        prop_assume!(fraction_length >= 0);
        let fraction_length = fraction_length as usize;
        let padded = format!("{digits:0>width$}", width = fraction_length + 1);
        let (whole, fraction) = padded.split_at(padded.len() - fraction_length);
        let mut text = String::new();
        if negative {
            text.push('-');
        }
        text.push_str(whole);
        if !fraction.is_empty() {
            text.push('.');
            text.push_str(fraction);
        }
        if exponent != 0 || capital_e {
            text.push(if capital_e { 'E' } else { 'e' });
            if plus_sign && exponent >= 0 {
                text.push('+');
            }
            text.push_str(&exponent.to_string());
        }
        let document = read_json_document(format!("{{\"n\": {text}}}").as_bytes()).unwrap();
        let Value::Number(number) = &document["n"] else { panic!("{text}: not a number") };
        let read = exact_decimal(number).unwrap();
        prop_assert_eq!(read, expected, "{}", text);
        prop_assert_eq!(read.to_string(), expected.normalize().to_string(), "{}", text);
    }

    #[test]
    fn decimal_text_with_more_than_28_significant_digits_is_refused_naming_its_field(
        digits in "[1-9][0-9]{27,40}[1-9]",
        point in any::<Index>(),
    ) {
        let point = point.index(digits.len());
        let text = if point == 0 { digits.clone() } else { format!("{}.{}", &digits[..point], &digits[point..]) };
        let error = read_json_document(format!("{{\"trials\":[{{\"weeks\":{text}}}]}}").as_bytes()).unwrap_err();
        prop_assert_eq!(error.path.as_deref(), Some("trials[0].weeks"));
        prop_assert!(error.problem.starts_with("must have at most 28 significant digits"), "{}", error.problem);
    }
}

/// The JSON pointer of the reader's path `path` (`trials[2].drug` → `/trials/2/drug`).
fn pointer_of(path: &str) -> String {
    let mut pointer = String::new();
    for part in path.split('.').filter(|part| !part.is_empty()) {
        let mut pieces = part.split('[');
        let key = pieces.next().unwrap();
        if !key.is_empty() {
            pointer.push('/');
            pointer.push_str(key);
        }
        for index in pieces {
            pointer.push('/');
            pointer.push_str(index.trim_end_matches(']'));
        }
    }
    pointer
}
