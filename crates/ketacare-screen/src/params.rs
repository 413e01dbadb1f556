//! The five screening presets and their parameters, each overridable by name (`--set NAME=VALUE`).
//!
//! Values are the contract's preset table (contracts/screen.md, "Presets"); the sources of each
//! definition are in docs/screening.md.

use std::fmt;
use std::str::FromStr;

/// The named TRD definitions the screen implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// The Spravato label population: 2 failed adequate antidepressants in the current episode.
    Label,
    /// Optum claims definition: as label, augmentation counts, 180-day switch window.
    Optum,
    /// Fabbri et al.: 14-week refill gap, 3 distinct drugs.
    Fabbri,
    /// The `treatment_resistant_depression` helper of Cardinal's Python library (mentions only).
    Cardinal,
    /// The OHDSI TRD phenotype: drug eras of at least a day, antipsychotic augmentation counts.
    Ohdsi,
}

impl Preset {
    pub const ALL: [Preset; 5] = [Preset::Label, Preset::Optum, Preset::Fabbri, Preset::Cardinal, Preset::Ohdsi];

    pub fn name(self) -> &'static str {
        match self {
            Preset::Label => "label",
            Preset::Optum => "optum",
            Preset::Fabbri => "fabbri",
            Preset::Cardinal => "cardinal",
            Preset::Ohdsi => "ohdsi",
        }
    }
}

impl FromStr for Preset {
    type Err = InvalidParameter;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Preset::ALL.into_iter().find(|preset| preset.name() == text).ok_or_else(|| InvalidParameter {
            message: format!("unknown preset {text:?}, expected one of label, optum, fabbri, cardinal, ohdsi"),
        })
    }
}

/// How a course with no known daily dose is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownDose {
    Adequate,
    Inadequate,
}

/// Which augmentation courses count as courses (and as switch evidence).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AugmentationCounts {
    No,
    Yes,
    /// Only atypical antipsychotics (the OHDSI phenotype).
    AtypicalAntipsychotic,
}

/// The date at which the definition is met once enough courses have failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrdAt {
    /// Reading 6: the earliest antidepressant or augmentation course starting strictly after the
    /// start of the last required failed course.
    NextCourse,
    /// Fabbri: the earliest counted course of a drug not among the failed ones (the drug after the 2nd switch).
    ThirdDrug,
    /// OHDSI: the earliest counted course (the index era) starting strictly after the last required failed course.
    IndexEra,
}

/// Where an MDD diagnosis must be for the definition to be met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequireMddDiagnosis {
    No,
    /// Reading 8: from the episode's start to the next episode's start.
    WithinEpisode,
    /// Within `mdd_lookback_days` before the TRD date (inclusive of the TRD date).
    Lookback,
}

/// An exclusion diagnosis family (contract: bipolar F31, psychosis F20–F29, dementia F00–F03 and G30).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Exclusion {
    Bipolar,
    Psychosis,
    Dementia,
}

impl Exclusion {
    pub fn code(self) -> &'static str {
        match self {
            Exclusion::Bipolar => "bipolar",
            Exclusion::Psychosis => "psychosis",
            Exclusion::Dementia => "dementia",
        }
    }
}

/// Every parameter of the rule-based definitions (all presets but `cardinal` use the first group;
/// `cardinal` uses `course_length_days` and `expect_response_by_days`).
#[derive(Debug, Clone, PartialEq)]
pub struct ScreenParameters {
    pub preset: Preset,
    pub min_course_days: i32,
    pub refill_gap_days: i32,
    pub default_days_supply: i32,
    pub unknown_dose: UnknownDose,
    pub episode_clean_gap_days: i32,
    pub max_course_gap_days: i32,
    pub courses_required: usize,
    pub trd_at: TrdAt,
    pub augmentation_counts_as_course: AugmentationCounts,
    pub require_mdd_diagnosis: RequireMddDiagnosis,
    pub mdd_lookback_days: i32,
    pub exclusions_before_trd: Vec<Exclusion>,
    pub course_length_days: i32,
    pub expect_response_by_days: i32,
    /// The overrides applied, as written (`NAME=VALUE`), for the `preset` output column.
    pub overrides: Vec<String>,
}

/// A bad preset name or `--set` value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidParameter {
    message: String,
}

impl ScreenParameters {
    /// The parameters of a preset (contract table "Presets").
    pub fn for_preset(preset: Preset) -> Self {
        let label = ScreenParameters {
            preset,
            min_course_days: 42,
            refill_gap_days: 30,
            default_days_supply: 30,
            unknown_dose: UnknownDose::Adequate,
            episode_clean_gap_days: 180,
            max_course_gap_days: 365,
            courses_required: 2,
            trd_at: TrdAt::NextCourse,
            augmentation_counts_as_course: AugmentationCounts::No,
            require_mdd_diagnosis: RequireMddDiagnosis::WithinEpisode,
            mdd_lookback_days: 365,
            exclusions_before_trd: vec![Exclusion::Bipolar, Exclusion::Psychosis],
            course_length_days: 28,
            expect_response_by_days: 56,
            overrides: Vec::new(),
        };
        match preset {
            Preset::Label | Preset::Cardinal => label,
            Preset::Optum => ScreenParameters {
                max_course_gap_days: 180,
                augmentation_counts_as_course: AugmentationCounts::Yes,
                ..label
            },
            Preset::Fabbri => ScreenParameters {
                refill_gap_days: 98,
                default_days_supply: 28,
                episode_clean_gap_days: 182,
                max_course_gap_days: 98,
                trd_at: TrdAt::ThirdDrug,
                require_mdd_diagnosis: RequireMddDiagnosis::No,
                exclusions_before_trd: Vec::new(),
                ..label
            },
            Preset::Ohdsi => ScreenParameters {
                min_course_days: 1,
                episode_clean_gap_days: 365,
                trd_at: TrdAt::IndexEra,
                augmentation_counts_as_course: AugmentationCounts::AtypicalAntipsychotic,
                require_mdd_diagnosis: RequireMddDiagnosis::Lookback,
                exclusions_before_trd: vec![Exclusion::Bipolar, Exclusion::Psychosis, Exclusion::Dementia],
                ..label
            },
        }
    }

    /// Applies one `NAME=VALUE` override.
    pub fn set(&mut self, assignment: &str) -> Result<(), InvalidParameter> {
        let invalid = |message: String| InvalidParameter { message };
        let (name, value) = assignment
            .split_once('=')
            .ok_or_else(|| invalid(format!("--set expects NAME=VALUE, got {assignment:?}")))?;
        let (name, value) = (name.trim(), value.trim());
        let days = |value: &str| -> Result<i32, InvalidParameter> {
            value
                .parse::<i32>()
                .ok()
                .filter(|days| *days >= 0)
                .ok_or_else(|| invalid(format!("{name} expects a whole number of days, got {value:?}")))
        };
        let choice = |expected: &str| invalid(format!("{name} expects one of {expected}, got {value:?}"));
        match name {
            "min_course_days" => self.min_course_days = days(value)?,
            "refill_gap_days" => self.refill_gap_days = days(value)?,
            "default_days_supply" => self.default_days_supply = days(value)?,
            "episode_clean_gap_days" => self.episode_clean_gap_days = days(value)?,
            "max_course_gap_days" => self.max_course_gap_days = days(value)?,
            "mdd_lookback_days" => self.mdd_lookback_days = days(value)?,
            "course_length_days" => self.course_length_days = days(value)?,
            "expect_response_by_days" => self.expect_response_by_days = days(value)?,
            "courses_required" => {
                self.courses_required = value
                    .parse::<usize>()
                    .ok()
                    .filter(|count| *count >= 1)
                    .ok_or_else(|| invalid(format!("courses_required expects a whole number ≥ 1, got {value:?}")))?
            }
            "unknown_dose" => {
                self.unknown_dose = match value {
                    "adequate" => UnknownDose::Adequate,
                    "inadequate" => UnknownDose::Inadequate,
                    _ => return Err(choice("adequate, inadequate")),
                }
            }
            "trd_at" => {
                self.trd_at = match value {
                    "next_course" => TrdAt::NextCourse,
                    "third_drug" => TrdAt::ThirdDrug,
                    "index_era" => TrdAt::IndexEra,
                    _ => return Err(choice("next_course, third_drug, index_era")),
                }
            }
            "augmentation_counts_as_course" => {
                self.augmentation_counts_as_course = match value {
                    "no" => AugmentationCounts::No,
                    "yes" => AugmentationCounts::Yes,
                    "atypical_antipsychotic" => AugmentationCounts::AtypicalAntipsychotic,
                    _ => return Err(choice("no, yes, atypical_antipsychotic")),
                }
            }
            "require_mdd_diagnosis" => {
                self.require_mdd_diagnosis = match value {
                    "no" => RequireMddDiagnosis::No,
                    "episode" => RequireMddDiagnosis::WithinEpisode,
                    "lookback" => RequireMddDiagnosis::Lookback,
                    _ => return Err(choice("no, episode, lookback")),
                }
            }
            "exclusions_before_trd" => {
                let mut exclusions = Vec::new();
                for word in value.split([',', ';']).map(str::trim).filter(|word| !word.is_empty()) {
                    exclusions.push(match word {
                        "none" => continue,
                        "bipolar" => Exclusion::Bipolar,
                        "psychosis" => Exclusion::Psychosis,
                        "dementia" => Exclusion::Dementia,
                        _ => return Err(choice("a comma-separated list of bipolar, psychosis, dementia, or none")),
                    });
                }
                exclusions.sort();
                exclusions.dedup();
                self.exclusions_before_trd = exclusions;
            }
            _ => {
                return Err(invalid(format!(
                    "unknown parameter {name:?}; parameters are min_course_days, refill_gap_days, \
                     default_days_supply, unknown_dose, episode_clean_gap_days, max_course_gap_days, \
                     courses_required, trd_at, augmentation_counts_as_course, require_mdd_diagnosis, \
                     mdd_lookback_days, exclusions_before_trd, course_length_days, expect_response_by_days"
                )));
            }
        }
        self.overrides.push(format!("{name}={value}"));
        Ok(())
    }

    /// The `preset` output column: the preset name, then the overridden parameters.
    pub fn preset_column(&self) -> String {
        std::iter::once(self.preset.name().to_string())
            .chain(self.overrides.iter().cloned())
            .collect::<Vec<_>>()
            .join(";")
    }
}

impl fmt::Display for ScreenParameters {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.preset_column())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_apply_and_are_recorded() {
        let mut parameters = ScreenParameters::for_preset(Preset::Label);
        parameters.set("min_course_days=56").unwrap();
        parameters.set("exclusions_before_trd=dementia,bipolar").unwrap();
        assert_eq!(parameters.min_course_days, 56);
        assert_eq!(parameters.exclusions_before_trd, vec![Exclusion::Bipolar, Exclusion::Dementia]);
        assert_eq!(parameters.preset_column(), "label;min_course_days=56;exclusions_before_trd=dementia,bipolar");
    }

    #[test]
    fn bad_overrides_name_the_parameter() {
        let mut parameters = ScreenParameters::for_preset(Preset::Label);
        for (assignment, needle) in [
            ("min_course_days=-1", "min_course_days"),
            ("nonsense=1", "unknown parameter"),
            ("unknown_dose=maybe", "unknown_dose"),
            ("no_equals_sign", "NAME=VALUE"),
        ] {
            let error = parameters.set(assignment).unwrap_err().to_string();
            assert!(error.contains(needle), "{assignment}: {error}");
        }
    }

    #[test]
    fn presets_follow_the_contract_table() {
        let fabbri = ScreenParameters::for_preset(Preset::Fabbri);
        assert_eq!((fabbri.refill_gap_days, fabbri.episode_clean_gap_days, fabbri.max_course_gap_days), (98, 182, 98));
        let ohdsi = ScreenParameters::for_preset(Preset::Ohdsi);
        assert_eq!((ohdsi.min_course_days, ohdsi.episode_clean_gap_days), (1, 365));
        assert_eq!(ScreenParameters::for_preset(Preset::Optum).max_course_gap_days, 180);
        assert_eq!("cardinal".parse::<Preset>().unwrap(), Preset::Cardinal);
    }
}
