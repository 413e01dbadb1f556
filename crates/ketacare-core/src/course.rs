//! Course evaluation: where a dated series of scale totals stands (response, partial response, remission,
//! sustained remission, relapse, from [`crate::outcomes`]) and what the protocol implies for the treatment
//! plan — continue, taper, reassess, or return to a more frequent schedule — with reasons
//! (KNOWLEDGE §3.4, §3.5, §5.10). A plan followed on several scales is evaluated on each
//! ([`evaluate_course_on_scales`]): the protocol's primary scale decides when it has what it needs, else
//! the first other scale that does, and the report names the scale that decided.

use crate::outcomes::Milestone;
use crate::outcomes::{
    Determination, OutcomeReport, OutcomeScale, RelapseStatus, ResponseStatus, ScoreSeries, evaluate_outcomes,
};
use crate::protocol::Protocol;

/// Where the patient is in the plan when the series is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoursePhase {
    /// Induction series; `complete` once its last session was given (IV) or week 4 ended (esketamine).
    Induction {
        complete: bool,
    },
    Maintenance,
}

/// The course's standing, most significant first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CourseStatus {
    Relapse,
    /// Had responded (or remitted) earlier and the latest total no longer meets response.
    LostResponse,
    SustainedRemission,
    Remission,
    Response,
    PartialResponse,
    NonResponse,
    Indeterminate {
        missing: Vec<String>,
    },
}

impl CourseStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            CourseStatus::Relapse => "relapse",
            CourseStatus::LostResponse => "lost_response",
            CourseStatus::SustainedRemission => "sustained_remission",
            CourseStatus::Remission => "remission",
            CourseStatus::Response => "response",
            CourseStatus::PartialResponse => "partial_response",
            CourseStatus::NonResponse => "non_response",
            CourseStatus::Indeterminate { .. } => "indeterminate",
        }
    }
}

/// What the protocol implies for the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recommendation {
    Continue,
    /// Move to the next, less frequent step (the least frequent schedule that keeps remission).
    Taper,
    /// Re-assess benefit with the prescriber before continuing.
    Reassess,
    /// Go back to the previous, more frequent step.
    ReturnToMoreFrequentSchedule,
    /// The data do not allow a recommendation; see the status's `missing`.
    None,
}

impl Recommendation {
    pub fn as_str(self) -> &'static str {
        match self {
            Recommendation::Continue => "continue",
            Recommendation::Taper => "taper",
            Recommendation::Reassess => "reassess",
            Recommendation::ReturnToMoreFrequentSchedule => "return_to_more_frequent_schedule",
            Recommendation::None => "none",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CourseEvaluation {
    pub outcomes: OutcomeReport,
    pub status: CourseStatus,
    pub recommendation: Recommendation,
    pub reasons: Vec<String>,
    pub source: &'static str,
}

fn status_of(report: &OutcomeReport) -> CourseStatus {
    let latest = match &report.latest {
        Determination::Determined(latest) => latest,
        Determination::Indeterminate { missing } => return CourseStatus::Indeterminate { missing: missing.clone() },
    };
    if let Determination::Determined(RelapseStatus::Relapsed { .. }) = report.relapse {
        return CourseStatus::Relapse;
    }
    let response = match &latest.response {
        Determination::Determined(response) => *response,
        Determination::Indeterminate { missing } => return CourseStatus::Indeterminate { missing: missing.clone() },
    };
    let responded_before = matches!(report.first_response, Determination::Determined(Some(_)))
        || matches!(report.first_remission, Determination::Determined(Some(_)));
    if latest.remission.remitted {
        if report.sustained_remission == Determination::Determined(true) {
            return CourseStatus::SustainedRemission;
        }
        return CourseStatus::Remission;
    }
    match response {
        ResponseStatus::Response => CourseStatus::Response,
        _ if responded_before => CourseStatus::LostResponse,
        ResponseStatus::PartialResponse => CourseStatus::PartialResponse,
        ResponseStatus::NonResponse => CourseStatus::NonResponse,
    }
}

/// Evaluates the course of `series` in `phase`.
pub fn evaluate_course(
    series: &ScoreSeries,
    first_treatment_date: Option<jiff::civil::Date>,
    phase: CoursePhase,
    protocol: &Protocol,
) -> CourseEvaluation {
    let outcomes = evaluate_outcomes(series, first_treatment_date, &protocol.outcomes);
    let status = status_of(&outcomes);
    let mut reasons = Vec::new();
    if let (Determination::Determined(baseline), Determination::Determined(latest)) =
        (&outcomes.baseline, &outcomes.latest)
    {
        let change = match &latest.percent_change {
            Determination::Determined(change) => format!("{}%", change.round_dp(1)),
            Determination::Indeterminate { .. } => "undefined".to_owned(),
        };
        reasons.push(format!(
            "{}: baseline {} on {}, latest {} on {} ({change} change)",
            scale_name(series.scale()),
            baseline.total,
            baseline.date,
            latest.total,
            latest.date
        ));
    }
    let (recommendation, reason, source) = match (&status, phase) {
        (CourseStatus::Indeterminate { .. }, _) => {
            (Recommendation::None, "not enough data to evaluate the course", "clinical-reference §5.10")
        }
        (CourseStatus::Relapse, _) => (
            Recommendation::ReturnToMoreFrequentSchedule,
            "relapse: return to the previous, more frequent schedule and review with the prescriber",
            "clinical-reference §5.10 relapse definition (UNCONFIRMED); §3.5 return to the previous schedule [JNJ-MISSED]",
        ),
        (CourseStatus::LostResponse, CoursePhase::Maintenance) => (
            Recommendation::ReturnToMoreFrequentSchedule,
            "worsening in maintenance after an earlier response: consider returning to the previous, more \
             frequent schedule",
            "clinical-reference §3.5: with worsening in maintenance, consider the previous schedule [JNJ-MISSED]",
        ),
        (_, CoursePhase::Induction { complete: false }) => (
            Recommendation::Continue,
            "induction in progress: complete the series before judging benefit",
            "clinical-reference §3.4 / §3.5: evaluate after the series / at the end of week 4",
        ),
        (CourseStatus::NonResponse | CourseStatus::LostResponse, CoursePhase::Induction { complete: true }) => (
            Recommendation::Reassess,
            "no response at the end of induction: evaluate therapeutic benefit before continuing",
            "clinical-reference §3.5: at the end of week 4 evaluate therapeutic benefit to decide on continuation [ONA-SPR]",
        ),
        (CourseStatus::PartialResponse, CoursePhase::Induction { complete: true }) => (
            Recommendation::Reassess,
            "partial response at the end of induction: review benefit with the prescriber before maintenance",
            "clinical-reference §3.5 / §5.10: partial response 25-49 % (PROJECT DEFAULT)",
        ),
        (_, CoursePhase::Induction { complete: true }) => (
            Recommendation::Continue,
            "response at the end of induction: continue into maintenance",
            "clinical-reference §3.4 / §3.5: maintenance after a response in induction",
        ),
        (CourseStatus::SustainedRemission, CoursePhase::Maintenance) => (
            Recommendation::Taper,
            "sustained remission: taper to the least frequent schedule that keeps it",
            "clinical-reference §3.5: individualise to the least frequent schedule that keeps remission [HCP-SPR-TRD]; §3.4 taper",
        ),
        (CourseStatus::Remission | CourseStatus::Response, CoursePhase::Maintenance) => (
            Recommendation::Continue,
            "response or remission holds: continue the current schedule",
            "clinical-reference §3.5 maintenance",
        ),
        (CourseStatus::PartialResponse | CourseStatus::NonResponse, CoursePhase::Maintenance) => (
            Recommendation::Reassess,
            "no response in maintenance: reassess the treatment with the prescriber",
            "clinical-reference §5.10 / §3.5",
        ),
    };
    reasons.push(reason.to_owned());
    CourseEvaluation { outcomes, status, recommendation, reasons, source }
}

/// The course of a plan followed on several scales: each scale's own evaluation, and the one that decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CourseOnScales {
    /// The protocol's `outcomes.primary_scale`.
    pub primary_scale: OutcomeScale,
    /// The scale whose evaluation gives `status` and `recommendation`; `None` when no scale has what it
    /// needs (then `status` is indeterminate and lists what every scale is missing).
    pub decided_by: Option<OutcomeScale>,
    pub status: CourseStatus,
    pub recommendation: Recommendation,
    pub reasons: Vec<String>,
    pub source: &'static str,
    /// One evaluation per scale with data: the primary first, then MADRS, PHQ-9, QIDS-SR16, HAM-D17.
    pub scales: Vec<CourseEvaluation>,
}

/// Evaluates the course on every series given (one per scale; a scale given twice counts once, the first
/// one). The primary scale (`outcomes.primary_scale`, PROJECT DEFAULT MADRS) decides when its status is
/// determined; otherwise the first other scale, in the order MADRS, PHQ-9, QIDS-SR16, HAM-D17, whose
/// status is. So a MADRS baseline without follow-up never hides a course the PHQ-9s show.
pub fn evaluate_course_on_scales(
    series: &[ScoreSeries],
    first_treatment_date: Option<jiff::civil::Date>,
    phase: CoursePhase,
    protocol: &Protocol,
) -> CourseOnScales {
    let primary_scale = protocol.outcomes.primary_scale.value;
    let mut order: Vec<OutcomeScale> = vec![primary_scale];
    order.extend(OutcomeScale::ALL.into_iter().filter(|scale| *scale != primary_scale));
    let scales: Vec<CourseEvaluation> = order
        .iter()
        .filter_map(|scale| series.iter().find(|one| one.scale() == *scale))
        .map(|one| evaluate_course(one, first_treatment_date, phase, protocol))
        .collect();
    let deciding = scales.iter().find(|evaluation| !matches!(evaluation.status, CourseStatus::Indeterminate { .. }));
    let Some(deciding) = deciding else {
        let mut missing: Vec<String> = Vec::new();
        for evaluation in &scales {
            if let CourseStatus::Indeterminate { missing: scale_missing } = &evaluation.status {
                for what in scale_missing {
                    if !missing.contains(what) {
                        missing.push(what.clone());
                    }
                }
            }
        }
        if scales.is_empty() {
            missing.push(format!("a {} total to serve as baseline", scale_name(primary_scale)));
        }
        return CourseOnScales {
            primary_scale,
            decided_by: None,
            status: CourseStatus::Indeterminate { missing },
            recommendation: Recommendation::None,
            reasons: vec!["not enough data on any scale to evaluate the course".to_owned()],
            source: "clinical-reference §5.10",
            scales,
        };
    };
    let decided_by = deciding.outcomes.scale;
    let mut reasons = vec![if decided_by == primary_scale {
        format!("decided on {}, the protocol's primary scale", scale_name(decided_by))
    } else {
        format!(
            "decided on {}: the primary scale {} has not what it needs",
            scale_name(decided_by),
            scale_name(primary_scale)
        )
    }];
    reasons.extend(deciding.reasons.iter().cloned());
    for beside in scales.iter().filter(|evaluation| evaluation.outcomes.scale != decided_by) {
        reasons.push(format!("beside it, {}: {}", scale_name(beside.outcomes.scale), beside.status.as_str()));
    }
    CourseOnScales {
        primary_scale,
        decided_by: Some(decided_by),
        status: deciding.status.clone(),
        recommendation: deciding.recommendation,
        reasons,
        source: deciding.source,
        scales,
    }
}

/// The first milestone of a determination, if one was observed.
pub fn milestone_of(found: &Determination<Option<Milestone>>) -> Option<Milestone> {
    match found {
        Determination::Determined(milestone) => *milestone,
        Determination::Indeterminate { .. } => None,
    }
}

/// The scale's title as clinicians write it.
pub fn scale_name(scale: OutcomeScale) -> &'static str {
    match scale {
        OutcomeScale::Madrs => "MADRS",
        OutcomeScale::Phq9 => "PHQ-9",
        OutcomeScale::QidsSr16 => "QIDS-SR16",
        OutcomeScale::Hamd17 => "HAM-D17",
    }
}
