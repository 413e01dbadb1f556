//! The patient's symptom course for the overview's chart: the PHQ-9, MADRS and QIDS-SR16 totals of the
//! chart over time, each scale's baseline (the core's rule: the latest result on or before the first
//! treatment, else the earliest), the response line (the protocol's reduction from that baseline) and
//! the remission threshold (the protocol's), and the dates of the treatment sessions. The numbers come
//! from the core and the protocol; the web layer only draws them.

use jiff::civil::Date;
use ketacare_core::outcomes::{Assessment, OutcomeScale, ScoreSeries, choose_baseline, remission_at_most};
use ketacare_store::RecordStatus;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive as _;

use crate::policy::{Permission, require};
use crate::{Actor, App, AppError};

/// The scales the course draws, in the order drawn.
const COURSE_SCALES: [(OutcomeScale, &str, &str); 3] = [
    (OutcomeScale::Phq9, "phq9", "PHQ-9"),
    (OutcomeScale::Madrs, "madrs", "MADRS"),
    (OutcomeScale::QidsSr16, "qids_sr16", "QIDS-SR16"),
];

/// One scale's totals over time with the lines that judge them.
#[derive(Debug, Clone, PartialEq)]
pub struct SymptomSeries {
    /// `phq9`, `madrs` or `qids_sr16`.
    pub scale: &'static str,
    pub title: &'static str,
    pub max_total: u8,
    /// `(date, total)` in date order, one per date (the latest recorded of a day).
    pub points: Vec<(Date, u8)>,
    pub baseline: Option<(Date, u8)>,
    /// Response: a total at or below this (baseline × (1 − the protocol's reduction)).
    pub response_at_most: Option<f64>,
    /// Remission: a total at or below this (the protocol's).
    pub remission_at_most: u8,
}

/// The whole course: the series with at least one result, and the sessions' dates.
#[derive(Debug, Clone, PartialEq)]
pub struct SymptomCourseView {
    pub series: Vec<SymptomSeries>,
    /// The clinic-local dates of the patient's treatment sessions (not those entered in error).
    pub session_dates: Vec<Date>,
    /// The protocol's response reduction, in percent (50).
    pub response_reduction_pct: Decimal,
}

impl App {
    /// The symptom course of a patient (roles that read the chart and sessions); audited as
    /// `symptom_course.read`.
    pub async fn symptom_course(&self, actor: &Actor, patient_id: &str) -> Result<SymptomCourseView, AppError> {
        let event = self.audit_event(
            actor,
            "symptom_course.read",
            format!("patient/{patient_id}/symptom-course"),
            Some(patient_id),
        );
        let result = async {
            require(actor, Permission::ReadChart)?;
            require(actor, Permission::ReadSessions)?;
            if self.store.patient(patient_id).await?.is_none() {
                return Err(AppError::NotFound { resource: "patient", id: patient_id.to_owned() });
            }
            let results = self.store.scale_results(patient_id).await?;
            let mut session_dates: Vec<Date> = Vec::new();
            for session in self.store.treatment_sessions_of(patient_id).await? {
                if session.status != "active" {
                    continue;
                }
                let facts: serde_json::Value = serde_json::from_str(&session.facts_json).unwrap_or_default();
                if let Some(date) = facts["dose"]["planned_at"].as_str().and_then(|text| text.get(..10)?.parse().ok()) {
                    session_dates.push(date);
                }
            }
            session_dates.sort();
            session_dates.dedup();
            let settings = &self.protocol.outcomes;
            let reduction = settings.response_min_reduction_pct.value;
            let mut series = Vec::new();
            for (outcome_scale, code, title) in COURSE_SCALES {
                let mut by_date: std::collections::BTreeMap<Date, u8> = std::collections::BTreeMap::new();
                for result in
                    results.iter().filter(|result| result.scale == code && result.status == RecordStatus::Active)
                {
                    let (Some(total), Ok(date)) = (result.total, result.administered_on.parse::<Date>()) else {
                        continue;
                    };
                    // Rows come in the order recorded: the latest of a day wins.
                    if let Ok(total) = u8::try_from(total) {
                        by_date.insert(date, total);
                    }
                }
                if by_date.is_empty() {
                    continue;
                }
                let assessments =
                    by_date.iter().map(|(date, total)| Assessment { date: *date, total: Some(*total) }).collect();
                let Ok(score_series) = ScoreSeries::new(outcome_scale, assessments) else { continue };
                let baseline = choose_baseline(&score_series, session_dates.first().copied())
                    .determined()
                    .map(|baseline| (baseline.date, baseline.total));
                let response_at_most = baseline.and_then(|(_, total)| {
                    (Decimal::from(total) * (Decimal::ONE_HUNDRED - reduction) / Decimal::ONE_HUNDRED).to_f64()
                });
                series.push(SymptomSeries {
                    scale: code,
                    title,
                    max_total: outcome_scale.max_total(),
                    points: by_date.into_iter().collect(),
                    baseline,
                    response_at_most,
                    remission_at_most: remission_at_most(outcome_scale, settings),
                });
            }
            Ok(SymptomCourseView { series, session_dates, response_reduction_pct: reduction })
        }
        .await;
        match result {
            Ok(view) => {
                self.store.append_audit(&event).await?;
                Ok(view)
            }
            Err(error) => Err(self.audit_failure(event, error).await),
        }
    }
}
