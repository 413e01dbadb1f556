//! The clinic's worklist for one day: the sessions scheduled that day, the alerts nobody has acknowledged
//! since they last changed, the patients' self-reports that raised a suicidality alert not yet acknowledged
//! (`self_reports.rs`), the self-reports overdue on active plans, and the esketamine REMS forms not
//! submitted whose deadline is within 7 days (or past). Every patient it shows is audited as read.

use std::collections::BTreeMap;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use ketacare_store::Patient;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::policy::Permission;
use crate::{Actor, App, AppError};

/// How far ahead a REMS form's deadline puts it on the worklist: the form is due within 7 days of the
/// treatment (KNOWLEDGE §4.1), so a form not yet submitted is listed from the treatment day on.
const REMS_DEADLINE_HORIZON_DAYS: i64 = 7;

/// The query string of `GET /api/v1/worklist`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorklistQuery {
    /// `YYYY-MM-DD`, the clinic's local date; default today in `time_zone`.
    pub date: Option<String>,
    /// An IANA time zone; default the clinic's (`ketacare serve --time-zone`, default UTC).
    pub time_zone: Option<String>,
}

/// Who an item is about: enough for staff to find the patient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorklistPatient {
    pub patient_id: String,
    pub mrn: Option<String>,
    pub given_name: String,
    pub family_name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorklistSession {
    pub patient: WorklistPatient,
    pub plan_id: String,
    pub position: i64,
    pub session_number: Option<i64>,
    pub step: String,
    pub phase: String,
    /// Clinic-local date-time with its offset.
    pub planned_at: String,
    /// `scheduled`, `completed` or `missed`.
    pub status: String,
    pub treatment_session_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorklistAlert {
    pub patient: WorklistPatient,
    pub session_id: String,
    pub alert_id: String,
    pub level: String,
    /// The latest change: `raised`, `escalated` or `de_escalated`.
    pub change_kind: String,
    /// When the observation that made the latest change was recorded.
    pub changed_at: String,
    /// The alert as the engine reported it (rule, message, action, source).
    pub alert: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorklistSelfReport {
    pub patient: WorklistPatient,
    pub plan_id: String,
    pub scale: String,
    pub reason: Value,
    pub window_opens: Value,
    pub due_at: Value,
    /// After this the measurement is missed: it is listed only while it can still be done.
    pub closes_at: Value,
}

/// A patient's self-report whose answers screened positive for suicidality (PHQ-9 item 9 at or above
/// `scales.phq9_item9_screen_from`), not yet acknowledged: always level `critical`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorklistSelfReportAlert {
    pub patient: WorklistPatient,
    pub link_id: String,
    pub scale: String,
    /// `critical`.
    pub level: String,
    /// When the patient answered (the server's clock).
    pub answered_at: String,
    pub scale_result_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorklistRemsForm {
    pub patient: WorklistPatient,
    pub session_id: String,
    /// `draft` or `complete` (submitted forms are not listed).
    pub status: Value,
    pub due_on: Value,
    /// Whether the deadline is before the worklist's date.
    pub overdue: bool,
    /// The fields still missing (empty when complete).
    pub missing: Value,
}

/// The worklist as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorklistView {
    pub date: String,
    pub time_zone: String,
    pub sessions_today: Vec<WorklistSession>,
    /// Most severe first (emergency, critical, warning, info), then oldest first.
    pub open_alerts: Vec<WorklistAlert>,
    /// Patients' self-reports that raised a suicidality alert nobody acknowledged yet, oldest first
    /// (docs/self-report.md).
    pub self_report_alerts: Vec<WorklistSelfReportAlert>,
    pub overdue_self_reports: Vec<WorklistSelfReport>,
    /// Earliest deadline first.
    pub rems_forms_due: Vec<WorklistRemsForm>,
    /// Controlled-substance counts whose discrepancy awaits an admin's resolution (admins only; 0 for
    /// other roles): docs/controlled-substances.md.
    pub open_stock_discrepancies: usize,
}

/// Orders alert levels, most severe first.
fn level_rank(level: &str) -> u8 {
    match level {
        "emergency" => 0,
        "critical" => 1,
        "warning" => 2,
        "info" => 3,
        _ => 4,
    }
}

fn parse_query(
    query: &WorklistQuery,
    now: jiff::Timestamp,
    clinic_time_zone: &str,
) -> Result<(Date, TimeZone, String), AppError> {
    let zone_name = query.time_zone.clone().unwrap_or_else(|| clinic_time_zone.to_owned());
    let zone = TimeZone::get(&zone_name)
        .map_err(|_| AppError::invalid("time_zone", format!("is not an IANA time zone name, got {zone_name:?}")))?;
    let date = match &query.date {
        None => now.to_zoned_datetime(zone.clone()).date(),
        Some(text) => ketacare_case::read_calendar_date(text)
            .ok_or_else(|| AppError::invalid("date", format!("must be a date YYYY-MM-DD, got {text:?}")))?,
    };
    Ok((date, zone, zone_name))
}

impl App {
    /// The worklist of `query.date`. Needs the permission to read sessions; every patient listed gets a
    /// `worklist.read` audit event (one transaction for all of them).
    pub async fn worklist(&self, actor: &Actor, query: &WorklistQuery) -> Result<WorklistView, AppError> {
        let event =
            self.permitted_event(actor, Permission::ReadSessions, "worklist.read", "worklist".to_owned(), None).await?;
        let (date, _zone, zone_name) = match parse_query(query, self.now(), &self.clinic_time_zone) {
            Ok(parsed) => parsed,
            Err(error) => return Err(self.audit_failure(event, error).await),
        };
        let mut patients: BTreeMap<String, Option<Patient>> = BTreeMap::new();

        let scheduled = self.store.scheduled_sessions_on(&date.to_string()).await?;
        let open_alerts = self.store.open_alerts().await?;
        let open_self_report_alerts = self.store.open_self_report_alerts().await?;
        let mut self_reports = Vec::new();
        for plan in self.store.active_treatment_plans().await? {
            let Some(stored) = self.store.treatment_plan(&plan.patient_id, &plan.record_id).await? else { continue };
            let view = self.plan_view(stored).await?;
            for measurement in view.report["measurements"].as_array().into_iter().flatten() {
                if measurement["status"] == "overdue" {
                    self_reports.push((plan.patient_id.clone(), plan.record_id.clone(), measurement.clone()));
                }
            }
        }
        let horizon = date.checked_add(jiff::Span::new().days(REMS_DEADLINE_HORIZON_DAYS)).unwrap_or(date);
        let mut rems_forms = Vec::new();
        for session in self.store.sessions_with_rems_form_unsubmitted().await? {
            let record = self.store.treatment_session_record(&session.patient_id, &session.record_id, true).await?;
            let Some(record) = record else { continue };
            let form = self.session_view_with_chart(&record).await?.rems_form;
            let due_on = form["due_on"].as_str().and_then(|text| text.parse::<Date>().ok());
            if form["required"] != true || form["status"] == "submitted" {
                continue;
            }
            if let Some(due_on) = due_on
                && due_on <= horizon
            {
                rems_forms.push((session.patient_id.clone(), session.record_id.clone(), form, due_on < date));
            }
        }

        for patient_id in scheduled
            .iter()
            .map(|item| &item.patient_id)
            .chain(open_alerts.iter().map(|item| &item.patient_id))
            .chain(open_self_report_alerts.iter().map(|item| &item.patient_id))
            .chain(self_reports.iter().map(|item| &item.0))
            .chain(rems_forms.iter().map(|item| &item.0))
        {
            if !patients.contains_key(patient_id) {
                let patient = self.store.patient(patient_id).await?;
                patients.insert(patient_id.clone(), patient);
            }
        }
        let who = |patient_id: &str| -> Option<WorklistPatient> {
            let patient = patients.get(patient_id)?.as_ref()?;
            (patient.status == ketacare_store::RecordStatus::Active).then(|| WorklistPatient {
                patient_id: patient.patient_id.clone(),
                mrn: patient.mrn.clone(),
                given_name: patient.given_name.clone(),
                family_name: patient.family_name.clone(),
            })
        };

        let sessions_today = scheduled
            .into_iter()
            .filter_map(|item| {
                Some(WorklistSession {
                    patient: who(&item.patient_id)?,
                    plan_id: item.plan_id,
                    position: item.scheduled.position,
                    session_number: item.scheduled.session_number,
                    step: item.scheduled.step,
                    phase: item.scheduled.phase,
                    planned_at: item.scheduled.planned_at,
                    status: item.scheduled.status,
                    treatment_session_id: item.scheduled.treatment_session_id,
                })
            })
            .collect();
        let mut alerts: Vec<WorklistAlert> = open_alerts
            .into_iter()
            .filter_map(|item| {
                Some(WorklistAlert {
                    patient: who(&item.patient_id)?,
                    session_id: item.session_id,
                    alert_id: item.alert_id,
                    level: item.level,
                    change_kind: item.change_kind,
                    changed_at: item.changed_at,
                    alert: serde_json::from_str(&item.alert_json).unwrap_or(Value::Null),
                })
            })
            .collect();
        alerts.sort_by(|a, b| (level_rank(&a.level), &a.changed_at).cmp(&(level_rank(&b.level), &b.changed_at)));
        let self_report_alerts = open_self_report_alerts
            .into_iter()
            .filter_map(|link| {
                Some(WorklistSelfReportAlert {
                    patient: who(&link.patient_id)?,
                    link_id: link.link_id,
                    scale: link.scale,
                    level: "critical".to_owned(),
                    answered_at: link.used_at.map(|at| at.to_string()).unwrap_or_default(),
                    scale_result_id: link.scale_result_id,
                })
            })
            .collect();
        let overdue_self_reports = self_reports
            .into_iter()
            .filter_map(|(patient_id, plan_id, measurement)| {
                Some(WorklistSelfReport {
                    patient: who(&patient_id)?,
                    plan_id,
                    scale: measurement["scale"].as_str().unwrap_or_default().to_owned(),
                    reason: measurement["reason"].clone(),
                    window_opens: measurement["window_opens"].clone(),
                    due_at: measurement["due_at"].clone(),
                    closes_at: measurement["closes_at"].clone(),
                })
            })
            .collect();
        rems_forms.sort_by(|a, b| a.2["due_on"].as_str().cmp(&b.2["due_on"].as_str()));
        let rems_forms_due = rems_forms
            .into_iter()
            .filter_map(|(patient_id, session_id, form, overdue)| {
                Some(WorklistRemsForm {
                    patient: who(&patient_id)?,
                    session_id,
                    status: form["status"].clone(),
                    due_on: form["due_on"].clone(),
                    overdue,
                    missing: form["missing"].clone(),
                })
            })
            .collect();

        // One event naming every patient the worklist shows.
        let shown: Vec<String> = patients.keys().filter(|patient_id| who(patient_id).is_some()).cloned().collect();
        let open_stock_discrepancies = self.open_stock_discrepancy_count(actor).await?;
        self.store.append_audit_showing(&event, &shown).await?;
        Ok(WorklistView {
            date: date.to_string(),
            time_zone: zone_name,
            sessions_today,
            open_alerts: alerts,
            self_report_alerts,
            overdue_self_reports,
            rems_forms_due,
            open_stock_discrepancies,
        })
    }
}
