//! Bad input never crashes: arbitrary JSON, and vignette cases with one value replaced by an arbitrary
//! one, either parse or fail with a named field; whatever parses is assessed and rendered without panic.

use std::path::Path;

use jiff::civil::date;
use ketacare_case::{parse_case, report_text, write_report_json};
use ketacare_core::assess::assess_case;
use ketacare_core::protocol::Protocol;
use proptest::prelude::*;
use serde_json::Value;

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1.0e6f64..1.0e6).prop_map(Value::from),
        prop_oneof![
            "[a-z_]{0,12}".prop_map(Value::String),
            Just(Value::String("2026-02-30".into())),
            Just(Value::String("1990-01-01".into())),
            Just(Value::String("sertraline".into())),
        ],
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_0-9]{1,10}", inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Every path to a value inside `value`, as JSON pointers.
fn pointers(value: &Value, prefix: String, out: &mut Vec<String>) {
    out.push(prefix.clone());
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                pointers(child, format!("{prefix}/{key}"), out);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                pointers(child, format!("{prefix}/{index}"), out);
            }
        }
        _ => {}
    }
}

fn vignette_cases() -> Vec<Value> {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../vignettes");
    let mut paths: Vec<_> = std::fs::read_dir(directory)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_string_lossy().ends_with(".case.json"))
        .collect();
    paths.sort();
    paths.iter().map(|path| serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()).collect()
}

fn parse_assess_render(case: &Value) -> Result<(), String> {
    match parse_case(case, date(2026, 11, 28)) {
        Ok(parsed) => {
            let report = assess_case(&parsed, &Protocol::shipped());
            write_report_json(&report, Vec::new()).map_err(|error| error.to_string())?;
            report_text(&report);
            Ok(())
        }
        Err(error) => {
            assert!(!error.path.is_empty() && !error.problem.is_empty(), "{error:?}");
            Err(error.to_string())
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_json_never_panics(case in arbitrary_json()) {
        let _ = parse_assess_render(&case);
    }

    #[test]
    fn a_vignette_with_one_value_replaced_never_panics(
        which in 0usize..13,
        position in any::<prop::sample::Index>(),
        replacement in arbitrary_json(),
    ) {
        let mut case = vignette_cases()[which].clone();
        let mut all = Vec::new();
        pointers(&case, String::new(), &mut all);
        let pointer = &all[position.index(all.len())];
        if pointer.is_empty() {
            case = replacement;
        } else {
            *case.pointer_mut(pointer).unwrap() = replacement;
        }
        let _ = parse_assess_render(&case);
    }
}
