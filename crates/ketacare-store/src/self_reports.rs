//! Patients' self-report links: one row per link, keyed by patient and link id, found by the SHA-256 of
//! its token (the token itself is never stored). Using a link (`Store::insert_self_report_result`, in
//! `chart.rs` beside the chart's own scale write) marks it used in the same transaction as the scale
//! result it stores, so two submissions racing for one link store one result. Links are never deleted.

use jiff::Timestamp;

use crate::audit::{AuditEvent, append_audit};
use crate::patients::missing_patient;
use crate::row_versions::touch;
use crate::rows::RowExt;
use crate::{Store, StoreError, format_time, on_pool, write_tx};

/// A self-report link as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfReportLink {
    pub patient_id: String,
    pub link_id: String,
    /// The chart's scale code: `phq9`, `gad7` or `qids_sr16`.
    pub scale: String,
    /// Lowercase hex SHA-256 of the token.
    pub token_sha256: String,
    pub created_at: Timestamp,
    pub created_by: String,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
    pub scale_result_id: Option<String>,
    /// The answers screened positive (PHQ-9 item 9 at or above the protocol's threshold).
    pub suicidality_alert: bool,
    pub alert_acknowledged_at: Option<Timestamp>,
    pub alert_acknowledged_by: Option<String>,
}

/// What using a link writes on its row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfReportUse {
    pub patient_id: String,
    pub link_id: String,
    pub used_at: Timestamp,
    pub suicidality_alert: bool,
}

const LINK_COLUMNS: &str = "patient_id, link_id, scale, token_sha256, created_at, created_by, expires_at, used_at, \
     scale_result_id, suicidality_alert, alert_acknowledged_at, alert_acknowledged_by";

fn timestamp(text: &str, column: &str) -> Result<Timestamp, StoreError> {
    text.parse().map_err(|_| StoreError::Corrupt(format!("{column} {text:?} is not readable")))
}

fn optional_timestamp(row: &impl RowExt, column: &str) -> Result<Option<Timestamp>, StoreError> {
    row.opt_text(column)?.map(|text| timestamp(&text, column)).transpose()
}

fn link_from_row(row: &impl RowExt) -> Result<SelfReportLink, StoreError> {
    Ok(SelfReportLink {
        patient_id: row.text("patient_id")?,
        link_id: row.text("link_id")?,
        scale: row.text("scale")?,
        token_sha256: row.text("token_sha256")?,
        created_at: timestamp(&row.text("created_at")?, "created_at")?,
        created_by: row.text("created_by")?,
        expires_at: timestamp(&row.text("expires_at")?, "expires_at")?,
        used_at: optional_timestamp(row, "used_at")?,
        scale_result_id: row.opt_text("scale_result_id")?,
        suicidality_alert: row.int("suicidality_alert")? == 1,
        alert_acknowledged_at: optional_timestamp(row, "alert_acknowledged_at")?,
        alert_acknowledged_by: row.opt_text("alert_acknowledged_by")?,
    })
}

impl Store {
    /// Stores a new (unused) link with its audit event.
    pub async fn insert_self_report_link(&self, link: &SelfReportLink, event: &AuditEvent) -> Result<(), StoreError> {
        let created_at = format_time(link.created_at);
        let expires_at = format_time(link.expires_at);
        write_tx!(self, [link, event, created_at, expires_at], tx => {
            sqlx::query(
                "INSERT INTO self_report_links (patient_id, link_id, scale, token_sha256, created_at, created_by, \
                 expires_at, used_at, scale_result_id, suicidality_alert) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL, 0)",
            )
            .bind(&link.patient_id)
            .bind(&link.link_id)
            .bind(&link.scale)
            .bind(&link.token_sha256)
            .bind(&created_at)
            .bind(&link.created_by)
            .bind(&expires_at)
            .execute(&mut *tx.conn)
            .await
            .map_err(missing_patient(&link.patient_id))?;
            touch!(tx, "self_report_links", [&link.patient_id, &link.link_id]);
            append_audit!(tx, &event);
        });
        Ok(())
    }

    /// The link whose token hashes to `token_sha256`, if any.
    pub async fn self_report_link_by_token(&self, token_sha256: &str) -> Result<Option<SelfReportLink>, StoreError> {
        let sql = format!("SELECT {LINK_COLUMNS} FROM self_report_links WHERE token_sha256 = $1");
        on_pool!(self, pool => {
            let row = sqlx::query(&sql).bind(token_sha256).fetch_optional(pool).await?;
            row.as_ref().map(link_from_row).transpose()
        })
    }

    /// Every link of a patient, newest first.
    pub async fn self_report_links(&self, patient_id: &str) -> Result<Vec<SelfReportLink>, StoreError> {
        let sql = format!(
            "SELECT {LINK_COLUMNS} FROM self_report_links WHERE patient_id = $1 ORDER BY created_at DESC, link_id"
        );
        on_pool!(self, pool => {
            let rows = sqlx::query(&sql).bind(patient_id).fetch_all(pool).await?;
            rows.iter().map(link_from_row).collect()
        })
    }

    /// The links whose answers raised an alert nobody has acknowledged yet, oldest answer first.
    pub async fn open_self_report_alerts(&self) -> Result<Vec<SelfReportLink>, StoreError> {
        let sql = format!(
            "SELECT {LINK_COLUMNS} FROM self_report_links WHERE suicidality_alert = 1 \
             AND alert_acknowledged_at IS NULL ORDER BY used_at, patient_id, link_id"
        );
        on_pool!(self, pool => {
            let rows = sqlx::query(&sql).fetch_all(pool).await?;
            rows.iter().map(link_from_row).collect()
        })
    }

    /// Records that `by` acknowledged the alert of a link at `at`; a link without an open alert is
    /// [`StoreError::NotFound`] and nothing changes.
    pub async fn acknowledge_self_report_alert(
        &self,
        patient_id: &str,
        link_id: &str,
        at: Timestamp,
        by: &str,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let at = format_time(at);
        write_tx!(self, [patient_id, link_id, at, by, event], tx => {
            let updated = sqlx::query(
                "UPDATE self_report_links SET alert_acknowledged_at = $1, alert_acknowledged_by = $2 \
                 WHERE patient_id = $3 AND link_id = $4 AND suicidality_alert = 1 AND alert_acknowledged_at IS NULL",
            )
            .bind(&at)
            .bind(&by)
            .bind(&patient_id)
            .bind(&link_id)
            .execute(&mut *tx.conn)
            .await?;
            if updated.rows_affected() == 0 {
                return Err(StoreError::NotFound { resource: "open self-report alert", id: link_id.clone() });
            }
            touch!(tx, "self_report_links", [&patient_id, &link_id]);
            append_audit!(tx, &event);
        });
        Ok(())
    }
}
