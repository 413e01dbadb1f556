//! Import's mapping from a Bundle to chart records, through `read_import_bundle` alone (the chart's own
//! validation and the store are tested through the API in ketacare-web): every vignette's export reads
//! back as the records it was made from, and each malformed bundle is refused with the issue code and
//! the FHIRPath of the element at fault (one line per case).

mod support;

use ketacare_fhir::import::{
    EpisodeLink, ImportSection, IssueCode, IssueSeverity, MAX_BUNDLE_ENTRIES, read_import_bundle,
};
use ketacare_fhir::patient_everything_bundle;
use serde_json::{Value, json};

fn exported_bundle(name: &str) -> Value {
    let (_, record) =
        support::vignette_records().into_iter().find(|(each, _)| each == name).expect("the vignette exists");
    serde_json::to_value(patient_everything_bundle(&record, "b", Some("2026-11-28T00:00:00Z"))).unwrap()
}

#[test]
fn every_vignette_export_reads_back_as_its_records() {
    for (name, mut record) in support::vignette_records() {
        if record.patient.birth_date.is_empty() {
            // A case may give an age; a chart keeps the birth date.
            record.patient.birth_date = "1960-01-01".to_owned();
        }
        let bundle = serde_json::to_value(patient_everything_bundle(&record, "b", None)).unwrap();
        let read = read_import_bundle(&bundle);
        let errors: Vec<String> =
            read.issues.iter().filter(|issue| issue.is_error()).map(ToString::to_string).collect();
        assert!(errors.is_empty(), "{name}: {errors:?}");
        assert_eq!(read.patients.len(), 1, "{name}");
        let patient = &read.patients[0];
        assert_eq!(patient.mrn, record.patient.mrn.clone().unwrap(), "{name}");
        assert_eq!(patient.birth_date, record.patient.birth_date, "{name}");
        let count = |section: ImportSection| patient.records.iter().filter(|each| each.section == section).count();
        assert_eq!(count(ImportSection::Episodes), record.episodes.len(), "{name}");
        assert_eq!(count(ImportSection::History), record.history.len(), "{name}");
        assert_eq!(count(ImportSection::Concomitant), record.concomitant.len(), "{name}");
        assert_eq!(count(ImportSection::Trials), record.trials.len(), "{name}");
        assert_eq!(count(ImportSection::Scales), record.scales.len(), "{name}");
        assert_eq!(count(ImportSection::BloodPressures), record.blood_pressures.len(), "{name}");
        // Each trial names its episode, and carries the drug, dose and weeks as the chart writes them.
        for (trial, facts) in
            patient.records.iter().filter(|each| each.section == ImportSection::Trials).zip(&record.trials)
        {
            assert!(matches!(trial.episode, Some(EpisodeLink::Entry(_))), "{name}");
            assert_eq!(trial.body["drug"], json!(facts.drug), "{name}");
            if let Some(dose) = facts.daily_dose_mg {
                assert_eq!(trial.body["daily_dose_mg"].to_string(), dose.normalize().to_string(), "{name}");
            }
        }
        // The session resources of the first vignette and the TRD determination are left out, and say so.
        let left_out = read.issues.iter().filter(|issue| !issue.is_error()).count();
        assert!(left_out >= read.left_out, "{name}");
    }
}

/// Applies `change` to V1's exported bundle, which returns the FHIRPath of the element it broke, and
/// expects an error of `code` there.
fn check(code: IssueCode, change: impl FnOnce(&mut Value) -> String) {
    let mut bundle = exported_bundle("V1");
    let expression = change(&mut bundle);
    let expression = expression.as_str();
    let read = read_import_bundle(&bundle);
    let errors: Vec<_> = read.issues.iter().filter(|issue| issue.severity <= IssueSeverity::Error).collect();
    assert!(
        errors.iter().any(|issue| issue.code == code && issue.expression.as_deref() == Some(expression)),
        "expected {} at {expression}, got {errors:#?}",
        code.as_str()
    );
    assert!(read.patients.is_empty(), "a refused bundle yields no patients");
}

/// The entry index of the first resource of `resource_type` whose first code is `code` (any code if empty).
fn entry_of(bundle: &Value, resource_type: &str, code: &str) -> usize {
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .position(|entry| {
            let resource = &entry["resource"];
            let first = resource["code"]["coding"][0]["code"]
                .as_str()
                .or(resource["medicationCodeableConcept"]["text"].as_str());
            resource["resourceType"] == resource_type && (code.is_empty() || first == Some(code))
        })
        .unwrap_or_else(|| panic!("no {resource_type} {code}"))
}

#[test]
fn malformed_bundles_are_refused_naming_the_element() {
    let resource = |entry: usize, element: &str| format!("Bundle.entry[{entry}].resource.{element}");
    // Wrong types.
    check(IssueCode::Structure, |b| {
        b["type"] = json!(7);
        "Bundle.type".to_owned()
    });
    check(IssueCode::NotSupported, |b| {
        b["type"] = json!("batch");
        "Bundle.type".to_owned()
    });
    check(IssueCode::Structure, |b| {
        b["entry"][0]["resource"]["birthDate"] = json!(19840502);
        resource(0, "birthDate")
    });
    check(IssueCode::Structure, |b| {
        let trial = entry_of(b, "MedicationStatement", "sertraline");
        b["entry"][trial]["resource"]["dosage"][0]["doseAndRate"][0]["doseQuantity"]["value"] = json!("150");
        resource(trial, "dosage[0].doseAndRate[0].doseQuantity.value")
    });
    check(IssueCode::Value, |b| {
        let trial = entry_of(b, "MedicationStatement", "sertraline");
        b["entry"][trial]["resource"]["dosage"][0]["doseAndRate"][0]["doseQuantity"]["code"] = json!("g");
        resource(trial, "dosage[0].doseAndRate[0].doseQuantity.code")
    });
    // Missing required elements.
    check(IssueCode::Required, |b| {
        b["entry"][0]["resource"].as_object_mut().unwrap().remove("identifier");
        resource(0, "identifier")
    });
    check(IssueCode::Required, |b| {
        b["entry"][0]["resource"].as_object_mut().unwrap().remove("gender");
        resource(0, "gender")
    });
    check(IssueCode::Required, |b| {
        let bp = entry_of(b, "Observation", "85354-9");
        b["entry"][bp]["resource"]["component"].as_array_mut().unwrap().remove(1);
        resource(bp, "component")
    });
    check(IssueCode::Value, |b| {
        b["entry"][0]["resource"]["birthDate"] = json!("1984");
        resource(0, "birthDate")
    });
    // Unknown elements and codes.
    check(IssueCode::Structure, |b| {
        b["entry"][0]["resource"]["telecom"] = json!([{ "system": "phone", "value": "555" }]);
        resource(0, "telecom")
    });
    check(IssueCode::NotSupported, |b| {
        b["entry"][0]["resource"]["modifierExtension"] = json!([{ "url": "x", "valueBoolean": true }]);
        resource(0, "modifierExtension")
    });
    check(IssueCode::CodeInvalid, |b| {
        let episode = entry_of(b, "Condition", "F33.2");
        b["entry"][episode]["resource"]["code"]["coding"][0]["code"] = json!("I10");
        resource(episode, "code.coding[0]")
    });
    check(IssueCode::CodeInvalid, |b| {
        let trial = entry_of(b, "MedicationStatement", "sertraline");
        b["entry"][trial]["resource"]["medicationCodeableConcept"]["coding"][0]["code"] = json!("999999999");
        // A product's RxNorm code (not an ingredient's) resolves by its display, RxNorm's name of it; a
        // display that names no drug of the knowledge base leaves the code unknown.
        b["entry"][trial]["resource"]["medicationCodeableConcept"]["coding"][0]["display"] = json!("Oral Tablet");
        resource(trial, "medicationCodeableConcept.coding[0].code")
    });
    check(IssueCode::Conflict, |b| {
        let trial = entry_of(b, "MedicationStatement", "sertraline");
        b["entry"][trial]["resource"]["medicationCodeableConcept"]["text"] = json!("bupropion");
        resource(trial, "medicationCodeableConcept.text")
    });
    check(IssueCode::CodeInvalid, |b| {
        let observation = entry_of(b, "Observation", "madrs-total");
        b["entry"][observation]["resource"]["code"] =
            json!({ "coding": [{ "system": "http://loinc.org", "code": "1234-5" }] });
        resource(observation, "code")
    });
    // References to missing resources.
    check(IssueCode::NotFound, |b| {
        b["entry"][1]["resource"]["subject"]["reference"] = json!("Patient/nobody");
        resource(1, "subject.reference")
    });
    check(IssueCode::NotFound, |b| {
        let trial = entry_of(b, "MedicationStatement", "sertraline");
        b["entry"][trial]["resource"]["reasonReference"][0]["reference"] = json!("Condition/nothing");
        resource(trial, "reasonReference[0].reference")
    });
    // Duplicate identifiers and ids.
    check(IssueCode::Duplicate, |b| {
        let mut twin = b["entry"][0].clone();
        twin["resource"]["id"] = json!("twin");
        let entries = b["entry"].as_array_mut().unwrap();
        entries.push(twin);
        resource(entries.len() - 1, "identifier[0].value")
    });
    check(IssueCode::Duplicate, |b| {
        let twin = b["entry"][1].clone();
        let entries = b["entry"].as_array_mut().unwrap();
        entries.push(twin);
        resource(entries.len() - 1, "id")
    });
    // A 10 MB string.
    check(IssueCode::TooLong, |b| {
        let trial = entry_of(b, "MedicationStatement", "sertraline");
        b["entry"][trial]["resource"]["statusReason"] = json!([{ "text": "x".repeat(10 * 1024 * 1024) }]);
        resource(trial, "statusReason[0].text")
    });
    // A bundle of 100,000 entries.
    const { assert!(MAX_BUNDLE_ENTRIES < 100_000) };
    check(IssueCode::TooCostly, |b| {
        let patient = b["entry"][0].clone();
        b["entry"] = Value::Array(vec![patient; 100_000]);
        "Bundle.entry".to_owned()
    });
}

#[test]
fn a_trial_may_name_its_drug_by_a_contained_medication() {
    let mut bundle = exported_bundle("V1");
    let trial = entry_of(&bundle, "MedicationStatement", "sertraline");
    let statement = bundle["entry"][trial]["resource"].as_object_mut().unwrap();
    let concept = statement.remove("medicationCodeableConcept").unwrap();
    statement.insert("contained".to_owned(), json!([{ "resourceType": "Medication", "id": "med1", "code": concept }]));
    statement.insert("medicationReference".to_owned(), json!({ "reference": "#med1" }));
    let read = read_import_bundle(&bundle);
    assert!(!read.has_errors(), "{:#?}", read.issues);
    let drugs: Vec<&Value> = read.patients[0].records.iter().filter_map(|record| record.body.get("drug")).collect();
    assert!(drugs.contains(&&json!("sertraline")), "{drugs:?}");
    // A reference to nothing contained is refused by its element.
    let statement = bundle["entry"][trial]["resource"].as_object_mut().unwrap();
    statement.insert("medicationReference".to_owned(), json!({ "reference": "#med2" }));
    let read = read_import_bundle(&bundle);
    let expected = format!("Bundle.entry[{trial}].resource.medicationReference.reference");
    assert!(
        read.issues
            .iter()
            .any(|issue| issue.code == IssueCode::NotFound && issue.expression.as_deref() == Some(&expected))
    );
}
