//! Measurements marked not applicable (schema 13): staff set one measurement of a plan's measurement plan
//! aside with a reason; the marking is kept for good (never deleted, never edited) and is itself set
//! aside only by marking it entered in error with a reason. The database refuses a deletion.

use jiff::Timestamp;

use crate::audit::{AuditEvent, append_audit};
use crate::row_versions::touch;
use crate::rows::RowExt;
use crate::users::duplicate_as;
use crate::{Store, StoreError, format_time, on_pool, write_tx};

/// One marking, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeasurementNotApplicable {
    pub patient_id: String,
    pub marking_id: String,
    pub plan_id: String,
    /// `phq9`, `madrs`, `urinary_symptoms` or `cognition`.
    pub scale: String,
    /// The instant the measurement was due.
    pub due_at: Timestamp,
    pub reason: String,
    /// `active` or `entered_in_error`.
    pub status: String,
    pub marked_by: String,
    pub marked_role: String,
    pub marked_at: Timestamp,
    pub entered_in_error_reason: Option<String>,
    pub entered_in_error_by: Option<String>,
    pub entered_in_error_at: Option<Timestamp>,
    pub version: i64,
}

const COLUMNS: &str = "patient_id, marking_id, plan_id, scale, due_at, reason, status, marked_by, marked_role, \
     marked_at, entered_in_error_reason, entered_in_error_by, entered_in_error_at, version";

fn time(text: &str, column: &str) -> Result<Timestamp, StoreError> {
    text.parse().map_err(|_| StoreError::Corrupt(format!("{column} is not a time: {text}")))
}

fn from_row(row: &impl RowExt) -> Result<MeasurementNotApplicable, StoreError> {
    Ok(MeasurementNotApplicable {
        patient_id: row.text("patient_id")?,
        marking_id: row.text("marking_id")?,
        plan_id: row.text("plan_id")?,
        scale: row.text("scale")?,
        due_at: time(&row.text("due_at")?, "due_at")?,
        reason: row.text("reason")?,
        status: row.text("status")?,
        marked_by: row.text("marked_by")?,
        marked_role: row.text("marked_role")?,
        marked_at: time(&row.text("marked_at")?, "marked_at")?,
        entered_in_error_reason: row.opt_text("entered_in_error_reason")?,
        entered_in_error_by: row.opt_text("entered_in_error_by")?,
        entered_in_error_at: row
            .opt_text("entered_in_error_at")?
            .map(|text| time(&text, "entered_in_error_at"))
            .transpose()?,
        version: row.int("version")?,
    })
}

impl Store {
    /// The markings of a plan, active and entered in error, oldest first.
    pub async fn measurements_not_applicable(
        &self,
        patient_id: &str,
        plan_id: &str,
    ) -> Result<Vec<MeasurementNotApplicable>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM measurements_not_applicable WHERE patient_id = $1 AND plan_id = $2 \
             ORDER BY marked_at, marking_id"
        );
        on_pool!(self, pool => {
            let rows = sqlx::query(&sql).bind(patient_id).bind(plan_id).fetch_all(pool).await?;
            rows.iter().map(from_row).collect()
        })
    }

    /// One marking of a patient, if it exists.
    pub async fn measurement_marking(
        &self,
        patient_id: &str,
        marking_id: &str,
    ) -> Result<Option<MeasurementNotApplicable>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM measurements_not_applicable WHERE patient_id = $1 AND marking_id = $2");
        on_pool!(self, pool => {
            let row = sqlx::query(&sql).bind(patient_id).bind(marking_id).fetch_optional(pool).await?;
            row.as_ref().map(from_row).transpose()
        })
    }

    /// Marks an active marking entered in error, with the reason, who and when, if it is still at
    /// `expected_version` ([`StoreError::StaleVersion`] otherwise). The row is kept.
    #[allow(clippy::too_many_arguments)]
    pub async fn mark_measurement_marking_in_error(
        &self,
        patient_id: &str,
        marking_id: &str,
        expected_version: i64,
        reason: &str,
        by: &str,
        at: Timestamp,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let at = format_time(at);
        write_tx!(self, [patient_id, marking_id, reason, by, at, audit], tx => {
            let updated = sqlx::query(
                "UPDATE measurements_not_applicable SET status = 'entered_in_error', entered_in_error_reason = $4, \
                 entered_in_error_by = $5, entered_in_error_at = $6, version = version + 1 \
                 WHERE patient_id = $1 AND marking_id = $2 AND version = $3 AND status = 'active'",
            )
            .bind(&patient_id)
            .bind(&marking_id)
            .bind(expected_version)
            .bind(&reason)
            .bind(&by)
            .bind(&at)
            .execute(&mut *tx.conn)
            .await?;
            if updated.rows_affected() != 1 {
                let (current,): (i64,) = sqlx::query_as(
                    "SELECT version FROM measurements_not_applicable WHERE patient_id = $1 AND marking_id = $2",
                )
                .bind(&patient_id)
                .bind(&marking_id)
                .fetch_optional(&mut *tx.conn)
                .await?
                .ok_or_else(|| StoreError::NotFound { resource: "marking", id: marking_id.clone() })?;
                return Err(StoreError::StaleVersion {
                    resource: "marking",
                    id: marking_id.clone(),
                    expected: expected_version,
                    current,
                });
            }
            touch!(tx, "measurements_not_applicable", [&patient_id, &marking_id]);
            append_audit!(tx, &audit);
        });
        Ok(())
    }

    /// Stores a new active marking. A second active marking of the same measurement is
    /// [`StoreError::Duplicate`].
    pub async fn insert_measurement_not_applicable(
        &self,
        marking: &MeasurementNotApplicable,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let (due_at, marked_at) = (format_time(marking.due_at), format_time(marking.marked_at));
        write_tx!(self, [marking, audit, due_at, marked_at], tx => {
            sqlx::query(
                "INSERT INTO measurements_not_applicable (patient_id, marking_id, plan_id, scale, due_at, reason, \
                 status, marked_by, marked_role, marked_at, version) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $8, $9, 1)",
            )
            .bind(&marking.patient_id)
            .bind(&marking.marking_id)
            .bind(&marking.plan_id)
            .bind(&marking.scale)
            .bind(&due_at)
            .bind(&marking.reason)
            .bind(&marking.marked_by)
            .bind(&marking.marked_role)
            .bind(&marked_at)
            .execute(&mut *tx.conn)
            .await
            .map_err(duplicate_as("an active not-applicable marking of this measurement"))?;
            touch!(tx, "measurements_not_applicable", [&marking.patient_id, &marking.marking_id]);
            append_audit!(tx, &audit);
        });
        Ok(())
    }
}
