//! Course evaluation over dated scale totals: status and the recommendation the protocol implies
//! (KNOWLEDGE §3.4, §3.5, §5.10).

use jiff::civil::{Date, date};
use ketacare_core::course::{CoursePhase, evaluate_course};
use ketacare_core::outcomes::{Assessment, OutcomeScale, ScoreSeries};
use ketacare_core::protocol::Protocol;

const INDUCTION: CoursePhase = CoursePhase::Induction { complete: false };
const END_OF_INDUCTION: CoursePhase = CoursePhase::Induction { complete: true };
const MAINTENANCE: CoursePhase = CoursePhase::Maintenance;

fn day(offset: i64) -> Date {
    date(2026, 9, 1).checked_add(jiff::Span::new().days(offset)).unwrap()
}

/// `(day offset, total)` pairs; the first treatment is on day 0.
fn check(scale: OutcomeScale, totals: &[(i64, u8)], phase: CoursePhase, expected: (&str, &str)) {
    let assessments =
        totals.iter().map(|(offset, total)| Assessment { date: day(*offset), total: Some(*total) }).collect();
    let series = ScoreSeries::new(scale, assessments).unwrap();
    let evaluation = evaluate_course(&series, Some(day(0)), phase, &Protocol::shipped());
    assert_eq!(
        (evaluation.status.as_str(), evaluation.recommendation.as_str()),
        expected,
        "{totals:?} in {phase:?}: {:?}",
        evaluation.reasons
    );
    assert!(evaluation.source.starts_with("clinical-reference"));
}

#[test]
fn response_thresholds() {
    let madrs = OutcomeScale::Madrs;
    check(madrs, &[(0, 30), (14, 15)], END_OF_INDUCTION, ("response", "continue"));
    check(madrs, &[(0, 30), (14, 16)], END_OF_INDUCTION, ("partial_response", "reassess"));
    check(madrs, &[(0, 30), (14, 22)], END_OF_INDUCTION, ("partial_response", "reassess"));
    check(madrs, &[(0, 30), (14, 23)], END_OF_INDUCTION, ("non_response", "reassess"));
    check(madrs, &[(0, 30), (14, 10)], END_OF_INDUCTION, ("remission", "continue"));
    check(madrs, &[(0, 30), (14, 11)], END_OF_INDUCTION, ("response", "continue"));
    check(madrs, &[(0, 30), (7, 28)], INDUCTION, ("non_response", "continue"));
}

#[test]
fn maintenance_decisions() {
    let phq9 = OutcomeScale::Phq9;
    // Remission at 3 of the last 4 assessments is sustained: taper.
    check(phq9, &[(0, 20), (14, 4), (21, 3), (28, 6), (35, 4)], MAINTENANCE, ("sustained_remission", "taper"));
    check(phq9, &[(0, 20), (14, 6), (21, 8), (28, 4)], MAINTENANCE, ("remission", "continue"));
    check(phq9, &[(0, 20), (14, 9)], MAINTENANCE, ("response", "continue"));
    // Worsening after a response: back to a more frequent schedule (KNOWLEDGE §3.5).
    check(phq9, &[(0, 20), (14, 8), (42, 16)], MAINTENANCE, ("lost_response", "return_to_more_frequent_schedule"));
    check(phq9, &[(0, 20), (14, 16)], MAINTENANCE, ("non_response", "reassess"));
}

#[test]
fn a_madrs_relapse_returns_to_a_more_frequent_schedule() {
    let madrs = OutcomeScale::Madrs;
    let course = [(0, 34), (14, 14), (28, 8), (60, 24), (67, 25)];
    check(madrs, &course, MAINTENANCE, ("relapse", "return_to_more_frequent_schedule"));
    // Two qualifying assessments 16 days apart are not a relapse (KNOWLEDGE §5.10: 5-15 days).
    check(
        madrs,
        &[(0, 34), (14, 14), (28, 8), (60, 24), (76, 25)],
        MAINTENANCE,
        ("lost_response", "return_to_more_frequent_schedule"),
    );
}

#[test]
fn a_series_without_follow_up_is_indeterminate() {
    check(OutcomeScale::Madrs, &[(0, 30)], MAINTENANCE, ("indeterminate", "none"));
}

/// The course on every scale: `(case, series as (scale, [(day, total)]), primary scale, phase, expected
/// (status, recommendation, decided_by, per-scale statuses))`; every failing case is reported.
#[test]
fn the_course_on_every_scale_is_decided_by_the_primary_else_the_first_scale_that_can() {
    use OutcomeScale::{Hamd17, Madrs, Phq9, QidsSr16};
    use ketacare_core::course::evaluate_course_on_scales;
    type Series = Vec<(OutcomeScale, Vec<(i64, u8)>)>;
    /// (status, recommendation, decided_by, per-scale statuses)
    type Expected = (&'static str, &'static str, Option<&'static str>, &'static str);
    let cases: Vec<(&str, Series, OutcomeScale, CoursePhase, Expected)> = vec![
        (
            "a MADRS baseline without follow-up no longer hides falling PHQ-9s",
            vec![(Madrs, vec![(0, 32)]), (Phq9, vec![(0, 20), (14, 9), (21, 8)])],
            Madrs,
            END_OF_INDUCTION,
            ("response", "continue", Some("phq9"), "madrs=indeterminate phq9=response"),
        ),
        (
            "the primary decides when it can, the others beside it",
            vec![(Madrs, vec![(0, 32), (21, 20)]), (Phq9, vec![(0, 20), (14, 9), (21, 4)])],
            Madrs,
            END_OF_INDUCTION,
            ("partial_response", "reassess", Some("madrs"), "madrs=partial_response phq9=remission"),
        ),
        (
            "the protocol may name PHQ-9 the primary scale",
            vec![(Madrs, vec![(0, 32), (21, 20)]), (Phq9, vec![(0, 20), (14, 9), (21, 4)])],
            Phq9,
            END_OF_INDUCTION,
            ("remission", "continue", Some("phq9"), "phq9=remission madrs=partial_response"),
        ),
        (
            "QIDS-SR16 decides when MADRS and PHQ-9 cannot",
            vec![(Madrs, vec![(0, 32)]), (Phq9, vec![(0, 20)]), (QidsSr16, vec![(0, 18), (14, 5)])],
            Madrs,
            MAINTENANCE,
            ("remission", "continue", Some("qids_sr16"), "madrs=indeterminate phq9=indeterminate qids_sr16=remission"),
        ),
        (
            "a PHQ-9 relapse (>=10 twice 5-15 days apart after remission) when MADRS cannot decide",
            vec![(Madrs, vec![(0, 32)]), (Phq9, vec![(0, 20), (14, 4), (28, 12), (35, 14)])],
            Madrs,
            MAINTENANCE,
            ("relapse", "return_to_more_frequent_schedule", Some("phq9"), "madrs=indeterminate phq9=relapse"),
        ),
        (
            "a QIDS-SR16 relapse (>=11)",
            vec![(QidsSr16, vec![(0, 18), (14, 5), (28, 11), (35, 12)])],
            Madrs,
            MAINTENANCE,
            ("relapse", "return_to_more_frequent_schedule", Some("qids_sr16"), "qids_sr16=relapse"),
        ),
        (
            "no scale can decide: indeterminate, nothing decided it",
            vec![(Madrs, vec![(0, 32)]), (Phq9, vec![(0, 20)])],
            Madrs,
            MAINTENANCE,
            ("indeterminate", "none", None, "madrs=indeterminate phq9=indeterminate"),
        ),
        (
            "HAM-D17 counts too, last in line",
            vec![(Hamd17, vec![(0, 24), (21, 7)])],
            Madrs,
            MAINTENANCE,
            ("remission", "continue", Some("hamd17"), "hamd17=remission"),
        ),
    ];
    let mut failures = Vec::new();
    for (name, series, primary, phase, expected) in cases {
        let mut protocol = Protocol::shipped();
        protocol.outcomes.primary_scale.value = primary;
        let series: Vec<ScoreSeries> = series
            .into_iter()
            .map(|(scale, totals)| {
                let assessments = totals
                    .iter()
                    .map(|(offset, total)| Assessment { date: day(*offset), total: Some(*total) })
                    .collect();
                ScoreSeries::new(scale, assessments).unwrap()
            })
            .collect();
        let course = evaluate_course_on_scales(&series, Some(day(0)), phase, &protocol);
        let per_scale: Vec<String> = course
            .scales
            .iter()
            .map(|evaluation| format!("{}={}", evaluation.outcomes.scale.code(), evaluation.status.as_str()))
            .collect();
        let got = (
            course.status.as_str(),
            course.recommendation.as_str(),
            course.decided_by.map(OutcomeScale::code),
            per_scale.join(" "),
        );
        let expected = (expected.0, expected.1, expected.2, expected.3.to_owned());
        if got != expected {
            failures.push(format!("{name}: got {got:?}, expected {expected:?} ({:?})", course.reasons));
        }
        if let Some(decided_by) = course.decided_by
            && !course.reasons[0].contains(ketacare_core::course::scale_name(decided_by))
        {
            failures.push(format!("{name}: the first reason does not name the deciding scale: {:?}", course.reasons));
        }
        if course.decided_by.is_none() && course.status.as_str() == "indeterminate" {
            let ketacare_core::course::CourseStatus::Indeterminate { missing } = &course.status else { unreachable!() };
            if !missing.iter().any(|what| what.contains("MADRS")) || !missing.iter().any(|what| what.contains("PHQ-9"))
            {
                failures.push(format!("{name}: every scale's missing data should be listed: {missing:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{} failing case(s):\n{}", failures.len(), failures.join("\n"));
}
