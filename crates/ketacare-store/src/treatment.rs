//! Treatment plans with their scheduled sessions, and treatment sessions with their observations, alert
//! changes, alert acknowledgements and drug administrations. The store keeps the facts as the JSON
//! fragments of docs/sessions.md's documents (the app rebuilds the document and runs the engine); it
//! decides nothing clinical. Nothing is deleted; a change of a plan's or a session's facts keeps the prior
//! row as an amendment. Every write of a session raises its `version`, which a new observation names as
//! its precondition (see `append_observation`).

use serde::Serialize;

use crate::audit::{AuditEvent, append_audit};
use crate::chart::insert_amendment;
use crate::patients::{AmendmentMeta, IdempotentResponse, store_idempotent};
use crate::row_versions::touch;
use crate::rows::RowExt;
use crate::session_safety::{StoredSessionOverride, override_from_row, replace_alert_log};
use crate::{Store, StoreError, format_time, on_pool, write_tx};

/// One session of a plan's generated schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScheduledSessionRow {
    /// 0-based position in the generated schedule.
    pub position: i64,
    pub session_number: Option<i64>,
    pub step: String,
    pub phase: String,
    /// Clinic-local date-time with its UTC offset.
    pub planned_at: String,
    /// `scheduled`, `completed`, `missed` or `cancelled`.
    pub status: String,
    pub treatment_session_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewTreatmentPlan {
    pub patient_id: String,
    pub plan_id: String,
    pub plan_json: String,
    pub scheduled: Vec<ScheduledSessionRow>,
    /// Why the prescriber started it beside an active plan of the same modality.
    pub concurrent_plan_reason: Option<String>,
    pub created_at: jiff::Timestamp,
    pub created_by: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredTreatmentPlan {
    pub patient_id: String,
    pub plan_id: String,
    pub plan_json: String,
    /// `active`, `cancelled` or `entered_in_error`.
    pub status: String,
    pub version: i64,
    pub created_at: String,
    pub created_by: String,
    pub updated_at: String,
    pub updated_by: String,
    pub concurrent_plan_reason: Option<String>,
    pub scheduled: Vec<ScheduledSessionRow>,
}

/// A plan's new document and status, with its regenerated schedule. Scheduled sessions are matched by
/// position; a completed one stays completed, and positions the new schedule no longer has are cancelled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TreatmentPlanChange {
    pub plan_json: String,
    pub status: String,
    pub scheduled: Vec<ScheduledSessionRow>,
}

/// Where a session is in its clinical course (beside its record status, active or entered in error):
/// started, dose given and being monitored, discharged by a clinician, signed and locked by a prescriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStage {
    InProgress,
    Monitoring,
    Discharged,
    Locked,
}

impl SessionStage {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStage::InProgress => "in_progress",
            SessionStage::Monitoring => "monitoring",
            SessionStage::Discharged => "discharged",
            SessionStage::Locked => "locked",
        }
    }

    pub(crate) fn parse(text: &str) -> Result<SessionStage, StoreError> {
        match text {
            "in_progress" => Ok(SessionStage::InProgress),
            "monitoring" => Ok(SessionStage::Monitoring),
            "discharged" => Ok(SessionStage::Discharged),
            "locked" => Ok(SessionStage::Locked),
            other => Err(StoreError::Corrupt(format!("unknown session stage {other:?}"))),
        }
    }

    /// Discharged or locked: the session is over, and changes to it are amendments with a reason.
    pub fn is_closed(self) -> bool {
        matches!(self, SessionStage::Discharged | SessionStage::Locked)
    }
}

#[derive(Debug, Clone)]
pub struct NewTreatmentSession {
    pub patient_id: String,
    pub session_id: String,
    /// The scheduled session this one fulfils: (plan id, position).
    pub fulfils: Option<(String, i64)>,
    /// The prescriber's dose order the session gives.
    pub order_id: Option<String>,
    pub modality: String,
    pub facts_json: String,
    pub created_at: jiff::Timestamp,
    pub created_by: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredTreatmentSession {
    pub patient_id: String,
    pub session_id: String,
    pub plan_id: Option<String>,
    pub scheduled_position: Option<i64>,
    pub modality: String,
    /// The session document without `observations` (docs/sessions.md).
    pub facts_json: String,
    pub observation_count: i64,
    pub rems_submitted_at: Option<String>,
    pub rems_submitted_by: Option<String>,
    /// `active` or `entered_in_error`.
    pub status: String,
    pub order_id: Option<String>,
    pub stage: SessionStage,
    /// The current revision of the alert log (a correction replays the alerts as a new revision).
    pub alert_revision: i64,
    pub discharged_at: Option<String>,
    pub discharged_by: Option<String>,
    pub signed_at: Option<String>,
    pub signed_by: Option<String>,
    pub version: i64,
    pub created_at: String,
    pub created_by: String,
    pub updated_at: String,
    pub updated_by: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredObservation {
    /// 1-based order of entry.
    pub sequence: i64,
    /// One element of the session document's `observations`.
    pub observation_json: String,
    pub recorded_at: String,
    pub recorded_by: String,
    /// Why it was entered with a time earlier than the observation before it.
    pub late_entry_reason: Option<String>,
    /// Set when the observation was marked entered in error: it no longer counts.
    pub correction: Option<ObservationCorrection>,
}

/// An observation marked entered in error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObservationCorrection {
    pub reason: String,
    pub corrected_by: String,
    pub corrected_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredAlertChange {
    /// The observation whose entry made the change.
    pub sequence: i64,
    pub change_index: i64,
    /// `BP_HIGH#1`: the rule and the episode.
    pub alert_id: String,
    pub change_kind: String,
    pub level: String,
    pub alert_json: String,
    /// When the server recorded the change (an observation's entry, or the replay after a correction).
    pub changed_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredAcknowledgement {
    pub acknowledgement_id: String,
    pub alert_id: String,
    pub acknowledged_by: String,
    pub acknowledged_at: String,
    pub note: Option<String>,
    pub recorded_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredAdministration {
    pub administration_id: String,
    pub administration_json: String,
    pub lot_number: String,
    pub status: String,
    pub recorded_at: String,
    pub recorded_by: String,
}

/// A new observation with the alert changes the engine made for it, judged against the session at
/// `expected_version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservationWrite {
    pub expected_version: i64,
    pub observation: StoredObservation,
    /// The alert changes the observation made; when `replaces_alert_log`, the whole replayed log of the
    /// session's next revision (a late entry is judged in time order by a replay).
    pub changes: Vec<StoredAlertChange>,
    pub replaces_alert_log: bool,
}

/// A session's new facts (the session document without observations) and status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionFactsChange {
    pub facts_json: String,
    pub status: String,
    /// When the session is entered in error: what its scheduled session returns to (`scheduled` or
    /// `missed`), freed for a corrected session.
    pub freed_slot_status: Option<String>,
}

/// An administration marked `entered_in_error` (or `active` again), read with its session at
/// `expected_version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdministrationStatusChange {
    pub administration_id: String,
    pub expected_version: i64,
    pub status: String,
}

/// A session with everything recorded in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreatmentSessionRecord {
    pub session: StoredTreatmentSession,
    pub observations: Vec<StoredObservation>,
    pub alert_changes: Vec<StoredAlertChange>,
    pub acknowledgements: Vec<StoredAcknowledgement>,
    pub administrations: Vec<StoredAdministration>,
    pub overrides: Vec<StoredSessionOverride>,
}

const PLAN_COLUMNS: &str = "patient_id, plan_id, plan_json, status, version, created_at, created_by, updated_at, updated_by, \
     concurrent_plan_reason";

const SESSION_COLUMNS: &str = "patient_id, session_id, plan_id, scheduled_position, modality, facts_json, \
     observation_count, rems_submitted_at, rems_submitted_by, status, order_id, stage, alert_revision, discharged_at, \
     discharged_by, signed_at, signed_by, version, created_at, created_by, updated_at, updated_by";

fn plan_from_row(row: &impl RowExt, scheduled: Vec<ScheduledSessionRow>) -> Result<StoredTreatmentPlan, StoreError> {
    Ok(StoredTreatmentPlan {
        patient_id: row.text("patient_id")?,
        plan_id: row.text("plan_id")?,
        plan_json: row.text("plan_json")?,
        status: row.text("status")?,
        version: row.int("version")?,
        created_at: row.text("created_at")?,
        created_by: row.text("created_by")?,
        updated_at: row.text("updated_at")?,
        updated_by: row.text("updated_by")?,
        concurrent_plan_reason: row.opt_text("concurrent_plan_reason")?,
        scheduled,
    })
}

fn scheduled_from_row(row: &impl RowExt) -> Result<ScheduledSessionRow, StoreError> {
    Ok(ScheduledSessionRow {
        position: row.int("position")?,
        session_number: row.opt_int("session_number")?,
        step: row.text("step")?,
        phase: row.text("phase")?,
        planned_at: row.text("planned_at")?,
        status: row.text("status")?,
        treatment_session_id: row.opt_text("treatment_session_id")?,
    })
}

fn session_from_row(row: &impl RowExt) -> Result<StoredTreatmentSession, StoreError> {
    Ok(StoredTreatmentSession {
        patient_id: row.text("patient_id")?,
        session_id: row.text("session_id")?,
        plan_id: row.opt_text("plan_id")?,
        scheduled_position: row.opt_int("scheduled_position")?,
        modality: row.text("modality")?,
        facts_json: row.text("facts_json")?,
        observation_count: row.int("observation_count")?,
        rems_submitted_at: row.opt_text("rems_submitted_at")?,
        rems_submitted_by: row.opt_text("rems_submitted_by")?,
        status: row.text("status")?,
        order_id: row.opt_text("order_id")?,
        stage: SessionStage::parse(&row.text("stage")?)?,
        alert_revision: row.int("alert_revision")?,
        discharged_at: row.opt_text("discharged_at")?,
        discharged_by: row.opt_text("discharged_by")?,
        signed_at: row.opt_text("signed_at")?,
        signed_by: row.opt_text("signed_by")?,
        version: row.int("version")?,
        created_at: row.text("created_at")?,
        created_by: row.text("created_by")?,
        updated_at: row.text("updated_at")?,
        updated_by: row.text("updated_by")?,
    })
}

fn observation_from_row(row: &impl RowExt) -> Result<StoredObservation, StoreError> {
    Ok(StoredObservation {
        sequence: row.int("sequence")?,
        observation_json: row.text("observation_json")?,
        recorded_at: row.text("recorded_at")?,
        recorded_by: row.text("recorded_by")?,
        late_entry_reason: row.opt_text("late_entry_reason")?,
        correction: match row.opt_text("correction_reason")? {
            None => None,
            Some(reason) => Some(ObservationCorrection {
                reason,
                corrected_by: row.text("corrected_by")?,
                corrected_at: row.text("corrected_at")?,
            }),
        },
    })
}

fn alert_change_from_row(row: &impl RowExt) -> Result<StoredAlertChange, StoreError> {
    Ok(StoredAlertChange {
        sequence: row.int("sequence")?,
        change_index: row.int("change_index")?,
        alert_id: row.text("alert_id")?,
        change_kind: row.text("change_kind")?,
        level: row.text("level")?,
        alert_json: row.text("alert_json")?,
        changed_at: row.text("changed_at")?,
    })
}

fn acknowledgement_from_row(row: &impl RowExt) -> Result<StoredAcknowledgement, StoreError> {
    Ok(StoredAcknowledgement {
        acknowledgement_id: row.text("acknowledgement_id")?,
        alert_id: row.text("alert_id")?,
        acknowledged_by: row.text("acknowledged_by")?,
        acknowledged_at: row.text("acknowledged_at")?,
        note: row.opt_text("note")?,
        recorded_at: row.text("recorded_at")?,
    })
}

fn administration_from_row(row: &impl RowExt) -> Result<StoredAdministration, StoreError> {
    Ok(StoredAdministration {
        administration_id: row.text("administration_id")?,
        administration_json: row.text("administration_json")?,
        lot_number: row.text("lot_number")?,
        status: row.text("status")?,
        recorded_at: row.text("recorded_at")?,
        recorded_by: row.text("recorded_by")?,
    })
}

fn corrupt(error: serde_json::Error) -> StoreError {
    StoreError::Corrupt(error.to_string())
}

/// Maps a foreign-key violation (the patient or session does not exist) to [`StoreError::NotFound`].
fn missing<'a>(resource: &'static str, id: &'a str) -> impl Fn(sqlx::Error) -> StoreError + 'a {
    move |error| match &error {
        sqlx::Error::Database(database) if database.is_foreign_key_violation() => {
            StoreError::NotFound { resource, id: id.to_owned() }
        }
        _ => StoreError::Database(error),
    }
}

/// Inserts one scheduled session of a plan in the open transaction.
macro_rules! insert_scheduled {
    ($tx:expr, $patient_id:expr, $plan_id:expr, $row:expr) => {
        sqlx::query(
            "INSERT INTO scheduled_sessions (patient_id, plan_id, position, session_number, step, phase, planned_at, \
             status, treatment_session_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&$patient_id)
        .bind(&$plan_id)
        .bind($row.position)
        .bind($row.session_number)
        .bind(&$row.step)
        .bind(&$row.phase)
        .bind(&$row.planned_at)
        .bind(&$row.status)
        .bind(&$row.treatment_session_id)
        .execute(&mut *$tx.conn)
        .await?
    };
}

/// Inserts one alert change into the session's alert log at `$revision` and `$position`.
macro_rules! insert_alert_change {
    ($tx:expr, $patient_id:expr, $session_id:expr, $revision:expr, $position:expr, $change:expr) => {
        sqlx::query(
            "INSERT INTO session_alert_log (patient_id, session_id, revision, log_position, sequence, change_index, \
             alert_id, change_kind, level, alert_json, changed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&$patient_id)
        .bind(&$session_id)
        .bind($revision)
        .bind($position)
        .bind($change.sequence)
        .bind($change.change_index)
        .bind(&$change.alert_id)
        .bind(&$change.change_kind)
        .bind(&$change.level)
        .bind(&$change.alert_json)
        .bind(&$change.changed_at)
        .execute(&mut *$tx.conn)
        .await?
    };
}
pub(crate) use insert_alert_change;

/// Raises a session's version (and, for an observation, its count) if it is still at `$expected`
/// (`None`: whatever it is); a session that moved on is [`StoreError::StaleVersion`].
macro_rules! bump_session {
    ($tx:expr, $patient_id:expr, $session_id:expr, $expected:expr, $added_observations:expr, $at:expr, $by:expr) => {{
        let updated = sqlx::query(
            "UPDATE treatment_sessions SET version = version + 1, observation_count = observation_count + $4, \
             updated_at = $5, updated_by = $6 WHERE patient_id = $1 AND session_id = $2 AND ($3 < 0 OR version = $3)",
        )
        .bind(&$patient_id)
        .bind(&$session_id)
        .bind($expected.unwrap_or(-1_i64))
        .bind($added_observations)
        .bind(&$at)
        .bind(&$by)
        .execute(&mut *$tx.conn)
        .await?;
        if updated.rows_affected() != 1 {
            let current: Option<(i64,)> =
                sqlx::query_as("SELECT version FROM treatment_sessions WHERE patient_id = $1 AND session_id = $2")
                    .bind(&$patient_id)
                    .bind(&$session_id)
                    .fetch_optional(&mut *$tx.conn)
                    .await?;
            return Err(match current {
                None => StoreError::NotFound { resource: "session", id: $session_id.to_owned() },
                Some((current,)) => StoreError::StaleVersion {
                    resource: "session",
                    id: $session_id.to_owned(),
                    expected: $expected.unwrap_or(-1),
                    current,
                },
            });
        }
        $crate::row_versions::touch!($tx, "treatment_sessions", [&$patient_id, &$session_id]);
    }};
}
pub(crate) use bump_session;

impl Store {
    pub async fn insert_treatment_plan(
        &self,
        plan: &NewTreatmentPlan,
        audit: &AuditEvent,
        idempotent: Option<&IdempotentResponse>,
    ) -> Result<(), StoreError> {
        let at = format_time(plan.created_at);
        write_tx!(self, [plan, audit, idempotent, at], tx => {
            sqlx::query(
                "INSERT INTO treatment_plans (patient_id, plan_id, plan_json, status, version, created_at, created_by, \
                 updated_at, updated_by, concurrent_plan_reason) VALUES ($1, $2, $3, 'active', 1, $4, $5, $4, $5, $6)",
            )
            .bind(&plan.patient_id)
            .bind(&plan.plan_id)
            .bind(&plan.plan_json)
            .bind(&at)
            .bind(&plan.created_by)
            .bind(&plan.concurrent_plan_reason)
            .execute(&mut *tx.conn)
            .await
            .map_err(missing("patient", &plan.patient_id))?;
            for row in &plan.scheduled {
                insert_scheduled!(tx, plan.patient_id, plan.plan_id, row);
            }
            touch!(tx, "treatment_plans", [&plan.patient_id, &plan.plan_id]);
            touch!(tx, "scheduled_sessions", [&plan.patient_id, &plan.plan_id]);
            store_idempotent!(tx, idempotent, at);
            append_audit!(tx, &audit);
        });
        Ok(())
    }

    pub async fn treatment_plan(
        &self,
        patient_id: &str,
        plan_id: &str,
    ) -> Result<Option<StoredTreatmentPlan>, StoreError> {
        let sql = format!("SELECT {PLAN_COLUMNS} FROM treatment_plans WHERE patient_id = $1 AND plan_id = $2");
        on_pool!(self, pool => {
            let Some(row) = sqlx::query(&sql).bind(patient_id).bind(plan_id).fetch_optional(pool).await? else {
                return Ok(None);
            };
            let rows = sqlx::query(
                "SELECT position, session_number, step, phase, planned_at, status, treatment_session_id \
                 FROM scheduled_sessions WHERE patient_id = $1 AND plan_id = $2 ORDER BY position",
            )
            .bind(patient_id)
            .bind(plan_id)
            .fetch_all(pool)
            .await?;
            let scheduled = rows.iter().map(scheduled_from_row).collect::<Result<Vec<_>, _>>()?;
            plan_from_row(&row, scheduled).map(Some)
        })
    }

    /// Replaces a plan's document and status if it is still at `expected_version`, keeping the prior plan
    /// (with its schedule) as an amendment.
    pub async fn amend_treatment_plan(
        &self,
        patient_id: &str,
        plan_id: &str,
        expected_version: i64,
        change: &TreatmentPlanChange,
        amendment: &AmendmentMeta,
        audit: &AuditEvent,
    ) -> Result<StoredTreatmentPlan, StoreError> {
        let prior = self
            .treatment_plan(patient_id, plan_id)
            .await?
            .ok_or_else(|| StoreError::NotFound { resource: "plan", id: plan_id.to_owned() })?;
        let prior_json = serde_json::to_string(&prior).map_err(corrupt)?;
        let new_json = serde_json::to_string(&serde_json::json!({
            "plan_json": change.plan_json, "status": change.status }))
        .map_err(corrupt)?;
        let at = format_time(amendment.amended_at);
        write_tx!(self, [patient_id, plan_id, change, amendment, audit, at, prior_json, new_json], tx => {
            let updated = sqlx::query(
                "UPDATE treatment_plans SET plan_json = $4, status = $5, version = version + 1, updated_at = $6, \
                 updated_by = $7 WHERE patient_id = $1 AND plan_id = $2 AND version = $3",
            )
            .bind(&patient_id)
            .bind(&plan_id)
            .bind(expected_version)
            .bind(&change.plan_json)
            .bind(&change.status)
            .bind(&at)
            .bind(&amendment.amended_by)
            .execute(&mut *tx.conn)
            .await?;
            if updated.rows_affected() != 1 {
                let (current,): (i64,) =
                    sqlx::query_as("SELECT version FROM treatment_plans WHERE patient_id = $1 AND plan_id = $2")
                        .bind(&patient_id)
                        .bind(&plan_id)
                        .fetch_one(&mut *tx.conn)
                        .await?;
                return Err(StoreError::StaleVersion { resource: "plan", id: plan_id.to_owned(), expected: expected_version, current });
            }
            let (existing,): (i64,) =
                sqlx::query_as("SELECT COUNT(*) FROM scheduled_sessions WHERE patient_id = $1 AND plan_id = $2")
                    .bind(&patient_id)
                    .bind(&plan_id)
                    .fetch_one(&mut *tx.conn)
                    .await?;
            for row in &change.scheduled {
                if row.position < existing {
                    sqlx::query(
                        "UPDATE scheduled_sessions SET session_number = $4, step = $5, phase = $6, planned_at = $7, \
                         status = CASE WHEN status = 'completed' THEN status ELSE $8 END \
                         WHERE patient_id = $1 AND plan_id = $2 AND position = $3",
                    )
                    .bind(&patient_id)
                    .bind(&plan_id)
                    .bind(row.position)
                    .bind(row.session_number)
                    .bind(&row.step)
                    .bind(&row.phase)
                    .bind(&row.planned_at)
                    .bind(&row.status)
                    .execute(&mut *tx.conn)
                    .await?;
                } else {
                    insert_scheduled!(tx, patient_id, plan_id, row);
                }
            }
            sqlx::query(
                "UPDATE scheduled_sessions SET status = 'cancelled' WHERE patient_id = $1 AND plan_id = $2 \
                 AND position >= $3 AND status <> 'completed'",
            )
            .bind(&patient_id)
            .bind(&plan_id)
            .bind(i64::try_from(change.scheduled.len()).unwrap_or(i64::MAX))
            .execute(&mut *tx.conn)
            .await?;
            insert_amendment!(json: tx, &patient_id, "treatment_plan", &plan_id, expected_version, &prior_json, &new_json, amendment, &at);
            touch!(tx, "treatment_plans", [&patient_id, &plan_id]);
            touch!(tx, "scheduled_sessions", [&patient_id, &plan_id]);
            append_audit!(tx, &audit);
        });
        self.treatment_plan(patient_id, plan_id)
            .await?
            .ok_or_else(|| StoreError::NotFound { resource: "plan", id: plan_id.to_owned() })
    }

    /// Starts a session; when it fulfils a scheduled session, the session claims it in the same transaction
    /// (it must be `scheduled` and unclaimed, or claimed by a session entered in error); it becomes
    /// `completed` when the session is discharged.
    pub async fn insert_treatment_session(
        &self,
        session: &NewTreatmentSession,
        audit: &AuditEvent,
        idempotent: Option<&IdempotentResponse>,
    ) -> Result<(), StoreError> {
        let at = format_time(session.created_at);
        write_tx!(self, [session, audit, idempotent, at], tx => {
            let (plan_id, position) = session.fulfils.clone().unzip();
            sqlx::query(
                "INSERT INTO treatment_sessions (patient_id, session_id, plan_id, scheduled_position, modality, facts_json, \
                 observation_count, status, order_id, stage, version, created_at, created_by, updated_at, updated_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, 0, 'active', $9, 'in_progress', 1, $7, $8, $7, $8)",
            )
            .bind(&session.patient_id)
            .bind(&session.session_id)
            .bind(&plan_id)
            .bind(position)
            .bind(&session.modality)
            .bind(&session.facts_json)
            .bind(&at)
            .bind(&session.created_by)
            .bind(&session.order_id)
            .execute(&mut *tx.conn)
            .await
            .map_err(missing("patient", &session.patient_id))?;
            if let (Some(plan_id), Some(position)) = (plan_id, position) {
                let updated = sqlx::query(
                    "UPDATE scheduled_sessions SET treatment_session_id = $4 \
                     WHERE patient_id = $1 AND plan_id = $2 AND position = $3 AND status = 'scheduled' \
                     AND (treatment_session_id IS NULL OR EXISTS (SELECT 1 FROM treatment_sessions earlier \
                       WHERE earlier.patient_id = scheduled_sessions.patient_id \
                       AND earlier.session_id = scheduled_sessions.treatment_session_id \
                       AND earlier.status = 'entered_in_error'))",
                )
                .bind(&session.patient_id)
                .bind(&plan_id)
                .bind(position)
                .bind(&session.session_id)
                .execute(&mut *tx.conn)
                .await?;
                if updated.rows_affected() != 1 {
                    return Err(StoreError::NotFound {
                        resource: "scheduled session still open",
                        id: format!("{plan_id}/{position}"),
                    });
                }
                touch!(tx, "scheduled_sessions", [&session.patient_id, &plan_id, position]);
            }
            touch!(tx, "treatment_sessions", [&session.patient_id, &session.session_id]);
            store_idempotent!(tx, idempotent, at);
            append_audit!(tx, &audit);
        });
        Ok(())
    }

    pub async fn treatment_session(
        &self,
        patient_id: &str,
        session_id: &str,
    ) -> Result<Option<StoredTreatmentSession>, StoreError> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM treatment_sessions WHERE patient_id = $1 AND session_id = $2");
        on_pool!(self, pool => {
            let row = sqlx::query(&sql).bind(patient_id).bind(session_id).fetch_optional(pool).await?;
            row.as_ref().map(session_from_row).transpose()
        })
    }

    /// A session with its observations and, when `with_details`, its administrations, alert changes and
    /// acknowledgements (judging a new observation needs only the timeline).
    pub async fn treatment_session_record(
        &self,
        patient_id: &str,
        session_id: &str,
        with_details: bool,
    ) -> Result<Option<TreatmentSessionRecord>, StoreError> {
        let Some(session) = self.treatment_session(patient_id, session_id).await? else { return Ok(None) };
        on_pool!(self, pool => {
            let observations = sqlx::query(
                "SELECT observation.sequence, observation.observation_json, observation.recorded_at, \
                 observation.recorded_by, observation.late_entry_reason, correction.reason AS correction_reason, \
                 correction.corrected_by, correction.corrected_at FROM session_observations observation \
                 LEFT JOIN observation_corrections correction ON correction.patient_id = observation.patient_id \
                 AND correction.session_id = observation.session_id AND correction.sequence = observation.sequence \
                 WHERE observation.patient_id = $1 AND observation.session_id = $2 AND observation.sequence <= $3 \
                 ORDER BY observation.sequence",
            )
            .bind(patient_id)
            .bind(session_id)
            .bind(session.observation_count)
            .fetch_all(pool)
            .await?
            .iter()
            .map(observation_from_row)
            .collect::<Result<Vec<_>, _>>()?;
            let (mut administrations, mut alert_changes, mut acknowledgements, mut overrides) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            if with_details {
                administrations = sqlx::query(
                    "SELECT administration_id, administration_json, lot_number, status, recorded_at, recorded_by \
                     FROM administrations WHERE patient_id = $1 AND session_id = $2 ORDER BY recorded_at, administration_id",
                )
                .bind(patient_id)
                .bind(session_id)
                .fetch_all(pool)
                .await?
                .iter()
                .map(administration_from_row)
                .collect::<Result<Vec<_>, _>>()?;
                alert_changes = sqlx::query(
                    "SELECT sequence, change_index, alert_id, change_kind, level, alert_json, changed_at \
                     FROM session_alert_log WHERE patient_id = $1 AND session_id = $2 AND revision = $3 \
                     ORDER BY log_position",
                )
                .bind(patient_id)
                .bind(session_id)
                .bind(session.alert_revision)
                .fetch_all(pool)
                .await?
                .iter()
                .map(alert_change_from_row)
                .collect::<Result<Vec<_>, _>>()?;
                acknowledgements = sqlx::query(
                    "SELECT acknowledgement_id, alert_id, acknowledged_by, acknowledged_at, note, recorded_at \
                     FROM alert_acknowledgements WHERE patient_id = $1 AND session_id = $2 \
                     ORDER BY recorded_at, acknowledgement_id",
                )
                .bind(patient_id)
                .bind(session_id)
                .fetch_all(pool)
                .await?
                .iter()
                .map(acknowledgement_from_row)
                .collect::<Result<Vec<_>, _>>()?;
                overrides = sqlx::query(
                    "SELECT override_id, item, reason, recorded_by, recorded_at FROM session_overrides \
                     WHERE patient_id = $1 AND session_id = $2 ORDER BY recorded_at, override_id",
                )
                .bind(patient_id)
                .bind(session_id)
                .fetch_all(pool)
                .await?
                .iter()
                .map(override_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            }
            Ok(Some(TreatmentSessionRecord {
                session,
                observations,
                alert_changes,
                acknowledgements,
                administrations,
                overrides,
            }))
        })
    }

    /// Appends an observation and the alert changes the engine made for it, if the session is still at
    /// `expected_version` (the version whose timeline the engine judged the observation against); else
    /// [`StoreError::StaleVersion`], and nothing is written. Returns the session's new version.
    pub async fn append_observation(
        &self,
        patient_id: &str,
        session_id: &str,
        write: &ObservationWrite,
        audit: &AuditEvent,
        idempotent: Option<&IdempotentResponse>,
    ) -> Result<i64, StoreError> {
        let expected_version = write.expected_version;
        write_tx!(self, [patient_id, session_id, write, audit, idempotent], tx => {
            let ObservationWrite { observation, changes, .. } = &write;
            // One statement checks the precondition and inserts; the table's trigger raises the session's
            // version and observation count (one round trip fewer per observation than UPDATE then INSERT).
            let inserted = sqlx::query(
                "INSERT INTO session_observations (patient_id, session_id, sequence, observation_json, recorded_at, \
                 recorded_by, late_entry_reason) SELECT patient_id, session_id, $3, $4, $5, $6, $8 FROM treatment_sessions \
                 WHERE patient_id = $1 AND session_id = $2 AND version = $7 AND status = 'active'",
            )
            .bind(&patient_id)
            .bind(&session_id)
            .bind(observation.sequence)
            .bind(&observation.observation_json)
            .bind(&observation.recorded_at)
            .bind(&observation.recorded_by)
            .bind(expected_version)
            .bind(&observation.late_entry_reason)
            .execute(&mut *tx.conn)
            .await?;
            if inserted.rows_affected() != 1 {
                let current: Option<(i64,)> =
                    sqlx::query_as("SELECT version FROM treatment_sessions WHERE patient_id = $1 AND session_id = $2")
                        .bind(&patient_id)
                        .bind(&session_id)
                        .fetch_optional(&mut *tx.conn)
                        .await?;
                return Err(match current {
                    None => StoreError::NotFound { resource: "session", id: session_id.to_owned() },
                    Some((current,)) => StoreError::StaleVersion {
                        resource: "session",
                        id: session_id.to_owned(),
                        expected: expected_version,
                        current,
                    },
                });
            }
            touch!(tx, "session_observations", [&patient_id, &session_id, observation.sequence]);
            touch!(tx, "treatment_sessions", [&patient_id, &session_id]);
            if write.replaces_alert_log {
                replace_alert_log!(tx, patient_id, session_id, changes);
            } else if !changes.is_empty() {
                let (revision, next_position): (i64, i64) = sqlx::query_as(
                    "SELECT session.alert_revision, COALESCE((SELECT MAX(log.log_position) + 1 FROM session_alert_log log \
                     WHERE log.patient_id = session.patient_id AND log.session_id = session.session_id \
                     AND log.revision = session.alert_revision), 0) FROM treatment_sessions session \
                     WHERE session.patient_id = $1 AND session.session_id = $2",
                )
                .bind(&patient_id)
                .bind(&session_id)
                .fetch_one(&mut *tx.conn)
                .await?;
                for (offset, change) in changes.iter().enumerate() {
                    insert_alert_change!(tx, patient_id, session_id, revision, next_position + i64::try_from(offset).unwrap_or(0), change);
                }
                touch!(tx, "session_alert_log", [&patient_id, &session_id, revision]);
            }
            store_idempotent!(tx, idempotent, observation.recorded_at);
            append_audit!(tx, &audit);
        });
        Ok(expected_version + 1)
    }

    /// Replaces a session's facts (and status) if it is still at `expected_version`, keeping the prior row
    /// as an amendment.
    pub async fn amend_treatment_session(
        &self,
        patient_id: &str,
        session_id: &str,
        expected_version: i64,
        change: &SessionFactsChange,
        amendment: &AmendmentMeta,
        audit: &AuditEvent,
    ) -> Result<StoredTreatmentSession, StoreError> {
        let prior = self
            .treatment_session(patient_id, session_id)
            .await?
            .ok_or_else(|| StoreError::NotFound { resource: "session", id: session_id.to_owned() })?;
        let prior_json = serde_json::to_string(&prior).map_err(corrupt)?;
        let new_json = serde_json::to_string(change).map_err(corrupt)?;
        let at = format_time(amendment.amended_at);
        write_tx!(self, [patient_id, session_id, change, amendment, audit, at, prior_json, new_json], tx => {
            bump_session!(tx, patient_id, session_id, Some(expected_version), 0_i64, at, amendment.amended_by);
            sqlx::query("UPDATE treatment_sessions SET facts_json = $3, status = $4 WHERE patient_id = $1 AND session_id = $2")
                .bind(&patient_id)
                .bind(&session_id)
                .bind(&change.facts_json)
                .bind(&change.status)
                .execute(&mut *tx.conn)
                .await?;
            if let Some(slot_status) = &change.freed_slot_status {
                sqlx::query(
                    "UPDATE scheduled_sessions SET status = $3, treatment_session_id = NULL \
                     WHERE patient_id = $1 AND treatment_session_id = $2 AND status IN ('scheduled', 'completed')",
                )
                .bind(&patient_id)
                .bind(&session_id)
                .bind(slot_status)
                .execute(&mut *tx.conn)
                .await?;
                touch!(tx, "scheduled_sessions", [&patient_id]);
            }
            insert_amendment!(json: tx, &patient_id, "treatment_session", &session_id, expected_version, &prior_json, &new_json, amendment, &at);
            append_audit!(tx, &audit);
        });
        self.treatment_session(patient_id, session_id)
            .await?
            .ok_or_else(|| StoreError::NotFound { resource: "session", id: session_id.to_owned() })
    }

    /// Records an administration if the session is still at `expected_version` (the version whose gate and
    /// order the app judged; `None`: any); it raises the session's version, since the dose it records changes
    /// what the engine sees (an observation judged before it is judged again), and moves a session in
    /// progress to monitoring.
    pub async fn insert_administration(
        &self,
        patient_id: &str,
        session_id: &str,
        expected_version: Option<i64>,
        administration: &StoredAdministration,
        audit: &AuditEvent,
        idempotent: Option<&IdempotentResponse>,
    ) -> Result<(), StoreError> {
        write_tx!(self, [patient_id, session_id, administration, audit, idempotent], tx => {
            bump_session!(tx, patient_id, session_id, expected_version, 0_i64, administration.recorded_at, administration.recorded_by);
            sqlx::query(
                "UPDATE treatment_sessions SET stage = 'monitoring' WHERE patient_id = $1 AND session_id = $2 \
                 AND stage = 'in_progress'",
            )
            .bind(&patient_id)
            .bind(&session_id)
            .execute(&mut *tx.conn)
            .await?;
            sqlx::query(
                "INSERT INTO administrations (patient_id, administration_id, session_id, administration_json, lot_number, \
                 status, recorded_at, recorded_by) VALUES ($1, $2, $3, $4, $5, 'active', $6, $7)",
            )
            .bind(&patient_id)
            .bind(&administration.administration_id)
            .bind(&session_id)
            .bind(&administration.administration_json)
            .bind(&administration.lot_number)
            .bind(&administration.recorded_at)
            .bind(&administration.recorded_by)
            .execute(&mut *tx.conn)
            .await?;
            touch!(tx, "administrations", [&patient_id, &administration.administration_id]);
            store_idempotent!(tx, idempotent, administration.recorded_at);
            append_audit!(tx, &audit);
        });
        Ok(())
    }

    /// Sets an administration's status (`entered_in_error`, or `active` again) if its session is still at
    /// `expected_version`, keeping the prior record as an amendment; the session's version rises, since the
    /// dose it records changes.
    pub async fn set_administration_status(
        &self,
        patient_id: &str,
        session_id: &str,
        change: &AdministrationStatusChange,
        amendment: &AmendmentMeta,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let at = format_time(amendment.amended_at);
        let new_json = serde_json::json!({ "status": change.status }).to_string();
        let AdministrationStatusChange { administration_id, expected_version, status } = change.clone();
        write_tx!(self, [patient_id, session_id, amendment, audit, at, new_json, administration_id, status], tx => {
            let row = sqlx::query(
                "SELECT administration_id, administration_json, lot_number, status, recorded_at, recorded_by \
                 FROM administrations WHERE patient_id = $1 AND session_id = $2 AND administration_id = $3",
            )
            .bind(&patient_id)
            .bind(&session_id)
            .bind(&administration_id)
            .fetch_optional(&mut *tx.conn)
            .await?;
            let Some(row) = row else {
                return Err(StoreError::NotFound { resource: "administration", id: administration_id.to_owned() });
            };
            let prior = administration_from_row(&row)?;
            bump_session!(tx, patient_id, session_id, Some(expected_version), 0_i64, at, amendment.amended_by);
            sqlx::query("UPDATE administrations SET status = $4 WHERE patient_id = $1 AND session_id = $2 AND administration_id = $3")
                .bind(&patient_id)
                .bind(&session_id)
                .bind(&administration_id)
                .bind(&status)
                .execute(&mut *tx.conn)
                .await?;
            let prior_json = serde_json::to_string(&prior).map_err(corrupt)?;
            insert_amendment!(json: tx, &patient_id, "administration", &administration_id, expected_version, &prior_json, &new_json, amendment, &at);
            touch!(tx, "administrations", [&patient_id, &administration_id]);
            append_audit!(tx, &audit);
        });
        Ok(())
    }

    /// Records that a clinician saw an alert the engine raised in this session (an unknown alert is
    /// [`StoreError::NotFound`]). It does not resolve the alert.
    pub async fn insert_alert_acknowledgement(
        &self,
        patient_id: &str,
        session_id: &str,
        acknowledgement: &StoredAcknowledgement,
        audit: &AuditEvent,
        idempotent: Option<&IdempotentResponse>,
    ) -> Result<(), StoreError> {
        write_tx!(self, [patient_id, session_id, acknowledgement, audit, idempotent], tx => {
            let raised: Option<(i64,)> = sqlx::query_as(
                "SELECT sequence FROM session_alert_log WHERE patient_id = $1 AND session_id = $2 AND alert_id = $3 \
                 AND change_kind = 'raised' LIMIT 1",
            )
            .bind(&patient_id)
            .bind(&session_id)
            .bind(&acknowledgement.alert_id)
            .fetch_optional(&mut *tx.conn)
            .await?;
            if raised.is_none() {
                return Err(StoreError::NotFound { resource: "alert", id: acknowledgement.alert_id.clone() });
            }
            sqlx::query(
                "INSERT INTO alert_acknowledgements (patient_id, acknowledgement_id, session_id, alert_id, acknowledged_by, \
                 acknowledged_at, note, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&patient_id)
            .bind(&acknowledgement.acknowledgement_id)
            .bind(&session_id)
            .bind(&acknowledgement.alert_id)
            .bind(&acknowledgement.acknowledged_by)
            .bind(&acknowledgement.acknowledged_at)
            .bind(&acknowledgement.note)
            .bind(&acknowledgement.recorded_at)
            .execute(&mut *tx.conn)
            .await?;
            touch!(tx, "alert_acknowledgements", [&patient_id, &acknowledgement.acknowledgement_id]);
            store_idempotent!(tx, idempotent, acknowledgement.recorded_at);
            append_audit!(tx, &audit);
        });
        Ok(())
    }

    /// Marks the session's REMS form submitted (once), if the session is still at `expected_version`.
    pub async fn mark_rems_submitted(
        &self,
        patient_id: &str,
        session_id: &str,
        expected_version: i64,
        submitted_at: jiff::Timestamp,
        submitted_by: &str,
        audit: &AuditEvent,
    ) -> Result<StoredTreatmentSession, StoreError> {
        let at = format_time(submitted_at);
        write_tx!(self, [patient_id, session_id, submitted_by, audit, at], tx => {
            bump_session!(tx, patient_id, session_id, Some(expected_version), 0_i64, at, submitted_by);
            let updated = sqlx::query(
                "UPDATE treatment_sessions SET rems_submitted_at = $3, rems_submitted_by = $4 \
                 WHERE patient_id = $1 AND session_id = $2 AND rems_submitted_at IS NULL",
            )
            .bind(&patient_id)
            .bind(&session_id)
            .bind(&at)
            .bind(&submitted_by)
            .execute(&mut *tx.conn)
            .await?;
            if updated.rows_affected() != 1 {
                return Err(StoreError::Duplicate { what: "REMS form submission" });
            }
            append_audit!(tx, &audit);
        });
        self.treatment_session(patient_id, session_id)
            .await?
            .ok_or_else(|| StoreError::NotFound { resource: "session", id: session_id.to_owned() })
    }
}

impl Store {
    /// A patient's plans (with their schedules), oldest first.
    pub async fn treatment_plans_of(&self, patient_id: &str) -> Result<Vec<StoredTreatmentPlan>, StoreError> {
        let sql =
            format!("SELECT {PLAN_COLUMNS} FROM treatment_plans WHERE patient_id = $1 ORDER BY created_at, plan_id");
        on_pool!(self, pool => {
            let plans = sqlx::query(&sql).bind(patient_id).fetch_all(pool).await?;
            let rows = sqlx::query(
                "SELECT plan_id, position, session_number, step, phase, planned_at, status, treatment_session_id \
                 FROM scheduled_sessions WHERE patient_id = $1 ORDER BY plan_id, position",
            )
            .bind(patient_id)
            .fetch_all(pool)
            .await?;
            let mut schedules: std::collections::HashMap<String, Vec<ScheduledSessionRow>> = std::collections::HashMap::new();
            for row in &rows {
                schedules.entry(row.text("plan_id")?).or_default().push(scheduled_from_row(row)?);
            }
            plans
                .iter()
                .map(|row| {
                    let scheduled = schedules.remove(&row.text("plan_id")?).unwrap_or_default();
                    plan_from_row(row, scheduled)
                })
                .collect()
        })
    }

    /// A patient's treatment sessions, oldest first (without their observations).
    pub async fn treatment_sessions_of(&self, patient_id: &str) -> Result<Vec<StoredTreatmentSession>, StoreError> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM treatment_sessions WHERE patient_id = $1 ORDER BY created_at, session_id"
        );
        on_pool!(self, pool => {
            let rows = sqlx::query(&sql).bind(patient_id).fetch_all(pool).await?;
            rows.iter().map(session_from_row).collect()
        })
    }
}
