//! The REMS Patient Monitoring Form of an esketamine session: a preview of every field as it will be
//! submitted (`App::rems_form`, the API's `GET …/rems-form`), each missing one marked with a word and an
//! icon and a link to where it is entered, and proposals from the session's timeline marked for the
//! clinician to confirm; the form's own details (patient, medicines, monitoring clinician, setting,
//! answers) entered through `App::update_session` (the API's `PATCH …/sessions/{session_id}` with `rems`);
//! and Submit (`App::submit_rems_form`, the API's `POST …/rems-form/submission`), offered only once the
//! form is complete. The server still refuses an incomplete or early submission, and the page shows its
//! words. The page prints on its own (A4 or Letter) without the forms.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use ketacare_app::policy::{Permission, allows};
use ketacare_app::{AppError, PatientView, SessionView};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::PagesState;
use crate::display::{clinic_zone, date_time, value_text, words};
use crate::fact_forms::{
    FactGroup, FactsFormView, FieldKind, fact_groups, facts_refusal, field, field_id, read_facts_form,
    section_from_form, update_body,
};
use crate::layout::Chrome;
use crate::page_error::{PageError, render};
use crate::session_page::{VersionForm, read_form};
use crate::signed_in::SignedIn;
use crate::treatment_forms::FormErrors;

const PROPOSED: &str = "blank: the form proposes the answer from the session's record";

/// The form's details as the clinic enters them (docs/sessions.md, `rems`), in the printed form's order.
pub const REMS_GROUPS: &[FactGroup] = &[
    FactGroup {
        id: "rems-edition",
        legend: "Form",
        fields: &[field(
            "rems.edition",
            "Edition",
            "the respiratory edition adds opioids, other sedating drugs and respiratory depression",
            FieldKind::Choice {
                options: &[("2021-11", "11/2021"), ("respiratory", "with respiratory items")],
                numeric: false,
            },
        )],
    },
    FactGroup {
        id: "rems-patient",
        legend: "Patient",
        fields: &[
            field("rems.patient.first_name", "First name", "", FieldKind::Text),
            field("rems.patient.last_name", "Last name", "", FieldKind::Text),
            field("rems.patient.birth_date", "Date of birth", "", FieldKind::Date),
            field(
                "rems.patient.sex",
                "Sex",
                "",
                FieldKind::Choice { options: &[("female", "female"), ("male", "male")], numeric: false },
            ),
            field("rems.patient.first_treatment", "First treatment", "", FieldKind::YesNo),
            field("rems.patient.enrolled", "Enrolled in the REMS", "asked on the first treatment", FieldKind::YesNo),
        ],
    },
    FactGroup {
        id: "rems-medication",
        legend: "Medicines the patient takes",
        fields: &[
            field("rems.medication.benzodiazepines", "Benzodiazepines", "", FieldKind::YesNo),
            field(
                "rems.medication.non_benzodiazepine_sedative_hypnotics",
                "Non-benzodiazepine sedative hypnotics",
                "",
                FieldKind::YesNo,
            ),
            field("rems.medication.psychostimulants", "Psychostimulants", "", FieldKind::YesNo),
            field("rems.medication.maois", "MAOIs", "", FieldKind::YesNo),
            field("rems.medication.opioids", "Opioids", "respiratory edition", FieldKind::YesNo),
            field(
                "rems.medication.other_sedating_drugs",
                "Other sedating drugs",
                "respiratory edition",
                FieldKind::YesNo,
            ),
        ],
    },
    FactGroup {
        id: "rems-hcp",
        legend: "Monitoring healthcare professional",
        fields: &[
            field("rems.monitoring_hcp.name", "Name", "", FieldKind::Text),
            field("rems.monitoring_hcp.phone", "Phone", "", FieldKind::Text),
            field("rems.monitoring_hcp.email", "E-mail", "", FieldKind::Text),
        ],
    },
    FactGroup {
        id: "rems-setting",
        legend: "Healthcare setting",
        fields: &[
            field("rems.setting.name", "Name", "", FieldKind::Text),
            field("rems.setting.address", "Address", "", FieldKind::Text),
        ],
    },
    FactGroup {
        id: "rems-answers",
        legend: "The clinician's answers",
        fields: &[
            field(
                "rems.answers.vitals_acceptable_before_administration",
                "Vital signs acceptable before administration",
                PROPOSED,
                FieldKind::YesNo,
            ),
            field(
                "rems.answers.vitals_acceptable_before_completion",
                "Vital signs acceptable before the end of monitoring",
                PROPOSED,
                FieldKind::YesNo,
            ),
            field("rems.answers.sedation", "Sedation occurred", PROPOSED, FieldKind::YesNo),
            field("rems.answers.dissociation", "Dissociation occurred", PROPOSED, FieldKind::YesNo),
            field(
                "rems.answers.respiratory_depression",
                "Respiratory depression occurred",
                "respiratory edition; blank: proposed from the SpO2 and respiratory-rate alerts",
                FieldKind::YesNo,
            ),
        ],
    },
    FactGroup {
        id: "rems-adverse",
        legend: "Serious adverse events",
        fields: &[field(
            "rems.serious_adverse_events",
            "Serious adverse events",
            "their details, or none",
            FieldKind::Text,
        )],
    },
];

/// Where a field of the submitted form is entered: a field of the details form on this page, or a part
/// of the session page.
enum EnteredAt {
    Details(&'static str),
    Session(&'static str, &'static str),
}

/// Each field the form submits (the core's names, `clinical-reference §4.2`), its label, and where it
/// is entered; fields this list does not know are shown last, by their name.
const REMS_FIELDS: &[(&str, &str, EnteredAt)] = &[
    ("patient.first_name", "Patient's first name", EnteredAt::Details("rems.patient.first_name")),
    ("patient.last_name", "Patient's last name", EnteredAt::Details("rems.patient.last_name")),
    ("patient.birth_date", "Date of birth", EnteredAt::Details("rems.patient.birth_date")),
    ("patient.sex", "Sex", EnteredAt::Details("rems.patient.sex")),
    ("patient.first_treatment", "First treatment", EnteredAt::Details("rems.patient.first_treatment")),
    ("patient.enrolled", "Enrolled in the REMS", EnteredAt::Details("rems.patient.enrolled")),
    ("medication.benzodiazepines", "Benzodiazepines", EnteredAt::Details("rems.medication.benzodiazepines")),
    (
        "medication.non_benzodiazepine_sedative_hypnotics",
        "Non-benzodiazepine sedative hypnotics",
        EnteredAt::Details("rems.medication.non_benzodiazepine_sedative_hypnotics"),
    ),
    ("medication.psychostimulants", "Psychostimulants", EnteredAt::Details("rems.medication.psychostimulants")),
    ("medication.maois", "MAOIs", EnteredAt::Details("rems.medication.maois")),
    ("medication.opioids", "Opioids", EnteredAt::Details("rems.medication.opioids")),
    (
        "medication.other_sedating_drugs",
        "Other sedating drugs",
        EnteredAt::Details("rems.medication.other_sedating_drugs"),
    ),
    ("monitoring_hcp.name", "Monitoring HCP: name", EnteredAt::Details("rems.monitoring_hcp.name")),
    ("monitoring_hcp.phone", "Monitoring HCP: phone", EnteredAt::Details("rems.monitoring_hcp.phone")),
    ("monitoring_hcp.email", "Monitoring HCP: e-mail", EnteredAt::Details("rems.monitoring_hcp.email")),
    ("setting.name", "Healthcare setting: name", EnteredAt::Details("rems.setting.name")),
    ("setting.address", "Healthcare setting: address", EnteredAt::Details("rems.setting.address")),
    ("session.treatment_date", "Treatment date", EnteredAt::Session("give-dose", "the dose given")),
    ("session.dose_mg", "Dose (mg)", EnteredAt::Session("give-dose", "the dose given")),
    ("session.lot_number", "Lot number", EnteredAt::Session("give-dose", "the dose given")),
    (
        "session.duration_min",
        "Monitoring duration (min, from the first device)",
        EnteredAt::Session("discharge", "discharge: monitoring ends when the patient is discharged"),
    ),
    (
        "session.ready_to_leave_min",
        "Ready to leave after (min, without the 2-hour minimum)",
        EnteredAt::Session("entry", "the vital signs and scores"),
    ),
    (
        "vitals.acceptable_before_administration",
        "Vital signs acceptable before administration",
        EnteredAt::Details("rems.answers.vitals_acceptable_before_administration"),
    ),
    (
        "vitals.acceptable_before_completion",
        "Vital signs acceptable before the end of monitoring",
        EnteredAt::Details("rems.answers.vitals_acceptable_before_completion"),
    ),
    ("bp.before_administration", "BP before administration", EnteredAt::Session("entry", "the vital signs")),
    (
        "bp.post_administration_40_min",
        "BP about 40 min after administration",
        EnteredAt::Session("entry", "the vital signs"),
    ),
    ("bp.before_completion", "BP before the end of monitoring", EnteredAt::Session("entry", "the vital signs")),
    ("adverse.sedation", "Sedation", EnteredAt::Details("rems.answers.sedation")),
    ("adverse.dissociation", "Dissociation", EnteredAt::Details("rems.answers.dissociation")),
    (
        "adverse.respiratory_depression",
        "Respiratory depression",
        EnteredAt::Details("rems.answers.respiratory_depression"),
    ),
    ("adverse.serious_adverse_events", "Serious adverse events", EnteredAt::Details("rems.serious_adverse_events")),
];

/// One field of the form as it will be submitted.
struct RemsFieldRow {
    label: String,
    name: String,
    value: String,
    /// `recorded`, or `proposed` (from the session's timeline, for the clinician to confirm).
    proposed: bool,
    /// The clinician may answer it in the details form (instead of the proposal).
    answerable: bool,
    missing: bool,
    where_href: String,
    where_text: String,
}

#[derive(Template)]
#[template(path = "rems_form.html")]
struct RemsFormPage {
    chrome: Chrome,
    csrf_token: String,
    patient_name: String,
    patient_href: String,
    session_heading: String,
    session_href: String,
    required: bool,
    not_required_reason: String,
    edition: String,
    status: String,
    due_on: String,
    submission: String,
    submitted: Option<String>,
    rows: Vec<RemsFieldRow>,
    missing_count: usize,
    problems: Vec<String>,
    overrides: Vec<String>,
    source: String,
    version: i64,
    /// Submit is offered (enabled only when `complete`).
    show_submit: bool,
    complete: bool,
    submit_error: Option<String>,
    details_form: Option<FactsFormView>,
    saved: Option<&'static str>,
}

/// The page's state besides the stored session: a refused submission or details form, what was saved.
#[derive(Default)]
struct RemsPageState {
    submit_error: Option<String>,
    refused_details: Option<(std::collections::BTreeMap<String, String>, String, FormErrors)>,
    saved: Option<&'static str>,
}

/// The details the session's REMS block lacks, proposed from the patient's record (name, birth date,
/// sex) and from the latest other session's REMS block (edition, medicines, monitoring clinician,
/// setting), for the clinician to check and save; with the words saying so.
async fn proposed_details(
    state: &PagesState,
    signed: &SignedIn,
    patient_id: &str,
    view: &SessionView,
    patient: &PatientView,
) -> Result<(Value, Option<String>), PageError> {
    let mut rems = view.document["rems"].as_object().cloned().unwrap_or_default();
    let mut from = Vec::new();
    if let PatientView::Identified(patient) = patient
        && !rems.contains_key("patient")
    {
        rems.insert(
            "patient".to_owned(),
            json!({ "first_name": patient.given_name, "last_name": patient.family_name,
                    "birth_date": patient.birth_date, "sex": patient.sex_at_birth }),
        );
        from.push("the patient's record".to_owned());
    }
    let lacks = ["edition", "medication", "monitoring_hcp", "setting"].iter().any(|key| !rems.contains_key(*key));
    if lacks {
        let sessions = state.app.sessions(&signed.actor, patient_id).await?;
        let earlier = sessions
            .iter()
            .filter(|session| {
                session.session_id != view.session_id && session.modality == "esketamine" && session.status == "active"
            })
            .max_by_key(|session| value_text(&session.planned_at));
        if let Some(earlier) = earlier {
            let other = state.app.get_session(&signed.actor, patient_id, &earlier.session_id).await?;
            let mut copied = false;
            for key in ["edition", "medication", "monitoring_hcp", "setting"] {
                if !rems.contains_key(key)
                    && let Some(value) = other.document["rems"].get(key).filter(|value| !value.is_null())
                {
                    rems.insert(key.to_owned(), value.clone());
                    copied = true;
                }
            }
            if copied {
                let zone = clinic_zone(&state.app);
                from.push(format!(
                    "the REMS form of the session of {}",
                    date_time(earlier.planned_at.as_str().unwrap_or_default(), &zone)
                ));
            }
        }
    }
    let notice = (!from.is_empty()).then(|| {
        format!(
            "Filled in from {}: check each value, then save. Nothing is recorded until you save.",
            from.join(" and ")
        )
    });
    Ok((Value::Object(rems), notice))
}

async fn rems_page(
    state: &PagesState,
    signed: &SignedIn,
    patient_id: &str,
    session_id: &str,
    page_state: RemsPageState,
) -> Result<RemsFormPage, PageError> {
    let app = &state.app;
    let zone = clinic_zone(app);
    let (version, form) = app.rems_form(&signed.actor, patient_id, session_id).await?;
    let view = app.get_session(&signed.actor, patient_id, session_id).await?;
    let patient = app.get_patient(&signed.actor, patient_id).await?;
    let patient_name = match &patient {
        PatientView::Identified(patient) => format!("{} {}", patient.given_name, patient.family_name),
        PatientView::DeIdentified(patient) => patient.pseudonym.clone(),
    };
    let session_href = format!("/patients/{patient_id}/sessions/{session_id}");
    let fields = form["fields"].as_object().cloned().unwrap_or_default();
    let missing: Vec<String> = form["missing"].as_array().into_iter().flatten().map(value_text).collect();
    let row = |name: &str, label: &str, entered_at: Option<&EnteredAt>| {
        let value = &fields[name];
        let (where_href, where_text) = match entered_at {
            Some(EnteredAt::Details(path)) => (format!("#{}", field_id(path)), "the form's details below".to_owned()),
            Some(EnteredAt::Session(anchor, text)) => {
                (format!("{session_href}#{anchor}"), format!("the session page: {text}"))
            }
            None => (session_href.clone(), "the session page".to_owned()),
        };
        RemsFieldRow {
            label: label.to_owned(),
            name: name.to_owned(),
            value: if value["value"].is_null() { String::new() } else { value_text(&value["value"]) },
            proposed: value["origin"] == "derived",
            answerable: matches!(entered_at, Some(EnteredAt::Details(_))),
            missing: missing.iter().any(|missing| missing == name),
            where_href,
            where_text,
        }
    };
    let mut rows: Vec<RemsFieldRow> = REMS_FIELDS
        .iter()
        .filter(|(name, _, _)| fields.contains_key(*name))
        .map(|(name, label, entered_at)| row(name, label, Some(entered_at)))
        .collect();
    rows.extend(
        fields
            .keys()
            .filter(|name| !REMS_FIELDS.iter().any(|(known, _, _)| known == name))
            .map(|name| row(name, &words(name), None)),
    );
    let role = signed.principal.role;
    let can_run = allows(role, Permission::RunSessions);
    let submitted_at = form["submitted_at"].as_str();
    let open = view.status == "active" && view.stage.as_str() != "locked";
    let details_form = if can_run && open && submitted_at.is_none() && form["required"] == true {
        Some(match page_state.refused_details {
            Some((typed, reason, errors)) => details_view(&session_href, version, None, Some(&typed), reason, errors),
            None => {
                let (proposed, notice) = proposed_details(state, signed, patient_id, &view, &patient).await?;
                let empty = FormErrors::default();
                FactsFormView {
                    notice,
                    ..details_view(&session_href, version, Some(&proposed), None, String::new(), empty)
                }
            }
        })
    } else {
        None
    };
    let complete = form["complete"] == true;
    // The form prints: who submitted it is named (`App::user_names`), not shown as an id.
    let submitter_name = match form["submitted_by"].as_str() {
        Some(user) if user != signed.principal.user_id => {
            state.app.user_names(&signed.actor, &[user.to_owned()]).await?.remove(user)
        }
        _ => None,
    };
    Ok(RemsFormPage {
        chrome: Chrome::signed_in(&format!("REMS form — {patient_name}"), "", &signed.principal),
        csrf_token: signed.principal.csrf_token.clone().unwrap_or_default(),
        patient_href: format!("/patients/{patient_id}"),
        patient_name,
        session_heading: format!(
            "{} session of {}",
            if view.document["modality"] == "esketamine" { "Esketamine" } else { "IV ketamine" },
            date_time(view.document["dose"]["planned_at"].as_str().unwrap_or_default(), &zone)
        ),
        session_href,
        required: form["required"] == true,
        not_required_reason: value_text(&form["reason"]),
        edition: match form["edition"].as_str() {
            Some("respiratory") => "with respiratory items".to_owned(),
            Some("2021-11") => "11/2021".to_owned(),
            _ => value_text(&form["edition"]),
        },
        status: words(&value_text(&form["status"])).to_uppercase(),
        due_on: value_text(&form["due_on"]),
        submission: words(&value_text(&form["submission"])),
        submitted: submitted_at.map(|at| {
            let by = form["submitted_by"]
                .as_str()
                .map(|user| {
                    if user == signed.principal.user_id {
                        format!("you ({})", signed.principal.username)
                    } else {
                        submitter_name.clone().unwrap_or_else(|| format!("user {}", user.get(..8).unwrap_or(user)))
                    }
                })
                .unwrap_or_default();
            format!("{} by {by}", date_time(at, &zone))
        }),
        missing_count: rows.iter().filter(|row| row.missing).count(),
        rows,
        problems: form["problems"].as_array().into_iter().flatten().map(value_text).collect(),
        overrides: form["prescriber_overrides"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|recorded| {
                format!(
                    "{} overridden {}: {}",
                    words(&value_text(&recorded["item"])),
                    date_time(recorded["recorded_at"].as_str().unwrap_or_default(), &zone),
                    value_text(&recorded["reason"])
                )
            })
            .collect(),
        source: value_text(&form["source"]),
        version,
        show_submit: can_run && submitted_at.is_none() && form["required"] == true,
        complete,
        submit_error: page_state.submit_error,
        details_form,
        saved: page_state.saved,
    })
}

fn details_view(
    session_href: &str,
    version: i64,
    recorded: Option<&Value>,
    typed: Option<&std::collections::BTreeMap<String, String>>,
    reason: String,
    errors: FormErrors,
) -> FactsFormView {
    let recorded = json!({ "rems": recorded.cloned().unwrap_or_else(|| json!({})) });
    FactsFormView {
        id: "rems-details",
        action: format!("{session_href}/rems-form/details"),
        version,
        groups: fact_groups(REMS_GROUPS, &recorded, typed, &errors),
        reason,
        errors,
        notice: None,
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct RemsQuery {
    #[serde(default)]
    saved: String,
}

/// `GET …/sessions/{session_id}/rems-form`: the preview, with the details form and Submit for the roles
/// that run sessions.
pub async fn rems_form(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path((patient_id, session_id)): Path<(String, String)>,
    Query(query): Query<RemsQuery>,
) -> Result<Response, PageError> {
    let saved = match query.saved.as_str() {
        "details" => Some("The form's details were saved; the preview below shows them."),
        "submitted" => Some("The REMS Patient Monitoring Form was submitted."),
        _ => None,
    };
    let page =
        rems_page(&state, &signed, &patient_id, &session_id, RemsPageState { saved, ..RemsPageState::default() })
            .await?;
    Ok(render(&page))
}

/// `POST …/rems-form/details`: saves the form's details as the session's `rems` block (what the form
/// does not show is kept); changing details already recorded needs a reason.
pub async fn save_rems_details(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path((patient_id, session_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let posted = read_facts_form(&headers, &body)?;
    signed.check_form_token(&posted.csrf_token)?;
    let view = state.app.get_session(&signed.actor, &patient_id, &session_id).await?;
    let keep =
        if view.document["rems"].is_object() { view.document["rems"].clone() } else { Value::Object(Map::new()) };
    let (status, errors) = match section_from_form(REMS_GROUPS, "rems", &keep, &posted.values) {
        Ok(rems) => {
            let body = update_body("rems", rems, &posted.reason);
            match state.app.update_session(&signed.actor, &patient_id, &session_id, posted.version, &body).await {
                Ok(_) => {
                    let href = format!("/patients/{patient_id}/sessions/{session_id}/rems-form?saved=details#preview");
                    return Ok(Redirect::to(&href).into_response());
                }
                Err(error) => {
                    let status = if matches!(error, AppError::StaleVersion { .. }) {
                        StatusCode::CONFLICT
                    } else {
                        StatusCode::UNPROCESSABLE_ENTITY
                    };
                    (status, facts_refusal(REMS_GROUPS, error)?)
                }
            }
        }
        Err(errors) => (StatusCode::UNPROCESSABLE_ENTITY, errors),
    };
    let page_state =
        RemsPageState { refused_details: Some((posted.values, posted.reason, errors)), ..RemsPageState::default() };
    let page = rems_page(&state, &signed, &patient_id, &session_id, page_state).await?;
    Ok((status, render(&page)).into_response())
}

/// `POST …/rems-form/submission`: submits the form; the server refuses an incomplete one (naming what is
/// missing), one before monitoring ended, and a second submission, and the page shows its words.
pub async fn submit_rems_form(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path((patient_id, session_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let form: VersionForm = read_form(&headers, &body)?;
    signed.check_form_token(&form.csrf_token)?;
    let (status, message) =
        match state.app.submit_rems_form(&signed.actor, &patient_id, &session_id, form.version).await {
            Ok(_) => {
                let href = format!("/patients/{patient_id}/sessions/{session_id}/rems-form?saved=submitted");
                return Ok(Redirect::to(&href).into_response());
            }
            Err(AppError::Invalid { field, problem }) => {
                (StatusCode::UNPROCESSABLE_ENTITY, format!("{field}: {problem}"))
            }
            Err(AppError::Refused { field, problem, rule_id }) => {
                (StatusCode::UNPROCESSABLE_ENTITY, format!("{field}: {problem} ({rule_id})"))
            }
            Err(AppError::StaleVersion { .. }) => (
                StatusCode::CONFLICT,
                "The session changed since this page was loaded; check the form as it is now and submit it again"
                    .to_owned(),
            ),
            Err(AppError::Duplicate { .. }) => (StatusCode::CONFLICT, "The form was already submitted".to_owned()),
            Err(other) => return Err(other.into()),
        };
    let page_state = RemsPageState { submit_error: Some(message), ..RemsPageState::default() };
    let page = rems_page(&state, &signed, &patient_id, &session_id, page_state).await?;
    Ok((status, render(&page)).into_response())
}
