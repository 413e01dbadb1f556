//! Treatment-resistant depression: per-trial adequacy with reason codes, and TRD under the label
//! and the distinct-classes definitions (KNOWLEDGE §1.1–§1.3, §1.6; assess contract readings 4–7).

use std::str::FromStr;

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
