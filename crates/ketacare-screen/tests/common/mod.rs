//! Hand-written FHIR fixtures for the screen's tests: one small builder per resource, dates as day
//! offsets from 2020-01-01 so boundary cases read as arithmetic, and a `check` that screens the lines.

#![allow(dead_code)]

use std::path::Path;

use ketacare_core::drugs::drug_by_ingredient;
use ketacare_screen::dates::{DayNumber, days_from_civil, format_date};
use ketacare_screen::reader::ReadOptions;
use ketacare_screen::{ScreenParameters, ScreenRow, screen_export};

pub fn base_day() -> DayNumber {
    days_from_civil(2020, 1, 1)
}

/// The date `offset` days after 2020-01-01.
pub fn at(offset: i32) -> String {
    format_date(base_day() + offset)
}

pub fn patient(id: &str, birth_date: &str) -> String {
    format!(r#"{{"resourceType":"Patient","id":"{id}","birthDate":"{birth_date}","gender":"female"}}"#)
}

fn concept(drug: &str) -> String {
    match drug_by_ingredient(drug).and_then(|entry| entry.rxcui_ingredient) {
        Some(code) => format!(
            r#"{{"coding":[{{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"{code}","display":"{drug}"}}]}}"#
        ),
        None => format!(r#"{{"text":"{drug} tablet"}}"#),
    }
}

fn dosage(dose_mg: Option<f64>) -> String {
    match dose_mg {
        Some(dose) => format!(
            r#","dosageInstruction":[{{"timing":{{"repeat":{{"frequency":1,"period":1,"periodUnit":"d"}}}},"doseAndRate":[{{"doseQuantity":{{"value":{dose},"unit":"mg"}}}}]}}]"#
        ),
        None => String::new(),
    }
}

/// A MedicationDispense of `drug` handed over `offset` days after 2020-01-01.
pub fn dispense(patient: &str, drug: &str, offset: i32, days: i32, dose_mg: Option<f64>) -> String {
    dispense_with_status(patient, drug, offset, days, dose_mg, "completed")
}

/// A MedicationDispense naming its drug only in `medicationCodeableConcept.text`.
pub fn dispense_named(patient: &str, text: &str, offset: i32, days: i32, dose_mg: Option<f64>) -> String {
    format!(
        r#"{{"resourceType":"MedicationDispense","status":"completed","medicationCodeableConcept":{{"text":"{text}"}},"subject":{{"reference":"Patient/{patient}"}},"whenHandedOver":"{}","daysSupply":{{"value":{days}}}{}}}"#,
        at(offset),
        dosage(dose_mg)
    )
}

pub fn dispense_with_status(
    patient: &str,
    drug: &str,
    offset: i32,
    days: i32,
    dose_mg: Option<f64>,
    status: &str,
) -> String {
    format!(
        r#"{{"resourceType":"MedicationDispense","status":"{status}","medicationCodeableConcept":{},"subject":{{"reference":"Patient/{patient}"}},"whenHandedOver":"{}T09:00:00Z","daysSupply":{{"value":{days}}}{}}}"#,
        concept(drug),
        at(offset),
        dosage(dose_mg)
    )
}

/// A MedicationRequest authored `offset` days after 2020-01-01.
pub fn request(patient: &str, drug: &str, offset: i32, days: i32, dose_mg: Option<f64>, status: &str) -> String {
    format!(
        r#"{{"resourceType":"MedicationRequest","status":"{status}","intent":"order","medicationCodeableConcept":{},"subject":{{"reference":"Patient/{patient}"}},"authoredOn":"{}","dispenseRequest":{{"expectedSupplyDuration":{{"value":{days},"unit":"days","code":"d"}}}}{}}}"#,
        concept(drug),
        at(offset),
        dosage(dose_mg)
    )
}

/// A MedicationStatement covering `[start, end)` (offsets).
pub fn statement(patient: &str, drug: &str, start: i32, end: i32) -> String {
    format!(
        r#"{{"resourceType":"MedicationStatement","status":"completed","medicationCodeableConcept":{},"subject":{{"reference":"Patient/{patient}"}},"effectivePeriod":{{"start":"{}","end":"{}"}}}}"#,
        concept(drug),
        at(start),
        at(end)
    )
}

/// A confirmed ICD-10-CM Condition with onset `offset` days after 2020-01-01.
pub fn condition(patient: &str, icd10cm: &str, offset: i32) -> String {
    condition_with_verification(patient, icd10cm, offset, "confirmed")
}

pub fn condition_with_verification(patient: &str, icd10cm: &str, offset: i32, verification: &str) -> String {
    format!(
        r#"{{"resourceType":"Condition","verificationStatus":{{"coding":[{{"code":"{verification}"}}]}},"code":{{"coding":[{{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"{icd10cm}"}}]}},"subject":{{"reference":"Patient/{patient}"}},"onsetDateTime":"{}"}}"#,
        at(offset)
    )
}

/// A PHQ-9 total observation.
pub fn phq9(patient: &str, offset: i32, total: i64) -> String {
    format!(
        r#"{{"resourceType":"Observation","status":"final","code":{{"coding":[{{"system":"http://loinc.org","code":"44261-6"}}]}},"subject":{{"reference":"Patient/{patient}"}},"effectiveDateTime":"{}","valueQuantity":{{"value":{total}}}}}"#,
        at(offset)
    )
}

/// A monthly course of `drug`: `fills` dispenses of 30 days, every 30 days, from `start`.
pub fn monthly_course(patient: &str, drug: &str, start: i32, fills: i32, dose_mg: Option<f64>) -> Vec<String> {
    (0..fills).map(|fill| dispense(patient, drug, start + fill * 30, 30, dose_mg)).collect()
}

/// Parameters of a preset with `NAME=VALUE` overrides: `["label", "min_course_days=56"]`.
pub fn parameters(preset_and_overrides: &[&str]) -> ScreenParameters {
    let mut parameters = ScreenParameters::for_preset(preset_and_overrides[0].parse().expect("known preset"));
    for assignment in &preset_and_overrides[1..] {
        parameters.set(assignment).expect("valid override");
    }
    parameters
}

pub fn write_export(folder: &Path, lines: &[String]) {
    std::fs::write(folder.join("export.ndjson"), lines.join("\n") + "\n").expect("write fixture");
}

/// Screens `lines` as of 2025-12-31.
pub fn screen_lines(preset_and_overrides: &[&str], lines: &[String]) -> Vec<ScreenRow> {
    let folder = tempfile::tempdir().expect("temporary folder");
    write_export(folder.path(), lines);
    let options = ReadOptions::screen(days_from_civil(2025, 12, 31));
    screen_export(folder.path(), &parameters(preset_and_overrides), options, &|_| {}).expect("screen").rows
}

/// One-line summary of a row: `id status [trd_date] courses=N`.
pub fn summary(row: &ScreenRow) -> String {
    let courses = match &row.result.cardinal {
        Some(_) => 2,
        None => row.result.counted_courses.len(),
    };
    match row.result.trd_date {
        Some(date) => {
            format!("{} {} {} courses={courses}", row.patient_id, row.result.status.code(), format_date(date))
        }
        None => format!("{} {} courses={courses}", row.patient_id, row.result.status.code()),
    }
}

/// Screens `lines` (a `Patient` "p" is added) and compares the one-line summary of patient "p".
pub fn check(preset_and_overrides: &[&str], mut lines: Vec<String>, expected: &str) {
    lines.insert(0, patient("p", "1980-05-05"));
    let rows = screen_lines(preset_and_overrides, &lines);
    assert_eq!(rows.len(), 1, "one patient row expected");
    assert_eq!(summary(&rows[0]), expected, "preset {preset_and_overrides:?}");
}
