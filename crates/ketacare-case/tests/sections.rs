//! The per-section readers agree with the case reader: a value is accepted alone exactly when it is
//! accepted inside a case, and a problem is the same problem at the path relative to the section.

use jiff::civil::date;
use ketacare_case::{
    InvalidCase, parse_bp_entry, parse_case, parse_concomitant_entry, parse_cssrs_section, parse_ect_section,
    parse_episode_section, parse_history_entry, parse_override_entry, parse_patient_section, parse_scales_section,
    parse_trial_entry,
};
use serde_json::{Value, json};

/// Reads `value` with the section reader and inside a case at `case_path`; both must agree.
fn check(section: &str, value: Value) {
    let today = date(2026, 11, 28);
    let (case, prefix) = match section {
        "patient" | "episode" | "ect" | "scales" | "cssrs" => (json!({ section: value }), format!("{section}.")),
        _ => (json!({ section: [value] }), format!("{section}[0].")),
    };
    let alone: Result<(), InvalidCase> = match section {
        "patient" => parse_patient_section("", &value, today),
        "episode" => parse_episode_section("", &value, today),
        "ect" => parse_ect_section("", &value).map(drop),
        "history" => parse_history_entry("", &value).map(drop),
        "concomitant" => parse_concomitant_entry("", &value).map(drop),
        "trials" => parse_trial_entry("", &value).map(drop),
        "bp" => parse_bp_entry("", &value).map(drop),
        "scales" => parse_scales_section("", &value).map(drop),
        "cssrs" => parse_cssrs_section("", &value).map(drop),
        "overrides" => parse_override_entry("", &value).map(drop),
        other => panic!("no reader for {other}"),
    };
    let in_case = parse_case(&case, today).map(drop);
    match (alone, in_case) {
        (Ok(()), Ok(())) => {}
        (Err(alone), Err(in_case)) => {
            let full = if alone.path.is_empty() || alone.path == "(record)" {
                prefix.trim_end_matches('.').to_owned()
            } else {
                format!("{prefix}{}", alone.path)
            };
            assert_eq!((full, &alone.problem), (in_case.path.clone(), &in_case.problem), "{section} {value}");
        }
        (alone, in_case) => panic!("{section} {value}: alone {alone:?}, in a case {in_case:?}"),
    }
}

#[test]
fn each_section_reader_agrees_with_the_case_reader() {
    check("patient", json!({ "height_cm": 165, "weight_kg": 70, "pregnant": false }));
    check("patient", json!({ "weight_kg": 5 }));
    check("patient", json!({ "wieght_kg": 70 }));
    check("patient", json!({ "sex_at_birth": "male", "pregnant": true }));
    check("episode", json!({ "diagnosis": "F33.2", "onset_date": "2026-01-28", "severity": "moderate" }));
    check("episode", json!({ "diagnosis": "F33.3", "psychotic_features": false }));
    check("episode", json!({ "onset_date": "2027-01-01" }));
    check("ect", json!({ "failed_courses": 1, "bilateral": true }));
    check("ect", json!({ "failed_courses": 101 }));
    check("history", json!("ketamine_misuse"));
    check("history", json!("migraine"));
    check("concomitant", json!("maoi"));
    check("concomitant", json!(3));
    check("trials", json!({ "drug": "sertraline", "daily_dose_mg": 150, "weeks": 8, "improvement_pct": 15 }));
    check("trials", json!({ "drug": "sertraline", "daily_dose_mg": -5 }));
    check("trials", json!({ "daily_dose_mg": 100 }));
    check("bp", json!({ "systolic": 128, "diastolic": 82 }));
    check("bp", json!({ "systolic": 80, "diastolic": 120 }));
    check("bp", json!({ "systolic": 128 }));
    check("scales", json!({ "madrs": 32, "phq9": [2, 2, 3, 2, 2, 2, 2, 3, 1] }));
    check("scales", json!({ "phq9": [2, 2, 3] }));
    check("scales", json!({ "gad7": 22 }));
    check("cssrs", json!({ "q1": true, "q2": false, "q6": false }));
    check("cssrs", json!({ "q1": true, "q2": false, "q3": true, "q6": false }));
    check("overrides", json!({ "rule": "PSYCHOTIC_FEATURES", "by": "Dr A", "reason": "reviewed" }));
    check("overrides", json!({ "rule": "NO_SUCH_RULE", "by": "Dr A", "reason": "reviewed" }));
    check("overrides", json!({ "rule": "PSYCHOTIC_FEATURES", "reason": "reviewed" }));
}
