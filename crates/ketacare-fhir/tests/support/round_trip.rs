//! The round trip's comparison (export → import into a fresh database → export): a Bundle as the
//! multiset of its resources without what a server assigns — resource ids (references become the
//! content of what they point to), the days records were entered (`recordedDate`, `dateAsserted`), the
//! Bundle's id and timestamp — and without what import leaves out by design (resources recorded in a
//! treatment session, and consents, which a clinician records with the signed form in hand). Shared by the API's and the CLI's round-trip tests.

#![allow(dead_code)]

use std::collections::HashMap;

use serde_json::{Value, json};

const SESSION_EXTENSION: &str = "https://ketacare.org/fhir/StructureDefinition/treatment-session";

fn recorded_in_a_session(resource: &Value) -> bool {
    ["MedicationAdministration", "Encounter", "CarePlan", "MedicationRequest", "QuestionnaireResponse", "Consent"]
        .iter()
        .any(|kind| resource["resourceType"] == *kind)
        || resource["extension"]
            .as_array()
            .is_some_and(|extensions| extensions.iter().any(|extension| extension["url"] == SESSION_EXTENSION))
}

/// A resource without its id and the server's dates, references left as they are.
fn without_server_metadata(resource: &Value) -> Value {
    let mut resource = resource.clone();
    let object = resource.as_object_mut().expect("a resource is an object");
    for key in ["id", "meta", "recordedDate", "dateAsserted"] {
        object.remove(key);
    }
    resource
}

/// Replaces every `{"reference": "Type/id"}` inside `value` by the content the reference names.
fn resolve_references(value: &mut Value, contents: &HashMap<String, Value>) {
    match value {
        Value::Object(object) => {
            if let Some(Value::String(reference)) = object.get("reference")
                && object.len() == 1
            {
                let target = contents.get(reference).cloned().unwrap_or_else(|| json!(format!("dangling {reference}")));
                *value = json!({ "reference-to": target });
                return;
            }
            for item in object.values_mut() {
                resolve_references(item, contents);
            }
        }
        Value::Array(items) => {
            for item in items.iter_mut() {
                resolve_references(item, contents);
            }
            // A list of references (derivedFrom) compares as a set.
            if items.iter().all(|item| item.get("reference-to").is_some()) {
                items.sort_by_key(ToString::to_string);
            }
        }
        _ => {}
    }
}

/// The Bundle's resources, normalised and sorted: two exports of the same record give the same list.
pub fn comparable_resources(bundle: &Value) -> Vec<String> {
    let resources: Vec<&Value> = bundle["entry"]
        .as_array()
        .expect("a Bundle with entries")
        .iter()
        .map(|entry| &entry["resource"])
        .filter(|resource| !recorded_in_a_session(resource))
        .collect();
    // What each resource is, without ids: references point to these (they hold no references themselves,
    // except the Patient's subject, which every resource shares).
    let mut contents = HashMap::new();
    for resource in &resources {
        let key = format!("{}/{}", resource["resourceType"].as_str().unwrap(), resource["id"].as_str().unwrap());
        let mut content = without_server_metadata(resource);
        if let Some(object) = content.as_object_mut() {
            object.remove("subject");
            object.remove("reasonReference");
            object.remove("derivedFrom");
        }
        contents.insert(key, content);
    }
    let mut normalised: Vec<String> = resources
        .iter()
        .map(|resource| {
            let mut resource = without_server_metadata(resource);
            resolve_references(&mut resource, &contents);
            resource.to_string()
        })
        .collect();
    normalised.sort();
    normalised
}

/// The resources of `before` that `after` lacks, and those `after` has that `before` lacks.
pub fn differences(before: &Value, after: &Value) -> (Vec<String>, Vec<String>) {
    let mut left = comparable_resources(before);
    let mut right = comparable_resources(after);
    let mut only_before = Vec::new();
    left.retain(|resource| match right.iter().position(|other| other == resource) {
        Some(at) => {
            right.remove(at);
            false
        }
        None => true,
    });
    only_before.append(&mut left);
    (only_before, right)
}
