//! The overview's amendments history as people read it: each correction of the patient's records (from
//! `App::patient_amendments`, the API's use case) with when, who, what record, each field that changed
//! as old → new, and the reason. The store keeps the record before the change and the change itself as
//! JSON (a chart record's fields inside its `body_json`); this compares the two field by field.

use std::collections::BTreeSet;

use jiff::tz::TimeZone;
use ketacare_app::Amendment;
use serde_json::{Map, Value};

use crate::display::{date_time, user_label, value_text, words};

/// One amendment as the overview lists it.
pub struct AmendmentRow {
    pub amended_at: String,
    pub amended_by: String,
    pub record: String,
    pub changes: Vec<FieldChange>,
    pub reason: String,
}

/// One field a correction changed.
pub struct FieldChange {
    pub field: String,
    pub before: String,
    pub after: String,
}

/// Bookkeeping a correction changes by itself, or that names rather than describes the record.
const NOT_SHOWN: [&str; 10] = [
    "version",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
    "patient_id",
    "record_id",
    "scale_result_id",
    "section",
    "birth_year",
];

/// What kind of record an amendment corrected, as staff name it.
fn record_label(resource_type: &str) -> String {
    match resource_type {
        "patient" => "Patient details",
        "episodes" => "Episode",
        "history" => "Medical history",
        "concomitant" => "Concomitant medicine",
        "trials" => "Antidepressant trial",
        "measurements" => "Measurement",
        "blood_pressures" => "Blood pressure",
        "overrides" => "Eligibility override",
        "scale_result" => "Rating scale result",
        "assessment" => "Decision",
        "dose_order" => "Dose order",
        "treatment_plan" => "Treatment plan",
        "treatment_session" => "Treatment session",
        "administration" => "Dose given",
        other => return words(other),
    }
    .to_owned()
}

/// A stored record as flat fields: a `…_json` text holding an object is opened into its fields (which
/// are returned too), one holding anything else becomes the field without its suffix.
fn flat_fields(text: &str) -> (Map<String, Value>, Option<BTreeSet<String>>) {
    let mut fields = Map::new();
    let mut embedded = None;
    let Ok(Value::Object(object)) = serde_json::from_str::<Value>(text) else { return (fields, embedded) };
    for (key, value) in object {
        if NOT_SHOWN.contains(&key.as_str()) {
            continue;
        }
        match (key.strip_suffix("_json"), &value) {
            (Some(name), Value::String(inner)) => match serde_json::from_str::<Value>(inner) {
                Ok(Value::Object(inner)) => {
                    let keys = embedded.get_or_insert_with(BTreeSet::new);
                    for (inner_key, inner_value) in inner {
                        keys.insert(inner_key.clone());
                        fields.insert(inner_key, inner_value);
                    }
                }
                Ok(other) => {
                    fields.insert(name.to_owned(), other);
                }
                Err(_) => {
                    fields.insert(key, value);
                }
            },
            _ => {
                fields.insert(key, value);
            }
        }
    }
    (fields, embedded)
}

/// The fields a correction changed: each field of the change that differs from the record before it,
/// and each field of a record's body the change left out (removed).
pub fn field_changes(prior_json: &str, new_json: &str) -> Vec<FieldChange> {
    let (prior, prior_embedded) = flat_fields(prior_json);
    let (new, new_embedded) = flat_fields(new_json);
    let shown = |value: Option<&Value>| value.map_or_else(|| "\u{2014}".to_owned(), value_text);
    let mut changes: Vec<FieldChange> = new
        .iter()
        .filter(|(key, value)| prior.get(*key).unwrap_or(&Value::Null) != *value)
        .map(|(key, value)| FieldChange { field: words(key), before: shown(prior.get(key)), after: shown(Some(value)) })
        .collect();
    if let (Some(before), Some(after)) = (prior_embedded, new_embedded) {
        for removed in before.difference(&after) {
            changes.push(FieldChange {
                field: words(removed),
                before: shown(prior.get(removed)),
                after: "\u{2014} (removed)".to_owned(),
            });
        }
    }
    changes
}

/// The patient's amendments, newest first.
pub fn amendment_rows(amendments: &[Amendment], viewer_user_id: &str, zone: &TimeZone) -> Vec<AmendmentRow> {
    amendments
        .iter()
        .rev()
        .map(|amendment| AmendmentRow {
            amended_at: date_time(&amendment.amended_at, zone),
            amended_by: user_label(&amendment.amended_by, viewer_user_id),
            record: record_label(&amendment.resource_type),
            changes: field_changes(&amendment.prior_json, &amendment.new_json),
            reason: amendment.reason.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn described(changes: &[FieldChange]) -> Vec<String> {
        changes.iter().map(|change| format!("{}: {} → {}", change.field, change.before, change.after)).collect()
    }

    #[test]
    fn a_chart_correction_shows_the_fields_of_its_body_that_changed() {
        let prior = json!({ "record_id": "r1", "section": "trials", "episode_id": "e1", "version": 1, "status": "active",
            "body_json": json!({ "drug": "sertraline", "weeks": 3, "stop_reason": "nausea" }).to_string() });
        let new = json!({ "episode_id": "e1", "recorded_on": null, "status": "active",
            "body_json": json!({ "drug": "sertraline", "weeks": 8 }).to_string() });
        assert_eq!(
            described(&field_changes(&prior.to_string(), &new.to_string())),
            ["weeks: 3 → 8", "stop reason: nausea → \u{2014} (removed)"]
        );
    }

    #[test]
    fn a_patient_correction_shows_only_what_it_names() {
        let prior =
            json!({ "family_name": "Kinng", "given_name": "Ada", "mrn": "M1", "version": 3, "birth_year": 1980 });
        let new = json!({ "family_name": "King", "mrn": null });
        assert_eq!(
            described(&field_changes(&prior.to_string(), &new.to_string())),
            ["family name: Kinng → King", "mrn: M1 → \u{2014}"]
        );
        let status = json!({ "status": "entered_in_error" });
        let prior = json!({ "status": "active", "plan_json": json!({ "template": "x" }).to_string() });
        assert_eq!(
            described(&field_changes(&prior.to_string(), &status.to_string())),
            ["status: active → entered_in_error"]
        );
    }
}
