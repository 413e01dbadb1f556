//! Patients and their clinical records: scale results, assessments and the amendments that correct
//! them. Nothing here is deleted (triggers refuse it); a correction is an amendment that keeps the prior
//! value, and a mistaken record gets the status `entered_in_error`. Each write carries its audit event
//! (and, for a creating request, its idempotent response) into the same transaction.

use serde::Serialize;

use crate::audit::{AuditEvent, append_audit};
use crate::chart::insert_amendment;
use crate::row_versions::touch;
use crate::rows::RowExt;
use crate::users::duplicate_as;
use crate::{Store, StoreError, format_time, on_pool, write_tx};

/// Whether a clinical record stands, or was entered in error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordStatus {
    Active,
    EnteredInError,
}

impl RecordStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordStatus::Active => "active",
            RecordStatus::EnteredInError => "entered_in_error",
        }
    }

    pub(crate) fn parse(text: &str) -> Result<RecordStatus, StoreError> {
        match text {
            "active" => Ok(RecordStatus::Active),
            "entered_in_error" => Ok(RecordStatus::EnteredInError),
            other => Err(StoreError::Corrupt(format!("unknown record status {other:?}"))),
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewPatient {
    pub patient_id: String,
    pub pseudonym: String,
    pub mrn: Option<String>,
    pub given_name: String,
    pub family_name: String,
    /// ISO 8601 date.
    pub birth_date: String,
    pub birth_year: i64,
    /// `female` or `male`.
    pub sex_at_birth: String,
    pub created_at: jiff::Timestamp,
    pub created_by: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Patient {
    pub patient_id: String,
    pub pseudonym: String,
    pub mrn: Option<String>,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: String,
    pub birth_year: i64,
    pub sex_at_birth: String,
    pub status: RecordStatus,
    pub version: i64,
    pub created_at: String,
    pub created_by: String,
    pub updated_at: String,
    pub updated_by: String,
}

/// Fields to change on a patient; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PatientChanges {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mrn: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birth_year: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sex_at_birth: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<RecordStatus>,
}

impl PatientChanges {
    /// The patient with these fields changed (version and authorship are the store's to set).
    pub fn applied_to(&self, mut patient: Patient) -> Patient {
        if let Some(mrn) = &self.mrn {
            patient.mrn = mrn.clone();
        }
        if let Some(value) = &self.given_name {
            patient.given_name = value.clone();
        }
        if let Some(value) = &self.family_name {
            patient.family_name = value.clone();
        }
        if let Some(value) = &self.birth_date {
            patient.birth_date = value.clone();
        }
        if let Some(value) = self.birth_year {
            patient.birth_year = value;
        }
        if let Some(value) = &self.sex_at_birth {
            patient.sex_at_birth = value.clone();
        }
        if let Some(value) = self.status {
            patient.status = value;
        }
        patient
    }
}

/// One correction of a clinical record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Amendment {
    pub amendment_id: String,
    pub patient_id: String,
    pub resource_type: String,
    pub resource_id: String,
    pub from_version: i64,
    /// The record as it was before (JSON text).
    pub prior_json: String,
    /// The fields changed (JSON text).
    pub new_json: String,
    pub reason: String,
    pub amended_by: String,
    pub amended_at: String,
}

/// How a list of patients is searched and ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PatientListing {
    /// By name, MRN or pseudonym, in family-name order (staff who see names).
    #[default]
    ByName,
    /// By pseudonym only, in pseudonym order: the order of names would tell an analyst something about
    /// names, which they may not see.
    ByPseudonym,
}

#[derive(Debug, Clone, Default)]
pub struct PatientSearch {
    /// [`PatientListing::ByName`]: matches the start of either name (case-insensitive), or an MRN,
    /// pseudonym or birth date (`YYYY-MM-DD`) exactly; [`PatientListing::ByPseudonym`]: a pseudonym exactly.
    pub query: Option<String>,
    pub listing: PatientListing,
    pub include_entered_in_error: bool,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientPage {
    pub patients: Vec<Patient>,
    /// Matches in all, across pages.
    pub total: i64,
    /// More matches follow the last patient of this page (in name order).
    pub more: bool,
}

#[derive(Debug, Clone)]
pub struct NewScaleResult {
    pub patient_id: String,
    pub scale_result_id: String,
    pub scale: String,
    pub answers_json: Option<String>,
    pub total: Option<i64>,
    pub administered_on: String,
    pub created_at: jiff::Timestamp,
    pub created_by: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredScaleResult {
    pub patient_id: String,
    pub scale_result_id: String,
    pub scale: String,
    pub answers_json: Option<String>,
    pub total: Option<i64>,
    pub administered_on: String,
    pub status: RecordStatus,
    pub version: i64,
    pub created_at: String,
    pub created_by: String,
}

#[derive(Debug, Clone)]
pub struct NewAssessment {
    pub patient_id: String,
    pub assessment_id: String,
    pub as_of: String,
    pub case_json: String,
    pub decision_json: String,
    pub rules_version: String,
    pub protocol_sha256: String,
    pub created_at: jiff::Timestamp,
    pub created_by: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredAssessment {
    pub patient_id: String,
    pub assessment_id: String,
    pub as_of: String,
    pub case_json: String,
    pub decision_json: String,
    pub rules_version: String,
    pub protocol_sha256: String,
    pub status: RecordStatus,
    pub version: i64,
    pub created_at: String,
    pub created_by: String,
}

/// The answer stored for a creating request made with an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentResponse {
    pub actor_id: String,
    pub idempotency_key: String,
    /// SHA-256 of the request body: the same key with another body is a client error.
    pub request_sha256: String,
    pub status_code: i64,
    pub response_json: String,
}

const PATIENT_COLUMNS: &str = "patient_id, pseudonym, mrn, given_name, family_name, birth_date, birth_year, \
     sex_at_birth, status, version, created_at, created_by, updated_at, updated_by";

fn patient_from_row(row: &impl RowExt) -> Result<Patient, StoreError> {
    Ok(Patient {
        patient_id: row.text("patient_id")?,
        pseudonym: row.text("pseudonym")?,
        mrn: row.opt_text("mrn")?,
        given_name: row.text("given_name")?,
        family_name: row.text("family_name")?,
        birth_date: row.text("birth_date")?,
        birth_year: row.int("birth_year")?,
        sex_at_birth: row.text("sex_at_birth")?,
        status: RecordStatus::parse(&row.text("status")?)?,
        version: row.int("version")?,
        created_at: row.text("created_at")?,
        created_by: row.text("created_by")?,
        updated_at: row.text("updated_at")?,
        updated_by: row.text("updated_by")?,
    })
}

const ASSESSMENT_COLUMNS: &str = "patient_id, assessment_id, as_of, case_json, decision_json, rules_version, \
     protocol_sha256, status, version, created_at, created_by";

fn assessment_from_row(row: &impl RowExt) -> Result<StoredAssessment, StoreError> {
    Ok(StoredAssessment {
        patient_id: row.text("patient_id")?,
        assessment_id: row.text("assessment_id")?,
        as_of: row.text("as_of")?,
        case_json: row.text("case_json")?,
        decision_json: row.text("decision_json")?,
        rules_version: row.text("rules_version")?,
        protocol_sha256: row.text("protocol_sha256")?,
        status: RecordStatus::parse(&row.text("status")?)?,
        version: row.int("version")?,
        created_at: row.text("created_at")?,
        created_by: row.text("created_by")?,
    })
}

pub(crate) fn scale_result_from_row(row: &impl RowExt) -> Result<StoredScaleResult, StoreError> {
    Ok(StoredScaleResult {
        patient_id: row.text("patient_id")?,
        scale_result_id: row.text("scale_result_id")?,
        scale: row.text("scale")?,
        answers_json: row.opt_text("answers_json")?,
        total: row.opt_int("total")?,
        administered_on: row.text("administered_on")?,
        status: RecordStatus::parse(&row.text("status")?)?,
        version: row.int("version")?,
        created_at: row.text("created_at")?,
        created_by: row.text("created_by")?,
    })
}

/// Maps a foreign-key violation (the patient does not exist) to [`StoreError::NotFound`].
pub(crate) fn missing_patient(patient_id: &str) -> impl Fn(sqlx::Error) -> StoreError + '_ {
    move |error| match &error {
        sqlx::Error::Database(database) if database.is_foreign_key_violation() => {
            StoreError::NotFound { resource: "patient", id: patient_id.to_owned() }
        }
        _ => StoreError::Database(error),
    }
}

/// Inserts `$assessment` (a [`NewAssessment`]) in the open transaction `$tx` and names its row for the
/// job's next audit event: the one INSERT of an assessment, for the API's assessments, the evaluations a
/// chart write stores and those of an import.
macro_rules! insert_assessment_row {
    ($tx:expr, $assessment:expr) => {{
        let assessment: &$crate::NewAssessment = $assessment;
        sqlx::query(
            "INSERT INTO assessments (patient_id, assessment_id, as_of, case_json, decision_json, rules_version, \
             protocol_sha256, status, version, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'active', 1, $8, $9)",
        )
        .bind(&assessment.patient_id)
        .bind(&assessment.assessment_id)
        .bind(&assessment.as_of)
        .bind(&assessment.case_json)
        .bind(&assessment.decision_json)
        .bind(&assessment.rules_version)
        .bind(&assessment.protocol_sha256)
        .bind($crate::format_time(assessment.created_at))
        .bind(&assessment.created_by)
        .execute(&mut *$tx.conn)
        .await
        .map_err($crate::patients::missing_patient(&assessment.patient_id))?;
        $crate::row_versions::touch!($tx, "assessments", [&assessment.patient_id, &assessment.assessment_id]);
    }};
}
pub(crate) use insert_assessment_row;

/// How long the answer to a request with an `Idempotency-Key` is kept and replayed: a retry within this
/// period gets the first answer; afterwards the key is free again (and the row is pruned).
pub const IDEMPOTENCY_KEY_LIFETIME_HOURS: i64 = 24;

/// The stored time before which an idempotency key has expired, for a request at `at`.
pub(crate) fn idempotency_cutoff(at: jiff::Timestamp) -> String {
    let lifetime = jiff::SignedDuration::from_hours(IDEMPOTENCY_KEY_LIFETIME_HOURS);
    format_time(at.checked_sub(lifetime).unwrap_or(jiff::Timestamp::MIN))
}

/// Stores `$response` (an `Option<&IdempotentResponse>`) inside the open transaction `$tx`, at the stored
/// time `$at` (text). A key still in use ([`IDEMPOTENCY_KEY_LIFETIME_HOURS`]) is
/// [`StoreError::Duplicate`]; an expired one is taken over.
macro_rules! store_idempotent {
    ($tx:expr, $response:expr, $at:expr) => {
        if let Some(response) = $response {
            let at: &str = &$at;
            let cutoff = $crate::patients::idempotency_cutoff(
                at.parse().map_err(|_| StoreError::Corrupt(format!("a stored time that is not a time: {at}")))?,
            );
            let stored = sqlx::query(
                "INSERT INTO idempotency_keys (actor_id, idempotency_key, request_sha256, status_code, response_json, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (actor_id, idempotency_key) DO UPDATE SET \
                 request_sha256 = excluded.request_sha256, status_code = excluded.status_code, \
                 response_json = excluded.response_json, created_at = excluded.created_at \
                 WHERE idempotency_keys.created_at < $7",
            )
            .bind(&response.actor_id)
            .bind(&response.idempotency_key)
            .bind(&response.request_sha256)
            .bind(response.status_code)
            .bind(&response.response_json)
            .bind(at)
            .bind(&cutoff)
            .execute(&mut *$tx.conn)
            .await?;
            if stored.rows_affected() != 1 {
                return Err(StoreError::Duplicate { what: "idempotency key" });
            }
        }
    };
}

pub(crate) use store_idempotent;

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
fn like_prefix(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 1);
    for character in text.to_lowercase().chars() {
        if matches!(character, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(character);
    }
    pattern.push('%');
    pattern
}

impl Store {
    /// Deletes the idempotency keys that expired by `now`; returns how many. The server runs it
    /// periodically (expired keys are never replayed anyway).
    pub async fn prune_idempotency_keys(&self, now: jiff::Timestamp) -> Result<u64, StoreError> {
        let cutoff = idempotency_cutoff(now);
        let deleted = on_pool!(self, pool => {
            sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1").bind(&cutoff).execute(pool).await?.rows_affected()
        });
        Ok(deleted)
    }

    /// The answer an earlier request with this key got, if any, unless it has expired by `now`.
    pub async fn idempotent_response(
        &self,
        actor_id: &str,
        idempotency_key: &str,
        now: jiff::Timestamp,
    ) -> Result<Option<IdempotentResponse>, StoreError> {
        on_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT request_sha256, status_code, response_json FROM idempotency_keys \
                 WHERE actor_id = $1 AND idempotency_key = $2 AND created_at >= $3",
            )
            .bind(actor_id)
            .bind(idempotency_key)
            .bind(idempotency_cutoff(now))
            .fetch_optional(pool)
            .await?;
            let Some(row) = row else { return Ok(None) };
            Ok(Some(IdempotentResponse {
                actor_id: actor_id.to_owned(),
                idempotency_key: idempotency_key.to_owned(),
                request_sha256: row.text("request_sha256")?,
                status_code: row.int("status_code")?,
                response_json: row.text("response_json")?,
            }))
        })
    }

    pub async fn insert_patient(
        &self,
        patient: &NewPatient,
        audit: &AuditEvent,
        idempotent: Option<&IdempotentResponse>,
    ) -> Result<Patient, StoreError> {
        let at = format_time(patient.created_at);
        write_tx!(self, [patient, audit, idempotent, at], tx => {
            sqlx::query(
                "INSERT INTO patients (patient_id, pseudonym, mrn, given_name, family_name, birth_date, birth_year, \
                 sex_at_birth, status, version, created_at, created_by, updated_at, updated_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'active', 1, $9, $10, $9, $10)",
            )
            .bind(&patient.patient_id)
            .bind(&patient.pseudonym)
            .bind(&patient.mrn)
            .bind(&patient.given_name)
            .bind(&patient.family_name)
            .bind(&patient.birth_date)
            .bind(patient.birth_year)
            .bind(&patient.sex_at_birth)
            .bind(&at)
            .bind(&patient.created_by)
            .execute(&mut *tx.conn)
            .await
            .map_err(duplicate_as("patient"))?;
            touch!(tx, "patients", [&patient.patient_id]);
            store_idempotent!(tx, idempotent, format_time(patient.created_at));
            append_audit!(tx, &audit);
        });
        Ok(Patient {
            patient_id: patient.patient_id.clone(),
            pseudonym: patient.pseudonym.clone(),
            mrn: patient.mrn.clone(),
            given_name: patient.given_name.clone(),
            family_name: patient.family_name.clone(),
            birth_date: patient.birth_date.clone(),
            birth_year: patient.birth_year,
            sex_at_birth: patient.sex_at_birth.clone(),
            status: RecordStatus::Active,
            version: 1,
            created_at: at.clone(),
            created_by: patient.created_by.clone(),
            updated_at: at,
            updated_by: patient.created_by.clone(),
        })
    }

    /// Every patient (entered-in-error ones too) whose MRN is exactly `mrn`, by the MRN index: how an
    /// import finds again the patient it reads.
    pub async fn patients_with_mrn(&self, mrn: &str) -> Result<Vec<Patient>, StoreError> {
        let sql = format!("SELECT {PATIENT_COLUMNS} FROM patients WHERE mrn = $1 ORDER BY patient_id");
        on_pool!(self, pool => {
            let rows = sqlx::query(&sql).bind(mrn).fetch_all(pool).await?;
            rows.iter().map(patient_from_row).collect()
        })
    }

    pub async fn patient(&self, patient_id: &str) -> Result<Option<Patient>, StoreError> {
        let sql = format!("SELECT {PATIENT_COLUMNS} FROM patients WHERE patient_id = $1");
        on_pool!(self, pool => {
            let row = sqlx::query(&sql).bind(patient_id).fetch_optional(pool).await?;
            row.as_ref().map(patient_from_row).transpose()
        })
    }

    /// A page of patients by name, MRN or pseudonym, ordered by family name, given name and id (or, for
    /// [`PatientListing::ByPseudonym`], by pseudonym only, in pseudonym order).
    pub async fn search_patients(&self, search: &PatientSearch) -> Result<PatientPage, StoreError> {
        self.search_patients_after(search, None).await
    }

    /// Like [`Store::search_patients`], from just after the patient `after_patient_id` in the list's order
    /// (family name, given name, id; or pseudonym, id): keyset pagination, which neither skips nor
    /// repeats a patient when others are added between pages. The position is that patient's current
    /// names (or pseudonym); an unknown id gives an empty page.
    pub async fn search_patients_after(
        &self,
        search: &PatientSearch,
        after_patient_id: Option<&str>,
    ) -> Result<PatientPage, StoreError> {
        let query = search.query.as_deref().map(str::trim).unwrap_or_default();
        // $2 (the name pattern) is bound in both listings, so both statements take the same parameters.
        let (matching, order) = match search.listing {
            PatientListing::ByName => (
                "($1 = '' OR lower(family_name) LIKE $2 ESCAPE '\\' OR lower(given_name) LIKE $2 ESCAPE '\\' \
                 OR mrn = $1 OR pseudonym = $1 OR birth_date = $1)",
                "family_name, given_name, patient_id",
            ),
            PatientListing::ByPseudonym => ("($1 = '' OR pseudonym = $1 OR $2 = '')", "pseudonym, patient_id"),
        };
        let filter = format!("WHERE {matching} AND ($3 = 1 OR status = 'active')");
        // Row values compare in the same collation as ORDER BY on each backend, so the two agree.
        let after = format!(
            "AND ($6 = '' OR ({order}) > (SELECT {columns} FROM patients c WHERE c.patient_id = $6))",
            columns = order.split(", ").map(|column| format!("c.{column}")).collect::<Vec<_>>().join(", ")
        );
        let page_sql =
            format!("SELECT {PATIENT_COLUMNS} FROM patients {filter} {after} ORDER BY {order} LIMIT $4 OFFSET $5");
        let count_sql = format!("SELECT COUNT(*) FROM patients {filter}");
        let include = i64::from(search.include_entered_in_error);
        let pattern = like_prefix(query);
        let after_patient_id = after_patient_id.unwrap_or_default();
        on_pool!(self, pool => {
            // One more than asked for, to know whether another page follows.
            let rows = sqlx::query(&page_sql)
                .bind(query)
                .bind(&pattern)
                .bind(include)
                .bind(search.limit.saturating_add(1))
                .bind(search.offset)
                .bind(after_patient_id)
                .fetch_all(pool)
                .await?;
            let (total,): (i64,) = sqlx::query_as(&count_sql).bind(query).bind(&pattern).bind(include).fetch_one(pool).await?;
            let mut patients = rows.iter().map(patient_from_row).collect::<Result<Vec<_>, _>>()?;
            let more = patients.len() as i64 > search.limit;
            patients.truncate(usize::try_from(search.limit).unwrap_or(0));
            Ok(PatientPage { patients, total, more })
        })
    }

    /// Changes a patient if it is still at `expected_version`, keeping the prior record as an amendment.
    pub async fn amend_patient(
        &self,
        patient_id: &str,
        expected_version: i64,
        changes: &PatientChanges,
        amendment: &AmendmentMeta,
        audit: &AuditEvent,
    ) -> Result<Patient, StoreError> {
        let select = format!("SELECT {PATIENT_COLUMNS} FROM patients WHERE patient_id = $1");
        let at = format_time(amendment.amended_at);
        write_tx!(self, [patient_id, changes, amendment, audit, select, at], tx => {
            let row = sqlx::query(&select).bind(&patient_id).fetch_optional(&mut *tx.conn).await?;
            let Some(row) = row else {
                return Err(StoreError::NotFound { resource: "patient", id: patient_id.to_owned() });
            };
            let prior = patient_from_row(&row)?;
            if prior.version != expected_version {
                return Err(StoreError::StaleVersion {
                    resource: "patient",
                    id: patient_id.to_owned(),
                    expected: expected_version,
                    current: prior.version,
                });
            }
            let mut next = changes.applied_to(prior.clone());
            next.version = prior.version + 1;
            next.updated_at = at.clone();
            next.updated_by = amendment.amended_by.clone();
            let updated = sqlx::query(
                "UPDATE patients SET mrn = $3, given_name = $4, family_name = $5, birth_date = $6, birth_year = $7, \
                 sex_at_birth = $8, status = $9, version = $10, updated_at = $11, updated_by = $12 \
                 WHERE patient_id = $1 AND version = $2",
            )
            .bind(&patient_id)
            .bind(expected_version)
            .bind(&next.mrn)
            .bind(&next.given_name)
            .bind(&next.family_name)
            .bind(&next.birth_date)
            .bind(next.birth_year)
            .bind(&next.sex_at_birth)
            .bind(next.status.as_str())
            .bind(next.version)
            .bind(&at)
            .bind(&next.updated_by)
            .execute(&mut *tx.conn)
            .await?;
            if updated.rows_affected() != 1 {
                return Err(StoreError::StaleVersion { resource: "patient", id: patient_id.to_owned(), expected: expected_version, current: -1 });
            }
            touch!(tx, "patients", [&patient_id]);
            let prior_json = serde_json::to_string(&prior).map_err(|error| StoreError::Corrupt(error.to_string()))?;
            let new_json = serde_json::to_string(&changes).map_err(|error| StoreError::Corrupt(error.to_string()))?;
            insert_amendment!(json: tx, &patient_id, "patient", &patient_id, prior.version, &prior_json, &new_json, amendment, &at);
            append_audit!(tx, &audit);
            Ok(next)
        })
    }

    /// Every amendment of a patient's records, oldest first.
    pub async fn amendments(&self, patient_id: &str) -> Result<Vec<Amendment>, StoreError> {
        on_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT amendment_id, patient_id, resource_type, resource_id, from_version, prior_json, new_json, reason, \
                 amended_by, amended_at FROM amendments WHERE patient_id = $1 ORDER BY amended_at, amendment_id",
            )
            .bind(patient_id)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| {
                    Ok(Amendment {
                        amendment_id: row.text("amendment_id")?,
                        patient_id: row.text("patient_id")?,
                        resource_type: row.text("resource_type")?,
                        resource_id: row.text("resource_id")?,
                        from_version: row.int("from_version")?,
                        prior_json: row.text("prior_json")?,
                        new_json: row.text("new_json")?,
                        reason: row.text("reason")?,
                        amended_by: row.text("amended_by")?,
                        amended_at: row.text("amended_at")?,
                    })
                })
                .collect()
        })
    }

    pub async fn insert_assessment(
        &self,
        assessment: &NewAssessment,
        audit: &AuditEvent,
        idempotent: Option<&IdempotentResponse>,
    ) -> Result<(), StoreError> {
        write_tx!(self, [assessment, audit, idempotent], tx => {
            insert_assessment_row!(tx, &assessment);
            store_idempotent!(tx, idempotent, format_time(assessment.created_at));
            append_audit!(tx, &audit);
        });
        Ok(())
    }

    /// A patient's assessments, oldest first.
    pub async fn assessments(&self, patient_id: &str) -> Result<Vec<StoredAssessment>, StoreError> {
        let sql = format!(
            "SELECT {ASSESSMENT_COLUMNS} FROM assessments WHERE patient_id = $1 ORDER BY created_at, assessment_id"
        );
        on_pool!(self, pool => {
            let rows = sqlx::query(&sql).bind(patient_id).fetch_all(pool).await?;
            rows.iter().map(assessment_from_row).collect()
        })
    }

    /// A patient's latest active assessment (the decision a chart write compares its own with), if any.
    pub async fn latest_assessment(&self, patient_id: &str) -> Result<Option<StoredAssessment>, StoreError> {
        let sql = format!("SELECT {ASSESSMENT_COLUMNS} FROM assessments {}", crate::chart::LATEST_ASSESSMENT_ORDER);
        on_pool!(self, pool => {
            let row = sqlx::query(&sql).bind(patient_id).fetch_optional(pool).await?;
            row.as_ref().map(assessment_from_row).transpose()
        })
    }

    pub async fn assessment(
        &self,
        patient_id: &str,
        assessment_id: &str,
    ) -> Result<Option<StoredAssessment>, StoreError> {
        let sql = format!("SELECT {ASSESSMENT_COLUMNS} FROM assessments WHERE patient_id = $1 AND assessment_id = $2");
        on_pool!(self, pool => {
            let row = sqlx::query(&sql).bind(patient_id).bind(assessment_id).fetch_optional(pool).await?;
            row.as_ref().map(assessment_from_row).transpose()
        })
    }

    /// Sets an assessment's status (a decision itself is never changed) if it is still at
    /// `expected_version`, keeping the prior record as an amendment.
    pub async fn set_assessment_status(
        &self,
        patient_id: &str,
        assessment_id: &str,
        expected_version: i64,
        status: RecordStatus,
        amendment: &AmendmentMeta,
        audit: &AuditEvent,
    ) -> Result<StoredAssessment, StoreError> {
        let select =
            format!("SELECT {ASSESSMENT_COLUMNS} FROM assessments WHERE patient_id = $1 AND assessment_id = $2");
        let at = format_time(amendment.amended_at);
        write_tx!(self, [select, patient_id, assessment_id, amendment, audit, at], tx => {
            let row = sqlx::query(&select).bind(&patient_id).bind(&assessment_id).fetch_optional(&mut *tx.conn).await?;
            let Some(row) = row else {
                return Err(StoreError::NotFound { resource: "assessment", id: assessment_id.to_owned() });
            };
            let prior = assessment_from_row(&row)?;
            if prior.version != expected_version {
                return Err(StoreError::StaleVersion {
                    resource: "assessment",
                    id: assessment_id.to_owned(),
                    expected: expected_version,
                    current: prior.version,
                });
            }
            sqlx::query(
                "UPDATE assessments SET status = $4, version = $5 WHERE patient_id = $1 AND assessment_id = $2 AND version = $3",
            )
            .bind(&patient_id)
            .bind(&assessment_id)
            .bind(expected_version)
            .bind(status.as_str())
            .bind(expected_version + 1)
            .execute(&mut *tx.conn)
            .await?;
            touch!(tx, "assessments", [&patient_id, &assessment_id]);
            let prior_json = serde_json::to_string(&prior).map_err(|error| StoreError::Corrupt(error.to_string()))?;
            let new_json = serde_json::json!({ "status": status.as_str() }).to_string();
            insert_amendment!(json: tx, &patient_id, "assessment", &assessment_id, prior.version, &prior_json, &new_json, amendment, &at);
            append_audit!(tx, &audit);
            Ok(StoredAssessment { status, version: expected_version + 1, ..prior })
        })
    }

    pub async fn insert_scale_result(&self, result: &NewScaleResult, audit: &AuditEvent) -> Result<(), StoreError> {
        write_tx!(self, [result, audit], tx => {
            sqlx::query(
                "INSERT INTO scale_results (patient_id, scale_result_id, scale, answers_json, total, administered_on, \
                 status, version, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, 'active', 1, $7, $8)",
            )
            .bind(&result.patient_id)
            .bind(&result.scale_result_id)
            .bind(&result.scale)
            .bind(&result.answers_json)
            .bind(result.total)
            .bind(&result.administered_on)
            .bind(format_time(result.created_at))
            .bind(&result.created_by)
            .execute(&mut *tx.conn)
            .await
            .map_err(missing_patient(&result.patient_id))?;
            touch!(tx, "scale_results", [&result.patient_id, &result.scale_result_id]);
            append_audit!(tx, &audit);
        });
        Ok(())
    }

    /// A patient's scale results, by administration date.
    pub async fn scale_results(&self, patient_id: &str) -> Result<Vec<StoredScaleResult>, StoreError> {
        on_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT patient_id, scale_result_id, scale, answers_json, total, administered_on, status, version, \
                 created_at, created_by FROM scale_results WHERE patient_id = $1 ORDER BY administered_on, created_at",
            )
            .bind(patient_id)
            .fetch_all(pool)
            .await?;
            rows.iter().map(scale_result_from_row).collect()
        })
    }
}

/// Who corrects a record, when and why.
#[derive(Debug, Clone)]
pub struct AmendmentMeta {
    pub amendment_id: String,
    pub reason: String,
    pub amended_by: String,
    pub amended_at: jiff::Timestamp,
}
