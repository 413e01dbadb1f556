//! Staging through the core's public API: MSM dimensions at their boundaries, the MADRS fallback,
//! Thase–Rush stages and MGH-s (KNOWLEDGE §1.5; assess contract readings 8, 9, 15).

use jiff::civil::date;
use ketacare_core::protocol::Protocol;
use ketacare_core::staging::{EpisodeDurationMonths, EpisodeSeverity, MsmResult, StagingFacts, assess_staging};
use ketacare_core::trd::{Adherence, ImprovementPct, TrialFacts, TrialQuantity, TrialRole, assess_trd};
use rust_decimal::Decimal;

fn failed(drug: &str, dose_mg: i64) -> TrialFacts {
    TrialFacts {
        drug_as_written: drug.to_owned(),
        daily_dose_mg: Some(TrialQuantity::parse_daily_dose_mg(Decimal::from(dose_mg)).unwrap()),
        weeks_at_dose: Some(TrialQuantity::parse_weeks(Decimal::from(8)).unwrap()),
        improvement_pct: Some(ImprovementPct::parse(Decimal::from(10)).unwrap()),
        adherence: Adherence::Adequate,
        role: TrialRole::Antidepressant,
        in_current_episode: true,
        stop_reason: None,
    }
}

const ELEVEN_FAILURES: [(&str, i64); 11] = [
    ("sertraline", 100),
    ("fluoxetine", 20),
    ("venlafaxine", 150),
    ("duloxetine", 60),
    ("mirtazapine", 30),
    ("bupropion", 300),
    ("nortriptyline", 75),
    ("phenelzine", 60),
    ("vortioxetine", 10),
    ("trazodone", 300),
    ("amitriptyline", 150),
];

fn facts(months: &str, severity: Option<EpisodeSeverity>, psychotic: Option<bool>, madrs: Option<u32>) -> StagingFacts {
    StagingFacts {
        episode_duration: Some(EpisodeDurationMonths::parse(months.parse().unwrap()).unwrap()),
        severity,
        psychotic_features: psychotic,
        madrs_total: madrs,
        ect_failed_courses: 0,
        ect_bilateral: false,
    }
}

/// MSM score for `failures` failed agents under `staging_facts`; `None` when not scored.
fn msm(failures: usize, staging_facts: &StagingFacts) -> Option<(u32, &'static str)> {
    let trials: Vec<TrialFacts> = ELEVEN_FAILURES[..failures].iter().map(|(drug, dose)| failed(drug, *dose)).collect();
    let protocol = Protocol::shipped();
    let trd = assess_trd(&trials, &protocol.trd);
    match assess_staging(&trd, staging_facts, &protocol.staging).msm {
        MsmResult::Scored { score, band, .. } => Some((score, band.as_str())),
        _ => None,
    }
}

#[test]
fn msm_dimensions_at_their_boundaries() {
    use EpisodeSeverity::*;
    let moderate = |months: &str| facts(months, Some(Moderate), Some(false), None);
    // Duration: ≤12 → 1, ≤24 → 2, >24 → 3 (fractional months PROJECT DEFAULT).
    assert_eq!(msm(2, &moderate("12")), Some((5, "mild")));
    assert_eq!(msm(2, &moderate("12.5")), Some((6, "mild")));
    assert_eq!(msm(2, &moderate("24")), Some((6, "mild")));
    assert_eq!(msm(2, &moderate("24.5")), Some((7, "moderate")));
    // Failure levels: 1–2, 3–4, 5–6, 7–10, >10.
    let levels: Vec<Option<(u32, &str)>> =
        [1, 2, 3, 4, 5, 6, 7, 10, 11].iter().map(|n| msm(*n, &moderate("6"))).collect();
    let scores: Vec<u32> = levels.iter().map(|level| level.unwrap().0).collect();
    assert_eq!(scores, [5, 5, 6, 6, 7, 7, 8, 8, 9]);
    // No failure: outside the model.
    assert_eq!(msm(0, &moderate("6")), None);
    // Severity: 5 only for severe with psychosis (reading 15).
    assert_eq!(msm(1, &facts("6", Some(Severe), Some(true), None)), Some((7, "moderate")));
    assert_eq!(msm(1, &facts("6", Some(Severe), Some(false), None)), Some((6, "mild")));
    assert_eq!(msm(1, &facts("6", Some(Moderate), Some(true), None)), Some((5, "mild")));
    assert_eq!(msm(1, &facts("6", Some(Subsyndromal), Some(false), None)), Some((3, "mild")));
    assert_eq!(msm(1, &facts("6", Some(Severe), None, None)), None);
    // MADRS fallback (KNOWLEDGE §1.5.1): 7–19 mild, 20–34 moderate, ≥35 severe, below 7 no band.
    let fallback = |madrs: u32| msm(1, &facts("6", None, Some(false), Some(madrs))).map(|(score, _)| score);
    assert_eq!([6, 7, 19, 20, 34, 35].map(fallback), [None, Some(4), Some(4), Some(5), Some(5), Some(6)]);
    // The highest possible score: 3 + 5 + 5 + 1 + 1 = 15 (severe).
    let mut worst = facts("30", Some(Severe), Some(true), None);
    worst.ect_failed_courses = 1;
    let mut trials: Vec<TrialFacts> = ELEVEN_FAILURES.iter().map(|(drug, dose)| failed(drug, *dose)).collect();
    let mut lithium = failed("lithium", 900);
    lithium.role = TrialRole::Augmentation;
    trials.push(lithium);
    let protocol = Protocol::shipped();
    let trd = assess_trd(&trials, &protocol.trd);
    let staged = assess_staging(&trd, &worst, &protocol.staging);
    assert!(matches!(staged.msm, MsmResult::Scored { score: 15, .. }), "{:?}", staged.msm);
    assert_eq!(staged.mgh_s.score, Decimal::from(11) + Decimal::new(5, 1) + Decimal::from(3));
}

#[test]
fn episode_duration_in_completed_calendar_months() {
    let months = |onset, as_of| EpisodeDurationMonths::from_onset(onset, as_of).unwrap().months();
    assert_eq!(months(date(2025, 11, 28), date(2026, 11, 28)), Decimal::from(12));
    assert_eq!(months(date(2025, 11, 29), date(2026, 11, 28)), Decimal::from(11));
    assert_eq!(months(date(2026, 1, 31), date(2026, 2, 28)), Decimal::from(0));
    assert!(EpisodeDurationMonths::from_onset(date(2026, 12, 1), date(2026, 11, 28)).is_err());
}

#[test]
fn thase_rush_stages() {
    let stage = |drugs: &[(&str, i64)], bilateral_ect: bool| {
        let trials: Vec<TrialFacts> = drugs.iter().map(|(drug, dose)| failed(drug, *dose)).collect();
        let protocol = Protocol::shipped();
        let trd = assess_trd(&trials, &protocol.trd);
        let mut staging_facts = facts("6", Some(EpisodeSeverity::Moderate), Some(false), None);
        staging_facts.ect_failed_courses = u32::from(bilateral_ect);
        staging_facts.ect_bilateral = bilateral_ect;
        assess_staging(&trd, &staging_facts, &protocol.staging).thase_rush.stage
    };
    let ssri = ("sertraline", 100);
    let ssri2 = ("fluoxetine", 20);
    let snri = ("venlafaxine", 150);
    let other = ("bupropion", 300);
    let tca = ("nortriptyline", 75);
    let maoi = ("phenelzine", 60);
    assert_eq!(stage(&[], false), 0);
    assert_eq!(stage(&[ssri, ssri2], false), 1);
    assert_eq!(stage(&[ssri, snri], false), 2);
    assert_eq!(stage(&[ssri, tca], false), 2);
    assert_eq!(stage(&[ssri, snri, tca], false), 3);
    assert_eq!(stage(&[ssri, other, tca], false), 3);
    assert_eq!(stage(&[ssri, snri, tca, maoi], false), 4);
    assert_eq!(stage(&[ssri, snri, maoi], false), 2);
    assert_eq!(stage(&[ssri, snri, tca, maoi], true), 5);
    assert_eq!(stage(&[ssri, snri, tca], true), 3);
}
