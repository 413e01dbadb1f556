//! Informed consent use cases: the admin keeps the consent forms (each change a new version), a nurse or
//! prescriber records a patient's signed consent on a form version with its signer and witness, and
//! withdraws it or marks it entered in error with a reason. The pre-dose gate reads the consents through
//! [`App::informed_consent_on`], so a dose is refused without a current consent to its modality.

use jiff::civil::Date;
use jiff::{Span, Timestamp};
use ketacare_core::session::gate::{ConsentOnFile, InformedConsent, informed_consent_on};
use ketacare_store::{
    AmendmentMeta, ConsentChange, ConsentForm, ConsentModality, PatientConsent, RecordStatus, Role, SignerRelationship,
};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::patients::idempotency_key;
use crate::policy::Permission;
use crate::secrets::{new_id, sha256_hex};
use crate::treatment::{optional_string, parse_object, reason_of, reject_unknown};
use crate::{Actor, App, AppError, Created};

/// Longest consent form text accepted, in characters.
const CONSENT_FORM_MAX_CHARS: usize = 20_000;
/// Longest validity a form may give a consent, in days (ten years).
const CONSENT_VALID_FOR_MAX_DAYS: i64 = 3_650;

/// One version of a consent form as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsentFormView {
    pub form_id: String,
    pub version: i64,
    pub modality: ConsentModality,
    pub title: String,
    pub body_text: String,
    /// SHA-256 of `body_text`: what the patient signed is identified by it.
    pub body_sha256: String,
    pub valid_for_days: Option<i64>,
    pub created_at: String,
    pub created_by: String,
}

/// A patient's consent as the API shows it, with what it means today.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsentView {
    pub consent_id: String,
    pub patient_id: String,
    pub form_id: String,
    pub form_version: i64,
    pub form_title: String,
    pub modality: ConsentModality,
    pub signed_on: String,
    pub valid_until: Option<String>,
    pub signer_name: String,
    pub signer_relationship: SignerRelationship,
    pub witnessed_by: String,
    pub withdrawn_on: Option<String>,
    pub withdrawal_reason: Option<String>,
    pub status: RecordStatus,
    /// For `If-Match` when withdrawing it or marking it entered in error.
    pub version: i64,
    pub created_at: String,
    pub created_by: String,
}

/// Whether the patient has a current consent to one modality today, and which consent decides it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModalityConsentView {
    pub modality: ConsentModality,
    /// `current`, `expired`, `withdrawn` or `not_on_file`: what the pre-dose gate's `INFORMED_CONSENT` reads.
    pub informed_consent: &'static str,
}

/// A patient's consents and what they mean today.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PatientConsentsView {
    pub patient_id: String,
    /// The clinic's date the `by_modality` states are for.
    pub as_of: String,
    pub by_modality: Vec<ModalityConsentView>,
    /// Every consent, entered-in-error and withdrawn ones too, oldest signature first.
    pub consents: Vec<ConsentView>,
}

fn form_view(form: ConsentForm) -> ConsentFormView {
    ConsentFormView {
        form_id: form.form_id,
        version: form.version,
        modality: form.modality,
        title: form.title,
        body_text: form.body_text,
        body_sha256: form.body_sha256,
        valid_for_days: form.valid_for_days,
        created_at: form.created_at.to_string(),
        created_by: form.created_by,
    }
}

fn consent_view(consent: PatientConsent, forms: &[ConsentForm]) -> ConsentView {
    let form_title = forms
        .iter()
        .find(|form| form.form_id == consent.form_id && form.version == consent.form_version)
        .map(|form| form.title.clone())
        .unwrap_or_default();
    ConsentView {
        consent_id: consent.consent_id,
        patient_id: consent.patient_id,
        form_id: consent.form_id,
        form_version: consent.form_version,
        form_title,
        modality: consent.modality,
        signed_on: consent.signed_on.to_string(),
        valid_until: consent.valid_until.map(|day| day.to_string()),
        signer_name: consent.signer_name,
        signer_relationship: consent.signer_relationship,
        witnessed_by: consent.witnessed_by,
        withdrawn_on: consent.withdrawn_on.map(|day| day.to_string()),
        withdrawal_reason: consent.withdrawal_reason,
        status: consent.status,
        version: consent.version,
        created_at: consent.created_at.to_string(),
        created_by: consent.created_by,
    }
}

/// The gate's view of one modality on `day`: the consents not entered in error decide.
fn informed_consent_of(consents: &[PatientConsent], modality: ConsentModality, day: Date) -> InformedConsent {
    let on_file: Vec<ConsentOnFile> = consents
        .iter()
        .filter(|consent| consent.modality == modality && consent.status == RecordStatus::Active)
        .map(|consent| ConsentOnFile {
            signed_on: consent.signed_on,
            valid_until: consent.valid_until,
            withdrawn_on: consent.withdrawn_on,
        })
        .collect();
    informed_consent_on(day, &on_file)
}

fn required_string(object: &mut Map<String, Value>, key: &str, max_chars: usize) -> Result<String, AppError> {
    let text = optional_string(object, key)?.ok_or_else(|| AppError::invalid(key, "is required"))?;
    let text = text.trim().to_owned();
    if text.chars().count() > max_chars {
        return Err(AppError::invalid(key, format!("must be at most {max_chars} characters")));
    }
    Ok(text)
}

fn modality_field(object: &mut Map<String, Value>) -> Result<ConsentModality, AppError> {
    let word = optional_string(object, "modality")?
        .ok_or_else(|| AppError::invalid("modality", "is required (esketamine or iv_racemic_ketamine)"))?;
    ConsentModality::parse(&word).ok_or_else(|| {
        AppError::invalid("modality", format!("must be esketamine or iv_racemic_ketamine, got {word:?}"))
    })
}

fn date_field(object: &mut Map<String, Value>, key: &str) -> Result<Option<Date>, AppError> {
    optional_string(object, key)?
        .map(|text| {
            text.parse::<Date>().map_err(|_| AppError::invalid(key, format!("must be a date YYYY-MM-DD, got {text:?}")))
        })
        .transpose()
}

fn integer_field(object: &mut Map<String, Value>, key: &str) -> Result<Option<i64>, AppError> {
    match object.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(number)) if number.as_i64().is_some() => Ok(number.as_i64()),
        Some(_) => Err(AppError::invalid(key, "must be a whole number")),
    }
}

impl App {
    /// Every version of every consent form (staff who record consents, and admins who keep the forms).
    pub async fn consent_forms(&self, actor: &Actor) -> Result<Vec<ConsentFormView>, AppError> {
        let event = self
            .permitted_event(actor, Permission::ReadConsents, "consent_form.list", "consent-forms".to_owned(), None)
            .await?;
        let forms = self.store.consent_forms().await?;
        self.store.append_audit(&event).await?;
        Ok(forms.into_iter().map(form_view).collect())
    }

    /// Stores a consent form's next version (admins): `form_id`, `modality`, `title`, `body_text` and
    /// `valid_for_days` (how long a consent on it holds; absent: until withdrawn). A new `form_id` starts at
    /// version 1; an existing one keeps its modality.
    pub async fn create_consent_form_version(&self, actor: &Actor, body: &str) -> Result<ConsentFormView, AppError> {
        let event = self
            .permitted_event(
                actor,
                Permission::ManageConsentForms,
                "consent_form.create",
                "consent-forms".to_owned(),
                None,
            )
            .await?;
        let result = async {
            let mut object = parse_object(body)?;
            let form_id = required_string(&mut object, "form_id", 64)?;
            if !form_id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
                return Err(AppError::invalid("form_id", "must be lowercase letters, digits and hyphens"));
            }
            let modality = modality_field(&mut object)?;
            let title = required_string(&mut object, "title", 200)?;
            let body_text = required_string(&mut object, "body_text", CONSENT_FORM_MAX_CHARS)?;
            let valid_for_days = integer_field(&mut object, "valid_for_days")?;
            if let Some(days) = valid_for_days
                && !(1..=CONSENT_VALID_FOR_MAX_DAYS).contains(&days)
            {
                return Err(AppError::invalid(
                    "valid_for_days",
                    format!("must be from 1 to {CONSENT_VALID_FOR_MAX_DAYS} days, or absent for until withdrawn"),
                ));
            }
            reject_unknown(&object)?;
            let versions: Vec<ConsentForm> =
                self.store.consent_forms().await?.into_iter().filter(|form| form.form_id == form_id).collect();
            if let Some(existing) = versions.last()
                && existing.modality != modality
            {
                return Err(AppError::invalid(
                    "modality",
                    format!("form {form_id} is for {}; a form keeps its modality", existing.modality.as_str()),
                ));
            }
            let form = ConsentForm {
                version: versions.last().map_or(1, |form| form.version + 1),
                form_id,
                modality,
                title,
                body_sha256: sha256_hex(&body_text),
                body_text,
                valid_for_days,
                created_at: self.now(),
                created_by: actor.user_id.clone(),
            };
            let mut event = event.clone();
            event.resource = format!("consent-form/{}/{}", form.form_id, form.version);
            self.store.insert_consent_form(&form, &event).await?;
            Ok(form_view(form))
        }
        .await;
        match result {
            Ok(view) => Ok(view),
            Err(error) => Err(self.audit_failure(event, error).await),
        }
    }

    /// A patient's consents, and whether each modality has a current one today.
    pub async fn patient_consents(&self, actor: &Actor, patient_id: &str) -> Result<PatientConsentsView, AppError> {
        let event = self
            .permitted_event(
                actor,
                Permission::ReadConsents,
                "consent.list",
                format!("patient/{patient_id}/consents"),
                Some(patient_id),
            )
            .await?;
        if self.store.patient(patient_id).await?.is_none() {
            let error = AppError::NotFound { resource: "patient", id: patient_id.to_owned() };
            return Err(self.audit_failure(event, error).await);
        }
        let consents = self.store.patient_consents(patient_id).await?;
        let forms = self.store.consent_forms().await?;
        self.store.append_audit(&event).await?;
        let today = self.today();
        Ok(PatientConsentsView {
            patient_id: patient_id.to_owned(),
            as_of: today.to_string(),
            by_modality: ConsentModality::ALL
                .into_iter()
                .map(|modality| ModalityConsentView {
                    modality,
                    informed_consent: informed_consent_of(&consents, modality, today).as_str(),
                })
                .collect(),
            consents: consents.into_iter().map(|consent| consent_view(consent, &forms)).collect(),
        })
    }

    /// Records a patient's signed consent (nurses and prescribers): `form_id` with `form_version` (absent:
    /// the latest), `signed_on` (a clinic date, not after today), `signer_name`, `signer_relationship`
    /// (`patient` or `legal_representative`), `witness_username` (a clinical staff account) and
    /// `valid_until` (absent: the form's validity from the signature; never beyond it).
    pub async fn record_consent(
        &self,
        actor: &Actor,
        patient_id: &str,
        body: &str,
        key: Option<&str>,
    ) -> Result<Created, AppError> {
        let consent_id = new_id();
        let event = self
            .permitted_event(
                actor,
                Permission::RecordConsents,
                "consent.create",
                format!("patient/{patient_id}/consent/{consent_id}"),
                Some(patient_id),
            )
            .await?;
        let key = idempotency_key(key)?;
        let request_sha256 = sha256_hex(&format!("consent\n{patient_id}\n{body}"));
        if let Some(created) = self.replay_created(actor, key, &request_sha256, "consent_id").await? {
            return Ok(created);
        }
        let checked = self.check_consent(actor, patient_id, &consent_id, body).await;
        let (consent, forms) = match checked {
            Ok(checked) => checked,
            Err(error) => return Err(self.audit_failure(event, error).await),
        };
        let view = serde_json::to_value(consent_view(consent.clone(), &forms)).expect("a consent view serializes");
        let idempotent = Self::keyed_response(actor, key, &request_sha256, &view);
        match self.store.insert_patient_consent(&consent, &event, idempotent.as_ref()).await {
            Ok(()) => Ok(Created { resource_id: consent_id, body: view, replayed: false }),
            Err(error) => self.created_or_failure(actor, key, &request_sha256, "consent_id", event, error).await,
        }
    }

    async fn check_consent(
        &self,
        actor: &Actor,
        patient_id: &str,
        consent_id: &str,
        body: &str,
    ) -> Result<(PatientConsent, Vec<ConsentForm>), AppError> {
        let mut object = parse_object(body)?;
        let form_id = required_string(&mut object, "form_id", 64)?;
        let form_version = integer_field(&mut object, "form_version")?;
        let signed_on =
            date_field(&mut object, "signed_on")?.ok_or_else(|| AppError::invalid("signed_on", "is required"))?;
        let signer_name = required_string(&mut object, "signer_name", 200)?;
        let relationship = required_string(&mut object, "signer_relationship", 40)?;
        let signer_relationship = SignerRelationship::parse(&relationship).ok_or_else(|| {
            AppError::invalid(
                "signer_relationship",
                format!("must be patient or legal_representative, got {relationship:?}"),
            )
        })?;
        let witness_username = required_string(&mut object, "witness_username", 200)?;
        let valid_until = date_field(&mut object, "valid_until")?;
        reject_unknown(&object)?;
        let today = self.today();
        if signed_on > today {
            return Err(AppError::Refused {
                field: "signed_on".to_owned(),
                rule_id: "FUTURE_CLINICAL_TIME".to_owned(),
                problem: format!("{signed_on} is after today ({today}) in the clinic"),
            });
        }
        if self.store.patient(patient_id).await?.is_none() {
            return Err(AppError::NotFound { resource: "patient", id: patient_id.to_owned() });
        }
        let forms = self.store.consent_forms().await?;
        let form = forms
            .iter()
            .filter(|form| form.form_id == form_id)
            .filter(|form| form_version.is_none_or(|version| form.version == version))
            .max_by_key(|form| form.version)
            .ok_or_else(|| match form_version {
                Some(version) => AppError::invalid("form_version", format!("form {form_id} has no version {version}")),
                None => AppError::invalid("form_id", format!("no consent form {form_id}")),
            })?
            .clone();
        let witness = self
            .store
            .user_by_username(&witness_username)
            .await?
            .filter(|user| user.active && matches!(user.role, Role::Admin | Role::Prescriber | Role::Nurse))
            .ok_or_else(|| {
                AppError::invalid(
                    "witness_username",
                    format!("{witness_username:?} is not an active clinical staff account"),
                )
            })?;
        let form_limit = form.valid_for_days.map(|days| signed_on.saturating_add(Span::new().days(days)));
        let valid_until = match (valid_until, form_limit) {
            (Some(until), _) if until < signed_on => {
                return Err(AppError::invalid("valid_until", "must not be before signed_on"));
            }
            (Some(until), Some(limit)) if until > limit => {
                return Err(AppError::invalid(
                    "valid_until",
                    format!(
                        "the form holds a consent for {} days, until {limit} at the latest",
                        form.valid_for_days.unwrap_or_default()
                    ),
                ));
            }
            (Some(until), _) => Some(until),
            (None, limit) => limit,
        };
        let now: Timestamp = self.now();
        Ok((
            PatientConsent {
                patient_id: patient_id.to_owned(),
                consent_id: consent_id.to_owned(),
                form_id: form.form_id.clone(),
                form_version: form.version,
                modality: form.modality,
                signed_on,
                valid_until,
                signer_name,
                signer_relationship,
                witnessed_by: witness.user_id,
                withdrawn_on: None,
                withdrawal_reason: None,
                status: RecordStatus::Active,
                version: 1,
                created_at: now,
                created_by: actor.user_id.clone(),
                updated_at: now,
                updated_by: actor.user_id.clone(),
            },
            forms,
        ))
    }

    /// Withdraws a consent (`{"status": "withdrawn", "reason", "withdrawn_on"}`, the date defaulting to today)
    /// or marks it entered in error (`{"status": "entered_in_error", "reason"}`), under its version.
    pub async fn change_consent(
        &self,
        actor: &Actor,
        patient_id: &str,
        consent_id: &str,
        expected_version: i64,
        body: &str,
    ) -> Result<ConsentView, AppError> {
        let event = self
            .permitted_event(
                actor,
                Permission::RecordConsents,
                "consent.amend",
                format!("patient/{patient_id}/consent/{consent_id}"),
                Some(patient_id),
            )
            .await?;
        let result = async {
            let mut object = parse_object(body)?;
            let reason = reason_of(&mut object)?
                .ok_or_else(|| AppError::invalid("reason", "a withdrawal or a correction needs a reason"))?;
            let status = optional_string(&mut object, "status")?
                .ok_or_else(|| AppError::invalid("status", "is required (withdrawn or entered_in_error)"))?;
            let withdrawn_on = date_field(&mut object, "withdrawn_on")?;
            reject_unknown(&object)?;
            let consents = self.store.patient_consents(patient_id).await?;
            let prior = consents
                .into_iter()
                .find(|consent| consent.consent_id == consent_id)
                .ok_or_else(|| AppError::NotFound { resource: "consent", id: consent_id.to_owned() })?;
            if prior.version != expected_version {
                return Err(AppError::StaleVersion {
                    resource: "consent",
                    id: consent_id.to_owned(),
                    current_version: prior.version,
                });
            }
            if prior.status == RecordStatus::EnteredInError {
                return Err(AppError::invalid("status", "the consent is entered in error already"));
            }
            let today = self.today();
            let change = match status.as_str() {
                "withdrawn" => {
                    if prior.withdrawn_on.is_some() {
                        return Err(AppError::invalid("status", "the consent is withdrawn already"));
                    }
                    let on = withdrawn_on.unwrap_or(today);
                    if on > today {
                        return Err(AppError::Refused {
                            field: "withdrawn_on".to_owned(),
                            rule_id: "FUTURE_CLINICAL_TIME".to_owned(),
                            problem: format!("{on} is after today ({today}) in the clinic"),
                        });
                    }
                    if on < prior.signed_on {
                        return Err(AppError::invalid("withdrawn_on", "must not be before the consent was signed"));
                    }
                    ConsentChange::Withdrawn { on }
                }
                "entered_in_error" if withdrawn_on.is_none() => ConsentChange::EnteredInError,
                "entered_in_error" => {
                    return Err(AppError::invalid("withdrawn_on", "is for a withdrawal, not a correction"));
                }
                other => {
                    return Err(AppError::invalid(
                        "status",
                        format!("must be withdrawn or entered_in_error, got {other:?}"),
                    ));
                }
            };
            let meta = AmendmentMeta {
                amendment_id: new_id(),
                reason,
                amended_by: actor.user_id.clone(),
                amended_at: self.now(),
            };
            let changed = self.store.change_patient_consent(&prior, expected_version, &change, &meta, &event).await?;
            let forms = self.store.consent_forms().await?;
            Ok(consent_view(changed, &forms))
        }
        .await;
        match result {
            Ok(view) => Ok(view),
            Err(error) => Err(self.audit_failure(event, error).await),
        }
    }

    /// The day a session's consent is judged on: its dose's clinic date, or today for a session planned
    /// later (a dose is given today or not at all), so that a past session keeps the consent it was given
    /// under.
    pub(crate) fn consent_day(&self, record: &ketacare_store::TreatmentSessionRecord) -> Date {
        let today = self.today();
        let facts: Value = serde_json::from_str(&record.session.facts_json).unwrap_or(Value::Null);
        facts["dose"]["planned_at"]
            .as_str()
            .and_then(|at| at.get(..10))
            .and_then(|day| day.parse::<Date>().ok())
            .map_or(today, |day| day.min(today))
    }

    /// The pre-dose gate's `INFORMED_CONSENT` fact for a session of `modality` on `day`, with where it came
    /// from (for the session's `pre_dose_sources`).
    pub(crate) async fn informed_consent_on(
        &self,
        patient_id: &str,
        modality: &str,
        day: Date,
    ) -> Result<(InformedConsent, String), AppError> {
        let Some(modality) = ConsentModality::parse(modality) else {
            return Ok((InformedConsent::NotOnFile, format!("consents: no consent form is for {modality}")));
        };
        let consents = self.store.patient_consents(patient_id).await?;
        let today = day;
        let state = informed_consent_of(&consents, modality, today);
        let deciding = consents
            .iter()
            .filter(|consent| {
                consent.modality == modality && consent.status == RecordStatus::Active && consent.signed_on <= today
            })
            .max_by_key(|consent| consent.signed_on);
        let source = match deciding {
            Some(consent) => format!(
                "consents: {} form {} v{} signed on {} (consent {})",
                modality.as_str(),
                consent.form_id,
                consent.form_version,
                consent.signed_on,
                consent.consent_id
            ),
            None => format!("consents: none to {} on file", modality.as_str()),
        };
        Ok((state, source))
    }
}
