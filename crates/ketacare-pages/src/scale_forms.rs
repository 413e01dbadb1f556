//! Clinician rating-scale forms: PHQ-9, GAD-7, MADRS, QIDS-SR16 and the C-SSRS screener, one page each
//! (`/patients/{patient_id}/scales/{scale}`), recorded in the chart's `scales` section through
//! `App::create_chart_record`, the same use case as the API, which scores them with the core (the total,
//! the band, PHQ-9 proration) and re-evaluates the chart. The page keeps a running total of the answers
//! given for the scales whose total is the sum of their items (`ketacare.js`); the saved total is the
//! server's. A refusal comes back beside the item it names (`items[3]`, `answers.q4`), answers kept.
//! The CADSS-23, BPRS positive subscale and MOAA/S are given during a session
//! (`/patients/{patient_id}/sessions/{session_id}/scales/{scale}`): the core scores their items and the
//! total is recorded as the session's observation (`App::record_session_scale`), judged by the alert
//! engine at once, as a total typed in the vital-sign row is.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use ketacare_app::{AppError, PatientView, Permission};
use serde_json::{Map, Value, json};

use crate::PagesState;
use crate::display::clinic_zone;
use crate::layout::Chrome;
use crate::page_error::{PageError, render};
use crate::signed_in::{SignedIn, same_site_form};

/// PHQ-9 and GAD-7's answer words (Kroenke 2001; Spitzer 2006: "Over the last 2 weeks, how often …").
const FREQUENCY_ANSWERS: [&str; 4] = ["Not at all", "Several days", "More than half the days", "Nearly every day"];

/// One scale as its form asks it.
pub struct ScaleDefinition {
    /// The chart's scale code (`phq9`).
    pub code: &'static str,
    pub title: &'static str,
    pub question: &'static str,
    pub items: &'static [&'static str],
    /// Each answer's value and words (C-SSRS: no / yes).
    pub answers: &'static [(&'static str, &'static str)],
    /// The total is the sum of the items (the page keeps a running total).
    pub summed: bool,
}

const ZERO_TO_THREE_WORDS: [(&str, &str); 4] = [
    ("0", FREQUENCY_ANSWERS[0]),
    ("1", FREQUENCY_ANSWERS[1]),
    ("2", FREQUENCY_ANSWERS[2]),
    ("3", FREQUENCY_ANSWERS[3]),
];
const ZERO_TO_THREE: [(&str, &str); 4] = [("0", "0"), ("1", "1"), ("2", "2"), ("3", "3")];
const ZERO_TO_SIX: [(&str, &str); 7] =
    [("0", "0"), ("1", "1"), ("2", "2"), ("3", "3"), ("4", "4"), ("5", "5"), ("6", "6")];
const NO_YES: [(&str, &str); 2] = [("no", "No"), ("yes", "Yes")];

/// The C-SSRS screener's answer keys in the chart, in the order asked.
const CSSRS_KEYS: [&str; 7] = ["q1", "q2", "q3", "q4", "q5", "q6", "q6_within_3_months"];

pub const SCALES: [ScaleDefinition; 5] = [
    ScaleDefinition {
        code: "phq9",
        title: "PHQ-9",
        question: "Over the last 2 weeks, how often has the patient been bothered by any of the following problems?",
        items: &[
            "Little interest or pleasure in doing things",
            "Feeling down, depressed, or hopeless",
            "Trouble falling or staying asleep, or sleeping too much",
            "Feeling tired or having little energy",
            "Poor appetite or overeating",
            "Feeling bad about yourself — or that you are a failure or have let yourself or your family down",
            "Trouble concentrating on things, such as reading the newspaper or watching television",
            "Moving or speaking so slowly that other people could have noticed, or the opposite — being so fidgety \
             or restless that you have been moving around a lot more than usual",
            "Thoughts that you would be better off dead, or of hurting yourself in some way",
        ],
        answers: &ZERO_TO_THREE_WORDS,
        summed: true,
    },
    ScaleDefinition {
        code: "gad7",
        title: "GAD-7",
        question: "Over the last 2 weeks, how often has the patient been bothered by the following problems?",
        items: &[
            "Feeling nervous, anxious, or on edge",
            "Not being able to stop or control worrying",
            "Worrying too much about different things",
            "Trouble relaxing",
            "Being so restless that it is hard to sit still",
            "Becoming easily annoyed or irritable",
            "Feeling afraid, as if something awful might happen",
        ],
        answers: &ZERO_TO_THREE_WORDS,
        summed: true,
    },
    ScaleDefinition {
        code: "madrs",
        title: "MADRS",
        question: "Rate each item from 0 to 6 (the even steps are defined in the rating manual).",
        items: &[
            "Apparent sadness",
            "Reported sadness",
            "Inner tension",
            "Reduced sleep",
            "Reduced appetite",
            "Concentration difficulties",
            "Lassitude",
            "Inability to feel",
            "Pessimistic thoughts",
            "Suicidal thoughts",
        ],
        answers: &ZERO_TO_SIX,
        summed: true,
    },
    ScaleDefinition {
        code: "qids_sr16",
        title: "QIDS-SR16",
        question: "The patient's answers for the past 7 days, each 0 to 3 (the total takes the highest of the sleep, \
                   appetite/weight and psychomotor items: it is computed when saved).",
        items: &[
            "Falling asleep",
            "Sleep during the night",
            "Waking up too early",
            "Sleeping too much",
            "Feeling sad",
            "Decreased appetite",
            "Increased appetite",
            "Decreased weight (within the last two weeks)",
            "Increased weight (within the last two weeks)",
            "Concentration / decision making",
            "View of myself",
            "Thoughts of death or suicide",
            "General interest",
            "Energy level",
            "Feeling slowed down",
            "Feeling restless",
        ],
        answers: &ZERO_TO_THREE,
        summed: false,
    },
    ScaleDefinition {
        code: "cssrs",
        title: "C-SSRS screener",
        question: "Ask each question; the screen's risk level is computed when saved.",
        items: &[
            "Wished to be dead or not to wake up (past month)",
            "Non-specific active suicidal thoughts (past month)",
            "Active suicidal ideation with any methods, without intent to act (past month)",
            "Active suicidal ideation with some intent to act, without a specific plan (past month)",
            "Active suicidal ideation with a specific plan and intent (past month)",
            "Suicidal behaviour (lifetime)",
            "Suicidal behaviour within the past 3 months",
        ],
        answers: &NO_YES,
        summed: false,
    },
];

const ZERO_TO_FOUR: [(&str, &str); 5] =
    [("0", "Not at all"), ("1", "Slightly"), ("2", "Moderately"), ("3", "Considerably"), ("4", "Extremely")];
const ONE_TO_SEVEN: [(&str, &str); 7] = [
    ("1", "Not present"),
    ("2", "Very mild"),
    ("3", "Mild"),
    ("4", "Moderate"),
    ("5", "Moderately severe"),
    ("6", "Severe"),
    ("7", "Extremely severe"),
];
/// MOAA/S scores with their meaning (KNOWLEDGE §5.8), most alert first.
const MOAAS_ANSWERS: [(&str, &str); 6] = [
    ("5", "Responds readily to name spoken in a normal tone"),
    ("4", "Lethargic response to name spoken in a normal tone"),
    ("3", "Responds only after name is called loudly and/or repeatedly"),
    ("2", "Responds only after mild prodding or shaking"),
    ("1", "Responds only after a painful trapezius squeeze"),
    ("0", "No response after a painful trapezius squeeze"),
];

/// The scales given during a session, recorded as the session's observations
/// (`App::record_session_scale`); their codes are `ketacare_app::SESSION_SCALES`'.
pub const SESSION_SCALE_FORMS: [ScaleDefinition; 3] = [
    ScaleDefinition {
        code: "cadss23",
        title: "CADSS-23",
        question: "Each of the 23 statements as numbered on the CADSS form: how much it describes the patient's \
                   experience now.",
        items: &[
            "Statement 1",
            "Statement 2",
            "Statement 3",
            "Statement 4",
            "Statement 5",
            "Statement 6",
            "Statement 7",
            "Statement 8",
            "Statement 9",
            "Statement 10",
            "Statement 11",
            "Statement 12",
            "Statement 13",
            "Statement 14",
            "Statement 15",
            "Statement 16",
            "Statement 17",
            "Statement 18",
            "Statement 19",
            "Statement 20",
            "Statement 21",
            "Statement 22",
            "Statement 23",
        ],
        answers: &ZERO_TO_FOUR,
        summed: true,
    },
    ScaleDefinition {
        code: "bprs_positive",
        title: "BPRS positive symptoms",
        question: "Rate each item from 1 (not present) to 7 (extremely severe).",
        items: &["Conceptual disorganisation", "Hallucinatory behaviour", "Suspiciousness", "Unusual thought content"],
        answers: &ONE_TO_SEVEN,
        summed: true,
    },
    ScaleDefinition {
        code: "moaas",
        title: "MOAA/S",
        question: "The patient's response now.",
        items: &["Responsiveness"],
        answers: &MOAAS_ANSWERS,
        summed: false,
    },
];

pub fn session_scale_definition(code: &str) -> Option<&'static ScaleDefinition> {
    SESSION_SCALE_FORMS.iter().find(|scale| scale.code == code)
}

pub fn scale_definition(code: &str) -> Option<&'static ScaleDefinition> {
    SCALES.iter().find(|scale| scale.code == code)
}

#[derive(Template)]
#[template(path = "scale.html")]
struct ScalePage {
    chrome: Chrome,
    csrf_token: String,
    patient_name: String,
    patient_href: String,
    /// The session page, for a scale given in a session.
    session_href: Option<String>,
    action: String,
    scale: &'static ScaleDefinition,
    max_total: usize,
    /// When it was given: `administered_on` (a date) for the chart, `at` (date and time) in a session.
    when: WhenField,
    items: Vec<ScaleItem>,
    /// `(field id, message)` for the error summary.
    errors: Vec<(String, String)>,
}

struct WhenField {
    name: &'static str,
    label: &'static str,
    input_type: &'static str,
    value: String,
}

struct ScaleItem {
    /// The radio group's name and the id of its fieldset (`item-0`).
    id: String,
    number: usize,
    label: &'static str,
    options: Vec<ScaleOption>,
    error: Option<String>,
}

struct ScaleOption {
    id: String,
    value: &'static str,
    words: &'static str,
    checked: bool,
}

impl ScalePage {
    fn date_error(&self) -> Option<&str> {
        self.errors.iter().find(|(id, _)| id == self.when.name).map(|(_, message)| message.as_str())
    }
}

/// Where a scale form is: the chart's scales, or a session's.
enum ScaleContext<'a> {
    Chart,
    Session { session_id: &'a str },
}

async fn scale_page(
    state: &PagesState,
    signed: &SignedIn,
    patient_id: &str,
    context: ScaleContext<'_>,
    scale: &'static ScaleDefinition,
    typed: &Map<String, Value>,
    errors: Vec<(String, String)>,
) -> Result<ScalePage, PageError> {
    let patient_name = match state.app.get_patient(&signed.actor, patient_id).await? {
        PatientView::Identified(patient) => format!("{} {}", patient.given_name, patient.family_name),
        PatientView::DeIdentified(patient) => patient.pseudonym,
    };
    let typed_text = |key: &str| typed.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
    let items = scale
        .items
        .iter()
        .enumerate()
        .map(|(index, label)| {
            let id = format!("item-{index}");
            let chosen = typed_text(&id);
            ScaleItem {
                options: scale
                    .answers
                    .iter()
                    .map(|(value, words)| ScaleOption {
                        id: format!("{id}-{value}"),
                        value,
                        words,
                        checked: chosen == *value,
                    })
                    .collect(),
                error: errors.iter().find(|(field, _)| *field == id).map(|(_, message)| message.clone()),
                number: index + 1,
                id,
                label,
            }
        })
        .collect();
    let now = state.app.now().to_zoned_datetime(clinic_zone(&state.app));
    let (when, session_href, action) = match context {
        ScaleContext::Chart => (
            WhenField {
                name: "administered_on",
                label: "Administered on",
                input_type: "date",
                value: typed_text("administered_on").if_empty(now.date().to_string()),
            },
            None,
            format!("/patients/{patient_id}/scales/{}", scale.code),
        ),
        ScaleContext::Session { session_id } => {
            let session_href = format!("/patients/{patient_id}/sessions/{session_id}");
            (
                WhenField {
                    name: "at",
                    label: "Time",
                    input_type: "datetime-local",
                    value: typed_text("at").if_empty(now.strftime("%Y-%m-%dT%H:%M").to_string()),
                },
                Some(session_href.clone()),
                format!("{session_href}/scales/{}", scale.code),
            )
        }
    };
    let max_answer = scale.answers.iter().filter_map(|(value, _)| value.parse::<usize>().ok()).max().unwrap_or(0);
    Ok(ScalePage {
        chrome: Chrome::signed_in(&format!("{} — {patient_name}", scale.title), "patients", &signed.principal),
        csrf_token: signed.principal.csrf_token.clone().unwrap_or_default(),
        patient_href: format!("/patients/{patient_id}"),
        session_href,
        action,
        max_total: max_answer * scale.items.len(),
        patient_name,
        scale,
        when,
        items,
        errors,
    })
}

/// A typed value, or a default when the field was left empty.
trait IfEmpty {
    fn if_empty(self, default: String) -> String;
}

impl IfEmpty for String {
    fn if_empty(self, default: String) -> String {
        if self.trim().is_empty() { default } else { self }
    }
}

fn known_scale(code: &str) -> Result<&'static ScaleDefinition, PageError> {
    scale_definition(code).ok_or(PageError::NotFound { what: "rating scale".to_owned() })
}

/// `GET /patients/{patient_id}/scales/{scale}`: the empty form (roles that record the chart).
pub async fn scale_form(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path((patient_id, code)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let scale = known_scale(&code)?;
    // The form is for those who may record it: others get the 403 page, audited as the use case would.
    let resource = format!("patient/{patient_id}/chart/scales");
    state.app.authorize(&signed.actor, Permission::RecordChart, "chart.create", resource, Some(&patient_id)).await?;
    Ok(render(&scale_page(&state, &signed, &patient_id, ScaleContext::Chart, scale, &Map::new(), Vec::new()).await?))
}

/// A scale form's fields as typed (radio groups are absent when unanswered), after the same-site and
/// CSRF checks.
fn read_typed_form(signed: &SignedIn, headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, PageError> {
    if !same_site_form(headers) {
        return Err(PageError::FormRejected);
    }
    let typed: Map<String, Value> = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .map_err(|_| PageError::FormRejected)?
        .into_iter()
        .map(|(key, value)| (key, Value::String(value)))
        .collect();
    signed.check_form_token(typed.get("csrf_token").and_then(Value::as_str).unwrap_or_default())?;
    Ok(typed)
}

/// The chart record of a form: items as numbers (an unanswered one as null: missing data the scoring
/// names or prorates), or the C-SSRS answers as yes / no.
fn scale_record(scale: &ScaleDefinition, typed: &Map<String, Value>) -> Value {
    let answer = |index: usize| typed.get(&format!("item-{index}")).and_then(Value::as_str).unwrap_or_default();
    let administered_on = typed.get("administered_on").and_then(Value::as_str).unwrap_or_default().trim();
    if scale.code == "cssrs" {
        let answers: Map<String, Value> = CSSRS_KEYS
            .iter()
            .enumerate()
            .filter_map(|(index, key)| match answer(index) {
                "yes" => Some(((*key).to_owned(), json!(true))),
                "no" => Some(((*key).to_owned(), json!(false))),
                _ => None,
            })
            .collect();
        return json!({ "scale": "cssrs", "administered_on": administered_on, "answers": answers });
    }
    let items: Vec<Value> = (0..scale.items.len())
        .map(|index| answer(index).parse::<u8>().map_or(Value::Null, |value| json!(value)))
        .collect();
    json!({ "scale": scale.code, "administered_on": administered_on, "items": items })
}

/// The form field a refusal names: `items[3]` → `item-3`, `answers.q4` → `item-3`, else the date.
fn scale_field_of(field: &str) -> String {
    if let Some(index) = field.split("items[").nth(1).and_then(|rest| rest.split(']').next()?.parse::<usize>().ok()) {
        return format!("item-{index}");
    }
    if let Some(key) = field.rsplit('.').next()
        && let Some(index) = CSSRS_KEYS.iter().position(|candidate| *candidate == key)
    {
        return format!("item-{index}");
    }
    if field.ends_with("items") || field.ends_with("answers") {
        "item-0".to_owned()
    } else {
        "administered_on".to_owned()
    }
}

/// `POST /patients/{patient_id}/scales/{scale}`: records the answers; the overview then shows the total.
pub async fn record_scale(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path((patient_id, code)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let scale = known_scale(&code)?;
    let typed = read_typed_form(&signed, &headers, &body)?;
    let record = scale_record(scale, &typed);
    match state.app.create_chart_record(&signed.actor, &patient_id, "scales", &record, None).await {
        Ok(_) => Ok(Redirect::to(&format!("/patients/{patient_id}?saved=scale#scales")).into_response()),
        Err(AppError::Invalid { field, problem } | AppError::Refused { field, problem, .. }) => {
            let errors = vec![(scale_field_of(&field), format!("{field}: {problem}"))];
            let page = scale_page(&state, &signed, &patient_id, ScaleContext::Chart, scale, &typed, errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
        Err(other) => Err(other.into()),
    }
}

fn known_session_scale(code: &str) -> Result<&'static ScaleDefinition, PageError> {
    session_scale_definition(code).ok_or(PageError::NotFound { what: "rating scale".to_owned() })
}

/// `GET /patients/{patient_id}/sessions/{session_id}/scales/{scale}`: a CADSS-23, BPRS positive or
/// MOAA/S form for the roles that run sessions.
pub async fn session_scale_form(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path((patient_id, session_id, code)): Path<(String, String, String)>,
) -> Result<Response, PageError> {
    let scale = known_session_scale(&code)?;
    let resource = format!("patient/{patient_id}/session/{session_id}/observations");
    state
        .app
        .authorize(&signed.actor, Permission::RunSessions, "observation.create", resource, Some(&patient_id))
        .await?;
    let context = ScaleContext::Session { session_id: &session_id };
    Ok(render(&scale_page(&state, &signed, &patient_id, context, scale, &Map::new(), Vec::new()).await?))
}

/// The form field of an in-session scale's refusal: the item its message names (`item 4: …`), the time,
/// or the first item.
fn session_scale_field_of(field: &str, problem: &str, scale: &ScaleDefinition) -> String {
    if field == "at" || field == "late_entry_reason" {
        return "at".to_owned();
    }
    let named = problem
        .split("item ")
        .nth(1)
        .and_then(|rest| rest.split(|character: char| !character.is_ascii_digit()).next()?.parse::<usize>().ok())
        .filter(|number| (1..=scale.items.len()).contains(number));
    format!("item-{}", named.map_or(0, |number| number - 1))
}

/// `POST …/sessions/{session_id}/scales/{scale}`: scores the answers and records the total as the
/// session's observation (`App::record_session_scale`); the session page then shows what it raised.
pub async fn record_session_scale(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path((patient_id, session_id, code)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let scale = known_session_scale(&code)?;
    let typed = read_typed_form(&signed, &headers, &body)?;
    let text = |key: &str| typed.get(key).and_then(Value::as_str).unwrap_or_default().trim().to_owned();
    let input = ketacare_app::SessionScaleInput {
        scale: scale.code.to_owned(),
        answers: (0..scale.items.len()).map(|index| text(&format!("item-{index}")).parse::<u8>().ok()).collect(),
        at: text("at"),
        late_entry_reason: Some(text("late_entry_reason")).filter(|reason| !reason.is_empty()),
    };
    match state.app.record_session_scale(&signed.actor, &patient_id, &session_id, &input, None).await {
        Ok(created) => {
            let sequence = created.body["sequence"].as_i64().unwrap_or_default();
            Ok(Redirect::to(&format!("/patients/{patient_id}/sessions/{session_id}?saved={sequence}#alerts"))
                .into_response())
        }
        Err(AppError::Invalid { field, problem } | AppError::Refused { field, problem, .. }) => {
            let errors = vec![(session_scale_field_of(&field, &problem, scale), format!("{field}: {problem}"))];
            let context = ScaleContext::Session { session_id: &session_id };
            let page = scale_page(&state, &signed, &patient_id, context, scale, &typed, errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
        Err(other) => Err(other.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_land_on_the_item_they_name() {
        assert_eq!(scale_field_of("items[3]"), "item-3");
        assert_eq!(scale_field_of("scales.phq9.items[8]"), "item-8");
        assert_eq!(scale_field_of("answers.q4"), "item-3");
        assert_eq!(scale_field_of("cssrs.q6_within_3_months"), "item-6");
        assert_eq!(scale_field_of("items"), "item-0");
        assert_eq!(scale_field_of("administered_on"), "administered_on");
        let cadss = session_scale_definition("cadss23").unwrap();
        assert_eq!(session_scale_field_of("items", "item 4: must be 0-4, got 9", cadss), "item-3");
        assert_eq!(session_scale_field_of("items", "CADSS-23: expected 23 answers, got 3", cadss), "item-0");
        assert_eq!(session_scale_field_of("at", "is after now", cadss), "at");
    }

    #[test]
    fn a_form_becomes_the_chart_record_with_unanswered_items_missing() {
        let typed: Map<String, Value> = [("administered_on", "2026-12-01"), ("item-0", "2"), ("item-2", "3")]
            .into_iter()
            .map(|(key, value)| (key.to_owned(), json!(value)))
            .collect();
        let phq9 = scale_definition("phq9").unwrap();
        assert_eq!(
            scale_record(phq9, &typed),
            json!({ "scale": "phq9", "administered_on": "2026-12-01",
                    "items": [2, null, 3, null, null, null, null, null, null] })
        );
        let typed: Map<String, Value> = [("administered_on", "2026-12-01"), ("item-0", "yes"), ("item-1", "no")]
            .into_iter()
            .map(|(key, value)| (key.to_owned(), json!(value)))
            .collect();
        assert_eq!(
            scale_record(scale_definition("cssrs").unwrap(), &typed),
            json!({ "scale": "cssrs", "administered_on": "2026-12-01", "answers": { "q1": true, "q2": false } })
        );
    }
}
