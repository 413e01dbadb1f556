//! Eligibility per modality: contraindications and cautions classed absolute / blocking-relative /
//! warning, the blood-pressure gate, the C-SSRS rules, and prescriber overrides
//! (KNOWLEDGE §2.1–§2.4, §5.9; assess contract readings 1–3, 14).

use std::collections::BTreeMap;
use std::str::FromStr;

use crate::protocol::{InvalidProtocol, SectionReader, Setting};

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
