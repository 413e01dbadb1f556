//! The clinic's cohort outcomes report (issue 14; docs/outcomes.md): gathers each plan's facts from the
//! store, computes the report in `ketacare_core::cohort`, and answers it by pseudonym and week only, so
//! analysts may read it. One `report.outcomes` audit event names every patient counted.

use std::collections::BTreeMap;

use jiff::ToSpan;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use ketacare_core::cohort::{CheckpointStanding, CohortPatient, CohortReport, cohort_csv, cohort_report};
use ketacare_core::outcomes::{Assessment, OutcomeScale, ScoreSeries};
use ketacare_core::patient::Modality;
use ketacare_core::plan::Template;
use ketacare_core::session::alerts::AlertLevel;
use ketacare_store::{RecordStatus, StoredTreatmentPlan};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::policy::Permission;
use crate::{Actor, App, AppError};

/// PROJECT DEFAULT: without `from`, the report covers the plans started in the year up to `to`.
const DEFAULT_PERIOD_DAYS: i64 = 365;

/// The esketamine REMS monitoring form is due within 7 days of the treatment (KNOWLEDGE §4.1).
const REMS_FORM_DUE_WITHIN_DAYS: i64 = 7;

/// The patients listed per store query while gathering.
const PATIENTS_PER_STEP: i64 = 200;

/// The query string of `GET /api/v1/reports/outcomes` (and the CLI's options).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutcomesQuery {
    /// `iv_ketamine` or `esketamine`; both when absent.
    pub modality: Option<String>,
    /// `YYYY-MM-DD`, first plan start counted; default a year before `to`.
    pub from: Option<String>,
    /// `YYYY-MM-DD`, last plan start counted; default today (the clinic's date).
    pub to: Option<String>,
    /// `json` or `csv` (the web layer also honours `Accept: text/csv`).
    pub format: Option<String>,
}

/// The reports, one per modality asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomesReports {
    pub as_of: Date,
    pub reports: Vec<CohortReport>,
}

impl OutcomesReports {
    /// The JSON the API and the CLI answer (docs/outcomes.md).
    pub fn to_json(&self) -> Value {
        json!({
            "as_of": self.as_of.to_string(),
            "reports": self.reports.iter().map(report_json).collect::<Vec<Value>>(),
        })
    }

    /// The CSV: each report's lines after a `modality` line.
    pub fn to_csv(&self) -> String {
        self.reports
            .iter()
            .map(|report| format!("modality,{}\n{}", report.modality.as_str(), cohort_csv(report)))
            .collect::<Vec<String>>()
            .join("")
    }
}

fn decimal(value: &Option<rust_decimal::Decimal>) -> Value {
    value.map_or(Value::Null, |one| json!(one.to_string()))
}

fn standing_json(standing: &CheckpointStanding) -> Value {
    match standing {
        CheckpointStanding::NotReached => json!({ "status": "not_reached" }),
        CheckpointStanding::NotMeasured => json!({ "status": "not_measured" }),
        CheckpointStanding::Measured { decided_by, response, remission } => json!({
            "status": "measured", "decided_by": decided_by.code(), "response": response, "remission": remission,
        }),
    }
}

/// One report as JSON (rates as decimal strings, exact).
pub fn report_json(report: &CohortReport) -> Value {
    json!({
        "modality": report.modality.as_str(),
        "from": report.from.to_string(),
        "to": report.to.to_string(),
        "patients": report.patients,
        "checkpoints": report.checkpoints.iter().map(|summary| json!({
            "checkpoint": summary.checkpoint.code(),
            "reached": summary.reached,
            "measured": summary.measured,
            "responders": summary.responders,
            "remitters": summary.remitters,
            "response_rate_pct": decimal(&summary.response_rate_pct),
            "remission_rate_pct": decimal(&summary.remission_rate_pct),
            "decided_by": summary.decided_by.iter()
                .map(|(scale, count)| json!({ "scale": scale.code(), "patients": count }))
                .collect::<Vec<Value>>(),
        })).collect::<Vec<Value>>(),
        "time_to_response": {
            "responders": report.responders_ever,
            "median_days": decimal(&report.median_days_to_response),
        },
        "sessions": {
            "given": report.sessions_given,
            "median_per_patient": decimal(&report.median_sessions_per_patient),
        },
        "measurement_adherence": {
            "due": report.measurements_due,
            "done": report.measurements_done,
            "percent": decimal(&report.measurement_adherence_pct),
        },
        "sessions_monitored": report.sessions_monitored,
        "alerts": report.alert_rates.iter().map(|rate| json!({
            "level": rate.level.as_str(), "alerts": rate.alerts, "per_session": decimal(&rate.per_session),
        })).collect::<Vec<Value>>(),
        "rems_forms": if report.rems_forms_due.is_some() {
            json!({
                "due": report.rems_forms_due,
                "on_time": report.rems_forms_on_time,
                "percent": decimal(&report.rems_on_time_pct),
            })
        } else {
            Value::Null
        },
        "patient_rows": report.rows.iter().map(|row| json!({
            "pseudonym": row.pseudonym,
            "plan_started_week": row.plan_started_week,
            "checkpoints": row.standings.iter()
                .map(|(checkpoint, standing)| (checkpoint.code(), standing_json(standing)))
                .collect::<serde_json::Map<String, Value>>(),
            "days_to_response": row.days_to_response,
            "sessions_given": row.sessions_given,
        })).collect::<Vec<Value>>(),
    })
}

fn parse_modality(word: &str) -> Result<Modality, AppError> {
    Modality::ALL
        .into_iter()
        .find(|modality| modality.as_str() == word)
        .ok_or_else(|| AppError::invalid("modality", "must be iv_ketamine or esketamine"))
}

fn parse_date(field: &str, text: &str) -> Result<Date, AppError> {
    text.parse::<Date>().map_err(|_| AppError::invalid(field, "must be a date, YYYY-MM-DD"))
}

/// The clinic-local date of a stored `YYYY-MM-DD…` text (its first 10 characters).
fn date_prefix(text: &str) -> Option<Date> {
    text.get(..10)?.parse().ok()
}

fn alert_level(word: &str) -> Option<AlertLevel> {
    ketacare_core::cohort::ALERT_LEVELS.into_iter().find(|level| level.as_str() == word)
}

impl App {
    /// The cohort outcomes report over the plans started from `from` to `to` (audited: one
    /// `report.outcomes` event naming every patient counted).
    pub async fn outcomes_report(&self, actor: &Actor, query: &OutcomesQuery) -> Result<OutcomesReports, AppError> {
        let event = self
            .permitted_event(actor, Permission::ReadOutcomes, "report.outcomes", "reports/outcomes".to_owned(), None)
            .await?;
        self.outcomes_report_audited(event, query).await
    }

    /// The same report for `ketacare report outcomes`: whoever runs the command holds the database itself,
    /// so no role is checked; audited as `report.outcomes` by the actor `ketacare-cli` with no role.
    pub async fn outcomes_report_at_console(
        &self,
        query: &OutcomesQuery,
        request_id: &str,
    ) -> Result<OutcomesReports, AppError> {
        let console = Actor {
            user_id: crate::operations::CLI_ACTOR.to_owned(),
            role: ketacare_store::Role::Admin,
            request_id: request_id.to_owned(),
        };
        let mut event = self.audit_event(&console, "report.outcomes", "reports/outcomes".to_owned(), None);
        event.actor_role = None;
        self.outcomes_report_audited(event, query).await
    }

    async fn outcomes_report_audited(
        &self,
        event: ketacare_store::AuditEvent,
        query: &OutcomesQuery,
    ) -> Result<OutcomesReports, AppError> {
        let today = self.today();
        let checked = (|| {
            let modalities = match query.modality.as_deref() {
                Some(word) => vec![parse_modality(word)?],
                None => Modality::ALL.to_vec(),
            };
            let to = query.to.as_deref().map(|text| parse_date("to", text)).transpose()?.unwrap_or(today);
            let from = match query.from.as_deref() {
                Some(text) => parse_date("from", text)?,
                None => to.checked_sub(DEFAULT_PERIOD_DAYS.days()).unwrap_or(to),
            };
            if from > to {
                return Err(AppError::invalid("from", "must be on or before to"));
            }
            if let Some(format) = query.format.as_deref()
                && format != "json"
                && format != "csv"
            {
                return Err(AppError::invalid("format", "must be json or csv"));
            }
            Ok((modalities, from, to))
        })();
        let (modalities, from, to) = match checked {
            Ok(checked) => checked,
            Err(error) => return Err(self.audit_failure(event, error).await),
        };
        let gathered = match self.cohort_facts(today).await {
            Ok(gathered) => gathered,
            Err(error) => return Err(self.audit_failure(event, error).await),
        };
        let reports: Vec<CohortReport> = modalities
            .into_iter()
            .map(|modality| cohort_report(modality, from, to, today, &gathered.0, &self.protocol))
            .collect();
        let counted: Vec<String> = gathered
            .0
            .iter()
            .zip(&gathered.1)
            .filter(|(patient, _)| {
                reports.iter().any(|report| {
                    report.modality == patient.modality
                        && patient.plan_started_on >= report.from
                        && patient.plan_started_on <= report.to
                })
            })
            .map(|(_, patient_id)| patient_id.clone())
            .collect::<std::collections::BTreeSet<String>>()
            .into_iter()
            .collect();
        self.store.append_audit_showing(&event, &counted).await?;
        Ok(OutcomesReports { as_of: today, reports })
    }

    /// One [`CohortPatient`] per plan (not entered in error) of every patient not entered in error, with
    /// the patient id of each (for the audit only).
    async fn cohort_facts(&self, today: Date) -> Result<(Vec<CohortPatient>, Vec<String>), AppError> {
        let mut facts = Vec::new();
        let mut patient_ids = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let search = ketacare_store::PatientSearch {
                query: None,
                listing: ketacare_store::PatientListing::ByName,
                include_entered_in_error: false,
                limit: PATIENTS_PER_STEP,
                offset: 0,
            };
            let page = self.store.search_patients_after(&search, after.as_deref()).await?;
            let Some(last) = page.patients.last().map(|patient| patient.patient_id.clone()) else { break };
            for patient in page.patients {
                let plans = self.store.treatment_plans_of(&patient.patient_id).await?;
                if plans.is_empty() {
                    continue;
                }
                let series = self.outcome_series(&patient.patient_id).await?;
                let sessions = self.store.treatment_sessions_of(&patient.patient_id).await?;
                for stored in plans.into_iter().filter(|plan| plan.status != "entered_in_error") {
                    if let Some(one) = self.plan_facts(&patient.pseudonym, stored, &series, &sessions, today).await? {
                        facts.push(one);
                        patient_ids.push(patient.patient_id.clone());
                    }
                }
            }
            after = Some(last);
        }
        Ok((facts, patient_ids))
    }

    /// The chart's outcome series: one total a day (the latest recorded), results in error left out.
    async fn outcome_series(&self, patient_id: &str) -> Result<Vec<ScoreSeries>, AppError> {
        let results = self.store.scale_results(patient_id).await?;
        let mut series = Vec::new();
        for scale in OutcomeScale::ALL {
            let mut by_date: BTreeMap<Date, u8> = BTreeMap::new();
            for result in
                results.iter().filter(|result| result.status == RecordStatus::Active && result.scale == scale.code())
            {
                if let (Some(total), Some(date)) = (result.total, date_prefix(&result.administered_on))
                    && let Ok(total) = u8::try_from(total)
                {
                    by_date.insert(date, total);
                }
            }
            if by_date.is_empty() {
                continue;
            }
            let assessments =
                by_date.into_iter().map(|(date, total)| Assessment { date, total: Some(total) }).collect();
            if let Ok(one) = ScoreSeries::new(scale, assessments) {
                series.push(one);
            }
        }
        Ok(series)
    }

    async fn plan_facts(
        &self,
        pseudonym: &str,
        stored: StoredTreatmentPlan,
        series: &[ScoreSeries],
        sessions: &[ketacare_store::StoredTreatmentSession],
        today: Date,
    ) -> Result<Option<CohortPatient>, AppError> {
        let plan_id = stored.plan_id.clone();
        let patient_id = stored.patient_id.clone();
        let view = self.plan_view(stored).await?;
        let Some(template) = view.report["template"].as_str().and_then(|word| word.parse::<Template>().ok()) else {
            return Ok(None);
        };
        let modality = match template.modality() {
            ketacare_core::session::Modality::IvRacemicKetamine => Modality::IvKetamine,
            ketacare_core::session::Modality::Esketamine => Modality::Esketamine,
        };
        // The plan report's schedule: the document's own events and the sessions given through the API.
        let planned: Vec<(Date, &str, &str)> = view.report["sessions"]
            .as_array()
            .map(|sessions| {
                sessions
                    .iter()
                    .filter_map(|session| {
                        Some((
                            date_prefix(session["at"].as_str()?)?,
                            session["status"].as_str()?,
                            session["phase"].as_str().unwrap_or_default(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let Some(plan_started_on) = planned.iter().map(|(date, _, _)| *date).min() else {
            return Ok(None);
        };
        let given: Vec<Date> =
            planned.iter().filter(|(_, status, _)| *status == "given").map(|(date, _, _)| *date).collect();
        let induction: Vec<&(Date, &str, &str)> =
            planned.iter().filter(|(_, _, phase)| *phase == "induction").collect();
        let induction_over = !induction.is_empty()
            && induction.iter().all(|(_, status, _)| *status != "planned")
            && induction.iter().any(|(_, status, _)| *status == "given");
        let induction_ended_on = induction_over
            .then(|| induction.iter().filter(|(_, status, _)| *status == "given").map(|(date, _, _)| *date).max())
            .flatten();
        let adherence = &view.report["measurement_adherence"];
        let done = adherence["done"].as_u64().unwrap_or(0) as u32;
        let missed = adherence["missed"].as_u64().unwrap_or(0) as u32;

        let zone = TimeZone::get(&self.clinic_time_zone).unwrap_or(TimeZone::UTC);
        let local_date = |text: &str| -> Option<Date> {
            text.parse::<jiff::Timestamp>()
                .ok()
                .map(|at| at.to_zoned_datetime(zone.clone()).date())
                .or_else(|| date_prefix(text))
        };
        let mut alert_levels = Vec::new();
        let (mut rems_due, mut rems_on_time, mut sessions_monitored) = (0u32, 0u32, 0u32);
        for session in sessions
            .iter()
            .filter(|session| session.plan_id.as_deref() == Some(plan_id.as_str()) && session.status == "active")
        {
            sessions_monitored += 1;
            let record = self.store.treatment_session_record(&patient_id, &session.session_id, true).await?;
            if let Some(record) = record {
                let mut highest: BTreeMap<&str, AlertLevel> = BTreeMap::new();
                for change in &record.alert_changes {
                    if let Some(level) = alert_level(&change.level) {
                        let entry = highest.entry(change.alert_id.as_str()).or_insert(level);
                        *entry = (*entry).max(level);
                    }
                }
                alert_levels.extend(highest.into_values());
            }
            if modality == Modality::Esketamine {
                let Some(treated_on) = local_date(&session.created_at) else { continue };
                let Ok(deadline) = treated_on.checked_add(REMS_FORM_DUE_WITHIN_DAYS.days()) else { continue };
                let submitted_on = session.rems_submitted_at.as_deref().and_then(local_date);
                if submitted_on.is_some() || deadline < today {
                    rems_due += 1;
                    if submitted_on.is_some_and(|on| on <= deadline) {
                        rems_on_time += 1;
                    }
                }
            }
        }
        Ok(Some(CohortPatient {
            pseudonym: pseudonym.to_owned(),
            modality,
            plan_started_on,
            first_treatment_date: given.iter().min().copied(),
            induction_ended_on,
            series: series.to_vec(),
            sessions_given: given.len() as u32,
            sessions_monitored,
            measurements_due: done + missed,
            measurements_done: done,
            alert_levels,
            rems_forms_due: rems_due,
            rems_forms_on_time: rems_on_time,
        }))
    }
}
