//! TRD staging: Maudsley (MSM), Thase–Rush and MGH-s (KNOWLEDGE §1.5; assess contract readings 8, 9, 15).

use std::collections::BTreeSet;

use jiff::civil::Date;
use rust_decimal::Decimal;

use crate::drugs::{DrugClass, ThaseRushGroup};
use crate::protocol::{InvalidProtocol, SectionReader, Setting};
use crate::trd::{TrdAssessment, TrialReason};

/// The `[staging]` section of the site protocol.
#[derive(Debug, Clone, PartialEq)]
pub struct StagingSettings {
    pub msm_madrs_mild_from: Setting<i64>,
    pub msm_madrs_moderate_from: Setting<i64>,
    pub msm_madrs_severe_from: Setting<i64>,
}

impl StagingSettings {
    pub(crate) fn read(mut section: SectionReader) -> Result<Self, InvalidProtocol> {
        let settings = StagingSettings {
            msm_madrs_mild_from: section.take_integer_in("msm_madrs_mild_from", 0, 60)?,
            msm_madrs_moderate_from: section.take_integer_in("msm_madrs_moderate_from", 0, 60)?,
            msm_madrs_severe_from: section.take_integer_in("msm_madrs_severe_from", 0, 60)?,
        };
        if !(settings.msm_madrs_mild_from.value < settings.msm_madrs_moderate_from.value
            && settings.msm_madrs_moderate_from.value < settings.msm_madrs_severe_from.value)
        {
            return Err(InvalidProtocol::new(
                "staging.msm_madrs_moderate_from",
                "MADRS bands must increase: mild < moderate < severe",
            ));
        }
        section.finish()?;
        Ok(settings)
    }
}

/// The DSM severity specifier of the current episode, as entered by a clinician.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EpisodeSeverity {
    Subsyndromal,
    Mild,
    Moderate,
    Severe,
}

/// How long the current episode has lasted, in months (completed calendar months from an onset
/// date, or a clinician-entered number that may be fractional).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct EpisodeDurationMonths(Decimal);

impl EpisodeDurationMonths {
    pub fn parse(months: Decimal) -> Result<Self, InvalidEpisodeDuration> {
        if months < Decimal::ZERO || months > Decimal::from(1200) {
            return Err(InvalidEpisodeDuration { got: months });
        }
        Ok(EpisodeDurationMonths(months))
    }

    /// Completed calendar months from `onset` to `as_of` (assess contract reading 8:
    /// an onset of 2025-11-28 is 12 months on 2026-11-28).
    pub fn from_onset(onset: Date, as_of: Date) -> Result<Self, InvalidEpisodeDuration> {
        if onset > as_of {
            return Err(InvalidEpisodeDuration { got: Decimal::NEGATIVE_ONE });
        }
        let span =
            onset.until((jiff::Unit::Month, as_of)).map_err(|_| InvalidEpisodeDuration { got: Decimal::from(-1) })?;
        EpisodeDurationMonths::parse(Decimal::from(span.get_months()))
    }

    pub fn months(self) -> Decimal {
        self.0
    }
}

/// An episode duration that is negative (onset after the assessment) or implausibly long.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be between 0 and 1200 months, got {got}")]
pub struct InvalidEpisodeDuration {
    pub got: Decimal,
}

/// What staging needs beyond the TRD judgement.
#[derive(Debug, Clone, PartialEq)]
pub struct StagingFacts {
    pub episode_duration: Option<EpisodeDurationMonths>,
    pub severity: Option<EpisodeSeverity>,
    pub psychotic_features: Option<bool>,
    /// MADRS total at baseline, for the severity fallback of KNOWLEDGE §1.5.1.
    pub madrs_total: Option<u32>,
    pub ect_failed_courses: u32,
    pub ect_bilateral: bool,
}

/// MSM total band (KNOWLEDGE §1.5.1: mild 3–6, moderate 7–10, severe 11–15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsmBand {
    Mild,
    Moderate,
    Severe,
}

impl MsmBand {
    pub fn as_str(self) -> &'static str {
        match self {
            MsmBand::Mild => "mild",
            MsmBand::Moderate => "moderate",
            MsmBand::Severe => "severe",
        }
    }
}

/// The points of each MSM dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsmPoints {
    pub duration: u32,
    pub severity: u32,
    pub failures: u32,
    pub augmentation: u32,
    pub ect: u32,
}

/// The Maudsley Staging Method result.
#[derive(Debug, Clone, PartialEq)]
pub enum MsmResult {
    Scored {
        score: u32,
        band: MsmBand,
        points: MsmPoints,
        /// Set when severity came from the MADRS fallback heuristic rather than clinician entry.
        severity_from_madrs: bool,
    },
    /// No antidepressant failure: outside the model (KNOWLEDGE §1.5.1 PROJECT DEFAULT).
    NotApplicable,
    Indeterminate {
        missing: Vec<String>,
    },
}

/// The Thase–Rush stage (KNOWLEDGE §1.5.2; assess contract readings 9, 15).
#[derive(Debug, Clone, PartialEq)]
pub struct ThaseRushResult {
    pub stage: u32,
    /// True when open trials could raise the stage once their missing data is known.
    pub provisional: bool,
}

/// The MGH-s score (KNOWLEDGE §1.5.4).
#[derive(Debug, Clone, PartialEq)]
pub struct MghStagingResult {
    pub score: Decimal,
    pub provisional: bool,
}

/// All three staging results.
#[derive(Debug, Clone, PartialEq)]
pub struct StagingAssessment {
    pub msm: MsmResult,
    pub thase_rush: ThaseRushResult,
    pub mgh_s: MghStagingResult,
}

/// Stages the case with MSM, Thase–Rush and MGH-s.
pub fn assess_staging(trd: &TrdAssessment, facts: &StagingFacts, settings: &StagingSettings) -> StagingAssessment {
    StagingAssessment {
        msm: maudsley(trd, facts, settings),
        thase_rush: thase_rush(trd, facts),
        mgh_s: mgh_staging(trd, facts),
    }
}

fn augmentation_failed_count(trd: &TrdAssessment) -> (usize, usize) {
    let failed = trd.trials.iter().filter(|trial| trial.augmentation_failed == Some(true)).count();
    let open = trd
        .trials
        .iter()
        .filter(|trial| trial.reasons.contains(&TrialReason::AugmentationOnly) && trial.augmentation_failed.is_none())
        .count();
    (failed, open)
}

fn maudsley(trd: &TrdAssessment, facts: &StagingFacts, settings: &StagingSettings) -> MsmResult {
    let mut missing = Vec::new();
    let failures = trd.label.failed_agents.len();
    if !trd.label.open_agents.is_empty() {
        for (index, trial) in trd.trials.iter().enumerate() {
            if trial.failed.is_none() && trial.drug.is_some() {
                missing.extend(trial.missing.iter().map(|field| format!("trials[{index}].{field}")));
            }
        }
    }
    if failures == 0 && missing.is_empty() {
        return MsmResult::NotApplicable;
    }
    // KNOWLEDGE §1.5.1: ≤12 → 1, 12 < m ≤ 24 → 2, > 24 → 3 (fractional months: PROJECT DEFAULT).
    let duration = match facts.episode_duration {
        Some(months) if months.months() <= Decimal::from(12) => 1,
        Some(months) if months.months() <= Decimal::from(24) => 2,
        Some(_) => 3,
        None => {
            missing.push("episode.onset_date or episode.duration_months".to_owned());
            0
        }
    };
    let mut severity_from_madrs = false;
    let severity = match facts.severity.or_else(|| {
        severity_from_madrs = true;
        facts.madrs_total.and_then(|total| madrs_fallback_severity(total, settings))
    }) {
        None => {
            missing.push("episode.severity (or a MADRS total of at least the mild band)".to_owned());
            0
        }
        Some(EpisodeSeverity::Subsyndromal) => 1,
        Some(EpisodeSeverity::Mild) => 2,
        Some(EpisodeSeverity::Moderate) => 3,
        // Reading 15: 5 only for severe with psychotic features.
        Some(EpisodeSeverity::Severe) => match facts.psychotic_features {
            Some(true) => 5,
            Some(false) => 4,
            None => {
                missing.push("episode.psychotic_features".to_owned());
                0
            }
        },
    };
    // KNOWLEDGE §1.5.1 treatment-failure levels: 1–2 → 1, 3–4 → 2, 5–6 → 3, 7–10 → 4, >10 → 5.
    let failure_points = match failures {
        0 => 0,
        1..=2 => 1,
        3..=4 => 2,
        5..=6 => 3,
        7..=10 => 4,
        _ => 5,
    };
    let (augmentation_failed, augmentation_open) = augmentation_failed_count(trd);
    if augmentation_failed == 0 && augmentation_open > 0 {
        missing.push("improvement_pct of an augmentation trial".to_owned());
    }
    if !missing.is_empty() {
        return MsmResult::Indeterminate { missing };
    }
    let points = MsmPoints {
        duration,
        severity,
        failures: failure_points,
        // Reading 8: augmentation counts when it failed under the same threshold; ECT when ≥1 failed course.
        augmentation: u32::from(augmentation_failed > 0),
        ect: u32::from(facts.ect_failed_courses >= 1),
    };
    let score = points.duration + points.severity + points.failures + points.augmentation + points.ect;
    // KNOWLEDGE §1.5.1: mild 3–6, moderate 7–10, severe 11–15.
    let band = match score {
        0..=6 => MsmBand::Mild,
        7..=10 => MsmBand::Moderate,
        _ => MsmBand::Severe,
    };
    MsmResult::Scored { score, band, points, severity_from_madrs: severity_from_madrs && facts.severity.is_none() }
}

/// KNOWLEDGE §1.5.1 fallback: MADRS 7–19 mild, 20–34 moderate, ≥35 severe (Snaith, §5.2); below 7 no band.
fn madrs_fallback_severity(total: u32, settings: &StagingSettings) -> Option<EpisodeSeverity> {
    let total = i64::from(total);
    if total >= settings.msm_madrs_severe_from.value {
        Some(EpisodeSeverity::Severe)
    } else if total >= settings.msm_madrs_moderate_from.value {
        Some(EpisodeSeverity::Moderate)
    } else if total >= settings.msm_madrs_mild_from.value {
        Some(EpisodeSeverity::Mild)
    } else {
        None
    }
}

fn thase_rush(trd: &TrdAssessment, facts: &StagingFacts) -> ThaseRushResult {
    let groups: BTreeSet<ThaseRushGroup> =
        trd.definite_failures().filter_map(|trial| trial.class()).map(DrugClass::thase_rush_group).collect();
    let provisional = trd.open_trials().next().is_some();
    let other_than_tca_and_maoi =
        groups.iter().filter(|group| !matches!(group, ThaseRushGroup::Tca | ThaseRushGroup::Maoi)).count();
    let stage_three = other_than_tca_and_maoi >= 2 && groups.contains(&ThaseRushGroup::Tca);
    let stage_four = stage_three && groups.contains(&ThaseRushGroup::Maoi);
    let stage_five = stage_four && facts.ect_bilateral && facts.ect_failed_courses >= 1;
    let stage = if stage_five {
        5
    } else if stage_four {
        4
    } else if stage_three {
        3
    } else if groups.len() >= 2 {
        2
    } else if groups.len() == 1 {
        1
    } else {
        0
    };
    ThaseRushResult { stage, provisional }
}

fn mgh_staging(trd: &TrdAssessment, facts: &StagingFacts) -> MghStagingResult {
    // KNOWLEDGE §1.5.4: 1 per adequate failed trial, 0.5 per augmentation, 3 for ECT.
    // Dose optimisation (0.5 per trial) is not recorded in the case and scores nothing.
    let failed_trials = Decimal::from(trd.definite_failures().count());
    let (augmentation_failed, augmentation_open) = augmentation_failed_count(trd);
    let augmentation = Decimal::new(5, 1) * Decimal::from(augmentation_failed);
    let ect = if facts.ect_failed_courses >= 1 { Decimal::from(3) } else { Decimal::ZERO };
    MghStagingResult {
        score: failed_trials + augmentation + ect,
        provisional: trd.open_trials().next().is_some() || augmentation_open > 0,
    }
}
