//! The patient list with its search box, and the patient overview: who the patient is, the TRD
//! decisions and eligibility per modality with each finding's class, reason and source, the dose, and
//! the plans and sessions (with links). Analysts see patients de-identified (the use cases decide that),
//! and no plans or sessions. Prescribers get the plan and dose-order forms, nurses and prescribers the
//! start-a-session form (`treatment_forms.rs` handles their posts and re-renders this page when refused).
//! Prescribers also get the eligibility override form (`eligibility_overrides.rs`), and everyone who may
//! read the chart the links to the printable summary and session records (`printable_records.rs`, which
//! gathers its data with this page's functions: `patient_identity`, `chart_decisions`, `scale_results`).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use ketacare_app::policy::{Permission, allows};
use ketacare_app::{Actor, App, AppError, ChartEvaluationView, EvaluationQuery, PatientListQuery, PatientView};
use serde::Deserialize;
use serde_json::Value;

use crate::PagesState;
use crate::amendments_view::{AmendmentRow, amendment_rows};
use crate::display::{clinic_zone, date_time, value_text, words};
use crate::eligibility_overrides::{
    EligibilityOverrideForm, EligibilityOverrideView, OverrideWithdrawalForm, override_view,
};
use crate::layout::Chrome;
use crate::page_error::{PageError, render};
use crate::scale_forms::{SCALES, scale_definition};
use crate::signed_in::SignedIn;
use crate::symptom_chart::symptom_course_svg;
use crate::treatment_forms::{ORDER_MODALITIES, OrderForm, PLAN_TEMPLATES, PlanForm, StartForm, plan_template_label};

/// How many patients one page of the list shows.
const PATIENT_PAGE_SIZE: i64 = 50;

#[derive(Template)]
#[template(path = "patients.html")]
struct PatientListPage {
    chrome: Chrome,
    query: String,
    de_identified: bool,
    total: i64,
    rows: Vec<PatientRow>,
    /// The search box's refusal (an analyst searching by name, say), shown under the box.
    search_error: Option<String>,
    /// A hint when nothing was found for a date written another way than `YYYY-MM-DD`.
    date_hint: bool,
    /// The role may create patients (the intake's first step).
    may_create: bool,
}

struct PatientRow {
    href: String,
    name: String,
    mrn: String,
    birth: String,
    sex: String,
    pseudonym: String,
    status: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

fn patient_row(view: &PatientView) -> PatientRow {
    match view {
        PatientView::Identified(patient) => PatientRow {
            href: format!("/patients/{}", patient.patient_id),
            name: format!("{}, {}", patient.family_name, patient.given_name),
            mrn: patient.mrn.clone().unwrap_or_default(),
            birth: patient.birth_date.clone(),
            sex: patient.sex_at_birth.clone(),
            pseudonym: patient.pseudonym.clone(),
            status: words(patient.status.as_str()),
        },
        PatientView::DeIdentified(patient) => PatientRow {
            href: format!("/patients/{}", patient.patient_id),
            name: patient.pseudonym.clone(),
            mrn: String::new(),
            birth: patient.birth_year.map_or_else(|| "90 or over".to_owned(), |year| year.to_string()),
            sex: patient.sex_at_birth.clone(),
            pseudonym: patient.pseudonym.clone(),
            status: words(patient.status.as_str()),
        },
    }
}

/// Whether a search looks like a date of birth written day or month first (`31/01/1980`, `1.31.1980`):
/// the search takes `YYYY-MM-DD` only, since the other orders are ambiguous between clinics.
fn looks_like_another_date_order(query: &str) -> bool {
    let parts: Vec<&str> = query.split(['/', '.', '-']).collect();
    parts.len() == 3
        && parts.iter().all(|part| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit()))
        && parts[0].len() <= 2
        && parts[1].len() <= 2
        && parts[2].len() == 4
}

/// `GET /patients?q=`: search by name, MRN, pseudonym or date of birth (`YYYY-MM-DD`; analysts:
/// pseudonym only), as the API's list.
pub async fn patient_list(
    State(state): State<PagesState>,
    signed: SignedIn,
    Query(search): Query<SearchQuery>,
) -> Result<Response, PageError> {
    let query = search.q.trim().to_owned();
    let list_query = PatientListQuery {
        q: (!query.is_empty()).then(|| query.clone()),
        limit: Some(PATIENT_PAGE_SIZE),
        ..PatientListQuery::default()
    };
    let (rows, total, search_error) = match state.app.list_patients(&signed.actor, &list_query).await {
        Ok(list) => (list.patients.iter().map(patient_row).collect(), list.total, None),
        Err(AppError::Invalid { problem, .. }) => (Vec::new(), 0, Some(format!("The search {problem}."))),
        Err(other) => return Err(other.into()),
    };
    let de_identified = ketacare_app::policy::de_identified_only(signed.principal.role);
    let page = PatientListPage {
        chrome: Chrome::signed_in("Patients", "patients", &signed.principal),
        date_hint: !de_identified && total == 0 && looks_like_another_date_order(&query),
        may_create: allows(signed.principal.role, Permission::CreatePatients),
        query,
        de_identified,
        total,
        rows,
        search_error,
    };
    Ok(render(&page))
}

#[derive(Template)]
#[template(path = "patient.html")]
pub struct PatientOverviewPage {
    chrome: Chrome,
    heading: String,
    identity: Vec<(String, String)>,
    de_identified: bool,
    evaluation: Option<Evaluation>,
    evaluation_problem: Option<String>,
    /// `None` when the role may not read plans or sessions.
    plans: Option<Vec<PlanItem>>,
    sessions: Option<Vec<SessionItem>>,
    orders: Option<Vec<OrderItem>>,
    /// The rating scales: the symptom chart, the results, and the forms to record one.
    scales: Option<ScalesView>,
    patient_id: String,
    /// What was just saved, for the notice at the top.
    saved: Option<&'static str>,
    csrf_token: String,
    time_zone: String,
    /// The forms, each shown only to the roles whose use case takes it.
    plan_form: Option<PlanFormView>,
    order_form: Option<OrderFormView>,
    start_form: Option<StartFormView>,
    /// The corrections of the patient's records, newest first (`None`: the role may not read them).
    amendments: Option<Vec<AmendmentRow>>,
    /// The intake's task list, for the roles that record the chart.
    intake_href: Option<String>,
    /// The prescriber's eligibility override form (its own section of the page).
    override_form: Option<EligibilityOverrideView>,
    /// The printable summary and each session's printable record, for the roles that read the chart.
    print_links: Option<Vec<(String, String)>>,
    /// The patient's consents page (informed consent the pre-dose gate reads), for the roles that read it.
    consent_href: Option<String>,
    /// The patient's self-report links with their status (`None`: the role may not read the chart).
    self_reports: Option<SelfReportsView>,
}

/// The self-report links section: the links made, and the form to make one (the roles that record the chart).
pub struct SelfReportsView {
    links: Vec<SelfReportLinkItem>,
    can_create: bool,
    scales: Vec<(&'static str, &'static str)>,
}

struct SelfReportLinkItem {
    scale: String,
    status: &'static str,
    created: String,
    expires: String,
    used: String,
    alert: &'static str,
}

/// One option of a select, with whether it is chosen.
struct SelectOption {
    value: String,
    label: String,
    selected: bool,
}

fn options(choices: impl IntoIterator<Item = (String, String)>, chosen: &str) -> Vec<SelectOption> {
    choices.into_iter().map(|(value, label)| SelectOption { selected: value == chosen, value, label }).collect()
}

struct PlanFormView {
    form: PlanForm,
    templates: Vec<SelectOption>,
}

struct OrderFormView {
    form: OrderForm,
    modalities: Vec<SelectOption>,
    plans: Vec<SelectOption>,
}

struct StartFormView {
    form: StartForm,
    slots: Vec<SelectOption>,
    orders: Vec<SelectOption>,
}

struct ScalesView {
    chart_svg: String,
    results: Vec<ScaleResultRow>,
    /// `(href, title)` of each scale's form, for the roles that record the chart.
    record_links: Vec<(String, &'static str)>,
}

pub struct ScaleResultRow {
    pub administered_on: String,
    pub scale: String,
    pub total: String,
    pub entered_in_error: bool,
}

struct OrderItem {
    signed_at: String,
    modality: String,
    dose: String,
    status: String,
}

/// The overview's forms as they come back refused (the others are shown empty), and what was saved.
#[derive(Debug, Default)]
pub struct OverviewForms {
    pub plan: Option<PlanForm>,
    pub order: Option<OrderForm>,
    pub start: Option<StartForm>,
    pub eligibility_override: Option<EligibilityOverrideForm>,
    pub override_withdrawal: Option<OverrideWithdrawalForm>,
    pub saved: Option<&'static str>,
}

#[derive(Debug, Default, Deserialize)]
pub struct OverviewQuery {
    #[serde(default)]
    saved: String,
}

/// The decisions on the chart as the overview and the printable summary show them.
pub struct Evaluation {
    pub as_of: String,
    pub provenance: String,
    pub rules_version: String,
    pub protocol_sha256: String,
    /// The current episode: diagnosis, onset or duration, severity, psychotic features, ECT.
    pub diagnosis: Vec<(String, String)>,
    pub trd: Vec<(String, String, String)>,
    pub trials: Vec<TrialRow>,
    pub staging: Vec<(String, String)>,
    pub modalities: Vec<ModalityEligibility>,
    pub doses: Vec<(String, String)>,
}

pub struct TrialRow {
    pub drug: String,
    pub class: String,
    pub adequate: String,
    pub failed: String,
    pub reasons: String,
    /// As charted: daily dose, weeks, adherence, improvement, role, why it stopped.
    pub daily_dose: String,
    pub weeks: String,
    pub adherence: String,
    pub improvement: String,
    pub role: String,
    pub stop_reason: String,
}

pub struct ModalityEligibility {
    pub name: String,
    pub status: String,
    pub status_class: &'static str,
    pub findings: Vec<FindingRow>,
    pub missing: String,
}

pub struct FindingRow {
    pub class: String,
    /// The engine's class (`absolute`, `blocking_relative`, `warning`).
    pub class_code: String,
    pub rule: String,
    pub reason: String,
    pub source: String,
    /// Who overrode the finding and why (`demo.prescriber: reason`), empty when no one has; named by
    /// [`name_the_overriders`] once the evaluation is read.
    pub overridden_by: String,
    /// The id of the prescriber who overrode it (de-identified views: empty) and their reason.
    pub overridden_by_user_id: String,
    pub override_reason: String,
}

struct PlanItem {
    title: String,
    status: String,
    slots: Vec<SlotRow>,
    /// The course on every scale: the status and recommendation, the scale that decided, and each
    /// scale's own status beside it (`None` without scale results).
    course: Option<CourseSummary>,
    /// The measurement plan's adherence: done, missed and not applicable, and the percent.
    adherence: String,
}

struct CourseSummary {
    status: String,
    recommendation: String,
    decided: String,
    scales: Vec<String>,
}

/// The scale's name as clinicians write it, from its code.
fn scale_title(code: &str) -> &str {
    match code {
        "madrs" => "MADRS",
        "phq9" => "PHQ-9",
        "qids_sr16" => "QIDS-SR16",
        "hamd17" => "HAM-D17",
        other => other,
    }
}

/// The plan report's course as the overview words it.
fn course_summary(course: &Value) -> Option<CourseSummary> {
    if course.is_null() {
        return None;
    }
    let primary = scale_title(course["primary_scale"].as_str().unwrap_or_default()).to_owned();
    let decided = match course["decided_by"].as_str() {
        Some(code) if course["decided_by"] == course["primary_scale"] => {
            format!("decided on {}, the primary scale", scale_title(code))
        }
        Some(code) => format!("decided on {}: the primary scale {primary} has not what it needs", scale_title(code)),
        None => format!("no scale has what it needs yet: {}", value_text(&course["missing"])),
    };
    let scales = course["scales"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|scale| {
            let latest = match (scale["latest"]["total"].as_u64(), scale["latest"]["date"].as_str()) {
                (Some(total), Some(date)) => format!(", latest {total} on {date}"),
                _ => String::new(),
            };
            format!(
                "{}: {}{latest}",
                scale_title(scale["scale"].as_str().unwrap_or_default()),
                words(scale["status"].as_str().unwrap_or_default())
            )
        })
        .collect();
    Some(CourseSummary {
        status: words(course["status"].as_str().unwrap_or_default()),
        recommendation: words(course["recommendation"].as_str().unwrap_or_default()),
        decided,
        scales,
    })
}

/// The measurement plan's adherence as the overview words it.
fn adherence_text(adherence: &Value) -> String {
    let count = |key: &str| adherence[key].as_u64().unwrap_or(0);
    let percent =
        adherence["percent"].as_u64().map_or_else(|| "not yet counted".to_owned(), |percent| format!("{percent} %"));
    format!(
        "Measurement plan adherence {percent}: {} done, {} missed, {} not applicable",
        count("done"),
        count("missed"),
        count("not_applicable")
    )
}

struct SlotRow {
    number: String,
    planned_at: String,
    step: String,
    status: String,
    session_href: Option<String>,
}

struct SessionItem {
    href: String,
    planned_at: String,
    modality: String,
    stage: String,
    status: String,
    observations: i64,
}

fn modality_name(code: &str) -> String {
    match code {
        "iv_ketamine" | "iv_racemic_ketamine" => "IV racemic ketamine".to_owned(),
        "esketamine" => "Esketamine nasal spray".to_owned(),
        other => words(other),
    }
}

fn status_class(status: &str) -> &'static str {
    match status {
        "eligible" | "met" => "status-good",
        "ineligible" | "not_met" => "status-bad",
        _ => "status-unsure",
    }
}

/// A charted value as text, or nothing when it is not charted.
fn charted(value: &Value, unit: &str) -> String {
    if value.is_null() { String::new() } else { format!("{}{unit}", value_text(value)) }
}

/// The decisions of a chart evaluation, with what the chart says of the episode and each trial.
fn evaluation_of(view: &ChartEvaluationView) -> Evaluation {
    let report = &view.report;
    let case = &view.case;
    let trd = &report["trd"];
    let trd_rows = vec![
        (
            "TRD, label definition (2 or more failed agents)".to_owned(),
            words(&value_text(&trd["label"]["status"])).to_uppercase(),
            format!("failed: {}", value_text(&trd["label"]["failed_agents"])),
        ),
        (
            "TRD, distinct classes (failures in 2 or more classes)".to_owned(),
            words(&value_text(&trd["distinct_classes"]["status"])).to_uppercase(),
            format!("classes: {}", value_text(&trd["distinct_classes"]["classes"])),
        ),
    ];
    let case_trials = case["trials"].as_array().cloned().unwrap_or_default();
    let trials = trd["trials"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(index, trial)| {
            // The report judges the case's trials in order; the charted details go with the same drug.
            let charted_trial = case_trials.get(index).filter(|charted| charted["drug"] == trial["drug"]);
            let detail =
                |key: &str, unit: &str| charted_trial.map(|trial| charted(&trial[key], unit)).unwrap_or_default();
            TrialRow {
                daily_dose: detail("daily_dose_mg", " mg/day"),
                weeks: detail("weeks", " weeks"),
                adherence: detail("adherence", ""),
                improvement: detail("improvement_pct", " %"),
                role: detail("role", ""),
                stop_reason: detail("stop_reason", ""),
                drug: value_text(&trial["drug"]),
                class: value_text(&trial["class"]),
                adequate: value_text(&trial["adequate"]),
                failed: value_text(&trial["failed"]),
                reasons: match (trial["reasons"].as_array(), trial["missing"].as_array()) {
                    (Some(reasons), _) if !reasons.is_empty() => value_text(&trial["reasons"]),
                    (_, Some(missing)) if !missing.is_empty() => format!("missing: {}", value_text(&trial["missing"])),
                    _ => String::new(),
                },
            }
        })
        .collect();
    let episode = &case["episode"];
    let mut diagnosis = Vec::new();
    if episode.is_object() {
        diagnosis.push(("Diagnosis (ICD-10-CM)".to_owned(), value_text(&episode["diagnosis"])));
        if !episode["onset_date"].is_null() {
            diagnosis.push(("Episode onset".to_owned(), value_text(&episode["onset_date"])));
        }
        if !episode["duration_months"].is_null() {
            diagnosis
                .push(("Episode duration".to_owned(), format!("{} months", value_text(&episode["duration_months"]))));
        }
        diagnosis.push(("Severity".to_owned(), value_text(&episode["severity"])));
        diagnosis.push(("Psychotic features".to_owned(), value_text(&episode["psychotic_features"])));
    }
    if case["ect"].is_object() {
        diagnosis.push(("Failed ECT courses".to_owned(), value_text(&case["ect"]["failed_courses"])));
    }
    let staging = &report["staging"];
    let staging_rows = vec![
        (
            "Maudsley staging (MSM)".to_owned(),
            format!("{} ({})", value_text(&staging["msm"]["score"]), value_text(&staging["msm"]["band"])),
        ),
        ("Thase–Rush stage".to_owned(), value_text(&staging["thase_rush"]["stage"])),
        ("MGH-s score".to_owned(), value_text(&staging["mgh_s"]["score"])),
    ];
    let modalities = report["eligibility"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(modality, decision)| {
            let status = value_text(&decision["status"]);
            ModalityEligibility {
                name: modality_name(modality),
                status_class: status_class(&status),
                status: words(&status).to_uppercase(),
                findings: decision["findings"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|finding| FindingRow {
                        class: words(&value_text(&finding["class"])),
                        class_code: value_text(&finding["class"]),
                        rule: value_text(&finding["rule"]),
                        reason: value_text(&finding["summary"]),
                        source: value_text(&finding["source"]),
                        overridden_by: match &finding["overridden_by"] {
                            Value::Null => String::new(),
                            // De-identified: the override shows, without who or why.
                            recorded => match recorded["reason"].as_str() {
                                Some(reason) => format!("a prescriber: {reason}"),
                                None => "a prescriber".to_owned(),
                            },
                        },
                        overridden_by_user_id: finding["overridden_by"]["by"].as_str().unwrap_or_default().to_owned(),
                        override_reason: finding["overridden_by"]["reason"].as_str().unwrap_or_default().to_owned(),
                    })
                    .collect(),
                missing: match decision["missing"].as_array() {
                    Some(missing) if !missing.is_empty() => value_text(&decision["missing"]),
                    _ => String::new(),
                },
            }
        })
        .collect();
    let dose = &report["dose"];
    let mut doses = Vec::new();
    if dose["esketamine"].is_object() {
        let esketamine = &dose["esketamine"];
        let text = match esketamine["day1_mg"] {
            Value::Null => words(&value_text(&esketamine["status"])),
            ref mg => format!("{} mg on day 1", value_text(mg)),
        };
        doses.push(("Esketamine".to_owned(), text));
    }
    if dose["iv_ketamine"].is_object() {
        let iv = &dose["iv_ketamine"];
        let text = match iv["dose_mg"] {
            Value::Null => words(&value_text(&iv["status"])),
            ref mg => format!(
                "{} mg ({} mg/kg × {} kg {} weight) over {} min = {} mg/min; pump {} mL/h",
                value_text(mg),
                value_text(&iv["mg_per_kg"]),
                value_text(&iv["basis_kg"]),
                value_text(&iv["basis"]),
                value_text(&iv["duration_min"]),
                value_text(&iv["rate_mg_per_min"]),
                value_text(&iv["pump_rate_ml_per_h"]),
            ),
        };
        doses.push(("IV ketamine".to_owned(), text));
    }
    Evaluation {
        as_of: view.as_of.clone(),
        provenance: format!(
            "{}, site protocol SHA-256 {}…",
            view.rules_version,
            view.protocol_sha256.get(..12).unwrap_or_default()
        ),
        rules_version: view.rules_version.clone(),
        protocol_sha256: view.protocol_sha256.clone(),
        diagnosis,
        trd: trd_rows,
        trials,
        staging: staging_rows,
        modalities,
        doses,
    }
}

/// The overview's heading, the identity lines and whether the view is de-identified.
pub fn patient_identity(patient: &PatientView) -> (String, Vec<(String, String)>, bool) {
    match patient {
        PatientView::Identified(patient) => (
            format!("{} {}", patient.given_name, patient.family_name),
            vec![
                ("MRN".to_owned(), patient.mrn.clone().unwrap_or_else(|| "\u{2014}".to_owned())),
                ("Born".to_owned(), patient.birth_date.clone()),
                ("Sex at birth".to_owned(), patient.sex_at_birth.clone()),
                ("Pseudonym".to_owned(), patient.pseudonym.clone()),
                ("Record".to_owned(), words(patient.status.as_str())),
            ],
            false,
        ),
        PatientView::DeIdentified(patient) => (
            patient.pseudonym.clone(),
            vec![
                (
                    "Birth year".to_owned(),
                    patient.birth_year.map_or_else(|| "90 or over".to_owned(), |year| year.to_string()),
                ),
                ("Sex at birth".to_owned(), patient.sex_at_birth.clone()),
            ],
            true,
        ),
    }
}

/// The decisions on the chart now (`App::chart_evaluation`, as the API's `GET …/evaluation`), or why the
/// chart does not yet make a case.
pub async fn chart_decisions(
    app: &App,
    actor: &Actor,
    patient_id: &str,
) -> Result<(Option<Evaluation>, Option<String>), PageError> {
    match app.chart_evaluation(actor, patient_id, &EvaluationQuery::default()).await {
        Ok(view) => Ok((Some(evaluation_of(&view)), None)),
        Err(AppError::Invalid { field, problem }) => {
            Ok((None, Some(format!("The chart does not yet make a complete case: {field} {problem}."))))
        }
        Err(other) => Err(other.into()),
    }
}

/// Names the prescriber of each override in the decisions (`App::user_names`): the overview and the
/// printed summary say who decided to proceed, not an account id.
pub async fn name_the_overriders(
    app: &App,
    signed: &SignedIn,
    evaluation: Option<&mut Evaluation>,
) -> Result<(), PageError> {
    let Some(evaluation) = evaluation else { return Ok(()) };
    let findings = || evaluation.modalities.iter().flat_map(|modality| modality.findings.iter());
    let mut user_ids: Vec<String> = findings()
        .filter(|finding| !finding.overridden_by_user_id.is_empty())
        .map(|finding| finding.overridden_by_user_id.clone())
        .collect();
    if user_ids.is_empty() {
        return Ok(());
    }
    user_ids.sort();
    user_ids.dedup();
    let names = app.user_names(&signed.actor, &user_ids).await?;
    for finding in evaluation.modalities.iter_mut().flat_map(|modality| modality.findings.iter_mut()) {
        if finding.overridden_by_user_id.is_empty() {
            continue;
        }
        let id = &finding.overridden_by_user_id;
        let name = names.get(id).cloned().unwrap_or_else(|| format!("user {}", id.get(..8).unwrap_or(id)));
        finding.overridden_by = format!("{name}: {}", finding.override_reason);
    }
    Ok(())
}

/// The chart's rating-scale results, newest first (`App::chart_section` of `scales`).
pub async fn scale_results(app: &App, actor: &Actor, patient_id: &str) -> Result<Vec<ScaleResultRow>, PageError> {
    Ok(app
        .chart_section(actor, patient_id, "scales")
        .await?
        .iter()
        .rev()
        .map(|record| {
            let code = value_text(&record.data["scale"]);
            ScaleResultRow {
                administered_on: value_text(&record.data["administered_on"]),
                scale: scale_definition(&code).map_or_else(|| code.to_uppercase(), |scale| scale.title.to_owned()),
                total: record.total.map_or_else(|| "\u{2014}".to_owned(), |total| total.to_string()),
                entered_in_error: record.status.as_str() == "entered_in_error",
            }
        })
        .collect())
}

/// `GET /patients/{patient_id}`.
pub async fn patient_overview(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path(patient_id): Path<String>,
    Query(query): Query<OverviewQuery>,
) -> Result<Response, PageError> {
    let saved = match query.saved.as_str() {
        "plan" => Some("The plan was prescribed; its schedule is under Plans."),
        "order" => Some("The dose order was signed; it is under Dose orders."),
        "scale" => Some("The rating scale was saved; its total is under Rating scales."),
        "override" => Some("The override was recorded and the chart decided again: the finding shows who overrode it."),
        "override-withdrawn" => Some(
            "The override was withdrawn and the chart decided again: the finding holds eligibility once more; the withdrawal is under Amendments.",
        ),
        _ => None,
    };
    let page = overview_page(&state, &signed, &patient_id, OverviewForms { saved, ..OverviewForms::default() }).await?;
    Ok(render(&page))
}

/// What an order prescribes, in a line: `56 mg (2 × 28 mg)` or `27.5 mg (0.5 mg/kg) over 40 min`.
fn order_dose_text(order: &Value) -> String {
    if order["device_count"].is_null() {
        format!(
            "{} mg ({} mg/kg, {} weight {} kg) over {} min; pump {} mL/h",
            value_text(&order["dose_mg"]),
            value_text(&order["mg_per_kg"]),
            value_text(&order["basis"]),
            value_text(&order["basis_kg"]),
            value_text(&order["infusion_min"]),
            value_text(&order["pump_rate_ml_per_h"]),
        )
    } else {
        format!(
            "{} mg ({} × {} mg devices)",
            value_text(&order["dose_mg"]),
            value_text(&order["device_count"]),
            value_text(&order["device_mg"])
        )
    }
}

/// The overview with its forms as given (refused ones keep what was typed, with their errors).
pub async fn overview_page(
    state: &PagesState,
    signed: &SignedIn,
    patient_id: &str,
    forms: OverviewForms,
) -> Result<PatientOverviewPage, PageError> {
    let patient_id = patient_id.to_owned();
    let app = &state.app;
    let actor = &signed.actor;
    let zone = clinic_zone(app);
    let patient = app.get_patient(actor, &patient_id).await?;
    let (heading, identity, de_identified) = patient_identity(&patient);
    let role = signed.principal.role;
    let (may_read_plans, may_read_sessions) =
        (allows(role, Permission::ReadPlans), allows(role, Permission::ReadSessions));
    let may_read_scales = allows(role, Permission::ReadChart) && may_read_sessions;
    // The page's reads do not depend on one another: awaited together, not one after another (each is
    // its own use case, checked and audited as it would be alone). Bench: bench/pages_load.sh.
    let (decisions, plan_views, order_views, session_views, scale_views, amendment_views, override_records) = tokio::try_join!(
        chart_decisions(app, actor, &patient_id),
        async { Ok::<_, PageError>(if may_read_plans { app.plans(actor, &patient_id).await? } else { Vec::new() }) },
        async {
            Ok::<_, PageError>(if may_read_sessions { app.orders(actor, &patient_id).await? } else { Vec::new() })
        },
        async {
            Ok::<_, PageError>(if may_read_sessions { Some(app.sessions(actor, &patient_id).await?) } else { None })
        },
        async {
            if !may_read_scales {
                return Ok::<_, PageError>(None);
            }
            let (course, results) = tokio::try_join!(
                async { Ok::<_, PageError>(app.symptom_course(actor, &patient_id).await?) },
                scale_results(app, actor, &patient_id)
            )?;
            Ok(Some((course, results)))
        },
        async {
            Ok::<_, PageError>(if allows(role, Permission::ReadAssessments) {
                Some(app.patient_amendments(actor, &patient_id).await?)
            } else {
                None
            })
        },
        // The overrides in effect, each withdrawable: for the prescribers who record them.
        async {
            Ok::<_, PageError>(if allows(role, Permission::RecordOverrides) {
                app.chart_section(actor, &patient_id, "overrides").await?
            } else {
                Vec::new()
            })
        },
    )?;
    let (mut evaluation, evaluation_problem) = decisions;
    name_the_overriders(app, signed, evaluation.as_mut()).await?;
    let plans = if allows(role, Permission::ReadPlans) {
        let plans = &plan_views;
        Some(
            plans
                .iter()
                .map(|plan| PlanItem {
                    title: plan_template_label(&value_text(&plan.plan["template"])),
                    status: words(&plan.status),
                    slots: plan
                        .scheduled_sessions
                        .iter()
                        .map(|slot| SlotRow {
                            number: slot.session_number.map_or_else(String::new, |number| number.to_string()),
                            planned_at: date_time(&slot.planned_at, &zone),
                            step: slot.step.clone(),
                            status: words(&slot.status),
                            session_href: slot
                                .treatment_session_id
                                .as_ref()
                                .map(|session_id| format!("/patients/{patient_id}/sessions/{session_id}")),
                        })
                        .collect(),
                    course: course_summary(&plan.report["course"]),
                    adherence: adherence_text(&plan.report["measurement_adherence"]),
                })
                .collect(),
        )
    } else {
        None
    };
    let sessions = session_views.map(|sessions| {
        sessions
            .iter()
            .map(|session| SessionItem {
                href: format!("/patients/{patient_id}/sessions/{}", session.session_id),
                planned_at: date_time(session.planned_at.as_str().unwrap_or_default(), &zone),
                modality: modality_name(&session.modality),
                stage: words(session.stage.as_str()),
                status: words(&session.status),
                observations: session.observation_count,
            })
            .collect()
    });
    let orders = allows(role, Permission::ReadSessions).then(|| {
        order_views
            .iter()
            .map(|order| OrderItem {
                signed_at: date_time(&order.signed_at, &zone),
                modality: modality_name(&order.modality),
                dose: order_dose_text(&order.order),
                status: words(&order.status),
            })
            .collect()
    });
    let self_reports = if allows(role, Permission::ReadChart) && !de_identified {
        let links = app.self_report_links(actor, &patient_id).await?;
        Some(SelfReportsView {
            links: links
                .iter()
                .map(|link| SelfReportLinkItem {
                    scale: link.scale.replace("phq9", "PHQ-9").replace("gad7", "GAD-7"),
                    status: link.status.as_str(),
                    created: date_time(&link.created_at, &zone),
                    expires: date_time(&link.expires_at, &zone),
                    used: link.used_at.as_deref().map(|at| date_time(at, &zone)).unwrap_or_default(),
                    alert: match (link.suicidality_alert, link.alert_acknowledged_at.is_some()) {
                        (true, false) => "CRITICAL: item 9 positive, not acknowledged",
                        (true, true) => "item 9 positive, acknowledged",
                        _ => "",
                    },
                })
                .collect(),
            can_create: allows(role, Permission::RecordChart),
            scales: ketacare_app::SELF_REPORT_SCALES
                .iter()
                .map(|(code, _)| (*code, scale_definition(code).map_or(*code, |scale| scale.title)))
                .collect(),
        })
    } else {
        None
    };
    let scales = if let Some((course, results)) = scale_views {
        let record_links = if allows(role, Permission::RecordChart) {
            SCALES.iter().map(|scale| (format!("/patients/{patient_id}/scales/{}", scale.code), scale.title)).collect()
        } else {
            Vec::new()
        };
        Some(ScalesView { chart_svg: symptom_course_svg(&course), results, record_links })
    } else {
        None
    };
    let active_plans: Vec<(String, String)> = plan_views
        .iter()
        .filter(|plan| plan.status == "active")
        .map(|plan| {
            let first = plan.scheduled_sessions.first().map(|slot| date_time(&slot.planned_at, &zone));
            let label = format!(
                "{}, from {}",
                plan_template_label(&value_text(&plan.plan["template"])),
                first.unwrap_or_else(|| "\u{2014}".to_owned())
            );
            (plan.plan_id.clone(), label)
        })
        .collect();
    let plan_form = allows(role, Permission::PrescribePlans).then(|| {
        let form = forms.plan.unwrap_or_default();
        let templates = options(
            PLAN_TEMPLATES.iter().map(|(value, label)| ((*value).to_owned(), (*label).to_owned())),
            &form.template,
        );
        PlanFormView { form, templates }
    });
    let order_form = allows(role, Permission::PrescribeDoses).then(|| {
        let form = forms.order.unwrap_or_default();
        let modalities = options(
            ORDER_MODALITIES.iter().map(|(value, label)| ((*value).to_owned(), (*label).to_owned())),
            &form.modality,
        );
        let plans = options(active_plans.iter().cloned(), &form.plan_id);
        OrderFormView { form, modalities, plans }
    });
    let start_form = allows(role, Permission::RunSessions).then(|| {
        let form = forms.start.unwrap_or_default();
        let open_slots = plan_views.iter().filter(|plan| plan.status == "active").flat_map(|plan| {
            let template = plan_template_label(&value_text(&plan.plan["template"]));
            let zone = &zone;
            plan.scheduled_sessions
                .iter()
                .filter(|slot| slot.status == "scheduled" && slot.treatment_session_id.is_none())
                .map(move |slot| {
                    let number = slot.session_number.map_or_else(String::new, |number| format!("session {number}, "));
                    (
                        format!("{}/{}", plan.plan_id, slot.position),
                        format!("{template}: {number}{} ({})", date_time(&slot.planned_at, zone), slot.step),
                    )
                })
        });
        let slots = options(open_slots.collect::<Vec<_>>(), &form.slot);
        let orders = options(
            order_views.iter().filter(|order| order.status == "active").map(|order| {
                (
                    order.order_id.clone(),
                    format!(
                        "{}: {}, signed {}",
                        modality_name(&order.modality),
                        order_dose_text(&order.order),
                        date_time(&order.signed_at, &zone)
                    ),
                )
            }),
            &form.order_id,
        );
        StartFormView { form, slots, orders }
    });
    let amendments = amendment_views.map(|amendments| amendment_rows(&amendments, &signed.principal.user_id, &zone));
    let override_form = override_view(
        role,
        &patient_id,
        evaluation.as_ref(),
        forms.eligibility_override,
        &override_records,
        forms.override_withdrawal,
        &zone,
    );
    let consent_href = allows(role, Permission::ReadConsents).then(|| format!("/patients/{patient_id}/consents"));
    let print_links = allows(role, Permission::ReadChart).then(|| {
        let mut links = vec![(
            format!("/patients/{patient_id}/summary"),
            "Summary for prior authorisation (TRD, trials, staging, scales, decision)".to_owned(),
        )];
        for session in sessions.iter().flatten() {
            let session: &SessionItem = session;
            links.push((
                format!("{}/record", session.href),
                format!("Session record: {} ({})", session.planned_at, session.modality),
            ));
        }
        links
    });
    Ok(PatientOverviewPage {
        amendments,
        intake_href: allows(role, Permission::RecordChart).then(|| format!("/patients/{patient_id}/intake")),
        chrome: Chrome::signed_in(&heading, "patients", &signed.principal),
        heading,
        identity,
        de_identified,
        evaluation,
        evaluation_problem,
        plans,
        sessions,
        orders,
        scales,
        patient_id: patient_id.clone(),
        saved: forms.saved,
        csrf_token: signed.principal.csrf_token.clone().unwrap_or_default(),
        time_zone: app.clinic_time_zone().to_owned(),
        plan_form,
        order_form,
        start_form,
        override_form,
        print_links,
        consent_href,
        self_reports,
    })
}
