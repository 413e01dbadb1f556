//! The session page's forms beside the vital signs: giving the dose with its lot number
//! (`App::record_administration`, prefilled from the prescriber's signed order: amount, devices, route),
//! correcting a dose given (`App::set_administration_status`: entered in error with a reason, then the
//! form comes back filled with it to record the right one), and the session's facts through
//! `App::update_session`: the pre-dose checks the gate reads and the discharge assessment (escort,
//! modified Aldrete, PADSS). Each posts to the same use case as the API; a refusal (the gate holds, the
//! dose differs from the order, a missing reason) comes back on the session page beside the field it
//! concerns and in a summary at the top of the form, with everything typed kept.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use ketacare_app::{AppError, SessionView};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::PagesState;
use crate::display::{clock_time, date_time, value_text, words};
use crate::fact_forms::{
    DISCHARGE_GROUPS, FactGroup, PRE_DOSE_GROUPS, facts_refusal, read_facts_form, section_from_form, update_body,
};
use crate::page_error::{PageError, render};
use crate::session_page::{PageState, VersionForm, read_form, session_page};
use crate::signed_in::SignedIn;
use crate::treatment_forms::{FormErrors, number_field};

/// The dose form as typed (kept when the server refuses it).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct DoseForm {
    #[serde(default)]
    pub csrf_token: String,
    #[serde(default)]
    pub entry_key: String,
    #[serde(default)]
    pub drug: String,
    #[serde(default)]
    pub dose_mg: String,
    #[serde(default)]
    pub device_count: String,
    #[serde(default)]
    pub started_at: String,
    #[serde(default)]
    pub ended_at: String,
    #[serde(default)]
    pub lot_number: String,
    #[serde(skip)]
    pub errors: FormErrors,
}

impl DoseForm {
    /// The form's fields, in the order of the form (a refusal naming none of them goes to the summary).
    pub const FIELDS: [&'static str; 5] = ["dose_mg", "device_count", "started_at", "ended_at", "lot_number"];

    /// The administration of the API (`{drug, dose_mg, lot_number, started_at, device_count | ended_at}`):
    /// blank fields are left out so the use case names what is missing; numbers go as typed.
    fn administration(&self) -> Result<Value, FormErrors> {
        let mut document = Map::new();
        document.insert("drug".to_owned(), json!(self.drug.trim()));
        let mut errors = Vec::new();
        match number_field("dose_mg", "Dose", &self.dose_mg) {
            Ok(Some(number)) => {
                document.insert("dose_mg".to_owned(), number);
            }
            Ok(None) => {}
            Err(error) => errors.push(error),
        }
        let devices = self.device_count.trim();
        if !devices.is_empty() {
            match devices.parse::<u32>() {
                Ok(count) => {
                    document.insert("device_count".to_owned(), json!(count));
                }
                Err(_) => errors
                    .push(("device_count".to_owned(), format!("Devices must be a whole number, got \"{devices}\""))),
            }
        }
        for (key, text) in
            [("started_at", &self.started_at), ("ended_at", &self.ended_at), ("lot_number", &self.lot_number)]
        {
            if !text.trim().is_empty() {
                document.insert(key.to_owned(), json!(text.trim()));
            }
        }
        if errors.is_empty() { Ok(Value::Object(document)) } else { Err(FormErrors { messages: errors }) }
    }
}

/// The dose form as the session page shows it.
pub struct DoseFormView {
    pub action: String,
    pub drug: &'static str,
    pub esketamine: bool,
    /// How it is given, in words.
    pub route: &'static str,
    /// The order it comes from, in words (or that there is none).
    pub from_order: String,
    pub form: DoseForm,
    pub time_zone: String,
    /// The start time is the server's now and the script keeps it at now until someone edits it.
    pub defaults_to_now: bool,
    /// Why the form is filled as it is (a dose being corrected).
    pub notice: Option<String>,
    /// A dose is already recorded (and the form is not being corrected or refused): the form is folded
    /// away behind "Give another dose", so the next dose is a deliberate choice.
    pub folded: bool,
}

/// One field of the dose form as the page shows it.
pub struct DoseFieldView {
    pub id: String,
    pub name: &'static str,
    pub label: &'static str,
    pub unit: &'static str,
    /// `text` or `datetime-local`.
    pub input: &'static str,
    pub inputmode: &'static str,
    pub value: String,
    pub error: Option<String>,
    /// The field the script keeps at now until someone edits it.
    pub keeps_now: bool,
}

impl DoseFormView {
    /// The fields of this modality's form, in the order they are given: the amount, the devices (or the
    /// infusion's end), the time, the lot.
    pub fn fields(&self) -> Vec<DoseFieldView> {
        let form = &self.form;
        let mut fields = vec![("dose_mg", "Dose given", "mg", "text", "decimal", &form.dose_mg)];
        if self.esketamine {
            fields.push(("device_count", "Devices", "28 mg each", "text", "numeric", &form.device_count));
        }
        fields.push(("started_at", "Started", "clinic time; the first device", "datetime-local", "", &form.started_at));
        if !self.esketamine {
            fields.push((
                "ended_at",
                "Infusion ended",
                "clinic time; blank while it runs",
                "datetime-local",
                "",
                &form.ended_at,
            ));
        }
        fields.push(("lot_number", "Lot number", "from the package", "text", "", &form.lot_number));
        fields
            .into_iter()
            .map(|(name, label, unit, input, inputmode, value)| DoseFieldView {
                id: format!("dose-{name}"),
                name,
                label,
                unit,
                input,
                inputmode,
                value: value.clone(),
                error: form.errors.of(name).map(str::to_owned),
                keeps_now: name == "started_at" && self.defaults_to_now,
            })
            .collect()
    }

    /// The error summary's links: a field of the form, the gate, or the form itself.
    pub fn summary(&self) -> Vec<(String, String)> {
        self.form
            .errors
            .messages
            .iter()
            .map(|(field, message)| {
                let href = match field.as_str() {
                    "gate" => "#gate".to_owned(),
                    "form" => "#give-dose".to_owned(),
                    field => format!("#dose-{field}"),
                };
                (href, message.clone())
            })
            .collect()
    }
}

/// A dose given, as the session page lists it, with its correction form.
pub struct AdministrationRow {
    pub anchor: String,
    pub text: String,
    pub entered_in_error: bool,
    pub correct_href: String,
    /// The controlled-substance page with its withdrawal form filled in for this dose.
    pub withdraw_href: String,
    /// The reason as typed and the server's words, when a correction was refused.
    pub reason: String,
    pub error: Option<String>,
}

/// The drug an administration names in a session of this modality (the use case's words).
fn drug_of(modality: &str) -> &'static str {
    if modality == "esketamine" { "esketamine" } else { "ketamine" }
}

/// A clinic-local minute `YYYY-MM-DDTHH:MM` of a time the session recorded.
fn local_minute(text: &str) -> String {
    text.get(..16).unwrap_or(text).to_owned()
}

/// The dose form: as typed when refused; else filled from the dose being corrected; else from the order,
/// starting now.
pub fn dose_form_view(
    view: &SessionView,
    session_href: &str,
    typed: Option<DoseForm>,
    correcting: Option<&str>,
    now_local: String,
    zone: &jiff::tz::TimeZone,
) -> DoseFormView {
    let modality = value_text(&view.document["modality"]);
    let esketamine = modality == "esketamine";
    let order = view.order.as_ref();
    let from_order = match order {
        Some(order) => {
            let devices = if order["device_count"].is_null() {
                String::new()
            } else {
                format!(" ({} × {} mg devices)", value_text(&order["device_count"]), value_text(&order["device_mg"]))
            };
            let minutes = if order["infusion_min"].is_null() {
                String::new()
            } else {
                format!(" over {} min", value_text(&order["infusion_min"]))
            };
            format!(
                "{} mg{devices}{minutes}, order {} signed {} ({})",
                value_text(&order["dose_mg"]),
                value_text(&order["order_id"]).get(..8).unwrap_or_default(),
                date_time(order["signed_at"].as_str().unwrap_or_default(), zone),
                words(&value_text(&order["status"])),
            )
        }
        None => "no dose order on this session: a dose is given against a prescriber's order".to_owned(),
    };
    // Only a dose marked entered in error comes back in the form (a link to any other fills nothing).
    let corrected = correcting.and_then(|id| {
        view.administrations
            .iter()
            .find(|given| given["administration_id"].as_str() == Some(id) && given["status"] == "entered_in_error")
    });
    let text = |value: &Value| if value.is_null() { String::new() } else { value_text(value) };
    let already_given = view.administrations.iter().any(|given| given["status"] == "active");
    let folded = already_given && typed.is_none() && corrected.is_none();
    let (form, defaults_to_now, notice) = match (typed, corrected) {
        (Some(typed), _) => (typed, false, None),
        (None, Some(given)) => (
            DoseForm {
                dose_mg: text(&given["dose_mg"]),
                device_count: text(&given["device_count"]),
                started_at: given["started_at"].as_str().map(local_minute).unwrap_or_default(),
                ended_at: given["ended_at"].as_str().map(local_minute).unwrap_or_default(),
                lot_number: text(&given["lot_number"]),
                ..DoseForm::default()
            },
            false,
            Some(format!(
                "The dose of {} (lot {}) is marked entered in error. Its values are in the form: correct what was wrong and record the dose.",
                clock_time(given["started_at"].as_str().unwrap_or_default(), zone),
                value_text(&given["lot_number"])
            )),
        ),
        (None, None) => (
            DoseForm {
                dose_mg: order.map(|order| text(&order["dose_mg"])).unwrap_or_default(),
                device_count: order
                    .filter(|_| esketamine)
                    .map(|order| text(&order["device_count"]))
                    .unwrap_or_default(),
                started_at: now_local,
                ..DoseForm::default()
            },
            true,
            None,
        ),
    };
    DoseFormView {
        action: format!("{session_href}/administrations"),
        drug: drug_of(&modality),
        esketamine,
        route: if esketamine {
            "intranasal: esketamine nasal spray devices"
        } else {
            "intravenous infusion of racemic ketamine"
        },
        from_order,
        form: DoseForm { entry_key: format!("dose-{}-v{}", view.session_id, view.version), ..form },
        time_zone: value_text(&view.document["time_zone"]),
        defaults_to_now,
        notice,
        folded,
    }
}

/// The doses given, newest last, each with its correction form's state.
pub fn administration_rows(
    view: &SessionView,
    session_href: &str,
    refused: Option<&(String, String, String)>,
    zone: &jiff::tz::TimeZone,
) -> Vec<AdministrationRow> {
    view.administrations
        .iter()
        .map(|given| {
            let id = value_text(&given["administration_id"]);
            let anchor = format!("dose-{id}");
            let refusal = refused.filter(|(target, _, _)| *target == anchor);
            let devices = if given["device_count"].is_null() {
                String::new()
            } else {
                format!(" ({} devices)", value_text(&given["device_count"]))
            };
            let ended =
                given["ended_at"].as_str().map(|at| format!(" to {}", clock_time(at, zone))).unwrap_or_default();
            AdministrationRow {
                text: format!(
                    "{} mg {}{devices} at {}{ended}, lot {}",
                    value_text(&given["dose_mg"]),
                    value_text(&given["drug"]),
                    clock_time(given["started_at"].as_str().unwrap_or_default(), zone),
                    value_text(&given["lot_number"]),
                ),
                entered_in_error: given["status"] == "entered_in_error",
                correct_href: format!("{session_href}/administrations/{id}/entered-in-error"),
                withdraw_href: format!(
                    "/controlled-substances?{}#withdrawn-title",
                    serde_urlencoded::to_string([
                        ("patient_id", view.patient_id.as_str()),
                        ("administration_id", id.as_str()),
                        ("lot_number", value_text(&given["lot_number"]).as_str()),
                    ])
                    .unwrap_or_default()
                ),
                reason: refusal.map(|(_, reason, _)| reason.clone()).unwrap_or_default(),
                error: refusal.map(|(_, _, message)| message.clone()),
                anchor,
            }
        })
        .collect()
}

/// Where a use case's refusal of the dose goes: its field on the form, the gate (`gate.BP` and the like:
/// the summary links to the gate), or the form's summary (`form`).
fn dose_refusal(error: AppError) -> Result<FormErrors, PageError> {
    let (field, message) = match error {
        AppError::Invalid { field, problem } => (field.clone(), format!("{field}: {problem}")),
        AppError::Refused { field, problem, rule_id } if problem.contains(&rule_id) => {
            (field.clone(), format!("{field}: {problem}"))
        }
        AppError::Refused { field, problem, rule_id } => (field.clone(), format!("{field}: {problem} ({rule_id})")),
        AppError::IdempotencyKeyReused { .. } => (
            "form".to_owned(),
            "This form was already sent with other values; check the dose recorded below before sending it again"
                .to_owned(),
        ),
        other => return Err(other.into()),
    };
    let segment = field.rsplit('.').next().unwrap_or(&field);
    let id = if field.starts_with("gate.") {
        "gate"
    } else {
        DoseForm::FIELDS.iter().copied().find(|id| *id == field || *id == segment).unwrap_or("form")
    };
    Ok(FormErrors { messages: vec![(id.to_owned(), message)] })
}

async fn session_refused(
    state: &PagesState,
    signed: &SignedIn,
    patient_id: &str,
    session_id: &str,
    status: StatusCode,
    page_state: PageState,
) -> Result<Response, PageError> {
    let page = session_page(state, signed, patient_id, session_id, page_state).await?;
    Ok((status, render(&page)).into_response())
}

/// `POST …/administrations`: records the dose given with its lot number; refused while the gate holds,
/// at a hard stop, or when it differs from the order (the page shows the server's words).
pub async fn give_dose(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path((patient_id, session_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let mut form: DoseForm = read_form(&headers, &body)?;
    signed.check_form_token(&form.csrf_token)?;
    let errors = match form.administration() {
        Ok(document) => {
            let key = (!form.entry_key.is_empty()).then_some(form.entry_key.as_str());
            match state
                .app
                .record_administration(&signed.actor, &patient_id, &session_id, &document.to_string(), key)
                .await
            {
                Ok(_) => {
                    let href = format!("/patients/{patient_id}/sessions/{session_id}?done=dose#dose");
                    return Ok(Redirect::to(&href).into_response());
                }
                Err(error) => dose_refusal(error)?,
            }
        }
        Err(errors) => errors,
    };
    form.errors = errors;
    let page_state = PageState { dose: Some(form), ..PageState::default() };
    session_refused(&state, &signed, &patient_id, &session_id, StatusCode::UNPROCESSABLE_ENTITY, page_state).await
}

/// The body of a correction that marks a record entered in error (an empty reason is left out, so the
/// use case says that a correction needs one).
pub fn entered_in_error_body(reason: &str) -> String {
    let reason = reason.trim();
    if reason.is_empty() {
        json!({ "status": "entered_in_error" }).to_string()
    } else {
        json!({ "status": "entered_in_error", "reason": reason }).to_string()
    }
}

/// A correction's refusal in words with its status (a stale page is 409), or the page error.
pub fn correction_refusal(error: AppError) -> Result<(StatusCode, String), PageError> {
    match error {
        AppError::Invalid { field, problem } | AppError::Refused { field, problem, .. } => {
            Ok((StatusCode::UNPROCESSABLE_ENTITY, format!("{field}: {problem}")))
        }
        AppError::StaleVersion { .. } => Ok((
            StatusCode::CONFLICT,
            "The session changed since this page was loaded (someone else charted); check the record as it is now and send the correction again"
                .to_owned(),
        )),
        other => Err(other.into()),
    }
}

/// `POST …/administrations/{administration_id}/entered-in-error`: marks a dose given entered in error
/// with a reason (kept as an amendment); the page comes back with the dose form filled from it, so the
/// right dose or lot is recorded in one step.
pub async fn correct_administration(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path((patient_id, session_id, administration_id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let form: VersionForm = read_form(&headers, &body)?;
    signed.check_form_token(&form.csrf_token)?;
    let result = state
        .app
        .set_administration_status(
            &signed.actor,
            &patient_id,
            &session_id,
            &administration_id,
            form.version,
            &entered_in_error_body(&form.reason),
        )
        .await;
    let (status, message) = match result {
        Ok(_) => {
            let href = format!(
                "/patients/{patient_id}/sessions/{session_id}?reenter_dose={}#give-dose",
                crate::display::path_segment(&administration_id)
            );
            return Ok(Redirect::to(&href).into_response());
        }
        Err(error) => correction_refusal(error)?,
    };
    let page_state = PageState {
        refused_correction: Some((format!("dose-{administration_id}"), form.reason, message)),
        ..PageState::default()
    };
    session_refused(&state, &signed, &patient_id, &session_id, status, page_state).await
}

/// The sections of the session document the page's facts forms replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactsSection {
    PreDose,
    Discharge,
}

impl FactsSection {
    pub fn key(self) -> &'static str {
        match self {
            FactsSection::PreDose => "pre_dose",
            FactsSection::Discharge => "discharge",
        }
    }

    pub fn groups(self) -> &'static [FactGroup] {
        match self {
            FactsSection::PreDose => PRE_DOSE_GROUPS,
            FactsSection::Discharge => DISCHARGE_GROUPS,
        }
    }

    /// The form's anchor on the session page, and its address.
    pub fn anchor(self) -> &'static str {
        match self {
            FactsSection::PreDose => "pre-dose",
            FactsSection::Discharge => "discharge-assessment",
        }
    }
}

/// A refused facts form: which, the values and reason as typed, and what was refused.
pub struct RefusedFacts {
    pub section: FactsSection,
    pub values: BTreeMap<String, String>,
    pub reason: String,
    pub errors: FormErrors,
}

/// What the session itself records in a section: for the pre-dose checks, without the values the chart
/// supplied (`pre_dose_sources`), so that saving the form never copies the chart's into the session.
pub fn own_section(view: &SessionView, key: &str) -> Value {
    let mut section = view.document[key].clone();
    if let Value::Object(object) = &mut section {
        for source in &view.pre_dose_sources {
            if let Some(field) = source["field"].as_str().and_then(|field| field.strip_prefix(&format!("{key}."))) {
                object.remove(field);
            }
        }
    } else {
        section = json!({});
    }
    section
}

async fn save_facts(
    state: PagesState,
    signed: SignedIn,
    patient_id: String,
    session_id: String,
    headers: HeaderMap,
    body: Bytes,
    section: FactsSection,
) -> Result<Response, PageError> {
    let posted = read_facts_form(&headers, &body)?;
    signed.check_form_token(&posted.csrf_token)?;
    let view = state.app.get_session(&signed.actor, &patient_id, &session_id).await?;
    let keep = own_section(&view, section.key());
    let (status, errors) = match section_from_form(section.groups(), section.key(), &keep, &posted.values) {
        Ok(value) => {
            let body = update_body(section.key(), value, &posted.reason);
            match state.app.update_session(&signed.actor, &patient_id, &session_id, posted.version, &body).await {
                Ok(_) => {
                    let anchor = section.anchor();
                    let href = format!("/patients/{patient_id}/sessions/{session_id}?done={anchor}#{anchor}");
                    return Ok(Redirect::to(&href).into_response());
                }
                Err(error) => {
                    let status = if matches!(error, AppError::StaleVersion { .. }) {
                        StatusCode::CONFLICT
                    } else {
                        StatusCode::UNPROCESSABLE_ENTITY
                    };
                    (status, facts_refusal(section.groups(), error)?)
                }
            }
        }
        Err(errors) => (StatusCode::UNPROCESSABLE_ENTITY, errors),
    };
    let page_state = PageState {
        refused_facts: Some(RefusedFacts { section, values: posted.values, reason: posted.reason, errors }),
        ..PageState::default()
    };
    session_refused(&state, &signed, &patient_id, &session_id, status, page_state).await
}

/// `POST …/pre-dose`: records the pre-dose checks the gate reads (fasting, escort, REMS enrolment,
/// screening, pregnancy); changing one already recorded needs a reason.
pub async fn save_pre_dose(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path((patient_id, session_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    save_facts(state, signed, patient_id, session_id, headers, body, FactsSection::PreDose).await
}

/// `POST …/discharge-assessment`: records the escort and the recovery score discharge readiness reads.
pub async fn save_discharge_assessment(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path((patient_id, session_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    save_facts(state, signed, patient_id, session_id, headers, body, FactsSection::Discharge).await
}
