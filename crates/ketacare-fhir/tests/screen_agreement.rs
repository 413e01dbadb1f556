//! Where the screen's own FHIR extractor (ketacare-screen) reads a resource we export, it reads the same
//! facts: the same patient and birth date, the same diagnosis family, the same drug (by RxNorm code) for
//! trials and doses, the same PHQ-9 total. Every disagreement of every vignette is reported.
//! And where import reads an EHR's prescriptions, dispenses and dated statements as courses (trials), it finds the courses
//! the screen finds in the same resources of a `ketacare synth` export: the same drug, first day, end of
//! supply and highest daily dose, patient by patient, every disagreement reported.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;

use ketacare_core::drugs::resolve_drug_name;
use ketacare_fhir::import::{COURSE_PRESET, ImportPolicy, ImportSection, read_import_bundle_with};
use ketacare_fhir::patient_resources;
use ketacare_screen::dates::{format_date, parse_date_prefix};
use ketacare_screen::extract::{DiagnosisKind, DrugEvent, LineFact, LineScanner};
use ketacare_screen::params::ScreenParameters;
use ketacare_screen::rules::build_courses;
use ketacare_screen::synth::{SynthOptions, write_synthetic_export};
use serde_json::{Value, json};
use support::vignette_records;

const FAR_FUTURE: &str = "2100-01-01";

fn read(scanner: &LineScanner, resource: &Value) -> Result<String, String> {
    let line = resource.to_string();
    let as_of = parse_date_prefix(FAR_FUTURE).expect("a date");
    let fact = scanner.extract(line.as_bytes(), as_of).map_err(|error| error.reason)?;
    Ok(match fact {
        LineFact::Patient { id, birth_date } => format!("patient {id} born {birth_date:?}"),
        LineFact::Drug { patient, event } => format!("drug {} for {patient}", event.entry().ingredient),
        LineFact::Diagnoses { patient, kinds, .. } => format!("diagnoses {kinds:?} for {patient}"),
        LineFact::Phq9 { patient, total, .. } => format!("phq9 {total} for {patient}"),
        LineFact::Nothing => "nothing".to_owned(),
    })
}

#[test]
fn the_screen_reads_exported_resources_as_the_same_facts() {
    let scanner = LineScanner::default();
    let mut disagreements = Vec::new();
    let mut agreed = 0;
    for (name, record) in vignette_records() {
        let patient_id = record.patient.id.clone();
        let mut expectations: Vec<(String, Value, String)> = Vec::new();
        for resource in patient_resources(&record) {
            let mut json = serde_json::to_value(&resource).expect("serializes");
            let label = format!("{}/{}", resource.resource_type(), resource.id());
            match resource.resource_type() {
                "Patient" => {
                    let birth = parse_date_prefix(&record.patient.birth_date);
                    expectations.push((label, json, format!("patient {patient_id} born {birth:?}")));
                }
                "Condition" if json["code"]["coding"][0]["system"] == "http://hl7.org/fhir/sid/icd-10-cm" => {
                    let code = json["code"]["coding"][0]["code"].as_str().unwrap_or_default().to_owned();
                    let Some(kind) = ketacare_screen::extract::classify_icd10cm(&code) else { continue };
                    // The screen dates a diagnosis by its onset or recorded date: we give both when known.
                    expectations.push((label, json, format!("diagnoses {:?} for {patient_id}", vec![kind])));
                }
                "MedicationStatement"
                    if json["medicationCodeableConcept"]["coding"][0]["system"]
                        == "http://www.nlm.nih.gov/research/umls/rxnorm" =>
                {
                    // A trial has no recorded dates, so the screen (which needs a date for an event) reads no
                    // event from it as exported; dated by the test, it must name the same ingredient.
                    let ingredient = json["medicationCodeableConcept"]["coding"][0]["display"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    expectations.push((format!("{label} as exported"), json.clone(), "nothing".to_owned()));
                    json["effectiveDateTime"] = json!("2026-01-01");
                    expectations.push((format!("{label} dated"), json, format!("drug {ingredient} for {patient_id}")));
                }
                "MedicationAdministration" => {
                    let ingredient = record
                        .sessions
                        .iter()
                        .flat_map(|session| &session.administrations)
                        .find(|dose| dose.id == resource.id())
                        .map(|dose| dose.drug.clone())
                        .unwrap_or_default();
                    expectations.push((label, json, format!("drug {ingredient} for {patient_id}")));
                }
                "Observation" if json["code"]["coding"][0]["code"] == "44261-6" => {
                    let total = json["valueQuantity"]["value"].as_f64().expect("a PHQ-9 total");
                    expectations.push((label, json, format!("phq9 {} for {patient_id}", total as f32)));
                }
                _ => {}
            }
        }
        for (label, resource, expected) in expectations {
            match read(&scanner, &resource) {
                Ok(read) if read == expected => agreed += 1,
                Ok(read) => disagreements.push(format!("{name} {label}: screen read {read:?}, expected {expected:?}")),
                Err(error) => disagreements.push(format!("{name} {label}: screen refused it: {error}")),
            }
        }
    }
    eprintln!("{agreed} exported resources read alike by the screen");
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
    assert!(agreed > 0);
}

#[test]
fn kinds_used_by_the_agreement_test_exist() {
    // The screen's diagnosis families the vignettes reach (a guard that the test above checks something).
    assert_eq!(ketacare_screen::extract::classify_icd10cm("F33.2"), Some(DiagnosisKind::MajorDepressiveDisorder));
}

/// A course as both sides describe it: ingredient, first day, end of supply, highest daily dose (mg, to
/// the thousandth).
type CourseKey = (String, String, String, Option<i64>);

fn milligram_thousandths(dose: f32) -> i64 {
    (f64::from(dose) * 1000.0).round() as i64
}

#[test]
fn import_finds_the_courses_the_screen_finds_in_prescriptions_and_dispenses() {
    let folder: PathBuf = std::env::temp_dir().join(format!("ketacare-course-agreement-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::create_dir_all(&folder).expect("a scratch folder");
    let options = SynthOptions { unrelated_scale: 0.0, ..SynthOptions::new(400, 7) };
    write_synthetic_export(&folder, &options).expect("synth writes its export");

    // Each patient's lines: its Patient, and its prescriptions and dispenses.
    let mut patients: BTreeMap<String, Value> = BTreeMap::new();
    let mut medication_lines: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(&folder).expect("the export").map(|entry| entry.expect("an entry").path()).collect();
    files.sort();
    for file in files {
        let name = file.file_name().and_then(|name| name.to_str()).unwrap_or_default().to_owned();
        let kind = name.split('.').next().unwrap_or_default().to_owned();
        if !matches!(kind.as_str(), "Patient" | "MedicationRequest" | "MedicationDispense" | "MedicationStatement") {
            continue;
        }
        for line in std::fs::read_to_string(&file).expect("an NDJSON file").lines() {
            let resource: Value = serde_json::from_str(line).expect("a JSON line");
            if kind == "Patient" {
                patients.insert(resource["id"].as_str().expect("an id").to_owned(), resource);
            } else {
                let reference = resource["subject"]["reference"].as_str().expect("a subject").to_owned();
                let patient = reference.rsplit('/').next().unwrap_or_default().to_owned();
                medication_lines.entry(patient).or_default().push(resource);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&folder);

    let scanner = LineScanner::default();
    let as_of = parse_date_prefix(FAR_FUTURE).expect("a date");
    let parameters = ScreenParameters::for_preset(COURSE_PRESET);
    let mut disagreements = Vec::new();
    let mut courses_compared = 0;
    for (patient_id, lines) in &medication_lines {
        // The screen's reading: events from its extractor, courses by its rule (ketamine is history only).
        let mut events: Vec<DrugEvent> = Vec::new();
        for line in lines {
            match scanner.extract(line.to_string().as_bytes(), as_of) {
                Ok(LineFact::Drug { event, .. }) => events.push(event),
                Ok(_) => {}
                Err(error) => disagreements.push(format!("{patient_id}: the screen refused a line: {}", error.reason)),
            }
        }
        let mut screened: Vec<CourseKey> = build_courses(&events, &parameters)
            .iter()
            .map(|course| {
                (
                    course.ingredient().to_owned(),
                    format_date(course.start),
                    format_date(course.end),
                    course.highest_daily_dose_mg.map(milligram_thousandths),
                )
            })
            .collect();
        screened.sort();

        // Import's reading of the same resources, as the NDJSON import hands a patient over.
        // synth writes a few resources of patients that are not in the export (orphans): import refuses
        // those for their missing Patient, as its own tests show; there is nothing to compare.
        let Some(patient) = patients.get(patient_id) else { continue };
        let mut entries = vec![json!({ "fullUrl": format!("Patient/{patient_id}"), "resource": patient })];
        entries.extend(lines.iter().map(|line| json!({ "resource": line })));
        let bundle = json!({ "resourceType": "Bundle", "type": "collection", "entry": entries });
        let read = read_import_bundle_with(&bundle, ImportPolicy::BulkExport, &[]);
        let errors: Vec<String> =
            read.issues.iter().filter(|issue| issue.is_error()).map(ToString::to_string).collect();
        if !errors.is_empty() {
            disagreements.push(format!("{patient_id}: import refused it: {}", errors.join("; ")));
            continue;
        }
        let mut imported: Vec<CourseKey> = read
            .patients
            .iter()
            .flat_map(|patient| &patient.records)
            .filter(|record| record.section == ImportSection::Trials)
            .filter_map(|record| {
                let course = record.course.as_ref()?;
                let drug = record.body["drug"].as_str().and_then(resolve_drug_name)?;
                let dose =
                    record.body.get("daily_dose_mg").and_then(Value::as_f64).map(|dose| (dose * 1000.0).round() as i64);
                Some((drug.entry.ingredient.to_owned(), course.start.clone(), course.end.clone(), dose))
            })
            .collect();
        imported.sort();
        courses_compared += screened.len();
        if screened != imported {
            disagreements.push(format!(
                "{patient_id}: the screen found {screened:?}, import {imported:?} (left out: {:?})",
                read.left_out_by_kind
            ));
        }
    }
    eprintln!("{courses_compared} courses of {} patients found alike by import and the screen", medication_lines.len());
    assert!(disagreements.is_empty(), "{} disagreements:\n{}", disagreements.len(), disagreements.join("\n"));
    assert!(courses_compared > 100, "the export held too few courses to compare: {courses_compared}");
}
