//! Informed consent: the consent forms (versioned templates: a change is a new version, a version never
//! changes) and each patient's consents (which form version, signed when and by whom, witnessed by which
//! staff member, valid until when, withdrawn when and why). The store decides nothing clinical: the app reads
//! these rows into the pre-dose gate's `INFORMED_CONSENT` item. Consents are never deleted: a withdrawal or
//! an entry in error changes the row under its version and keeps the prior row as an amendment.

use jiff::Timestamp;
use jiff::civil::Date;
use serde::Serialize;

use crate::audit::{AuditEvent, append_audit};
use crate::chart::insert_amendment;
use crate::patients::{AmendmentMeta, IdempotentResponse, RecordStatus, missing_patient, store_idempotent};
use crate::row_versions::touch;
use crate::rows::RowExt;
use crate::users::duplicate_as;
use crate::{Store, StoreError, format_time, on_pool, write_tx};

/// The treatment a consent form is for (the `modality` CHECK of schema 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentModality {
    Esketamine,
    IvRacemicKetamine,
}

impl ConsentModality {
    pub const ALL: [ConsentModality; 2] = [ConsentModality::Esketamine, ConsentModality::IvRacemicKetamine];

    pub fn as_str(self) -> &'static str {
        match self {
            ConsentModality::Esketamine => "esketamine",
            ConsentModality::IvRacemicKetamine => "iv_racemic_ketamine",
        }
    }

    pub fn parse(word: &str) -> Option<ConsentModality> {
        ConsentModality::ALL.into_iter().find(|modality| modality.as_str() == word)
    }
}

/// Who signed a consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignerRelationship {
    Patient,
    LegalRepresentative,
}

impl SignerRelationship {
    pub const ALL: [SignerRelationship; 2] = [SignerRelationship::Patient, SignerRelationship::LegalRepresentative];

    pub fn as_str(self) -> &'static str {
        match self {
            SignerRelationship::Patient => "patient",
            SignerRelationship::LegalRepresentative => "legal_representative",
        }
    }

    pub fn parse(word: &str) -> Option<SignerRelationship> {
        SignerRelationship::ALL.into_iter().find(|relationship| relationship.as_str() == word)
    }
}

/// One version of a consent form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentForm {
    pub form_id: String,
    pub version: i64,
    pub modality: ConsentModality,
    pub title: String,
    pub body_text: String,
    pub body_sha256: String,
    /// Days a consent on this version stays valid from its signature; `None`: until withdrawn.
    pub valid_for_days: Option<i64>,
    pub created_at: Timestamp,
    pub created_by: String,
}

/// A patient's consent as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientConsent {
    pub patient_id: String,
    pub consent_id: String,
    pub form_id: String,
    pub form_version: i64,
    pub modality: ConsentModality,
    pub signed_on: Date,
    /// The last day the consent holds; `None`: until withdrawn.
    pub valid_until: Option<Date>,
    pub signer_name: String,
    pub signer_relationship: SignerRelationship,
    /// The staff member who witnessed the signature (a user id).
    pub witnessed_by: String,
    pub withdrawn_on: Option<Date>,
    pub withdrawal_reason: Option<String>,
    pub status: RecordStatus,
    pub version: i64,
    pub created_at: Timestamp,
    pub created_by: String,
    pub updated_at: Timestamp,
    pub updated_by: String,
}

/// A change of a consent: its withdrawal, or marking it entered in error, with the amendment's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsentChange {
    Withdrawn { on: Date },
    EnteredInError,
}

const FORM_COLUMNS: &str =
    "form_id, version, modality, title, body_text, body_sha256, valid_for_days, created_at, created_by";
const CONSENT_COLUMNS: &str = "patient_id, consent_id, form_id, form_version, modality, signed_on, valid_until, \
     signer_name, signer_relationship, witnessed_by, withdrawn_on, withdrawal_reason, status, version, created_at, \
     created_by, updated_at, updated_by";

fn corrupt(what: &str, text: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} {text:?} is not readable"))
}

fn timestamp(row: &impl RowExt, column: &str) -> Result<Timestamp, StoreError> {
    let text = row.text(column)?;
    text.parse().map_err(|_| corrupt(column, &text))
}

fn date(text: &str, column: &str) -> Result<Date, StoreError> {
    text.parse().map_err(|_| corrupt(column, text))
}

fn optional_date(row: &impl RowExt, column: &str) -> Result<Option<Date>, StoreError> {
    row.opt_text(column)?.map(|text| date(&text, column)).transpose()
}

fn modality(row: &impl RowExt) -> Result<ConsentModality, StoreError> {
    let text = row.text("modality")?;
    ConsentModality::parse(&text).ok_or_else(|| corrupt("modality", &text))
}

fn form_from_row(row: &impl RowExt) -> Result<ConsentForm, StoreError> {
    Ok(ConsentForm {
        form_id: row.text("form_id")?,
        version: row.int("version")?,
        modality: modality(row)?,
        title: row.text("title")?,
        body_text: row.text("body_text")?,
        body_sha256: row.text("body_sha256")?,
        valid_for_days: row.opt_int("valid_for_days")?,
        created_at: timestamp(row, "created_at")?,
        created_by: row.text("created_by")?,
    })
}

fn consent_from_row(row: &impl RowExt) -> Result<PatientConsent, StoreError> {
    let relationship = row.text("signer_relationship")?;
    Ok(PatientConsent {
        patient_id: row.text("patient_id")?,
        consent_id: row.text("consent_id")?,
        form_id: row.text("form_id")?,
        form_version: row.int("form_version")?,
        modality: modality(row)?,
        signed_on: date(&row.text("signed_on")?, "signed_on")?,
        valid_until: optional_date(row, "valid_until")?,
        signer_name: row.text("signer_name")?,
        signer_relationship: SignerRelationship::parse(&relationship)
            .ok_or_else(|| corrupt("signer_relationship", &relationship))?,
        witnessed_by: row.text("witnessed_by")?,
        withdrawn_on: optional_date(row, "withdrawn_on")?,
        withdrawal_reason: row.opt_text("withdrawal_reason")?,
        status: RecordStatus::parse(&row.text("status")?)?,
        version: row.int("version")?,
        created_at: timestamp(row, "created_at")?,
        created_by: row.text("created_by")?,
        updated_at: timestamp(row, "updated_at")?,
        updated_by: row.text("updated_by")?,
    })
}

/// A consent as the amendment log keeps it (prior and new rows).
fn consent_json(consent: &PatientConsent) -> serde_json::Value {
    serde_json::json!({
        "consent_id": consent.consent_id,
        "form_id": consent.form_id,
        "form_version": consent.form_version,
        "modality": consent.modality.as_str(),
        "signed_on": consent.signed_on.to_string(),
        "valid_until": consent.valid_until.map(|day| day.to_string()),
        "signer_name": consent.signer_name,
        "signer_relationship": consent.signer_relationship.as_str(),
        "witnessed_by": consent.witnessed_by,
        "withdrawn_on": consent.withdrawn_on.map(|day| day.to_string()),
        "withdrawal_reason": consent.withdrawal_reason,
        "status": consent.status.as_str(),
        "version": consent.version,
    })
}

impl Store {
    /// Stores a new version of a consent form; the version number must be the next one of `form_id`
    /// (a concurrent edit that took it first is [`StoreError::Duplicate`]).
    pub async fn insert_consent_form(&self, form: &ConsentForm, event: &AuditEvent) -> Result<(), StoreError> {
        let at = format_time(form.created_at);
        write_tx!(self, [form, event, at], tx => {
            sqlx::query(
                "INSERT INTO consent_forms (form_id, version, modality, title, body_text, body_sha256, valid_for_days, \
                 created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&form.form_id)
            .bind(form.version)
            .bind(form.modality.as_str())
            .bind(&form.title)
            .bind(&form.body_text)
            .bind(&form.body_sha256)
            .bind(form.valid_for_days)
            .bind(&at)
            .bind(&form.created_by)
            .execute(&mut *tx.conn)
            .await
            .map_err(duplicate_as("consent form version"))?;
            touch!(tx, "consent_forms", [&form.form_id, form.version]);
            append_audit!(tx, &event);
        });
        Ok(())
    }

    /// Every version of every consent form, by form and version.
    pub async fn consent_forms(&self) -> Result<Vec<ConsentForm>, StoreError> {
        let sql = format!("SELECT {FORM_COLUMNS} FROM consent_forms ORDER BY form_id, version");
        on_pool!(self, pool => {
            let rows = sqlx::query(&sql).fetch_all(pool).await?;
            rows.iter().map(form_from_row).collect()
        })
    }

    /// Stores a patient's consent with its audit event and (for a keyed request) its idempotent response.
    pub async fn insert_patient_consent(
        &self,
        consent: &PatientConsent,
        event: &AuditEvent,
        idempotent: Option<&IdempotentResponse>,
    ) -> Result<(), StoreError> {
        let created_at = format_time(consent.created_at);
        let signed_on = consent.signed_on.to_string();
        let valid_until = consent.valid_until.map(|day| day.to_string());
        let valid_until = valid_until.as_deref();
        write_tx!(self, [consent, event, idempotent, created_at, signed_on, valid_until], tx => {
            sqlx::query(
                "INSERT INTO patient_consents (patient_id, consent_id, form_id, form_version, modality, signed_on, \
                 valid_until, signer_name, signer_relationship, witnessed_by, withdrawn_on, withdrawal_reason, status, \
                 version, created_at, created_by, updated_at, updated_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, NULL, 'active', 1, $11, $12, $11, $12)",
            )
            .bind(&consent.patient_id)
            .bind(&consent.consent_id)
            .bind(&consent.form_id)
            .bind(consent.form_version)
            .bind(consent.modality.as_str())
            .bind(&signed_on)
            .bind(&valid_until)
            .bind(&consent.signer_name)
            .bind(consent.signer_relationship.as_str())
            .bind(&consent.witnessed_by)
            .bind(&created_at)
            .bind(&consent.created_by)
            .execute(&mut *tx.conn)
            .await
            .map_err(missing_patient(&consent.patient_id))?;
            touch!(tx, "patient_consents", [&consent.patient_id, &consent.consent_id]);
            append_audit!(tx, &event);
            store_idempotent!(tx, idempotent, created_at.clone());
        });
        Ok(())
    }

    /// Every consent of a patient (withdrawn and entered-in-error ones too), oldest signature first.
    pub async fn patient_consents(&self, patient_id: &str) -> Result<Vec<PatientConsent>, StoreError> {
        let sql = format!(
            "SELECT {CONSENT_COLUMNS} FROM patient_consents WHERE patient_id = $1 \
             ORDER BY signed_on, created_at, consent_id"
        );
        on_pool!(self, pool => {
            let rows = sqlx::query(&sql).bind(patient_id).fetch_all(pool).await?;
            rows.iter().map(consent_from_row).collect()
        })
    }

    /// Withdraws a consent or marks it entered in error, if it is still at `expected_version`, keeping the
    /// prior row as an amendment.
    pub async fn change_patient_consent(
        &self,
        prior: &PatientConsent,
        expected_version: i64,
        change: &ConsentChange,
        meta: &AmendmentMeta,
        event: &AuditEvent,
    ) -> Result<PatientConsent, StoreError> {
        let mut changed = prior.clone();
        match change {
            ConsentChange::Withdrawn { on } => {
                changed.withdrawn_on = Some(*on);
                changed.withdrawal_reason = Some(meta.reason.clone());
            }
            ConsentChange::EnteredInError => changed.status = RecordStatus::EnteredInError,
        }
        changed.version = expected_version + 1;
        changed.updated_at = meta.amended_at;
        changed.updated_by = meta.amended_by.clone();
        let at = format_time(meta.amended_at);
        let withdrawn_on = changed.withdrawn_on.map(|day| day.to_string());
        let withdrawn_on = withdrawn_on.as_deref();
        let prior_json = consent_json(prior).to_string();
        let changed_json = consent_json(&changed).to_string();
        let changed_ref = &changed;
        write_tx!(self, [changed_ref, meta, event, at, withdrawn_on, prior_json, changed_json], tx => {
            let changed = changed_ref;
            let updated = sqlx::query(
                "UPDATE patient_consents SET withdrawn_on = $1, withdrawal_reason = $2, status = $3, version = $4, \
                 updated_at = $5, updated_by = $6 WHERE patient_id = $7 AND consent_id = $8 AND version = $9",
            )
            .bind(&withdrawn_on)
            .bind(&changed.withdrawal_reason)
            .bind(changed.status.as_str())
            .bind(changed.version)
            .bind(&at)
            .bind(&changed.updated_by)
            .bind(&changed.patient_id)
            .bind(&changed.consent_id)
            .bind(expected_version)
            .execute(&mut *tx.conn)
            .await?;
            if updated.rows_affected() == 0 {
                let current: Option<(i64,)> =
                    sqlx::query_as("SELECT version FROM patient_consents WHERE patient_id = $1 AND consent_id = $2")
                        .bind(&changed.patient_id)
                        .bind(&changed.consent_id)
                        .fetch_optional(&mut *tx.conn)
                        .await?;
                return Err(match current {
                    None => StoreError::NotFound { resource: "consent", id: changed.consent_id.clone() },
                    Some((current,)) => StoreError::StaleVersion {
                        resource: "consent",
                        id: changed.consent_id.clone(),
                        expected: expected_version,
                        current,
                    },
                });
            }
            touch!(tx, "patient_consents", [&changed.patient_id, &changed.consent_id]);
            insert_amendment!(json: tx, &changed.patient_id, "consent", &changed.consent_id, expected_version, &prior_json, &changed_json, meta, &at);
            append_audit!(tx, &event);
        });
        Ok(changed)
    }
}
