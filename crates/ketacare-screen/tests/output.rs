//! The contract's output columns, exactly, in CSV and NDJSON, for hand-written patients.

mod common;

use common::*;
use ketacare_screen::{OutputFormat, write_rows};

fn written(preset_and_overrides: &[&str], lines: &[String], format: OutputFormat) -> String {
    let rows = screen_lines(preset_and_overrides, lines);
    let mut bytes = Vec::new();
    write_rows(&rows, &parameters(preset_and_overrides).preset_column(), format, &mut bytes).unwrap();
    String::from_utf8(bytes).unwrap()
}

fn trd_export() -> Vec<String> {
    let mut lines = vec![patient("p1", "1980-05-05"), patient("p0", "2009-01-01"), condition("p1", "F33.2", 0)];
    lines.extend(monthly_course("p1", "sertraline", 0, 3, Some(100.0)));
    lines.extend(monthly_course("p1", "nortriptyline", 60, 3, Some(75.0)));
    lines.extend(monthly_course("p1", "bupropion", 120, 3, Some(300.0)));
    lines.push(condition("p1", "F31.9", 500)); // after the TRD date: reported, not excluding
    lines.push(phq9("p1", 130, 21));
    lines.push(phq9("p1", 200, 14));
    lines
}

#[test]
fn csv_rows_carry_the_evidence() {
    let csv = written(
        &["label", "min_course_days=42", "exclusions_before_trd=bipolar,psychosis"],
        &trd_export(),
        OutputFormat::Csv,
    );
    let expected = [
        "patient_id,status,trd_date,episode_start,courses,agents,classes,exclusions,latest_phq9,latest_phq9_date,preset",
        "p0,insufficient_data,,,0,,,age_under_18,,,\"label;min_course_days=42;exclusions_before_trd=bipolar,psychosis\"",
        &format!(
            "p1,trd,{},{},2,sertraline;nortriptyline,SSRI;TCA,bipolar,14,{},\"label;min_course_days=42;exclusions_before_trd=bipolar,psychosis\"",
            at(120),
            at(0),
            at(200)
        ),
    ];
    assert_eq!(csv.lines().collect::<Vec<_>>(), expected);
}

#[test]
fn ndjson_rows_carry_the_same_fields() {
    let ndjson = written(&["label"], &trd_export(), OutputFormat::Ndjson);
    let rows: Vec<serde_json::Value> = ndjson.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let expected = serde_json::json!({
        "patient_id": "p1", "status": "trd", "trd_date": at(120), "episode_start": at(0), "courses": 2,
        "agents": ["sertraline", "nortriptyline"], "classes": ["SSRI", "TCA"], "exclusions": ["bipolar"],
        "latest_phq9": 14, "latest_phq9_date": at(200), "preset": "label"
    });
    assert_eq!(rows[1], expected);
    assert_eq!(rows[0]["trd_date"], serde_json::Value::Null);
}
