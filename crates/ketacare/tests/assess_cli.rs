//! `ketacare assess` through the real binary: the vignettes, the text format, batch mode, and the
//! malformed-case exits of contracts/assess.md.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn vignettes_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../vignettes")
}

fn ketacare(arguments: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ketacare"))
        .args(arguments)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn vignette_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(vignettes_dir())
        .unwrap()
        .filter_map(|entry| entry.unwrap().file_name().into_string().ok())
        .filter_map(|file| file.strip_suffix(".case.json").map(str::to_owned))
        .collect();
    names.sort();
    names
}

#[test]
fn every_vignette_is_reproduced_through_the_cli() {
    let names = vignette_names();
    assert_eq!(names.len(), 13);
    for name in names {
        let case = vignettes_dir().join(format!("{name}.case.json"));
        let output = ketacare(&["assess", case.to_str().unwrap(), "--format", "json"], None);
        assert_eq!(output.status.code(), Some(0), "{name}: {}", String::from_utf8_lossy(&output.stderr));
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(vignettes_dir().join(format!("{name}.expected.json"))).unwrap(),
        )
        .unwrap();
        if let Err(difference) = ketacare_case::json_contains(&report, &expected) {
            panic!("{name}{difference}");
        }
    }
}

#[test]
fn a_case_can_come_from_standard_input() {
    let text = std::fs::read_to_string(vignettes_dir().join("V1.case.json")).unwrap();
    let output = ketacare(&["assess", "-"], Some(&text));
    assert_eq!(output.status.code(), Some(0));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["trd"]["label"]["status"], "met");
}

#[test]
fn text_format_gives_decisions_reasons_and_citations() {
    let case = vignettes_dir().join("V5.case.json");
    let output = ketacare(&["assess", case.to_str().unwrap(), "--format", "text"], None);
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8(output.stdout).unwrap();
    for expected in [
        "Decisions",
        "MET (bupropion, duloxetine)",
        "Maudsley staging (MSM):  8 (moderate)",
        "IV ketamine dose: 27.5 mg (0.5 mg/kg x 55.10 kg ideal weight, BMI 42.15) over 40 min = 0.689 mg/min",
        "Reasons",
        "trial aripiprazole -> aripiprazole [AUGMENTATION]: not adequate, not a failure (AUGMENTATION_ONLY)",
        "Citations",
        "clinical-reference §3.1-§3.3",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

/// Malformed cases exit 2 and name the field; `check` is one line per case.
#[test]
fn malformed_cases_exit_2_naming_the_field() {
    let check = |case: &str, expected_error: &str| {
        let output = ketacare(&["assess", "-"], Some(case));
        assert_eq!(output.status.code(), Some(2), "{case}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected_error), "{case}: {stderr}");
        assert!(output.stdout.is_empty(), "{case}: nothing is reported for a malformed case");
    };
    check(
        r#"{"trials":[{"drug":"a","daily_dose_mg":1},{"drug":"b","daily_dose_mg":-5}]}"#,
        "trials[1].daily_dose_mg: must be a positive number, got -5",
    );
    check(r#"{"history":["aneurysm"]}"#, "history[0]: unknown history code \"aneurysm\"");
    check(r#"{"patient":{"wieght_kg":70}}"#, "patient.wieght_kg: is not a known field");
    check(r#"{"modality":"oral"}"#, "modality: must be one of both, iv_ketamine, esketamine, got \"oral\"");
    check(r#"{"as_of":"2026-02-30"}"#, "as_of: must be a date written YYYY-MM-DD");
    check(r#"{"patient":{"height_cm":400}}"#, "patient.height_cm: must be a height from 50 to 250 cm, got 400");
    check(r#"{"bp":[{"systolic":80,"diastolic":90}]}"#, "bp[0]: systolic must be above diastolic");
    check(r#"{"scales":{"phq9":[1,2,3]}}"#, "scales.phq9: must have 9 or 10 items, got 3");
    check(r#"{"scales":{"phq9":[0,0,0,0,0,0,0,0,4]}}"#, "scales.phq9[8]: must be a whole number from 0 to 3, got 4");
    check(
        r#"{"scales":{"madrs":[0,0,0,0,0,0,0,0,0,null]}}"#,
        "scales.madrs[9]: must be a whole number from 0 to 6, got null",
    );
    check(
        r#"{"scales":{"hamd17":[0,0,0,3,0,0,0,0,0,0,0,0,0,0,0,0,0]}}"#,
        "scales.hamd17[3]: must be a whole number from 0 to 2, got 3",
    );
    check(r#"{"cssrs":{"q1":true,"q2":false,"q4":true,"q6":false}}"#, "cssrs.q4: answered yes but q2 is no");
    check(
        r#"{"overrides":[{"rule":"PREGNANT","by":"x","reason":"y"}]}"#,
        "overrides[0].rule: unknown rule id \"PREGNANT\"",
    );
    check(
        r#"{"trials":[{"drug":"sertraline","improvement_pct":150}]}"#,
        "trials[0].improvement_pct: must be at most 100, got 150",
    );
    check(
        r#"{"patient":{"birth_date":"1990-01-01","age_years":20},"as_of":"2026-11-28"}"#,
        "patient.age_years: is 20 but birth_date gives 36",
    );
    check(r#"{"episode":{"diagnosis":"major depression"}}"#, "episode.diagnosis: must be an ICD-10-CM code");
    check(
        r#"{"episode":{"diagnosis":"F33.3","psychotic_features":false}}"#,
        "episode.psychotic_features: is false but diagnosis F33.3",
    );
    check("[1,2]", "(case): must be an object");
    check("{", "(case): is not valid JSON");
}

#[test]
fn missing_data_is_indeterminate_not_a_failure() {
    let output = ketacare(
        &["assess", "-"],
        Some(
            r#"{"as_of":"2026-11-28","trials":[{"drug":"sertraline"},{"drug":"bupropion","daily_dose_mg":300,"weeks":8,"improvement_pct":10}]}"#,
        ),
    );
    assert_eq!(output.status.code(), Some(0));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["trd"]["label"]["status"], "indeterminate");
    assert_eq!(report["trd"]["trials"][0]["reasons"], serde_json::json!(["MISSING_DATA"]));
    assert_eq!(report["trd"]["trials"][0]["adequate"], Value::Null);
    assert_eq!(report["eligibility"]["iv_ketamine"]["status"], "indeterminate");
    assert_eq!(report["dose"]["iv_ketamine"]["status"], "indeterminate");
    assert_eq!(report["dose"]["iv_ketamine"]["missing"], serde_json::json!(["patient.height_cm", "patient.weight_kg"]));
    assert_eq!(report["staging"]["msm"]["status"], "indeterminate");
}

#[test]
fn batch_mode_reports_one_line_per_case() {
    let mut batch = String::new();
    for name in ["V1", "V2", "V12"] {
        let case: Value =
            serde_json::from_str(&std::fs::read_to_string(vignettes_dir().join(format!("{name}.case.json"))).unwrap())
                .unwrap();
        batch.push_str(&serde_json::to_string(&case).unwrap());
        batch.push('\n');
    }
    let output = ketacare(&["assess", "--batch", "-"], Some(&batch));
    assert_eq!(output.status.code(), Some(0));
    let lines: Vec<Value> =
        String::from_utf8(output.stdout).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2]["staging"]["thase_rush"]["stage"], 5);

    let output = ketacare(&["assess", "--batch", "-"], Some("{\"modality\":\"x\"}\n"));
    assert_eq!(output.status.code(), Some(2));
    let line: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(line["line"], 1);
}

#[test]
fn a_site_protocol_changes_the_decision_and_its_hash() {
    let directory = std::env::temp_dir().join(format!("ketacare-protocol-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let shipped = ketacare(&["protocol", "show"], None);
    let text =
        String::from_utf8(shipped.stdout).unwrap().replacen("value = \"distinct_classes\"", "value = \"label\"", 1);
    let protocol = directory.join("site.toml");
    std::fs::write(&protocol, &text).unwrap();
    let checked = ketacare(&["protocol", "check", protocol.to_str().unwrap()], None);
    assert_eq!(checked.status.code(), Some(0));
    let case = vignettes_dir().join("V2.case.json");
    let output = ketacare(&["assess", case.to_str().unwrap(), "--protocol", protocol.to_str().unwrap()], None);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["eligibility"]["iv_ketamine"]["status"], "eligible");
    assert_eq!(report["protocol_sha256"], ketacare_core::protocol::sha256_hex(text.as_bytes()));

    std::fs::write(&protocol, text.replacen("value = 0.5,", "value = 5,", 1)).unwrap();
    let checked = ketacare(&["protocol", "check", protocol.to_str().unwrap()], None);
    assert_eq!(checked.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&checked.stderr).contains("dosing.iv_mg_per_kg: must be between 0.01 and 2, got 5")
    );
    std::fs::remove_dir_all(&directory).unwrap();
}

fn ketacare_bytes(arguments: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ketacare"))
        .args(arguments)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn a_key_given_twice_is_a_malformed_case() {
    let output = ketacare(&["assess", "-"], Some(r#"{"history":["aneurysmal_vascular_disease"],"history":[]}"#));
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("malformed case: history: is given more than once"), "{stderr}");
    assert!(output.stdout.is_empty());
}

#[test]
fn a_case_that_is_not_utf8_exits_2_naming_the_byte_offset() {
    let mut case = br#"{"patient":{"id":"caf"#.to_vec();
    case.push(0xE9);
    case.extend_from_slice(br#""}}"#);
    let output = ketacare_bytes(&["assess", "-"], &case);
    assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("(case): is not UTF-8: byte 21 (0xe9)"), "{stderr}");

    let path = std::env::temp_dir().join(format!("ketacare-not-utf8-{}.json", std::process::id()));
    std::fs::write(&path, &case).unwrap();
    let output = ketacare(&["assess", path.to_str().unwrap()], None);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn batch_mode_answers_a_bad_line_with_an_error_line_and_goes_on() {
    let case = |name: &str| {
        let case: Value =
            serde_json::from_str(&std::fs::read_to_string(vignettes_dir().join(format!("{name}.case.json"))).unwrap())
                .unwrap();
        serde_json::to_vec(&case).unwrap()
    };
    let mut batch = Vec::new();
    batch.extend_from_slice(&case("V1"));
    batch.extend_from_slice(b"\n{\"patient\":{\"id\":\"\xff\"}}\n");
    batch.extend_from_slice(b"{\"history\":[\n");
    batch.extend_from_slice(b"{\"history\":[\"aneurysmal_vascular_disease\"],\"history\":[]}\n");
    batch.extend_from_slice(&case("V2"));
    batch.push(b'\n');
    let output = ketacare_bytes(&["assess", "--batch", "-"], &batch);
    assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<Value> =
        String::from_utf8(output.stdout).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[0]["trd"]["label"]["status"], "met");
    assert_eq!(lines[1]["line"], 2);
    assert!(lines[1]["error"].as_str().unwrap().contains("is not UTF-8: byte 18 (0xff)"), "{}", lines[1]);
    assert_eq!(lines[2]["line"], 3);
    assert!(lines[2]["error"].as_str().unwrap().starts_with("(case): is not valid JSON"), "{}", lines[2]);
    assert_eq!(lines[3]["line"], 4);
    assert!(lines[3]["error"].as_str().unwrap().starts_with("history: is given more than once"), "{}", lines[3]);
    assert!(lines[4]["eligibility"].is_object(), "{}", lines[4]);
}

/// Numbers are read from their text as exact decimals: a hair over 160 cm at 76.8 kg is a BMI just
/// under 30 (actual weight), and a number with more digits than a decimal keeps is refused by name.
#[test]
fn numbers_are_read_exactly_or_refused() {
    let basis = |height: &str| {
        let case = format!(
            r#"{{"modality":"iv_ketamine","patient":{{"sex_at_birth":"female","height_cm":{height},"weight_kg":76.8}}}}"#
        );
        let output = ketacare(&["assess", "-"], Some(&case));
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        report["dose"]["iv_ketamine"]["basis"].as_str().unwrap().to_owned()
    };
    assert_eq!(basis("160"), "ideal");
    assert_eq!(basis("160.0000000000000001"), "actual");
    let output = ketacare(&["assess", "-"], Some(r#"{"patient":{"height_cm":160.00000000000000000000000000001}}"#));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains(
            "patient.height_cm: must have at most 28 significant digits to be read exactly, got 160.00000000000000000000000000001"
        ),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// An incomplete C-SSRS screener is missing data, not a malformed case: the report names the answers
/// that could change the risk, and a yes that already means high risk stays high.
#[test]
fn an_incomplete_cssrs_is_indeterminate_naming_what_is_missing() {
    let check = |cssrs: &str, status: &str, missing: &[&str], rules: &[&str]| {
        let case = format!(
            r#"{{"as_of":"2026-11-28","modality":"iv_ketamine",
                "patient":{{"age_years":40,"sex_at_birth":"male","height_cm":180,"weight_kg":80}},
                "episode":{{"onset_date":"2026-01-01","psychotic_features":false}},
                "trials":[{{"drug":"sertraline","daily_dose_mg":150,"weeks":12,"improvement_pct":10}},
                          {{"drug":"bupropion","daily_dose_mg":300,"weeks":16,"improvement_pct":10}}],
                "bp":[{{"systolic":120,"diastolic":80}}],
                "cssrs":{cssrs}}}"#
        );
        let output = ketacare(&["assess", "-"], Some(&case));
        assert_eq!(output.status.code(), Some(0), "{cssrs}: {}", String::from_utf8_lossy(&output.stderr));
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        let eligibility = &report["eligibility"]["iv_ketamine"];
        let got_missing: Vec<&str> =
            eligibility["missing"].as_array().unwrap().iter().map(|item| item.as_str().unwrap()).collect();
        let got_rules: Vec<&str> = eligibility["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|finding| finding["rule"].as_str().unwrap())
            .collect();
        assert_eq!(
            (eligibility["status"].as_str().unwrap(), got_missing.as_slice(), got_rules.as_slice()),
            (status, missing, rules),
            "{cssrs}"
        );
    };
    check(r#"{"q1":false,"q2":false,"q6":false}"#, "eligible", &[], &[]);
    check("{}", "indeterminate", &["cssrs.q1", "cssrs.q2", "cssrs.q6"], &[]);
    check(
        r#"{"q1":true,"q2":false,"q6":true}"#,
        "override_required",
        &["cssrs.q6_within_3_months"],
        &["SUICIDE_RISK_MODERATE"],
    );
    check(r#"{"q1":true,"q2":true,"q6":false}"#, "indeterminate", &["cssrs.q3", "cssrs.q4", "cssrs.q5"], &[]);
    check(
        r#"{"q1":true,"q2":true,"q3":false,"q4":true,"q5":false,"q6":true}"#,
        "ineligible",
        &[],
        &["SUICIDE_RISK_HIGH"],
    );
    check(r#"{"q2":true,"q5":true}"#, "ineligible", &[], &["SUICIDE_RISK_HIGH"]);
}
