//! The twelve vignettes of shared/clinical/VIGNETTES.md, reproduced through the core: each case file in
//! `vignettes/` is parsed, assessed under the shipped protocol, and its report must contain every value
//! of the matching `.expected.json` (objects match key by key; lists match element by element).

use std::path::{Path, PathBuf};

use jiff::civil::date;
use ketacare_case::{parse_case_json, report_json};
use ketacare_core::assess::assess_case;
use ketacare_core::protocol::{Protocol, SHIPPED_PROTOCOL_TOML};
use serde_json::Value;

fn vignettes_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../vignettes")
}

fn assert_contains(actual: &Value, expected: &Value, name: &str) {
    if let Err(difference) = ketacare_case::json_contains(actual, expected) {
        panic!("{name}{difference}");
    }
}

fn assess_file(name: &str, protocol: &Protocol) -> Value {
    let text = std::fs::read_to_string(vignettes_dir().join(format!("{name}.case.json"))).unwrap();
    let case = parse_case_json(&text, date(2026, 11, 28)).unwrap_or_else(|error| panic!("{name}: {error}"));
    report_json(&assess_case(&case, protocol))
}

fn expected_report(name: &str) -> Value {
    let text = std::fs::read_to_string(vignettes_dir().join(format!("{name}.expected.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn every_vignette_is_reproduced_through_the_core() {
    let protocol = Protocol::shipped();
    let mut names: Vec<String> = std::fs::read_dir(vignettes_dir())
        .unwrap()
        .filter_map(|entry| entry.unwrap().file_name().into_string().ok())
        .filter_map(|file| file.strip_suffix(".case.json").map(str::to_owned))
        .collect();
    names.sort();
    assert_eq!(names.len(), 13, "twelve vignettes and the EU variant of V11: {names:?}");
    for name in names {
        let report = assess_file(&name, &protocol);
        assert_contains(&report, &expected_report(&name), &name);
        assert_eq!(report["protocol_sha256"], Value::String(protocol.sha256.clone()));
        assert_eq!(report["rules_version"], Value::String(ketacare_core::RULES_VERSION.to_owned()));
    }
}

fn protocol_with(from: &str, to: &str) -> Protocol {
    assert!(SHIPPED_PROTOCOL_TOML.contains(from), "{from}");
    Protocol::parse(&SHIPPED_PROTOCOL_TOML.replacen(from, to, 1)).unwrap()
}

/// V2: the threshold boundary at exactly 25 % under each failure threshold.
#[test]
fn vignette_2_under_each_failure_threshold() {
    let check = |threshold: &str, label_status: &str, failed_agents: &[&str]| {
        let protocol = protocol_with("value = \"lt50\"", &format!("value = \"{threshold}\""));
        let report = assess_file("V2", &protocol);
        assert_eq!(report["trd"]["failure_threshold"], threshold);
        assert_eq!(report["trd"]["label"]["status"], label_status, "{threshold}");
        assert_eq!(report["trd"]["label"]["failed_agents"], serde_json::json!(failed_agents), "{threshold}");
        assert_eq!(report["trd"]["distinct_classes"]["status"], "not_met", "{threshold}");
    };
    check("lt50", "met", &["escitalopram", "fluoxetine"]);
    check("le25", "met", &["escitalopram", "fluoxetine"]);
    check("lt25", "not_met", &["fluoxetine"]);
}

/// V2: with the site policy set to the label definition, the patient is eligible.
#[test]
fn vignette_2_is_eligible_when_the_label_definition_gates() {
    let protocol = protocol_with("value = \"distinct_classes\"", "value = \"label\"");
    let report = assess_file("V2", &protocol);
    for modality in ["iv_ketamine", "esketamine"] {
        assert_eq!(report["eligibility"][modality]["status"], "eligible");
    }
}

/// V8 and V9: a documented override resolves the blocking-relative findings, never an absolute one.
#[test]
fn overrides_resolve_blocking_findings() {
    let protocol = Protocol::shipped();
    let text = std::fs::read_to_string(vignettes_dir().join("V8.case.json")).unwrap();
    let mut case: Value = serde_json::from_str(&text).unwrap();
    case["overrides"] = serde_json::json!([{ "rule": "PSYCHOTIC_FEATURES", "by": "Dr Ada Example", "reason": "benefit outweighs risk after review" }]);
    let parsed = ketacare_case::parse_case(&case, date(2026, 11, 28)).unwrap();
    let report = report_json(&assess_case(&parsed, &protocol));
    assert_eq!(report["eligibility"]["iv_ketamine"]["status"], "eligible");
    assert_eq!(report["eligibility"]["iv_ketamine"]["findings"][0]["overridden_by"]["by"], "Dr Ada Example");

    let text = std::fs::read_to_string(vignettes_dir().join("V6.case.json")).unwrap();
    let mut case: Value = serde_json::from_str(&text).unwrap();
    case["overrides"] = serde_json::json!([{ "rule": "ANEURYSMAL_VASCULAR_DISEASE", "by": "Dr Ada Example", "reason": "tries anyway" }]);
    let parsed = ketacare_case::parse_case(&case, date(2026, 11, 28)).unwrap();
    let report = report_json(&assess_case(&parsed, &protocol));
    assert_eq!(report["eligibility"]["esketamine"]["status"], "ineligible");
    assert_eq!(report["eligibility"]["esketamine"]["findings"][0]["overridden_by"], Value::Null);
}
