//! Every document is read one strict way (issue 10): a key given twice anywhere, text after the value
//! or bytes that are not UTF-8 make the document malformed, naming where.

use std::path::Path;

use jiff::Timestamp;
use jiff::civil::date;
use ketacare_case::session_format::parse_session_json;
use ketacare_case::{parse_case_json, parse_plan_json, report_json};
use ketacare_core::assess::assess_case;
use ketacare_core::protocol::Protocol;
use serde_json::Value;

fn example(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/examples").join(name)).unwrap()
}

/// Reads `case` and returns the error as `path: problem`, or the report as JSON.
fn assess(case: &str) -> Result<Value, String> {
    let facts = parse_case_json(case, date(2026, 11, 28)).map_err(|error| error.to_string())?;
    Ok(report_json(&assess_case(&facts, &Protocol::shipped())))
}

/// A case that must be refused, and the start of the error (`path: problem`).
fn check_refused(case: &str, expected_error_start: &str) {
    match assess(case) {
        Ok(report) => panic!("{case}: accepted, eligibility {}", report["eligibility"]),
        Err(error) => assert!(error.starts_with(expected_error_start), "{case}: got {error}"),
    }
}

#[test]
fn a_key_given_twice_anywhere_in_a_case_is_malformed_naming_its_path() {
    // The last value used to win silently: an absolute contraindication was lost.
    check_refused(r#"{"history":["aneurysmal_vascular_disease"],"history":[]}"#, "history: is given more than once");
    check_refused(r#"{"bp":[{"systolic":190,"diastolic":112}],"bp":[{"systolic":120,"diastolic":80}]}"#, "bp: ");
    check_refused(
        r#"{"cssrs":{"q1":true,"q2":true,"q3":true,"q4":true,"q5":true,"q6":false},"cssrs":{"q1":false,"q2":false,"q6":false}}"#,
        "cssrs: ",
    );
    check_refused(r#"{"patient":{"sex_at_birth":"female","pregnant":true,"pregnant":false}}"#, "patient.pregnant: ");
    check_refused(r#"{"trials":[{"drug":"a"},{"drug":"b"},{"drug":"sertraline","drug":"x"}]}"#, "trials[2].drug: ");
    check_refused(r#"{"bp":[{"systolic":120,"diastolic":80,"systolic":190}]}"#, "bp[0].systolic: ");
    check_refused(r#"{"cssrs":{"q1":false,"q2":false,"q6":true,"q6":false}}"#, "cssrs.q6: ");
    // Even under a key the case does not know, the duplicate is what is reported first.
    check_refused(r#"{"unknown":{"a":1,"a":2}}"#, "unknown.a: ");
}

#[test]
fn text_after_the_value_is_malformed() {
    check_refused(r#"{"history":[]} {"history":["aneurysmal_vascular_disease"]}"#, "(case): ");
    check_refused(r#"{"history":[]}]"#, "(case): ");
    check_refused(r#"{"history":[]}x"#, "(case): ");
    // White space after the value is not garbage.
    assert!(assess("{\"history\":[]}\n\t ").is_ok());
}

#[test]
fn a_key_given_twice_in_a_session_or_plan_document_is_malformed() {
    let session = example("session-iv.json");
    assert!(parse_session_json(session.as_bytes()).is_ok());
    let doubled = session.replacen(r#""given_mg": 35,"#, r#""given_mg": 35, "given_mg": 350,"#, 1);
    assert_ne!(doubled, session);
    let error = parse_session_json(doubled.as_bytes()).unwrap_err();
    assert_eq!(error.path, "dose.given_mg", "{error}");

    let doubled = session.replacen(r#""systolic_mmhg": 184,"#, r#""systolic_mmhg": 184, "systolic_mmhg": 120,"#, 1);
    let error = parse_session_json(doubled.as_bytes()).unwrap_err();
    assert_eq!(error.path, "observations[4].systolic_mmhg", "{error}");

    let plan = example("plan-iv.json");
    let now = Timestamp::from_second(1_790_000_000).unwrap();
    assert!(parse_plan_json(plan.as_bytes(), now).is_ok());
    let doubled = plan.replacen(
        r#"{ "missed": "2026-11-04T09:00" }"#,
        r#"{ "missed": "2026-11-04T09:00", "missed": "2026-11-04T09:00" }"#,
        1,
    );
    let error = parse_plan_json(doubled.as_bytes(), now).unwrap_err();
    assert_eq!(error.path, "events[2].missed", "{error}");
    let trailing = format!("{plan}\n{{}}");
    assert_eq!(parse_plan_json(trailing.as_bytes(), now).unwrap_err().path, "(file)");
}

/// One date reading for every field: exactly `YYYY-MM-DD` in the plausible years, and clinic-local times
/// exactly `YYYY-MM-DDTHH:MM` with no offset (each line: text, accepted as a date, accepted as a local time).
#[test]
fn dates_and_local_times_are_read_one_strict_way() {
    let table: &[(&str, bool, bool)] = &[
        ("1984-05-02", true, false),
        ("19840502", false, false),
        ("1984-5-2", false, false),
        ("0001-01-01", false, false),
        ("1899-12-31", false, false),
        ("2199-12-31", true, false),
        ("2200-01-01", false, false),
        ("1984-02-30", false, false),
        ("1984-05-02T10:00", false, true),
        ("1984-05-02T10:00:00", false, false),
        ("1984-05-02T10:00Z", false, false),
        ("1984-05-02T10:00+05:00", false, false),
        ("1984-05-02 10:00", false, false),
        ("0001-05-02T10:00", false, false),
        ("9999-05-02T10:00", false, false),
        ("1984-05-02T25:00", false, false),
    ];
    let failures: Vec<String> = table
        .iter()
        .filter(|(text, date, local)| {
            ketacare_case::read_calendar_date(text).is_some() != *date
                || ketacare_case::read_local_date_time(text).is_some() != *local
        })
        .map(|(text, date, local)| format!("{text}: expected date {date}, local time {local}"))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
