//! One patient case in, one explained decision report out: TRD, staging, eligibility and dose,
//! each with its reasons, the rules version and the protocol SHA-256 (contracts/assess.md).

use std::collections::BTreeSet;

use jiff::civil::Date;
use rust_decimal::Decimal;

use crate::dosing::{
    EsketamineStartResult, IvDoseFacts, IvDoseResult, IvPrescription, esketamine_start_dose, iv_ketamine_dose,
};
use crate::eligibility::{
    ConcomitantMedicine, EligibilityFacts, HistoryCondition, ModalityEligibility, Override, StandardTreatmentWeeks,
    SuicideRisk, assess_eligibility,
};
use crate::patient::{AgeYears, BloodPressure, HeightCm, Jurisdiction, Modality, SexAtBirth, WeightKg};
use crate::protocol::Protocol;
use crate::staging::{EpisodeDurationMonths, EpisodeSeverity, StagingAssessment, StagingFacts, assess_staging};
use crate::trd::{TrdAssessment, TrialFacts, TrialRole, assess_trd};

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
    pub madrs_total: Option<u32>,
    pub phq9_item9: Option<u8>,
    pub qids_item12: Option<u8>,
    pub cssrs_risk: Option<SuicideRisk>,
    pub overrides: Vec<Override>,
}

/// The decisions for one case, with the rules version and protocol hash they were made under.
#[derive(Debug, Clone, PartialEq)]
pub struct AssessmentReport {
    pub rules_version: &'static str,
    pub protocol_sha256: String,
    pub patient_id: Option<String>,
    pub as_of: Date,
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
    let trd = assess_trd(&case.trials, &protocol.trd);
    let staging = assess_staging(
        &trd,
        &StagingFacts {
            episode_duration: case.episode_duration,
            severity: case.severity,
            psychotic_features: case.psychotic_features,
            madrs_total: case.madrs_total,
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
        phq9_item9: case.phq9_item9,
        qids_item12: case.qids_item12,
        cssrs_risk: case.cssrs_risk,
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
        trd,
        staging,
        eligibility,
        iv_dose,
        esketamine_dose,
    }
}

/// Weeks of antidepressant-role trials in the current episode, adequate or not, unknown drugs included,
/// augmentation not (assess contract reading 14).
pub fn standard_treatment_weeks(trials: &[TrialFacts]) -> StandardTreatmentWeeks {
    let counted = trials.iter().filter(|trial| trial.role == TrialRole::Antidepressant && trial.in_current_episode);
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
