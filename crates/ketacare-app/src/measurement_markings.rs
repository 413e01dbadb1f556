//! Marking a measurement of a plan's measurement plan not applicable (issue 14, "overdue that means
//! something"): a nurse or prescriber names the measurement (scale and the instant it was due) and gives a
//! reason; the marking is stored for good (never deleted), audited, and from then on the measurement is
//! `not_applicable` in the plan report: off the worklist and not counted in adherence.

use jiff::Timestamp;
use ketacare_store::MeasurementNotApplicable;
use serde::Serialize;
use serde_json::Value;

use crate::policy::{Permission, require};
use crate::secrets::new_id;
use crate::treatment::{parse_object, reject_unknown};
use crate::{Actor, App, AppError};

/// The scales of a measurement plan (`ketacare_core::plan::PlannedScale`).
const MEASUREMENT_SCALES: [&str; 4] = ["phq9", "madrs", "urinary_symptoms", "cognition"];

/// The longest reason kept.
const REASON_MAX_CHARS: usize = 1000;

/// A marking as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MeasurementMarkingView {
    pub marking_id: String,
    pub patient_id: String,
    pub plan_id: String,
    pub scale: String,
    pub due_at: String,
    pub reason: String,
    pub status: String,
    pub marked_by: String,
    pub marked_role: String,
    pub marked_at: String,
    /// For `If-Match`.
    pub version: i64,
    pub entered_in_error_reason: Option<String>,
    pub entered_in_error_by: Option<String>,
    pub entered_in_error_at: Option<String>,
}

impl MeasurementMarkingView {
    fn of(marking: &MeasurementNotApplicable) -> Self {
        MeasurementMarkingView {
            marking_id: marking.marking_id.clone(),
            patient_id: marking.patient_id.clone(),
            plan_id: marking.plan_id.clone(),
            scale: marking.scale.clone(),
            due_at: marking.due_at.to_string(),
            reason: marking.reason.clone(),
            status: marking.status.clone(),
            marked_by: marking.marked_by.clone(),
            marked_role: marking.marked_role.clone(),
            marked_at: marking.marked_at.to_string(),
            version: marking.version,
            entered_in_error_reason: marking.entered_in_error_reason.clone(),
            entered_in_error_by: marking.entered_in_error_by.clone(),
            entered_in_error_at: marking.entered_in_error_at.map(|at| at.to_string()),
        }
    }
}

/// The instant `at` names, as the plan report writes it (with the clinic's offset) or in UTC.
fn instant(text: &str) -> Option<Timestamp> {
    text.parse::<Timestamp>().ok()
}

impl App {
    /// A plan's markings, active and entered in error, oldest first (roles that read plans); audited as
    /// `measurement.not_applicable.list`.
    pub async fn measurement_markings(
        &self,
        actor: &Actor,
        patient_id: &str,
        plan_id: &str,
    ) -> Result<Vec<MeasurementMarkingView>, AppError> {
        let event = self.audit_event(
            actor,
            "measurement.not_applicable.list",
            format!("patient/{patient_id}/plan/{plan_id}/measurements-not-applicable"),
            Some(patient_id),
        );
        let result = async {
            require(actor, Permission::ReadPlans)?;
            if self.store.treatment_plan(patient_id, plan_id).await?.is_none() {
                return Err(AppError::NotFound { resource: "plan", id: plan_id.to_owned() });
            }
            let markings = self.store.measurements_not_applicable(patient_id, plan_id).await?;
            Ok(markings.iter().map(MeasurementMarkingView::of).collect())
        }
        .await;
        match result {
            Ok(views) => {
                self.store.append_audit(&event).await?;
                Ok(views)
            }
            Err(error) => Err(self.audit_failure(event, error).await),
        }
    }

    /// Corrects a marking made in error (nurses and prescribers): body `{"status": "entered_in_error",
    /// "reason"}` at `expected_version`. The marking is kept, with the reason, who and when; the
    /// measurement counts again as its window says. Audited as `measurement.not_applicable.amend`.
    pub async fn set_measurement_marking_in_error(
        &self,
        actor: &Actor,
        patient_id: &str,
        plan_id: &str,
        marking_id: &str,
        expected_version: i64,
        body: &str,
    ) -> Result<MeasurementMarkingView, AppError> {
        let event = self.audit_event(
            actor,
            "measurement.not_applicable.amend",
            format!("patient/{patient_id}/plan/{plan_id}/measurement-not-applicable/{marking_id}"),
            Some(patient_id),
        );
        let result = async {
            require(actor, Permission::RecordChart)?;
            let mut object = parse_object(body)?;
            match object.remove("status") {
                Some(Value::String(status)) if status == "entered_in_error" => {}
                Some(other) => {
                    return Err(AppError::invalid("status", format!("must be \"entered_in_error\", got {other}")));
                }
                None => return Err(AppError::invalid("status", "is required (\"entered_in_error\")")),
            }
            let reason = match object.remove("reason") {
                Some(Value::String(text)) if !text.trim().is_empty() => text.trim().to_owned(),
                Some(Value::String(_)) | None => {
                    return Err(AppError::invalid("reason", "is required: say why the marking was made in error"));
                }
                Some(_) => return Err(AppError::invalid("reason", "must be text")),
            };
            if reason.chars().count() > REASON_MAX_CHARS {
                return Err(AppError::invalid("reason", format!("must be at most {REASON_MAX_CHARS} characters")));
            }
            reject_unknown(&object)?;
            let marking = self
                .store
                .measurement_marking(patient_id, marking_id)
                .await?
                .filter(|marking| marking.plan_id == plan_id)
                .ok_or_else(|| AppError::NotFound { resource: "marking", id: marking_id.to_owned() })?;
            if marking.status != "active" {
                return Err(AppError::invalid("status", "the marking is already entered in error"));
            }
            let now = self.now();
            self.store
                .mark_measurement_marking_in_error(
                    patient_id,
                    marking_id,
                    expected_version,
                    &reason,
                    &actor.user_id,
                    now,
                    &event,
                )
                .await?;
            let marking = self
                .store
                .measurement_marking(patient_id, marking_id)
                .await?
                .ok_or_else(|| AppError::NotFound { resource: "marking", id: marking_id.to_owned() })?;
            Ok(MeasurementMarkingView::of(&marking))
        }
        .await;
        match result {
            Ok(view) => Ok(view),
            Err(error) => Err(self.audit_failure(event, error).await),
        }
    }

    /// Marks one measurement of a plan not applicable (nurses and prescribers); body
    /// `{"scale", "due_at", "reason"}`. The measurement must be one of the plan's measurement plan and not
    /// done; a second active marking of it is a conflict. Audited as `measurement.not_applicable`.
    pub async fn mark_measurement_not_applicable(
        &self,
        actor: &Actor,
        patient_id: &str,
        plan_id: &str,
        body: &str,
    ) -> Result<MeasurementMarkingView, AppError> {
        let event = self.audit_event(
            actor,
            "measurement.not_applicable",
            format!("patient/{patient_id}/plan/{plan_id}/measurements-not-applicable"),
            Some(patient_id),
        );
        let result = async {
            require(actor, Permission::RecordChart)?;
            let mut object = parse_object(body)?;
            let scale = match object.remove("scale") {
                Some(Value::String(word)) if MEASUREMENT_SCALES.contains(&word.as_str()) => word,
                Some(other) => {
                    return Err(AppError::invalid(
                        "scale",
                        format!("must be one of {}, got {other}", MEASUREMENT_SCALES.join(", ")),
                    ));
                }
                None => return Err(AppError::invalid("scale", "is required")),
            };
            let due_at = match object.remove("due_at") {
                Some(Value::String(text)) => instant(&text).ok_or_else(|| {
                    AppError::invalid("due_at", format!("must be an instant with its offset, got \"{text}\""))
                })?,
                Some(_) => return Err(AppError::invalid("due_at", "must be an instant with its offset")),
                None => return Err(AppError::invalid("due_at", "is required")),
            };
            let reason = match object.remove("reason") {
                Some(Value::String(text)) if !text.trim().is_empty() => text.trim().to_owned(),
                Some(Value::String(_)) | None => {
                    return Err(AppError::invalid("reason", "is required: say why the measurement does not apply"));
                }
                Some(_) => return Err(AppError::invalid("reason", "must be text")),
            };
            if reason.chars().count() > REASON_MAX_CHARS {
                return Err(AppError::invalid("reason", format!("must be at most {REASON_MAX_CHARS} characters")));
            }
            reject_unknown(&object)?;
            let Some(stored) = self.store.treatment_plan(patient_id, plan_id).await? else {
                return Err(AppError::NotFound { resource: "plan", id: plan_id.to_owned() });
            };
            let view = self.plan_view(stored).await?;
            let measurement = view.report["measurements"].as_array().into_iter().flatten().find(|measurement| {
                measurement["scale"] == scale.as_str()
                    && measurement["due_at"].as_str().and_then(instant) == Some(due_at)
            });
            let Some(measurement) = measurement else {
                return Err(AppError::invalid(
                    "due_at",
                    format!("names no {scale} measurement of this plan's measurement plan due then"),
                ));
            };
            match measurement["status"].as_str() {
                Some("done") => {
                    return Err(AppError::invalid("due_at", "names a measurement already done: nothing to set aside"));
                }
                Some("not_applicable") => {
                    return Err(AppError::invalid("due_at", "names a measurement already marked not applicable"));
                }
                _ => {}
            }
            let marking = MeasurementNotApplicable {
                patient_id: patient_id.to_owned(),
                marking_id: new_id(),
                plan_id: plan_id.to_owned(),
                scale,
                due_at,
                reason,
                status: "active".to_owned(),
                marked_by: actor.user_id.clone(),
                marked_role: actor.role.as_str().to_owned(),
                marked_at: self.now(),
                entered_in_error_reason: None,
                entered_in_error_by: None,
                entered_in_error_at: None,
                version: 1,
            };
            let mut event = event.clone();
            event.resource =
                format!("patient/{patient_id}/plan/{plan_id}/measurement-not-applicable/{}", marking.marking_id);
            self.store.insert_measurement_not_applicable(&marking, &event).await?;
            Ok(MeasurementMarkingView::of(&marking))
        }
        .await;
        match result {
            Ok(view) => Ok(view),
            Err(error) => Err(self.audit_failure(event, error).await),
        }
    }
}
