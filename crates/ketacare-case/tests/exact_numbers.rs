//! Numbers are read from their JSON text as exact decimals (issue 10; assess contract reading 10), and a
//! number with more digits than a decimal can keep exactly is refused by its field, never rounded.

use jiff::civil::date;
use ketacare_case::{parse_case_json, report_json};
use ketacare_core::assess::assess_case;
use ketacare_core::protocol::Protocol;
use serde_json::Value;

/// Reads `case` and returns the error as `path: problem`, or the report as JSON.
fn assess(case: &str) -> Result<Value, String> {
    let facts = parse_case_json(case, date(2026, 11, 28)).map_err(|error| error.to_string())?;
    Ok(report_json(&assess_case(&facts, &Protocol::shipped())))
}

/// A case that must be refused, and the start of the error (`path: problem`).
fn check_refused(case: &str, expected_error_start: &str) {
    match assess(case) {
        Ok(report) => panic!("{case}: accepted, dose {}", report["dose"]),
        Err(error) => assert!(error.starts_with(expected_error_start), "{case}: got {error}"),
    }
}

#[test]
fn numbers_are_read_exactly_from_their_text() {
    // 76.8 kg at 160 cm is a BMI of exactly 30 (ideal weight); at a hair over 160 cm it is just below 30
    // and the actual weight is the basis. Through binary floats both read as 160.0.
    let at = |height: &str| {
        let case = format!(
            r#"{{"modality":"iv_ketamine","patient":{{"sex_at_birth":"female","height_cm":{height},"weight_kg":76.8}}}}"#
        );
        let report = assess(&case).unwrap();
        report["dose"]["iv_ketamine"]["basis"].as_str().unwrap().to_owned()
    };
    assert_ne!(at("160"), "actual");
    assert_eq!(at("160.0000000000000001"), "actual");
    assert_eq!(at("1.600000000000000001e2"), "actual");
    assert_ne!(at("1.6e2"), "actual");
    assert_ne!(at("16000e-2"), "actual");
}

#[test]
fn a_number_with_more_digits_than_can_be_kept_exactly_is_refused_by_name() {
    check_refused(r#"{"patient":{"height_cm":160.00000000000000000000000000001}}"#, "patient.height_cm: ");
    check_refused(r#"{"trials":[{"drug":"sertraline","weeks":5.99999999999999999999999999999}]}"#, "trials[0].weeks: ");
    check_refused(r#"{"patient":{"weight_kg":1e400}}"#, "patient.weight_kg: ");
    // 28 significant digits are kept.
    let report = assess(r#"{"patient":{"height_cm":160.0000000000000000000000001,"weight_kg":70}}"#).unwrap();
    assert_eq!(report["dose"]["iv_ketamine"]["status"], "computed");
}
