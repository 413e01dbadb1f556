//! Treatment-resistant depression: per-trial adequacy with reason codes, and TRD under the label
//! and the distinct-classes definitions (KNOWLEDGE §1.1–§1.3, §1.6; assess contract readings 4–7).

use std::collections::BTreeSet;
use std::str::FromStr;

use rust_decimal::Decimal;

use crate::drugs::{DrugClass, DrugRole, ResolvedDrug, closely_related_partner, resolve_drug_name};
use crate::protocol::{InvalidProtocol, SectionReader, Setting};

/// How much improvement still counts as a failed trial (KNOWLEDGE §1.1 CONFLICT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureThreshold {
    /// improvement < 50 % (clinical non-response; PROJECT DEFAULT)
    Lt50,
    /// improvement ≤ 25 % (Spravato Phase 3)
    Le25,
    /// improvement < 25 % (Delphi 2022)
    Lt25,
}

impl FromStr for FailureThreshold {
    type Err = ();
    fn from_str(word: &str) -> Result<Self, ()> {
        match word {
            "lt50" => Ok(FailureThreshold::Lt50),
            "le25" => Ok(FailureThreshold::Le25),
            "lt25" => Ok(FailureThreshold::Lt25),
            _ => Err(()),
        }
    }
}

/// Which TRD definition gates eligibility (KNOWLEDGE §1.1 PROJECT DEFAULT: distinct classes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrdDefinition {
    Label,
    DistinctClasses,
}

impl FromStr for TrdDefinition {
    type Err = ();
    fn from_str(word: &str) -> Result<Self, ()> {
        match word {
            "label" => Ok(TrdDefinition::Label),
            "distinct_classes" => Ok(TrdDefinition::DistinctClasses),
            _ => Err(()),
        }
    }
}

/// The `[trd]` section of the site protocol.
#[derive(Debug, Clone, PartialEq)]
pub struct TrdSettings {
    pub failure_threshold: Setting<FailureThreshold>,
    pub min_weeks_at_adequate_dose: Setting<i64>,
    pub eligibility_definition: Setting<TrdDefinition>,
}

impl TrdSettings {
    pub(crate) fn read(mut section: SectionReader) -> Result<Self, InvalidProtocol> {
        let settings = TrdSettings {
            failure_threshold: section.take_choice("failure_threshold", &["lt50", "le25", "lt25"])?,
            // KNOWLEDGE §1.3: configurable 4–8 weeks.
            min_weeks_at_adequate_dose: section.take_integer_in("min_weeks_at_adequate_dose", 4, 8)?,
            eligibility_definition: section.take_choice("eligibility_definition", &["distinct_classes", "label"])?,
        };
        section.finish()?;
        Ok(settings)
    }
}

/// The reason codes a trial carries (assess contract readings 4–6; KNOWLEDGE §1.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TrialReason {
    OutsideEpisode,
    UnknownDrug,
    DoseBelowMin,
    DurationShort,
    Adherence,
    Responded,
    AugmentationOnly,
    MissingData,
    /// A warning only: the trial still counts (KNOWLEDGE §1.2 enantiomer / metabolite pairs).
    CloselyRelated,
}

impl TrialReason {
    pub fn code(self) -> &'static str {
        match self {
            TrialReason::OutsideEpisode => "OUTSIDE_EPISODE",
            TrialReason::UnknownDrug => "UNKNOWN_DRUG",
            TrialReason::DoseBelowMin => "DOSE_BELOW_MIN",
            TrialReason::DurationShort => "DURATION_SHORT",
            TrialReason::Adherence => "ADHERENCE",
            TrialReason::Responded => "RESPONDED",
            TrialReason::AugmentationOnly => "AUGMENTATION_ONLY",
            TrialReason::MissingData => "MISSING_DATA",
            TrialReason::CloselyRelated => "CLOSELY_RELATED",
        }
    }

    /// Every reason code, in report order.
    pub const ALL: [TrialReason; 9] = [
        TrialReason::OutsideEpisode,
        TrialReason::UnknownDrug,
        TrialReason::DoseBelowMin,
        TrialReason::DurationShort,
        TrialReason::Adherence,
        TrialReason::Responded,
        TrialReason::AugmentationOnly,
        TrialReason::MissingData,
        TrialReason::CloselyRelated,
    ];
}

/// Documented adherence during a trial (KNOWLEDGE §1.3: adequate only when documented as adequate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adherence {
    Adequate,
    Inadequate,
    Unknown,
}

/// Whether a trial was an antidepressant or an augmentation of one (KNOWLEDGE §1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrialRole {
    Antidepressant,
    Augmentation,
}

/// A percentage of improvement from the trial's baseline: at most 100; negative means worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ImprovementPct(Decimal);

impl ImprovementPct {
    pub fn parse(value: Decimal) -> Result<Self, InvalidTrial> {
        if value > Decimal::ONE_HUNDRED {
            return Err(InvalidTrial::ImprovementAbove100 { got: value });
        }
        Ok(ImprovementPct(value))
    }

    pub fn value(self) -> Decimal {
        self.0
    }
}

/// A positive quantity of a trial (daily dose in mg, weeks held).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TrialQuantity(Decimal);

impl TrialQuantity {
    /// A daily dose: strictly positive.
    pub fn parse_daily_dose_mg(value: Decimal) -> Result<Self, InvalidTrial> {
        if value <= Decimal::ZERO {
            return Err(InvalidTrial::NotPositive { got: value });
        }
        Ok(TrialQuantity(value))
    }

    /// Weeks held: zero or more, at most 520 (ten years).
    pub fn parse_weeks(value: Decimal) -> Result<Self, InvalidTrial> {
        if value < Decimal::ZERO || value > Decimal::from(520) {
            return Err(InvalidTrial::WeeksOutOfRange { got: value });
        }
        Ok(TrialQuantity(value))
    }

    pub fn value(self) -> Decimal {
        self.0
    }
}

/// A trial value outside its range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidTrial {
    #[error("must be at most 100, got {got}")]
    ImprovementAbove100 { got: Decimal },
    #[error("must be a positive number, got {got}")]
    NotPositive { got: Decimal },
    #[error("must be between 0 and 520, got {got}")]
    WeeksOutOfRange { got: Decimal },
}

/// One antidepressant or augmentation trial as recorded at intake.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialFacts {
    /// The drug as written ("Lexapro", "venlafaxine XR").
    pub drug_as_written: String,
    pub daily_dose_mg: Option<TrialQuantity>,
    pub weeks_at_dose: Option<TrialQuantity>,
    pub improvement_pct: Option<ImprovementPct>,
    pub adherence: Adherence,
    pub role: TrialRole,
    pub in_current_episode: bool,
    pub stop_reason: Option<String>,
}

/// The judgement of one trial.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialAssessment {
    pub drug_as_written: String,
    /// `None` when the drug is not in the knowledge base.
    pub drug: Option<ResolvedDrug>,
    /// `None` when missing data leaves adequacy open.
    pub adequate: Option<bool>,
    /// `None` when missing data leaves failure open.
    pub failed: Option<bool>,
    pub reasons: Vec<TrialReason>,
    /// Fields whose absence leaves this trial open (for `MISSING_DATA`).
    pub missing: Vec<&'static str>,
    /// For an augmentation trial: whether it failed under the failure threshold (MSM, MGH-s).
    pub augmentation_failed: Option<bool>,
}

impl TrialAssessment {
    pub fn ingredient(&self) -> Option<&'static str> {
        self.drug.as_ref().map(|drug| drug.entry.ingredient)
    }

    pub fn class(&self) -> Option<DrugClass> {
        self.drug.as_ref().map(|drug| drug.entry.class)
    }

    /// An antidepressant trial of a known drug: the only kind that can count toward TRD.
    fn counts_toward_trd(&self) -> bool {
        self.drug.is_some() && !self.reasons.contains(&TrialReason::AugmentationOnly)
    }
}

/// The status of a definition (`met`, `not_met`, `indeterminate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrdStatus {
    Met,
    NotMet,
    Indeterminate,
}

impl TrdStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TrdStatus::Met => "met",
            TrdStatus::NotMet => "not_met",
            TrdStatus::Indeterminate => "indeterminate",
        }
    }
}

/// TRD under the label definition: ≥2 different failed agents (KNOWLEDGE §1.1).
#[derive(Debug, Clone, PartialEq)]
pub struct LabelDefinitionResult {
    pub status: TrdStatus,
    /// Ingredients of definite failures, sorted.
    pub failed_agents: Vec<&'static str>,
    /// Ingredients whose trials missing data leaves open, sorted.
    pub open_agents: Vec<&'static str>,
}

/// TRD under the distinct-classes definition: failures in ≥2 classes (KNOWLEDGE §1.1, §1.4).
#[derive(Debug, Clone, PartialEq)]
pub struct DistinctClassesResult {
    pub status: TrdStatus,
    /// Class labels of definite failures, sorted (TECA counted as TCA).
    pub classes: Vec<&'static str>,
    pub open_classes: Vec<&'static str>,
}

/// The whole TRD judgement of a case.
#[derive(Debug, Clone, PartialEq)]
pub struct TrdAssessment {
    pub failure_threshold: FailureThreshold,
    pub label: LabelDefinitionResult,
    pub distinct_classes: DistinctClassesResult,
    pub trials: Vec<TrialAssessment>,
}

impl TrdAssessment {
    /// The status of the definition the protocol uses to gate eligibility.
    pub fn gating_status(&self, definition: TrdDefinition) -> TrdStatus {
        match definition {
            TrdDefinition::Label => self.label.status,
            TrdDefinition::DistinctClasses => self.distinct_classes.status,
        }
    }

    /// Trials that failed definitely (antidepressants of known drugs).
    pub fn definite_failures(&self) -> impl Iterator<Item = &TrialAssessment> {
        self.trials.iter().filter(|trial| trial.failed == Some(true) && trial.counts_toward_trd())
    }

    /// Trials whose failure missing data leaves open (antidepressants of known drugs).
    pub fn open_trials(&self) -> impl Iterator<Item = &TrialAssessment> {
        self.trials.iter().filter(|trial| trial.failed.is_none() && trial.counts_toward_trd())
    }
}

impl FailureThreshold {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureThreshold::Lt50 => "lt50",
            FailureThreshold::Le25 => "le25",
            FailureThreshold::Lt25 => "lt25",
        }
    }

    /// Whether an improvement this small counts as failure (KNOWLEDGE §1.6 `improvement_fails`).
    pub fn improvement_fails(self, improvement: ImprovementPct) -> bool {
        let pct = improvement.value();
        match self {
            FailureThreshold::Lt50 => pct < Decimal::from(50),
            FailureThreshold::Le25 => pct <= Decimal::from(25),
            FailureThreshold::Lt25 => pct < Decimal::from(25),
        }
    }
}

/// Judges every trial and both TRD definitions (KNOWLEDGE §1.6; assess contract readings 4–6).
pub fn assess_trd(trials: &[TrialFacts], settings: &TrdSettings) -> TrdAssessment {
    let threshold = settings.failure_threshold.value;
    let min_weeks = Decimal::from(settings.min_weeks_at_adequate_dose.value);
    let mut assessed: Vec<TrialAssessment> =
        trials.iter().map(|trial| assess_trial(trial, threshold, min_weeks)).collect();
    mark_closely_related(&mut assessed);

    let trd = TrdAssessment {
        failure_threshold: threshold,
        label: LabelDefinitionResult { status: TrdStatus::Indeterminate, failed_agents: vec![], open_agents: vec![] },
        distinct_classes: DistinctClassesResult {
            status: TrdStatus::Indeterminate,
            classes: vec![],
            open_classes: vec![],
        },
        trials: assessed,
    };
    let failed_agents: BTreeSet<&'static str> = trd.definite_failures().filter_map(|t| t.ingredient()).collect();
    let open_agents: BTreeSet<&'static str> =
        trd.open_trials().filter_map(|t| t.ingredient()).filter(|i| !failed_agents.contains(i)).collect();
    let failed_classes: BTreeSet<&'static str> =
        trd.definite_failures().filter_map(|t| t.class()).map(|class| class.distinct_class_group().label()).collect();
    let open_classes: BTreeSet<&'static str> = trd
        .open_trials()
        .filter_map(|t| t.class())
        .map(|class| class.distinct_class_group().label())
        .filter(|class| !failed_classes.contains(class))
        .collect();
    TrdAssessment {
        label: LabelDefinitionResult {
            status: count_status(failed_agents.len(), open_agents.len()),
            failed_agents: failed_agents.into_iter().collect(),
            open_agents: open_agents.into_iter().collect(),
        },
        distinct_classes: DistinctClassesResult {
            status: count_status(failed_classes.len(), open_classes.len()),
            classes: failed_classes.into_iter().collect(),
            open_classes: open_classes.into_iter().collect(),
        },
        ..trd
    }
}

/// KNOWLEDGE §1.1: both definitions need 2; reading 5: `not_met` only when even every open trial failing would not reach 2.
const FAILURES_FOR_TRD: usize = 2;

fn count_status(definite: usize, open: usize) -> TrdStatus {
    if definite >= FAILURES_FOR_TRD {
        TrdStatus::Met
    } else if definite + open < FAILURES_FOR_TRD {
        TrdStatus::NotMet
    } else {
        TrdStatus::Indeterminate
    }
}

/// Whether a trial is an augmentation trial (KNOWLEDGE §1.2): its `role` says so, or its drug is an
/// augmentation agent of the knowledge base (lithium, liothyronine, the antipsychotics) whatever the
/// role says. Such a trial is `AUGMENTATION_ONLY` and its weeks are not standard treatment (reading 14).
pub fn is_augmentation_trial(role: TrialRole, drug: Option<&ResolvedDrug>) -> bool {
    role == TrialRole::Augmentation || drug.is_some_and(|drug| drug.entry.role == DrugRole::Augmentation)
}

fn assess_trial(trial: &TrialFacts, threshold: FailureThreshold, min_weeks: Decimal) -> TrialAssessment {
    let drug = resolve_drug_name(&trial.drug_as_written);
    let is_augmentation = is_augmentation_trial(trial.role, drug.as_ref());
    let mut reasons = Vec::new();
    let mut missing = Vec::new();

    if !trial.in_current_episode {
        reasons.push(TrialReason::OutsideEpisode);
    }
    if is_augmentation {
        reasons.push(TrialReason::AugmentationOnly);
        let augmentation_failed = if !trial.in_current_episode {
            Some(false)
        } else {
            trial.improvement_pct.map(|improvement| threshold.improvement_fails(improvement))
        };
        if augmentation_failed.is_none() {
            missing.push("improvement_pct");
        }
        return TrialAssessment {
            drug_as_written: trial.drug_as_written.clone(),
            drug,
            adequate: Some(false),
            failed: Some(false),
            reasons,
            missing,
            augmentation_failed,
        };
    }
    if drug.is_none() {
        reasons.push(TrialReason::UnknownDrug);
    }
    let minimum_dose = drug.as_ref().and_then(|drug| drug.min_daily_dose_mg);
    match (trial.daily_dose_mg, minimum_dose) {
        (Some(dose), Some(minimum)) if dose.value() < minimum => reasons.push(TrialReason::DoseBelowMin),
        (Some(_), Some(_)) => {}
        (None, _) => missing.push("daily_dose_mg"),
        // A known drug whose minimum the knowledge base does not give: dose adequacy stays open.
        (Some(_), None) if drug.is_some() => missing.push("minimum dose in the knowledge base"),
        (Some(_), None) => {}
    }
    match trial.weeks_at_dose {
        Some(weeks) if weeks.value() < min_weeks => reasons.push(TrialReason::DurationShort),
        Some(_) => {}
        None => missing.push("weeks"),
    }
    if trial.adherence != Adherence::Adequate {
        reasons.push(TrialReason::Adherence);
    }
    let improvement_fails = trial.improvement_pct.map(|improvement| threshold.improvement_fails(improvement));
    if improvement_fails == Some(false) {
        reasons.push(TrialReason::Responded);
    }
    if improvement_fails.is_none() {
        missing.push("improvement_pct");
    }

    let settles_inadequate = reasons.iter().any(|reason| {
        matches!(
            reason,
            TrialReason::OutsideEpisode
                | TrialReason::UnknownDrug
                | TrialReason::DoseBelowMin
                | TrialReason::DurationShort
                | TrialReason::Adherence
        )
    });
    let adequacy_open = missing.iter().any(|field| *field != "improvement_pct");
    let adequate = if settles_inadequate {
        Some(false)
    } else if adequacy_open {
        None
    } else {
        Some(true)
    };
    let failed = match (adequate, improvement_fails) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    };
    if reasons.is_empty() && failed.is_none() {
        reasons.push(TrialReason::MissingData);
    }
    if failed.is_some() {
        missing.clear();
    }
    TrialAssessment {
        drug_as_written: trial.drug_as_written.clone(),
        drug,
        adequate,
        failed,
        reasons,
        missing,
        augmentation_failed: None,
    }
}

/// Adds `CLOSELY_RELATED` to both members of a pair when both failed (assess contract reading 6).
fn mark_closely_related(trials: &mut [TrialAssessment]) {
    let failed: BTreeSet<&'static str> =
        trials.iter().filter(|trial| trial.failed == Some(true)).filter_map(|trial| trial.ingredient()).collect();
    for trial in trials.iter_mut() {
        let Some(ingredient) = trial.ingredient() else { continue };
        if trial.failed == Some(true)
            && closely_related_partner(ingredient).is_some_and(|partner| failed.contains(partner))
        {
            trial.reasons.push(TrialReason::CloselyRelated);
        }
    }
}
