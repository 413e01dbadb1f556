//! The patient's chart as records: episodes, history conditions, concomitant medicines, medication
//! trials, measurements, blood pressure readings and overrides in `chart_records` (each body one
//! section of the assess case format, checked by the app before it comes here), and scale results in
//! `scale_results`. Every chart write stores, in the same transaction, the re-evaluation it caused (an
//! `assessments` row, unless the decision is the patient's latest stored one unchanged) and its audit
//! events; a correction keeps the prior record as an amendment.

use serde::Serialize;

use crate::audit::{AuditEvent, append_audit};
use crate::patients::{
    AmendmentMeta, IdempotentResponse, NewAssessment, NewScaleResult, RecordStatus, StoredScaleResult, missing_patient,
    scale_result_from_row, store_idempotent,
};
use crate::row_versions::touch;
use crate::rows::RowExt;
use crate::{Store, StoreError, format_time, on_pool, write_tx};

/// A chart record to store.
#[derive(Debug, Clone)]
pub struct NewChartRecord {
    pub patient_id: String,
    pub record_id: String,
    /// `episodes`, `history`, `concomitant`, `trials`, `measurements`, `blood_pressures` or `overrides`.
    pub section: String,
    /// A trial's episode.
    pub episode_id: Option<String>,
    /// The clinical date (YYYY-MM-DD), when the record has one.
    pub recorded_on: Option<String>,
    pub body_json: String,
    pub created_at: jiff::Timestamp,
    pub created_by: String,
}

/// A stored chart record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChartRecord {
    pub patient_id: String,
    pub record_id: String,
    pub section: String,
    pub episode_id: Option<String>,
    pub recorded_on: Option<String>,
    pub body_json: String,
    pub status: RecordStatus,
    pub version: i64,
    pub created_at: String,
    pub created_by: String,
    pub updated_at: String,
    pub updated_by: String,
}

/// The values a chart record takes when amended (all of them: the app merges the change first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChartRecordChanges {
    pub episode_id: Option<String>,
    pub recorded_on: Option<String>,
    pub body_json: String,
    pub status: RecordStatus,
}

/// The values a scale result takes when amended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScaleResultChanges {
    pub answers_json: Option<String>,
    pub total: Option<i64>,
    pub administered_on: String,
    pub status: RecordStatus,
}

/// What a chart write stores along with the record: the re-evaluation it caused and its audit events
/// (the record's own and the evaluation's), all in one transaction.
#[derive(Debug, Clone)]
pub struct ChartWrite {
    pub evaluation: ChartEvaluation,
    pub audit_events: Vec<AuditEvent>,
    /// The [`chart_stamp`] of the chart the evaluation was computed from: if another write changed the
    /// chart since, the write is refused (`StaleVersion` of resource `chart`) and may be retried.
    pub chart_stamp: i64,
}

/// The decision a chart write leaves. A decision is stored once per distinct result: most chart writes
/// (another blood pressure, another weight) leave the decision as it was, and storing it again made the
/// assessments the largest table of a long run (issue 12's soak). What was decided when stays known: the
/// write's `chart.evaluate` audit event names the assessment that holds the decision.
#[derive(Debug, Clone)]
pub enum ChartEvaluation {
    /// A decision that differs from the patient's latest stored assessment: stored as a new assessment.
    Changed(NewAssessment),
    /// The same decision (report, rules version, protocol) as the patient's latest stored assessment
    /// `assessment_id`: not stored again. The write is refused as stale (`StaleVersion` of resource
    /// `chart`) if another assessment became the patient's latest since it was read.
    Unchanged { patient_id: String, assessment_id: String },
}

/// The latest active assessment of a patient: the newest by time (then by id, for a tie).
pub(crate) const LATEST_ASSESSMENT_ORDER: &str =
    "WHERE patient_id = $1 AND status = 'active' ORDER BY created_at DESC, assessment_id DESC LIMIT 1";

/// A number that grows with every change of a patient's chart: the sum of the versions of the
/// patient record, its chart records and its scale results (rows are never deleted, an insert adds at
/// least 1 and an amendment adds 1).
pub fn chart_stamp(patient_version: i64, record_versions: &[i64], scale_result_versions: &[i64]) -> i64 {
    patient_version + record_versions.iter().sum::<i64>() + scale_result_versions.iter().sum::<i64>()
}

const CHART_STAMP_SQL: &str = "SELECT CAST(COALESCE((SELECT version FROM patients WHERE patient_id = $1), 0) \
     + COALESCE((SELECT SUM(version) FROM chart_records WHERE patient_id = $1), 0) \
     + COALESCE((SELECT SUM(version) FROM scale_results WHERE patient_id = $1), 0) AS BIGINT)";

/// Inside the open transaction `$tx`, before any change: refuses the write if the chart changed since
/// its evaluation was computed.
macro_rules! check_chart_stamp {
    ($tx:expr, $patient_id:expr, $write:expr) => {{
        let (current,): (i64,) = sqlx::query_as(CHART_STAMP_SQL).bind($patient_id).fetch_one(&mut *$tx.conn).await?;
        if current != $write.chart_stamp {
            return Err(StoreError::StaleVersion {
                resource: "chart",
                id: $patient_id.to_owned(),
                expected: $write.chart_stamp,
                current,
            });
        }
    }};
}

const CHART_COLUMNS: &str = "patient_id, record_id, section, episode_id, recorded_on, body_json, status, version, \
     created_at, created_by, updated_at, updated_by";

const SCALE_COLUMNS: &str = "patient_id, scale_result_id, scale, answers_json, total, administered_on, status, version, \
     created_at, created_by";

fn chart_record_from_row(row: &impl RowExt) -> Result<ChartRecord, StoreError> {
    Ok(ChartRecord {
        patient_id: row.text("patient_id")?,
        record_id: row.text("record_id")?,
        section: row.text("section")?,
        episode_id: row.opt_text("episode_id")?,
        recorded_on: row.opt_text("recorded_on")?,
        body_json: row.text("body_json")?,
        status: RecordStatus::parse(&row.text("status")?)?,
        version: row.int("version")?,
        created_at: row.text("created_at")?,
        created_by: row.text("created_by")?,
        updated_at: row.text("updated_at")?,
        updated_by: row.text("updated_by")?,
    })
}

/// Inside the open transaction `$tx`: stores the evaluation (unless it is the patient's latest stored decision
/// unchanged) and appends the audit events of `$write`.
macro_rules! store_chart_write {
    ($tx:expr, $write:expr) => {{
        match &$write.evaluation {
            ChartEvaluation::Changed(evaluation) => $crate::patients::insert_assessment_row!($tx, evaluation),
            ChartEvaluation::Unchanged { patient_id, assessment_id } => {
                let sql = format!("SELECT assessment_id FROM assessments {LATEST_ASSESSMENT_ORDER}");
                let latest: Option<(String,)> =
                    sqlx::query_as(&sql).bind(patient_id).fetch_optional(&mut *$tx.conn).await?;
                if latest.as_ref().map(|(id,)| id) != Some(assessment_id) {
                    // Another decision was stored since this one was read: the write is retried on the chart as it is.
                    return Err(StoreError::StaleVersion {
                        resource: "chart",
                        id: patient_id.clone(),
                        expected: $write.chart_stamp,
                        current: $write.chart_stamp,
                    });
                }
            }
        }
        for event in &$write.audit_events {
            append_audit!($tx, event);
        }
    }};
}

/// Inside the open transaction `$tx`: the amendment row keeping `$prior` (serialisable) and the change;
/// with `json:` first, `$prior` and `$new` are the JSON texts already.
macro_rules! insert_amendment {
    ($tx:expr, $patient_id:expr, $resource_type:expr, $resource_id:expr, $from_version:expr, $prior:expr, $new:expr, $meta:expr, $at:expr) => {{
        let prior_json = serde_json::to_string($prior).map_err(|error| StoreError::Corrupt(error.to_string()))?;
        let new_json = serde_json::to_string($new).map_err(|error| StoreError::Corrupt(error.to_string()))?;
        $crate::chart::insert_amendment!(json: $tx, $patient_id, $resource_type, $resource_id, $from_version, &prior_json, &new_json, $meta, $at);
    }};
    (json: $tx:expr, $patient_id:expr, $resource_type:expr, $resource_id:expr, $from_version:expr, $prior_json:expr, $new_json:expr, $meta:expr, $at:expr) => {{
        let (prior_json, new_json): (&str, &str) = ($prior_json, $new_json);
        sqlx::query(
            "INSERT INTO amendments (patient_id, amendment_id, resource_type, resource_id, from_version, prior_json, \
             new_json, reason, amended_by, amended_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind($patient_id)
        .bind(&$meta.amendment_id)
        .bind($resource_type)
        .bind($resource_id)
        .bind($from_version)
        .bind(prior_json)
        .bind(new_json)
        .bind(&$meta.reason)
        .bind(&$meta.amended_by)
        .bind($at)
        .execute(&mut *$tx.conn)
        .await?;
        $crate::row_versions::touch!($tx, "amendments", [$patient_id, &$meta.amendment_id]);
    }};
}
pub(crate) use insert_amendment;

impl Store {
    /// Stores a chart record with the evaluation it caused, its audit events and (for a keyed
    /// request) its idempotent response.
    pub async fn insert_chart_record(
        &self,
        record: &NewChartRecord,
        write: &ChartWrite,
        idempotent: Option<&IdempotentResponse>,
    ) -> Result<ChartRecord, StoreError> {
        let at = format_time(record.created_at);
        write_tx!(self, [record, write, idempotent, at], tx => {
            check_chart_stamp!(tx, &record.patient_id, write);
            sqlx::query(
                "INSERT INTO chart_records (patient_id, record_id, section, episode_id, recorded_on, body_json, status, \
                 version, created_at, created_by, updated_at, updated_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'active', 1, $7, $8, $7, $8)",
            )
            .bind(&record.patient_id)
            .bind(&record.record_id)
            .bind(&record.section)
            .bind(&record.episode_id)
            .bind(&record.recorded_on)
            .bind(&record.body_json)
            .bind(&at)
            .bind(&record.created_by)
            .execute(&mut *tx.conn)
            .await
            .map_err(missing_patient(&record.patient_id))?;
            touch!(tx, "chart_records", [&record.patient_id, &record.record_id]);
            store_chart_write!(tx, write);
            store_idempotent!(tx, idempotent, format_time(record.created_at));
        });
        Ok(ChartRecord {
            patient_id: record.patient_id.clone(),
            record_id: record.record_id.clone(),
            section: record.section.clone(),
            episode_id: record.episode_id.clone(),
            recorded_on: record.recorded_on.clone(),
            body_json: record.body_json.clone(),
            status: RecordStatus::Active,
            version: 1,
            created_at: at.clone(),
            created_by: record.created_by.clone(),
            updated_at: at,
            updated_by: record.created_by.clone(),
        })
    }

    /// Every chart record of a patient (all sections, entered-in-error ones too), in the order recorded.
    pub async fn chart_records(&self, patient_id: &str) -> Result<Vec<ChartRecord>, StoreError> {
        let sql =
            format!("SELECT {CHART_COLUMNS} FROM chart_records WHERE patient_id = $1 ORDER BY created_at, record_id");
        on_pool!(self, pool => {
            let rows = sqlx::query(&sql).bind(patient_id).fetch_all(pool).await?;
            rows.iter().map(chart_record_from_row).collect()
        })
    }

    pub async fn chart_record(&self, patient_id: &str, record_id: &str) -> Result<Option<ChartRecord>, StoreError> {
        let sql = format!("SELECT {CHART_COLUMNS} FROM chart_records WHERE patient_id = $1 AND record_id = $2");
        on_pool!(self, pool => {
            let row = sqlx::query(&sql).bind(patient_id).bind(record_id).fetch_optional(pool).await?;
            row.as_ref().map(chart_record_from_row).transpose()
        })
    }

    /// Changes a chart record if it is still at `expected_version`, keeping the prior record as an
    /// amendment, and stores the evaluation the change caused.
    pub async fn amend_chart_record(
        &self,
        patient_id: &str,
        record_id: &str,
        expected_version: i64,
        changes: &ChartRecordChanges,
        amendment: &AmendmentMeta,
        write: &ChartWrite,
    ) -> Result<ChartRecord, StoreError> {
        let select = format!("SELECT {CHART_COLUMNS} FROM chart_records WHERE patient_id = $1 AND record_id = $2");
        let at = format_time(amendment.amended_at);
        write_tx!(self, [patient_id, record_id, changes, amendment, write, select, at], tx => {
            let row = sqlx::query(&select).bind(&patient_id).bind(&record_id).fetch_optional(&mut *tx.conn).await?;
            let Some(row) = row else {
                return Err(StoreError::NotFound { resource: "chart record", id: record_id.to_owned() });
            };
            let prior = chart_record_from_row(&row)?;
            if prior.version != expected_version {
                return Err(StoreError::StaleVersion {
                    resource: "chart record",
                    id: record_id.to_owned(),
                    expected: expected_version,
                    current: prior.version,
                });
            }
            check_chart_stamp!(tx, &patient_id, write);
            let next = ChartRecord {
                episode_id: changes.episode_id.clone(),
                recorded_on: changes.recorded_on.clone(),
                body_json: changes.body_json.clone(),
                status: changes.status,
                version: prior.version + 1,
                updated_at: at.clone(),
                updated_by: amendment.amended_by.clone(),
                ..prior.clone()
            };
            let updated = sqlx::query(
                "UPDATE chart_records SET episode_id = $4, recorded_on = $5, body_json = $6, status = $7, version = $8, \
                 updated_at = $9, updated_by = $10 WHERE patient_id = $1 AND record_id = $2 AND version = $3",
            )
            .bind(&patient_id)
            .bind(&record_id)
            .bind(expected_version)
            .bind(&next.episode_id)
            .bind(&next.recorded_on)
            .bind(&next.body_json)
            .bind(next.status.as_str())
            .bind(next.version)
            .bind(&at)
            .bind(&next.updated_by)
            .execute(&mut *tx.conn)
            .await?;
            if updated.rows_affected() != 1 {
                return Err(StoreError::StaleVersion { resource: "chart record", id: record_id.to_owned(), expected: expected_version, current: -1 });
            }
            touch!(tx, "chart_records", [&patient_id, &record_id]);
            insert_amendment!(tx, &patient_id, &prior.section, &record_id, prior.version, &prior, &changes, amendment, &at);
            store_chart_write!(tx, write);
            Ok(next)
        })
    }

    /// Stores a scale result entered on the chart, with the evaluation it caused, its audit events and
    /// (for a keyed request) its idempotent response.
    pub async fn insert_chart_scale_result(
        &self,
        result: &NewScaleResult,
        write: &ChartWrite,
        idempotent: Option<&IdempotentResponse>,
    ) -> Result<StoredScaleResult, StoreError> {
        let at = format_time(result.created_at);
        write_tx!(self, [result, write, idempotent, at], tx => {
            check_chart_stamp!(tx, &result.patient_id, write);
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
            .bind(&at)
            .bind(&result.created_by)
            .execute(&mut *tx.conn)
            .await
            .map_err(missing_patient(&result.patient_id))?;
            touch!(tx, "scale_results", [&result.patient_id, &result.scale_result_id]);
            store_chart_write!(tx, write);
            store_idempotent!(tx, idempotent, format_time(result.created_at));
        });
        Ok(StoredScaleResult {
            patient_id: result.patient_id.clone(),
            scale_result_id: result.scale_result_id.clone(),
            scale: result.scale.clone(),
            answers_json: result.answers_json.clone(),
            total: result.total,
            administered_on: result.administered_on.clone(),
            status: RecordStatus::Active,
            version: 1,
            created_at: at,
            created_by: result.created_by.clone(),
        })
    }

    /// Uses a self-report link: marks it used (and flags its alert) and stores the patient's scale result
    /// with the evaluation it caused, in one transaction. A link used already is
    /// [`StoreError::Duplicate`] (`self-report answer`) and nothing is stored.
    pub async fn insert_self_report_result(
        &self,
        link_use: &crate::SelfReportUse,
        result: &NewScaleResult,
        write: &ChartWrite,
    ) -> Result<StoredScaleResult, StoreError> {
        let at = format_time(result.created_at);
        let used_at = format_time(link_use.used_at);
        write_tx!(self, [link_use, result, write, at, used_at], tx => {
            check_chart_stamp!(tx, &result.patient_id, write);
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
            .bind(&at)
            .bind(&result.created_by)
            .execute(&mut *tx.conn)
            .await
            .map_err(missing_patient(&result.patient_id))?;
            let used = sqlx::query(
                "UPDATE self_report_links SET used_at = $1, scale_result_id = $2, suicidality_alert = $3 \
                 WHERE patient_id = $4 AND link_id = $5 AND used_at IS NULL",
            )
            .bind(&used_at)
            .bind(&result.scale_result_id)
            .bind(i64::from(link_use.suicidality_alert))
            .bind(&link_use.patient_id)
            .bind(&link_use.link_id)
            .execute(&mut *tx.conn)
            .await?;
            if used.rows_affected() == 0 {
                return Err(StoreError::Duplicate { what: "self-report answer" });
            }
            touch!(tx, "scale_results", [&result.patient_id, &result.scale_result_id]);
            touch!(tx, "self_report_links", [&link_use.patient_id, &link_use.link_id]);
            store_chart_write!(tx, write);
        });
        Ok(StoredScaleResult {
            patient_id: result.patient_id.clone(),
            scale_result_id: result.scale_result_id.clone(),
            scale: result.scale.clone(),
            answers_json: result.answers_json.clone(),
            total: result.total,
            administered_on: result.administered_on.clone(),
            status: RecordStatus::Active,
            version: 1,
            created_at: at,
            created_by: result.created_by.clone(),
        })
    }

    pub async fn scale_result(
        &self,
        patient_id: &str,
        scale_result_id: &str,
    ) -> Result<Option<StoredScaleResult>, StoreError> {
        let sql = format!("SELECT {SCALE_COLUMNS} FROM scale_results WHERE patient_id = $1 AND scale_result_id = $2");
        on_pool!(self, pool => {
            let row = sqlx::query(&sql).bind(patient_id).bind(scale_result_id).fetch_optional(pool).await?;
            row.as_ref().map(scale_result_from_row).transpose()
        })
    }

    /// Changes a scale result if it is still at `expected_version`, keeping the prior record as an
    /// amendment, and stores the evaluation the change caused.
    pub async fn amend_scale_result(
        &self,
        patient_id: &str,
        scale_result_id: &str,
        expected_version: i64,
        changes: &ScaleResultChanges,
        amendment: &AmendmentMeta,
        write: &ChartWrite,
    ) -> Result<StoredScaleResult, StoreError> {
        let select =
            format!("SELECT {SCALE_COLUMNS} FROM scale_results WHERE patient_id = $1 AND scale_result_id = $2");
        let at = format_time(amendment.amended_at);
        write_tx!(self, [patient_id, scale_result_id, changes, amendment, write, select, at], tx => {
            let row = sqlx::query(&select).bind(&patient_id).bind(&scale_result_id).fetch_optional(&mut *tx.conn).await?;
            let Some(row) = row else {
                return Err(StoreError::NotFound { resource: "scale result", id: scale_result_id.to_owned() });
            };
            let prior = scale_result_from_row(&row)?;
            if prior.version != expected_version {
                return Err(StoreError::StaleVersion {
                    resource: "scale result",
                    id: scale_result_id.to_owned(),
                    expected: expected_version,
                    current: prior.version,
                });
            }
            check_chart_stamp!(tx, &patient_id, write);
            let next = StoredScaleResult {
                answers_json: changes.answers_json.clone(),
                total: changes.total,
                administered_on: changes.administered_on.clone(),
                status: changes.status,
                version: prior.version + 1,
                ..prior.clone()
            };
            let updated = sqlx::query(
                "UPDATE scale_results SET answers_json = $4, total = $5, administered_on = $6, status = $7, version = $8 \
                 WHERE patient_id = $1 AND scale_result_id = $2 AND version = $3",
            )
            .bind(&patient_id)
            .bind(&scale_result_id)
            .bind(expected_version)
            .bind(&next.answers_json)
            .bind(next.total)
            .bind(&next.administered_on)
            .bind(next.status.as_str())
            .bind(next.version)
            .execute(&mut *tx.conn)
            .await?;
            if updated.rows_affected() != 1 {
                return Err(StoreError::StaleVersion { resource: "scale result", id: scale_result_id.to_owned(), expected: expected_version, current: -1 });
            }
            touch!(tx, "scale_results", [&patient_id, &scale_result_id]);
            insert_amendment!(tx, &patient_id, "scale_result", &scale_result_id, prior.version, &prior, &changes, amendment, &at);
            store_chart_write!(tx, write);
            Ok(next)
        })
    }
}
