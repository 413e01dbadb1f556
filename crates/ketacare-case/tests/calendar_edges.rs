//! Session and plan documents dated at the ends of the calendar (jiff holds years -9999 to 9999, instants up
//! to late on 9999-12-30 UTC) are checked or refused with the field named; none of them panics.

use std::panic::{AssertUnwindSafe, catch_unwind};

use jiff::Timestamp;
use ketacare_case::session_format::{check_session, parse_session, session_report_json};
use ketacare_case::{parse_plan, plan_report_json};
use ketacare_core::plan::plan;
use ketacare_core::protocol::Protocol;
use serde_json::{Value, json};

fn example(name: &str) -> String {
    std::fs::read_to_string(format!("{}/../../docs/examples/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// A session document in UTC on 9999-12-30, the last day on which jiff holds instants into the evening
/// (up to 22:00 UTC): the dose ends at 21:50, so each "N minutes after" mark lies past the last instant.
fn session_at_the_end_of_the_calendar(modality: &str) -> Value {
    json!({
        "modality": modality,
        "time_zone": "UTC",
        "now": "9999-12-30T21:59",
        "dose": { "planned_mg": 56, "planned_at": "9999-12-30T21:30", "given_mg": 56,
                  "started_at": "9999-12-30T21:30", "ended_at": "9999-12-30T21:50" },
        "pre_dose": { "phq9_item9": 0, "can_become_pregnant": false, "escort_arranged": true,
                      "rems_patient_enrolled": true, "informed_consent": "current" },
        "observations": [
            { "at": "9999-12-30T21:00", "systolic_mmhg": 124, "diastolic_mmhg": 76, "moaas": 5, "cadss_total": 2 },
            { "at": "9999-12-30T21:06", "systolic_mmhg": 122, "diastolic_mmhg": 78 },
            { "at": "9999-12-30T21:55", "systolic_mmhg": 150, "diastolic_mmhg": 90, "moaas": 4, "cadss_total": 9 }
        ],
        "discharge": { "escort_present": true }
    })
}

/// Checks and renders a session document: `None` when it is checked, the field named when it is refused.
fn check_session_document(document: &Value) -> Option<String> {
    let input = match parse_session(document) {
        Ok(input) => input,
        Err(error) => return Some(error.path),
    };
    let protocol = Protocol::shipped();
    let now = input.now.unwrap_or(Timestamp::MAX);
    let report = check_session(&input, &protocol, now);
    session_report_json(&input, &report, &protocol, now);
    None
}

/// Schedules and renders a plan document: `None` when it is scheduled, the field named when it is refused.
fn check_plan_document(document: &Value) -> Option<String> {
    let input = match parse_plan(document, "2026-11-28T15:00:00Z".parse().unwrap()) {
        Ok(input) => input,
        Err(error) => return Some(error.path),
    };
    let protocol = Protocol::shipped();
    let schedule = match plan(&input.request, &protocol) {
        Ok(schedule) => schedule,
        Err(error) => return Some(error.field.to_owned()),
    };
    let course = input.course.as_ref().map(|course| course.evaluate(&protocol));
    plan_report_json(&input, &schedule, course.as_ref(), &protocol);
    None
}

#[test]
fn documents_at_the_ends_of_the_calendar_never_panic() {
    let year_9999 = |name: &str| -> Value {
        serde_json::from_str(&example(name).replace("\"2026-", "\"9999-").replace("\"2027-", "\"9999-")).unwrap()
    };
    let mut first_session_at_the_end: Value = serde_json::from_str(&example("plan-iv.json")).unwrap();
    first_session_at_the_end["first_session"] = json!("9999-12-31T09:00");
    first_session_at_the_end["events"] = json!([]);
    first_session_at_the_end["now"] = json!("2026-11-28T09:00");
    // (what, document, checker, the field named when refused or None when checked)
    type Checker = fn(&Value) -> Option<String>;
    let cases: Vec<(&str, Value, Checker, Option<&str>)> = vec![
        // The one date reading refuses years past 2199 (the first date read is `now`); the core's own guards
        // against the calendar's end are tested in ketacare-core.
        ("IV session", session_at_the_end_of_the_calendar("iv_racemic_ketamine"), check_session_document, Some("now")),
        ("esketamine session", session_at_the_end_of_the_calendar("esketamine"), check_session_document, Some("now")),
        ("IV plan in 9999", year_9999("plan-iv.json"), check_plan_document, Some("first_session")),
        (
            "esketamine plan in 9999",
            year_9999("plan-esketamine-relapse.json"),
            check_plan_document,
            Some("first_session"),
        ),
        ("first session on the last day", first_session_at_the_end, check_plan_document, Some("first_session")),
    ];
    let mut failures = Vec::new();
    for (what, document, checker, expected) in cases {
        match catch_unwind(AssertUnwindSafe(|| checker(&document))) {
            Err(_) => failures.push(format!("{what}: panicked")),
            Ok(named) => {
                if named.as_deref() != expected {
                    failures.push(format!("{what}: refused naming {named:?}, expected {expected:?}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} failure(s):\n{}", failures.len(), failures.join("\n"));
}
