//! Eligibility per modality: contraindications and cautions classed absolute / blocking-relative /
//! warning, the blood-pressure gate, the C-SSRS rules, and prescriber overrides
//! (KNOWLEDGE §2.1–§2.4, §5.9; assess contract readings 1–3, 14).

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use rust_decimal::Decimal;

use crate::patient::{AgeYears, BloodPressure, Modality, SexAtBirth};
use crate::protocol::{InvalidProtocol, SectionReader, Setting};
use crate::scales::{ScreenedRisk, SuicideRisk};
use crate::trd::TrdStatus;

/// How a finding acts on eligibility (KNOWLEDGE §0 rule classes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RuleClass {
    Absolute,
    BlockingRelative,
    Warning,
}

impl RuleClass {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleClass::Absolute => "absolute",
            RuleClass::BlockingRelative => "blocking_relative",
            RuleClass::Warning => "warning",
        }
    }
}

impl FromStr for RuleClass {
    type Err = ();
    fn from_str(word: &str) -> Result<Self, ()> {
        match word {
            "absolute" => Ok(RuleClass::Absolute),
            "blocking_relative" => Ok(RuleClass::BlockingRelative),
            "warning" => Ok(RuleClass::Warning),
            _ => Err(()),
        }
    }
}

/// Rules whose class the site protocol sets, because KNOWLEDGE §2.3 gives none (assess contract reading 2).
pub const PROTOCOL_CLASSED_RULES: &[&str] =
    &["TRD_NOT_MET", "SUICIDE_RISK_HIGH", "SUICIDE_RISK_MODERATE", "SUICIDE_SCREEN_REQUIRED", "PREGNANCY_UNKNOWN"];

/// The `[eligibility]` section of the site protocol.
#[derive(Debug, Clone, PartialEq)]
pub struct EligibilitySettings {
    pub adult_age_years: Setting<i64>,
    pub older_adult_age_years: Setting<i64>,
    pub standard_treatment_min_weeks: Setting<i64>,
    pub bp_elevated_systolic_above: Setting<i64>,
    pub bp_elevated_diastolic_above: Setting<i64>,
    pub bp_severe_systolic_from: Setting<i64>,
    pub bp_severe_diastolic_from: Setting<i64>,
    /// Classes of the rules in [`PROTOCOL_CLASSED_RULES`].
    pub rule_class: BTreeMap<&'static str, Setting<RuleClass>>,
}

impl EligibilitySettings {
    pub(crate) fn read(mut section: SectionReader) -> Result<Self, InvalidProtocol> {
        let mut classes = section.take_subsection("rule_class")?;
        let mut rule_class = BTreeMap::new();
        for rule in PROTOCOL_CLASSED_RULES {
            rule_class.insert(*rule, classes.take_choice(rule, &["absolute", "blocking_relative", "warning"])?);
        }
        classes.finish()?;
        let settings = EligibilitySettings {
            adult_age_years: section.take_integer_in("adult_age_years", 16, 21)?,
            older_adult_age_years: section.take_integer_in("older_adult_age_years", 50, 90)?,
            standard_treatment_min_weeks: section.take_integer_in("standard_treatment_min_weeks", 0, 520)?,
            bp_elevated_systolic_above: section.take_integer_in("bp_elevated_systolic_above", 100, 200)?,
            bp_elevated_diastolic_above: section.take_integer_in("bp_elevated_diastolic_above", 60, 130)?,
            bp_severe_systolic_from: section.take_integer_in("bp_severe_systolic_from", 120, 260)?,
            bp_severe_diastolic_from: section.take_integer_in("bp_severe_diastolic_from", 70, 160)?,
            rule_class,
        };
        if settings.bp_severe_systolic_from.value <= settings.bp_elevated_systolic_above.value
            || settings.bp_severe_diastolic_from.value <= settings.bp_elevated_diastolic_above.value
        {
            return Err(InvalidProtocol::new(
                "eligibility.bp_severe_systolic_from",
                "the severe BP band must lie above the elevated band",
            ));
        }
        section.finish()?;
        Ok(settings)
    }

    /// The class the protocol gives a rule of [`PROTOCOL_CLASSED_RULES`].
    pub fn class_of(&self, rule: &str) -> RuleClass {
        self.rule_class.get(rule).map(|setting| setting.value).expect("rule is classed by the protocol")
    }
}

/// A past or present condition from the intake history (the contract's `history` vocabulary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HistoryCondition {
    AneurysmalVascularDisease,
    ArteriovenousMalformation,
    IntracerebralHemorrhage,
    KetamineHypersensitivity,
    BipolarDisorder,
    PrimaryPsychoticDisorder,
    SubstanceUseDisorderCurrent,
    KetamineMisuse,
    RecentCardiovascularEvent,
    HypertensiveEncephalopathy,
    RaisedIntracranialPressure,
    HepaticImpairmentModerate,
    HepaticImpairmentSevere,
    UnstableRespiratoryDisease,
}

impl HistoryCondition {
    pub const ALL: [HistoryCondition; 14] = [
        HistoryCondition::AneurysmalVascularDisease,
        HistoryCondition::ArteriovenousMalformation,
        HistoryCondition::IntracerebralHemorrhage,
        HistoryCondition::KetamineHypersensitivity,
        HistoryCondition::BipolarDisorder,
        HistoryCondition::PrimaryPsychoticDisorder,
        HistoryCondition::SubstanceUseDisorderCurrent,
        HistoryCondition::KetamineMisuse,
        HistoryCondition::RecentCardiovascularEvent,
        HistoryCondition::HypertensiveEncephalopathy,
        HistoryCondition::RaisedIntracranialPressure,
        HistoryCondition::HepaticImpairmentModerate,
        HistoryCondition::HepaticImpairmentSevere,
        HistoryCondition::UnstableRespiratoryDisease,
    ];

    pub fn code(self) -> &'static str {
        self.rule().0
    }

    /// The vocabulary code, the rule it raises, the rule's class and its source (KNOWLEDGE §2.1–§2.3).
    fn rule(self) -> (&'static str, &'static str, RuleClass, &'static str) {
        use HistoryCondition::*;
        use RuleClass::*;
        match self {
            AneurysmalVascularDisease => (
                "aneurysmal_vascular_disease",
                "ANEURYSMAL_VASCULAR_DISEASE",
                Absolute,
                "clinical-reference §2.1, §2.3",
            ),
            ArteriovenousMalformation => {
                ("arteriovenous_malformation", "ARTERIOVENOUS_MALFORMATION", Absolute, "clinical-reference §2.1, §2.3")
            }
            IntracerebralHemorrhage => {
                ("intracerebral_hemorrhage", "INTRACEREBRAL_HEMORRHAGE", Absolute, "clinical-reference §2.1, §2.3")
            }
            KetamineHypersensitivity => {
                ("ketamine_hypersensitivity", "KETAMINE_HYPERSENSITIVITY", Absolute, "clinical-reference §2.1, §2.3")
            }
            BipolarDisorder => ("bipolar_disorder", "BIPOLAR_DISORDER", BlockingRelative, "clinical-reference §2.3"),
            PrimaryPsychoticDisorder => (
                "primary_psychotic_disorder",
                "PRIMARY_PSYCHOTIC_DISORDER",
                BlockingRelative,
                "clinical-reference §2.3",
            ),
            SubstanceUseDisorderCurrent => (
                "substance_use_disorder_current",
                "SUBSTANCE_USE_DISORDER",
                BlockingRelative,
                "clinical-reference §2.1, §2.3",
            ),
            KetamineMisuse => ("ketamine_misuse", "KETAMINE_MISUSE", BlockingRelative, "clinical-reference §2.1, §2.3"),
            RecentCardiovascularEvent => (
                "recent_cardiovascular_event",
                "RECENT_CARDIOVASCULAR_EVENT",
                BlockingRelative,
                "clinical-reference §2.3",
            ),
            HypertensiveEncephalopathy => {
                ("hypertensive_encephalopathy", "HYPERTENSIVE_ENCEPHALOPATHY", Warning, "clinical-reference §2.1, §2.3")
            }
            RaisedIntracranialPressure => (
                "raised_intracranial_pressure",
                "RAISED_INTRACRANIAL_PRESSURE",
                BlockingRelative,
                "clinical-reference §2.1, §2.3",
            ),
            HepaticImpairmentModerate => (
                "hepatic_impairment_moderate",
                "HEPATIC_IMPAIRMENT_MODERATE",
                Warning,
                "clinical-reference §2.1, §2.3, §3.5",
            ),
            HepaticImpairmentSevere => (
                "hepatic_impairment_severe",
                "HEPATIC_IMPAIRMENT_SEVERE",
                BlockingRelative,
                "clinical-reference §2.1, §2.3, §3.5",
            ),
            UnstableRespiratoryDisease => (
                "unstable_respiratory_disease",
                "UNSTABLE_RESPIRATORY_DISEASE",
                BlockingRelative,
                "clinical-reference §2.1, §2.3",
            ),
        }
    }

    fn summary(self) -> &'static str {
        use HistoryCondition::*;
        match self {
            AneurysmalVascularDisease => {
                "aneurysmal vascular disease: a blood-pressure rise is a serious hazard (contraindicated)"
            }
            ArteriovenousMalformation => "arteriovenous malformation: contraindicated",
            IntracerebralHemorrhage => "history of intracerebral haemorrhage: contraindicated",
            KetamineHypersensitivity => "hypersensitivity to ketamine or esketamine: contraindicated",
            BipolarDisorder => "bipolar disorder: not the TRD indication; needs a documented prescriber decision",
            PrimaryPsychoticDisorder => {
                "lifetime primary psychotic disorder: careful assessment and a documented prescriber decision"
            }
            SubstanceUseDisorderCurrent => {
                "current substance use disorder: abuse potential; addiction assessment and a documented prescriber decision"
            }
            KetamineMisuse => "ketamine or PCP misuse: abuse potential; a documented prescriber decision is required",
            RecentCardiovascularEvent => {
                "recent cardiovascular or cerebrovascular event: assess risk; a documented prescriber decision is required"
            }
            HypertensiveEncephalopathy => {
                "history of hypertensive encephalopathy: more intensive blood-pressure monitoring"
            }
            RaisedIntracranialPressure => "raised intracranial pressure: do not give if a rise would pose a risk",
            HepaticImpairmentModerate => "moderate hepatic impairment (Child-Pugh B): extend observation",
            HepaticImpairmentSevere => "severe hepatic impairment (Child-Pugh C): not recommended",
            UnstableRespiratoryDisease => {
                "unstable respiratory disease: only where resuscitation is available; prescriber decision required"
            }
        }
    }

    pub fn parse(code: &str) -> Option<HistoryCondition> {
        HistoryCondition::ALL.into_iter().find(|condition| condition.code() == code)
    }
}

/// A concomitant medicine class that interacts with ketamine (KNOWLEDGE §2.1 interactions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConcomitantMedicine {
    Maoi,
    Psychostimulant,
    Benzodiazepine,
    Opioid,
    OtherCnsDepressant,
}

impl ConcomitantMedicine {
    pub const ALL: [ConcomitantMedicine; 5] = [
        ConcomitantMedicine::Maoi,
        ConcomitantMedicine::Psychostimulant,
        ConcomitantMedicine::Benzodiazepine,
        ConcomitantMedicine::Opioid,
        ConcomitantMedicine::OtherCnsDepressant,
    ];

    pub fn code(self) -> &'static str {
        match self {
            ConcomitantMedicine::Maoi => "maoi",
            ConcomitantMedicine::Psychostimulant => "psychostimulant",
            ConcomitantMedicine::Benzodiazepine => "benzodiazepine",
            ConcomitantMedicine::Opioid => "opioid",
            ConcomitantMedicine::OtherCnsDepressant => "other_cns_depressant",
        }
    }

    pub fn parse(code: &str) -> Option<ConcomitantMedicine> {
        ConcomitantMedicine::ALL.into_iter().find(|medicine| medicine.code() == code)
    }
}

/// A prescriber's documented decision to proceed despite a blocking-relative finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub rule: &'static str,
    pub by: String,
    pub reason: String,
}

/// Every rule id eligibility can raise, in report order, with the KNOWLEDGE section it comes from.
pub const RULE_IDS: &[&str] = &[
    "AGE_UNDER_18",
    "AGE_65_PLUS",
    "TRD_NOT_MET",
    "TRD_INDETERMINATE",
    "ANEURYSMAL_VASCULAR_DISEASE",
    "ARTERIOVENOUS_MALFORMATION",
    "INTRACEREBRAL_HEMORRHAGE",
    "KETAMINE_HYPERSENSITIVITY",
    "PREGNANCY",
    "PREGNANCY_UNKNOWN",
    "BREASTFEEDING",
    "PSYCHOTIC_FEATURES",
    "PRIMARY_PSYCHOTIC_DISORDER",
    "BIPOLAR_DISORDER",
    "SUBSTANCE_USE_DISORDER",
    "KETAMINE_MISUSE",
    "BP_ELEVATED",
    "BP_SEVERE",
    "RECENT_CARDIOVASCULAR_EVENT",
    "HYPERTENSIVE_ENCEPHALOPATHY",
    "RAISED_INTRACRANIAL_PRESSURE",
    "HEPATIC_IMPAIRMENT_MODERATE",
    "HEPATIC_IMPAIRMENT_SEVERE",
    "UNSTABLE_RESPIRATORY_DISEASE",
    "MAOI_OR_PSYCHOSTIMULANT",
    "CNS_DEPRESSANT",
    "SUICIDE_SCREEN_REQUIRED",
    "SUICIDE_RISK_HIGH",
    "SUICIDE_RISK_MODERATE",
    "STANDARD_TREATMENT_UNDER_6_MONTHS",
];

/// The suicide-risk rule a C-SSRS level raises, if any (none and low raise none).
fn suicide_finding(level: SuicideRisk) -> Option<&'static str> {
    match level {
        SuicideRisk::High => Some("SUICIDE_RISK_HIGH"),
        SuicideRisk::Moderate => Some("SUICIDE_RISK_MODERATE"),
        SuicideRisk::Low | SuicideRisk::None => None,
    }
}

/// Looks a rule id up, returning the `'static` spelling (for overrides read from input).
pub fn rule_id(written: &str) -> Option<&'static str> {
    RULE_IDS.iter().copied().find(|rule| *rule == written)
}

/// The facts eligibility needs. Built by the assessment from the case.
#[derive(Debug, Clone, PartialEq)]
pub struct EligibilityFacts {
    pub age: Option<AgeYears>,
    pub sex_at_birth: Option<SexAtBirth>,
    pub pregnant: Option<bool>,
    pub breastfeeding: Option<bool>,
    pub psychotic_features: Option<bool>,
    pub history: BTreeSet<HistoryCondition>,
    pub concomitant: BTreeSet<ConcomitantMedicine>,
    /// Screening readings in the order taken.
    pub bp_readings: Vec<BloodPressure>,
    /// PHQ-9 item 9 or QIDS-SR16 item 12 is positive, or unknown in a non-zero total (KNOWLEDGE §5.1, §5.3).
    pub suicide_item_screen_required: bool,
    /// `None` when no C-SSRS screener was recorded; indeterminate when unanswered questions leave it open.
    pub cssrs_risk: Option<ScreenedRisk>,
    pub overrides: Vec<Override>,
}

/// One eligibility finding, in the CDS card shape: rule, class, summary, source.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub rule: &'static str,
    pub class: RuleClass,
    pub summary: String,
    pub source: &'static str,
    pub overridden_by: Option<Override>,
}

/// Eligibility status of one modality (precedence: ineligible > override_required > indeterminate > eligible).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EligibilityStatus {
    Eligible,
    Indeterminate,
    OverrideRequired,
    Ineligible,
}

impl EligibilityStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EligibilityStatus::Eligible => "eligible",
            EligibilityStatus::Indeterminate => "indeterminate",
            EligibilityStatus::OverrideRequired => "override_required",
            EligibilityStatus::Ineligible => "ineligible",
        }
    }
}

/// Eligibility of one modality with its findings and, when indeterminate, what is missing.
#[derive(Debug, Clone, PartialEq)]
pub struct ModalityEligibility {
    pub modality: Modality,
    pub status: EligibilityStatus,
    pub findings: Vec<Finding>,
    pub missing: Vec<String>,
}

/// The weeks of antidepressant treatment in the current episode (assess contract reading 14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StandardTreatmentWeeks {
    pub known_weeks: Decimal,
    pub trials_without_weeks: usize,
}

/// The BP band of one reading (KNOWLEDGE §2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BloodPressureBand {
    Proceed,
    Elevated,
    Severe,
}

/// Classifies one reading against the protocol's BP gate (KNOWLEDGE §2.4).
pub fn blood_pressure_band(reading: BloodPressure, settings: &EligibilitySettings) -> BloodPressureBand {
    blood_pressure_band_mmhg(i64::from(reading.systolic_mmhg()), i64::from(reading.diastolic_mmhg()), settings)
}

/// KNOWLEDGE §2.4: SBP ≥180 or DBP ≥110 severe; SBP >140 or DBP >90 elevated; else proceed.
/// Shared by eligibility and the session's pre-dose gate.
pub fn blood_pressure_band_mmhg(
    systolic_mmhg: i64,
    diastolic_mmhg: i64,
    settings: &EligibilitySettings,
) -> BloodPressureBand {
    if systolic_mmhg >= settings.bp_severe_systolic_from.value
        || diastolic_mmhg >= settings.bp_severe_diastolic_from.value
    {
        BloodPressureBand::Severe
    } else if systolic_mmhg > settings.bp_elevated_systolic_above.value
        || diastolic_mmhg > settings.bp_elevated_diastolic_above.value
    {
        BloodPressureBand::Elevated
    } else {
        BloodPressureBand::Proceed
    }
}

/// The reading the gate classifies: of the last two, the less severe; on a tie the later (reading 3).
pub fn gating_reading(readings: &[BloodPressure], settings: &EligibilitySettings) -> Option<BloodPressure> {
    match readings {
        [] => None,
        [only] => Some(*only),
        [.., earlier, later] => {
            if blood_pressure_band(*earlier, settings) < blood_pressure_band(*later, settings) {
                Some(*earlier)
            } else {
                Some(*later)
            }
        }
    }
}

/// Decides eligibility for one modality.
pub fn assess_eligibility(
    modality: Modality,
    facts: &EligibilityFacts,
    trd_status: TrdStatus,
    treatment_weeks: StandardTreatmentWeeks,
    settings: &EligibilitySettings,
) -> ModalityEligibility {
    let mut findings = Vec::new();
    let mut missing = Vec::new();
    let mut add = |rule: &'static str, class: RuleClass, summary: String, source: &'static str| {
        findings.push(Finding { rule, class, summary, source, overridden_by: None });
    };

    match facts.age {
        None => missing.push("patient.birth_date or patient.age_years".to_owned()),
        Some(age) if i64::from(age.years()) < settings.adult_age_years.value => add(
            "AGE_UNDER_18",
            RuleClass::Absolute,
            format!("age {} is under {}: adult use only", age.years(), settings.adult_age_years.value),
            "clinical-reference §2.3",
        ),
        Some(age) if i64::from(age.years()) >= settings.older_adult_age_years.value => add(
            "AGE_65_PLUS",
            RuleClass::Warning,
            format!(
                "age {} is {} or over: blood-pressure surges are more likely; monitor closely",
                age.years(),
                settings.older_adult_age_years.value
            ),
            "clinical-reference §2.3 [YALE-BP-2024]",
        ),
        Some(_) => {}
    }

    match trd_status {
        TrdStatus::Met => {}
        TrdStatus::NotMet => add(
            "TRD_NOT_MET",
            settings.class_of("TRD_NOT_MET"),
            "treatment-resistant depression is not met under the protocol's definition; consider an adequate trial from another class".to_owned(),
            "clinical-reference §1.1",
        ),
        TrdStatus::Indeterminate => {
            add(
                "TRD_INDETERMINATE",
                RuleClass::Warning,
                "treatment resistance cannot be decided until the missing trial data is recorded".to_owned(),
                "clinical-reference §1.1, §1.6",
            );
            missing.push("trial data needed to decide TRD (see trd.trials)".to_owned());
        }
    }

    for condition in HistoryCondition::ALL {
        if facts.history.contains(&condition) {
            let (_, rule, class, source) = condition.rule();
            add(rule, class, condition.summary().to_owned(), source);
        }
    }

    match facts.pregnant {
        Some(true) => add(
            "PREGNANCY",
            RuleClass::BlockingRelative,
            "pregnant: not recommended (fetal-harm signal); refer to perinatal psychiatry".to_owned(),
            "clinical-reference §2.1, §2.3",
        ),
        Some(false) => {}
        None if facts.sex_at_birth != Some(SexAtBirth::Male) => add(
            "PREGNANCY_UNKNOWN",
            settings.class_of("PREGNANCY_UNKNOWN"),
            "pregnancy status not recorded: confirm before dosing".to_owned(),
            "clinical-reference §2.1, §7",
        ),
        None => {}
    }
    if facts.breastfeeding == Some(true) {
        add(
            "BREASTFEEDING",
            RuleClass::BlockingRelative,
            "breastfeeding: not recommended".to_owned(),
            "clinical-reference §2.1, §2.3",
        );
    }
    match facts.psychotic_features {
        Some(true) => add(
            "PSYCHOTIC_FEATURES",
            RuleClass::BlockingRelative,
            "current episode with psychotic features: only if benefit outweighs risk (excluded from ELEKT-D)"
                .to_owned(),
            "clinical-reference §2.1, §2.3",
        ),
        Some(false) => {}
        None => missing.push("episode.psychotic_features".to_owned()),
    }

    match gating_reading(&facts.bp_readings, settings) {
        None => missing.push("bp (at least one seated screening reading)".to_owned()),
        Some(reading) => {
            let shown = format!("{}/{}", reading.systolic_mmhg(), reading.diastolic_mmhg());
            match blood_pressure_band(reading, settings) {
                BloodPressureBand::Proceed => {}
                BloodPressureBand::Elevated => add(
                    "BP_ELEVATED",
                    RuleClass::BlockingRelative,
                    format!(
                        "screening BP {shown} is above {}/{}: prescriber must weigh benefit against risk, or reschedule",
                        settings.bp_elevated_systolic_above.value, settings.bp_elevated_diastolic_above.value
                    ),
                    "clinical-reference §2.4",
                ),
                BloodPressureBand::Severe => add(
                    "BP_SEVERE",
                    RuleClass::Absolute,
                    format!(
                        "screening BP {shown} is at or above {}/{}: do not dose this session; refer for BP management",
                        settings.bp_severe_systolic_from.value, settings.bp_severe_diastolic_from.value
                    ),
                    "clinical-reference §2.4",
                ),
            }
        }
    }

    if facts.concomitant.contains(&ConcomitantMedicine::Maoi)
        || facts.concomitant.contains(&ConcomitantMedicine::Psychostimulant)
    {
        add(
            "MAOI_OR_PSYCHOSTIMULANT",
            RuleClass::Warning,
            "takes an MAOI or a psychostimulant: larger blood-pressure rise expected".to_owned(),
            "clinical-reference §2.1, §2.3",
        );
    }
    if [ConcomitantMedicine::Benzodiazepine, ConcomitantMedicine::Opioid, ConcomitantMedicine::OtherCnsDepressant]
        .iter()
        .any(|medicine| facts.concomitant.contains(medicine))
    {
        add(
            "CNS_DEPRESSANT",
            RuleClass::Warning,
            "takes a CNS depressant: more sedation and respiratory depression; monitor closely".to_owned(),
            "clinical-reference §2.1, §2.3",
        );
    }

    // KNOWLEDGE §5.1, §5.3: item 9 / item 12 ≥1 → a C-SSRS screen before dosing; §5.9 risk levels. An
    // incomplete screener gives the finding of the level its answers already reach, and is missing data
    // when its unanswered questions could still raise the level to another finding.
    match &facts.cssrs_risk {
        None if facts.suicide_item_screen_required => add(
            "SUICIDE_SCREEN_REQUIRED",
            settings.class_of("SUICIDE_SCREEN_REQUIRED"),
            "PHQ-9 item 9 or QIDS item 12 is positive (or not known) and no C-SSRS screener is recorded".to_owned(),
            "clinical-reference §5.1, §5.3, §5.9",
        ),
        None => {}
        Some(risk) => {
            let open_to = match risk {
                ScreenedRisk::Indeterminate { at_most, missing: unanswered, .. }
                    if suicide_finding(*at_most) != suicide_finding(risk.at_least()) =>
                {
                    missing.extend(unanswered.iter().map(|question| format!("cssrs.{question}")));
                    format!(" (at least; could be {} until {} is answered)", at_most.as_str(), unanswered.join(", "))
                }
                _ => String::new(),
            };
            match risk.at_least() {
                SuicideRisk::High => add(
                    "SUICIDE_RISK_HIGH",
                    settings.class_of("SUICIDE_RISK_HIGH"),
                    "C-SSRS high risk: do not start; page the prescriber and follow the local crisis protocol"
                        .to_owned(),
                    "clinical-reference §5.9",
                ),
                SuicideRisk::Moderate => add(
                    "SUICIDE_RISK_MODERATE",
                    settings.class_of("SUICIDE_RISK_MODERATE"),
                    format!("C-SSRS moderate risk{open_to}: prescriber review before dosing"),
                    "clinical-reference §5.9",
                ),
                SuicideRisk::Low | SuicideRisk::None => {}
            }
        }
    }

    let minimum_weeks = Decimal::from(settings.standard_treatment_min_weeks.value);
    if treatment_weeks.known_weeks < minimum_weeks {
        let unknown = match treatment_weeks.trials_without_weeks {
            0 => String::new(),
            1 => "; weeks unknown for 1 trial".to_owned(),
            count => format!("; weeks unknown for {count} trials"),
        };
        add(
            "STANDARD_TREATMENT_UNDER_6_MONTHS",
            RuleClass::Warning,
            format!(
                "{} weeks of antidepressant treatment in this episode (< {}){unknown}",
                treatment_weeks.known_weeks.normalize(),
                minimum_weeks
            ),
            "clinical-reference §2.3",
        );
    }

    for finding in &mut findings {
        if finding.class == RuleClass::BlockingRelative {
            finding.overridden_by = facts.overrides.iter().find(|o| o.rule == finding.rule).cloned();
        }
    }
    let status = if findings.iter().any(|finding| finding.class == RuleClass::Absolute) {
        EligibilityStatus::Ineligible
    } else if findings
        .iter()
        .any(|finding| finding.class == RuleClass::BlockingRelative && finding.overridden_by.is_none())
    {
        EligibilityStatus::OverrideRequired
    } else if !missing.is_empty() {
        EligibilityStatus::Indeterminate
    } else {
        EligibilityStatus::Eligible
    };
    ModalityEligibility { modality, status, findings, missing }
}
