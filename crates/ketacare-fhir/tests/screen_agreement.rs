//! Where the screen's own FHIR extractor (ketacare-screen) reads a resource we export, it reads the same
//! facts: the same patient and birth date, the same diagnosis family, the same drug (by RxNorm code) for
//! trials and doses, the same PHQ-9 total. Every disagreement of every vignette is reported.

mod support;

use ketacare_fhir::patient_resources;
use ketacare_screen::dates::parse_date_prefix;
use ketacare_screen::extract::{DiagnosisKind, LineFact, LineScanner};
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
