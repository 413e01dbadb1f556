//! The queries behind the clinic's worklist, across patients: the day's scheduled sessions, alerts no one
//! has acknowledged since they last changed, the esketamine sessions whose REMS form is not submitted, and
//! the active plans whose measurement plans may be overdue. Read-only; the app audits what it shows.

use serde::Serialize;

use crate::rows::RowExt;
use crate::treatment::ScheduledSessionRow;
use crate::{Store, StoreError, on_pool};

/// A session of an active plan's schedule, with whose it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScheduledSessionOfDay {
    pub patient_id: String,
    pub plan_id: String,
    #[serde(flatten)]
    pub scheduled: ScheduledSessionRow,
}

/// An alert whose latest change is not `resolved` and that nobody acknowledged since that change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpenAlert {
    pub patient_id: String,
    pub session_id: String,
    /// `BP_HIGH#1`: the rule and the episode.
    pub alert_id: String,
    /// The latest change: `raised`, `escalated` or `de_escalated`.
    pub change_kind: String,
    pub level: String,
    /// The alert as the engine reported it at its latest change (JSON text).
    pub alert_json: String,
    /// When the observation that made the latest change was recorded.
    pub changed_at: String,
}

/// A patient's session or plan, by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PatientRecordId {
    pub patient_id: String,
    pub record_id: String,
}

impl Store {
    /// The sessions of active plans planned on `local_date` (clinic-local `YYYY-MM-DD`), cancelled ones
    /// left out, by planned time.
    pub async fn scheduled_sessions_on(&self, local_date: &str) -> Result<Vec<ScheduledSessionOfDay>, StoreError> {
        let sql = "SELECT scheduled.patient_id, scheduled.plan_id, scheduled.position, scheduled.session_number, \
                   scheduled.step, scheduled.phase, scheduled.planned_at, scheduled.status, scheduled.treatment_session_id \
                   FROM scheduled_sessions scheduled JOIN treatment_plans plans \
                   ON plans.patient_id = scheduled.patient_id AND plans.plan_id = scheduled.plan_id \
                   WHERE plans.status = 'active' AND scheduled.status <> 'cancelled' \
                   AND substr(scheduled.planned_at, 1, 10) = $1 \
                   ORDER BY scheduled.planned_at, scheduled.patient_id, scheduled.position";
        on_pool!(self, pool => {
            let rows = sqlx::query(sql).bind(local_date).fetch_all(pool).await?;
            rows.iter()
                .map(|row| {
                    Ok(ScheduledSessionOfDay {
                        patient_id: row.text("patient_id")?,
                        plan_id: row.text("plan_id")?,
                        scheduled: ScheduledSessionRow {
                            position: row.int("position")?,
                            session_number: row.opt_int("session_number")?,
                            step: row.text("step")?,
                            phase: row.text("phase")?,
                            planned_at: row.text("planned_at")?,
                            status: row.text("status")?,
                            treatment_session_id: row.opt_text("treatment_session_id")?,
                        },
                    })
                })
                .collect()
        })
    }

    /// The alerts of active sessions whose latest change is not `resolved` and that have no
    /// acknowledgement recorded since that change (an escalation after an acknowledgement opens it again),
    /// most severe first is the app's to sort; here by time of change.
    pub async fn open_alerts(&self) -> Result<Vec<OpenAlert>, StoreError> {
        let sql = "SELECT latest.patient_id, latest.session_id, latest.alert_id, latest.change_kind, latest.level, \
                   latest.alert_json, latest.changed_at \
                   FROM session_alert_log latest \
                   JOIN treatment_sessions session \
                     ON session.patient_id = latest.patient_id AND session.session_id = latest.session_id \
                     AND latest.revision = session.alert_revision \
                   WHERE session.status = 'active' AND latest.change_kind <> 'resolved' \
                   AND NOT EXISTS (SELECT 1 FROM session_alert_log later \
                     WHERE later.patient_id = latest.patient_id AND later.session_id = latest.session_id \
                     AND later.revision = latest.revision AND later.alert_id = latest.alert_id \
                     AND later.log_position > latest.log_position) \
                   AND NOT EXISTS (SELECT 1 FROM alert_acknowledgements acknowledgement \
                     WHERE acknowledgement.patient_id = latest.patient_id \
                     AND acknowledgement.session_id = latest.session_id \
                     AND acknowledgement.alert_id = latest.alert_id \
                     AND acknowledgement.recorded_at >= latest.changed_at) \
                   ORDER BY latest.changed_at, latest.patient_id, latest.alert_id";
        on_pool!(self, pool => {
            let rows = sqlx::query(sql).fetch_all(pool).await?;
            rows.iter()
                .map(|row| {
                    Ok(OpenAlert {
                        patient_id: row.text("patient_id")?,
                        session_id: row.text("session_id")?,
                        alert_id: row.text("alert_id")?,
                        change_kind: row.text("change_kind")?,
                        level: row.text("level")?,
                        alert_json: row.text("alert_json")?,
                        changed_at: row.text("changed_at")?,
                    })
                })
                .collect()
        })
    }

    /// Active esketamine sessions whose REMS form is not marked submitted (whether one is required, and
    /// when it is due, is the engine's to say).
    pub async fn sessions_with_rems_form_unsubmitted(&self) -> Result<Vec<PatientRecordId>, StoreError> {
        let sql = "SELECT patient_id, session_id FROM treatment_sessions \
                   WHERE status = 'active' AND modality = 'esketamine' AND rems_submitted_at IS NULL \
                   ORDER BY created_at, patient_id, session_id";
        on_pool!(self, pool => {
            let rows = sqlx::query(sql).fetch_all(pool).await?;
            rows.iter()
                .map(|row| Ok(PatientRecordId { patient_id: row.text("patient_id")?, record_id: row.text("session_id")? }))
                .collect()
        })
    }

    /// Every active treatment plan.
    pub async fn active_treatment_plans(&self) -> Result<Vec<PatientRecordId>, StoreError> {
        let sql = "SELECT patient_id, plan_id FROM treatment_plans WHERE status = 'active' \
                   ORDER BY created_at, patient_id, plan_id";
        on_pool!(self, pool => {
            let rows = sqlx::query(sql).fetch_all(pool).await?;
            rows.iter()
                .map(|row| Ok(PatientRecordId { patient_id: row.text("patient_id")?, record_id: row.text("plan_id")? }))
                .collect()
        })
    }
}
