//! Patient use cases: create (idempotent), list with search and pagination, read, and amend under
//! optimistic concurrency. Analysts get [`DeIdentifiedPatient`]s: no names, MRN or birth date.

use jiff::civil::Date;
use ketacare_store::{
    AmendmentMeta, IdempotentResponse, NewPatient, Patient, PatientChanges, PatientListing, PatientSearch,
    RecordStatus, StoreError,
};
use serde::{Deserialize, Serialize};

use crate::policy::{Permission, de_identified_only, require};
use crate::secrets::{new_id, random_hex, sha256_hex};
use crate::{Actor, App, AppError, Created};

/// Page size when none is asked for, and the largest allowed.
const DEFAULT_PAGE_SIZE: i64 = 50;
const MAX_PAGE_SIZE: i64 = 200;

/// A patient as a client sends it to create one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatientInput {
    #[serde(default)]
    pub mrn: Option<String>,
    pub given_name: String,
    pub family_name: String,
    /// ISO 8601 date.
    pub birth_date: String,
    /// `female` or `male` (used for dosing).
    pub sex_at_birth: String,
}

/// Corrections to a patient, with the reason (required).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatientAmendmentInput {
    pub reason: Option<String>,
    #[serde(default, with = "double_option")]
    pub mrn: Option<Option<String>>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub birth_date: Option<String>,
    pub sex_at_birth: Option<String>,
    /// `active` or `entered_in_error`.
    pub status: Option<String>,
}

/// `"mrn": null` clears the MRN; an absent `mrn` leaves it.
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(deserializer).map(Some)
    }
}

/// What the list and search of patients asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PatientListQuery {
    pub q: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    /// The `next_cursor` of the previous page: the page after it (keyset pagination; not with `offset`).
    pub cursor: Option<String>,
    #[serde(default)]
    pub include_entered_in_error: bool,
}

/// A patient without identifying fields: what an analyst may see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeIdentifiedPatient {
    pub patient_id: String,
    pub pseudonym: String,
    /// `None` for patients aged 90 or over (HIPAA Safe Harbor aggregates those ages).
    pub birth_year: Option<i64>,
    pub sex_at_birth: String,
    pub status: RecordStatus,
    pub version: i64,
}

/// A patient as the asking role may see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum PatientView {
    Identified(Patient),
    DeIdentified(DeIdentifiedPatient),
}

impl PatientView {
    pub fn version(&self) -> i64 {
        match self {
            PatientView::Identified(patient) => patient.version,
            PatientView::DeIdentified(patient) => patient.version,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PatientListView {
    pub patients: Vec<PatientView>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
    /// Pass as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// The version tag of page cursors, so their format can change without misreading old ones.
const CURSOR_PREFIX: &str = "c1";

/// An opaque cursor for the page after `patient_id`. It holds only the id (which every role that lists
/// patients sees anyway), never a name: an analyst's cursor must not carry identifying data.
fn encode_cursor(patient_id: &str) -> String {
    let hex: String = patient_id.bytes().map(|byte| format!("{byte:02x}")).collect();
    format!("{CURSOR_PREFIX}{hex}")
}

fn decode_cursor(cursor: &str) -> Result<String, AppError> {
    let invalid = || AppError::invalid("cursor", "is not a cursor this server gave out; pass next_cursor as it came");
    let hex = cursor.strip_prefix(CURSOR_PREFIX).ok_or_else(invalid)?;
    if hex.is_empty() || hex.len() % 2 != 0 || hex.len() > 256 {
        return Err(invalid());
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&hex[at..at + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| invalid())?;
    String::from_utf8(bytes).map_err(|_| invalid())
}

pub(crate) struct ValidPatient {
    pub(crate) mrn: Option<String>,
    pub(crate) given_name: String,
    pub(crate) family_name: String,
    pub(crate) birth_date: Date,
    pub(crate) sex_at_birth: String,
}

fn name(field: &str, value: &str) -> Result<String, AppError> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > 200 {
        return Err(AppError::invalid(field, "must be 1 to 200 characters"));
    }
    Ok(value.to_owned())
}

fn birth_date(value: &str, today: Date) -> Result<Date, AppError> {
    let date: Date = ketacare_case::read_calendar_date(value)
        .ok_or_else(|| AppError::invalid("birth_date", format!("{value:?} is not a YYYY-MM-DD date from 1900")))?;
    if date > today {
        return Err(AppError::invalid("birth_date", format!("{value} is not a plausible birth date")));
    }
    Ok(date)
}

fn sex_at_birth(value: &str) -> Result<String, AppError> {
    match value {
        "female" | "male" => Ok(value.to_owned()),
        other => Err(AppError::invalid("sex_at_birth", format!("expected \"female\" or \"male\", got {other:?}"))),
    }
}

fn mrn(value: Option<&str>) -> Result<Option<String>, AppError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(value) if value.len() <= 64 => Ok(Some(value.to_owned())),
        Some(_) => Err(AppError::invalid("mrn", "must be at most 64 characters")),
    }
}

pub(crate) fn parse_patient(input: &PatientInput, today: Date) -> Result<ValidPatient, AppError> {
    Ok(ValidPatient {
        mrn: mrn(input.mrn.as_deref())?,
        given_name: name("given_name", &input.given_name)?,
        family_name: name("family_name", &input.family_name)?,
        birth_date: birth_date(&input.birth_date, today)?,
        sex_at_birth: sex_at_birth(&input.sex_at_birth)?,
    })
}

fn parse_changes(input: &PatientAmendmentInput, today: Date) -> Result<(PatientChanges, String), AppError> {
    let reason = match input.reason.as_deref().map(str::trim) {
        Some(reason) if !reason.is_empty() && reason.len() <= 1000 => reason.to_owned(),
        _ => return Err(AppError::invalid("reason", "a correction needs a reason (1 to 1000 characters)")),
    };
    let birth = input.birth_date.as_deref().map(|value| birth_date(value, today)).transpose()?;
    let changes = PatientChanges {
        mrn: input.mrn.as_ref().map(|value| mrn(value.as_deref())).transpose()?,
        given_name: input.given_name.as_deref().map(|value| name("given_name", value)).transpose()?,
        family_name: input.family_name.as_deref().map(|value| name("family_name", value)).transpose()?,
        birth_date: birth.map(|date| date.to_string()),
        birth_year: birth.map(|date| i64::from(date.year())),
        sex_at_birth: input.sex_at_birth.as_deref().map(sex_at_birth).transpose()?,
        status: match input.status.as_deref() {
            None => None,
            Some("active") => Some(RecordStatus::Active),
            Some("entered_in_error") => Some(RecordStatus::EnteredInError),
            Some(other) => {
                return Err(AppError::invalid(
                    "status",
                    format!("expected \"active\" or \"entered_in_error\", got {other:?}"),
                ));
            }
        },
    };
    if changes == PatientChanges::default() {
        return Err(AppError::invalid("(body)", "names no field to change"));
    }
    Ok((changes, reason))
}

/// Validates an `Idempotency-Key` header value.
pub(crate) fn idempotency_key(key: Option<&str>) -> Result<Option<&str>, AppError> {
    match key {
        None => Ok(None),
        Some(key) if (1..=255).contains(&key.len()) && key.bytes().all(|byte| byte.is_ascii_graphic()) => Ok(Some(key)),
        Some(_) => Err(AppError::invalid("Idempotency-Key", "must be 1 to 255 visible ASCII characters")),
    }
}

fn de_identify(patient: Patient, today: Date) -> DeIdentifiedPatient {
    let age_this_year = i64::from(today.year()) - patient.birth_year;
    DeIdentifiedPatient {
        patient_id: patient.patient_id,
        pseudonym: patient.pseudonym,
        birth_year: (age_this_year < 90).then_some(patient.birth_year),
        sex_at_birth: patient.sex_at_birth,
        status: patient.status,
        version: patient.version,
    }
}

impl App {
    /// The clinic's date now (in its time zone, `--time-zone`): what "today" means for a chart date, a
    /// birth date or a case's `as_of`. A clinic ahead of UTC must be able to chart today's date in the
    /// morning, and one behind it must not chart tomorrow's in the evening.
    pub(crate) fn today(&self) -> Date {
        let zone = jiff::tz::TimeZone::get(&self.clinic_time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
        self.now().to_zoned_datetime(zone).date()
    }

    fn view(&self, actor: &Actor, patient: Patient) -> PatientView {
        if de_identified_only(actor.role) {
            PatientView::DeIdentified(de_identify(patient, self.today()))
        } else {
            PatientView::Identified(patient)
        }
    }

    /// The answer stored for an earlier request with this key, or a refusal if that request differed.
    pub(crate) async fn replay(
        &self,
        actor: &Actor,
        key: &str,
        request_sha256: &str,
    ) -> Result<Option<Created>, AppError> {
        let Some(stored) = self.store.idempotent_response(&actor.user_id, key, self.now()).await? else {
            return Ok(None);
        };
        if stored.request_sha256 != request_sha256 {
            return Err(AppError::IdempotencyKeyReused { key: key.to_owned() });
        }
        let body: serde_json::Value = serde_json::from_str(&stored.response_json)
            .map_err(|error| AppError::Storage(StoreError::Corrupt(error.to_string())))?;
        let resource_id = body["patient_id"].as_str().unwrap_or_default().to_owned();
        let resource_id = body["assessment_id"].as_str().map_or(resource_id, str::to_owned);
        Ok(Some(Created { resource_id, body, replayed: true }))
    }

    /// Creates a patient. With an `Idempotency-Key`, a retry of the same request returns the first answer.
    pub async fn create_patient(
        &self,
        actor: &Actor,
        input: &PatientInput,
        key: Option<&str>,
    ) -> Result<Created, AppError> {
        let patient_id = new_id();
        let event = self
            .permitted_event(
                actor,
                Permission::CreatePatients,
                "patient.create",
                format!("patient/{patient_id}"),
                Some(&patient_id),
            )
            .await?;
        let key = idempotency_key(key)?;
        let request_sha256 = sha256_hex(&serde_json::to_string(input).expect("patient input serializes"));
        if let Some(key) = key
            && let Some(replayed) = self.replay(actor, key, &request_sha256).await?
        {
            return Ok(replayed);
        }
        let valid = parse_patient(input, self.today())?;
        let new_patient = NewPatient {
            patient_id: patient_id.clone(),
            pseudonym: format!("KC-{}", random_hex(5).to_uppercase()),
            mrn: valid.mrn,
            given_name: valid.given_name,
            family_name: valid.family_name,
            birth_date: valid.birth_date.to_string(),
            birth_year: i64::from(valid.birth_date.year()),
            sex_at_birth: valid.sex_at_birth,
            created_at: self.now(),
            created_by: actor.user_id.clone(),
        };
        let stored_view = |patient: Patient| serde_json::to_value(self.view(actor, patient)).expect("view serializes");
        // The body is known before the insert, so the idempotent answer is stored in the same transaction.
        let body = stored_view(Patient {
            patient_id: patient_id.clone(),
            pseudonym: new_patient.pseudonym.clone(),
            mrn: new_patient.mrn.clone(),
            given_name: new_patient.given_name.clone(),
            family_name: new_patient.family_name.clone(),
            birth_date: new_patient.birth_date.clone(),
            birth_year: new_patient.birth_year,
            sex_at_birth: new_patient.sex_at_birth.clone(),
            status: RecordStatus::Active,
            version: 1,
            created_at: ketacare_store::format_time(new_patient.created_at),
            created_by: actor.user_id.clone(),
            updated_at: ketacare_store::format_time(new_patient.created_at),
            updated_by: actor.user_id.clone(),
        });
        let idempotent = key.map(|key| IdempotentResponse {
            actor_id: actor.user_id.clone(),
            idempotency_key: key.to_owned(),
            request_sha256: request_sha256.clone(),
            status_code: 201,
            response_json: body.to_string(),
        });
        match self.store.insert_patient(&new_patient, &event, idempotent.as_ref()).await {
            Ok(_) => Ok(Created { resource_id: patient_id, body, replayed: false }),
            // A concurrent retry with the same key won the race: answer as it did.
            Err(StoreError::Duplicate { what: "idempotency key" }) => {
                let key = key.expect("only keyed requests store a key");
                self.replay(actor, key, &request_sha256).await?.ok_or(AppError::Duplicate { what: "idempotency key" })
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Reads one patient, as the actor's role may see it.
    pub async fn get_patient(&self, actor: &Actor, patient_id: &str) -> Result<PatientView, AppError> {
        let event = self
            .permitted_event(
                actor,
                Permission::ReadPatients,
                "patient.read",
                format!("patient/{patient_id}"),
                Some(patient_id),
            )
            .await?;
        let Some(patient) = self.store.patient(patient_id).await? else {
            let error = AppError::NotFound { resource: "patient", id: patient_id.to_owned() };
            return Err(self.audit_failure(event, error).await);
        };
        self.store.append_audit(&event).await?;
        Ok(self.view(actor, patient))
    }

    /// Lists and searches patients a page at a time; its audit event names each patient shown.
    pub async fn list_patients(&self, actor: &Actor, query: &PatientListQuery) -> Result<PatientListView, AppError> {
        let event =
            self.permitted_event(actor, Permission::ReadPatients, "patient.list", "patients".to_owned(), None).await?;
        let limit = query.limit.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&limit) {
            return Err(AppError::invalid("limit", format!("must be 1 to {MAX_PAGE_SIZE}, got {limit}")));
        }
        let offset = query.offset.unwrap_or(0);
        if offset < 0 {
            return Err(AppError::invalid("offset", format!("must not be negative, got {offset}")));
        }
        let after_patient_id = query.cursor.as_deref().map(decode_cursor).transpose()?;
        if after_patient_id.is_some() && offset != 0 {
            return Err(AppError::invalid("cursor", "cannot be combined with offset"));
        }
        let search_text = query.q.as_deref().map(str::trim).filter(|text| !text.is_empty());
        if de_identified_only(actor.role) && search_text.is_some_and(|text| !text.starts_with("KC-")) {
            return Err(AppError::invalid("q", "analysts search by pseudonym (KC-…) only"));
        }
        // Analysts see no names, so neither may the order of their list follow names.
        let listing = if de_identified_only(actor.role) { PatientListing::ByPseudonym } else { PatientListing::ByName };
        let search = PatientSearch {
            query: search_text.map(str::to_owned),
            listing,
            include_entered_in_error: query.include_entered_in_error,
            limit,
            offset,
        };
        let page = self.store.search_patients_after(&search, after_patient_id.as_deref()).await?;
        let next_cursor =
            if page.more { page.patients.last().map(|patient| encode_cursor(&patient.patient_id)) } else { None };
        // One event naming every patient shown, so "who saw this patient" includes lists.
        let shown: Vec<String> = page.patients.iter().map(|patient| patient.patient_id.clone()).collect();
        self.store.append_audit_showing(&event, &shown).await?;
        let patients = page.patients.into_iter().map(|patient| self.view(actor, patient)).collect();
        Ok(PatientListView { patients, total: page.total, limit, offset, next_cursor })
    }

    /// Corrects a patient read at `expected_version`; the prior record is kept as an amendment.
    pub async fn amend_patient(
        &self,
        actor: &Actor,
        patient_id: &str,
        expected_version: i64,
        input: &PatientAmendmentInput,
    ) -> Result<PatientView, AppError> {
        let event = self
            .permitted_event(
                actor,
                Permission::AmendPatients,
                "patient.amend",
                format!("patient/{patient_id}"),
                Some(patient_id),
            )
            .await?;
        let (changes, reason) = parse_changes(input, self.today())?;
        // A correction the engine reads (birth date, sex, status) must still make a valid case with the
        // patient's chart, and re-evaluates it: checked before the correction is stored, so an invalid
        // one changes nothing.
        let touches_decisions = changes.birth_date.is_some()
            || changes.birth_year.is_some()
            || changes.sex_at_birth.is_some()
            || changes.status.is_some();
        let mut evaluation = None;
        if touches_decisions && let Some(prior) = self.store.patient(patient_id).await? {
            let mut corrected = changes.applied_to(prior);
            corrected.version += 1;
            match self.evaluation_after_patient_change(actor, &corrected).await {
                Ok(decision) => evaluation = decision,
                Err(error) => return Err(self.audit_failure(event, error).await),
            }
        }
        let meta =
            AmendmentMeta { amendment_id: new_id(), reason, amended_by: actor.user_id.clone(), amended_at: self.now() };
        match self.store.amend_patient(patient_id, expected_version, &changes, &meta, &event).await {
            Ok(patient) => {
                // The decision goes in its own transaction right after the correction; a chart write in
                // between re-evaluates on its own, so the latest stored decision is never older than the chart.
                if let Some((assessment, evaluation_event)) = evaluation {
                    self.store.insert_assessment(&assessment, &evaluation_event, None).await?;
                }
                Ok(self.view(actor, patient))
            }
            Err(error) => Err(self.audit_failure(event, error.into()).await),
        }
    }

    /// The amendments of a patient's records, oldest first.
    pub async fn patient_amendments(
        &self,
        actor: &Actor,
        patient_id: &str,
    ) -> Result<Vec<ketacare_store::Amendment>, AppError> {
        let event =
            self.audit_event(actor, "amendment.list", format!("patient/{patient_id}/amendments"), Some(patient_id));
        if let Err(error) = require(actor, Permission::ReadAssessments) {
            return Err(self.audit_failure(event, error).await);
        }
        if self.store.patient(patient_id).await?.is_none() {
            let error = AppError::NotFound { resource: "patient", id: patient_id.to_owned() };
            return Err(self.audit_failure(event, error).await);
        }
        let amendments = self.store.amendments(patient_id).await?;
        self.store.append_audit(&event).await?;
        Ok(amendments)
    }
}

#[cfg(test)]
mod cursor_tests {
    use super::{decode_cursor, encode_cursor};

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        let id = "3f2a9c1e-0000-4000-8000-000000000001";
        assert_eq!(decode_cursor(&encode_cursor(id)).unwrap(), id);
        for foreign in ["", "c1", "c1zz", "c1abc", "x1616263", "Lovelace"] {
            assert!(decode_cursor(foreign).is_err(), "{foreign:?}");
        }
    }
}
