//! Every resource ketacare exports, for every vignette patient and both example sessions, validates
//! against HL7's official FHIR R4 JSON Schema: each Bundle against the whole schema (its root `oneOf` over
//! ~150 resource types), and each resource against its `definitions/<Type>` (for messages that say where),
//! with the 1..1 elements the schema cannot require. Every failing resource is reported. So does the
//! audit log as `AuditEvent`s, for every kind of event the log holds.

mod support;

use ketacare_fhir::{capability_statement, operation_outcome, patient_everything_bundle};
use serde_json::Value;
use support::{FhirValidators, vignette_records};

#[test]
fn every_exported_resource_of_the_vignettes_validates_against_the_fhir_r4_schema() {
    let mut validators = FhirValidators::new();
    let mut failures = Vec::new();
    let mut unknown_codes = Vec::new();
    let mut validated = 0;
    let mut by_type: std::collections::BTreeMap<String, usize> = Default::default();
    for (name, record) in vignette_records() {
        let bundle = serde_json::to_value(patient_everything_bundle(&record, &format!("{name}-everything"), None))
            .expect("a bundle serializes");
        let mut check = |label: String, resource: &Value| {
            for error in validators.errors(resource) {
                failures.push(format!("{name} {label}: {error}"));
            }
        };
        for entry in bundle["entry"].as_array().expect("entries") {
            let resource = &entry["resource"];
            for code in ketacare_codes(resource) {
                // Families of codes (docs/fhir.md, ketacare's CodeSystem) are checked by their own readers.
                let family =
                    ["history-", "concomitant-", "severity-", "cssrs-q"].iter().any(|prefix| code.starts_with(prefix));
                if !family && ketacare_fhir::codes::ketacare_display(&code).is_none() {
                    unknown_codes
                        .push(format!("{name}: ketacare code {code} is not in ketacare's CodeSystem (KETACARE_CODES)"));
                }
            }
            let label = format!("{}/{}", resource["resourceType"].as_str().unwrap_or("?"), resource["id"]);
            check(label, resource);
            validated += 1;
            *by_type.entry(resource["resourceType"].as_str().unwrap_or("?").to_owned()).or_default() += 1;
        }
        // The Bundle itself, with its entries' resources removed (each was validated above against its own type).
        let mut shell = bundle.clone();
        for entry in shell["entry"].as_array_mut().expect("entries") {
            entry.as_object_mut().expect("entry").remove("resource");
        }
        check("Bundle".to_owned(), &shell);
        validated += 1;
        // The whole Bundle against the whole schema (the root's oneOf over every resource type, entries included).
        for error in validators.whole_schema_errors(&bundle) {
            failures.push(format!("{name} Bundle against the whole schema: {error}"));
        }
    }
    for (label, resource) in [
        ("CapabilityStatement", serde_json::to_value(capability_statement("0.1.0", "2026-11-28")).unwrap()),
        (
            "OperationOutcome",
            serde_json::to_value(operation_outcome("error", "not-found", "no patient abc", None)).unwrap(),
        ),
    ] {
        for error in validators.errors(&resource) {
            failures.push(format!("{label}: {error}"));
        }
        validated += 1;
    }
    eprintln!(
        "validated {validated} resources: {by_type:?} plus a Bundle per vignette, the CapabilityStatement and an OperationOutcome"
    );
    assert!(failures.is_empty(), "{} schema failures:\n{}", failures.len(), failures.join("\n"));
    assert!(unknown_codes.is_empty(), "{}", unknown_codes.join("\n"));
    for resource_type in ketacare_fhir::resources::Resource::TYPES {
        assert!(by_type.get(resource_type).is_some_and(|count| *count > 0), "no {resource_type} was exported");
    }
}

#[test]
fn audit_events_validate_against_the_fhir_r4_schema() {
    use ketacare_fhir::audit_event::{AuditEventFacts, audit_action_code, audit_event_resource};
    let event =
        |seq: i64, actor: Option<(&str, &str)>, action: &str, patient: Option<&str>, shown: &[&str], outcome: &str| {
            AuditEventFacts {
                seq,
                occurred_at: "2026-12-05T21:33:11.123456Z".to_owned(),
                actor_id: actor.map(|(id, _)| id.to_owned()),
                actor_role: actor.map(|(_, role)| role.to_owned()),
                action: action.to_owned(),
                resource: format!("thing/{seq}"),
                patient_id: patient.map(str::to_owned),
                patients_shown: shown.iter().map(|id| (*id).to_owned()).collect(),
                outcome: outcome.to_owned(),
                hash_algorithm: "sha256".to_owned(),
                hash: "ab".repeat(32),
                prev_hash: "0".repeat(64),
            }
        };
    let nurse = Some(("u-1", "nurse"));
    let cases = [
        event(1, nurse, "chart.create", Some("p-1"), &[], "success"),
        event(2, nurse, "patient.read", Some("p-1"), &[], "success"),
        event(3, nurse, "patient.list", None, &["p-1", "p-2"], "success"),
        event(4, Some(("u-2", "analyst")), "patient.read", Some("p-2"), &[], "denied"),
        event(5, None, "session.login", None, &[], "failure"),
        event(6, Some(("u-3", "prescriber")), "session.override", Some("p-1"), &[], "invalid"),
        event(7, Some(("u-4", "admin")), "user.password_reset", None, &[], "success"),
    ];
    let mut validators = FhirValidators::new();
    let mut failures = Vec::new();
    for facts in &cases {
        let resource = serde_json::to_value(audit_event_resource(facts)).expect("serializes");
        for error in validators.errors(&resource) {
            failures.push(format!("{} {}: {error}", facts.action, facts.outcome));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // What each kind of event becomes.
    let list = serde_json::to_value(audit_event_resource(&cases[2])).expect("serializes");
    assert_eq!(list["entity"].as_array().expect("entities").len(), 3, "each patient shown, and the object: {list}");
    assert_eq!(list["type"]["code"], "110112");
    let denied = serde_json::to_value(audit_event_resource(&cases[3])).expect("serializes");
    assert_eq!((denied["outcome"].as_str(), denied["outcomeDesc"].as_str()), (Some("8"), Some("denied")));
    let login = serde_json::to_value(audit_event_resource(&cases[4])).expect("serializes");
    assert_eq!(
        (login["type"]["code"].as_str(), login["agent"][0]["requestor"].as_bool()),
        (Some("110114"), Some(false))
    );
    let codes: Vec<&str> =
        ["chart.create", "patient.read", "chart.amend", "session.override", "session.sign", "fhir.import"]
            .into_iter()
            .map(audit_action_code)
            .collect();
    assert_eq!(codes, ["C", "R", "U", "E", "U", "C"]);
}

#[test]
fn the_validator_refuses_what_fhir_refuses() {
    let mut validators = FhirValidators::new();
    // Each case: a resource and a fragment of the error it must get.
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "an Observation without status",
            serde_json::json!({"resourceType": "Observation", "code": {"text": "x"}, "subject": {"reference": "Patient/a"}}),
            "status",
        ),
        (
            "an Observation without code",
            serde_json::json!({"resourceType": "Observation", "status": "final", "subject": {"reference": "Patient/a"}}),
            "code",
        ),
        (
            "a dateTime with hours and no offset",
            serde_json::json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                "subject": {"reference": "Patient/a"}, "effectiveDateTime": "2026-11-28T09:50"}),
            "effectiveDateTime",
        ),
        ("an element FHIR does not have", serde_json::json!({"resourceType": "Patient", "sex": "female"}), "sex"),
        ("an id with an underscore", serde_json::json!({"resourceType": "Patient", "id": "V11_EU"}), "id"),
        (
            "a status outside the value set",
            serde_json::json!({"resourceType": "MedicationStatement", "status": "done",
                "subject": {"reference": "Patient/a"}, "medicationCodeableConcept": {"text": "x"}}),
            "status",
        ),
    ];
    let mut not_refused = Vec::new();
    for (label, resource, fragment) in cases {
        let errors = validators.errors(&resource);
        if !errors.iter().any(|error| error.contains(fragment)) {
            not_refused.push(format!("{label}: expected an error naming {fragment:?}, got {errors:?}"));
        }
    }
    assert!(not_refused.is_empty(), "{}", not_refused.join("\n"));
}

/// Every code of ketacare's CodeSystem a resource uses (in any `coding`).
fn ketacare_codes(value: &Value) -> Vec<String> {
    match value {
        Value::Object(object) => {
            let mut codes: Vec<String> = object.values().flat_map(ketacare_codes).collect();
            if object.get("system").and_then(Value::as_str) == Some(ketacare_fhir::codes::KETACARE)
                && let Some(code) = object.get("code").and_then(Value::as_str)
            {
                codes.push(code.to_owned());
            }
            codes
        }
        Value::Array(items) => items.iter().flat_map(ketacare_codes).collect(),
        _ => Vec::new(),
    }
}
