//! Informed consent pages. A patient's consents (`/patients/{id}/consents`): whether each treatment has a
//! current consent today (what the pre-dose gate's `INFORMED_CONSENT` reads), every consent with its form
//! version, signer, witness, validity and withdrawal; the form to record a signed consent (nurses and
//! prescribers) and, for each consent in effect, the forms to withdraw it or mark it entered in error with a
//! reason; and the form to print for the patient to sign. The consent forms for admins
//! (`/admin/consent-forms`): every form with its versions, and a new version of one. Every action is the
//! use case the API's consent routes call, so permissions, audit and refusals are theirs; a refusal comes
//! back beside the field it names, with everything typed kept.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use ketacare_app::{AppError, ConsentFormView, ConsentView, PatientConsentsView, PatientView, Permission};
use serde::Deserialize;
use serde_json::json;

use crate::PagesState;
use crate::display::clinic_zone;
use crate::layout::Chrome;
use crate::page_error::{PageError, render};
use crate::patient_pages::patient_identity;
use crate::session_page::read_form;
use crate::signed_in::SignedIn;
use crate::treatment_forms::FormErrors;

/// A treatment's consent state today, worded for staff.
struct ModalityState {
    treatment: &'static str,
    state: &'static str,
    /// `current` passes the gate; anything else holds a dose.
    current: bool,
}

fn treatment_name(modality: &str) -> &'static str {
    match modality {
        "esketamine" => "Esketamine nasal spray",
        _ => "IV ketamine",
    }
}

fn state_words(state: &str) -> &'static str {
    match state {
        "current" => "Current consent on file",
        "expired" => "Consent expired: record a new one before the next dose",
        "withdrawn" => "Consent withdrawn: no dose unless a new consent is signed",
        _ => "No consent on file: record one before the first dose",
    }
}

/// One consent as the table shows it, with its change form when it is in effect.
struct ConsentRow {
    consent_id: String,
    form: String,
    treatment: &'static str,
    signed_on: String,
    signer: String,
    witness: String,
    valid_until: String,
    /// `In effect`, `Withdrawn on …: reason`, `Entered in error`.
    status: String,
    in_effect: bool,
    version: i64,
    change_action: String,
    /// The reason typed into this consent's change form, and the refusal, when it was refused.
    change_reason: String,
    change_error: Option<String>,
}

/// The record form's choice of consent form (the latest version of each).
struct FormOption {
    form_id: String,
    label: String,
    selected: bool,
}

/// The record form as typed.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct RecordConsentForm {
    #[serde(default)]
    pub csrf_token: String,
    #[serde(default)]
    pub form_id: String,
    #[serde(default)]
    pub signed_on: String,
    #[serde(default)]
    pub signer_name: String,
    #[serde(default)]
    pub signer_relationship: String,
    #[serde(default)]
    pub witness_username: String,
    #[serde(default)]
    pub valid_until: String,
}

/// A change of one consent as posted.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ChangeConsentForm {
    #[serde(default)]
    pub csrf_token: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub version: String,
}

#[derive(Template)]
#[template(path = "consents.html")]
struct ConsentsPage {
    chrome: Chrome,
    csrf_token: String,
    heading: String,
    patient_href: String,
    notice: Option<String>,
    states: Vec<ModalityState>,
    rows: Vec<ConsentRow>,
    may_record: bool,
    form_options: Vec<FormOption>,
    typed: RecordConsentForm,
    record_action: String,
    errors: FormErrors,
}

/// What a refused form puts back on the page.
#[derive(Default)]
struct Refused {
    typed: Option<RecordConsentForm>,
    change: Option<(String, ChangeConsentForm)>,
    errors: FormErrors,
}

/// The record form's field id of a use case's field.
fn record_field_id(field: &str) -> String {
    let known = [
        "form_id",
        "form_version",
        "signed_on",
        "signer_name",
        "signer_relationship",
        "witness_username",
        "valid_until",
    ];
    let field = if field == "form_version" { "form_id" } else { field };
    if known.contains(&field) { format!("consent-{field}") } else { "consent-form_id".to_owned() }
}

/// A use case's refusal in its words, or the page's error for anything that is not about the input.
fn refusal_message(error: AppError) -> Result<(String, String), PageError> {
    match error {
        AppError::Invalid { field, problem } => Ok((field.clone(), format!("{field}: {problem}"))),
        AppError::Refused { field, problem, rule_id } => Ok((field.clone(), format!("{field}: {problem} ({rule_id})"))),
        AppError::StaleVersion { .. } => Ok((
            "version".to_owned(),
            "the consent changed since this page was loaded: reload it and try again".to_owned(),
        )),
        other => Err(other.into()),
    }
}

async fn consents_page(
    state: &PagesState,
    signed: &SignedIn,
    patient_id: &str,
    notice: Option<String>,
    refused: Refused,
) -> Result<ConsentsPage, PageError> {
    let patient = state.app.get_patient(&signed.actor, patient_id).await?;
    let (heading, _, _) = patient_identity(&patient);
    let consents: PatientConsentsView = state.app.patient_consents(&signed.actor, patient_id).await?;
    let forms = state.app.consent_forms(&signed.actor).await?;
    let witnesses: Vec<String> = consents.consents.iter().map(|consent| consent.witnessed_by.clone()).collect();
    let names = state.app.user_names(&signed.actor, &witnesses).await?;
    let zone = clinic_zone(&state.app);
    let may_record = ketacare_app::policy::allows(signed.actor.role, Permission::RecordConsents);
    let typed = refused.typed.unwrap_or_else(|| RecordConsentForm {
        signed_on: state.app.now().to_zoned_datetime(zone.clone()).date().to_string(),
        signer_name: match &patient {
            PatientView::Identified(patient) => format!("{} {}", patient.given_name, patient.family_name),
            PatientView::DeIdentified(_) => String::new(),
        },
        signer_relationship: "patient".to_owned(),
        ..RecordConsentForm::default()
    });
    let mut latest: Vec<&ConsentFormView> = Vec::new();
    for form in &forms {
        match latest.iter_mut().find(|known| known.form_id == form.form_id) {
            Some(known) if known.version < form.version => *known = form,
            Some(_) => {}
            None => latest.push(form),
        }
    }
    let rows = consents
        .consents
        .iter()
        .rev()
        .map(|consent: &ConsentView| {
            let typed_change = refused.change.as_ref().filter(|(id, _)| *id == consent.consent_id);
            let in_effect = consent.status.as_str() == "active" && consent.withdrawn_on.is_none();
            ConsentRow {
                consent_id: consent.consent_id.clone(),
                form: format!("{} (v{})", consent.form_title, consent.form_version),
                treatment: treatment_name(consent.modality.as_str()),
                signed_on: consent.signed_on.clone(),
                signer: match consent.signer_relationship.as_str() {
                    "patient" => format!("{} (patient)", consent.signer_name),
                    _ => format!("{} (legal representative)", consent.signer_name),
                },
                witness: names.get(&consent.witnessed_by).cloned().unwrap_or_else(|| consent.witnessed_by.clone()),
                valid_until: consent.valid_until.clone().unwrap_or_else(|| "until withdrawn".to_owned()),
                status: if consent.status.as_str() != "active" {
                    "Entered in error".to_owned()
                } else if let Some(on) = &consent.withdrawn_on {
                    format!("Withdrawn on {on}: {}", consent.withdrawal_reason.clone().unwrap_or_default())
                } else {
                    "In effect".to_owned()
                },
                in_effect,
                version: consent.version,
                change_action: format!("/patients/{patient_id}/consents/{}/change", consent.consent_id),
                change_reason: typed_change.map(|(_, form)| form.reason.clone()).unwrap_or_default(),
                change_error: typed_change
                    .and_then(|_| refused.errors.messages.first().map(|(_, message)| message.clone())),
            }
        })
        .collect();
    Ok(ConsentsPage {
        chrome: Chrome::signed_in(&format!("Consent: {heading}"), "patients", &signed.principal),
        csrf_token: signed.principal.csrf_token.clone().unwrap_or_default(),
        patient_href: format!("/patients/{patient_id}"),
        heading,
        notice,
        states: consents
            .by_modality
            .iter()
            .map(|state| ModalityState {
                treatment: treatment_name(state.modality.as_str()),
                state: state_words(state.informed_consent),
                current: state.informed_consent == "current",
            })
            .collect(),
        rows,
        may_record,
        form_options: latest
            .iter()
            .map(|form| FormOption {
                form_id: form.form_id.clone(),
                label: format!("{} (v{}, {})", form.title, form.version, treatment_name(form.modality.as_str())),
                selected: form.form_id == typed.form_id,
            })
            .collect(),
        typed,
        record_action: format!("/patients/{patient_id}/consents"),
        errors: if refused.change.is_some() { FormErrors::default() } else { refused.errors },
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct ConsentsQuery {
    #[serde(default)]
    saved: Option<String>,
}

/// `GET /patients/{patient_id}/consents`.
pub async fn consents(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path(patient_id): Path<String>,
    Query(query): Query<ConsentsQuery>,
) -> Result<Response, PageError> {
    let notice = match query.saved.as_deref() {
        Some("recorded") => Some("The consent was recorded.".to_owned()),
        Some("withdrawn") => {
            Some("The withdrawal was recorded: no dose of that treatment until a new consent.".to_owned())
        }
        Some("entered_in_error") => Some("The consent was marked entered in error.".to_owned()),
        _ => None,
    };
    Ok(render(&consents_page(&state, &signed, &patient_id, notice, Refused::default()).await?))
}

/// `POST /patients/{patient_id}/consents`: records the signed consent through `App::record_consent`.
pub async fn record_consent(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path(patient_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let form: RecordConsentForm = read_form(&headers, &body)?;
    signed.check_form_token(&form.csrf_token)?;
    state
        .app
        .authorize(
            &signed.actor,
            Permission::RecordConsents,
            "consent.create",
            format!("patient/{patient_id}/consents"),
            Some(&patient_id),
        )
        .await?;
    let optional = |text: &str| (!text.trim().is_empty()).then(|| text.trim().to_owned());
    let body = json!({
        "form_id": optional(&form.form_id), "signed_on": optional(&form.signed_on),
        "signer_name": optional(&form.signer_name), "signer_relationship": optional(&form.signer_relationship),
        "witness_username": optional(&form.witness_username), "valid_until": optional(&form.valid_until),
    });
    match state.app.record_consent(&signed.actor, &patient_id, &body.to_string(), None).await {
        Ok(_) => Ok(Redirect::to(&format!("/patients/{patient_id}/consents?saved=recorded")).into_response()),
        Err(error) => {
            let (field, message) = refusal_message(error)?;
            let refused = Refused {
                typed: Some(form),
                change: None,
                errors: FormErrors { messages: vec![(record_field_id(&field), message)] },
            };
            let page = consents_page(&state, &signed, &patient_id, None, refused).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
    }
}

/// `POST /patients/{patient_id}/consents/{consent_id}/change`: withdraws a consent or marks it entered in
/// error with a reason, through `App::change_consent`, under the version the page showed.
pub async fn change_consent(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path((patient_id, consent_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let form: ChangeConsentForm = read_form(&headers, &body)?;
    signed.check_form_token(&form.csrf_token)?;
    state
        .app
        .authorize(
            &signed.actor,
            Permission::RecordConsents,
            "consent.amend",
            format!("patient/{patient_id}/consent/{consent_id}"),
            Some(&patient_id),
        )
        .await?;
    let version = form.version.trim().parse::<i64>().unwrap_or(0);
    let reason = (!form.reason.trim().is_empty()).then(|| form.reason.trim().to_owned());
    let body = json!({ "status": form.status, "reason": reason });
    match state.app.change_consent(&signed.actor, &patient_id, &consent_id, version, &body.to_string()).await {
        Ok(_) => {
            let saved = if form.status == "withdrawn" { "withdrawn" } else { "entered_in_error" };
            Ok(Redirect::to(&format!("/patients/{patient_id}/consents?saved={saved}")).into_response())
        }
        Err(error) => {
            let (_, message) = refusal_message(error)?;
            let refused = Refused {
                typed: None,
                change: Some((consent_id.clone(), form)),
                errors: FormErrors { messages: vec![(format!("change-{consent_id}"), message)] },
            };
            let page = consents_page(&state, &signed, &patient_id, None, refused).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
    }
}

#[derive(Template)]
#[template(path = "consent_print.html")]
struct ConsentPrintPage {
    chrome: Chrome,
    heading: String,
    identity: Vec<(String, String)>,
    patient_href: String,
    title: String,
    version: i64,
    body_sha256: String,
    paragraphs: Vec<String>,
    validity: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct PrintQuery {
    #[serde(default)]
    form: String,
}

/// `GET /patients/{patient_id}/consents/print?form=FORM_ID`: the latest version of the form with the
/// patient's name and lines for the signer's and the witness's signatures, to print and sign.
pub async fn print_consent_form(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path(patient_id): Path<String>,
    Query(query): Query<PrintQuery>,
) -> Result<Response, PageError> {
    let patient = state.app.get_patient(&signed.actor, &patient_id).await?;
    let (heading, identity, _) = patient_identity(&patient);
    let forms = state.app.consent_forms(&signed.actor).await?;
    let form = forms
        .into_iter()
        .filter(|form| form.form_id == query.form)
        .max_by_key(|form| form.version)
        .ok_or(PageError::from(AppError::NotFound { resource: "consent form", id: query.form.clone() }))?;
    let page = ConsentPrintPage {
        chrome: Chrome::signed_in(&form.title, "patients", &signed.principal),
        identity: identity.into_iter().filter(|(label, _)| label == "MRN" || label == "Born").collect(),
        heading,
        patient_href: format!("/patients/{patient_id}/consents"),
        title: form.title,
        version: form.version,
        paragraphs: form.body_text.split("\n\n").map(str::to_owned).collect(),
        body_sha256: form.body_sha256,
        validity: form.valid_for_days.map_or_else(
            || "until withdrawn".to_owned(),
            |days| format!("for {days} days from the signature, unless withdrawn"),
        ),
    };
    Ok(render(&page))
}

#[derive(Template)]
#[template(path = "consent_forms.html")]
struct ConsentFormsPage {
    chrome: Chrome,
    csrf_token: String,
    notice: Option<String>,
    forms: Vec<ConsentFormView>,
    typed: NewFormVersion,
    errors: FormErrors,
}

/// A new version of a consent form as typed.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct NewFormVersion {
    #[serde(default)]
    pub csrf_token: String,
    #[serde(default)]
    pub form_id: String,
    #[serde(default)]
    pub modality: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub body_text: String,
    #[serde(default)]
    pub valid_for_days: String,
}

async fn consent_forms_page(
    state: &PagesState,
    signed: &SignedIn,
    notice: Option<String>,
    typed: NewFormVersion,
    errors: FormErrors,
) -> Result<ConsentFormsPage, PageError> {
    state
        .app
        .authorize(&signed.actor, Permission::ManageConsentForms, "consent_form.list", "consent-forms".to_owned(), None)
        .await?;
    let mut forms = state.app.consent_forms(&signed.actor).await?;
    forms.reverse();
    Ok(ConsentFormsPage {
        chrome: Chrome::signed_in("Consent forms", "consent-forms", &signed.principal),
        csrf_token: signed.principal.csrf_token.clone().unwrap_or_default(),
        notice,
        forms,
        typed,
        errors,
    })
}

/// `GET /admin/consent-forms` (admins).
pub async fn consent_forms(
    State(state): State<PagesState>,
    signed: SignedIn,
    Query(query): Query<ConsentsQuery>,
) -> Result<Response, PageError> {
    let notice = query.saved.map(|form| format!("A new version of {form} was stored; new consents use it."));
    let page = consent_forms_page(&state, &signed, notice, NewFormVersion::default(), FormErrors::default()).await?;
    Ok(render(&page))
}

/// `POST /admin/consent-forms`: stores the form's next version through `App::create_consent_form_version`.
pub async fn create_consent_form_version(
    State(state): State<PagesState>,
    signed: SignedIn,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let form: NewFormVersion = read_form(&headers, &body)?;
    signed.check_form_token(&form.csrf_token)?;
    state
        .app
        .authorize(
            &signed.actor,
            Permission::ManageConsentForms,
            "consent_form.create",
            "consent-forms".to_owned(),
            None,
        )
        .await?;
    let days = form.valid_for_days.trim();
    let valid_for_days =
        if days.is_empty() { json!(null) } else { days.parse::<i64>().map_or(json!(days), |days| json!(days)) };
    let text = |value: &str| (!value.trim().is_empty()).then(|| value.trim().to_owned());
    let request = json!({ "form_id": text(&form.form_id), "modality": text(&form.modality), "title": text(&form.title),
                          "body_text": text(&form.body_text.replace("\r\n", "\n")), "valid_for_days": valid_for_days });
    match state.app.create_consent_form_version(&signed.actor, &request.to_string()).await {
        Ok(stored) => Ok(Redirect::to(&format!("/admin/consent-forms?saved={}", stored.form_id)).into_response()),
        Err(error) => {
            let (field, message) = refusal_message(error)?;
            let id = match field.as_str() {
                "form_id" | "modality" | "title" | "body_text" | "valid_for_days" => format!("new-{field}"),
                _ => "new-form_id".to_owned(),
            };
            let errors = FormErrors { messages: vec![(id, message)] };
            let page = consent_forms_page(&state, &signed, None, form, errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
    }
}
