//! Forms over a session's facts (docs/sessions.md): the pre-dose checks, the discharge assessment and the
//! REMS form's details. Each is a table of fields (`FactGroup`s of `FactField`s, each the path of a key in
//! the session document) that the same code turns into labelled inputs prefilled with what the session
//! records, reads back from the posted form (a blank field is left out; yes/no become booleans, scores
//! numbers), and sends as one replacement of its section through `App::update_session`, the use case of
//! the API's `PATCH …/sessions/{session_id}` (a value already recorded is replaced only with a reason).

use std::collections::BTreeMap;

use axum::http::HeaderMap;
use ketacare_app::AppError;
use serde_json::{Map, Value, json};

use crate::page_error::PageError;
use crate::session_page::read_form;
use crate::treatment_forms::FormErrors;

/// How a fact is typed in.
#[derive(Debug, Clone, Copy)]
pub enum FieldKind {
    Text,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// A clinic-local date and time, `YYYY-MM-DDTHH:MM`.
    DateTime,
    /// Yes or no (a JSON boolean), or not recorded.
    YesNo,
    /// One of a list of values (value, label); `numeric` values are sent as JSON numbers.
    Choice {
        options: &'static [(&'static str, &'static str)],
        numeric: bool,
    },
}

/// One fact: its path in the session document (`pre_dose.last_food_at`), its label and a hint.
#[derive(Debug, Clone, Copy)]
pub struct FactField {
    pub path: &'static str,
    pub label: &'static str,
    pub hint: &'static str,
    pub kind: FieldKind,
}

/// Facts shown together under a legend; `id` is the anchor other pages link to.
#[derive(Debug, Clone, Copy)]
pub struct FactGroup {
    pub id: &'static str,
    pub legend: &'static str,
    pub fields: &'static [FactField],
}

/// A fact field, for the tables of fields.
pub const fn field(path: &'static str, label: &'static str, hint: &'static str, kind: FieldKind) -> FactField {
    FactField { path, label, hint, kind }
}

const SCORE_0_TO_2: &[(&str, &str)] = &[("0", "0"), ("1", "1"), ("2", "2")];
const ITEM_0_TO_3: &[(&str, &str)] = &[("0", "0"), ("1", "1"), ("2", "2"), ("3", "3")];

/// The pre-dose checks of the gate (docs/sessions.md, `pre_dose`).
pub const PRE_DOSE_GROUPS: &[FactGroup] = &[
    FactGroup {
        id: "pre-dose-screening",
        legend: "Screening",
        fields: &[
            field(
                "pre_dose.phq9_item9",
                "PHQ-9 item 9 today",
                "0 to 3",
                FieldKind::Choice { options: ITEM_0_TO_3, numeric: true },
            ),
            field(
                "pre_dose.qids_item12",
                "QIDS item 12 today",
                "0 to 3",
                FieldKind::Choice { options: ITEM_0_TO_3, numeric: true },
            ),
            field(
                "pre_dose.cssrs_risk",
                "C-SSRS risk",
                "needed when either item above is 1 or more",
                FieldKind::Choice {
                    options: &[("none", "none"), ("low", "low"), ("moderate", "moderate"), ("high", "high")],
                    numeric: false,
                },
            ),
            field("pre_dose.can_become_pregnant", "Can become pregnant", "", FieldKind::YesNo),
            field(
                "pre_dose.pregnancy_test",
                "Pregnancy test",
                "",
                FieldKind::Choice { options: &[("negative", "negative"), ("positive", "positive")], numeric: false },
            ),
        ],
    },
    FactGroup {
        id: "pre-dose-readiness",
        legend: "Fasting, escort and enrolment",
        fields: &[
            field("pre_dose.last_food_at", "Last food", "clinic time", FieldKind::DateTime),
            field("pre_dose.last_liquid_at", "Last liquid", "clinic time", FieldKind::DateTime),
            field("pre_dose.escort_arranged", "Escort home arranged", "", FieldKind::YesNo),
            field("pre_dose.rems_patient_enrolled", "Enrolled in the REMS", "esketamine", FieldKind::YesNo),
        ],
    },
];

/// The discharge facts (docs/sessions.md, `discharge`): the escort, and the modified Aldrete or PADSS
/// score an IV session needs.
pub const DISCHARGE_GROUPS: &[FactGroup] = &[
    FactGroup {
        id: "discharge-escort",
        legend: "Escort",
        fields: &[field("discharge.escort_present", "Escort present to take the patient home", "", FieldKind::YesNo)],
    },
    FactGroup {
        id: "discharge-aldrete",
        legend: "Modified Aldrete score (IV)",
        fields: &[
            field("discharge.aldrete.at", "Scored at", "clinic time", FieldKind::DateTime),
            field(
                "discharge.aldrete.activity",
                "Activity",
                "0 to 2",
                FieldKind::Choice { options: SCORE_0_TO_2, numeric: true },
            ),
            field(
                "discharge.aldrete.respiration",
                "Respiration",
                "0 to 2",
                FieldKind::Choice { options: SCORE_0_TO_2, numeric: true },
            ),
            field(
                "discharge.aldrete.circulation",
                "Circulation",
                "0 to 2",
                FieldKind::Choice { options: SCORE_0_TO_2, numeric: true },
            ),
            field(
                "discharge.aldrete.consciousness",
                "Consciousness",
                "0 to 2",
                FieldKind::Choice { options: SCORE_0_TO_2, numeric: true },
            ),
            field(
                "discharge.aldrete.spo2",
                "SpO2",
                "0 to 2",
                FieldKind::Choice { options: SCORE_0_TO_2, numeric: true },
            ),
        ],
    },
    FactGroup {
        id: "discharge-padss",
        legend: "PADSS (IV, instead of the Aldrete score)",
        fields: &[
            field("discharge.padss.at", "Scored at", "clinic time", FieldKind::DateTime),
            field(
                "discharge.padss.vital_signs",
                "Vital signs",
                "0 to 2",
                FieldKind::Choice { options: SCORE_0_TO_2, numeric: true },
            ),
            field(
                "discharge.padss.ambulation",
                "Ambulation",
                "0 to 2",
                FieldKind::Choice { options: SCORE_0_TO_2, numeric: true },
            ),
            field(
                "discharge.padss.nausea_vomiting",
                "Nausea and vomiting",
                "0 to 2",
                FieldKind::Choice { options: SCORE_0_TO_2, numeric: true },
            ),
            field("discharge.padss.pain", "Pain", "0 to 2", FieldKind::Choice { options: SCORE_0_TO_2, numeric: true }),
            field(
                "discharge.padss.bleeding",
                "Bleeding",
                "0 to 2",
                FieldKind::Choice { options: SCORE_0_TO_2, numeric: true },
            ),
        ],
    },
];

/// One option of a select, with whether it is chosen.
pub struct ChoiceView {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// A fact as its form shows it: the input, its value (as recorded, or as typed when refused), its error.
pub struct FactFieldView {
    pub id: String,
    pub name: &'static str,
    pub label: &'static str,
    pub hint: String,
    /// `text`, `date`, `datetime-local` or `select`.
    pub input: &'static str,
    pub options: Vec<ChoiceView>,
    pub value: String,
    pub error: Option<String>,
}

pub struct FactGroupView {
    pub id: &'static str,
    pub legend: &'static str,
    pub fields: Vec<FactFieldView>,
}

/// A facts form as the page shows it: where it posts, its groups, the reason and what was refused.
pub struct FactsFormView {
    /// The form's id prefix (`pre-dose`): its reason field is `{id}-reason`.
    pub id: &'static str,
    pub action: String,
    pub version: i64,
    pub groups: Vec<FactGroupView>,
    pub reason: String,
    pub errors: FormErrors,
    /// What the form came back with, for the notice above it (a prefill to check, say).
    pub notice: Option<String>,
}

impl FactsFormView {
    pub fn reason_error(&self) -> Option<&str> {
        self.errors.of("reason")
    }

    /// The error summary's links: the field refused, the reason, or the form itself.
    pub fn summary(&self) -> Vec<(String, String)> {
        self.errors
            .messages
            .iter()
            .map(|(field, message)| {
                let href = match field.as_str() {
                    "reason" => format!("#{}-reason", self.id),
                    "form" => format!("#{}", self.id),
                    path => format!("#{}", field_id(path)),
                };
                (href, message.clone())
            })
            .collect()
    }
}

/// The HTML id of a fact's input.
pub fn field_id(path: &str) -> String {
    path.replace(['.', '_'], "-")
}

/// A recorded value as its input shows it: yes / no, numbers and text as they are.
fn value_as_typed(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Bool(true) => "yes".to_owned(),
        Value::Bool(false) => "no".to_owned(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The value at a dotted path of a JSON object.
pub fn value_at<'a>(object: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(object, |value, key| &value[key])
}

/// The form's groups with their values: typed ones when the form came back, else the recorded ones (the
/// document holding the section at its paths), each with its error.
pub fn fact_groups(
    groups: &[FactGroup],
    recorded: &Value,
    typed: Option<&BTreeMap<String, String>>,
    errors: &FormErrors,
) -> Vec<FactGroupView> {
    groups
        .iter()
        .map(|group| FactGroupView {
            id: group.id,
            legend: group.legend,
            fields: group
                .fields
                .iter()
                .map(|fact| {
                    let value = match typed {
                        Some(typed) => typed.get(fact.path).cloned().unwrap_or_default(),
                        None => value_as_typed(value_at(recorded, fact.path)),
                    };
                    let (input, options): (&'static str, &[(&str, &str)]) = match fact.kind {
                        FieldKind::Text => ("text", &[]),
                        FieldKind::Date => ("date", &[]),
                        FieldKind::DateTime => ("datetime-local", &[]),
                        FieldKind::YesNo => ("select", &[("yes", "yes"), ("no", "no")]),
                        FieldKind::Choice { options, .. } => ("select", options),
                    };
                    FactFieldView {
                        id: field_id(fact.path),
                        name: fact.path,
                        label: fact.label,
                        hint: fact.hint.to_owned(),
                        input,
                        options: options
                            .iter()
                            .map(|(option, label)| ChoiceView {
                                value: (*option).to_owned(),
                                label: (*label).to_owned(),
                                selected: *option == value,
                            })
                            .collect(),
                        error: errors.of(fact.path).map(str::to_owned),
                        value,
                    }
                })
                .collect(),
        })
        .collect()
}

/// A facts form as posted: its token, the session version it was made from, the reason, every value.
pub struct PostedFacts {
    pub csrf_token: String,
    pub version: i64,
    pub reason: String,
    pub values: BTreeMap<String, String>,
}

pub fn read_facts_form(headers: &HeaderMap, body: &[u8]) -> Result<PostedFacts, PageError> {
    let pairs: Vec<(String, String)> = read_form(headers, body)?;
    let mut values: BTreeMap<String, String> = pairs.into_iter().collect();
    let csrf_token = values.remove("csrf_token").unwrap_or_default();
    let version = values.remove("version").and_then(|text| text.parse().ok()).unwrap_or_default();
    let reason = values.remove("reason").unwrap_or_default();
    Ok(PostedFacts { csrf_token, version, reason, values })
}

/// Inserts `value` at a dotted path, making the objects on the way.
fn insert_at(object: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            object.insert(path.to_owned(), value);
        }
        Some((head, rest)) => {
            let inner = object.entry(head.to_owned()).or_insert_with(|| json!({}));
            if !inner.is_object() {
                *inner = json!({});
            }
            if let Some(inner) = inner.as_object_mut() {
                insert_at(inner, rest, value);
            }
        }
    }
}

/// Removes the value at a dotted path, and an object the removal leaves empty.
fn remove_at(object: &mut Map<String, Value>, path: &str) {
    match path.split_once('.') {
        None => {
            object.remove(path);
        }
        Some((head, rest)) => {
            if let Some(Value::Object(inner)) = object.get_mut(head) {
                remove_at(inner, rest);
                if inner.is_empty() {
                    object.remove(head);
                }
            }
        }
    }
}

/// The section's new value from the posted fields (blank ones left out), laid over `keep`: what the
/// section holds that the form does not show stays as it is. The error names the field that is not one
/// of its choices.
pub fn section_from_form(
    groups: &[FactGroup],
    section: &str,
    keep: &Value,
    posted: &BTreeMap<String, String>,
) -> Result<Value, FormErrors> {
    let relative =
        |path: &'static str| path.strip_prefix(section).and_then(|rest| rest.strip_prefix('.')).unwrap_or(path);
    let mut section_object = keep.as_object().cloned().unwrap_or_default();
    // Every value the form shows is replaced by what was posted (a field emptied on the form is removed).
    for fact in groups.iter().flat_map(|group| group.fields) {
        remove_at(&mut section_object, relative(fact.path));
    }
    let mut errors = Vec::new();
    for fact in groups.iter().flat_map(|group| group.fields) {
        let text = posted.get(fact.path).map(|text| text.trim()).unwrap_or_default();
        if text.is_empty() {
            continue;
        }
        let value = match fact.kind {
            FieldKind::Text | FieldKind::Date | FieldKind::DateTime => json!(text),
            FieldKind::YesNo => match text {
                "yes" => json!(true),
                "no" => json!(false),
                _ => {
                    errors.push((fact.path.to_owned(), format!("{}: choose yes or no", fact.label)));
                    continue;
                }
            },
            FieldKind::Choice { options, numeric } => {
                if !options.iter().any(|(option, _)| *option == text) {
                    errors.push((fact.path.to_owned(), format!("{}: choose one of the list", fact.label)));
                    continue;
                }
                match (numeric, text.parse::<i64>()) {
                    (true, Ok(number)) => json!(number),
                    _ => json!(text),
                }
            }
        };
        insert_at(&mut section_object, relative(fact.path), value);
    }
    if errors.is_empty() { Ok(Value::Object(section_object)) } else { Err(FormErrors { messages: errors }) }
}

/// The body of the session update: the section replaced, with the reason when one was typed.
pub fn update_body(section: &str, value: Value, reason: &str) -> String {
    let mut body = Map::new();
    body.insert(section.to_owned(), value);
    let reason = reason.trim();
    if !reason.is_empty() {
        body.insert("reason".to_owned(), json!(reason));
    }
    Value::Object(body).to_string()
}

/// Where a use case's refusal of a facts form goes: the field whose path it names (or ends with), the
/// reason field, or the form's summary (`form`); a stale page says so.
pub fn facts_refusal(groups: &[FactGroup], error: AppError) -> Result<FormErrors, PageError> {
    let (field, message) = match error {
        AppError::Invalid { field, problem } => (field.clone(), format!("{field}: {problem}")),
        AppError::Refused { field, problem, rule_id } => (field.clone(), format!("{field}: {problem} ({rule_id})")),
        AppError::StaleVersion { .. } => (
            "form".to_owned(),
            "The session changed since this page was loaded (someone else charted): what you typed is kept below; check it and save again"
                .to_owned(),
        ),
        other => return Err(other.into()),
    };
    let paths = groups.iter().flat_map(|group| group.fields).map(|fact| fact.path);
    let id = if field == "reason" {
        "reason".to_owned()
    } else {
        paths
            .clone()
            .find(|path| *path == field)
            .or_else(|| paths.clone().find(|path| field.ends_with(&format!(".{path}"))))
            .or_else(|| paths.clone().find(|path| path.ends_with(&format!(".{field}"))))
            .map_or_else(|| "form".to_owned(), str::to_owned)
    };
    Ok(FormErrors { messages: vec![(id, message)] })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_is_built_from_the_filled_fields_over_what_the_form_does_not_show() {
        let posted: BTreeMap<String, String> = [
            ("discharge.escort_present", "yes"),
            ("discharge.aldrete.at", "2026-12-04T16:00"),
            ("discharge.aldrete.activity", "2"),
            ("discharge.padss.pain", ""),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect();
        let keep = json!({ "escort_present": false, "padss": { "pain": 1 }, "other": "kept" });
        let section = section_from_form(DISCHARGE_GROUPS, "discharge", &keep, &posted).unwrap();
        assert_eq!(
            section,
            json!({ "escort_present": true, "aldrete": { "at": "2026-12-04T16:00", "activity": 2 }, "other": "kept" })
        );
        let mut wrong = posted.clone();
        wrong.insert("discharge.aldrete.spo2".to_owned(), "7".to_owned());
        let errors = section_from_form(DISCHARGE_GROUPS, "discharge", &keep, &wrong).unwrap_err();
        assert_eq!(errors.of("discharge.aldrete.spo2"), Some("SpO2: choose one of the list"));
    }

    #[test]
    fn refusals_go_to_the_field_they_name() {
        let error =
            AppError::Invalid { field: "pre_dose.last_food_at".to_owned(), problem: "is not a time".to_owned() };
        assert!(facts_refusal(PRE_DOSE_GROUPS, error).unwrap().of("pre_dose.last_food_at").is_some());
        let error = AppError::Invalid { field: "reason".to_owned(), problem: "needed".to_owned() };
        assert!(facts_refusal(PRE_DOSE_GROUPS, error).unwrap().of("reason").is_some());
        let error = AppError::Invalid { field: "dose".to_owned(), problem: "odd".to_owned() };
        assert!(facts_refusal(PRE_DOSE_GROUPS, error).unwrap().of("form").is_some());
    }
}
