//! What lets the server enforce the engine's session decisions: prescribers' dose orders, prescribers'
//! overrides of overridable pre-dose holds, observations marked entered in error with the alert log
//! replayed as a new revision, and the session's stages (discharge by a clinician, sign-off that locks it).
//! The store decides nothing clinical: the app judges, and each write here is one transaction with its
//! audit event, under the session's version where the judgement depended on it.

use serde::Serialize;

use crate::audit::{AuditEvent, append_audit};
use crate::chart::insert_amendment;
use crate::patients::{AmendmentMeta, IdempotentResponse, store_idempotent};
use crate::row_versions::touch;
use crate::rows::RowExt;
use crate::treatment::{StoredAlertChange, bump_session, insert_alert_change};
use crate::users::duplicate_as;
use crate::{Store, StoreError, format_time, on_pool, write_tx};

/// A dose order signed by a prescriber.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredDoseOrder {
    pub patient_id: String,
    pub order_id: String,
    pub plan_id: Option<String>,
    pub modality: String,
    /// The computed order (docs/api.md "Dose orders").
    pub order_json: String,
    /// `active`, `discontinued` or `entered_in_error`.
    pub status: String,
    pub version: i64,
    pub signed_by: String,
    pub signed_at: String,
    pub updated_at: String,
    pub updated_by: String,
}

/// A prescriber's override of one overridable hold of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredSessionOverride {
    pub override_id: String,
    /// The gate item (`BP`, `PREGNANCY`, …) or `DOSE_DIFFERS_FROM_ORDER`.
    pub item: String,
    pub reason: String,
    pub recorded_by: String,
    pub recorded_at: String,
}

/// An observation marked entered in error, and the session's alert log replayed without it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservationCorrectionWrite {
    pub expected_version: i64,
    pub sequence: i64,
    pub reason: String,
    pub corrected_by: String,
    pub corrected_at: jiff::Timestamp,
    /// The whole alert log of the new revision, in time order.
    pub replayed_alert_log: Vec<StoredAlertChange>,
}

/// A session's discharge by a clinician: its facts with the end of monitoring, and the time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDischarge {
    pub expected_version: i64,
    pub facts_json: String,
    pub discharged_at: jiff::Timestamp,
    pub discharged_by: String,
}

const ORDER_COLUMNS: &str = "patient_id, order_id, plan_id, modality, order_json, status, version, signed_by, \
     signed_at, updated_at, updated_by";

fn order_from_row(row: &impl RowExt) -> Result<StoredDoseOrder, StoreError> {
    Ok(StoredDoseOrder {
        patient_id: row.text("patient_id")?,
        order_id: row.text("order_id")?,
        plan_id: row.opt_text("plan_id")?,
        modality: row.text("modality")?,
        order_json: row.text("order_json")?,
        status: row.text("status")?,
        version: row.int("version")?,
        signed_by: row.text("signed_by")?,
        signed_at: row.text("signed_at")?,
        updated_at: row.text("updated_at")?,
        updated_by: row.text("updated_by")?,
    })
}

pub(crate) fn override_from_row(row: &impl RowExt) -> Result<StoredSessionOverride, StoreError> {
    Ok(StoredSessionOverride {
        override_id: row.text("override_id")?,
        item: row.text("item")?,
        reason: row.text("reason")?,
        recorded_by: row.text("recorded_by")?,
        recorded_at: row.text("recorded_at")?,
    })
}

/// Raises the session's alert revision and inserts `$log` (the whole replayed log, in time order) as it.
macro_rules! replace_alert_log {
    ($tx:expr, $patient_id:expr, $session_id:expr, $log:expr) => {{
        sqlx::query(
            "UPDATE treatment_sessions SET alert_revision = alert_revision + 1 WHERE patient_id = $1 AND session_id = $2",
        )
        .bind(&$patient_id)
        .bind(&$session_id)
        .execute(&mut *$tx.conn)
        .await?;
        let (revision,): (i64,) =
            sqlx::query_as("SELECT alert_revision FROM treatment_sessions WHERE patient_id = $1 AND session_id = $2")
                .bind(&$patient_id)
                .bind(&$session_id)
                .fetch_one(&mut *$tx.conn)
                .await?;
        for (position, change) in $log.iter().enumerate() {
            insert_alert_change!($tx, $patient_id, $session_id, revision, i64::try_from(position).unwrap_or(0), change);
        }
        $crate::row_versions::touch!($tx, "treatment_sessions", [&$patient_id, &$session_id]);
        $crate::row_versions::touch!($tx, "session_alert_log", [&$patient_id, &$session_id, revision]);
    }};
}
pub(crate) use replace_alert_log;

impl Store {
    pub async fn insert_dose_order(
        &self,
        order: &StoredDoseOrder,
        audit: &AuditEvent,
        idempotent: Option<&IdempotentResponse>,
    ) -> Result<(), StoreError> {
        write_tx!(self, [order, audit, idempotent], tx => {
            sqlx::query(
                "INSERT INTO dose_orders (patient_id, order_id, plan_id, modality, order_json, status, version, signed_by, \
                 signed_at, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, 'active', 1, $6, $7, $7, $6)",
            )
            .bind(&order.patient_id)
            .bind(&order.order_id)
            .bind(&order.plan_id)
            .bind(&order.modality)
            .bind(&order.order_json)
            .bind(&order.signed_by)
            .bind(&order.signed_at)
            .execute(&mut *tx.conn)
            .await?;
            store_idempotent!(tx, idempotent, order.signed_at);
            touch!(tx, "dose_orders", [&order.patient_id, &order.order_id]);
            append_audit!(tx, &audit);
        });
        Ok(())
    }

    pub async fn dose_order(&self, patient_id: &str, order_id: &str) -> Result<Option<StoredDoseOrder>, StoreError> {
        let sql = format!("SELECT {ORDER_COLUMNS} FROM dose_orders WHERE patient_id = $1 AND order_id = $2");
        on_pool!(self, pool => {
            let row = sqlx::query(&sql).bind(patient_id).bind(order_id).fetch_optional(pool).await?;
            row.as_ref().map(order_from_row).transpose()
        })
    }

    /// A patient's dose orders, oldest first.
    pub async fn dose_orders_of(&self, patient_id: &str) -> Result<Vec<StoredDoseOrder>, StoreError> {
        let sql = format!("SELECT {ORDER_COLUMNS} FROM dose_orders WHERE patient_id = $1 ORDER BY signed_at, order_id");
        on_pool!(self, pool => {
            let rows = sqlx::query(&sql).bind(patient_id).fetch_all(pool).await?;
            rows.iter().map(order_from_row).collect()
        })
    }

    /// Sets an order's status (discontinued, entered in error) if it is still at `expected_version`,
    /// keeping the prior order as an amendment.
    pub async fn set_dose_order_status(
        &self,
        patient_id: &str,
        order_id: &str,
        expected_version: i64,
        status: &str,
        amendment: &AmendmentMeta,
        audit: &AuditEvent,
    ) -> Result<StoredDoseOrder, StoreError> {
        let prior = self
            .dose_order(patient_id, order_id)
            .await?
            .ok_or_else(|| StoreError::NotFound { resource: "order", id: order_id.to_owned() })?;
        let prior_json = serde_json::to_string(&prior).map_err(|error| StoreError::Corrupt(error.to_string()))?;
        let new_json = serde_json::json!({ "status": status }).to_string();
        let at = format_time(amendment.amended_at);
        let status = status.to_owned();
        write_tx!(self, [patient_id, order_id, status, amendment, audit, at, prior_json, new_json], tx => {
            let updated = sqlx::query(
                "UPDATE dose_orders SET status = $4, version = version + 1, updated_at = $5, updated_by = $6 \
                 WHERE patient_id = $1 AND order_id = $2 AND version = $3",
            )
            .bind(&patient_id)
            .bind(&order_id)
            .bind(expected_version)
            .bind(&status)
            .bind(&at)
            .bind(&amendment.amended_by)
            .execute(&mut *tx.conn)
            .await?;
            if updated.rows_affected() != 1 {
                return Err(StoreError::StaleVersion {
                    resource: "order",
                    id: order_id.to_owned(),
                    expected: expected_version,
                    current: -1,
                });
            }
            insert_amendment!(json: tx, &patient_id, "dose_order", &order_id, expected_version, &prior_json, &new_json, amendment, &at);
            touch!(tx, "dose_orders", [&patient_id, &order_id]);
            append_audit!(tx, &audit);
        });
        self.dose_order(patient_id, order_id)
            .await?
            .ok_or_else(|| StoreError::NotFound { resource: "order", id: order_id.to_owned() })
    }

    /// A session's prescriber overrides, oldest first.
    pub async fn session_overrides(
        &self,
        patient_id: &str,
        session_id: &str,
    ) -> Result<Vec<StoredSessionOverride>, StoreError> {
        on_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT override_id, item, reason, recorded_by, recorded_at FROM session_overrides \
                 WHERE patient_id = $1 AND session_id = $2 ORDER BY recorded_at, override_id",
            )
            .bind(patient_id)
            .bind(session_id)
            .fetch_all(pool)
            .await?;
            rows.iter().map(override_from_row).collect()
        })
    }

    /// Records a prescriber's override if the session is still at `expected_version`.
    pub async fn insert_session_override(
        &self,
        patient_id: &str,
        session_id: &str,
        expected_version: i64,
        override_record: &StoredSessionOverride,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        write_tx!(self, [patient_id, session_id, override_record, audit], tx => {
            bump_session!(tx, patient_id, session_id, Some(expected_version), 0_i64, override_record.recorded_at, override_record.recorded_by);
            sqlx::query(
                "INSERT INTO session_overrides (patient_id, override_id, session_id, item, reason, recorded_by, recorded_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&patient_id)
            .bind(&override_record.override_id)
            .bind(&session_id)
            .bind(&override_record.item)
            .bind(&override_record.reason)
            .bind(&override_record.recorded_by)
            .bind(&override_record.recorded_at)
            .execute(&mut *tx.conn)
            .await?;
            touch!(tx, "session_overrides", [&patient_id, &override_record.override_id]);
            append_audit!(tx, &audit);
        });
        Ok(())
    }

    /// Marks an observation entered in error and stores the replayed alert log as the session's next
    /// revision, if the session is still at `expected_version`.
    pub async fn correct_observation(
        &self,
        patient_id: &str,
        session_id: &str,
        write: &ObservationCorrectionWrite,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let at = format_time(write.corrected_at);
        write_tx!(self, [patient_id, session_id, write, audit, at], tx => {
            bump_session!(tx, patient_id, session_id, Some(write.expected_version), 0_i64, at, write.corrected_by);
            sqlx::query(
                "INSERT INTO observation_corrections (patient_id, session_id, sequence, reason, corrected_by, corrected_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&patient_id)
            .bind(&session_id)
            .bind(write.sequence)
            .bind(&write.reason)
            .bind(&write.corrected_by)
            .bind(&at)
            .execute(&mut *tx.conn)
            .await
            .map_err(duplicate_as("correction of this observation"))?;
            touch!(tx, "observation_corrections", [&patient_id, &session_id, write.sequence]);
            replace_alert_log!(tx, patient_id, session_id, write.replayed_alert_log);
            append_audit!(tx, &audit);
        });
        Ok(())
    }

    /// Discharges a session in monitoring if it is still at `expected_version`: the stage, who and when,
    /// its facts (with the end of monitoring), and the scheduled session it fulfils becomes `completed`.
    pub async fn discharge_session(
        &self,
        patient_id: &str,
        session_id: &str,
        discharge: &SessionDischarge,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let at = format_time(discharge.discharged_at);
        write_tx!(self, [patient_id, session_id, discharge, audit, at], tx => {
            bump_session!(tx, patient_id, session_id, Some(discharge.expected_version), 0_i64, at, discharge.discharged_by);
            let updated = sqlx::query(
                "UPDATE treatment_sessions SET stage = 'discharged', discharged_at = $3, discharged_by = $4, facts_json = $5 \
                 WHERE patient_id = $1 AND session_id = $2 AND stage = 'monitoring' AND status = 'active'",
            )
            .bind(&patient_id)
            .bind(&session_id)
            .bind(&at)
            .bind(&discharge.discharged_by)
            .bind(&discharge.facts_json)
            .execute(&mut *tx.conn)
            .await?;
            if updated.rows_affected() != 1 {
                return Err(StoreError::NotFound { resource: "session in monitoring", id: session_id.to_owned() });
            }
            sqlx::query(
                "UPDATE scheduled_sessions SET status = 'completed' WHERE patient_id = $1 AND treatment_session_id = $2 \
                 AND status = 'scheduled'",
            )
            .bind(&patient_id)
            .bind(&session_id)
            .execute(&mut *tx.conn)
            .await?;
            touch!(tx, "scheduled_sessions", [&patient_id]);
            append_audit!(tx, &audit);
        });
        Ok(())
    }

    /// Signs a discharged session (a prescriber), which locks it, if it is still at `expected_version`.
    pub async fn sign_session(
        &self,
        patient_id: &str,
        session_id: &str,
        expected_version: i64,
        signed_at: jiff::Timestamp,
        signed_by: &str,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let at = format_time(signed_at);
        write_tx!(self, [patient_id, session_id, signed_by, audit, at], tx => {
            bump_session!(tx, patient_id, session_id, Some(expected_version), 0_i64, at, signed_by);
            let updated = sqlx::query(
                "UPDATE treatment_sessions SET stage = 'locked', signed_at = $3, signed_by = $4 \
                 WHERE patient_id = $1 AND session_id = $2 AND stage = 'discharged' AND status = 'active'",
            )
            .bind(&patient_id)
            .bind(&session_id)
            .bind(&at)
            .bind(&signed_by)
            .execute(&mut *tx.conn)
            .await?;
            if updated.rows_affected() != 1 {
                return Err(StoreError::NotFound { resource: "discharged session", id: session_id.to_owned() });
            }
            append_audit!(tx, &audit);
        });
        Ok(())
    }
}
