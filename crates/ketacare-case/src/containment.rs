//! Checking that a report contains an expected partial report: how the vignette files are compared
//! with what the CLI, the core and (later) the API produce.

use serde_json::Value;

/// `Ok` when `actual` contains `expected`: every key of an expected object (recursively), and lists of
/// the same length whose elements contain the expected elements. Numbers compare by value (35 = 35.0).
/// The error names the first path that differs.
pub fn json_contains(actual: &Value, expected: &Value) -> Result<(), String> {
    contains_at(actual, expected, "")
}

fn contains_at(actual: &Value, expected: &Value, path: &str) -> Result<(), String> {
    match (actual, expected) {
        (Value::Object(actual_map), Value::Object(expected_map)) => {
            for (key, expected_value) in expected_map {
                let child = format!("{path}.{key}");
                let actual_value = actual_map.get(key).ok_or_else(|| format!("{child} is missing"))?;
                contains_at(actual_value, expected_value, &child)?;
            }
            Ok(())
        }
        (Value::Array(actual_items), Value::Array(expected_items)) => {
            if actual_items.len() != expected_items.len() {
                return Err(format!("{path}: expected {expected}, got {actual}"));
            }
            for (index, (actual_item, expected_item)) in actual_items.iter().zip(expected_items).enumerate() {
                contains_at(actual_item, expected_item, &format!("{path}[{index}]"))?;
            }
            Ok(())
        }
        (Value::Number(actual_number), Value::Number(expected_number))
            if actual_number.as_f64() == expected_number.as_f64() =>
        {
            Ok(())
        }
        _ if actual == expected => Ok(()),
        _ => Err(format!("{path}: expected {expected}, got {actual}")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::json_contains;

    #[test]
    fn containment_checks_keys_lists_and_numbers() {
        let actual = json!({ "a": { "b": 35.0, "c": [ { "rule": "X", "class": "warning" } ], "d": 1 } });
        assert_eq!(json_contains(&actual, &json!({ "a": { "b": 35 } })), Ok(()));
        assert_eq!(json_contains(&actual, &json!({ "a": { "c": [ { "rule": "X" } ] } })), Ok(()));
        assert_eq!(
            json_contains(&actual, &json!({ "a": { "b": 35.1 } })),
            Err(".a.b: expected 35.1, got 35.0".to_owned())
        );
        assert!(json_contains(&actual, &json!({ "a": { "c": [] } })).is_err());
        assert_eq!(json_contains(&actual, &json!({ "z": 1 })), Err(".z is missing".to_owned()));
    }
}
