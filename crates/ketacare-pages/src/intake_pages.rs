//! Patient intake, on GOV.UK's task-list pattern: a nurse or prescriber creates the patient
//! (`GET/POST /patients/new`, `App::create_patient`), then enters the chart in steps from the task list
//! (`GET /patients/{patient_id}/intake`), each step a section of the chart API (episode, history,
//! concomitant medicines, antidepressant trials, measurements, blood pressure, rating scales) with its
//! status: done, to do, or the problems the engine names (what it still misses to decide, a drug it
//! does not know). A step's page (`/patients/{patient_id}/intake/{section}`) lists what is recorded and
//! records one more through `App::create_chart_record`, the API's use case; a record is corrected on its
//! own page (`…/{section}/{record_id}`) through `App::amend_chart_record` with a reason (the API's
//! PATCH: an amendment). A refusal comes back beside the field it names, in the use case's words, with
//! an error summary at the top and everything typed kept. Each form carries an idempotency key, so a
//! double submit records once.

use std::sync::atomic::{AtomicU64, Ordering};

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use ketacare_app::policy::{Permission, allows};
use ketacare_app::{
    AppError, ChartRecordView, DrugNameSuggestion, EvaluationQuery, PatientInput, PatientView, drug_name_suggestions,
    sha256_hex,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::PagesState;
use crate::display::{clinic_zone, date_time, value_text, words};
use crate::intake_fields::{
    BLOOD_PRESSURE, CONCOMITANT_CORRECTION, CONCOMITANT_NEW, DEMOGRAPHICS, EPISODE, FieldKind, FieldSpec,
    HISTORY_CORRECTION, HISTORY_NEW, MEASUREMENT, TRIAL, changes_of, code_choices, code_label, pairs_of, record_of,
    refusal_message, summary_of, typed, typed_all,
};
use crate::layout::Chrome;
use crate::page_error::{PageError, render};
use crate::scale_forms::{SCALES, scale_definition};
use crate::signed_in::{SignedIn, same_site_form};

/// The steps of the intake after the demographics: each is a section of the chart API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IntakeStep {
    Episodes,
    History,
    Concomitant,
    Trials,
    Measurements,
    BloodPressures,
    Scales,
}

impl IntakeStep {
    const ALL: [IntakeStep; 7] = [
        IntakeStep::Episodes,
        IntakeStep::History,
        IntakeStep::Concomitant,
        IntakeStep::Trials,
        IntakeStep::Measurements,
        IntakeStep::BloodPressures,
        IntakeStep::Scales,
    ];

    /// The chart API's section, which is also the step's address.
    fn code(self) -> &'static str {
        match self {
            IntakeStep::Episodes => "episodes",
            IntakeStep::History => "history",
            IntakeStep::Concomitant => "concomitant",
            IntakeStep::Trials => "trials",
            IntakeStep::Measurements => "measurements",
            IntakeStep::BloodPressures => "blood_pressures",
            IntakeStep::Scales => "scales",
        }
    }

    fn title(self) -> &'static str {
        match self {
            IntakeStep::Episodes => "Current episode",
            IntakeStep::History => "Medical history",
            IntakeStep::Concomitant => "Concomitant medicines",
            IntakeStep::Trials => "Antidepressant trials",
            IntakeStep::Measurements => "Height, weight and pregnancy",
            IntakeStep::BloodPressures => "Blood pressure",
            IntakeStep::Scales => "Rating scales",
        }
    }

    /// What the step's form asks for a new record (the rating scales have their own forms).
    fn new_fields(self) -> &'static [FieldSpec] {
        match self {
            IntakeStep::Episodes => &EPISODE,
            IntakeStep::History => &HISTORY_NEW,
            IntakeStep::Concomitant => &CONCOMITANT_NEW,
            IntakeStep::Trials => &TRIAL,
            IntakeStep::Measurements => &MEASUREMENT,
            IntakeStep::BloodPressures => &BLOOD_PRESSURE,
            IntakeStep::Scales => &[],
        }
    }

    /// What a correction may change (a history code or medicine class is marked in error instead).
    fn correction_fields(self) -> &'static [FieldSpec] {
        match self {
            IntakeStep::History => &HISTORY_CORRECTION,
            IntakeStep::Concomitant => &CONCOMITANT_CORRECTION,
            other => other.new_fields(),
        }
    }

    /// Steps often given more than once in a row come back to their own page to add another.
    fn adds_another(self) -> bool {
        matches!(self, IntakeStep::Trials | IntakeStep::BloodPressures)
    }

    fn form_heading(self) -> &'static str {
        match self {
            IntakeStep::Episodes => "Record the current episode",
            IntakeStep::History => "Record the medical history",
            IntakeStep::Concomitant => "Record the medicines taken",
            IntakeStep::Trials => "Add a trial",
            IntakeStep::Measurements => "Record a measurement",
            IntakeStep::BloodPressures => "Add a seated screening reading",
            IntakeStep::Scales => "",
        }
    }

    /// One record of the step, as a correction's heading names it.
    fn record_noun(self) -> &'static str {
        match self {
            IntakeStep::Episodes => "episode",
            IntakeStep::History => "history entry",
            IntakeStep::Concomitant => "medicine entry",
            IntakeStep::Trials => "trial",
            IntakeStep::Measurements => "measurement",
            IntakeStep::BloodPressures => "blood pressure reading",
            IntakeStep::Scales => "rating scale result",
        }
    }

    fn parse(code: &str) -> Result<IntakeStep, PageError> {
        IntakeStep::ALL
            .into_iter()
            .find(|step| step.code() == code)
            .ok_or(PageError::NotFound { what: "intake step".to_owned() })
    }
}

/// A correction's own fields, after the section's: keep or take out of the chart, and why.
const STATUS_CHOICES: [(&str, &str); 2] = [
    ("active", "Keep it in the chart (corrected)"),
    ("entered_in_error", "Entered in error: take it out of the chart (it stays in the record, marked)"),
];
const CORRECTION_FIELDS: [FieldSpec; 2] = [
    FieldSpec {
        id: "status",
        path: "status",
        label: "This record",
        hint: "",
        unit: "",
        kind: FieldKind::Words(&STATUS_CHOICES),
    },
    FieldSpec {
        id: "reason",
        path: "reason",
        label: "Reason for the correction",
        hint: "required; kept with the record before it, in the patient's amendments",
        unit: "",
        kind: FieldKind::Text,
    },
];

/// One choice of a radio group, checkbox list or select.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub checked: bool,
}

/// One field as the template draws it (`templates/form_fields.html`).
pub struct FieldView {
    pub id: &'static str,
    pub label: &'static str,
    pub hint: &'static str,
    pub unit: &'static str,
    /// `text`, `date`, `radios`, `checkboxes` or `select`.
    pub control: &'static str,
    pub input_mode: &'static str,
    /// The id of a datalist of suggestions.
    pub list: &'static str,
    pub short: bool,
    pub value: String,
    pub choices: Vec<Choice>,
    pub error: Option<String>,
}

impl FieldView {
    /// The ids of the hint and the error, for `aria-describedby`.
    pub fn described_by(&self) -> String {
        let mut ids = Vec::new();
        if !self.hint.is_empty() {
            ids.push(format!("{}-hint", self.id));
        }
        if self.error.is_some() {
            ids.push(format!("{}-error", self.id));
        }
        ids.join(" ")
    }
}

/// What fills the fields the chart decides: the patient's active episodes, and the codes already recorded.
#[derive(Default)]
struct FieldContext {
    /// `(record id, label)` of each active episode, oldest first.
    episodes: Vec<(String, String)>,
    /// History codes or medicine classes already recorded as active (not offered again).
    recorded_codes: Vec<String>,
}

fn field_views(
    specs: &[FieldSpec],
    pairs: &[(String, String)],
    errors: &[(String, String)],
    context: &FieldContext,
) -> Vec<FieldView> {
    specs
        .iter()
        .map(|spec| {
            let value = typed(pairs, spec.id).to_owned();
            let (control, input_mode, list, short, choices) = match spec.kind {
                FieldKind::Text => ("text", "", "", false, Vec::new()),
                FieldKind::Number => ("text", "decimal", "", true, Vec::new()),
                FieldKind::WholeNumber => ("text", "numeric", "", true, Vec::new()),
                FieldKind::Date => ("date", "", "", false, Vec::new()),
                FieldKind::Drug => ("text", "", "drug-names", false, Vec::new()),
                FieldKind::YesNo => {
                    let choices = [("yes", "Yes"), ("no", "No"), ("", "Not recorded")];
                    ("radios", "", "", false, radio_choices(&choices, pairs, spec.id))
                }
                FieldKind::Words(words) => ("radios", "", "", false, radio_choices(words, pairs, spec.id)),
                FieldKind::Episode => {
                    let choices = context
                        .episodes
                        .iter()
                        .map(|(id, label)| Choice { checked: *id == value, value: id.clone(), label: label.clone() })
                        .collect();
                    ("select", "", "", false, choices)
                }
                FieldKind::Codes => {
                    let ticked = typed_all(pairs, spec.id);
                    let choices = code_choices(spec.id)
                        .into_iter()
                        .filter(|(code, _)| !context.recorded_codes.iter().any(|recorded| recorded == code))
                        .map(|(code, label)| Choice { checked: ticked.contains(&code), value: code.to_owned(), label })
                        .collect();
                    ("checkboxes", "", "", false, choices)
                }
            };
            FieldView {
                id: spec.id,
                label: spec.label,
                hint: spec.hint,
                unit: spec.unit,
                control,
                input_mode,
                list,
                short,
                value,
                choices,
                error: errors.iter().find(|(id, _)| id == spec.id).map(|(_, message)| message.clone()),
            }
        })
        .collect()
}

fn radio_choices(words: &[(&str, &str)], pairs: &[(String, String)], id: &str) -> Vec<Choice> {
    let chosen = pairs.iter().find(|(key, _)| key == id).map(|(_, value)| value.as_str());
    words
        .iter()
        .map(|(value, label)| Choice {
            value: (*value).to_owned(),
            label: (*label).to_owned(),
            checked: chosen == Some(*value),
        })
        .collect()
}

/// A form's pairs as sent (checkboxes repeat their name), after the same-site and CSRF checks.
fn read_pairs(signed: &SignedIn, headers: &HeaderMap, body: &[u8]) -> Result<Vec<(String, String)>, PageError> {
    if !same_site_form(headers) {
        return Err(PageError::FormRejected);
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|_| PageError::FormRejected)?;
    signed.check_form_token(typed(&pairs, "csrf_token"))?;
    Ok(pairs)
}

/// Forms rendered by this process so far: with the session and the time, it makes each form's
/// idempotency key unique, so a double submit of one form records once and two forms never collide.
static FORMS_RENDERED: AtomicU64 = AtomicU64::new(0);

fn new_idempotency_key(state: &PagesState, signed: &SignedIn) -> String {
    let count = FORMS_RENDERED.fetch_add(1, Ordering::Relaxed);
    let csrf = signed.principal.csrf_token.as_deref().unwrap_or_default();
    let digest = sha256_hex(&format!("intake form\n{csrf}\n{}\n{count}", state.app.now()));
    format!("intake-{}", &digest[..32])
}

/// The key a form carries (kept through a refusal, which stores nothing), or a fresh one.
fn form_key(state: &PagesState, signed: &SignedIn, pairs: &[(String, String)]) -> String {
    let sent = typed(pairs, "idempotency_key");
    if sent.is_empty() { new_idempotency_key(state, signed) } else { sent.to_owned() }
}

fn patient_name(view: &PatientView) -> String {
    match view {
        PatientView::Identified(patient) => format!("{} {}", patient.given_name, patient.family_name),
        PatientView::DeIdentified(patient) => patient.pseudonym.clone(),
    }
}

fn today(state: &PagesState) -> String {
    state.app.now().to_zoned_datetime(clinic_zone(&state.app)).date().to_string()
}

// ---------------------------------------------------------------------------------------------------
// New patient
// ---------------------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "patient_new.html")]
struct NewPatientPage {
    chrome: Chrome,
    csrf_token: String,
    idempotency_key: String,
    fields: Vec<FieldView>,
    errors: Vec<(String, String)>,
}

fn new_patient_page(
    state: &PagesState,
    signed: &SignedIn,
    pairs: &[(String, String)],
    errors: Vec<(String, String)>,
) -> NewPatientPage {
    NewPatientPage {
        chrome: Chrome::signed_in("New patient", "patients", &signed.principal),
        csrf_token: signed.principal.csrf_token.clone().unwrap_or_default(),
        idempotency_key: form_key(state, signed, pairs),
        fields: field_views(&DEMOGRAPHICS, pairs, &errors, &FieldContext::default()),
        errors,
    }
}

/// `GET /patients/new`: the demographics form, for the roles that may create patients.
pub async fn new_patient_form(State(state): State<PagesState>, signed: SignedIn) -> Result<Response, PageError> {
    let app = &state.app;
    app.authorize(&signed.actor, Permission::CreatePatients, "patient.create", "patients".to_owned(), None).await?;
    Ok(render(&new_patient_page(&state, &signed, &[], Vec::new())))
}

/// `POST /patients/new`: creates the patient (`App::create_patient`, idempotent per form) and opens the
/// intake's task list (or the overview, for a role that does not record the chart).
pub async fn create_patient(
    State(state): State<PagesState>,
    signed: SignedIn,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let pairs = read_pairs(&signed, &headers, &body)?;
    let text = |name: &str| typed(&pairs, name).trim().to_owned();
    let input = PatientInput {
        mrn: Some(text("mrn")).filter(|mrn| !mrn.is_empty()),
        given_name: text("given_name"),
        family_name: text("family_name"),
        birth_date: text("birth_date"),
        sex_at_birth: text("sex_at_birth"),
    };
    let key = form_key(&state, &signed, &pairs);
    let error = match state.app.create_patient(&signed.actor, &input, Some(&key)).await {
        Ok(created) => {
            let patient_id = created.resource_id;
            let to = if allows(signed.principal.role, Permission::RecordChart) {
                format!("/patients/{patient_id}/intake?saved=patient")
            } else {
                format!("/patients/{patient_id}")
            };
            return Ok(Redirect::to(&to).into_response());
        }
        Err(AppError::Invalid { field, problem }) => refusal_message(&DEMOGRAPHICS, &field, &problem),
        Err(AppError::IdempotencyKeyReused { .. }) => (
            "given_name".to_owned(),
            "This form already created a patient. Find them in the patient list, or open a new form.".to_owned(),
        ),
        Err(other) => return Err(other.into()),
    };
    let page = new_patient_page(&state, &signed, &pairs, vec![error]);
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
}

// ---------------------------------------------------------------------------------------------------
// The task list
// ---------------------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "intake.html")]
struct IntakePage {
    chrome: Chrome,
    patient_name: String,
    patient_href: String,
    saved: Option<String>,
    tasks: Vec<Task>,
    done: usize,
    evaluation_problem: Option<String>,
    /// `(what, decision)`: TRD under both definitions and eligibility per modality, as the chart stands.
    decisions: Vec<(String, String)>,
}

/// One step of the task list, with its status in words (never colour alone).
struct Task {
    code: &'static str,
    title: &'static str,
    /// `None` when the step cannot start yet.
    href: Option<String>,
    summary: String,
    problems: Vec<String>,
    status: &'static str,
    status_class: &'static str,
}

#[derive(Debug, Default, Deserialize)]
pub struct SavedQuery {
    #[serde(default)]
    saved: String,
}

/// Every `missing` list of the report (eligibility, staging, dose, C-SSRS), trials aside.
fn missing_of_report(value: &Value, inside_trials: bool, found: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            for (key, child) in object {
                if key == "missing" && !inside_trials {
                    found.extend(child.as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned));
                } else {
                    missing_of_report(child, inside_trials || key == "trials", found);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| missing_of_report(item, inside_trials, found)),
        _ => {}
    }
}

/// Each finding of the report as `(rule, summary)`, once.
fn findings_of_report(report: &Value) -> Vec<(String, String)> {
    let mut findings: Vec<(String, String)> = Vec::new();
    for decision in report["eligibility"].as_object().into_iter().flat_map(|modalities| modalities.values()) {
        for finding in decision["findings"].as_array().into_iter().flatten() {
            let entry = (value_text(&finding["rule"]), value_text(&finding["summary"]));
            if !findings.contains(&entry) {
                findings.push(entry);
            }
        }
    }
    findings
}

/// Which step a missing fact or a finding belongs to.
fn step_of_missing(missing: &str) -> Option<IntakeStep> {
    if missing.starts_with("episode.") {
        Some(IntakeStep::Episodes)
    } else if missing.contains("trial") {
        Some(IntakeStep::Trials)
    } else if missing.starts_with("patient.height") || missing.starts_with("patient.weight") {
        Some(IntakeStep::Measurements)
    } else if missing.starts_with("bp") {
        Some(IntakeStep::BloodPressures)
    } else if missing.starts_with("cssrs") || missing.starts_with("scales") {
        Some(IntakeStep::Scales)
    } else {
        None
    }
}

fn step_of_finding(rule: &str) -> Option<IntakeStep> {
    match rule {
        "PREGNANCY_UNKNOWN" => Some(IntakeStep::Measurements),
        "SUICIDE_SCREEN_REQUIRED" => Some(IntakeStep::Scales),
        "TRD_INDETERMINATE" => Some(IntakeStep::Trials),
        _ => None,
    }
}

/// What the case assembled from the chart holds for a step, in a line (empty: nothing recorded).
fn step_summary(step: IntakeStep, case: &Value) -> String {
    let list = |key: &str| -> Vec<String> {
        case[key].as_array().into_iter().flatten().map(|item| code_label(&value_text(item))).collect()
    };
    match step {
        IntakeStep::Episodes => {
            let episode = &case["episode"];
            if !episode.is_object() {
                return String::new();
            }
            let mut parts = Vec::new();
            for (key, prefix) in
                [("diagnosis", ""), ("severity", ""), ("onset_date", "onset "), ("duration_months", "months: ")]
            {
                if !episode[key].is_null() {
                    parts.push(format!("{prefix}{}", value_text(&episode[key])));
                }
            }
            if parts.is_empty() { "recorded".to_owned() } else { parts.join(", ") }
        }
        IntakeStep::History | IntakeStep::Concomitant => {
            list(if step == IntakeStep::History { "history" } else { "concomitant" }).join("; ")
        }
        IntakeStep::Trials => {
            let drugs: Vec<String> =
                case["trials"].as_array().into_iter().flatten().map(|trial| value_text(&trial["drug"])).collect();
            match drugs.len() {
                0 => String::new(),
                1 => format!("1 trial: {}", drugs[0]),
                count => format!("{count} trials: {}", drugs.join(", ")),
            }
        }
        IntakeStep::Measurements => {
            let patient = &case["patient"];
            let mut parts = Vec::new();
            for (key, unit) in [("height_cm", " cm"), ("weight_kg", " kg")] {
                if !patient[key].is_null() {
                    parts.push(format!("{}{unit}", value_text(&patient[key])));
                }
            }
            for key in ["pregnant", "breastfeeding"] {
                if !patient[key].is_null() {
                    parts.push(format!("{key}: {}", value_text(&patient[key])));
                }
            }
            parts.join(", ")
        }
        IntakeStep::BloodPressures => case["bp"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|reading| format!("{}/{} mmHg", value_text(&reading["systolic"]), value_text(&reading["diastolic"])))
            .collect::<Vec<_>>()
            .join(", "),
        IntakeStep::Scales => {
            let mut names: Vec<String> = case["scales"]
                .as_object()
                .into_iter()
                .flat_map(|scales| scales.keys())
                .map(|code| scale_definition(code).map_or_else(|| code.to_uppercase(), |scale| scale.title.to_owned()))
                .collect();
            if case["cssrs"].is_object() {
                names.push("C-SSRS screener".to_owned());
            }
            names.join(", ")
        }
    }
}

/// The task list's steps from the evaluation of the chart (its assembled case and its report).
fn tasks_of(patient_id: &str, demographics: String, case: &Value, report: &Value) -> Vec<Task> {
    let mut missing = Vec::new();
    missing_of_report(report, false, &mut missing);
    let findings = findings_of_report(report);
    let mut tasks = vec![Task {
        code: "demographics",
        title: "Demographics",
        href: Some(format!("/patients/{patient_id}")),
        summary: demographics,
        problems: Vec::new(),
        status: "Done",
        status_class: "done",
    }];
    for step in IntakeStep::ALL {
        let summary = step_summary(step, case);
        let mut problems: Vec<String> = Vec::new();
        let mut add = |problem: String| {
            if !problems.contains(&problem) {
                problems.push(problem);
            }
        };
        for fact in missing.iter().filter(|fact| step_of_missing(fact) == Some(step)) {
            add(format!("Needed for a decision: {fact}"));
        }
        for (rule, summary) in findings.iter().filter(|(rule, _)| step_of_finding(rule) == Some(step)) {
            add(format!("{summary} ({rule})"));
        }
        if step == IntakeStep::Trials {
            for trial in report["trd"]["trials"].as_array().into_iter().flatten() {
                let drug = value_text(&trial["drug"]);
                if trial["reasons"].as_array().is_some_and(|reasons| reasons.contains(&json!("UNKNOWN_DRUG"))) {
                    add(format!("{drug}: not a drug the knowledge base knows (UNKNOWN_DRUG)"));
                }
                if let Some(open) = trial["missing"].as_array().filter(|open| !open.is_empty()) {
                    add(format!("{drug}: missing {}", value_text(&Value::Array(open.clone()))));
                }
            }
        }
        let recorded = !summary.is_empty();
        let optional = matches!(step, IntakeStep::History | IntakeStep::Concomitant);
        let cannot_start = step == IntakeStep::Trials && !recorded && !case["episode"].is_object();
        let (status, status_class) = if cannot_start {
            ("Cannot start yet", "blocked")
        } else if recorded && !problems.is_empty() {
            ("Problems", "problems")
        } else if recorded {
            ("Done", "done")
        } else if optional {
            ("None recorded", "none")
        } else {
            ("To do", "todo")
        };
        if cannot_start {
            problems = vec!["Record the current episode first: each trial belongs to an episode.".to_owned()];
        }
        tasks.push(Task {
            code: step.code(),
            title: step.title(),
            href: (!cannot_start).then(|| format!("/patients/{patient_id}/intake/{}", step.code())),
            summary,
            problems,
            status,
            status_class,
        });
    }
    tasks
}

/// The decisions as the chart stands: TRD under both definitions and eligibility per modality.
fn decisions_of(report: &Value) -> Vec<(String, String)> {
    let mut decisions = vec![
        ("TRD, label definition".to_owned(), words(&value_text(&report["trd"]["label"]["status"])).to_uppercase()),
        (
            "TRD, distinct classes".to_owned(),
            words(&value_text(&report["trd"]["distinct_classes"]["status"])).to_uppercase(),
        ),
    ];
    for (modality, decision) in report["eligibility"].as_object().into_iter().flatten() {
        let name = if modality == "esketamine" { "Esketamine" } else { "IV ketamine" };
        decisions.push((format!("Eligibility, {name}"), words(&value_text(&decision["status"])).to_uppercase()));
    }
    decisions
}

/// `GET /patients/{patient_id}/intake`: the task list, for the roles that record the chart.
pub async fn intake(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path(patient_id): Path<String>,
    Query(query): Query<SavedQuery>,
) -> Result<Response, PageError> {
    let app = &state.app;
    let actor = &signed.actor;
    let resource = format!("patient/{patient_id}/chart");
    app.authorize(actor, Permission::RecordChart, "chart.create", resource, Some(&patient_id)).await?;
    let patient = app.get_patient(actor, &patient_id).await?;
    let demographics = match &patient {
        PatientView::Identified(patient) => {
            let mrn = patient.mrn.as_deref().map(|mrn| format!(", MRN {mrn}")).unwrap_or_default();
            format!("born {}, {}{mrn}", patient.birth_date, patient.sex_at_birth)
        }
        PatientView::DeIdentified(patient) => patient.sex_at_birth.clone(),
    };
    let (case, report, evaluation_problem) = match app
        .chart_evaluation(actor, &patient_id, &EvaluationQuery::default())
        .await
    {
        Ok(view) => (view.case, view.report, None),
        Err(AppError::Invalid { field, problem }) => (
            Value::Null,
            Value::Null,
            Some(format!("The chart does not make a complete case: {field} {problem}. Correct the record it names.")),
        ),
        Err(other) => return Err(other.into()),
    };
    let tasks = tasks_of(&patient_id, demographics, &case, &report);
    let saved = match query.saved.as_str() {
        "" => None,
        "patient" => Some(
            "The patient was created. Enter the chart step by step: each step says whether it is done, still to do, \
             or has problems."
                .to_owned(),
        ),
        code => IntakeStep::parse(code).ok().map(|step| format!("{}: saved.", step.title())),
    };
    let name = patient_name(&patient);
    let page = IntakePage {
        chrome: Chrome::signed_in(&format!("Intake — {name}"), "patients", &signed.principal),
        patient_href: format!("/patients/{patient_id}"),
        patient_name: name,
        saved,
        done: tasks.iter().filter(|task| task.status_class == "done").count(),
        tasks,
        decisions: if report.is_null() { Vec::new() } else { decisions_of(&report) },
        evaluation_problem,
    };
    Ok(render(&page))
}

// ---------------------------------------------------------------------------------------------------
// A step's page: what is recorded, and the form to record (or correct) one
// ---------------------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "intake_section.html")]
struct IntakeSectionPage {
    chrome: Chrome,
    csrf_token: String,
    patient_name: String,
    patient_href: String,
    intake_href: String,
    title: &'static str,
    saved: Option<&'static str>,
    records: Vec<RecordRow>,
    /// Why there is no form yet (a trial needs an episode).
    blocked: Option<String>,
    /// The rating scales' forms (the scales step).
    scale_links: Vec<(String, &'static str)>,
    form: Option<FormView>,
    drug_names: Vec<DrugNameSuggestion>,
}

struct FormView {
    heading: String,
    action: String,
    button: &'static str,
    idempotency_key: String,
    /// The record's version, for a correction.
    version: Option<i64>,
    fields: Vec<FieldView>,
    errors: Vec<(String, String)>,
}

struct RecordRow {
    recorded: String,
    details: Vec<(String, String)>,
    entered_in_error: bool,
    correct_href: Option<String>,
}

/// The active episodes as `(record id, label)`, oldest first, for a trial's episode.
fn episode_choices(records: &[ChartRecordView], zone: &jiff::tz::TimeZone) -> Vec<(String, String)> {
    records
        .iter()
        .filter(|record| record.status.as_str() == "active")
        .map(|record| {
            let data = &record.data;
            let diagnosis = data["diagnosis"].as_str().unwrap_or("episode");
            let since = match data["onset_date"].as_str() {
                Some(onset) => format!("onset {onset}"),
                None => format!("recorded {}", date_time(&record.created_at, zone)),
            };
            (record.record_id.clone(), format!("{diagnosis}, {since}"))
        })
        .collect()
}

fn record_rows(
    step: IntakeStep,
    patient_id: &str,
    records: &[ChartRecordView],
    zone: &jiff::tz::TimeZone,
) -> Vec<RecordRow> {
    let specs: &[FieldSpec] = match step {
        IntakeStep::History => &HISTORY_NEW[..1],
        IntakeStep::Concomitant => &CONCOMITANT_NEW[..1],
        other => other.new_fields(),
    };
    records
        .iter()
        .map(|record| {
            let mut details = if step == IntakeStep::Scales {
                let code = value_text(&record.data["scale"]);
                vec![
                    (
                        "Scale".to_owned(),
                        scale_definition(&code).map_or_else(|| code.to_uppercase(), |scale| scale.title.to_owned()),
                    ),
                    ("Administered on".to_owned(), value_text(&record.data["administered_on"])),
                    ("Total".to_owned(), record.total.map_or_else(|| "\u{2014}".to_owned(), |total| total.to_string())),
                ]
            } else {
                summary_of(specs, &record.data)
            };
            if matches!(step, IntakeStep::History | IntakeStep::Concomitant) {
                details.extend(summary_of(&step.correction_fields()[..1], &record.data));
                if !record.data["noted_on"].is_null() {
                    details.push(("Noted on".to_owned(), value_text(&record.data["noted_on"])));
                }
            }
            if step == IntakeStep::Trials {
                details.retain(|(label, _)| label != "Episode");
            }
            RecordRow {
                recorded: date_time(&record.created_at, zone),
                details,
                entered_in_error: record.status.as_str() == "entered_in_error",
                correct_href: (step != IntakeStep::Scales)
                    .then(|| format!("/patients/{patient_id}/intake/{}/{}", step.code(), record.record_id)),
            }
        })
        .collect()
}

/// A form as it was typed, with what was refused (`(field id, message)`).
struct TypedForm {
    pairs: Vec<(String, String)>,
    errors: Vec<(String, String)>,
}

/// What a step's page shows besides its form: the patient, the step's records, the active episodes.
struct StepData {
    patient_name: String,
    records: Vec<ChartRecordView>,
    episodes: Vec<(String, String)>,
}

async fn step_data(
    state: &PagesState,
    signed: &SignedIn,
    patient_id: &str,
    step: IntakeStep,
) -> Result<StepData, PageError> {
    let app = &state.app;
    let actor = &signed.actor;
    let resource = format!("patient/{patient_id}/chart/{}", step.code());
    app.authorize(actor, Permission::RecordChart, "chart.create", resource, Some(patient_id)).await?;
    let patient = app.get_patient(actor, patient_id).await?;
    let records = app.chart_section(actor, patient_id, step.code()).await?;
    let episodes = if step == IntakeStep::Trials {
        episode_choices(&app.chart_section(actor, patient_id, "episodes").await?, &clinic_zone(app))
    } else {
        Vec::new()
    };
    Ok(StepData { patient_name: patient_name(&patient), records, episodes })
}

/// The codes a checklist step has recorded as active (not offered again).
fn recorded_codes(step: IntakeStep, records: &[ChartRecordView]) -> Vec<String> {
    let key = match step {
        IntakeStep::History => "code",
        IntakeStep::Concomitant => "class",
        _ => return Vec::new(),
    };
    records
        .iter()
        .filter(|record| record.status.as_str() == "active")
        .filter(|record| matches!(record.data["clinical_status"].as_str(), None | Some("active")))
        .filter_map(|record| record.data[key].as_str().map(str::to_owned))
        .collect()
}

/// A step's page with its form for a new record (typed values and errors as given).
fn section_page(
    state: &PagesState,
    signed: &SignedIn,
    patient_id: &str,
    step: IntakeStep,
    data: &StepData,
    form: Option<TypedForm>,
    saved: Option<&'static str>,
) -> IntakeSectionPage {
    let zone = clinic_zone(&state.app);
    let blocked = (step == IntakeStep::Trials && data.episodes.is_empty())
        .then(|| "Record the current episode first: each trial belongs to an episode.".to_owned());
    let form = (step != IntakeStep::Scales && blocked.is_none()).then(|| {
        let TypedForm { pairs, errors } =
            form.unwrap_or_else(|| TypedForm { pairs: default_pairs(state, step, data), errors: Vec::new() });
        let context =
            FieldContext { episodes: data.episodes.clone(), recorded_codes: recorded_codes(step, &data.records) };
        FormView {
            heading: step.form_heading().to_owned(),
            action: format!("/patients/{patient_id}/intake/{}", step.code()),
            button: "Save",
            idempotency_key: form_key(state, signed, &pairs),
            version: None,
            fields: field_views(step.new_fields(), &pairs, &errors, &context),
            errors,
        }
    });
    let scale_links = if step == IntakeStep::Scales {
        SCALES.iter().map(|scale| (format!("/patients/{patient_id}/scales/{}", scale.code), scale.title)).collect()
    } else {
        Vec::new()
    };
    IntakeSectionPage {
        chrome: Chrome::signed_in(&format!("{} — {}", step.title(), data.patient_name), "patients", &signed.principal),
        csrf_token: signed.principal.csrf_token.clone().unwrap_or_default(),
        patient_name: data.patient_name.clone(),
        patient_href: format!("/patients/{patient_id}"),
        intake_href: format!("/patients/{patient_id}/intake"),
        title: step.title(),
        saved,
        records: record_rows(step, patient_id, &data.records, &zone),
        blocked,
        scale_links,
        drug_names: if step == IntakeStep::Trials { drug_name_suggestions() } else { Vec::new() },
        form,
    }
}

/// What an empty form starts with: today's date where a step is dated, the latest episode for a trial.
fn default_pairs(state: &PagesState, step: IntakeStep, data: &StepData) -> Vec<(String, String)> {
    match step {
        IntakeStep::Measurements | IntakeStep::BloodPressures => vec![("measured_on".to_owned(), today(state))],
        IntakeStep::Trials => {
            data.episodes.last().map(|(id, _)| vec![("episode_id".to_owned(), id.clone())]).unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

/// `GET /patients/{patient_id}/intake/{section}`.
pub async fn intake_section(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path((patient_id, section)): Path<(String, String)>,
    Query(query): Query<SavedQuery>,
) -> Result<Response, PageError> {
    let step = IntakeStep::parse(&section)?;
    let data = step_data(&state, &signed, &patient_id, step).await?;
    let saved = match query.saved.as_str() {
        "" => None,
        "corrected" => {
            Some("The correction was saved; the record as it was before is kept in the patient's amendments.")
        }
        _ => Some("Saved. Add another, or go back to the task list."),
    };
    Ok(render(&section_page(&state, &signed, &patient_id, step, &data, None, saved)))
}

/// `POST /patients/{patient_id}/intake/{section}`: records what the form holds through the chart's
/// use case (one record per ticked code on a checklist), then back to the task list (or to the step,
/// to add another trial or reading).
pub async fn record_intake_section(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path((patient_id, section)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let step = IntakeStep::parse(&section)?;
    if step == IntakeStep::Scales {
        return Err(PageError::NotFound { what: "form".to_owned() });
    }
    let pairs = read_pairs(&signed, &headers, &body)?;
    let key = form_key(&state, &signed, &pairs);
    let specs = step.new_fields();
    let mut record = record_of(specs, &pairs);
    let checklist = specs.iter().find(|spec| spec.kind == FieldKind::Codes);
    let records: Vec<(Map<String, Value>, String)> = match checklist {
        None => vec![(record, key.clone())],
        Some(spec) => typed_all(&pairs, spec.id)
            .into_iter()
            .map(|code| {
                record.insert(spec.id.to_owned(), json!(code));
                (record.clone(), format!("{key}-{code}"))
            })
            .collect(),
    };
    let mut error = None;
    if records.is_empty() {
        let spec = checklist.expect("only a checklist can make no record");
        let message = format!("{}: tick at least one, or go back to the task list if none applies", spec.label);
        error = Some((spec.id.to_owned(), message));
    }
    let mut saved_any = false;
    for (record, key) in &records {
        let body = Value::Object(record.clone());
        match state.app.create_chart_record(&signed.actor, &patient_id, step.code(), &body, Some(key)).await {
            Ok(_) => saved_any = true,
            Err(AppError::Invalid { field, problem } | AppError::Refused { field, problem, .. }) => {
                error = Some(refusal_message(specs, &field, &problem));
                break;
            }
            Err(AppError::IdempotencyKeyReused { .. }) => {
                let first = specs.iter().find(|spec| spec.kind != FieldKind::Episode).unwrap_or(&specs[0]);
                error = Some((
                    first.id.to_owned(),
                    "This form was already sent with other values: reload the page to start a new one.".to_owned(),
                ));
                break;
            }
            Err(other) => return Err(other.into()),
        }
    }
    let Some(error) = error else {
        let to = if step.adds_another() {
            format!("/patients/{patient_id}/intake/{}?saved=1", step.code())
        } else {
            format!("/patients/{patient_id}/intake?saved={}", step.code())
        };
        return Ok(Redirect::to(&to).into_response());
    };
    // A checklist refused part-way keeps what was saved (each code is its own record); the page lists it.
    let data = step_data(&state, &signed, &patient_id, step).await?;
    let saved = saved_any.then_some("Some were saved (listed above); the rest were not.");
    let page =
        section_page(&state, &signed, &patient_id, step, &data, Some(TypedForm { pairs, errors: vec![error] }), saved);
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
}

// ---------------------------------------------------------------------------------------------------
// Correcting a record (an amendment, with a reason)
// ---------------------------------------------------------------------------------------------------

fn correction_specs(step: IntakeStep) -> Vec<FieldSpec> {
    step.correction_fields().iter().chain(CORRECTION_FIELDS.iter()).copied().collect()
}

fn correction_page(
    state: &PagesState,
    signed: &SignedIn,
    patient_id: &str,
    step: IntakeStep,
    data: &StepData,
    record: &ChartRecordView,
    typed_form: TypedForm,
) -> IntakeSectionPage {
    let TypedForm { pairs, errors } = typed_form;
    let mut page = section_page(state, signed, patient_id, step, data, None, None);
    let zone = clinic_zone(&state.app);
    page.records = record_rows(step, patient_id, std::slice::from_ref(record), &zone);
    page.records.iter_mut().for_each(|row| row.correct_href = None);
    page.blocked = None;
    let context = FieldContext { episodes: data.episodes.clone(), recorded_codes: Vec::new() };
    page.form = Some(FormView {
        heading: format!("Correct this {}", step.record_noun()),
        action: format!("/patients/{patient_id}/intake/{}/{}", step.code(), record.record_id),
        button: "Save the correction",
        idempotency_key: String::new(),
        version: Some(record.version),
        fields: field_views(&correction_specs(step), &pairs, &errors, &context),
        errors,
    });
    page.chrome.title = format!("Correct a record — {}", data.patient_name);
    page
}

fn correctable(section: &str) -> Result<IntakeStep, PageError> {
    match IntakeStep::parse(section)? {
        IntakeStep::Scales => Err(PageError::NotFound { what: "intake step".to_owned() }),
        step => Ok(step),
    }
}

/// `GET /patients/{patient_id}/intake/{section}/{record_id}`: the record in its form, to correct.
pub async fn correction_form(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path((patient_id, section, record_id)): Path<(String, String, String)>,
) -> Result<Response, PageError> {
    let step = correctable(&section)?;
    let data = step_data(&state, &signed, &patient_id, step).await?;
    let record = state.app.chart_record(&signed.actor, &patient_id, step.code(), &record_id).await?;
    let mut pairs = pairs_of(step.correction_fields(), &record.data);
    pairs.push(("status".to_owned(), record.status.as_str().to_owned()));
    let page =
        correction_page(&state, &signed, &patient_id, step, &data, &record, TypedForm { pairs, errors: Vec::new() });
    Ok(render(&page))
}

/// `POST /patients/{patient_id}/intake/{section}/{record_id}`: the correction, through the chart's
/// amendment use case (the prior record is kept, with who, when and why).
pub async fn correct_record(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path((patient_id, section, record_id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let step = correctable(&section)?;
    let pairs = read_pairs(&signed, &headers, &body)?;
    let record = state.app.chart_record(&signed.actor, &patient_id, step.code(), &record_id).await?;
    let specs = correction_specs(step);
    let version = typed(&pairs, "version").parse::<i64>().unwrap_or(record.version);
    let changes = Value::Object(changes_of(&specs, &pairs, &record.data));
    let app = &state.app;
    let error =
        match app.amend_chart_record(&signed.actor, &patient_id, step.code(), &record_id, version, &changes).await {
            Ok(_) => {
                let to = format!("/patients/{patient_id}/intake/{}?saved=corrected", step.code());
                return Ok(Redirect::to(&to).into_response());
            }
            Err(AppError::Invalid { field, problem } | AppError::Refused { field, problem, .. }) => {
                refusal_message(&specs, &field, &problem)
            }
            Err(AppError::StaleVersion { .. }) => (
                "reason".to_owned(),
                "Someone changed this record since you opened it: the form now shows it as it is; correct it again."
                    .to_owned(),
            ),
            Err(other) => return Err(other.into()),
        };
    let data = step_data(&state, &signed, &patient_id, step).await?;
    let current = app.chart_record(&signed.actor, &patient_id, step.code(), &record_id).await?;
    let pairs = if current.version == version {
        pairs
    } else {
        let mut fresh = pairs_of(step.correction_fields(), &current.data);
        fresh.push(("status".to_owned(), current.status.as_str().to_owned()));
        fresh.push(("reason".to_owned(), typed(&pairs, "reason").to_owned()));
        fresh
    };
    let page =
        correction_page(&state, &signed, &patient_id, step, &data, &current, TypedForm { pairs, errors: vec![error] });
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
}
