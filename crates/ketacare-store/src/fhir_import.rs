//! One patient's chart imported from FHIR, in one writer job: the patient (when new), every chart record
//! and scale result with its status, the evaluation of the chart they leave and all their audit events
//! stand or fall together, so a patient is imported whole or not at all. Kept apart from `chart.rs` (the
//! chart API's writes) so the two change independently; the rows are the same.

use crate::audit::{AuditEvent, append_audit};
use crate::chart::NewChartRecord;
use crate::patients::{NewAssessment, NewPatient, NewScaleResult, RecordStatus, missing_patient};
use crate::row_versions::touch;
use crate::users::duplicate_as;
use crate::{Store, StoreError, format_time, write_tx};

/// A chart record to import, with its status (an export carries records entered in error too) and the
/// audit event of its creation, appended right after its row.
#[derive(Debug, Clone)]
pub struct ImportedChartRecord {
    pub record: NewChartRecord,
    pub status: RecordStatus,
    pub audit: AuditEvent,
}

/// A scale result to import, with its status and the audit event of its creation.
#[derive(Debug, Clone)]
pub struct ImportedScaleResult {
    pub result: NewScaleResult,
    pub status: RecordStatus,
    pub audit: AuditEvent,
}

/// The patient an import creates, with its status and the audit event of its creation.
#[derive(Debug, Clone)]
pub struct ImportedPatientRow {
    pub patient: NewPatient,
    pub status: RecordStatus,
    pub audit: AuditEvent,
}

/// Everything one patient's import writes.
#[derive(Debug, Clone)]
pub struct PatientChartImport {
    pub patient_id: String,
    /// The patient to create; `None` when the patient exists.
    pub new_patient: Option<ImportedPatientRow>,
    pub records: Vec<ImportedChartRecord>,
    pub scale_results: Vec<ImportedScaleResult>,
    /// The decision on the chart the import leaves (none for a patient without a chart), with the audit
    /// event of the evaluation.
    pub evaluation: Option<(NewAssessment, AuditEvent)>,
    /// For an existing patient, the chart stamp (`chart::chart_stamp`) the import was decided on: if the
    /// chart changed since, nothing is written and the import is `StaleVersion` of resource `chart`.
    pub chart_stamp: Option<i64>,
}

/// The chart stamp as `chart.rs` computes it: the sum of the versions of the patient and its chart rows.
const IMPORT_CHART_STAMP_SQL: &str = "SELECT CAST(COALESCE((SELECT version FROM patients WHERE patient_id = $1), 0) \
     + COALESCE((SELECT SUM(version) FROM chart_records WHERE patient_id = $1), 0) \
     + COALESCE((SELECT SUM(version) FROM scale_results WHERE patient_id = $1), 0) AS BIGINT)";

impl Store {
    /// Writes one patient's import in one transaction (one writer job).
    pub async fn import_patient_chart(&self, import: &PatientChartImport) -> Result<(), StoreError> {
        write_tx!(self, [import], tx => {
            let patient_id = &import.patient_id;
            if let Some(expected) = import.chart_stamp {
                let (current,): (i64,) =
                    sqlx::query_as(IMPORT_CHART_STAMP_SQL).bind(patient_id).fetch_one(&mut *tx.conn).await?;
                if current != expected {
                    return Err(StoreError::StaleVersion { resource: "chart", id: patient_id.clone(), expected, current });
                }
            }
            // Each row is followed by its own audit event, as the API's writes append theirs.
            if let Some(ImportedPatientRow { patient, status, audit }) = &import.new_patient {
                let at = format_time(patient.created_at);
                sqlx::query(
                    "INSERT INTO patients (patient_id, pseudonym, mrn, given_name, family_name, birth_date, birth_year, \
                     sex_at_birth, status, version, created_at, created_by, updated_at, updated_by) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $10, $11, $10, $11)",
                )
                .bind(&patient.patient_id)
                .bind(&patient.pseudonym)
                .bind(&patient.mrn)
                .bind(&patient.given_name)
                .bind(&patient.family_name)
                .bind(&patient.birth_date)
                .bind(patient.birth_year)
                .bind(&patient.sex_at_birth)
                .bind(status.as_str())
                .bind(&at)
                .bind(&patient.created_by)
                .execute(&mut *tx.conn)
                .await
                .map_err(duplicate_as("patient"))?;
                touch!(tx, "patients", [&patient.patient_id]);
                append_audit!(tx, audit);
            }
            for imported in &import.records {
                let record = &imported.record;
                let at = format_time(record.created_at);
                sqlx::query(
                    "INSERT INTO chart_records (patient_id, record_id, section, episode_id, recorded_on, body_json, status, \
                     version, created_at, created_by, updated_at, updated_by) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9, $8, $9)",
                )
                .bind(&record.patient_id)
                .bind(&record.record_id)
                .bind(&record.section)
                .bind(&record.episode_id)
                .bind(&record.recorded_on)
                .bind(&record.body_json)
                .bind(imported.status.as_str())
                .bind(&at)
                .bind(&record.created_by)
                .execute(&mut *tx.conn)
                .await
                .map_err(missing_patient(&record.patient_id))?;
                touch!(tx, "chart_records", [&record.patient_id, &record.record_id]);
                append_audit!(tx, &imported.audit);
            }
            for imported in &import.scale_results {
                let result = &imported.result;
                sqlx::query(
                    "INSERT INTO scale_results (patient_id, scale_result_id, scale, answers_json, total, administered_on, \
                     status, version, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9)",
                )
                .bind(&result.patient_id)
                .bind(&result.scale_result_id)
                .bind(&result.scale)
                .bind(&result.answers_json)
                .bind(result.total)
                .bind(&result.administered_on)
                .bind(imported.status.as_str())
                .bind(format_time(result.created_at))
                .bind(&result.created_by)
                .execute(&mut *tx.conn)
                .await
                .map_err(missing_patient(&result.patient_id))?;
                touch!(tx, "scale_results", [&result.patient_id, &result.scale_result_id]);
                append_audit!(tx, &imported.audit);
            }
            if let Some((evaluation, audit)) = &import.evaluation {
                crate::patients::insert_assessment_row!(tx, evaluation);
                append_audit!(tx, audit);
            }
        });
        Ok(())
    }
}
