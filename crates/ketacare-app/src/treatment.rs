//! Treatment use cases: plans with their generated schedule, sessions with the engine's view (pre-dose
//! gate, alerts, discharge readiness, REMS form), vital-sign observations that run the alert engine as
//! they are entered, drug administrations, alert acknowledgements and REMS form submission.
//!
//! The facts are kept in the formats of docs/sessions.md: a session is stored as its document without
//! observations, each observation as one element of `observations`; reading a session rebuilds the
//! document and parses it with `ketacare_case::session_format`, exactly as `ketacare session check` does,
//! so the API and the CLI cannot judge a session differently.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use ketacare_case::session_assembly::{StoredSessionFacts, assemble_session_document, in_time_order};
use ketacare_case::session_format::{
    SessionInput, alert_changes_json, alert_json, check_session, local, parse_observation, parse_session,
    session_report_json,
};
use ketacare_case::{InvalidCase, exact_decimal, parse_plan, plan_report_json, read_json_document};
use ketacare_core::plan::{SessionStatus, plan};
use ketacare_core::session::alerts::evaluate;
use ketacare_store::{
    AdministrationStatusChange, AmendmentMeta, IdempotentResponse, NewTreatmentPlan, NewTreatmentSession,
    ObservationWrite, RecordStatus, ScheduledSessionRow, SessionFactsChange, SessionStage, StoreError,
    StoredAcknowledgement, StoredAdministration, StoredAlertChange, StoredObservation, StoredScaleResult,
    StoredSessionOverride, StoredTreatmentPlan, TreatmentPlanChange, TreatmentSessionRecord,
};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::live_updates::SessionChangeKind;
use crate::patients::idempotency_key;
use crate::policy::{Permission, require};
use crate::secrets::{new_id, sha256_hex};
use crate::{Actor, App, AppError, Created};

/// How often an observation is judged again when another write to its session got in first.
const OBSERVATION_ATTEMPTS: usize = 50;

/// The keys of a session document a session's facts hold (everything but `observations` and `now`).
const SESSION_FACT_KEYS: &[&str] =
    &["modality", "care_setting", "time_zone", "dose", "monitoring_ended_at", "pre_dose", "discharge", "rems"];

/// The keys a session update may replace.
const UPDATABLE_SESSION_KEYS: &[&str] = &["dose", "monitoring_ended_at", "pre_dose", "discharge", "rems"];

/// A treatment plan as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanView {
    pub plan_id: String,
    pub patient_id: String,
    pub status: String,
    /// For `If-Match`.
    pub version: i64,
    pub created_at: String,
    pub created_by: String,
    pub updated_at: String,
    pub updated_by: String,
    /// The plan document as posted or last amended (docs/sessions.md).
    pub plan: Value,
    /// Why the prescriber started it beside an active plan of the same modality.
    pub concurrent_plan_reason: Option<String>,
    /// Each session of the schedule with its status (`scheduled`, `completed`, `missed`, `cancelled`).
    pub scheduled_sessions: Vec<ScheduledSessionRow>,
    /// `ketacare plan --format json` of the document, now: the schedule, the measurement plan with due and
    /// overdue status, and the course evaluation.
    pub report: Value,
}

/// A treatment session with the engine's view of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionView {
    pub session_id: String,
    pub patient_id: String,
    /// The scheduled session it fulfils, if any.
    pub plan_id: Option<String>,
    pub scheduled_position: Option<i64>,
    /// The record's status: `active` or `entered_in_error`.
    pub status: String,
    /// Where the session is: `in_progress`, `monitoring`, `discharged` or `locked`.
    pub stage: SessionStage,
    /// The prescriber's dose order it gives, as signed.
    pub order: Option<Value>,
    /// For `If-Match`.
    pub version: i64,
    pub created_at: String,
    pub created_by: String,
    pub updated_at: String,
    pub updated_by: String,
    pub discharged_at: Option<String>,
    pub discharged_by: Option<String>,
    pub signed_at: Option<String>,
    pub signed_by: Option<String>,
    /// The session document as judged (docs/sessions.md): the surviving observations in time order, and
    /// the chart's pre-dose facts where the session records none.
    pub document: Value,
    /// Where each pre-dose value the chart supplied came from.
    pub pre_dose_sources: Vec<Value>,
    /// Every observation as entered, with its status (`active` or `entered_in_error`) and any late-entry
    /// reason or correction.
    pub observation_log: Vec<Value>,
    /// Prescribers' overrides of overridable holds.
    pub overrides: Vec<StoredSessionOverride>,
    /// `ketacare session check --format json` of the document, now.
    pub report: Value,
    /// The alert changes as the engine made them when each observation was entered.
    pub alert_log: Vec<Value>,
    pub acknowledgements: Vec<StoredAcknowledgement>,
    pub administrations: Vec<Value>,
    pub rems_form: Value,
}

/// A treatment session in a patient's list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionSummary {
    pub session_id: String,
    pub modality: String,
    pub care_setting: Value,
    /// The planned dose time, clinic-local.
    pub planned_at: Value,
    pub plan_id: Option<String>,
    pub scheduled_position: Option<i64>,
    pub status: String,
    pub stage: SessionStage,
    pub version: i64,
    pub observation_count: i64,
    pub rems_submitted_at: Option<String>,
    pub created_at: String,
    pub created_by: String,
}

fn invalid(error: InvalidCase) -> AppError {
    AppError::Invalid { field: error.path, problem: error.problem }
}

pub(crate) fn corrupt(what: &str, problem: impl std::fmt::Display) -> AppError {
    AppError::Storage(StoreError::Corrupt(format!("{what}: {problem}")))
}

pub(crate) fn parse_object(text: &str) -> Result<Map<String, Value>, AppError> {
    match read_json_document(text.as_bytes()) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(AppError::invalid("(body)", "must be a JSON object")),
        Err(error) => Err(invalid(error.into_invalid_case("(body)"))),
    }
}

/// A JSON number read exactly as a decimal (no binary float on the way).
pub(crate) fn decimal_value(value: &Value) -> Option<Decimal> {
    value.as_number().and_then(|number| exact_decimal(number).ok())
}

/// A decimal as a JSON number, in its shortest exact form.
pub(crate) fn decimal_number(value: Decimal) -> Value {
    serde_json::from_str(&value.normalize().to_string()).unwrap_or(Value::Null)
}

pub(crate) fn reason_of(object: &mut Map<String, Value>) -> Result<Option<String>, AppError> {
    match object.remove("reason") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(reason)) if !reason.trim().is_empty() && reason.len() <= 1000 => {
            Ok(Some(reason.trim().to_owned()))
        }
        Some(_) => Err(AppError::invalid("reason", "must be a string of 1 to 1000 characters")),
    }
}

pub(crate) fn optional_string(object: &mut Map<String, Value>, key: &str) -> Result<Option<String>, AppError> {
    match object.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if !text.trim().is_empty() => Ok(Some(text)),
        Some(_) => Err(AppError::invalid(key, "must be a non-empty string")),
    }
}

pub(crate) fn reject_unknown(object: &Map<String, Value>) -> Result<(), AppError> {
    match object.keys().next() {
        Some(key) => Err(AppError::invalid(key, "is not a known field")),
        None => Ok(()),
    }
}

pub(crate) fn clinic_zone(facts: &Map<String, Value>) -> Result<TimeZone, AppError> {
    let name = facts.get("time_zone").and_then(Value::as_str).unwrap_or_default();
    TimeZone::get(name).map_err(|error| corrupt("session time zone", error))
}

pub(crate) fn local_minute(at: Timestamp, zone: &TimeZone) -> String {
    at.to_zoned_datetime(zone.clone()).strftime("%Y-%m-%dT%H:%M").to_string()
}

fn scheduled_status(status: SessionStatus) -> &'static str {
    match status {
        SessionStatus::Given => "completed",
        SessionStatus::Missed => "missed",
        SessionStatus::Planned => "scheduled",
    }
}

/// The session document of a stored session: its facts, the dose as its administrations record it,
/// the REMS submission date, and its observations in order.
fn session_document(record: &TreatmentSessionRecord, chart_pre_dose: &Map<String, Value>) -> Result<Value, AppError> {
    let facts: Map<String, Value> =
        serde_json::from_str(&record.session.facts_json).map_err(|error| corrupt("session facts", error))?;
    let administrations: Vec<Value> = record
        .administrations
        .iter()
        .filter(|administration| administration.status == "active")
        .map(|administration| serde_json::from_str(&administration.administration_json))
        .collect::<Result<_, _>>()
        .map_err(|error| corrupt("administration", error))?;
    let rems_submitted_at = record
        .session
        .rems_submitted_at
        .as_deref()
        .map(str::parse::<Timestamp>)
        .transpose()
        .map_err(|error| corrupt("REMS submission time", error))?;
    let stored =
        StoredSessionFacts { facts, administrations, rems_submitted_at, observations: surviving_observations(record)? };
    // Storage errors are logged: name the field only, never its value (it may hold patient data).
    assemble_session_document(stored, chart_pre_dose)
        .map_err(|error| corrupt("stored session unassembled at", error.path))
}

/// The observations not entered in error, in time order (entry order among equal times), with their
/// sequence numbers.
fn surviving_observations(record: &TreatmentSessionRecord) -> Result<Vec<(i64, Value)>, AppError> {
    let observations: Vec<(i64, Value)> = record
        .observations
        .iter()
        .filter(|observation| observation.correction.is_none())
        .map(|observation| {
            serde_json::from_str(&observation.observation_json).map(|value| (observation.sequence, value))
        })
        .collect::<Result<_, _>>()
        .map_err(|error| corrupt("observation", error))?;
    Ok(in_time_order(observations))
}

/// The sequence numbers of the surviving observations, in the order the session document lists them.
pub(crate) fn surviving_observation_sequences(record: &TreatmentSessionRecord) -> Result<Vec<i64>, AppError> {
    Ok(surviving_observations(record)?.into_iter().map(|(sequence, _)| sequence).collect())
}

pub(crate) fn rebuild(
    record: &TreatmentSessionRecord,
    chart_pre_dose: &Map<String, Value>,
) -> Result<(Value, SessionInput), AppError> {
    let document = session_document(record, chart_pre_dose)?;
    // Storage errors are logged: name the field only, never its value (it may hold patient data).
    let input = parse_session(&document).map_err(|error| corrupt("stored session unreadable at", error.path))?;
    Ok((document, input))
}

/// The REMS form of the report with its status: `submitted` once marked, `complete` when nothing required
/// is missing, else `draft`; `due_on` is the last day to submit (treatment date + 7 days).
fn rems_form_view(report: &Value, record: &TreatmentSessionRecord) -> Value {
    let mut form = report["rems_form"].clone();
    if form["required"] == true {
        let status = if record.session.rems_submitted_at.is_some() {
            "submitted"
        } else if form["complete"] == true {
            "complete"
        } else {
            "draft"
        };
        form["status"] = json!(status);
        form["due_on"] = form["submit_by"].clone();
        form["submitted_at"] = json!(record.session.rems_submitted_at);
        form["submitted_by"] = json!(record.session.rems_submitted_by);
        // A prescriber's decision to proceed despite a hold belongs with the monitoring record.
        form["prescriber_overrides"] = json!(record.overrides);
    }
    form
}

/// Adds to the plan document a `given` event for each scheduled session a treatment session fulfilled (at
/// its planned local time), so the schedule and the measurement plan (which resets the self-report clock
/// at each treatment) know of sessions given through the API. Events stay in time order.
fn add_fulfilled_sessions(document: &mut Value, scheduled: &[ScheduledSessionRow]) {
    let Some(object) = document.as_object_mut() else { return };
    let events = object.entry("events").or_insert_with(|| json!([]));
    let Some(events) = events.as_array_mut() else { return };
    let time_of = |event: &Value| -> String {
        ["given", "missed"]
            .iter()
            .find_map(|key| event[key].as_str().map(str::to_owned))
            .or_else(|| event["relapse"].as_str().map(|date| format!("{date}T00:00")))
            .unwrap_or_default()
    };
    let mut added = false;
    for row in scheduled {
        if row.status != "completed" || row.treatment_session_id.is_none() {
            continue;
        }
        // `planned_at` is clinic-local with its offset: its first 16 characters are the local minute.
        let Some(local_minute) = row.planned_at.get(..16) else { continue };
        if !events.iter().any(|event| time_of(event) == local_minute) {
            events.push(json!({ "given": local_minute }));
            added = true;
        }
    }
    if added {
        events.sort_by_key(|event| time_of(event));
    }
}

/// The outcome scales a course is judged on from the chart, in order of preference (KNOWLEDGE §6: MADRS
/// is the clinician-rated primary outcome; PHQ-9 the self-report).
const CHART_COURSE_SCALES: &[&str] = &["madrs", "phq9", "qids_sr16"];

/// Adds to the plan document a `course` built from the chart when it has none: one `series` per scale of
/// [`CHART_COURSE_SCALES`] the chart has results of (entered-in-error ones left out; the protocol's primary
/// scale decides the course, the others stand beside it), the date of the
/// first `given` event as the first treatment, and the phase from the schedule: `maintenance` once a
/// maintenance session is completed, `induction_complete` once every induction session is, else
/// `induction`. No results, no course.
fn add_chart_course(document: &mut Value, scheduled: &[ScheduledSessionRow], scale_results: &[StoredScaleResult]) {
    let Some(object) = document.as_object_mut() else { return };
    if object.contains_key("course") {
        return;
    }
    // One total per date (the course takes one assessment a day): the latest recorded of the day.
    let totals_of = |scale: &str| -> Vec<Value> {
        let mut by_date: std::collections::BTreeMap<&str, i64> = std::collections::BTreeMap::new();
        for result in
            scale_results.iter().filter(|result| result.status == RecordStatus::Active && result.scale == scale)
        {
            if let Some(total) = result.total {
                by_date.insert(result.administered_on.as_str(), total);
            }
        }
        by_date.into_iter().map(|(date, total)| json!({ "date": date, "total": total })).collect()
    };
    let series: Vec<Value> = CHART_COURSE_SCALES
        .iter()
        .map(|scale| (*scale, totals_of(scale)))
        .filter(|(_, totals)| !totals.is_empty())
        .map(|(scale, totals)| json!({ "scale": scale, "totals": totals }))
        .collect();
    if series.is_empty() {
        return;
    }
    let first_given = object.get("events").and_then(Value::as_array).and_then(|events| {
        events.iter().find_map(|event| event["given"].as_str().and_then(|at| at.get(..10)).map(str::to_owned))
    });
    let completed = |phase: &str| scheduled.iter().any(|row| row.phase == phase && row.status == "completed");
    let induction_done = scheduled
        .iter()
        .filter(|row| row.phase == "induction" && row.status != "cancelled")
        .all(|row| row.status == "completed" || row.status == "missed");
    let phase = if completed("maintenance") {
        "maintenance"
    } else if induction_done && completed("induction") {
        "induction_complete"
    } else {
        "induction"
    };
    let mut course = json!({ "phase": phase, "series": series });
    if let Some(first_given) = first_given {
        course["first_treatment_date"] = json!(first_given);
    }
    object.insert("course".to_owned(), course);
}

/// Adds the plan's active not-applicable markings to the document's `measurements_not_applicable` (the
/// instant each measurement was due, in UTC; the reason stays with the marking).
fn add_not_applicable_markings(document: &mut Value, markings: &[ketacare_store::MeasurementNotApplicable]) {
    let Some(object) = document.as_object_mut() else { return };
    let listed = object.entry("measurements_not_applicable").or_insert_with(|| json!([]));
    let Some(listed) = listed.as_array_mut() else { return };
    for marking in markings.iter().filter(|marking| marking.status == "active") {
        listed.push(json!({ "scale": marking.scale, "due_at": marking.due_at.to_string(), "reason": marking.reason }));
    }
}

/// The scales a plan's measurement plan asks for that the chart records (KNOWLEDGE §6: PHQ-9 before each
/// session and as the weekly self-report, MADRS before session 1 and at the end of induction).
const CHART_SCALES_IN_MEASUREMENT_PLANS: &[&str] = &["phq9", "madrs"];

/// Adds the chart's PHQ-9 and MADRS results to the plan document's `measurements_done` (results
/// entered in error left out; a result already listed at the same time is not repeated).
fn add_chart_measurements(document: &mut Value, scale_results: &[StoredScaleResult]) {
    let Some(object) = document.as_object_mut() else { return };
    let done = object.entry("measurements_done").or_insert_with(|| json!([]));
    let Some(done) = done.as_array_mut() else { return };
    for result in scale_results {
        if result.status != RecordStatus::Active || !CHART_SCALES_IN_MEASUREMENT_PLANS.contains(&result.scale.as_str())
        {
            continue;
        }
        let entry = json!({ "scale": result.scale, "at": format!("{}T00:00", result.administered_on) });
        if !done.contains(&entry) {
            done.push(entry);
        }
    }
}

impl App {
    /// The answer of a session write: the session as it now is, or the failure, audited on `event`.
    pub(crate) async fn session_view_or_audited_failure(
        &self,
        result: Result<TreatmentSessionRecord, AppError>,
        event: ketacare_store::AuditEvent,
    ) -> Result<SessionView, AppError> {
        match result {
            Ok(record) => {
                // Corrections replay the alerts; facts, stage and dose amendments change what the page shows.
                self.publish_session_change(
                    &record.session.patient_id,
                    &record.session.session_id,
                    SessionChangeKind::Amendment,
                    true,
                );
                self.session_view_with_chart(&record).await
            }
            Err(error) => Err(self.audit_failure(event, error).await),
        }
    }

    /// The session with the engine's view of it now, the chart's pre-dose facts filled in.
    pub(crate) async fn session_view_with_chart(
        &self,
        record: &TreatmentSessionRecord,
    ) -> Result<SessionView, AppError> {
        let (chart_pre_dose, sources) = self.chart_pre_dose(record).await?;
        let order = match &record.session.order_id {
            Some(order_id) => self
                .store
                .dose_order(&record.session.patient_id, order_id)
                .await?
                .map(|order| {
                    serde_json::from_str::<Value>(&order.order_json).map(|mut value| {
                        value["order_id"] = json!(order.order_id);
                        value["status"] = json!(order.status);
                        value["signed_by"] = json!(order.signed_by);
                        value["signed_at"] = json!(order.signed_at);
                        value
                    })
                })
                .transpose()
                .map_err(|error| corrupt("dose order", error))?,
            None => None,
        };
        self.session_view(record, &chart_pre_dose, sources, order)
    }

    fn session_view(
        &self,
        record: &TreatmentSessionRecord,
        chart_pre_dose: &Map<String, Value>,
        chart_sources: Vec<Value>,
        order: Option<Value>,
    ) -> Result<SessionView, AppError> {
        let (document, input) = rebuild(record, chart_pre_dose)?;
        // Only the chart values the session did not record itself were used.
        let pre_dose_sources: Vec<Value> = {
            let facts: Value =
                serde_json::from_str(&record.session.facts_json).map_err(|error| corrupt("session facts", error))?;
            chart_sources
                .into_iter()
                .filter(|source| match source["field"].as_str().unwrap_or_default().strip_prefix("pre_dose.") {
                    Some(key) => facts["pre_dose"][key].is_null(),
                    None => true,
                })
                .collect()
        };
        let observation_log = record
            .observations
            .iter()
            .map(|observation| {
                Ok(json!({
                    "sequence": observation.sequence,
                    "observation": serde_json::from_str::<Value>(&observation.observation_json)?,
                    "status": if observation.correction.is_some() { "entered_in_error" } else { "active" },
                    "recorded_at": observation.recorded_at,
                    "recorded_by": observation.recorded_by,
                    "late_entry_reason": observation.late_entry_reason,
                    "correction": observation.correction,
                }))
            })
            .collect::<Result<Vec<Value>, serde_json::Error>>()
            .map_err(|error| corrupt("observation", error))?;
        let now = self.now();
        let report = session_report_json(&input, &check_session(&input, &self.protocol, now), &self.protocol, now);
        let alert_log = record
            .alert_changes
            .iter()
            .map(|change| serde_json::from_str(&change.alert_json))
            .collect::<Result<_, _>>()
            .map_err(|error| corrupt("alert change", error))?;
        let administrations = record
            .administrations
            .iter()
            .map(|administration| {
                let mut value: Value = serde_json::from_str(&administration.administration_json)?;
                value["administration_id"] = json!(administration.administration_id);
                value["status"] = json!(administration.status);
                value["recorded_at"] = json!(administration.recorded_at);
                value["recorded_by"] = json!(administration.recorded_by);
                Ok(value)
            })
            .collect::<Result<_, serde_json::Error>>()
            .map_err(|error| corrupt("administration", error))?;
        let session = &record.session;
        Ok(SessionView {
            session_id: session.session_id.clone(),
            patient_id: session.patient_id.clone(),
            plan_id: session.plan_id.clone(),
            scheduled_position: session.scheduled_position,
            status: session.status.clone(),
            stage: session.stage,
            order,
            version: session.version,
            created_at: session.created_at.clone(),
            created_by: session.created_by.clone(),
            updated_at: session.updated_at.clone(),
            updated_by: session.updated_by.clone(),
            discharged_at: session.discharged_at.clone(),
            discharged_by: session.discharged_by.clone(),
            signed_at: session.signed_at.clone(),
            signed_by: session.signed_by.clone(),
            document,
            pre_dose_sources,
            observation_log,
            overrides: record.overrides.clone(),
            rems_form: rems_form_view(&report, record),
            report,
            alert_log,
            acknowledgements: record.acknowledgements.clone(),
            administrations,
        })
    }

    /// The plan with the engine's report now. The measurement plan counts, besides the document's own
    /// `measurements_done`, the PHQ-9 and MADRS results recorded in the patient's chart (each at the start
    /// of its `administered_on` day in the plan's zone: a result carries a date, not a time).
    pub(crate) async fn plan_view(&self, stored: StoredTreatmentPlan) -> Result<PlanView, AppError> {
        let document: Value = serde_json::from_str(&stored.plan_json).map_err(|error| corrupt("plan", error))?;
        let scale_results = self.store.scale_results(&stored.patient_id).await?;
        // The document as judged: the plan's own, with what the server knows besides (one copy; the view
        // shows the plan as posted).
        let mut with_chart = document.clone();
        add_fulfilled_sessions(&mut with_chart, &stored.scheduled);
        add_chart_measurements(&mut with_chart, &scale_results);
        let markings = self.store.measurements_not_applicable(&stored.patient_id, &stored.plan_id).await?;
        add_not_applicable_markings(&mut with_chart, &markings);
        add_chart_course(&mut with_chart, &stored.scheduled, &scale_results);
        let now = self.now();
        let mut input =
            parse_plan(&with_chart, now).map_err(|error| corrupt("stored plan unreadable at", error.path))?;
        input.request.calendar = self.plan_calendar(&stored.patient_id, &stored.plan_id).await?;
        let schedule = plan(&input.request, &self.protocol)
            .map_err(|error| corrupt("stored plan unschedulable at", error.field))?;
        let course = input.course.as_ref().map(|course| course.evaluate(&self.protocol));
        let report = plan_report_json(&input, &schedule, course.as_ref(), &self.protocol);
        Ok(PlanView {
            plan_id: stored.plan_id,
            patient_id: stored.patient_id,
            status: stored.status,
            version: stored.version,
            created_at: stored.created_at,
            created_by: stored.created_by,
            updated_at: stored.updated_at,
            updated_by: stored.updated_by,
            plan: document,
            concurrent_plan_reason: stored.concurrent_plan_reason,
            scheduled_sessions: stored.scheduled,
            report,
        })
    }

    /// A keyed creating request seen before: its first answer (or an error if the body differs).
    pub(crate) async fn replay_created(
        &self,
        actor: &Actor,
        key: Option<&str>,
        request_sha256: &str,
        id_field: &str,
    ) -> Result<Option<Created>, AppError> {
        let Some(key) = key else { return Ok(None) };
        Ok(self.replay(actor, key, request_sha256).await?.map(|mut created| {
            created.resource_id = created.body[id_field].as_str().unwrap_or_default().to_owned();
            created
        }))
    }

    pub(crate) fn keyed_response(
        actor: &Actor,
        key: Option<&str>,
        request_sha256: &str,
        body: &Value,
    ) -> Option<IdempotentResponse> {
        key.map(|key| IdempotentResponse {
            actor_id: actor.user_id.clone(),
            idempotency_key: key.to_owned(),
            request_sha256: request_sha256.to_owned(),
            status_code: 201,
            response_json: body.to_string(),
        })
    }

    /// After a store error on a keyed creating request: a concurrent twin stored its answer first.
    pub(crate) async fn created_or_failure(
        &self,
        actor: &Actor,
        key: Option<&str>,
        request_sha256: &str,
        id_field: &str,
        event: ketacare_store::AuditEvent,
        error: StoreError,
    ) -> Result<Created, AppError> {
        if let StoreError::Duplicate { what: "idempotency key" } = error
            && let Some(created) = self.replay_created(actor, key, request_sha256, id_field).await?
        {
            return Ok(created);
        }
        Err(self.audit_failure(event, error.into()).await)
    }

    /// Prescribes a plan from a plan document (docs/sessions.md, without `now`): generates its schedule and
    /// stores one scheduled session per planned session.
    pub async fn create_plan(
        &self,
        actor: &Actor,
        patient_id: &str,
        body: &str,
        key: Option<&str>,
    ) -> Result<Created, AppError> {
        let plan_id = new_id();
        let event =
            self.audit_event(actor, "plan.create", format!("patient/{patient_id}/plan/{plan_id}"), Some(patient_id));
        if let Err(error) = require(actor, Permission::PrescribePlans) {
            return Err(self.audit_failure(event, error).await);
        }
        let key = idempotency_key(key)?;
        let request_sha256 = sha256_hex(&format!("plan\n{patient_id}\n{body}"));
        if let Some(created) = self.replay_created(actor, key, &request_sha256, "plan_id").await? {
            return Ok(created);
        }
        let checked = async {
            let mut object = parse_object(body)?;
            let concurrent_plan_reason = optional_string(&mut object, "concurrent_plan_reason")?;
            if concurrent_plan_reason.as_ref().is_some_and(|reason| reason.len() > 1000) {
                return Err(AppError::invalid("concurrent_plan_reason", "must be at most 1000 characters"));
            }
            let calendar = self.plan_calendar(patient_id, &plan_id).await?;
            let (document, scheduled, modality) =
                self.read_plan_document(&Value::Object(object).to_string(), calendar)?;
            // One active plan per modality for a patient, unless the prescriber says why (a reason kept with it).
            if concurrent_plan_reason.is_none() {
                for plan in self.store.treatment_plans_of(patient_id).await? {
                    if plan.status != "active" {
                        continue;
                    }
                    let template = serde_json::from_str::<Value>(&plan.plan_json)
                        .map_err(|error| corrupt("plan", error))?["template"]
                        .as_str()
                        .and_then(|name| name.parse::<ketacare_core::plan::Template>().ok());
                    if template.is_some_and(|template| template.modality() == modality) {
                        return Err(AppError::Refused {
                            field: "template".to_owned(),
                            rule_id: "ONE_ACTIVE_PLAN_PER_MODALITY".to_owned(),
                            problem: format!(
                                "plan {} is active for this modality: cancel it, or give concurrent_plan_reason",
                                plan.plan_id
                            ),
                        });
                    }
                }
            }
            Ok((document, scheduled, concurrent_plan_reason))
        }
        .await;
        let (document, scheduled, concurrent_plan_reason) = match checked {
            Ok(parsed) => parsed,
            Err(error) => return Err(self.audit_failure(event, error).await),
        };
        let now = self.now();
        let stored = StoredTreatmentPlan {
            patient_id: patient_id.to_owned(),
            plan_id: plan_id.clone(),
            plan_json: document.to_string(),
            status: "active".to_owned(),
            version: 1,
            created_at: ketacare_store::format_time(now),
            created_by: actor.user_id.clone(),
            updated_at: ketacare_store::format_time(now),
            updated_by: actor.user_id.clone(),
            concurrent_plan_reason: concurrent_plan_reason.clone(),
            scheduled: scheduled.clone(),
        };
        let new_plan = NewTreatmentPlan {
            patient_id: patient_id.to_owned(),
            plan_id: plan_id.clone(),
            plan_json: stored.plan_json.clone(),
            scheduled,
            concurrent_plan_reason,
            created_at: now,
            created_by: actor.user_id.clone(),
        };
        let body = serde_json::to_value(self.plan_view(stored).await?).expect("a plan view serializes");
        let idempotent = Self::keyed_response(actor, key, &request_sha256, &body);
        match self.store.insert_treatment_plan(&new_plan, &event, idempotent.as_ref()).await {
            Ok(()) => Ok(Created { resource_id: plan_id, body, replayed: false }),
            Err(error) => self.created_or_failure(actor, key, &request_sha256, "plan_id", event, error).await,
        }
    }

    /// Parses a plan document and generates its schedule; `now` is the server's, never the document's.
    fn read_plan_document(
        &self,
        body: &str,
        calendar: Option<ketacare_core::plan::ClinicCalendar>,
    ) -> Result<(Value, Vec<ScheduledSessionRow>, ketacare_core::session::Modality), AppError> {
        let object = parse_object(body)?;
        if object.contains_key("now") {
            return Err(AppError::invalid("now", "is the server's clock; leave it out"));
        }
        let document = Value::Object(object);
        let mut input = parse_plan(&document, self.now()).map_err(invalid)?;
        input.request.calendar = calendar;
        let schedule =
            plan(&input.request, &self.protocol).map_err(|error| AppError::invalid(error.field, error.problem))?;
        let scheduled = schedule
            .sessions
            .iter()
            .enumerate()
            .map(|(position, session)| ScheduledSessionRow {
                position: i64::try_from(position).unwrap_or(i64::MAX),
                session_number: session.number.map(i64::from),
                step: session.step.to_owned(),
                phase: session.phase.as_str().to_owned(),
                planned_at: session.at.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
                status: scheduled_status(session.status).to_owned(),
                treatment_session_id: None,
            })
            .collect();
        Ok((document, scheduled, input.request.template.modality()))
    }

    pub async fn get_plan(&self, actor: &Actor, patient_id: &str, plan_id: &str) -> Result<PlanView, AppError> {
        let event =
            self.audit_event(actor, "plan.read", format!("patient/{patient_id}/plan/{plan_id}"), Some(patient_id));
        if let Err(error) = require(actor, Permission::ReadPlans) {
            return Err(self.audit_failure(event, error).await);
        }
        let Some(stored) = self.store.treatment_plan(patient_id, plan_id).await? else {
            let error = AppError::NotFound { resource: "plan", id: plan_id.to_owned() };
            return Err(self.audit_failure(event, error).await);
        };
        self.store.append_audit(&event).await?;
        self.plan_view(stored).await
    }

    /// A patient's plans, oldest first, each with its schedule and the engine's report now.
    pub async fn plans(&self, actor: &Actor, patient_id: &str) -> Result<Vec<PlanView>, AppError> {
        let event = self
            .permitted_event(
                actor,
                Permission::ReadPlans,
                "plan.list",
                format!("patient/{patient_id}/plans"),
                Some(patient_id),
            )
            .await?;
        if self.store.patient(patient_id).await?.is_none() {
            let error = AppError::NotFound { resource: "patient", id: patient_id.to_owned() };
            return Err(self.audit_failure(event, error).await);
        }
        let stored = self.store.treatment_plans_of(patient_id).await?;
        self.store.append_audit(&event).await?;
        let mut views = Vec::with_capacity(stored.len());
        for plan in stored {
            views.push(self.plan_view(plan).await?);
        }
        Ok(views)
    }

    /// A patient's treatment sessions, oldest first, as summaries (`GET …/sessions/{id}` has the rest).
    pub async fn sessions(&self, actor: &Actor, patient_id: &str) -> Result<Vec<SessionSummary>, AppError> {
        let event = self
            .permitted_event(
                actor,
                Permission::ReadSessions,
                "session.list",
                format!("patient/{patient_id}/sessions"),
                Some(patient_id),
            )
            .await?;
        if self.store.patient(patient_id).await?.is_none() {
            let error = AppError::NotFound { resource: "patient", id: patient_id.to_owned() };
            return Err(self.audit_failure(event, error).await);
        }
        let stored = self.store.treatment_sessions_of(patient_id).await?;
        self.store.append_audit(&event).await?;
        stored
            .into_iter()
            .map(|session| {
                let facts: Value =
                    serde_json::from_str(&session.facts_json).map_err(|error| corrupt("session facts", error))?;
                Ok(SessionSummary {
                    planned_at: facts["dose"]["planned_at"].clone(),
                    care_setting: facts.get("care_setting").cloned().unwrap_or_else(|| json!("outpatient")),
                    session_id: session.session_id,
                    modality: session.modality,
                    plan_id: session.plan_id,
                    scheduled_position: session.scheduled_position,
                    status: session.status,
                    stage: session.stage,
                    version: session.version,
                    observation_count: session.observation_count,
                    rems_submitted_at: session.rems_submitted_at,
                    created_at: session.created_at,
                    created_by: session.created_by,
                })
            })
            .collect()
    }

    /// Amends a plan (a new `plan` document, a new `status`, or both) with a `reason`, if still at
    /// `expected_version`; cancelling cancels every scheduled session not yet completed.
    pub async fn amend_plan(
        &self,
        actor: &Actor,
        patient_id: &str,
        plan_id: &str,
        expected_version: i64,
        body: &str,
    ) -> Result<PlanView, AppError> {
        let event =
            self.audit_event(actor, "plan.amend", format!("patient/{patient_id}/plan/{plan_id}"), Some(patient_id));
        if let Err(error) = require(actor, Permission::PrescribePlans) {
            return Err(self.audit_failure(event, error).await);
        }
        let result = async {
            let mut object = parse_object(body)?;
            let reason = reason_of(&mut object)?
                .ok_or_else(|| AppError::invalid("reason", "a change of a plan needs a reason"))?;
            let status = optional_string(&mut object, "status")?;
            if let Some(status) = &status
                && !["active", "cancelled", "entered_in_error"].contains(&status.as_str())
            {
                return Err(AppError::invalid("status", "must be one of active, cancelled, entered_in_error"));
            }
            let new_document = object.remove("plan");
            reject_unknown(&object)?;
            let Some(prior) = self.store.treatment_plan(patient_id, plan_id).await? else {
                return Err(AppError::NotFound { resource: "plan", id: plan_id.to_owned() });
            };
            let (plan_json, mut scheduled) = match new_document {
                Some(document) => {
                    let calendar = self.plan_calendar(patient_id, plan_id).await?;
                    let (document, scheduled, _) =
                        self.read_plan_document(&document.to_string(), calendar).map_err(|error| match error {
                            AppError::Invalid { field, problem } => {
                                AppError::Invalid { field: format!("plan.{field}"), problem }
                            }
                            other => other,
                        })?;
                    (document.to_string(), scheduled)
                }
                None => (prior.plan_json.clone(), prior.scheduled.clone()),
            };
            let status = status.unwrap_or(prior.status);
            if status != "active" {
                for row in &mut scheduled {
                    row.status = "cancelled".to_owned();
                }
            }
            let change = TreatmentPlanChange { plan_json, status, scheduled };
            let meta = AmendmentMeta {
                amendment_id: new_id(),
                reason,
                amended_by: actor.user_id.clone(),
                amended_at: self.now(),
            };
            Ok(self.store.amend_treatment_plan(patient_id, plan_id, expected_version, &change, &meta, &event).await?)
        }
        .await;
        match result {
            Ok(stored) => self.plan_view(stored).await,
            Err(error) => Err(self.audit_failure(event, error).await),
        }
    }

    /// Starts a session from a session document without observations (they are posted one at a time), and
    /// optionally `fulfils: { plan_id, position }`, the scheduled session it is.
    pub async fn start_session(
        &self,
        actor: &Actor,
        patient_id: &str,
        body: &str,
        key: Option<&str>,
    ) -> Result<Created, AppError> {
        let session_id = new_id();
        let resource = format!("patient/{patient_id}/session/{session_id}");
        let event =
            self.permitted_event(actor, Permission::RunSessions, "session.create", resource, Some(patient_id)).await?;
        let key = idempotency_key(key)?;
        let request_sha256 = sha256_hex(&format!("session\n{patient_id}\n{body}"));
        if let Some(created) = self.replay_created(actor, key, &request_sha256, "session_id").await? {
            return Ok(created);
        }
        let parsed = (|| {
            let mut facts = parse_object(body)?;
            let fulfils = match facts.remove("fulfils") {
                None | Some(Value::Null) => None,
                Some(Value::Object(mut fulfils)) => {
                    let plan_id = optional_string(&mut fulfils, "plan_id")?
                        .ok_or_else(|| AppError::invalid("fulfils.plan_id", "is required"))?;
                    let position = fulfils
                        .remove("position")
                        .and_then(|value| value.as_i64())
                        .filter(|position| *position >= 0)
                        .ok_or_else(|| AppError::invalid("fulfils.position", "must be a whole number from 0"))?;
                    if let Some(key) = fulfils.keys().next() {
                        return Err(AppError::invalid(&format!("fulfils.{key}"), "is not a known field"));
                    }
                    Some((plan_id, position))
                }
                Some(_) => return Err(AppError::invalid("fulfils", "must be an object { plan_id, position }")),
            };
            let order_id = optional_string(&mut facts, "order_id")?;
            for key in ["observations", "now"] {
                if facts.contains_key(key) {
                    let problem = if key == "now" {
                        "is the server's clock; leave it out"
                    } else {
                        "are posted one at a time to the session's observations"
                    };
                    return Err(AppError::invalid(key, problem));
                }
            }
            if let Some(key) = facts.keys().find(|key| !SESSION_FACT_KEYS.contains(&key.as_str())) {
                return Err(AppError::invalid(key, "is not a known field"));
            }
            Ok((facts, fulfils, order_id))
        })();
        let checked = match parsed {
            Ok((facts, fulfils, order_id)) => self.check_new_session(patient_id, facts, fulfils, order_id).await,
            Err(error) => Err(error),
        };
        let (facts, fulfils, order_id, input) = match checked {
            Ok(checked) => checked,
            Err(error) => return Err(self.audit_failure(event, error).await),
        };
        let now = self.now();
        let new_session = NewTreatmentSession {
            patient_id: patient_id.to_owned(),
            session_id: session_id.clone(),
            fulfils: fulfils.clone(),
            order_id: order_id.clone(),
            modality: input.session.modality().as_str().to_owned(),
            facts_json: Value::Object(facts).to_string(),
            created_at: now,
            created_by: actor.user_id.clone(),
        };
        let at = ketacare_store::format_time(now);
        let record = TreatmentSessionRecord {
            session: ketacare_store::StoredTreatmentSession {
                patient_id: patient_id.to_owned(),
                session_id: session_id.clone(),
                plan_id: fulfils.as_ref().map(|(plan_id, _)| plan_id.clone()),
                scheduled_position: fulfils.as_ref().map(|(_, position)| *position),
                modality: new_session.modality.clone(),
                facts_json: new_session.facts_json.clone(),
                observation_count: 0,
                rems_submitted_at: None,
                rems_submitted_by: None,
                status: "active".to_owned(),
                order_id,
                stage: SessionStage::InProgress,
                alert_revision: 0,
                discharged_at: None,
                discharged_by: None,
                signed_at: None,
                signed_by: None,
                version: 1,
                created_at: at.clone(),
                created_by: actor.user_id.clone(),
                updated_at: at,
                updated_by: actor.user_id.clone(),
            },
            observations: Vec::new(),
            alert_changes: Vec::new(),
            acknowledgements: Vec::new(),
            administrations: Vec::new(),
            overrides: Vec::new(),
        };
        let body =
            serde_json::to_value(self.session_view_with_chart(&record).await?).expect("a session view serializes");
        let idempotent = Self::keyed_response(actor, key, &request_sha256, &body);
        match self.store.insert_treatment_session(&new_session, &event, idempotent.as_ref()).await {
            Ok(()) => Ok(Created { resource_id: session_id, body, replayed: false }),
            Err(error) => self.created_or_failure(actor, key, &request_sha256, "session_id", event, error).await,
        }
    }

    /// Checks a new session's facts: the prescriber's order it gives (`order_id`, required), whose dose
    /// becomes `dose.planned_mg` (a different planned dose is refused), times not after the server's clock.
    async fn check_new_session(
        &self,
        patient_id: &str,
        mut facts: Map<String, Value>,
        fulfils: Option<(String, i64)>,
        order_id: Option<String>,
    ) -> Result<(Map<String, Value>, Option<(String, i64)>, Option<String>, SessionInput), AppError> {
        let modality = facts.get("modality").and_then(Value::as_str).unwrap_or_default().to_owned();
        // Without `order_id`, the patient's one active order of the session's modality.
        let order_id = match order_id {
            Some(order_id) => order_id,
            None => {
                let active: Vec<String> = self
                    .store
                    .dose_orders_of(patient_id)
                    .await?
                    .into_iter()
                    .filter(|order| order.status == "active" && order.modality == modality)
                    .map(|order| order.order_id)
                    .collect();
                match active.as_slice() {
                    [only] => only.clone(),
                    [] => {
                        return Err(AppError::Refused {
                            field: "order_id".to_owned(),
                            rule_id: "NO_PRESCRIBER_ORDER".to_owned(),
                            problem: format!(
                                "a session gives a prescriber's dose order, and the patient has no active {modality} order"
                            ),
                        });
                    }
                    _ => {
                        return Err(AppError::invalid(
                            "order_id",
                            format!("the patient has {} active {modality} orders: name the one given", active.len()),
                        ));
                    }
                }
            }
        };
        let (_, order) = self.active_order(patient_id, &order_id, &modality).await?;
        let dose = facts.entry("dose").or_insert_with(|| json!({}));
        let Some(dose) = dose.as_object_mut() else { return Err(AppError::invalid("dose", "must be an object")) };
        match dose.get("planned_mg") {
            None | Some(Value::Null) => {
                dose.insert("planned_mg".to_owned(), order["dose_mg"].clone());
            }
            Some(planned) => {
                let planned = decimal_value(planned);
                let ordered = decimal_value(&order["dose_mg"]);
                if planned.is_none() || planned != ordered {
                    return Err(AppError::Refused {
                        field: "dose.planned_mg".to_owned(),
                        rule_id: "DOSE_DIFFERS_FROM_ORDER".to_owned(),
                        problem: format!("the planned dose must be the {} mg of order {order_id}", order["dose_mg"]),
                    });
                }
            }
        }
        let input = parse_session(&Value::Object(facts.clone())).map_err(invalid)?;
        crate::session_safety::refuse_informed_consent_as_fact(&input)?;
        self.refuse_future_session_times(&input)?;
        Ok((facts, fulfils, Some(order_id), input))
    }

    pub(crate) async fn session_record(
        &self,
        patient_id: &str,
        session_id: &str,
        with_details: bool,
    ) -> Result<TreatmentSessionRecord, AppError> {
        self.store
            .treatment_session_record(patient_id, session_id, with_details)
            .await?
            .ok_or_else(|| AppError::NotFound { resource: "session", id: session_id.to_owned() })
    }

    /// A session with the engine's view of it now.
    pub async fn get_session(
        &self,
        actor: &Actor,
        patient_id: &str,
        session_id: &str,
    ) -> Result<SessionView, AppError> {
        let resource = format!("patient/{patient_id}/session/{session_id}");
        let event =
            self.permitted_event(actor, Permission::ReadSessions, "session.read", resource, Some(patient_id)).await?;
        let record = match self.session_record(patient_id, session_id, true).await {
            Ok(record) => record,
            Err(error) => return Err(self.audit_failure(event, error).await),
        };
        self.store.append_audit(&event).await?;
        self.session_view_with_chart(&record).await
    }

    /// Updates a session's facts (`pre_dose`, `discharge`, `rems`, `dose`, `monitoring_ended_at`) or its
    /// `status`, if still at `expected_version`. Replacing a value already recorded is a correction and
    /// needs a `reason`; the prior facts are kept as an amendment either way.
    pub async fn update_session(
        &self,
        actor: &Actor,
        patient_id: &str,
        session_id: &str,
        expected_version: i64,
        body: &str,
    ) -> Result<SessionView, AppError> {
        let resource = format!("patient/{patient_id}/session/{session_id}");
        let event =
            self.permitted_event(actor, Permission::RunSessions, "session.amend", resource, Some(patient_id)).await?;
        let result = async {
            let mut changes = parse_object(body)?;
            let reason = reason_of(&mut changes)?;
            let status = optional_string(&mut changes, "status")?;
            let slot_status = optional_string(&mut changes, "slot_status")?;
            if let Some(slot_status) = &slot_status
                && !["scheduled", "missed"].contains(&slot_status.as_str())
            {
                return Err(AppError::invalid("slot_status", "must be scheduled or missed"));
            }
            if let Some(status) = &status
                && !["active", "entered_in_error"].contains(&status.as_str())
            {
                return Err(AppError::invalid("status", "must be active or entered_in_error"));
            }
            if let Some(key) = changes.keys().find(|key| !UPDATABLE_SESSION_KEYS.contains(&key.as_str())) {
                return Err(AppError::invalid(key, "is not a field a session update may change"));
            }
            let mut record = self.session_record(patient_id, session_id, true).await?;
            let mut facts: Map<String, Value> =
                serde_json::from_str(&record.session.facts_json).map_err(|error| corrupt("session facts", error))?;
            let corrects = status.as_ref().is_some_and(|status| *status != record.session.status)
                || changes.keys().any(|key| facts.get(key).is_some_and(|prior| !prior.is_null()))
                || record.session.stage.is_closed();
            let reason = match (reason, corrects) {
                (Some(reason), _) => reason,
                (None, false) => "recorded".to_owned(),
                (None, true) => {
                    return Err(AppError::invalid(
                        "reason",
                        "changing a value already recorded, or anything in a discharged or signed session, needs a reason",
                    ));
                }
            };
            let entering_in_error =
                status.as_deref() == Some("entered_in_error") && record.session.status != "entered_in_error";
            if slot_status.is_some() && !entering_in_error {
                return Err(AppError::invalid("slot_status", "is given only when the session is entered in error"));
            }
            for (key, value) in changes {
                facts.insert(key, value);
            }
            record.session.facts_json = Value::Object(facts).to_string();
            // The whole session must still read as a document (a dose that now starts after an observation
            // is fine; an infusion that ends before it starts is not).
            let document = session_document(&record, &Map::new())?;
            let input = parse_session(&document).map_err(invalid)?;
            crate::session_safety::refuse_informed_consent_as_fact(&input)?;
            self.refuse_future_session_times(&input)?;
            if let Some(order_id) = &record.session.order_id {
                let (_, order) = self.order_of_session(patient_id, order_id).await?;
                let ordered = decimal_value(&order["dose_mg"]);
                if Some(input.session.dose().planned_mg.get()) != ordered {
                    return Err(AppError::Refused {
                        field: "dose.planned_mg".to_owned(),
                        rule_id: "DOSE_DIFFERS_FROM_ORDER".to_owned(),
                        problem: format!("the planned dose is the {} mg of order {order_id}; a prescriber changes the order", order["dose_mg"]),
                    });
                }
            }
            let status = status.unwrap_or_else(|| record.session.status.clone());
            let freed_slot_status =
                entering_in_error.then(|| slot_status.unwrap_or_else(|| "scheduled".to_owned()));
            let meta = AmendmentMeta {
                amendment_id: new_id(),
                reason,
                amended_by: actor.user_id.clone(),
                amended_at: self.now(),
            };
            self.store
                .amend_treatment_session(
                    patient_id,
                    session_id,
                    expected_version,
                    &SessionFactsChange { facts_json: record.session.facts_json.clone(), status, freed_slot_status },
                    &meta,
                    &event,
                )
                .await?;
            self.session_record(patient_id, session_id, true).await
        }
        .await;
        self.session_view_or_audited_failure(result, event).await
    }

    /// Records one vital-sign set and runs the alert engine on it; the answer holds the alert changes it
    /// caused and the alerts active after it.
    ///
    /// Concurrency: the engine judges the observation against the session's stored timeline at version V,
    /// and the store writes the observation and its alert changes in one transaction only if the session is
    /// still at V (the writer task runs jobs one at a time, so the check and the write cannot interleave with
    /// another write of the session). If another observation (or a dose or facts update) got in first, the
    /// write changes nothing and this use case reads the session again and judges again, so every stored
    /// alert change was computed from exactly the timeline it follows. Observations of different sessions
    /// never conflict.
    pub async fn record_observation(
        &self,
        actor: &Actor,
        patient_id: &str,
        session_id: &str,
        body: &str,
        key: Option<&str>,
    ) -> Result<Created, AppError> {
        let resource = format!("patient/{patient_id}/session/{session_id}/observations");
        let event = self
            .permitted_event(actor, Permission::RunSessions, "observation.create", resource, Some(patient_id))
            .await?;
        let key = idempotency_key(key)?;
        let request_sha256 = sha256_hex(&format!("observation\n{patient_id}\n{session_id}\n{body}"));
        if let Some(created) = self.replay_created(actor, key, &request_sha256, "observation_id").await? {
            return Ok(created);
        }
        // `late_entry_reason` is about the entry, not the observation: it is kept beside it. The body is
        // read by the one strict reader (duplicate keys refused).
        let (observation_value, late_entry_reason) = match parse_object(body).and_then(|mut object| {
            let reason = optional_string(&mut object, "late_entry_reason")?;
            if reason.as_ref().is_some_and(|reason| reason.len() > 1000) {
                return Err(AppError::invalid("late_entry_reason", "must be at most 1000 characters"));
            }
            Ok((Value::Object(object), reason))
        }) {
            Ok(parsed) => parsed,
            Err(error) => return Err(self.audit_failure(event, error).await),
        };
        for _attempt in 0..OBSERVATION_ATTEMPTS {
            let judged = async {
                let late = late_entry_reason.is_some();
                let record = self.session_record(patient_id, session_id, late).await?;
                if record.session.status != "active" {
                    return Err(AppError::invalid("session", "was entered in error; it takes no observations"));
                }
                if record.session.stage.is_closed() && !late {
                    return Err(AppError::invalid(
                        "late_entry_reason",
                        "the session is discharged or signed: an observation added now is a late entry with a reason",
                    ));
                }
                let (_, input) = rebuild(&record, &Map::new())?;
                let zone = input.session.time_zone().clone();
                let observation = parse_observation(&observation_value, &zone).map_err(invalid)?;
                self.refuse_future("at", observation.at)?;
                if let Some(last) = input.session.timeline().entries().last()
                    && observation.at < last.at
                    && !late
                {
                    let problem = format!(
                        "{} is earlier than the previous observation at {}: enter it as a late entry with a \
                         late_entry_reason, or mark the wrong observation entered in error",
                        local_minute(observation.at, &zone),
                        local_minute(last.at, &zone)
                    );
                    return Err(AppError::invalid("at", problem));
                }
                let step = evaluate(input.session.timeline(), &observation, &self.protocol.alerts);
                Ok((record, input, step))
            }
            .await;
            let (record, input, step) = match judged {
                Ok(judged) => judged,
                Err(error) => return Err(self.audit_failure(event, error).await),
            };
            let sequence = record.session.observation_count + 1;
            let now_text = ketacare_store::format_time(self.now());
            let new_observation = StoredObservation {
                sequence,
                observation_json: observation_value.to_string(),
                recorded_at: now_text.clone(),
                recorded_by: actor.user_id.clone(),
                late_entry_reason: late_entry_reason.clone(),
                correction: None,
            };
            let mut changes_json = alert_changes_json(&input, &step);
            let mut active_json: Vec<Value> = step.active.iter().map(|alert| alert_json(&input, alert)).collect();
            // A late entry is judged in time order: the whole session is replayed with it, as a new revision,
            // and the answer gives the changes the replay made at it and the alerts active at the end.
            let (changes, replaces_alert_log) = if late_entry_reason.is_some() {
                let mut with_it = record.clone();
                with_it.observations.push(new_observation.clone());
                match self.replayed_alerts(&with_it) {
                    Ok((log, active)) => {
                        changes_json = log
                            .iter()
                            .filter(|change| change.sequence == sequence)
                            .filter_map(|change| serde_json::from_str(&change.alert_json).ok())
                            .collect();
                        active_json = active;
                        (log, true)
                    }
                    Err(error) => return Err(self.audit_failure(event, error).await),
                }
            } else {
                let changes = step
                    .changes
                    .iter()
                    .zip(&changes_json)
                    .enumerate()
                    .map(|(index, (change, value))| StoredAlertChange {
                        sequence,
                        change_index: i64::try_from(index).unwrap_or(i64::MAX),
                        alert_id: change.alert.id.to_string(),
                        change_kind: change.kind.as_str().to_owned(),
                        level: change.alert.level.as_str().to_owned(),
                        alert_json: value.to_string(),
                        changed_at: now_text.clone(),
                    })
                    .collect();
                (changes, false)
            };
            let observation_id = format!("{session_id}/{sequence}");
            let body = json!({
                "observation_id": observation_id,
                "session_id": session_id,
                "sequence": sequence,
                "at": local(&input, step.at),
                "observation": observation_value,
                "late_entry_reason": late_entry_reason,
                "alerts": {
                    "changes": changes_json,
                    "active": active_json,
                },
                "session_version": record.session.version + 1,
            });
            let write = ObservationWrite {
                expected_version: record.session.version,
                observation: new_observation,
                changes,
                replaces_alert_log,
            };
            let idempotent = Self::keyed_response(actor, key, &request_sha256, &body);
            match self.store.append_observation(patient_id, session_id, &write, &event, idempotent.as_ref()).await {
                Ok(_) => {
                    let alerts_changed = replaces_alert_log || !changes_json.is_empty();
                    self.publish_session_change(patient_id, session_id, SessionChangeKind::Observation, alerts_changed);
                    return Ok(Created { resource_id: observation_id, body, replayed: false });
                }
                Err(StoreError::StaleVersion { .. }) => continue,
                Err(error) => {
                    return self.created_or_failure(actor, key, &request_sha256, "observation_id", event, error).await;
                }
            }
        }
        let error = AppError::StaleVersion { resource: "session", id: session_id.to_owned(), current_version: -1 };
        Err(self.audit_failure(event, error).await)
    }

    /// Records a drug administration: `drug` (`esketamine` or `ketamine`), `dose_mg`, `lot_number`
    /// (required), `started_at`, and `device_count` (esketamine, 28 mg each) or `ended_at` (an infusion).
    pub async fn record_administration(
        &self,
        actor: &Actor,
        patient_id: &str,
        session_id: &str,
        body: &str,
        key: Option<&str>,
    ) -> Result<Created, AppError> {
        let administration_id = new_id();
        let resource = format!("patient/{patient_id}/session/{session_id}/administration/{administration_id}");
        let event = self
            .permitted_event(actor, Permission::RunSessions, "administration.create", resource, Some(patient_id))
            .await?;
        let key = idempotency_key(key)?;
        let request_sha256 = sha256_hex(&format!("administration\n{patient_id}\n{session_id}\n{body}"));
        if let Some(created) = self.replay_created(actor, key, &request_sha256, "administration_id").await? {
            return Ok(created);
        }
        let checked = async {
            let mut record = self.session_record(patient_id, session_id, true).await?;
            if record.session.status != "active" {
                return Err(AppError::invalid("session", "was entered in error; it takes no doses"));
            }
            if record.session.stage.is_closed() {
                return Err(AppError::invalid("session", "is discharged or signed; it takes no doses"));
            }
            let mut object = parse_object(body)?;
            let drug = optional_string(&mut object, "drug")?.ok_or_else(|| AppError::invalid("drug", "is required"))?;
            let expected_drug = if record.session.modality == "esketamine" { "esketamine" } else { "ketamine" };
            if drug != expected_drug {
                return Err(AppError::invalid(
                    "drug",
                    format!("must be {expected_drug} in a {} session", record.session.modality),
                ));
            }
            let lot_number = optional_string(&mut object, "lot_number")?
                .ok_or_else(|| AppError::invalid("lot_number", "is required"))?;
            let new_dose_mg = match object.remove("dose_mg") {
                None | Some(Value::Null) => {
                    return Err(AppError::invalid("dose_mg", "is required (a number above 0)"));
                }
                Some(value) => decimal_value(&value)
                    .filter(|dose| *dose > Decimal::ZERO)
                    .ok_or_else(|| AppError::invalid("dose_mg", "must be a number above 0"))?,
            };
            let dose_mg = decimal_number(new_dose_mg);
            let started_at = optional_string(&mut object, "started_at")?
                .ok_or_else(|| AppError::invalid("started_at", "is required"))?;
            let ended_at = optional_string(&mut object, "ended_at")?;
            let device_count = match object.remove("device_count") {
                None | Some(Value::Null) => None,
                Some(value) => Some(
                    value
                        .as_u64()
                        .and_then(|count| u32::try_from(count).ok())
                        .filter(|count| *count >= 1)
                        .ok_or_else(|| AppError::invalid("device_count", "must be a whole number of devices from 1"))?,
                ),
            };
            reject_unknown(&object)?;
            if drug == "esketamine" {
                if device_count.is_none() {
                    return Err(AppError::invalid("device_count", "is required for esketamine"));
                }
            } else if device_count.is_some() {
                return Err(AppError::invalid("device_count", "applies to esketamine only"));
            }

            let administration = json!({
                "drug": drug, "dose_mg": dose_mg, "device_count": device_count, "started_at": started_at,
                "ended_at": ended_at, "lot_number": lot_number,
            });
            // Check the times read in the clinic's zone, and that the session still reads with this dose.
            let zone = clinic_zone(
                &serde_json::from_str(&record.session.facts_json).map_err(|error| corrupt("session facts", error))?,
            )?;
            for (field, text) in [("started_at", Some(&started_at)), ("ended_at", ended_at.as_ref())] {
                if let Some(text) = text {
                    let local: jiff::civil::DateTime = ketacare_case::read_local_date_time(text).ok_or_else(|| {
                        AppError::invalid(
                            field,
                            format!("must be a clinic-local date and time YYYY-MM-DDTHH:MM, got \"{text}\""),
                        )
                    })?;
                    let at = zone.to_ambiguous_timestamp(local).unambiguous().map_err(|_| {
                        AppError::invalid(
                            field,
                            format!("{local} does not exist or is ambiguous in the clinic's time zone"),
                        )
                    })?;
                    self.refuse_future(field, at)?;
                }
            }
            let expected_version = record.session.version;
            let stored = StoredAdministration {
                administration_id: administration_id.clone(),
                administration_json: administration.to_string(),
                lot_number,
                status: "active".to_owned(),
                recorded_at: ketacare_store::format_time(self.now()),
                recorded_by: actor.user_id.clone(),
            };
            record.administrations.push(stored.clone());
            parse_session(&session_document(&record, &Map::new())?).map_err(|error| {
                let field = error.path.strip_prefix("dose.").unwrap_or(&error.path).to_owned();
                AppError::Invalid { field, problem: error.problem }
            })?;
            // The gate, the hard stops and the order, judged with this administration in the record.
            self.check_administration_allowed(&record, new_dose_mg, device_count).await?;
            Ok((stored, expected_version))
        }
        .await;
        let (stored, expected_version) = match checked {
            Ok(stored) => stored,
            Err(error) => return Err(self.audit_failure(event, error).await),
        };
        let mut body: Value = serde_json::from_str(&stored.administration_json).expect("just written");
        body["administration_id"] = json!(administration_id);
        body["session_id"] = json!(session_id);
        body["recorded_at"] = json!(stored.recorded_at);
        body["recorded_by"] = json!(stored.recorded_by);
        let idempotent = Self::keyed_response(actor, key, &request_sha256, &body);
        match self
            .store
            .insert_administration(patient_id, session_id, Some(expected_version), &stored, &event, idempotent.as_ref())
            .await
        {
            Ok(()) => {
                self.publish_session_change(patient_id, session_id, SessionChangeKind::Administration, false);
                Ok(Created { resource_id: administration_id, body, replayed: false })
            }
            Err(error) => self.created_or_failure(actor, key, &request_sha256, "administration_id", event, error).await,
        }
    }

    /// Marks an administration `entered_in_error` (or `active` again) with a `reason`, if the session is
    /// still at `expected_version`; a wrong dose or lot is corrected this way and recorded anew.
    pub async fn set_administration_status(
        &self,
        actor: &Actor,
        patient_id: &str,
        session_id: &str,
        administration_id: &str,
        expected_version: i64,
        body: &str,
    ) -> Result<SessionView, AppError> {
        let resource = format!("patient/{patient_id}/session/{session_id}/administration/{administration_id}");
        let event = self
            .permitted_event(actor, Permission::RunSessions, "administration.amend", resource, Some(patient_id))
            .await?;
        let result = async {
            let mut object = parse_object(body)?;
            let reason = reason_of(&mut object)?
                .ok_or_else(|| AppError::invalid("reason", "a correction needs a reason (1 to 1000 characters)"))?;
            let status = optional_string(&mut object, "status")?
                .filter(|status| ["active", "entered_in_error"].contains(&status.as_str()))
                .ok_or_else(|| AppError::invalid("status", "must be active or entered_in_error"))?;
            reject_unknown(&object)?;
            let meta = AmendmentMeta {
                amendment_id: new_id(),
                reason,
                amended_by: actor.user_id.clone(),
                amended_at: self.now(),
            };
            self.store
                .set_administration_status(
                    patient_id,
                    session_id,
                    &AdministrationStatusChange {
                        administration_id: administration_id.to_owned(),
                        expected_version,
                        status,
                    },
                    &meta,
                    &event,
                )
                .await?;
            self.session_record(patient_id, session_id, true).await
        }
        .await;
        self.session_view_or_audited_failure(result, event).await
    }

    /// Records that the caller saw an alert (`acknowledged_at`, clinic-local, defaults to now; `note`).
    /// The alert stays active until the engine resolves it.
    pub async fn acknowledge_alert(
        &self,
        actor: &Actor,
        patient_id: &str,
        session_id: &str,
        alert_id: &str,
        body: &str,
        key: Option<&str>,
    ) -> Result<Created, AppError> {
        let acknowledgement_id = new_id();
        let resource = format!("patient/{patient_id}/session/{session_id}/alert/{alert_id}/acknowledgement");
        let event = self
            .permitted_event(actor, Permission::RunSessions, "alert.acknowledge", resource, Some(patient_id))
            .await?;
        let key = idempotency_key(key)?;
        let request_sha256 = sha256_hex(&format!("acknowledgement\n{patient_id}\n{session_id}\n{alert_id}\n{body}"));
        if let Some(created) = self.replay_created(actor, key, &request_sha256, "acknowledgement_id").await? {
            return Ok(created);
        }
        let now = self.now();
        let checked = async {
            let record = self.session_record(patient_id, session_id, false).await?;
            let zone = clinic_zone(
                &serde_json::from_str(&record.session.facts_json).map_err(|error| corrupt("session facts", error))?,
            )?;
            let mut object = if body.trim().is_empty() { Map::new() } else { parse_object(body)? };
            let note = optional_string(&mut object, "note")?;
            if note.as_ref().is_some_and(|note| note.len() > 2000) {
                return Err(AppError::invalid("note", "must be at most 2000 characters"));
            }
            let acknowledged_at = match optional_string(&mut object, "acknowledged_at")? {
                None => now,
                Some(text) => {
                    let local: jiff::civil::DateTime = ketacare_case::read_local_date_time(&text).ok_or_else(|| {
                        AppError::invalid(
                            "acknowledged_at",
                            format!("must be a clinic-local date and time YYYY-MM-DDTHH:MM, got \"{text}\""),
                        )
                    })?;
                    let at = zone.to_ambiguous_timestamp(local).unambiguous().map_err(|_| {
                        AppError::invalid(
                            "acknowledged_at",
                            format!("{local} does not exist or is ambiguous in the clinic's time zone"),
                        )
                    })?;
                    self.refuse_future("acknowledged_at", at)?;
                    at
                }
            };
            reject_unknown(&object)?;
            Ok(StoredAcknowledgement {
                acknowledgement_id: acknowledgement_id.clone(),
                alert_id: alert_id.to_owned(),
                acknowledged_by: actor.user_id.clone(),
                acknowledged_at: acknowledged_at.to_zoned_datetime(zone).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
                note,
                recorded_at: ketacare_store::format_time(now),
            })
        }
        .await;
        let acknowledgement = match checked {
            Ok(acknowledgement) => acknowledgement,
            Err(error) => return Err(self.audit_failure(event, error).await),
        };
        let mut body = serde_json::to_value(&acknowledgement).expect("an acknowledgement serializes");
        body["session_id"] = json!(session_id);
        let idempotent = Self::keyed_response(actor, key, &request_sha256, &body);
        match self
            .store
            .insert_alert_acknowledgement(patient_id, session_id, &acknowledgement, &event, idempotent.as_ref())
            .await
        {
            Ok(()) => {
                self.publish_session_change(patient_id, session_id, SessionChangeKind::Acknowledgement, false);
                Ok(Created { resource_id: acknowledgement_id, body, replayed: false })
            }
            Err(error) => {
                self.created_or_failure(actor, key, &request_sha256, "acknowledgement_id", event, error).await
            }
        }
    }

    /// The session's REMS Patient Monitoring Form with its status and due date.
    pub async fn rems_form(&self, actor: &Actor, patient_id: &str, session_id: &str) -> Result<(i64, Value), AppError> {
        let resource = format!("patient/{patient_id}/session/{session_id}/rems-form");
        let event =
            self.permitted_event(actor, Permission::ReadSessions, "rems_form.read", resource, Some(patient_id)).await?;
        let record = match self.session_record(patient_id, session_id, true).await {
            Ok(record) => record,
            Err(error) => return Err(self.audit_failure(event, error).await),
        };
        self.store.append_audit(&event).await?;
        let view = self.session_view_with_chart(&record).await?;
        Ok((view.version, view.rems_form))
    }

    /// Marks the REMS form submitted, only when it is complete (else the error names the missing fields).
    pub async fn submit_rems_form(
        &self,
        actor: &Actor,
        patient_id: &str,
        session_id: &str,
        expected_version: i64,
    ) -> Result<(i64, Value), AppError> {
        let resource = format!("patient/{patient_id}/session/{session_id}/rems-form");
        let event = self
            .permitted_event(actor, Permission::RunSessions, "rems_form.submit", resource, Some(patient_id))
            .await?;
        let result = async {
            let record = self.session_record(patient_id, session_id, true).await?;
            let view = self.session_view_with_chart(&record).await?;
            let form = view.rems_form;
            if form["required"] != true {
                let reason = form["reason"].as_str().unwrap_or("not required").to_owned();
                return Err(AppError::invalid("rems_form", format!("is not required: {reason}")));
            }
            let missing: Vec<&str> =
                form["missing"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            if let Some(first) = missing.first() {
                let problem = format!("the form is incomplete; missing: {}", missing.join(", "));
                return Err(AppError::invalid(&format!("rems.{first}"), problem));
            }
            // The form attests monitoring that has happened: its end recorded and not after now, and the
            // REMS minimum met (KNOWLEDGE §4.1, §4.2: at least 120 min from the first device).
            let input = parse_session(&view.document).map_err(invalid)?;
            let Some(monitoring_ended_at) = input.session.monitoring_ended_at() else {
                return Err(AppError::Refused {
                    field: "monitoring_ended_at".to_owned(),
                    rule_id: "REMS_MONITORING_NOT_ENDED".to_owned(),
                    problem: "the form is submitted after monitoring ends (discharge the patient first)".to_owned(),
                });
            };
            if monitoring_ended_at > self.now() {
                return Err(AppError::Refused {
                    field: "monitoring_ended_at".to_owned(),
                    rule_id: "REMS_MONITORING_NOT_ENDED".to_owned(),
                    problem: format!(
                        "monitoring ends at {monitoring_ended_at}, after the server's clock: it has not happened yet"
                    ),
                });
            }
            let problems: Vec<&str> =
                form["problems"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            if !problems.is_empty() {
                return Err(AppError::Refused {
                    field: "rems_form".to_owned(),
                    rule_id: "REMS_MINIMUM_OBSERVATION".to_owned(),
                    problem: format!("the form cannot be submitted: {}", problems.join("; ")),
                });
            }
            let now = self.now();
            self.store
                .mark_rems_submitted(patient_id, session_id, expected_version, now, &actor.user_id, &event)
                .await?;
            self.session_record(patient_id, session_id, true).await
        }
        .await;
        match result {
            Ok(record) => {
                let view = self.session_view_with_chart(&record).await?;
                Ok((view.version, view.rems_form))
            }
            Err(error) => Err(self.audit_failure(event, error).await),
        }
    }
}
