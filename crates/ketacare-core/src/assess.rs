//! One patient case in, one explained decision report out: TRD, staging, eligibility and dose,
//! each with its reasons, the rules version and the protocol SHA-256 (contracts/assess.md).

use std::collections::BTreeSet;

use jiff::civil::Date;
use rust_decimal::Decimal;

use crate::dosing::{
    EsketamineStartResult, IvDoseFacts, IvDoseResult, IvPrescription, esketamine_start_dose, iv_ketamine_dose,
};
use crate::drugs::resolve_drug_name;
use crate::eligibility::{
    ConcomitantMedicine, EligibilityFacts, HistoryCondition, ModalityEligibility, Override, StandardTreatmentWeeks,
    assess_eligibility,
};
use crate::patient::{AgeYears, BloodPressure, HeightCm, Jurisdiction, Modality, SexAtBirth, WeightKg};
use crate::protocol::Protocol;
use crate::scales::{
    CssrsAnswers, CssrsScreen, InvalidScaleAnswers, Scale, ScaleScore, ScalesSettings, Severity, SuicideItemFlag,
    assess_cssrs, score_scale, severity_of_total,
};
use crate::staging::{EpisodeDurationMonths, EpisodeSeverity, StagingAssessment, StagingFacts, assess_staging};
use crate::trd::{TrdAssessment, TrialFacts, assess_trd, is_augmentation_trial};

/// Everything the engine knows about one patient at one date, already validated.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseFacts {
    pub patient_id: Option<String>,
    pub as_of: Date,
    pub modalities: BTreeSet<Modality>,
    pub jurisdiction: Jurisdiction,
    pub age: Option<AgeYears>,
    pub sex_at_birth: Option<SexAtBirth>,
    pub height: Option<HeightCm>,
    pub weight: Option<WeightKg>,
    pub pregnant: Option<bool>,
    pub breastfeeding: Option<bool>,
    pub diagnosis: Option<String>,
    pub episode_duration: Option<EpisodeDurationMonths>,
    pub severity: Option<EpisodeSeverity>,
    pub psychotic_features: Option<bool>,
    pub history: BTreeSet<HistoryCondition>,
    pub concomitant: BTreeSet<ConcomitantMedicine>,
    pub trials: Vec<TrialFacts>,
    pub ect_failed_courses: u32,
    pub ect_bilateral: bool,
    pub bp_readings: Vec<BloodPressure>,
    /// Baseline scales, as totals or item answers.
    pub scales: Vec<(Scale, ScaleEntry)>,
    pub cssrs: Option<CssrsAnswers>,
    pub overrides: Vec<Override>,
}

/// A scale as entered at intake: a total alone, or the item answers (`None` = not answered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScaleEntry {
    Total(u8),
    Items(Vec<Option<u8>>),
}

/// A baseline scale as read for the report.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaleResult {
    pub scale: Scale,
    pub total: Option<u8>,
    pub severity: Option<Severity>,
    /// Set when a missing PHQ-9 item was prorated (KNOWLEDGE §5.1 PROJECT DEFAULT).
    pub prorated: bool,
    /// PHQ-9 item 9 or QIDS-SR16 item 12, for the suicide screen.
    pub suicide_item: Option<SuicideItemFlag>,
    /// Answers that cannot be scored (for example a missing item of a scale without a missing-item rule).
    pub error: Option<InvalidScaleAnswers>,
}

/// The decisions for one case, with the rules version and protocol hash they were made under.
#[derive(Debug, Clone, PartialEq)]
pub struct AssessmentReport {
    pub rules_version: &'static str,
    pub protocol_sha256: String,
    pub patient_id: Option<String>,
    pub as_of: Date,
    pub scales: Vec<ScaleResult>,
    pub cssrs: Option<CssrsScreen>,
    pub trd: TrdAssessment,
    pub staging: StagingAssessment,
    /// One entry per modality asked for, in [`Modality::ALL`] order.
    pub eligibility: Vec<ModalityEligibility>,
    /// `None` when IV ketamine was not asked for.
    pub iv_dose: Option<IvDoseResult>,
    /// `None` when esketamine was not asked for.
    pub esketamine_dose: Option<EsketamineStartResult>,
}

/// Assesses one case under one protocol.
pub fn assess_case(case: &CaseFacts, protocol: &Protocol) -> AssessmentReport {
    let scales: Vec<ScaleResult> =
        case.scales.iter().map(|(scale, entry)| read_scale(*scale, entry, &protocol.scales)).collect();
    let cssrs = case.cssrs.as_ref().map(assess_cssrs);
    let madrs_total = scales.iter().find(|result| result.scale == Scale::Madrs).and_then(|result| result.total);
    let suicide_item_screen_required =
        scales.iter().filter_map(|result| result.suicide_item).any(SuicideItemFlag::screen_required);
    let trd = assess_trd(&case.trials, &protocol.trd);
    let staging = assess_staging(
        &trd,
        &StagingFacts {
            episode_duration: case.episode_duration,
            severity: case.severity,
            psychotic_features: case.psychotic_features,
            madrs_total: madrs_total.map(u32::from),
            ect_failed_courses: case.ect_failed_courses,
            ect_bilateral: case.ect_bilateral,
        },
        &protocol.staging,
    );
    let eligibility_facts = EligibilityFacts {
        age: case.age,
        sex_at_birth: case.sex_at_birth,
        pregnant: case.pregnant,
        breastfeeding: case.breastfeeding,
        psychotic_features: case.psychotic_features,
        history: case.history.clone(),
        concomitant: case.concomitant.clone(),
        bp_readings: case.bp_readings.clone(),
        suicide_item_screen_required,
        cssrs_risk: cssrs.as_ref().map(|screen| screen.risk.clone()),
        overrides: case.overrides.clone(),
    };
    let trd_status = trd.gating_status(protocol.trd.eligibility_definition.value);
    let weeks = standard_treatment_weeks(&case.trials);
    let eligibility = Modality::ALL
        .into_iter()
        .filter(|modality| case.modalities.contains(modality))
        .map(|modality| assess_eligibility(modality, &eligibility_facts, trd_status, weeks, &protocol.eligibility))
        .collect();
    let iv_dose = case.modalities.contains(&Modality::IvKetamine).then(|| {
        iv_ketamine_dose(
            IvDoseFacts { height: case.height, weight: case.weight, sex_at_birth: case.sex_at_birth },
            IvPrescription::standard(&protocol.dosing),
            &protocol.dosing,
        )
    });
    let esketamine_dose = case.modalities.contains(&Modality::Esketamine).then(|| {
        esketamine_start_dose(
            case.age,
            case.jurisdiction,
            protocol.eligibility.older_adult_age_years.value,
            &protocol.dosing,
        )
    });
    AssessmentReport {
        rules_version: crate::RULES_VERSION,
        protocol_sha256: protocol.sha256.clone(),
        patient_id: case.patient_id.clone(),
        as_of: case.as_of,
        scales,
        cssrs,
        trd,
        staging,
        eligibility,
        iv_dose,
        esketamine_dose,
    }
}

/// Weeks of antidepressant-role trials in the current episode, adequate or not, unknown drugs included,
/// augmentation not (assess contract reading 14). An augmentation agent is augmentation whatever its
/// `role` says (lithium without a role is reported `AUGMENTATION_ONLY`, so its weeks do not count either).
pub fn standard_treatment_weeks(trials: &[TrialFacts]) -> StandardTreatmentWeeks {
    let counted = trials.iter().filter(|trial| {
        trial.in_current_episode
            && !is_augmentation_trial(trial.role, resolve_drug_name(&trial.drug_as_written).as_ref())
    });
    let mut known_weeks = Decimal::ZERO;
    let mut trials_without_weeks = 0;
    for trial in counted {
        match trial.weeks_at_dose {
            Some(weeks) => known_weeks += weeks.value(),
            None => trials_without_weeks += 1,
        }
    }
    StandardTreatmentWeeks { known_weeks, trials_without_weeks }
}

/// Reads one baseline scale under the protocol. A total alone cannot show the suicide item: it counts as
/// unknown (screen required) unless the total is 0 (KNOWLEDGE §5.1, §5.3; never a guess).
fn read_scale(scale: Scale, entry: &ScaleEntry, settings: &ScalesSettings) -> ScaleResult {
    let has_suicide_item = matches!(scale, Scale::Phq9 | Scale::QidsSr16);
    match entry {
        ScaleEntry::Total(total) => ScaleResult {
            scale,
            total: Some(*total),
            severity: severity_of_total(scale, *total, settings),
            prorated: false,
            suicide_item: has_suicide_item.then_some(if *total == 0 {
                SuicideItemFlag::Clear { score: 0 }
            } else {
                SuicideItemFlag::Missing
            }),
            error: None,
        },
        ScaleEntry::Items(answers) => match score_scale(scale, answers, settings) {
            Ok(score) => ScaleResult {
                scale,
                total: score.total(),
                severity: score.severity(),
                prorated: matches!(&score, ScaleScore::Phq9(phq9) if phq9.total.is_prorated()),
                suicide_item: match &score {
                    ScaleScore::Phq9(phq9) => Some(phq9.item9),
                    ScaleScore::QidsSr16(qids) => Some(qids.item12),
                    _ => None,
                },
                error: None,
            },
            Err(error) => ScaleResult {
                scale,
                total: None,
                severity: None,
                prorated: false,
                suicide_item: has_suicide_item.then_some(SuicideItemFlag::Missing),
                error: Some(error),
            },
        },
    }
}
