//! Every RULE_ID and every trial reason code of contracts/assess.md is produced by at least one case,
//! through the case format: one line per rule.

use jiff::civil::date;
use ketacare_case::{parse_case_json, report_json};
use ketacare_core::assess::assess_case;
use ketacare_core::eligibility::RULE_IDS;
use ketacare_core::protocol::Protocol;
use ketacare_core::trd::TrialReason;
use serde_json::Value;

/// A complete, eligible base case; each check merges its own fields over it.
const BASE: &str = r#"{
  "as_of": "2026-11-28",
  "patient": { "age_years": 40, "sex_at_birth": "male", "height_cm": 175, "weight_kg": 75 },
  "episode": { "duration_months": 10, "severity": "moderate", "psychotic_features": false },
  "trials": [
    { "drug": "sertraline", "daily_dose_mg": 150, "weeks": 16, "improvement_pct": 10 },
    { "drug": "bupropion XL", "daily_dose_mg": 300, "weeks": 16, "improvement_pct": 10 }
  ],
  "bp": [ { "systolic": 120, "diastolic": 80 } ]
}"#;

fn report_for(overlay: &str) -> Value {
    let mut case: Value = serde_json::from_str(BASE).unwrap();
    let overlay: Value = serde_json::from_str(overlay).unwrap();
    for (key, value) in overlay.as_object().unwrap() {
        match (case.get_mut(key), value) {
            (Some(Value::Object(base)), Value::Object(extra)) => {
                for (inner_key, inner_value) in extra {
                    base.insert(inner_key.clone(), inner_value.clone());
                }
            }
            _ => {
                case[key] = value.clone();
            }
        }
    }
    let parsed =
        parse_case_json(&case.to_string(), date(2026, 11, 28)).unwrap_or_else(|error| panic!("{overlay}: {error}"));
    report_json(&assess_case(&parsed, &Protocol::shipped()))
}

fn rules_in(report: &Value) -> Vec<String> {
    let mut rules = Vec::new();
    for modality in ["iv_ketamine", "esketamine"] {
        for finding in report["eligibility"][modality]["findings"].as_array().unwrap() {
            rules.push(finding["rule"].as_str().unwrap().to_owned());
        }
    }
    rules
}

const RULE_CASES: &[(&str, &str)] = &[
    ("AGE_UNDER_18", r#"{"patient":{"age_years":17}}"#),
    ("AGE_65_PLUS", r#"{"patient":{"age_years":65}}"#),
    ("TRD_NOT_MET", r#"{"trials":[]}"#),
    (
        "TRD_INDETERMINATE",
        r#"{"trials":[{"drug":"sertraline","daily_dose_mg":150,"weeks":16,"improvement_pct":10},{"drug":"bupropion","weeks":16,"improvement_pct":10}]}"#,
    ),
    ("ANEURYSMAL_VASCULAR_DISEASE", r#"{"history":["aneurysmal_vascular_disease"]}"#),
    ("ARTERIOVENOUS_MALFORMATION", r#"{"history":["arteriovenous_malformation"]}"#),
    ("INTRACEREBRAL_HEMORRHAGE", r#"{"history":["intracerebral_hemorrhage"]}"#),
    ("KETAMINE_HYPERSENSITIVITY", r#"{"history":["ketamine_hypersensitivity"]}"#),
    ("PREGNANCY", r#"{"patient":{"sex_at_birth":"female","pregnant":true}}"#),
    ("PREGNANCY_UNKNOWN", r#"{"patient":{"sex_at_birth":"female"}}"#),
    ("BREASTFEEDING", r#"{"patient":{"breastfeeding":true}}"#),
    ("PSYCHOTIC_FEATURES", r#"{"episode":{"psychotic_features":true}}"#),
    ("PRIMARY_PSYCHOTIC_DISORDER", r#"{"history":["primary_psychotic_disorder"]}"#),
    ("BIPOLAR_DISORDER", r#"{"history":["bipolar_disorder"]}"#),
    ("SUBSTANCE_USE_DISORDER", r#"{"history":["substance_use_disorder_current"]}"#),
    ("KETAMINE_MISUSE", r#"{"history":["ketamine_misuse"]}"#),
    ("BP_ELEVATED", r#"{"bp":[{"systolic":150,"diastolic":85}]}"#),
    ("BP_SEVERE", r#"{"bp":[{"systolic":185,"diastolic":100}]}"#),
    ("RECENT_CARDIOVASCULAR_EVENT", r#"{"history":["recent_cardiovascular_event"]}"#),
    ("HYPERTENSIVE_ENCEPHALOPATHY", r#"{"history":["hypertensive_encephalopathy"]}"#),
    ("RAISED_INTRACRANIAL_PRESSURE", r#"{"history":["raised_intracranial_pressure"]}"#),
    ("HEPATIC_IMPAIRMENT_MODERATE", r#"{"history":["hepatic_impairment_moderate"]}"#),
    ("HEPATIC_IMPAIRMENT_SEVERE", r#"{"history":["hepatic_impairment_severe"]}"#),
    ("UNSTABLE_RESPIRATORY_DISEASE", r#"{"history":["unstable_respiratory_disease"]}"#),
    ("MAOI_OR_PSYCHOSTIMULANT", r#"{"concomitant":["maoi"]}"#),
    ("CNS_DEPRESSANT", r#"{"concomitant":["benzodiazepine"]}"#),
    ("SUICIDE_SCREEN_REQUIRED", r#"{"scales":{"phq9":[1,1,1,1,1,1,1,1,2]}}"#),
    ("SUICIDE_RISK_HIGH", r#"{"cssrs":{"q1":true,"q2":true,"q3":true,"q4":true,"q5":false,"q6":false}}"#),
    ("SUICIDE_RISK_MODERATE", r#"{"cssrs":{"q1":true,"q2":false,"q6":true,"q6_within_3_months":false}}"#),
    (
        "STANDARD_TREATMENT_UNDER_6_MONTHS",
        r#"{"trials":[{"drug":"sertraline","daily_dose_mg":150,"weeks":8,"improvement_pct":10},{"drug":"bupropion","daily_dose_mg":300,"weeks":8,"improvement_pct":10}]}"#,
    ),
];

#[test]
fn the_base_case_is_eligible_with_no_findings() {
    let report = report_for("{}");
    assert_eq!(rules_in(&report), Vec::<String>::new());
    assert_eq!(report["eligibility"]["esketamine"]["status"], "eligible");
}

#[test]
fn every_rule_id_is_produced() {
    let covered: Vec<&str> = RULE_CASES.iter().map(|(rule, _)| *rule).collect();
    assert_eq!(covered, RULE_IDS, "the table covers every rule id, in the core's order");
    for (rule, overlay) in RULE_CASES {
        let rules = rules_in(&report_for(overlay));
        assert!(rules.iter().any(|produced| produced == rule), "{rule}: produced {rules:?}");
    }
}

#[test]
fn a_bipolar_diagnosis_raises_the_bipolar_finding() {
    let rules = rules_in(&report_for(r#"{"episode":{"diagnosis":"F31.4"}}"#));
    assert!(rules.iter().any(|rule| rule == "BIPOLAR_DISORDER"), "{rules:?}");
}

#[test]
fn every_reason_code_is_produced() {
    let cases: &[(TrialReason, &str)] = &[
        (
            TrialReason::OutsideEpisode,
            r#"{"drug":"sertraline","daily_dose_mg":150,"weeks":8,"improvement_pct":10,"in_current_episode":false}"#,
        ),
        (TrialReason::UnknownDrug, r#"{"drug":"zzzpramine","daily_dose_mg":150,"weeks":8,"improvement_pct":10}"#),
        (TrialReason::DoseBelowMin, r#"{"drug":"sertraline","daily_dose_mg":25,"weeks":8,"improvement_pct":10}"#),
        (TrialReason::DurationShort, r#"{"drug":"sertraline","daily_dose_mg":150,"weeks":3,"improvement_pct":10}"#),
        (
            TrialReason::Adherence,
            r#"{"drug":"sertraline","daily_dose_mg":150,"weeks":8,"improvement_pct":10,"adherence":"unknown"}"#,
        ),
        (TrialReason::Responded, r#"{"drug":"sertraline","daily_dose_mg":150,"weeks":8,"improvement_pct":60}"#),
        (
            TrialReason::AugmentationOnly,
            r#"{"drug":"lithium","daily_dose_mg":900,"weeks":8,"improvement_pct":10,"role":"augmentation"}"#,
        ),
        (TrialReason::MissingData, r#"{"drug":"sertraline","weeks":8,"improvement_pct":10}"#),
        (TrialReason::CloselyRelated, r#"{"drug":"citalopram","daily_dose_mg":20,"weeks":8,"improvement_pct":10}"#),
    ];
    assert_eq!(cases.iter().map(|(reason, _)| *reason).collect::<Vec<_>>(), TrialReason::ALL);
    for (reason, trial) in cases {
        let overlay = format!(
            r#"{{"trials":[{trial},{{"drug":"escitalopram","daily_dose_mg":10,"weeks":8,"improvement_pct":10}}]}}"#
        );
        let report = report_for(&overlay);
        let codes = &report["trd"]["trials"][0]["reasons"];
        assert!(codes.as_array().unwrap().iter().any(|code| code == reason.code()), "{}: {codes}", reason.code());
    }
}
