//! The clinic's cohort outcomes report (issue 14): response and remission by week, time to response,
//! sessions, measurement adherence, alert rates and REMS timeliness, over the plans started in a period.
//! Pure: the app gathers one [`CohortPatient`] per plan; patients appear by pseudonym and week only.

use jiff::ToSpan;
use jiff::civil::Date;
use rust_decimal::Decimal;

use crate::course::{CoursePhase, evaluate_course_on_scales, milestone_of};
use crate::outcomes::{Assessment, OutcomeScale, ResponseStatus, ScoreSeries};
use crate::patient::Modality;
use crate::protocol::Protocol;
use crate::session::alerts::AlertLevel;

/// The weeks after the plan's start at which response and remission are counted (issue 14).
pub const CHECKPOINT_WEEKS: [i64; 3] = [1, 4, 8];

/// PROJECT DEFAULT (issue 14, not a clinical rule): an assessment counts at a checkpoint when it was
/// taken on the checkpoint's date or in the 7 days before it; an older one is "not measured there".
pub const CHECKPOINT_WINDOW_DAYS: i64 = 7;

/// The alert levels counted, lowest first.
pub const ALERT_LEVELS: [AlertLevel; 4] =
    [AlertLevel::Info, AlertLevel::Warning, AlertLevel::Critical, AlertLevel::Emergency];

/// One point of the course at which the cohort's response and remission are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checkpoint {
    /// `weeks` × 7 days after the plan started.
    Week(i64),
    /// The date induction ended (its last session); only plans whose induction ended count.
    EndOfInduction,
}

impl Checkpoint {
    /// Weeks 1, 4, 8 and the end of induction, in that order.
    pub fn all() -> Vec<Checkpoint> {
        let mut all: Vec<Checkpoint> = CHECKPOINT_WEEKS.iter().map(|weeks| Checkpoint::Week(*weeks)).collect();
        all.push(Checkpoint::EndOfInduction);
        all
    }

    /// The code used in JSON and CSV: `week_1`, `week_4`, `week_8`, `end_of_induction`.
    pub fn code(self) -> String {
        match self {
            Checkpoint::Week(weeks) => format!("week_{weeks}"),
            Checkpoint::EndOfInduction => "end_of_induction".to_owned(),
        }
    }

    /// The checkpoint's date for a plan, if it has one.
    pub fn date_for(self, patient: &CohortPatient) -> Option<Date> {
        match self {
            Checkpoint::Week(weeks) => patient.plan_started_on.checked_add((weeks * 7).days()).ok(),
            Checkpoint::EndOfInduction => patient.induction_ended_on,
        }
    }
}

/// The facts of one plan the report needs; gathered by the app from the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CohortPatient {
    /// A stable pseudonym (never the name or record number).
    pub pseudonym: String,
    pub modality: Modality,
    pub plan_started_on: Date,
    /// The date of the first session given, if any.
    pub first_treatment_date: Option<Date>,
    /// The date induction ended (its last session), when it has.
    pub induction_ended_on: Option<Date>,
    /// One series per scale followed.
    pub series: Vec<ScoreSeries>,
    pub sessions_given: u32,
    /// Measurements the plan asked for that were due, and those of them that were done.
    pub measurements_due: u32,
    pub measurements_done: u32,
    /// Treatment sessions recorded under this plan (not entered in error), given or still under way: the
    /// denominator of the alert rates.
    pub sessions_monitored: u32,
    /// Alerts raised in those sessions, one entry per alert at its highest level.
    pub alert_levels: Vec<AlertLevel>,
    /// Esketamine: REMS monitoring forms due, and those submitted on time.
    pub rems_forms_due: u32,
    pub rems_forms_on_time: u32,
}

/// Where one patient stands at one checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointStanding {
    /// No checkpoint date (induction has not ended) or the date is still to come.
    NotReached,
    /// No usable assessment in the window before the checkpoint, or no baseline.
    NotMeasured,
    Measured {
        decided_by: OutcomeScale,
        response: bool,
        remission: bool,
    },
}

/// One patient's row: pseudonym, the ISO week the plan started, the standing at each checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CohortPatientRow {
    pub pseudonym: String,
    /// `YYYY-Www`: no date finer than the week leaves the report.
    pub plan_started_week: String,
    pub standings: Vec<(Checkpoint, CheckpointStanding)>,
    pub days_to_response: Option<i32>,
    pub sessions_given: u32,
}

/// The cohort's counts at one checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointSummary {
    pub checkpoint: Checkpoint,
    /// Plans that reached the checkpoint by `as_of`.
    pub reached: u32,
    pub measured: u32,
    pub responders: u32,
    pub remitters: u32,
    /// Percent of the measured, one decimal; `None` when none was measured.
    pub response_rate_pct: Option<Decimal>,
    pub remission_rate_pct: Option<Decimal>,
    /// How many measured patients each scale decided for (primary first).
    pub decided_by: Vec<(OutcomeScale, u32)>,
}

/// Alerts of one level over the cohort's sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRate {
    pub level: AlertLevel,
    pub alerts: u32,
    /// Alerts per session monitored, two decimals; `None` without sessions.
    pub per_session: Option<Decimal>,
}

/// The whole report for one modality and period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CohortReport {
    pub modality: Modality,
    pub from: Date,
    pub to: Date,
    pub patients: u32,
    pub checkpoints: Vec<CheckpointSummary>,
    pub responders_ever: u32,
    /// Median days from the first session to the first response, on the scale that decides the course.
    pub median_days_to_response: Option<Decimal>,
    pub sessions_given: u32,
    pub median_sessions_per_patient: Option<Decimal>,
    pub measurements_due: u32,
    pub measurements_done: u32,
    pub measurement_adherence_pct: Option<Decimal>,
    pub sessions_monitored: u32,
    pub alert_rates: Vec<AlertRate>,
    /// Esketamine only (`None` for IV ketamine, which has no REMS).
    pub rems_forms_due: Option<u32>,
    pub rems_forms_on_time: Option<u32>,
    pub rems_on_time_pct: Option<Decimal>,
    pub rows: Vec<CohortPatientRow>,
}

/// `part` of `whole` in percent, one decimal; `None` for an empty whole.
pub fn percent(part: u32, whole: u32) -> Option<Decimal> {
    (whole > 0).then(|| to_places(Decimal::from(part) * Decimal::ONE_HUNDRED / Decimal::from(whole), 1))
}

/// `value` rounded half away from zero and always written with `places` decimals (50.0, not 50).
fn to_places(value: Decimal, places: u32) -> Decimal {
    let mut rounded = value.round_dp_with_strategy(places, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    rounded.rescale(places);
    rounded
}

/// The median of whole numbers (the mean of the middle two for an even count); `None` when empty.
pub fn median(values: &[i64]) -> Option<Decimal> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let middle = sorted.len() / 2;
    Some(if sorted.len() % 2 == 1 {
        Decimal::from(sorted[middle])
    } else {
        (Decimal::from(sorted[middle - 1]) + Decimal::from(sorted[middle])) / Decimal::TWO
    })
}

/// The ISO week of a date, `YYYY-Www`.
pub fn iso_week(date: Date) -> String {
    let week = date.iso_week_date();
    format!("{:04}-W{:02}", week.year(), week.week())
}

/// Only the assessments taken on or before `date`.
fn series_until(series: &[ScoreSeries], date: Date) -> Vec<ScoreSeries> {
    series
        .iter()
        .filter_map(|one| {
            let kept: Vec<Assessment> =
                one.assessments().iter().copied().filter(|assessment| assessment.date <= date).collect();
            ScoreSeries::new(one.scale(), kept).ok()
        })
        .collect()
}

/// Where `patient` stands at `checkpoint`, evaluated on the facts known `as_of` (KNOWLEDGE §5.10: the
/// primary scale decides when it can, otherwise the next scale that can; see `evaluate_course_on_scales`).
pub fn standing_at(
    patient: &CohortPatient,
    checkpoint: Checkpoint,
    as_of: Date,
    protocol: &Protocol,
) -> CheckpointStanding {
    let Some(date) = checkpoint.date_for(patient) else { return CheckpointStanding::NotReached };
    if date > as_of {
        return CheckpointStanding::NotReached;
    }
    let known = series_until(&patient.series, date);
    let phase = CoursePhase::Induction { complete: checkpoint == Checkpoint::EndOfInduction };
    let course = evaluate_course_on_scales(&known, patient.first_treatment_date, phase, protocol);
    let Some(decided_by) = course.decided_by else { return CheckpointStanding::NotMeasured };
    let Some(evaluation) = course.scales.iter().find(|one| one.outcomes.scale == decided_by) else {
        return CheckpointStanding::NotMeasured;
    };
    let Some(latest) = evaluation.outcomes.latest.determined() else { return CheckpointStanding::NotMeasured };
    let window_start = date.checked_sub(CHECKPOINT_WINDOW_DAYS.days()).unwrap_or(date);
    if latest.date < window_start {
        return CheckpointStanding::NotMeasured;
    }
    CheckpointStanding::Measured {
        decided_by,
        response: latest.response.determined() == Some(&ResponseStatus::Response),
        remission: latest.remission.remitted,
    }
}

/// Days from the first session to the first response on the scale that decides the whole course.
pub fn days_to_response(patient: &CohortPatient, as_of: Date, protocol: &Protocol) -> Option<i32> {
    let known = series_until(&patient.series, as_of);
    let course = evaluate_course_on_scales(
        &known,
        patient.first_treatment_date,
        CoursePhase::Induction { complete: patient.induction_ended_on.is_some() },
        protocol,
    );
    let decided_by = course.decided_by?;
    let evaluation = course.scales.iter().find(|one| one.outcomes.scale == decided_by)?;
    milestone_of(&evaluation.outcomes.first_response).map(|milestone| milestone.days)
}

/// The report over the plans of `modality` started from `from` to `to` (both inclusive), as of `as_of`.
pub fn cohort_report(
    modality: Modality,
    from: Date,
    to: Date,
    as_of: Date,
    patients: &[CohortPatient],
    protocol: &Protocol,
) -> CohortReport {
    let cohort: Vec<&CohortPatient> = patients
        .iter()
        .filter(|patient| {
            patient.modality == modality && patient.plan_started_on >= from && patient.plan_started_on <= to
        })
        .collect();
    let primary = protocol.outcomes.primary_scale.value;
    let mut scale_order = vec![primary];
    scale_order.extend(OutcomeScale::ALL.into_iter().filter(|scale| *scale != primary));

    let mut rows: Vec<CohortPatientRow> = cohort
        .iter()
        .map(|patient| CohortPatientRow {
            pseudonym: patient.pseudonym.clone(),
            plan_started_week: iso_week(patient.plan_started_on),
            standings: Checkpoint::all()
                .into_iter()
                .map(|checkpoint| (checkpoint, standing_at(patient, checkpoint, as_of, protocol)))
                .collect(),
            days_to_response: days_to_response(patient, as_of, protocol),
            sessions_given: patient.sessions_given,
        })
        .collect();
    rows.sort_by(|left, right| {
        left.plan_started_week.cmp(&right.plan_started_week).then_with(|| left.pseudonym.cmp(&right.pseudonym))
    });

    let checkpoints = Checkpoint::all()
        .into_iter()
        .enumerate()
        .map(|(index, checkpoint)| {
            let standings: Vec<CheckpointStanding> = rows.iter().map(|row| row.standings[index].1).collect();
            let reached = standings.iter().filter(|one| **one != CheckpointStanding::NotReached).count() as u32;
            let measured: Vec<(OutcomeScale, bool, bool)> = standings
                .iter()
                .filter_map(|one| match one {
                    CheckpointStanding::Measured { decided_by, response, remission } => {
                        Some((*decided_by, *response, *remission))
                    }
                    _ => None,
                })
                .collect();
            let responders = measured.iter().filter(|one| one.1).count() as u32;
            let remitters = measured.iter().filter(|one| one.2).count() as u32;
            let decided_by = scale_order
                .iter()
                .map(|scale| (*scale, measured.iter().filter(|one| one.0 == *scale).count() as u32))
                .filter(|(_, count)| *count > 0)
                .collect();
            CheckpointSummary {
                checkpoint,
                reached,
                measured: measured.len() as u32,
                responders,
                remitters,
                response_rate_pct: percent(responders, measured.len() as u32),
                remission_rate_pct: percent(remitters, measured.len() as u32),
                decided_by,
            }
        })
        .collect();

    let days: Vec<i64> = rows.iter().filter_map(|row| row.days_to_response).map(i64::from).collect();
    let sessions: Vec<i64> = cohort.iter().map(|patient| i64::from(patient.sessions_given)).collect();
    let sessions_given: u32 = cohort.iter().map(|patient| patient.sessions_given).sum();
    let sessions_monitored: u32 = cohort.iter().map(|patient| patient.sessions_monitored).sum();
    let measurements_due: u32 = cohort.iter().map(|patient| patient.measurements_due).sum();
    let measurements_done: u32 = cohort.iter().map(|patient| patient.measurements_done).sum();
    let alert_rates = ALERT_LEVELS
        .iter()
        .map(|level| {
            let alerts = cohort
                .iter()
                .map(|patient| patient.alert_levels.iter().filter(|one| *one == level).count() as u32)
                .sum::<u32>();
            AlertRate {
                level: *level,
                alerts,
                per_session: (sessions_monitored > 0)
                    .then(|| to_places(Decimal::from(alerts) / Decimal::from(sessions_monitored), 2)),
            }
        })
        .collect();
    let (rems_forms_due, rems_forms_on_time, rems_on_time_pct) = if modality == Modality::Esketamine {
        let due: u32 = cohort.iter().map(|patient| patient.rems_forms_due).sum();
        let on_time: u32 = cohort.iter().map(|patient| patient.rems_forms_on_time).sum();
        (Some(due), Some(on_time), percent(on_time, due))
    } else {
        (None, None, None)
    };
    CohortReport {
        modality,
        from,
        to,
        patients: cohort.len() as u32,
        checkpoints,
        responders_ever: days.len() as u32,
        median_days_to_response: median(&days),
        sessions_given,
        median_sessions_per_patient: median(&sessions),
        measurements_due,
        measurements_done,
        measurement_adherence_pct: percent(measurements_done, measurements_due),
        sessions_monitored,
        alert_rates,
        rems_forms_due,
        rems_forms_on_time,
        rems_on_time_pct,
        rows,
    }
}

/// The report as CSV: one line per checkpoint summary, then one per patient (pseudonym and week only).
pub fn cohort_csv(report: &CohortReport) -> String {
    let show = |value: &Option<Decimal>| value.map(|one| one.to_string()).unwrap_or_default();
    let mut csv =
        String::from("section,checkpoint,reached,measured,responders,remitters,response_rate_pct,remission_rate_pct\n");
    for summary in &report.checkpoints {
        csv.push_str(&format!(
            "checkpoint,{},{},{},{},{},{},{}\n",
            summary.checkpoint.code(),
            summary.reached,
            summary.measured,
            summary.responders,
            summary.remitters,
            show(&summary.response_rate_pct),
            show(&summary.remission_rate_pct)
        ));
    }
    csv.push_str(
        "section,pseudonym,plan_started_week,week_1,week_4,week_8,end_of_induction,days_to_response,sessions_given\n",
    );
    for row in &report.rows {
        let standings: Vec<&str> = row
            .standings
            .iter()
            .map(|(_, standing)| match standing {
                CheckpointStanding::NotReached => "not_reached",
                CheckpointStanding::NotMeasured => "not_measured",
                CheckpointStanding::Measured { remission: true, .. } => "remission",
                CheckpointStanding::Measured { response: true, .. } => "response",
                CheckpointStanding::Measured { .. } => "no_response",
            })
            .collect();
        csv.push_str(&format!(
            "patient,{},{},{},{},{}\n",
            row.pseudonym,
            row.plan_started_week,
            standings.join(","),
            row.days_to_response.map(|days| days.to_string()).unwrap_or_default(),
            row.sessions_given
        ));
    }
    csv
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> Date {
        text.parse().unwrap()
    }

    fn madrs(points: &[(&str, u8)]) -> ScoreSeries {
        series(OutcomeScale::Madrs, points)
    }

    fn series(scale: OutcomeScale, points: &[(&str, u8)]) -> ScoreSeries {
        let assessments =
            points.iter().map(|(day, total)| Assessment { date: date(day), total: Some(*total) }).collect();
        ScoreSeries::new(scale, assessments).unwrap()
    }

    fn patient(pseudonym: &str, started: &str, series: Vec<ScoreSeries>) -> CohortPatient {
        CohortPatient {
            pseudonym: pseudonym.to_owned(),
            modality: Modality::IvKetamine,
            plan_started_on: date(started),
            first_treatment_date: Some(date(started)),
            induction_ended_on: None,
            series,
            sessions_given: 0,
            sessions_monitored: 0,
            measurements_due: 0,
            measurements_done: 0,
            alert_levels: Vec::new(),
            rems_forms_due: 0,
            rems_forms_on_time: 0,
        }
    }

    /// (name, series, induction end, checkpoint, expected)
    type StandingCase = (&'static str, Vec<ScoreSeries>, Option<&'static str>, Checkpoint, CheckpointStanding);

    #[test]
    fn standing_at_each_checkpoint_follows_the_deciding_scale() {
        let protocol = Protocol::shipped();
        let as_of = date("2026-12-01");
        // (name, series, induction end, checkpoint, expected)
        let measured =
            |decided_by, response, remission| CheckpointStanding::Measured { decided_by, response, remission };
        let cases: Vec<StandingCase> = vec![
            (
                "MADRS halves by week 1: response, not remission (MADRS 15 > 10)",
                vec![madrs(&[("2026-03-01", 30), ("2026-03-08", 15)])],
                None,
                Checkpoint::Week(1),
                measured(OutcomeScale::Madrs, true, false),
            ),
            (
                "MADRS 8 at week 4: remission and response",
                vec![madrs(&[("2026-03-01", 30), ("2026-03-08", 20), ("2026-03-29", 8)])],
                None,
                Checkpoint::Week(4),
                measured(OutcomeScale::Madrs, true, true),
            ),
            (
                "the last assessment is older than the 7-day window: not measured",
                vec![madrs(&[("2026-03-01", 30), ("2026-03-08", 12)])],
                None,
                Checkpoint::Week(4),
                CheckpointStanding::NotMeasured,
            ),
            (
                "an assessment after the checkpoint does not count at it",
                vec![madrs(&[("2026-03-01", 30), ("2026-03-09", 10)])],
                None,
                Checkpoint::Week(1),
                CheckpointStanding::NotMeasured,
            ),
            (
                "MADRS baseline only, PHQ-9 follow-up: PHQ-9 decides",
                vec![
                    madrs(&[("2026-03-01", 30)]),
                    series(OutcomeScale::Phq9, &[("2026-03-01", 20), ("2026-03-29", 4)]),
                ],
                None,
                Checkpoint::Week(4),
                measured(OutcomeScale::Phq9, true, true),
            ),
            (
                "induction not ended: end of induction not reached",
                vec![madrs(&[("2026-03-01", 30), ("2026-03-08", 15)])],
                None,
                Checkpoint::EndOfInduction,
                CheckpointStanding::NotReached,
            ),
            (
                "induction ended on 2026-03-15: counted that day, partial response is no response",
                vec![madrs(&[("2026-03-01", 30), ("2026-03-15", 20)])],
                Some("2026-03-15"),
                Checkpoint::EndOfInduction,
                measured(OutcomeScale::Madrs, false, false),
            ),
            (
                "week 8 still to come on the as-of date",
                vec![madrs(&[("2026-11-20", 30)])],
                None,
                Checkpoint::Week(8),
                CheckpointStanding::NotReached,
            ),
        ];
        let mut failures = Vec::new();
        for (name, series, induction_end, checkpoint, expected) in cases {
            let started = series[0].assessments()[0].date.to_string();
            let mut one = patient("P", &started, series);
            one.induction_ended_on = induction_end.map(date);
            let got = standing_at(&one, checkpoint, as_of, &protocol);
            if got != expected {
                failures.push(format!("{name}: expected {expected:?}, got {got:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn cohort_counts_rates_medians_alerts_and_rems() {
        let protocol = Protocol::shipped();
        let mut first = patient("A", "2026-03-02", vec![madrs(&[("2026-03-02", 30), ("2026-03-09", 14)])]);
        first.modality = Modality::Esketamine;
        first.sessions_given = 4;
        first.sessions_monitored = 5;
        first.measurements_due = 4;
        first.measurements_done = 3;
        first.alert_levels = vec![AlertLevel::Warning, AlertLevel::Warning, AlertLevel::Critical];
        first.rems_forms_due = 4;
        first.rems_forms_on_time = 3;
        let mut second = patient("B", "2026-03-10", vec![madrs(&[("2026-03-10", 30), ("2026-03-17", 25)])]);
        second.modality = Modality::Esketamine;
        second.sessions_given = 2;
        second.sessions_monitored = 1;
        second.measurements_due = 2;
        second.measurements_done = 2;
        second.rems_forms_due = 2;
        second.rems_forms_on_time = 2;
        let outside_period = {
            let mut one = patient("C", "2026-05-01", vec![madrs(&[("2026-05-01", 30)])]);
            one.modality = Modality::Esketamine;
            one
        };
        let other_modality = patient("D", "2026-03-05", vec![madrs(&[("2026-03-05", 30)])]);
        let report = cohort_report(
            Modality::Esketamine,
            date("2026-03-01"),
            date("2026-03-31"),
            date("2026-12-01"),
            &[first, second, outside_period, other_modality],
            &protocol,
        );
        let mut failures = Vec::new();
        let mut check = |what: &str, got: String, expected: &str| {
            if got != expected {
                failures.push(format!("{what}: expected {expected}, got {got}"));
            }
        };
        check("patients", report.patients.to_string(), "2");
        let week_1 = &report.checkpoints[0];
        check("week 1 measured", week_1.measured.to_string(), "2");
        check("week 1 responders", week_1.responders.to_string(), "1");
        check("week 1 response rate", format!("{:?}", week_1.response_rate_pct), "Some(50.0)");
        check("week 1 remission rate", format!("{:?}", week_1.remission_rate_pct), "Some(0.0)");
        check("week 4 measured", report.checkpoints[1].measured.to_string(), "0");
        check("week 4 rate", format!("{:?}", report.checkpoints[1].response_rate_pct), "None");
        check("responders ever", report.responders_ever.to_string(), "1");
        check("median days to response", format!("{:?}", report.median_days_to_response), "Some(7)");
        check("sessions", report.sessions_given.to_string(), "6");
        check("median sessions", format!("{:?}", report.median_sessions_per_patient), "Some(3)");
        check("adherence", format!("{:?}", report.measurement_adherence_pct), "Some(83.3)");
        check("warning per session", format!("{:?}", report.alert_rates[1].per_session), "Some(0.33)");
        check("critical alerts", report.alert_rates[2].alerts.to_string(), "1");
        check("rems on time", format!("{:?}", report.rems_on_time_pct), "Some(83.3)");
        check("first row week", report.rows[0].plan_started_week.clone(), "2026-W10");
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        let csv = cohort_csv(&report);
        assert!(csv.contains("checkpoint,week_1,2,2,1,0,50.0,0.0\n"), "{csv}");
        assert!(csv.contains("patient,A,2026-W10,response,not_measured,not_measured,not_reached,7,4\n"), "{csv}");
    }

    #[test]
    fn median_and_percent_edge_cases() {
        let cases: Vec<(&[i64], Option<Decimal>)> = vec![
            (&[], None),
            (&[5], Some(Decimal::from(5))),
            (&[1, 2], Some(Decimal::new(15, 1))),
            (&[9, 1, 5], Some(Decimal::from(5))),
        ];
        let failures: Vec<String> = cases
            .iter()
            .filter(|(values, expected)| median(values) != *expected)
            .map(|(values, expected)| format!("median of {values:?}: expected {expected:?}, got {:?}", median(values)))
            .collect();
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert_eq!(percent(1, 0), None);
        assert_eq!(percent(2, 3), Some(Decimal::new(667, 1)));
    }
}
