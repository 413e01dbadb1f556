//! The patient list with its search box, and the patient overview: who the patient is, the TRD
//! decisions and eligibility per modality with each finding's class, reason and source, the dose, and
//! the plans and sessions (with links). Analysts see patients de-identified (the use cases decide that),
//! and no plans or sessions.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use ketacare_app::policy::{Permission, allows};
use ketacare_app::{AppError, EvaluationQuery, PatientListQuery, PatientView};
use serde::Deserialize;
use serde_json::Value;

use crate::PagesState;
use crate::display::{clinic_zone, date_time, value_text, words};
use crate::layout::Chrome;
use crate::page_error::{PageError, render};
use crate::signed_in::SignedIn;

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

/// `GET /patients?q=`: search by name, MRN or pseudonym (analysts: pseudonym only), as the API's list.
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
    let page = PatientListPage {
        chrome: Chrome::signed_in("Patients", "patients", &signed.principal),
        query,
        de_identified: ketacare_app::policy::de_identified_only(signed.principal.role),
        total,
        rows,
        search_error,
    };
    Ok(render(&page))
}

#[derive(Template)]
#[template(path = "patient.html")]
struct PatientOverviewPage {
    chrome: Chrome,
    heading: String,
    identity: Vec<(String, String)>,
    de_identified: bool,
    evaluation: Option<Evaluation>,
    evaluation_problem: Option<String>,
    /// `None` when the role may not read plans or sessions.
    plans: Option<Vec<PlanItem>>,
    sessions: Option<Vec<SessionItem>>,
}

struct Evaluation {
    as_of: String,
    provenance: String,
    trd: Vec<(String, String, String)>,
    trials: Vec<TrialRow>,
    staging: Vec<(String, String)>,
    modalities: Vec<ModalityEligibility>,
    doses: Vec<(String, String)>,
}

struct TrialRow {
    drug: String,
    class: String,
    adequate: String,
    failed: String,
    reasons: String,
}

struct ModalityEligibility {
    name: String,
    status: String,
    status_class: &'static str,
    findings: Vec<FindingRow>,
    missing: String,
}

struct FindingRow {
    class: String,
    rule: String,
    reason: String,
    source: String,
    overridden_by: String,
}

struct PlanItem {
    title: String,
    status: String,
    slots: Vec<SlotRow>,
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
        "iv_ketamine" => "IV racemic ketamine".to_owned(),
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

fn evaluation_of(report: &Value, view_as_of: &str, rules_version: &str, protocol_sha256: &str) -> Evaluation {
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
    let trials = trd["trials"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|trial| TrialRow {
            drug: value_text(&trial["drug"]),
            class: value_text(&trial["class"]),
            adequate: value_text(&trial["adequate"]),
            failed: value_text(&trial["failed"]),
            reasons: match (trial["reasons"].as_array(), trial["missing"].as_array()) {
                (Some(reasons), _) if !reasons.is_empty() => value_text(&trial["reasons"]),
                (_, Some(missing)) if !missing.is_empty() => format!("missing: {}", value_text(&trial["missing"])),
                _ => String::new(),
            },
        })
        .collect();
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
                        rule: value_text(&finding["rule"]),
                        reason: value_text(&finding["summary"]),
                        source: value_text(&finding["source"]),
                        overridden_by: match &finding["overridden_by"] {
                            Value::Null => String::new(),
                            other => value_text(other),
                        },
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
        as_of: view_as_of.to_owned(),
        provenance: format!(
            "{rules_version}, site protocol SHA-256 {}…",
            protocol_sha256.get(..12).unwrap_or_default()
        ),
        trd: trd_rows,
        trials,
        staging: staging_rows,
        modalities,
        doses,
    }
}

/// `GET /patients/{patient_id}`.
pub async fn patient_overview(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path(patient_id): Path<String>,
) -> Result<Response, PageError> {
    let app = &state.app;
    let actor = &signed.actor;
    let zone = clinic_zone(app);
    let patient = app.get_patient(actor, &patient_id).await?;
    let (heading, identity, de_identified) = match &patient {
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
    };
    let (evaluation, evaluation_problem) = match app
        .chart_evaluation(actor, &patient_id, &EvaluationQuery::default())
        .await
    {
        Ok(view) => (Some(evaluation_of(&view.report, &view.as_of, &view.rules_version, &view.protocol_sha256)), None),
        Err(AppError::Invalid { field, problem }) => {
            (None, Some(format!("The chart does not yet make a complete case: {field} {problem}.")))
        }
        Err(other) => return Err(other.into()),
    };
    let plans = if allows(signed.principal.role, Permission::ReadPlans) {
        let plans = app.plans(actor, &patient_id).await?;
        Some(
            plans
                .iter()
                .map(|plan| PlanItem {
                    title: words(&value_text(&plan.plan["template"])),
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
                })
                .collect(),
        )
    } else {
        None
    };
    let sessions = if allows(signed.principal.role, Permission::ReadSessions) {
        let sessions = app.sessions(actor, &patient_id).await?;
        Some(
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
                .collect(),
        )
    } else {
        None
    };
    let page = PatientOverviewPage {
        chrome: Chrome::signed_in(&heading, "patients", &signed.principal),
        heading,
        identity,
        de_identified,
        evaluation,
        evaluation_problem,
        plans,
        sessions,
    };
    Ok(render(&page))
}
