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
