//! The fields of the intake forms as data: each chart section's fields (their form name, the path of
//! the value in the chart record the API takes, label, hint, unit and kind), how a form's typed text
//! becomes that record's JSON (a number as typed stays text when it is not one, so the chart's own
//! reader refuses it by name), how a record's JSON fills a form again, and which form field a
//! refusal's field path lands on. No validation lives here: the use cases judge every value.

use ketacare_app::{concomitant_classes, history_codes};
use serde_json::{Map, Number, Value};

use crate::display::{value_text, words};

/// What kind of control a field is, and how its text becomes JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A line of text, sent as a string (empty: left out).
    Text,
    /// A decimal number as typed (`inputmode=decimal`).
    Number,
    /// A whole number as typed (`inputmode=numeric`).
    WholeNumber,
    /// `YYYY-MM-DD` (a date input).
    Date,
    /// Yes / no / not recorded radios: `true`, `false` or left out.
    YesNo,
    /// One word from a closed list, as radios (the empty word: left out).
    Words(&'static [(&'static str, &'static str)]),
    /// A trial's drug as written, with the knowledge base's names suggested (a datalist).
    Drug,
    /// One of the patient's active episodes (a select filled from the chart).
    Episode,
    /// Several codes of a closed list at once (checkboxes): one chart record each.
    Codes,
}

/// One field of a form.
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    /// The form field's name and the control's id.
    pub id: &'static str,
    /// Where the value goes in the record: `severity`, or `ect.failed_courses` inside an object.
    pub path: &'static str,
    pub label: &'static str,
    pub hint: &'static str,
    pub unit: &'static str,
    pub kind: FieldKind,
}

const fn field(id: &'static str, label: &'static str, kind: FieldKind) -> FieldSpec {
    FieldSpec { id, path: id, label, hint: "", unit: "", kind }
}

const fn with_hint(spec: FieldSpec, hint: &'static str) -> FieldSpec {
    FieldSpec { hint, ..spec }
}

const fn with_unit(spec: FieldSpec, unit: &'static str) -> FieldSpec {
    FieldSpec { unit, ..spec }
}

const SEVERITY: [(&str, &str); 5] = [
    ("subsyndromal", "Subsyndromal"),
    ("mild", "Mild"),
    ("moderate", "Moderate"),
    ("severe", "Severe"),
    ("", "Not recorded"),
];
const ADHERENCE: [(&str, &str); 3] = [("adequate", "Adequate"), ("inadequate", "Inadequate"), ("unknown", "Unknown")];
const TRIAL_ROLE: [(&str, &str); 2] =
    [("antidepressant", "Antidepressant"), ("augmentation", "Augmentation (lithium, T3, an antipsychotic)")];
const SEX_AT_BIRTH: [(&str, &str); 2] = [("female", "Female"), ("male", "Male")];
const HISTORY_STATUS: [(&str, &str); 2] = [("active", "Active"), ("resolved", "Resolved")];
const CONCOMITANT_STATUS: [(&str, &str); 2] = [("active", "Taking it"), ("stopped", "Stopped")];

/// The new patient's demographics: what `POST /api/v1/patients` takes.
pub const DEMOGRAPHICS: [FieldSpec; 5] = [
    field("given_name", "Given name", FieldKind::Text),
    field("family_name", "Family name", FieldKind::Text),
    with_hint(field("birth_date", "Date of birth", FieldKind::Date), "for example 1980-01-31"),
    with_hint(
        field("sex_at_birth", "Sex at birth", FieldKind::Words(&SEX_AT_BIRTH)),
        "used for the IV dose's ideal body weight",
    ),
    with_hint(field("mrn", "Medical record number (MRN)", FieldKind::Text), "optional"),
];

pub const EPISODE: [FieldSpec; 7] = [
    with_hint(
        field("diagnosis", "Diagnosis", FieldKind::Text),
        "ICD-10-CM code, for example F33.2 (recurrent, severe, without psychotic features)",
    ),
    field("onset_date", "Onset of this episode", FieldKind::Date),
    with_unit(
        with_hint(
            field("duration_months", "Or its duration", FieldKind::Number),
            "only if the onset date is not known",
        ),
        "months",
    ),
    field("severity", "Severity", FieldKind::Words(&SEVERITY)),
    field("psychotic_features", "Psychotic features", FieldKind::YesNo),
    FieldSpec {
        id: "ect_failed_courses",
        path: "ect.failed_courses",
        label: "Failed ECT courses",
        hint: "a whole number; blank: none recorded",
        unit: "courses",
        kind: FieldKind::WholeNumber,
    },
    FieldSpec {
        id: "ect_bilateral",
        path: "ect.bilateral",
        label: "Bilateral ECT",
        hint: "",
        unit: "",
        kind: FieldKind::YesNo,
    },
];

pub const HISTORY_NEW: [FieldSpec; 2] = [
    with_hint(field("code", "Conditions the patient has or has had", FieldKind::Codes), "tick each that applies"),
    with_hint(field("noted_on", "Noted on", FieldKind::Date), "optional"),
];
pub const HISTORY_CORRECTION: [FieldSpec; 2] = [
    field("clinical_status", "Status", FieldKind::Words(&HISTORY_STATUS)),
    with_hint(field("noted_on", "Noted on", FieldKind::Date), "optional"),
];
pub const CONCOMITANT_NEW: [FieldSpec; 2] = [
    with_hint(field("class", "Medicines the patient takes", FieldKind::Codes), "tick each class that applies"),
    with_hint(field("noted_on", "Noted on", FieldKind::Date), "optional"),
];
pub const CONCOMITANT_CORRECTION: [FieldSpec; 2] = [
    field("clinical_status", "Status", FieldKind::Words(&CONCOMITANT_STATUS)),
    with_hint(field("noted_on", "Noted on", FieldKind::Date), "optional"),
];

pub const TRIAL: [FieldSpec; 8] = [
    field("episode_id", "Episode", FieldKind::Episode),
    with_hint(
        field("drug", "Drug", FieldKind::Drug),
        "as written: an ingredient, a brand or a formulation (the names the knowledge base knows are suggested)",
    ),
    with_unit(field("daily_dose_mg", "Highest daily dose held", FieldKind::Number), "mg a day"),
    with_unit(field("weeks", "Weeks at that dose", FieldKind::Number), "weeks"),
    with_unit(
        with_hint(
            field("improvement_pct", "Improvement", FieldKind::Number),
            "from the trial's baseline; negative is worse; at most 100",
        ),
        "%",
    ),
    with_hint(field("adherence", "Adherence", FieldKind::Words(&ADHERENCE)), "not answered counts as adequate"),
    with_hint(field("role", "Role", FieldKind::Words(&TRIAL_ROLE)), "not answered counts as an antidepressant"),
    with_hint(field("stop_reason", "Why it was stopped", FieldKind::Text), "optional"),
];

pub const MEASUREMENT: [FieldSpec; 5] = [
    field("measured_on", "Measured on", FieldKind::Date),
    with_unit(field("height_cm", "Height", FieldKind::Number), "cm"),
    with_unit(field("weight_kg", "Weight", FieldKind::Number), "kg"),
    field("pregnant", "Pregnant", FieldKind::YesNo),
    field("breastfeeding", "Breastfeeding", FieldKind::YesNo),
];

pub const BLOOD_PRESSURE: [FieldSpec; 3] = [
    field("measured_on", "Measured on", FieldKind::Date),
    with_unit(field("systolic", "Systolic", FieldKind::WholeNumber), "mmHg"),
    with_unit(field("diastolic", "Diastolic", FieldKind::WholeNumber), "mmHg"),
];

/// The closed list of a `Codes` field, with labels.
pub fn code_choices(id: &str) -> Vec<(&'static str, String)> {
    let codes = if id == "class" { concomitant_classes() } else { history_codes() };
    codes.into_iter().map(|code| (code, code_label(code))).collect()
}

/// A history code or concomitant class as staff read it.
pub fn code_label(code: &str) -> String {
    match code {
        "maoi" => "MAOI (monoamine oxidase inhibitor)".to_owned(),
        "other_cns_depressant" => "Other CNS depressant".to_owned(),
        "substance_use_disorder_current" => "Substance use disorder (current)".to_owned(),
        "ketamine_misuse" => "Ketamine or PCP misuse".to_owned(),
        "recent_cardiovascular_event" => "Recent cardiovascular or cerebrovascular event".to_owned(),
        "hepatic_impairment_moderate" => "Hepatic impairment, moderate (Child-Pugh B)".to_owned(),
        "hepatic_impairment_severe" => "Hepatic impairment, severe (Child-Pugh C)".to_owned(),
        "ketamine_hypersensitivity" => "Hypersensitivity to ketamine or esketamine".to_owned(),
        other => {
            let text = words(other);
            let mut characters = text.chars();
            characters.next().map(|first| first.to_uppercase().chain(characters).collect()).unwrap_or_default()
        }
    }
}

/// The first value typed for `name` (empty when absent).
pub fn typed<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs.iter().find(|(key, _)| key == name).map_or("", |(_, value)| value.as_str())
}

/// Every value typed for `name` (checkboxes send one pair each).
pub fn typed_all<'a>(pairs: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    pairs.iter().filter(|(key, _)| key == name).map(|(_, value)| value.as_str()).collect()
}

/// A field's text as the record's JSON: `None` when left empty. A number that is not one stays text,
/// so the chart's reader refuses it naming the field ("weeks: must be a number, got \"eight\"").
pub fn json_value(kind: FieldKind, text: &str) -> Option<Value> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    Some(match kind {
        FieldKind::Number | FieldKind::WholeNumber => match text.parse::<Number>() {
            Ok(number) => Value::Number(number),
            Err(_) => Value::String(text.to_owned()),
        },
        FieldKind::YesNo => match text {
            "yes" => Value::Bool(true),
            "no" => Value::Bool(false),
            other => Value::String(other.to_owned()),
        },
        _ => Value::String(text.to_owned()),
    })
}

/// Puts `value` at a dotted `path` of `record` (`ect.failed_courses` makes the `ect` object).
fn insert_at(record: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            record.insert(path.to_owned(), value);
        }
        Some((outer, inner)) => {
            let entry = record.entry(outer.to_owned()).or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(object) = entry {
                insert_at(object, inner, value);
            }
        }
    }
}

/// The record a form makes: every field typed (codes aside, which make one record each).
pub fn record_of(specs: &[FieldSpec], pairs: &[(String, String)]) -> Map<String, Value> {
    let mut record = Map::new();
    for spec in specs.iter().filter(|spec| spec.kind != FieldKind::Codes) {
        if let Some(value) = json_value(spec.kind, typed(pairs, spec.id)) {
            insert_at(&mut record, spec.path, value);
        }
    }
    record
}

/// The changes a correction form makes to `prior` (the record's data): every field's value, a field
/// emptied as `null` (the chart removes it); an object field (`ect`) sent whole, or `null` when emptied.
pub fn changes_of(specs: &[FieldSpec], pairs: &[(String, String)], prior: &Value) -> Map<String, Value> {
    let typed_record = record_of(specs, pairs);
    let mut changes = Map::new();
    for spec in specs.iter().filter(|spec| spec.kind != FieldKind::Codes) {
        let key = spec.path.split('.').next().unwrap_or(spec.path);
        if changes.contains_key(key) {
            continue;
        }
        match typed_record.get(key) {
            Some(value) => {
                changes.insert(key.to_owned(), value.clone());
            }
            None if !prior[key].is_null() => {
                changes.insert(key.to_owned(), Value::Null);
            }
            None => {}
        }
    }
    changes
}

/// A record's data as a form's typed pairs, to correct it.
pub fn pairs_of(specs: &[FieldSpec], data: &Value) -> Vec<(String, String)> {
    specs
        .iter()
        .filter_map(|spec| {
            let value = spec.path.split('.').fold(data, |value, key| &value[key]);
            let text = match value {
                Value::Null => return None,
                Value::Bool(true) => "yes".to_owned(),
                Value::Bool(false) => "no".to_owned(),
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            Some((spec.id.to_owned(), text))
        })
        .collect()
}

/// A record's fields as label and text, in the form's order (for the list of what is recorded).
pub fn summary_of(specs: &[FieldSpec], data: &Value) -> Vec<(String, String)> {
    specs
        .iter()
        .filter_map(|spec| {
            let key = if spec.kind == FieldKind::Codes { spec.id } else { spec.path };
            let value = key.split('.').fold(data, |value, key| &value[key]);
            if value.is_null() {
                return None;
            }
            let text = match (spec.kind, value) {
                (FieldKind::Codes, Value::String(code)) => code_label(code),
                (FieldKind::Words(choices), Value::String(word)) => choices
                    .iter()
                    .find(|(value, _)| value == word)
                    .map_or_else(|| word.clone(), |(_, label)| (*label).to_owned()),
                (_, value) => value_text(value),
            };
            let unit = if spec.unit.is_empty() { String::new() } else { format!(" {}", spec.unit) };
            Some((spec.label.to_owned(), format!("{text}{unit}")))
        })
        .collect()
}

/// The form field a refusal lands on: the field its path names (`ect.failed_courses`, or the last
/// segment of `patient.pregnant`), else the form's first field (a refusal of the whole record).
pub fn field_of<'a>(specs: &'a [FieldSpec], path: &str) -> &'a FieldSpec {
    let last = path.rsplit('.').next().unwrap_or(path);
    specs
        .iter()
        .find(|spec| spec.path == path || spec.id == path)
        .or_else(|| specs.iter().find(|spec| spec.id == last))
        .or_else(|| specs.iter().find(|spec| !matches!(spec.kind, FieldKind::Episode | FieldKind::Date)))
        .unwrap_or(&specs[0])
}

/// A refusal's words on the form: the field's label and the use case's problem
/// (`Weeks at that dose: must be a number, got "eight"`), or its own path when it names no field here.
pub fn refusal_message(specs: &[FieldSpec], path: &str, problem: &str) -> (String, String) {
    let spec = field_of(specs, path);
    let named = spec.path == path || spec.id == path;
    let message = if named { format!("{}: {problem}", spec.label) } else { format!("{path}: {problem}") };
    (spec.id.to_owned(), message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items.iter().map(|(key, value)| ((*key).to_owned(), (*value).to_owned())).collect()
    }

    #[test]
    fn a_form_becomes_the_chart_record_the_api_takes() {
        let typed = pairs(&[
            ("diagnosis", " F33.2 "),
            ("onset_date", "2026-01-28"),
            ("duration_months", ""),
            ("severity", "moderate"),
            ("psychotic_features", "no"),
            ("ect_failed_courses", "1"),
            ("ect_bilateral", ""),
        ]);
        assert_eq!(
            Value::Object(record_of(&EPISODE, &typed)),
            json!({ "diagnosis": "F33.2", "onset_date": "2026-01-28", "severity": "moderate",
                    "psychotic_features": false, "ect": { "failed_courses": 1 } })
        );
        let typed = pairs(&[("drug", "Zoloft"), ("daily_dose_mg", "150.0"), ("weeks", "eight")]);
        let record = Value::Object(record_of(&TRIAL, &typed));
        assert_eq!(record, json!({ "drug": "Zoloft", "daily_dose_mg": 150.0, "weeks": "eight" }));
        assert_eq!(record["daily_dose_mg"].to_string(), "150.0", "the digits as typed");
    }

    #[test]
    fn a_correction_sends_every_field_and_empties_what_was_cleared() {
        let prior = json!({ "drug": "sertraline", "weeks": 8, "stop_reason": "nausea", "episode_id": "e1" });
        let typed = pairs(&[("episode_id", "e1"), ("drug", "sertraline"), ("weeks", "10"), ("stop_reason", "")]);
        assert_eq!(
            Value::Object(changes_of(&TRIAL, &typed, &prior)),
            json!({ "episode_id": "e1", "drug": "sertraline", "weeks": 10, "stop_reason": null })
        );
        let prior = json!({ "diagnosis": "F33.2", "ect": { "failed_courses": 1 } });
        assert_eq!(pairs_of(&EPISODE, &prior), pairs(&[("diagnosis", "F33.2"), ("ect_failed_courses", "1")]));
        let typed = pairs(&[("diagnosis", "F33.2")]);
        assert_eq!(Value::Object(changes_of(&EPISODE, &typed, &prior)), json!({ "diagnosis": "F33.2", "ect": null }));
    }

    #[test]
    fn refusals_land_on_the_field_they_name() {
        assert_eq!(refusal_message(&EPISODE, "ect.failed_courses", "must be").0, "ect_failed_courses");
        assert_eq!(refusal_message(&MEASUREMENT, "patient.pregnant", "is true").0, "pregnant");
        assert_eq!(refusal_message(&MEASUREMENT, "(body)", "needs one").0, "height_cm");
        assert_eq!(refusal_message(&BLOOD_PRESSURE, "(body)", "diastolic above systolic").0, "systolic");
        let (id, message) = refusal_message(&TRIAL, "weeks", "must be a number, got \"eight\"");
        assert_eq!((id.as_str(), message.as_str()), ("weeks", "Weeks at that dose: must be a number, got \"eight\""));
        assert_eq!(refusal_message(&DEMOGRAPHICS, "birth_date", "x").1, "Date of birth: x");
    }
}
